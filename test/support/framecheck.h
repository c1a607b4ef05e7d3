/*
 * framecheck.h - Criterion helper shared by the text-format tests
 * (json_test.c, mrk_test.c): frames a whole buffer as the sequential
 * reader does and checks, at every prefix length on the way, that a
 * shorter view either asks for more bytes (MP_FRAME_NEED, naming more than
 * it had) or gives the same answer as the whole buffer. Header-only: it
 * asserts with Criterion, which the support library does not link.
 */
#ifndef MP_TEST_FRAMECHECK_H
#define MP_TEST_FRAMECHECK_H

#include <criterion/criterion.h>
#include "format.h"

typedef struct fr {
    int rc;
    size_t off, len;
    int kind;
} fr;

typedef mp__frame_rc (*fc_frame_fn)(const void *fmt, const unsigned char *p, size_t avail,
                                    int final, mp__frame *out);

/* The units (RECORD/SKIP; IGNOREd spans left out) of doc[0..n), at most
 * max_out of them in out; returns how many. */
static inline size_t fc_frame_units(fc_frame_fn frame, const mp__marc_fmt *f, const char *doc,
                                    size_t n, fr *out, size_t max_out)
{
    const unsigned char *p = (const unsigned char *)doc;
    size_t pos = 0, k = 0;
    while (pos < n) {
        mp__frame full = {0, 0};
        mp__frame_rc rfull = frame(f, p + pos, n - pos, MP_FINAL_EOF, &full);
        cr_assert_neq(rfull, MP_FRAME_NEED);
        cr_assert(full.len >= 1 && full.len <= n - pos);
        for (size_t a = 1; a <= n - pos; a++) {
            mp__frame o = {0, 0};
            mp__frame_rc r = frame(f, p + pos, a, MP_FINAL_NO, &o);
            if (r == MP_FRAME_NEED) {
                cr_assert_gt(o.len, a);
                continue;
            }
            if (r == MP_FRAME_IGNORE && rfull == MP_FRAME_IGNORE)
                continue;
            cr_assert(r == rfull && o.len == full.len && o.kind == full.kind,
                      "unstable at %zu avail %zu", pos, a);
        }
        if (rfull != MP_FRAME_IGNORE && k < max_out) {
            out[k].rc = rfull;
            out[k].off = pos;
            out[k].len = full.len;
            out[k].kind = full.kind;
            k++;
        }
        pos += full.len;
    }
    return k;
}

#endif
