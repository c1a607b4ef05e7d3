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

typedef struct mp__arena_block mp__arena_block;

typedef struct mp__arena {
    mp__arena_block *head; /* first block (kept across resets) */
    mp__arena_block *cur;  /* block being filled */
    size_t used;           /* bytes used in cur */
    size_t block_size;     /* default size of a new block */
} mp__arena;

void mp__arena_init(mp__arena *a, size_t block_size);
/* Returns aligned memory or NULL when allocation fails (never aborts). */
void *mp__arena_alloc(mp__arena *a, size_t n, size_t align);
/*
 * Gives back the tail of the LAST allocation: p (the pointer the last
 * mp__arena_alloc returned) keeps its first n bytes and the rest is free
 * again (n = 0 frees it all: the bytes stay readable until the next
 * allocation, which may hand out the same address - a grow-in-place
 * idiom). A no-op when p is not in the current block or n is larger
 * than what p got.
 */
void mp__arena_trim(mp__arena *a, void *p, size_t n);
/* Forgets all allocations, keeps the blocks. */
void mp__arena_reset(mp__arena *a);
void mp__arena_free(mp__arena *a);
/* Total bytes reserved in blocks (for stats and the memory bound). */
size_t mp__arena_reserved(const mp__arena *a);

#endif
