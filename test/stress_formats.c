/*
 * stress_formats.c - the text formats through the pipeline under load
 * (plain executable; run under TSan by `make test-tsan`).
 *
 * MARCXML (collection, OAI-PMH), MARC-in-JSON and MARCMaker documents,
 * intact and with random damage, read again and again by pipelines with
 * random chunk sizes, workers and chunks in flight - from memory (detected
 * at open) and from a callback source with short reads (detected on the
 * producer's thread, which then hands the format to the scanner and the
 * workers through the rings) - must give exactly what the sequential
 * reader gives. Options: --seconds S (default 5), --seed N.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../test/fuzz/relcheck.h"
#include "textfix.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double seconds = 5;
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed"))
            seed = strtoull(argv[i + 1], NULL, 10);
    }
    mf_buf iso;
    mf_init(&iso);
    mf_sample(&iso, 30, 13, NULL);
    static const tf_style styles[] = {TF_XML, TF_XML_OAI, TF_JSON_LINES, TF_JSON_ARRAY, TF_MRK};
    mf_buf docs[5];
    for (int s = 0; s < 5; s++) {
        mf_init(&docs[s]);
        tf_convert(&docs[s], iso.p, iso.len, styles[s], NULL, 0);
    }
    mp_pool *pool;
    if (mp_pool_create(&pool, 2) != MP_OK)
        return 2;
    uint64_t rng = seed;
    unsigned long runs = 0, fails = 0;
    double end = now_s() + seconds;
    while (now_s() < end) {
        int s = (int)(rc_rand(&rng) % 5);
        mf_buf d;
        mf_init(&d);
        mf_append(&d, docs[s].p, docs[s].len);
        if (rc_rand(&rng) % 2) {
            unsigned edits = 1 + (unsigned)(rc_rand(&rng) % 4);
            for (unsigned e = 0; e < edits; e++)
                d.p[rc_rand(&rng) % d.len] = "<>/\"{}[]:=$\n x"[rc_rand(&rng) % 14];
        }
        mf_seq ref, got;
        mp_reader *r = NULL;
        if (mp_reader_open_mem(&r, d.p, d.len, mf_seqopts(NULL)) != MP_OK)
            return 2;
        mf_collect(&ref, r);
        mp_reader_close(r);
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.chunk_size = 64 + (size_t)(rc_rand(&rng) % 4096);
        o.chunks_in_flight = 2 + (unsigned)(rc_rand(&rng) % 4);
        o.threads = 1 + (unsigned)(rc_rand(&rng) % 3);
        o.mode = MP_MODE_PIPELINE;
        o.pool = rc_rand(&rng) % 2 ? pool : NULL;
        int cb = (int)(rc_rand(&rng) % 2);
        rc_src src = {.data = d.p, .len = d.len, .short_reads = 1, .avg = 97, .rng = rng};
        int rc = cb ? mp_reader_open_cb(&r, rc_src_read, &src, &o)
                    : mp_reader_open_mem(&r, d.p, d.len, &o);
        if (rc != MP_OK)
            return 2;
        mf_collect(&got, r);
        mp_reader_close(r);
        long at = mf_seq_diff(&ref, &got);
        if (at >= 0 || got.end_rc != MP_EOF) {
            if (++fails <= 10)
                fprintf(stderr, "FAIL %s (%s, chunk %zu, %u workers): differs at item %ld\n",
                        tf_style_name(styles[s]), cb ? "callback" : "memory", o.chunk_size,
                        o.threads, at);
        }
        runs++;
        mf_seq_free(&ref);
        mf_seq_free(&got);
        mf_free(&d);
    }
    if (mp_pool_destroy(pool) != MP_OK)
        fails++;
    for (int s = 0; s < 5; s++)
        mf_free(&docs[s]);
    mf_free(&iso);
    printf("stress_formats: %lu runs, %lu failures\n", runs, fails);
    return fails ? 1 : 0;
}
