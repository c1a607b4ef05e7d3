/*
 * record.c - the read-only record API (marcpipe/record.h) and clones.
 *
 * Accessors are pure reads of an index that is never written after the
 * worker published it, so any number of threads may read a valid record.
 */
#include <string.h>
#include "alloc.h"
#include "marc.h"

MP_EXPORT const char *mp_error_kind_name(mp_error_kind kind)
{
    switch (kind) {
#define MP__EK_NAME(name, msg)                                                                     \
    case MP_EK_##name:                                                                             \
        return #name;
        MP_ERROR_KIND_MAP(MP__EK_NAME)
#undef MP__EK_NAME
    default:
        return "UNKNOWN";
    }
}

static uint32_t mp__leader_num(const mp_record *rec, size_t at)
{
    uint32_t v = 0;
    for (size_t i = at; i < at + 5; i++) {
        unsigned char c = rec->raw[i];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (c - '0');
    }
    return v;
}

MP_EXPORT const char *mp_record_leader(const mp_record *rec)
{
    return (const char *)rec->raw;
}

MP_EXPORT uint32_t mp_record_length(const mp_record *rec)
{
    return mp__leader_num(rec, 0);
}

MP_EXPORT char mp_record_status(const mp_record *rec)
{
    return (char)rec->raw[5];
}

MP_EXPORT char mp_record_type(const mp_record *rec)
{
    return (char)rec->raw[6];
}

MP_EXPORT char mp_record_bib_level(const mp_record *rec)
{
    return (char)rec->raw[7];
}

MP_EXPORT char mp_record_control_type(const mp_record *rec)
{
    return (char)rec->raw[8];
}

MP_EXPORT char mp_record_coding_scheme(const mp_record *rec)
{
    return (char)rec->raw[9];
}

MP_EXPORT uint32_t mp_record_base_address(const mp_record *rec)
{
    return mp__leader_num(rec, 12);
}

MP_EXPORT char mp_record_encoding_level(const mp_record *rec)
{
    return (char)rec->raw[17];
}

MP_EXPORT char mp_record_cataloging_form(const mp_record *rec)
{
    return (char)rec->raw[18];
}

MP_EXPORT const unsigned char *mp_record_raw(const mp_record *rec, size_t *len)
{
    if (len)
        *len = rec->no_input ? 0 : rec->raw_len;
    return rec->no_input ? NULL : rec->raw;
}

MP_EXPORT uint64_t mp_record_offset(const mp_record *rec)
{
    return rec->offset;
}

MP_EXPORT uint64_t mp_record_ordinal(const mp_record *rec)
{
    return rec->ordinal;
}

MP_EXPORT uint32_t mp_record_field_count(const mp_record *rec)
{
    return rec->nfields;
}

MP_EXPORT const mp_field *mp_record_field(const mp_record *rec, uint32_t i)
{
    return i < rec->nfields ? &rec->fields[i] : NULL;
}

_Static_assert(MP_EK_COUNT <= 32, "mp_counts.warnings_by_kind holds 32 kinds");

static int mp__tag_match(const char *tag, const char *pat)
{
    for (int i = 0; i < 3; i++) {
        if (pat[i] == 'X' || pat[i] == 'x')
            continue;
        if (pat[i] != tag[i])
            return 0;
    }
    return 1;
}

MP_EXPORT int mp_tag_pattern_check(const char *pattern)
{
    if (!pattern)
        return MP_EINVAL;
    for (int i = 0; i < 3; i++)
        if ((unsigned char)pattern[i] <= 0x20 || (unsigned char)pattern[i] >= 0x7F)
            return MP_EINVAL; /* also the NUL of a short pattern */
    return pattern[3] == '\0' ? MP_OK : MP_EINVAL;
}

MP_EXPORT const mp_field *mp_record_find(const mp_record *rec, const char *pattern, uint32_t *pos)
{
    if (mp_tag_pattern_check(pattern) != MP_OK) {
        if (pos)
            *pos = rec->nfields;
        return NULL;
    }
    for (uint32_t i = pos ? *pos : 0; i < rec->nfields; i++) {
        if (mp__tag_match(rec->fields[i].tag, pattern)) {
            if (pos)
                *pos = i + 1;
            return &rec->fields[i];
        }
    }
    if (pos)
        *pos = rec->nfields;
    return NULL;
}

MP_EXPORT const mp_field *mp_record_first(const mp_record *rec, const char *pattern)
{
    uint32_t pos = 0;
    return mp_record_find(rec, pattern, &pos);
}

MP_EXPORT const char *mp_record_control_number(const mp_record *rec, size_t *len)
{
    if (len)
        *len = rec->cn ? rec->cn_len : 0;
    return rec->cn;
}

MP_EXPORT const char *mp_record_field_raw(const mp_record *rec, uint32_t i, size_t *len)
{
    if (!rec || i >= rec->nfields) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (!rec->fraw) {
        if (len)
            *len = rec->fields[i].len;
        return rec->fields[i].data;
    }
    if (len)
        *len = rec->fraw[2 * i + 1];
    return (const char *)rec->raw + rec->fraw[2 * i];
}

MP_EXPORT uint32_t mp_record_warning_count(const mp_record *rec)
{
    return rec ? rec->nwarns : 0;
}

MP_EXPORT const mp_warning *mp_record_warning(const mp_record *rec, uint32_t i)
{
    if (!rec || i >= rec->nwarns || i >= MP_RECORD_WARNINGS_KEPT)
        return NULL;
    return &rec->warns[i];
}

MP_EXPORT const mp_subfield *mp_field_subfield(const mp_field *f, char code, uint32_t *pos)
{
    for (uint32_t i = pos ? *pos : 0; i < f->nsubfields; i++) {
        if (f->subfields[i].code == code) {
            if (pos)
                *pos = i + 1;
            return &f->subfields[i];
        }
    }
    if (pos)
        *pos = f->nsubfields;
    return NULL;
}

/* ---- clones: one allocation holding header, index, raw bytes and text ---- */

/* True when [p, p + len) lies inside [base, base + n). */
static int mp__within(const void *p, size_t len, const void *base, size_t n)
{
    const char *c = p, *b = base;
    return c >= b && len <= n && c <= b + (n - len);
}

static size_t mp__align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

MP_EXPORT void *mp_record_annotate(const mp_record *rec, size_t n)
{
    /* The worker running record_fn owns the record and its chunk arena. */
    mp_record *w = (mp_record *)(uintptr_t)rec;
    if (!w || !w->arena)
        return NULL;
    void *p = mp__arena_alloc(w->arena, n ? n : 1, 8);
    if (!p)
        return NULL;
    w->ann = p;
    w->ann_len = n;
    return p;
}

MP_EXPORT const void *mp_record_annotation(const mp_record *rec, size_t *n)
{
    if (n)
        *n = rec && rec->ann ? rec->ann_len : 0;
    return rec ? rec->ann : NULL;
}

MP_EXPORT int mp_record_clone(const mp_record *rec, mp_record **out)
{
    if (!rec || !out)
        return MP_EINVAL;
    *out = NULL;
    size_t nsubs = 0, text = 0;
    for (uint32_t i = 0; i < rec->nfields; i++) {
        const mp_field *f = &rec->fields[i];
        nsubs += f->nsubfields;
        if (!mp__within(f->data, f->len, rec->raw, rec->raw_len))
            text += f->len;
        for (uint32_t j = 0; j < f->nsubfields; j++) {
            const mp_subfield *s = &f->subfields[j];
            if (!mp__within(s->data, s->len, rec->raw, rec->raw_len) &&
                !mp__within(s->data, s->len, f->data, f->len))
                text += s->len;
        }
    }
    uint32_t nw = rec->nwarns < MP_RECORD_WARNINGS_KEPT ? rec->nwarns : MP_RECORD_WARNINGS_KEPT;
    size_t nraw = rec->fraw ? 2 * (size_t)rec->nfields : 0;
    size_t sz = mp__align8(sizeof(mp_record)) + mp__align8(sizeof(mp__rec_err)) +
                mp__align8(nw * sizeof(mp_warning)) + mp__align8(nraw * sizeof(uint32_t)) +
                mp__align8(rec->nfields * sizeof(mp_field)) +
                mp__align8(nsubs * sizeof(mp_subfield)) + rec->raw_len + text + 1;
    char *mem = mp__malloc(sz);
    if (!mem)
        return MP_ENOMEM;
    mp_record *c = (mp_record *)mem;
    char *p = mem + mp__align8(sizeof(mp_record));
    *c = *rec;
    c->owner = MP__OWN_CLONE;
    c->err = NULL;
    c->arena = NULL;
    c->ann = NULL;
    c->ann_len = 0;
    c->out = NULL;
    c->out_len = 0;
    c->out_rc = 0;
    c->out_format = 0;
    c->out_flags = 0;
    c->edit = NULL;
    if (rec->err) {
        c->err = (mp__rec_err *)p;
        *c->err = *rec->err;
    }
    p += mp__align8(sizeof(mp__rec_err));
    c->warns = NULL;
    c->warns_cap = nw;
    if (nw) {
        c->warns = (mp_warning *)p;
        memcpy(c->warns, rec->warns, nw * sizeof(mp_warning));
    }
    p += mp__align8(nw * sizeof(mp_warning));
    c->fraw = NULL;
    if (nraw) { /* offsets into raw: valid for the copy of raw too */
        c->fraw = (uint32_t *)p;
        memcpy(c->fraw, rec->fraw, nraw * sizeof(uint32_t));
    }
    p += mp__align8(nraw * sizeof(uint32_t));
    mp_field *fields = (mp_field *)p;
    p += mp__align8(rec->nfields * sizeof(mp_field));
    mp_subfield *subs = (mp_subfield *)p;
    p += mp__align8(nsubs * sizeof(mp_subfield));
    unsigned char *raw = (unsigned char *)p;
    memcpy(raw, rec->raw, rec->raw_len);
    p += rec->raw_len;
    c->raw = raw;
    c->fields = rec->nfields ? fields : NULL;
    c->cn = NULL;
    c->cn_len = 0;
    for (uint32_t i = 0; i < rec->nfields; i++) {
        const mp_field *f = &rec->fields[i];
        mp_field *g = &fields[i];
        *g = *f;
        if (mp__within(f->data, f->len, rec->raw, rec->raw_len)) {
            g->data = (const char *)raw + (f->data - (const char *)rec->raw);
        } else {
            if (f->len)
                memcpy(p, f->data, f->len);
            g->data = p;
            p += f->len;
        }
        g->subfields = f->nsubfields ? subs : NULL;
        for (uint32_t j = 0; j < f->nsubfields; j++) {
            const mp_subfield *s = &f->subfields[j];
            mp_subfield *t = subs++;
            *t = *s;
            if (mp__within(s->data, s->len, rec->raw, rec->raw_len)) {
                t->data = (const char *)raw + (s->data - (const char *)rec->raw);
            } else if (mp__within(s->data, s->len, f->data, f->len)) {
                t->data = g->data + (s->data - f->data);
            } else {
                if (s->len)
                    memcpy(p, s->data, s->len);
                t->data = p;
                p += s->len;
            }
        }
        if (!c->cn && g->is_control && memcmp(g->tag, "001", 3) == 0 && rec->cn) {
            c->cn = g->data;
            c->cn_len = g->len;
        }
    }
    *out = c;
    return MP_OK;
}

MP_EXPORT void mp_record_free(mp_record *rec)
{
    if (!rec)
        return;
    switch (rec->owner) {
    case MP__OWN_CLONE:
    case MP__OWN_VIEW:
        mp__free(rec);
        break;
    case MP__OWN_EDIT:
        mp__record_edit_free(rec);
        break;
    default: /* borrowed from a reader: not ours to free */
        break;
    }
}
