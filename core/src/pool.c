/*
 * pool.c - the shared pool of pipeline workers and its RCU registry.
 *
 * Workers walk a liburcu (urcu-bp flavour) lock-free hash table of
 * attached entries. Inside a read-side section they only pin entries
 * (active++); every step runs outside it, so a worker may block in I/O
 * without delaying grace periods. A pass pins a batch of entries, leaves
 * the read side, steps each, unpins, and resumes the walk at the next
 * position. A worker that finds nothing runnable in a whole pass sleeps
 * on the pool's event count, whose value it read before the pass: every
 * event that makes work runnable signals that count after making it
 * visible, so the sleep cannot miss it (core/ARCHITECTURE.md) - for at
 * most MP__POOL_STANDBY_MS when it stood back from a pipeline whose own
 * consumer runs it (busy threads, below; ARCHITECTURE.md "Standing back").
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include "alloc.h"
#include "cpus.h"
#include "fork.h"
#include "pool_internal.h"
#include "tsan.h"

/* Entries pinned per read-side section. */
#define MP__POOL_BATCH 32

/* Busy-thread slots (mp__busy_mark), one set per process - the CPUs are
 * the process's, whichever pools its readers use: more consumer threads
 * than this at once are not counted (the workers then just help). */
#define MP__POOL_BUSY_SLOTS 64

/* A slot nobody marked for this long may be claimed by another thread. */
#define MP__POOL_BUSY_RECLAIM_NS 1000000000u

/* pool->state: reservations in the low bits, CLOSED once destroy won. */
#define MP__POOL_CLOSED   (1u << 31)
#define MP__POOL_RESERVED (MP__POOL_CLOSED - 1)

void (*mp__pool_reserve_hook)(mp_pool *pool, int phase);
unsigned mp__pool_cpus_override;

/* One consumer thread's busy mark; 64 bytes, so that two threads' marks
 * rarely share a cache line. */
typedef struct mp__busy_slot {
    /* The thread holding the slot (address of its mp__tl_busy), NULL when
     * free: CAS by claiming threads (mp__busy_mark); read by them. */
    _Atomic(const void *) owner;
    /* Its last mark (mp__pool_now), 0 when cleared: written by the owner
     * (relaxed), read by anyone counting busy threads (relaxed: a hint). */
    _Atomic uint64_t seen;
    char pad[64 - sizeof(void *) - sizeof(uint64_t)];
} mp__busy_slot;

struct mp_pool {
    unsigned nthreads;   /* set at create; read-only afterwards */
    pthread_t *threads;  /* set at create; joined by destroy */
    struct cds_lfht *ht; /* the registry; lfht is internally synchronised */
    mp__ec ec;           /* "work may be runnable": signalled by anyone, workers sleep on it */
    /* "the pipelines a worker may serve changed": signalled by
     * mp__pool_signal_all; workers that stood back from some work sleep on
     * it (MP__STEP_STANDBY_SOME) */
    mp__ec standby;
    mp__ec idle;          /* "a worker left an entry": signalled by workers, closers sleep on it */
    unsigned gen;         /* fork generation at create; read-only afterwards */
    _Atomic int shutdown; /* written by destroy; read by workers */
    /* Reservations (pipelines opening or attached) | MP__POOL_CLOSED: CAS +1
     * by reserve, -1 by unreserve/detach, CAS 0 -> CLOSED by destroy; read
     * by stats. See pool_internal.h, "Pool lifetime". */
    _Atomic uint32_t state;
    _Atomic unsigned closers;     /* threads waiting in detach: written by them, read by workers */
    _Atomic uint64_t next_id;     /* entry ids: fetch_add by attach */
    _Atomic unsigned next_worker; /* worker numbers: fetch_add by each worker at its start */
    _Atomic uint64_t sleeps;      /* worker sleeps: statistics */
    _Atomic uint64_t wakeups;     /* signals that found sleepers: statistics */
    unsigned cpus;                /* mp_cpus_usable() at create (affinity, quota); read-only */
};

/* The process's busy-thread slots (zero-initialised: all free). Slots in
 * use are below mp__busy_hi: CAS max by claimers, read (relaxed) by
 * counters. */
static mp__busy_slot mp__busy[MP__POOL_BUSY_SLOTS];
static _Atomic unsigned mp__busy_hi;

/* This thread's identity for busy slots, and 1 + its slot (0: none yet;
 * a cache: the slot's owner field decides). */
static _Thread_local char mp__tl_busy;
static _Thread_local unsigned mp__tl_busy_slot;

/* A pool worker's number (mp__pool_worker_index); UINT_MAX elsewhere. */
static _Thread_local unsigned mp__tl_worker = UINT_MAX;

uint64_t mp__pool_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The calling thread's slot, claimed if need be; NULL when none is free. */
static mp__busy_slot *mp__my_slot(uint64_t now, int claim)
{
    const void *me = &mp__tl_busy;
    if (mp__tl_busy_slot > 0) {
        mp__busy_slot *b = &mp__busy[mp__tl_busy_slot - 1];
        /* relaxed: the slot is ours while it names us (a hint either way) */
        if (atomic_load_explicit(&b->owner, memory_order_relaxed) == me)
            return b;
    }
    if (!claim)
        return NULL;
    for (unsigned i = 0; i < MP__POOL_BUSY_SLOTS; i++) {
        mp__busy_slot *b = &mp__busy[i];
        /* relaxed: a first look; the CAS below claims */
        const void *o = atomic_load_explicit(&b->owner, memory_order_relaxed);
        /* relaxed: a hint (a slot reclaimed from a live thread only makes
         * that thread claim another one on its next mark) */
        uint64_t seen = atomic_load_explicit(&b->seen, memory_order_relaxed);
        if (o != me && o != NULL && (int64_t)(now - seen) < (int64_t)MP__POOL_BUSY_RECLAIM_NS)
            continue;
        /* relaxed: the slot carries no data but the mark itself */
        if (o != me && !atomic_compare_exchange_strong_explicit(
                           &b->owner, &o, me, memory_order_relaxed, memory_order_relaxed))
            continue;
        /* relaxed: a hint */
        unsigned hi = atomic_load_explicit(&mp__busy_hi, memory_order_relaxed);
        while (hi < i + 1 && /* relaxed: a CAS max of a hint (see the load above) */
               !atomic_compare_exchange_weak_explicit(&mp__busy_hi, &hi, i + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
            ;
        mp__tl_busy_slot = i + 1;
        return b;
    }
    return NULL;
}

void mp__busy_mark(uint64_t now)
{
    mp__busy_slot *b = mp__my_slot(now, 1);
    if (b)
        /* relaxed: a hint for mp__pool_allowed */
        atomic_store_explicit(&b->seen, now, memory_order_relaxed);
}

void mp__busy_clear(void)
{
    mp__busy_slot *b = mp__my_slot(0, 0);
    if (b)
        /* relaxed: a hint for mp__pool_allowed */
        atomic_store_explicit(&b->seen, 0, memory_order_relaxed);
}

unsigned mp__pool_cpus(const mp_pool *pool)
{
    return mp__pool_cpus_override ? mp__pool_cpus_override : pool->cpus;
}

unsigned mp__pool_allowed(mp_pool *pool, uint64_t now)
{
    unsigned cpus = mp__pool_cpus(pool);
    /* relaxed: hints (a slot claimed meanwhile is counted next time) */
    unsigned hi = atomic_load_explicit(&mp__busy_hi, memory_order_relaxed), n = 0;
    for (unsigned i = 0; i < hi; i++) {
        /* relaxed: a hint */
        uint64_t seen = atomic_load_explicit(&mp__busy[i].seen, memory_order_relaxed);
        /* signed: a mark taken just after `now` counts as current */
        if (seen != 0 && (int64_t)(now - seen) < (int64_t)MP__POOL_BUSY_NS && ++n >= cpus)
            return 0;
    }
    return cpus - n;
}

unsigned mp__pool_worker_index(void)
{
    return mp__tl_worker;
}

void mp__pool_entry_init(mp__pool_entry *e, int (*step)(mp__pool_entry *))
{
    cds_lfht_node_init(&e->node);
    e->id = 0;
    e->step = step;
    /* relaxed: before publication (cds_lfht_add orders it) */
    atomic_init(&e->active, 0);
    atomic_init(&e->closing, 0);
}

void mp__pool_signal(mp_pool *pool)
{
    if (mp__ec_has_waiters(&pool->ec))
        /* relaxed: statistics only */
        atomic_fetch_add_explicit(&pool->wakeups, 1, memory_order_relaxed);
    /* release + wake; pairs with the worker's mp__ec_value before its pass */
    mp__ec_signal(&pool->ec);
}

void mp__pool_signal_all(mp_pool *pool)
{
    /* release + wake; pairs with the standing-back worker's mp__ec_value
     * of standby before its pass */
    mp__ec_signal(&pool->standby);
    mp__pool_signal(pool);
}

void mp__pool_counters(const mp_pool *pool, uint64_t *sleeps, uint64_t *wakeups)
{
    /* relaxed: statistics only */
    *sleeps = atomic_load_explicit(&pool->sleeps, memory_order_relaxed);
    /* relaxed: statistics only */
    *wakeups = atomic_load_explicit(&pool->wakeups, memory_order_relaxed);
}

static void mp__pool_unpin(mp_pool *pool, mp__pool_entry *e)
{
    /* seq_cst: Dekker pair with detach's closers++ / load(active); after this
     * decrement the entry may be freed, so it is not touched again. */
    atomic_fetch_sub_explicit(&e->active, 1, memory_order_seq_cst);
    /* seq_cst: the other half of the Dekker pair above */
    if (atomic_load_explicit(&pool->closers, memory_order_seq_cst) != 0)
        mp__ec_signal(&pool->idle);
}

/* Pins up to MP__POOL_BATCH entries from position *pos; returns how many. */
static unsigned mp__pool_pin_batch(mp_pool *pool, unsigned long *pos, mp__pool_entry **batch)
{
    struct cds_lfht_iter it;
    struct cds_lfht_node *node;
    unsigned long i = 0;
    unsigned n = 0;

    rcu_read_lock();
    cds_lfht_for_each(pool->ht, &it, node)
    {
        if (i++ < *pos)
            continue;
        mp__pool_entry *e = caa_container_of(node, mp__pool_entry, node);
        MP__TSAN_ACQUIRE(e); /* lfht's rcu_dereference is invisible to TSan */
        /* seq_cst: pin, then check closing (pairs with detach's store of closing) */
        atomic_fetch_add_explicit(&e->active, 1, memory_order_seq_cst);
        /* seq_cst: see above; a closing entry is skipped */
        if (atomic_load_explicit(&e->closing, memory_order_seq_cst)) {
            mp__pool_unpin(pool, e);
            continue;
        }
        batch[n++] = e;
        if (n == MP__POOL_BATCH)
            break;
    }
    rcu_read_unlock();
    *pos = i;
    return n;
}

static void *mp__pool_worker(void *arg)
{
    mp_pool *pool = arg;
    mp__pool_entry *batch[MP__POOL_BATCH];
    unsigned rot = 0;

    /* relaxed: a number, nothing published with it */
    mp__tl_worker = atomic_fetch_add_explicit(&pool->next_worker, 1, memory_order_relaxed);
    rcu_register_thread();
    for (;;) {
        /* Snapshots before the pass (acquire): any later signal makes the wait return. */
        uint32_t v = mp__ec_value(&pool->ec);
        uint32_t vs = mp__ec_value(&pool->standby);
        /* acquire: pairs with destroy's release store of shutdown */
        if (atomic_load_explicit(&pool->shutdown, memory_order_acquire))
            break;
        bool progress = false, standby = false, standby_some = false;
        unsigned long pos = 0;
        for (;;) {
            unsigned n = mp__pool_pin_batch(pool, &pos, batch);
            for (unsigned k = 0; k < n; k++) {
                mp__pool_entry *e = batch[(k + rot) % n];
                /* relaxed: an optimisation only; the pin keeps e alive either way */
                int r = atomic_load_explicit(&e->closing, memory_order_relaxed) ? MP__STEP_IDLE
                                                                                : e->step(e);
                progress |= r == MP__STEP_PROGRESS;
                standby |= r == MP__STEP_STANDBY;
                standby_some |= r == MP__STEP_STANDBY_SOME;
                mp__pool_unpin(pool, e);
            }
            if (n < MP__POOL_BATCH)
                break;
        }
        rot++;
        if (!progress) {
            /* relaxed: statistics only */
            atomic_fetch_add_explicit(&pool->sleeps, 1, memory_order_relaxed);
            if (standby_some) {
                /* Some consumer runs its pipeline with fewer workers than the
                 * pool has, and this one's number is not among them: the
                 * others are signalled per chunk, so wait where only a change
                 * of what this worker may serve wakes it (pool.standby), and
                 * look again in a while (marks lapse, allowances change). */
                struct timespec until;
                mp__deadline_in(&until, MP__POOL_STANDBY_MS);
                mp__ec_wait(&pool->standby, vs, &until);
            } else if (standby) {
                /* Some consumer runs its pipeline alone: look again in a while
                 * (its mark may lapse) without being woken per chunk - it
                 * does not signal for help meanwhile (pipe.c, mp__pipe_next). */
                struct timespec until;
                mp__deadline_in(&until, MP__POOL_STANDBY_MS);
                mp__ec_wait(&pool->ec, v, &until);
            } else {
                mp__ec_wait(&pool->ec, v, NULL);
            }
        }
    }
    rcu_unregister_thread();
    return NULL;
}

/* Stops and joins `started` workers and frees the pool. `published`: the
 * pool was handed to callers, so a reserve may still be reading its state
 * inside an RCU read-side section (it saw CLOSED and is leaving): wait for
 * a grace period before the memory goes. `forked`: the workers did not
 * survive fork(); there is nobody to stop or join. */
static void mp__pool_free(mp_pool *pool, unsigned started, int published, int forked)
{
    if (!forked) {
        /* release: pairs with the workers' acquire load of shutdown */
        atomic_store_explicit(&pool->shutdown, 1, memory_order_release);
        mp__pool_signal_all(pool);
        for (unsigned i = 0; i < started; i++)
            pthread_join(pool->threads[i], NULL);
    }
    if (pool->ht)
        cds_lfht_destroy(pool->ht, NULL);
    if (published && !forked) {
        synchronize_rcu();
        MP__TSAN_ACQUIRE(&pool->state); /* the reserves' read sections, over now */
    }
    mp__free(pool->threads);
    mp__free(pool);
}

MP_EXPORT int mp_pool_create(mp_pool **out, unsigned threads)
{
    mp_pool *pool = NULL;
    unsigned started = 0;
    int rc = MP_ENOMEM;

    if (!out)
        return MP_EINVAL;
    *out = NULL;
    if (threads == 0)
        threads = mp_cpus_usable();
    if (threads > 1024)
        return MP_EINVAL;
    pool = mp__calloc(1, sizeof(*pool));
    if (!pool)
        goto fail;
    pool->nthreads = threads;
    pool->cpus = mp_cpus_usable();
    pool->gen = mp__fork_generation();
    mp__ec_init(&pool->ec);
    mp__ec_init(&pool->standby);
    mp__ec_init(&pool->idle);
    /* relaxed: before the workers start (pthread_create orders it) */
    atomic_init(&pool->shutdown, 0);
    atomic_init(&pool->state, 0);
    atomic_init(&pool->closers, 0);
    atomic_init(&pool->next_id, 1);
    atomic_init(&pool->next_worker, 0);
    atomic_init(&pool->sleeps, 0);
    atomic_init(&pool->wakeups, 0);
    pool->threads = mp__calloc(threads, sizeof(*pool->threads));
    if (!pool->threads)
        goto fail;
    /* No CDS_LFHT_AUTO_RESIZE: no resize worker thread to stop; workers walk
     * the whole list anyway, so bucket count does not matter. */
    pool->ht = cds_lfht_new(64, 64, 0, 0, NULL);
    if (!pool->ht)
        goto fail;
    for (started = 0; started < threads; started++) {
        if (pthread_create(&pool->threads[started], NULL, mp__pool_worker, pool) != 0) {
            rc = MP_ETHREAD;
            goto fail;
        }
    }
    *out = pool;
    return MP_OK;
fail:
    if (pool)
        mp__pool_free(pool, started, 0, 0);
    return rc;
}

static int mp__pool_destroy(mp_pool *pool, int published)
{
    uint32_t idle = 0;
    if (!pool)
        return MP_OK;
    /* acquire: pairs with the release decrement of the last unreserve/detach
     * (that pipeline is completely gone); the CAS and the reserves' CAS are
     * ordered by the modification order of `state`: exactly one wins. */
    if (!atomic_compare_exchange_strong_explicit(&pool->state, &idle, MP__POOL_CLOSED,
                                                 memory_order_acquire, memory_order_relaxed))
        return (idle & MP__POOL_CLOSED) ? MP_ECLOSED : MP_EBUSY;
    mp__pool_free(pool, pool->nthreads, published, mp__forked(pool->gen));
    return MP_OK;
}

MP_EXPORT int mp_pool_destroy(mp_pool *pool)
{
    return mp__pool_destroy(pool, 1);
}

int mp__pool_destroy_private(mp_pool *pool)
{
    return mp__pool_destroy(pool, 0);
}

MP_EXPORT unsigned mp_pool_threads(const mp_pool *pool)
{
    return pool ? pool->nthreads : 0;
}

MP_EXPORT unsigned mp_pool_attached(const mp_pool *pool)
{
    /* relaxed: a snapshot for the caller */
    return pool ? atomic_load_explicit(&pool->state, memory_order_relaxed) & MP__POOL_RESERVED : 0;
}

int mp__pool_reserve(mp_pool *pool)
{
    int rc = MP_OK;
    /* Everything below reads the pool inside the read side: a destroy that
     * won waits for a grace period before freeing it. */
    rcu_read_lock();
    if (mp__pool_reserve_hook)
        mp__pool_reserve_hook(pool, 0);
    if (mp__forked(pool->gen)) {
        rc = MP_EFORKED;
    } else {
        /* relaxed: the CAS below decides; the value is only its first guess */
        uint32_t s = atomic_load_explicit(&pool->state, memory_order_relaxed);
        do {
            if (s & MP__POOL_CLOSED) {
                rc = MP_ECLOSED;
                break;
            }
            if ((s & MP__POOL_RESERVED) == MP__POOL_RESERVED) {
                rc = MP_EBUSY; /* 2^31 - 1 pipelines on one pool */
                break;
            }
            /* relaxed: only the modification order of `state` matters against
             * destroy's CAS (one of them fails); the pool's fields were
             * published to this thread by whoever handed it the pool */
        } while (!atomic_compare_exchange_weak_explicit(
            &pool->state, &s, s + 1, memory_order_relaxed, memory_order_relaxed));
        if (rc == MP_OK && mp__pool_reserve_hook)
            mp__pool_reserve_hook(pool, 1);
    }
    MP__TSAN_RELEASE(&pool->state); /* the grace period in destroy is invisible to TSan */
    rcu_read_unlock();
    return rc;
}

void mp__pool_unreserve(mp_pool *pool)
{
    /* release: pairs with destroy's acquire CAS (everything this pipeline did
     * with the pool happens before the pool is freed) */
    atomic_fetch_sub_explicit(&pool->state, 1, memory_order_release);
}

void mp__pool_attach(mp_pool *pool, mp__pool_entry *e)
{
    /* relaxed: unique ids only */
    e->id = atomic_fetch_add_explicit(&pool->next_id, 1, memory_order_relaxed);
    MP__TSAN_RELEASE(e); /* lfht's rcu_assign_pointer is invisible to TSan */
    rcu_read_lock();
    /* cds_lfht_add publishes the node with a release (rcu_assign_pointer). */
    cds_lfht_add(pool->ht, (unsigned long)(e->id * 0x9E3779B97F4A7C15ull), &e->node);
    rcu_read_unlock();
    mp__pool_signal_all(pool);
}

void mp__pool_detach(mp_pool *pool, mp__pool_entry *e)
{
    /* seq_cst: pairs with the worker's pin (active++ then load closing) */
    atomic_store_explicit(&e->closing, 1, memory_order_seq_cst);
    rcu_read_lock();
    int rc = cds_lfht_del(pool->ht, &e->node);
    rcu_read_unlock();
    if (rc != 0)
        abort(); /* impossible: detached twice or never attached */
    if (mp__forked(pool->gen)) {
        /* A child of fork(): the workers (and whoever was inside e) are gone;
         * the lock-free table is consistent whatever step they were at. */
        mp__pool_unreserve(pool);
        return;
    }
    /* After the grace period no worker can find e: every pin already happened. */
    synchronize_rcu();
    /* seq_cst: Dekker pair with mp__pool_unpin (decrement active, then load closers) */
    atomic_fetch_add_explicit(&pool->closers, 1, memory_order_seq_cst);
    for (;;) {
        uint32_t v = mp__ec_value(&pool->idle);
        /* seq_cst: the other half of the Dekker pair; also acquires the steps' effects */
        if (atomic_load_explicit(&e->active, memory_order_seq_cst) == 0)
            break;
        mp__ec_wait(&pool->idle, v, NULL);
    }
    /* relaxed: only a hint for workers to skip signalling */
    atomic_fetch_sub_explicit(&pool->closers, 1, memory_order_relaxed);
    mp__pool_unreserve(pool);
}
