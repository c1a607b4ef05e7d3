/* ec_test.c - event counts: timeouts, wake-ups, no lost wake-up (ping-pong). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include "ec.h"

Test(ec, value_signal_and_timeout, .timeout = 10)
{
    mp__ec ec;
    struct timespec dl;
    mp__ec_init(&ec);
    uint32_t v = mp__ec_value(&ec);
    cr_assert_eq(mp__ec_has_waiters(&ec), 0);
    mp__deadline_in(&dl, 10);
    cr_assert_eq(mp__ec_wait(&ec, v, &dl), -1, "wait without signal must time out");
    mp__ec_signal(&ec);
    cr_assert_neq(mp__ec_value(&ec), v);
    cr_assert_eq(mp__ec_wait(&ec, v, NULL), 0, "a changed value returns at once");
}

/* Ping-pong: two threads hand a token back and forth through two event
 * counts, each waiting with the snapshot protocol. A lost wake-up hangs
 * (and the test times out). */
#define ROUNDS 20000

static mp__ec ping, pong;
static _Atomic int turn; /* 0: main's turn, 1: peer's turn */

static void *peer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        for (;;) {
            uint32_t v = mp__ec_value(&ping);
            if (atomic_load_explicit(&turn, memory_order_acquire) == 1)
                break;
            mp__ec_wait(&ping, v, NULL);
        }
        atomic_store_explicit(&turn, 0, memory_order_release);
        mp__ec_signal(&pong);
    }
    return NULL;
}

Test(ec, ping_pong_no_lost_wakeup, .timeout = 60)
{
    pthread_t t;
    mp__ec_init(&ping);
    mp__ec_init(&pong);
    atomic_store(&turn, 0);
    pthread_create(&t, NULL, peer, NULL);
    for (int i = 0; i < ROUNDS; i++) {
        atomic_store_explicit(&turn, 1, memory_order_release);
        mp__ec_signal(&ping);
        for (;;) {
            uint32_t v = mp__ec_value(&pong);
            if (atomic_load_explicit(&turn, memory_order_acquire) == 0)
                break;
            mp__ec_wait(&pong, v, NULL);
        }
    }
    pthread_join(t, NULL);
}

static mp__ec many;
static _Atomic int flag;

static void *sleeper(void *arg)
{
    (void)arg;
    for (;;) {
        uint32_t v = mp__ec_value(&many);
        if (atomic_load_explicit(&flag, memory_order_acquire))
            return NULL;
        mp__ec_wait(&many, v, NULL);
    }
}

Test(ec, signal_wakes_every_sleeper, .timeout = 30)
{
    pthread_t t[4];
    mp__ec_init(&many);
    atomic_store(&flag, 0);
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, sleeper, NULL);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL); /* let them fall asleep */
    cr_assert_eq(mp__ec_has_waiters(&many), 1);
    atomic_store_explicit(&flag, 1, memory_order_release);
    mp__ec_signal(&many);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}
