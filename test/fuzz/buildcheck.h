/*
 * buildcheck.h - the oracle of fuzz_build_write (header-only): build and
 * edit a record as a byte program says, serialise it in every format,
 * read the ISO 2709 back and compare it with what was built.
 *
 * The program is a sequence of operations (one byte: which; then its
 * arguments taken from the following bytes) on an editable record:
 * insert/replace/remove fields, insert/set/remove subfields, set tags,
 * indicators, control data and the leader, copy fields, and make an
 * editable copy of the record (mp_record_edit). Arguments are kept inside
 * the rules of build.h most of the time (so the record grows), but values
 * are raw bytes from the input, separators included: the builder must
 * refuse those with MP_EINVAL and leave the record as it was.
 *
 * Checks, each an abort() (a crash for libFuzzer):
 *  - every edit returns MP_OK or MP_EINVAL (never ENOMEM, never a crash);
 *  - every format serialises (ISO 2709: or refuses with MP_ETOOBIG);
 *    MARCXML and JSON output is valid UTF-8, and MARCXML holds no byte XML
 *    1.0 forbids; a view of the same fields (mp_record_view) gives the
 *    same bytes in every format;
 *  - the ISO 2709 read back (MP_ENCODING_RAW, sequential reader) is one
 *    clean record with the same tags, kinds, indicators, codes and values
 *    (a record without fields: one NO_FIELDS error item with the record).
 * Tags of control fields are "00" + a digit and data fields never start
 * with "00", so the reader's 00X rule gives back the built kinds.
 * Single-threaded.
 */
#ifndef MP_TEST_BUILDCHECK_H
#define MP_TEST_BUILDCHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <marcpipe/marcpipe.h>
#include "utf8.h"

typedef struct bc_in {
    const uint8_t *p;
    size_t n;
} bc_in;

static inline uint8_t bc_byte(bc_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

#define BC_FAIL(...)                                                                               \
    do {                                                                                           \
        fprintf(stderr, "buildcheck: " __VA_ARGS__);                                               \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

/* A value: length byte (scaled), then that many input bytes. */
static inline const char *bc_value(bc_in *in, size_t *len)
{
    uint8_t b = bc_byte(in);
    size_t n = b < 200 ? b : (size_t)(b - 199) * 300; /* now and then a long one */
    if (n > in->n)
        n = in->n;
    const char *v = (const char *)in->p;
    in->p += n;
    in->n -= n;
    *len = n;
    return v;
}

static inline char bc_printable(uint8_t b, uint8_t lo)
{
    return (char)(lo + b % (0x7F - lo));
}

static inline void bc_tag(bc_in *in, int control, char tag[4])
{
    uint8_t a = bc_byte(in), b = bc_byte(in), c = bc_byte(in);
    if (control) {
        tag[0] = '0';
        tag[1] = '0';
        tag[2] = (char)('1' + c % 9);
    } else {
        tag[0] = (char)('1' + a % 9); /* never "00X" */
        tag[1] = bc_printable(b, 0x20);
        tag[2] = bc_printable(c, 0x20);
    }
    tag[3] = 0;
}

/* An index in [0, n] (n: append) or, now and then, out of range. */
static inline uint32_t bc_index(bc_in *in, uint32_t n)
{
    uint8_t b = bc_byte(in);
    if (b == 255)
        return MP_END;
    if (b == 254)
        return n + 1 + b; /* out of range: MP_EINVAL */
    return n ? b % (n + 1) : 0;
}

static inline void bc_ok(int rc, const char *what)
{
    if (rc != MP_OK && rc != MP_EINVAL)
        BC_FAIL("%s returned %s", what, mp_err_name(rc));
}

/* A value with the structural bytes removed (so that edits go through). */
static inline size_t bc_clean(char *dst, const char *v, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] != 0x1E && v[i] != 0x1F)
            dst[k++] = v[i];
    return k;
}

static inline void bc_same(const mp_record *a, const mp_record *b)
{
    uint32_t n = mp_record_field_count(a);
    if (n != mp_record_field_count(b))
        BC_FAIL("read back %u fields, built %u", mp_record_field_count(b), n);
    for (uint32_t i = 0; i < n; i++) {
        const mp_field *f = mp_record_field(a, i), *g = mp_record_field(b, i);
        if (memcmp(f->tag, g->tag, 3) || f->is_control != g->is_control)
            BC_FAIL("field %u: tag %s/%s kind %d/%d", i, f->tag, g->tag, f->is_control,
                    g->is_control);
        if (f->is_control) {
            if (f->len != g->len || memcmp(f->data, g->data, f->len))
                BC_FAIL("field %u: control data differs", i);
            continue;
        }
        if (f->ind1 != g->ind1 || f->ind2 != g->ind2 || f->nsubfields != g->nsubfields)
            BC_FAIL("field %u: indicators or subfield count", i);
        for (uint32_t j = 0; j < f->nsubfields; j++) {
            const mp_subfield *s = &f->subfields[j], *t = &g->subfields[j];
            if (s->code != t->code || s->len != t->len || memcmp(s->data, t->data, s->len))
                BC_FAIL("field %u subfield %u differs", i, j);
        }
    }
}

static inline void bc_valid_utf8(const mp_buf *b, int xml, int format)
{
    for (size_t i = 0; i < b->len;) {
        size_t bad = 1, k = mp__utf8_step(b->data + i, b->len - i, &bad);
        if (k == 0)
            BC_FAIL("format %d: invalid UTF-8 at byte %zu", format, i);
        unsigned char c = b->data[i];
        if (xml && c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            BC_FAIL("MARCXML: byte 0x%02X at %zu", c, i);
        if (xml && k == 3 && c == 0xEF && b->data[i + 1] == 0xBF && b->data[i + 2] >= 0xBE)
            BC_FAIL("MARCXML: U+FFFE/U+FFFF at %zu", i);
        i += k;
    }
}

/* 1 when a value of rec holds a record terminator (0x1D). */
static inline int bc_has_rt(const mp_record *rec)
{
    for (uint32_t i = 0; i < mp_record_field_count(rec); i++) {
        const mp_field *f = mp_record_field(rec, i);
        if (f->is_control && f->len && memchr(f->data, 0x1D, f->len))
            return 1;
        for (uint32_t j = 0; !f->is_control && j < f->nsubfields; j++)
            if (f->subfields[j].len && memchr(f->subfields[j].data, 0x1D, f->subfields[j].len))
                return 1;
    }
    return 0;
}

/* Serialises in every format (the record and a view of its fields) and
 * checks; returns the ISO 2709 bytes in *iso (rc MP_OK) or the refusal. */
static inline int bc_serialise(const mp_record *rec, mp_buf *iso)
{
    static const mp_format fmts[] = {MP_FORMAT_ISO2709, MP_FORMAT_MARCXML, MP_FORMAT_JSON,
                                     MP_FORMAT_NDJSON,  MP_FORMAT_MRK,     MP_FORMAT_LINE};
    static const unsigned flags[] = {0, MP_WRITE_KEEP_LEADER,
                                     MP_WRITE_ASCII | MP_WRITE_JSON_SPACED | MP_WRITE_XML_COMPACT |
                                         MP_WRITE_XML_NAMESPACE};
    mp_record *view = NULL;
    if (mp_record_view(&view, mp_record_leader(rec),
                       mp_record_field_count(rec) ? mp_record_field(rec, 0) : NULL,
                       mp_record_field_count(rec)) != MP_OK)
        BC_FAIL("mp_record_view");
    int iso_rc = MP_OK;
    for (size_t k = 0; k < sizeof fmts / sizeof fmts[0]; k++) {
        for (size_t l = 0; l < sizeof flags / sizeof flags[0]; l++) {
            mp_buf a = MP_BUF_INIT, b = MP_BUF_INIT;
            int ra = mp_record_write(rec, fmts[k], flags[l], &a);
            int rb = mp_record_write(view, fmts[k], flags[l], &b);
            if (ra != rb || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len)))
                BC_FAIL("format %d flags %#x: the view serialises differently", fmts[k], flags[l]);
            /* ISO 2709 refuses what it cannot carry: too big, or a 0x1D in
             * a value followed by a leader-like run (an anchor). */
            if (ra != MP_OK && !(fmts[k] == MP_FORMAT_ISO2709 &&
                                 (ra == MP_ETOOBIG || (ra == MP_EINVAL && bc_has_rt(rec)))))
                BC_FAIL("format %d: %s", fmts[k], mp_err_name(ra));
            if (fmts[k] == MP_FORMAT_MARCXML || fmts[k] == MP_FORMAT_JSON ||
                fmts[k] == MP_FORMAT_NDJSON)
                bc_valid_utf8(&a, fmts[k] == MP_FORMAT_MARCXML, fmts[k]);
            if (fmts[k] == MP_FORMAT_ISO2709 && l == 0) {
                iso_rc = ra;
                if (ra == MP_OK) {
                    *iso = a;
                    a.data = NULL;
                }
            }
            mp_buf_free(&a);
            mp_buf_free(&b);
        }
    }
    mp_record_free(view);
    return iso_rc;
}

static inline void bc_read_back(const mp_record *rec, const mp_buf *iso)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.mode = MP_MODE_SEQUENTIAL;
    o.encoding = MP_ENCODING_RAW;
    mp_reader *r;
    if (mp_reader_open_mem(&r, iso->data, iso->len, &o) != MP_OK)
        BC_FAIL("open");
    const mp_record *back;
    int rc = mp_reader_next(r, &back);
    /* A record without fields is an error item when read (NO_FIELDS, as
     * pymarc's NoFieldsFound: stages/FRAMING.md), with the record. */
    int empty = mp_record_field_count(rec) == 0;
    if (empty && !(rc == MP_ERECORD && back && mp_reader_error(r)->kind == MP_EK_NO_FIELDS))
        BC_FAIL("read back an empty record: %s, not a NO_FIELDS item", mp_err_name(rc));
    if (!empty && rc != MP_OK)
        BC_FAIL("read back: %s: %s", mp_err_name(rc), mp_reader_error(r)->message);
    bc_same(rec, back);
    size_t raw_len;
    const unsigned char *raw = mp_record_raw(back, &raw_len);
    if (raw_len != iso->len || memcmp(raw, iso->data, raw_len))
        BC_FAIL("read back: not the written bytes");
    /* The record as read writes back byte for byte (RAW: as stored). */
    mp_buf again = MP_BUF_INIT;
    if (mp_record_write(back, MP_FORMAT_ISO2709, 0, &again) != MP_OK || again.len != iso->len ||
        memcmp(again.data, iso->data, iso->len))
        BC_FAIL("read back: not written back identically");
    mp_buf_free(&again);
    if (mp_reader_next(r, &back) != MP_EOF)
        BC_FAIL("read back: more than one item");
    mp_reader_close(r);
}

/* Runs the program in data[0..size). Returns 0 (libFuzzer's convention). */
static inline int bc_run(const uint8_t *data, size_t size)
{
    bc_in in = {data, size};
    mp_record *rec;
    if (mp_record_new(&rec) != MP_OK)
        BC_FAIL("new");
    char tmp[70000];
    for (int steps = 0; in.n && steps < 200; steps++) {
        uint8_t op = bc_byte(&in);
        uint32_t nf = mp_record_field_count(rec);
        uint32_t i = nf ? bc_byte(&in) % nf : 0;
        const mp_field *f = nf ? mp_record_field(rec, i) : NULL;
        int dirty = op & 0x80; /* keep the separators in the value: refused */
        size_t len;
        const char *v = bc_value(&in, &len);
        if (!dirty) {
            len = bc_clean(tmp, v, len < sizeof tmp ? len : sizeof tmp);
            v = tmp;
        }
        char tag[4];
        switch (op & 0x7F) {
        case 0:
            bc_tag(&in, 1, tag);
            bc_ok(mp_record_insert_control(rec, bc_index(&in, nf), tag, v, len), "insert_control");
            break;
        case 1:
            bc_tag(&in, 0, tag);
            bc_ok(mp_record_insert_data(rec, bc_index(&in, nf), tag,
                                        bc_printable(bc_byte(&in), 0x20),
                                        bc_printable(bc_byte(&in), 0x20)),
                  "insert_data");
            break;
        case 2:
        case 3:
            if (f && !f->is_control)
                bc_ok(mp_record_insert_subfield(rec, i, bc_index(&in, f->nsubfields),
                                                bc_printable(bc_byte(&in), 0x21), v, len),
                      "insert_subfield");
            break;
        case 4:
            if (f && !f->is_control && f->nsubfields)
                bc_ok(mp_record_set_subfield(rec, i, bc_byte(&in) % f->nsubfields,
                                             bc_printable(bc_byte(&in), 0x21), v, len),
                      "set_subfield");
            break;
        case 5:
            if (f && !f->is_control && f->nsubfields)
                bc_ok(mp_record_remove_subfield(rec, i, bc_byte(&in) % f->nsubfields),
                      "remove_subfield");
            break;
        case 6:
            if (f)
                bc_ok(mp_record_remove_field(rec, i), "remove_field");
            break;
        case 7:
            if (f && !f->is_control)
                bc_ok(mp_record_set_indicators(rec, i, bc_printable(bc_byte(&in), 0x20),
                                               bc_printable(bc_byte(&in), 0x20)),
                      "set_indicators");
            break;
        case 8:
            if (f) {
                bc_tag(&in, f->is_control, tag);
                bc_ok(mp_record_set_tag(rec, i, tag), "set_tag");
            }
            break;
        case 9:
            if (f && f->is_control)
                bc_ok(mp_record_set_data(rec, i, v, len), "set_data");
            break;
        case 10:
            if (len >= 24)
                bc_ok(mp_record_set_leader(rec, v), "set_leader"); /* EINVAL with separators */
            break;
        case 11:
            if (f)
                bc_ok(mp_record_insert_field(rec, bc_index(&in, nf), f), "insert_field");
            break;
        case 12:
            if (f && nf > 1)
                bc_ok(mp_record_replace_field(rec, (i + 1) % nf, f), "replace_field");
            break;
        case 13: {
            mp_record *copy;
            int rc = mp_record_edit(rec, &copy);
            if (rc != MP_OK)
                BC_FAIL("edit: %s", mp_err_name(rc));
            mp_record_free(rec);
            rec = copy;
            break;
        }
        default:
            break;
        }
    }
    mp_buf iso = MP_BUF_INIT;
    if (bc_serialise(rec, &iso) == MP_OK)
        bc_read_back(rec, &iso);
    mp_buf_free(&iso);
    mp_record_free(rec);
    return 0;
}

#endif
