/*
 * marcpipe/pool.h - a shared pool of pipeline worker threads.
 *
 * One mp_pool serves many pipelines (readers) at once: a C service that
 * opens 1,000 readers on one pool runs pool-size threads, not thousands.
 * Pipelines attach to the pool's registry, which workers read under
 * liburcu (urcu-bp) read-side protection; a closing pipeline detaches and
 * is reclaimed only after an RCU grace period and after every worker that
 * was running one of its stages has left it.
 *
 * Thread-safety: mp_pool_create/mp_pool_threads are thread-safe. Pipelines
 * may be opened on and closed from a pool concurrently from any threads.
 * mp_pool_destroy must be called once, after every pipeline on the pool
 * has been closed; it joins the workers.
 */
#ifndef MARCPIPE_POOL_H
#define MARCPIPE_POOL_H

#include <marcpipe/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_pool mp_pool;

/*
 * Starts a pool of `threads` workers (0: one per online CPU).
 * On success *out owns the pool (free with mp_pool_destroy).
 * Returns MP_OK, MP_EINVAL, MP_ENOMEM or MP_ETHREAD.
 */
MP_EXPORT int mp_pool_create(mp_pool **out, unsigned threads);

/*
 * Stops and joins the workers and frees the pool. Accepts NULL.
 * Returns MP_EBUSY (and does nothing) if pipelines are still attached.
 */
MP_EXPORT int mp_pool_destroy(mp_pool *pool);

/* Number of worker threads. Thread-safe. */
MP_EXPORT unsigned mp_pool_threads(const mp_pool *pool);

/* Number of pipelines currently attached (a snapshot). Thread-safe. */
MP_EXPORT unsigned mp_pool_attached(const mp_pool *pool);

#ifdef __cplusplus
}
#endif
#endif
