/*
 * truncation_test.c - a multi-record stream cut at EVERY byte offset, read
 * by the sequential reader and by the pipeline with small chunks: no crash
 * or hang, every complete record before the cut, exactly one TRUNCATED
 * error at the start of the cut record (none on a record boundary).
 */
#include <criterion/criterion.h>
#include <string.h>
#include "marcfix.h"

#define NREC 12

static void check_cut(const mf_seq *s, const size_t *offs, size_t cut, const char *who)
{
    unsigned full = 0;
    while (full < NREC && offs[full + 1] <= cut)
        full++;
    int on_boundary = cut == offs[full];
    cr_assert_eq(s->end_rc, MP_EOF, "%s cut %zu: ended with %s", who, cut, mp_err_name(s->end_rc));
    cr_assert_eq(s->n, full + (on_boundary ? 0 : 1), "%s cut %zu: %zu items", who, cut, s->n);
    for (unsigned i = 0; i < full; i++) {
        cr_assert_eq(s->v[i].rc, MP_OK, "%s cut %zu item %u", who, cut, i);
        cr_assert_eq(s->v[i].offset, offs[i]);
    }
    if (!on_boundary) {
        const mf_item *t = &s->v[full];
        cr_assert_eq(t->rc, MP_ERECORD, "%s cut %zu", who, cut);
        cr_assert_eq(t->kind, MP_EK_TRUNCATED, "%s cut %zu: kind %d", who, cut, t->kind);
        cr_assert_eq(t->offset, offs[full], "%s cut %zu", who, cut);
        cr_assert_eq(t->length, cut - offs[full]);
        cr_assert_eq(t->has_rec, 0);
    }
}

static void run(int pipeline)
{
    mf_buf b;
    size_t offs[NREC + 1];
    mf_init(&b);
    mf_sample(&b, NREC, 21, offs);
    mp_pool *pool = NULL;
    if (pipeline)
        cr_assert_eq(mp_pool_create(&pool, 2), MP_OK);
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.mode = MP_MODE_PIPELINE; /* tiny inputs: MP_MODE_AUTO would read them sequentially */
    o.pool = pool;
    for (size_t cut = 0; cut <= b.len; cut++) {
        mf_seq s;
        if (pipeline) {
            o.chunk_size = 64 + (cut % 7) * 97; /* tiny, varying chunks */
            mp_reader *r;
            cr_assert_eq(mp_reader_open_mem(&r, b.p, cut, &o), MP_OK);
            mf_collect(&s, r);
            mp_reader_close(r);
        } else {
            mp_reader *r;
            cr_assert_eq(mp_reader_open_mem(&r, b.p, cut, mf_seqopts(&o)), MP_OK);
            mf_collect(&s, r);
            mp_reader_close(r);
        }
        check_cut(&s, offs, cut, pipeline ? "pipeline" : "sequential");
        mf_seq_free(&s);
    }
    if (pool)
        cr_assert_eq(mp_pool_destroy(pool), MP_OK);
    mf_free(&b);
}

Test(truncation, every_offset_sequential, .timeout = 120)
{
    run(0);
}

Test(truncation, every_offset_pipeline, .timeout = 300)
{
    run(1);
}
