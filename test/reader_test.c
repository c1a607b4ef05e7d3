/*
 * reader_test.c - the pipeline reader: sources, chunk straddling, big
 * records, policies, I/O errors, early close, timeouts, shared pools.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "alloc.h"
#include "marcfix.h"

static mp_reader_options opts(unsigned threads, size_t chunk)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.mode = MP_MODE_PIPELINE; /* these are pipeline tests: small inputs would run sequentially */
    o.threads = threads;
    o.chunk_size = chunk;
    return o;
}

static void expect_records(mp_reader *r, const size_t *offs, unsigned n)
{
    const mp_record *rec;
    for (unsigned i = 0; i < n; i++) {
        int rc = mp_reader_next(r, &rec);
        cr_assert_eq(rc, MP_OK, "record %u: %s (%s)", i, mp_err_name(rc),
                     mp_reader_error(r)->message);
        cr_assert_eq(mp_record_offset(rec), offs[i]);
        size_t len;
        mp_record_raw(rec, &len);
        cr_assert_eq(len, offs[i + 1] - offs[i]);
        cr_assert_eq(mp_record_ordinal(rec), i);
        char cn[32];
        snprintf(cn, sizeof cn, "cn%u", i);
        size_t cl;
        const char *c = mp_record_control_number(rec, &cl);
        cr_assert(c && cl == strlen(cn) && memcmp(c, cn, cl) == 0);
    }
}

Test(reader, empty_input_is_eof, .timeout = 10)
{
    mp_reader *r;
    const mp_record *rec;
    mp_reader_options o = opts(2, 4096);
    cr_assert_eq(mp_reader_open_mem(&r, "", 0, &o), MP_OK);
    cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
    cr_assert_null(rec);
    cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
    mp_reader_close(r);
    mp_reader_close(NULL);
}

Test(reader, mem_path_fd_cb_sources, .timeout = 30)
{
    mf_buf b;
    size_t offs[201];
    mf_init(&b);
    mf_sample(&b, 200, 3, offs);
    char path[] = "/tmp/mp_reader_testXXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, b.p, b.len), (ssize_t)b.len);
    close(fd);

    mp_reader_options o = opts(2, 4096);
    mp_reader *r;
    const mp_record *rec;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    expect_records(r, offs, 200);
    cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
    uint64_t nr, ne, nb;
    mp_reader_counts(r, &nr, &ne, &nb);
    cr_assert_eq(nr, 200);
    cr_assert_eq(ne, 0);
    cr_assert_eq(nb, b.len);
    mp_reader_close(r);

    cr_assert_eq(mp_reader_open_path(&r, path, &o), MP_OK);
    expect_records(r, offs, 200);
    cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
    mp_reader_close(r);

    fd = open(path, O_RDONLY);
    cr_assert_eq(mp_reader_open_fd(&r, fd, &o), MP_OK);
    expect_records(r, offs, 200);
    cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
    mp_reader_close(r);
    cr_assert_eq(fcntl(fd, F_GETFD), 0, "the descriptor is borrowed, not closed");
    close(fd);

    /* A pipe with a writer thread. */
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    cr_assert_eq(mp_reader_open_fd(&r, pfd[0], &o), MP_OK);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        size_t at = 0;
        while (at < b.len) {
            size_t n = b.len - at > 1000 ? 1000 : b.len - at;
            if (write(pfd[1], b.p + at, n) != (ssize_t)n)
                _exit(1);
            at += n;
        }
        _exit(0);
    }
    close(pfd[1]);
    expect_records(r, offs, 200);
    cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
    mp_reader_close(r);
    close(pfd[0]);

    cr_assert_eq(mp_reader_open_path(&r, "/nonexistent/x.mrc", &o), MP_ENOENT);
    unlink(path);
    mf_free(&b);
}

typedef struct cbsrc {
    const unsigned char *p;
    size_t len, pos, fail_at, step;
} cbsrc;

static ssize_t cb_read(void *user, void *buf, size_t cap, int *sys_errno)
{
    cbsrc *s = user;
    if (s->fail_at && s->pos >= s->fail_at) {
        *sys_errno = EIO;
        return -1;
    }
    size_t n = s->len - s->pos;
    if (n > cap)
        n = cap;
    if (n > s->step)
        n = s->step;
    if (s->fail_at && s->pos + n > s->fail_at)
        n = s->fail_at - s->pos;
    memcpy(buf, s->p + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

Test(reader, io_error_after_every_earlier_record, .timeout = 30)
{
    mf_buf b;
    size_t offs[51];
    mf_init(&b);
    mf_sample(&b, 50, 5, offs);
    for (int pass = 0; pass < 2; pass++) {
        size_t fail = pass == 0 ? offs[30] : offs[30] + 10; /* on a boundary / inside */
        cbsrc s = {b.p, b.len, 0, fail, 777};
        mp_reader_options o = opts(2, 4096);
        mp_reader *r;
        const mp_record *rec;
        cr_assert_eq(mp_reader_open_cb(&r, cb_read, &s, &o), MP_OK);
        expect_records(r, offs, 30);
        int rc = mp_reader_next(r, &rec);
        if (pass == 1) {
            /* The partial record before the failure is reported first. */
            cr_assert_eq(rc, MP_ERECORD);
            cr_assert_eq(mp_reader_error(r)->kind, MP_EK_TRUNCATED);
            cr_assert_eq(mp_reader_error(r)->offset, offs[30]);
            rc = mp_reader_next(r, &rec);
        }
        cr_assert_eq(rc, MP_EIO, "got %s", mp_err_name(rc));
        const mp_error_info *e = mp_reader_error(r);
        cr_assert_eq(e->kind, MP_EK_IO);
        cr_assert_eq(e->offset, fail);
        cr_assert_eq(e->sys_errno, EIO);
        cr_assert_eq(mp_reader_next(r, &rec), MP_EIO, "the failure is sticky");
        mp_reader_close(r);

        /* The sequential reader says the same. */
        s.pos = 0;
        mp_reader *q;
        cr_assert_eq(mp_reader_open_cb(&q, cb_read, &s, mf_seqopts(&o)), MP_OK);
        mf_seq got;
        mf_collect(&got, q);
        cr_assert_eq(got.end_rc, MP_EIO);
        cr_assert_eq(got.end_off, fail);
        cr_assert_eq(got.n, pass == 0 ? 30u : 31u);
        mf_seq_free(&got);
        mp_reader_close(q);
    }
    mf_free(&b);
}

Test(reader, records_spanning_two_and_three_chunks, .timeout = 30)
{
    mf_buf b;
    mf_init(&b);
    size_t offs[5];
    offs[0] = mf_big_record(&b, 3000, 1);  /* < 1 chunk */
    offs[1] = mf_big_record(&b, 6000, 2);  /* spans 2 */
    offs[2] = mf_big_record(&b, 10000, 3); /* spans 3 */
    offs[3] = mf_big_record(&b, 1000000, 4);
    offs[4] = b.len;
    for (unsigned t = 1; t <= 2; t++) {
        mp_reader_options o = opts(t, 4096);
        mp_reader *r;
        const mp_record *rec;
        cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
        for (int i = 0; i < 4; i++) {
            /* The 1 MB record cannot state its length (99999): LENGTH error, indexed. */
            cr_assert_eq(mp_reader_next(r, &rec), i == 3 ? MP_ERECORD : MP_OK, "record %d: %s", i,
                         mp_reader_error(r)->message);
            cr_assert_not_null(rec);
            if (i == 3)
                cr_assert_eq(mp_reader_error(r)->kind, MP_EK_LENGTH);
            size_t len;
            const unsigned char *raw = mp_record_raw(rec, &len);
            cr_assert_eq(len, offs[i + 1] - offs[i]);
            cr_assert(memcmp(raw, b.p + offs[i], len) == 0);
            cr_assert_gt(mp_record_field_count(rec), 0);
        }
        cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
        mp_reader_close(r);
    }
    mf_free(&b);
}

Test(reader, junk_only_and_no_terminator, .timeout = 10)
{
    const char *junk = "no MARC here\r\nnone at all\x1a";
    mp_reader_options o = opts(2, 4096);
    mp_reader *r;
    const mp_record *rec;
    cr_assert_eq(mp_reader_open_mem(&r, junk, strlen(junk), &o), MP_OK);
    cr_assert_eq(mp_reader_next(r, &rec), MP_ERECORD);
    cr_assert_null(rec);
    cr_assert_eq(mp_reader_error(r)->kind, MP_EK_JUNK);
    cr_assert_eq(mp_reader_error(r)->offset, 0);
    cr_assert_eq(mp_reader_error(r)->length, strlen(junk));
    cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
    mp_reader_close(r);

    mf_buf b;
    mf_init(&b);
    mf_big_record(&b, 20000, 9);
    b.len--; /* no terminator at all */
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    cr_assert_eq(mp_reader_next(r, &rec), MP_ERECORD);
    cr_assert_eq(mp_reader_error(r)->kind, MP_EK_TRUNCATED);
    cr_assert_eq(mp_reader_error(r)->length, b.len);
    cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
    mp_reader_close(r);
    mf_free(&b);
}

static void damaged(mf_buf *b, size_t *offs)
{
    mf_init(b);
    mf_sample(b, 20, 8, offs);
    memcpy(b->p + offs[3] + 12, "00050", 5); /* base address: ERECORD with a record */
    memcpy(b->p + offs[7] + 10, "33", 2);    /* leader/10-11 */
    mf_insert(b, offs[12], "junk", 4);       /* a skipped span before record 12 */
}

Test(reader, policies, .timeout = 30)
{
    mf_buf b;
    size_t offs[21];
    damaged(&b, offs);
    const mp_record *rec;
    mp_reader *r;
    int rc;

    /* REPORT: 20 records (2 damaged) + 1 junk span. */
    mp_reader_options o = opts(2, 4096);
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    int ok = 0, bad = 0, withrec = 0;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
        if (rc == MP_OK) {
            ok++;
            continue;
        }
        bad++;
        const mp_error_info *e = mp_reader_error(r);
        if (rec) {
            withrec++;
            cr_assert_str_eq(e->control_number, e->kind == MP_EK_BASE_ADDRESS ? "cn3" : "cn7");
        } else {
            cr_assert_eq(e->kind, MP_EK_JUNK);
            cr_assert_eq(e->offset, offs[12]);
            cr_assert_eq(e->length, 4);
            cr_assert_eq(e->ordinal, 12);
        }
        cr_assert_neq(strstr(e->message, "offset"), NULL);
    }
    cr_assert_eq(rc, MP_EOF);
    cr_assert_eq(ok, 18);
    cr_assert_eq(bad, 3);
    cr_assert_eq(withrec, 2);
    mp_reader_close(r);

    /* STOP: the first error, then MP_ESTOPPED. */
    o.policy = MP_POLICY_STOP;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
    cr_assert_eq(mp_reader_next(r, &rec), MP_ERECORD);
    cr_assert_eq(mp_reader_error(r)->kind, MP_EK_BASE_ADDRESS);
    cr_assert_eq(mp_reader_next(r, &rec), MP_ESTOPPED);
    cr_assert_eq(mp_reader_next(r, &rec), MP_ESTOPPED);
    mp_reader_close(r);

    /* SKIP: errors never returned, but counted. */
    o.policy = MP_POLICY_SKIP;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    ok = 0;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK)
        ok++;
    cr_assert_eq(rc, MP_EOF);
    cr_assert_eq(ok, 18);
    uint64_t nr, ne;
    mp_reader_counts(r, &nr, &ne, NULL);
    cr_assert_eq(nr, 18);
    cr_assert_eq(ne, 3);
    mp_reader_close(r);

    /* Cap: 2 errors pass, the third ends the stream. */
    o.policy = MP_POLICY_REPORT;
    o.max_errors = 2;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    bad = 0;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD)
        bad += rc == MP_ERECORD;
    cr_assert_eq(rc, MP_ELIMIT);
    cr_assert_eq(bad, 2);
    cr_assert_eq(mp_reader_error(r)->offset, offs[12]);
    cr_assert_eq(mp_reader_error(r)->code, MP_ELIMIT);
    mp_reader_counts(r, &nr, &ne, NULL);
    cr_assert_eq(ne, 2, "the item past the cap is not counted (%llu)", (unsigned long long)ne);
    mp_reader_close(r);
    /* The same under SKIP: 2 skipped, then MP_ELIMIT. */
    o.policy = MP_POLICY_SKIP;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    while ((rc = mp_reader_next(r, &rec)) == MP_OK)
        ;
    cr_assert_eq(rc, MP_ELIMIT);
    mp_reader_counts(r, &nr, &ne, NULL);
    cr_assert_eq(ne, 2);
    mp_reader_close(r);
    mf_free(&b);
}

Test(reader, early_close_at_random_points, .timeout = 60)
{
    mf_buf b;
    mf_init(&b);
    mf_sample(&b, 500, 4, NULL);
    srand(42);
    for (int k = 0; k < 60; k++) {
        mp_reader_options o = opts(1 + k % 3, 4096 << (k % 4));
        o.chunks_in_flight = k % 2 ? 2 : 0;
        mp_reader *r;
        const mp_record *rec;
        cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
        int stop = rand() % 520;
        for (int i = 0; i < stop; i++)
            if (mp_reader_next(r, &rec) != MP_OK)
                break;
        mp_reader_close(r);
    }
    mf_free(&b);
}

static ssize_t never_read(void *user, void *buf, size_t cap, int *sys_errno)
{
    (void)user;
    (void)buf;
    (void)cap;
    (void)sys_errno;
    return 0;
}

Test(reader, timeout_and_quiet_pipe_close, .timeout = 10)
{
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    mp_reader_options o = opts(2, 4096);
    mp_reader *r;
    const mp_record *rec;
    cr_assert_eq(mp_reader_open_fd(&r, pfd[0], &o), MP_OK);
    cr_assert_eq(mp_reader_next_timeout(r, &rec, 30), MP_EAGAIN);
    cr_assert_eq(mp_reader_next_timeout(r, &rec, 0), MP_EAGAIN);
    mp_reader_close(r); /* the source is polled in slices: close returns */
    close(pfd[0]);
    close(pfd[1]);
    cr_assert_eq(mp_reader_open_cb(&r, never_read, NULL, &o), MP_OK);
    cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
    mp_reader_close(r);
}

/* A stream that trickles: each record written to a pipe comes out while
 * the writer is still open (the producer ships a chunk after a short
 * read instead of waiting for the chunk to fill). */
Test(reader, trickling_pipe_delivers_each_record_promptly, .timeout = 20)
{
    mf_buf b;
    size_t offs[4];
    mf_init(&b);
    mf_sample(&b, 3, 5, offs);
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    mp_reader_options o = opts(2, 256 * 1024);
    mp_reader *r;
    const mp_record *rec;
    cr_assert_eq(mp_reader_open_fd(&r, pfd[0], &o), MP_OK);
    for (unsigned i = 0; i < 3; i++) {
        size_t n = offs[i + 1] - offs[i];
        cr_assert_eq(write(pfd[1], b.p + offs[i], n), (ssize_t)n);
        int rc = mp_reader_next_timeout(r, &rec, 5000); /* far below a chunk: must not wait */
        cr_assert_eq(rc, MP_OK, "record %u: %s", i, mp_err_name(rc));
        cr_assert_eq(mp_record_offset(rec), offs[i]);
    }
    cr_assert_eq(mp_reader_next_timeout(r, &rec, 20), MP_EAGAIN); /* nothing more yet */
    close(pfd[1]);
    cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
    mp_reader_close(r);
    close(pfd[0]);
    mf_free(&b);
}

/* record_fn attaches the field count and the ordinal to every record. */
static int annotate_counts(void *user, const mp_record *rec)
{
    (void)user;
    uint64_t *a = mp_record_annotate(rec, 2 * sizeof(uint64_t));
    if (a) {
        a[0] = mp_record_field_count(rec);
        a[1] = mp_record_ordinal(rec);
    }
    return 0;
}

/* Annotations made in the workers arrive with their records, in order,
 * on both readers; they cannot be made outside record_fn; clones drop them. */
Test(reader, record_fn_annotations, .timeout = 30)
{
    mf_buf b;
    size_t offs[33];
    mf_init(&b);
    mf_sample(&b, 32, 9, offs);
    mp_reader_options o = opts(2, 4096);
    o.record_fn = annotate_counts;
    mp_reader *r;
    mp_reader *sr;
    const mp_record *rec;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    cr_assert_eq(mp_reader_open_mem(&sr, b.p, b.len, mf_seqopts(&o)), MP_OK);
    for (unsigned i = 0; i < 32; i++) {
        for (int k = 0; k < 2; k++) {
            int rc = k ? mp_reader_next(sr, &rec) : mp_reader_next(r, &rec);
            cr_assert_eq(rc, MP_OK);
            size_t n = 0;
            const uint64_t *a = mp_record_annotation(rec, &n);
            cr_assert(a != NULL && n == 2 * sizeof(uint64_t), "record %u", i);
            cr_assert_eq(a[0], mp_record_field_count(rec));
            cr_assert_eq(a[1], i);
            cr_assert_null(mp_record_annotate(rec, 8)); /* not inside record_fn */
            mp_record *c;
            cr_assert_eq(mp_record_clone(rec, &c), MP_OK);
            cr_assert_null(mp_record_annotation(c, &n));
            cr_assert_eq(n, 0);
            mp_record_free(c);
        }
    }
    cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
    cr_assert_eq(mp_reader_next(sr, &rec), MP_EOF);
    mp_reader_close(r);
    mp_reader_close(sr);
    mf_free(&b);
}

static int drop_odd(void *user, const mp_record *rec)
{
    (void)user;
    return (mp_record_ordinal(rec) % 2) ? 1 : (mp_record_ordinal(rec) == 10 ? -1 : 0);
}

Test(reader, shared_pool_and_record_fn, .timeout = 30)
{
    mf_buf b;
    size_t offs[41];
    mf_init(&b);
    mf_sample(&b, 40, 6, offs);
    mp_pool *pool;
    cr_assert_eq(mp_pool_create(&pool, 2), MP_OK);
    mp_reader_options o = opts(0, 4096);
    o.pool = pool;
    mp_reader *rs[8];
    for (int i = 0; i < 8; i++)
        cr_assert_eq(mp_reader_open_mem(&rs[i], b.p, b.len, &o), MP_OK);
    for (int i = 0; i < 8; i++) {
        expect_records(rs[i], offs, 40);
        const mp_record *rec;
        cr_assert_eq(mp_reader_next(rs[i], &rec), MP_EOF);
        mp_reader_close(rs[i]);
    }
    o.record_fn = drop_odd;
    mp_reader *r;
    const mp_record *rec;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    int rc, n = 0;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
        cr_assert_eq(mp_record_ordinal(rec) % 2, 0);
        if (rc == MP_ERECORD)
            cr_assert_eq(mp_reader_error(r)->kind, MP_EK_FILTER);
        n++;
    }
    cr_assert_eq(rc, MP_EOF);
    cr_assert_eq(n, 20);
    mp_reader_close(r);
    cr_assert_eq(mp_pool_destroy(pool), MP_OK);
    mf_free(&b);
}

Test(reader, bad_hathi_1mb_record_default_options, .timeout = 60)
{
    const char *dir = getenv("MARCPIPE_CORPUS");
    if (!dir || !*dir)
        dir = "../shared/data";
    char path[4096];
    snprintf(path, sizeof path, "%s/marc4j/bad_hathi_records.mrc", dir);
    struct stat st;
    if (stat(path, &st) != 0)
        cr_skip_test("SKIP: %s not found (set MARCPIPE_CORPUS)", path);
    mp_reader *r;
    const mp_record *rec;
    cr_assert_eq(mp_reader_open_path(&r, path, NULL), MP_OK);
    int rc, n = 0, big = 0;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
        cr_assert_not_null(rec, "%s", mp_reader_error(r)->message);
        size_t len;
        mp_record_raw(rec, &len);
        if (len > 1000000) {
            big++;
            cr_assert_eq(rc, MP_ERECORD);
            cr_assert_eq(mp_reader_error(r)->kind, MP_EK_LENGTH);
            cr_assert_gt(mp_record_field_count(rec), 10);
        }
        n++;
    }
    cr_assert_eq(rc, MP_EOF);
    cr_assert_eq(big, 1);
    cr_assert_eq(n, 5);
    mp_reader_close(r);
}

Test(reader, zero_options_are_the_defaults_in_both_modes, .timeout = 30)
{
    mf_buf b;
    size_t offs[13];
    mf_init(&b);
    mf_sample(&b, 12, 3, offs);
    mp_reader_options zero;
    memset(&zero, 0, sizeof zero); /* size 0: this header's layout, all defaults */
    mp_reader_options init = MP_READER_OPTIONS_INIT;
    const mp_reader_options *variants[] = {NULL, &zero, &init};
    for (int mode = MP_MODE_AUTO; mode <= MP_MODE_SEQUENTIAL; mode++) {
        for (size_t v = 0; v < 3; v++) {
            mp_reader_options o = variants[v] ? *variants[v] : init;
            o.mode = (mp_reader_mode)mode;
            mp_reader *r;
            cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, v == 0 && mode == 0 ? NULL : &o),
                         MP_OK);
            expect_records(r, offs, 12); /* in input order: ordered is the zero default */
            const mp_record *rec;
            cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
            mp_reader_close(r);
        }
    }
    mf_free(&b);
}

Test(reader, options_size_and_mode_are_checked, .timeout = 10)
{
    static const unsigned char one[] = "00026     2200025   4500\x1e\x1d";
    mp_reader *r = (mp_reader *)1;
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.size = 8; /* shorter than any release of the struct */
    cr_assert_eq(mp_reader_open_mem(&r, one, sizeof one - 1, &o), MP_EINVAL);
    cr_assert_null(r);
    o = (mp_reader_options)MP_READER_OPTIONS_INIT;
    o.mode = (mp_reader_mode)7;
    cr_assert_eq(mp_reader_open_mem(&r, one, sizeof one - 1, &o), MP_EINVAL);
    /* A caller compiled against a larger struct: fields we do not know are ignored. */
    struct {
        mp_reader_options o;
        uint64_t future;
    } big;
    memset(&big, 0, sizeof big);
    big.o.size = sizeof big;
    big.future = 42;
    big.o.mode = MP_MODE_SEQUENTIAL;
    cr_assert_eq(mp_reader_open_mem(&r, one, sizeof one - 1, &big.o), MP_OK);
    mp_reader_close(r);
}

/* ---- hostile records and per-record memory failure (issue #16, item 4) ----- */

Test(reader, hostile_directories_do_not_end_the_stream, .timeout = 120)
{
    /* 20 records of 7,497 overlapping entries (2 MB; 7.3 GB and an
     * out-of-memory end before the cap), a 1 MB one, then 50 good records:
     * every hostile record is one DIRECTORY error item, the 50 all arrive. */
    mf_buf b;
    mf_init(&b);
    for (int i = 0; i < 20; i++)
        mf_overlap_record(&b, 7497, 9999, NULL);
    mf_overlap_record(&b, 90000, 9999, NULL); /* 1.09 MB, leader 99999 */
    size_t good = b.len;
    mf_sample(&b, 50, 9, NULL);
    for (int mode = 0; mode < 2; mode++) {
        mp_reader_options o = opts(2, 0);
        mp_reader *r;
        cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, mode ? &o : mf_seqopts(&o)), MP_OK);
        const mp_record *rec;
        int rc;
        unsigned errors = 0, records = 0;
        while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
            if (rc == MP_OK) {
                cr_assert_geq(mp_record_offset(rec), good);
                records++;
            } else {
                const mp_error_info *e = mp_reader_error(r);
                cr_assert(e->kind == MP_EK_DIRECTORY || e->kind == MP_EK_LENGTH, "%s", e->message);
                cr_assert_not_null(rec, "still indexed (up to the cap)");
                errors++;
            }
        }
        cr_assert_eq(rc, MP_EOF, "%s: %s", mp_err_name(rc), mp_reader_error(r)->message);
        cr_assert_eq(errors, 21);
        cr_assert_eq(records, 50);
        mp_reader_close(r);
    }
    mf_free(&b);
}

Test(reader, allocation_failure_is_one_records_error_item, .timeout = 60)
{
    /* Sequential mode over memory, so the next allocation after the arming
     * is the hostile record's index block: that record becomes a MEMORY
     * error item, and the records after it are read (the stream used to
     * end with MP_ENOMEM there, losing them). */
    mf_buf b;
    mf_init(&b);
    size_t offs[6];
    mf_sample(&b, 5, 21, offs);
    size_t big = b.len;
    /* 10 fields of 3,000 subfields: a 90 KB record whose subfield index
     * (480 KB) needs a block larger than the arena's. */
    char *f = malloc(5 + 3 * 3000 + 1);
    cr_assert_not_null(f);
    memcpy(f, "24510", 5);
    for (int i = 0; i < 3000; i++)
        memcpy(f + 5 + 3 * i, "$ax", 3);
    f[5 + 3 * 3000] = 0;
    const char *fields[11] = {"001big"};
    for (int i = 1; i < 11; i++)
        fields[i] = f;
    mf_record(&b, NULL, fields, 11);
    free(f);
    mf_sample(&b, 5, 22, NULL);
    mp_reader *r;
    mp_reader_options o = opts(1, 0);
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, mf_seqopts(&o)), MP_OK);
    const mp_record *rec;
    for (int i = 0; i < 5; i++)
        cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
    mp__alloc_fail_at(1);
    int rc = mp_reader_next(r, &rec);
    mp__alloc_fail_at(0);
    const mp_error_info *e = mp_reader_error(r);
    cr_assert_eq(rc, MP_ERECORD, "%s", mp_err_name(rc));
    cr_assert_null(rec, "%d %s", e->kind, e->message);
    cr_assert_eq(e->kind, MP_EK_MEMORY, "%s", e->message);
    cr_assert_eq(e->offset, big);
    cr_assert_eq(e->code, MP_ERECORD);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(mp_reader_next(r, &rec), MP_OK, "record %d after the failed one", i);
    cr_assert_eq(mp_reader_next(r, &rec), MP_EOF);
    uint64_t nrec, nerr;
    mp_reader_counts(r, &nrec, &nerr, NULL);
    cr_assert_eq(nrec, 10);
    cr_assert_eq(nerr, 1);
    mp_reader_close(r);
    mf_free(&b);
}

/* ---- fork() (issue #16, item 5) -----------------------------------------------
 * fork() copies only the calling thread: the pool workers of every reader
 * opened before it are gone in the child, where they used to make next(),
 * close() and exit hang. Now inherited handles report MP_EFORKED and close
 * without waiting; the child's own readers work. */

static int child_checks(mp_reader *piped, mp_reader *seq, mp_reader *shared, mp_pool *pool,
                        const mf_buf *b)
{
    const mp_record *rec;
    if (mp_reader_next(piped, &rec) != MP_EFORKED || rec != NULL)
        return 10;
    const mp_error_info *e = mp_reader_error(piped);
    if (e->code != MP_EFORKED || !strstr(e->message, "fork"))
        return 11;
    if (mp_reader_next(piped, &rec) != MP_EFORKED)
        return 12; /* and it stays so */
    if (mp_reader_next(seq, &rec) != MP_EFORKED)
        return 13;
    if (mp_reader_next(shared, &rec) != MP_EFORKED)
        return 14;
    /* A pool from before the fork cannot take new readers... */
    mp_reader_options o = opts(2, 4096);
    o.pool = pool;
    mp_reader *r;
    if (mp_reader_open_mem(&r, b->p, b->len, &o) != MP_EFORKED)
        return 15;
    /* ...closing inherited readers and the pool returns at once... */
    mp_reader_close(piped);
    mp_reader_close(seq);
    mp_reader_close(shared);
    if (mp_pool_destroy(pool) != MP_OK)
        return 16;
    /* ...and the child's own readers work, both modes. */
    for (int mode = 0; mode < 2; mode++) {
        mp_reader_options c = opts(2, 4096);
        if (mp_reader_open_mem(&r, b->p, b->len, mode ? &c : mf_seqopts(&c)) != MP_OK)
            return 17;
        unsigned n = 0;
        int rc;
        while ((rc = mp_reader_next(r, &rec)) == MP_OK)
            n++;
        mp_reader_close(r);
        if (rc != MP_EOF || n != 50)
            return 18;
    }
    return 0;
}

Test(reader, fork_child_gets_eforked_and_exits_cleanly, .timeout = 60)
{
    mf_buf b;
    mf_init(&b);
    mf_sample(&b, 50, 31, NULL);
    mp_pool *pool;
    cr_assert_eq(mp_pool_create(&pool, 2), MP_OK);
    mp_reader_options o = opts(2, 1024);
    mp_reader *piped, *seq, *shared;
    cr_assert_eq(mp_reader_open_mem(&piped, b.p, b.len, &o), MP_OK);
    cr_assert_eq(mp_reader_open_mem(&seq, b.p, b.len, mf_seqopts(&o)), MP_OK);
    o.pool = pool;
    cr_assert_eq(mp_reader_open_mem(&shared, b.p, b.len, &o), MP_OK);
    const mp_record *rec;
    for (int i = 0; i < 3; i++) { /* started: workers are running */
        cr_assert_eq(mp_reader_next(piped, &rec), MP_OK);
        cr_assert_eq(mp_reader_next(seq, &rec), MP_OK);
        cr_assert_eq(mp_reader_next(shared, &rec), MP_OK);
    }
    /* Fork once the workers have filled what backpressure allows and sleep:
     * gcc 12's ASan runtime installs no fork handler for its allocator, so a
     * child deadlocks in malloc when a parent thread was inside it at the
     * fork (glibc's malloc does handle that; the release build forks
     * mid-read-ahead without a problem). */
    for (int quiet = 0; quiet < 5;) {
        mp_stats a, b2, c1, c2;
        mp_reader_stats(piped, &a);
        mp_reader_stats(shared, &c1);
        usleep(20000);
        mp_reader_stats(piped, &b2);
        mp_reader_stats(shared, &c2);
        int same = a.stage[MP_STAGE_PARSER].items == b2.stage[MP_STAGE_PARSER].items &&
                   c1.stage[MP_STAGE_PARSER].items == c2.stage[MP_STAGE_PARSER].items &&
                   a.stage[MP_STAGE_PRODUCER].items == b2.stage[MP_STAGE_PRODUCER].items &&
                   c1.stage[MP_STAGE_PRODUCER].items == c2.stage[MP_STAGE_PRODUCER].items;
        quiet = same ? quiet + 1 : 0;
    }
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        alarm(20); /* a hang in the child kills it */
        _exit(child_checks(piped, seq, shared, pool, &b));
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child died (signal %d: a hang hits its alarm)",
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    cr_assert_eq(WEXITSTATUS(status), 0, "child check %d failed", WEXITSTATUS(status));
    /* The parent's readers go on untouched. */
    mp_reader *all[3] = {piped, seq, shared};
    for (int k = 0; k < 3; k++) {
        unsigned n = 3;
        int rc;
        while ((rc = mp_reader_next(all[k], &rec)) == MP_OK)
            n++;
        cr_assert_eq(rc, MP_EOF);
        cr_assert_eq(n, 50);
        mp_reader_close(all[k]);
    }
    cr_assert_eq(mp_pool_destroy(pool), MP_OK);
    mf_free(&b);
}

/* ---- borrowed sources after close (issue #16, item 1) ------------------------
 * mp_reader_close returning means the reader no longer uses what it
 * borrowed: the descriptor may be closed and its number reused, the buffer
 * freed, the callback's state destroyed. A pipeline that still polled the
 * old descriptor read the bytes of the next pipe that got its number. */

Test(reader, closed_fd_number_reused_at_once_loses_nothing, .timeout = 60)
{
    mf_buf b;
    mf_init(&b);
    mf_sample(&b, 5, 41, NULL);
    for (int round = 0; round < 50; round++) {
        int pfd[2];
        cr_assert_eq(pipe(pfd), 0);
        mp_reader_options o = opts(2, 4096);
        mp_reader *r;
        const mp_record *rec;
        cr_assert_eq(mp_reader_open_fd(&r, pfd[0], &o), MP_OK);
        cr_assert_eq(write(pfd[1], b.p, b.len), (ssize_t)b.len);
        for (int i = 0; i < 5; i++)
            cr_assert_eq(mp_reader_next(r, &rec), MP_OK);
        /* The producer is now polling the quiet pipe. */
        mp_reader_close(r);
        close(pfd[0]);
        close(pfd[1]);
        int q[2];
        cr_assert_eq(pipe(q), 0); /* most likely the same numbers */
        char msg[4096];
        memset(msg, 'z', sizeof msg);
        cr_assert_eq(write(q[1], msg, sizeof msg), (ssize_t)sizeof msg);
        usleep(round % 5 * 1000); /* a stale poller would read it meanwhile */
        char got[sizeof msg];
        size_t have = 0;
        int fl = fcntl(q[0], F_GETFL);
        fcntl(q[0], F_SETFL, fl | O_NONBLOCK);
        ssize_t n;
        while (have < sizeof got && (n = read(q[0], got + have, sizeof got - have)) > 0)
            have += (size_t)n;
        cr_assert_eq(have, sizeof msg, "round %d: %zu of %zu bytes left for their owner", round,
                     have, sizeof msg);
        close(q[0]);
        close(q[1]);
    }
    mf_free(&b);
}

typedef struct watched_cb {
    const unsigned char *p;
    size_t len, pos;
    _Atomic int inside;   /* calls in progress */
    _Atomic int released; /* set by the test after close returned */
    _Atomic int late;     /* calls that started after that */
} watched_cb;

static ssize_t watched_read(void *user, void *buf, size_t cap, int *sys_errno)
{
    watched_cb *w = user;
    (void)sys_errno;
    atomic_fetch_add(&w->inside, 1);
    if (atomic_load(&w->released))
        atomic_fetch_add(&w->late, 1);
    usleep(2000); /* a slow source: a close is likely to arrive mid-call */
    size_t n = w->len - w->pos < 100 ? w->len - w->pos : 100;
    if (n > cap)
        n = cap;
    memcpy(buf, w->p + w->pos, n);
    w->pos += n;
    atomic_fetch_sub(&w->inside, 1);
    return (ssize_t)n;
}

Test(reader, close_returns_after_the_last_callback_and_buffer_use, .timeout = 60)
{
    mf_buf b;
    mf_init(&b);
    mf_sample(&b, 30, 43, NULL);
    for (int round = 0; round < 40; round++) {
        watched_cb w = {b.p, b.len, 0, 0, 0, 0};
        mp_reader_options o = opts(1 + round % 2, 1024);
        mp_reader *r;
        const mp_record *rec;
        cr_assert_eq(mp_reader_open_cb(&r, watched_read, &w, &o), MP_OK);
        for (int i = 0; i < round % 4; i++)
            mp_reader_next(r, &rec);
        mp_reader_close(r);
        cr_assert_eq(atomic_load(&w.inside), 0, "round %d: a callback still running", round);
        atomic_store(&w.released, 1);
        usleep(5000);
        cr_assert_eq(atomic_load(&w.late), 0, "round %d: a callback after close", round);
        /* A borrowed buffer may be freed as soon as close returns (ASan). */
        unsigned char *copy = malloc(b.len);
        cr_assert_not_null(copy);
        memcpy(copy, b.p, b.len);
        cr_assert_eq(mp_reader_open_mem(&r, copy, b.len, &o), MP_OK);
        for (int i = 0; i < round % 4; i++)
            mp_reader_next(r, &rec);
        mp_reader_close(r);
        memset(copy, 0, b.len);
        free(copy);
    }
    mf_free(&b);
}

Test(reader, path_to_a_fifo_closes_promptly, .timeout = 30)
{
    /* A path that names a FIFO reads like a pipe: polled, so a close while
     * the writer is quiet returns within a poll slice (it used to block in
     * read() until the writer wrote or went away). */
    char dir[] = "/tmp/mpfifoXXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/in", dir);
    cr_assert_eq(mkfifo(path, 0600), 0);
    int w = open(path, O_RDWR); /* a writer that stays: the reader's open does not block */
    cr_assert_geq(w, 0);
    mf_buf b;
    size_t offs[4];
    mf_init(&b);
    mf_sample(&b, 3, 8, offs);
    cr_assert_eq(write(w, b.p, b.len), (ssize_t)b.len);
    mp_reader_options o = opts(2, 65536);
    mp_reader *r;
    const mp_record *rec;
    cr_assert_eq(mp_reader_open_path(&r, path, &o), MP_OK);
    expect_records(r, offs, 3);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    mp_reader_close(r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert_lt(secs, 1.0, "close took %.3f s", secs);
    (void)rec;
    close(w);
    unlink(path);
    rmdir(dir);
    mf_free(&b);
}

/* A stream: clean record, record with 2 warnings, clean, record with 1
 * warning, junk, clean. */
static void warned_stream(mf_buf *b)
{
    static const char *const clean[] = {"001cn", "24510$aTitle"};
    static const char *const two[] = {"001w2", "020$a1", "500  $aA$"};
    static const char *const one[] = {"001w1", "650 0$aA$$bB"};
    mf_init(b);
    mf_record(b, NULL, clean, 2);
    mf_record(b, NULL, two, 3);
    mf_record(b, NULL, clean, 2);
    mf_record(b, NULL, one, 2);
    mf_appends(b, "junk\x1d");
    mf_record(b, NULL, clean, 2);
}

Test(reader, warnings_are_counted_apart_in_both_modes, .timeout = 30)
{
    mf_buf b;
    warned_stream(&b);
    for (int mode = MP_MODE_PIPELINE; mode <= MP_MODE_SEQUENTIAL; mode++) {
        for (int strict = 0; strict <= 1; strict++) {
            mp_reader_options o = opts(2, 64);
            o.mode = (mp_reader_mode)mode;
            o.strict = strict;
            mp_reader *r;
            cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
            const mp_record *rec;
            int rc, good = 0, items = 0;
            uint32_t warns = 0;
            while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
                if (rc == MP_OK) {
                    good++;
                    warns += mp_record_warning_count(rec);
                } else {
                    items++;
                    const mp_error_info *e = mp_reader_error(r);
                    if (rec) /* strict: the first warning is the error */
                        cr_assert(e->kind == MP_EK_INDICATOR || e->kind == MP_EK_SUBFIELD, "%s",
                                  e->message);
                }
            }
            cr_assert_eq(rc, MP_EOF);
            mp_counts c = MP_COUNTS_INIT;
            mp_reader_get_counts(r, &c);
            cr_assert_eq(c.size, sizeof c);
            cr_assert_eq(c.records, (uint64_t)good);
            cr_assert_eq(c.errors, (uint64_t)items);
            cr_assert_eq(c.bytes, b.len);
            cr_assert_eq(c.warnings, warns);
            if (!strict) {
                cr_assert_eq(good, 5);
                cr_assert_eq(items, 1); /* the junk */
                cr_assert_eq(warns, 3);
                cr_assert_eq(c.records_with_warnings, 2);
                cr_assert_eq(c.warnings_by_kind[MP_EK_INDICATOR], 1);
                cr_assert_eq(c.warnings_by_kind[MP_EK_SUBFIELD], 2);
            } else {
                cr_assert_eq(good, 3);
                cr_assert_eq(items, 3);
                cr_assert_eq(c.warnings, 0);
                cr_assert_eq(c.records_with_warnings, 0);
            }
            /* A caller compiled against a shorter struct: only its fields. */
            struct {
                size_t size;
                uint64_t records, errors;
                uint64_t guard;
            } old = {offsetof(mp_counts, bytes), 0, 0, 77};
            mp_reader_get_counts(r, (mp_counts *)(void *)&old);
            cr_assert_eq(old.records, (uint64_t)good);
            cr_assert_eq(old.guard, 77);
            mp_reader_close(r);
        }
    }
    /* SKIP policy: warned records are good records, still delivered. */
    mp_reader_options o = opts(2, 4096);
    o.policy = MP_POLICY_SKIP;
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    const mp_record *rec;
    int n = 0, rc;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK)
        n++;
    cr_assert_eq(rc, MP_EOF);
    cr_assert_eq(n, 5);
    mp_reader_close(r);
    mf_free(&b);
}

Test(reader, messages_count_records_from_one, .timeout = 10)
{
    mf_buf b;
    warned_stream(&b);
    mp_reader_options o = opts(1, 0);
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    const mp_record *rec;
    int rc;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK)
        ;
    cr_assert_eq(rc, MP_ERECORD);
    const mp_error_info *e = mp_reader_error(r);
    cr_assert_eq(e->ordinal, 4); /* the API counts from 0 */
    cr_assert_not_null(strstr(e->message, "(unit 5)"), "%s", e->message);
    mp_reader_close(r);
    mf_free(&b);
    /* A damaged first record is "record 1". */
    static const char *const bad[] = {"001x", "010\xe9 $a1"};
    mf_init(&b);
    mf_record(&b, NULL, bad, 2);
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    cr_assert_eq(mp_reader_next(r, &rec), MP_ERECORD);
    cr_assert_eq(mp_reader_error(r)->ordinal, 0);
    cr_assert(strncmp(mp_reader_error(r)->message, "record 1 at offset 0", 20) == 0, "%s",
              mp_reader_error(r)->message);
    mp_reader_close(r);
    mf_free(&b);
}

Test(reader, invalid_options_name_field_and_value, .timeout = 10)
{
    char msg[200];
    cr_assert_eq(mp_reader_options_check(NULL, msg, sizeof msg), MP_OK);
    cr_assert_str_eq(msg, "");
    mp_reader_options zero;
    memset(&zero, 0, sizeof zero);
    cr_assert_eq(mp_reader_options_check(&zero, msg, sizeof msg), MP_OK);
    static const struct {
        const char *field;
        const char *value;
    } want[] = {{"chunk_size", "= 12:"}, {"max_record_size", "= 10:"}, {"mode", "= 9:"},
                {"policy", "= 5:"},      {"encoding", "= 6:"},         {"utf8_handling", "= 3:"},
                {"format", "= 6:"},      {"threads", "= 5000:"},       {"range_end", "= 100:"},
                {"marc8_double", "= 2:"}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        switch (i) {
        case 0:
            o.chunk_size = 12;
            break;
        case 1:
            o.max_record_size = 10;
            break;
        case 2:
            o.mode = (mp_reader_mode)9;
            break;
        case 3:
            o.policy = (mp_policy)5;
            break;
        case 4:
            o.encoding = (mp_encoding)6;
            break;
        case 5:
            o.utf8_handling = (mp_utf8_handling)3;
            break;
        case 6: /* an output-only format */
            o.format = MP_FORMAT_LINE;
            break;
        case 7:
            o.threads = 5000;
            break;
        case 8: /* an end before the start */
            o.range_start = 200;
            o.range_end = 100;
            break;
        default:
            o.marc8_double = (mp_marc8_double)2;
            break;
        }
        cr_assert_eq(mp_reader_options_check(&o, msg, sizeof msg), MP_EINVAL);
        char expect[64];
        snprintf(expect, sizeof expect, "mp_reader_options.%s %s", want[i].field, want[i].value);
        cr_assert(strncmp(msg, expect, strlen(expect)) == 0, "got '%s', want '%s...'", msg, expect);
        cr_assert_eq(mp_reader_options_check(&o, NULL, 0), MP_EINVAL); /* msg optional */
        /* The open functions refuse the same options. */
        mp_reader *r = (mp_reader *)1;
        cr_assert_eq(mp_reader_open_mem(&r, "", 0, &o), MP_EINVAL);
        cr_assert_null(r);
    }
    /* A tiny buffer is cut, still NUL-terminated. */
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.chunk_size = 12;
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    cr_assert_eq(mp_reader_options_check(&o, tiny, sizeof tiny), MP_EINVAL);
    cr_assert_eq(tiny[7], '\0');
    o = zero;
    o.size = 8;
    cr_assert_eq(mp_reader_options_check(&o, msg, sizeof msg), MP_EINVAL);
    cr_assert_not_null(strstr(msg, "mp_reader_options.size = 8"), "%s", msg);
}

Test(reader, a_directory_is_not_a_file, .timeout = 10)
{
    mp_reader *r = (mp_reader *)1;
    for (int mode = MP_MODE_PIPELINE; mode <= MP_MODE_SEQUENTIAL; mode++) {
        mp_reader_options o = opts(1, 0);
        o.mode = (mp_reader_mode)mode;
        cr_assert_eq(mp_reader_open_path(&r, "/", &o), MP_EISDIR);
        cr_assert_null(r);
        int fd = open("/", O_RDONLY | O_DIRECTORY);
        cr_assert_geq(fd, 0);
        cr_assert_eq(mp_reader_open_fd(&r, fd, &o), MP_EISDIR);
        cr_assert_null(r);
        cr_assert_eq(fcntl(fd, F_GETFD), 0); /* borrowed: still open */
        close(fd);
    }
    cr_assert_str_eq(mp_strerror(MP_EISDIR), "is a directory");
    cr_assert_str_eq(mp_err_name(MP_EISDIR), "MP_EISDIR");
}

Test(reader, error_data_is_the_unit_in_both_modes, .timeout = 20)
{
    mf_buf b;
    warned_stream(&b); /* "junk\x1d" is unit 4 */
    static const char *const bad[] = {"001x", "010\xe9 $a1"};
    size_t bad_off = b.len;
    mf_record(&b, NULL, bad, 2);
    mf_appends(&b, "0012X");
    for (int mode = MP_MODE_PIPELINE; mode <= MP_MODE_SEQUENTIAL; mode++) {
        mp_reader_options o = opts(2, 64);
        o.mode = (mp_reader_mode)mode;
        mp_reader *r;
        cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
        size_t len = 99;
        cr_assert_null(mp_reader_error_data(r, &len));
        cr_assert_eq(len, 0);
        const mp_record *rec;
        int rc, seen = 0;
        while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
            if (rc != MP_ERECORD)
                continue;
            const mp_error_info *e = mp_reader_error(r);
            const unsigned char *d = mp_reader_error_data(r, &len);
            cr_assert_not_null(d);
            cr_assert_eq(len, e->length);
            cr_assert(memcmp(d, b.p + e->offset, len) == 0, "unit %llu",
                      (unsigned long long)e->ordinal);
            if (seen == 0)
                cr_assert(len == 5 && memcmp(d, "junk\x1d", 5) == 0);
            if (seen == 1) {
                cr_assert_eq(e->offset, bad_off);
                size_t rl;
                cr_assert_eq(mp_record_raw(rec, &rl), d); /* the record's own bytes */
                cr_assert_eq(rl, len);
            }
            if (seen == 2)
                cr_assert(len == 5 && memcmp(d, "0012X", 5) == 0 && e->kind == MP_EK_TRUNCATED);
            seen++;
        }
        cr_assert_eq(rc, MP_EOF);
        cr_assert_eq(seen, 3);
        mp_reader_close(r);
    }
    cr_assert_null(mp_reader_error_data(NULL, NULL));
    mf_free(&b);
}

/* ---- a reader whose pool is busy elsewhere: its consumer does all the work ------- */

static int keep_all(void *user, const mp_record *rec)
{
    (void)user, (void)rec;
    return 0;
}

/* A read callback that parks the pool's only worker until released. */
typedef struct parked_src {
    _Atomic int inside, release;
} parked_src;

static ssize_t parked_read(void *user, void *buf, size_t cap, int *sys_errno)
{
    parked_src *ps = user;
    (void)buf, (void)cap, (void)sys_errno;
    atomic_store(&ps->inside, 1);
    while (!atomic_load(&ps->release)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

Test(reader, consumer_alone_reads_as_the_sequential_reader, .timeout = 60)
{
    /* Damaged units between good records, warnings, many 4 KiB chunks. */
    mf_buf b;
    size_t offs[301];
    warned_stream(&b);
    static const char *const bad[] = {"001x", "010\xe9 $a1"};
    mf_record(&b, NULL, bad, 2);
    mf_buf s;
    mf_init(&s);
    mf_sample(&s, 300, 9, offs);
    mf_append(&b, s.p, s.len);
    mf_appends(&b, "0012X");
    mf_seq want, got;
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, mf_seqopts(NULL)), MP_OK);
    mf_collect(&want, r);
    mp_reader_close(r);
    cr_assert_eq(want.end_rc, MP_EOF);

    /* The pool's only worker sits in another reader's read callback, so
     * this reader's consumer thread reads, scans and parses every chunk
     * itself (ARCHITECTURE.md, "The consumer thread works instead of
     * sleeping"). */
    mp_pool *pool;
    cr_assert_eq(mp_pool_create(&pool, 1), MP_OK);
    parked_src ps;
    atomic_init(&ps.inside, 0);
    atomic_init(&ps.release, 0);
    mp_reader_options o = opts(0, 4096);
    o.pool = pool;
    mp_reader *blocker;
    cr_assert_eq(mp_reader_open_cb(&blocker, parked_read, &ps, &o), MP_OK);
    for (int i = 0; i < 10000 && !atomic_load(&ps.inside); i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    cr_assert(atomic_load(&ps.inside), "the worker never entered the parked read");
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    mf_collect(&got, r);
    mp_stats st;
    mp_reader_stats(r, &st);
    mp_reader_close(r);
    long d = mf_seq_diff(&want, &got);
    cr_assert(d < 0, "differs from the sequential reader at item %ld", d);
    uint64_t data_chunks = st.stage[MP_STAGE_PARSER].items - 1;
    cr_assert_gt(data_chunks, 10);
    cr_assert_eq(st.chunks_consumer, data_chunks, "the consumer took every chunk (%lu of %lu)",
                 (unsigned long)st.chunks_consumer, (unsigned long)data_chunks);

    /* With a record_fn, which then runs on the consumer thread: the same
     * records. */
    o.record_fn = keep_all;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    mf_seq_free(&got);
    mf_collect(&got, r);
    mp_reader_close(r);
    d = mf_seq_diff(&want, &got);
    cr_assert(d < 0, "with a record_fn: differs at item %ld", d);

    atomic_store(&ps.release, 1);
    const mp_record *rec;
    cr_assert_eq(mp_reader_next(blocker, &rec), MP_EOF);
    mp_reader_close(blocker);
    cr_assert_eq(mp_pool_destroy(pool), MP_OK);
    mf_seq_free(&want);
    mf_seq_free(&got);
    mf_free(&s);
    mf_free(&b);
}

/* ---- MP_MODE_AUTO: which path runs, and mp_reader_stats says so ------------------ */

static unsigned usable_cpus(void)
{
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? (unsigned)CPU_COUNT(&set) : 1;
}

/* Opens with default options (AUTO), reads everything, returns the stats. */
static mp_stats auto_stats(mp_reader *r, uint64_t want_records)
{
    const mp_record *rec;
    uint64_t n = 0;
    int rc;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK)
        n++;
    cr_assert_eq(rc, MP_EOF, "%s", mp_err_name(rc));
    cr_assert_eq(n, want_records);
    mp_stats st;
    mp_reader_stats(r, &st);
    mp_reader_close(r);
    return st;
}

Test(reader, auto_reads_small_inputs_sequentially_and_says_so, .timeout = 30)
{
    mf_buf b;
    size_t offs[11];
    mf_init(&b);
    mf_sample(&b, 10, 5, offs);
    cr_assert_lt(b.len, MP_AUTO_MIN_PIPELINE_BYTES);
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, NULL), MP_OK);
    mp_stats st = auto_stats(r, 10);
    cr_assert_eq(st.mode, MP_MODE_SEQUENTIAL);
    cr_assert_eq(st.mode_reason, MP_MODE_REASON_SMALL_INPUT);
    cr_assert_eq(st.workers, 0, "no thread was started");
    cr_assert_eq(st.stage[MP_STAGE_CONSUMER].items, 10);
    cr_assert_eq(st.stage[MP_STAGE_CONSUMER].bytes, b.len);
    /* The same through a path, and with a shared pool given: still no thread. */
    char path[] = "/tmp/mp_auto_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, b.p, b.len), (ssize_t)b.len);
    close(fd);
    mp_pool *pool;
    cr_assert_eq(mp_pool_create(&pool, 2), MP_OK);
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.pool = pool;
    cr_assert_eq(mp_reader_open_path(&r, path, &o), MP_OK);
    cr_assert_eq(mp_pool_attached(pool), 0);
    st = auto_stats(r, 10);
    cr_assert_eq(st.mode, MP_MODE_SEQUENTIAL);
    cr_assert_eq(st.mode_reason, MP_MODE_REASON_SMALL_INPUT);
    cr_assert_eq(mp_pool_destroy(pool), MP_OK);
    /* A descriptor positioned inside a file: the bytes left decide. */
    fd = open(path, O_RDONLY);
    cr_assert_eq(lseek(fd, (off_t)offs[4], SEEK_SET), (off_t)offs[4]);
    cr_assert_eq(mp_reader_open_fd(&r, fd, NULL), MP_OK);
    st = auto_stats(r, 6);
    cr_assert_eq(st.mode_reason, MP_MODE_REASON_SMALL_INPUT);
    close(fd);
    unlink(path);
    mf_free(&b);
}

Test(reader, auto_runs_the_pipeline_for_large_inputs_and_streams, .timeout = 60)
{
    mf_buf b;
    mf_init(&b);
    size_t one[2];
    mf_sample(&b, 1, 3, one);
    size_t rec = b.len, copies = (size_t)(MP_AUTO_MIN_PIPELINE_BYTES / rec) + 1;
    unsigned char *first = malloc(rec);
    memcpy(first, b.p, rec);
    for (size_t i = 1; i < copies; i++)
        mf_append(&b, first, rec);
    free(first);
    cr_assert_geq(b.len, MP_AUTO_MIN_PIPELINE_BYTES);
    int two = usable_cpus() >= 2;
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, NULL), MP_OK);
    mp_stats st = auto_stats(r, copies);
    cr_assert_eq(st.mode, two ? MP_MODE_PIPELINE : MP_MODE_SEQUENTIAL);
    cr_assert_eq(st.mode_reason, two ? MP_MODE_REASON_LARGE_INPUT : MP_MODE_REASON_ONE_CPU);
    if (two) {
        cr_assert_geq(st.workers, 1);
        cr_assert_gt(st.stage[MP_STAGE_PARSER].items, 1);
    }
    /* A pipe: size unknown, the pipeline (it copes with any length). */
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        size_t off = 0;
        while (off < rec * 5) {
            ssize_t w = write(fds[1], b.p + off, rec * 5 - off);
            if (w <= 0)
                _exit(1);
            off += (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    cr_assert_eq(mp_reader_open_fd(&r, fds[0], NULL), MP_OK);
    st = auto_stats(r, 5);
    cr_assert_eq(st.mode_reason, two ? MP_MODE_REASON_STREAM : MP_MODE_REASON_ONE_CPU);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    mf_free(&b);
}

Test(reader, auto_reads_sequentially_on_one_cpu, .timeout = 30)
{
    cpu_set_t was, one;
    cr_assert_eq(sched_getaffinity(0, sizeof was, &was), 0);
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &was)) {
            CPU_SET(c, &one);
            break;
        }
    cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0);
    mf_buf b;
    mf_init(&b);
    size_t offs[2];
    mf_sample(&b, 1, 3, offs);
    size_t rec = b.len, copies = (size_t)(MP_AUTO_MIN_PIPELINE_BYTES / rec) + 1;
    unsigned char *first = malloc(rec);
    memcpy(first, b.p, rec);
    for (size_t i = 1; i < copies; i++)
        mf_append(&b, first, rec);
    free(first);
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, NULL), MP_OK);
    mp_stats st = auto_stats(r, copies);
    cr_assert_eq(st.mode, MP_MODE_SEQUENTIAL);
    cr_assert_eq(st.mode_reason, MP_MODE_REASON_ONE_CPU);
    /* Asked for, the pipeline still runs (and is told why). */
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.mode = MP_MODE_PIPELINE;
    cr_assert_eq(mp_reader_open_mem(&r, b.p, b.len, &o), MP_OK);
    st = auto_stats(r, copies);
    cr_assert_eq(st.mode, MP_MODE_PIPELINE);
    cr_assert_eq(st.mode_reason, MP_MODE_REASON_REQUESTED);
    cr_assert_eq(sched_setaffinity(0, sizeof was, &was), 0);
    mf_free(&b);
}
