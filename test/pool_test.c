/* pool_test.c - the shared pool: many pipelines, EBUSY, attach/detach,
 * destroy racing an open. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include "nlformat.h"
#include "pipe.h"
#include "pool_internal.h"

Test(pool, create_destroy_and_counts, .timeout = 30)
{
    mp_pool *pool;
    cr_assert_eq(mp_pool_create(&pool, 3), MP_OK);
    cr_assert_eq(mp_pool_threads(pool), 3);
    cr_assert_eq(mp_pool_attached(pool), 0);
    cr_assert_eq(mp_pool_destroy(pool), MP_OK);
    cr_assert_eq(mp_pool_destroy(NULL), MP_OK);
    cr_assert_eq(mp_pool_create(NULL, 1), MP_EINVAL);
    cr_assert_eq(mp_pool_create(&pool, 0), MP_OK, "0: one per CPU");
    cr_assert_geq(mp_pool_threads(pool), 1);
    cr_assert_eq(mp_pool_destroy(pool), MP_OK);
}

Test(pool, destroy_is_busy_while_attached, .timeout = 30)
{
    mp_pool *pool;
    nl_format f;
    mem_source s;
    mp__pipe_config cfg;
    mp__pipe *p;
    cr_assert_eq(mp_pool_create(&pool, 2), MP_OK);
    nl_format_init(&f, 100);
    mem_source_init(&s, "a\nb\n", 4);
    nl_config(&cfg, &f, &s);
    cfg.pool = pool;
    cr_assert_eq(mp__pipe_open(&p, &cfg), MP_OK);
    cr_assert_eq(mp_pool_attached(pool), 1);
    cr_assert_eq(mp_pool_destroy(pool), MP_EBUSY);
    mp__pipe_close(p);
    cr_assert_eq(mp_pool_attached(pool), 0);
    cr_assert_eq(mp_pool_destroy(pool), MP_OK);
}

#define NPIPES 200

Test(pool, many_pipelines_share_one_pool, .timeout = 120)
{
    mp_pool *pool;
    cr_assert_eq(mp_pool_create(&pool, 2), MP_OK);
    nl_format f;
    nl_format_init(&f, 200);
    static mem_source src[NPIPES];
    static mp__pipe *pipes[NPIPES];
    static unsigned char *data[NPIPES];
    static size_t len[NPIPES];
    static nl_run want[NPIPES], got[NPIPES];
    for (int i = 0; i < NPIPES; i++) {
        data[i] = nl_gen((unsigned)i + 1, 50 + (size_t)i % 37, 1, 150, &len[i]);
        nl_expect(data[i], len[i], 200, &want[i]);
        mem_source_init(&src[i], data[i], len[i]);
        mp__pipe_config cfg;
        nl_config(&cfg, &f, &src[i]);
        cfg.pool = pool;
        cfg.chunk_size = 256;
        cfg.chunks = 2;
        cr_assert_eq(mp__pipe_open(&pipes[i], &cfg), MP_OK);
        memset(&got[i], 0, sizeof(got[i]));
    }
    cr_assert_eq(mp_pool_attached(pool), NPIPES);
    cr_assert_eq(mp_pool_threads(pool), 2, "no threads per pipeline");
    /* Interleave consumption across all pipelines, one chunk at a time. */
    int live = NPIPES;
    static int done[NPIPES];
    while (live > 0) {
        for (int i = 0; i < NPIPES; i++) {
            if (done[i])
                continue;
            mp__chunk *c;
            cr_assert_eq(mp__pipe_next(pipes[i], &c, NULL), MP_OK);
            if (c->status != 0) {
                cr_assert_eq(c->status, MP_EOF);
                done[i] = 1;
                live--;
            } else {
                for (uint32_t k = 0; k < c->nitems; k++) {
                    const nl_result *r = c->items[k].result;
                    cr_assert_not_null(r);
                    cr_assert_eq(r->sum, nl_hash(c->items[k].data, c->items[k].len));
                    got[i].n++;
                    cr_assert_eq(c->items[k].offset, want[i].units[c->items[k].ordinal].offset);
                }
            }
            mp__chunk_release(c);
        }
    }
    for (int i = 0; i < NPIPES; i++) {
        cr_assert_eq(got[i].n, want[i].n, "pipeline %d", i);
        mp__pipe_close(pipes[i]);
        nl_run_free(&want[i]);
        free(data[i]);
    }
    cr_assert_eq(mp_pool_destroy(pool), MP_OK);
}

/* ---- destroy racing an open (issue #16, item 2) ------------------------------
 * The reserve hook holds the opener inside mp__pool_reserve's read-side
 * section - the window where the old attach read a pool that destroy had
 * already freed (ASan: heap-use-after-free in mp__pool_attach). */

static _Atomic int race_phase_seen = -1; /* the hook's phase once it ran */
static _Atomic int race_go;              /* main thread: the opener may go on */
static int race_hold_phase;              /* the phase at which the hook holds */

static void race_hook(mp_pool *pool, int phase)
{
    (void)pool;
    if (phase != race_hold_phase)
        return;
    atomic_store(&race_phase_seen, phase);
    while (!atomic_load(&race_go))
        ;
    /* Let the other side run well into its call. */
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

typedef struct race_open {
    mp_pool *pool;
    nl_format f;
    mem_source s;
    mp__pipe *p;
    int rc;
} race_open;

static void *race_opener(void *arg)
{
    race_open *o = arg;
    mp__pipe_config cfg;
    nl_format_init(&o->f, 100);
    mem_source_init(&o->s, "a\nb\nc\n", 6);
    nl_config(&cfg, &o->f, &o->s);
    cfg.pool = o->pool;
    o->rc = mp__pipe_open(&o->p, &cfg);
    return NULL;
}

static void race_run(int hold_phase, race_open *o, int *destroy_rc)
{
    pthread_t t;
    race_hold_phase = hold_phase;
    atomic_store(&race_phase_seen, -1);
    atomic_store(&race_go, 0);
    mp__pool_reserve_hook = race_hook;
    cr_assert_eq(mp_pool_create(&o->pool, 2), MP_OK);
    cr_assert_eq(pthread_create(&t, NULL, race_opener, o), 0);
    while (atomic_load(&race_phase_seen) != hold_phase)
        ;
    atomic_store(&race_go, 1); /* the opener sleeps 20 ms, still inside the window */
    *destroy_rc = mp_pool_destroy(o->pool);
    pthread_join(t, NULL);
    mp__pool_reserve_hook = NULL;
}

Test(pool, destroy_wins_against_an_open_in_the_window, .timeout = 30)
{
    race_open o;
    int drc;
    race_run(0, &o, &drc); /* held before its reservation */
    cr_assert_eq(drc, MP_OK, "destroy: %s", mp_err_name(drc));
    cr_assert_eq(o.rc, MP_ECLOSED, "the open fails cleanly: %s", mp_err_name(o.rc));
}

Test(pool, open_wins_when_it_reserved_first, .timeout = 30)
{
    race_open o;
    int drc;
    race_run(1, &o, &drc); /* held after its reservation */
    cr_assert_eq(drc, MP_EBUSY, "destroy: %s", mp_err_name(drc));
    cr_assert_eq(o.rc, MP_OK, "the open goes on: %s", mp_err_name(o.rc));
    nl_run got;
    memset(&got, 0, sizeof got);
    cr_assert_eq(nl_drain(o.p, &got, 0), MP_OK);
    cr_assert_eq(got.n, 3);
    cr_assert_eq(got.final_rc, MP_EOF);
    nl_run_free(&got);
    mp__pipe_close(o.p);
    cr_assert_eq(mp_pool_destroy(o.pool), MP_OK, "destroyable once the pipeline closed");
}
