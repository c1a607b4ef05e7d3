/*
 * stress_churn.c - attach/detach churn on one shared pool (plain
 * executable; run under TSan by `make test-tsan`).
 *
 * Four client threads open readers on one 2-worker pool, read a random
 * number of records (checked against the intact read), and close, over
 * and over, so attach, RCU-protected registry walks, detach and grace
 * periods overlap all the time. At the end the pool must report no
 * attached pipeline and be destroyable. Options: --seconds S (default 5),
 * --clients N (default 4).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../test/fuzz/relcheck.h"

static mp_pool *g_pool;
static mf_buf g_buf;
static mf_seq g_ref;
static double g_seconds = 5;
/* relaxed counters: statistics only, read after join */
static _Atomic unsigned long g_cycles, g_fails, g_max_attached;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *client(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg * 1000003u;
    double end = now_s() + g_seconds;
    while (now_s() < end) {
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        mp_reader *r = NULL;
        o.mode = MP_MODE_PIPELINE; /* small inputs: MP_MODE_AUTO would not attach them */
        o.pool = g_pool;
        o.chunk_size = (size_t)64 << (rc_rand(&rng) % 8);
        o.chunks_in_flight = 2 + (unsigned)(rc_rand(&rng) % 4);
        if (mp_reader_open_mem(&r, g_buf.p, g_buf.len, &o) != MP_OK) {
            /* relaxed: statistics only */
            atomic_fetch_add_explicit(&g_fails, 1, memory_order_relaxed);
            continue;
        }
        unsigned a = mp_pool_attached(g_pool);
        /* relaxed: statistics only (racy max is fine) */
        if (a > atomic_load_explicit(&g_max_attached, memory_order_relaxed))
            atomic_store_explicit(&g_max_attached, a, memory_order_relaxed);
        uint64_t take = rc_rand(&rng) % (g_ref.n + 2);
        for (uint64_t t = 0; t < take; t++) {
            const mp_record *rec;
            int rc = mp_reader_next(r, &rec);
            if (rc != MP_OK) {
                if (rc != MP_EOF || t != g_ref.n)
                    /* relaxed: statistics only */
                    atomic_fetch_add_explicit(&g_fails, 1, memory_order_relaxed);
                break;
            }
            if (g_ref.v[t].hash != mf_record_hash(rec)) {
                /* relaxed: statistics only */
                atomic_fetch_add_explicit(&g_fails, 1, memory_order_relaxed);
                break;
            }
        }
        mp_reader_close(r);
        /* relaxed: statistics only */
        atomic_fetch_add_explicit(&g_cycles, 1, memory_order_relaxed);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned clients = 4;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            g_seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc)
            clients = (unsigned)atoi(argv[++i]);
    }
    if (clients < 1 || clients > 64)
        clients = 4;
    mf_init(&g_buf);
    mf_sample(&g_buf, 40, 13, NULL);
    if (rc_ref_mem(&g_ref, g_buf.p, g_buf.len) != MP_EOF)
        return 1;
    if (mp_pool_create(&g_pool, 2) != MP_OK)
        return 1;
    pthread_t th[64];
    for (unsigned i = 0; i < clients; i++)
        if (pthread_create(&th[i], NULL, client, (void *)(uintptr_t)(i + 1)) != 0)
            return 1;
    for (unsigned i = 0; i < clients; i++)
        pthread_join(th[i], NULL);
    unsigned long fails = atomic_load_explicit(&g_fails, memory_order_relaxed);
    if (mp_pool_attached(g_pool) != 0) {
        fprintf(stderr, "pipelines still attached after every close\n");
        fails++;
    }
    if (mp_pool_destroy(g_pool) != MP_OK) {
        fprintf(stderr, "mp_pool_destroy failed\n");
        fails++;
    }
    printf("stress_churn: %lu attach/read/detach cycles by %u clients on one pool "
           "(max %lu attached at once), %lu failures\n",
           atomic_load_explicit(&g_cycles, memory_order_relaxed), clients,
           atomic_load_explicit(&g_max_attached, memory_order_relaxed), fails);
    mf_seq_free(&g_ref);
    mf_free(&g_buf);
    return fails ? 1 : 0;
}
