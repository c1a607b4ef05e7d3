/*
 * text.c - UTF-8 bytes to a Python str in two passes, for the long texts
 * the binding makes itself (str(record)).
 *
 * CPython's decoder does not know the string's kind before it has read
 * the text: it starts with Latin-1 storage, widens it when it meets a
 * larger character and shrinks the string at the end. Our texts are
 * mostly ASCII with a few accented letters, so one vectorised pass
 * finds both the character count (bytes less continuation bytes) and the
 * kind (from the largest lead byte); the second pass writes each character
 * once into a str of exactly that size and kind, sixteen ASCII bytes at a
 * time (the first pass is layout.c's, which the workers also run). Anything the second pass finds
 * invalid (a stray continuation, a truncated or overlong sequence, a surrogate) and any text that
 * needs four-byte storage are left to CPython's decoder with "replace", so the result is always
 * PyUnicode_DecodeUTF8(p, n, "replace").
 *
 * Thread safety: needs the GIL (it makes a Python object); no state.
 */
#include "binding.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* One multi-byte sequence at p[0] (p[0] >= 0x80), at most `left` bytes:
 * its code point and length in *len, or -1 when invalid (RFC 3629). */
static inline long text_seq(const unsigned char *p, size_t left, size_t *len)
{
    unsigned c = p[0];
    if (c >= 0xC2 && c <= 0xDF) {
        if (left < 2 || (p[1] & 0xC0) != 0x80)
            return -1;
        *len = 2;
        return (long)((c & 0x1Fu) << 6 | (p[1] & 0x3Fu));
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (left < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return -1;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
            return -1; /* overlong, surrogate */
        *len = 3;
        return (long)((c & 0x0Fu) << 12 | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu));
    }
    return -1; /* a continuation, C0/C1, or four bytes (not taken here) */
}

/*
 * Pass 2 for one kind (T: Py_UCS1 or Py_UCS2): the `chars` characters of
 * p[0, n) into out; 0 when the text is not what pass 1 promised (invalid,
 * or another count). Sixteen bytes are stored at a time while they fit
 * in `chars`; when some are not ASCII, only the ASCII ones before the
 * first are kept (the rest is overwritten by what follows), then the run
 * of multi-byte sequences there is decoded one by one.
 */
#if defined(__SSE2__)
static inline unsigned text_block1(const unsigned char *p, Py_UCS1 *out)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    _mm_storeu_si128((__m128i *)(void *)out, v);
    return (unsigned)_mm_movemask_epi8(v);
}

static inline unsigned text_block2(const unsigned char *p, Py_UCS2 *out)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p), z = _mm_setzero_si128();
    _mm_storeu_si128((__m128i *)(void *)out, _mm_unpacklo_epi8(v, z));
    _mm_storeu_si128((__m128i *)(void *)(out + 8), _mm_unpackhi_epi8(v, z));
    return (unsigned)_mm_movemask_epi8(v);
}
/* Thirty-two ASCII bytes: stored and true, else nothing stored. */
static inline int text_ascii32_1(const unsigned char *p, Py_UCS1 *out)
{
    __m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
    if (_mm_movemask_epi8(_mm_or_si128(v0, v1)))
        return 0;
    _mm_storeu_si128((__m128i *)(void *)out, v0);
    _mm_storeu_si128((__m128i *)(void *)(out + 16), v1);
    return 1;
}

static inline int text_ascii32_2(const unsigned char *p, Py_UCS2 *out)
{
    __m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 16)), z = _mm_setzero_si128();
    if (_mm_movemask_epi8(_mm_or_si128(v0, v1)))
        return 0;
    _mm_storeu_si128((__m128i *)(void *)out, _mm_unpacklo_epi8(v0, z));
    _mm_storeu_si128((__m128i *)(void *)(out + 8), _mm_unpackhi_epi8(v0, z));
    _mm_storeu_si128((__m128i *)(void *)(out + 16), _mm_unpacklo_epi8(v1, z));
    _mm_storeu_si128((__m128i *)(void *)(out + 24), _mm_unpackhi_epi8(v1, z));
    return 1;
}
#define TEXT_HAVE_BLOCK 1
#else
#define text_block1(p, out)    0u
#define text_block2(p, out)    0u
#define text_ascii32_1(p, out) 0
#define text_ascii32_2(p, out) 0
#define TEXT_HAVE_BLOCK        0
#endif

#define TEXT_WRITE(NAME, T, BLOCK, ASCII32)                                                        \
    static int NAME(const unsigned char *p, size_t n, T *out, size_t chars, unsigned long *top)    \
    {                                                                                              \
        size_t i = 0, k = 0;                                                                       \
        unsigned long hi = 0;                                                                      \
        while (i < n) {                                                                            \
            if (TEXT_HAVE_BLOCK && i + 32 <= n && k + 32 <= chars && ASCII32(p + i, out + k)) {    \
                i += 32;                                                                           \
                k += 32;                                                                           \
                continue;                                                                          \
            }                                                                                      \
            if (TEXT_HAVE_BLOCK && i + 16 <= n && k + 16 <= chars) {                               \
                unsigned mask = BLOCK(p + i, out + k);                                             \
                if (!mask) {                                                                       \
                    i += 16;                                                                       \
                    k += 16;                                                                       \
                    continue;                                                                      \
                }                                                                                  \
                unsigned a = (unsigned)__builtin_ctz(mask);                                        \
                i += a;                                                                            \
                k += a;                                                                            \
            } else if (p[i] < 0x80) {                                                              \
                if (k >= chars)                                                                    \
                    return 0;                                                                      \
                out[k++] = p[i++];                                                                 \
                continue;                                                                          \
            }                                                                                      \
            do { /* p[i] >= 0x80 */                                                                \
                size_t len;                                                                        \
                long cp = text_seq(p + i, n - i, &len);                                            \
                if (cp < 0 || (unsigned long)cp > (T) ~(T)0 || k >= chars)                         \
                    return 0;                                                                      \
                out[k++] = (T)cp;                                                                  \
                hi = (unsigned long)cp > hi ? (unsigned long)cp : hi;                              \
                i += len;                                                                          \
            } while (i < n && p[i] >= 0x80);                                                       \
        }                                                                                          \
        *top = hi;                                                                                 \
        return k == chars;                                                                         \
    }

TEXT_WRITE(text_write1, Py_UCS1, text_block1, text_ascii32_1)
TEXT_WRITE(text_write2, Py_UCS2, text_block2, text_ascii32_2)

PyObject *text_from_utf8_as(const char *s, size_t n, size_t cont, unsigned maxb)
{
    const unsigned char *p = (const unsigned char *)s;
    if (n > (size_t)PY_SSIZE_T_MAX)
        return PyErr_NoMemory();
    /* Lead bytes C2-C3 make Latin-1 characters, C4-DF and E0-EF ones of
     * the BMP beyond it (when valid); four-byte sequences go to CPython. */
    if (maxb >= 0x80 && maxb < 0xF0 && cont < n) {
        size_t chars = n - cont;
        int ucs1 = maxb < 0xC4;
        unsigned long top = 0;
        PyObject *u = PyUnicode_New((Py_ssize_t)chars, ucs1 ? 0xFF : 0xFFFF);
        if (!u)
            return NULL;
        int ok = ucs1 ? text_write1(p, n, PyUnicode_1BYTE_DATA(u), chars, &top)
                      : text_write2(p, n, PyUnicode_2BYTE_DATA(u), chars, &top);
        /* the count was right, every sequence valid, and the kind the
         * smallest that holds the text (CPython's strings are canonical) */
        if (ok && top >= (ucs1 ? 0x80ul : 0x100ul))
            return u;
        Py_DECREF(u);
    }
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "replace");
}

PyObject *text_from_utf8(const char *s, size_t n)
{
    size_t cont;
    unsigned maxb;
    layout_text_survey(s, n, &cont, &maxb);
    if (maxb < 0x80) {
        PyObject *u = PyUnicode_New((Py_ssize_t)n, 127);
        if (u)
            memcpy(PyUnicode_DATA(u), s, n);
        return u;
    }
    return text_from_utf8_as(s, n, cont, maxb);
}
