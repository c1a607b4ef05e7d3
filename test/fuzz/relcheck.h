/*
 * relcheck.h - shared oracles of the reliability tests (header-only).
 *
 * Used by test/fault_test.c, test/stress_hostile.c, test/stress_close.c and
 * the fuzz targets in test/fuzz/. A faulty callback source (short reads,
 * zero-length reads, EIO/EINTR at a chosen offset), a deterministic PRNG,
 * and the checks that compare what a reader delivered with what the
 * sequential reader delivers from intact bytes. Single-threaded helpers
 * except where a function says otherwise; allocation failures abort.
 */
#ifndef MP_TEST_RELCHECK_H
#define MP_TEST_RELCHECK_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <marcpipe/marcpipe.h>
#include "marcfix.h"

/* splitmix64: deterministic for a seed. */
static inline uint64_t rc_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

enum rc_fault { RC_FAULT_NONE = 0, RC_FAULT_EIO, RC_FAULT_EINTR, RC_FAULT_ZERO };

/* A callback source over a buffer that misbehaves on purpose. */
typedef struct rc_src {
    const unsigned char *data;
    size_t len, pos;
    size_t fail_at;  /* stream offset where the fault happens */
    int fault;       /* enum rc_fault */
    int short_reads; /* 1: random read sizes in [1, 2 * avg] */
    size_t avg;      /* average short read */
    uint64_t rng;
    uint64_t calls, failures;
} rc_src;

/* mp_read_fn: called from one pipeline thread at a time (never concurrently). */
static inline ssize_t rc_src_read(void *user, void *buf, size_t cap, int *sys_errno)
{
    rc_src *s = user;
    s->calls++;
    if (s->fault != RC_FAULT_NONE && s->pos >= s->fail_at) {
        s->failures++;
        if (s->fault == RC_FAULT_ZERO)
            return 0;
        *sys_errno = s->fault == RC_FAULT_EIO ? EIO : EINTR;
        return -1;
    }
    size_t n = s->len - s->pos;
    if (n > cap)
        n = cap;
    if (s->fault != RC_FAULT_NONE && s->pos + n > s->fail_at)
        n = s->fail_at - s->pos;
    if (s->short_reads && n > 1) {
        size_t k = 1 + (size_t)(rc_rand(&s->rng) % (2 * (s->avg ? s->avg : 7)));
        if (k < n)
            n = k;
    }
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

/* Reads a whole buffer with the sequential reader (the reference). */
static inline int rc_ref_mem(mf_seq *out, const void *data, size_t len)
{
    mp_reader *r = NULL;
    memset(out, 0, sizeof(*out));
    int rc = mp_reader_open_mem(&r, data, len, mf_seqopts(NULL));
    if (rc != MP_OK)
        return rc;
    rc = mf_collect(out, r);
    mp_reader_close(r);
    return rc;
}

/* Index of the good record of s at `offset` with `hash`, or -1. */
static inline long rc_find_record(const mf_seq *s, uint64_t offset, uint64_t hash)
{
    /* Records are in stream order: binary search on offset. */
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].offset < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < s->n && s->v[i].offset == offset; i++)
        if (s->v[i].rc == MP_OK && s->v[i].hash == hash)
            return (long)i;
    return -1;
}

/* Checks that items come in stream order with increasing ordinals. */
static inline int rc_check_order(const mf_seq *s, char *why, size_t whylen)
{
    for (size_t i = 1; i < s->n; i++) {
        if (s->v[i].ordinal <= s->v[i - 1].ordinal || s->v[i].offset < s->v[i - 1].offset) {
            snprintf(why, whylen, "item %zu out of order (offset %llu after %llu)", i,
                     (unsigned long long)s->v[i].offset, (unsigned long long)s->v[i - 1].offset);
            return -1;
        }
    }
    return 0;
}

/*
 * A stream that failed (I/O error, or a premature end) at byte `cut`:
 * every good record of the reference that ends at or before `cut` must
 * have been delivered identically, and no good record may appear that the
 * reference does not have. Returns 0, or -1 with a reason.
 */
static inline int rc_check_cut(const mf_seq *ref, const mf_seq *got, uint64_t cut, char *why,
                               size_t whylen)
{
    if (rc_check_order(got, why, whylen))
        return -1;
    for (size_t i = 0; i < got->n; i++) {
        if (got->v[i].rc == MP_OK && rc_find_record(ref, got->v[i].offset, got->v[i].hash) < 0) {
            snprintf(why, whylen, "phantom record at offset %llu",
                     (unsigned long long)got->v[i].offset);
            return -1;
        }
    }
    for (size_t i = 0; i < ref->n; i++) {
        const mf_item *it = &ref->v[i];
        if (it->rc != MP_OK || it->offset + it->length > cut)
            continue;
        if (rc_find_record(got, it->offset, it->hash) < 0) {
            snprintf(why, whylen, "lost record %zu at offset %llu (cut at %llu)", i,
                     (unsigned long long)it->offset, (unsigned long long)cut);
            return -1;
        }
    }
    return 0;
}

#endif
