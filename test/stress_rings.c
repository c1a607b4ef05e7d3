/*
 * stress_rings.c - SPMC and MPSC rings under several threads with random
 * stalls; per-producer sequence checks. Plain executable (TSan-able).
 * Usage: stress_rings [--seconds N]. Exit status 0: every check passed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "ring.h"

#define NPROD 3
#define NCONS 3

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void maybe_stall(unsigned *seed)
{
    unsigned r = (unsigned)rand_r(seed) % 1000;
    if (r == 0)
        usleep(50);
    else if (r < 5)
        sched_yield();
}

/* Descriptors carry (producer, seq) in a heap cell so the payload handed
 * over through the ring is checked too (TSan sees these plain accesses). */
typedef struct cell {
    uint32_t producer;
    uint64_t seq;
} cell;

static double deadline;
static _Atomic int failed;
static _Atomic int stop;

/* ---- SPMC: one producer, NCONS consumers ---------------------------------- */
static mp__ring spmc;
static _Atomic uint64_t spmc_taken, spmc_sum;

static void *spmc_cons(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    uint64_t last = 0;
    for (;;) {
        void *d;
        _Atomic int *cancel = &stop;
        int rc = mp__ring_take(&spmc, &d, cancel, NULL);
        if (rc != MP_OK) {
            /* drain what is left after stop */
            while (mp__ring_trytake(&spmc, &d)) {
                cell *c = d;
                atomic_fetch_add(&spmc_taken, 1);
                atomic_fetch_add(&spmc_sum, c->seq);
                free(c);
            }
            break;
        }
        cell *c = d;
        /* A single producer: each consumer sees increasing seqs. */
        if (c->seq <= last) {
            fprintf(stderr, "spmc: seq %lu after %lu\n", (unsigned long)c->seq,
                    (unsigned long)last);
            atomic_store(&failed, 1);
        }
        last = c->seq;
        atomic_fetch_add(&spmc_taken, 1);
        atomic_fetch_add(&spmc_sum, c->seq);
        free(c);
        maybe_stall(&seed);
    }
    return NULL;
}

static int run_spmc(double secs)
{
    pthread_t t[NCONS];
    uint64_t n = 0, sum = 0;
    unsigned seed = 5;
    atomic_store(&stop, 0);
    if (mp__ring_init(&spmc, MP_RING_SPMC, 8) != MP_OK)
        return 1;
    for (uintptr_t i = 0; i < NCONS; i++)
        pthread_create(&t[i], NULL, spmc_cons, (void *)(i + 1));
    deadline = now_s() + secs;
    while (now_s() < deadline) {
        for (int k = 0; k < 1000; k++) {
            cell *c = malloc(sizeof(*c));
            c->producer = 0;
            c->seq = ++n;
            sum += n;
            if (mp__ring_put(&spmc, c, NULL, NULL) != MP_OK)
                return 1;
            maybe_stall(&seed);
        }
    }
    /* Wait until the consumers took everything, then stop them. */
    while (mp__ring_count(&spmc) > 0)
        usleep(100);
    atomic_store_explicit(&stop, 1, memory_order_release);
    mp__ring_wake_all(&spmc);
    for (int i = 0; i < NCONS; i++)
        pthread_join(t[i], NULL);
    printf("spmc: %lu items, %d consumers, sleeps %lu\n", (unsigned long)n, NCONS,
           (unsigned long)atomic_load(&spmc.sleeps));
    mp__ring_destroy(&spmc);
    if (atomic_load(&spmc_taken) != n || atomic_load(&spmc_sum) != sum) {
        fprintf(stderr, "spmc: taken %lu of %lu\n", (unsigned long)atomic_load(&spmc_taken),
                (unsigned long)n);
        return 1;
    }
    return 0;
}

/* ---- MPSC: NPROD producers, one consumer ------------------------------------ */
static mp__ring mpsc;
static _Atomic uint64_t mpsc_sent[NPROD];

static void *mpsc_prod(void *arg)
{
    uint32_t id = (uint32_t)(uintptr_t)arg;
    unsigned seed = id + 100;
    uint64_t seq = 0;
    while (now_s() < deadline) {
        for (int k = 0; k < 500; k++) {
            cell *c = malloc(sizeof(*c));
            c->producer = id;
            c->seq = ++seq;
            if (mp__ring_put(&mpsc, c, NULL, NULL) != MP_OK)
                abort();
            maybe_stall(&seed);
        }
    }
    atomic_store(&mpsc_sent[id], seq);
    return NULL;
}

static int run_mpsc(double secs)
{
    pthread_t t[NPROD];
    uint64_t next[NPROD] = {0}, got = 0;
    if (mp__ring_init(&mpsc, MP_RING_MPSC, 4) != MP_OK)
        return 1;
    deadline = now_s() + secs;
    for (uintptr_t i = 0; i < NPROD; i++)
        pthread_create(&t[i], NULL, mpsc_prod, (void *)i);
    int producers_done = 0;
    for (;;) {
        void *d;
        struct timespec dl;
        mp__deadline_in(&dl, 50);
        int rc = mp__ring_take(&mpsc, &d, NULL, &dl);
        if (rc == MP_EAGAIN) {
            if (producers_done)
                break;
            if (now_s() > deadline + 1.0) {
                for (int i = 0; i < NPROD; i++)
                    pthread_join(t[i], NULL);
                producers_done = 1;
            }
            continue;
        }
        cell *c = d;
        if (c->producer >= NPROD || c->seq != next[c->producer] + 1) {
            fprintf(stderr, "mpsc: producer %u seq %lu after %lu\n", c->producer,
                    (unsigned long)c->seq, (unsigned long)next[c->producer % NPROD]);
            atomic_store(&failed, 1);
        } else {
            next[c->producer] = c->seq;
        }
        got++;
        free(c);
    }
    int bad = 0;
    for (int i = 0; i < NPROD; i++)
        if (next[i] != atomic_load(&mpsc_sent[i]))
            bad = 1;
    printf("mpsc: %lu items, %d producers, stalls %lu, sleeps %lu\n", (unsigned long)got, NPROD,
           (unsigned long)atomic_load(&mpsc.stalls), (unsigned long)atomic_load(&mpsc.sleeps));
    mp__ring_destroy(&mpsc);
    return bad;
}

int main(int argc, char **argv)
{
    double secs = 5;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            secs = atof(argv[++i]);
    int rc = run_spmc(secs / 2) | run_mpsc(secs / 2) | atomic_load(&failed);
    printf("stress_rings: %s\n", rc ? "FAIL" : "ok");
    return rc ? 1 : 0;
}
