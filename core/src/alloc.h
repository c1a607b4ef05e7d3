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
 * Test hook: the k-th allocation from now (1-based) fails and every one
 * after it succeeds; k = 0 disarms. Returns the number of allocations
 * counted since the last arming (to let a test iterate k = 1..N).
 */
uint64_t mp__alloc_fail_at(uint64_t k);
uint64_t mp__alloc_count(void);

#endif
