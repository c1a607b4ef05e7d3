/*
 * stress_close.c - random early closes (plain executable; ASan and TSan).
 *
 * Each round opens a reader with a random shape (1-4 threads, chunk
 * 64 B - 64 KiB, 2-8 chunks in flight, ordered or not, a shared or a
 * private pool, a memory or a short-reading callback source), takes a
 * random number of items (0 included), checks them against the intact
 * read, and closes mid-stream. No crash, no hang (alarm), no leak (LSan),
 * and the shared pool is empty and destroyable at the end.
 * Options: --closes N (default 10000; 2000 under TSan), --seconds S
 * (ignored), --seed S.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../test/fuzz/relcheck.h"

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "HANG: an early close did not return within 60 s\n";
    write(2, msg, sizeof(msg) - 1);
    _exit(3);
}

int main(int argc, char **argv)
{
#ifdef MP_TSAN
    unsigned long n = 2000; /* TSan is ~15x slower: 10,000 run under ASan */
#else
    unsigned long n = 10000;
#endif
    unsigned long fails = 0, items = 0;
    uint64_t rng = 77;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--closes") == 0 && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            rng = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            i++;
    }
    signal(SIGALRM, on_alarm);
    mf_buf b;
    mf_init(&b);
    mf_sample(&b, 300, 9, NULL);
    mf_seq ref;
    if (rc_ref_mem(&ref, b.p, b.len) != MP_EOF) {
        fprintf(stderr, "fixture does not read cleanly\n");
        return 1;
    }
    mp_pool *pool = NULL;
    if (mp_pool_create(&pool, 2) != MP_OK)
        return 1;
    for (unsigned long k = 0; k < n; k++) {
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        rc_src src = {.data = b.p, .len = b.len, .short_reads = 1, .avg = 300, .rng = k};
        mp_reader *r = NULL;
        int use_cb = rc_rand(&rng) % 3 == 0;
        o.mode = MP_MODE_PIPELINE; /* small inputs: MP_MODE_AUTO would read them sequentially */
        o.threads = 1 + (unsigned)(rc_rand(&rng) % 4);
        o.chunk_size = (size_t)64 << (rc_rand(&rng) % 11);
        o.chunks_in_flight = 2 + (unsigned)(rc_rand(&rng) % 7);
        o.unordered = (int)(rc_rand(&rng) % 4 == 0);
        o.pool = rc_rand(&rng) % 8 ? pool : NULL;
        uint64_t take = rc_rand(&rng) % 4 == 0 ? 0 : rc_rand(&rng) % (rc_rand(&rng) & 1 ? 8 : 400);
        alarm(60);
        int rc = use_cb ? mp_reader_open_cb(&r, rc_src_read, &src, &o)
                        : mp_reader_open_mem(&r, b.p, b.len, &o);
        if (rc != MP_OK) {
            fprintf(stderr, "round %lu: open failed: %s\n", k, mp_err_name(rc));
            fails++;
            continue;
        }
        uint64_t t = 0; /* items delivered so far */
        for (uint64_t call = 0; call < take; call++) {
            const mp_record *rec;
            rc = (call % 5 == 4) ? mp_reader_next_timeout(r, &rec, 0) : mp_reader_next(r, &rec);
            if (rc == MP_EAGAIN)
                continue; /* nothing consumed */
            if (rc != MP_OK) {
                if (rc != MP_EOF || t != ref.n) {
                    fprintf(stderr, "round %lu: item %llu: %s\n", k, (unsigned long long)t,
                            mp_err_name(rc));
                    fails++;
                }
                break;
            }
            items++;
            /* Ordered: exactly the intact stream; unordered: some intact record. */
            if (!o.unordered
                    ? (ref.v[t].offset != mp_record_offset(rec) ||
                       ref.v[t].hash != mf_record_hash(rec))
                    : rc_find_record(&ref, mp_record_offset(rec), mf_record_hash(rec)) < 0) {
                fprintf(stderr, "round %lu: item %llu differs from the intact read\n", k,
                        (unsigned long long)t);
                fails++;
                break;
            }
            t++;
        }
        mp_reader_close(r);
        alarm(0);
    }
    if (mp_pool_attached(pool) != 0 || mp_pool_destroy(pool) != MP_OK) {
        fprintf(stderr, "the shared pool still has pipelines attached\n");
        fails++;
    }
    printf("stress_close: %lu early closes, %lu items checked, %lu failures\n", n, items, fails);
    mf_seq_free(&ref);
    mf_free(&b);
    return fails ? 1 : 0;
}
