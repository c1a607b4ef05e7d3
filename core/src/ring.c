/*
 * ring.c - descriptor rings over ck_ring (see ring.h for the contract).
 *
 * Memory ordering: ck_ring publishes a slot with a store fence before
 * the producer index store and reads it after a load fence, so a
 * descriptor written before mp__ring_tryput is visible to the thread whose
 * mp__ring_trytake returns it (release/acquire through the ring).
 *
 * ThreadSanitizer cannot see ck_pr's inline assembly, so under MP_TSAN
 * the hand-over is re-stated with __tsan_release (before the enqueue:
 * covers everything the putter wrote to the descriptor) and
 * __tsan_acquire (after a successful dequeue), and the slot copies inside
 * ck (plain memcpy racing with the index protocol, by design) are hidden
 * with the ignore-accesses annotations.
 */
#include <stdatomic.h>
#include <marcpipe/common.h>
#include "alloc.h"
#include "ring.h"

#include "tsan.h"

/* Tries before a blocking put/take sleeps. */
#define MP__RING_SPIN 128

int mp__ring_init(mp__ring *r, mp__ring_kind kind, unsigned size)
{
    r->slots = NULL;
    if (size < 2 || (size & (size - 1)) != 0 || size > (1u << 30))
        return MP_EINVAL;
    if (kind != MP_RING_SPSC && kind != MP_RING_SPMC && kind != MP_RING_MPSC)
        return MP_EINVAL;
    r->slots = mp__calloc(size, sizeof(*r->slots));
    if (!r->slots)
        return MP_ENOMEM;
    ck_ring_init(&r->ring, size);
    r->size = size;
    r->kind = kind;
    mp__ec_init(&r->not_empty);
    mp__ec_init(&r->not_full);
    /* relaxed: initialisation before the ring is shared (publication orders it) */
    atomic_init(&r->hwm, 0);
    atomic_init(&r->stalls, 0);
    atomic_init(&r->sleeps, 0);
    return MP_OK;
}

void mp__ring_destroy(mp__ring *r)
{
    if (!r)
        return;
    mp__free(r->slots);
    r->slots = NULL;
}

static void mp__ring_note_hwm(mp__ring *r)
{
    uint32_t n = ck_ring_size(&r->ring);
    /* relaxed: statistics only (CAS max) */
    uint32_t cur = atomic_load_explicit(&r->hwm, memory_order_relaxed);
    while (n > cur && !atomic_compare_exchange_weak_explicit(&r->hwm, &cur, n, memory_order_relaxed,
                                                             memory_order_relaxed))
        ;
}

static bool mp__ring_enqueue_mpsc(mp__ring *r, void *desc)
{
    unsigned ticket;
    void *slot = ck_ring_enqueue_reserve_mpsc(&r->ring, r->slots, &ticket);
    if (!slot) {
        /* Full - possibly only because a preempted producer holds a reserved slot. */
        if (ck_pr_load_uint(&r->ring.p_head) != ck_pr_load_uint(&r->ring.p_tail))
            /* relaxed: statistics only */
            atomic_fetch_add_explicit(&r->stalls, 1, memory_order_relaxed);
        return false;
    }
    *(void **)slot = desc;
    /* The commit spins until every earlier reserver has committed; count it when it will. */
    if (ck_pr_load_uint(&r->ring.p_tail) != ticket)
        /* relaxed: statistics only */
        atomic_fetch_add_explicit(&r->stalls, 1, memory_order_relaxed);
    ck_ring_enqueue_commit_mpsc(&r->ring, ticket);
    return true;
}

bool mp__ring_tryput(mp__ring *r, void *desc)
{
    bool ok;
    MP__TSAN_RELEASE(r);
    MP__TSAN_IGNORE_BEGIN();
    switch (r->kind) {
    case MP_RING_SPSC:
        ok = ck_ring_enqueue_spsc(&r->ring, r->slots, desc);
        break;
    case MP_RING_SPMC:
        ok = ck_ring_enqueue_spmc(&r->ring, r->slots, desc);
        break;
    default:
        ok = mp__ring_enqueue_mpsc(r, desc);
        break;
    }
    MP__TSAN_IGNORE_END();
    if (!ok)
        return false;
    mp__ring_note_hwm(r);
    /* Release barrier + wake; pairs with mp__ec_value in a sleeping taker. */
    mp__ec_signal(&r->not_empty);
    return true;
}

/* Takes one descriptor; for SPMC `retry` selects dequeue (retries a lost
 * CAS, fails only when empty) over trydequeue (one attempt). */
static bool mp__ring_dequeue(mp__ring *r, void **desc, bool retry)
{
    bool ok;
    void *d = NULL;
    MP__TSAN_IGNORE_BEGIN();
    switch (r->kind) {
    case MP_RING_SPSC:
        ok = ck_ring_dequeue_spsc(&r->ring, r->slots, &d);
        break;
    case MP_RING_SPMC:
        ok = retry ? ck_ring_dequeue_spmc(&r->ring, r->slots, &d)
                   : ck_ring_trydequeue_spmc(&r->ring, r->slots, &d);
        break;
    default:
        ok = ck_ring_dequeue_mpsc(&r->ring, r->slots, &d);
        break;
    }
    MP__TSAN_IGNORE_END();
    if (!ok)
        return false;
    MP__TSAN_ACQUIRE(r);
    *desc = d;
    /* Release barrier + wake; pairs with mp__ec_value in a sleeping putter. */
    mp__ec_signal(&r->not_full);
    return true;
}

bool mp__ring_trytake(mp__ring *r, void **desc)
{
    return mp__ring_dequeue(r, desc, false);
}

static int mp__ring_expired(const struct timespec *deadline)
{
    struct timespec now;
    if (!deadline)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

int mp__ring_put(mp__ring *r, void *desc, const _Atomic int *cancel,
                 const struct timespec *deadline)
{
    for (int i = 0; i < MP__RING_SPIN; i++) {
        if (mp__ring_tryput(r, desc))
            return MP_OK;
        ck_pr_stall();
    }
    for (;;) {
        /* Snapshot before the re-check: a take after it changes the value (no lost wake-up). */
        uint32_t v = mp__ec_value(&r->not_full);
        if (mp__ring_tryput(r, desc))
            return MP_OK;
        /* acquire: pairs with the canceller's release store before mp__ring_wake_all */
        if (cancel && atomic_load_explicit(cancel, memory_order_acquire))
            return MP_ECANCELED;
        if (mp__ring_expired(deadline))
            return MP_EAGAIN;
        /* relaxed: statistics only */
        atomic_fetch_add_explicit(&r->sleeps, 1, memory_order_relaxed);
        mp__ec_wait(&r->not_full, v, deadline);
    }
}

int mp__ring_take(mp__ring *r, void **desc, const _Atomic int *cancel,
                  const struct timespec *deadline)
{
    for (int i = 0; i < MP__RING_SPIN; i++) {
        if (mp__ring_dequeue(r, desc, true))
            return MP_OK;
        ck_pr_stall();
    }
    for (;;) {
        /* Snapshot before the re-check: a put after it changes the value (no lost wake-up).
         * The retrying SPMC dequeue fails only when the ring is really empty. */
        uint32_t v = mp__ec_value(&r->not_empty);
        if (mp__ring_dequeue(r, desc, true))
            return MP_OK;
        /* acquire: pairs with the canceller's release store before mp__ring_wake_all */
        if (cancel && atomic_load_explicit(cancel, memory_order_acquire))
            return MP_ECANCELED;
        if (mp__ring_expired(deadline))
            return MP_EAGAIN;
        /* relaxed: statistics only */
        atomic_fetch_add_explicit(&r->sleeps, 1, memory_order_relaxed);
        mp__ec_wait(&r->not_empty, v, deadline);
    }
}

void mp__ring_wake_all(mp__ring *r)
{
    mp__ec_signal(&r->not_empty);
    mp__ec_signal(&r->not_full);
}

unsigned mp__ring_count(const mp__ring *r)
{
    return ck_ring_size(&r->ring);
}

unsigned mp__ring_capacity(const mp__ring *r)
{
    return r->size - 1;
}
