/*
 * mrk_test.c - MARCMaker (stages/src/fmt_mrk.c): framing on blank lines
 * and "=LDR" lines at every prefix length, pymarc's MARCMakerReader line
 * rules ('\' blanks, '$' subfields, the invalid lines of pymarc's
 * test_reader.py), encodings, junk, hostile sizes, truncation at every
 * offset.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "format.h"
#include "marcfix.h"
#include "framecheck.h"
#include "textfix.h"

static mp__marc_fmt mrk_fmt(size_t max, int enc)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    mp__marc_fmt f;
    o.max_record_size = max;
    o.encoding = (mp_encoding)enc;
    o.format = MP_FORMAT_MRK;
    cr_assert_eq(mp__marc_fmt_init(&f, &o), MP_OK);
    f.resolved = 1;
    return f;
}

/* The units of a whole document, checked at every prefix length. */
static size_t frame_units(const char *doc, fr *out, size_t max_out)
{
    mp__marc_fmt f = mrk_fmt(0, 0);
    return fc_frame_units(mp__mrk_frame, &f, doc, strlen(doc), out, max_out);
}

#define LDR "=LDR  00755cam  22002414a 4500"

Test(frame, blank_lines_and_ldr_lines_end_records, .timeout = 30)
{
    const char *doc = "\n\n" LDR "\n=001  a\n\n \t\r\n" LDR "\r\n=001  b\r\n" LDR
                      "\n=001  c\njunk line\nmore junk\n\n" LDR "\n=001  d";
    fr u[16];
    size_t n = frame_units(doc, u, 16);
    cr_assert_eq(n, 4, "%zu units", n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(u[i].rc, MP_FRAME_RECORD);
    cr_assert_eq(strncmp(doc + u[0].off, LDR "\n=001  a\n", u[0].len), 0);
    cr_assert_eq(strncmp(doc + u[1].off, LDR "\r\n=001  b\r\n", u[1].len), 0,
                 "CRLF, and no blank line before the next =LDR");
    cr_assert_eq(strncmp(doc + u[2].off, LDR "\n=001  c\njunk line\nmore junk\n", u[2].len), 0,
                 "lines inside a record belong to it");
    cr_assert_eq(u[3].len, strlen(LDR "\n=001  d"), "the last record needs no newline");
}

Test(frame, junk_outside_records_is_one_item_a_line, .timeout = 10)
{
    const char *doc = "hello\nworld\n\n" LDR "\n";
    fr u[8];
    size_t n = frame_units(doc, u, 8);
    cr_assert_eq(n, 3);
    cr_assert(u[0].rc == MP_FRAME_SKIP && u[0].kind == MP_EK_JUNK && u[0].len == 6);
    cr_assert(u[1].rc == MP_FRAME_SKIP && u[1].len == 6);
    cr_assert_eq(u[2].rc, MP_FRAME_RECORD);
}

Test(frame, the_maximum_decides, .timeout = 10)
{
    mp__marc_fmt f = mrk_fmt(4096, 0);
    char *big = malloc(6000);
    memset(big, 'x', 6000);
    memcpy(big, "=LDR  ", 6);
    mp__frame o;
    cr_assert_eq(mp__mrk_frame(&f, (const unsigned char *)big, 6000, MP_FINAL_NO, &o),
                 MP_FRAME_SKIP);
    cr_assert_eq(o.kind, MP_EK_TOO_BIG);
    cr_assert_eq(o.len, 4096);
    free(big);
}

/* ---- parsing ------------------------------------------------------------------ */

typedef struct parsed {
    mp__arena a;
    mp__item it;
    mp__marc_fmt f;
    const mp_record *rec;
} parsed;

static void parse(parsed *p, const char *unit, int enc)
{
    memset(p, 0, sizeof *p);
    p->f = mrk_fmt(0, enc);
    mp__arena_init(&p->a, 4096);
    p->it.data = (const unsigned char *)unit;
    p->it.len = (uint32_t)strlen(unit);
    p->it.type = MP_ITEM_RECORD;
    cr_assert_eq(mp__mrk_parse_item(&p->f, &p->it, &p->a), MP_OK);
    p->rec = p->it.result;
}

static void sub_is(const mp_field *f, uint32_t i, char code, const char *want)
{
    cr_assert_lt(i, f->nsubfields);
    const mp_subfield *s = &f->subfields[i];
    cr_assert_eq(s->code, code);
    cr_assert(s->len == strlen(want) && memcmp(s->data, want, s->len) == 0, "$%c '%.*s'", code,
              (int)s->len, s->data);
}

Test(parse, pymarc_lines, .timeout = 10)
{
    parsed p;
    parse(&p,
          "=LDR  00755cam\\\\22002414a\\4500\n"
          "=008  010314s1999fr||||||||||||||||fre\n"
          "=009  a\\b\n"
          "=028  01$aSTMA 8007$bTamla Motown Records\n"
          "=245  \\4$aThe \\ path$c\n"
          "=500  \\\\\r\n",
          0);
    cr_assert_eq(p.it.status, 0, "%s", p.rec->err ? p.rec->err->msg : "");
    cr_assert_eq(memcmp(mp_record_leader(p.rec), "00755cam  22002414a 4500", 24), 0,
                 "'\\' is a blank in the leader");
    cr_assert_eq(mp_record_field_count(p.rec), 5);
    const mp_field *f = mp_record_field(p.rec, 0);
    cr_assert(f->is_control && f->len == 32);
    f = mp_record_field(p.rec, 1);
    cr_assert(f->is_control && f->len == 3 && memcmp(f->data, "a b", 3) == 0);
    f = mp_record_field(p.rec, 2);
    cr_assert(f->ind1 == '0' && f->ind2 == '1');
    sub_is(f, 0, 'a', "STMA 8007");
    sub_is(f, 1, 'b', "Tamla Motown Records");
    f = mp_record_field(p.rec, 3);
    cr_assert(f->ind1 == ' ' && f->ind2 == '4');
    sub_is(f, 0, 'a', "The \\ path");
    sub_is(f, 1, 'c', "");
    f = mp_record_field(p.rec, 4);
    cr_assert(f->ind1 == ' ' && f->ind2 == ' ' && f->nsubfields == 0);
    mp__arena_free(&p.a);
}

static void bad(const char *unit, int kind, const char *msg)
{
    parsed p;
    parse(&p, unit, 0);
    cr_assert_eq(p.it.status, MP_ERECORD, "%s: no error", unit);
    cr_assert_eq(p.rec->err->kind, kind, "%s: kind %d (%s)", unit, p.rec->err->kind,
                 p.rec->err->msg);
    cr_assert(strstr(p.rec->err->msg, msg), "%s: '%s'", unit, p.rec->err->msg);
    mp__arena_free(&p.a);
}

Test(parse, the_invalid_lines_of_pymarc, .timeout = 10)
{
    /* pymarc's test_reader.py MARCMakerReaderTest.test_invalid_lines */
    bad("=LDR 00755cam  22002414a 4500", MP_EK_SYNTAX, "two spaces");
    bad(LDR "\nLDR  00755cam  22002414a 4500", MP_EK_SYNTAX, "does not start with '='");
    bad("=008", MP_EK_SYNTAX, "two spaces");
    bad("=009 00755cam", MP_EK_SYNTAX, "two spaces");
    bad("=999", MP_EK_SYNTAX, "two spaces");
    bad(LDR "\n=245  10x$ab", MP_EK_SUBFIELD, "before the first '$'");
    bad("=LDR  short", MP_EK_LEADER, "5 bytes long");
    bad(LDR "\n=245  10$a\xC3(", MP_EK_ENCODING, "245");
    bad(LDR "\n=245  10$ax\x1Fy", MP_EK_FIELD, "delimiter byte 0x1F");
}

/* What ISO 2709 reads with a warning (FRAMING.md checks 17 and 21) is a
 * warning here too; strict makes it the record's error. */
Test(parse, readable_anomalies_are_warnings, .timeout = 10)
{
    parsed p;
    parse(&p, LDR "\n=245  1", 0);
    cr_assert_eq(p.it.status, 0);
    cr_assert_eq(mp_record_warning_count(p.rec), 1);
    cr_assert(strstr(mp_record_warning(p.rec, 0)->message, "1 indicator(s)"));
    const mp_field *f = mp_record_field(p.rec, 0);
    cr_assert(f->ind1 == '1' && f->ind2 == ' ' && f->nsubfields == 0);
    mp__arena_free(&p.a);
    parse(&p, LDR "\n=245  10$ab$$c$", 0);
    cr_assert_eq(p.it.status, 0);
    cr_assert_eq(mp_record_warning_count(p.rec), 2);
    cr_assert_eq(mp_record_warning(p.rec, 0)->kind, MP_EK_SUBFIELD);
    cr_assert(strstr(mp_record_warning(p.rec, 0)->message, "twice in a row"));
    cr_assert(strstr(mp_record_warning(p.rec, 1)->message, "at the end of the field"));
    f = mp_record_field(p.rec, 0);
    cr_assert_eq(f->nsubfields, 2);
    sub_is(f, 0, 'a', "b");
    sub_is(f, 1, 'c', "");
    mp__arena_free(&p.a);
    memset(&p, 0, sizeof p);
    p.f = mrk_fmt(0, 0);
    p.f.strict = 1;
    mp__arena_init(&p.a, 4096);
    const char *u = LDR "\n=245  10$ab$$c";
    p.it.data = (const unsigned char *)u;
    p.it.len = (uint32_t)strlen(u);
    p.it.type = MP_ITEM_RECORD;
    cr_assert_eq(mp__mrk_parse_item(&p.f, &p.it, &p.a), MP_OK);
    p.rec = p.it.result;
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_eq(p.rec->err->kind, MP_EK_SUBFIELD);
    mp__arena_free(&p.a);
}

Test(parse, encodings, .timeout = 10)
{
    /* MARC-8 text (ANSEL acute + e) when asked; raw keeps the bytes. */
    parsed p;
    parse(&p,
          LDR "\n=245  10$aCaf\xE2"
              "e",
          MP_ENCODING_MARC8);
    cr_assert_eq(p.it.status, 0);
    sub_is(mp_record_field(p.rec, 0), 0, 'a', "Caf\xC3\xA9");
    mp__arena_free(&p.a);
    parse(&p,
          LDR "\n=245  10$aCaf\xE2"
              "e",
          MP_ENCODING_RAW);
    cr_assert_eq(p.it.status, 0);
    sub_is(mp_record_field(p.rec, 0), 0, 'a',
           "Caf\xE2"
           "e");
    mp__arena_free(&p.a);
}

/* ---- through the reader ------------------------------------------------------ */

static void read_doc(const void *p, size_t n, const mp_reader_options *o, mf_seq *s)
{
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, p, n, o), MP_OK);
    mf_collect(s, r);
    mp_reader_close(r);
}

Test(hostile, truncation_at_every_offset, .timeout = 600)
{
    size_t cuts = 0;
    /* MARCMaker has no end marker: a cut record is a shorter record (or an
     * error item when the cut leaves a broken line); the ones before it
     * are whole, nothing after it. */
    mf_buf iso, x;
    mf_init(&iso);
    mf_init(&x);
    mf_sample(&iso, 4, 51, NULL);
    tf_unit u[8];
    size_t nu = tf_convert(&x, iso.p, iso.len, TF_MRK, u, 8);
    mf_seq whole;
    read_doc(x.p, x.len, mf_seqopts(NULL), &whole);
    cr_assert_eq(whole.n, nu);
    for (size_t cut = 0; cut <= x.len; cut++, cuts++) {
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.format = MP_FORMAT_MRK;
        o.chunk_size = 64 + (cut % 7) * 31;
        o.threads = 2;
        o.mode = MP_MODE_PIPELINE;
        mf_seq a, b;
        read_doc(x.p, cut, mf_seqopts(&o), &a);
        read_doc(x.p, cut, &o, &b);
        cr_assert_eq(mf_seq_diff(&a, &b), -1, "cut %zu: modes disagree", cut);
        size_t full = 0;
        while (full < nu && u[full].end <= cut)
            full++;
        int inside = full < nu && u[full].start < cut;
        cr_assert_eq(a.n, full + (size_t)inside, "cut %zu: %zu items", cut, a.n);
        for (size_t i = 0; i < full; i++)
            cr_assert_eq(a.v[i].hash, whole.v[i].hash, "cut %zu record %zu", cut, i);
        mf_seq_free(&a);
        mf_seq_free(&b);
    }
    mf_seq_free(&whole);
    mf_free(&x);
    mf_free(&iso);
    cr_log_info("%zu cuts checked", cuts);
}

Test(hostile, long_lines_and_random_damage, .timeout = 120)
{
    mf_buf d;
    mf_init(&d);
    mf_appends(&d, LDR "\n=500  \\\\$a");
    for (int i = 0; i < 400000; i++)
        mf_appends(&d, "0123456789");
    mf_appends(&d, "\n\n" LDR "\n=001  after\n");
    mf_seq s;
    read_doc(d.p, d.len, NULL, &s);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.v[0].rc, MP_OK, "a 4 MB field");
    cr_assert_eq(s.v[1].rc, MP_OK);
    mf_seq_free(&s);
    mf_free(&d);

    mf_buf iso, x;
    mf_init(&iso);
    mf_init(&x);
    mf_sample(&iso, 20, 52, NULL);
    tf_convert(&x, iso.p, iso.len, TF_MRK, NULL, 0);
    unsigned seed = 4242;
    for (int m = 0; m < 300; m++) {
        mf_init(&d);
        mf_append(&d, x.p, x.len);
        int edits = 1 + rand_r(&seed) % 6;
        for (int e = 0; e < edits; e++)
            d.p[(size_t)rand_r(&seed) % d.len] = "=\n$\\ \rx\x01\x80"[rand_r(&seed) % 9];
        mf_seq a, b;
        read_doc(d.p, d.len, mf_seqopts(NULL), &a);
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.threads = 2;
        o.mode = MP_MODE_PIPELINE;
        o.chunk_size = 64 + (size_t)(rand_r(&seed) % 3000);
        read_doc(d.p, d.len, &o, &b);
        cr_assert_eq(mf_seq_diff(&a, &b), -1, "mutant %d", m);
        mf_seq_free(&a);
        mf_seq_free(&b);
        mf_free(&d);
    }
    mf_free(&x);
    mf_free(&iso);
}
