/*
 * arena.h - per-chunk bump allocator for record indexes.
 *
 * Owned by one chunk; written only by the thread that currently owns the
 * chunk (a worker while parsing, the consumer while reading). Blocks of
 * the default size are kept on reset up to a budget (MP__ARENA_KEEP_BLOCKS
 * of them), so in steady state a recycled chunk allocates nothing, and
 * what one hostile chunk made the arena grow to goes back at its reset.
 */
#ifndef MP_ARENA_H
#define MP_ARENA_H

#include <stddef.h>

typedef struct mp__arena_block mp__arena_block;

/* Default-size blocks kept across a reset (the rest is freed): room for a
 * chunk's index and its serialised records (MARCXML: ~2.5 x the chunk) in
 * steady state, so recycled chunks allocate nothing. */
#define MP__ARENA_KEEP_BLOCKS 8

typedef struct mp__arena {
    mp__arena_block *head; /* first block (kept across resets) */
    mp__arena_block *cur;  /* block being filled */
    size_t used;           /* bytes used in cur */
    size_t block_size;     /* default size of a new block */
} mp__arena;

/* A position to come back to (mp__arena_rewind). */
typedef struct mp__arena_mark {
    mp__arena_block *cur;
    size_t used;
} mp__arena_mark;

void mp__arena_init(mp__arena *a, size_t block_size);
/*
 * The same, with `mem` (mem_size bytes, owned by the caller, outliving the
 * arena) as the first block: it is used first, kept across every reset and
 * never freed (mp__arena_free leaves it; the caller frees it after). Used by
 * the pipeline to put every chunk's first block in its huge-page slab.
 * Memory too small for a block is ignored (a plain mp__arena_init).
 */
void mp__arena_init_first(mp__arena *a, size_t block_size, void *mem, size_t mem_size);
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
/* Forgets all allocations; keeps up to MP__ARENA_KEEP_BLOCKS default-size
 * blocks and frees the others (and every oversized block). */
void mp__arena_reset(mp__arena *a);
/* The current position. */
mp__arena_mark mp__arena_save(const mp__arena *a);
/* Forgets the allocations made since `m` (their blocks stay for reuse and
 * go at the next reset). `m` must come from this arena since its last reset. */
void mp__arena_rewind(mp__arena *a, mp__arena_mark m);
void mp__arena_free(mp__arena *a);
/* Total bytes reserved in blocks (for stats and the memory bound). */
size_t mp__arena_reserved(const mp__arena *a);

#endif
