/*
 * ringbench.c - core micro-benchmark: descriptor hand-off rate through
 * mp__ring (SPSC / SPMC / MPSC, one producer thread and one consumer
 * thread, blocking put/take) and event-count wake-up latency (from
 * mp__ec_signal to the sleeping waiter running again).
 * Usage: ringbench [--items N] [--wakeups N]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ec.h"
#include "ring.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static mp__ring ring;
static uint64_t items = 5000000;

static void *producer(void *arg)
{
    (void)arg;
    for (uint64_t i = 1; i <= items; i++)
        if (mp__ring_put(&ring, (void *)(uintptr_t)i, NULL, NULL) != MP_OK)
            abort();
    return NULL;
}

static double handoff(mp__ring_kind kind, unsigned size, uint64_t *sleeps)
{
    pthread_t t;
    if (mp__ring_init(&ring, kind, size) != MP_OK)
        abort();
    uint64_t t0 = now_ns(), sum = 0;
    pthread_create(&t, NULL, producer, NULL);
    for (uint64_t i = 0; i < items; i++) {
        void *d;
        if (mp__ring_take(&ring, &d, NULL, NULL) != MP_OK)
            abort();
        sum += (uintptr_t)d;
    }
    uint64_t t1 = now_ns();
    pthread_join(t, NULL);
    if (sum != items * (items + 1) / 2)
        abort();
    *sleeps = atomic_load(&ring.sleeps);
    mp__ring_destroy(&ring);
    return (double)items / ((double)(t1 - t0) / 1e9);
}

static mp__ec ec;
static _Atomic uint64_t signal_at;
static _Atomic int rounds_left;
static uint64_t *lat;

static void *waiter(void *arg)
{
    int n = (int)(intptr_t)arg;
    for (int i = 0; i < n; i++) {
        uint32_t v = mp__ec_value(&ec);
        atomic_store(&rounds_left, n - i); /* "I am about to sleep on v" */
        while (mp__ec_value(&ec) == v)
            mp__ec_wait(&ec, v, NULL);
        lat[i] = now_ns() - atomic_load(&signal_at);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int wakeups = 2000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--items") && i + 1 < argc)
            items = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--wakeups") && i + 1 < argc)
            wakeups = atoi(argv[++i]);
    }
    static const struct {
        mp__ring_kind kind;
        const char *name;
    } kinds[] = {{MP_RING_SPSC, "SPSC"}, {MP_RING_SPMC, "SPMC"}, {MP_RING_MPSC, "MPSC"}};
    printf("%-6s %10s %14s %12s\n", "ring", "size", "items/s", "sleeps");
    for (int k = 0; k < 3; k++) {
        for (unsigned size = 16; size <= 1024; size *= 64) {
            uint64_t sleeps;
            double rate = handoff(kinds[k].kind, size, &sleeps);
            printf("%-6s %10u %14.0f %12lu\n", kinds[k].name, size, rate, (unsigned long)sleeps);
        }
    }

    /* Wake-up latency: signal only once the waiter has set the sleeper flag. */
    pthread_t t;
    lat = calloc((size_t)wakeups, sizeof(*lat));
    mp__ec_init(&ec);
    atomic_store(&rounds_left, 0);
    pthread_create(&t, NULL, waiter, (void *)(intptr_t)wakeups);
    for (int i = 0; i < wakeups; i++) {
        while (atomic_load(&rounds_left) != wakeups - i)
            ;
        while (!mp__ec_has_waiters(&ec))
            ; /* the waiter is (about to be) in FUTEX_WAIT */
        struct timespec ts = {0, 20000};
        nanosleep(&ts, NULL); /* let it really fall asleep */
        atomic_store(&signal_at, now_ns());
        mp__ec_signal(&ec);
    }
    pthread_join(t, NULL);
    qsort(lat, (size_t)wakeups, sizeof(*lat), cmp_u64);
    printf("\nwake-up latency (signal -> sleeping waiter runs), %d samples:\n", wakeups);
    printf("  median %lu ns   p90 %lu ns   p99 %lu ns   max %lu ns\n",
           (unsigned long)lat[wakeups / 2], (unsigned long)lat[wakeups * 9 / 10],
           (unsigned long)lat[wakeups * 99 / 100], (unsigned long)lat[wakeups - 1]);
    free(lat);
    return 0;
}
