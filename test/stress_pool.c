/*
 * stress_pool.c - 1,000 pipelines attaching to and detaching from one
 * shared pool while work flows; every pipeline's output is checked
 * against the sequential model. Some are closed early at random points.
 * Plain executable (TSan-able). Usage: stress_pool [--seconds N].
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nlformat.h"
#include "pipe.h"

#define NTHREADS 4    /* consumer threads, each running many pipelines */
#define TOTAL    1000 /* pipelines opened over the run (at least) */
#define LIVE     16   /* pipelines open at once per consumer thread */

static mp_pool *pool;
static nl_format fmt;
static unsigned char *data;
static size_t datalen;
static nl_run want;
static double deadline;
static _Atomic int failed;
static _Atomic uint64_t opened, completed, early;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct slot {
    mem_source src;
    mp__pipe *p;
    size_t units;
    int close_after; /* chunks before an early close (-1: run to the end) */
    int chunks;
    int ordered; /* ordered delivery: ordinals must come in sequence */
} slot;

static int slot_open(slot *s, unsigned *seed)
{
    mp__pipe_config cfg;
    mem_source_init(&s->src, data, datalen);
    s->src.max_read = 1 + (size_t)rand_r(seed) % 3000;
    nl_config(&cfg, &fmt, &s->src);
    cfg.pool = pool;
    cfg.chunk_size = 128u << (rand_r(seed) % 4);
    cfg.chunks = 2 + (unsigned)rand_r(seed) % 3;
    cfg.ordered = rand_r(seed) % 4 != 0;
    cfg.help = rand_r(seed) % 3; /* the consumer waits, helps parse, or helps read too */
    s->ordered = cfg.ordered;
    s->units = 0;
    s->chunks = 0;
    s->close_after = rand_r(seed) % 5 == 0 ? rand_r(seed) % 6 : -1;
    atomic_fetch_add(&opened, 1);
    return mp__pipe_open(&s->p, &cfg);
}

/* One chunk of work on a slot; returns 1 when the slot finished. */
static int slot_step(slot *s)
{
    mp__chunk *c;
    if (s->close_after >= 0 && s->chunks >= s->close_after) {
        mp__pipe_close(s->p);
        atomic_fetch_add(&early, 1);
        return 1;
    }
    int rc = mp__pipe_next(s->p, &c, NULL);
    if (rc != MP_OK) {
        fprintf(stderr, "next: %s\n", mp_err_name(rc));
        atomic_store(&failed, 1);
        mp__pipe_close(s->p);
        return 1;
    }
    if (c->status != 0) {
        if (c->status != MP_EOF || c->offset != datalen || s->units != want.n) {
            fprintf(stderr, "pipeline ended with %s at %lu after %zu of %zu units\n",
                    mp_err_name(c->status), (unsigned long)c->offset, s->units, want.n);
            atomic_store(&failed, 1);
        }
        mp__chunk_release(c);
        mp__pipe_close(s->p);
        atomic_fetch_add(&completed, 1);
        return 1;
    }
    for (uint32_t i = 0; i < c->nitems; i++) {
        const mp__item *it = &c->items[i];
        const nl_unit *w = it->ordinal < want.n ? &want.units[it->ordinal] : NULL;
        const nl_result *r = it->result;
        if (!w || w->offset != it->offset || w->len != it->len ||
            (it->type == MP_ITEM_RECORD && (!r || r->sum != w->sum)) ||
            (s->ordered && it->ordinal != s->units)) {
            fprintf(stderr, "unit %lu wrong\n", (unsigned long)it->ordinal);
            atomic_store(&failed, 1);
        }
        s->units++;
    }
    s->chunks++;
    mp__chunk_release(c);
    return 0;
}

static void *consumer(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
    slot slots[LIVE];
    for (int i = 0; i < LIVE; i++)
        if (slot_open(&slots[i], &seed) != MP_OK)
            abort();
    int live = LIVE;
    int active[LIVE];
    for (int i = 0; i < LIVE; i++)
        active[i] = 1;
    while (live > 0) {
        for (int i = 0; i < LIVE; i++) {
            if (!active[i])
                continue;
            if (slot_step(&slots[i])) {
                int more = now_s() < deadline || atomic_load(&opened) < TOTAL;
                if (more && slot_open(&slots[i], &seed) == MP_OK)
                    continue;
                active[i] = 0;
                live--;
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double secs = 5;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            secs = atof(argv[++i]);
    nl_format_init(&fmt, 300);
    data = nl_gen(77, 300, 1, 400, &datalen);
    nl_expect(data, datalen, 300, &want);
    if (mp_pool_create(&pool, 2) != MP_OK)
        return 1;
    deadline = now_s() + secs;
    pthread_t t[NTHREADS];
    for (uintptr_t i = 0; i < NTHREADS; i++)
        pthread_create(&t[i], NULL, consumer, (void *)i);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    int rc = mp_pool_destroy(pool);
    printf("stress_pool: %lu pipelines opened, %lu completed, %lu closed early, pool destroy %s\n",
           (unsigned long)atomic_load(&opened), (unsigned long)atomic_load(&completed),
           (unsigned long)atomic_load(&early), mp_err_name(rc));
    nl_run_free(&want);
    free(data);
    if (rc != MP_OK || atomic_load(&failed) || atomic_load(&opened) < TOTAL) {
        printf("stress_pool: FAIL\n");
        return 1;
    }
    printf("stress_pool: ok\n");
    return 0;
}
