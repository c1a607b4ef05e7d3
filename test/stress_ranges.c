/*
 * stress_ranges.c - byte-range reads through the pipeline under load
 * (plain executable; ASan and TSan).
 *
 * For a few damaged inputs (generated, plus a slice of the realworld corpus
 * when present), rounds of random partitions (1-16 ranges, cuts at random
 * bytes) are read through pipeline readers with random shapes (1-3 workers,
 * chunks of 64 B - 16 KiB, 2-6 chunks in flight, ordered or not, a shared
 * or a private pool, a memory or a short-reading callback source). The
 * concatenation of each partition, with first_ordinal chained through
 * mp_reader_units, must equal the sequential whole read item for item.
 * One round in four also closes some range reader early, at a random item,
 * while its producer may be past the range end (the scanner's input_end
 * hand-off racing the close). This drives the range-end protocol of
 * core/src/pipe.c (input_end store/load, terminal rewrite, recycling of
 * chunks past the end) on real threads, where TSan can see it.
 * Options: --seconds S (default 5), --seed S.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "../test/fuzz/relcheck.h"
#include "corpus.h"

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "HANG: a range read did not finish within 60 s\n";
    write(2, msg, sizeof(msg) - 1);
    _exit(3);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_item(const void *a, const void *b)
{
    return cmp_u64(&((const mf_item *)a)->offset, &((const mf_item *)b)->offset);
}

static void push(mf_seq *s, const mf_item *it)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v)
            abort();
    }
    s->v[s->n++] = *it;
}

/* One damaged input: records with lying lengths, junk, an inner anchor,
 * a destroyed terminator and a truncated end. */
static void damaged_input(mf_buf *b, unsigned seed)
{
    size_t offs[121];
    mf_init(b);
    mf_sample(b, 120, seed, offs);
    b->p[offs[100] - 1] = 'x';           /* destroyed terminator */
    mf_set_length(b, offs[80], "99999"); /* lying length */
    memcpy(b->p + offs[60] + 40,
           "\x1d"
           "00100nam a2200037 a 4500",
           25); /* inner anchor */
    static const char junk[] = "junk 12345 \r\n\x1d";
    mf_insert(b, offs[40], junk, sizeof junk - 1);
    mf_set_length(b, offs[20], "00000");
    b->len -= 30; /* truncated end */
}

int main(int argc, char **argv)
{
    double seconds = 5;
    uint64_t rng = 4242;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            rng = strtoull(argv[++i], NULL, 10);
    }
    signal(SIGALRM, on_alarm);
    mp_pool *pool;
    if (mp_pool_create(&pool, 2) != MP_OK) {
        fprintf(stderr, "cannot create the pool\n");
        return 1;
    }
    enum { NIN = 3 };
    mf_buf in[NIN];
    damaged_input(&in[0], 3);
    damaged_input(&in[1], 5);
    mf_init(&in[2]);
    char path[4096];
    snprintf(path, sizeof path, "%s/realworld/watson_mma_pubs_2025_04.mrc", mf_corpus_dir());
    size_t len = 0;
    unsigned char *real = mf_read_file(path, &len);
    if (real) {
        mf_append(&in[2], real, len < 300000 ? len : 300000); /* ends inside a record */
        free(real);
    } else {
        printf("SKIP: %s absent; a generated input takes its place\n", path);
        damaged_input(&in[2], 7);
    }
    mf_seq ref[NIN];
    for (int k = 0; k < NIN; k++)
        rc_ref_mem(&ref[k], in[k].p, in[k].len);

    unsigned long rounds = 0, ranges = 0, closes = 0, fails = 0;
    double end = now() + seconds;
    while (now() < end) {
        int k = (int)(rc_rand(&rng) % NIN);
        const mf_buf *b = &in[k];
        unsigned parts = 1 + (unsigned)(rc_rand(&rng) % 16);
        uint64_t cuts[17];
        for (unsigned i = 0; i + 1 < parts; i++)
            cuts[i] = 1 + rc_rand(&rng) % (b->len - 1);
        qsort(cuts, parts - 1, sizeof *cuts, cmp_u64);
        int close_one = rc_rand(&rng) % 4 == 0 ? (int)(rc_rand(&rng) % parts) : -1;
        mf_seq all;
        memset(&all, 0, sizeof all);
        uint64_t start = 0, first = 0;
        int bad = 0;
        alarm(60);
        for (unsigned i = 0; i < parts && !bad; i++) {
            uint64_t stop = i + 1 < parts ? cuts[i] : 0;
            mp_reader_options o = MP_READER_OPTIONS_INIT;
            o.mode = MP_MODE_PIPELINE;
            o.threads = 1 + (unsigned)(rc_rand(&rng) % 3);
            o.chunk_size = 64 + (size_t)(rc_rand(&rng) % (16 * 1024));
            o.chunks_in_flight = 2 + (unsigned)(rc_rand(&rng) % 5);
            o.unordered = rc_rand(&rng) % 3 == 0;
            o.pool = rc_rand(&rng) % 2 ? pool : NULL;
            o.range_start = start;
            o.range_end = stop;
            o.first_ordinal = first;
            rc_src cb;
            memset(&cb, 0, sizeof cb);
            cb.data = b->p;
            cb.len = b->len;
            cb.short_reads = 1;
            cb.avg = 1 + (size_t)(rc_rand(&rng) % 2000);
            cb.rng = rc_rand(&rng);
            mp_reader *r = NULL;
            int rc = rc_rand(&rng) % 2 ? mp_reader_open_mem(&r, b->p, b->len, &o)
                                       : mp_reader_open_cb(&r, rc_src_read, &cb, &o);
            if (rc != MP_OK) {
                fprintf(stderr, "FAIL: open: %s\n", mp_err_name(rc));
                bad = 1;
                break;
            }
            if ((int)i == close_one) {
                /* Early close at a random item: only no crash / hang / leak. */
                uint64_t upto = rc_rand(&rng) % 8;
                const mp_record *rec;
                for (uint64_t j = 0; j < upto; j++)
                    if ((rc = mp_reader_next(r, &rec)) != MP_OK && rc != MP_ERECORD)
                        break;
                mp_reader_close(r);
                closes++;
                bad = -1; /* this partition is not compared */
                break;
            }
            mf_seq got;
            rc = mf_collect(&got, r);
            first += mp_reader_units(r);
            mp_reader_close(r);
            if (rc != MP_EOF) {
                fprintf(stderr, "FAIL: range [%llu,%llu) ends with %s\n", (unsigned long long)start,
                        (unsigned long long)stop, mp_err_name(rc));
                bad = 1;
            }
            if (o.unordered && got.n > 1)
                qsort(got.v, got.n, sizeof *got.v, cmp_item);
            for (size_t j = 0; j < got.n; j++)
                push(&all, &got.v[j]);
            mf_seq_free(&got);
            ranges++;
            start = stop;
        }
        alarm(0);
        if (bad == 0) {
            all.end_rc = ref[k].end_rc;
            all.end_off = ref[k].end_off;
            long d = mf_seq_diff(&ref[k], &all);
            if (d >= 0) {
                fprintf(stderr, "FAIL: input %d, %u ranges: item %ld differs (%zu vs %zu items)\n",
                        k, parts, d, all.n, ref[k].n);
                bad = 1;
            }
        }
        if (bad > 0 && ++fails > 20)
            break;
        mf_seq_free(&all);
        rounds++;
    }
    for (int k = 0; k < NIN; k++) {
        mf_seq_free(&ref[k]);
        mf_free(&in[k]);
    }
    if (mp_pool_destroy(pool) != MP_OK) {
        fprintf(stderr, "FAIL: the pool is still in use\n");
        fails++;
    }
    printf("ranges: %lu partitions, %lu range reads, %lu early closes, %lu failures\n", rounds,
           ranges, closes, fails);
    return fails ? 1 : 0;
}
