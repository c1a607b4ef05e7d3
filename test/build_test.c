/*
 * build_test.c - building and editing records (marcpipe/build.h): every
 * edit, the rules on tags, codes, indicators and values, copy-on-write
 * edits of read records that outlive their reader, views, clones of
 * editable records, and out-of-memory at every allocation leaving the
 * record unchanged.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <marcpipe/marcpipe.h>
#include "alloc.h"
#include "marcfix.h"

static void assert_span(const char *data, uint32_t len, const char *want)
{
    cr_assert_eq(len, strlen(want), "length %u, want %zu (%s)", len, strlen(want), want);
    cr_assert(memcmp(data, want, len) == 0, "got '%.*s', want '%s'", (int)len, data, want);
}

/* "TAG|ind1ind2|$aone$btwo" or "TAG=data": a compact picture of a field. */
static void picture(const mp_field *f, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "%s%s", f->tag, f->is_control ? "=" : "|");
    if (f->is_control) {
        snprintf(out + n, cap - n, "%.*s", (int)f->len, f->data);
        return;
    }
    n += (size_t)snprintf(out + n, cap - n, "%c%c|", f->ind1, f->ind2);
    for (uint32_t j = 0; j < f->nsubfields && n < cap; j++)
        n += (size_t)snprintf(out + n, cap - n, "$%c%.*s", f->subfields[j].code,
                              (int)f->subfields[j].len, f->subfields[j].data);
}

static void assert_fields(const mp_record *rec, const char *const *want, uint32_t n)
{
    cr_assert_eq(mp_record_field_count(rec), n, "field count %u, want %u",
                 mp_record_field_count(rec), n);
    for (uint32_t i = 0; i < n; i++) {
        char got[512];
        picture(mp_record_field(rec, i), got, sizeof got);
        cr_assert_str_eq(got, want[i], "field %u", i);
    }
}

Test(build, new_record_and_every_edit, .timeout = 10)
{
    mp_record *rec;
    cr_assert_eq(mp_record_new(&rec), MP_OK);
    cr_assert(memcmp(mp_record_leader(rec), MP_DEFAULT_LEADER, 24) == 0);
    size_t len = 99;
    cr_assert_null(mp_record_raw(rec, &len), "a built record has no input bytes");
    cr_assert_eq(len, 0);
    cr_assert_eq(mp_record_field_count(rec), 0);

    cr_assert_eq(mp_record_insert_data(rec, MP_END, "245", '1', '0'), MP_OK);
    cr_assert_eq(mp_record_insert_subfield(rec, 0, MP_END, 'a', "Title /", 7), MP_OK);
    cr_assert_eq(mp_record_insert_subfield(rec, 0, MP_END, 'c', "me.", 3), MP_OK);
    cr_assert_eq(mp_record_insert_subfield(rec, 0, 1, 'b', "sub", 3), MP_OK);
    cr_assert_eq(mp_record_insert_control(rec, 0, "001", "cn1", 3), MP_OK);
    cr_assert_eq(mp_record_insert_control(rec, 1, "008", "", 0), MP_OK);
    cr_assert_eq(mp_record_insert_data(rec, 2, "100", ' ', ' '), MP_OK);
    const char *want1[] = {"001=cn1", "008=", "100|  |", "245|10|$aTitle /$bsub$cme."};
    assert_fields(rec, want1, 4);
    size_t cl;
    const char *cn = mp_record_control_number(rec, &cl);
    cr_assert_not_null(cn);
    assert_span(cn, (uint32_t)cl, "cn1");

    /* The body of a data field stays the parsed shape: indicators and
     * 0x1F-delimited subfields, and subfields point into it. */
    const mp_field *f = mp_record_field(rec, 3);
    assert_span(f->data, f->len,
                "10\x1f"
                "aTitle /\x1f"
                "bsub\x1f"
                "cme.");
    cr_assert(f->subfields[1].data == f->data + 2 + 2 + 7 + 2);

    cr_assert_eq(mp_record_set_subfield(rec, 3, 1, 'n', "Part 2", 6), MP_OK);
    cr_assert_eq(mp_record_remove_subfield(rec, 3, 2), MP_OK);
    cr_assert_eq(mp_record_set_indicators(rec, 3, '0', '4'), MP_OK);
    cr_assert_eq(mp_record_set_data(rec, 1, "850101s1984", 11), MP_OK);
    cr_assert_eq(mp_record_set_tag(rec, 2, "700"), MP_OK);
    cr_assert_eq(mp_record_insert_subfield(rec, 2, 0, 'a', "Smith, J.", 9), MP_OK);
    const char *want2[] = {"001=cn1", "008=850101s1984", "700|  |$aSmith, J.",
                           "245|04|$aTitle /$nPart 2"};
    assert_fields(rec, want2, 4);

    /* A value may alias the record itself (copy before free). */
    f = mp_record_field(rec, 3);
    cr_assert_eq(
        mp_record_insert_subfield(rec, 3, MP_END, 'p', f->subfields[0].data, f->subfields[0].len),
        MP_OK);
    f = mp_record_field(rec, 3);
    cr_assert_eq(mp_record_set_subfield(rec, 3, 0, 'a', f->subfields[1].data, 4), MP_OK);
    const char *want3[] = {"001=cn1", "008=850101s1984", "700|  |$aSmith, J.",
                           "245|04|$aPart$nPart 2$pTitle /"};
    assert_fields(rec, want3, 4);

    /* insert_field / replace_field copy any field, also one of this record. */
    cr_assert_eq(mp_record_insert_field(rec, MP_END, mp_record_field(rec, 3)), MP_OK);
    cr_assert_eq(mp_record_replace_field(rec, 2, mp_record_field(rec, 0)), MP_OK);
    cr_assert_eq(mp_record_remove_field(rec, 0), MP_OK);
    const char *want4[] = {"008=850101s1984", "001=cn1", "245|04|$aPart$nPart 2$pTitle /",
                           "245|04|$aPart$nPart 2$pTitle /"};
    assert_fields(rec, want4, 4);
    cn = mp_record_control_number(rec, &cl);
    assert_span(cn, (uint32_t)cl, "cn1");
    cr_assert_eq(mp_record_remove_field(rec, 1), MP_OK);
    cr_assert_null(mp_record_control_number(rec, &cl), "no 001 left");

    cr_assert_eq(mp_record_set_leader(rec, "01234cam a2200289 a 4500"), MP_OK);
    cr_assert_eq(mp_record_type(rec), 'a');
    cr_assert_eq(mp_record_status(rec), 'c');
    cr_assert_eq(mp_record_length(rec), 1234, "the leader is kept as set");

    /* Grow past the initial capacity. */
    for (int i = 0; i < 300; i++)
        cr_assert_eq(mp_record_insert_control(rec, 0, "005", "x", 1), MP_OK);
    cr_assert_eq(mp_record_field_count(rec), 303);
    mp_record_free(rec);
}

Test(build, rules_and_bad_arguments, .timeout = 10)
{
    mp_record *rec;
    cr_assert_eq(mp_record_new(&rec), MP_OK);
    cr_assert_eq(mp_record_insert_data(rec, MP_END, "245", '1', '0'), MP_OK);
    cr_assert_eq(mp_record_insert_control(rec, MP_END, "001", "x", 1), MP_OK);
    /* tags */
    cr_assert_eq(mp_record_insert_control(rec, MP_END,
                                          "0\x1e"
                                          "1",
                                          "x", 1),
                 MP_EINVAL);
    cr_assert_eq(mp_record_insert_control(rec, MP_END, "01", "x", 1), MP_EINVAL, "short tag");
    cr_assert_eq(mp_record_insert_control(rec, MP_END, NULL, "x", 1), MP_EINVAL);
    cr_assert_eq(mp_record_set_tag(rec, 0,
                                   "\x80"
                                   "45"),
                 MP_EINVAL);
    /* values */
    cr_assert_eq(mp_record_insert_control(rec, MP_END, "003",
                                          "a\x1e"
                                          "b",
                                          3),
                 MP_EINVAL);
    cr_assert_eq(mp_record_insert_subfield(rec, 0, MP_END, 'a',
                                           "a\x1f"
                                           "b",
                                           3),
                 MP_EINVAL);
    cr_assert_eq(mp_record_insert_subfield(rec, 0, MP_END, 'a', NULL, 1), MP_EINVAL);
    cr_assert_eq(mp_record_insert_subfield(rec, 0, MP_END, 'a', NULL, 0), MP_OK, "empty value");
    cr_assert_eq(mp_record_insert_subfield(rec, 0, MP_END, 'a',
                                           "a\x1d"
                                           "b",
                                           3),
                 MP_OK, "0x1D is allowed, as in read records");
    /* codes and indicators */
    cr_assert_eq(mp_record_insert_subfield(rec, 0, MP_END, ' ', "x", 1), MP_EINVAL);
    cr_assert_eq(mp_record_insert_subfield(rec, 0, MP_END, '\x1f', "x", 1), MP_EINVAL);
    cr_assert_eq(mp_record_set_indicators(rec, 0, '\t', ' '), MP_EINVAL);
    cr_assert_eq(mp_record_insert_data(rec, MP_END, "500", ' ', '\x7f'), MP_EINVAL);
    /* kinds and indexes */
    cr_assert_eq(mp_record_insert_subfield(rec, 1, MP_END, 'a', "x", 1), MP_EINVAL,
                 "subfields on a control field");
    cr_assert_eq(mp_record_set_data(rec, 0, "x", 1), MP_EINVAL, "control data on a data field");
    cr_assert_eq(mp_record_set_indicators(rec, 1, ' ', ' '), MP_EINVAL);
    cr_assert_eq(mp_record_remove_field(rec, 2), MP_EINVAL);
    cr_assert_eq(mp_record_insert_control(rec, 3, "001", "x", 1), MP_EINVAL);
    cr_assert_eq(mp_record_insert_subfield(rec, 0, 5, 'a', "x", 1), MP_EINVAL);
    cr_assert_eq(mp_record_set_subfield(rec, 0, 2, 'a', "x", 1), MP_EINVAL);
    cr_assert_eq(mp_record_remove_subfield(rec, 0, 2), MP_EINVAL);
    /* leader */
    cr_assert_eq(mp_record_set_leader(rec, "00000nam a2200000 a 45\x1d"
                                           "0"),
                 MP_EINVAL);
    cr_assert_eq(mp_record_set_leader(rec, NULL), MP_EINVAL);
    /* a field from elsewhere that breaks the rules */
    mp_subfield bad = {"v", 1, '\x1e'};
    mp_field g = {"650", NULL, 0, ' ', '0', 0, 1, &bad};
    cr_assert_eq(mp_record_insert_field(rec, MP_END, &g), MP_EINVAL);
    cr_assert_eq(mp_record_replace_field(rec, 0, &g), MP_EINVAL);
    cr_assert_eq(mp_record_field_count(rec), 2, "failed edits change nothing");
    cr_assert_eq(mp_record_field(rec, 0)->nsubfields, 2);
    /* NULL handles */
    cr_assert_eq(mp_record_new(NULL), MP_EINVAL);
    cr_assert_eq(mp_record_edit(rec, NULL), MP_EINVAL);
    mp_record *o = (mp_record *)1;
    cr_assert_eq(mp_record_edit(NULL, &o), MP_EINVAL);
    cr_assert_null(o);
    mp_record_free(rec);
    mp_record_free(NULL);
}

static const char *const sample_fields[] = {
    "001ocm42",           "005 20200101",        "24510$aTitle :$bsub /$cme.",
    "650 0$aCats.$xA$xB", "500  $aCaf\xe2\x65.", /* MARC-8 acute + 'e': converted to UTF-8 */
};

Test(build, edit_a_read_record_outlives_the_reader, .timeout = 10)
{
    mf_buf b;
    mf_init(&b);
    mf_record(&b, "cam  224i 4500", sample_fields, 5);
    mp_reader *r;
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.threads = 1;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    const mp_record *read;
    cr_assert_eq(mp_reader_next(r, &read), MP_OK);
    mp_record *rec, *untouched;
    cr_assert_eq(mp_record_edit(read, &rec), MP_OK);
    cr_assert_eq(mp_record_edit(read, &untouched), MP_OK);
    cr_assert_eq(mp_record_edit((const mp_record *)rec, NULL), MP_EINVAL);
    /* Edits on the borrowed record itself are refused. */
    cr_assert_eq(mp_record_remove_field((mp_record *)(uintptr_t)read, 0), MP_EINVAL);
    mp_reader_close(r);
    memset(b.p, 'Z', b.len); /* nothing may still point into the input */
    mf_free(&b);

    cr_assert(memcmp(mp_record_leader(rec), "00", 2) == 0 && mp_record_status(rec) == 'c');
    const char *want[] = {"001=ocm42", "005= 20200101", "245|10|$aTitle :$bsub /$cme.",
                          "650| 0|$aCats.$xA$xB", "500|  |$aCaf\xc3\xa9."};
    assert_fields(rec, want, 5);
    cr_assert_eq(mp_record_set_subfield(rec, 3, 1, 'y', "1900", 4), MP_OK);
    cr_assert_eq(mp_record_remove_field(rec, 1), MP_OK);
    const char *want2[] = {"001=ocm42", "245|10|$aTitle :$bsub /$cme.", "650| 0|$aCats.$y1900$xB",
                           "500|  |$aCaf\xc3\xa9."};
    assert_fields(rec, want2, 4);
    assert_fields(untouched, want, 5); /* copy-on-write: the other copy is its own */

    /* A clone of an editable record is a frozen, independent copy. */
    mp_record *frozen;
    cr_assert_eq(mp_record_clone(rec, &frozen), MP_OK);
    cr_assert_null(mp_record_raw(frozen, NULL));
    cr_assert_eq(mp_record_set_tag(frozen, 0, "002"), MP_EINVAL, "a clone is not editable");
    cr_assert_eq(mp_record_set_tag(rec, 0, "002"), MP_OK);
    assert_fields(frozen, want2, 4);
    /* An edit of an editable record, too. */
    mp_record *again;
    cr_assert_eq(mp_record_edit(rec, &again), MP_OK);
    mp_record_free(rec);
    cr_assert_str_eq(mp_record_field(again, 0)->tag, "002");
    mp_record_free(again);
    mp_record_free(frozen);
    mp_record_free(untouched);
}

Test(build, views_borrow_the_callers_arrays, .timeout = 10)
{
    mp_subfield subs[] = {{"Title", 5, 'a'}, {"me", 2, 'c'}};
    mp_field fields[] = {
        {"001", "cn9", 3, ' ', ' ', 1, 0, NULL},
        {"245", NULL, 0, '1', '0', 0, 2, subs},
    };
    const char *leader = "00000nam a2200000 a 4500";
    mp_record *v;
    cr_assert_eq(mp_record_view(&v, leader, fields, 2), MP_OK);
    cr_assert_eq(mp_record_field_count(v), 2);
    cr_assert(mp_record_field(v, 1) == &fields[1], "no copy");
    size_t cl;
    assert_span(mp_record_control_number(v, &cl), 3, "cn9");
    cr_assert_eq(mp_record_set_tag(v, 0, "002"), MP_EINVAL, "views are read-only");
    mp_record *e;
    cr_assert_eq(mp_record_edit(v, &e), MP_OK);
    mp_record_free(v);
    memset(subs, 0, sizeof subs);
    const char *want[] = {"001=cn9", "245|10|$aTitle$cme"};
    assert_fields(e, want, 2);
    mp_record_free(e);
    cr_assert_eq(mp_record_view(&v, NULL, fields, 2), MP_EINVAL);
    cr_assert_eq(mp_record_view(&v, leader, NULL, 2), MP_EINVAL);
    cr_assert_eq(mp_record_view(&v, leader, NULL, 0), MP_OK);
    mp_record_free(v);
}

/* One run of edits; returns the first failing code, MP_OK if all passed. */
static int edit_script(mp_record *rec)
{
    int rc;
    if ((rc = mp_record_insert_control(rec, MP_END, "001", "abc", 3)) < 0 ||
        (rc = mp_record_insert_data(rec, MP_END, "245", '1', '0')) < 0 ||
        (rc = mp_record_insert_subfield(rec, 1, MP_END, 'a', "Title", 5)) < 0 ||
        (rc = mp_record_insert_subfield(rec, 1, 0, 'b', "B", 1)) < 0 ||
        (rc = mp_record_set_subfield(rec, 1, 0, 'c', "C", 1)) < 0 ||
        (rc = mp_record_set_indicators(rec, 1, '0', '0')) < 0 ||
        (rc = mp_record_insert_field(rec, 0, mp_record_field(rec, 1))) < 0 ||
        (rc = mp_record_replace_field(rec, 2, mp_record_field(rec, 1))) < 0 ||
        (rc = mp_record_set_data(rec, 1, "xyz", 3)) < 0)
        return rc;
    return MP_OK;
}

Test(build, out_of_memory_at_every_allocation, .timeout = 60)
{
    /* Count the allocations of a clean run, then fail each one in turn:
     * every failure is MP_ENOMEM, and the record holds exactly what the
     * edits before the failure made. */
    mp_record *ref;
    cr_assert_eq(mp_record_new(&ref), MP_OK);
    mp__alloc_fail_at(0);
    uint64_t before = mp__alloc_count();
    cr_assert_eq(edit_script(ref), MP_OK);
    uint64_t total = mp__alloc_count() - before;
    cr_assert_gt(total, 5);
    for (uint64_t k = 1; k <= total; k++) {
        mp_record *rec;
        cr_assert_eq(mp_record_new(&rec), MP_OK);
        mp__alloc_fail_at(k);
        int rc = edit_script(rec);
        mp__alloc_fail_at(0);
        cr_assert_eq(rc, MP_ENOMEM, "allocation %llu: rc %d", (unsigned long long)k, rc);
        /* The record is intact and still editable. */
        cr_assert_leq(mp_record_field_count(rec), 3);
        for (uint32_t i = 0; i < mp_record_field_count(rec); i++)
            cr_assert_not_null(mp_record_field(rec, i)->tag);
        cr_assert_eq(mp_record_insert_control(rec, MP_END, "009", "ok", 2), MP_OK);
        mp_record_free(rec);
    }
    mp_record_free(ref);
    /* mp_record_edit itself. */
    mp_record *src;
    cr_assert_eq(mp_record_new(&src), MP_OK);
    cr_assert_eq(edit_script(src), MP_OK);
    for (uint64_t k = 1; k <= 4; k++) {
        mp_record *e = (mp_record *)1;
        mp__alloc_fail_at(k);
        int rc = mp_record_edit(src, &e);
        mp__alloc_fail_at(0);
        cr_assert_eq(rc, MP_ENOMEM, "edit allocation %llu", (unsigned long long)k);
        cr_assert_null(e);
    }
    mp_record_free(src);
}
