/*
 * split_threads.c - one file read by several readers at once.
 *
 *     split_threads FILE [PARTS]
 *
 * mp_split_plan_path() cuts FILE into at most PARTS byte ranges that start
 * on records (it reads a few KiB per cut, it does not parse); one thread
 * per range opens a reader with options.range_start/range_end on a shared
 * mp_pool and counts its records and error items. A range's reader yields
 * exactly the units that begin in it, so the sums equal one whole read -
 * the same would hold for ranges read by processes or machines.
 * Prints "ranges N records R errors E"; exit status 0 when every range was
 * read to its end, 1 when one failed.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <marcpipe/marcpipe.h>

typedef struct job {
    const char *path;
    mp_range range;
    mp_pool *pool;
    uint64_t records, errors; /* written by the job's thread, read after join */
    int rc;
} job;

static void *read_range(void *arg)
{
    job *j = arg;
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.pool = j->pool;
    o.range_start = j->range.start;
    o.range_end = j->range.end;
    mp_reader *r;
    j->rc = mp_reader_open_path(&r, j->path, &o);
    if (j->rc != MP_OK)
        return NULL;
    const mp_record *rec;
    int rc;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD)
        *(rc == MP_OK ? &j->records : &j->errors) += 1;
    j->rc = rc; /* MP_EOF: the range was read to its end */
    mp_reader_close(r);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: split_threads FILE [PARTS]\n");
        return 2;
    }
    mp_split_options so = MP_SPLIT_OPTIONS_INIT;
    so.parts = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 4;
    mp_split_plan *plan;
    int rc = mp_split_plan_path(&plan, argv[1], &so);
    if (rc != MP_OK) {
        fprintf(stderr, "split_threads: %s: %s\n", argv[1], mp_strerror(rc));
        return 2;
    }
    mp_pool *pool;
    if (mp_pool_create(&pool, 2) != MP_OK) {
        mp_split_plan_free(plan);
        return 2;
    }
    job *jobs = calloc(plan->count, sizeof *jobs);
    pthread_t *tids = calloc(plan->count, sizeof *tids);
    if (!jobs || !tids)
        abort();
    for (size_t i = 0; i < plan->count; i++) {
        jobs[i] = (job){argv[1], plan->ranges[i], pool, 0, 0, MP_OK};
        if (pthread_create(&tids[i], NULL, read_range, &jobs[i]) != 0)
            abort();
    }
    uint64_t records = 0, errors = 0;
    int failed = 0;
    for (size_t i = 0; i < plan->count; i++) {
        pthread_join(tids[i], NULL);
        records += jobs[i].records;
        errors += jobs[i].errors;
        if (jobs[i].rc != MP_EOF) {
            fprintf(stderr, "split_threads: range [%" PRIu64 ", %" PRIu64 "): %s\n",
                    jobs[i].range.start, jobs[i].range.end, mp_strerror(jobs[i].rc));
            failed = 1;
        }
    }
    printf("ranges %zu records %" PRIu64 " errors %" PRIu64 "\n", plan->count, records, errors);
    free(tids);
    free(jobs);
    mp_split_plan_free(plan);
    mp_pool_destroy(pool);
    return failed;
}
