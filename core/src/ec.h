/*
 * ec.h - futex-backed event counts (a thin layer over ck_ec32).
 *
 * An event count is a 31-bit counter plus a "somebody sleeps" flag.
 * The waiter protocol, which cannot lose a wake-up:
 *
 *     uint32_t v = mp__ec_value(ec);     // 1. snapshot (acquire)
 *     if (condition_holds()) ...        // 2. re-check the condition
 *     mp__ec_wait(ec, v, deadline);      // 3. sleeps only while value == v
 *
 * and the signaller: make the condition true (with release semantics),
 * then mp__ec_signal(ec). ck_ec32_inc is a write barrier and only enters
 * the kernel (FUTEX_WAKE) when the flag says a thread sleeps, so
 * signalling costs one atomic add when nobody waits.
 *
 * Thread-safety: every function may be called from any thread
 * concurrently (the multi-producer mode of ck_ec is used).
 */
#ifndef MP_EC_H
#define MP_EC_H

#include <stdint.h>
#include <time.h>
#include <ck_ec.h>

typedef struct ck_ec32 mp__ec;

void mp__ec_init(mp__ec *ec);

/* Current value; acts as an acquire barrier (pairs with mp__ec_signal). */
uint32_t mp__ec_value(const mp__ec *ec);

/* Increments the count and wakes every sleeper; a release barrier. */
void mp__ec_signal(mp__ec *ec);

/* True when a thread is (or is about to be) asleep on ec. */
int mp__ec_has_waiters(const mp__ec *ec);

/*
 * Spins briefly, then sleeps on the futex until the value differs from
 * `old`, or until the absolute CLOCK_MONOTONIC `deadline` (NULL: none).
 * Returns 0 when the value changed, -1 on timeout. May return 0 early
 * (spurious); callers always re-check their condition.
 */
int mp__ec_wait(mp__ec *ec, uint32_t old, const struct timespec *deadline);

/* deadline = now + ms (CLOCK_MONOTONIC). */
void mp__deadline_in(struct timespec *deadline, long ms);

#endif
