/* alloc_test.c - mp__malloc & co. and the "fail the k-th allocation" hook (core/src/alloc.c). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <marcpipe/common.h>
#include "alloc.h"

Test(alloc, kth_allocation_fails_once, .timeout = 10)
{
    mp__alloc_fail_at(3);
    void *a = mp__malloc(8), *b = mp__calloc(2, 8), *c = mp__malloc(8), *d = mp__malloc(8);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_null(c);
    cr_assert_not_null(d);
    cr_assert_eq(mp__alloc_fail_at(0), 4);
    void *e;
    cr_assert_eq(mp__aligned_alloc(&e, 64, 100), MP_OK);
    cr_assert_eq((uintptr_t)e % 64, 0);
    mp__free(a);
    mp__free(b);
    mp__free(d);
    mp__free(e);
}

/* ---- the buffer cache (alloc.h) ---------------------------------------------- */

Test(alloc, buffer_cache_reuses_blocks_of_the_same_size, .timeout = 10)
{
    mp__buf_drain();
    size_t blocks, bytes;
    unsigned char *a = mp__buf_get(100000);
    cr_assert_not_null(a);
    a[0] = 1;
    a[99999] = 2;
    mp__buf_put(a, 100000);
    mp__buf_cached(&blocks, &bytes);
    cr_assert_eq(blocks, 1);
    cr_assert_eq(bytes, 100000);
    /* Another size does not take it (and leaves it in the cache). */
    unsigned char *b = mp__buf_get(50000);
    cr_assert_not_null(b);
    cr_assert_neq(b, a);
    mp__buf_cached(&blocks, &bytes);
    cr_assert_eq(blocks, 1);
    /* The same size does: the pages stay mapped from one reader to the next. */
    unsigned char *c = mp__buf_get(100000);
    cr_assert_eq(c, a);
    mp__buf_cached(&blocks, &bytes);
    cr_assert_eq(blocks, 0);
    cr_assert_eq(bytes, 0);
    mp__buf_put(b, 50000);
    mp__buf_put(c, 100000);
    mp__buf_put(NULL, 123); /* accepted */
    mp__buf_drain();
    mp__buf_cached(&blocks, &bytes);
    cr_assert_eq(blocks, 0);
    cr_assert_eq(bytes, 0);
}

Test(alloc, buffer_cache_is_bounded, .timeout = 10)
{
    mp__buf_drain();
    enum { N = MP__BUF_CACHE_SLOTS + 8 };
    void *p[N];
    for (int i = 0; i < N; i++)
        p[i] = mp__buf_get(4096);
    for (int i = 0; i < N; i++)
        mp__buf_put(p[i], 4096); /* the ones past the last slot are freed */
    size_t blocks, bytes;
    mp__buf_cached(&blocks, &bytes);
    cr_assert_eq(blocks, MP__BUF_CACHE_SLOTS);
    cr_assert_eq(bytes, (size_t)MP__BUF_CACHE_SLOTS * 4096);
    mp__buf_drain();
    /* The byte budget: one block larger than it is never kept. */
    void *big = mp__buf_get(MP__BUF_CACHE_BYTES + 1);
    cr_assert_not_null(big);
    mp__buf_put(big, MP__BUF_CACHE_BYTES + 1);
    mp__buf_cached(&blocks, &bytes);
    cr_assert_eq(blocks, 0);
    cr_assert_eq(bytes, 0);
}

Test(alloc, buffer_cache_hits_count_for_the_fault_hook, .timeout = 10)
{
    mp__buf_drain();
    mp__buf_put(mp__buf_get(8192), 8192);
    mp__alloc_fail_at(1);
    cr_assert_null(mp__buf_get(8192), "a cache hit fails too when the hook says so");
    void *p = mp__buf_get(8192);
    cr_assert_not_null(p);
    cr_assert_eq(mp__alloc_fail_at(0), 2);
    mp__buf_put(p, 8192);
    mp__buf_drain();
}

static void *cache_churn(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 20000; i++) {
        size_t size = 1024u << (rand_r(&seed) % 3);
        unsigned char *b = mp__buf_get(size);
        cr_assert_not_null(b);
        memset(b, (int)(seed & 0xff), size); /* a block is never handed to two owners */
        for (size_t k = 0; k < size; k += 256)
            cr_assert_eq(b[k], (unsigned char)(seed & 0xff));
        mp__buf_put(b, size);
    }
    return NULL;
}

Test(alloc, buffer_cache_is_safe_from_many_threads, .timeout = 60)
{
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, cache_churn, (void *)(i + 1));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    size_t blocks, bytes;
    mp__buf_cached(&blocks, &bytes);
    cr_assert_leq(blocks, MP__BUF_CACHE_SLOTS);
    cr_assert_leq(bytes, MP__BUF_CACHE_BYTES);
    mp__buf_drain();
}

/* ---- huge blocks (the pipeline's slab) ----------------------------------------- */

Test(alloc, huge_blocks_are_aligned_cached_apart_and_refuse_odd_sizes, .timeout = 10)
{
    mp__buf_drain();
    size_t blocks, bytes;
    cr_assert_null(mp__buf_get_huge(0));
    cr_assert_null(mp__buf_get_huge(MP__HUGE_PAGE + 4096)); /* not whole huge pages */
    unsigned char *h = mp__buf_get_huge(2 * MP__HUGE_PAGE);
    cr_assert_not_null(h);
    cr_assert_eq((uintptr_t)h % MP__HUGE_PAGE, 0);
    memset(h, 0x5a, 2 * MP__HUGE_PAGE); /* every byte is ours */
    mp__buf_put_huge(h, 2 * MP__HUGE_PAGE);
    mp__buf_cached(&blocks, &bytes);
    cr_assert_eq(blocks, 1);
    cr_assert_eq(bytes, 2 * MP__HUGE_PAGE);
    /* A plain block of the same size is not a mapped one: the cache keeps it. */
    unsigned char *p = mp__buf_get(2 * MP__HUGE_PAGE);
    cr_assert_not_null(p);
    cr_assert_neq(p, h);
    mp__buf_cached(&blocks, &bytes);
    cr_assert_eq(blocks, 1);
    /* Another huge size neither. */
    unsigned char *g = mp__buf_get_huge(MP__HUGE_PAGE);
    cr_assert_not_null(g);
    cr_assert_neq(g, h);
    /* The same size and kind: the same pages, still holding what was written. */
    unsigned char *k = mp__buf_get_huge(2 * MP__HUGE_PAGE);
    cr_assert_eq(k, h);
    cr_assert_eq(k[2 * MP__HUGE_PAGE - 1], 0x5a);
    mp__buf_cached(&blocks, &bytes);
    cr_assert_eq(blocks, 0);
    /* Each goes back by its own kind (a malloc block to free, a mapped one to
     * munmap): under ASan or valgrind a mix-up would be reported here. */
    mp__buf_put(p, 2 * MP__HUGE_PAGE);
    mp__buf_put_huge(g, MP__HUGE_PAGE);
    mp__buf_put_huge(k, 2 * MP__HUGE_PAGE);
    mp__buf_put_huge(NULL, MP__HUGE_PAGE); /* accepted */
    mp__buf_drain();
    mp__buf_cached(&blocks, &bytes);
    cr_assert_eq(blocks, 0);
    cr_assert_eq(bytes, 0);
}

Test(alloc, huge_blocks_count_for_the_fault_hook, .timeout = 10)
{
    mp__buf_drain();
    mp__alloc_fail_at(1);
    cr_assert_null(mp__buf_get_huge(MP__HUGE_PAGE));
    void *h = mp__buf_get_huge(MP__HUGE_PAGE);
    cr_assert_not_null(h);
    mp__buf_put_huge(h, MP__HUGE_PAGE);
    mp__alloc_fail_at(1); /* a cache hit counts too */
    cr_assert_null(mp__buf_get_huge(MP__HUGE_PAGE));
    mp__alloc_fail_at(0);
    mp__buf_drain();
}
