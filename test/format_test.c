/*
 * format_test.c - input formats as a whole (stages/src/format.c, build.c):
 * detection (options.format AUTO) and the one clear error on a mismatch,
 * the same records from ISO 2709, MARCXML, MARC-in-JSON and MARCMaker at
 * 1/2/4 workers and chunk sizes from 64 bytes to 512 KiB (records
 * straddling chunks), and every ISO 2709 file of the corpus converted by
 * yaz-marcdump to MARCXML and MARC-in-JSON read back equal.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <marcpipe/write.h>
#include "corpus.h"
#include "format.h"
#include "marcfix.h"
#include "textfix.h"

static mp_format style_format(tf_style s)
{
    if (s <= TF_XML_OAI)
        return MP_FORMAT_MARCXML;
    return s == TF_MRK ? MP_FORMAT_MRK : MP_FORMAT_JSON;
}

static int read_all(mf_seq *s, const void *p, size_t n, const mp_reader_options *o)
{
    mp_reader *r;
    int rc = mp_reader_open_mem(&r, p, n, o);
    if (rc != MP_OK)
        return rc;
    mf_collect(s, r);
    mp_reader_close(r);
    return MP_OK;
}

/* ---- detection ------------------------------------------------------------ */

static int sniff(const char *s, int end)
{
    int f;
    char enc[40];
    int r = mp__sniff((const unsigned char *)s, strlen(s), end, &f, enc, sizeof enc);
    return r ? f : -1;
}

Test(format, sniff_decides_by_the_first_significant_byte, .timeout = 10)
{
    cr_assert_eq(sniff("00123nam", 0), MP_FORMAT_ISO2709);
    cr_assert_eq(sniff("<collection>", 0), MP_FORMAT_MARCXML);
    cr_assert_eq(sniff("  \r\n\t<record>", 0), MP_FORMAT_MARCXML);
    cr_assert_eq(sniff("\xEF\xBB\xBF<record>", 0), MP_FORMAT_MARCXML);
    cr_assert_eq(sniff("{\"leader\"", 0), MP_FORMAT_JSON);
    cr_assert_eq(sniff("\n[\n{", 0), MP_FORMAT_JSON);
    cr_assert_eq(sniff("=LDR  00000", 0), MP_FORMAT_MRK);
    cr_assert_eq(sniff("hello", 0), MP_FORMAT_AUTO, "unknown: read as ISO 2709");
    cr_assert_eq(sniff("   ", 0), -1, "white space only: undecided");
    cr_assert_eq(sniff("   ", 1), MP_FORMAT_AUTO, "... until the input ends");
    cr_assert_eq(sniff("", 1), MP_FORMAT_AUTO);
    cr_assert_eq(sniff("\xEF\xBB", 0), -1, "half a byte order mark");
    cr_assert_eq(sniff("<?xml version=\"1.0\"", 0), -1, "an unfinished XML declaration");
    cr_assert_eq(sniff("<?xm", 0), -1);
}

Test(format, sniff_reads_the_encoding_of_the_xml_declaration, .timeout = 10)
{
    int f;
    char enc[40];
    const char *d = "<?xml version='1.0' encoding='ISO-8859-1'?>\n<collection>";
    cr_assert_eq(mp__sniff((const unsigned char *)d, strlen(d), 0, &f, enc, sizeof enc), 1);
    cr_assert_eq(f, MP_FORMAT_MARCXML);
    cr_assert_str_eq(enc, "ISO-8859-1");
    d = "<?xml version=\"1.0\" encoding=\"utf-8\"?><record/>";
    cr_assert_eq(mp__sniff((const unsigned char *)d, strlen(d), 0, &f, enc, sizeof enc), 1);
    cr_assert_str_eq(enc, "", "UTF-8 is the default: nothing to switch");
    d = "<?xml version=\"1.0\"?><record/>";
    cr_assert_eq(mp__sniff((const unsigned char *)d, strlen(d), 0, &f, enc, sizeof enc), 1);
    cr_assert_str_eq(enc, "");
}

/* A buffer of each style made from the same records. */
typedef struct fixture {
    mf_buf iso;
    size_t offs[41];
    mf_buf text[TF_STYLE_COUNT];
    tf_unit units[TF_STYLE_COUNT][40];
    size_t n[TF_STYLE_COUNT];
} fixture;

static fixture *fixture_make(unsigned nrec, unsigned seed)
{
    fixture *f = calloc(1, sizeof *f);
    cr_assert(nrec <= 40);
    mf_init(&f->iso);
    mf_sample(&f->iso, nrec, seed, f->offs);
    for (int s = 0; s < TF_STYLE_COUNT; s++) {
        mf_init(&f->text[s]);
        f->n[s] = tf_convert(&f->text[s], f->iso.p, f->iso.len, (tf_style)s, f->units[s], 40);
        cr_assert_eq(f->n[s], nrec);
    }
    return f;
}

static void fixture_free(fixture *f)
{
    mf_free(&f->iso);
    for (int s = 0; s < TF_STYLE_COUNT; s++)
        mf_free(&f->text[s]);
    free(f);
}

Test(format, auto_reads_every_format, .timeout = 60)
{
    fixture *f = fixture_make(12, 3);
    mf_seq want;
    cr_assert_eq(read_all(&want, f->iso.p, f->iso.len, mf_seqopts(NULL)), MP_OK);
    for (int s = 0; s < TF_STYLE_COUNT; s++) {
        for (int mode = 0; mode < 2; mode++) {
            mp_reader_options o = MP_READER_OPTIONS_INIT;
            o.mode = mode ? MP_MODE_SEQUENTIAL : MP_MODE_PIPELINE;
            o.threads = 2;
            mf_seq got;
            cr_assert_eq(read_all(&got, f->text[s].p, f->text[s].len, &o), MP_OK);
            cr_assert_eq(got.end_rc, MP_EOF, "%s", tf_style_name((tf_style)s));
            cr_assert_eq(got.n, want.n, "%s: %zu items", tf_style_name((tf_style)s), got.n);
            for (size_t i = 0; i < got.n; i++) {
                cr_assert_eq(got.v[i].rc, MP_OK, "%s item %zu: kind %d", tf_style_name((tf_style)s),
                             i, got.v[i].kind);
                cr_assert_eq(got.v[i].hash, want.v[i].hash, "%s record %zu differs",
                             tf_style_name((tf_style)s), i);
                cr_assert_eq(got.v[i].offset, f->units[s][i].start, "%s record %zu offset",
                             tf_style_name((tf_style)s), i);
                cr_assert_eq(got.v[i].length, f->units[s][i].end - f->units[s][i].start,
                             "%s record %zu: input length", tf_style_name((tf_style)s), i);
                cr_assert_eq(got.v[i].ordinal, i, "ordinals count records only");
            }
            mf_seq_free(&got);
        }
    }
    mf_seq_free(&want);
    fixture_free(f);
}

Test(format, the_iso2709_built_from_text_is_the_original, .timeout = 60)
{
    /* mf_sample's leaders say UTF-8, "22" and "4500": the raw record a
     * text format yields is then byte for byte the ISO 2709 it came from. */
    fixture *f = fixture_make(12, 8);
    for (int s = 0; s < TF_STYLE_COUNT; s++) {
        mp_reader *r;
        cr_assert_eq(mp_reader_open_mem(&r, f->text[s].p, f->text[s].len, NULL), MP_OK);
        const mp_record *rec;
        size_t i = 0;
        while (mp_reader_next(r, &rec) == MP_OK) {
            size_t n;
            const unsigned char *raw = mp_record_raw(rec, &n);
            cr_assert_eq(n, f->offs[i + 1] - f->offs[i], "%s record %zu",
                         tf_style_name((tf_style)s), i);
            cr_assert_eq(memcmp(raw, f->iso.p + f->offs[i], n), 0, "%s record %zu",
                         tf_style_name((tf_style)s), i);
            i++;
        }
        cr_assert_eq(i, 12);
        mp_reader_close(r);
    }
    fixture_free(f);
}

Test(format, the_writers_give_the_records_back, .timeout = 60)
{
    /* Read from each text format and written as ISO 2709: the original
     * bytes; written as MARC-in-JSON with the stated leader kept: the
     * leader as the text stated it (not the built raw's). */
    fixture *f = fixture_make(12, 10);
    for (int s = 0; s < TF_STYLE_COUNT; s++) {
        for (int seq = 0; seq < 2; seq++) {
            mp_reader_options o = MP_READER_OPTIONS_INIT;
            o.mode = seq ? MP_MODE_SEQUENTIAL : MP_MODE_PIPELINE;
            o.output_format = seq ? MP_FORMAT_AUTO : MP_FORMAT_ISO2709; /* workers serialise */
            mp_reader *r;
            cr_assert_eq(mp_reader_open_mem(&r, f->text[s].p, f->text[s].len, &o), MP_OK);
            const mp_record *rec;
            size_t i = 0;
            mp_buf out = MP_BUF_INIT;
            while (mp_reader_next(r, &rec) == MP_OK) {
                out.len = 0;
                cr_assert_eq(mp_record_write(rec, MP_FORMAT_ISO2709, 0, &out), MP_OK);
                size_t n = f->offs[i + 1] - f->offs[i];
                cr_assert(out.len == n && memcmp(out.data, f->iso.p + f->offs[i], n) == 0,
                          "%s record %zu: ISO 2709 written differs", tf_style_name((tf_style)s), i);
                out.len = 0;
                cr_assert_eq(mp_record_write(rec, MP_FORMAT_JSON, MP_WRITE_KEEP_LEADER, &out),
                             MP_OK);
                char want[40];
                snprintf(want, sizeof want, "\"leader\":\"%.24s\"", mp_record_leader(rec));
                cr_assert(memmem(out.data, out.len, want, strlen(want)) ||
                              memmem(out.data, out.len, want + 9, 26),
                          "%s record %zu: leader not kept", tf_style_name((tf_style)s), i);
                i++;
            }
            mp_buf_free(&out);
            cr_assert_eq(i, 12);
            mp_reader_close(r);
        }
    }
    fixture_free(f);
}

Test(format, every_chunk_size_and_worker_count_gives_the_same_items, .timeout = 300)
{
    fixture *f = fixture_make(40, 11);
    mp_pool *pool;
    cr_assert_eq(mp_pool_create(&pool, 4), MP_OK);
    static const size_t chunks[] = {64, 97, 300, 4096, 65536, 512 * 1024};
    static const unsigned workers[] = {1, 2, 4};
    for (int s = 0; s < TF_STYLE_COUNT; s++) {
        mf_seq want;
        mp_reader_options so = MP_READER_OPTIONS_INIT;
        so.format = style_format((tf_style)s);
        cr_assert_eq(read_all(&want, f->text[s].p, f->text[s].len, mf_seqopts(&so)), MP_OK);
        cr_assert_eq(want.n, 40);
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
            for (size_t w = 0; w < 3; w++) {
                mp_reader_options o = MP_READER_OPTIONS_INIT;
                o.chunk_size = chunks[c];
                o.chunks_in_flight = 3;
                o.threads = workers[w];
                o.pool = w == 2 ? pool : NULL; /* 4 workers: the shared pool */
                o.format = c % 2 ? style_format((tf_style)s) : MP_FORMAT_AUTO;
                mf_seq got;
                cr_assert_eq(read_all(&got, f->text[s].p, f->text[s].len, &o), MP_OK);
                cr_assert_eq(mf_seq_diff(&want, &got), -1, "%s chunk %zu workers %u",
                             tf_style_name((tf_style)s), chunks[c], workers[w]);
                mf_seq_free(&got);
            }
        }
        mf_seq_free(&want);
    }
    cr_assert_eq(mp_pool_destroy(pool), MP_OK);
    fixture_free(f);
}

/* ---- a mismatch is one clear error ------------------------------------------ */

static int one_error(const void *p, size_t n, mp_format fmt, int sequential, char *msg, size_t cap)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.format = fmt;
    o.mode = sequential ? MP_MODE_SEQUENTIAL : MP_MODE_PIPELINE;
    o.threads = 1;
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, p, n, &o), MP_OK);
    const mp_record *rec;
    int rc = mp_reader_next(r, &rec);
    snprintf(msg, cap, "%s", mp_reader_error(r)->message);
    cr_assert_eq(mp_reader_next(r, &rec), rc, "the error stays");
    mp_reader_close(r);
    return rc;
}

Test(format, a_file_in_another_format_is_one_clear_error, .timeout = 60)
{
    fixture *f = fixture_make(3, 5);
    const mf_buf *inputs[] = {&f->iso, &f->text[TF_XML], &f->text[TF_JSON_LINES], &f->text[TF_MRK]};
    const mp_format found[] = {MP_FORMAT_ISO2709, MP_FORMAT_MARCXML, MP_FORMAT_JSON, MP_FORMAT_MRK};
    for (int i = 0; i < 4; i++) {
        for (int asked = MP_FORMAT_ISO2709; asked <= MP_FORMAT_MRK; asked++) {
            for (int seq = 0; seq < 2; seq++) {
                char msg[200];
                int rc =
                    one_error(inputs[i]->p, inputs[i]->len, (mp_format)asked, seq, msg, sizeof msg);
                if (asked == (int)found[i]) {
                    cr_assert_eq(rc, MP_OK);
                    continue;
                }
                cr_assert_eq(rc, MP_EFORMAT, "%s read as %s: %s", mp__format_key(found[i]),
                             mp__format_key(asked), mp_err_name(rc));
                char want[64];
                snprintf(want, sizeof want, "input looks like %s", mp__format_name(found[i]));
                cr_assert(strstr(msg, want), "message: %s", msg);
                snprintf(want, sizeof want, "-i %s", mp__format_key(found[i]));
                cr_assert(strstr(msg, want), "message names the option: %s", msg);
            }
        }
    }
    fixture_free(f);
}

Test(format, an_unknown_start_is_read_as_iso2709_with_its_errors, .timeout = 10)
{
    /* Explicit formats accept what they cannot judge; auto reads ISO 2709. */
    mf_buf b;
    mf_init(&b);
    mf_appends(&b, "garbage\x1d");
    mf_sample(&b, 2, 1, NULL);
    mf_seq s;
    cr_assert_eq(read_all(&s, b.p, b.len, NULL), MP_OK);
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.v[0].kind, MP_EK_JUNK);
    mf_seq_free(&s);
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.format = MP_FORMAT_MARCXML;
    cr_assert_eq(read_all(&s, b.p, b.len, &o), MP_OK);
    cr_assert_eq(s.end_rc, MP_EOF, "not a mismatch: nothing looks like another format");
    mf_seq_free(&s);
    mf_free(&b);
}

/* ---- detection on streams that are not memory ------------------------------ */

typedef struct trickle {
    const unsigned char *p;
    size_t n, pos, step;
    size_t fail_at; /* EIO from here (SIZE_MAX: never) */
} trickle;

static ssize_t trickle_read(void *user, void *buf, size_t cap, int *sys_errno)
{
    trickle *t = user;
    if (t->pos >= t->fail_at) {
        *sys_errno = EIO;
        return -1;
    }
    size_t k = t->n - t->pos;
    if (k > t->step)
        k = t->step;
    if (k > cap)
        k = cap;
    if (t->pos + k > t->fail_at)
        k = t->fail_at - t->pos;
    memcpy(buf, t->p + t->pos, k);
    t->pos += k;
    return (ssize_t)k;
}

Test(format, detection_waits_for_bytes_that_decide, .timeout = 60)
{
    /* One byte per read, the first 20 of them white space. */
    fixture *f = fixture_make(5, 9);
    for (int s = TF_XML; s < TF_STYLE_COUNT; s++) {
        mf_buf b;
        mf_init(&b);
        mf_appends(&b, "\n\n\n\n\n                \n");
        mf_append(&b, f->text[s].p, f->text[s].len);
        for (int seq = 0; seq < 2; seq++) {
            trickle t = {b.p, b.len, 0, 1, SIZE_MAX};
            mp_reader_options o = MP_READER_OPTIONS_INIT;
            o.mode = seq ? MP_MODE_SEQUENTIAL : MP_MODE_PIPELINE;
            o.chunk_size = 64;
            mp_reader *r;
            cr_assert_eq(mp_reader_open_cb(&r, trickle_read, &t, &o), MP_OK);
            mf_seq got;
            mf_collect(&got, r);
            mp_reader_close(r);
            cr_assert_eq(got.end_rc, MP_EOF, "%s", tf_style_name((tf_style)s));
            cr_assert_eq(got.n, 5, "%s: %zu items", tf_style_name((tf_style)s), got.n);
            for (size_t i = 0; i < got.n; i++)
                cr_assert_eq(got.v[i].rc, MP_OK);
            mf_seq_free(&got);
        }
        mf_free(&b);
    }
    fixture_free(f);
}

Test(format, an_io_error_while_detecting_surfaces_after_the_bytes_before_it, .timeout = 30)
{
    fixture *f = fixture_make(4, 2);
    const mf_buf *x = &f->text[TF_JSON_LINES];
    size_t cut = f->units[TF_JSON_LINES][1].end + 1; /* two whole records, then EIO */
    for (int seq = 0; seq < 2; seq++) {
        trickle t = {x->p, x->len, 0, 4096, cut};
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.mode = seq ? MP_MODE_SEQUENTIAL : MP_MODE_PIPELINE;
        mp_reader *r;
        cr_assert_eq(mp_reader_open_cb(&r, trickle_read, &t, &o), MP_OK);
        mf_seq got;
        mf_collect(&got, r);
        mp_reader_close(r);
        cr_assert_eq(got.n, 2, "%zu items", got.n);
        cr_assert_eq(got.end_rc, MP_EIO, "%s", mp_err_name(got.end_rc));
        cr_assert_eq(got.end_off, cut);
        mf_seq_free(&got);
    }
    fixture_free(f);
}

Test(format, a_pipe_is_detected_too, .timeout = 30)
{
    fixture *f = fixture_make(6, 4);
    const mf_buf *x = &f->text[TF_XML_PREFIXED];
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        for (size_t off = 0; off < x->len; off += 100) {
            size_t k = x->len - off < 100 ? x->len - off : 100;
            if (write(fds[1], x->p + off, k) != (ssize_t)k)
                _exit(1);
            usleep(100);
        }
        _exit(0);
    }
    close(fds[1]);
    mp_reader *r;
    cr_assert_eq(mp_reader_open_fd(&r, fds[0], NULL), MP_OK);
    mf_seq got;
    mf_collect(&got, r);
    mp_reader_close(r);
    close(fds[0]);
    cr_assert_eq(got.end_rc, MP_EOF);
    cr_assert_eq(got.n, 6);
    mf_seq_free(&got);
    fixture_free(f);
}

Test(format, empty_and_blank_inputs_end_cleanly, .timeout = 10)
{
    static const char *const inputs[] = {"", "   \n\n\t ", "\xEF\xBB\xBF"};
    for (int i = 0; i < 3; i++) {
        for (int fmt = MP_FORMAT_AUTO; fmt <= MP_FORMAT_MRK; fmt++) {
            mp_reader_options o = MP_READER_OPTIONS_INIT;
            o.format = (mp_format)fmt;
            mf_seq s;
            cr_assert_eq(read_all(&s, inputs[i], strlen(inputs[i]), &o), MP_OK);
            cr_assert_eq(s.end_rc, MP_EOF);
            if (fmt != MP_FORMAT_ISO2709 && fmt != MP_FORMAT_AUTO)
                cr_assert_eq(s.n, 0, "input %d format %d: %zu items", i, fmt, s.n);
            mf_seq_free(&s);
        }
    }
}

Test(format, the_reader_says_which_format_it_reads, .timeout = 30)
{
    fixture *f = fixture_make(2, 6);
    static const mp_format want[TF_STYLE_COUNT] = {
        MP_FORMAT_MARCXML, MP_FORMAT_MARCXML, MP_FORMAT_MARCXML, MP_FORMAT_MARCXML,
        MP_FORMAT_JSON,    MP_FORMAT_JSON,    MP_FORMAT_MRK};
    for (int s = 0; s < TF_STYLE_COUNT; s++) {
        for (int seq = 0; seq < 2; seq++) {
            mp_reader_options o = MP_READER_OPTIONS_INIT;
            o.mode = seq ? MP_MODE_SEQUENTIAL : MP_MODE_PIPELINE;
            mp_reader *r;
            cr_assert_eq(mp_reader_open_mem(&r, f->text[s].p, f->text[s].len, &o), MP_OK);
            cr_assert_eq(mp_reader_format(r), MP_FORMAT_AUTO, "unknown before the first item");
            const mp_record *rec;
            cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
            cr_assert_eq(mp_reader_format(r), want[s], "%s", tf_style_name((tf_style)s));
            mp_reader_close(r);
        }
    }
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, f->iso.p, f->iso.len, NULL), MP_OK);
    const mp_record *rec;
    cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
    cr_assert_eq(mp_reader_format(r), MP_FORMAT_ISO2709);
    mp_reader_close(r);
    cr_assert_eq(mp_reader_format(NULL), MP_FORMAT_AUTO);
    fixture_free(f);
}

Test(format, options_reject_unknown_formats, .timeout = 10)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.format = MP_FORMAT_LINE; /* an output format only */
    mp_reader *r = NULL;
    cr_assert_eq(mp_reader_open_mem(&r, "", 0, &o), MP_EINVAL);
    cr_assert_null(r);
    o.format = (mp_format)7;
    cr_assert_eq(mp_reader_open_mem(&r, "", 0, &o), MP_EINVAL);
    /* As input, NDJSON is JSON. */
    const char *line = "{\"leader\":\"00000nam a2200000 a 4500\",\"fields\":[]}\n";
    o.format = MP_FORMAT_NDJSON;
    cr_assert_eq(mp_reader_open_mem(&r, line, strlen(line), &o), MP_OK);
    const mp_record *rec;
    cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
    cr_assert_eq(mp_reader_format(r), MP_FORMAT_JSON);
    mp_reader_close(r);
    /* Byte ranges are ISO 2709's. */
    o.format = MP_FORMAT_MARCXML;
    o.range_end = 10;
    cr_assert_eq(mp_reader_open_mem(&r, "", 0, &o), MP_EINVAL);
    o.format = MP_FORMAT_AUTO;
    const char *xml = "<record><leader>00000nam a2200000 a 4500</leader></record>";
    o.range_end = strlen(xml);
    cr_assert_eq(mp_reader_open_mem(&r, xml, strlen(xml), &o), MP_OK);
    cr_assert_eq(mp_reader_next(r, &rec), MP_EFORMAT, "a range reads ISO 2709: one clear error");
    mp_reader_close(r);
}

/* ---- the corpus through yaz-marcdump -o marcxml / json ---------------------- */

static int run_yaz(const char *args, const char *in, const char *out)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "yaz-marcdump %s '%s' > '%s' 2>/dev/null", args, in, out);
    return system(cmd);
}

/* The records of a file as marcpipe's reader yields them, text decoded as
 * the options say. -1 when an error item came. */
static long read_file(const char *path, const mp_reader_options *o, mf_seq *s)
{
    mp_reader *r;
    if (mp_reader_open_path(&r, path, o) != MP_OK)
        return -1;
    mf_collect(s, r);
    mp_reader_close(r);
    if (s->end_rc != MP_EOF)
        return -1;
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].rc != MP_OK)
            return -1;
    return (long)s->n;
}

/* Records with leader/09 and yaz's rewritten leader positions aligned. */
typedef struct flat {
    char *text;
    size_t len;
} flat;

static void flatten(const char *path, const mp_reader_options *o, mf_buf *out, int *ok)
{
    mp_reader *r;
    *ok = 0;
    if (mp_reader_open_path(&r, path, o) != MP_OK)
        return;
    const mp_record *rec;
    int rc;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK) {
        char ld[24];
        memcpy(ld, mp_record_leader(rec), 24);
        static const int pos[] = {9, 10, 11, 20, 21, 22};
        static const char assumed[] = "a22450";
        for (int k = 0; k < 6; k++)
            if (k == 0 || ld[pos[k]] < '0' || ld[pos[k]] > '9')
                ld[pos[k]] = assumed[k];
        /* yaz writes the length and base address it computes */
        mf_append(out, ld + 5, 7);
        mf_append(out, ld + 17, 7);
        mf_appends(out, "\n");
        for (uint32_t i = 0; i < mp_record_field_count(rec); i++) {
            const mp_field *f = mp_record_field(rec, i);
            mf_append(out, f->tag, 3);
            if (!f->is_control) {
                mf_append(out, &f->ind1, 1);
                mf_append(out, &f->ind2, 1);
                for (uint32_t j = 0; j < f->nsubfields; j++) {
                    mf_appends(out, "$");
                    mf_append(out, &f->subfields[j].code, 1);
                    mf_append(out, f->subfields[j].data, f->subfields[j].len);
                }
            } else {
                mf_append(out, f->data, f->len);
            }
            mf_appends(out, "\n");
        }
        mf_appends(out, "\n");
    }
    mp_reader_close(r);
    *ok = rc == MP_EOF;
}

Test(format, corpus_through_yaz_marcxml_and_json_reads_back_equal, .timeout = 600)
{
    const char *dir = mf_corpus_dir();
    if (!mf_is_dir(dir) || system("yaz-marcdump -V >/dev/null 2>&1") != 0) {
        cr_skip_test("corpus %s or yaz-marcdump absent", dir);
        return;
    }
    mf_corpus c;
    mf_corpus_list(&c, dir);
    char xml[] = "/tmp/mp-fmt-XXXXXX";
    int fd = mkstemp(xml);
    cr_assert_geq(fd, 0);
    close(fd);
    char json[sizeof xml + 8];
    snprintf(json, sizeof json, "%s.json", xml);
    size_t files = 0, records = 0;
    for (size_t i = 0; i < c.n; i++) {
        const char *path = c.v[i].path;
        if (c.v[i].size > 64u * 1024 * 1024)
            continue;
        /* Clean files only: YAZ repairs damaged ones its own way. Text is
         * UTF-8 on both sides: yaz converts MARC-8 (-f marc8 -t utf8), as
         * marcpipe does (no NFC, as yaz). */
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.format = MP_FORMAT_ISO2709;
        o.no_normalize = 1;
        mf_seq s;
        long n = read_file(path, &o, &s);
        int utf8 = 1, warned = 0;
        mp_reader *r;
        if (n > 0 && mp_reader_open_path(&r, path, &o) == MP_OK) {
            const mp_record *rec;
            while (mp_reader_next(r, &rec) == MP_OK) {
                utf8 &= mp_record_coding_scheme(rec) == 'a';
                warned |= mp_record_warning_count(rec) != 0;
            }
            mp_reader_close(r);
        }
        mf_seq_free(&s);
        /* Records read with warnings neither: YAZ drops the control
         * characters (an XML document cannot hold them) and marcpipe's
         * writers rebuild such records. */
        if (n <= 0 || warned)
            continue;
        const char *conv = utf8 ? "" : "-f marc8 -t utf8 ";
        char args[64];
        mf_buf want, got;
        int ok;
        mf_init(&want);
        flatten(path, &o, &want, &ok);
        cr_assert(ok);
        /* j = 0, 1: YAZ's MARCXML and JSON; 2, 3: marcpipe's own writers'. */
        for (int j = 0; j < 4; j++) {
            if (j < 2) {
                snprintf(args, sizeof args, "-i marc %s-o %s", conv, j ? "json" : "marcxml");
                if (run_yaz(args, path, j ? json : xml) != 0)
                    continue;
            } else {
                mp_writer_options wo = MP_WRITER_OPTIONS_INIT;
                wo.format = j == 3 ? MP_FORMAT_JSON : MP_FORMAT_MARCXML;
                mp_writer *w;
                cr_assert_eq(mp_writer_open_path(&w, j == 3 ? json : xml, &wo), MP_OK);
                mp_reader *wr;
                cr_assert_eq(mp_reader_open_path(&wr, path, &o), MP_OK);
                const mp_record *rec;
                while (mp_reader_next(wr, &rec) == MP_OK)
                    cr_assert_eq(mp_writer_write(w, rec), MP_OK);
                mp_reader_close(wr);
                cr_assert_eq(mp_writer_close(w), MP_OK);
            }
            int jf = j & 1; /* 1: JSON */
            /* 1, 2 and 4 workers; 4 KiB chunks make records straddle them. */
            static const struct {
                unsigned threads;
                size_t chunk;
            } shapes[] = {{1, 4096}, {2, 4096}, {4, 65536}};
            for (size_t sh = 0; sh < 3; sh++) {
                mp_reader_options x = MP_READER_OPTIONS_INIT;
                x.threads = shapes[sh].threads;
                x.chunk_size = shapes[sh].chunk;
                mf_init(&got);
                flatten(jf ? json : xml, &x, &got, &ok);
                cr_assert(ok, "%s as %s (%s): an error item", path, jf ? "JSON" : "MARCXML",
                          j < 2 ? "yaz" : "marcpipe");
                if (got.len != want.len || memcmp(got.p, want.p, want.len) != 0) {
                    size_t k = 0;
                    while (k < got.len && k < want.len && got.p[k] == want.p[k])
                        k++;
                    size_t from = k > 80 ? k - 80 : 0;
                    cr_assert_fail("%s as %s (%s, %u workers) differs at byte %zu:\nwant ...%.*s\n"
                                   "got  ...%.*s",
                                   path, jf ? "JSON" : "MARCXML", j < 2 ? "yaz" : "marcpipe",
                                   shapes[sh].threads, k, 160, want.p + from, 160, got.p + from);
                }
                mf_free(&got);
            }
        }
        mf_free(&want);
        files++;
        records += (size_t)n;
    }
    unlink(xml);
    unlink(json);
    mf_corpus_free(&c);
    cr_log_info("%zu corpus files, %zu records, read back equal from MARCXML and JSON written by "
                "YAZ and by marcpipe's writers, at 1, 2 and 4 workers",
                files, records);
    cr_assert_gt(files, 10);
}
