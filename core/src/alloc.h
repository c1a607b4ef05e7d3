/*
 * alloc.h - the library's allocation entry points and the fault hook.
 *
 * Every allocation in core/ and stages/ goes through these, so tests can
 * fail the k-th allocation (mp__alloc_fail_at) and check that the failure
 * surfaces as MP_ENOMEM with no crash and no leak. Thread-safe.
 */
#ifndef MP_ALLOC_H
#define MP_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *mp__malloc(size_t n);
void *mp__calloc(size_t n, size_t size);
void *mp__realloc(void *p, size_t n);
void mp__free(void *p);
int mp__aligned_alloc(void **out, size_t align, size_t n);

/*
 * Large, long-lived buffers (chunk buffers, arena blocks, the sequential
 * reader's window) are recycled through a small process-wide cache
 * instead of going back to the kernel: on the machines this library is
 * measured on a first touch of a fresh page costs 2-11 us, and glibc
 * maps blocks of >= 128 KiB with mmap and unmaps them on free, so every
 * new reader would fault its whole working set in again.
 *
 * mp__buf_get returns a block of exactly `size` bytes (a cached one when
 * there is one, else mp__malloc's); it counts as one allocation for the
 * fault hook below, cache hit or not. mp__buf_put hands a block of `size`
 * bytes (from mp__buf_get or mp__malloc) back: it is kept while the cache
 * has a free slot and holds less than MP__BUF_CACHE_BYTES, else freed.
 * NULL is accepted. Both are lock-free and may be called from any thread
 * concurrently. mp__buf_drain frees every cached block (tests; also run
 * at process exit).
 */
#define MP__BUF_CACHE_SLOTS 64
#define MP__BUF_CACHE_BYTES ((size_t)64 << 20)
void *mp__buf_get(size_t size);
void mp__buf_put(void *p, size_t size);
void mp__buf_drain(void);
/*
 * The same for a pipeline's working set in one piece (pipe.c, "slab"):
 * `size` must be a non-zero multiple of MP__HUGE_PAGE (else NULL). The
 * block is mapped apart, aligned to MP__HUGE_PAGE and offered to
 * transparent huge pages, so touching it costs one fault per 2 MiB
 * instead of 512: on the development VM (page faults 11 us) a 4 MiB
 * block took 11.5 ms to touch in 4 KiB pages and 0.12-0.34 ms in huge
 * ones. Cached like the others (a cached block is reused only for a
 * request of the same size and kind); mp__buf_put_huge takes it back.
 */
#define MP__HUGE_PAGE ((size_t)2 << 20)
void *mp__buf_get_huge(size_t size);
void mp__buf_put_huge(void *p, size_t size);
/* Blocks and bytes in the cache now (a snapshot, for tests and stats). */
void mp__buf_cached(size_t *blocks, size_t *bytes);

/*
 * Test hook: the k-th allocation from now (1-based) fails and every one
 * after it succeeds; k = 0 disarms. Returns the number of allocations
 * counted since the last arming (to let a test iterate k = 1..N).
 */
uint64_t mp__alloc_fail_at(uint64_t k);
uint64_t mp__alloc_count(void);

#endif
