/*
 * write_test.c - the serialisers, writers and conversion (marcpipe/write.h):
 * ISO 2709 round trips on the whole corpus (bytes identical for
 * undamaged records, equal records after a re-read for all), the
 * workers' serialisation equal to the consumer's, exact output of every
 * format for built records (escaping, invalid UTF-8, XML-illegal
 * characters), ISO 2709's size limits, writer framing and targets,
 * conversion policies for damaged records, and out-of-memory.
 * MARCXML schema validity and JSON equality with pymarc are checked by
 * the CLI suite (test/cli/cli_test.py, cases convert_*).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <marcpipe/marcpipe.h>
#include "alloc.h"
#include "arena.h"
#include "corpus.h"
#include "marcfix.h"
#include "write_internal.h"

/* ---- helpers ------------------------------------------------------------------ */

/* Same fields, indicators, codes and text (the leader is not compared). */
static int same_content(const mp_record *a, const mp_record *b, char *why, size_t cap)
{
    uint32_t n = mp_record_field_count(a);
    if (n != mp_record_field_count(b)) {
        snprintf(why, cap, "field count %u vs %u", n, mp_record_field_count(b));
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        const mp_field *f = mp_record_field(a, i), *g = mp_record_field(b, i);
        if (memcmp(f->tag, g->tag, 3) != 0 || f->is_control != g->is_control) {
            snprintf(why, cap, "field %u: tag %s/%s control %d/%d", i, f->tag, g->tag,
                     f->is_control, g->is_control);
            return 0;
        }
        if (f->is_control) {
            if (f->len != g->len || memcmp(f->data, g->data, f->len) != 0) {
                snprintf(why, cap, "field %u (%s): control data differs", i, f->tag);
                return 0;
            }
            continue;
        }
        if (f->ind1 != g->ind1 || f->ind2 != g->ind2 || f->nsubfields != g->nsubfields) {
            snprintf(why, cap, "field %u (%s): indicators or subfield count", i, f->tag);
            return 0;
        }
        for (uint32_t j = 0; j < f->nsubfields; j++) {
            const mp_subfield *s = &f->subfields[j], *t = &g->subfields[j];
            if (s->code != t->code || s->len != t->len || memcmp(s->data, t->data, s->len)) {
                snprintf(why, cap, "field %u (%s) subfield %u differs", i, f->tag, j);
                return 0;
            }
        }
    }
    return 1;
}

typedef void (*file_fn)(void *user, const char *path, const unsigned char *data, size_t len);

/* Runs fn on every MARC file of the corpus; returns the number of files,
 * or -1 when there is no corpus. */
static int walk_corpus(file_fn fn, void *user)
{
    const char *dir = mf_corpus_dir();
    if (!mf_is_dir(dir))
        return -1;
    mf_corpus c;
    mf_corpus_list(&c, dir);
    for (size_t i = 0; i < c.n; i++) {
        size_t len;
        unsigned char *data = mf_read_file(c.v[i].path, &len);
        cr_assert_not_null(data, "cannot read %s", c.v[i].path);
        fn(user, c.v[i].path, data, len);
        free(data);
    }
    int n = (int)c.n;
    mf_corpus_free(&c);
    return n;
}

static mp_reader *open_seq(const void *data, size_t len, mp_encoding enc)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.mode = MP_MODE_SEQUENTIAL;
    o.encoding = enc;
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, data, len, &o), MP_OK);
    return r;
}

/* ---- ISO 2709 round trip over the corpus -------------------------------------------- */

typedef struct rt_stats {
    mp_encoding enc;
    uint64_t records, damaged, identical, rebuilt, refused, reread, warned;
} rt_stats;

static void round_trip_file(void *user, const char *path, const unsigned char *data, size_t len)
{
    rt_stats *st = user;
    mp_reader *r = open_seq(data, len, st->enc);
    const mp_record *rec;
    int rc;
    mp_buf out = MP_BUF_INIT;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
        if (!rec)
            continue; /* a skipped span: nothing to write */
        int good = rc == MP_OK;
        good ? st->records++ : st->damaged++;
        out.len = 0;
        int wrc = mp_record_write(rec, MP_FORMAT_ISO2709, 0, &out);
        size_t raw_len;
        const unsigned char *raw = mp_record_raw(rec, &raw_len);
        if (wrc == MP_ETOOBIG) {
            /* Only a record the format cannot hold may be refused. */
            cr_assert(!good || raw_len > 99999, "%s: good record %llu refused", path,
                      (unsigned long long)mp_record_ordinal(rec));
            st->refused++;
            continue;
        }
        cr_assert_eq(wrc, MP_OK, "%s: record %llu: %s", path,
                     (unsigned long long)mp_record_ordinal(rec), mp_strerror(wrc));
        int utf8 = st->enc == MP_ENCODING_RAW || mp_record_coding_scheme(rec) == 'a';
        /* A record with warnings is rebuilt: the anomalies do not travel. */
        if (good && utf8 && mp_record_warning_count(rec) == 0) {
            cr_assert_eq(out.len, raw_len, "%s: record %llu: %zu bytes written, %zu read", path,
                         (unsigned long long)mp_record_ordinal(rec), out.len, raw_len);
            cr_assert(memcmp(out.data, raw, raw_len) == 0, "%s: record %llu not identical", path,
                      (unsigned long long)mp_record_ordinal(rec));
            st->identical++;
        } else {
            st->rebuilt++;
            cr_assert_eq(out.data[9], st->enc == MP_ENCODING_RAW ? raw[9] : 'a',
                         "leader/09 of a rebuilt record");
        }
        /* Read back: one record with the same content; a good one stays good. */
        mp_reader *back = open_seq(out.data, out.len, st->enc);
        const mp_record *again;
        int brc = mp_reader_next(back, &again);
        cr_assert(brc == MP_OK || (brc == MP_ERECORD && again && !good),
                  "%s: record %llu re-read: %s %s", path,
                  (unsigned long long)mp_record_ordinal(rec), mp_strerror(brc),
                  mp_reader_error(back)->message);
        if (good) /* repaired, or (control characters as codes/indicators) the same */
            cr_assert_leq(mp_record_warning_count(again), mp_record_warning_count(rec),
                          "%s: record %llu re-read with more warnings", path,
                          (unsigned long long)mp_record_ordinal(rec));
        if (good && mp_record_warning_count(rec))
            st->warned++;
        char why[160];
        cr_assert(same_content(rec, again, why, sizeof why), "%s: record %llu re-read: %s", path,
                  (unsigned long long)mp_record_ordinal(rec), why);
        cr_assert_eq(mp_reader_next(back, &again), MP_EOF, "exactly one record written");
        mp_reader_close(back);
        st->reread++;
    }
    cr_assert(rc == MP_EOF || rc == MP_EIO, "%s: %s", path, mp_strerror(rc));
    mp_buf_free(&out);
    mp_reader_close(r);
}

Test(write, iso2709_round_trip_corpus, .timeout = 600)
{
    for (int e = 0; e < 2; e++) {
        rt_stats st;
        memset(&st, 0, sizeof st);
        st.enc = e ? MP_ENCODING_RAW : MP_ENCODING_AUTO;
        int n = walk_corpus(round_trip_file, &st);
        if (n < 0)
            cr_skip_test("SKIP: corpus %s not found (set MARCPIPE_CORPUS)", mf_corpus_dir());
        cr_assert_gt(n, 10);
        cr_assert_gt(st.identical, 3900, "the realworld file alone has 3945 UTF-8 records");
        cr_assert_eq(st.reread, st.records + st.damaged - st.refused);
        cr_assert_gt(st.warned, 0, "the corpus holds records with warnings: they were rebuilt");
        cr_log_info("%s: %d files, %llu good (%llu with warnings) + %llu damaged records: %llu "
                    "identical bytes, %llu rebuilt, %llu refused (over 99999 bytes), all re-read "
                    "equal",
                    e ? "raw" : "auto", n, (unsigned long long)st.records,
                    (unsigned long long)st.warned, (unsigned long long)st.damaged,
                    (unsigned long long)st.identical, (unsigned long long)st.rebuilt,
                    (unsigned long long)st.refused);
    }
}

/* ---- the workers' serialisation equals the consumer's ---------------------------------- */

typedef struct prep_case {
    mp_format format;
    unsigned flags;
} prep_case;

static const prep_case prep_cases[] = {
    {MP_FORMAT_ISO2709, 0},
    {MP_FORMAT_ISO2709, MP_WRITE_KEEP_LEADER},
    {MP_FORMAT_MARCXML, 0},
    {MP_FORMAT_MARCXML, MP_WRITE_XML_COMPACT | MP_WRITE_ASCII | MP_WRITE_KEEP_LEADER},
    {MP_FORMAT_JSON, 0},
    {MP_FORMAT_NDJSON, MP_WRITE_JSON_SPACED | MP_WRITE_ASCII},
    {MP_FORMAT_MRK, 0},
    {MP_FORMAT_LINE, 0},
};

static void check_prepared(const char *path, const unsigned char *data, size_t len,
                           mp_reader_mode mode, const prep_case *pc)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.mode = mode;
    o.threads = 2;
    o.chunk_size = 4096; /* many chunks, records straddling them */
    o.output_format = pc->format;
    o.output_flags = pc->flags;
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, data, len, &o), MP_OK);
    const mp_record *rec;
    int rc;
    uint64_t prepared = 0, refused = 0, seen = 0;
    mp_buf inline_out = MP_BUF_INIT;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
        if (!rec)
            continue;
        seen++;
        size_t n;
        int orc;
        const void *p = mp_record_output(rec, &n, &orc);
        inline_out.len = 0;
        int wrc = mp_record_write(rec, pc->format, pc->flags, &inline_out);
        if (!p) {
            cr_assert_neq(orc, 0, "%s: record %llu: not prepared and no reason", path,
                          (unsigned long long)mp_record_ordinal(rec));
            cr_assert_eq(orc, wrc, "the worker's refusal is the serialiser's");
            refused++;
            continue;
        }
        cr_assert_eq(wrc, MP_OK);
        cr_assert_eq(n, inline_out.len, "%s: record %llu format %d: %zu prepared, %zu inline", path,
                     (unsigned long long)mp_record_ordinal(rec), pc->format, n, inline_out.len);
        cr_assert(memcmp(p, inline_out.data, n) == 0, "%s: record %llu format %d differs", path,
                  (unsigned long long)mp_record_ordinal(rec), pc->format);
        prepared++;
    }
    mp_buf_free(&inline_out);
    mp_reader_close(r);
    (void)len;
    cr_assert_eq(prepared + refused, seen, "%s: every record prepared or refused", path);
}

static void prepared_file(void *user, const char *path, const unsigned char *data, size_t len)
{
    (void)user;
    for (size_t c = 0; c < sizeof prep_cases / sizeof prep_cases[0]; c++) {
        check_prepared(path, data, len, MP_MODE_PIPELINE, &prep_cases[c]);
        check_prepared(path, data, len, MP_MODE_SEQUENTIAL, &prep_cases[c]);
    }
}

Test(write, workers_serialise_as_the_consumer_would, .timeout = 600)
{
    int n = walk_corpus(prepared_file, NULL);
    if (n < 0)
        cr_skip_test("SKIP: corpus %s not found (set MARCPIPE_CORPUS)", mf_corpus_dir());
    cr_assert_gt(n, 10);
}

Test(write, output_options_are_checked, .timeout = 10)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    mp_reader *r;
    o.output_format = (mp_format)7;
    cr_assert_eq(mp_reader_open_mem(&r, "", 0, &o), MP_EINVAL);
    o.output_format = MP_FORMAT_JSON;
    o.output_flags = 0x100;
    cr_assert_eq(mp_reader_open_mem(&r, "", 0, &o), MP_EINVAL);
    o.output_flags = 0;
    o.format = MP_FORMAT_LINE; /* output-only formats cannot be read */
    cr_assert_eq(mp_reader_open_mem(&r, "", 0, &o), MP_EINVAL);
    mp_buf b = MP_BUF_INIT;
    mp_record *rec;
    cr_assert_eq(mp_record_new(&rec), MP_OK);
    cr_assert_eq(mp_record_write(rec, MP_FORMAT_AUTO, 0, &b), MP_EINVAL);
    cr_assert_eq(mp_record_write(rec, (mp_format)7, 0, &b), MP_EINVAL);
    cr_assert_eq(mp_record_write(rec, MP_FORMAT_JSON, 0x80, &b), MP_EINVAL);
    cr_assert_eq(mp_record_write(NULL, MP_FORMAT_JSON, 0, &b), MP_EINVAL);
    cr_assert_eq(mp_record_write(rec, MP_FORMAT_JSON, 0, NULL), MP_EINVAL);
    cr_assert_eq(b.len, 0);
    size_t n = 9;
    int orc = 9;
    cr_assert_null(mp_record_output(rec, &n, &orc), "a built record has no prepared output");
    cr_assert_eq(n, 0);
    cr_assert_eq(orc, 0);
    mp_record_free(rec);
}

/* ---- exact output of each format -------------------------------------------------- */

/* A record exercising escapes: 001, 008 with blanks, 245 with & < > " TAB
 * CR LF, a C0 control, U+FFFF, an emoji, invalid UTF-8, an empty value. */
static mp_record *tricky(void)
{
    mp_record *rec;
    cr_assert_eq(mp_record_new(&rec), MP_OK);
    cr_assert_eq(mp_record_set_leader(rec, "00000cam  2200000 a 4500"), MP_OK);
    cr_assert_eq(mp_record_insert_control(rec, MP_END, "001", "cn 1", 4), MP_OK);
    cr_assert_eq(mp_record_insert_data(rec, MP_END, "245", '1', ' '), MP_OK);
    static const char a[] = "A&B<C>D\"E\tF\rG\nH\x01I";
    cr_assert_eq(mp_record_insert_subfield(rec, 1, MP_END, 'a', a, sizeof a - 1), MP_OK);
    static const char b[] = "\xef\xbf\xbf|\xf0\x9f\x98\x80|\xc3\xa9|\xff|\xe2\x82";
    cr_assert_eq(mp_record_insert_subfield(rec, 1, MP_END, 'b', b, sizeof b - 1), MP_OK);
    cr_assert_eq(mp_record_insert_subfield(rec, 1, MP_END, 'c', "", 0), MP_OK);
    return rec;
}

static void assert_output(const mp_record *rec, mp_format f, unsigned flags, const char *want)
{
    mp_buf b = MP_BUF_INIT;
    cr_assert_eq(mp_record_write(rec, f, flags, &b), MP_OK);
    cr_assert_eq(b.len, strlen(want), "format %d flags %#x: got\n%.*s\nwant\n%s", f, flags,
                 (int)b.len, b.data, want);
    cr_assert(memcmp(b.data, want, b.len) == 0, "format %d flags %#x: got\n%.*s\nwant\n%s", f,
              flags, (int)b.len, b.data, want);
    mp_buf_free(&b);
}

Test(write, marcxml_exact_and_escaped, .timeout = 10)
{
    mp_record *rec = tricky();
    assert_output(
        rec, MP_FORMAT_MARCXML, 0,
        "<record>\n"
        "  <leader>00000cam a2200000 a 4500</leader>\n"
        "  <controlfield tag=\"001\">cn 1</controlfield>\n"
        "  <datafield tag=\"245\" ind1=\"1\" ind2=\" \">\n"
        "    <subfield code=\"a\">A&amp;B&lt;C&gt;D\"E\tF&#13;G\nH\xef\xbf\xbdI</subfield>\n"
        "    <subfield code=\"b\">\xef\xbf\xbd|\xf0\x9f\x98\x80|\xc3\xa9|\xef\xbf\xbd|"
        "\xef\xbf\xbd</subfield>\n"
        "    <subfield code=\"c\"></subfield>\n"
        "  </datafield>\n"
        "</record>");
    /* pymarc's record_to_xml: compact, ElementTree's attribute order, us-ascii. */
    assert_output(rec, MP_FORMAT_MARCXML,
                  MP_WRITE_XML_COMPACT | MP_WRITE_ASCII | MP_WRITE_KEEP_LEADER |
                      MP_WRITE_XML_NAMESPACE,
                  "<record xmlns=\"http://www.loc.gov/MARC21/slim\" "
                  "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                  "xsi:schemaLocation=\"http://www.loc.gov/MARC21/slim "
                  "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd\">"
                  "<leader>00000cam  2200000 a 4500</leader>"
                  "<controlfield tag=\"001\">cn 1</controlfield>"
                  "<datafield ind1=\"1\" ind2=\" \" tag=\"245\">"
                  "<subfield code=\"a\">A&amp;B&lt;C&gt;D\"E\tF&#13;G\nH&#65533;I</subfield>"
                  "<subfield code=\"b\">&#65533;|&#128512;|&#233;|&#65533;|&#65533;</subfield>"
                  "<subfield code=\"c\" />"
                  "</datafield></record>");
    /* Attributes escape what text does not. */
    mp_subfield s = {"x", 1, '"'};
    mp_field f = {"<&>", NULL, 0, '\t', '\n', 0, 1, &s};
    mp_record *v;
    cr_assert_eq(mp_record_view(&v, "00000nam a2200000 a 4500", &f, 1), MP_OK);
    assert_output(v, MP_FORMAT_MARCXML, MP_WRITE_XML_COMPACT,
                  "<record><leader>00000nam a2200000 a 4500</leader>"
                  "<datafield ind1=\"&#09;\" ind2=\"&#10;\" tag=\"&lt;&amp;&gt;\">"
                  "<subfield code=\"&quot;\">x</subfield></datafield></record>");
    mp_record_free(v);
    mp_record_free(rec);
}

Test(write, json_exact_and_escaped, .timeout = 10)
{
    mp_record *rec = tricky();
    assert_output(rec, MP_FORMAT_JSON, 0,
                  "{\"leader\":\"00000cam a2200000 a 4500\",\"fields\":[{\"001\":\"cn 1\"},"
                  "{\"245\":{\"ind1\":\"1\",\"ind2\":\" \",\"subfields\":["
                  "{\"a\":\"A&B<C>D\\\"E\\tF\\rG\\nH\\u0001I\"},"
                  "{\"b\":\"\xef\xbf\xbf|\xf0\x9f\x98\x80|\xc3\xa9|\xef\xbf\xbd|\xef\xbf\xbd\"},"
                  "{\"c\":\"\"}]}}]}");
    /* pymarc's as_json(): json.dumps defaults (spaced, ensure_ascii), leader kept. */
    assert_output(rec, MP_FORMAT_NDJSON,
                  MP_WRITE_JSON_SPACED | MP_WRITE_ASCII | MP_WRITE_KEEP_LEADER,
                  "{\"leader\": \"00000cam  2200000 a 4500\", \"fields\": [{\"001\": \"cn 1\"}, "
                  "{\"245\": {\"ind1\": \"1\", \"ind2\": \" \", \"subfields\": ["
                  "{\"a\": \"A&B<C>D\\\"E\\tF\\rG\\nH\\u0001I\"}, "
                  "{\"b\": \"\\uffff|\\ud83d\\ude00|\\u00e9|\\ufffd|\\ufffd\"}, "
                  "{\"c\": \"\"}]}}]}\n");
    mp_record *empty;
    cr_assert_eq(mp_record_new(&empty), MP_OK);
    assert_output(empty, MP_FORMAT_JSON, MP_WRITE_JSON_SPACED | MP_WRITE_KEEP_LEADER,
                  "{\"leader\": \"          22        4500\", \"fields\": []}");
    mp_record_free(empty);
    mp_record_free(rec);
}

Test(write, json_odd_tags_indicators_and_codes, .timeout = 10)
{
    /* The shapes the fast path does not take (a view: the builder refuses
     * them), escaped through mp__json_str like any value. */
    static const mp_subfield s1[] = {{"q", 1, '"'}, {"x\\y", 3, 'a'}}, s2[] = {{"", 0, 0x7F}};
    mp_field f[2];
    memset(f, 0, sizeof f);
    memcpy(f[0].tag, "2\"5", 4);
    f[0].ind1 = '\\';
    f[0].ind2 = '\t';
    f[0].subfields = s1;
    f[0].nsubfields = 2;
    memcpy(f[1].tag, "99", 3); /* a short tag */
    f[1].ind1 = f[1].ind2 = ' ';
    f[1].subfields = s2;
    f[1].nsubfields = 1;
    mp_record *rec;
    cr_assert_eq(mp_record_view(&rec, "00000cam  2200000 a 4500", f, 2), MP_OK);
    assert_output(rec, MP_FORMAT_JSON, MP_WRITE_JSON_SPACED | MP_WRITE_ASCII | MP_WRITE_KEEP_LEADER,
                  "{\"leader\": \"00000cam  2200000 a 4500\", \"fields\": [{\"2\\\"5\": "
                  "{\"ind1\": \"\\\\\", \"ind2\": \"\\t\", \"subfields\": [{\"\\\"\": \"q\"}, "
                  "{\"a\": \"x\\\\y\"}]}}, {\"99\": {\"ind1\": \" \", \"ind2\": \" \", "
                  "\"subfields\": [{\"\\u007f\": \"\"}]}}]}");
    assert_output(rec, MP_FORMAT_JSON, MP_WRITE_KEEP_LEADER,
                  "{\"leader\":\"00000cam  2200000 a 4500\",\"fields\":[{\"2\\\"5\":"
                  "{\"ind1\":\"\\\\\",\"ind2\":\"\\t\",\"subfields\":[{\"\\\"\":\"q\"},"
                  "{\"a\":\"x\\\\y\"}]}},{\"99\":{\"ind1\":\" \",\"ind2\":\" \","
                  "\"subfields\":[{\"\x7f\":\"\"}]}}]}");
    mp_record_free(rec);
}

Test(write, plain_runs_agree_with_the_rule_at_every_position, .timeout = 30)
{
    /* mp__plain_run (16-byte blocks, an overlapping last block, two
     * overlapping words for short text) against its byte rule, for each
     * kind, every length to 48 and a byte of each class at every position
     * of an exact-size buffer (ASan sees any read past it). */
    static const unsigned char odd[] = {0x00, 0x09, 0x0A, 0x1F, ' ',  '"',  '\\', '&',
                                        '<',  '>',  '~',  0x7F, 0x80, 0xC3, 0xFF, 'a'};
    for (int kind = MP__RUN_JSON; kind <= MP__RUN_XML_ATTR; kind++)
        for (size_t n = 0; n <= 48; n++)
            for (size_t at = 0; at <= n; at++)
                for (size_t k = 0; k < sizeof odd; k++) {
                    unsigned char *d = malloc(n ? n : 1);
                    cr_assert_not_null(d);
                    memset(d, 'm', n);
                    if (at < n)
                        d[at] = odd[k];
                    size_t want = 0;
                    while (want < n && mp__run_plain(d[want], kind))
                        want++;
                    size_t got = mp__plain_run(d, n, kind);
                    free(d);
                    cr_assert_eq(got, want, "kind %d, n %zu, byte 0x%02X at %zu: %zu, want %zu",
                                 kind, n, odd[k], at, got, want);
                    if (at == n)
                        break; /* no odd byte: one case */
                }
}

Test(write, mrk_and_line_exact, .timeout = 10)
{
    mp_record *rec;
    cr_assert_eq(mp_record_new(&rec), MP_OK);
    cr_assert_eq(mp_record_insert_control(rec, MP_END, "008", "090227s2009    mau", 18), MP_OK);
    cr_assert_eq(mp_record_insert_data(rec, MP_END, "245", '0', ' '), MP_OK);
    cr_assert_eq(mp_record_insert_subfield(rec, 1, MP_END, 'a', "Foo /", 5), MP_OK);
    cr_assert_eq(mp_record_insert_subfield(rec, 1, MP_END, 'c', "by me.", 6), MP_OK);
    assert_output(rec, MP_FORMAT_MRK, 0,
                  "=LDR            22        4500\n"
                  "=008  090227s2009\\\\\\\\mau\n"
                  "=245  0\\$aFoo /$cby me.\n");
    assert_output(rec, MP_FORMAT_LINE, 0,
                  "          22        4500\n"
                  "008 090227s2009    mau\n"
                  "245 0  $a Foo / $c by me.\n"
                  "\n");
    mp_record_free(rec);
}

/* ---- ISO 2709 limits ---------------------------------------------------------------- */

Test(write, iso2709_limits_refused_clearly, .timeout = 30)
{
    static char big[10000];
    memset(big, 'x', sizeof big);
    mp_buf b = MP_BUF_INIT;
    mp_record *rec;
    /* A field of 9999 bytes fits; 10000 does not. Data field: 2 indicators
     * + 2 (delimiter, code) + value + terminator. */
    cr_assert_eq(mp_record_new(&rec), MP_OK);
    cr_assert_eq(mp_record_insert_data(rec, MP_END, "500", ' ', ' '), MP_OK);
    cr_assert_eq(mp_record_insert_subfield(rec, 0, MP_END, 'a', big, 9999 - 5), MP_OK);
    cr_assert_eq(mp_record_write(rec, MP_FORMAT_ISO2709, 0, &b), MP_OK);
    cr_assert_eq(mp_record_set_subfield(rec, 0, 0, 'a', big, 9999 - 4), MP_OK);
    size_t before = b.len;
    cr_assert_eq(mp_record_write(rec, MP_FORMAT_ISO2709, 0, &b), MP_ETOOBIG);
    cr_assert_eq(b.len, before, "nothing appended");
    cr_assert_eq(mp_record_write(rec, MP_FORMAT_MARCXML, 0, &b), MP_OK, "only ISO has limits");
    mp_record_free(rec);

    /* A record of exactly 99999 bytes fits; one more byte does not. */
    cr_assert_eq(mp_record_new(&rec), MP_OK);
    size_t nf = 11, per = 9000;
    for (size_t i = 0; i < nf; i++)
        cr_assert_eq(mp_record_insert_control(rec, MP_END, "009", big, per - 1), MP_OK);
    size_t total = 24 + 12 * nf + 1 + nf * per + 1;
    size_t last = per - 1 - (total - 99999);
    cr_assert_eq(mp_record_set_data(rec, (uint32_t)nf - 1, big, last), MP_OK);
    b.len = 0;
    cr_assert_eq(mp_record_write(rec, MP_FORMAT_ISO2709, 0, &b), MP_OK);
    cr_assert_eq(b.len, 99999);
    cr_assert(memcmp(b.data, "99999", 5) == 0);
    mp_reader *r = open_seq(b.data, b.len, MP_ENCODING_AUTO);
    const mp_record *back;
    cr_assert_eq(mp_reader_next(r, &back), MP_OK, "%s", mp_reader_error(r)->message);
    cr_assert_eq(mp_record_field_count(back), nf);
    mp_reader_close(r);
    cr_assert_eq(mp_record_set_data(rec, (uint32_t)nf - 1, big, last + 1), MP_OK);
    cr_assert_eq(mp_record_write(rec, MP_FORMAT_ISO2709, 0, &b), MP_ETOOBIG);

    /* A writer refuses the record and goes on. */
    mp_buf wb = MP_BUF_INIT;
    mp_writer *w;
    cr_assert_eq(mp_writer_open_buf(&w, &wb, NULL), MP_OK);
    cr_assert_eq(mp_writer_write(w, rec), MP_ETOOBIG);
    cr_assert_eq(mp_record_set_data(rec, (uint32_t)nf - 1, "ok", 2), MP_OK);
    cr_assert_eq(mp_writer_write(w, rec), MP_OK);
    uint64_t nrec, nbytes;
    mp_writer_counts(w, &nrec, &nbytes);
    cr_assert_eq(nrec, 1);
    cr_assert_eq(nbytes, wb.len);
    cr_assert_eq(mp_writer_close(w), MP_OK);
    mp_buf_free(&wb);
    mp_buf_free(&b);
    mp_record_free(rec);

    /* Values ISO 2709 cannot carry (possible only in views). */
    mp_subfield s = {"a\x1e"
                     "b",
                     3, 'a'};
    mp_field f = {"245", NULL, 0, '1', '0', 0, 1, &s};
    mp_record *v;
    cr_assert_eq(mp_record_view(&v, "00000nam a2200000 a 4500", &f, 1), MP_OK);
    cr_assert_eq(mp_record_write(v, MP_FORMAT_ISO2709, 0, &b), MP_EINVAL);
    cr_assert_eq(mp_record_write(v, MP_FORMAT_JSON, 0, &b), MP_OK);
    mp_record_free(v);
    mp_buf_free(&b);
}

/* ---- writers ------------------------------------------------------------------------- */

static void write_stream(mp_format fmt, unsigned flags, int nrec, mp_buf *out)
{
    mp_writer_options o = MP_WRITER_OPTIONS_INIT;
    o.format = fmt;
    o.flags = flags;
    mp_writer *w;
    cr_assert_eq(mp_writer_open_buf(&w, out, &o), MP_OK);
    for (int i = 0; i < nrec; i++) {
        mp_record *rec;
        cr_assert_eq(mp_record_new(&rec), MP_OK);
        char cn[16];
        snprintf(cn, sizeof cn, "r%d", i);
        cr_assert_eq(mp_record_insert_control(rec, MP_END, "001", cn, strlen(cn)), MP_OK);
        cr_assert_eq(mp_writer_write(w, rec), MP_OK);
        mp_record_free(rec);
    }
    cr_assert_eq(mp_writer_close(w), MP_OK);
}

static void assert_stream(mp_format fmt, unsigned flags, int nrec, const char *want)
{
    mp_buf b = MP_BUF_INIT;
    write_stream(fmt, flags, nrec, &b);
    cr_assert_eq(b.len, strlen(want), "format %d, %d records:\n%.*s", fmt, nrec, (int)b.len,
                 b.data);
    cr_assert(b.len == 0 || memcmp(b.data, want, b.len) == 0, "format %d, %d records:\n%.*s", fmt,
              nrec, (int)b.len, b.data);
    mp_buf_free(&b);
}

#define LDR "          22        4500"
#define LDA "          22        4500"

Test(write, iso2709_refuses_a_value_that_would_be_cut_at_an_anchor, .timeout = 10)
{
    /* A lone 0x1D in a value reads back (a clean record is taken on its
     * stated length); 0x1D followed by a leader-like run is an anchor,
     * where every reader cuts (stages/FRAMING.md): refused, nothing
     * written, the other formats still write it. */
    mp_record *rec;
    mp_buf b = MP_BUF_INIT;
    cr_assert_eq(mp_record_new(&rec), MP_OK);
    cr_assert_eq(mp_record_insert_control(rec, MP_END, "001",
                                          "a\x1D"
                                          "b",
                                          3),
                 MP_OK);
    cr_assert_eq(mp_record_write(rec, MP_FORMAT_ISO2709, 0, &b), MP_OK);
    mp_reader *r = open_seq(b.data, b.len, MP_ENCODING_RAW);
    const mp_record *back;
    cr_assert_eq(mp_reader_next(r, &back), MP_OK, "%s", mp_reader_error(r)->message);
    size_t n;
    const unsigned char *raw = mp_record_raw(back, &n);
    cr_assert(n == b.len && memcmp(raw, b.data, n) == 0);
    cr_assert_eq(mp_reader_next(r, &back), MP_EOF);
    mp_reader_close(r);
    static const char pasted[] = "x\x1D"
                                 "00100nam a2200037   4500001000300000y";
    cr_assert_eq(mp_record_set_data(rec, 0, pasted, sizeof pasted - 1), MP_OK);
    size_t before = b.len;
    cr_assert_eq(mp_record_write(rec, MP_FORMAT_ISO2709, 0, &b), MP_EINVAL);
    cr_assert_eq(b.len, before, "nothing appended");
    cr_assert_eq(mp_record_write(rec, MP_FORMAT_MARCXML, 0, &b), MP_OK);
    mp_buf_free(&b);
    mp_record_free(rec);
}

Test(write, writer_framing, .timeout = 10)
{
    const char *decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<collection xmlns=\"http://www.loc.gov/MARC21/slim\">\n";
    char want[1024];
    snprintf(want, sizeof want, "%s</collection>\n", decl);
    assert_stream(MP_FORMAT_MARCXML, 0, 0, want);
    snprintf(want, sizeof want,
             "%s<record>\n  <leader>         a22        4500</leader>\n"
             "  <controlfield tag=\"001\">r0</controlfield>\n</record>\n"
             "<record>\n  <leader>         a22        4500</leader>\n"
             "  <controlfield tag=\"001\">r1</controlfield>\n</record>\n</collection>\n",
             decl);
    assert_stream(MP_FORMAT_MARCXML, 0, 2, want);
    assert_stream(MP_FORMAT_MARCXML, MP_WRITE_XML_COMPACT | MP_WRITE_KEEP_LEADER, 1,
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                  "<collection xmlns=\"http://www.loc.gov/MARC21/slim\"><record><leader>" LDR
                  "</leader><controlfield tag=\"001\">r0</controlfield></record></collection>");
    assert_stream(MP_FORMAT_JSON, MP_WRITE_KEEP_LEADER, 0, "[]\n");
    assert_stream(MP_FORMAT_JSON, MP_WRITE_KEEP_LEADER, 2,
                  "[\n{\"leader\":\"" LDR "\",\"fields\":[{\"001\":\"r0\"}]},\n"
                  "{\"leader\":\"" LDR "\",\"fields\":[{\"001\":\"r1\"}]}\n]\n");
    assert_stream(MP_FORMAT_NDJSON, MP_WRITE_KEEP_LEADER, 2,
                  "{\"leader\":\"" LDR "\",\"fields\":[{\"001\":\"r0\"}]}\n"
                  "{\"leader\":\"" LDR "\",\"fields\":[{\"001\":\"r1\"}]}\n");
    assert_stream(MP_FORMAT_NDJSON, 0, 0, "");
    assert_stream(MP_FORMAT_MRK, 0, 2, "=LDR  " LDR "\n=001  r0\n\n=LDR  " LDR "\n=001  r1\n");
    assert_stream(MP_FORMAT_LINE, 0, 2, LDR "\n001 r0\n\n" LDR "\n001 r1\n\n");
    assert_stream(MP_FORMAT_ISO2709, 0, 0, "");
    assert_stream(MP_FORMAT_ISO2709, 0, 1, "00041    a2200037   4500001000300000\x1er0\x1e\x1d");
}

typedef struct cb_state {
    mp_buf got;
    int calls;
    int fail_at; /* call number that fails, 0: never */
} cb_state;

static int cb_write(void *user, const void *data, size_t len)
{
    cb_state *s = user;
    s->calls++;
    if (s->fail_at && s->calls == s->fail_at)
        return MP_EIO;
    mp_writer *w;
    /* Append with the library's own buffer writer, to exercise it too. */
    cr_assert_eq(mp_writer_open_buf(&w, &s->got, &(mp_writer_options){0, MP_FORMAT_LINE, 0, 0}),
                 MP_OK);
    cr_assert_eq(mp_writer_close(w), MP_OK); /* LINE has no framing: appends nothing */
    size_t old = s->got.len;
    s->got.data = realloc(s->got.data, old + len);
    memcpy(s->got.data + old, data, len);
    s->got.len = s->got.cap = old + len;
    return 0;
}

Test(write, writer_targets_and_failures, .timeout = 30)
{
    /* The same stream through a buffer, a callback, a descriptor and a path. */
    mf_buf in;
    mf_init(&in);
    mf_sample(&in, 300, 7, NULL);
    mp_buf ref = MP_BUF_INIT;
    mp_writer_options o = MP_WRITER_OPTIONS_INIT;
    o.format = MP_FORMAT_MARCXML;
    o.buffer_size = 1000; /* many flushes */
    mp_writer *w;
    mp_reader *r = open_seq(in.p, in.len, MP_ENCODING_AUTO);
    cr_assert_eq(mp_writer_open_buf(&w, &ref, &o), MP_OK);
    cr_assert_eq(mp_convert(r, w, NULL, NULL), MP_OK);
    cr_assert_eq(mp_writer_close(w), MP_OK);
    mp_reader_close(r);

    cb_state cs;
    memset(&cs, 0, sizeof cs);
    r = open_seq(in.p, in.len, MP_ENCODING_AUTO);
    cr_assert_eq(mp_writer_open_cb(&w, cb_write, &cs, &o), MP_OK);
    cr_assert_eq(mp_convert(r, w, NULL, NULL), MP_OK);
    cr_assert_eq(mp_writer_close(w), MP_OK);
    mp_reader_close(r);
    cr_assert_gt(cs.calls, 10);
    cr_assert(cs.got.len == ref.len && memcmp(cs.got.data, ref.data, ref.len) == 0);
    free(cs.got.data);

    char path[] = "/tmp/mp_write_test_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    r = open_seq(in.p, in.len, MP_ENCODING_AUTO);
    cr_assert_eq(mp_writer_open_fd(&w, fd, &o), MP_OK);
    cr_assert_eq(mp_convert(r, w, NULL, NULL), MP_OK);
    cr_assert_eq(mp_writer_close(w), MP_OK);
    mp_reader_close(r);
    cr_assert_eq(write(fd, "", 0), 0, "a borrowed descriptor stays open");
    close(fd);
    size_t flen;
    unsigned char *fdata = mf_read_file(path, &flen);
    cr_assert(flen == ref.len && memcmp(fdata, ref.data, flen) == 0);
    free(fdata);

    r = open_seq(in.p, in.len, MP_ENCODING_AUTO);
    cr_assert_eq(mp_writer_open_path(&w, path, &o), MP_OK); /* truncates */
    cr_assert_eq(mp_convert(r, w, NULL, NULL), MP_OK);
    cr_assert_eq(mp_writer_close(w), MP_OK);
    mp_reader_close(r);
    fdata = mf_read_file(path, &flen);
    cr_assert(flen == ref.len && memcmp(fdata, ref.data, flen) == 0);
    free(fdata);
    unlink(path);
    cr_assert_eq(mp_writer_open_path(&w, "/nonexistent-dir/x.xml", &o), MP_ENOENT);
    cr_assert_null(w);

    /* A failing output is sticky and ends a conversion with its code. */
    memset(&cs, 0, sizeof cs);
    cs.fail_at = 3;
    r = open_seq(in.p, in.len, MP_ENCODING_AUTO);
    cr_assert_eq(mp_writer_open_cb(&w, cb_write, &cs, &o), MP_OK);
    mp_convert_counts c;
    cr_assert_eq(mp_convert(r, w, NULL, &c), MP_EIO);
    cr_assert_lt(c.written, 300);
    mp_record *rec;
    cr_assert_eq(mp_record_new(&rec), MP_OK);
    cr_assert_eq(mp_writer_write(w, rec), MP_EIO);
    cr_assert_eq(mp_writer_flush(w), MP_EIO);
    cr_assert_eq(mp_writer_close(w), MP_EIO);
    mp_record_free(rec);
    mp_reader_close(r);
    free(cs.got.data);

    /* A closed pipe: EPIPE reported (SIGPIPE ignored here). */
    int p[2];
    cr_assert_eq(pipe(p), 0);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    cr_assert_eq(mp_writer_open_fd(&w, p[1], &o), MP_OK);
    cr_assert_eq(mp_writer_close(w), MP_EIO);
    close(p[1]);

    cr_assert_eq(mp_writer_open_fd(&w, -1, &o), MP_EINVAL);
    o.format = (mp_format)9;
    cr_assert_eq(mp_writer_open_buf(&w, &ref, &o), MP_EINVAL);
    cr_assert_eq(mp_writer_close(NULL), MP_OK);
    mp_buf_free(&ref);
    mf_free(&in);
}

/* ---- conversion ------------------------------------------------------------------ */

typedef struct conv_log {
    int items, refused;
    uint64_t ordinals[64];
} conv_log;

static int on_error(void *user, int rc, const mp_error_info *e)
{
    conv_log *l = user;
    if (rc == MP_ERECORD) {
        if (l->items < 64)
            l->ordinals[l->items] = e->ordinal;
        l->items++;
    } else {
        l->refused++;
        cr_assert_eq(e->code, rc);
        cr_assert_eq(e->kind, MP_EK_TOO_BIG);
        cr_assert(!strcmp(e->control_number, "big") || !strcmp(e->control_number, "huge"), "%s",
                  e->control_number);
        cr_assert(strstr(e->message, "99999") != NULL, "%s", e->message);
    }
    return 0;
}

/* 50 records; a damaged one (leader/10-11 "21": indexed, MP_ERECORD);
 * a junk span; a damaged record of 117 KB (its leader says 99999: read
 * as kind LENGTH, over the limit when written); a clean MARC-8 record of
 * 60 KB whose Cyrillic doubles in UTF-8 (good when read, over the limit
 * when written); 50 more. */
static void damaged_input(mf_buf *b)
{
    mf_init(b);
    mf_sample(b, 50, 3, NULL);
    static const char *const dmg[] = {"001damaged", "24510$aOne$bTwo"};
    mf_record(b, "nam a21 a 4500", dmg, 2);
    mf_appends(b, "garbage\x1d");
    char *bigf = malloc(9000);
    memset(bigf, 'y', 8999);
    memcpy(bigf, "500  $a", 7);
    bigf[8999] = 0;
    const char *big[14] = {"001huge"};
    for (int i = 1; i < 14; i++)
        big[i] = bigf;
    mf_record(b, NULL, big, 14);
    /* MARC-8: ESC ( N selects Basic Cyrillic; 0x41-0x5A are letters. */
    char *cyr = malloc(4200);
    int n = snprintf(cyr, 4200, "500  $a\x1b(N");
    for (int i = 0; i < 4000; i++)
        cyr[n + i] = (char)(0x41 + i % 26);
    cyr[n + 4000] = 0;
    const char *cf[16] = {"001big"};
    for (int i = 1; i < 16; i++)
        cf[i] = cyr;
    mf_record(b, "nam  22 a 4500", cf, 16);
    free(cyr);
    free(bigf);
    mf_sample(b, 50, 4, NULL);
}

Test(write, convert_damaged_policies_and_refusals, .timeout = 60)
{
    mf_buf in;
    damaged_input(&in);
    for (int pipeline = 0; pipeline < 2; pipeline++) {
        for (int policy = MP_DAMAGED_SKIP; policy <= MP_DAMAGED_STOP; policy++) {
            mp_reader_options ro = MP_READER_OPTIONS_INIT;
            ro.mode = pipeline ? MP_MODE_PIPELINE : MP_MODE_SEQUENTIAL;
            ro.threads = 2;
            ro.chunk_size = 2048;
            ro.output_format = MP_FORMAT_ISO2709;
            mp_reader *r;
            cr_assert_eq(mp_reader_open_mem(&r, in.p, in.len, &ro), MP_OK);
            mp_buf out = MP_BUF_INIT;
            mp_writer *w;
            cr_assert_eq(mp_writer_open_buf(&w, &out, NULL), MP_OK);
            conv_log log;
            memset(&log, 0, sizeof log);
            mp_convert_options co = MP_CONVERT_OPTIONS_INIT;
            co.damaged = (mp_damaged)policy;
            co.on_error = on_error;
            co.user = &log;
            mp_convert_counts c;
            int rc = mp_convert(r, w, &co, &c);
            cr_assert_eq(mp_writer_close(w), MP_OK);
            mp_reader_close(r);
            if (policy == MP_DAMAGED_STOP) {
                cr_assert_eq(rc, MP_ESTOPPED);
                cr_assert_eq(c.written, 50);
                cr_assert_eq(c.damaged, 1);
                cr_assert_eq(log.items, 1);
            } else {
                int wr = policy == MP_DAMAGED_WRITE;
                cr_assert_eq(rc, MP_OK, "%s", mp_strerror(rc));
                cr_assert_eq(c.records, 101, "good records (the Cyrillic one reads fine)");
                cr_assert_eq(c.damaged, 2);
                cr_assert_eq(c.errors, 3, "two damaged records and the junk span");
                cr_assert_eq(c.refused, wr ? 2 : 1,
                             "over 99999 bytes when written: %llu (policy %d)",
                             (unsigned long long)c.refused, policy);
                cr_assert_eq(log.refused, (int)c.refused);
                cr_assert_eq(log.items, 3);
                cr_assert_eq(log.ordinals[0], 50);
                cr_assert_eq(log.ordinals[1], 51);
                cr_assert_eq(log.ordinals[2], 52);
                cr_assert_eq(c.written, wr ? 101 : 100);
                cr_assert_eq(c.bytes_in, in.len);
                /* The output reads back cleanly, in input order. */
                mp_reader *back = open_seq(out.data, out.len, MP_ENCODING_AUTO);
                const mp_record *rec;
                int n = 0, brc;
                while ((brc = mp_reader_next(back, &rec)) == MP_OK) {
                    size_t cl;
                    const char *cn = mp_record_control_number(rec, &cl);
                    char want[16];
                    if (n < 50)
                        snprintf(want, sizeof want, "cn%d", n);
                    else if (n == 50 && wr)
                        snprintf(want, sizeof want, "damaged");
                    else
                        snprintf(want, sizeof want, "cn%d", n - 50 - wr);
                    cr_assert(cl == strlen(want) && memcmp(cn, want, cl) == 0,
                              "record %d is %.*s, want %s", n, (int)cl, cn, want);
                    n++;
                }
                cr_assert_eq(brc, MP_EOF, "%s", mp_reader_error(back)->message);
                cr_assert_eq(n, (int)c.written);
                mp_reader_close(back);
            }
            mp_buf_free(&out);
        }
    }
    mf_free(&in);
}

static int on_warnings(void *user, const mp_record *rec)
{
    int *seen = user;
    seen[0]++;
    seen[1] += (int)mp_record_warning_count(rec);
    return seen[0] == seen[2]; /* stop at the seen[2]-th warned record (0: never) */
}

Test(write, convert_reports_warned_records_and_writes_them, .timeout = 30)
{
    /* clean, warned (a bare delimiter), clean, warned (no indicators). */
    static const char *const clean[] = {"001c", "24510$aT"};
    static const char *const bare[] = {"001w1", "650 0$aCats$"};
    static const char *const noind[] = {"001w2", "020$a1"};
    mf_buf in;
    mf_init(&in);
    mf_record(&in, NULL, clean, 2);
    mf_record(&in, NULL, bare, 2);
    mf_record(&in, NULL, clean, 2);
    mf_record(&in, NULL, noind, 2);
    for (int pipeline = 0; pipeline < 2; pipeline++) {
        for (int stop_at = 0; stop_at <= 1; stop_at++) {
            mp_reader_options ro = MP_READER_OPTIONS_INIT;
            ro.mode = pipeline ? MP_MODE_PIPELINE : MP_MODE_SEQUENTIAL;
            ro.output_format = MP_FORMAT_MARCXML;
            mp_reader *r;
            cr_assert_eq(mp_reader_open_mem(&r, in.p, in.len, &ro), MP_OK);
            mp_buf out = MP_BUF_INIT;
            mp_writer *w;
            cr_assert_eq(
                mp_writer_open_buf(&w, &out, &(mp_writer_options){0, MP_FORMAT_MARCXML, 0, 0}),
                MP_OK);
            int seen[3] = {0, 0, stop_at};
            mp_convert_options co = MP_CONVERT_OPTIONS_INIT;
            co.on_warnings = on_warnings;
            co.user = seen;
            mp_convert_counts c;
            int rc = mp_convert(r, w, &co, &c);
            cr_assert_eq(mp_writer_close(w), MP_OK);
            mp_counts k = MP_COUNTS_INIT;
            mp_reader_get_counts(r, &k);
            mp_reader_close(r);
            if (stop_at) { /* the callback ended it before the warned record was written */
                cr_assert_eq(rc, MP_ESTOPPED);
                cr_assert_eq(seen[0], 1);
                cr_assert_eq(c.written, 1);
            } else {
                cr_assert_eq(rc, MP_OK);
                cr_assert_eq(seen[0], 2); /* warned records are good records: written */
                cr_assert_eq(seen[1], 2);
                cr_assert_eq(c.records, 4);
                cr_assert_eq(c.written, 4);
                cr_assert_eq(c.errors, 0);
                cr_assert_eq(k.warnings, 2);
                cr_assert_eq(k.records_with_warnings, 2);
                cr_assert_not_null(memmem(out.data, out.len, "Cats", 4));
            }
            mp_buf_free(&out);
        }
    }
    mf_free(&in);
}

Test(write, convert_in_order_equals_inline, .timeout = 120)
{
    /* Pipeline with tiny chunks and 4 workers, serialising in the workers,
     * gives the bytes a sequential, inline conversion gives. */
    mf_buf in;
    mf_init(&in);
    mf_sample(&in, 2000, 11, NULL);
    const mp_format fmts[] = {MP_FORMAT_ISO2709, MP_FORMAT_MARCXML, MP_FORMAT_JSON,
                              MP_FORMAT_NDJSON,  MP_FORMAT_MRK,     MP_FORMAT_LINE};
    for (size_t k = 0; k < sizeof fmts / sizeof fmts[0]; k++) {
        mp_buf outs[2] = {MP_BUF_INIT, MP_BUF_INIT};
        for (int pipeline = 0; pipeline < 2; pipeline++) {
            mp_reader_options ro = MP_READER_OPTIONS_INIT;
            ro.mode = pipeline ? MP_MODE_PIPELINE : MP_MODE_SEQUENTIAL;
            ro.threads = 4;
            ro.chunk_size = 1024;
            ro.output_format = pipeline ? fmts[k] : MP_FORMAT_AUTO;
            mp_reader *r;
            cr_assert_eq(mp_reader_open_mem(&r, in.p, in.len, &ro), MP_OK);
            mp_writer_options wo = MP_WRITER_OPTIONS_INIT;
            wo.format = fmts[k];
            mp_writer *w;
            cr_assert_eq(mp_writer_open_buf(&w, &outs[pipeline], &wo), MP_OK);
            mp_convert_counts c;
            cr_assert_eq(mp_convert(r, w, NULL, &c), MP_OK);
            cr_assert_eq(c.written, 2000);
            cr_assert_eq(mp_writer_close(w), MP_OK);
            mp_reader_close(r);
        }
        cr_assert_eq(outs[0].len, outs[1].len, "format %d", fmts[k]);
        cr_assert(memcmp(outs[0].data, outs[1].data, outs[0].len) == 0, "format %d", fmts[k]);
        if (fmts[k] == MP_FORMAT_ISO2709)
            cr_assert(outs[0].len == in.len && memcmp(outs[0].data, in.p, in.len) == 0,
                      "ISO 2709 copy is identical");
        mp_buf_free(&outs[0]);
        mp_buf_free(&outs[1]);
    }
    mf_free(&in);
}

/* ---- out of memory ------------------------------------------------------------------ */

Test(write, out_of_memory_in_serialisers_and_writers, .timeout = 60)
{
    mp_record *rec = tricky();
    const mp_format fmts[] = {MP_FORMAT_ISO2709, MP_FORMAT_MARCXML, MP_FORMAT_JSON, MP_FORMAT_MRK,
                              MP_FORMAT_LINE};
    for (size_t k = 0; k < sizeof fmts / sizeof fmts[0]; k++) {
        for (uint64_t n = 1; n <= 3; n++) {
            mp_buf b = MP_BUF_INIT;
            mp__alloc_fail_at(n);
            int rc = mp_record_write(rec, fmts[k], 0, &b);
            mp__alloc_fail_at(0);
            cr_assert(rc == MP_ENOMEM || (rc == MP_OK && n > 1), "format %d alloc %llu: %d",
                      fmts[k], (unsigned long long)n, rc);
            if (rc == MP_ENOMEM)
                cr_assert_eq(b.len, 0, "nothing appended on failure");
            mp_buf_free(&b);
        }
    }
    /* A writer whose buffer cannot grow fails for good. */
    mp_buf b = MP_BUF_INIT;
    mp_writer *w;
    cr_assert_eq(mp_writer_open_buf(&w, &b, NULL), MP_OK);
    mp__alloc_fail_at(1);
    int rc = mp_writer_write(w, rec);
    mp__alloc_fail_at(0);
    cr_assert_eq(rc, MP_ENOMEM);
    cr_assert_eq(mp_writer_write(w, rec), MP_ENOMEM);
    cr_assert_eq(mp_writer_close(w), MP_ENOMEM);
    mp_buf_free(&b);
    mp_record_free(rec);

    /* The workers' hook: its arena sink grows (a value that escapes to five
     * times its size, blocks smaller than the output) and gives the same
     * bytes as the heap; an arena that cannot grow leaves the record
     * unprepared (the consumer then serialises it) instead of failing. */
    cr_assert_eq(mp_record_new(&rec), MP_OK);
    cr_assert_eq(mp_record_insert_data(rec, MP_END, "500", ' ', ' '), MP_OK);
    char amps[3000];
    memset(amps, '&', sizeof amps);
    cr_assert_eq(mp_record_insert_subfield(rec, 0, MP_END, 'a', amps, sizeof amps), MP_OK);
    mp_buf ref = MP_BUF_INIT;
    cr_assert_eq(mp_record_write(rec, MP_FORMAT_MARCXML, 0, &ref), MP_OK);
    mp__arena a;
    mp__arena_init(&a, 1024);
    cr_assert_not_null(mp__arena_alloc(&a, 100, 8)); /* something before it */
    mp__write_prepare(rec, &a, MP_FORMAT_MARCXML, 0);
    size_t len;
    const void *p = mp_record_output(rec, &len, NULL);
    cr_assert_not_null(p);
    cr_assert(len == ref.len && memcmp(p, ref.data, len) == 0);
    cr_assert_gt(len, 15000);
    void *after = mp__arena_alloc(&a, 1, 1); /* the unused tail was given back */
    cr_assert((const unsigned char *)after == (const unsigned char *)p + len);
    mp__arena_reset(&a);
    for (uint64_t k = 1; k <= 2; k++) {
        mp__arena_reset(&a);
        mp__arena_free(&a);
        mp__arena_init(&a, 1024);
        mp__alloc_fail_at(k);
        mp__write_prepare(rec, &a, MP_FORMAT_MARCXML, 0);
        mp__alloc_fail_at(0);
        int orc = 1;
        cr_assert_null(mp_record_output(rec, &len, &orc), "allocation %llu failed: unprepared",
                       (unsigned long long)k);
        cr_assert_eq(orc, 0);
        cr_assert_eq(mp_writer_open_buf(&w, &b, &(mp_writer_options){0, MP_FORMAT_MARCXML, 0, 0}),
                     MP_OK);
        cr_assert_eq(mp_writer_write(w, rec), MP_OK, "serialised inline instead");
        cr_assert_eq(mp_writer_close(w), MP_OK);
        cr_assert_not_null(memmem(b.data, b.len, ref.data, ref.len));
        mp_buf_free(&b);
    }
    mp__arena_free(&a);
    mp_buf_free(&ref);
    mp_record_free(rec);
}

/* ---- the fuzz target's oracle, replayed ------------------------------------------ */

#include "fuzz/buildcheck.h"

Test(write, build_write_fuzz_regressions_and_random_programs, .timeout = 120)
{
    /* The committed regression inputs of fuzz_build_write... */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", __FILE__); /* absolute in CMake builds */
    char *slash = strrchr(dir, '/');
    snprintf(slash ? slash : dir, sizeof dir - (size_t)((slash ? slash : dir) - dir), "%s",
             slash ? "/fuzz/regress/build_write" : "fuzz/regress/build_write");
    int n = 0;
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        unsigned char *data = mf_read_file(path, &len);
        cr_assert_not_null(data, "%s", path);
        bc_run(data, len); /* aborts on a broken check */
        free(data);
        n++;
    }
    closedir(d);
    cr_assert_geq(n, 5);
    /* ... and deterministic random programs (a short fuzzing run in every build). */
    uint64_t seed = 1729;
    unsigned char prog[4096];
    for (int k = 0; k < 3000; k++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t len = (size_t)(seed >> 33) % sizeof prog;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            unsigned char b = (unsigned char)(seed >> 56);
            /* Mostly small operation codes and lengths, so programs build records. */
            prog[i] =
                (i % 3 == 0) ? (unsigned char)(b % 14 | (b & 0x80 && b > 0xF0 ? 0x80 : 0)) : b;
        }
        bc_run(prog, len);
    }
}
