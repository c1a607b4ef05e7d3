/*
 * write_iso2709.c - the ISO 2709 (MARC 21 exchange format) serialiser.
 *
 * A record that can be written as read (mp__iso_pristine: read from
 * ISO 2709, undamaged, unedited, no text decoded, leader/09 already
 * right) is copied byte for byte: that is the round-trip guarantee, and
 * it keeps whatever the input did legally differently from a rebuild
 * (directory order, a Danmarc stray byte). Every other record is rebuilt
 * from its index in two passes: sizes first (so the format's limits are
 * checked before a byte is written and the output is reserved at once),
 * then leader, directory and fields.
 */
#include "write_internal.h"

#define MP__ISO_MAX_RECORD 99999u
#define MP__ISO_MAX_FIELD  9999u

static void mp__digits(unsigned char *o, size_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        o[i] = (unsigned char)('0' + v % 10);
        v /= 10;
    }
}

static int mp__is_sep(unsigned char c)
{
    return c == MP__RT || c == MP__FT || c == MP__SD;
}

/* Size of field f in the output (with its terminator), or 0 when a value
 * holds a byte the format cannot carry there. */
static size_t mp__iso_field_size(const mp_field *f)
{
    if (f->is_control) {
        if (f->len && memchr(f->data, MP__FT, f->len))
            return 0;
        return (size_t)f->len + 1;
    }
    if (mp__is_sep((unsigned char)f->ind1) || mp__is_sep((unsigned char)f->ind2))
        return 0;
    size_t n = 3; /* indicators + terminator */
    for (uint32_t j = 0; j < f->nsubfields; j++) {
        const mp_subfield *s = &f->subfields[j];
        if (mp__is_sep((unsigned char)s->code))
            return 0;
        if (s->len && (memchr(s->data, MP__FT, s->len) || memchr(s->data, MP__SD, s->len)))
            return 0;
        n += 2 + (size_t)s->len;
    }
    return n;
}

int mp__write_iso2709(mp__sink *s, const mp_record *rec, unsigned flags)
{
    if (mp__iso_pristine(rec, flags))
        return mp__sink_put(s, rec->raw, rec->raw_len) < 0 ? MP_ENOMEM : MP_OK;

    size_t data = 0;
    for (uint32_t i = 0; i < rec->nfields; i++) {
        const mp_field *f = &rec->fields[i];
        for (int k = 0; k < 3; k++)
            if (mp__is_sep((unsigned char)f->tag[k]))
                return MP_EINVAL;
        size_t n = mp__iso_field_size(f);
        if (n == 0)
            return MP_EINVAL;
        if (n > MP__ISO_MAX_FIELD)
            return MP_ETOOBIG;
        data += n;
        if (data > MP__ISO_MAX_RECORD)
            return MP_ETOOBIG;
    }
    size_t base = MP__LEADER_LEN + 12 * (size_t)rec->nfields + 1;
    size_t total = base + data + 1;
    if (total > MP__ISO_MAX_RECORD)
        return MP_ETOOBIG;
    if (mp__sink_reserve(s, total) < 0)
        return MP_ENOMEM;

    unsigned char *o = s->p + s->len;
    char leader[MP__LEADER_LEN];
    mp__write_leader(rec, flags, 1, leader);
    for (size_t i = 0; i < MP__LEADER_LEN; i++)
        if (mp__is_sep((unsigned char)leader[i]) || leader[i] == 0)
            leader[i] = ' ';
    memcpy(o, leader, MP__LEADER_LEN);
    mp__digits(o, total, 5);
    o[10] = '2';
    o[11] = '2';
    mp__digits(o + 12, base, 5);
    memcpy(o + 20, "4500", 4);

    unsigned char *dir = o + MP__LEADER_LEN, *d = o + base;
    size_t off = 0;
    for (uint32_t i = 0; i < rec->nfields; i++) {
        const mp_field *f = &rec->fields[i];
        unsigned char *start = d;
        if (f->is_control) {
            if (f->len)
                memcpy(d, f->data, f->len);
            d += f->len;
        } else {
            *d++ = (unsigned char)f->ind1;
            *d++ = (unsigned char)f->ind2;
            for (uint32_t j = 0; j < f->nsubfields; j++) {
                const mp_subfield *sf = &f->subfields[j];
                *d++ = MP__SD;
                *d++ = (unsigned char)sf->code;
                if (sf->len)
                    memcpy(d, sf->data, sf->len);
                d += sf->len;
            }
        }
        *d++ = MP__FT;
        size_t flen = (size_t)(d - start);
        memcpy(dir, f->tag, 3);
        mp__digits(dir + 3, flen, 4);
        mp__digits(dir + 7, off, 5);
        dir += 12;
        off += flen;
    }
    *dir = MP__FT;
    *d++ = MP__RT;
    /* A 0x1D in a value followed by a leader-like run is an anchor: every
     * reader cuts the record there (stages/FRAMING.md, "Anchors"), so the
     * output would not read back as this record. Refused, nothing written.
     * Rare (a record pasted into a value): one memchr over the output. */
    for (unsigned char *q = o + MP__LEADER_LEN, *end = o + total - 1;
         (q = memchr(q, MP__RT, (size_t)(end - q))) != NULL; q++)
        if (mp__marc_anchor(q, (size_t)(o + total - q)))
            return MP_EINVAL;
    s->len += total;
    return MP_OK;
}
