/*
 * alloc.c - allocation entry points with a "fail the k-th allocation"
 * hook for fault-injection tests.
 *
 * The counters are process-wide atomics. They order nothing but
 * themselves: relaxed operations suffice (a test arms the hook, then runs
 * the code under test in the same thread or after a thread start, which
 * already orders the arming before the allocations).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <marcpipe/common.h>
#include "alloc.h"

/* 0: disarmed; k: the k-th counted allocation fails. Written by
 * mp__alloc_fail_at and by the failing allocation (disarm); read by every
 * allocation. */
static _Atomic uint64_t mp__fail_at;
/* Allocations since the last arming. Written/read by every allocation. */
static _Atomic uint64_t mp__count;

/* true: this allocation must fail. */
static int mp__alloc_should_fail(void)
{
    /* relaxed: a counter, orders nothing else */
    uint64_t n = atomic_fetch_add_explicit(&mp__count, 1, memory_order_relaxed) + 1;
    /* relaxed: the hook is armed before the code under test starts */
    uint64_t k = atomic_load_explicit(&mp__fail_at, memory_order_relaxed);
    if (k == 0 || n != k)
        return 0;
    /* relaxed: disarm once; only the allocation numbered k gets here */
    atomic_compare_exchange_strong_explicit(&mp__fail_at, &k, 0, memory_order_relaxed,
                                            memory_order_relaxed);
    return 1;
}

void *mp__malloc(size_t n)
{
    if (mp__alloc_should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *mp__calloc(size_t n, size_t size)
{
    if (mp__alloc_should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *mp__realloc(void *p, size_t n)
{
    if (mp__alloc_should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void mp__free(void *p)
{
    free(p);
}

int mp__aligned_alloc(void **out, size_t align, size_t n)
{
    *out = NULL;
    if (mp__alloc_should_fail())
        return MP_ENOMEM;
    if (align < sizeof(void *))
        align = sizeof(void *);
    if (posix_memalign(out, align, n ? n : 1) != 0) {
        *out = NULL;
        return MP_ENOMEM;
    }
    return MP_OK;
}

uint64_t mp__alloc_fail_at(uint64_t k)
{
    /* relaxed: counters only; see the file comment */
    uint64_t prev = atomic_exchange_explicit(&mp__count, 0, memory_order_relaxed);
    /* relaxed: counters only; see the file comment */
    atomic_store_explicit(&mp__fail_at, k, memory_order_relaxed);
    return prev;
}

uint64_t mp__alloc_count(void)
{
    /* relaxed: a counter */
    return atomic_load_explicit(&mp__count, memory_order_relaxed);
}
