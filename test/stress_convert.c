/*
 * stress_convert.c - conversions serialised in the parser workers, many at
 * once on one shared pool (plain executable; run under TSan by
 * `make test-tsan`).
 *
 * Client threads convert a generated input (good records, MARC-8 ones,
 * damaged ones, junk) over and over with random formats and flags, chunk
 * sizes, chunks in flight and damaged-record policies, on one 2-worker
 * pool, and compare each output byte for byte with the same conversion
 * done inline by the sequential reader. What this shows: the worker writes
 * a record's output (rec->out, in the chunk arena) and the consumer reads
 * it after the PARSED ring hand-over - no race (TSan), and no output is
 * torn, reordered or lost. Some runs are closed early (a random number of
 * records, then mp_reader_close with output still prepared in flight).
 * Options: --seconds S (default 5), --clients N (default 3).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../test/fuzz/relcheck.h"

static const mp_format g_formats[] = {MP_FORMAT_ISO2709, MP_FORMAT_MARCXML, MP_FORMAT_JSON,
                                      MP_FORMAT_NDJSON,  MP_FORMAT_MRK,     MP_FORMAT_LINE};
#define NFMT (sizeof g_formats / sizeof g_formats[0])
static const unsigned g_flags[] = {0, MP_WRITE_KEEP_LEADER,
                                   MP_WRITE_ASCII | MP_WRITE_JSON_SPACED | MP_WRITE_XML_COMPACT};
#define NFLAGS (sizeof g_flags / sizeof g_flags[0])

static mp_pool *g_pool;
static mf_buf g_in;
static mp_buf g_ref[NFMT][NFLAGS][3]; /* [format][flags][damaged policy], made before the clients */
static double g_seconds = 5;
/* relaxed counters: statistics only, read after join */
static _Atomic unsigned long g_runs, g_early, g_fails;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One conversion; the reader serialises in its workers when `prepared`. */
static int convert(mp_buf *out, mp_format f, unsigned flags, mp_damaged damaged, int pipeline,
                   int prepared, uint64_t *rng)
{
    mp_reader_options ro = MP_READER_OPTIONS_INIT;
    ro.mode = pipeline ? MP_MODE_PIPELINE : MP_MODE_SEQUENTIAL;
    if (pipeline && rng) {
        ro.pool = g_pool;
        ro.chunk_size = (size_t)64 << (rc_rand(rng) % 10);
        ro.chunks_in_flight = 2 + (unsigned)(rc_rand(rng) % 6);
    }
    if (prepared) {
        ro.output_format = f;
        ro.output_flags = flags;
    }
    mp_reader *r;
    if (mp_reader_open_mem(&r, g_in.p, g_in.len, &ro) != MP_OK)
        return -1;
    mp_writer_options wo = MP_WRITER_OPTIONS_INIT;
    wo.format = f;
    wo.flags = flags;
    mp_writer *w;
    if (mp_writer_open_buf(&w, out, &wo) != MP_OK) {
        mp_reader_close(r);
        return -1;
    }
    mp_convert_options co = MP_CONVERT_OPTIONS_INIT;
    co.damaged = damaged;
    int rc = mp_convert(r, w, &co, NULL);
    int wrc = mp_writer_close(w);
    mp_reader_close(r);
    return rc == MP_OK && wrc == MP_OK ? 0 : -1;
}

/* A run closed early: read some records, write them, close with the rest in flight. */
static int early_close(uint64_t *rng)
{
    mp_reader_options ro = MP_READER_OPTIONS_INIT;
    ro.mode = MP_MODE_PIPELINE; /* the workers serialise: a small input would run sequentially */
    ro.pool = g_pool;
    ro.chunk_size = (size_t)64 << (rc_rand(rng) % 8);
    ro.output_format = g_formats[rc_rand(rng) % NFMT];
    mp_reader *r;
    if (mp_reader_open_mem(&r, g_in.p, g_in.len, &ro) != MP_OK)
        return -1;
    mp_buf out = MP_BUF_INIT;
    mp_writer_options wo = MP_WRITER_OPTIONS_INIT;
    wo.format = ro.output_format;
    mp_writer *w;
    if (mp_writer_open_buf(&w, &out, &wo) != MP_OK) {
        mp_reader_close(r);
        return -1;
    }
    uint64_t take = rc_rand(rng) % 60;
    const mp_record *rec;
    for (uint64_t t = 0; t < take; t++) {
        int rc = mp_reader_next(r, &rec);
        if (rc == MP_OK && mp_writer_write(w, rec) != MP_OK)
            break;
        if (rc != MP_OK && rc != MP_ERECORD)
            break;
    }
    mp_reader_close(r); /* prepared output of chunks in flight is freed with them */
    mp_writer_close(w);
    mp_buf_free(&out);
    return 0;
}

static void *client(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg * 7919u;
    double end = now_s() + g_seconds;
    while (now_s() < end) {
        if (rc_rand(&rng) % 8 == 0) {
            if (early_close(&rng) != 0)
                /* relaxed: statistics only */
                atomic_fetch_add_explicit(&g_fails, 1, memory_order_relaxed);
            /* relaxed: statistics only */
            atomic_fetch_add_explicit(&g_early, 1, memory_order_relaxed);
            continue;
        }
        size_t fi = rc_rand(&rng) % NFMT, li = rc_rand(&rng) % NFLAGS, di = rc_rand(&rng) % 2;
        mp_buf out = MP_BUF_INIT;
        int rc = convert(&out, g_formats[fi], g_flags[li], (mp_damaged)di, 1, 1, &rng);
        const mp_buf *ref = &g_ref[fi][li][di];
        if (rc != 0 || out.len != ref->len || memcmp(out.data, ref->data, out.len) != 0) {
            fprintf(stderr,
                    "stress_convert: format %d flags %#x damaged %zu: output differs "
                    "(%zu bytes, want %zu)\n",
                    g_formats[fi], g_flags[li], di, out.len, ref->len);
            /* relaxed: statistics only */
            atomic_fetch_add_explicit(&g_fails, 1, memory_order_relaxed);
        }
        mp_buf_free(&out);
        /* relaxed: statistics only */
        atomic_fetch_add_explicit(&g_runs, 1, memory_order_relaxed);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned clients = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            g_seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc)
            clients = (unsigned)atoi(argv[++i]);
    }
    if (clients < 1 || clients > 64)
        clients = 3;
    /* The input: 300 records, a MARC-8 one, a damaged one, junk, 300 more. */
    mf_init(&g_in);
    mf_sample(&g_in, 300, 21, NULL);
    static const char *const m8[] = {"001marc8", "24510$aCaf\xe2"
                                                 "e \x1b(NABC\x1b(B"};
    mf_record(&g_in, "nam  22 a 4500", m8, 2);
    static const char *const bad[] = {"001bad", "24510$aOne"};
    mf_record(&g_in, "nam a21 a 4500", bad, 2);
    mf_appends(&g_in, "junk\x1d");
    mf_sample(&g_in, 300, 22, NULL);
    /* References: sequential reader, serialised inline by the consumer. */
    for (size_t f = 0; f < NFMT; f++)
        for (size_t l = 0; l < NFLAGS; l++)
            for (int d = 0; d < 2; d++)
                if (convert(&g_ref[f][l][d], g_formats[f], g_flags[l], (mp_damaged)d, 0, 0, NULL) !=
                    0) {
                    fprintf(stderr, "stress_convert: reference conversion failed\n");
                    return 1;
                }
    if (mp_pool_create(&g_pool, 2) != MP_OK)
        return 1;
    pthread_t th[64];
    for (unsigned i = 0; i < clients; i++)
        if (pthread_create(&th[i], NULL, client, (void *)(uintptr_t)(i + 1)) != 0)
            return 1;
    for (unsigned i = 0; i < clients; i++)
        pthread_join(th[i], NULL);
    unsigned long fails = atomic_load_explicit(&g_fails, memory_order_relaxed);
    if (mp_pool_destroy(g_pool) != MP_OK) {
        fprintf(stderr, "mp_pool_destroy failed\n");
        fails++;
    }
    printf("stress_convert: %lu conversions and %lu early closes by %u clients on one pool, "
           "%lu failures\n",
           atomic_load_explicit(&g_runs, memory_order_relaxed),
           atomic_load_explicit(&g_early, memory_order_relaxed), clients, fails);
    for (size_t f = 0; f < NFMT; f++)
        for (size_t l = 0; l < NFLAGS; l++)
            for (int d = 0; d < 2; d++)
                mp_buf_free(&g_ref[f][l][d]);
    mf_free(&g_in);
    return fails ? 1 : 0;
}
