/*
 * utf8_avx2.h - UTF-8 validation 64 bytes per step (internal).
 *
 * The "lookup" algorithm of Keiser and Lemire (Validating UTF-8 in less
 * than one instruction per byte, Software: Practice and Experience 51(5),
 * 2021), written from the paper: each byte and the one before it are
 * classified by three 16-entry tables (the previous byte's high and low
 * nibble, this byte's high nibble); the AND of the three is nonzero
 * exactly when the pair cannot occur in well-formed UTF-8, with one
 * exception, bit 7: a continuation after a continuation, which is right
 * exactly when the byte two or three back is a 3- or 4-byte lead. The
 * rule is utf8.h's (utf8_test and fuzz_marc8 compare the two); this only
 * says valid or not, the byte rule then finds the first bad byte.
 *
 * Header-only so that utf8.c's validator and iso2709.c's scan pass (which
 * validates a record's data area while it looks for delimiters) share it.
 * Every function needs AVX2: callers are MP__AVX2 functions reached only
 * after __builtin_cpu_supports("avx2"). Pure; the state is the caller's.
 */
#ifndef MP_UTF8_AVX2_H
#define MP_UTF8_AVX2_H

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <string.h>
#define MP_U8_AVX2 1
#define MP__AVX2   __attribute__((target("avx2,popcnt")))

enum {
    MP__U8_TOO_SHORT = 1 << 0,      /* a lead, then no continuation */
    MP__U8_TOO_LONG = 1 << 1,       /* ASCII, then a continuation */
    MP__U8_OVERLONG_3 = 1 << 2,     /* E0 80..9F */
    MP__U8_TOO_LARGE = 1 << 3,      /* F4 90..BF, F5..FF 90..BF */
    MP__U8_SURROGATE = 1 << 4,      /* ED A0..BF */
    MP__U8_OVERLONG_2 = 1 << 5,     /* C0..C1, then a continuation */
    MP__U8_TOO_LARGE_1000 = 1 << 6, /* F5..FF 80..8F */
    MP__U8_OVERLONG_4 = 1 << 6,     /* F0 80..8F (same bit: the lead's low nibble tells) */
    MP__U8_TWO_CONTS = 1 << 7,      /* a continuation after a continuation */
    MP__U8_CARRY = MP__U8_TOO_SHORT | MP__U8_TOO_LONG | MP__U8_TWO_CONTS /* any low nibble */
};

/* a 16-entry table, in both lanes (the values are bit sets: cast to char) */
#define MP__U8C(x) ((char)(unsigned char)(x))
#define MP__U8_T16(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p)                                 \
    _mm256_setr_epi8(MP__U8C(a), MP__U8C(b), MP__U8C(c), MP__U8C(d), MP__U8C(e), MP__U8C(f),       \
                     MP__U8C(g), MP__U8C(h), MP__U8C(i), MP__U8C(j), MP__U8C(k), MP__U8C(l),       \
                     MP__U8C(m), MP__U8C(n), MP__U8C(o), MP__U8C(p), MP__U8C(a), MP__U8C(b),       \
                     MP__U8C(c), MP__U8C(d), MP__U8C(e), MP__U8C(f), MP__U8C(g), MP__U8C(h),       \
                     MP__U8C(i), MP__U8C(j), MP__U8C(k), MP__U8C(l), MP__U8C(m), MP__U8C(n),       \
                     MP__U8C(o), MP__U8C(p))

/* The validator's state over consecutive 64-byte steps. */
typedef struct mp__u8v {
    __m256i prev; /* the last 32 bytes seen */
    __m256i err;  /* any bit: ill-formed */
    __m256i inc;  /* nonzero: a sequence runs past the last block */
} mp__u8v;

MP__AVX2 static inline __attribute__((always_inline)) void mp__u8v_init(mp__u8v *s)
{
    s->prev = s->err = s->inc = _mm256_setzero_si256();
}

/* One 32-byte block v after s->prev. */
MP__AVX2 static inline __attribute__((always_inline)) void mp__u8v_block(mp__u8v *s, __m256i v)
{
    const int T = MP__U8_TOO_LONG, C = MP__U8_TWO_CONTS, S = MP__U8_TOO_SHORT;
    /* previous byte, high nibble */
    const __m256i b1h =
        MP__U8_T16(T, T, T, T, T, T, T, T, C, C, C, C, S | MP__U8_OVERLONG_2, S,
                   S | MP__U8_OVERLONG_3 | MP__U8_SURROGATE,
                   S | MP__U8_TOO_LARGE | MP__U8_TOO_LARGE_1000 | MP__U8_OVERLONG_4);
    /* previous byte, low nibble */
    const int K = MP__U8_CARRY, B = K | MP__U8_TOO_LARGE | MP__U8_TOO_LARGE_1000;
    const __m256i b1l = MP__U8_T16(K | MP__U8_OVERLONG_3 | MP__U8_OVERLONG_2 | MP__U8_OVERLONG_4,
                                   K | MP__U8_OVERLONG_2, K, K, K | MP__U8_TOO_LARGE, B, B, B, B, B,
                                   B, B, B, B | MP__U8_SURROGATE, B, B);
    /* this byte, high nibble */
    const int c8 = MP__U8_TOO_LONG | MP__U8_OVERLONG_2 | MP__U8_TWO_CONTS;
    const __m256i b2h = MP__U8_T16(
        S, S, S, S, S, S, S, S, c8 | MP__U8_OVERLONG_3 | MP__U8_TOO_LARGE_1000 | MP__U8_OVERLONG_4,
        c8 | MP__U8_OVERLONG_3 | MP__U8_TOO_LARGE, c8 | MP__U8_SURROGATE | MP__U8_TOO_LARGE,
        c8 | MP__U8_SURROGATE | MP__U8_TOO_LARGE, S, S, S, S);
    const __m256i nib = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8((char)0x80);
    /* a lead among the last three bytes whose sequence would not end in the block */
    const __m256i last3 = _mm256_setr_epi8(
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, (char)(0xF0 - 1), (char)(0xE0 - 1), (char)(0xC0 - 1));
    /* the bytes 1, 2 and 3 before each byte: across the lanes, then
     * shifted within each lane */
    __m256i p = _mm256_permute2x128_si256(s->prev, v, 0x21);
    __m256i p1 = _mm256_alignr_epi8(v, p, 15);
    __m256i p2 = _mm256_alignr_epi8(v, p, 14);
    __m256i p3 = _mm256_alignr_epi8(v, p, 13);
    __m256i sc = _mm256_and_si256(
        _mm256_and_si256(_mm256_shuffle_epi8(b1h, _mm256_and_si256(_mm256_srli_epi16(p1, 4), nib)),
                         _mm256_shuffle_epi8(b1l, _mm256_and_si256(p1, nib))),
        _mm256_shuffle_epi8(b2h, _mm256_and_si256(_mm256_srli_epi16(v, 4), nib)));
    /* top bit: the byte 2 back is >= E0 or the byte 3 back >= F0 */
    __m256i must =
        _mm256_and_si256(_mm256_or_si256(_mm256_subs_epu8(p2, _mm256_set1_epi8(0xE0 - 0x80)),
                                         _mm256_subs_epu8(p3, _mm256_set1_epi8(0xF0 - 0x80))),
                         top);
    s->err = _mm256_or_si256(s->err, _mm256_xor_si256(must, sc));
    s->inc = _mm256_subs_epu8(v, last3);
    s->prev = v;
}

/*
 * The next 64 bytes, v0 then v1; `ascii`: none of them is >= 0x80. The
 * input's last step must hold its last bytes followed by at least one zero
 * (pad a copy; a whole zero step when the length is a multiple of 64): a
 * sequence cut by the end is then one cut by an ASCII byte, and fails.
 */
MP__AVX2 static inline __attribute__((always_inline)) void mp__u8v_step(mp__u8v *s, __m256i v0,
                                                                        __m256i v1, int ascii)
{
    if (ascii) { /* right unless the block before ends inside a sequence */
        s->err = _mm256_or_si256(s->err, s->inc);
        s->inc = _mm256_setzero_si256();
        s->prev = v1;
    } else {
        mp__u8v_block(s, v0);
        mp__u8v_block(s, v1);
    }
}

/*
 * The 64 bytes at in + i into *v0, *v1 for a loop that steps i by 64 over
 * in[0..n): when fewer than 64 remain (i + 64 > n: the last step, which a
 * loop always makes, with zero to 63 bytes), a zero-padded copy of them
 * in tail. Returns 1 for that last step.
 */
MP__AVX2 static inline __attribute__((always_inline)) int mp__avx2_load64(const unsigned char *in,
                                                                          size_t n, size_t i,
                                                                          unsigned char tail[64],
                                                                          __m256i *v0, __m256i *v1)
{
    const unsigned char *q = in + i;
    int last = i + 64 > n;
    if (last) {
        memset(tail, 0, 64);
        memcpy(tail, in + i, n - i);
        q = tail;
    }
    *v0 = _mm256_loadu_si256((const __m256i *)(const void *)q);
    *v1 = _mm256_loadu_si256((const __m256i *)(const void *)(q + 32));
    return last;
}

/* 1 when this CPU runs MP__AVX2 code. */
static inline int mp__avx2_ok(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
}

/* 1 when every step so far was well-formed (after the padded last step). */
MP__AVX2 static inline __attribute__((always_inline)) int mp__u8v_ok(const mp__u8v *s)
{
    return _mm256_testz_si256(s->err, s->err);
}
#endif

#endif
