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
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
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

/* ---- the buffer cache ------------------------------------------------------
 *
 * Slots hold owned blocks; while a block sits in a slot its first bytes
 * hold its size. A taker owns a block once its exchange of the slot to
 * NULL returned it (nobody else can see it any more), a putter publishes
 * a block with a CAS NULL -> block; no block is ever read through a slot
 * by a thread that does not own it, so there is no ABA or use-after-free.
 */
typedef struct mp__buf_hdr {
    size_t size;
    int huge; /* mapped by mp__huge_map (mp__buf_get_huge), else malloc's */
} mp__buf_hdr;

/* A huge block: size (a multiple of MP__HUGE_PAGE) bytes at a
 * MP__HUGE_PAGE-aligned address, offered to transparent huge pages
 * (MADV_HUGEPAGE: honoured where THP is "always" or "madvise", a no-op
 * where it is "never", the pages are then 4 KiB ones). */
static void *mp__huge_map(size_t size)
{
    size_t span = size + MP__HUGE_PAGE;
    if (span < size)
        return NULL;
    unsigned char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)m + MP__HUGE_PAGE - 1) & ~(uintptr_t)(MP__HUGE_PAGE - 1);
    size_t head = (size_t)(a - (uintptr_t)m), tail = span - head - size;
    if (head)
        munmap(m, head);
    if (tail)
        munmap((unsigned char *)a + size, tail);
#ifdef MADV_HUGEPAGE
    (void)madvise((void *)a, size, MADV_HUGEPAGE); /* advice: failure only costs speed */
#endif
    return (void *)a;
}

/* Gives an uncached block back to the system. */
static void mp__buf_release(void *p, size_t size, int huge)
{
    if (huge)
        munmap(p, size);
    else
        free(p);
}

/* Written by putters (release CAS) and takers (acquire exchange). */
static _Atomic(mp__buf_hdr *) mp__buf_slot[MP__BUF_CACHE_SLOTS];
/* Bytes held by the slots: reserved by a putter before its CAS (relaxed:
 * a budget, orders nothing), given back by a taker. */
static _Atomic size_t mp__buf_bytes;

static int mp__buf_park(mp__buf_hdr *h)
{
    for (unsigned i = 0; i < MP__BUF_CACHE_SLOTS; i++) {
        mp__buf_hdr *expect = NULL;
        /* relaxed: a cheap pre-check; the CAS below publishes */
        if (atomic_load_explicit(&mp__buf_slot[i], memory_order_relaxed) != NULL)
            continue;
        /* release: the size written into the block (and the owner's last writes)
         * happen-before the acquire exchange of the thread that takes it */
        if (atomic_compare_exchange_strong_explicit(&mp__buf_slot[i], &expect, h,
                                                    memory_order_release, memory_order_relaxed))
            return 1;
    }
    return 0;
}

static void *mp__buf_take(size_t size, int huge)
{
    if (size < sizeof(mp__buf_hdr))
        size = sizeof(mp__buf_hdr);
    if (mp__alloc_should_fail())
        return NULL;
    for (unsigned i = 0; i < MP__BUF_CACHE_SLOTS; i++) {
        /* relaxed: a cheap pre-check; the exchange below takes ownership */
        if (atomic_load_explicit(&mp__buf_slot[i], memory_order_relaxed) == NULL)
            continue;
        /* acquire: pairs with the putter's release CAS (the size and the block) */
        mp__buf_hdr *h = atomic_exchange_explicit(&mp__buf_slot[i], NULL, memory_order_acquire);
        if (!h)
            continue;
        if (h->size == size && h->huge == huge) {
            /* relaxed: the byte budget only */
            atomic_fetch_sub_explicit(&mp__buf_bytes, size, memory_order_relaxed);
            return h;
        }
        /* Another kind: back into a slot (any), else it leaves the cache. */
        if (!mp__buf_park(h)) {
            /* relaxed: the byte budget only */
            atomic_fetch_sub_explicit(&mp__buf_bytes, h->size, memory_order_relaxed);
            mp__buf_release(h, h->size, h->huge);
        }
    }
    return huge ? mp__huge_map(size) : malloc(size);
}

static void mp__buf_give(void *p, size_t size, int huge)
{
    if (!p)
        return;
    if (size < sizeof(mp__buf_hdr))
        size = sizeof(mp__buf_hdr);
    /* relaxed: the byte budget only */
    size_t had = atomic_fetch_add_explicit(&mp__buf_bytes, size, memory_order_relaxed);
    if (had + size <= MP__BUF_CACHE_BYTES) {
        mp__buf_hdr *h = p;
        h->size = size;
        h->huge = huge;
        if (mp__buf_park(h))
            return;
    }
    /* relaxed: the byte budget only */
    atomic_fetch_sub_explicit(&mp__buf_bytes, size, memory_order_relaxed);
    mp__buf_release(p, size, huge);
}

void *mp__buf_get(size_t size)
{
    return mp__buf_take(size, 0);
}

void mp__buf_put(void *p, size_t size)
{
    mp__buf_give(p, size, 0);
}

void *mp__buf_get_huge(size_t size)
{
    if (size == 0 || size % MP__HUGE_PAGE != 0)
        return NULL;
    return mp__buf_take(size, 1);
}

void mp__buf_put_huge(void *p, size_t size)
{
    mp__buf_give(p, size, 1);
}

void mp__buf_drain(void)
{
    for (unsigned i = 0; i < MP__BUF_CACHE_SLOTS; i++) {
        /* acquire: pairs with the putter's release CAS */
        mp__buf_hdr *h = atomic_exchange_explicit(&mp__buf_slot[i], NULL, memory_order_acquire);
        if (h) {
            /* relaxed: the byte budget only */
            atomic_fetch_sub_explicit(&mp__buf_bytes, h->size, memory_order_relaxed);
            mp__buf_release(h, h->size, h->huge);
        }
    }
}

void mp__buf_cached(size_t *blocks, size_t *bytes)
{
    size_t n = 0;
    for (unsigned i = 0; i < MP__BUF_CACHE_SLOTS; i++)
        /* relaxed: a snapshot */
        n += atomic_load_explicit(&mp__buf_slot[i], memory_order_relaxed) != NULL;
    if (blocks)
        *blocks = n;
    if (bytes)
        /* relaxed: a snapshot */
        *bytes = atomic_load_explicit(&mp__buf_bytes, memory_order_relaxed);
}

/* The cache is not a leak: give its blocks back when the library unloads. */
__attribute__((destructor)) static void mp__buf_fini(void)
{
    mp__buf_drain();
}
