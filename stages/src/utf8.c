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
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define MP_U8_AVX2 1
#endif

int mp__utf8_simd = 1; /* tests: 0 compares with the byte rule alone */

#if defined(MP_U8_AVX2)
/*
 * Whole-buffer validation, 32 bytes per step and no branch per byte: the
 * "lookup" algorithm of Keiser and Lemire (Validating UTF-8 in less than
 * one instruction per byte, Software: Practice and Experience 51(5),
 * 2021), written from the paper. Each byte and the one before it are
 * classified by three 16-entry tables (the previous byte's high and low
 * nibble, this byte's high nibble); the AND of the three is nonzero
 * exactly when the pair cannot occur in well-formed UTF-8, with one
 * exception, bit 7: a continuation after a continuation, which is right
 * exactly when the byte two or three back is a 3- or 4-byte lead. Same
 * rule as utf8.h (utf8_test compares them); it only says valid or not.
 */
enum {
    U8_TOO_SHORT = 1 << 0,      /* a lead, then no continuation */
    U8_TOO_LONG = 1 << 1,       /* ASCII, then a continuation */
    U8_OVERLONG_3 = 1 << 2,     /* E0 80..9F */
    U8_TOO_LARGE = 1 << 3,      /* F4 90..BF, F5..FF 90..BF */
    U8_SURROGATE = 1 << 4,      /* ED A0..BF */
    U8_OVERLONG_2 = 1 << 5,     /* C0..C1, then a continuation */
    U8_TOO_LARGE_1000 = 1 << 6, /* F5..FF 80..8F */
    U8_OVERLONG_4 = 1 << 6,     /* F0 80..8F (same bit: told apart by the lead's low nibble) */
    U8_TWO_CONTS = 1 << 7,      /* a continuation after a continuation */
    U8_CARRY = U8_TOO_SHORT | U8_TOO_LONG | U8_TWO_CONTS /* whatever the low nibble */
};

/* a 16-entry table, in both lanes (the values are bit sets: cast to char) */
#define U8_C(x) ((char)(unsigned char)(x))
#define U8_T16(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p)                                     \
    _mm256_setr_epi8(U8_C(a), U8_C(b), U8_C(c), U8_C(d), U8_C(e), U8_C(f), U8_C(g), U8_C(h),       \
                     U8_C(i), U8_C(j), U8_C(k), U8_C(l), U8_C(m), U8_C(n), U8_C(o), U8_C(p),       \
                     U8_C(a), U8_C(b), U8_C(c), U8_C(d), U8_C(e), U8_C(f), U8_C(g), U8_C(h),       \
                     U8_C(i), U8_C(j), U8_C(k), U8_C(l), U8_C(m), U8_C(n), U8_C(o), U8_C(p))

/* 1 when in[0..n) is well-formed UTF-8. Needs AVX2 (the caller checks). */
__attribute__((target("avx2"))) static int u8_valid_avx2(const unsigned char *in, size_t n)
{
    /* previous byte, high nibble */
    const __m256i b1h = U8_T16(U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG,
                               U8_TOO_LONG, U8_TOO_LONG, U8_TOO_LONG, U8_TWO_CONTS, U8_TWO_CONTS,
                               U8_TWO_CONTS, U8_TWO_CONTS, U8_TOO_SHORT | U8_OVERLONG_2,
                               U8_TOO_SHORT, U8_TOO_SHORT | U8_OVERLONG_3 | U8_SURROGATE,
                               U8_TOO_SHORT | U8_TOO_LARGE | U8_TOO_LARGE_1000 | U8_OVERLONG_4);
    /* previous byte, low nibble */
    const int big = U8_CARRY | U8_TOO_LARGE | U8_TOO_LARGE_1000;
    const __m256i b1l =
        U8_T16(U8_CARRY | U8_OVERLONG_3 | U8_OVERLONG_2 | U8_OVERLONG_4, U8_CARRY | U8_OVERLONG_2,
               U8_CARRY, U8_CARRY, U8_CARRY | U8_TOO_LARGE, big, big, big, big, big, big, big, big,
               big | U8_SURROGATE, big, big);
    /* this byte, high nibble */
    const int c8 = U8_TOO_LONG | U8_OVERLONG_2 | U8_TWO_CONTS, s = U8_TOO_SHORT;
    const __m256i b2h =
        U8_T16(s, s, s, s, s, s, s, s, c8 | U8_OVERLONG_3 | U8_TOO_LARGE_1000 | U8_OVERLONG_4,
               c8 | U8_OVERLONG_3 | U8_TOO_LARGE, c8 | U8_SURROGATE | U8_TOO_LARGE,
               c8 | U8_SURROGATE | U8_TOO_LARGE, s, s, s, s);
    const __m256i nib = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8((char)0x80);
    const __m256i lead3 = _mm256_set1_epi8(0xE0 - 0x80), lead4 = _mm256_set1_epi8(0xF0 - 0x80);
    /* a lead among the last three bytes whose sequence would not end in the block */
    const __m256i last3 = _mm256_setr_epi8(
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, (char)(0xF0 - 1), (char)(0xE0 - 1), (char)(0xC0 - 1));
    __m256i prev = _mm256_setzero_si256(), err = _mm256_setzero_si256();
    __m256i inc = _mm256_setzero_si256();
    unsigned char tail[64];
    size_t i = 0;

    /* One block v after the block prev: the pairs' classes, and whether a
     * sequence runs past its end (inc). */
#define U8_BLOCK(v)                                                                                \
    do {                                                                                           \
        /* the bytes 1, 2 and 3 before each byte: across the lanes, then                           \
         * shifted within each lane */                                                             \
        __m256i p_ = _mm256_permute2x128_si256(prev, (v), 0x21);                                   \
        __m256i p1_ = _mm256_alignr_epi8((v), p_, 15);                                             \
        __m256i p2_ = _mm256_alignr_epi8((v), p_, 14);                                             \
        __m256i p3_ = _mm256_alignr_epi8((v), p_, 13);                                             \
        __m256i sc_ = _mm256_and_si256(                                                            \
            _mm256_and_si256(                                                                      \
                _mm256_shuffle_epi8(b1h, _mm256_and_si256(_mm256_srli_epi16(p1_, 4), nib)),        \
                _mm256_shuffle_epi8(b1l, _mm256_and_si256(p1_, nib))),                             \
            _mm256_shuffle_epi8(b2h, _mm256_and_si256(_mm256_srli_epi16((v), 4), nib)));           \
        /* top bit: the byte 2 back is >= E0 or the byte 3 back >= F0 */                           \
        __m256i must_ = _mm256_and_si256(                                                          \
            _mm256_or_si256(_mm256_subs_epu8(p2_, lead3), _mm256_subs_epu8(p3_, lead4)), top);     \
        err = _mm256_or_si256(err, _mm256_xor_si256(must_, sc_));                                  \
        inc = _mm256_subs_epu8((v), last3);                                                        \
        prev = (v);                                                                                \
    } while (0)

    for (;;) {
        const unsigned char *q = in + i;
        int last = i + 64 > n;
        if (last) {
            /* The rest, then zeros: ASCII, so a sequence cut by the end of
             * the input is one cut by an ASCII byte, and fails. With no
             * rest, a block of zeros does the same for the last block. */
            memset(tail, 0, sizeof tail);
            memcpy(tail, in + i, n - i);
            q = tail;
        }
        __m256i v0 = _mm256_loadu_si256((const __m256i *)(const void *)q);
        __m256i v1 = _mm256_loadu_si256((const __m256i *)(const void *)(q + 32));
        if (!_mm256_movemask_epi8(_mm256_or_si256(v0, v1))) {
            /* ASCII: right unless the block before ends inside a sequence */
            err = _mm256_or_si256(err, inc);
            inc = _mm256_setzero_si256();
            prev = v1;
        } else {
            U8_BLOCK(v0);
            U8_BLOCK(v1);
        }
        if (last)
            break;
        i += 64;
    }
#undef U8_BLOCK
    return _mm256_testz_si256(err, err);
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
    return mp__utf8_simd && __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

/* Index of the first ill-formed byte in in[0..n), or n: long texts are
 * checked whole first, the byte rule finds the position when one fails. */
static size_t u8_check_at(const unsigned char *in, size_t n)
{
#if defined(MP_U8_AVX2)
    if (n >= 64 && mp__utf8_simd && __builtin_cpu_supports("avx2") && u8_valid_avx2(in, n))
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
