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
#include <marcpipe/common.h>
#include <marcpipe/reader.h>
#include "text.h"
#include "utf8.h"

/* Index of the first ill-formed byte in in[0..n), or n. */
static size_t u8_first_bad(const unsigned char *in, size_t n)
{
    const uint64_t hi = 0x8080808080808080ull;
    size_t i = 0, bad;

    while (i < n) {
        /* ASCII runs 8 bytes at a time. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, in + i, 8);
            if (w & hi)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        if (in[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = mp__utf8_step(in + i, n - i, &bad);
        if (!l)
            return i;
        i += l;
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

int mp__utf8_check(const mp__text_opts *o, const unsigned char *in, size_t n, mp__arena *a,
                   const char **out, size_t *out_len, mp__text_error *err)
{
    size_t bad = n ? u8_first_bad(in, n) : 0;

    if (err) {
        err->kind = 0;
        err->position = 0;
        err->message[0] = '\0';
    }
    *out = (const char *)in;
    *out_len = n;
    if (bad == n)
        return 0;
    if (err) {
        err->kind = MP_EK_ENCODING;
        err->position = bad;
        snprintf(err->message, sizeof err->message, "invalid UTF-8 (byte 0x%02X at %zu)", in[bad],
                 bad);
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
