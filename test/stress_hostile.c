/*
 * stress_hostile.c - the hostile corpus run (plain executable, TSan-able).
 *
 *  1. every MARC file of the corpus (../shared/data or $MARCPIPE_CORPUS,
 *     damaged files included) through the pipeline with tiny, odd and
 *     default chunk sizes: identical items to the sequential reader, in
 *     order, ending in MP_EOF;
 *  2. truncation at every offset of a small generated multi-record file:
 *     every record that ends before the cut is delivered intact, the cut
 *     record is reported, the stream ends in MP_EOF;
 *  3. N seeded random byte-flip mutants of a real file (a record-aligned
 *     slice of the realworld corpus; a generated file when it is absent):
 *     pipeline == sequential reader, and every record of the original
 *     whose bytes the mutation did not touch comes out identical;
 *  4. D seeded hostile directories (issue #16, item 4): a record whose
 *     thousands of entries overlap, run past their fields or pile onto
 *     one field, between good records: pipeline == sequential reader,
 *     the good records all arrive, the stream ends in MP_EOF, each input
 *     within a 20 s alarm, and (unsanitized builds) the peak RSS of the
 *     whole part stays under 256 MiB above where it started (the old
 *     parser took 592 MB for one such record).
 *
 * No crash (the sanitizers abort), no hang (alarm() per input), no leak
 * (LeakSanitizer in the ASan build). Options: --seconds N (ignored, for
 * CTest), --mutants N (default 10000), --directories D (default 300),
 * --seed S.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "../test/fuzz/relcheck.h"
#include "corpus.h"

static const char *g_input = "(none)";
static unsigned g_timeout = 60;
static mp_pool *g_pool;
static unsigned long g_inputs, g_failures;

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "HANG: per-input timeout expired on input: ";
    write(2, msg, sizeof(msg) - 1);
    write(2, g_input, strlen(g_input));
    write(2, "\n", 1);
    _exit(3);
}

static void fail(const char *what, const char *why)
{
    g_failures++;
    if (g_failures <= 20)
        fprintf(stderr, "FAIL %s: %s\n", what, why);
}

/* Pipeline read of a buffer with the given shape. */
static int pipe_mem(mf_seq *out, const void *data, size_t len, size_t chunk, unsigned threads,
                    mp_pool *pool)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    mp_reader *r = NULL;
    o.mode = MP_MODE_PIPELINE; /* small inputs: MP_MODE_AUTO would read them sequentially */
    o.chunk_size = chunk;
    o.threads = threads;
    o.chunks_in_flight = 2 + threads;
    o.pool = pool;
    memset(out, 0, sizeof(*out));
    int rc = mp_reader_open_mem(&r, data, len, &o);
    if (rc != MP_OK)
        return rc;
    rc = mf_collect(out, r);
    mp_reader_close(r);
    return rc;
}

/* Pipeline equals the sequential reader on these bytes. */
static int parity(const char *what, const unsigned char *data, size_t len, size_t chunk,
                  unsigned threads, mp_pool *pool, const mf_seq *ref)
{
    mf_seq got;
    char why[256];
    g_input = what;
    alarm(g_timeout);
    pipe_mem(&got, data, len, chunk, threads, pool);
    alarm(0);
    g_inputs++;
    long d = mf_seq_diff(ref, &got);
    int bad = 0;
    if (d >= 0) {
        snprintf(why, sizeof why,
                 "chunk %zu threads %u: differs from the sequential reader at item %ld "
                 "(ref n=%zu end=%d, got n=%zu end=%d)",
                 chunk, threads, d, ref->n, ref->end_rc, got.n, got.end_rc);
        fail(what, why);
        bad = 1;
    } else if (got.end_rc != MP_EOF) {
        snprintf(why, sizeof why, "ends with %s, not MP_EOF", mp_err_name(got.end_rc));
        fail(what, why);
        bad = 1;
    } else if (rc_check_order(&got, why, sizeof why)) {
        fail(what, why);
        bad = 1;
    }
    mf_seq_free(&got);
    return bad;
}

/* ---- 1. the corpus -------------------------------------------------------- */

static unsigned long g_files;

static void corpus_files(const char *dir)
{
    mf_corpus files;
    mf_corpus_list(&files, dir);
    for (size_t i = 0; i < files.n; i++) {
        const char *path = files.v[i].path;
        if (files.v[i].size > 64 * 1024 * 1024)
            continue;
        size_t len;
        unsigned char *data = mf_read_file(path, &len);
        if (!data)
            continue;
        mf_seq ref;
        g_input = path;
        alarm(g_timeout);
        rc_ref_mem(&ref, data, len);
        alarm(0);
        g_files++;
        static const size_t chunks[] = {64, 100, 4093, 512 * 1024};
        for (int c = 0; c < 4; c++) {
            if (len > 1024 * 1024 && chunks[c] < 4096)
                continue; /* the big file: tiny chunks cost minutes under sanitizers */
            parity(path, data, len, chunks[c], 1 + (unsigned)(c & 1), c == 2 ? NULL : g_pool, &ref);
        }
        mf_seq_free(&ref);
        free(data);
    }
    mf_corpus_free(&files);
}

/* ---- 2. truncation at every offset ----------------------------------------- */

static void truncations(unsigned long *count)
{
    mf_buf b;
    size_t offs[9];
    mf_init(&b);
    mf_sample(&b, 8, 7, offs);
    mf_seq full;
    rc_ref_mem(&full, b.p, b.len);
    if (full.end_rc != MP_EOF || full.n != 8)
        fail("truncation fixture", "the intact fixture does not read as 8 good records");
    for (size_t cut = 0; cut <= b.len; cut++) {
        mf_seq ref, got;
        char what[64], why[256];
        snprintf(what, sizeof what, "truncation at %zu of %zu", cut, b.len);
        g_input = what;
        alarm(g_timeout);
        rc_ref_mem(&ref, b.p, cut);
        pipe_mem(&got, b.p, cut, 64 + (cut % 7) * 31, 1 + (unsigned)(cut & 1), g_pool);
        alarm(0);
        g_inputs++;
        (*count)++;
        if (mf_seq_diff(&ref, &got) >= 0)
            fail(what, "pipeline differs from the sequential reader");
        else if (got.end_rc != MP_EOF)
            fail(what, "does not end in MP_EOF");
        else if (rc_check_cut(&full, &got, cut, why, sizeof why))
            fail(what, why);
        else {
            int at_boundary = 0;
            for (int i = 0; i <= 8; i++)
                at_boundary |= offs[i] == cut;
            size_t good = 0;
            for (size_t i = 0; i < got.n; i++)
                good += got.v[i].rc == MP_OK;
            if (!at_boundary && (got.n == 0 || got.v[got.n - 1].rc != MP_ERECORD))
                fail(what, "the cut record is not reported as an error item");
            if (at_boundary && got.n != good)
                fail(what, "an error item at a record boundary");
        }
        mf_seq_free(&ref);
        mf_seq_free(&got);
    }
    mf_seq_free(&full);
    mf_free(&b);
}

/* ---- 3. byte-flip mutants --------------------------------------------------- */

static unsigned char *mutant_base(size_t *len, const char *corpus)
{
    char path[4096];
    size_t n = 0;
    unsigned char *all;
    snprintf(path, sizeof path, "%s/realworld/watson_mma_pubs_2025_04.mrc", corpus);
    all = mf_read_file(path, &n);
    if (all) {
        /* A record-aligned slice of ~48 KiB (about 20 records). */
        size_t end = 0;
        while (end < n && end < 48 * 1024) {
            unsigned char *t = memchr(all + end, 0x1d, n - end);
            if (!t)
                break;
            end = (size_t)(t - all) + 1;
        }
        *len = end;
        printf("mutants: base = first %zu bytes of %s\n", end, path);
        return all;
    }
    printf("SKIP (partly): %s absent; mutants of a generated file instead\n", path);
    mf_buf b;
    mf_init(&b);
    mf_sample(&b, 20, 11, NULL);
    *len = b.len;
    return b.p;
}

/*
 * A flip that destroys the terminator of the record BEFORE an untouched
 * record used to make the scanner resynchronise on the end of the
 * untouched one and swallow it (fixed: the framer trusts the stated length
 * when a clean record follows it). Still counted apart so a regression
 * names itself; a failure unless MP_LENIENT_RESYNC=1.
 */
static unsigned long g_resync_lost;

static void mutants(unsigned long n, uint64_t seed, const char *corpus, unsigned long *lost,
                    unsigned long *count)
{
    int strict = getenv("MP_LENIENT_RESYNC") == NULL;
    size_t len;
    unsigned char *base = mutant_base(&len, corpus);
    unsigned char *m = malloc(len ? len : 1);
    mf_seq orig;
    rc_ref_mem(&orig, base, len);
    uint64_t rng = seed;
    for (unsigned long k = 0; k < n; k++) {
        size_t pos[4];
        int np = 1 + (int)(rc_rand(&rng) % 3);
        memcpy(m, base, len);
        for (int i = 0; i < np; i++) {
            pos[i] = (size_t)(rc_rand(&rng) % len);
            uint8_t x = (uint8_t)(rc_rand(&rng) % 255 + 1);
            if (rc_rand(&rng) & 1)
                x = (uint8_t)(1u << (rc_rand(&rng) % 8)); /* a single bit flip */
            m[pos[i]] ^= x;
        }
        char what[96], why[256];
        snprintf(what, sizeof what, "mutant %lu (seed %llu)", k, (unsigned long long)seed);
        mf_seq ref, got;
        g_input = what;
        alarm(g_timeout);
        rc_ref_mem(&ref, m, len);
        alarm(0);
        size_t chunk = 64 + (size_t)(rc_rand(&rng) % 8192);
        (*count)++;
        if (parity(what, m, len, chunk, 1 + (unsigned)(k & 1), (k % 16) ? g_pool : NULL, &ref)) {
            mf_seq_free(&ref);
            continue;
        }
        /* Every original record the flips did not touch comes out identical. */
        for (size_t i = 0; i < orig.n; i++) {
            const mf_item *it = &orig.v[i];
            int touched = 0;
            for (int j = 0; j < np; j++)
                touched |= pos[j] >= it->offset && pos[j] < it->offset + it->length;
            if (it->rc != MP_OK || touched)
                continue;
            if (rc_find_record(&ref, it->offset, it->hash) < 0) {
                int prev_term = 0;
                for (int j = 0; j < np; j++)
                    prev_term |= it->offset > 0 && pos[j] == it->offset - 1;
                if (prev_term && !strict) {
                    g_resync_lost++;
                    continue;
                }
                (*lost)++;
                snprintf(why, sizeof why,
                         "untouched record %zu (offset %llu) lost; flips at %zu %zu %zu", i,
                         (unsigned long long)it->offset, pos[0], np > 1 ? pos[1] : 0,
                         np > 2 ? pos[2] : 0);
                fail(what, why);
            }
        }
        (void)got;
        mf_seq_free(&ref);
    }
    mf_seq_free(&orig);
    free(m);
    free(base);
}

/* ---- 4. hostile directories --------------------------------------------- */

static void put_digits(unsigned char *at, size_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        at[i] = (unsigned char)('0' + v % 10);
        v /= 10;
    }
}

/* Appends one record whose directory is hostile in a seeded way. */
static void hostile_record(mf_buf *b, uint64_t *rng)
{
    size_t nent = 1 + (size_t)(rc_rand(rng) % 8000);
    size_t area = 16 + (size_t)(rc_rand(rng) % 30000);
    int style = (int)(rc_rand(rng) % 4); /* one field / runaway / random / mixed */
    size_t base = 24 + 12 * nent + 1, total = base + area + 1;
    size_t off = b->len;
    mf_append(b, "", 0);
    unsigned char *r = malloc(total);
    if (!r)
        abort();
    put_digits(r, total > 99999 ? 99999 : total, 5);
    memcpy(r + 5, "nam a22", 7);
    put_digits(r + 12, base > 99999 ? 99999 : base, 5);
    memcpy(r + 17, " a 4500", 7);
    for (size_t i = 0; i < nent; i++) {
        unsigned char *e = r + 24 + 12 * i;
        int st = style == 3 ? (int)(rc_rand(rng) % 3) : style;
        size_t len, start;
        if (st == 0) { /* all on the first field */
            len = area < 9999 ? area : 9999;
            start = 0;
        } else if (st == 1) { /* no terminator where the length says: runs on */
            len = 1 + (size_t)(rc_rand(rng) % 9999);
            start = (size_t)(rc_rand(rng) % 64);
        } else {
            len = (size_t)(rc_rand(rng) % 10000);
            start = (size_t)(rc_rand(rng) % (area < 99999 ? area : 99999));
        }
        memcpy(e, rc_rand(rng) % 8 ? "245" : "001", 3);
        put_digits(e + 3, len, 4);
        put_digits(e + 7, start, 5);
    }
    r[base - 1] = 0x1E;
    unsigned char *d = r + base;
    for (size_t j = 0; j < area; j++)
        d[j] = (j % 3 == 2) ? 0x1F : (unsigned char)("10ax"[j % 4]);
    if (style != 1)
        for (size_t k = 0; k < 1 + area / 2000; k++) /* a few field terminators */
            d[rc_rand(rng) % area] = 0x1E;
    d[area - 1] = 0x1E;
    r[total - 1] = 0x1D;
    b->len = off;
    mf_append(b, r, total);
    free(r);
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void directories(unsigned long n, uint64_t seed, unsigned long *count)
{
    uint64_t rng = seed ^ 0x5eedd1ec7ull;
    long rss0 = max_rss_kb();
    for (unsigned long k = 0; k < n; k++) {
        mf_buf b;
        mf_init(&b);
        mf_sample(&b, 3, (unsigned)k, NULL);
        size_t hostile = b.len;
        int nh = 1 + (int)(rc_rand(&rng) % 3);
        for (int i = 0; i < nh; i++)
            hostile_record(&b, &rng);
        size_t good2 = b.len;
        mf_sample(&b, 3, (unsigned)k + 1, NULL);
        char what[96], why[160];
        snprintf(what, sizeof what, "hostile directory %lu (seed %llu)", k,
                 (unsigned long long)seed);
        mf_seq ref;
        g_input = what;
        alarm(20);
        rc_ref_mem(&ref, b.p, b.len);
        alarm(0);
        (*count)++;
        size_t chunk = 1024u << (rc_rand(&rng) % 10);
        if (!parity(what, b.p, b.len, chunk, 1 + (unsigned)(k & 1), (k % 4) ? g_pool : NULL,
                    &ref)) {
            unsigned good = 0;
            for (size_t i = 0; i < ref.n; i++)
                if (ref.v[i].rc == MP_OK && (ref.v[i].offset < hostile || ref.v[i].offset >= good2))
                    good++;
            if (good != 6) {
                snprintf(why, sizeof why, "%u of the 6 good records around it arrived", good);
                fail(what, why);
            }
        }
        mf_seq_free(&ref);
        mf_free(&b);
    }
    long grew = max_rss_kb() - rss0;
    printf("hostile directories: peak RSS grew by %ld KiB\n", grew);
#if !defined(__SANITIZE_ADDRESS__) && !defined(MP_TSAN)
    if (grew > 256 * 1024)
        fail("hostile directories", "peak RSS grew by more than 256 MiB");
#endif
}

int main(int argc, char **argv)
{
#ifdef MP_TSAN
    unsigned long nmut = 2000; /* TSan: the 10,000 run under ASan and release */
#else
    unsigned long nmut = 10000; /* about 10 s in a release build, 27 s under ASan */
#endif
    uint64_t seed = 20250425;
    unsigned long ndir = 300;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mutants") == 0 && i + 1 < argc)
            nmut = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--directories") == 0 && i + 1 < argc)
            ndir = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            i++; /* bounded by counts, not time */
    }
    signal(SIGALRM, on_alarm);
    const char *corpus = mf_corpus_dir();
    if (mp_pool_create(&g_pool, 2) != MP_OK) {
        fprintf(stderr, "cannot create the pool\n");
        return 1;
    }
    if (mf_is_dir(corpus))
        corpus_files(corpus);
    else
        printf("SKIP: corpus %s absent; the corpus part of the hostile run is skipped\n", corpus);
    printf("corpus: %lu files, %lu pipeline runs so far\n", g_files, g_inputs);
    unsigned long ntrunc = 0, lost = 0, nm = 0;
    truncations(&ntrunc);
    printf("truncations: %lu\n", ntrunc);
    mutants(nmut, seed, corpus, &lost, &nm);
    printf("mutants: %lu (lost untouched records: %lu; lost after a destroyed terminator of the "
           "previous record: %lu)\n",
           nm, lost, g_resync_lost);
    unsigned long nd = 0;
    directories(ndir, seed, &nd);
    printf("hostile directories: %lu\n", nd);
    if (mp_pool_destroy(g_pool) != MP_OK)
        fail("pool", "mp_pool_destroy failed (a reader still attached?)");
    printf("hostile: %lu inputs, %lu failures, 0 crashes, 0 hangs\n", g_inputs, g_failures);
    return g_failures ? 1 : 0;
}
