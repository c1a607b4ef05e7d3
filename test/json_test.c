/*
 * json_test.c - MARC-in-JSON (stages/src/fmt_json.c): framing of NDJSON,
 * arrays and concatenated objects at every prefix length, the record
 * semantics (pymarc's JSONReader), errors with positions, resync after a
 * damaged record, truncation at every offset, hostile nesting and sizes,
 * pymarc's batch.json, one.json and test.json.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "corpus.h"
#include "format.h"
#include "marcfix.h"
#include "framecheck.h"
#include "textfix.h"

static mp__marc_fmt json_fmt(size_t max)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    mp__marc_fmt f;
    o.max_record_size = max;
    o.format = MP_FORMAT_JSON;
    cr_assert_eq(mp__marc_fmt_init(&f, &o), MP_OK);
    f.resolved = 1;
    return f;
}

/* The units of a whole buffer, checked at every prefix length. */
static size_t frame_units(const char *doc, size_t n, fr *out, size_t max_out)
{
    mp__marc_fmt f = json_fmt(0);
    return fc_frame_units(mp__json_frame, &f, doc, n, out, max_out);
}

Test(frame, lines_arrays_and_concatenated_objects, .timeout = 60)
{
    const char *one = "{\"leader\":\"x\",\"fields\":[{\"001\":\"a}{\\\"\"}]}";
    char doc[1024];
    snprintf(doc, sizeof doc, "%s\n%s\r\n\n%s", one, one, one);
    fr u[8];
    cr_assert_eq(frame_units(doc, strlen(doc), u, 8), 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(u[i].rc, MP_FRAME_RECORD);
        cr_assert_eq(u[i].len, strlen(one), "braces and quotes inside strings do not count");
    }
    snprintf(doc, sizeof doc, "[ %s ,\n %s]\n", one, one);
    cr_assert_eq(frame_units(doc, strlen(doc), u, 8), 2);
    snprintf(doc, sizeof doc, "%s%s", one, one);
    cr_assert_eq(frame_units(doc, strlen(doc), u, 8), 2);
}

Test(frame, a_damaged_record_does_not_swallow_the_next, .timeout = 30)
{
    /* A missing brace, an unterminated string, junk between records. */
    const char *doc = "{\"leader\":\"a\",\"fields\":[{\"001\":\"x\"}\n"
                      "{\"leader\":\"b\",\"fields\":[]}\n"
                      "{\"leader\":\"c,\"fields\":[]}\n"
                      "{\"leader\":\"d\",\"fields\":[]}\n"
                      "garbage here\n"
                      "{\"fields\":[],\"leader\":\"e\"}\n";
    fr u[16];
    size_t n = frame_units(doc, strlen(doc), u, 16);
    cr_assert_eq(n, 6, "%zu units", n);
    cr_assert_eq(u[0].kind, MP_EK_TRUNCATED, "unclosed: ends before the next record");
    cr_assert_eq(u[1].kind, 0);
    cr_assert_eq(u[2].kind, MP_EK_TRUNCATED, "an unterminated string ends at the next line");
    cr_assert_eq(u[3].kind, 0);
    cr_assert_eq(u[4].rc, MP_FRAME_SKIP);
    cr_assert_eq(u[4].kind, MP_EK_JUNK);
    cr_assert_eq(u[5].rc, MP_FRAME_RECORD);
}

Test(frame, the_end_of_input_and_the_maximum_decide, .timeout = 10)
{
    mp__marc_fmt f = json_fmt(4096);
    mp__frame o;
    const char *cut = "{\"leader\":\"0000";
    cr_assert_eq(mp__json_frame(&f, (const unsigned char *)cut, strlen(cut), MP_FINAL_EOF, &o),
                 MP_FRAME_SKIP);
    cr_assert_eq(o.kind, MP_EK_TRUNCATED);
    char *big = malloc(5000);
    memset(big, ' ', 5000);
    memcpy(big, "{\"leader\":\"", 11);
    cr_assert_eq(mp__json_frame(&f, (const unsigned char *)big, 5000, MP_FINAL_NO, &o),
                 MP_FRAME_SKIP);
    cr_assert_eq(o.kind, MP_EK_TOO_BIG);
    cr_assert_eq(o.len, 4096);
    free(big);
}

/* ---- parsing ---------------------------------------------------------------- */

typedef struct parsed {
    mp__arena a;
    mp__item it;
    mp__marc_fmt f;
    const mp_record *rec;
} parsed;

static void parse(parsed *p, const char *unit)
{
    memset(p, 0, sizeof *p);
    p->f = json_fmt(0);
    mp__arena_init(&p->a, 4096);
    p->it.data = (const unsigned char *)unit;
    p->it.len = (uint32_t)strlen(unit);
    p->it.type = MP_ITEM_RECORD;
    cr_assert_eq(mp__json_parse_item(&p->f, &p->it, &p->a), MP_OK);
    p->rec = p->it.result;
    cr_assert_not_null(p->rec);
}

static void sub_is(const mp_field *f, uint32_t i, char code, const char *want)
{
    cr_assert_not_null(f);
    cr_assert_lt(i, f->nsubfields);
    const mp_subfield *s = &f->subfields[i];
    cr_assert_eq(s->code, code);
    cr_assert(s->len == strlen(want) && memcmp(s->data, want, s->len) == 0, "$%c '%.*s'", code,
              (int)s->len, s->data);
}

#define LDR "\"leader\":\"01234cam a2200289 a 4500\""

Test(parse, the_record_model_of_pymarc_jsonreader, .timeout = 10)
{
    parsed p;
    parse(
        &p,
        "{" LDR ",\"fields\":[{\"001\":\"cn\\u00e9\"},"
        "{\"245\":{\"subfields\":[{\"a\":\"T \\\"q\\\" \\\\ \\/\"},{\"b\":\"x\",\"c\":\"y\"}],"
        "\"ind2\":\"0\",\"ind1\":\"1\"}},{\"500\":{\"subfields\":[{\"a\":\"\\ud83d\\ude00\"}]}},"
        "{\"650\":{\"ind1\":\" \",\"ind2\":\"7\",\"extra\":[1,{\"2\":3}]}}],\"other\":{\"k\":[]}}");
    cr_assert_eq(p.it.status, 0, "%s", p.rec->err ? p.rec->err->msg : "");
    cr_assert_eq(memcmp(mp_record_leader(p.rec), "01234cam a2200289 a 4500", 24), 0);
    cr_assert_eq(mp_record_field_count(p.rec), 4);
    const mp_field *f = mp_record_field(p.rec, 0);
    cr_assert(f->is_control && f->len == 4 && memcmp(f->data, "cn\xC3\xA9", 4) == 0);
    f = mp_record_field(p.rec, 1);
    cr_assert(f->ind1 == '1' && f->ind2 == '0', "indicators after the subfields");
    cr_assert_eq(f->nsubfields, 3, "an object with two codes is two subfields");
    sub_is(f, 0, 'a', "T \"q\" \\ /");
    sub_is(f, 1, 'b', "x");
    sub_is(f, 2, 'c', "y");
    sub_is(mp_record_field(p.rec, 2), 0, 'a', "\xF0\x9F\x98\x80");
    f = mp_record_field(p.rec, 3);
    cr_assert(f->ind2 == '7' && f->nsubfields == 0 && !f->is_control);
    mp__arena_free(&p.a);
}

Test(parse, raw_newlines_in_strings_are_read_as_pymarc_reads_them, .timeout = 10)
{
    parsed p;
    parse(&p, "{" LDR ",\"fields\":[{\"500\":{\"subfields\":[{\"a\":\"Dylan,\n   Bob\"}],"
              "\"ind1\":\" \",\"ind2\":\" \"}}]}");
    cr_assert_eq(p.it.status, 0);
    sub_is(mp_record_field(p.rec, 0), 0, 'a', "Dylan,\n   Bob");
    mp__arena_free(&p.a);
}

static void bad(const char *unit, int kind, const char *msg)
{
    parsed p;
    parse(&p, unit);
    cr_assert_eq(p.it.status, MP_ERECORD, "%s: no error", unit);
    cr_assert_eq(p.rec->err->kind, kind, "%s: kind %d (%s)", unit, p.rec->err->kind,
                 p.rec->err->msg);
    cr_assert(strstr(p.rec->err->msg, msg), "%s: '%s'", unit, p.rec->err->msg);
    mp__arena_free(&p.a);
}

Test(parse, damaged_records_are_error_items, .timeout = 10)
{
    bad("{" LDR ",\"fields\":[{\"245\":{\"subfields\":[{\"a\":\"x\"}],}}]}", MP_EK_SYNTAX,
        "invalid JSON");
    bad("{" LDR ",\"fields\":[{\"245\":{\"subfields\":[{\"a\":\"x\"}]}}]", MP_EK_SYNTAX,
        "invalid JSON");
    bad("{\"leader\":5,\"fields\":[]}", MP_EK_LEADER, "not a string");
    bad("{\"leader\":\"short\",\"fields\":[]}", MP_EK_LEADER, "5 bytes long");
    bad("{" LDR ",\"fields\":{}}", MP_EK_FIELD, "not an array");
    bad("{" LDR ",\"fields\":[\"001\"]}", MP_EK_FIELD, "not an object");
    bad("{" LDR ",\"fields\":[{\"001\":\"a\",\"002\":\"b\"}]}", MP_EK_FIELD, "more than one tag");
    bad("{" LDR ",\"fields\":[{}]}", MP_EK_FIELD, "empty field object");
    bad("{" LDR ",\"fields\":[{\"001\":7}]}", MP_EK_FIELD, "neither a string nor an object");
    bad("{" LDR ",\"fields\":[{\"24\":\"x\"}]}", MP_EK_FIELD, "not 3 printable");
    bad("{" LDR ",\"fields\":[{\"245\":{\"ind1\":\"\\u00e9\"}}]}", MP_EK_INDICATOR, "(not ASCII)");
    bad("{" LDR ",\"fields\":[{\"245\":{\"ind2\":\"\\u001e\"}}]}", MP_EK_INDICATOR,
        "delimiter byte 0x1E");
    bad("{" LDR ",\"fields\":[{\"245\":{\"subfields\":[{\"\\u001f\":\"x\"}]}}]}", MP_EK_SUBFIELD,
        "not one ASCII character");
    bad("{" LDR ",\"fields\":[{\"245\":{\"ind1\":null}}]}", MP_EK_INDICATOR, "not a string");
    bad("{" LDR ",\"fields\":[{\"245\":{\"subfields\":[{\"\":\"x\"}]}}]}", MP_EK_SUBFIELD,
        "without a code");
    bad("{" LDR ",\"fields\":[{\"245\":{\"subfields\":[{\"a\":[]}]}}]}", MP_EK_SUBFIELD,
        "not a string");
    bad("{" LDR ",\"fields\":[{\"245\":{\"subfields\":[\"a\"]}}]}", MP_EK_SUBFIELD,
        "not an object");
    bad("{" LDR ",\"fields\":[{\"245\":{\"subfields\":[{\"a\":\"x\\u001fy\"}]}}]}", MP_EK_FIELD,
        "delimiter byte 0x1F");
    bad("{" LDR ",\"fields\":[{\"001\":\"\xC3(\"}]}", MP_EK_SYNTAX, "invalid JSON");
}

Test(parse, readable_anomalies_are_warnings_and_strict_makes_them_errors, .timeout = 10)
{
    static const struct {
        const char *unit;
        int kind;
        const char *msg;
    } cases[] = {
        {"{" LDR ",\"fields\":[{\"245\":{\"ind1\":\"\",\"ind2\":\"0\"}}]}", MP_EK_INDICATOR,
         "indicator 1 is empty; read as blank"},
        {"{" LDR ",\"fields\":[{\"245\":{\"ind1\":\"10\"}}]}", MP_EK_INDICATOR,
         "indicator 1 is '10' (2 bytes); the first is read"},
        {"{" LDR ",\"fields\":[{\"245\":{\"ind2\":\"\\u0001\"}}]}", MP_EK_INDICATOR,
         "indicator 2 is byte 0x01 (a control character)"},
        {"{" LDR ",\"fields\":[{\"245\":{\"subfields\":[{\" \":\"x\"}]}}]}", MP_EK_SUBFIELD,
         "subfield code is byte 0x20"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        parsed p;
        parse(&p, cases[i].unit);
        cr_assert_eq(p.it.status, 0, "%s: %s", cases[i].unit, p.rec->err ? p.rec->err->msg : "");
        cr_assert_eq(mp_record_warning_count(p.rec), 1);
        const mp_warning *w = mp_record_warning(p.rec, 0);
        cr_assert_eq(w->kind, cases[i].kind);
        cr_assert_str_eq(w->tag, "245");
        cr_assert(strstr(w->message, cases[i].msg), "'%s'", w->message);
        cr_assert_eq(mp_record_field_count(p.rec), 1, "the field is kept");
        mp__arena_free(&p.a);
        /* strict: the same problem is the record's error */
        memset(&p, 0, sizeof p);
        p.f = json_fmt(0);
        p.f.strict = 1;
        mp__arena_init(&p.a, 4096);
        p.it.data = (const unsigned char *)cases[i].unit;
        p.it.len = (uint32_t)strlen(cases[i].unit);
        p.it.type = MP_ITEM_RECORD;
        cr_assert_eq(mp__json_parse_item(&p.f, &p.it, &p.a), MP_OK);
        p.rec = p.it.result;
        cr_assert_eq(p.it.status, MP_ERECORD);
        cr_assert_eq(p.rec->err->kind, cases[i].kind);
        cr_assert(strstr(p.rec->err->msg, cases[i].msg), "'%s'", p.rec->err->msg);
        mp__arena_free(&p.a);
    }
}

/* ---- through the reader ------------------------------------------------------ */

static void read_doc(const void *p, size_t n, const mp_reader_options *o, mf_seq *s)
{
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, p, n, o), MP_OK);
    mf_collect(s, r);
    mp_reader_close(r);
}

Test(hostile, deep_nesting_and_long_strings_stay_bounded, .timeout = 60)
{
    mf_buf d;
    mf_init(&d);
    mf_appends(&d, "{" LDR ",\"fields\":[{\"500\":{\"x\":");
    for (int i = 0; i < 200000; i++)
        mf_appends(&d, "[");
    for (int i = 0; i < 200000; i++)
        mf_appends(&d, "]");
    mf_appends(&d, "}}]}\n{" LDR ",\"fields\":[{\"500\":{\"subfields\":[{\"a\":\"");
    for (int i = 0; i < 300000; i++)
        mf_appends(&d, "0123456789");
    mf_appends(&d, "\"}]}}]}\n{" LDR ",\"fields\":[{\"500\":");
    for (int i = 0; i < 100000; i++) /* a field that is neither string nor object */
        mf_appends(&d, "[{\"a\":");
    mf_appends(&d, "1");
    for (int i = 0; i < 100000; i++)
        mf_appends(&d, "}]");
    mf_appends(&d, "}]}\n{" LDR ",\"fields\":[]}\n");
    for (int seq = 0; seq < 2; seq++) {
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.mode = seq ? MP_MODE_SEQUENTIAL : MP_MODE_PIPELINE;
        o.chunk_size = 65536;
        mf_seq s;
        read_doc(d.p, d.len, &o, &s);
        cr_assert_eq(s.end_rc, MP_EOF);
        cr_assert_eq(s.n, 4, "%zu items", s.n);
        cr_assert_eq(s.v[0].rc, MP_OK, "deep nesting in an ignored key");
        cr_assert_eq(s.v[1].rc, MP_OK, "a 3 MB subfield");
        cr_assert_eq(s.v[2].rc, MP_ERECORD);
        cr_assert_eq(s.v[3].rc, MP_OK);
        mf_seq_free(&s);
    }
    mf_free(&d);
}

Test(hostile, errors_carry_offsets_and_ordinals, .timeout = 30)
{
    const char *doc = "[\n{" LDR ",\"fields\":[]},\n{" LDR ",\"fields\":[{\"245\":7}]},\n{" LDR
                      ",\"fields\":[]}\n]\n";
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, doc, strlen(doc), NULL), MP_OK);
    const mp_record *rec;
    cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
    cr_assert_eq(mp_reader_next(r, &rec), MP_ERECORD);
    const mp_error_info *e = mp_reader_error(r);
    cr_assert_eq(e->kind, MP_EK_FIELD);
    cr_assert_eq(e->ordinal, 1);
    cr_assert_eq(e->offset, (uint64_t)(strstr(strstr(doc, "},") + 1, "{") - doc));
    cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
    cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
    mp_reader_close(r);
}

static void check_cut(const mf_seq *s, const tf_unit *u, size_t nu, size_t cut, const char *who)
{
    size_t full = 0;
    while (full < nu && u[full].end <= cut)
        full++;
    cr_assert_eq(s->end_rc, MP_EOF);
    int inside = full < nu && u[full].start < cut;
    cr_assert_eq(s->n, full + (size_t)inside, "%s cut %zu: %zu items", who, cut, s->n);
    for (size_t i = 0; i < full; i++)
        cr_assert_eq(s->v[i].rc, MP_OK, "%s cut %zu item %zu", who, cut, i);
    if (inside) {
        cr_assert_eq(s->v[full].kind, MP_EK_TRUNCATED, "%s cut %zu", who, cut);
        cr_assert_eq(s->v[full].offset, u[full].start);
        cr_assert_eq(s->v[full].length, cut - u[full].start);
    }
}

Test(hostile, truncation_at_every_offset, .timeout = 600)
{
    size_t cuts = 0;
    mf_buf iso;
    mf_init(&iso);
    mf_sample(&iso, 4, 41, NULL);
    mp_pool *pool;
    cr_assert_eq(mp_pool_create(&pool, 2), MP_OK);
    for (int st = TF_JSON_LINES; st <= TF_JSON_ARRAY; st++) {
        mf_buf x;
        mf_init(&x);
        tf_unit u[8];
        size_t nu = tf_convert(&x, iso.p, iso.len, (tf_style)st, u, 8);
        for (size_t cut = 0; cut <= x.len; cut++, cuts++) {
            mp_reader_options o = MP_READER_OPTIONS_INIT;
            o.format = MP_FORMAT_JSON;
            mf_seq s;
            read_doc(x.p, cut, mf_seqopts(&o), &s);
            check_cut(&s, u, nu, cut, "sequential");
            mf_seq_free(&s);
            if (cut % 3 == 0) {
                o.pool = pool;
                o.mode = MP_MODE_PIPELINE;
                o.chunk_size = 64 + (cut % 13) * 41;
                read_doc(x.p, cut, &o, &s);
                check_cut(&s, u, nu, cut, "pipeline");
                mf_seq_free(&s);
            }
        }
        mf_free(&x);
    }
    cr_assert_eq(mp_pool_destroy(pool), MP_OK);
    mf_free(&iso);
    cr_log_info("%zu cuts checked", cuts);
}

Test(hostile, random_damage_reads_the_same_in_both_modes, .timeout = 300)
{
    mf_buf iso, x;
    mf_init(&iso);
    mf_init(&x);
    mf_sample(&iso, 20, 78, NULL);
    tf_convert(&x, iso.p, iso.len, TF_JSON_LINES, NULL, 0);
    unsigned seed = 999;
    for (int m = 0; m < 300; m++) {
        mf_buf d;
        mf_init(&d);
        mf_append(&d, x.p, x.len);
        int edits = 1 + rand_r(&seed) % 6;
        for (int e = 0; e < edits; e++)
            d.p[(size_t)rand_r(&seed) % d.len] = "{}[]\",:\\ \nx\x01"[rand_r(&seed) % 13];
        mf_seq a, b;
        read_doc(d.p, d.len, mf_seqopts(NULL), &a);
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.threads = 2;
        o.mode = MP_MODE_PIPELINE;
        o.chunk_size = 64 + (size_t)(rand_r(&seed) % 3000);
        read_doc(d.p, d.len, &o, &b);
        cr_assert_eq(mf_seq_diff(&a, &b), -1, "mutant %d", m);
        size_t good = 0;
        for (size_t i = 0; i < a.n; i++)
            good += a.v[i].rc == MP_OK;
        cr_assert_geq(good + 2 * (size_t)edits, 20, "mutant %d: %zu good", m, good);
        mf_seq_free(&a);
        mf_seq_free(&b);
        mf_free(&d);
    }
    mf_free(&x);
    mf_free(&iso);
    cr_log_info("300 mutants: sequential == pipeline, records spared");
}

/* ---- pymarc's files ----------------------------------------------------------------- */

static size_t count_file(const char *name, int *errors)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/pymarc/%s", mf_corpus_dir(), name);
    mp_reader *r;
    if (mp_reader_open_path(&r, path, NULL) != MP_OK)
        return (size_t)-1;
    mf_seq s;
    mf_collect(&s, r);
    mp_reader_close(r);
    *errors = 0;
    for (size_t i = 0; i < s.n; i++)
        *errors += s.v[i].rc != MP_OK;
    size_t n = s.n;
    mf_seq_free(&s);
    return n;
}

Test(pymarc, batch_one_and_test_json, .timeout = 30)
{
    int err;
    if (count_file("one.json", &err) == (size_t)-1) {
        cr_skip_test("corpus absent");
        return;
    }
    cr_assert_eq(count_file("one.json", &err), 1);
    cr_assert_eq(err, 0);
    cr_assert_eq(count_file("batch.json", &err), 2);
    cr_assert_eq(err, 0);
    cr_assert_eq(count_file("test.json", &err), 1, "raw newlines in strings");
    cr_assert_eq(err, 0);
    /* batch.json holds the records of batch.xml */
    char a[4096], b[4096];
    snprintf(a, sizeof a, "%s/pymarc/batch.json", mf_corpus_dir());
    snprintf(b, sizeof b, "%s/pymarc/batch.xml", mf_corpus_dir());
    mp_reader *r1, *r2;
    cr_assert_eq(mp_reader_open_path(&r1, a, NULL), MP_OK);
    cr_assert_eq(mp_reader_open_path(&r2, b, NULL), MP_OK);
    mf_seq s1, s2;
    mf_collect(&s1, r1);
    mf_collect(&s2, r2);
    cr_assert_eq(s1.n, s2.n);
    for (size_t i = 0; i < s1.n; i++)
        cr_assert_eq(s1.v[i].hash, s2.v[i].hash, "record %zu", i);
    mf_seq_free(&s1);
    mf_seq_free(&s2);
    mp_reader_close(r1);
    mp_reader_close(r2);
}
