/*
 * write_internal.h - the serialisers' shared pieces (internal to stages/).
 *
 * A serialiser appends one record to an mp__sink: a growable byte buffer
 * backed either by the heap (mp_record_write, the writer) or by a chunk
 * arena (the parser workers, mp__write_prepare). Serialisers reserve room
 * before each run of writes and then store with plain pointer moves; a
 * failed reservation sets `failed`, and the caller discards the record.
 *
 * Files: write.c (sink, dispatch, mp_writer, mp_convert, worker hook),
 * write_iso2709.c, write_xml.c, write_json.c, write_text.c (MRK, LINE).
 * Everything here is reentrant: a sink belongs to one thread.
 */
#ifndef MP_WRITE_INTERNAL_H
#define MP_WRITE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <marcpipe/write.h>
#include "arena.h"
#include "marc.h"
#include "utf8.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct mp__sink {
    unsigned char *p; /* buffer */
    size_t len, cap;
    mp__arena *arena; /* non-NULL: grow inside this arena */
    size_t hint;      /* first allocation at least this big (an estimate) */
    int failed;       /* a reservation failed: the output is incomplete */
} mp__sink;

/* Grows so that n more bytes fit; 0, or -1 (and failed = 1). */
int mp__sink_grow(mp__sink *s, size_t n);

static inline int mp__sink_reserve(mp__sink *s, size_t n)
{
    return s->cap - s->len >= n ? 0 : mp__sink_grow(s, n);
}

/* Unchecked stores: call after reserving. */
static inline void mp__sink_mem(mp__sink *s, const void *d, size_t n)
{
    if (n)
        memcpy(s->p + s->len, d, n);
    s->len += n;
}

static inline void mp__sink_byte(mp__sink *s, unsigned char c)
{
    s->p[s->len++] = c;
}

#define MP__SINK_LIT(s, lit) mp__sink_mem((s), (lit), sizeof(lit) - 1)

/* Checked append. 0 or -1. */
static inline int mp__sink_put(mp__sink *s, const void *d, size_t n)
{
    if (mp__sink_reserve(s, n) < 0)
        return -1;
    mp__sink_mem(s, d, n);
    return 0;
}

/*
 * One UTF-8 character at s (n >= 1 bytes), by the library's one rule
 * (utf8.h): its length, and the code point in *cp, or U+FFFD for an
 * ill-formed sequence, whose length is then that of its maximal
 * ill-formed subpart - the same replacement as Python's
 * decode('utf-8', 'replace').
 */
static inline size_t mp__u8_step(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t bad = 1, k = mp__utf8_step(s, n, &bad);
    switch (k) {
    case 0:
        *cp = 0xFFFD;
        return bad;
    case 1:
        *cp = s[0];
        break;
    case 2:
        *cp = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3Fu);
        break;
    case 3:
        *cp = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3Fu);
        break;
    default:
        *cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
              ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3Fu);
        break;
    }
    return k;
}

/*
 * Length of the run at d[0..n) that needs no escaping, in the formats
 * that escape: JSON (0x20-0x7E but '"' and '\\'), MARCXML text (0x20-0x7F
 * and TAB, LF but '&' '<' '>'), MARCXML attributes (text's, but '"', TAB,
 * LF too). Bytes >= 0x80 always end a run (they are validated as UTF-8).
 * 16 bytes at a time with SSE2: most text is plain ASCII.
 */
enum mp__run_kind { MP__RUN_JSON, MP__RUN_XML_TEXT, MP__RUN_XML_ATTR };

static inline int mp__run_plain(unsigned char c, int kind)
{
    switch (kind) {
    case MP__RUN_JSON:
        return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
    case MP__RUN_XML_TEXT:
        return ((c >= 0x20 && c < 0x80) || c == '\t' || c == '\n') && c != '&' && c != '<' &&
               c != '>';
    default:
        return c >= 0x20 && c < 0x80 && c != '&' && c != '<' && c != '>' && c != '"';
    }
}

/* Whether the 8 bytes of w hold one that may need escaping (a superset:
 * TAB and LF count for MARCXML text too); exact existence tests, per
 * byte: below 0x20, from 0x80, equal to c (the "has zero byte" trick). */
static inline int mp__word_special(uint64_t w, int kind)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
#define MP__HASZERO(v) (((v)-ones) & ~(v)&high)
#define MP__HASBYTE(c) MP__HASZERO(w ^ (ones * (c)))
    uint64_t bad = (((w - ones * 0x20) & ~w) | w) & high; /* < 0x20 or >= 0x80 */
    if (kind == MP__RUN_JSON)
        bad |= MP__HASBYTE(0x7F) | MP__HASBYTE('"') | MP__HASBYTE('\\');
    else
        bad |= MP__HASBYTE('&') | MP__HASBYTE('<') | MP__HASBYTE('>') |
               (kind == MP__RUN_XML_ATTR ? MP__HASBYTE('"') : 0);
#undef MP__HASBYTE
#undef MP__HASZERO
    return bad != 0;
}

#if defined(__SSE2__)
/* The bytes of v that end a run, as a movemask. */
static inline unsigned mp__bad16(__m128i v, int kind)
{
    const __m128i sp = _mm_set1_epi8(0x20), quot = _mm_set1_epi8('"');
    /* signed compare: bytes >= 0x80 are negative, so "below 0x20" too */
    __m128i bad = _mm_cmplt_epi8(v, sp);
    if (kind == MP__RUN_JSON) {
        bad = _mm_or_si128(
            bad, _mm_or_si128(_mm_cmpeq_epi8(v, quot), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
        bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7F)));
    } else {
        if (kind == MP__RUN_XML_TEXT) /* TAB and LF are text */
            bad = _mm_andnot_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\t')),
                                                _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))),
                                   bad);
        else
            bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, quot));
        bad = _mm_or_si128(bad, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('&')),
                                             _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('<')),
                                                          _mm_cmpeq_epi8(v, _mm_set1_epi8('>')))));
    }
    return (unsigned)_mm_movemask_epi8(bad);
}
#endif

static inline size_t mp__plain_run(const unsigned char *d, size_t n, int kind)
{
    size_t i = 0;
#if defined(__SSE2__)
    for (; i + 16 <= n; i += 16) {
        unsigned m = mp__bad16(_mm_loadu_si128((const __m128i *)(const void *)(d + i)), kind);
        if (m)
            return i + (size_t)__builtin_ctz(m);
    }
    if (i < n && n >= 16) { /* the tail: the last 16 bytes, those before i masked */
        unsigned m =
            mp__bad16(_mm_loadu_si128((const __m128i *)(const void *)(d + n - 16)), kind) >>
            (16 - (n - i));
        return m ? i + (size_t)__builtin_ctz(m) : n;
    }
#endif
    /* short text (or no SSE2): two overlapping words say whether it is all
     * plain; only text that is not is walked byte by byte */
    if (n - i >= 8) {
        uint64_t a, b;
        memcpy(&a, d + i, 8);
        memcpy(&b, d + n - 8, 8);
        if (!mp__word_special(a, kind) && !mp__word_special(b, kind) && n - i <= 16)
            return n;
    } else if (n - i >= 4) {
        uint32_t a, b;
        memcpy(&a, d + i, 4);
        memcpy(&b, d + n - 4, 4);
        if (!mp__word_special((uint64_t)a | (uint64_t)b << 32, kind))
            return n;
    }
    while (i < n && mp__run_plain(d[i], kind))
        i++;
    return i;
}

/*
 * The leader to write: the record's 24 bytes (blanks when shorter), with
 * leader/09 = 'a' when the format says so (see write.h) - `utf8_leader`.
 */
void mp__write_leader(const mp_record *rec, unsigned flags, int utf8_leader, char out[24]);

/* The serialisers: append one record to s. MP_OK, MP_EINVAL, MP_ETOOBIG,
 * or MP_ENOMEM (s->failed). */
int mp__write_iso2709(mp__sink *s, const mp_record *rec, unsigned flags);
int mp__write_marcxml(mp__sink *s, const mp_record *rec, unsigned flags);
int mp__write_json(mp__sink *s, const mp_record *rec, unsigned flags, int newline);
int mp__write_mrk(mp__sink *s, const mp_record *rec, unsigned flags);
int mp__write_line(mp__sink *s, const mp_record *rec, unsigned flags);

/* 1 when the ISO 2709 serialiser writes rec's input bytes unchanged. */
int mp__iso_pristine(const mp_record *rec, unsigned flags);

/* Dispatch by format. MP_EINVAL for a format that cannot be written. */
int mp__write_record(mp__sink *s, const mp_record *rec, int format, unsigned flags);

/* 1 when `format` can be written (ISO2709 .. LINE, not AUTO). */
int mp__write_format_ok(int format);

/*
 * The worker's hook (mp__marc_parse_item): serialises rec into the chunk
 * arena and records the result in rec->out / out_len / out_rc. An arena
 * failure leaves the record unprepared (the consumer serialises it
 * inline). Worker thread that owns the record.
 */
void mp__write_prepare(mp_record *rec, mp__arena *arena, int format, unsigned flags);

#endif
