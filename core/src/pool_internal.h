/*
 * pool_internal.h - what a pool needs from the pipelines it runs.
 *
 * The pool knows nothing of pipelines: it runs `step` on registry
 * entries. A pipeline embeds an mp__pool_entry and attaches it.
 *
 * Entry protocol (see core/ARCHITECTURE.md, "RCU registry"):
 *   worker, inside rcu_read_lock:  active++ (seq_cst); if closing: active--, skip
 *   worker, outside the read side:  step(e); active-- (seq_cst);
 *                                   if pool->closers != 0 (seq_cst): signal pool->idle
 *   closer:  closing = 1 (seq_cst); detach (cds_lfht_del + synchronize_rcu);
 *            closers++ (seq_cst); wait on pool->idle until active == 0; closers--
 * After that no worker can reach the entry, and none is inside it. The
 * worker never touches the entry after its decrement (the closer may free
 * it at once), which is why the idle event count lives in the pool.
 *
 * Pool lifetime (reserve vs destroy): `pool->state` counts reservations
 * (one per pipeline being opened or attached) in its low bits and has a
 * CLOSED bit. A pipeline reserves before it touches anything else of the
 * pool and gives the reservation back at the end of detach (or when its
 * open fails). Reserve CASes count + 1 unless CLOSED, inside an RCU
 * read-side section; destroy CASes 0 -> CLOSED (else MP_EBUSY), stops the
 * workers, and waits for a grace period before freeing the pool. So of a
 * racing open and destroy exactly one wins: the open (destroy returns
 * MP_EBUSY and changes nothing) or the destroy (the open fails with
 * MP_ECLOSED without writing to the pool, and the pool is freed only after
 * the open has left its read-side section).
 */
#ifndef MP_POOL_INTERNAL_H
#define MP_POOL_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <marcpipe/pool.h>
#include <urcu-bp.h>
#include <urcu/rculfhash.h>
#include "ec.h"

typedef struct mp__pool_entry mp__pool_entry;

/* What one step of a worker on an entry did. */
enum {
    MP__STEP_IDLE = 0,     /* nothing to do */
    MP__STEP_PROGRESS = 1, /* did some work: look again */
    /* Left the work to the entry's own consumer thread, which runs it alone
     * (no worker of the pool may help: mp__pool_allowed said 0): the
     * worker, if it finds nothing else, waits MP__POOL_STANDBY_MS on the
     * pool's event count and looks again, whether or not anyone signals. */
    MP__STEP_STANDBY = 2,
    /* Left the work to the consumer and the pool's lower-numbered workers
     * (mp__pool_worker_index >= the entry's allowance): the others keep
     * being signalled per chunk, so the worker, if it finds nothing else,
     * waits MP__POOL_STANDBY_MS on the pool's standby event count, which
     * only mp__pool_signal_all signals. */
    MP__STEP_STANDBY_SOME = 3
};

struct mp__pool_entry {
    struct cds_lfht_node node; /* registry link: written by attach/detach (lfht) */
    uint64_t id;               /* set before attach; read-only afterwards */
    /* One step of work on the entry; returns an MP__STEP_* value. Called
     * by pool workers, concurrently from several workers. Never called
     * inside an RCU read-side section. Set before attach. */
    int (*step)(mp__pool_entry *e);
    _Atomic uint32_t active; /* workers inside the entry: written by workers, read by the closer */
    _Atomic int closing;     /* written once by the closer; read by workers */
};

/* Prepares an entry (before attach). */
void mp__pool_entry_init(mp__pool_entry *e, int (*step)(mp__pool_entry *));

/*
 * Takes a reservation on the pool: mp_pool_destroy returns MP_EBUSY until
 * it is given back (mp__pool_unreserve, or the detach of the entry
 * attached with it). The first thing a pipeline does with a pool. Any
 * thread not inside an RCU read-side section; lock-free. Returns MP_OK,
 * MP_ECLOSED (destroy won: nothing was written to the pool) or
 * MP_EFORKED (the pool was created before fork() and this is the child).
 */
int mp__pool_reserve(mp_pool *pool);
/* Gives back a reservation that was never attached. Any thread. */
void mp__pool_unreserve(mp_pool *pool);

/* Adds e to the registry and wakes the workers; uses the caller's
 * reservation (given back by mp__pool_detach). Any thread. */
void mp__pool_attach(mp_pool *pool, mp__pool_entry *e);

/*
 * Marks e closing, removes it from the registry, waits for an RCU grace
 * period and then until no worker is inside e, and gives back the
 * reservation. Any thread not inside an RCU read-side section; once per
 * attached entry. After it returns, e may be freed. In a forked child (a
 * pool from before the fork) it only unlinks e: no worker exists there.
 */
void mp__pool_detach(mp_pool *pool, mp__pool_entry *e);

/* Test hook: called inside mp__pool_reserve's read-side section, with
 * phase 0 before the reservation CAS and 1 after a successful one (NULL:
 * none). Lets tests hold an open inside the race window while another
 * thread destroys the pool. Set it while no pool is in use. */
extern void (*mp__pool_reserve_hook)(mp_pool *pool, int phase);

/* mp_pool_destroy for a pool only its creator ever saw (a pipeline's
 * private pool): no reserve can race it, so no grace period is needed. */
int mp__pool_destroy_private(mp_pool *pool);

/* Wakes sleeping workers: something may have become runnable. Any thread.
 * Workers standing back from some pipelines' work (MP__STEP_STANDBY_SOME)
 * are not woken: they look again within MP__POOL_STANDBY_MS. */
void mp__pool_signal(mp_pool *pool);
/* Wakes every sleeping worker, those standing back too: the pipelines a
 * worker may serve changed (attach, a consumer's allowance grew or lapsed,
 * cancel, shutdown). Any thread. */
void mp__pool_signal_all(mp_pool *pool);
/* The calling pool worker's number, 0 .. threads - 1 in start order
 * (UINT_MAX on any other thread). */
unsigned mp__pool_worker_index(void);

/* Worker sleep/wake counters (the pool's, shared by all its pipelines). */
void mp__pool_counters(const mp_pool *pool, uint64_t *sleeps, uint64_t *wakeups);

/*
 * Busy consumer threads (core/ARCHITECTURE.md, "Standing back").
 *
 * A consumer thread that does all of its pipeline's steps itself when
 * nobody else does (MP_HELP_ALL: a file or memory source, whose reads
 * never wait) marks itself busy on every mp__pipe_next call, in one set of
 * marks per process (whatever pools its readers use: the CPUs are the
 * process's). When the distinct threads marked busy in the last
 * MP__POOL_BUSY_NS fill the CPUs this process may run on, a worker that
 * steps in takes a CPU from one of them: its steps cost hand-offs, cache
 * misses and context switches, and add nothing. It stands back instead
 * (MP__STEP_STANDBY). With fewer busy threads than CPUs, the workers
 * numbered at or above the CPUs left stand back likewise
 * (MP__STEP_STANDBY_SOME, mp__pool_allowed). The marks are hints: a wrong guess costs speed,
 * never progress (a consumer that is about to sleep first unmarks its
 * pipeline and signals the pool).
 */
#define MP__POOL_BUSY_NS    2000000u /* a busy mark lasts 2 ms */
#define MP__POOL_STANDBY_MS 10       /* a standing-back worker looks again after 10 ms */

/* CLOCK_MONOTONIC in ns (vDSO: no system call). */
uint64_t mp__pool_now(void);
/* Marks the calling thread busy at `now`. Any thread; wait-free after the
 * thread's first call (which claims a slot; with every slot taken by live
 * threads the mark is dropped: the workers just help). */
void mp__busy_mark(uint64_t now);
/* Clears the calling thread's mark (it is about to sleep). Any thread. */
void mp__busy_clear(void);
/* How many of `pool`'s workers may help a busy consumer thread at `now`:
 * the CPUs of `pool` (those its creator could run on) less the distinct
 * threads marked busy in the last MP__POOL_BUSY_NS, 0 when they fill the
 * CPUs. Workers numbered at or above it stand back (a pool with a worker
 * per CPU and one busy reader: the reader's thread and cpus - 1 workers
 * run, not cpus + 1 threads). Any thread. */
unsigned mp__pool_allowed(mp_pool *pool, uint64_t now);
/* The CPUs mp__pool_allowed counts from: those the pool's creator could
 * use (mp_cpus_usable at create: affinity and cgroup quota), or the test
 * hook's. Any thread. */
unsigned mp__pool_cpus(const mp_pool *pool);
/* Test hook: the CPU count mp__pool_allowed counts from (0: the pool's
 * own, mp_cpus_usable at create). Set while no pool runs. */
extern unsigned mp__pool_cpus_override;

#endif
