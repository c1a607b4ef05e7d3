/*
 * arena.c - per-chunk bump allocator.
 *
 * Blocks form a list; a reset rewinds to the first block and keeps up to
 * MP__ARENA_KEEP_BLOCKS blocks of the default size, so a recycled chunk
 * allocates nothing in steady state. Oversized blocks (made for one large
 * request) and default blocks past the budget are given up on reset, so one
 * huge or hostile record does not pin memory for ever: what an arena holds
 * between uses is at most MP__ARENA_KEEP_BLOCKS x block_size. Default-size
 * blocks come from and go back to the buffer cache (alloc.h), so the next
 * arena of that size - the next chunk, the next reader - starts with pages
 * that are already mapped; the cache's own bound applies to them.
 *
 * Not thread-safe: owned by whoever owns the chunk (see arena.h).
 */
#include <stdint.h>
#include <string.h>
#include "alloc.h"
#include "arena.h"

struct mp__arena_block {
    mp__arena_block *next;
    size_t size;  /* usable bytes in data */
    int external; /* memory the arena's owner lent (mp__arena_init_first): never freed */
    _Alignas(16) unsigned char data[];
};

void mp__arena_init(mp__arena *a, size_t block_size)
{
    a->head = NULL;
    a->cur = NULL;
    a->used = 0;
    a->block_size = block_size ? block_size : 16384;
}

void mp__arena_init_first(mp__arena *a, size_t block_size, void *mem, size_t mem_size)
{
    mp__arena_init(a, block_size);
    uintptr_t m = ((uintptr_t)mem + 15) & ~(uintptr_t)15;
    size_t skip = (size_t)(m - (uintptr_t)mem);
    if (!mem || mem_size < skip + sizeof(mp__arena_block) + 64)
        return;
    mp__arena_block *b = (mp__arena_block *)m;
    b->next = NULL;
    b->size = mem_size - skip - sizeof(*b);
    b->external = 1;
    a->head = a->cur = b;
}

static mp__arena_block *mp__arena_block_new(size_t size)
{
    mp__arena_block *b = mp__buf_get(sizeof(*b) + size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->external = 0;
    return b;
}

static void *mp__arena_fit(mp__arena_block *b, size_t used, size_t n, size_t align, size_t *end)
{
    uintptr_t base = (uintptr_t)b->data;
    uintptr_t p = (base + used + (align - 1)) & ~(uintptr_t)(align - 1);
    size_t off = (size_t)(p - base);
    if (off > b->size || b->size - off < n)
        return NULL;
    *end = off + n;
    return (void *)p;
}

void *mp__arena_alloc(mp__arena *a, size_t n, size_t align)
{
    size_t end = 0;
    void *p;
    if (align == 0)
        align = 1;
    if (align & (align - 1))
        return NULL;
    if (n > SIZE_MAX / 2)
        return NULL;
    if (a->cur && (p = mp__arena_fit(a->cur, a->used, n, align, &end))) {
        a->used = end;
        return p;
    }
    /* Kept blocks after cur are reused when they are large enough. */
    while (a->cur && a->cur->next) {
        a->cur = a->cur->next;
        a->used = 0;
        if ((p = mp__arena_fit(a->cur, 0, n, align, &end))) {
            a->used = end;
            return p;
        }
    }
    size_t want = n + align;
    mp__arena_block *b = mp__arena_block_new(want > a->block_size ? want : a->block_size);
    if (!b)
        return NULL;
    if (!a->head)
        a->head = b;
    else
        a->cur->next = b; /* cur is the last block here */
    a->cur = b;
    p = mp__arena_fit(b, 0, n, align, &end);
    a->used = end;
    return p;
}

void mp__arena_trim(mp__arena *a, void *p, size_t n)
{
    if (!a->cur || !p)
        return;
    uintptr_t base = (uintptr_t)a->cur->data, q = (uintptr_t)p;
    if (q < base || q > base + a->used)
        return;
    size_t end = (size_t)(q - base);
    if (n > a->used - end)
        return;
    a->used = end + n;
}

/* A default-size block goes back to the buffer cache; a one-off size is not
 * worth a cache slot. */
static void mp__arena_block_free(const mp__arena *a, mp__arena_block *b)
{
    if (b->external)
        return;
    if (b->size == a->block_size)
        mp__buf_put(b, sizeof(*b) + b->size);
    else
        mp__free(b);
}

void mp__arena_reset(mp__arena *a)
{
    mp__arena_block **link = &a->head;
    unsigned kept = 0;
    while (*link) {
        mp__arena_block *b = *link;
        if (!b->external && (b->size > a->block_size || kept == MP__ARENA_KEEP_BLOCKS)) {
            *link = b->next;
            mp__arena_block_free(a, b);
        } else {
            kept++;
            link = &b->next;
        }
    }
    a->cur = a->head;
    a->used = 0;
}

mp__arena_mark mp__arena_save(const mp__arena *a)
{
    mp__arena_mark m = {a->cur, a->used};
    return m;
}

void mp__arena_rewind(mp__arena *a, mp__arena_mark m)
{
    /* cur == NULL: nothing was allocated then; the first block is free again. */
    a->cur = m.cur ? m.cur : a->head;
    a->used = m.cur ? m.used : 0;
}

void mp__arena_free(mp__arena *a)
{
    mp__arena_block *b = a->head;
    while (b) {
        mp__arena_block *n = b->next;
        mp__arena_block_free(a, b);
        b = n;
    }
    a->head = a->cur = NULL;
    a->used = 0;
}

size_t mp__arena_reserved(const mp__arena *a)
{
    size_t total = 0;
    for (const mp__arena_block *b = a->head; b; b = b->next)
        total += b->size;
    return total;
}
