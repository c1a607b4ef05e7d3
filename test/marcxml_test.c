/*
 * marcxml_test.c - MARCXML (stages/src/fmt_marcxml.c): framing at every
 * prefix length, what a record element becomes, the fast path against
 * libxml2, errors with their positions, hostile documents (XXE, entity
 * expansion, deep nesting, huge attributes, junk, truncation at every
 * offset), other encodings, pymarc's batch.xml and utf8.xml.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "corpus.h"
#include "format.h"
#include "marcfix.h"
#include "textfix.h"

static mp__marc_fmt xml_fmt(size_t max)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    mp__marc_fmt f;
    o.max_record_size = max;
    o.format = MP_FORMAT_MARCXML;
    cr_assert_eq(mp__marc_fmt_init(&f, &o), MP_OK);
    f.resolved = 1;
    mp__xml_global_init();
    return f;
}

/* ---- framing ---------------------------------------------------------------- */

typedef struct fr {
    int rc;
    size_t off, len;
    int kind;
} fr;

/* Frames all of p as the sequential reader does (IGNOREd spans included). */
static size_t frame_all(const mp__marc_fmt *f, const unsigned char *p, size_t n, fr *out,
                        size_t max_out)
{
    size_t pos = 0, k = 0;
    while (pos < n && k < max_out) {
        mp__frame o = {0, 0};
        mp__frame_rc rc = mp__xml_frame(f, p + pos, n - pos, MP_FINAL_EOF, &o);
        cr_assert_neq(rc, MP_FRAME_NEED, "NEED on a final call at %zu", pos);
        cr_assert(o.len >= 1 && o.len <= n - pos, "length %zu at %zu", o.len, pos);
        out[k].rc = rc;
        out[k].off = pos;
        out[k].len = o.len;
        out[k].kind = o.kind;
        k++;
        pos += o.len;
    }
    return k;
}

/* Only units (RECORD, SKIP) of a framing, as the consumer sees them. */
static size_t units_of(const fr *all, size_t n, fr *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (all[i].rc != MP_FRAME_IGNORE)
            out[k++] = all[i];
    return k;
}

/* For every prefix of what is left, frame() says NEED, or gives the answer
 * it gives with everything - or, for an ignored span, ignores a part of
 * it after which the rest frames the same. */
static void check_prefix_stable(const mp__marc_fmt *f, const unsigned char *p, size_t n)
{
    size_t pos = 0;
    while (pos < n) {
        mp__frame full = {0, 0};
        mp__frame_rc rfull = mp__xml_frame(f, p + pos, n - pos, MP_FINAL_EOF, &full);
        for (size_t a = 1; a <= n - pos; a++) {
            mp__frame o = {0, 0};
            mp__frame_rc r = mp__xml_frame(f, p + pos, a, MP_FINAL_NO, &o);
            if (r == MP_FRAME_NEED) {
                cr_assert_gt(o.len, a, "NEED must ask for more than avail (pos %zu a %zu)", pos, a);
                continue;
            }
            if (r == MP_FRAME_IGNORE && rfull == MP_FRAME_IGNORE) {
                cr_assert_leq(o.len, full.len, "ignored more with fewer bytes at %zu", pos);
                continue;
            }
            cr_assert_eq(r, rfull, "unstable answer at pos %zu avail %zu: %d vs %d", pos, a, r,
                         rfull);
            cr_assert_eq(o.len, full.len, "unstable length at pos %zu avail %zu", pos, a);
            cr_assert_eq(o.kind, full.kind);
        }
        pos += full.len;
    }
}

static fr *framed(const char *doc, size_t *nunits)
{
    static fr all[256], u[256];
    mp__marc_fmt f = xml_fmt(0);
    size_t n = frame_all(&f, (const unsigned char *)doc, strlen(doc), all, 256);
    *nunits = units_of(all, n, u);
    check_prefix_stable(&f, (const unsigned char *)doc, strlen(doc));
    return u;
}

Test(frame, every_fixture_style_frames_its_records, .timeout = 120)
{
    mf_buf iso;
    mf_init(&iso);
    mf_sample(&iso, 6, 5, NULL);
    mp__marc_fmt f = xml_fmt(0);
    for (int s = TF_XML; s <= TF_XML_OAI; s++) {
        mf_buf x;
        mf_init(&x);
        tf_unit units[8];
        size_t n = tf_convert(&x, iso.p, iso.len, (tf_style)s, units, 8);
        fr all[512], u[64];
        size_t k = units_of(all, frame_all(&f, x.p, x.len, all, 512), u);
        cr_assert_eq(k, n, "%s: %zu units", tf_style_name((tf_style)s), k);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(u[i].rc, MP_FRAME_RECORD);
            cr_assert_eq(u[i].kind, 0);
            cr_assert_eq(u[i].off, units[i].start, "%s unit %zu", tf_style_name((tf_style)s), i);
            cr_assert_eq(u[i].len, units[i].end - units[i].start);
        }
        check_prefix_stable(&f, x.p, x.len);
        mf_free(&x);
    }
    mf_free(&iso);
}

#define R1 "<record><leader>00000nam a2200000 a 4500</leader></record>"

Test(frame, oai_records_around_marc_records_are_envelope, .timeout = 10)
{
    const char *doc =
        "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\"><ListRecords>"
        "<record><header><identifier>a</identifier></header><metadata>"
        "<record xmlns=\"http://www.loc.gov/MARC21/slim\"><leader>x</leader></record>"
        "</metadata></record>"
        "<record><header status=\"deleted\"><identifier>b</identifier></header></record>"
        "<record xmlns=\"http://www.openarchives.org/OAI/2.0/\"><metadata>"
        "<m:record xmlns:m=\"http://www.loc.gov/MARC21/slim\"/></metadata></record>"
        "</ListRecords></OAI-PMH>";
    size_t n;
    fr *u = framed(doc, &n);
    cr_assert_eq(n, 2);
    cr_assert_eq(u[0].rc, MP_FRAME_RECORD);
    cr_assert_eq(strncmp(doc + u[0].off, "<record xmlns=\"http://www.loc.gov", 33), 0);
    cr_assert_eq(u[1].rc, MP_FRAME_RECORD);
    cr_assert_eq(strncmp(doc + u[1].off, "<m:record", 9), 0);
    cr_assert_eq(u[1].len, strlen("<m:record xmlns:m=\"http://www.loc.gov/MARC21/slim\"/>"));
}

Test(frame, a_record_without_namespace_is_told_by_its_first_child, .timeout = 10)
{
    const char *doc = "<collection>"
                      "<record><!-- c --><controlfield tag=\"001\">1</controlfield></record>"
                      "<ns0:record><ns0:datafield tag=\"245\"/></ns0:record>"
                      "<record></record>"
                      "<record><header/><x:record><x:leader/></x:record></record>"
                      "</collection>";
    size_t n;
    fr *u = framed(doc, &n);
    cr_assert_eq(n, 4);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(u[i].rc, MP_FRAME_RECORD);
    cr_assert_eq(strncmp(doc + u[3].off, "<x:record>", 10), 0);
}

Test(frame, damage_between_records_is_reported_where_it_is, .timeout = 10)
{
    const char *doc = "<collection>" R1 "\x01\x02junk" R1 "< oops>" R1
                      "<datafield tag=\"245\"><subfield code=\"a\">orphan</subfield></datafield>" R1
                      "</collection>";
    size_t n;
    fr *u = framed(doc, &n);
    cr_assert_eq(n, 7);
    cr_assert_eq(u[1].rc, MP_FRAME_SKIP);
    cr_assert_eq(u[1].kind, MP_EK_JUNK);
    cr_assert_eq(strncmp(doc + u[1].off, "\x01\x02junk", 6), 0);
    cr_assert_eq(u[1].len, 6);
    cr_assert_eq(u[3].kind, MP_EK_JUNK, "'<' not followed by a name");
    cr_assert_eq(u[3].len, 7);
    cr_assert_eq(u[5].kind, MP_EK_JUNK, "MARC fields outside a record");
    cr_assert_eq(strncmp(doc + u[5].off + u[5].len, "<record>", 8), 0,
                 "the junk ends at the next record");
    for (size_t i = 0; i < n; i += 2)
        cr_assert_eq(u[i].rc, MP_FRAME_RECORD);
}

Test(frame, an_unclosed_record_ends_where_the_next_begins, .timeout = 10)
{
    const char *doc = "<collection><record><leader>00000nam a2200000 a 4500</leader>"
                      "<datafield tag=\"245\">" R1 R1 "</collection>";
    size_t n;
    fr *u = framed(doc, &n);
    cr_assert_eq(n, 3);
    cr_assert_eq(u[0].rc, MP_FRAME_RECORD);
    cr_assert_eq(u[0].kind, MP_EK_TRUNCATED);
    cr_assert_eq(strncmp(doc + u[0].off + u[0].len, R1, strlen(R1)), 0);
    cr_assert_eq(u[1].kind, 0);
    cr_assert_eq(u[2].kind, 0);
}

Test(frame, comments_and_cdata_inside_a_record_do_not_end_it, .timeout = 10)
{
    const char *doc = "<record><!-- </record> --><controlfield tag=\"001\">"
                      "<![CDATA[</record><record>]]></controlfield><?pi </record>?></record>"
                      "<record/>";
    size_t n;
    fr *u = framed(doc, &n);
    cr_assert_eq(n, 2);
    cr_assert_eq(u[0].len, strlen(doc) - strlen("<record/>"));
    cr_assert_eq(u[0].kind, 0);
}

Test(frame, doctypes_are_ignored_unless_they_declare_entities, .timeout = 10)
{
    const char *doc = "<?xml version=\"1.0\"?>\n<!DOCTYPE collection SYSTEM \"marc.dtd\">\n"
                      "<collection>" R1 "</collection>";
    size_t n;
    fr *u = framed(doc, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(u[0].rc, MP_FRAME_RECORD);
    doc = "<!DOCTYPE c [ <!-- ] > --> <!ENTITY x SYSTEM \"file:///etc/passwd\"> ]>"
          "<c>" R1 "</c>";
    u = framed(doc, &n);
    cr_assert_eq(n, 2);
    cr_assert_eq(u[0].rc, MP_FRAME_SKIP);
    cr_assert_eq(u[0].kind, MP_EK_DTD);
    cr_assert_eq(u[0].len, strlen(doc) - strlen("<c>" R1 "</c>"));
}

Test(frame, the_end_of_input_and_the_maximum_decide, .timeout = 10)
{
    mp__marc_fmt f = xml_fmt(4096);
    const char *cut = "<record><leader>00000nam";
    mp__frame o;
    cr_assert_eq(mp__xml_frame(&f, (const unsigned char *)cut, strlen(cut), MP_FINAL_NO, &o),
                 MP_FRAME_NEED);
    cr_assert_eq(mp__xml_frame(&f, (const unsigned char *)cut, strlen(cut), MP_FINAL_EOF, &o),
                 MP_FRAME_SKIP);
    cr_assert_eq(o.kind, MP_EK_TRUNCATED);
    cr_assert_eq(o.len, strlen(cut));
    char *big = malloc(8192);
    memcpy(big, "<record><leader>", 16);
    memset(big + 16, 'x', 8192 - 16);
    cr_assert_eq(mp__xml_frame(&f, (const unsigned char *)big, 8192, MP_FINAL_NO, &o),
                 MP_FRAME_SKIP);
    cr_assert_eq(o.kind, MP_EK_TOO_BIG);
    cr_assert_eq(o.len, 4096);
    free(big);
}

/* The record-end rule spelled out token by token (the library's version
 * searches with SIMD): the reference the fast search must agree with. */
static int ref_namechar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || c >= 0x80 ||
           (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static size_t ref_special_end(const unsigned char *p, size_t n, size_t i, int *more)
{
    const char *close;
    size_t open;
    *more = 0;
    if (p[i + 1] == '?') {
        open = 2;
        close = "?>";
    } else if (n - i >= 4 && memcmp(p + i, "<!--", 4) == 0) {
        open = 4;
        close = "-->";
    } else if (n - i >= 9 && memcmp(p + i, "<![CDATA[", 9) == 0) {
        open = 9;
        close = "]]>";
    } else {
        size_t k = n - i < 9 ? n - i : 9;
        if (memcmp(p + i, "<!--", k < 4 ? k : 4) == 0 || memcmp(p + i, "<![CDATA[", k) == 0)
            *more = 1;
        return 0;
    }
    const unsigned char *e = memmem(p + i + open, n - i - open, close, strlen(close));
    if (!e) {
        *more = 1;
        return 0;
    }
    return (size_t)(e - p) + strlen(close);
}

static size_t ref_record_end(const unsigned char *p, size_t n, size_t tl, int *unclosed)
{
    size_t i = tl;
    *unclosed = 0;
    for (;;) {
        const unsigned char *lt = memchr(p + i, '<', n - i);
        if (!lt)
            return 0;
        i = (size_t)(lt - p);
        if (i + 1 >= n)
            return 0;
        unsigned char c = p[i + 1];
        if (c == '!' || c == '?') {
            int more;
            size_t e = ref_special_end(p, n, i, &more);
            if (more)
                return 0;
            i = e ? e : i + 1;
            continue;
        }
        size_t k = i + 1 + (c == '/'), s = k;
        while (k < n && ref_namechar(p[k]))
            k++;
        if (k >= n)
            return 0;
        const unsigned char *colon = memchr(p + s, ':', k - s);
        const unsigned char *l = colon ? colon + 1 : p + s;
        size_t ln = (size_t)(p + k - l);
        if (ln == 6 && memcmp(l, "record", 6) == 0) {
            if (c != '/') {
                if (p[k] == ' ' || p[k] == '\t' || p[k] == '\r' || p[k] == '\n' || p[k] == '>' ||
                    p[k] == '/') {
                    *unclosed = 1;
                    return i;
                }
            } else {
                while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r' || p[k] == '\n'))
                    k++;
                if (k >= n)
                    return 0;
                if (p[k] == '>')
                    return k + 1;
            }
        }
        i = k;
    }
}

Test(frame, the_fast_record_end_search_follows_the_rule, .timeout = 120)
{
    static const char *const tok[] = {
        "<",   "/",         "!",   "?",  "-",       "[",         "]",           ">",   "record",
        "rec", "ord",       ":",   "a",  " ",       "\n",        "<!--",        "-->", "<?",
        "?>",  "<![CDATA[", "]]>", "x:", "<record", "</record>", "</m:record ", "d",   "r"};
    unsigned seed = 77;
    char buf[512];
    for (int t = 0; t < 200000; t++) {
        size_t n = 0;
        int ntok = 1 + rand_r(&seed) % 40;
        for (int k = 0; k < ntok && n < sizeof buf - 16; k++) {
            const char *w = tok[rand_r(&seed) % (sizeof tok / sizeof tok[0])];
            size_t l = strlen(w);
            memcpy(buf + n, w, l);
            n += l;
        }
        int u1, u2;
        size_t a = ref_record_end((const unsigned char *)buf, n, 0, &u1);
        size_t b = mp__xml_record_end((const unsigned char *)buf, n, 0, &u2);
        cr_assert(a == b && (a == 0 || u1 == u2), "'%.*s': reference %zu/%d, library %zu/%d",
                  (int)n, buf, a, u1, b, u2);
    }
}

/* ---- parsing ------------------------------------------------------------------ */

typedef struct parsed {
    mp__arena a;
    mp__item it;
    mp__marc_fmt f;
    const mp_record *rec;
} parsed;

/* which: 0 the reader's choice, 1 fast path only (may decline), 2 libxml2. */
static int g_strict; /* parse(): options.strict */

static int parse(parsed *p, const char *unit, int which)
{
    memset(p, 0, sizeof *p);
    p->f = xml_fmt(0);
    p->f.strict = g_strict;
    mp__arena_init(&p->a, 4096);
    p->it.data = (const unsigned char *)unit;
    p->it.len = (uint32_t)strlen(unit);
    p->it.type = MP_ITEM_RECORD;
    int rc = which == 1   ? mp__xml_parse_fast(&p->f, &p->it, &p->a)
             : which == 2 ? mp__xml_parse_libxml2(&p->f, &p->it, &p->a)
                          : mp__xml_parse_item(&p->f, &p->it, &p->a);
    p->rec = p->it.result;
    return rc;
}

static void done(parsed *p)
{
    mp__arena_free(&p->a);
}

static const mp_field *field(const mp_record *r, const char *tag)
{
    return mp_record_first(r, tag);
}

static void sub_is(const mp_field *f, char code, const char *want)
{
    cr_assert_not_null(f);
    uint32_t pos = 0;
    const mp_subfield *s = mp_field_subfield(f, code, &pos);
    cr_assert_not_null(s, "no $%c", code);
    cr_assert_eq(s->len, strlen(want), "$%c: '%.*s'", code, (int)s->len, s->data);
    cr_assert_eq(memcmp(s->data, want, s->len), 0, "$%c: '%.*s'", code, (int)s->len, s->data);
}

#define LDR "<leader>01234cam a2200289 a 4500</leader>"

Test(parse, fields_subfields_indicators_and_the_leader, .timeout = 10)
{
    static const char *const units[] = {
        "<record>" LDR "<controlfield tag=\"001\">cn 1</controlfield>"
        "<datafield tag=\"245\" ind1=\"1\" ind2=\"0\"><subfield code=\"a\">Title /</subfield>"
        "<subfield code=\"c\">me.</subfield></datafield></record>",
        "<marc:record xmlns:marc=\"http://www.loc.gov/MARC21/slim\">\n  <marc:leader>01234cam "
        "a2200289 a 4500</marc:leader>\n  <marc:controlfield tag='001'>cn 1</marc:controlfield>\n"
        "  <marc:datafield ind2='0' tag='245' ind1='1'>\n    <marc:subfield code='a'>Title "
        "/</marc:subfield><marc:subfield code='c'>me.</marc:subfield>\n  </marc:datafield>\n"
        "</marc:record>",
    };
    for (int w = 0; w < 3; w++) {
        for (int u = 0; u < 2; u++) {
            parsed p;
            int rc = parse(&p, units[u], w);
            cr_assert_eq(rc, MP_OK, "unit %d parser %d: rc %d", u, w, rc);
            cr_assert_eq(p.it.status, 0);
            cr_assert_eq(memcmp(mp_record_leader(p.rec), "01234cam a2200289 a 4500", 24), 0,
                         "the leader as written");
            cr_assert_eq(mp_record_field_count(p.rec), 2);
            size_t n;
            const char *cn = mp_record_control_number(p.rec, &n);
            cr_assert(n == 4 && memcmp(cn, "cn 1", 4) == 0);
            const mp_field *f = field(p.rec, "245");
            cr_assert(f->ind1 == '1' && f->ind2 == '0' && !f->is_control);
            cr_assert_eq(f->nsubfields, 2);
            sub_is(f, 'a', "Title /");
            sub_is(f, 'c', "me.");
            /* raw is ISO 2709 with the real length and base address */
            size_t rl;
            const unsigned char *raw = mp_record_raw(p.rec, &rl);
            char five[6];
            snprintf(five, sizeof five, "%05zu", rl);
            cr_assert_eq(memcmp(raw, five, 5), 0);
            cr_assert_eq(raw[rl - 1], 0x1D);
            cr_assert_eq(raw[9], 'a', "UTF-8 text");
            done(&p);
        }
    }
}

Test(parse, references_cdata_comments_and_crlf, .timeout = 10)
{
    const char *u = "<record>\r\n" LDR "<!-- a comment -->"
                    "<datafield tag=\"500\" ind1=\"&#32;\" ind2=' '>"
                    "<subfield code=\"a\">&lt;a&gt; &amp; &quot;b&quot; &apos;c&apos; "
                    "caf&#xE9; &#233;t&#233; &#x1F600;</subfield>"
                    "<subfield code=\"b\"><![CDATA[<raw> & ]]>more</subfield>"
                    "<subfield code=\"&amp;\">amp code</subfield></datafield></record>";
    parsed p;
    cr_assert_eq(parse(&p, u, 0), MP_OK);
    cr_assert_eq(p.it.status, 0);
    const mp_field *f = field(p.rec, "500");
    cr_assert(f->ind1 == ' ' && f->ind2 == ' ');
    sub_is(f, 'a', "<a> & \"b\" 'c' caf\xC3\xA9 \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80");
    sub_is(f, 'b', "<raw> & more");
    sub_is(f, '&', "amp code");
    done(&p);
    /* The fast path declines what it does not cover; libxml2 decides. */
    cr_assert_eq(parse(&p, u, 1), 1);
    done(&p);
}

Test(parse, unknown_elements_are_ignored_with_their_content, .timeout = 10)
{
    const char *u = "<record>" LDR "<note>ignored <b>all</b></note>"
                    "<datafield tag=\"650\"><x>no</x><subfield code=\"a\">Art<i>!</i></subfield>"
                    "</datafield></record>";
    for (int w = 0; w < 3; w++) {
        parsed p;
        cr_assert_eq(parse(&p, u, w), MP_OK);
        cr_assert_eq(p.it.status, 0);
        cr_assert_eq(mp_record_field_count(p.rec), 1);
        sub_is(field(p.rec, "650"), 'a', "Art");
        done(&p);
    }
}

Test(parse, empty_records_and_missing_leaders, .timeout = 10)
{
    static const char *const units[] = {"<record/>", "<record></record>",
                                        "<marc:record xmlns:marc='x'>\n</marc:record>"};
    for (int i = 0; i < 3; i++) {
        for (int w = 0; w < 3; w++) {
            parsed p;
            cr_assert_eq(parse(&p, units[i], w), MP_OK);
            cr_assert_eq(p.it.status, 0, "as pymarc: a blank leader, no error");
            cr_assert_eq(memcmp(mp_record_leader(p.rec), "                        ", 24), 0);
            cr_assert_eq(mp_record_field_count(p.rec), 0);
            done(&p);
        }
    }
}

/* An error item of kind `kind` whose message contains `msg`, parsed by
 * both parsers alike (the fast path declines or agrees). */
static void bad(const char *unit, int kind, const char *msg)
{
    for (int w = 0; w < 3; w += 2) {
        parsed p;
        cr_assert_eq(parse(&p, unit, w), MP_OK);
        cr_assert_eq(p.it.status, MP_ERECORD, "%s: no error", unit);
        cr_assert_not_null(p.rec->err);
        cr_assert_eq(p.rec->err->kind, kind, "%s: kind %d (%s)", unit, p.rec->err->kind,
                     p.rec->err->msg);
        cr_assert(strstr(p.rec->err->msg, msg), "%s: message '%s'", unit, p.rec->err->msg);
        done(&p);
    }
}

/* A good record with one warning of `kind` whose message holds `msg`
 * (both parsers alike), then with options.strict the same as an error
 * item. */
static void warned(const char *unit, int kind, const char *msg)
{
    for (int strict = 0; strict < 2; strict++) {
        g_strict = strict;
        for (int w = 0; w < 3; w += 2) {
            parsed p;
            cr_assert_eq(parse(&p, unit, w), MP_OK);
            if (strict) {
                cr_assert_eq(p.it.status, MP_ERECORD, "%s: strict, no error", unit);
                cr_assert_eq(p.rec->err->kind, kind);
                cr_assert(strstr(p.rec->err->msg, msg), "%s: '%s'", unit, p.rec->err->msg);
                cr_assert_eq(mp_record_warning_count(p.rec), 0);
            } else {
                cr_assert_eq(p.it.status, 0, "%s: %s", unit, p.rec->err ? p.rec->err->msg : "");
                cr_assert_eq(mp_record_warning_count(p.rec), 1, "%s", unit);
                const mp_warning *wn = mp_record_warning(p.rec, 0);
                cr_assert_eq(wn->kind, kind);
                cr_assert_eq(wn->offset, p.rec->offset, "text formats: the unit's offset");
                cr_assert_str_eq(wn->tag, "245");
                cr_assert(strstr(wn->message, msg), "%s: '%s'", unit, wn->message);
            }
            done(&p);
        }
    }
    g_strict = 0;
}

Test(parse, readable_anomalies_are_warnings_as_in_iso2709, .timeout = 10)
{
    warned("<record>" LDR "<datafield tag=\"245\" ind1=\"\" ind2=\"0\"><subfield code=\"a\">x"
           "</subfield></datafield></record>",
           MP_EK_INDICATOR, "indicator 1 is empty; read as blank");
    warned("<record>" LDR "<datafield tag=\"245\" ind1=\"12\"/></record>", MP_EK_INDICATOR,
           "indicator 1 is '12' (2 bytes); the first is read");
    warned("<record>" LDR "<datafield tag=\"245\" ind2=\"&#9;\"/></record>", MP_EK_INDICATOR,
           "indicator 2 is byte 0x09 (a control character)");
    warned("<record>" LDR "<datafield tag=\"245\"><subfield code=\" \">x</subfield>"
           "</datafield></record>",
           MP_EK_SUBFIELD, "subfield code is byte 0x20");
    /* what the record holds */
    parsed p;
    cr_assert_eq(parse(&p,
                       "<record>" LDR "<datafield tag=\"245\" ind1=\"\" ind2=\"12\">"
                       "<subfield code=\"&#9;\">x</subfield><subfield code=\"b\">y</subfield>"
                       "</datafield></record>",
                       0),
                 MP_OK);
    cr_assert_eq(p.it.status, 0);
    cr_assert_eq(mp_record_warning_count(p.rec), 3);
    const mp_field *f = field(p.rec, "245");
    cr_assert(f->ind1 == ' ' && f->ind2 == '1');
    cr_assert_eq(f->nsubfields, 2);
    cr_assert(f->subfields[0].code == '\t' && f->subfields[0].len == 1);
    sub_is(f, 'b', "y");
    /* the raw record says the same to the ISO 2709 parser */
    cr_assert(memcmp(f->data,
                     " 1\x1F\tx\x1F"
                     "by",
                     8) == 0);
    done(&p);
}

Test(parse, damaged_records_are_error_items_with_what_was_read, .timeout = 10)
{
    bad("<record>" LDR "<datafield tag=\"245\"><subfield>x</subfield></datafield></record>",
        MP_EK_SUBFIELD, "without a code");
    bad("<record>" LDR "<datafield tag=\"245\"><subfield code=\"ab\">x</subfield></datafield>"
        "</record>",
        MP_EK_SUBFIELD, "not one ASCII character");
    bad("<record>" LDR "<datafield tag=\"245\"><subfield code=\"\xC3\xA9\">x</subfield></datafield>"
        "</record>",
        MP_EK_SUBFIELD, "not one ASCII character");
    bad("<record>" LDR "<datafield ind1=\"1\"><subfield code=\"a\">x</subfield></datafield>"
        "</record>",
        MP_EK_FIELD, "without a tag");
    bad("<record>" LDR "<datafield tag=\"42\"/></record>", MP_EK_FIELD, "not 3 printable");
    bad("<record>" LDR "<datafield tag=\"245\" ind1=\"\xC3\xA9\"/></record>", MP_EK_INDICATOR,
        "indicator 1 is '\xC3\xA9' (not ASCII)");
    bad("<record><leader>      Z   22 4500</leader></record>", MP_EK_LEADER, "17 bytes long");
    bad("<record>" LDR "<subfield code=\"a\">x</subfield></record>", MP_EK_SUBFIELD,
        "outside a <datafield>");
    bad("<record>" LDR "<datafield tag=\"245\"><controlfield tag=\"001\"/></datafield></record>",
        MP_EK_FIELD, "inside a <datafield>");
    /* not well-formed: the libxml2 message, with a position */
    bad("<record>" LDR "<datafield tag=\"245\"><subfield code=\"a\">x</datafield></record>",
        MP_EK_SYNTAX, "line 1");
    bad("<record>" LDR "<datafield tag=245/></record>", MP_EK_SYNTAX, "not well-formed");
    bad("<record>" LDR "<datafield tag=\"245\" tag=\"100\"/></record>", MP_EK_SYNTAX,
        "not well-formed");
    bad("<record>" LDR "<controlfield tag=\"001\">&eacute;</controlfield></record>", MP_EK_SYNTAX,
        "eacute");
    bad("<record>" LDR "<controlfield tag=\"001\">\xC3(</controlfield></record>", MP_EK_SYNTAX,
        "not well-formed");
    bad("<record>" LDR "<controlfield tag=\"001\">&#x1F;</controlfield></record>", MP_EK_SYNTAX,
        "not well-formed");
    /* what was read before the damage is kept */
    parsed p;
    cr_assert_eq(parse(&p, "<record>" LDR "<controlfield tag=\"001\">k</controlfield><oops", 0),
                 MP_OK);
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_eq(mp_record_field_count(p.rec), 1);
    done(&p);
}

/* ---- the fast path is libxml2's twin ------------------------------------------ */

/* Same record and same verdict from both parsers whenever the fast path
 * accepts; returns 1 when it accepted. */
static int twin(const char *unit, size_t len)
{
    parsed a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.f = b.f = xml_fmt(0);
    mp__arena_init(&a.a, 4096);
    mp__arena_init(&b.a, 4096);
    a.it.data = b.it.data = (const unsigned char *)unit;
    a.it.len = b.it.len = (uint32_t)len;
    a.it.type = b.it.type = MP_ITEM_RECORD;
    int ra = mp__xml_parse_fast(&a.f, &a.it, &a.a);
    int rb = mp__xml_parse_libxml2(&b.f, &b.it, &b.a);
    cr_assert_eq(rb, MP_OK);
    if (ra == 0) {
        const mp_record *x = a.it.result, *y = b.it.result;
        cr_assert_eq(b.it.status, a.it.status, "verdicts differ on: %.*s", (int)len, unit);
        cr_assert_eq(mf_record_hash(x), mf_record_hash(y), "records differ on: %.*s", (int)len,
                     unit);
        size_t xl, yl;
        const unsigned char *xr = mp_record_raw(x, &xl), *yr = mp_record_raw(y, &yl);
        cr_assert(xl == yl && memcmp(xr, yr, xl) == 0, "raw differs on: %.*s", (int)len, unit);
        cr_assert((x->err == NULL) == (y->err == NULL));
        if (x->err)
            cr_assert_eq(x->err->kind, y->err->kind);
    } else {
        cr_assert_eq(ra, 1, "the fast path either decides or declines");
    }
    mp__arena_free(&a.a);
    mp__arena_free(&b.a);
    return ra == 0;
}

Test(twin, corpus_units_parse_the_same_both_ways, .timeout = 300)
{
    mf_buf iso;
    mf_init(&iso);
    mf_sample(&iso, 60, 9, NULL);
    size_t accepted = 0, total = 0;
    for (int s = TF_XML; s <= TF_XML_OAI; s++) {
        mf_buf x;
        mf_init(&x);
        tf_unit units[64];
        size_t n = tf_convert(&x, iso.p, iso.len, (tf_style)s, units, 64);
        for (size_t i = 0; i < n; i++) {
            const char *u = (const char *)x.p + units[i].start;
            size_t ul = units[i].end - units[i].start;
            accepted += (size_t)twin(u, ul);
            total++;
            /* the same unit with CRLF line ends (Windows tools write them) */
            char *crlf = malloc(2 * ul + 1);
            size_t cl = 0;
            for (size_t k = 0; k < ul; k++) {
                if (u[k] == '\n')
                    crlf[cl++] = '\r';
                crlf[cl++] = u[k];
            }
            accepted += (size_t)twin(crlf, cl);
            total++;
            free(crlf);
        }
        mf_free(&x);
    }
    cr_assert_eq(accepted, total, "the fast path takes what MARCXML writers write");
    mf_free(&iso);
}

Test(twin, every_mutation_of_a_unit_parses_the_same_both_ways, .timeout = 300)
{
    /* Single-byte edits of a record that uses most of the subset. */
    const char *base = "<m:record xmlns:m=\"http://www.loc.gov/MARC21/slim\" a:b='c'>" LDR
                       "<m:controlfield tag=\"001\">x&amp;y&#65;</m:controlfield>"
                       "<m:datafield tag=\"245\" ind1=\"1\" ind2=\"&#x30;\">"
                       "<m:subfield code=\"a\">caf\xC3\xA9 ]&gt;</m:subfield>"
                       "<m:subfield code='b'/></m:datafield><m:x y=\"z\"/></m:record>";
    size_t n = strlen(base);
    static const char repl[] = "<>&;\"'/=:# \t\n\r\x01\x80\xC3\xFF]x1";
    char *u = malloc(n + 2);
    size_t acc = 0, tried = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t r = 0; r < sizeof repl - 1; r++) {
            memcpy(u, base, n);
            u[i] = repl[r];
            acc += (size_t)twin(u, n);
            tried++;
        }
        /* deletion */
        memcpy(u, base, i);
        memcpy(u + i, base + i + 1, n - i - 1);
        acc += (size_t)twin(u, n - 1);
        tried++;
    }
    cr_log_info("%zu of %zu mutants taken by the fast path, all equal to libxml2", acc, tried);
    cr_assert_gt(acc, tried / 10);
    free(u);
}

/* ---- through the reader --------------------------------------------------------- */

static void read_doc(const void *p, size_t n, const mp_reader_options *o, mf_seq *s)
{
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, p, n, o), MP_OK);
    mf_collect(s, r);
    mp_reader_close(r);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

Test(hostile, xxe_and_entity_expansion_are_error_items, .timeout = 30)
{
    const char *doc =
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE collection [\n"
        "  <!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n"
        "  <!ENTITY lol \"lol\">\n"
        "  <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        "  <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
        "  <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
        "  <!ENTITY lol9 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
        "]>\n<collection>\n"
        "<record>" LDR "<controlfield tag=\"001\">&xxe;</controlfield></record>\n"
        "<record>" LDR "<controlfield tag=\"001\">&lol9;</controlfield></record>\n"
        "<record>" LDR "<controlfield tag=\"001\">fine</controlfield></record>\n"
        "</collection>\n";
    for (int seq = 0; seq < 2; seq++) {
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.mode = seq ? MP_MODE_SEQUENTIAL : MP_MODE_PIPELINE;
        mp_reader *r;
        cr_assert_eq(mp_reader_open_mem(&r, doc, strlen(doc), &o), MP_OK);
        const mp_record *rec;
        double t0 = now();
        cr_assert_eq(mp_reader_next(r, &rec), MP_ERECORD);
        cr_assert_eq(mp_reader_error(r)->kind, MP_EK_DTD);
        cr_assert_null(rec);
        for (int i = 0; i < 2; i++) {
            cr_assert_eq(mp_reader_next(r, &rec), MP_ERECORD);
            cr_assert_eq(mp_reader_error(r)->kind, MP_EK_SYNTAX, "%s", mp_reader_error(r)->message);
            cr_assert(strstr(mp_reader_error(r)->message, i ? "lol9" : "xxe"), "%s",
                      mp_reader_error(r)->message);
            cr_assert_not_null(rec);
            size_t n;
            mp_record_control_number(rec, &n);
            cr_assert_eq(n, 0, "nothing was expanded");
        }
        cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
        cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
        cr_assert_lt(now() - t0, 2.0);
        mp_reader_close(r);
    }
}

Test(hostile, deep_nesting_and_huge_attributes_stay_bounded, .timeout = 60)
{
    mf_buf d;
    mf_init(&d);
    mf_appends(&d, "<collection>\n<record>" LDR "<datafield tag=\"500\">");
    for (int i = 0; i < 200000; i++)
        mf_appends(&d, "<x>");
    mf_appends(&d, "</datafield></record>\n");
    /* a 3 MB attribute in an envelope element, then in a record */
    mf_appends(&d, "<envelope note=\"");
    for (int i = 0; i < 300000; i++)
        mf_appends(&d, "0123456789");
    mf_appends(&d, "\">\n<record>" LDR "<datafield tag=\"500\" ind1=\"");
    for (int i = 0; i < 300000; i++)
        mf_appends(&d, "0123456789");
    mf_appends(&d, "\"/></record>\n</envelope><record>" LDR "</record>\n</collection>\n");
    for (int seq = 0; seq < 2; seq++) {
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.mode = seq ? MP_MODE_SEQUENTIAL : MP_MODE_PIPELINE;
        o.chunk_size = 64 * 1024;
        mf_seq s;
        double t0 = now();
        read_doc(d.p, d.len, &o, &s);
        cr_assert_lt(now() - t0, 10.0);
        cr_assert_eq(s.end_rc, MP_EOF);
        cr_assert_eq(s.n, 3, "%zu items", s.n);
        cr_assert_eq(s.v[0].rc, MP_ERECORD);
        cr_assert_eq(s.v[0].kind, MP_EK_SYNTAX, "libxml2's depth limit");
        cr_assert_eq(s.v[1].rc, MP_OK, "a 3 MB indicator: its first byte, with a warning");
        cr_assert_eq(s.v[2].rc, MP_OK);
        mf_seq_free(&s);
    }
    /* Over the maximum record size: TOO_BIG, then the next record. */
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.max_record_size = 1024 * 1024;
    mf_seq s;
    read_doc(d.p, d.len, &o, &s);
    cr_assert_eq(s.end_rc, MP_EOF);
    size_t big = 0, good = 0;
    for (size_t i = 0; i < s.n; i++) {
        big += s.v[i].kind == MP_EK_TOO_BIG;
        good += s.v[i].rc == MP_OK;
    }
    cr_assert_geq(big, 1);
    cr_assert_eq(good, 1, "the record after the huge ones");
    mf_seq_free(&s);
    mf_free(&d);
}

Test(hostile, errors_carry_offsets_and_ordinals_and_the_stream_goes_on, .timeout = 30)
{
    const char *pre = "<collection>\n";
    const char *r0 = "<record>" LDR "<controlfield tag=\"001\">a</controlfield></record>";
    const char *r1 = "<record>" LDR "<datafield tag=\"245\"><subfield code=\"a\">x</datafield>"
                     "</record>";
    const char *r2 = "<record>" LDR "<controlfield tag=\"001\">c</controlfield></record>";
    mf_buf d;
    mf_init(&d);
    mf_appends(&d, pre);
    mf_appends(&d, r0);
    mf_appends(&d, "\n");
    size_t off1 = d.len;
    mf_appends(&d, r1);
    mf_appends(&d, "\n");
    mf_appends(&d, r2);
    mf_appends(&d, "\n</collection>\n");
    for (int seq = 0; seq < 2; seq++) {
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.mode = seq ? MP_MODE_SEQUENTIAL : MP_MODE_PIPELINE;
        mp_reader *r;
        cr_assert_eq(mp_reader_open_mem(&r, d.p, d.len, &o), MP_OK);
        const mp_record *rec;
        cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
        cr_assert_eq(mp_reader_next(r, &rec), MP_ERECORD);
        const mp_error_info *e = mp_reader_error(r);
        cr_assert_eq(e->kind, MP_EK_SYNTAX);
        cr_assert_eq(e->offset, off1);
        cr_assert_eq(e->ordinal, 1);
        cr_assert_eq(e->length, strlen(r1));
        cr_assert(strstr(e->message, "record 2 at offset"), "%s", e->message);
        cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
        size_t n;
        cr_assert_eq(*mp_record_control_number(rec, &n), 'c');
        cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
        uint64_t recs, errs, bytes;
        mp_reader_counts(r, &recs, &errs, &bytes);
        /* the units' bytes: the document around the records is no unit */
        cr_assert(recs == 2 && errs == 1 && bytes == strlen(r0) + strlen(r1) + strlen(r2));
        mp_reader_close(r);
    }
    mf_free(&d);
}

/* Cut a document at every offset: the complete records before the cut,
 * then at most one TRUNCATED item (exactly one at the start of the cut
 * record when the cut falls inside one), nothing else. */
static void check_cut(const mf_seq *s, const tf_unit *u, size_t nu, size_t cut, const char *who)
{
    size_t full = 0;
    while (full < nu && u[full].end <= cut)
        full++;
    cr_assert_eq(s->end_rc, MP_EOF, "%s cut %zu", who, cut);
    cr_assert_geq(s->n, full, "%s cut %zu: %zu items", who, cut, s->n);
    cr_assert_leq(s->n, full + 1, "%s cut %zu: %zu items", who, cut, s->n);
    for (size_t i = 0; i < full; i++) {
        cr_assert_eq(s->v[i].rc, MP_OK, "%s cut %zu item %zu", who, cut, i);
        cr_assert_eq(s->v[i].offset, u[i].start);
    }
    int inside = full < nu && u[full].start < cut;
    if (inside)
        cr_assert_eq(s->n, full + 1, "%s cut %zu inside record %zu", who, cut, full);
    if (s->n == full + 1) {
        const mf_item *t = &s->v[full];
        cr_assert_eq(t->rc, MP_ERECORD, "%s cut %zu", who, cut);
        cr_assert_eq(t->kind, MP_EK_TRUNCATED, "%s cut %zu: kind %d", who, cut, t->kind);
        if (inside)
            cr_assert_eq(t->offset, u[full].start, "%s cut %zu", who, cut);
        else
            cr_assert_geq(t->offset, full ? u[full - 1].end : 0);
        cr_assert_eq(t->offset + t->length, cut, "%s cut %zu: the rest", who, cut);
    }
}

Test(hostile, truncation_at_every_offset, .timeout = 600)
{
    size_t cuts = 0;
    mf_buf iso;
    mf_init(&iso);
    mf_sample(&iso, 4, 31, NULL);
    mp_pool *pool;
    cr_assert_eq(mp_pool_create(&pool, 2), MP_OK);
    static const tf_style styles[] = {TF_XML_PREFIXED, TF_XML_OAI};
    for (int k = 0; k < 2; k++) {
        mf_buf x;
        mf_init(&x);
        tf_unit u[8];
        size_t nu = tf_convert(&x, iso.p, iso.len, styles[k], u, 8);
        for (size_t cut = 0; cut <= x.len; cut++, cuts++) {
            mf_seq s;
            mp_reader_options o = MP_READER_OPTIONS_INIT;
            o.format = MP_FORMAT_MARCXML;
            read_doc(x.p, cut, mf_seqopts(&o), &s);
            check_cut(&s, u, nu, cut, "sequential");
            mf_seq_free(&s);
            if (cut % 3 == 0) {
                o.pool = pool;
                o.mode = MP_MODE_PIPELINE;
                o.chunk_size = 64 + (cut % 11) * 53;
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
    mf_buf iso;
    mf_init(&iso);
    mf_sample(&iso, 20, 77, NULL);
    mf_buf x;
    mf_init(&x);
    tf_convert(&x, iso.p, iso.len, TF_XML_OAI, NULL, 0);
    unsigned seed = 12345;
    mp_pool *pool;
    cr_assert_eq(mp_pool_create(&pool, 2), MP_OK);
    for (int m = 0; m < 300; m++) {
        mf_buf d;
        mf_init(&d);
        mf_append(&d, x.p, x.len);
        int edits = 1 + rand_r(&seed) % 8;
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)rand_r(&seed) % d.len;
            d.p[at] = "<>/\"'&;x \n\x00\xff"[rand_r(&seed) % 12];
        }
        mf_seq a, b;
        read_doc(d.p, d.len, mf_seqopts(NULL), &a);
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.pool = pool;
        o.mode = MP_MODE_PIPELINE;
        o.chunk_size = 64 + (size_t)(rand_r(&seed) % 2000);
        read_doc(d.p, d.len, &o, &b);
        cr_assert_eq(a.end_rc, MP_EOF);
        cr_assert_eq(mf_seq_diff(&a, &b), -1, "mutant %d: modes disagree", m);
        size_t good = 0;
        for (size_t i = 0; i < a.n; i++)
            good += a.v[i].rc == MP_OK;
        if (good + (size_t)edits < 20) {
            FILE *fp = fopen("/tmp/mp-mutant.xml", "wb");
            fwrite(d.p, 1, d.len, fp);
            fclose(fp);
        }
        cr_assert_geq(good + (size_t)edits, 20, "mutant %d: %zu good records", m, good);
        mf_seq_free(&a);
        mf_seq_free(&b);
        mf_free(&d);
    }
    cr_assert_eq(mp_pool_destroy(pool), MP_OK);
    mf_free(&x);
    mf_free(&iso);
    cr_log_info("300 mutants: sequential == pipeline, records spared");
}

/* ---- encodings and pymarc's files ------------------------------------------------ */

Test(encoding, a_declared_latin1_document_becomes_utf8, .timeout = 10)
{
    const char *doc = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<collection>"
                      "<record>" LDR "<datafield tag=\"245\"><subfield code=\"a\">caf\xE9"
                      "</subfield></datafield></record></collection>";
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, doc, strlen(doc), NULL), MP_OK);
    const mp_record *rec;
    cr_assert_eq(mp_reader_next(r, &rec), MP_OK, "%s", mp_reader_error(r)->message);
    sub_is(mp_record_first(rec, "245"), 'a', "caf\xC3\xA9");
    mp_reader_close(r);
    doc = "<?xml version=\"1.0\" encoding=\"no-such-charset\"?>\n<record>" LDR "</record>";
    cr_assert_eq(mp_reader_open_mem(&r, doc, strlen(doc), NULL), MP_OK);
    cr_assert_eq(mp_reader_next(r, &rec), MP_ERECORD);
    cr_assert_eq(mp_reader_error(r)->kind, MP_EK_ENCODING);
    mp_reader_close(r);
}

Test(pymarc, batch_xml_and_utf8_xml_read_as_pymarc_reads_them, .timeout = 30)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/pymarc/batch.xml", mf_corpus_dir());
    mp_reader *r;
    if (mp_reader_open_path(&r, path, NULL) != MP_OK) {
        cr_skip_test("%s absent", path);
        return;
    }
    const mp_record *rec;
    cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
    /* pymarc's test_xml.py: 18 fields, 008, 245 0 4 $a $h */
    cr_assert_eq(mp_record_field_count(rec), 18);
    const mp_field *f = mp_record_first(rec, "008");
    cr_assert(f && f->len == 40 &&
              memcmp(f->data, "910926s1957    nyuuun              eng  ", 40) == 0);
    f = mp_record_first(rec, "245");
    cr_assert(f->ind1 == '0' && f->ind2 == '4');
    sub_is(f, 'a', "The Great Ray Charles");
    sub_is(f, 'h', "[sound recording].");
    cr_assert_eq(memcmp(mp_record_leader(rec), "00925njm  22002777a 4500", 24), 0);
    cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
    cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
    mp_reader_close(r);

    snprintf(path, sizeof path, "%s/pymarc/utf8.xml", mf_corpus_dir());
    cr_assert_eq(mp_reader_open_path(&r, path, NULL), MP_OK);
    cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
    cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
    mp_reader_close(r);
}
