/*
 * utf8.h - the one UTF-8 well-formedness rule of marcpipe (internal).
 *
 * Unicode 15 table 3-7: no overlongs, no surrogates, nothing above
 * U+10FFFF. Header-only so that the parser's validator (utf8.c) inlines it
 * and the CLI's JSON output (stages/cli/output.c) uses the same rule
 * without a library symbol. Pure and reentrant.
 */
#ifndef MP_UTF8_H
#define MP_UTF8_H

#include <stddef.h>

/*
 * Length (1-4) of the well-formed sequence at p[0..n), n >= 1, or 0 with
 * *bad = the length of the maximal ill-formed subpart (1-3).
 */
static inline size_t mp__utf8_step(const unsigned char *p, size_t n, size_t *bad)
{
    unsigned b = p[0], lo = 0x80, hi = 0xBF;
    size_t need;

    if (b < 0x80)
        return 1;
    if (b < 0xC2) { /* continuation byte or overlong 2-byte lead */
        *bad = 1;
        return 0;
    }
    if (b < 0xE0) {
        need = 1;
    } else if (b < 0xF0) {
        need = 2;
        if (b == 0xE0)
            lo = 0xA0; /* overlong */
        else if (b == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (b < 0xF5) {
        need = 3;
        if (b == 0xF0)
            lo = 0x90; /* overlong */
        else if (b == 0xF4)
            hi = 0x8F; /* > U+10FFFF */
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t k = 1; k <= need; k++) {
        if (k >= n || p[k] < lo || p[k] > hi) {
            *bad = k;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

#endif
