/*
 * ring.h - descriptor rings: a thin wrapper over ck_ring.
 *
 * Rings carry pointers to descriptors (never records one by one). Three
 * kinds, each on ck 0.7.1's matching ck_ring_*_{spsc,spmc,mpsc} calls:
 *
 *   kind   producers  consumers   ck calls
 *   SPSC   1          1           enqueue_spsc / dequeue_spsc
 *   SPMC   1          many        enqueue_spmc / trydequeue_spmc, dequeue_spmc
 *   MPSC   many       1           enqueue_mpsc / dequeue_mpsc
 *
 * "1" means one thread at a time: a role may move between threads when
 * the hand-over itself is a release/acquire pair (the pipeline's stage
 * tokens do this).
 *
 * Sharp edges handled here: a ring of size N holds N - 1 (capacity is
 * reported as such); ck_ring_init does not check that N is a power of
 * two (mp__ring_init does); trydequeue_spmc may fail while the ring is
 * non-empty (mp__ring_trytake's false means "nothing taken", never
 * "empty" or "end"); an MPSC enqueue that finds the ring full because a
 * preempted producer holds a reserved slot is retried and counted in
 * `stalls`.
 *
 * Blocking variants spin a bounded number of times, then sleep on the
 * ring's event counts (see ec.h), so signalling costs nothing when
 * nobody waits and no wake-up is lost.
 */
#ifndef MP_RING_H
#define MP_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <ck_ring.h>
#include <marcpipe/common.h>
#include "ec.h"

typedef enum mp__ring_kind { MP_RING_SPSC = 0, MP_RING_SPMC = 1, MP_RING_MPSC = 2 } mp__ring_kind;

typedef struct mp__ring {
    ck_ring_t ring;          /* ck state: written by ck's enqueue/dequeue only */
    ck_ring_buffer_t *slots; /* set at init; read-only afterwards */
    unsigned size;           /* set at init; read-only afterwards */
    mp__ring_kind kind;      /* set at init; read-only afterwards */
    mp__ec not_empty;        /* signalled by putters after a put; takers sleep on it */
    mp__ec not_full;         /* signalled by takers after a take; putters sleep on it */
    _Atomic uint32_t
        hwm; /* occupancy high-water mark: written by putters (CAS max), read by stats */
    _Atomic uint64_t
        stalls; /* MPSC full-while-reserved retries: written by putters, read by stats */
    _Atomic uint64_t
        sleeps; /* blocking calls that slept: written by blocked threads, read by stats */
} mp__ring;

/* size: power of two >= 2 (usable capacity size - 1). MP_OK, MP_EINVAL, MP_ENOMEM. */
int mp__ring_init(mp__ring *r, mp__ring_kind kind, unsigned size);
void mp__ring_destroy(mp__ring *r);

/* Non-blocking put; false: the ring was full. Wait-free for SPSC/SPMC. */
bool mp__ring_tryput(mp__ring *r, void *desc);

/*
 * Non-blocking take; false: nothing was taken (the ring may still be
 * non-empty for SPMC, where a racing consumer won the slot).
 */
bool mp__ring_trytake(mp__ring *r, void **desc);

/*
 * Blocking put/take: bounded spin, then sleep. Return MP_OK, MP_ECANCELED
 * once *cancel != 0 (cancel may be NULL), or MP_EAGAIN at `deadline`
 * (absolute CLOCK_MONOTONIC, NULL for none). Whoever sets *cancel must
 * call mp__ring_wake_all afterwards.
 */
int mp__ring_put(mp__ring *r, void *desc, const _Atomic int *cancel,
                 const struct timespec *deadline);
int mp__ring_take(mp__ring *r, void **desc, const _Atomic int *cancel,
                  const struct timespec *deadline);

/* Wakes every thread sleeping in mp__ring_put/take (after a cancel). */
void mp__ring_wake_all(mp__ring *r);

/* Approximate occupancy (exact when no operation is concurrent). */
unsigned mp__ring_count(const mp__ring *r);
/* Usable capacity: size - 1. */
unsigned mp__ring_capacity(const mp__ring *r);

#endif
