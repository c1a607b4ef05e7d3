/*
 * utf8.c - UTF-8 validation and repair (see text.h).
 *
 * Well-formedness is utf8.h's (Unicode 15 table 3-7). Repair replaces each
 * maximal subpart of an ill-formed sequence with one U+FFFD (Unicode's
 * "substitution of maximal subparts", what Python's
 * bytes.decode('utf-8', 'replace') does) or drops it. Pure and reentrant.
 */
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>
#include <marcpipe/common.h>
#include <marcpipe/reader.h>
#include "text.h"
#include "utf8.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include "utf8_avx2.h"

int mp__utf8_simd = 1; /* tests: 0 compares with the byte rule alone */

#if defined(MP_U8_AVX2)
/* 1 when in[0..n) is well-formed UTF-8. Needs AVX2 (the caller checks). */
MP__AVX2 static int u8_valid_avx2(const unsigned char *in, size_t n)
{
    mp__u8v st;
    unsigned char tail[64];
    size_t i = 0;

    mp__u8v_init(&st);
    for (;;) {
        __m256i v0, v1; /* the last step: the rest, then zeros (see mp__u8v_step) */
        int last = mp__avx2_load64(in, n, i, tail, &v0, &v1);
        mp__u8v_step(&st, v0, v1, _mm256_movemask_epi8(_mm256_or_si256(v0, v1)) == 0);
        if (last)
            break;
        i += 64;
    }
    return mp__u8v_ok(&st);
}
#endif

/* Index of the first ill-formed byte in in[0..n), or n. */
static inline __attribute__((always_inline)) size_t u8_first_bad(const unsigned char *in, size_t n)
{
    const uint64_t hi = 0x8080808080808080ull;
    size_t i = 0, bad;

    while (i < n) {
        /* ASCII 64 bytes at a time, then 16 (SSE2), straight to the
         * first byte >= 0x80 of a block; then 8, then one. */
#if defined(__SSE2__)
        while (i + 64 <= n) { /* long ASCII runs: 64 bytes per test */
            const __m128i *q = (const __m128i *)(const void *)(in + i);
            __m128i a = _mm_or_si128(_mm_loadu_si128(q), _mm_loadu_si128(q + 1));
            __m128i b = _mm_or_si128(_mm_loadu_si128(q + 2), _mm_loadu_si128(q + 3));
            if (_mm_movemask_epi8(_mm_or_si128(a, b)))
                break;
            i += 64;
        }
        while (i + 16 <= n) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
            unsigned m = (unsigned)_mm_movemask_epi8(v);
            if (m) {
                i += (unsigned)__builtin_ctz(m);
                goto lead;
            }
            i += 16;
        }
#endif
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, in + i, 8);
            if (w & hi)
                break;
            i += 8;
        }
        while (i < n && in[i] < 0x80)
            i++;
        if (i >= n)
            break;
#if defined(__SSE2__)
    lead:
#endif
        /* a run of non-ASCII characters (the common two-byte sequence of
         * Latin, Greek, Cyrillic inline), then back to the blocks */
        do {
            if (in[i] >= 0xC2 && in[i] < 0xE0 && i + 1 < n && (in[i + 1] & 0xC0) == 0x80) {
                i += 2;
                continue;
            }
            size_t l = mp__utf8_step(in + i, n - i, &bad);
            if (!l)
                return i;
            i += l;
        } while (i < n && in[i] >= 0x80);
    }
    return n;
}

/* Repairs in[from..n) into dst (or only measures it when dst is NULL). */
static size_t u8_repair(const unsigned char *in, size_t n, size_t from, int replace,
                        unsigned char *dst)
{
    size_t i = from, len = 0, bad;

    while (i < n) {
        size_t l = mp__utf8_step(in + i, n - i, &bad);
        if (l) {
            if (dst)
                memcpy(dst + len, in + i, l);
            len += l;
            i += l;
        } else {
            if (replace) {
                if (dst)
                    memcpy(dst + len, "\xEF\xBF\xBD", 3);
                len += 3;
            }
            i += bad;
        }
    }
    return len;
}

int mp__utf8_simd_active(void)
{
#if defined(MP_U8_AVX2)
    return mp__utf8_simd && mp__avx2_ok();
#else
    return 0;
#endif
}

/* Index of the first ill-formed byte in in[0..n), or n: long texts are
 * checked whole first, the byte rule finds the position when one fails. */
static size_t u8_check_at(const unsigned char *in, size_t n)
{
#if defined(MP_U8_AVX2)
    if (n >= 64 && mp__utf8_simd && mp__avx2_ok() && u8_valid_avx2(in, n))
        return n;
#endif
    return n ? u8_first_bad(in, n) : 0;
}

int mp__utf8_check(const mp__text_opts *o, const unsigned char *in, size_t n, mp__arena *a,
                   const char **out, size_t *out_len, mp__text_error *err)
{
    size_t bad = u8_check_at(in, n);

    if (err) {
        err->kind = 0;
        err->position = 0;
        err->count = 0;
        err->message[0] = '\0';
    }
    *out = (const char *)in;
    *out_len = n;
    if (bad == n)
        return 0;
    if (err) {
        err->kind = MP_EK_ENCODING;
        err->position = bad;
        err->count = 1;
        snprintf(err->message, sizeof err->message, "invalid UTF-8 (byte 0x%02X)", in[bad]);
    }
    if (o->utf8_handling != MP_UTF8_REPLACE && o->utf8_handling != MP_UTF8_IGNORE)
        return 1;

    int replace = o->utf8_handling == MP_UTF8_REPLACE;
    size_t tail = u8_repair(in, n, bad, replace, NULL);
    unsigned char *dst = mp__arena_alloc(a, bad + tail ? bad + tail : 1, 1);
    if (!dst)
        return MP_ENOMEM;
    memcpy(dst, in, bad);
    u8_repair(in, n, bad, replace, dst + bad);
    *out = (const char *)dst;
    *out_len = bad + tail;
    return 0;
}

/* First ASCII code point of the compatibility decomposition of cp, or -1. */
static int u8_nfkd_ascii(int32_t cp)
{
    if (cp < 0x80)
        return cp;
    utf8proc_int32_t d[32];
    int last = 0;
    utf8proc_ssize_t k =
        utf8proc_decompose_char(cp, d, 32, UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, &last);
    for (utf8proc_ssize_t j = 0; j >= 0 && j < k && j < 32; j++)
        if (d[j] >= 0 && d[j] < 0x80)
            return d[j];
    return -1;
}

int mp__subfield_code_normalize(const unsigned char *s, size_t n, size_t *skip)
{
    size_t bad;
    *skip = 1;
    if (n == 0)
        return -1;
    /* NFKD of a string is the NFKD of its characters one after the other
     * (reordering moves only combining marks, never an ASCII starter), so
     * the first ASCII character can be found character by character. */
    if (u8_first_bad(s, n) == n) {
        *skip = mp__utf8_step(s, n, &bad);
        for (size_t i = 0; i < n;) {
            utf8proc_int32_t cp;
            utf8proc_ssize_t l = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &cp);
            if (l <= 0)
                return -1; /* impossible: validated above */
            int c = u8_nfkd_ascii(cp);
            if (c >= 0)
                return c;
            i += (size_t)l;
        }
        return -1;
    }
    for (size_t i = 0; i < n; i++) { /* Latin-1: each byte is U+00XX */
        int c = u8_nfkd_ascii(s[i]);
        if (c >= 0)
            return c;
    }
    return -1;
}
