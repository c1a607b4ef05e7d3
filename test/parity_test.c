/*
 * parity_test.c - the pipeline yields exactly what the sequential reader
 * yields (type, offset, length, ordinal, kind, index hash, terminal code)
 * for 1, 2, 4 and 8 workers and chunk sizes from 4 KiB to 4 MiB: on
 * generated fixtures always, and on every file of $MARCPIPE_CORPUS
 * (default ../shared/data, test/support/corpus.h) when it is present.
 * Also: the AVX2 scan and UTF-8 validation (mp__utf8_simd) read every
 * file exactly as the portable code does, in every encoding mode.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "corpus.h"
#include "marcfix.h"
#include "text.h"

static const unsigned workers[] = {1, 2, 4, 8};
static const size_t chunks[] = {4096, 16384, 65536, 1u << 20, 4u << 20};

static void check_parity(const char *name, const unsigned char *data, size_t len, int enc,
                         size_t max_record)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.encoding = (mp_encoding)enc;
    if (max_record)
        o.max_record_size = max_record;
    mp_reader *s;
    cr_assert_eq(mp_reader_open_mem(&s, data, len, mf_seqopts(&o)), MP_OK);
    mf_seq want;
    mf_collect(&want, s);
    mp_reader_close(s);
    cr_assert(want.end_rc == MP_EOF, "%s: sequential reader ended with %s", name,
              mp_err_name(want.end_rc));
    o.mode = MP_MODE_PIPELINE; /* also for inputs MP_MODE_AUTO would read sequentially */
    for (size_t w = 0; w < sizeof workers / sizeof *workers; w++) {
        for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
            if (chunks[c] > 4 * len + 65536 && c > 0)
                continue; /* bigger chunks than the input add nothing */
            o.threads = workers[w];
            o.chunk_size = chunks[c];
            mp_reader *r;
            cr_assert_eq(mp_reader_open_mem(&r, data, len, &o), MP_OK);
            mf_seq got;
            mf_collect(&got, r);
            mp_reader_close(r);
            long d = mf_seq_diff(&want, &got);
            cr_assert(d < 0,
                      "%s: pipeline (%u workers, chunk %zu) differs from the sequential "
                      "reader at item %ld (seq %zu items end %s, pipe %zu items end %s)",
                      name, workers[w], chunks[c], d, want.n, mp_err_name(want.end_rc), got.n,
                      mp_err_name(got.end_rc));
            mf_seq_free(&got);
        }
    }
    mf_seq_free(&want);
}

Test(parity, fixtures, .timeout = 120)
{
    mf_buf b;
    size_t offs[301];
    mf_init(&b);
    mf_sample(&b, 300, 11, offs);
    check_parity("clean fixture", b.p, b.len, MP_ENCODING_AUTO, 0);

    /* Damage of every kind in one stream. */
    mf_set_length(&b, offs[5], "99999");
    mf_set_length(&b, offs[9], "00000");
    mf_set_length(&b, offs[20], "00031");
    b.p[offs[40] + 13] = 'x';
    b.p[offs[60] + 30] = 'Z';
    mf_insert(&b, offs[100], "\r\n junk \x1d", 9);
    mf_insert(&b, offs[200], "\x1a\x00\x00", 3);
    size_t big = b.len;
    mf_big_record(&b, 300000, 5);
    mf_sample(&b, 3, 12, NULL);
    mf_set_length(&b, big, "99999");
    b.len -= 7; /* truncated last record */
    check_parity("damaged fixture", b.p, b.len, MP_ENCODING_AUTO, 0);
    check_parity("damaged fixture, small maximum", b.p, b.len, MP_ENCODING_AUTO, 100000);
    mf_free(&b);
}

Test(parity, empty_and_tiny_inputs, .timeout = 30)
{
    check_parity("empty", (const unsigned char *)"", 0, MP_ENCODING_AUTO, 0);
    check_parity("one byte", (const unsigned char *)"0", 1, MP_ENCODING_AUTO, 0);
    check_parity("terminator", (const unsigned char *)"\x1d", 1, MP_ENCODING_AUTO, 0);
}

Test(parity, corpus, .timeout = 600)
{
    const char *dir = mf_corpus_dir();
    if (!mf_is_dir(dir))
        cr_skip_test("SKIP: corpus %s not found (set MARCPIPE_CORPUS)", dir);
    mf_corpus files;
    mf_corpus_list(&files, dir);
    int n = 0;
    for (size_t i = 0; i < files.n; i++) {
        const char *path = files.v[i].path;
        size_t len;
        unsigned char *data = mf_read_file(path, &len);
        cr_assert_not_null(data, "cannot read %s", path);
        check_parity(path, data, len, MP_ENCODING_RAW, 0);
        check_parity(path, data, len, MP_ENCODING_AUTO, 0);
        free(data);
        n++;
    }
    mf_corpus_free(&files);
    cr_assert_gt(n, 0, "no MARC files under %s", dir);
    cr_log_info("parity checked on %d corpus files", n);
}

/* ---- the stated length at the maximum (issue #16, item 8) ------------------
 * A record whose stated length L equals max_record_size and whose
 * terminator is missing was TOO_BIG with 512 KiB chunks but TERMINATOR with
 * 64 K / 4 K / 1 K ones: a carry that reached the maximum counted as the
 * end of the input. Every chunk size, and the sequential reader fed in
 * short reads (it then does not know where the input ends), must agree. */

typedef struct slow_mem {
    const unsigned char *p;
    size_t len, pos, step;
} slow_mem;

static ssize_t slow_read(void *user, void *buf, size_t cap, int *sys_errno)
{
    slow_mem *m = user;
    (void)sys_errno;
    size_t n = m->len - m->pos;
    if (n > cap)
        n = cap;
    if (n > m->step)
        n = m->step;
    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

/* Appends a record of exactly `total` (>= 60) bytes: 001 and a 245 filled up. */
static size_t exact_record(mf_buf *b, size_t total)
{
    char *f245 = malloc(total);
    cr_assert_not_null(f245);
    size_t k = total - 57; /* 24 + 2*12 + 1 (directory) + "x"+FT + "10$a"+k+FT + RT */
    memcpy(f245, "24510$a", 7);
    memset(f245 + 7, 'y', k);
    f245[7 + k] = 0;
    const char *fields[] = {"001x", f245};
    size_t off = mf_record(b, NULL, fields, 2);
    free(f245);
    cr_assert_eq(b->len - off, total);
    return off;
}

static void check_parity_chunks(const char *name, const unsigned char *data, size_t len,
                                size_t max_record)
{
    static const size_t sizes[] = {64, 1024, 4096, 65536, 512u * 1024};
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.max_record_size = max_record;
    mp_reader *r;
    mf_seq want, got;
    cr_assert_eq(mp_reader_open_mem(&r, data, len, mf_seqopts(&o)), MP_OK);
    mf_collect(&want, r);
    mp_reader_close(r);
    cr_assert_eq(want.end_rc, MP_EOF, "%s", name);
    for (size_t c = 0; c < sizeof sizes / sizeof *sizes; c++) {
        for (unsigned w = 1; w <= 2; w++) {
            o.chunk_size = sizes[c];
            o.threads = w;
            cr_assert_eq(mp_reader_open_mem(&r, data, len, &o), MP_OK);
            mf_collect(&got, r);
            mp_reader_close(r);
            long d = mf_seq_diff(&want, &got);
            cr_assert(d < 0, "%s: chunk %zu, %u workers: differs at item %ld (kind %d vs %d)", name,
                      sizes[c], w, d, d >= 0 && (size_t)d < want.n ? want.v[d].kind : -1,
                      d >= 0 && (size_t)d < got.n ? got.v[d].kind : -1);
            mf_seq_free(&got);
        }
    }
    /* The sequential reader over short reads, and the pipeline over them. */
    static const size_t steps[] = {1, 7, 1000, 65536};
    for (size_t s = 0; s < sizeof steps / sizeof *steps; s++) {
        for (int pipeline = 0; pipeline <= 1; pipeline++) {
            slow_mem m = {data, len, 0, steps[s]};
            o.chunk_size = 4096;
            o.threads = 1;
            cr_assert_eq(mp_reader_open_cb(&r, slow_read, &m, pipeline ? &o : mf_seqopts(&o)),
                         MP_OK);
            mf_collect(&got, r);
            mp_reader_close(r);
            long d = mf_seq_diff(&want, &got);
            cr_assert(d < 0, "%s: %s over reads of %zu bytes differs at item %ld", name,
                      pipeline ? "pipeline" : "sequential reader", steps[s], d);
            mf_seq_free(&got);
        }
    }
    mf_seq_free(&want);
}

Test(parity, stated_length_at_the_maximum_without_terminator, .timeout = 300)
{
    static const size_t maxima[] = {200, 1000, 4096, 65536, 100000};
    for (size_t i = 0; i < sizeof maxima / sizeof *maxima; i++) {
        size_t max = maxima[i];
        for (int tail = 0; tail < 3; tail++) {
            for (int minus = 0; minus <= 1; minus++) {
                mf_buf b;
                mf_init(&b);
                mf_sample(&b, 2, 3, NULL);
                size_t off = exact_record(&b, max - (size_t)minus);
                b.p[b.len - 1] = 'x'; /* the terminator is gone */
                if (tail == 1)
                    mf_sample(&b, 3, 4, NULL); /* records follow */
                else if (tail == 2)
                    mf_appends(&b, "\r\njunk\x1d"); /* junk follows */
                char name[96];
                snprintf(name, sizeof name, "max %zu, L = max - %d, %s", max, minus,
                         tail == 0   ? "at the end"
                         : tail == 1 ? "records follow"
                                     : "junk follows");
                check_parity_chunks(name, b.p, b.len, max);
                /* What it is: at L == max nothing past L can be examined. */
                mp_reader_options o = MP_READER_OPTIONS_INIT;
                o.max_record_size = max;
                mp_reader *r;
                mf_seq got;
                cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, mf_seqopts(&o)), MP_OK);
                mf_collect(&got, r);
                mp_reader_close(r);
                size_t k = 0;
                while (k < got.n && got.v[k].offset != off)
                    k++;
                cr_assert_lt(k, got.n, "%s: no item at the record", name);
                if (minus == 0)
                    cr_assert_eq(got.v[k].kind, MP_EK_TOO_BIG, "%s: kind %d", name, got.v[k].kind);
                else if (tail == 0)
                    cr_assert_eq(got.v[k].kind, MP_EK_TERMINATOR, "%s: kind %d", name,
                                 got.v[k].kind);
                mf_seq_free(&got);
                mf_free(&b);
            }
        }
    }
}

/* ---- the AVX2 paths (scan pass with UTF-8 validation, validator) ----------- */

/* Reads data sequentially with the AVX2 paths and without: same items. */
static void check_simd(const char *name, const unsigned char *data, size_t len)
{
    static const struct {
        int enc, u8;
    } modes[] = {{MP_ENCODING_AUTO, MP_UTF8_STRICT},  {MP_ENCODING_UTF8, MP_UTF8_STRICT},
                 {MP_ENCODING_UTF8, MP_UTF8_REPLACE}, {MP_ENCODING_UTF8, MP_UTF8_IGNORE},
                 {MP_ENCODING_MARC8, MP_UTF8_STRICT}, {MP_ENCODING_RAW, MP_UTF8_STRICT}};
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.encoding = (mp_encoding)modes[m].enc;
        o.utf8_handling = (mp_utf8_handling)modes[m].u8;
        mf_seq with, without;
        mp_reader *r;
        mp__utf8_simd = 1;
        cr_assert_eq(mp_reader_open_mem(&r, data, len, mf_seqopts(&o)), MP_OK);
        mf_collect(&with, r);
        mp_reader_close(r);
        mp__utf8_simd = 0;
        cr_assert_eq(mp_reader_open_mem(&r, data, len, mf_seqopts(&o)), MP_OK);
        mf_collect(&without, r);
        mp_reader_close(r);
        mp__utf8_simd = 1;
        long d = mf_seq_diff(&without, &with);
        cr_assert(d < 0, "%s (encoding %d, utf8 %d): the AVX2 paths differ at item %ld", name,
                  modes[m].enc, modes[m].u8, d);
        mf_seq_free(&with);
        mf_seq_free(&without);
    }
}

Test(parity, simd_paths_read_as_the_portable_code, .timeout = 600)
{
    if (!mp__utf8_simd_active())
        cr_log_warn("no AVX2 here: both reads take the portable code");
    /* Fixtures: clean, and every text problem at every 64-byte phase. */
    mf_buf b;
    size_t offs[65];
    mf_init(&b);
    mf_sample(&b, 64, 3, offs);
    static const char *const bad[] = {"\xc3", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                      "\xff", "\x1b(N",   "\xe8",         "\x80"};
    for (unsigned k = 0; k < 64; k++) {
        const char *s = bad[k % (sizeof bad / sizeof *bad)];
        size_t at = offs[k] + 24 + 12 * 2 + 1 + k; /* the data area, k bytes in */
        if (at + strlen(s) < offs[k + 1])
            memcpy(b.p + at, s, strlen(s));
    }
    check_simd("fixture with text damage", b.p, b.len);
    mf_free(&b);
    const char *dir = mf_corpus_dir();
    if (!mf_is_dir(dir))
        cr_skip_test("SKIP (partly): corpus %s not found (set MARCPIPE_CORPUS)", dir);
    mf_corpus files;
    mf_corpus_list(&files, dir);
    for (size_t i = 0; i < files.n; i++) {
        size_t len;
        unsigned char *data = mf_read_file(files.v[i].path, &len);
        cr_assert_not_null(data, "cannot read %s", files.v[i].path);
        check_simd(files.v[i].path, data, len);
        free(data);
    }
    cr_log_info("AVX2 paths checked on %zu corpus files", files.n);
    mf_corpus_free(&files);
}
