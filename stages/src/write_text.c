/*
 * write_text.c - the two text formats: MARCMaker (MRK, as pymarc's
 * str(record) and TextWriter) and yaz-marcdump's line format (what
 * `marcpipe dump` prints). Both show the leader as stored and carry the
 * record's bytes as they are (no validation: they are for reading).
 */
#include "write_internal.h"

/* Room for a field's fixed parts; values are reserved as they come. */
#define MP__TEXT_FIELD_FIXED 16

static unsigned char mp__mrk_blank(char c)
{
    return c == ' ' || c == '\\' ? '\\' : (unsigned char)c;
}

int mp__write_mrk(mp__sink *s, const mp_record *rec, unsigned flags)
{
    char leader[MP__LEADER_LEN];
    mp__write_leader(rec, flags, 0, leader);
    if (mp__sink_reserve(s, 6 + MP__LEADER_LEN + 1) < 0)
        return MP_ENOMEM;
    MP__SINK_LIT(s, "=LDR  ");
    mp__sink_mem(s, leader, MP__LEADER_LEN);
    mp__sink_byte(s, '\n');
    for (uint32_t i = 0; i < rec->nfields; i++) {
        const mp_field *f = &rec->fields[i];
        if (mp__sink_reserve(s, MP__TEXT_FIELD_FIXED) < 0)
            return MP_ENOMEM;
        mp__sink_byte(s, '=');
        mp__sink_mem(s, f->tag, strnlen(f->tag, 3));
        MP__SINK_LIT(s, "  ");
        if (f->is_control) {
            if (mp__sink_reserve(s, (size_t)f->len + 1) < 0)
                return MP_ENOMEM;
            unsigned char *o = s->p + s->len;
            for (uint32_t k = 0; k < f->len; k++) /* MARCMaker: blanks as '\' */
                o[k] = f->data[k] == ' ' ? '\\' : (unsigned char)f->data[k];
            s->len += f->len;
        } else {
            mp__sink_byte(s, mp__mrk_blank(f->ind1));
            mp__sink_byte(s, mp__mrk_blank(f->ind2));
            for (uint32_t j = 0; j < f->nsubfields; j++) {
                const mp_subfield *sf = &f->subfields[j];
                if (mp__sink_reserve(s, (size_t)sf->len + 3) < 0)
                    return MP_ENOMEM;
                mp__sink_byte(s, '$');
                mp__sink_byte(s, (unsigned char)sf->code);
                mp__sink_mem(s, sf->data, sf->len);
            }
            if (mp__sink_reserve(s, 1) < 0)
                return MP_ENOMEM;
        }
        mp__sink_byte(s, '\n');
    }
    return MP_OK;
}

int mp__write_line(mp__sink *s, const mp_record *rec, unsigned flags)
{
    char leader[MP__LEADER_LEN];
    mp__write_leader(rec, flags, 0, leader);
    if (mp__sink_reserve(s, MP__LEADER_LEN + 1) < 0)
        return MP_ENOMEM;
    mp__sink_mem(s, leader, MP__LEADER_LEN);
    mp__sink_byte(s, '\n');
    for (uint32_t i = 0; i < rec->nfields; i++) {
        const mp_field *f = &rec->fields[i];
        if (mp__sink_reserve(s, MP__TEXT_FIELD_FIXED) < 0)
            return MP_ENOMEM;
        mp__sink_mem(s, f->tag, 3);
        mp__sink_byte(s, ' ');
        if (f->is_control) {
            if (mp__sink_put(s, f->data, f->len) < 0)
                return MP_ENOMEM;
        } else {
            mp__sink_byte(s, (unsigned char)f->ind1);
            mp__sink_byte(s, (unsigned char)f->ind2);
            for (uint32_t j = 0; j < f->nsubfields; j++) {
                const mp_subfield *sf = &f->subfields[j];
                if (mp__sink_reserve(s, (size_t)sf->len + 4) < 0)
                    return MP_ENOMEM;
                MP__SINK_LIT(s, " $");
                mp__sink_byte(s, (unsigned char)sf->code);
                mp__sink_byte(s, ' ');
                mp__sink_mem(s, sf->data, sf->len);
            }
        }
        if (mp__sink_put(s, "\n", 1) < 0)
            return MP_ENOMEM;
    }
    if (mp__sink_put(s, "\n", 1) < 0)
        return MP_ENOMEM;
    return MP_OK;
}
