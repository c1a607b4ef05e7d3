/*
 * builder.c - the record builder of the text formats (see builder.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "builder.h"

/* Messages are cut to their buffers on purpose. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define MP__RT 0x1D
#define MP__FT 0x1E
#define MP__SD 0x1F

/* Grows an arena array to hold `want` elements (doubling; the old block
 * stays in the arena until the chunk is recycled). */
static int mp__bld_grow(mp__bld *b, void **arr, size_t *cap, size_t want, size_t elem, size_t align)
{
    if (want <= *cap)
        return 1;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < want)
        n *= 2;
    void *q = mp__arena_alloc(b->a, n * elem, align);
    if (!q) {
        b->oom = 1;
        return 0;
    }
    if (*cap)
        memcpy(q, *arr, *cap * elem);
    *arr = q;
    *cap = n;
    return 1;
}

static int mp__bld_room(mp__bld *b, size_t n)
{
    return mp__bld_grow(b, (void **)&b->d, &b->dcap, b->dlen + n, 1, 1);
}

int mp__bld_init(mp__bld *b, const mp__marc_fmt *fmt, mp__item *item, mp__arena *a,
                 size_t size_hint)
{
    memset(b, 0, sizeof *b);
    b->fmt = fmt;
    b->item = item;
    b->a = a;
    b->utf8 = 1;
    item->result = NULL;
    mp_record *rec = mp__arena_alloc(a, sizeof *rec, _Alignof(mp_record));
    if (!rec)
        return MP_ENOMEM;
    memset(rec, 0, sizeof *rec);
    rec->offset = item->offset;
    rec->unit_len = item->len;
    rec->ordinal = item->ordinal;
    b->rec = rec;
    memset(b->leader, ' ', sizeof b->leader);
    if (!mp__bld_room(b, size_hint + 64))
        return MP_ENOMEM;
    return MP_OK;
}

void mp__bld_error(mp__bld *b, int kind, const char *tag, char sub, const char *fmt, ...)
{
    if (b->rec->err)
        return;
    char msg[sizeof b->rec->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (mp__rec_set_error(b->rec, b->a, kind, tag, sub, "%s", msg) < 0)
        b->oom = 1;
}

void mp__bld_warn(mp__bld *b, int kind, const char *tag, char sub, const char *fmt, ...)
{
    mp_record *rec = b->rec;
    va_list ap;
    if (b->fmt->strict) { /* the warning is the record's error */
        if (rec->err)
            return;
        char msg[sizeof rec->err->msg];
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (mp__rec_set_error(rec, b->a, kind, tag, sub, "%s", msg) < 0)
            b->oom = 1;
        return;
    }
    uint32_t i = rec->nwarns++;
    if (i >= MP_RECORD_WARNINGS_KEPT)
        return; /* counted, not kept */
    if (!mp__bld_grow(b, (void **)&rec->warns, &b->wcap, (size_t)i + 1, sizeof *rec->warns,
                      _Alignof(mp_warning)))
        return;
    rec->warns_cap = (uint32_t)b->wcap;
    mp_warning *w = &rec->warns[i];
    memset(w, 0, sizeof *w);
    w->kind = (mp_error_kind)kind;
    w->offset = rec->offset; /* the unit's start: text formats do not track byte positions */
    if (tag)
        memcpy(w->tag, tag, 3);
    w->subfield = sub;
    va_start(ap, fmt);
    vsnprintf(w->message, sizeof w->message, fmt, ap);
    va_end(ap);
}

/* Closes whatever element is open (a parser that lost its place). */
static void mp__bld_close(mp__bld *b)
{
    switch (b->open) {
    case MP__BLD_LEADER:
        mp__bld_leader_end(b);
        break;
    case MP__BLD_CONTROL:
        mp__bld_control_end(b);
        break;
    case MP__BLD_SUB:
    case MP__BLD_SUB_SKIP:
        mp__bld_sub_end(b);
        mp__bld_data_end(b);
        break;
    case MP__BLD_DATA:
        mp__bld_data_end(b);
        break;
    default:
        break;
    }
}

void mp__bld_leader_begin(mp__bld *b)
{
    mp__bld_close(b);
    b->leader_seen = 1;
    b->leader_len = 0;
    memset(b->leader, ' ', sizeof b->leader);
    b->open = MP__BLD_LEADER;
}

void mp__bld_leader_end(mp__bld *b)
{
    if (b->open != MP__BLD_LEADER)
        return;
    b->open = MP__BLD_NONE;
    if (b->leader_len != 24)
        mp__bld_error(b, MP_EK_LEADER, NULL, 0, "leader is %zu bytes long, not 24", b->leader_len);
}

static void mp__bld_tag(mp__bld *b, char out[4], const char *tag, size_t n)
{
    int bad = !tag || n != 3;
    for (size_t i = 0; i < 3; i++) {
        unsigned char c = tag && i < n ? (unsigned char)tag[i] : '?';
        if (c <= 0x20 || c >= 0x7F) {
            c = '?';
            bad = 1;
        }
        out[i] = (char)c;
    }
    out[3] = 0;
    if (bad) {
        if (!tag)
            mp__bld_error(b, MP_EK_FIELD, out, 0, "field without a tag");
        else
            mp__bld_error(b, MP_EK_FIELD, out, 0, "tag '%.*s' is not 3 printable characters",
                          (int)(n < 16 ? n : 16), tag);
    }
}

static mp__bfield *mp__bld_field(mp__bld *b, const char *tag, size_t n, int is_control)
{
    mp__bld_close(b);
    if (!mp__bld_grow(b, (void **)&b->f, &b->fcap, b->nf + 1, sizeof *b->f, _Alignof(mp__bfield)))
        return NULL;
    mp__bfield *f = &b->f[b->nf++];
    mp__bld_tag(b, f->tag, tag, n);
    f->is_control = (uint8_t)is_control;
    f->start = (uint32_t)b->dlen;
    f->len = 0;
    f->sub0 = (uint32_t)b->ns;
    f->nsub = 0;
    return f;
}

void mp__bld_control_begin(mp__bld *b, const char *tag, size_t n)
{
    if (mp__bld_field(b, tag, n, 1))
        b->open = MP__BLD_CONTROL;
}

/* Ends the open field's body with its terminator. */
static void mp__bld_field_end(mp__bld *b)
{
    mp__bfield *f = &b->f[b->nf - 1];
    f->len = (uint32_t)(b->dlen - f->start);
    if (mp__bld_room(b, 1))
        b->d[b->dlen++] = MP__FT;
    b->open = MP__BLD_NONE;
}

void mp__bld_control_end(mp__bld *b)
{
    if (b->open == MP__BLD_CONTROL)
        mp__bld_field_end(b);
}

void mp__bld_data_begin(mp__bld *b, const char *tag, size_t n)
{
    if (!mp__bld_field(b, tag, n, 0) || !mp__bld_room(b, 2))
        return;
    b->d[b->dlen++] = ' ';
    b->d[b->dlen++] = ' ';
    b->open = MP__BLD_DATA;
}

void mp__bld_indicator(mp__bld *b, int which, const char *p, size_t n)
{
    if (b->nf == 0 || b->f[b->nf - 1].is_control || (which != 1 && which != 2))
        return;
    mp__bfield *f = &b->f[b->nf - 1];
    char c = ' ';
    if (p && n == 0) {
        mp__bld_warn(b, MP_EK_INDICATOR, f->tag, 0,
                     "field %s: indicator %d is empty; read as blank", f->tag, which);
    } else if (p) {
        unsigned char u = (unsigned char)p[0];
        int ok = 1;
        if (u >= 0x80) {
            mp__bld_error(b, MP_EK_INDICATOR, f->tag, 0,
                          "field %s: indicator %d is '%.*s' (not ASCII)", f->tag, which,
                          (int)(n < 8 ? n : 8), p);
            ok = 0;
        } else if (u >= MP__RT && u <= MP__SD) {
            mp__bld_error(b, MP_EK_INDICATOR, f->tag, 0,
                          "field %s: indicator %d is the ISO 2709 delimiter byte 0x%02X", f->tag,
                          which, u);
            ok = 0;
        } else if (u < 0x20 || u == 0x7F) {
            mp__bld_warn(b, MP_EK_INDICATOR, f->tag, 0,
                         "field %s: indicator %d is byte 0x%02X (a control character)", f->tag,
                         which, u);
        }
        if (ok) {
            c = (char)u;
            if (n > 1)
                mp__bld_warn(b, MP_EK_INDICATOR, f->tag, 0,
                             "field %s: indicator %d is '%.*s' (%zu bytes); the first is read",
                             f->tag, which, (int)(n < 8 ? n : 8), p, n);
        }
    }
    b->d[f->start + (size_t)(which - 1)] = (unsigned char)c;
}

void mp__bld_sub_begin(mp__bld *b, const char *code, size_t n)
{
    if (b->open == MP__BLD_SUB || b->open == MP__BLD_SUB_SKIP)
        mp__bld_sub_end(b);
    if (b->open != MP__BLD_DATA)
        return;
    const char *tag = b->f[b->nf - 1].tag;
    unsigned char c = code && n ? (unsigned char)code[0] : 0;
    /* A control character or space is kept with a warning, as in ISO 2709
     * (FRAMING.md, checks 22); no code, a delimiter byte, a non-ASCII byte
     * or more than one character is an error. */
    int usable = code && n && c < 0x80 && (c < MP__RT || c > MP__SD);
    if (!code || n == 0)
        mp__bld_error(b, MP_EK_SUBFIELD, tag, 0, "field %s: subfield without a code", tag);
    else if (n != 1 || !usable)
        mp__bld_error(b, MP_EK_SUBFIELD, tag, usable ? (char)c : 0,
                      "field %s: subfield code '%.*s' is not one ASCII character", tag,
                      (int)(n < 8 ? n : 8), code);
    else if (c <= 0x20 || c == 0x7F)
        mp__bld_warn(b, MP_EK_SUBFIELD, tag, (char)c,
                     "field %s: subfield code is byte 0x%02X (a control character or space)", tag,
                     c);
    if (!usable) {
        b->open = MP__BLD_SUB_SKIP;
        return;
    }
    if (!mp__bld_room(b, 2) ||
        !mp__bld_grow(b, (void **)&b->s, &b->scap, b->ns + 1, sizeof *b->s, _Alignof(mp__bsub)))
        return;
    b->d[b->dlen++] = MP__SD;
    b->d[b->dlen++] = c;
    mp__bsub *s = &b->s[b->ns++];
    s->code = (char)c;
    s->start = (uint32_t)b->dlen;
    s->len = 0;
    b->f[b->nf - 1].nsub++;
    b->open = MP__BLD_SUB;
}

void mp__bld_sub_end(mp__bld *b)
{
    if (b->open == MP__BLD_SUB)
        b->s[b->ns - 1].len = (uint32_t)(b->dlen - b->s[b->ns - 1].start);
    if (b->open == MP__BLD_SUB || b->open == MP__BLD_SUB_SKIP)
        b->open = MP__BLD_DATA;
}

void mp__bld_data_end(mp__bld *b)
{
    if (b->open == MP__BLD_SUB || b->open == MP__BLD_SUB_SKIP)
        mp__bld_sub_end(b);
    if (b->open == MP__BLD_DATA)
        mp__bld_field_end(b);
}

void mp__bld_text(mp__bld *b, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (b->open == MP__BLD_LEADER) {
        if (b->leader_len < 24)
            memcpy(b->leader + b->leader_len, p, n < 24 - b->leader_len ? n : 24 - b->leader_len);
        b->leader_len += n;
        return;
    }
    if (b->open != MP__BLD_CONTROL && b->open != MP__BLD_SUB)
        return;
    if (!mp__bld_room(b, n))
        return;
    unsigned char *o = b->d + b->dlen;
    memcpy(o, p, n);
    b->dlen += n;
    if (b->check_ctl) {
        for (size_t i = 0; i < n; i++) {
            if (o[i] >= MP__RT && o[i] <= MP__SD) {
                const char *tag = b->f[b->nf - 1].tag;
                mp__bld_error(b, MP_EK_FIELD, tag, 0,
                              "field %s: text holds the ISO 2709 delimiter byte 0x%02X", tag, o[i]);
                o[i] = '?';
            }
        }
    }
}

static void mp__digits(unsigned char *o, size_t n, size_t v)
{
    for (size_t i = n; i-- > 0;) {
        o[i] = (unsigned char)('0' + v % 10);
        v /= 10;
    }
}

/* v, or all nines when v does not fit in n digits. */
static void mp__digits_max(unsigned char *o, size_t n, size_t v)
{
    size_t lim = 1;
    for (size_t i = 0; i < n; i++)
        lim *= 10;
    mp__digits(o, n, v < lim ? v : lim - 1);
}

int mp__bld_finish(mp__bld *b)
{
    mp__bld_close(b);
    if (b->oom)
        return MP_ENOMEM;
    mp_record *rec = b->rec;
    size_t nf = b->nf, dir = 12 * nf;
    size_t base = 24 + dir + 1;
    size_t raw_len = base + b->dlen + 1;
    if (raw_len > UINT32_MAX)
        return MP_ENOMEM; /* impossible below max_record_size (<= 4 GiB) */
    unsigned char *raw = mp__arena_alloc(b->a, raw_len, 1);
    char *leader = mp__arena_alloc(b->a, 24, 1);
    mp_field *fields = nf ? mp__arena_alloc(b->a, nf * sizeof *fields, _Alignof(mp_field)) : NULL;
    mp_subfield *subs =
        b->ns ? mp__arena_alloc(b->a, b->ns * sizeof *subs, _Alignof(mp_subfield)) : NULL;
    if (!raw || !leader || (nf && !fields) || (b->ns && !subs))
        return MP_ENOMEM;

    memcpy(leader, b->leader, 24);
    memcpy(raw, b->leader, 24);
    mp__digits_max(raw, 5, raw_len);
    mp__digits_max(raw + 12, 5, base);
    if (b->utf8)
        raw[9] = 'a';
    raw[10] = '2';
    raw[11] = '2';
    memcpy(raw + 20, "4500", 4);
    unsigned char *data = raw + base;
    memcpy(data, b->d, b->dlen);
    raw[base - 1] = MP__FT;
    raw[raw_len - 1] = MP__RT;

    for (size_t i = 0; i < nf; i++) {
        const mp__bfield *bf = &b->f[i];
        unsigned char *e = raw + 24 + 12 * i;
        memcpy(e, bf->tag, 3);
        mp__digits_max(e + 3, 4, (size_t)bf->len + 1);
        mp__digits_max(e + 7, 5, bf->start);
        mp_field *f = &fields[i];
        memcpy(f->tag, bf->tag, 4);
        f->data = (const char *)data + bf->start;
        f->len = bf->len;
        f->is_control = bf->is_control;
        if (bf->is_control) {
            f->ind1 = f->ind2 = ' ';
            f->nsubfields = 0;
            f->subfields = NULL;
            if (!rec->cn && memcmp(bf->tag, "001", 3) == 0) {
                rec->cn = f->data;
                rec->cn_len = f->len;
            }
            continue;
        }
        f->ind1 = (char)data[bf->start];
        f->ind2 = (char)data[bf->start + 1];
        f->nsubfields = bf->nsub;
        f->subfields = bf->nsub ? subs + bf->sub0 : NULL;
        for (uint32_t j = 0; j < bf->nsub; j++) {
            const mp__bsub *bs = &b->s[bf->sub0 + j];
            mp_subfield *s = &subs[bf->sub0 + j];
            s->code = bs->code;
            s->data = (const char *)data + bs->start;
            s->len = bs->len;
        }
    }
    rec->raw = raw;
    rec->raw_len = (uint32_t)raw_len;
    rec->leader = leader;
    rec->fields = fields;
    rec->nfields = (uint32_t)nf;
    return mp__record_done(b->fmt, rec, b->item, b->a);
}
