/* arena_test.c - bump allocator, block reuse, large requests, fault injection. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <marcpipe/common.h>
#include "alloc.h"
#include "arena.h"

Test(arena, alignment_and_reuse, .timeout = 10)
{
    mp__arena a;
    mp__arena_init(&a, 8192); /* the 1000 allocations fit in the blocks a reset keeps */
    for (int i = 0; i < 1000; i++) {
        size_t al = (size_t)1 << (i % 5);
        unsigned char *p = mp__arena_alloc(&a, 1 + (size_t)i % 50, al);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % al, 0);
        memset(p, 0xab, 1 + (size_t)i % 50);
    }
    size_t reserved = mp__arena_reserved(&a);
    cr_assert_geq(reserved, 8192);
    cr_assert_leq(reserved, MP__ARENA_KEEP_BLOCKS * 8192);
    mp__arena_reset(&a);
    uint64_t before = mp__alloc_count();
    for (int i = 0; i < 1000; i++)
        cr_assert_not_null(mp__arena_alloc(&a, 1 + (size_t)i % 50, 1));
    cr_assert_eq(mp__alloc_count(), before, "a reset arena must reuse its blocks");
    cr_assert_eq(mp__arena_reserved(&a), reserved);
    mp__arena_free(&a);
    cr_assert_eq(mp__arena_reserved(&a), 0);
}

Test(arena, large_requests_get_own_block, .timeout = 10)
{
    mp__arena a;
    mp__arena_init(&a, 256);
    void *small = mp__arena_alloc(&a, 16, 8);
    unsigned char *big = mp__arena_alloc(&a, 100000, 16);
    cr_assert_not_null(small);
    cr_assert_not_null(big);
    memset(big, 1, 100000);
    cr_assert_geq(mp__arena_reserved(&a), 100000);
    mp__arena_reset(&a);
    cr_assert_lt(mp__arena_reserved(&a), 100000, "oversized blocks are dropped on reset");
    cr_assert_null(mp__arena_alloc(&a, 8, 3), "non-power-of-two alignment is refused");
    mp__arena_free(&a);
}

Test(arena, memory_returns_after_reset, .timeout = 10)
{
    /* A hostile record made the arena grow to 1,000 blocks: a reset keeps
     * MP__ARENA_KEEP_BLOCKS of them and frees the rest (issue #16, item 4). */
    mp__arena a;
    mp__arena_init(&a, 4096);
    for (int i = 0; i < 4000; i++)
        cr_assert_not_null(mp__arena_alloc(&a, 1000, 8));
    cr_assert_geq(mp__arena_reserved(&a), 1000 * 4096);
    mp__arena_reset(&a);
    cr_assert_eq(mp__arena_reserved(&a), MP__ARENA_KEEP_BLOCKS * 4096);
    /* The kept blocks are reused: no allocation for what fits in them. */
    uint64_t before = mp__alloc_count();
    for (int i = 0; i < 4 * MP__ARENA_KEEP_BLOCKS; i++)
        cr_assert_not_null(mp__arena_alloc(&a, 1000, 8));
    cr_assert_eq(mp__alloc_count(), before);
    mp__arena_free(&a);
}

Test(arena, rewind_forgets_what_followed_the_mark, .timeout = 10)
{
    mp__arena a;
    mp__arena_init(&a, 1024);
    mp__arena_mark empty = mp__arena_save(&a);
    unsigned char *first = mp__arena_alloc(&a, 100, 1);
    cr_assert_not_null(first);
    mp__arena_rewind(&a, empty); /* back to before the first block existed */
    cr_assert_eq(mp__arena_alloc(&a, 100, 1), first, "the first block is reused");
    mp__arena_mark m = mp__arena_save(&a);
    for (int i = 0; i < 50; i++) /* spills into new blocks */
        cr_assert_not_null(mp__arena_alloc(&a, 500, 1));
    size_t reserved = mp__arena_reserved(&a);
    mp__arena_rewind(&a, m);
    unsigned char *again = mp__arena_alloc(&a, 100, 1);
    cr_assert_eq(again, first + 100, "allocation resumes at the mark");
    uint64_t before = mp__alloc_count();
    for (int i = 0; i < 40; i++) /* the blocks made after the mark are reused */
        cr_assert_not_null(mp__arena_alloc(&a, 500, 1));
    cr_assert_eq(mp__alloc_count(), before);
    cr_assert_eq(mp__arena_reserved(&a), reserved);
    mp__arena_free(&a);
}

Test(arena, fault_injection_returns_null, .timeout = 10)
{
    mp__arena a;
    mp__arena_init(&a, 128);
    mp__alloc_fail_at(1);
    cr_assert_null(mp__arena_alloc(&a, 10, 1));
    cr_assert_not_null(mp__arena_alloc(&a, 10, 1), "only the k-th allocation fails");
    mp__alloc_fail_at(0);
    mp__arena_free(&a);
}

Test(arena, a_lent_first_block_is_used_first_kept_and_never_freed, .timeout = 10)
{
    /* The pipeline lends each chunk's arena a first block from its slab. */
    static _Alignas(64) unsigned char lent[8192];
    mp__arena a;
    mp__arena_init_first(&a, 1024, lent + 1, sizeof lent - 1); /* misaligned on purpose */
    unsigned char *p = mp__arena_alloc(&a, 100, 16);
    cr_assert_not_null(p);
    cr_assert(p > lent && p + 100 <= lent + sizeof lent,
              "the first allocation is in the lent block");
    cr_assert_eq((uintptr_t)p % 16, 0);
    uint64_t before = mp__alloc_count();
    for (int i = 0; i < 70; i++) /* ~7,000 bytes: still the lent block */
        cr_assert_not_null(mp__arena_alloc(&a, 100, 1));
    cr_assert_eq(mp__alloc_count(), before);
    for (int i = 0; i < 40; i++) /* spills into blocks of its own */
        cr_assert_not_null(mp__arena_alloc(&a, 500, 1));
    cr_assert_gt(mp__alloc_count(), before);
    unsigned char *big = mp__arena_alloc(&a, 100000, 8); /* an oversized block too */
    cr_assert_not_null(big);
    memset(big, 1, 100000);
    /* A reset drops the oversized block, keeps the lent one, starts there again. */
    mp__arena_reset(&a);
    cr_assert_lt(mp__arena_reserved(&a), 100000);
    cr_assert_geq(mp__arena_reserved(&a), sizeof lent - 64);
    cr_assert_eq(mp__arena_alloc(&a, 100, 16), p);
    /* A rewind to before anything was allocated also starts in it. */
    mp__arena_reset(&a);
    mp__arena_mark empty = mp__arena_save(&a);
    cr_assert_eq(mp__arena_alloc(&a, 100, 16), p);
    mp__arena_rewind(&a, empty);
    cr_assert_eq(mp__arena_alloc(&a, 100, 16), p);
    /* Freeing gives back its own blocks only (ASan would report a free of
     * `lent`, which is not heap memory). */
    mp__arena_free(&a);
    cr_assert_eq(mp__arena_reserved(&a), 0);
    lent[sizeof lent - 1] = 0; /* still ours */
}

Test(arena, a_lent_block_too_small_is_ignored, .timeout = 10)
{
    unsigned char tiny[32];
    mp__arena a;
    mp__arena_init_first(&a, 1024, tiny, sizeof tiny);
    cr_assert_eq(mp__arena_reserved(&a), 0);
    unsigned char *p = mp__arena_alloc(&a, 10, 1);
    cr_assert_not_null(p);
    cr_assert(p < tiny || p >= tiny + sizeof tiny);
    mp__arena_free(&a);
}
