/*
 * fault_test.c - fault injection: I/O faults at every kind of offset and
 * allocation failure at every k (Criterion; run under ASan+LSan by
 * `make test-asan`, so a leak on any failure path fails the suite).
 *
 *  - a callback source that fails at seeded random byte offsets with EIO
 *    or EINTR (the callback contract makes any negative return an I/O
 *    error: MP_EIO, sys_errno kept), or ends early with a zero-length read
 *    (end of input by contract: the cut record is reported, MP_EOF), with
 *    and without random short reads, through the pipeline and the
 *    sequential reader;
 *  - mp__alloc_fail_at(k) for every k over open + read + close of a small
 *    multi-record input: open fails cleanly with MP_ENOMEM, or the stream
 *    delivers the intact items - where a record whose index could not be
 *    allocated is an error item of kind MEMORY in its place (issue #16,
 *    item 4) - and completes, or ends with MP_ENOMEM (with a position)
 *    after an exact prefix when the failure was not one record's.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include "alloc.h"
#include "fuzz/relcheck.h"

static unsigned long g_faults;

/* Reads through either reader over a faulty callback source. */
static int read_cb(mf_seq *out, rc_src *s, int pipeline, size_t chunk, unsigned threads,
                   const mp_error_info *ei_out[1], mp_error_info *copy)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    int rc;
    o.mode = MP_MODE_PIPELINE; /* the sequential branch below asks for its mode itself */
    o.chunk_size = chunk;
    o.threads = threads;
    o.chunks_in_flight = 3;
    memset(out, 0, sizeof(*out));
    (void)ei_out;
    if (pipeline) {
        mp_reader *r = NULL;
        rc = mp_reader_open_cb(&r, rc_src_read, s, &o);
        if (rc != MP_OK)
            return rc;
        rc = mf_collect(out, r);
        *copy = *mp_reader_error(r);
        mp_reader_close(r);
    } else {
        mp_reader *r = NULL;
        rc = mp_reader_open_cb(&r, rc_src_read, s, mf_seqopts(&o));
        if (rc != MP_OK)
            return rc;
        rc = mf_collect(out, r);
        *copy = *mp_reader_error(r);
        mp_reader_close(r);
    }
    return rc;
}

Test(fault, io_faults_at_random_offsets, .timeout = 240)
{
    mf_buf b;
    size_t offs[31];
    mf_init(&b);
    mf_sample(&b, 30, 3, offs);
    mf_seq full;
    cr_assert_eq(rc_ref_mem(&full, b.p, b.len), MP_EOF);
    cr_assert_eq(full.n, 30);
    uint64_t rng = 42;
    unsigned long runs = 0;
    for (int iter = 0; iter < 400; iter++) {
        int fault = 1 + iter % 3; /* EIO, EINTR, ZERO */
        size_t cut = (size_t)(rc_rand(&rng) % (b.len + 1));
        if (iter % 10 == 0)
            cut = offs[rc_rand(&rng) % 31]; /* exactly at a record boundary */
        for (int pipeline = 0; pipeline < 2; pipeline++) {
            rc_src s = {.data = b.p,
                        .len = b.len,
                        .fail_at = cut,
                        .fault = fault,
                        .short_reads = iter & 1,
                        .avg = 1 + rc_rand(&rng) % 200,
                        .rng = rng};
            mf_seq got;
            mp_error_info ei;
            const mp_error_info *unused[1];
            size_t chunk = 64 + (size_t)(rc_rand(&rng) % 4000);
            int rc = read_cb(&got, &s, pipeline, chunk, 1 + (unsigned)(iter & 1), unused, &ei);
            char why[256];
            runs++;
            g_faults += s.failures > 0;
            cr_assert_eq(rc_check_cut(&full, &got, cut, why, sizeof why), 0,
                         "%s (fault %d at %zu, %s)", why, fault, cut,
                         pipeline ? "pipeline" : "seqreader");
            if (fault == RC_FAULT_ZERO) {
                cr_assert_eq(rc, MP_EOF, "zero-length read at %zu: %s", cut, mp_err_name(rc));
                int at_boundary = 0;
                for (int i = 0; i < 31; i++)
                    at_boundary |= offs[i] == cut;
                if (!at_boundary)
                    cr_assert(got.n > 0 && got.v[got.n - 1].rc == MP_ERECORD &&
                                  got.v[got.n - 1].kind == MP_EK_TRUNCATED,
                              "premature end at %zu inside a record is not reported as TRUNCATED",
                              cut);
                else
                    for (size_t i = 0; i < got.n; i++)
                        cr_assert_eq(got.v[i].rc, MP_OK);
            } else {
                cr_assert_eq(rc, MP_EIO, "fault %d at %zu (%s): %s", fault, cut,
                             pipeline ? "pipeline" : "seqreader", mp_err_name(rc));
                cr_assert_eq(ei.code, MP_EIO);
                cr_assert_eq(ei.sys_errno, fault == RC_FAULT_EIO ? EIO : EINTR);
                cr_assert_eq(ei.offset, cut, "I/O error reported at %llu, injected at %zu (%s)",
                             (unsigned long long)ei.offset, cut,
                             pipeline ? "pipeline" : "seqreader");
            }
            mf_seq_free(&got);
        }
    }
    fprintf(stderr, "fault: %lu runs, %lu I/O faults injected\n", runs, g_faults);
    mf_seq_free(&full);
    mf_free(&b);
}

/* One open + read + close with the k-th allocation failing. */
static uint64_t alloc_run(const mf_buf *b, const mf_seq *ref, int pipeline, uint64_t k,
                          unsigned long *enomem, unsigned long *per_record)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    mf_seq got;
    int rc;
    o.mode = MP_MODE_PIPELINE; /* the sequential branch below asks for its mode itself */
    o.chunk_size = 256;        /* several chunks, spills and arena blocks */
    o.threads = 2;
    o.chunks_in_flight = 3;
    memset(&got, 0, sizeof(got));
    mp__alloc_fail_at(k);
    if (pipeline) {
        mp_reader *r = NULL;
        rc = mp_reader_open_mem(&r, b->p, b->len, &o);
        if (rc == MP_OK) {
            rc = mf_collect(&got, r);
            if (rc != MP_EOF)
                cr_assert(mp_reader_error(r)->code == rc || mp_reader_error(r)->code == 0);
            mp_reader_close(r);
        }
    } else {
        mp_reader *r = NULL;
        rc = mp_reader_open_mem(&r, b->p, b->len, mf_seqopts(&o));
        if (rc == MP_OK) {
            rc = mf_collect(&got, r);
            mp_reader_close(r);
        }
    }
    uint64_t count = mp__alloc_fail_at(0);
    cr_assert(rc == MP_EOF || rc == MP_ENOMEM, "k=%llu (%s): %s", (unsigned long long)k,
              pipeline ? "pipeline" : "seqreader", mp_err_name(rc));
    /* The intact items, nothing before the fault lost; at most one record
     * replaced by its MEMORY error item (one allocation fails). */
    cr_assert_leq(got.n, ref->n);
    unsigned memory_items = 0;
    for (size_t i = 0; i < got.n; i++) {
        if (got.v[i].rc == MP_ERECORD && got.v[i].kind == MP_EK_MEMORY) {
            cr_assert(got.v[i].offset == ref->v[i].offset && got.v[i].length == ref->v[i].length &&
                          !got.v[i].has_rec && ref->v[i].has_rec,
                      "k=%llu: MEMORY item %zu is not in its record's place", (unsigned long long)k,
                      i);
            memory_items++;
            continue;
        }
        cr_assert(got.v[i].rc == ref->v[i].rc && got.v[i].offset == ref->v[i].offset &&
                      got.v[i].hash == ref->v[i].hash,
                  "k=%llu: item %zu differs from the intact read", (unsigned long long)k, i);
    }
    cr_assert_leq(memory_items, 1, "k=%llu: one failed allocation, %u records lost",
                  (unsigned long long)k, memory_items);
    if (rc == MP_EOF)
        cr_assert_eq(got.n, ref->n, "k=%llu: MP_EOF but items missing", (unsigned long long)k);
    else
        (*enomem)++;
    if (memory_items)
        (*per_record)++;
    mf_seq_free(&got);
    return count;
}

static void alloc_every_k(int pipeline)
{
    mf_buf b;
    mf_init(&b);
    mf_sample(&b, 12, 5, NULL);
    mf_seq ref;
    cr_assert_eq(rc_ref_mem(&ref, b.p, b.len), MP_EOF);
    /* Count the allocations of one clean run. */
    unsigned long enomem = 0, per_record = 0;
    uint64_t n = alloc_run(&b, &ref, pipeline, 0, &enomem, &per_record);
    cr_assert_gt(n, 0);
    /* Worker threads allocate concurrently, so the k-th one varies a
     * little between runs: go well past n. */
    uint64_t upto = n + n / 2 + 8;
    for (uint64_t k = 1; k <= upto; k++)
        alloc_run(&b, &ref, pipeline, k, &enomem, &per_record);
    fprintf(stderr,
            "fault: %s: %llu allocations per run, k = 1..%llu tried, %lu ended in MP_ENOMEM, "
            "%lu became one record's MEMORY item\n",
            pipeline ? "pipeline" : "seqreader", (unsigned long long)n, (unsigned long long)upto,
            enomem, per_record);
    cr_assert_gt(enomem + per_record, 0, "no allocation failure surfaced at all");
    cr_assert_gt(per_record, 0, "no failure was confined to its record");
    mf_seq_free(&ref);
    mf_free(&b);
}

Test(fault, alloc_fail_every_k_pipeline, .timeout = 300)
{
    alloc_every_k(1);
}

Test(fault, alloc_fail_every_k_seqreader, .timeout = 120)
{
    alloc_every_k(0);
}
