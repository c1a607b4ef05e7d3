/*
 * arena.h - per-chunk bump allocator for record indexes.
 *
 * Owned by one chunk; written only by the thread that currently owns the
 * chunk (a worker while parsing, the consumer while reading). Blocks are
 * kept on reset, so in steady state a recycled chunk allocates nothing.
 */
#ifndef MP_ARENA_H
#define MP_ARENA_H

#include <stddef.h>

typedef struct mp_arena_block mp_arena_block;

typedef struct mp_arena {
    mp_arena_block *head; /* first block (kept across resets) */
    mp_arena_block *cur;  /* block being filled */
    size_t used;          /* bytes used in cur */
    size_t block_size;    /* default size of a new block */
} mp_arena;

void mp_arena_init(mp_arena *a, size_t block_size);
/* Returns aligned memory or NULL when allocation fails (never aborts). */
void *mp_arena_alloc(mp_arena *a, size_t n, size_t align);
/* Forgets all allocations, keeps the blocks. */
void mp_arena_reset(mp_arena *a);
void mp_arena_free(mp_arena *a);
/* Total bytes reserved in blocks (for stats and the memory bound). */
size_t mp_arena_reserved(const mp_arena *a);

#endif
