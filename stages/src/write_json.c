/*
 * write_json.c - the MARC-in-JSON serialiser, shaped as pymarc's
 * Record.as_dict(): {"leader": L, "fields": [{"001": "..."}, {"245":
 * {"ind1": "1", "ind2": "0", "subfields": [{"a": "..."}]}}]}.
 *
 * String escaping is Python's json.dumps: \" \\ \n \r \t \b \f and
 * \u00XX for the other C0 controls; with MP_WRITE_ASCII (ensure_ascii)
 * also \u007f and \uXXXX (lowercase hex, surrogate pairs above U+FFFF)
 * for every non-ASCII character. Separators are "," and ":" by default,
 * ", " and ": " with MP_WRITE_JSON_SPACED - so flags ASCII | SPACED |
 * KEEP_LEADER give exactly pymarc's as_json(). Invalid UTF-8 becomes
 * U+FFFD (what Python's decode(..., 'replace') makes of it).
 */
#include "write_internal.h"

static const char mp__hex[] = "0123456789abcdef";

static void mp__u4(mp__sink *s, uint32_t v)
{
    unsigned char *o = s->p + s->len;
    o[0] = '\\';
    o[1] = 'u';
    o[2] = (unsigned char)mp__hex[(v >> 12) & 15];
    o[3] = (unsigned char)mp__hex[(v >> 8) & 15];
    o[4] = (unsigned char)mp__hex[(v >> 4) & 15];
    o[5] = (unsigned char)mp__hex[v & 15];
    s->len += 6;
}

/* d[0..n) to o, n small or not: no library call for the short values
 * most subfields hold (overlapping 8- and 4-byte moves, in bounds). */
static inline void mp__copy(unsigned char *o, const unsigned char *d, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, d, 8);
        memcpy(&b, d + n - 8, 8);
        memcpy(o, &a, 8);
        memcpy(o + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, b;
        memcpy(&a, d, 4);
        memcpy(&b, d + n - 4, 4);
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &b, 4);
    } else if (n < 4) {
        for (size_t k = 0; k < n; k++)
            o[k] = d[k];
    } else {
        memcpy(o, d, n);
    }
}

/* A quoted, escaped JSON string. 0 or -1. Room for the plain case is
 * reserved at once; an escape reserves for itself and the rest, so
 * before every plain copy at least n - i + 1 bytes are free. */
static int mp__json_str(mp__sink *s, const char *text, size_t n, int ascii)
{
    const unsigned char *d = (const unsigned char *)text;
    if (mp__sink_reserve(s, n + 2) < 0)
        return -1;
    size_t i = 0, j = mp__plain_run(d, n, MP__RUN_JSON);
    if (j == n) { /* nothing to escape: the common case, in one piece */
        unsigned char *o = s->p + s->len;
        o[0] = '"';
        mp__copy(o + 1, d, n);
        o[n + 1] = '"';
        s->len += n + 2;
        return 0;
    }
    mp__sink_byte(s, '"');
    for (;; j = mp__plain_run(d + i, n - i, MP__RUN_JSON)) {
        mp__sink_mem(s, d + i, j);
        i += j;
        if (i == n)
            break;
        if (mp__sink_reserve(s, 12 + (n - i) + 1) < 0)
            return -1;
        unsigned char c = d[i];
        if (c < 0x80) {
            i++;
            switch (c) {
            case '"':
                MP__SINK_LIT(s, "\\\"");
                break;
            case '\\':
                MP__SINK_LIT(s, "\\\\");
                break;
            case '\n':
                MP__SINK_LIT(s, "\\n");
                break;
            case '\r':
                MP__SINK_LIT(s, "\\r");
                break;
            case '\t':
                MP__SINK_LIT(s, "\\t");
                break;
            case '\b':
                MP__SINK_LIT(s, "\\b");
                break;
            case '\f':
                MP__SINK_LIT(s, "\\f");
                break;
            case 0x7F:
                if (ascii)
                    mp__u4(s, c);
                else
                    mp__sink_byte(s, c);
                break;
            default:
                mp__u4(s, c);
                break;
            }
            continue;
        }
        uint32_t cp;
        size_t k = mp__u8_step(d + i, n - i, &cp);
        if (ascii) {
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                mp__u4(s, 0xD800 | (v >> 10));
                mp__u4(s, 0xDC00 | (v & 0x3FF));
            } else {
                mp__u4(s, cp);
            }
        } else if (cp == 0xFFFD) { /* also an invalid sequence */
            MP__SINK_LIT(s, "\xEF\xBF\xBD");
        } else {
            mp__sink_mem(s, d + i, k);
        }
        i += k;
    }
    mp__sink_byte(s, '"');
    return 0;
}

/* The item and key separators, each a constant-size store. */
static inline int mp__isep(mp__sink *s, int sp)
{
    return sp ? mp__sink_put(s, ", ", 2) : mp__sink_put(s, ",", 1);
}

static inline int mp__ksep(mp__sink *s, int sp)
{
    return sp ? mp__sink_put(s, ": ", 2) : mp__sink_put(s, ":", 1);
}

/* A byte that stands for itself inside a JSON string. */
static inline int mp__json_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
}

/* Appends a constant of n <= 16 bytes after reserving (unchecked). */
#define MP__PUT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) += sizeof(lit) - 1)

int mp__write_json(mp__sink *s, const mp_record *rec, unsigned flags, int newline)
{
    int ascii = (flags & MP_WRITE_ASCII) != 0;
    int sp = (flags & MP_WRITE_JSON_SPACED) != 0;
    /* Separators: item (", " / ","), key (": " / ":"): mp__isep, mp__ksep. */
    char leader[MP__LEADER_LEN];
    mp__write_leader(rec, flags, 1, leader);

    if (mp__sink_put(s, "{\"leader\"", 9) < 0 || mp__ksep(s, sp) < 0 ||
        mp__json_str(s, leader, MP__LEADER_LEN, ascii) < 0 || mp__isep(s, sp) < 0 ||
        mp__sink_put(s, "\"fields\"", 8) < 0 || mp__ksep(s, sp) < 0 || mp__sink_put(s, "[", 1) < 0)
        return MP_ENOMEM;
    for (uint32_t i = 0; i < rec->nfields; i++) {
        const mp_field *f = &rec->fields[i];
        const unsigned char *t = (const unsigned char *)f->tag;
        /* The common shapes - a tag of three plain characters, plain
         * indicators, one-byte plain codes - are written as constant-size
         * stores into room reserved once; anything else takes mp__json_str. */
        if (mp__sink_reserve(s, 40) < 0)
            return MP_ENOMEM;
        unsigned char *o = s->p + s->len;
        if (i > 0)
            sp ? MP__PUT(o, ", ") : MP__PUT(o, ",");
        if (mp__json_plain(t[0]) && mp__json_plain(t[1]) && mp__json_plain(t[2])) {
            o[0] = '{';
            o[1] = '"';
            o[2] = t[0];
            o[3] = t[1];
            o[4] = t[2];
            o[5] = '"';
            o += 6;
            sp ? MP__PUT(o, ": ") : MP__PUT(o, ":");
            s->len = (size_t)(o - s->p);
        } else {
            s->len = (size_t)(o - s->p);
            if (mp__sink_put(s, "{", 1) < 0 ||
                mp__json_str(s, f->tag, strnlen(f->tag, 3), ascii) < 0 || mp__ksep(s, sp) < 0)
                return MP_ENOMEM;
        }
        if (f->is_control) {
            if (mp__json_str(s, f->data, f->len, ascii) < 0 || mp__sink_put(s, "}", 1) < 0)
                return MP_ENOMEM;
            continue;
        }
        const unsigned char i1 = (unsigned char)f->ind1, i2 = (unsigned char)f->ind2;
        if (mp__json_plain(i1) && mp__json_plain(i2)) {
            if (mp__sink_reserve(s, 48) < 0)
                return MP_ENOMEM;
            o = s->p + s->len;
            if (sp) {
                MP__PUT(o, "{\"ind1\": \"");
                *o++ = i1;
                MP__PUT(o, "\", \"ind2\": \"");
                *o++ = i2;
                MP__PUT(o, "\", \"subfields\": [");
            } else {
                MP__PUT(o, "{\"ind1\":\"");
                *o++ = i1;
                MP__PUT(o, "\",\"ind2\":\"");
                *o++ = i2;
                MP__PUT(o, "\",\"subfields\":[");
            }
            s->len = (size_t)(o - s->p);
        } else if (mp__sink_put(s, "{\"ind1\"", 7) < 0 || mp__ksep(s, sp) < 0 ||
                   mp__json_str(s, &f->ind1, 1, ascii) < 0 || mp__isep(s, sp) < 0 ||
                   mp__sink_put(s, "\"ind2\"", 6) < 0 || mp__ksep(s, sp) < 0 ||
                   mp__json_str(s, &f->ind2, 1, ascii) < 0 || mp__isep(s, sp) < 0 ||
                   mp__sink_put(s, "\"subfields\"", 11) < 0 || mp__ksep(s, sp) < 0 ||
                   mp__sink_put(s, "[", 1) < 0) {
            return MP_ENOMEM;
        }
        for (uint32_t j = 0; j < f->nsubfields; j++) {
            const mp_subfield *sf = &f->subfields[j];
            const unsigned char c = (unsigned char)sf->code;
            if (mp__json_plain(c)) { /* [", "]{"c": */
                if (mp__sink_reserve(s, 16 + (size_t)sf->len) < 0)
                    return MP_ENOMEM;
                o = s->p + s->len;
                if (j > 0)
                    sp ? MP__PUT(o, ", ") : MP__PUT(o, ",");
                o[0] = '{';
                o[1] = '"';
                o[2] = c;
                o[3] = '"';
                o[4] = ':';
                o[5] = ' ';
                o += sp ? 6 : 5;
                const unsigned char *d = (const unsigned char *)sf->data;
                if (mp__plain_run(d, sf->len, MP__RUN_JSON) == sf->len) { /* "value"} */
                    o[0] = '"';
                    mp__copy(o + 1, d, sf->len);
                    o += 1 + sf->len;
                    o[0] = '"';
                    o[1] = '}';
                    s->len = (size_t)(o + 2 - s->p);
                    continue;
                }
                s->len = (size_t)(o - s->p);
            } else if ((j > 0 && mp__isep(s, sp) < 0) || mp__sink_put(s, "{", 1) < 0 ||
                       mp__json_str(s, &sf->code, 1, ascii) < 0 || mp__ksep(s, sp) < 0) {
                return MP_ENOMEM;
            }
            if (mp__json_str(s, sf->data, sf->len, ascii) < 0 || mp__sink_put(s, "}", 1) < 0)
                return MP_ENOMEM;
        }
        if (mp__sink_put(s, "]}}", 3) < 0)
            return MP_ENOMEM;
    }
    if (mp__sink_put(s, "]}", 2) < 0 || (newline && mp__sink_put(s, "\n", 1) < 0))
        return MP_ENOMEM;
    return MP_OK;
}
