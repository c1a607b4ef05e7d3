/*
 * iso2709_test.c - framing (mp__marc_frame) and parsing
 * (mp__marc_parse_item) on records built in code.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arena.h"
#include "marc.h"
#include "marcfix.h"

static mp__marc_fmt fmt_with(size_t max, int enc)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    mp__marc_fmt f;
    o.max_record_size = max;
    o.encoding = (mp_encoding)enc;
    cr_assert_eq(mp__marc_fmt_init(&f, &o), MP_OK);
    return f;
}

/* Frames a whole buffer the way the sequential reader does; returns the
 * answers (rc, len, kind) in out[]. */
typedef struct fr {
    int rc;
    size_t off, len;
    int kind;
} fr;

static size_t frame_all(const mp__marc_fmt *f, const unsigned char *p, size_t n, fr *out,
                        size_t max_out)
{
    size_t pos = 0, k = 0;
    while (pos < n && k < max_out) {
        mp__frame o;
        mp__frame_rc rc = mp__marc_frame(f, p + pos, n - pos, MP_FINAL_EOF, &o);
        cr_assert_neq(rc, MP_FRAME_NEED, "NEED on a final call at %zu", pos);
        cr_assert(o.len >= 1 && o.len <= n - pos);
        out[k].rc = rc;
        out[k].off = pos;
        out[k].len = o.len;
        out[k].kind = o.kind;
        k++;
        pos += o.len;
    }
    return k;
}

/* The answer never depends on bytes beyond what decides it: for every
 * prefix length, frame says NEED or gives the same answer as with all. */
static void check_prefix_stable(const mp__marc_fmt *f, const unsigned char *p, size_t n)
{
    size_t pos = 0;
    while (pos < n) {
        mp__frame full;
        mp__frame_rc rfull = mp__marc_frame(f, p + pos, n - pos, MP_FINAL_EOF, &full);
        for (size_t a = 1; a <= n - pos; a++) {
            mp__frame o;
            mp__frame_rc r = mp__marc_frame(f, p + pos, a, MP_FINAL_NO, &o);
            if (r == MP_FRAME_NEED) {
                cr_assert_gt(o.len, a, "NEED must ask for more than avail (pos %zu a %zu)", pos, a);
                continue;
            }
            cr_assert_eq(r, rfull, "unstable answer at pos %zu avail %zu", pos, a);
            cr_assert_eq(o.len, full.len, "unstable length at pos %zu avail %zu", pos, a);
            cr_assert_eq(o.kind, full.kind);
        }
        pos += full.len;
    }
}

static void sample(mf_buf *b, unsigned n, size_t *offs)
{
    mf_init(b);
    mf_sample(b, n, 7, offs);
}

Test(frame, clean_records, .timeout = 10)
{
    mf_buf b;
    size_t offs[9];
    sample(&b, 8, offs);
    mp__marc_fmt f = fmt_with(0, MP_ENCODING_RAW);
    fr out[32];
    size_t k = frame_all(&f, b.p, b.len, out, 32);
    cr_assert_eq(k, 8);
    for (size_t i = 0; i < k; i++) {
        cr_assert_eq(out[i].rc, MP_FRAME_RECORD);
        cr_assert_eq(out[i].kind, 0);
        cr_assert_eq(out[i].off, offs[i]);
        cr_assert_eq(out[i].len, offs[i + 1] - offs[i]);
    }
    check_prefix_stable(&f, b.p, b.len);
    mf_free(&b);
}

Test(frame, lying_lengths_resync_on_terminator, .timeout = 10)
{
    mf_buf b;
    size_t offs[7];
    sample(&b, 6, offs);
    mf_set_length(&b, offs[1], "99999"); /* too long */
    mf_set_length(&b, offs[2], "00000"); /* too small */
    mf_set_length(&b, offs[3], "00030"); /* short, inside the record */
    /* record 4: length + 2 (bad_too_long_plus_2) */
    char five[6];
    snprintf(five, sizeof five, "%05zu", offs[5] - offs[4] + 2);
    mf_set_length(&b, offs[4], five);
    mp__marc_fmt f = fmt_with(0, MP_ENCODING_RAW);
    fr out[32];
    size_t k = frame_all(&f, b.p, b.len, out, 32);
    cr_assert_eq(k, 6);
    for (size_t i = 0; i < k; i++) {
        cr_assert_eq(out[i].rc, MP_FRAME_RECORD, "unit %zu", i);
        cr_assert_eq(out[i].off, offs[i]);
        cr_assert_eq(out[i].len, offs[i + 1] - offs[i]);
    }
    cr_assert_eq(out[0].kind, 0);
    cr_assert_eq(out[1].kind, MP_EK_LENGTH);
    cr_assert_eq(out[2].kind, MP_EK_LENGTH);
    cr_assert_eq(out[3].kind, MP_EK_TERMINATOR);
    cr_assert_eq(out[4].kind, MP_EK_LENGTH);
    cr_assert_eq(out[5].kind, 0);
    check_prefix_stable(&f, b.p, b.len);
    mf_free(&b);
}

/* Only a terminator is destroyed: the stated length is trusted because a
 * clean record starts there, so the next record is not swallowed. The
 * last record's terminator is destroyed too: the input ends at its stated
 * length. A short stated length landing in a directory (which looks like
 * a leader but has no terminator where its "length" says) still resyncs. */
Test(frame, damaged_terminator_keeps_next_record, .timeout = 10)
{
    mf_buf b;
    size_t offs[5];
    sample(&b, 4, offs);
    b.p[offs[2] - 1] = 'x'; /* terminator of record 1 */
    b.p[offs[4] - 1] = 'y'; /* terminator of the last record */
    mp__marc_fmt f = fmt_with(0, MP_ENCODING_RAW);
    fr out[32];
    size_t k = frame_all(&f, b.p, b.len, out, 32);
    cr_assert_eq(k, 4);
    for (size_t i = 0; i < k; i++) {
        cr_assert_eq(out[i].rc, MP_FRAME_RECORD, "unit %zu", i);
        cr_assert_eq(out[i].off, offs[i]);
        cr_assert_eq(out[i].len, offs[i + 1] - offs[i]);
    }
    cr_assert_eq(out[0].kind, 0);
    cr_assert_eq(out[1].kind, MP_EK_TERMINATOR);
    cr_assert_eq(out[2].kind, 0);
    cr_assert_eq(out[3].kind, MP_EK_TERMINATOR);
    check_prefix_stable(&f, b.p, b.len);
    mf_free(&b);
}

Test(frame, junk_between_records_and_dos_eof, .timeout = 10)
{
    mf_buf b;
    size_t offs[4];
    sample(&b, 3, offs);
    mf_insert(&b, offs[2], "\r\n", 2);
    mf_insert(&b, offs[1], "garbage 12 \x1d", 12);
    mf_append(&b, "\x1a", 1);
    mp__marc_fmt f = fmt_with(0, MP_ENCODING_RAW);
    fr out[32];
    size_t k = frame_all(&f, b.p, b.len, out, 32);
    cr_assert_eq(k, 6);
    int want_rc[] = {0, 1, 0, 1, 0, 1};
    size_t want_len[] = {offs[1], 12, offs[2] - offs[1], 2, offs[3] - offs[2], 1};
    for (size_t i = 0; i < k; i++) {
        cr_assert_eq(out[i].rc, want_rc[i], "unit %zu", i);
        cr_assert_eq(out[i].len, want_len[i], "unit %zu", i);
        cr_assert_eq(out[i].kind, want_rc[i] ? MP_EK_JUNK : 0, "unit %zu", i);
    }
    check_prefix_stable(&f, b.p, b.len);
    mf_free(&b);
}

Test(frame, junk_only_and_no_terminator, .timeout = 10)
{
    mp__marc_fmt f = fmt_with(0, MP_ENCODING_RAW);
    fr out[64];
    const char *junk = "this is not MARC at all, only text\n";
    size_t k = frame_all(&f, (const unsigned char *)junk, strlen(junk), out, 64);
    cr_assert_eq(k, 1);
    cr_assert_eq(out[0].rc, MP_FRAME_SKIP);
    cr_assert_eq(out[0].kind, MP_EK_JUNK);
    cr_assert_eq(out[0].len, strlen(junk));

    /* A record without its terminator at the end: truncated. */
    mf_buf b;
    size_t offs[3];
    sample(&b, 2, offs);
    b.len--;
    k = frame_all(&f, b.p, b.len, out, 64);
    cr_assert_eq(k, 2);
    cr_assert_eq(out[1].rc, MP_FRAME_SKIP);
    cr_assert_eq(out[1].kind, MP_EK_TRUNCATED);
    cr_assert_eq(out[1].off, offs[1]);
    mf_free(&b);

    /* Long junk is cut into spans of at most MP__JUNK_MAX bytes. */
    mf_init(&b);
    for (int i = 0; i < 200000; i++)
        mf_append(&b, "x", 1);
    k = frame_all(&f, b.p, b.len, out, 64);
    cr_assert_eq(k, 4);
    cr_assert_eq(out[0].len, MP__JUNK_MAX);
    mf_free(&b);
}

Test(frame, too_big_then_resync, .timeout = 10)
{
    mf_buf b;
    mf_init(&b);
    mf_big_record(&b, 5000, 1);
    size_t second = b.len;
    mf_sample(&b, 1, 3, NULL);
    mp__marc_fmt f = fmt_with(4096, MP_ENCODING_RAW);
    fr out[16];
    size_t k = frame_all(&f, b.p, b.len, out, 16);
    cr_assert_geq(k, 3);
    cr_assert_eq(out[0].rc, MP_FRAME_SKIP);
    cr_assert_eq(out[0].kind, MP_EK_TOO_BIG);
    cr_assert_eq(out[0].len, 4096);
    cr_assert_eq(out[k - 1].rc, MP_FRAME_RECORD);
    cr_assert_eq(out[k - 1].off, second);
    /* With more bytes than the maximum available the answer is the same. */
    mp__frame o;
    cr_assert_eq(mp__marc_frame(&f, b.p, b.len, MP_FINAL_NO, &o), MP_FRAME_SKIP);
    cr_assert_eq(o.len, 4096);
    check_prefix_stable(&f, b.p, b.len);
    mf_free(&b);
}

/* A record whose stated length ends on a terminator is clean - unless a
 * terminator inside it is followed by a plausible leader (an anchor): then
 * it ends at its first terminator (LENGTH) and the anchor starts the next
 * unit, so no unit ever contains an anchor (FRAMING.md, "Anchors"). A
 * stray terminator followed by anything else leaves the record whole. */
Test(frame, inner_anchor_ends_the_record, .timeout = 10)
{
    mf_buf b;
    size_t offs[4];
    sample(&b, 3, offs);
    size_t at = offs[1] + 30; /* inside record 1's directory */
    b.p[at] = 0x1D;
    memcpy(b.p + at + 1, "00100nam a2200037 a 4500", 24);
    mp__marc_fmt f = fmt_with(0, MP_ENCODING_RAW);
    fr out[32];
    size_t k = frame_all(&f, b.p, b.len, out, 32);
    cr_assert_geq(k, 4);
    cr_assert_eq(out[0].kind, 0);
    cr_assert_eq(out[1].rc, MP_FRAME_RECORD);
    cr_assert_eq(out[1].off, offs[1]);
    cr_assert_eq(out[1].len, at + 1 - offs[1]);
    cr_assert_eq(out[1].kind, MP_EK_LENGTH);
    cr_assert_eq(out[2].off, at + 1, "the anchor starts a unit");
    cr_assert_eq(out[k - 1].off, offs[2]);
    cr_assert_eq(out[k - 1].kind, 0);
    cr_assert(mp__marc_anchor(b.p + at, b.len - at));
    cr_assert(!mp__marc_anchor(b.p + at, 20), "a leader needs its 24 bytes");
    cr_assert(!mp__marc_anchor(b.p + at + 1, b.len - at - 1), "no terminator before it");
    check_prefix_stable(&f, b.p, b.len);
    mf_free(&b);

    /* A stray terminator before text: the record stays whole and clean. */
    sample(&b, 3, offs);
    at = offs[2] - 3;
    b.p[at] = 0x1D;
    k = frame_all(&f, b.p, b.len, out, 32);
    cr_assert_eq(k, 3);
    cr_assert_eq(out[1].len, offs[2] - offs[1]);
    cr_assert_eq(out[1].kind, 0);
    check_prefix_stable(&f, b.p, b.len);
    mf_free(&b);
}

Test(frame, stable_on_damaged_mix, .timeout = 30)
{
    mf_buf b;
    size_t offs[6];
    sample(&b, 5, offs);
    mf_set_length(&b, offs[3], "99999");
    mf_insert(&b, offs[2], "\x00\x00  \n", 5);
    mf_insert(&b, offs[1], "\x1d\x1d", 2);
    b.p[offs[0] + 14] = 'x'; /* base address of record 0 no longer numeric */
    mp__marc_fmt f = fmt_with(0, MP_ENCODING_RAW);
    check_prefix_stable(&f, b.p, b.len);
    mf_free(&b);
}

/* ---- parsing ------------------------------------------------------------------ */

typedef struct parsed {
    mp__arena a;
    mp__item it;
    mp__marc_fmt f;
    const mp_record *rec;
} parsed;

static void parse(parsed *p, const unsigned char *data, size_t len, int enc)
{
    memset(p, 0, sizeof *p);
    p->f = fmt_with(0, enc);
    mp__arena_init(&p->a, 4096);
    p->it.data = data;
    p->it.len = (uint32_t)len;
    p->it.type = MP_ITEM_RECORD;
    cr_assert_eq(mp__marc_parse_item(&p->f, &p->it, &p->a), MP_OK);
    p->rec = p->it.result;
    cr_assert_not_null(p->rec);
}

static void parse_with(parsed *p, const unsigned char *data, size_t len, const mp_reader_options *o)
{
    memset(p, 0, sizeof *p);
    cr_assert_eq(mp__marc_fmt_init(&p->f, o), MP_OK);
    mp__arena_init(&p->a, 4096);
    p->it.data = data;
    p->it.len = (uint32_t)len;
    p->it.type = MP_ITEM_RECORD;
    cr_assert_eq(mp__marc_parse_item(&p->f, &p->it, &p->a), MP_OK);
    p->rec = p->it.result;
    cr_assert_not_null(p->rec);
}

static void done(parsed *p)
{
    mp__arena_free(&p->a);
}

/* The i-th warning has this kind and tag (tag NULL: ""). */
static void want_warning(const parsed *p, uint32_t i, int kind, const char *tag)
{
    const mp_warning *w = mp_record_warning(p->rec, i);
    cr_assert_not_null(w, "warning %u missing (%u found)", i, mp_record_warning_count(p->rec));
    cr_assert_eq((int)w->kind, kind, "warning %u: kind %s, want %s (%s)", i,
                 mp_error_kind_name(w->kind), mp_error_kind_name((mp_error_kind)kind), w->message);
    cr_assert_str_eq(w->tag, tag ? tag : "", "warning %u: tag %s (%s)", i, w->tag, w->message);
    cr_assert(w->message[0] != '\0');
}

/* Sets the 4-digit length (at 3) or 5-digit start (at 7) of directory
 * entry `e` of the record at b->p to its value + delta. */
static void dir_adjust(mf_buf *b, size_t e, size_t at, int width, int delta)
{
    unsigned char *q = b->p + 24 + 12 * e + at;
    int v = 0;
    for (int i = 0; i < width; i++)
        v = v * 10 + (q[i] - '0');
    char num[16]; /* room for any int: -Wformat-truncation in the TSan build */
    snprintf(num, sizeof num, "%0*d", width, v + delta);
    memcpy(q, num, (size_t)width);
}

static const char *const fields3[] = {"001ocm123", "24510$aThe title /$cby someone.",
                                      "650 0$aCats$xBehavior.$vJuvenile"};

Test(parse, clean_record, .timeout = 10)
{
    mf_buf b;
    mf_init(&b);
    mf_record(&b, NULL, fields3, 3);
    parsed p;
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, 0);
    const mp_record *r = p.rec;
    cr_assert_eq(mp_record_field_count(r), 3);
    const mp_field *f = mp_record_field(r, 0);
    cr_assert(f->is_control);
    cr_assert_eq(f->len, 6);
    cr_assert(memcmp(f->data, "ocm123", 6) == 0);
    f = mp_record_field(r, 1);
    cr_assert_str_eq(f->tag, "245");
    cr_assert_eq(f->ind1, '1');
    cr_assert_eq(f->ind2, '0');
    cr_assert_eq(f->nsubfields, 2);
    cr_assert_eq(f->subfields[0].code, 'a');
    cr_assert_eq(f->subfields[0].len, strlen("The title /"));
    cr_assert(memcmp(f->subfields[1].data, "by someone.", 11) == 0);
    f = mp_record_field(r, 2);
    cr_assert_eq(f->ind1, ' ');
    cr_assert_eq(f->nsubfields, 3);
    size_t cl;
    const char *cn = mp_record_control_number(r, &cl);
    cr_assert_eq(cl, 6);
    cr_assert(memcmp(cn, "ocm123", 6) == 0);
    done(&p);
    mf_free(&b);
}

Test(parse, unordered_directory, .timeout = 10)
{
    mf_buf b;
    mf_init(&b);
    mf_record(&b, NULL, fields3, 3);
    /* Swap directory entries 0 and 2: data stays, order of entries changes. */
    unsigned char tmp[12];
    memcpy(tmp, b.p + 24, 12);
    memcpy(b.p + 24, b.p + 48, 12);
    memcpy(b.p + 48, tmp, 12);
    parsed p;
    parse(&p, b.p, b.len, MP_ENCODING_RAW);
    cr_assert_eq(p.it.status, 0);
    cr_assert_str_eq(mp_record_field(p.rec, 0)->tag, "650");
    cr_assert_str_eq(mp_record_field(p.rec, 2)->tag, "001");
    cr_assert(memcmp(mp_record_field(p.rec, 2)->data, "ocm123", 6) == 0);
    cr_assert_eq(mp_record_field(p.rec, 0)->nsubfields, 3);
    done(&p);
    mf_free(&b);
}

Test(parse, wrong_base_address_falls_back, .timeout = 10)
{
    mf_buf b;
    mf_init(&b);
    mf_record(&b, NULL, fields3, 3);
    memcpy(b.p + 12, "00050", 5);
    parsed p;
    parse(&p, b.p, b.len, MP_ENCODING_RAW);
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_eq(p.rec->err->kind, MP_EK_BASE_ADDRESS);
    cr_assert_eq(mp_record_field_count(p.rec), 3);
    cr_assert_eq(mp_record_field(p.rec, 1)->nsubfields, 2);
    done(&p);
    mf_free(&b);
}

Test(parse, directory_overruns_record, .timeout = 10)
{
    mf_buf b;
    mf_init(&b);
    mf_record(&b, NULL, fields3, 3);
    /* Entry 2 (650): length 0999 overruns. */
    memcpy(b.p + 24 + 24 + 3, "0999", 4);
    parsed p;
    parse(&p, b.p, b.len, MP_ENCODING_RAW);
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_eq(p.rec->err->kind, MP_EK_DIRECTORY);
    cr_assert_str_eq(p.rec->err->tag, "650");
    cr_assert_eq(mp_record_field_count(p.rec), 3);
    cr_assert_eq(mp_record_field(p.rec, 2)->nsubfields, 3); /* ends at its terminator */
    done(&p);
    /* A start beyond the record: the field is dropped. */
    memcpy(b.p + 24 + 24 + 3, "002099999", 9);
    parse(&p, b.p, b.len, MP_ENCODING_RAW);
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_eq(mp_record_field_count(p.rec), 2);
    done(&p);
    mf_free(&b);
}

Test(parse, missing_indicators_and_bad_subfields_warn, .timeout = 10)
{
    static const char *const fl[] = {"001x", "020$a123", "1001 $a", "500  $", "24500junk$aT"};
    mf_buf b;
    mf_init(&b);
    mf_record(&b, NULL, fl, 5);
    parsed p;
    parse(&p, b.p, b.len, MP_ENCODING_RAW);
    /* Readable: delivered as good, with one warning per anomaly. */
    cr_assert_eq(p.it.status, 0);
    cr_assert_null(p.rec->err);
    cr_assert_eq(mp_record_warning_count(p.rec), 3);
    want_warning(&p, 0, MP_EK_INDICATOR, "020");
    want_warning(&p, 1, MP_EK_SUBFIELD, "500");
    want_warning(&p, 2, MP_EK_INDICATOR, "245");
    cr_assert_null(mp_record_warning(p.rec, 3));
    const mp_field *f = mp_record_field(p.rec, 1);
    cr_assert_eq(f->ind1, ' ');
    cr_assert_eq(f->nsubfields, 1);
    cr_assert_eq(f->subfields[0].len, 3);
    f = mp_record_field(p.rec, 2);
    cr_assert_eq(f->nsubfields, 1);
    cr_assert_eq(f->subfields[0].len, 0);
    f = mp_record_field(p.rec, 3);
    cr_assert_eq(f->nsubfields, 0);
    f = mp_record_field(p.rec, 4);
    cr_assert_eq(f->ind1, '0');
    cr_assert_eq(f->ind2, '0');
    cr_assert_eq(f->nsubfields, 1);
    /* Offsets: the 020 body follows "x" + FT; the record is at 0. */
    size_t base = 24 + 5 * 12 + 1;
    cr_assert_eq(mp_record_warning(p.rec, 0)->offset, base + 2);
    done(&p);

    /* strict: the first warning is the record's error. */
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.encoding = MP_ENCODING_RAW;
    o.strict = 1;
    parse_with(&p, b.p, b.len, &o);
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_eq(p.rec->err->kind, MP_EK_INDICATOR);
    cr_assert_str_eq(p.rec->err->tag, "020");
    cr_assert_eq(mp_record_warning_count(p.rec), 0);
    done(&p);
    mf_free(&b);
}

Test(parse, indicator_bytes, .timeout = 10)
{
    static const char *const ctl[] = {"001x", "010\x14\x7f$a1"};
    mf_buf b;
    mf_init(&b);
    mf_record(&b, NULL, ctl, 2);
    parsed p;
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, 0);
    cr_assert_eq(mp_record_warning_count(p.rec), 2);
    want_warning(&p, 0, MP_EK_INDICATOR, "010");
    want_warning(&p, 1, MP_EK_INDICATOR, "010");
    cr_assert_eq(mp_record_field(p.rec, 1)->ind1, 0x14); /* kept as is */
    done(&p);
    mf_free(&b);
    /* A non-ASCII indicator: pymarc cannot read the record either. */
    static const char *const hi[] = {"001x", "010\xe9 $a1"};
    mf_init(&b);
    mf_record(&b, NULL, hi, 2);
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_eq(p.rec->err->kind, MP_EK_INDICATOR);
    done(&p);
    mf_free(&b);
}

Test(parse, empty_subfields_and_odd_codes, .timeout = 10)
{
    static const char *const fl[] = {"001x", "24510$aA$$bB$", "500  $ x$\x1by", "650  $\x7fz"};
    mf_buf b;
    mf_init(&b);
    mf_record(&b, NULL, fl, 4);
    parsed p;
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, 0);
    const mp_field *f = mp_record_field(p.rec, 1);
    cr_assert_eq(f->nsubfields, 2);
    cr_assert_eq(f->subfields[1].code, 'b');
    cr_assert_eq(f->subfields[1].len, 1);
    f = mp_record_field(p.rec, 2);
    cr_assert_eq(f->nsubfields, 2);
    cr_assert_eq(f->subfields[0].code, ' ');
    cr_assert_eq(f->subfields[1].code, 0x1b);
    cr_assert_eq(mp_record_field(p.rec, 3)->subfields[0].code, 0x7f);
    /* empty, trailing, space, ESC, DEL */
    cr_assert_eq(mp_record_warning_count(p.rec), 5);
    for (uint32_t i = 0; i < 5; i++)
        cr_assert_eq(mp_record_warning(p.rec, i)->kind, MP_EK_SUBFIELD);
    cr_assert_eq(mp_record_warning(p.rec, 2)->subfield, ' ');
    /* The empty subfield's warning is at its first delimiter. */
    size_t base = 24 + 4 * 12 + 1, body245 = base + 2;
    cr_assert_eq(mp_record_warning(p.rec, 0)->offset, body245 + 2 + 3);
    done(&p);
    mf_free(&b);
}

Test(parse, non_ascii_subfield_codes, .timeout = 10)
{
    parsed p;
    mf_buf b;
    size_t base = 24 + 2 * 12 + 1;
    /* UTF-8 record, valid: U+00E1 as code -> 'a' (NFKD), the value after it. */
    static const char *const u8[] = {"001x", "24510$\xc3\xa1Title$cMe"};
    mf_init(&b);
    mf_record(&b, NULL, u8, 2);
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, 0, "%s", p.rec->err ? p.rec->err->msg : "");
    const mp_field *f = mp_record_field(p.rec, 1);
    cr_assert_eq(f->nsubfields, 2);
    cr_assert_eq(f->subfields[0].code, 'a');
    cr_assert_eq(f->subfields[0].len, 5);
    cr_assert(memcmp(f->subfields[0].data, "Title", 5) == 0);
    cr_assert_eq(mp_record_warning_count(p.rec), 1);
    want_warning(&p, 0, MP_EK_SUBFIELD, "245");
    cr_assert_eq(mp_record_warning(p.rec, 0)->subfield, 'a');
    cr_assert_eq(mp_record_warning(p.rec, 0)->offset, base + 2 + 2 + 1); /* the code byte */
    done(&p);
    /* Same in RAW mode (no decoding): the same reading. */
    parse(&p, b.p, b.len, MP_ENCODING_RAW);
    cr_assert_eq(mp_record_field(p.rec, 1)->subfields[0].code, 'a');
    cr_assert_eq(mp_record_field(p.rec, 1)->subfields[0].len, 5);
    done(&p);
    mf_free(&b);

    /* UTF-8 record whose code byte is not UTF-8: Latin-1 reading, one byte.
     * pymarc reads it without a decoding error, so strict UTF-8 does too. */
    static const char *const l1[] = {"001x", "24510$\xe1Title"};
    mf_init(&b);
    mf_record(&b, NULL, l1, 2);
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, 0, "%s", p.rec->err ? p.rec->err->msg : "");
    f = mp_record_field(p.rec, 1);
    cr_assert_eq(f->subfields[0].code, 'a');
    cr_assert_eq(f->subfields[0].len, 5);
    cr_assert(memcmp(f->subfields[0].data, "Title", 5) == 0);
    done(&p);
    mf_free(&b);

    /* MARC-8 record: the code byte is not decoded as ANSEL (0xE1 is a
     * combining grave there); it is read as pymarc reads it: 'a'. */
    static const char *const m8[] = {"001x", "24510$\xe1Title$b\xe2"
                                             "e"};
    mf_init(&b);
    mf_record(&b, "nam  22 a 4500", m8, 2);
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, 0, "%s", p.rec->err ? p.rec->err->msg : "");
    f = mp_record_field(p.rec, 1);
    cr_assert_eq(f->nsubfields, 2);
    cr_assert_eq(f->subfields[0].code, 'a');
    cr_assert_eq(f->subfields[0].len, 5);
    cr_assert(memcmp(f->subfields[0].data, "Title", 5) == 0);
    cr_assert_eq(f->subfields[1].code, 'b');
    cr_assert(memcmp(f->subfields[1].data, "\xc3\xa9", 2) == 0); /* é, NFC */
    cr_assert_eq(mp_record_warning_count(p.rec), 1);
    cr_assert_eq(mp_record_warning(p.rec, 0)->offset, base + 2 + 2 + 1);
    done(&p);
    mf_free(&b);

    /* No character of the subfield has an ASCII reading: an error item. */
    static const char *const none[] = {"001x", "24510$\xa9"};
    mf_init(&b);
    mf_record(&b, "nam  22 a 4500", none, 2);
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_eq(p.rec->err->kind, MP_EK_SUBFIELD);
    done(&p);
    mf_free(&b);
    /* ... but a later ASCII character gives the code, as in pymarc. */
    static const char *const later[] = {"001x", "24510$\xa9"
                                                "abc"};
    mf_init(&b);
    mf_record(&b, "nam  22 a 4500", later, 2);
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, 0);
    f = mp_record_field(p.rec, 1);
    cr_assert_eq(f->subfields[0].code, 'a');
    cr_assert_eq(f->subfields[0].len, 3);
    done(&p);
    mf_free(&b);

    /* Invalid UTF-8 elsewhere under replace: the code is read from the raw
     * bytes before the repair (pymarc's rule: the subfield is valid UTF-8,
     * so the code takes the whole character), and the repair's warning
     * points at the raw byte although the code's bytes shrank. */
    static const char *const rep[] = {"001x", "24510$\xc3\xa1Title$b\xffx"};
    mf_init(&b);
    mf_record(&b, NULL, rep, 2);
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.utf8_handling = MP_UTF8_REPLACE;
    parse_with(&p, b.p, b.len, &o);
    cr_assert_eq(p.it.status, 0);
    f = mp_record_field(p.rec, 1);
    cr_assert_eq(f->subfields[0].code, 'a');
    cr_assert_eq(f->subfields[0].len, 5);
    cr_assert(memcmp(f->subfields[1].data, "\xef\xbf\xbdx", 4) == 0);
    cr_assert_eq(mp_record_warning_count(p.rec), 2);
    want_warning(&p, 0, MP_EK_SUBFIELD, "245");
    want_warning(&p, 1, MP_EK_ENCODING, "245");
    cr_assert_eq(mp_record_warning(p.rec, 1)->offset, base + 2 + 2 + 10); /* the 0xFF */
    done(&p);
    mf_free(&b);
    /* The subfield is not valid UTF-8: Latin-1 reading of its first byte
     * (0xC3 is A-tilde: 'A'), as pymarc does. */
    static const char *const lat[] = {"001x", "24510$\xc3\xa1T\xff"};
    mf_init(&b);
    mf_record(&b, NULL, lat, 2);
    parse_with(&p, b.p, b.len, &o);
    cr_assert_eq(p.it.status, 0);
    f = mp_record_field(p.rec, 1);
    cr_assert_eq(f->subfields[0].code, 'A');
    cr_assert_eq(f->subfields[0].len, 7); /* U+FFFD T U+FFFD */
    done(&p);
    mf_free(&b);
}

Test(parse, field_offsets_off_by_characters, .timeout = 10)
{
    /* A producer counted characters, not bytes: the 245 holds a two-byte
     * character, so its stated length is one short and every later field
     * starts one byte early (as in pymarc/bad_subfield_code.dat). */
    static const char *const fl[] = {"001x", "24510$aCaf\xc3\xa9", "260  $aParis", "300  $a1 v."};
    mf_buf b;
    mf_init(&b);
    mf_record(&b, NULL, fl, 4);
    dir_adjust(&b, 1, 3, 4, -1);
    dir_adjust(&b, 2, 7, 5, -1);
    dir_adjust(&b, 3, 7, 5, -1);
    parsed p;
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, 0, "%s", p.rec->err ? p.rec->err->msg : "");
    const mp_field *f = mp_record_field(p.rec, 1);
    cr_assert_eq(f->subfields[0].len, 5);
    f = mp_record_field(p.rec, 2);
    cr_assert_eq(f->ind1, ' ');
    cr_assert_eq(f->nsubfields, 1);
    cr_assert(memcmp(f->subfields[0].data, "Paris", 5) == 0);
    f = mp_record_field(p.rec, 3);
    cr_assert_eq(f->nsubfields, 1);
    cr_assert(memcmp(f->subfields[0].data, "1 v.", 4) == 0);
    cr_assert_eq(mp_record_warning_count(p.rec), 3);
    for (uint32_t i = 0; i < 3; i++)
        cr_assert_eq(mp_record_warning(p.rec, i)->kind, MP_EK_FIELD);
    done(&p);
    mf_free(&b);
}

Test(parse, leader_10_11_empty_directory_and_tags, .timeout = 10)
{
    static const char *const fl[] = {"001x", "24510$aT"};
    mf_buf b;
    parsed p;
    /* Blank: no information, read as 2 and 2 with a warning. */
    mf_init(&b);
    mf_record(&b, "nam a   a 4500", fl, 2);
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, 0);
    want_warning(&p, 0, MP_EK_LEADER, NULL);
    cr_assert_eq(mp_record_warning(p.rec, 0)->offset, 10);
    done(&p);
    mf_free(&b);
    /* Digits: another structure (Danmarc-style 3 indicators): an error. */
    mf_init(&b);
    mf_record(&b, "nam a32 a 4500", fl, 2);
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_eq(p.rec->err->kind, MP_EK_LEADER);
    done(&p);
    mf_free(&b);
    /* No fields at all (pymarc: NoFieldsFound). */
    mf_init(&b);
    mf_record(&b, NULL, fl, 0);
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_eq(p.rec->err->kind, MP_EK_NO_FIELDS);
    done(&p);
    mf_free(&b);
    /* A tag byte that is not printable: the directory is damaged. */
    mf_init(&b);
    mf_record(&b, NULL, fl, 2);
    b.p[24 + 12 + 1] = 0x01;
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_eq(p.rec->err->kind, MP_EK_DIRECTORY);
    done(&p);
    mf_free(&b);
}

Test(parse, text_repairs_warn_strict_text_errs, .timeout = 10)
{
    static const char *const u8[] = {"001x", "24510$aBad \xff byte"};
    mf_buf b;
    parsed p;
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    mf_init(&b);
    mf_record(&b, NULL, u8, 2);
    for (int h = MP_UTF8_STRICT; h <= MP_UTF8_IGNORE; h++) {
        o.utf8_handling = (mp_utf8_handling)h;
        parse_with(&p, b.p, b.len, &o);
        if (h == MP_UTF8_STRICT) {
            cr_assert_eq(p.it.status, MP_ERECORD);
            cr_assert_eq(p.rec->err->kind, MP_EK_ENCODING);
        } else {
            cr_assert_eq(p.it.status, 0);
            want_warning(&p, 0, MP_EK_ENCODING, "245");
            /* base + "x" FT + "10" + "$a" + "Bad " */
            cr_assert_eq(mp_record_warning(p.rec, 0)->offset, 24 + 24 + 1 + 2 + 2 + 2 + 4);
        }
        done(&p);
    }
    mf_free(&b);
    static const char *const m8[] = {"001x", "24510$aBad \xaf byte"};
    mf_init(&b);
    mf_record(&b, "nam  22 a 4500", m8, 2);
    mp_reader_options d = MP_READER_OPTIONS_INIT;
    o = d;
    parse_with(&p, b.p, b.len, &o);
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_eq(p.rec->err->kind, MP_EK_MARC8);
    done(&p);
    o.marc8_replace = 1;
    parse_with(&p, b.p, b.len, &o);
    cr_assert_eq(p.it.status, 0);
    want_warning(&p, 0, MP_EK_MARC8, "245");
    done(&p);
    o.strict = 1; /* strict wins over replace */
    parse_with(&p, b.p, b.len, &o);
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_eq(p.rec->err->kind, MP_EK_MARC8);
    done(&p);
    mf_free(&b);
}

Test(parse, many_warnings_kept_and_counted, .timeout = 10)
{
    /* 100 empty subfields in one field: 100 warnings, 32 kept. */
    char body[5 + 200 + 8];
    strcpy(body, "50010");
    for (int i = 0; i < 100; i++)
        strcat(body, "$");
    strcat(body, "$aend");
    const char *fl[] = {"001x", body};
    mf_buf b;
    mf_init(&b);
    mf_record(&b, NULL, fl, 2);
    parsed p;
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, 0);
    cr_assert_eq(mp_record_warning_count(p.rec), 100);
    cr_assert_not_null(mp_record_warning(p.rec, MP_RECORD_WARNINGS_KEPT - 1));
    cr_assert_null(mp_record_warning(p.rec, MP_RECORD_WARNINGS_KEPT));
    cr_assert_eq(mp_record_field(p.rec, 1)->nsubfields, 1);
    /* A clone keeps them. */
    mp_record *c;
    cr_assert_eq(mp_record_clone(p.rec, &c), MP_OK);
    cr_assert_eq(mp_record_warning_count(c), 100);
    cr_assert_str_eq(mp_record_warning(c, 5)->message, mp_record_warning(p.rec, 5)->message);
    cr_assert_neq(mp_record_warning(c, 5), mp_record_warning(p.rec, 5));
    mp_record_free(c);
    done(&p);
    mf_free(&b);
}

Test(parse, framing_verdict_becomes_error_with_index, .timeout = 10)
{
    mf_buf b;
    mf_init(&b);
    mf_record(&b, NULL, fields3, 3);
    mf_set_length(&b, 0, "99999");
    parsed p;
    memset(&p, 0, sizeof p);
    p.f = fmt_with(0, MP_ENCODING_RAW);
    mp__arena_init(&p.a, 4096);
    p.it.data = b.p;
    p.it.len = (uint32_t)b.len;
    p.it.frame_kind = MP_EK_LENGTH;
    cr_assert_eq(mp__marc_parse_item(&p.f, &p.it, &p.a), MP_OK);
    p.rec = p.it.result;
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_eq(p.rec->err->kind, MP_EK_LENGTH);
    cr_assert_eq(mp_record_field_count(p.rec), 3);
    done(&p);
    mf_free(&b);
}

Test(parse, utf8_strict_and_marc8, .timeout = 10)
{
    static const char *const fl[] = {"001x", "24510$aCaf\xc3\xa9", "500  $aBad \xff byte"};
    mf_buf b;
    mf_init(&b);
    mf_record(&b, NULL, fl, 3);
    parsed p;
    parse(&p, b.p, b.len, MP_ENCODING_AUTO); /* leader/09 'a' */
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_eq(p.rec->err->kind, MP_EK_ENCODING);
    cr_assert_str_eq(p.rec->err->tag, "500");
    done(&p);
    parse(&p, b.p, b.len, MP_ENCODING_RAW);
    cr_assert_eq(p.it.status, 0);
    done(&p);
    mf_free(&b);

    /* MARC-8 (leader/09 blank): ANSEL acute (0xE2) + 'e' -> "e" U+0301. */
    static const char *const m8[] = {"001y", "24510$aCaf\xe2\x65"};
    mf_init(&b);
    mf_record(&b, "nam  22 a 4500", m8, 2);
    parse(&p, b.p, b.len, MP_ENCODING_AUTO);
    cr_assert_eq(p.it.status, 0);
    const mp_field *f = mp_record_field(p.rec, 1);
    cr_assert_eq(f->nsubfields, 1);
    cr_assert_eq(f->ind1, '1');
    /* NFC by default: U+00E9. */
    cr_assert_eq(f->subfields[0].len, 5, "got %u", f->subfields[0].len);
    cr_assert(memcmp(f->subfields[0].data, "Caf\xc3\xa9", 5) == 0);
    cr_assert_eq(f->len, 2 + 2 + 5);
    done(&p);
    mf_free(&b);
}

Test(parse, marc8_fields_decoded_only_where_needed, .timeout = 10)
{
    /* A MARC-8 record decodes only the fields holding an escape or a byte
     * >= 0x80 (mp__text_plain): the others keep their bytes (no copy, no
     * raw body of their own), the escape-only field is decoded (Greek
     * small alpha for 'a' in the Greek set), the mark is composed, and a
     * control field with an escape is decoded too. Long plain fields (32+
     * bytes) test the 16-byte blocks; escapes and marks sit at every
     * block position. */
    for (size_t at = 0; at < 40; at++) {
        char plain[80], esc[96], mark[96], ctl[64];
        memset(plain, 'p', 40);
        snprintf(plain + 40, sizeof plain - 40, "%s", "");
        snprintf(esc, sizeof esc, "500  $a%.*s\x1bga\x1bs%s", (int)at, plain, "z");
        snprintf(mark, sizeof mark, "520  $a%.*s\xe2\x65%s", (int)at, plain, "z");
        snprintf(ctl, sizeof ctl, "005%.*s\x1bga\x1bs", (int)(at % 20), plain);
        char p245[96];
        snprintf(p245, sizeof p245, "24510$a%.*s$bplain", (int)at, plain);
        const char *fl[] = {"001x", ctl, p245, esc, mark};
        mf_buf b;
        mf_init(&b);
        mf_record(&b, "nam  22 a 4500", fl, 5);
        parsed p;
        parse(&p, b.p, b.len, MP_ENCODING_AUTO);
        cr_assert_eq(p.it.status, 0, "at %zu", at);
        const mp_field *c = mp_record_field(p.rec, 1), *t = mp_record_field(p.rec, 2),
                       *e = mp_record_field(p.rec, 3), *m = mp_record_field(p.rec, 4);
        /* the control field: its text, then alpha (U+03B1) */
        cr_assert_eq(c->len, at % 20 + 2, "at %zu: %u", at, c->len);
        cr_assert(memcmp(c->data + at % 20, "\xce\xb1", 2) == 0, "at %zu", at);
        /* the plain field: the record's own bytes */
        cr_assert(t->data >= (const char *)b.p && t->data < (const char *)b.p + b.len, "at %zu",
                  at);
        cr_assert_eq(t->subfields[0].len, at);
        cr_assert_eq(t->subfields[1].len, 5);
        /* the escaped one: at 'p', alpha, 'z' */
        cr_assert_eq(e->subfields[0].len, at + 3, "at %zu: %u", at, e->subfields[0].len);
        cr_assert(memcmp(e->subfields[0].data + at, "\xce\xb1z", 3) == 0, "at %zu", at);
        /* the mark: 'e' + acute composed to U+00E9 */
        cr_assert_eq(m->subfields[0].len, at + 3, "at %zu", at);
        cr_assert(memcmp(m->subfields[0].data + at, "\xc3\xa9z", 3) == 0, "at %zu", at);
        done(&p);
        mf_free(&b);
    }
}

/* ---- hostile directories (issue #16, item 4) ---------------------------------
 * Entries that overlap cost entries x field length: 7,497 entries on one
 * 9,999-byte field took 3.4 s and 592 MB for a 99,989-byte record. The
 * field bytes indexed are now capped at twice the data area (+ 64 KiB). */

Test(parse, overlapping_directory_costs_what_the_record_size_allows, .timeout = 30)
{
    static const size_t entries[] = {7497, 20000};
    for (size_t t = 0; t < 2; t++) {
        mf_buf b;
        mf_init(&b);
        mf_overlap_record(&b, entries[t], 9999, NULL);
        if (t == 0)
            cr_assert_eq(b.len, 99989, "the issue's record");
        parsed p;
        memset(&p, 0, sizeof p);
        p.f = fmt_with(0, MP_ENCODING_AUTO);
        mp__arena_init(&p.a, 4096);
        p.it.data = b.p;
        p.it.len = (uint32_t)b.len;
        p.it.type = MP_ITEM_RECORD;
        p.it.frame_kind = t == 1 ? MP_EK_LENGTH : 0; /* > 99999 bytes: framed as LENGTH */
        cr_assert_eq(mp__marc_parse_item(&p.f, &p.it, &p.a), MP_OK);
        const mp_record *rec = p.it.result;
        cr_assert_not_null(rec);
        cr_assert_eq(p.it.status, MP_ERECORD);
        cr_assert_not_null(rec->err);
        if (t == 0) {
            cr_assert_eq(rec->err->kind, MP_EK_DIRECTORY, "%s", rec->err->msg);
            cr_assert(strstr(rec->err->msg, "overlap"), "%s", rec->err->msg);
        }
        /* 2 x 9,998 + 64 KiB of field bytes: 8 of the fields. */
        cr_assert_eq(mp_record_field_count(rec), 8, "%u fields", mp_record_field_count(rec));
        size_t used = mp__arena_reserved(&p.a);
        cr_assert_leq(used, 16 * b.len, "index of %zu bytes for a %zu-byte record", used, b.len);
        done(&p);
        mf_free(&b);
    }
}

Test(parse, runaway_entries_of_a_huge_record_are_bounded, .timeout = 60)
{
    /* A 7.6 MB record (leader 99999, framed at its terminator) whose many
     * entries all start at the first byte and have no terminator where
     * their length says: each ran to the one field terminator at the end
     * (33 s before the cap). */
    size_t nent = 8000, text = 7600000;
    size_t base = 24 + 12 * nent + 1, total = base + text + 2;
    unsigned char *r = malloc(total);
    cr_assert_not_null(r);
    memcpy(r, "99999nam a22", 12);
    snprintf((char *)r + 12, 6, "%05zu", base > 99999 ? (size_t)99999 : base);
    memcpy(r + 17, " a 4500", 7);
    for (size_t i = 0; i < nent; i++)
        memcpy(r + 24 + 12 * i, "245999900000", 12);
    r[base - 1] = 0x1E;
    memcpy(r + base, "10", 2);
    for (size_t j = 2; j < text; j++)
        r[base + j] = (j % 4 == 2) ? 0x1F : 'q';
    r[total - 2] = 0x1E;
    r[total - 1] = 0x1D;
    parsed p;
    memset(&p, 0, sizeof p);
    p.f = fmt_with(0, MP_ENCODING_AUTO);
    mp__arena_init(&p.a, 65536);
    p.it.data = r;
    p.it.len = (uint32_t)total;
    p.it.type = MP_ITEM_RECORD;
    p.it.frame_kind = MP_EK_LENGTH;
    cr_assert_eq(mp__marc_parse_item(&p.f, &p.it, &p.a), MP_OK);
    const mp_record *rec = p.it.result;
    cr_assert_eq(p.it.status, MP_ERECORD);
    cr_assert_leq(mp_record_field_count(rec), 2);
    size_t used = mp__arena_reserved(&p.a);
    cr_assert_leq(used, 16 * total, "index of %zu bytes for a %zu-byte record", used, total);
    done(&p);
    free(r);
}
