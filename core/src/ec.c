/*
 * ec.c - event counts over ck_ec32 with Linux futex operations.
 *
 * ck_ec keeps a 31-bit counter and a "waiters" flag in one 32-bit word.
 * A waiter sets the flag, re-checks the value and sleeps in FUTEX_WAIT
 * only while the word still holds the flagged old value; a signaller's
 * atomic increment returns the old word, and only when the flag was set
 * does it clear it and issue FUTEX_WAKE (ck_ec32_wake). That is why a
 * wake-up cannot be lost and why signalling costs one atomic add when
 * nobody waits.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "ec.h"

static int mp__ec_gettime(const struct ck_ec_ops *ops, struct timespec *out)
{
    (void)ops;
    return clock_gettime(CLOCK_MONOTONIC, out);
}

/*
 * FUTEX_WAIT_BITSET takes an absolute timeout on CLOCK_MONOTONIC (no
 * FUTEX_CLOCK_REALTIME flag), which is exactly the deadline ck_ec hands
 * us (computed with gettime above). Returns early on any signal or
 * EAGAIN; ck_ec re-checks.
 */
static void mp__ec_wait32(const struct ck_ec_wait_state *state, const uint32_t *addr,
                          uint32_t expected, const struct timespec *deadline)
{
    (void)state;
    syscall(SYS_futex, addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, deadline, NULL,
            FUTEX_BITSET_MATCH_ANY);
}

static void mp__ec_wake32(const struct ck_ec_ops *ops, const uint32_t *addr)
{
    (void)ops;
    syscall(SYS_futex, addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, INT_MAX, NULL, NULL, 0);
}

static const struct ck_ec_ops mp__ec_ops = {
    .gettime = mp__ec_gettime,
    .wait32 = mp__ec_wait32,
    .wake32 = mp__ec_wake32,
    .busy_loop_iter = 100,
    /* The backoff only bounds each futex sleep; a wake-up ends it early. */
    .initial_wait_ns = 2 * 1000 * 1000,
    .wait_scale_factor = 8,
    .wait_shift_count = 0,
};

/* Many signallers per event count: never the single-producer fast path. */
static const struct ck_ec_mode mp__ec_mode = {.ops = &mp__ec_ops, .single_producer = false};

void mp__ec_init(mp__ec *ec)
{
    ck_ec32_init(ec, 0);
}

uint32_t mp__ec_value(const mp__ec *ec)
{
    /* ck_ec32_value: load + acquire fence; pairs with mp__ec_signal's store fence. */
    return ck_ec32_value(ec);
}

void mp__ec_signal(mp__ec *ec)
{
    /* ck_ec32_inc: store-atomic fence + locked add (full barrier on x86); pairs with
     * mp__ec_value's acquire in the waiter. */
    ck_ec32_inc(ec, &mp__ec_mode);
}

int mp__ec_has_waiters(const mp__ec *ec)
{
    return ck_ec32_has_waiters(ec) ? 1 : 0;
}

/*
 * ck_ec's slow path sleeps in exponentially growing slices (2, 16, 128,
 * 1024 ms) and only compares the caller's deadline between slices, so a
 * 50 ms deadline could sleep 128 ms. This predicate, which ck_ec calls
 * before each futex sleep and which may shorten that sleep, clamps every
 * slice to the caller's deadline (state->data).
 */
static int mp__ec_clamp_deadline(const struct ck_ec_wait_state *state, struct timespec *slice_end)
{
    const struct timespec *user = state->data;

    if (user->tv_sec < slice_end->tv_sec ||
        (user->tv_sec == slice_end->tv_sec && user->tv_nsec < slice_end->tv_nsec))
        *slice_end = *user;
    return 0;
}

int mp__ec_wait(mp__ec *ec, uint32_t old, const struct timespec *deadline)
{
    if (deadline == NULL)
        return ck_ec32_wait(ec, &mp__ec_mode, old, NULL) == 0 ? 0 : -1;
    return ck_ec32_wait_pred(ec, &mp__ec_mode, old, mp__ec_clamp_deadline, (void *)deadline,
                             deadline) == 0
               ? 0
               : -1;
}

void mp__deadline_in(struct timespec *deadline, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, deadline);
    deadline->tv_sec += ms / 1000;
    deadline->tv_nsec += (ms % 1000) * 1000000L;
    if (deadline->tv_nsec >= 1000000000L) {
        deadline->tv_sec += 1;
        deadline->tv_nsec -= 1000000000L;
    }
}
