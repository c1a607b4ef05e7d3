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

struct mp__pool_entry {
    struct cds_lfht_node node; /* registry link: written by attach/detach (lfht) */
    uint64_t id;               /* set before attach; read-only afterwards */
    /* One step of work on the entry; returns true when it made progress.
     * Called by pool workers, concurrently from several workers. Never
     * called inside an RCU read-side section. Set before attach. */
    bool (*step)(mp__pool_entry *e);
    _Atomic uint32_t active; /* workers inside the entry: written by workers, read by the closer */
    _Atomic int closing;     /* written once by the closer; read by workers */
};

/* Prepares an entry (before attach). */
void mp__pool_entry_init(mp__pool_entry *e, bool (*step)(mp__pool_entry *));

/* Adds e to the registry and wakes the workers. Any thread. MP_OK or MP_EINVAL (shut down). */
int mp__pool_attach(mp_pool *pool, mp__pool_entry *e);

/*
 * Marks e closing, removes it from the registry, waits for an RCU grace
 * period and then until no worker is inside e. Any thread not inside an
 * RCU read-side section; once per attached entry. After it returns, e
 * may be freed.
 */
void mp__pool_detach(mp_pool *pool, mp__pool_entry *e);

/* Wakes sleeping workers: something may have become runnable. Any thread. */
void mp__pool_signal(mp_pool *pool);

/* Worker sleep/wake counters (the pool's, shared by all its pipelines). */
void mp__pool_counters(const mp_pool *pool, uint64_t *sleeps, uint64_t *wakeups);

#endif
