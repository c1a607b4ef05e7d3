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
 * mp_pool_destroy may race those opens (see below); it joins the workers.
 *
 * Destroy vs open. Every reader holds a reservation on its pool from the
 * moment its open touches the pool until its close. mp_pool_destroy
 * succeeds only when there is none, and marks the pool closed in the same
 * atomic step, so when it runs concurrently with opens on the same pool
 * exactly one side wins: an open that reserved first (destroy returns
 * MP_EBUSY and changes nothing; destroy again after closing that reader),
 * or the destroy (the open returns MP_ECLOSED and has changed nothing).
 * The destroy frees the pool only after an RCU grace period, so an open
 * that was already inside the pool when the destroy won can still read it
 * safely. As with any handle, a call that starts after mp_pool_destroy
 * has returned MP_OK uses freed memory: the caller must make sure no new
 * call can start then (e.g. by dropping its last reference first).
 * After fork(), see mp_reader_close in reader.h: in the child, a pool from
 * before the fork takes no reader (MP_EFORKED) and its destroy joins
 * nothing.
 */
#ifndef MARCPIPE_POOL_H
#define MARCPIPE_POOL_H

#include <marcpipe/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_pool mp_pool;

/*
 * Starts a pool of `threads` workers (0: one per usable CPU, mp_cpus_usable).
 * On success *out owns the pool (free with mp_pool_destroy).
 * Returns MP_OK, MP_EINVAL, MP_ENOMEM or MP_ETHREAD.
 * Readers whose own thread also runs their pipeline (files and memory)
 * count as busy while they read: the workers that would add threads
 * beyond the CPUs stand back from them (with one reader busy on a pool of
 * one worker per CPU, cpus - 1 workers help it), so one worker per CPU
 * suits one reader as well as many (core/ARCHITECTURE.md, "Standing back").
 */
MP_EXPORT int mp_pool_create(mp_pool **out, unsigned threads);

/*
 * Stops and joins the workers and frees the pool. Accepts NULL. Returns
 * MP_OK, or MP_EBUSY (and does nothing) while readers are attached or
 * being opened on it. Thread-safe against opens on the same pool (see
 * "Destroy vs open"); call it once per pool.
 */
MP_EXPORT int mp_pool_destroy(mp_pool *pool);

/* Number of worker threads. Thread-safe. */
MP_EXPORT unsigned mp_pool_threads(const mp_pool *pool);

/*
 * The CPUs this process may use: its affinity mask (sched_getaffinity),
 * lowered to its cgroup's CPU quota where one is set (containers: cgroup v2
 * cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us, the smallest from its
 * cgroup up, rounded up: 0.5 CPU -> 1, 1.5 -> 2). At least 1. The quota is
 * read once per process (its first call); the mask at every call. What
 * mp_pool_create(.., 0), private pools and MP_MODE_AUTO count. Thread-safe.
 */
MP_EXPORT unsigned mp_cpus_usable(void);

/* Number of pipelines attached or being opened (a snapshot). Thread-safe. */
MP_EXPORT unsigned mp_pool_attached(const mp_pool *pool);

#ifdef __cplusplus
}
#endif
#endif
