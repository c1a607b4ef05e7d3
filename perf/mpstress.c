/*
 * mpstress - timed stress scenarios with invariant checks.
 *
 *   mpstress [--seconds S] [--corpus FILE] [--big SIZE] [--file FILE] [--csv PATH]
 *            [--threads N] SCENARIO...
 *
 * Scenarios (each runs about S seconds, default 2, unless said otherwise):
 *   slow        slow consumer: in-flight chunks <= T at every sample, counts exact
 *   bursty      bursts of fast reads then pauses: counts and order exact
 *   early_close random early closes: no crash, RSS does not grow (leak check)
 *   many        1,000 readers open at once on one shared pool: counts exact, few threads
 *   tiny        64-byte chunks, 2 chunks in flight (wrap-around, spills), ordered and
 *               unordered: parity with the sequential reader
 *   big         --big SIZE (default 2G) of input generated on the fly through
 *               mp_reader_open_cb: peak RSS above baseline, ring occupancy CSV (--csv)
 *   file        --file FILE through mp_reader_open_path: peak RSS above baseline
 *
 * The corpus is --corpus FILE (whole records) or, without it, 8 MiB of
 * deterministic synthetic records. The oracle is the sequential mode over the
 * same bytes. Output: one JSON object per scenario on stdout; exit status
 * 1 when an invariant failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <marcpipe/marcpipe.h>

#include "benchutil.h"
#include "synth.h"

static double g_seconds = 2.0;
static unsigned long long g_big = 2ull << 30;
static const char *g_corpus_path, *g_file, *g_csv;
static unsigned g_threads = 2;
static int g_threads_set; /* --threads given: big/file use it, else the reader's default */
static unsigned char *g_corpus;
static size_t g_corpus_len;
static int g_failed;

typedef struct expect {
    uint64_t records, errors, checksum;
} expect;
static expect g_expect;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "mpstress: FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            g_failed = 1;                                                                          \
            ok = 0;                                                                                \
        }                                                                                          \
    } while (0)

static inline uint64_t touch(const mp_record *rec)
{
    uint64_t s = mp_record_field_count(rec);
    const mp_field *f = mp_record_first(rec, "245");
    if (f)
        s += f->len;
    return s;
}

static uint64_t rng_state = 42;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* ---- corpus and oracle --------------------------------------------------------- */

static int load_corpus(void)
{
    if (g_corpus_path) {
        FILE *f = fopen(g_corpus_path, "rb");
        if (!f)
            return -1;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        g_corpus = malloc((size_t)n);
        g_corpus_len = g_corpus ? fread(g_corpus, 1, (size_t)n, f) : 0;
        fclose(f);
        return g_corpus_len == (size_t)n ? 0 : -1;
    }
    synth g;
    synth_opts o = SYNTH_OPTS_INIT;
    o.damage_rate = 0.01;
    synth_init(&g, &o);
    g_corpus = malloc(8u << 20);
    g_corpus_len = g_corpus ? synth_fill(&g, g_corpus, 8u << 20) : 0;
    return g_corpus ? 0 : -1;
}

static void oracle(const unsigned char *data, size_t len, expect *e)
{
    mp_reader *sr = NULL;
    const mp_record *rec;
    int rc;
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.mode = MP_MODE_SEQUENTIAL;
    memset(e, 0, sizeof *e);
    if (mp_reader_open_mem(&sr, data, len, &o) != MP_OK)
        return;
    while ((rc = mp_reader_next(sr, &rec)) == MP_OK || rc == MP_ERECORD) {
        if (rc == MP_OK) {
            e->records++;
            e->checksum += touch(rec);
        } else {
            e->errors++;
        }
    }
    mp_reader_close(sr);
}

/* ---- one read through the pipeline, with per-item hooks ------------------------------------ */

typedef struct drain {
    uint64_t records, errors, checksum, last_ordinal;
    int order_ok, rc;
    unsigned max_in_flight;
} drain;

typedef void (*pace_fn)(uint64_t item);

/* Reads r to the end (or `limit` items), checking order when ordered. */
static void drain_reader(mp_reader *r, int ordered, uint64_t limit, pace_fn pace, drain *d)
{
    const mp_record *rec;
    int rc;
    uint64_t n = 0;
    memset(d, 0, sizeof *d);
    d->order_ok = 1;
    while (n < limit && ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD)) {
        uint64_t ord;
        if (rc == MP_OK) {
            d->records++;
            d->checksum += touch(rec);
            ord = mp_record_ordinal(rec);
        } else {
            d->errors++;
            ord = mp_reader_error(r)->ordinal;
        }
        if (ordered && n > 0 && ord <= d->last_ordinal)
            d->order_ok = 0;
        d->last_ordinal = ord;
        n++;
        if (pace)
            pace(n);
    }
    d->rc = n >= limit ? MP_OK : rc;
}

/* ---- sampler thread: stats + RSS over time ------------------------------------------------ */

typedef struct sample {
    float t;
    uint16_t in_flight, q_filled, q_scanned, rest;
    uint32_t rss_kib;
    uint64_t consumed;
} sample;

typedef struct sampler {
    mp_reader *r;                  /* set before the thread starts; read by the sampler */
    atomic_int stop;               /* set by main (release); read by the sampler (acquire) */
    double t0;                     /* immutable */
    long period_us;                /* immutable */
    sample *s;                     /* written by the sampler; read by main after join */
    size_t n, cap;                 /* as s */
    unsigned max_in_flight, total; /* as s */
    long max_rss;                  /* as s */
    pthread_t th;
} sampler;

static void *sampler_main(void *arg)
{
    sampler *sp = arg;
    unsigned k = 0;
    long rss = bu_status_kib("VmRSS");
    /* acquire: pairs with the release store in sampler_stop(). */
    while (!atomic_load_explicit(&sp->stop, memory_order_acquire)) {
        mp_stats st;
        mp_reader_stats(sp->r, &st);
        if (k++ % 16 == 0)
            rss = bu_status_kib("VmRSS");
        if (rss > sp->max_rss)
            sp->max_rss = rss;
        if (st.chunks_in_flight > sp->max_in_flight)
            sp->max_in_flight = st.chunks_in_flight;
        sp->total = st.chunks_total;
        if (sp->n < sp->cap) {
            sample *s = &sp->s[sp->n++];
            uint64_t p = st.stage[MP_STAGE_PRODUCER].items, sc = st.stage[MP_STAGE_SCANNER].items,
                     pa = st.stage[MP_STAGE_PARSER].items;
            s->t = (float)(bu_now() - sp->t0);
            s->in_flight = (uint16_t)st.chunks_in_flight;
            s->q_filled = (uint16_t)(p >= sc ? p - sc : 0);
            s->q_scanned = (uint16_t)(sc >= pa ? sc - pa : 0);
            s->rest = (uint16_t)(st.chunks_in_flight > s->q_filled + s->q_scanned
                                     ? st.chunks_in_flight - s->q_filled - s->q_scanned
                                     : 0);
            s->rss_kib = (uint32_t)rss;
            s->consumed = st.stage[MP_STAGE_CONSUMER].bytes;
        }
        sleep_us(sp->period_us);
    }
    return NULL;
}

static int sampler_start(sampler *sp, mp_reader *r, long period_us, size_t cap)
{
    memset(sp, 0, sizeof *sp);
    sp->r = r;
    sp->t0 = bu_now();
    sp->period_us = period_us;
    sp->cap = cap;
    sp->s = cap ? calloc(cap, sizeof *sp->s) : NULL;
    atomic_init(&sp->stop, 0);
    return pthread_create(&sp->th, NULL, sampler_main, sp);
}

static void sampler_stop(sampler *sp)
{
    /* release: pairs with the acquire load in sampler_main(). */
    atomic_store_explicit(&sp->stop, 1, memory_order_release);
    pthread_join(sp->th, NULL);
}

/* ---- scenarios ----------------------------------------------------------------- */

static void pace_slow(uint64_t n)
{
    if (n % 50 == 0)
        sleep_us(200);
}

static void pace_bursty(uint64_t n)
{
    if (n % 2000 == 0)
        sleep_us(20000);
}

static void report_counts(const char *name, int ok, unsigned iters, const drain *d, unsigned maxf,
                          unsigned total, long rss)
{
    printf("{\"scenario\":\"%s\",\"ok\":%s,\"iterations\":%u,\"records\":%llu,\"errors\":%llu,"
           "\"expected_records\":%llu,\"expected_errors\":%llu,\"max_in_flight\":%u,"
           "\"chunks_total\":%u,\"max_rss_kib\":%ld}\n",
           name, ok ? "true" : "false", iters, (unsigned long long)d->records,
           (unsigned long long)d->errors, (unsigned long long)g_expect.records,
           (unsigned long long)g_expect.errors, maxf, total, rss);
    fflush(stdout);
}

static void scenario_paced(const char *name, pace_fn pace, unsigned inflight, size_t chunk)
{
    int ok = 1;
    unsigned iters = 0, maxf = 0, total = 0;
    long maxrss = 0;
    drain d = {0};
    double end = bu_now() + g_seconds;
    do {
        mp_reader *r = NULL;
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.mode = MP_MODE_PIPELINE; /* these scenarios stress the pipeline */
        sampler sp;
        o.threads = g_threads;
        o.chunks_in_flight = inflight;
        o.chunk_size = chunk;
        int rc = mp_reader_open_mem(&r, g_corpus, g_corpus_len, &o);
        CHECK(rc == MP_OK, "open: %s", mp_strerror(rc));
        if (rc != MP_OK)
            break;
        sampler_start(&sp, r, 1000, 0);
        drain_reader(r, 1, UINT64_MAX, pace, &d);
        sampler_stop(&sp);
        mp_stats st;
        mp_reader_stats(r, &st);
        mp_reader_close(r);
        iters++;
        CHECK(d.rc == MP_EOF, "end: %s", mp_strerror(d.rc));
        CHECK(d.records == g_expect.records && d.errors == g_expect.errors,
              "counts %llu/%llu vs %llu/%llu", (unsigned long long)d.records,
              (unsigned long long)d.errors, (unsigned long long)g_expect.records,
              (unsigned long long)g_expect.errors);
        CHECK(d.checksum == g_expect.checksum, "checksum");
        CHECK(d.order_ok, "order");
        CHECK(sp.max_in_flight <= st.chunks_total && st.chunks_in_flight_max <= st.chunks_total,
              "in flight %u (hwm %u) > T %u", sp.max_in_flight, st.chunks_in_flight_max,
              st.chunks_total);
        CHECK(inflight == 0 || st.chunks_total == inflight, "T %u != requested %u", st.chunks_total,
              inflight);
        if (sp.max_in_flight > maxf)
            maxf = sp.max_in_flight;
        if (sp.max_rss > maxrss)
            maxrss = sp.max_rss;
        total = st.chunks_total;
    } while (ok && bu_now() < end);
    report_counts(name, ok, iters, &d, maxf, total, maxrss);
}

static void scenario_early_close(void)
{
    int ok = 1;
    unsigned iters = 0;
    long rss_warm = 0, rss_end;
    double end = bu_now() + g_seconds;
    drain d = {0};
    while (bu_now() < end || iters < 20) {
        mp_reader *r = NULL;
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.mode = MP_MODE_PIPELINE; /* these scenarios stress the pipeline */
        o.threads = 1 + (unsigned)(rnd() % 3);
        o.chunk_size = (size_t)1 << (12 + rnd() % 8);
        o.chunks_in_flight = 2 + (unsigned)(rnd() % 8);
        o.unordered = (int)(rnd() % 2);
        int rc = mp_reader_open_mem(&r, g_corpus, g_corpus_len, &o);
        CHECK(rc == MP_OK, "open: %s", mp_strerror(rc));
        if (rc != MP_OK)
            break;
        drain_reader(r, !o.unordered, rnd() % (g_expect.records + 1), NULL, &d);
        CHECK(d.rc == MP_OK || d.rc == MP_EOF, "early read: %s", mp_strerror(d.rc));
        mp_reader_close(r);
        if (++iters == 10)
            rss_warm = bu_status_kib("VmRSS");
    }
    rss_end = bu_status_kib("VmRSS");
    /* A leak of one chunk per iteration would show within hundreds of runs. */
    CHECK(rss_end - rss_warm < 16 * 1024, "RSS grew from %ld to %ld KiB", rss_warm, rss_end);
    printf("{\"scenario\":\"early_close\",\"ok\":%s,\"iterations\":%u,\"rss_warm_kib\":%ld,"
           "\"rss_end_kib\":%ld}\n",
           ok ? "true" : "false", iters, rss_warm, rss_end);
    fflush(stdout);
}

static void scenario_many(void)
{
    enum { N = 1000 };
    int ok = 1;
    mp_pool *pool = NULL;
    mp_reader **rd = calloc(N, sizeof *rd);
    uint64_t *cnt = calloc(N, sizeof *cnt);
    size_t slice = 0, p = 0;
    unsigned nrec = 0;
    expect e;
    long threads_before = bu_status_kib("Threads"), threads_open = 0;
    /* The first 20 whole records of the corpus (by leader length). */
    while (nrec < 20 && p + 5 <= g_corpus_len) {
        size_t rl = 0;
        for (int i = 0; i < 5; i++)
            rl = rl * 10 + (size_t)(g_corpus[p + i] - '0');
        if (rl < 24 || p + rl > g_corpus_len)
            break;
        p += rl;
        nrec++;
    }
    slice = p;
    oracle(g_corpus, slice, &e);
    int rc = mp_pool_create(&pool, g_threads);
    CHECK(rc == MP_OK, "pool: %s", mp_strerror(rc));
    double t0 = bu_now();
    unsigned opened = 0;
    for (unsigned i = 0; i < N && rc == MP_OK; i++) {
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.mode = MP_MODE_PIPELINE; /* these scenarios stress the pipeline */
        o.pool = pool;
        o.chunk_size = 4096;
        o.chunks_in_flight = 4;
        rc = mp_reader_open_mem(&rd[i], g_corpus, slice, &o);
        CHECK(rc == MP_OK, "open %u: %s", i, mp_strerror(rc));
        opened += rc == MP_OK;
    }
    double t_open = bu_now() - t0;
    threads_open = bu_status_kib("Threads");
    CHECK(pool == NULL || mp_pool_attached(pool) == opened, "attached %u != %u",
          pool ? mp_pool_attached(pool) : 0, opened);
    long rss_open = bu_status_kib("VmRSS");
    /* Round-robin: every reader advances one item per pass. */
    unsigned live = opened;
    while (live > 0) {
        live = 0;
        for (unsigned i = 0; i < opened; i++) {
            const mp_record *rec;
            if (!rd[i])
                continue;
            rc = mp_reader_next(rd[i], &rec);
            if (rc == MP_OK || rc == MP_ERECORD) {
                cnt[i] += rc == MP_OK;
                live++;
                continue;
            }
            CHECK(rc == MP_EOF, "reader %u: %s", i, mp_strerror(rc));
            CHECK(cnt[i] == e.records, "reader %u: %llu records, expected %llu", i,
                  (unsigned long long)cnt[i], (unsigned long long)e.records);
            mp_reader_close(rd[i]);
            rd[i] = NULL;
        }
    }
    double t_all = bu_now() - t0;
    CHECK(threads_open - threads_before <= (long)g_threads + 4, "threads %ld -> %ld",
          threads_before, threads_open);
    CHECK(mp_pool_attached(pool) == 0, "still attached: %u", mp_pool_attached(pool));
    rc = mp_pool_destroy(pool);
    CHECK(rc == MP_OK, "pool destroy: %s", mp_strerror(rc));
    printf("{\"scenario\":\"many\",\"ok\":%s,\"readers\":%u,\"records_each\":%llu,"
           "\"threads_before\":%ld,\"threads_open\":%ld,\"open_all_s\":%.4f,\"total_s\":%.4f,"
           "\"rss_open_kib\":%ld}\n",
           ok ? "true" : "false", opened, (unsigned long long)e.records, threads_before,
           threads_open, t_open, t_all, rss_open);
    fflush(stdout);
    free(rd);
    free(cnt);
}

static void scenario_tiny(void)
{
    int ok = 1;
    unsigned iters = 0;
    drain d = {0};
    double end = bu_now() + g_seconds;
    /* A 1 MiB prefix keeps each pass short with 64-byte chunks. */
    size_t len = g_corpus_len < (1u << 20) ? g_corpus_len : (1u << 20);
    expect e;
    oracle(g_corpus, len, &e);
    do {
        mp_reader *r = NULL;
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.mode = MP_MODE_PIPELINE; /* these scenarios stress the pipeline */
        o.threads = g_threads;
        o.chunk_size = 64 << (iters % 3);
        o.chunks_in_flight = 2 + iters % 2;
        o.unordered = iters % 2 != 0;
        int rc = mp_reader_open_mem(&r, g_corpus, len, &o);
        CHECK(rc == MP_OK, "open: %s", mp_strerror(rc));
        if (rc != MP_OK)
            break;
        drain_reader(r, !o.unordered, UINT64_MAX, NULL, &d);
        mp_stats st;
        mp_reader_stats(r, &st);
        mp_reader_close(r);
        CHECK(d.rc == MP_EOF, "end: %s", mp_strerror(d.rc));
        CHECK(d.records == e.records && d.errors == e.errors && d.checksum == e.checksum,
              "parity (chunk %zu, T %u, ordered %d): %llu/%llu vs %llu/%llu", o.chunk_size,
              o.chunks_in_flight, !o.unordered, (unsigned long long)d.records,
              (unsigned long long)d.errors, (unsigned long long)e.records,
              (unsigned long long)e.errors);
        CHECK(d.order_ok, "order");
        CHECK(st.chunks_in_flight_max <= st.chunks_total, "in flight");
        iters++;
    } while (ok && bu_now() < end);
    printf("{\"scenario\":\"tiny\",\"ok\":%s,\"iterations\":%u,\"records\":%llu,\"errors\":%llu}\n",
           ok ? "true" : "false", iters, (unsigned long long)e.records,
           (unsigned long long)e.errors);
    fflush(stdout);
}

/* The callback source: the corpus repeated until `total` bytes. */
typedef struct cycle_src {
    unsigned long long total, done; /* callback thread only */
} cycle_src;

static ssize_t cycle_read(void *user, void *buf, size_t cap, int *sys_errno)
{
    cycle_src *c = user;
    (void)sys_errno;
    if (c->done >= c->total)
        return 0;
    size_t pos = (size_t)(c->done % g_corpus_len);
    size_t n = g_corpus_len - pos;
    if (n > cap)
        n = cap;
    if (n > c->total - c->done)
        n = (size_t)(c->total - c->done);
    memcpy(buf, g_corpus + pos, n);
    c->done += n;
    return (ssize_t)n;
}

static void write_csv(const sampler *sp)
{
    if (!g_csv)
        return;
    FILE *f = fopen(g_csv, "w");
    if (!f)
        return;
    fprintf(f, "t_s,chunks_in_flight,q_filled,q_scanned,parsed_or_held,rss_kib,consumed_bytes\n");
    for (size_t i = 0; i < sp->n; i++)
        fprintf(f, "%.4f,%u,%u,%u,%u,%u,%llu\n", sp->s[i].t, sp->s[i].in_flight, sp->s[i].q_filled,
                sp->s[i].q_scanned, sp->s[i].rest, sp->s[i].rss_kib,
                (unsigned long long)sp->s[i].consumed);
    fclose(f);
}

static void scenario_big(int from_file)
{
    int ok = 1;
    mp_reader *r = NULL;
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.mode = MP_MODE_PIPELINE; /* these scenarios stress the pipeline */
    cycle_src c = {0, 0};
    sampler sp;
    drain d;
    /* The memory figure is the default reader's (threads and T as a user gets
     * them) unless --threads asks otherwise. */
    o.threads = g_threads_set ? g_threads : 0;
    unsigned long long copies = (g_big + g_corpus_len - 1) / g_corpus_len;
    c.total = copies * g_corpus_len;
    long base_rss = bu_status_kib("VmRSS"), base_hwm = bu_status_kib("VmHWM");
    int rc =
        from_file ? mp_reader_open_path(&r, g_file, &o) : mp_reader_open_cb(&r, cycle_read, &c, &o);
    CHECK(rc == MP_OK, "open: %s", mp_strerror(rc));
    if (rc != MP_OK)
        return;
    double t0 = bu_now();
    sampler_start(&sp, r, 2000, 200000);
    drain_reader(r, 1, UINT64_MAX, NULL, &d);
    sampler_stop(&sp);
    double wall = bu_now() - t0;
    mp_stats st;
    uint64_t bytes = 0;
    mp_reader_stats(r, &st);
    mp_reader_counts(r, NULL, NULL, &bytes);
    mp_reader_close(r);
    long hwm = bu_status_kib("VmHWM");
    CHECK(d.rc == MP_EOF, "end: %s", mp_strerror(d.rc));
    CHECK(d.order_ok, "order");
    if (!from_file)
        CHECK(d.records == copies * g_expect.records && d.errors == copies * g_expect.errors,
              "counts %llu/%llu, expected %llu x %llu/%llu", (unsigned long long)d.records,
              (unsigned long long)d.errors, copies, (unsigned long long)g_expect.records,
              (unsigned long long)g_expect.errors);
    CHECK(sp.max_in_flight <= st.chunks_total, "in flight");
    /* DESIGN.md: <= 48 MiB above baseline whatever the input size. */
    CHECK(hwm - base_rss <= 48 * 1024, "peak RSS %ld KiB above a baseline of %ld KiB",
          hwm - base_rss, base_rss);
    write_csv(&sp);
    printf("{\"scenario\":\"%s\",\"ok\":%s,\"input_bytes\":%llu,\"records\":%llu,\"errors\":%llu,"
           "\"wall_s\":%.3f,\"mb_s\":%.1f,\"baseline_rss_kib\":%ld,\"baseline_hwm_kib\":%ld,"
           "\"peak_rss_kib\":%ld,\"peak_above_baseline_kib\":%ld,\"max_in_flight\":%u,"
           "\"chunks_total\":%u,\"chunk_size\":%zu,\"samples\":%zu}\n",
           from_file ? "file" : "big", ok ? "true" : "false", (unsigned long long)bytes,
           (unsigned long long)d.records, (unsigned long long)d.errors, wall,
           (double)bytes / 1e6 / wall, base_rss, base_hwm, hwm, hwm - base_rss, sp.max_in_flight,
           st.chunks_total, o.chunk_size, sp.n);
    fflush(stdout);
    free(sp.s);
}

int main(int argc, char **argv)
{
    int nscen = 0;
    const char *scen[16];
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--seconds") && v)
            g_seconds = atof(v), i++;
        else if (!strcmp(argv[i], "--corpus") && v)
            g_corpus_path = v, i++;
        else if (!strcmp(argv[i], "--big") && v)
            g_big = bu_size(v), i++;
        else if (!strcmp(argv[i], "--file") && v)
            g_file = v, i++;
        else if (!strcmp(argv[i], "--csv") && v)
            g_csv = v, i++;
        else if (!strcmp(argv[i], "--threads") && v)
            g_threads = (unsigned)atoi(v), g_threads_set = 1, i++;
        else if (argv[i][0] != '-' && nscen < 16)
            scen[nscen++] = argv[i];
        else {
            fprintf(stderr, "usage: mpstress [--seconds S] [--corpus FILE] [--big SIZE] "
                            "[--file FILE] [--csv PATH] [--threads N] "
                            "slow|bursty|early_close|many|tiny|big|file...\n");
            return 2;
        }
    }
    if (load_corpus() != 0) {
        fprintf(stderr, "mpstress: cannot load the corpus: %s\n", strerror(errno));
        return 2;
    }
    oracle(g_corpus, g_corpus_len, &g_expect);
    for (int i = 0; i < nscen; i++) {
        if (!strcmp(scen[i], "slow"))
            scenario_paced("slow", pace_slow, 4, 64 * 1024);
        else if (!strcmp(scen[i], "bursty"))
            scenario_paced("bursty", pace_bursty, 0, 128 * 1024);
        else if (!strcmp(scen[i], "early_close"))
            scenario_early_close();
        else if (!strcmp(scen[i], "many"))
            scenario_many();
        else if (!strcmp(scen[i], "tiny"))
            scenario_tiny();
        else if (!strcmp(scen[i], "big"))
            scenario_big(0);
        else if (!strcmp(scen[i], "file") && g_file)
            scenario_big(1);
        else {
            fprintf(stderr, "mpstress: unknown scenario %s\n", scen[i]);
            return 2;
        }
    }
    free(g_corpus);
    return g_failed;
}
