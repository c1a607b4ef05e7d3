/* alloc_test.c - mp__malloc & co. and the "fail the k-th allocation" hook (core/src/alloc.c). */
#include <criterion/criterion.h>
#include <stdint.h>
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
