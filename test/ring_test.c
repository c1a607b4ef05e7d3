/* ring_test.c - mp__ring: capacity, wrap-around, sizes, concurrent SPMC/MPSC. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "ring.h"

static const mp__ring_kind kinds[] = {MP_RING_SPSC, MP_RING_SPMC, MP_RING_MPSC};

Test(ring, rejects_bad_sizes, .timeout = 10)
{
    mp__ring r;
    cr_assert_eq(mp__ring_init(&r, MP_RING_SPSC, 0), MP_EINVAL);
    cr_assert_eq(mp__ring_init(&r, MP_RING_SPSC, 1), MP_EINVAL);
    cr_assert_eq(mp__ring_init(&r, MP_RING_SPMC, 3), MP_EINVAL);
    cr_assert_eq(mp__ring_init(&r, MP_RING_MPSC, 12), MP_EINVAL);
    cr_assert_eq(mp__ring_init(&r, (mp__ring_kind)7, 8), MP_EINVAL);
    cr_assert_eq(mp__ring_init(&r, MP_RING_MPSC, 2), MP_OK);
    cr_assert_eq(mp__ring_capacity(&r), 1);
    mp__ring_destroy(&r);
}

Test(ring, full_empty_capacity_wrap, .timeout = 10)
{
    for (unsigned k = 0; k < 3; k++) {
        mp__ring r;
        cr_assert_eq(mp__ring_init(&r, kinds[k], 8), MP_OK);
        cr_assert_eq(mp__ring_capacity(&r), 7);
        void *d;
        cr_assert(!mp__ring_trytake(&r, &d), "empty ring gave something");
        uintptr_t next_put = 1, next_take = 1;
        /* Many rounds of fill/drain walk the indexes around the ring. */
        for (int round = 0; round < 100; round++) {
            unsigned fill = 1 + (unsigned)round % 7;
            for (unsigned i = 0; i < fill; i++)
                cr_assert(mp__ring_tryput(&r, (void *)next_put++));
            if (fill == 7) {
                cr_assert(!mp__ring_tryput(&r, (void *)99), "a size-8 ring held 8");
                cr_assert_eq(mp__ring_count(&r), 7);
            }
            for (unsigned i = 0; i < fill; i++) {
                cr_assert(mp__ring_trytake(&r, &d));
                cr_assert_eq((uintptr_t)d, next_take++, "FIFO order broken (kind %u)", k);
            }
            cr_assert(!mp__ring_trytake(&r, &d));
        }
        cr_assert_eq(atomic_load(&r.hwm), 7);
        mp__ring_destroy(&r);
    }
}

Test(ring, blocking_timeout_and_cancel, .timeout = 10)
{
    mp__ring r;
    _Atomic int cancel = 0;
    struct timespec dl;
    void *d;
    cr_assert_eq(mp__ring_init(&r, MP_RING_MPSC, 2), MP_OK);
    mp__deadline_in(&dl, 20);
    cr_assert_eq(mp__ring_take(&r, &d, &cancel, &dl), MP_EAGAIN);
    cr_assert_eq(mp__ring_put(&r, (void *)1, &cancel, NULL), MP_OK);
    mp__deadline_in(&dl, 20);
    cr_assert_eq(mp__ring_put(&r, (void *)2, &cancel, &dl), MP_EAGAIN);
    atomic_store(&cancel, 1);
    cr_assert_eq(mp__ring_put(&r, (void *)2, &cancel, NULL), MP_ECANCELED);
    cr_assert_eq(mp__ring_take(&r, &d, &cancel, NULL), MP_OK);
    cr_assert_eq((uintptr_t)d, 1);
    cr_assert_eq(mp__ring_take(&r, &d, &cancel, NULL), MP_ECANCELED);
    mp__ring_destroy(&r);
}

/* ---- concurrent: SPMC with racing consumers (spurious trytake failures) ---- */

#define SPMC_ITEMS     200000
#define SPMC_CONSUMERS 3

typedef struct spmc_ctx {
    mp__ring r;
    _Atomic uint64_t taken, sum;
    _Atomic int done;
    _Atomic uint64_t spurious;
} spmc_ctx;

static void *spmc_consumer(void *arg)
{
    spmc_ctx *x = arg;
    for (;;) {
        void *d;
        if (mp__ring_trytake(&x->r, &d)) {
            atomic_fetch_add(&x->taken, 1);
            atomic_fetch_add(&x->sum, (uintptr_t)d);
            continue;
        }
        if (mp__ring_count(&x->r) > 0)
            atomic_fetch_add(&x->spurious, 1); /* tolerated: a racer won the slot */
        else if (atomic_load(&x->done) && mp__ring_count(&x->r) == 0)
            break;
    }
    return NULL;
}

Test(ring, spmc_concurrent_exact_count, .timeout = 60)
{
    spmc_ctx x = {0};
    pthread_t t[SPMC_CONSUMERS];
    cr_assert_eq(mp__ring_init(&x.r, MP_RING_SPMC, 16), MP_OK);
    for (int i = 0; i < SPMC_CONSUMERS; i++)
        pthread_create(&t[i], NULL, spmc_consumer, &x);
    uint64_t want = 0;
    for (uintptr_t i = 1; i <= SPMC_ITEMS; i++) {
        cr_assert_eq(mp__ring_put(&x.r, (void *)i, NULL, NULL), MP_OK);
        want += i;
    }
    atomic_store(&x.done, 1);
    for (int i = 0; i < SPMC_CONSUMERS; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&x.taken), SPMC_ITEMS);
    cr_assert_eq(atomic_load(&x.sum), want);
    mp__ring_destroy(&x.r);
}

/* ---- concurrent: MPSC, per-producer FIFO ------------------------------------ */

#define MPSC_PRODUCERS 3
#define MPSC_ITEMS     100000

static mp__ring mpsc_ring;

static void *mpsc_producer(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    for (uintptr_t i = 0; i < MPSC_ITEMS; i++)
        if (mp__ring_put(&mpsc_ring, (void *)((id << 32) | (i + 1)), NULL, NULL) != MP_OK)
            abort();
    return NULL;
}

Test(ring, mpsc_concurrent_per_producer_order, .timeout = 240)
{
    pthread_t t[MPSC_PRODUCERS];
    uint64_t next[MPSC_PRODUCERS] = {0};
    cr_assert_eq(mp__ring_init(&mpsc_ring, MP_RING_MPSC, 8), MP_OK);
    for (uintptr_t i = 0; i < MPSC_PRODUCERS; i++)
        pthread_create(&t[i], NULL, mpsc_producer, (void *)i);
    for (uint64_t n = 0; n < (uint64_t)MPSC_PRODUCERS * MPSC_ITEMS; n++) {
        void *d;
        cr_assert_eq(mp__ring_take(&mpsc_ring, &d, NULL, NULL), MP_OK);
        uintptr_t v = (uintptr_t)d, id = v >> 32, seq = v & 0xffffffffu;
        cr_assert(id < MPSC_PRODUCERS);
        cr_assert_eq(seq, next[id] + 1, "producer %lu: got %lu after %lu", (unsigned long)id,
                     (unsigned long)seq, (unsigned long)next[id]);
        next[id] = seq;
    }
    for (int i = 0; i < MPSC_PRODUCERS; i++)
        pthread_join(t[i], NULL);
    void *d;
    cr_assert(!mp__ring_trytake(&mpsc_ring, &d));
    mp__ring_destroy(&mpsc_ring);
}
