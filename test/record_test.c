/*
 * record_test.c - the record API: leader positions, field lookup by tag
 * and pattern, subfields, control number, clones that outlive the reader.
 */
#include <criterion/criterion.h>
#include <string.h>
#include "marcfix.h"

static const char *const fields[] = {
    "001ocm42",           "005 20200101",        "24510$aTitle :$bsub /$cme.",
    "650 0$aCats.$xA$xB", "651 0$aParis.",       "700 1$aSmith, J.",
    "650 7$aDogs.$2fast", "500  $aCaf\xe2\x65.", /* MARC-8 acute + 'e': converted */
};

static mp_reader *open_one(mf_buf *b, mp_encoding enc)
{
    mf_init(b);
    mf_record(b, "cam  224i 4500", fields, 8);
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.threads = 1;
    o.encoding = enc;
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, b->p, b->len, &o), MP_OK);
    return r;
}

Test(record, leader_positions, .timeout = 10)
{
    mf_buf b;
    mp_reader *r = open_one(&b, MP_ENCODING_AUTO);
    const mp_record *rec;
    cr_assert_eq(mp_reader_next(r, &rec), MP_OK, "%s", mp_reader_error(r)->message);
    cr_assert_eq(mp_record_length(rec), b.len);
    cr_assert_eq(mp_record_status(rec), 'c');
    cr_assert_eq(mp_record_type(rec), 'a');
    cr_assert_eq(mp_record_bib_level(rec), 'm');
    cr_assert_eq(mp_record_control_type(rec), ' ');
    cr_assert_eq(mp_record_coding_scheme(rec), ' ');
    cr_assert_eq(mp_record_base_address(rec), 24 + 12 * 8 + 1);
    cr_assert_eq(mp_record_encoding_level(rec), '4');
    cr_assert_eq(mp_record_cataloging_form(rec), 'i');
    cr_assert(memcmp(mp_record_leader(rec) + 20, "4500", 4) == 0);
    size_t len;
    cr_assert(memcmp(mp_record_raw(rec, &len), b.p, b.len) == 0);
    cr_assert_eq(len, b.len);
    cr_assert_eq(mp_record_offset(rec), 0);
    cr_assert_eq(mp_record_ordinal(rec), 0);
    mp_reader_close(r);
    mf_free(&b);
}

Test(record, find_and_subfields, .timeout = 10)
{
    mf_buf b;
    mp_reader *r = open_one(&b, MP_ENCODING_AUTO);
    const mp_record *rec;
    cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
    cr_assert_eq(mp_record_field_count(rec), 8);
    cr_assert_null(mp_record_field(rec, 8));
    uint32_t pos = 0;
    const mp_field *f;
    const char *want[] = {"650", "651", "650"};
    int n = 0;
    while ((f = mp_record_find(rec, "6XX", &pos)) != NULL) {
        cr_assert_str_eq(f->tag, want[n]);
        n++;
    }
    cr_assert_eq(n, 3);
    pos = 0;
    n = 0;
    while ((f = mp_record_find(rec, "650", &pos)) != NULL)
        n++;
    cr_assert_eq(n, 2);
    cr_assert_null(mp_record_first(rec, "999"));
    f = mp_record_first(rec, "6x0");
    cr_assert_str_eq(f->tag, "650");
    uint32_t sp = 0;
    const mp_subfield *s;
    n = 0;
    while ((s = mp_field_subfield(f, 'x', &sp)) != NULL) {
        cr_assert_eq(s->len, 1);
        cr_assert_eq(s->data[0], n ? 'B' : 'A');
        n++;
    }
    cr_assert_eq(n, 2);
    sp = 0;
    cr_assert_null(mp_field_subfield(f, 'z', &sp));
    f = mp_record_first(rec, "005");
    cr_assert(f->is_control);
    cr_assert_eq(f->nsubfields, 0);
    f = mp_record_first(rec, "245");
    cr_assert_eq(f->ind1, '1');
    cr_assert_eq(f->ind2, '0');
    sp = 0;
    s = mp_field_subfield(f, 'b', &sp);
    cr_assert(s && s->len == 5 && memcmp(s->data, "sub /", 5) == 0);
    size_t cl;
    const char *cn = mp_record_control_number(rec, &cl);
    cr_assert(cn && cl == 5 && memcmp(cn, "ocm42", 5) == 0);
    /* MARC-8 converted to UTF-8 (NFC). */
    f = mp_record_first(rec, "500");
    cr_assert_eq(f->subfields[0].len, 6);
    cr_assert(memcmp(f->subfields[0].data, "Caf\xc3\xa9.", 6) == 0);
    mp_reader_close(r);
    mf_free(&b);
}

Test(record, clone_outlives_reader, .timeout = 10)
{
    mf_buf b;
    mp_record *c[2];
    uint64_t h[2];
    for (int enc = 0; enc < 2; enc++) {
        mp_reader *r = open_one(&b, enc ? MP_ENCODING_RAW : MP_ENCODING_AUTO);
        const mp_record *rec;
        cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
        cr_assert_eq(mp_record_clone(rec, &c[enc]), MP_OK);
        h[enc] = mf_record_hash(rec);
        mp_reader_close(r);
        memset(b.p, 'Z', b.len); /* the original bytes are gone */
        mf_free(&b);
    }
    for (int enc = 0; enc < 2; enc++) {
        cr_assert_eq(mf_record_hash(c[enc]), h[enc]);
        size_t cl;
        const char *cn = mp_record_control_number(c[enc], &cl);
        cr_assert(cn && cl == 5 && memcmp(cn, "ocm42", 5) == 0);
        const mp_field *f = mp_record_first(c[enc], "500");
        cr_assert_eq(f->subfields[0].len, enc ? 6u : 6u);
        mp_record *cc;
        cr_assert_eq(mp_record_clone(c[enc], &cc), MP_OK); /* a clone of a clone */
        cr_assert_eq(mf_record_hash(cc), h[enc]);
        mp_record_free(cc);
        mp_record_free(c[enc]);
    }
    mp_record_free(NULL);
}

Test(record, kind_names, .timeout = 10)
{
    cr_assert_str_eq(mp_error_kind_name(MP_EK_TRUNCATED), "TRUNCATED");
    cr_assert_str_eq(mp_error_kind_name(MP_EK_NONE), "NONE");
    cr_assert_str_eq(mp_error_kind_name((mp_error_kind)999), "UNKNOWN");
}

Test(record, tag_patterns_are_validated, .timeout = 10)
{
    static const char *const good[] = {"245", "6XX", "x00", "XXX", "00x", "LDR", "BAS"};
    static const char *const bad[] = {"24",
                                      "2450",
                                      "",
                                      " 45",
                                      "24 ",
                                      "2\x01"
                                      "5",
                                      "24\x7f",
                                      "\xc3\xa9"
                                      "5"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        cr_assert_eq(mp_tag_pattern_check(good[i]), MP_OK, "%s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(mp_tag_pattern_check(bad[i]), MP_EINVAL, "'%s'", bad[i]);
    cr_assert_eq(mp_tag_pattern_check(NULL), MP_EINVAL);

    mf_buf b;
    mp_reader *r = open_one(&b, MP_ENCODING_AUTO);
    const mp_record *rec;
    cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
    /* "2450" used to match the 245 (only 3 characters were read). */
    cr_assert_null(mp_record_first(rec, "2450"));
    cr_assert_null(mp_record_first(rec, "24"));
    cr_assert_null(mp_record_first(rec, NULL));
    cr_assert_not_null(mp_record_first(rec, "245"));
    uint32_t pos = 1;
    cr_assert_null(mp_record_find(rec, "24", &pos));
    cr_assert_eq(pos, mp_record_field_count(rec)); /* as "none left" */
    mp_reader_close(r);
    mf_free(&b);
}

Test(record, field_raw_is_the_body_as_stored, .timeout = 10)
{
    /* MARC-8: the 245 and the 008 are decoded, the others are not. */
    static const char *const fl[] = {"001cn1",
                                     "008a\xe2"
                                     "e",
                                     "020  $a123",
                                     "24510$aCaf\xe2"
                                     "e$bx"};
    mf_buf b;
    mf_init(&b);
    mf_record(&b, "nam  22 a 4500", fl, 4);
    for (int enc = MP_ENCODING_AUTO; enc <= MP_ENCODING_RAW; enc += MP_ENCODING_RAW) {
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.encoding = (mp_encoding)enc;
        mp_reader *r;
        cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
        const mp_record *rec;
        cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
        size_t len;
        const char *p = mp_record_field_raw(rec, 1, &len);
        cr_assert(len == 3 && memcmp(p,
                                     "a\xe2"
                                     "e",
                                     3) == 0);
        p = mp_record_field_raw(rec, 3, &len);
        cr_assert(len == 12 && memcmp(p,
                                      "10\x1f"
                                      "aCaf\xe2"
                                      "e\x1f"
                                      "bx",
                                      12) == 0);
        p = mp_record_field_raw(rec, 2, &len);
        cr_assert_eq(p, mp_record_field(rec, 2)->data); /* not decoded: the same bytes */
        if (enc == MP_ENCODING_AUTO)                    /* decoded: data differs from raw */
            cr_assert_neq(mp_record_field(rec, 3)->data, mp_record_field_raw(rec, 3, NULL));
        cr_assert_null(mp_record_field_raw(rec, 4, &len));
        cr_assert_eq(len, 0);
        mp_record *c;
        cr_assert_eq(mp_record_clone(rec, &c), MP_OK);
        p = mp_record_field_raw(c, 3, &len);
        cr_assert(len == 12 && memcmp(p, "10\x1f", 3) == 0);
        size_t rl;
        const unsigned char *craw = mp_record_raw(c, &rl);
        cr_assert((const unsigned char *)p >= craw && (const unsigned char *)p < craw + rl);
        mp_record_free(c);
        mp_reader_close(r);
    }
    mf_free(&b);
}
