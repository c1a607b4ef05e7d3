/*
 * mpbench - throughput and latency benchmarks of marcpipe and its peers.
 *
 *   mpbench floor FILE            read() + memchr(0x1D) over the file
 *   mpbench seq FILE              mp_reader, MP_MODE_SEQUENTIAL (single thread, full parse)
 *   mpbench pipe FILE             mp_reader pipeline, MP_MODE_PIPELINE (full parse)
 *   mpbench auto FILE             mp_reader with default options (MP_MODE_AUTO: the library
 *                                 chooses; stats say which path ran)
 *   mpbench yaz FILE              yaz_marc_read_iso2709 on -t threads (when built with YAZ)
 *   mpbench latency FILE          open + read all + close of a small file, many times
 *   mpbench pair FILE_A FILE_B    two readers: one after the other (sequential reader; default
 *                                 reader on a shared pool) and both at once on that pool
 *   mpbench pingpong X            core-to-core hand-off: cache-line ping-pong between two
 *                                 threads on two CPUs (X is ignored), one-way ns
 *   mpbench paired FILE           the sequential and the default reader alternately in one
 *                                 process, -k pairs (the order flips every pair): each pair's
 *                                 two runs lie a few hundred ms apart, so a shared host's
 *                                 slow and fast phases (seconds long) hit both alike
 *   mpbench alone FILE            as paired, but the pipeline on a one-worker pool whose
 *                                 worker is parked in another reader's blocking read: the
 *                                 reader's own thread reads, scans, parses and delivers every
 *                                 chunk (the pipeline's cost on one thread, no hand-offs)
 *
 * Options: -k K runs (default 5), -t THREADS, -c CHUNK (default: the library's), -T
 * CHUNKS_IN_FLIGHT, -u (unordered), --pool (shared mp_pool), --mem (open_mem instead of the path),
 *          --raw (MP_ENCODING_RAW: no decoding/validation), -n ITER (latency, default 2000),
 *          --light (the consumer reads only each record's field count), --label TEXT,
 *          --pipe (paired: the pipeline forced, MP_MODE_PIPELINE, instead of the default reader),
 *          --callback (the harness's reads run in a record_fn on the thread that parsed the
 *          record, which drops it: no record reaches the reader's thread; records are then
 *          counted from mp_reader_units and the checksum is not kept).
 *
 * "Full parse": every record is framed, its directory decoded, fields and
 * subfields indexed and text validated/decoded by the library; the harness
 * then reads the field count and the 245 field and its $a of every record
 * so nothing can be skipped (--light: the field count only, a consumer
 * that needs its next record again almost at once, as `marcpipe count`). Output: one JSON object
 * per invocation on stdout. MB = 10^6 bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <marcpipe/marcpipe.h>

#include "benchutil.h"

#ifdef MP_PERF_HAVE_YAZ
#include <yaz/marcdisp.h>
#include <yaz/nmem.h>
#endif

#define MAX_RUNS 64

typedef struct args {
    const char *mode, *file, *file2, *label;
    int runs, threads, ordered, pool, mem, raw, iters, light, force_pipe, callback;
    size_t chunk;
    unsigned inflight;
} args;

typedef struct run_result {
    double wall, cpu;
    uint64_t records, errors, bytes, checksum;
    int rc;
} run_result;

static args A;
static unsigned char *g_data; /* the file in memory (--mem, yaz) */
static size_t g_len;

/* ---- helpers ---------------------------------------------------------------- */

static inline uint64_t touch(const mp_record *rec)
{
    uint64_t s = mp_record_field_count(rec);
    if (A.light)
        return s;
    const mp_field *f = mp_record_first(rec, "245");
    if (f) {
        uint32_t pos = 0;
        const mp_subfield *sf = mp_field_subfield(f, 'a', &pos);
        s += f->len;
        if (sf && sf->len)
            s += (unsigned char)sf->data[0];
    }
    return s;
}

static int load_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    size_t cap = 1 << 20;
    if (fd < 0)
        return -1;
    g_data = malloc(cap);
    g_len = 0;
    for (;;) {
        if (g_len == cap) {
            cap *= 2;
            g_data = realloc(g_data, cap);
            if (!g_data) {
                close(fd);
                return -1;
            }
        }
        ssize_t r = read(fd, g_data + g_len, cap - g_len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        g_len += (size_t)r;
    }
    close(fd);
    return 0;
}

/* --callback: the consumer's reads, done where the record was parsed. The
 * sink is per thread (no shared line) and volatile (the reads happen). */
static _Thread_local volatile uint64_t cb_sink;
static int cb_touch(void *user, const mp_record *rec)
{
    (void)user;
    cb_sink += touch(rec);
    return 1; /* drop: nothing is handed to the reader's thread */
}

static void options_from_args(mp_reader_options *o)
{
    mp_reader_options d = MP_READER_OPTIONS_INIT;
    *o = d;
    o->threads = (unsigned)A.threads;
    o->chunk_size = A.chunk;
    o->chunks_in_flight = A.inflight;
    o->unordered = !A.ordered;
    if (A.raw)
        o->encoding = MP_ENCODING_RAW;
    if (A.callback)
        o->record_fn = cb_touch;
}

/* A reader's good records: delivered ones, or with --callback (all dropped)
 * its units less its error items. */
static uint64_t good_records(const mp_reader *rd, const run_result *r)
{
    return A.callback ? mp_reader_units(rd) - r->errors : r->records;
}

/* ---- floor -------------------------------------------------------------- */

static void run_floor(run_result *r)
{
    static unsigned char buf[1 << 20];
    int fd = open(A.file, O_RDONLY);
    r->rc = fd < 0 ? -1 : 0;
    if (fd < 0)
        return;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        r->bytes += (uint64_t)n;
        const unsigned char *p = buf, *end = buf + n;
        while ((p = memchr(p, 0x1D, (size_t)(end - p))) != NULL) {
            r->records++;
            r->checksum += (uint64_t)(p - buf);
            p++;
        }
    }
    close(fd);
}

/* ---- sequential reader ---------------------------------------------------------- */

static void run_seq(run_result *r)
{
    mp_reader *sr = NULL;
    mp_reader_options o;
    const mp_record *rec;
    int rc;
    options_from_args(&o);
    o.mode = MP_MODE_SEQUENTIAL;
    rc = A.mem ? mp_reader_open_mem(&sr, g_data, g_len, &o) : mp_reader_open_path(&sr, A.file, &o);
    if (rc != MP_OK) {
        r->rc = rc;
        return;
    }
    while ((rc = mp_reader_next(sr, &rec)) == MP_OK || rc == MP_ERECORD) {
        if (rc == MP_OK) {
            r->records++;
            r->checksum += touch(rec);
        } else {
            r->errors++;
        }
    }
    r->rc = rc == MP_EOF ? 0 : rc;
    r->records = good_records(sr, r);
    mp_reader_counts(sr, NULL, NULL, &r->bytes);
    mp_reader_close(sr);
}

/* ---- pipeline -------------------------------------------------------------- */

static mp_pool *g_pool;
static mp_stats g_stats;

static mp_reader_mode g_mode = MP_MODE_PIPELINE; /* pipe: forced; auto: the default */

static void run_pipe(run_result *r)
{
    mp_reader *rd = NULL;
    mp_reader_options o;
    const mp_record *rec;
    int rc;
    options_from_args(&o);
    o.mode = g_mode;
    o.pool = g_pool;
    rc = A.mem ? mp_reader_open_mem(&rd, g_data, g_len, &o) : mp_reader_open_path(&rd, A.file, &o);
    if (rc != MP_OK) {
        r->rc = rc;
        return;
    }
    while ((rc = mp_reader_next(rd, &rec)) == MP_OK || rc == MP_ERECORD) {
        if (rc == MP_OK) {
            r->records++;
            r->checksum += touch(rec);
        } else {
            r->errors++;
        }
    }
    r->rc = rc == MP_EOF ? 0 : rc;
    r->records = good_records(rd, r);
    mp_reader_counts(rd, NULL, NULL, &r->bytes);
    mp_reader_stats(rd, &g_stats);
    mp_reader_close(rd);
}

/* ---- YAZ -------------------------------------------------------------------- */

#ifdef MP_PERF_HAVE_YAZ
typedef struct yaz_part {
    const size_t *off;
    const uint32_t *len;
    size_t first, count;
    uint64_t ok, bad, checksum;
} yaz_part;

static void *yaz_worker(void *arg)
{
    yaz_part *p = arg;
    yaz_marc_t mt = yaz_marc_create();
    for (size_t i = p->first; i < p->first + p->count; i++) {
        int n = yaz_marc_read_iso2709(mt, (const char *)g_data + p->off[i], (int)p->len[i]);
        if (n > 0) {
            p->ok++;
            /* YAZ has no public node walk; the parse built every field and
             * subfield node in the handle's NMEM: read its size. */
            p->checksum += (uint64_t)n + (uint64_t)nmem_total(yaz_marc_get_nmem(mt));
        } else {
            p->bad++;
        }
    }
    yaz_marc_destroy(mt);
    return NULL;
}

static void run_yaz(run_result *r)
{
    size_t cap = g_len / 512 + 16, n = 0, p = 0;
    size_t *off = malloc(cap * sizeof *off);
    uint32_t *len = malloc(cap * sizeof *len);
    int nt = A.threads > 0 ? A.threads : 1;
    pthread_t th[64];
    yaz_part parts[64];
    if (nt > 64)
        nt = 64;
    /* Frame by the leader length; resynchronise on the next 0x1D when the
     * length is not digits or does not end on a terminator (as YAZ's own
     * reader does). Counted in the timing. */
    while (p + 24 <= g_len) {
        size_t rl = 0;
        int digits = 1;
        for (int i = 0; i < 5; i++) {
            unsigned c = g_data[p + i];
            digits &= c >= '0' && c <= '9';
            rl = rl * 10 + (c - '0');
        }
        if (!digits || rl < 24 || p + rl > g_len || g_data[p + rl - 1] != 0x1D) {
            const unsigned char *t = memchr(g_data + p, 0x1D, g_len - p);
            if (!t)
                break;
            p = (size_t)(t - g_data) + 1;
            r->errors++;
            continue;
        }
        if (n == cap) {
            cap *= 2;
            off = realloc(off, cap * sizeof *off);
            len = realloc(len, cap * sizeof *len);
        }
        off[n] = p;
        len[n] = (uint32_t)rl;
        n++;
        p += rl;
    }
    for (int t = 0; t < nt; t++) {
        parts[t] = (yaz_part){off,
                              len,
                              n * (size_t)t / (size_t)nt,
                              n * (size_t)(t + 1) / (size_t)nt - n * (size_t)t / (size_t)nt,
                              0,
                              0,
                              0};
        pthread_create(&th[t], NULL, yaz_worker, &parts[t]);
    }
    for (int t = 0; t < nt; t++) {
        pthread_join(th[t], NULL);
        r->records += parts[t].ok;
        r->errors += parts[t].bad;
        r->checksum += parts[t].checksum;
    }
    r->bytes = g_len;
    free(off);
    free(len);
}
#endif

/* ---- latency ------------------------------------------------------------------ */

/* Latency variants: how the small file is opened. */
enum { LAT_SEQ, LAT_PIPE_PRIVATE, LAT_PIPE_SHARED, LAT_DEFAULT, LAT_DEFAULT_SHARED, LAT_N };
static const char *const lat_name[LAT_N] = {"seqreader", "pipeline_private_pool",
                                            "pipeline_shared_pool", "default_reader",
                                            "default_reader_shared_pool"};

/* One open + read all + close; returns MP_EOF on success. *first: seconds to the first item. */
static int latency_once(int variant, double *first, double *total, uint64_t *recs, unsigned *mode)
{
    mp_reader_options o;
    mp_reader *rd = NULL;
    const mp_record *rec;
    int rc, got = 0;
    options_from_args(&o);
    o.mode = variant == LAT_SEQ                                          ? MP_MODE_SEQUENTIAL
             : variant == LAT_PIPE_PRIVATE || variant == LAT_PIPE_SHARED ? MP_MODE_PIPELINE
                                                                         : MP_MODE_AUTO;
    o.pool = variant == LAT_PIPE_SHARED || variant == LAT_DEFAULT_SHARED ? g_pool : NULL;
    double t0 = bu_now(), t1 = 0;
    if (mp_reader_open_path(&rd, A.file, &o) != MP_OK)
        return -1;
    while ((rc = mp_reader_next(rd, &rec)) == MP_OK || rc == MP_ERECORD)
        if (!got++)
            t1 = bu_now();
    mp_stats st;
    mp_reader_stats(rd, &st);
    *mode = st.mode;
    mp_reader_close(rd);
    double t2 = bu_now();
    *first = (t1 > 0 ? t1 - t0 : t2 - t0) * 1e6;
    *total = (t2 - t0) * 1e6;
    *recs += (uint64_t)got;
    return rc;
}

/* Every variant once per round, rounds interleaved, so that a slow spell of
 * a shared machine hits all variants alike (and none runs cold alone). */
static void run_latency(void)
{
    int n = A.iters;
    double *first[LAT_N], *total[LAT_N];
    uint64_t recs[LAT_N] = {0};
    int fails[LAT_N] = {0}, m[LAT_N] = {0};
    unsigned mode[LAT_N] = {0};
    for (int v = 0; v < LAT_N; v++) {
        first[v] = malloc((size_t)n * sizeof(double));
        total[v] = malloc((size_t)n * sizeof(double));
    }
    for (int i = 0; i < n; i++)
        for (int v = 0; v < LAT_N; v++) {
            int rc = latency_once(v, &first[v][m[v]], &total[v][m[v]], &recs[v], &mode[v]);
            if (rc != MP_EOF)
                fails[v]++;
            else
                m[v]++;
        }
    printf("{\"mode\":\"latency\",\"file\":\"%s\",\"threads\":%d,\"series\":[", A.file, A.threads);
    for (int v = 0; v < LAT_N; v++) {
        size_t k = (size_t)m[v];
        double f50 = bu_quantile(first[v], k, 0.5), f99 = bu_quantile(first[v], k, 0.99);
        double t50 = bu_quantile(total[v], k, 0.5), t99 = bu_quantile(total[v], k, 0.99);
        double t25 = bu_quantile(total[v], k, 0.25), t75 = bu_quantile(total[v], k, 0.75);
        double tmin = k ? bu_quantile(total[v], k, 0.0) : 0;
        printf("%s{\"variant\":\"%s\",\"iters\":%d,\"records_per_iter\":%.1f,\"failures\":%d,"
               "\"path\":\"%s\",\"first_us_median\":%.1f,\"first_us_p99\":%.1f,"
               "\"total_us_median\":%.1f,\"total_us_p25\":%.1f,\"total_us_p75\":%.1f,"
               "\"total_us_p99\":%.1f,\"total_us_min\":%.1f}",
               v ? "," : "", lat_name[v], n, n ? (double)recs[v] / n : 0.0, fails[v],
               mode[v] == MP_MODE_SEQUENTIAL ? "sequential" : "pipeline", f50, f99, t50, t25, t75,
               t99, tmin);
        free(first[v]);
        free(total[v]);
    }
    printf("]}\n");
}

/* ---- two readers on one pool ------------------------------------------------------ */

typedef struct pair_arg {
    const char *file;
    mp_reader_mode mode;
    mp_pool *pool;
    run_result r;
    uint64_t chunks, chunks_consumer, standbys; /* the reader's mp_stats at its end */
} pair_arg;

static void read_file(pair_arg *a)
{
    mp_reader *rd = NULL;
    mp_reader_options o;
    const mp_record *rec;
    int rc;
    options_from_args(&o);
    o.mode = a->mode;
    o.pool = a->pool;
    memset(&a->r, 0, sizeof a->r);
    if ((rc = mp_reader_open_path(&rd, a->file, &o)) != MP_OK) {
        a->r.rc = rc;
        return;
    }
    while ((rc = mp_reader_next(rd, &rec)) == MP_OK || rc == MP_ERECORD) {
        if (rc == MP_OK) {
            a->r.records++;
            a->r.checksum += touch(rec);
        } else {
            a->r.errors++;
        }
    }
    a->r.rc = rc == MP_EOF ? 0 : rc;
    a->r.records = good_records(rd, &a->r);
    mp_reader_counts(rd, NULL, NULL, &a->r.bytes);
    mp_stats st;
    mp_reader_stats(rd, &st);
    a->chunks = st.stage[MP_STAGE_PARSER].items;
    a->chunks_consumer = st.chunks_consumer;
    a->standbys = st.worker_standbys;
    mp_reader_close(rd);
}

static void *read_file_thread(void *arg)
{
    read_file(arg);
    return NULL;
}

/*
 * Four ways to read two files, each timed K times, interleaved:
 *   seq_serial     the sequential reader, A then B (one thread);
 *   pool_serial    the default reader on one shared pool, A then B;
 *   pool_parallel  A and B at once, each on its own consumer thread, on that pool;
 *   seq_parallel   A and B at once with the sequential reader, one thread each:
 *                  what two threads of this process get from the machine (no pool);
 *   own_parallel   A and B at once, each default reader with its own private pool
 *                  (what two threads opening readers with default options get).
 */
static int run_pair(const char *fa, const char *fb)
{
    enum { NV = 5 };
    static const char *const name[NV] = {"seq_serial", "pool_serial", "pool_parallel",
                                         "seq_parallel", "own_parallel"};
    double wall[NV][MAX_RUNS], cpu[NV][MAX_RUNS];
    uint64_t bytes = 0, records = 0;
    /* Per variant, summed over the runs and both readers: chunks parsed,
     * by the readers' own threads, and worker steps that stood back. */
    uint64_t chunks[NV] = {0}, by_consumer[NV] = {0}, standbys[NV] = {0};
    for (int k = 0; k < A.runs; k++) {
        for (int v = 0; v < NV; v++) {
            pair_arg a, b;
            int seq = v == 0 || v == 3;
            memset(&a, 0, sizeof a);
            a.file = fa;
            a.mode = seq ? MP_MODE_SEQUENTIAL : MP_MODE_AUTO;
            a.pool = seq || v == 4 ? NULL : g_pool;
            b = a;
            b.file = fb;
            double c0 = bu_cpu(), t0 = bu_now();
            if (v < 2) {
                read_file(&a);
                read_file(&b);
            } else { /* 2, 3 and 4: at once */
                pthread_t ta, tb;
                pthread_create(&ta, NULL, read_file_thread, &a);
                pthread_create(&tb, NULL, read_file_thread, &b);
                pthread_join(ta, NULL);
                pthread_join(tb, NULL);
            }
            wall[v][k] = bu_now() - t0;
            cpu[v][k] = bu_cpu() - c0;
            if (a.r.rc || b.r.rc) {
                fprintf(stderr, "mpbench: pair %s failed: %d %d\n", name[v], a.r.rc, b.r.rc);
                printf("{\"mode\":\"pair\",\"failed\":%d}\n", a.r.rc ? a.r.rc : b.r.rc);
                return 1;
            }
            bytes = a.r.bytes + b.r.bytes;
            records = a.r.records + b.r.records;
            chunks[v] += a.chunks + b.chunks;
            by_consumer[v] += a.chunks_consumer + b.chunks_consumer;
            standbys[v] += a.standbys + b.standbys;
        }
    }
    printf("{\"mode\":\"pair\",\"files\":[\"%s\",\"%s\"],\"threads\":%d,\"runs\":%d,\"bytes\":%llu,"
           "\"records\":%llu,\"variants\":{",
           fa, fb, A.threads, A.runs, (unsigned long long)bytes, (unsigned long long)records);
    for (int v = 0; v < NV; v++) {
        double w[MAX_RUNS], c[MAX_RUNS];
        memcpy(w, wall[v], sizeof w);
        memcpy(c, cpu[v], sizeof c);
        printf("%s\"%s\":{\"median_s\":%.6f,\"min_s\":%.6f,\"max_s\":%.6f,\"median_cpu_s\":%.6f,"
               "\"chunks\":%llu,\"chunks_consumer\":%llu,\"worker_standbys\":%llu,\"walls\":[",
               v ? "," : "", name[v], bu_quantile(w, (size_t)A.runs, 0.5),
               bu_quantile(w, (size_t)A.runs, 0.0), bu_quantile(w, (size_t)A.runs, 1.0),
               bu_quantile(c, (size_t)A.runs, 0.5), (unsigned long long)chunks[v],
               (unsigned long long)by_consumer[v], (unsigned long long)standbys[v]);
        for (int k = 0; k < A.runs; k++)
            printf("%s%.6f", k ? "," : "", wall[v][k]);
        printf("],\"cpus\":[");
        for (int k = 0; k < A.runs; k++)
            printf("%s%.6f", k ? "," : "", cpu[v][k]);
        printf("]}");
    }
    printf("}}\n");
    return 0;
}

/* ---- core-to-core hand-off probe ------------------------------------------------ */

enum { PP_TRIPS = 200000 };
static _Atomic long pp_flag;
static int pp_cpu[2] = {-1, -1};

static void pp_pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *pp_pong(void *arg)
{
    (void)arg;
    pp_pin(pp_cpu[1]);
    for (long i = 0; i < PP_TRIPS; i++) {
        /* acquire: pairs with the ping's release store of 2i + 1 */
        while (atomic_load_explicit(&pp_flag, memory_order_acquire) != 2 * i + 1)
            ;
        /* release: pairs with the ping's acquire load of 2i + 2 */
        atomic_store_explicit(&pp_flag, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

/* One-way latency of handing a cache line to the other core and back:
 * the cost every cross-thread hand-off in the pipeline pays at least. */
static int run_pingpong(void)
{
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
            if (CPU_ISSET(c, &set))
                pp_cpu[n++] = c;
    if (n < 2) {
        printf("{\"mode\":\"pingpong\",\"skipped\":\"one usable CPU\"}\n");
        return 0;
    }
    double ns[MAX_RUNS];
    int runs = A.runs < 3 ? 3 : A.runs;
    if (runs > MAX_RUNS)
        runs = MAX_RUNS;
    for (int k = 0; k < runs; k++) {
        pthread_t t;
        atomic_store(&pp_flag, 0);
        pthread_create(&t, NULL, pp_pong, NULL);
        pp_pin(pp_cpu[0]);
        double t0 = bu_now();
        for (long i = 0; i < PP_TRIPS; i++) {
            /* release: pairs with the pong's acquire load of 2i + 1 */
            atomic_store_explicit(&pp_flag, 2 * i + 1, memory_order_release);
            /* acquire: pairs with the pong's release store of 2i + 2 */
            while (atomic_load_explicit(&pp_flag, memory_order_acquire) != 2 * i + 2)
                ;
        }
        ns[k] = (bu_now() - t0) * 1e9 / PP_TRIPS / 2;
        pthread_join(t, NULL);
    }
    double med = bu_quantile(ns, (size_t)runs, 0.5), lo = bu_quantile(ns, (size_t)runs, 0.0),
           hi = bu_quantile(ns, (size_t)runs, 1.0);
    printf("{\"mode\":\"pingpong\",\"cpus\":[%d,%d],\"round_trips\":%d,\"runs\":%d,"
           "\"one_way_ns_median\":%.1f,\"one_way_ns_min\":%.1f,\"one_way_ns_max\":%.1f}\n",
           pp_cpu[0], pp_cpu[1], PP_TRIPS, runs, med, lo, hi);
    return 0;
}

/* ---- main -------------------------------------------------------------------- */

static void print_stats(const mp_stats *s)
{
    static const char *const stage[] = {"producer", "scanner", "parser", "consumer"};
    printf(",\"stats\":{\"stages\":{");
    for (int i = 0; i < MP_STAGE_COUNT; i++)
        printf("%s\"%s\":{\"items\":%llu,\"bytes\":%llu,\"sleeps\":%llu,\"wakeups\":%llu,"
               "\"cpu_ns\":%llu,\"steps\":%llu,\"timed_steps\":%llu}",
               i ? "," : "", stage[i], (unsigned long long)s->stage[i].items,
               (unsigned long long)s->stage[i].bytes, (unsigned long long)s->stage[i].sleeps,
               (unsigned long long)s->stage[i].wakeups, (unsigned long long)s->stage[i].cpu_ns,
               (unsigned long long)s->stage[i].steps, (unsigned long long)s->stage[i].timed_steps);
    printf("},\"ring_capacity\":[%u,%u,%u,%u],\"ring_hwm\":[%u,%u,%u,%u],\"chunks_total\":%u,"
           "\"chunks_in_flight_max\":%u,\"mpsc_stalls\":%llu,\"mode\":%u,\"mode_reason\":%u,"
           "\"workers\":%u,\"chunks_local\":%llu,\"chunks_consumer\":%llu,\"chunks_home\":%llu,"
           "\"worker_standbys\":%llu}",
           s->ring_capacity[0], s->ring_capacity[1], s->ring_capacity[2], s->ring_capacity[3],
           s->ring_hwm[0], s->ring_hwm[1], s->ring_hwm[2], s->ring_hwm[3], s->chunks_total,
           s->chunks_in_flight_max, (unsigned long long)s->mpsc_stalls, s->mode, s->mode_reason,
           s->workers, (unsigned long long)s->chunks_local, (unsigned long long)s->chunks_consumer,
           (unsigned long long)s->chunks_home, (unsigned long long)s->worker_standbys);
}

/* ---- paired: sequential and default reader alternately ------------------------ */

static const char *g_paired_mode = "paired";

static int run_paired(void)
{
    static run_result res[2][MAX_RUNS];
    static void (*const fn[2])(run_result *) = {run_seq, run_pipe};
    /* one unrecorded warm-up run of each: threads, buffers, page cache */
    for (int m = 0; m < 2; m++) {
        run_result w;
        memset(&w, 0, sizeof w);
        fn[m](&w);
        if (w.rc != 0) {
            fprintf(stderr, "mpbench: paired warm-up %d failed\n", m);
            return 1;
        }
    }
    for (int k = 0; k < A.runs; k++) {
        for (int j = 0; j < 2; j++) {
            int m = (k & 1) ? 1 - j : j;
            run_result *r = &res[m][k];
            memset(r, 0, sizeof *r);
            double c0 = bu_cpu(), t0 = bu_now();
            fn[m](r);
            r->wall = bu_now() - t0;
            r->cpu = bu_cpu() - c0;
            if (r->rc != 0) {
                fprintf(stderr, "mpbench: paired run %d failed\n", k);
                return 1;
            }
        }
        if (res[0][k].checksum != res[1][k].checksum || res[0][k].records != res[1][k].records) {
            fprintf(stderr, "mpbench: paired run %d: the two readers disagree\n", k);
            return 1;
        }
    }
    printf("{\"mode\":\"%s\",\"label\":\"%s\",\"file\":\"%s\",\"runs\":%d,\"light\":%d,"
           "\"callback\":%d,"
           "\"bytes\":%llu,\"records\":%llu",
           g_paired_mode, A.label, A.file, A.runs, A.light, A.callback,
           (unsigned long long)res[0][0].bytes, (unsigned long long)res[0][0].records);
    static const char *const name[2] = {"seq", "default"};
    for (int m = 0; m < 2; m++) {
        printf(",\"%s_walls\":[", name[m]);
        for (int k = 0; k < A.runs; k++)
            printf("%s%.6f", k ? "," : "", res[m][k].wall);
        printf("],\"%s_cpus\":[", name[m]);
        for (int k = 0; k < A.runs; k++)
            printf("%s%.6f", k ? "," : "", res[m][k].cpu);
        printf("]");
    }
    print_stats(&g_stats);
    printf("}\n");
    return 0;
}

/* ---- alone: the pipeline run by the reader's own thread ------------------------ */

/* A read callback that blocks until released: the pool's worker that
 * calls it stays there (asleep, 1 ms at a time). */
typedef struct parked_src {
    _Atomic int inside, release; /* written by the worker / by run_alone; read by the other */
} parked_src;

static ssize_t parked_read(void *user, void *buf, size_t cap, int *sys_errno)
{
    parked_src *ps = user;
    (void)buf, (void)cap, (void)sys_errno;
    atomic_store(&ps->inside, 1); /* seq_cst: run_alone polls it */
    while (!atomic_load(&ps->release)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int run_alone(void)
{
    parked_src ps;
    mp_reader_options o;
    mp_reader *blocker = NULL;
    int rc = mp_pool_create(&g_pool, 1);
    if (rc != MP_OK) {
        fprintf(stderr, "mpbench: mp_pool_create: %s\n", mp_strerror(rc));
        return 1;
    }
    atomic_init(&ps.inside, 0);
    atomic_init(&ps.release, 0);
    options_from_args(&o);
    o.pool = g_pool;
    if ((rc = mp_reader_open_cb(&blocker, parked_read, &ps, &o)) != MP_OK) {
        fprintf(stderr, "mpbench: alone: %s\n", mp_strerror(rc));
        mp_pool_destroy(g_pool);
        return 1;
    }
    for (int i = 0; i < 10000 && !atomic_load(&ps.inside); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (!atomic_load(&ps.inside)) {
        fprintf(stderr, "mpbench: alone: the worker never entered the parked read\n");
        rc = 1;
    } else {
        g_mode = MP_MODE_PIPELINE;
        g_paired_mode = "alone";
        rc = run_paired();
    }
    atomic_store(&ps.release, 1);
    mp_reader_close(blocker);
    mp_pool_destroy(g_pool);
    return rc;
}

static int parse_args(int argc, char **argv)
{
    A.runs = 5;
    A.ordered = 1;
    A.chunk = 0; /* the library's default */
    A.iters = 2000;
    A.label = "";
    if (argc < 3)
        return -1;
    A.mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-k") && v)
            A.runs = atoi(v), i++;
        else if (!strcmp(a, "-t") && v)
            A.threads = atoi(v), i++;
        else if (!strcmp(a, "-c") && v)
            A.chunk = (size_t)bu_size(v), i++;
        else if (!strcmp(a, "-T") && v)
            A.inflight = (unsigned)atoi(v), i++;
        else if (!strcmp(a, "-n") && v)
            A.iters = atoi(v), i++;
        else if (!strcmp(a, "--label") && v)
            A.label = v, i++;
        else if (!strcmp(a, "-u"))
            A.ordered = 0;
        else if (!strcmp(a, "--pool"))
            A.pool = 1;
        else if (!strcmp(a, "--mem"))
            A.mem = 1;
        else if (!strcmp(a, "--raw"))
            A.raw = 1;
        else if (!strcmp(a, "--light"))
            A.light = 1;
        else if (!strcmp(a, "--callback"))
            A.callback = 1;
        else if (!strcmp(a, "--pipe"))
            A.force_pipe = 1;
        else if ((a[0] != '-' || !a[1]) && !A.file) /* "-": no file (pingpong) */
            A.file = a;
        else if ((a[0] != '-' || !a[1]) && !A.file2)
            A.file2 = a;
        else
            return -1;
    }
    if (A.runs < 1)
        A.runs = 1;
    if (A.runs > MAX_RUNS)
        A.runs = MAX_RUNS;
    if (A.iters < 1)
        A.iters = 1;
    return A.file ? 0 : -1;
}

int main(int argc, char **argv)
{
    void (*fn)(run_result *) = NULL;
    run_result res[MAX_RUNS];
    double walls[MAX_RUNS];

    if (parse_args(argc, argv) != 0) {
        fprintf(
            stderr,
            "usage: mpbench floor|seq|pipe|auto|yaz|latency|pingpong|paired|alone FILE | pair FILE "
            "FILE2 [-k K] [-t N] [-c CHUNK] [-T INFLIGHT] [-u] [--pool] [--mem] "
            "[--raw] [--light] [--callback] [--pipe] [-n ITER] [--label L]\n");
        return 2;
    }
    if (!strcmp(A.mode, "pingpong"))
        return run_pingpong();
    if (A.pool || !strcmp(A.mode, "latency") || !strcmp(A.mode, "pair")) {
        int rc = mp_pool_create(&g_pool, (unsigned)A.threads);
        if (rc != MP_OK) {
            fprintf(stderr, "mpbench: mp_pool_create: %s\n", mp_strerror(rc));
            return 1;
        }
    }
    if (A.mem && (!strcmp(A.mode, "latency") || !strcmp(A.mode, "pair") ||
                  !strcmp(A.mode, "pingpong") || !strcmp(A.mode, "floor"))) {
        fprintf(stderr, "mpbench: --mem is not supported by %s\n", A.mode);
        mp_pool_destroy(g_pool);
        return 2;
    }
    /* --mem (and yaz, which reads a memory copy): the file is loaded once,
     * before any timed run, for every mode that reads it from memory. */
    if (A.mem || !strcmp(A.mode, "yaz")) {
        if (load_file(A.file) != 0) {
            fprintf(stderr, "mpbench: cannot read %s: %s\n", A.file, strerror(errno));
            mp_pool_destroy(g_pool);
            return 1;
        }
    }
    if (!strcmp(A.mode, "latency")) {
        run_latency();
        mp_pool_destroy(g_pool);
        return 0;
    }
    if (!strcmp(A.mode, "pair")) {
        int rc = A.file2 ? run_pair(A.file, A.file2) : 2;
        if (!A.file2)
            fprintf(stderr, "mpbench: pair needs two files\n");
        mp_pool_destroy(g_pool);
        return rc;
    }
    if (!strcmp(A.mode, "paired")) {
        g_mode = A.force_pipe ? MP_MODE_PIPELINE : MP_MODE_AUTO;
        return run_paired();
    }
    if (!strcmp(A.mode, "alone")) {
        if (g_pool) {
            fprintf(stderr, "mpbench: alone makes its own one-worker pool (no --pool)\n");
            mp_pool_destroy(g_pool);
            return 2;
        }
        return run_alone();
    }
    if (!strcmp(A.mode, "floor"))
        fn = run_floor;
    else if (!strcmp(A.mode, "seq"))
        fn = run_seq;
    else if (!strcmp(A.mode, "pipe"))
        fn = run_pipe;
    else if (!strcmp(A.mode, "auto")) {
        g_mode = MP_MODE_AUTO; /* the default reader: the library chooses the path */
        fn = run_pipe;
    }
#ifdef MP_PERF_HAVE_YAZ
    else if (!strcmp(A.mode, "yaz"))
        fn = run_yaz;
#else
    else if (!strcmp(A.mode, "yaz")) {
        printf("{\"mode\":\"yaz\",\"skipped\":\"built without libyaz-dev\"}\n");
        return 0;
    }
#endif
    if (!fn) {
        fprintf(stderr, "mpbench: unknown mode %s\n", A.mode);
        return 2;
    }
    for (int k = 0; k < A.runs; k++) {
        memset(&res[k], 0, sizeof res[k]);
        double c0 = bu_cpu(), t0 = bu_now();
        fn(&res[k]);
        res[k].wall = bu_now() - t0;
        res[k].cpu = bu_cpu() - c0;
        walls[k] = res[k].wall;
        if (res[k].rc != 0) {
            fprintf(stderr, "mpbench: %s run %d failed: %s\n", A.mode, k,
                    res[k].rc < 0 && res[k].rc > -100 ? mp_strerror(res[k].rc) : "error");
            printf("{\"mode\":\"%s\",\"label\":\"%s\",\"failed\":%d}\n", A.mode, A.label,
                   res[k].rc);
            return 1;
        }
    }
    int best = 0;
    for (int k = 1; k < A.runs; k++)
        if (res[k].wall < res[best].wall)
            best = k;
    double median = bu_quantile(walls, (size_t)A.runs, 0.5);
    const run_result *b = &res[best];
    printf("{\"mode\":\"%s\",\"label\":\"%s\",\"file\":\"%s\",\"threads\":%d,\"chunk\":%zu,"
           "\"inflight\":%u,\"ordered\":%d,\"pool\":%d,\"mem\":%d,\"raw\":%d,\"light\":%d,"
           "\"callback\":%d,"
           "\"runs\":%d,"
           "\"bytes\":%llu,\"records\":%llu,\"errors\":%llu,\"checksum\":%llu,"
           "\"best_s\":%.6f,\"median_s\":%.6f,\"best_cpu_s\":%.6f,"
           "\"best_mb_s\":%.2f,\"median_mb_s\":%.2f,\"best_rec_s\":%.0f,\"median_rec_s\":%.0f,"
           "\"walls\":[",
           A.mode, A.label, A.file, A.threads, A.chunk, A.inflight, A.ordered, A.pool, A.mem, A.raw,
           A.light, A.callback, A.runs, (unsigned long long)b->bytes,
           (unsigned long long)b->records, (unsigned long long)b->errors,
           (unsigned long long)b->checksum, b->wall, median, b->cpu,
           (double)b->bytes / 1e6 / b->wall, (double)b->bytes / 1e6 / median,
           (double)b->records / b->wall, (double)b->records / median);
    for (int k = 0; k < A.runs; k++)
        printf("%s%.6f", k ? "," : "", res[k].wall);
    printf("],\"cpus\":[");
    for (int k = 0; k < A.runs; k++)
        printf("%s%.6f", k ? "," : "", res[k].cpu);
    printf("]");
    if (fn == run_pipe)
        print_stats(&g_stats);
    printf("}\n");
    free(g_data);
    mp_pool_destroy(g_pool);
    return 0;
}
