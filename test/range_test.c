/*
 * range_test.c - byte ranges (mp_reader_options.range_start/range_end)
 * and split plans (marcpipe/split.h).
 *
 * The property: for ANY partition of an input into ranges, reading the
 * ranges one after the other yields exactly what one whole read yields -
 * the same records and error items, offsets, lengths, kinds, control
 * numbers, messages, and (with first_ordinal = the units of the earlier
 * ranges) the same ordinals. Checked on every MARC file of the corpus
 * ($MARCPIPE_CORPUS) and on hostile mutants, with random partitions into
 * 1..64 ranges whose cuts fall on random bytes, inside leaders, inside
 * directories, on and after record terminators, and on unit starts; each
 * range read by a randomly chosen reader mode, source kind and chunk
 * size. Also: every anchor is a unit start of the whole read (the rule
 * that makes the property hold, stages/FRAMING.md), sources that cannot
 * seek, failures past a range's end, and split plans.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "alloc.h"
#include "corpus.h"
#include "marc.h"
#include "marcfix.h"

/* ---- helpers ------------------------------------------------------------------ */

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
    return n ? rnd(s) % n : 0;
}

/* One delivered item, everything a caller can observe of it. */
typedef struct item {
    int rc;
    int has_rec;
    uint64_t offset, length, ordinal, hash;
    uint32_t nfields;
    mp_error_info e; /* zeroed for good records */
    unsigned range;  /* which range of a partition delivered it (diagnostics only) */
} item;

typedef struct run {
    item *v;
    size_t n, cap;
    int end_rc;
    uint64_t records, errors, bytes, units;
} run;

static void run_free(run *r)
{
    free(r->v);
    memset(r, 0, sizeof *r);
}

static void push(run *r, int rc, const mp_record *rec, const mp_error_info *e)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->v = realloc(r->v, r->cap * sizeof *r->v);
        cr_assert_not_null(r->v);
    }
    item *it = &r->v[r->n++];
    memset(it, 0, sizeof *it);
    it->rc = rc;
    if (rc == MP_ERECORD) {
        memcpy(&it->e, e, sizeof *e);
        it->offset = e->offset;
        it->length = e->length;
        it->ordinal = e->ordinal;
    }
    if (rec) {
        size_t len;
        mp_record_raw(rec, &len);
        it->has_rec = 1;
        it->offset = mp_record_offset(rec);
        it->length = len;
        it->ordinal = mp_record_ordinal(rec);
        it->nfields = mp_record_field_count(rec);
        it->hash = mf_record_hash(rec);
    }
}

/* Appends what r yields to out. */
static void collect(run *out, mp_reader *r)
{
    const mp_record *rec;
    int rc;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD)
        push(out, rc, rec, mp_reader_error(r));
    out->end_rc = rc;
    uint64_t rs, es, bs;
    mp_reader_counts(r, &rs, &es, &bs);
    out->records += rs;
    out->errors += es;
    out->bytes += bs;
    out->units += mp_reader_units(r);
}

static int same_item(const item *a, const item *b)
{
    return a->rc == b->rc && a->has_rec == b->has_rec && a->offset == b->offset &&
           a->length == b->length && a->ordinal == b->ordinal && a->hash == b->hash &&
           a->nfields == b->nfields && a->e.code == b->e.code && a->e.kind == b->e.kind &&
           a->e.ordinal == b->e.ordinal && a->e.offset == b->e.offset &&
           a->e.length == b->e.length && strcmp(a->e.control_number, b->e.control_number) == 0 &&
           memcmp(a->e.tag, b->e.tag, sizeof a->e.tag) == 0 && a->e.subfield == b->e.subfield &&
           strcmp(a->e.message, b->e.message) == 0;
}

/* A callback source with random short reads (cannot seek). */
typedef struct cbsrc {
    const unsigned char *p;
    size_t len, pos;
    size_t fail_at; /* > 0: EIO once pos reaches it */
    uint64_t rng;
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
    if (s->fail_at && s->pos + n > s->fail_at)
        n = s->fail_at - s->pos;
    size_t k = 1 + (size_t)below(&s->rng, 3000);
    if (n > k)
        n = k;
    memcpy(buf, s->p + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

enum { SRC_MEM, SRC_PATH, SRC_FD, SRC_CB, SRC_KINDS };

/* The input under test: bytes, and the same bytes in a file. */
typedef struct input {
    const char *name;
    const unsigned char *p;
    size_t len;
    char path[64];
} input;

static void input_init(input *in, const char *name, const unsigned char *p, size_t len)
{
    in->name = name;
    in->p = p;
    in->len = len;
    snprintf(in->path, sizeof in->path, "/tmp/mp_range_XXXXXX");
    int fd = mkstemp(in->path);
    cr_assert_geq(fd, 0);
    size_t done = 0;
    while (done < len) {
        ssize_t k = write(fd, p + done, len - done);
        cr_assert_gt(k, 0);
        done += (size_t)k;
    }
    close(fd);
}

static void input_done(input *in)
{
    unlink(in->path);
}

typedef struct how {
    int mode;      /* MP_MODE_PIPELINE or MP_MODE_SEQUENTIAL */
    int src;       /* SRC_* */
    size_t chunk;  /* pipeline chunk size (0: default) */
    size_t max;    /* max_record_size (0: default) - the same for every range */
    int unordered; /* pipeline: deliver in completion order */
} how;

static mp_pool *g_pool;

static void setup_pool(void)
{
    cr_assert_eq(mp_pool_create(&g_pool, 2), MP_OK);
}

static void teardown_pool(void)
{
    cr_assert_eq(mp_pool_destroy(g_pool), MP_OK);
}

/* Reads [start, end) of in; appends to out. Returns the open code. */
static int read_range(run *out, const input *in, uint64_t start, uint64_t end, uint64_t first,
                      const how *h, uint64_t seed)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    mp_reader *r = NULL;
    cbsrc cb = {in->p, in->len, 0, 0, seed};
    int fd = -1, rc;
    o.mode = (mp_reader_mode)h->mode;
    o.chunk_size = h->chunk;
    o.chunks_in_flight = 4;
    o.pool = h->mode == MP_MODE_PIPELINE ? g_pool : NULL;
    o.max_record_size = h->max;
    o.unordered = h->unordered;
    o.range_start = start;
    o.range_end = end;
    o.first_ordinal = first;
    switch (h->src) {
    case SRC_MEM:
        rc = mp_reader_open_mem(&r, in->p, in->len, &o);
        break;
    case SRC_PATH:
        rc = mp_reader_open_path(&r, in->path, &o);
        break;
    case SRC_FD:
        fd = open(in->path, O_RDONLY);
        cr_assert_geq(fd, 0);
        rc = mp_reader_open_fd(&r, fd, &o);
        break;
    default:
        rc = mp_reader_open_cb(&r, cb_read, &cb, &o);
        break;
    }
    if (rc == MP_OK) {
        collect(out, r);
        mp_reader_close(r);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* The whole read (sequential, memory): the reference. */
static void whole(run *out, const input *in, size_t max)
{
    how h = {MP_MODE_SEQUENTIAL, SRC_MEM, 0, max, 0};
    memset(out, 0, sizeof *out);
    cr_assert_eq(read_range(out, in, 0, 0, 0, &h, 1), MP_OK);
    cr_assert_eq(out->end_rc, MP_EOF, "%s: whole read ends with %s", in->name,
                 mp_err_name(out->end_rc));
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * A cut inside [1, len): a random byte, a byte inside a leader or a
 * directory of a unit of the whole read, a record terminator or the byte
 * after it, or a unit start.
 */
static uint64_t pick_cut(const input *in, const run *ref, uint64_t *s)
{
    size_t len = in->len;
    if (len < 2)
        return 1;
    uint64_t c = 1 + below(s, len - 1);
    const item *u = ref->n ? &ref->v[below(s, ref->n)] : NULL;
    switch (below(s, 6)) {
    case 0: /* random byte */
        break;
    case 1: /* inside a leader */
        if (u)
            c = u->offset + below(s, 24);
        break;
    case 2: /* inside a directory (or what follows the leader) */
        if (u)
            c = u->offset + 24 + below(s, u->length > 48 ? u->length / 3 : 24);
        break;
    case 3: /* on a terminator, or just after it */
    case 4: {
        size_t at = (size_t)c;
        const unsigned char *t = memchr(in->p + at, 0x1D, len - at);
        if (!t)
            t = memchr(in->p, 0x1D, len);
        if (t)
            c = (uint64_t)(t - in->p) + below(s, 2);
        break;
    }
    default: /* a unit start */
        if (u)
            c = u->offset;
        break;
    }
    if (c < 1)
        c = 1;
    if (c >= len)
        c = len - 1;
    return c;
}

static int cmp_item_offset(const void *a, const void *b)
{
    return cmp_u64(&((const item *)a)->offset, &((const item *)b)->offset);
}

static unsigned long g_ranges, g_partitions;

/*
 * One random partition of `in` into 1..maxparts ranges, each read with a
 * random how (same max for all); the concatenation must equal ref.
 */
static void check_partition(const input *in, const run *ref, size_t max, unsigned maxparts,
                            uint64_t *s)
{
    unsigned parts = 1 + (unsigned)below(s, maxparts);
    uint64_t *cuts = calloc(parts + 1, sizeof *cuts);
    cr_assert_not_null(cuts);
    size_t nc = 0;
    for (unsigned i = 1; i < parts && in->len > 1; i++)
        cuts[nc++] = pick_cut(in, ref, s);
    qsort(cuts, nc, sizeof *cuts, cmp_u64);
    run got;
    memset(&got, 0, sizeof got);
    uint64_t start = 0;
    char plan[8192];
    size_t pl = 0;
    for (size_t i = 0; i <= nc; i++) {
        uint64_t end = i < nc ? cuts[i] : (below(s, 3) == 0 ? 0 : in->len + below(s, 3));
        how h;
        h.mode = below(s, 2) ? MP_MODE_PIPELINE : MP_MODE_SEQUENTIAL;
        h.src = (int)below(s, SRC_KINDS);
        static const size_t chunks[] = {0, 64, 100, 1000, 4096, 65536};
        h.chunk = chunks[below(s, 6)];
        h.max = max;
        h.unordered = below(s, 4) == 0;
        if (pl < sizeof plan - 64)
            pl += (size_t)snprintf(plan + pl, sizeof plan - pl, " %zu:[%llu,%llu)m%ds%dc%zuu%d", i,
                                   (unsigned long long)start, (unsigned long long)end, h.mode,
                                   h.src, h.chunk, h.unordered);
        size_t before = got.n;
        uint64_t units_before = got.units;
        cr_assert_eq(read_range(&got, in, start, end, units_before, &h, rnd(s)), MP_OK);
        for (size_t k = before; k < got.n; k++)
            got.v[k].range = (unsigned)i;
        if (h.unordered) /* completion order: put the range's items back in stream order */
            qsort(got.v + before, got.n - before, sizeof *got.v, cmp_item_offset);
        cr_assert_eq(got.end_rc, MP_EOF, "%s: range [%llu,%llu) ends with %s", in->name,
                     (unsigned long long)start, (unsigned long long)end, mp_err_name(got.end_rc));
        /* Exactly the units that begin in the range. */
        for (size_t k = before; k < got.n; k++)
            cr_assert(got.v[k].offset >= start && (end == 0 || got.v[k].offset < end),
                      "%s: unit at %llu outside [%llu,%llu)", in->name,
                      (unsigned long long)got.v[k].offset, (unsigned long long)start,
                      (unsigned long long)end);
        g_ranges++;
        start = end;
        if (end == 0)
            break;
    }
    g_partitions++;
    size_t n = got.n < ref->n ? got.n : ref->n;
    for (size_t k = 0; k < n; k++)
        cr_assert(same_item(&got.v[k], &ref->v[k]),
                  "%s: item %zu (from range %u) differs (offset %llu/%llu, ordinal %llu/%llu, "
                  "rc %d/%d, kind %d/%d)\n  plan:%s",
                  in->name, k, got.v[k].range, (unsigned long long)got.v[k].offset,
                  (unsigned long long)ref->v[k].offset, (unsigned long long)got.v[k].ordinal,
                  (unsigned long long)ref->v[k].ordinal, got.v[k].rc, ref->v[k].rc,
                  (int)got.v[k].e.kind, (int)ref->v[k].e.kind, plan);
    cr_assert_eq(got.n, ref->n, "%s: %zu items from the ranges, %zu from the whole read\n  plan:%s",
                 in->name, got.n, ref->n, plan);
    cr_assert_eq(got.records, ref->records);
    cr_assert_eq(got.errors, ref->errors);
    cr_assert_eq(got.bytes, ref->bytes);
    cr_assert_eq(got.units, ref->units);
    run_free(&got);
    free(cuts);
}

/* Every anchor of the input starts a unit of the whole read. */
static void check_anchors(const input *in, const run *ref)
{
    size_t k = 0;
    for (size_t r = 0; r < in->len; r++) {
        if (in->p[r] != 0x1D || !mp__marc_anchor(in->p + r, in->len - r))
            continue;
        uint64_t q = r + 1;
        while (k < ref->n && ref->v[k].offset < q)
            k++;
        cr_assert(k < ref->n && ref->v[k].offset == q,
                  "%s: anchor at %llu is not a unit start of the whole read", in->name,
                  (unsigned long long)q);
    }
}

/* Partitions and anchors of one input; `rounds` partitions of up to 64. */
static void check_input(const input *in, size_t max, unsigned rounds, uint64_t seed)
{
    run ref;
    whole(&ref, in, max);
    /* The items tile the input: the property has no gap to hide in. */
    cr_assert_eq(ref.bytes, in->len, "%s: items cover %llu of %zu bytes", in->name,
                 (unsigned long long)ref.bytes, in->len);
    check_anchors(in, &ref);
    uint64_t s = seed;
    for (unsigned i = 0; i < rounds; i++)
        check_partition(in, &ref, max, i == 0 ? 1 : 64, &s);
    run_free(&ref);
}

/* ---- the corpus ------------------------------------------------------------------ */

/* The corpus directory, or NULL when absent. */
static const char *corpus(void)
{
    const char *dir = mf_corpus_dir();
    return mf_is_dir(dir) ? dir : NULL;
}

typedef void (*file_fn)(const char *path, void *user);

static void walk(const char *dir, file_fn fn, void *user)
{
    mf_corpus c;
    mf_corpus_list(&c, dir);
    for (size_t i = 0; i < c.n; i++)
        fn(c.v[i].path, user);
    mf_corpus_free(&c);
}

static unsigned g_files;

static void corpus_file(const char *path, void *user)
{
    (void)user;
    size_t len;
    unsigned char *p = mf_read_file(path, &len);
    cr_assert_not_null(p);
    input in;
    input_init(&in, path, p, len);
    /* Big files: fewer rounds (each reads the file once more). */
    unsigned rounds = len > (4u << 20) ? 3 : len > (256u << 10) ? 8 : 24;
    check_input(&in, 0, rounds, 0x5eed0000u + g_files);
    input_done(&in);
    free(p);
    g_files++;
}

Test(range, corpus_partitions_compose, .init = setup_pool, .fini = teardown_pool, .timeout = 900)
{
    const char *dir = corpus();
    if (!dir)
        cr_skip_test("SKIP: corpus not found (set MARCPIPE_CORPUS)");
    walk(dir, corpus_file, NULL);
    cr_assert_gt(g_files, 10);
    cr_log_info("%u files, %lu partitions, %lu ranges: every concatenation == the whole read",
                g_files, g_partitions, g_ranges);
}

/* ---- hostile mutants ------------------------------------------------------------- */

/* A well-formed base: a record-aligned slice of the realworld corpus, or
 * generated records without the corpus. */
static void base_input(mf_buf *b)
{
    mf_init(b);
    const char *dir = corpus();
    if (dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/realworld/watson_mma_pubs_2025_04.mrc", dir);
        size_t len;
        unsigned char *p = mf_read_file(path, &len);
        if (p) {
            size_t cut = 0;
            while (cut < len && cut < 160000)
                cut += (size_t)atoi((char[6]){(char)p[cut], (char)p[cut + 1], (char)p[cut + 2],
                                              (char)p[cut + 3], (char)p[cut + 4], 0});
            mf_append(b, p, cut < len ? cut : len);
            free(p);
            return;
        }
    }
    mf_sample(b, 200, 11, NULL);
}

/* Start offsets of the records of a well-formed buffer. */
static size_t record_starts(const mf_buf *b, size_t *offs, size_t max)
{
    size_t n = 0, at = 0;
    while (at + 24 < b->len && n < max) {
        offs[n++] = at;
        size_t l = 0;
        for (int i = 0; i < 5; i++)
            l = l * 10 + (size_t)(b->p[at + i] - '0');
        if (l < 25)
            break;
        at += l;
    }
    return n;
}

static const char fake_leader[] = "00100nam a2200037 a 4500";

/* Applies 1..4 random damages to b (a copy of a well-formed base). */
static void mutate(mf_buf *b, uint64_t *s)
{
    unsigned n = 1 + (unsigned)below(s, 4);
    for (unsigned m = 0; m < n; m++) {
        size_t offs[4096];
        size_t nr = record_starts(b, offs, 4096);
        if (nr == 0 || b->len < 100)
            return;
        size_t o = offs[below(s, nr)];
        size_t in_rec = o + 30 + (size_t)below(s, 200);
        if (in_rec >= b->len)
            in_rec = b->len - 1;
        switch (below(s, 14)) {
        case 0: /* stray terminator + a leader inside a record: an inner anchor */
            mf_insert(b, in_rec, "\x1d", 1);
            mf_insert(b, in_rec + 1, fake_leader, 24);
            break;
        case 1: /* stray terminator alone inside a record */
            b->p[in_rec] = 0x1D;
            break;
        case 2:
            mf_set_length(b, o, "99999");
            break;
        case 3:
            mf_set_length(b, o, "00000");
            break;
        case 4: { /* length a little off */
            char five[6];
            snprintf(five, sizeof five, "%05u", (unsigned)(30 + below(s, 5000)));
            mf_set_length(b, o, five);
            break;
        }
        case 5: /* junk between records */
            static const char junk[] = "\r\n\x00\x00garbage 12345 \x1d";
            mf_insert(b, o, junk, sizeof junk - 1);
            break;
        case 6: { /* a long junk run without a terminator (> 64 KiB) */
            size_t jn = 70000 + (size_t)below(s, 1000);
            unsigned char *j = malloc(jn);
            cr_assert_not_null(j);
            for (size_t i = 0; i < jn; i++)
                j[i] = (unsigned char)(' ' + below(s, 90));
            mf_insert(b, o, j, jn);
            free(j);
            break;
        }
        case 7: /* digits that look like leaders */
            static const char digits[] = "123456789012345678901234567890123456789012345\x1d";
            mf_insert(b, o, digits, sizeof digits - 1);
            break;
        case 8: /* a record cut short (truncated, then the next one) */
            mf_delete(b, in_rec,
                      (size_t)below(s, 100) + 1 < b->len - in_rec ? (size_t)below(s, 100) + 1
                                                                  : b->len - in_rec);
            break;
        case 9: /* a destroyed terminator */
            if (nr > 1 && o > 0)
                b->p[o - 1] = 'x';
            break;
        case 10: /* several terminators in a row */
            mf_insert(b, o, "\x1d\x1d\x1d", 3);
            break;
        case 11: /* random byte flips */
            for (int i = 0; i < 8; i++)
                b->p[below(s, b->len)] = (unsigned char)rnd(s);
            break;
        case 12: /* the input ends inside a record */
            b->len =
                o + 10 + (size_t)below(s, 300) < b->len ? o + 10 + (size_t)below(s, 300) : b->len;
            break;
        default: /* a leader that claims a terminator far beyond, with leaders inside */
            mf_insert(b, in_rec, "\x1d", 1);
            mf_insert(b, in_rec + 1, fake_leader, 24);
            mf_set_length(b, o, "99999");
            break;
        }
    }
}

Test(range, hostile_mutants_compose, .init = setup_pool, .fini = teardown_pool, .timeout = 900)
{
    mf_buf base;
    base_input(&base);
    uint64_t s = 0xbadc0de;
    unsigned mutants = getenv("MP_SOAK") ? 2000 : 120;
    for (unsigned i = 0; i < mutants; i++) {
        mf_buf b;
        mf_init(&b);
        mf_append(&b, base.p, base.len);
        mutate(&b, &s);
        char name[64];
        snprintf(name, sizeof name, "mutant %u", i);
        input in;
        input_init(&in, name, b.p, b.len);
        check_input(&in, 0, 4, rnd(&s));
        input_done(&in);
        mf_free(&b);
    }
    mf_free(&base);
    cr_log_info("%u mutants, %lu partitions, %lu ranges", mutants, g_partitions, g_ranges);
}

/* Records larger than the maximum: TOO_BIG skips end anywhere, yet the
 * ranges compose (all read with the same max_record_size). */
Test(range, small_max_record_size_composes, .init = setup_pool, .fini = teardown_pool,
     .timeout = 300)
{
    mf_buf b;
    mf_init(&b);
    mf_sample(&b, 20, 3, NULL);
    mf_big_record(&b, 9000, 1);
    mf_sample(&b, 5, 4, NULL);
    mf_big_record(&b, 30000, 2);
    mf_sample(&b, 20, 5, NULL);
    input in;
    input_init(&in, "big records, max 4096", b.p, b.len);
    check_input(&in, 4096, 40, 77);
    input_done(&in);
    mf_free(&b);
}

/* Inputs that are nothing but junk, or with no terminator at all. */
Test(range, junk_only_inputs_compose, .init = setup_pool, .fini = teardown_pool, .timeout = 300)
{
    mf_buf b;
    mf_init(&b);
    uint64_t s = 5;
    for (int i = 0; i < 300000; i++)
        mf_append(&b, &(char){(char)(' ' + below(&s, 90))}, 1);
    input in;
    input_init(&in, "300 KB of text", b.p, b.len);
    check_input(&in, 0, 10, 9);
    input_done(&in);
    mf_free(&b);

    mf_init(&b);
    for (int i = 0; i < 5000; i++)
        mf_appends(&b, "12345678901234567890123456789\x1d");
    input_init(&in, "digits and terminators", b.p, b.len);
    check_input(&in, 0, 10, 10);
    input_done(&in);
    mf_free(&b);

    static const unsigned char one[] = {0x1D};
    input_init(&in, "one terminator", one, 1);
    check_input(&in, 0, 3, 11);
    input_done(&in);
}

/* ---- the framing rule behind it ------------------------------------------------------ */

/* A record whose stated length is right but holds a terminator followed
 * by a leader is cut at its first terminator: the anchor starts a unit. */
Test(range, inner_anchor_cuts_the_record, .timeout = 30)
{
    mf_buf b;
    size_t offs[4];
    mf_init(&b);
    mf_sample(&b, 3, 21, offs);
    /* Overwrite bytes inside record 1 with RT + leader, keeping its length. */
    size_t at = offs[1] + 40;
    cr_assert_lt(at + 25, offs[2]);
    b.p[at] = 0x1D;
    memcpy(b.p + at + 1, fake_leader, 24);
    input in;
    input_init(&in, "inner anchor", b.p, b.len);
    run ref;
    whole(&ref, &in, 0);
    /* record 0 clean; record 1 cut at the stray terminator (LENGTH: its
     * stated length passes it); the fake leader starts a unit there. */
    cr_assert_geq(ref.n, 4);
    cr_assert_eq(ref.v[0].rc, MP_OK);
    cr_assert_eq(ref.v[1].offset, offs[1]);
    cr_assert_eq(ref.v[1].length, at + 1 - offs[1]);
    cr_assert_eq(ref.v[1].rc, MP_ERECORD);
    cr_assert_eq(ref.v[1].e.kind, MP_EK_LENGTH);
    cr_assert_eq(ref.v[2].offset, at + 1);
    cr_assert_eq(ref.v[ref.n - 1].offset, offs[2]);
    cr_assert_eq(ref.v[ref.n - 1].rc, MP_OK);
    run_free(&ref);
    input_done(&in);
    mf_free(&b);

    /* A stray terminator NOT followed by a leader does not split a record
     * whose length is right (YAZ's rule is kept). */
    mf_init(&b);
    mf_sample(&b, 3, 21, offs);
    size_t base = 0;
    for (int i = 12; i < 17; i++)
        base = base * 10 + (size_t)(b.p[offs[1] + i] - '0');
    at = offs[1] + base; /* in the data area, before a letter */
    while (at + 2 < offs[2] && !(b.p[at + 1] >= 'a' && b.p[at + 1] <= 'z'))
        at++;
    b.p[at] = 0x1D;
    cr_assert(b.p[at + 1] < '0' || b.p[at + 1] > '9');
    input_init(&in, "stray terminator", b.p, b.len);
    whole(&ref, &in, 0);
    cr_assert_eq(ref.n, 3);
    cr_assert_eq(ref.v[1].offset, offs[1]);
    cr_assert_eq(ref.v[1].length, offs[2] - offs[1]);
    run_free(&ref);
    input_done(&in);
    mf_free(&b);
}

/* ---- sources, ends, options ------------------------------------------------------------ */

static void read_simple(run *out, const unsigned char *p, size_t len, uint64_t a, uint64_t e,
                        int mode)
{
    input in = {"mem", p, len, ""};
    how h = {mode, SRC_MEM, 1000, 0, 0};
    memset(out, 0, sizeof *out);
    cr_assert_eq(read_range(out, &in, a, e, 0, &h, 1), MP_OK);
}

Test(range, edges_and_option_checks, .init = setup_pool, .fini = teardown_pool, .timeout = 60)
{
    mf_buf b;
    size_t offs[11];
    mf_init(&b);
    mf_sample(&b, 10, 5, offs);
    for (int mode = MP_MODE_PIPELINE; mode <= MP_MODE_SEQUENTIAL; mode++) {
        run r;
        /* A range on record boundaries: exactly those records. */
        read_simple(&r, b.p, b.len, offs[2], offs[5], mode);
        cr_assert_eq(r.end_rc, MP_EOF);
        cr_assert_eq(r.n, 3);
        cr_assert_eq(r.v[0].offset, offs[2]);
        cr_assert_eq(r.v[0].ordinal, 0, "ordinals are range-local");
        cr_assert_eq(r.v[2].ordinal, 2);
        cr_assert_eq(r.bytes, offs[5] - offs[2]);
        run_free(&r);
        /* Starting one byte into a record: that record belongs to the range before. */
        read_simple(&r, b.p, b.len, offs[2] + 1, offs[5] + 1, mode);
        cr_assert_eq(r.n, 3);
        cr_assert_eq(r.v[0].offset, offs[3]);
        cr_assert_eq(r.v[2].offset, offs[5], "the last record is read past the range end");
        run_free(&r);
        /* Empty range, range at and past the end, end past the input. */
        read_simple(&r, b.p, b.len, offs[3], offs[3], mode);
        cr_assert_eq(r.n, 0);
        cr_assert_eq(r.end_rc, MP_EOF);
        run_free(&r);
        read_simple(&r, b.p, b.len, b.len, 0, mode);
        cr_assert_eq(r.n, 0);
        cr_assert_eq(r.end_rc, MP_EOF);
        run_free(&r);
        read_simple(&r, b.p, b.len, b.len + 1000, b.len + 2000, mode);
        cr_assert_eq(r.n, 0);
        run_free(&r);
        read_simple(&r, b.p, b.len, offs[9], b.len * 10, mode);
        cr_assert_eq(r.n, 1);
        run_free(&r);
        /* end < start is refused. */
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.mode = (mp_reader_mode)mode;
        o.range_start = 100;
        o.range_end = 99;
        mp_reader *rd = NULL;
        cr_assert_eq(mp_reader_open_mem(&rd, b.p, b.len, &o), MP_EINVAL);
        cr_assert_null(rd);
    }
    mf_free(&b);
}

/* first_ordinal numbers a range's units; mp_reader_units counts them. */
Test(range, first_ordinal_and_units, .init = setup_pool, .fini = teardown_pool, .timeout = 60)
{
    mf_buf b;
    size_t offs[11];
    mf_init(&b);
    mf_sample(&b, 10, 5, offs);
    mf_insert(&b, offs[4], "junk\x1d", 5); /* an error item inside the range */
    input in = {"mem", b.p, b.len, ""};
    how h = {MP_MODE_PIPELINE, SRC_MEM, 0, 0, 0};
    run r;
    memset(&r, 0, sizeof r);
    cr_assert_eq(read_range(&r, &in, offs[3], offs[6], 1000, &h, 1), MP_OK);
    cr_assert_eq(r.n, 4);
    for (size_t i = 0; i < r.n; i++)
        cr_assert_eq(r.v[i].ordinal, 1000 + i);
    cr_assert_eq(r.units, 4);
    cr_assert_eq(r.v[1].rc, MP_ERECORD);
    /* ordinal 1001; messages count from 1, as people do */
    cr_assert(strstr(r.v[1].e.message, "unit 1002") != NULL, "%s", r.v[1].e.message);
    run_free(&r);
    mf_free(&b);
}

/* A pipe (a descriptor that cannot seek) is read from its start and what
 * precedes the range is dropped; the result is the same. */
Test(range, pipe_descriptor_reads_from_the_start, .init = setup_pool, .fini = teardown_pool,
     .timeout = 60)
{
    mf_buf b;
    size_t offs[41];
    mf_init(&b);
    mf_sample(&b, 40, 8, offs);
    input in = {"mem", b.p, b.len, ""};
    for (int mode = MP_MODE_PIPELINE; mode <= MP_MODE_SEQUENTIAL; mode++) {
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            size_t done = 0;
            while (done < b.len) {
                ssize_t k = write(fds[1], b.p + done, b.len - done > 777 ? 777 : b.len - done);
                if (k <= 0)
                    _exit(1);
                done += (size_t)k;
            }
            _exit(0);
        }
        close(fds[1]);
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.mode = (mp_reader_mode)mode;
        o.pool = mode == MP_MODE_PIPELINE ? g_pool : NULL;
        o.range_start = offs[10] + 3;
        o.range_end = offs[20] - 3;
        mp_reader *r;
        cr_assert_eq(mp_reader_open_fd(&r, fds[0], &o), MP_OK);
        run got;
        memset(&got, 0, sizeof got);
        collect(&got, r);
        mp_reader_close(r);
        close(fds[0]);
        waitpid(pid, NULL, 0);
        run want;
        how h = {MP_MODE_SEQUENTIAL, SRC_MEM, 0, 0, 0};
        memset(&want, 0, sizeof want);
        cr_assert_eq(read_range(&want, &in, offs[10] + 3, offs[20] - 3, 0, &h, 1), MP_OK);
        cr_assert_eq(got.end_rc, MP_EOF);
        cr_assert_eq(got.n, 9);
        cr_assert_eq(got.n, want.n);
        for (size_t i = 0; i < got.n; i++)
            cr_assert(same_item(&got.v[i], &want.v[i]), "item %zu", i);
        run_free(&got);
        run_free(&want);
    }
    mf_free(&b);
}

/* A descriptor's offsets count from its position at open. */
Test(range, descriptor_offsets_count_from_its_position, .init = setup_pool, .fini = teardown_pool,
     .timeout = 60)
{
    mf_buf b;
    size_t offs[21];
    mf_init(&b);
    mf_appends(&b, "PREFIX-NOT-MARC");
    size_t pre = b.len;
    mf_sample(&b, 20, 9, offs);
    input in;
    input_init(&in, "prefixed", b.p, b.len);
    for (int mode = MP_MODE_PIPELINE; mode <= MP_MODE_SEQUENTIAL; mode++) {
        int fd = open(in.path, O_RDONLY);
        cr_assert_geq(fd, 0);
        cr_assert_eq(lseek(fd, (off_t)pre, SEEK_SET), (off_t)pre);
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.mode = (mp_reader_mode)mode;
        o.pool = mode == MP_MODE_PIPELINE ? g_pool : NULL;
        o.range_start = offs[5] - pre + 1; /* offsets relative to the position */
        o.range_end = offs[8] - pre;
        mp_reader *r;
        cr_assert_eq(mp_reader_open_fd(&r, fd, &o), MP_OK);
        run got;
        memset(&got, 0, sizeof got);
        collect(&got, r);
        mp_reader_close(r);
        close(fd);
        cr_assert_eq(got.n, 2);
        cr_assert_eq(got.v[0].offset, offs[6] - pre);
        run_free(&got);

        mp_split_options so = MP_SPLIT_OPTIONS_INIT;
        so.parts = 3;
        mp_split_plan *plan;
        fd = open(in.path, O_RDONLY);
        cr_assert_eq(lseek(fd, (off_t)pre, SEEK_SET), (off_t)pre);
        cr_assert_eq(mp_split_plan_fd(&plan, fd, &so), MP_OK);
        cr_assert_eq(plan->input_size, b.len - pre);
        cr_assert_eq(lseek(fd, 0, SEEK_CUR), (off_t)pre, "planning does not move the position");
        for (size_t i = 1; i < plan->count; i++) {
            int found = 0;
            for (int k = 0; k < 20; k++)
                found |= offs[k] - pre == plan->ranges[i].start;
            cr_assert(found, "range %zu starts at %llu, not on a record", i,
                      (unsigned long long)plan->ranges[i].start);
        }
        mp_split_plan_free(plan);
        close(fd);
    }
    input_done(&in);
    mf_free(&b);
}

/* A failure of the input after a range's last unit is not the range's
 * business: MP_EOF. A failure before it is reported. */
Test(range, failures_past_the_end_are_not_reported, .init = setup_pool, .fini = teardown_pool,
     .timeout = 60)
{
    mf_buf b;
    size_t offs[31];
    mf_init(&b);
    mf_sample(&b, 30, 12, offs);
    for (int mode = MP_MODE_PIPELINE; mode <= MP_MODE_SEQUENTIAL; mode++) {
        for (int before = 0; before <= 1; before++) {
            /* The range is [offs[3], offs[10]); the input fails after the
             * unit at offs[9] is complete + 1 byte, or inside it. */
            cbsrc cb = {b.p, b.len, 0, before ? offs[9] + 5 : offs[10] + 1, 3};
            mp_reader_options o = MP_READER_OPTIONS_INIT;
            o.mode = (mp_reader_mode)mode;
            o.pool = mode == MP_MODE_PIPELINE ? g_pool : NULL;
            o.chunk_size = 256;
            o.range_start = offs[3];
            o.range_end = offs[10];
            mp_reader *r;
            cr_assert_eq(mp_reader_open_cb(&r, cb_read, &cb, &o), MP_OK);
            run got;
            memset(&got, 0, sizeof got);
            collect(&got, r);
            mp_reader_close(r);
            if (before) {
                cr_assert_eq(got.end_rc, MP_EIO, "mode %d: %s", mode, mp_err_name(got.end_rc));
                cr_assert_eq(got.n, 7, "6 records, then the cut one reported");
                cr_assert_eq(got.v[6].e.kind, MP_EK_TRUNCATED);
            } else {
                cr_assert_eq(got.end_rc, MP_EOF, "mode %d: %s", mode, mp_err_name(got.end_rc));
                cr_assert_eq(got.n, 7);
            }
            run_free(&got);
        }
    }
    mf_free(&b);
}

/* After the range's end the producer stops reading: a small range of a
 * big input reads a few chunks, not the input. */
Test(range, reading_stops_after_the_range, .init = setup_pool, .fini = teardown_pool, .timeout = 60)
{
    mf_buf b;
    mf_init(&b);
    mf_sample(&b, 20000, 13, NULL);
    cr_assert_gt(b.len, 8u << 20);
    input in;
    input_init(&in, "big", b.p, b.len);
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.pool = g_pool;
    o.chunk_size = 64 * 1024;
    o.chunks_in_flight = 4;
    o.range_start = 1000;
    o.range_end = 50000;
    mp_reader *r;
    cr_assert_eq(mp_reader_open_path(&r, in.path, &o), MP_OK);
    run got;
    memset(&got, 0, sizeof got);
    collect(&got, r);
    mp_stats st;
    mp_reader_stats(r, &st);
    mp_reader_close(r);
    cr_assert_eq(got.end_rc, MP_EOF);
    cr_assert_gt(got.n, 10);
    cr_assert_lt(st.stage[MP_STAGE_PRODUCER].bytes, 16u * 64 * 1024,
                 "read %llu bytes for a 49 KB range",
                 (unsigned long long)st.stage[MP_STAGE_PRODUCER].bytes);
    run_free(&got);
    input_done(&in);
    mf_free(&b);
}

/* ---- split plans ------------------------------------------------------------------------ */

/* A plan partitions [0, size) and its starts are anchors (unit starts). */
static void check_plan(const input *in, const mp_split_plan *plan, const run *ref)
{
    cr_assert_geq(plan->count, 1);
    cr_assert_eq(plan->input_size, in->len);
    cr_assert_eq(plan->ranges[0].start, 0);
    cr_assert_eq(plan->ranges[plan->count - 1].end, in->len);
    for (size_t i = 0; i < plan->count; i++) {
        const mp_range *g = &plan->ranges[i];
        cr_assert(g->start < g->end || (in->len == 0 && plan->count == 1), "%s: empty range %zu",
                  in->name, i);
        if (i + 1 < plan->count)
            cr_assert_eq(g->end, plan->ranges[i + 1].start);
        if (i > 0 && mp__marc_anchor(in->p + g->start - 1, in->len - g->start + 1)) {
            /* an anchor: a unit of the whole read starts there */
            size_t lo = 0, hi = ref->n;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (ref->v[mid].offset < g->start)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            cr_assert(lo < ref->n && ref->v[lo].offset == g->start, "%s: range %zu at %llu",
                      in->name, i, (unsigned long long)g->start);
        }
    }
}

static void plan_and_read(const input *in, const run *ref, const mp_split_options *so, uint64_t *s)
{
    mp_split_plan *plan;
    cr_assert_eq(mp_split_plan_path(&plan, in->path, so), MP_OK);
    check_plan(in, plan, ref);
    mp_split_plan *plan2;
    cr_assert_eq(mp_split_plan_mem(&plan2, in->p, in->len, so), MP_OK);
    cr_assert_eq(plan2->count, plan->count);
    cr_assert(memcmp(plan2->ranges, plan->ranges, plan->count * sizeof *plan->ranges) == 0);
    mp_split_plan_free(plan2);
    run got;
    memset(&got, 0, sizeof got);
    for (size_t i = 0; i < plan->count; i++) {
        how h = {below(s, 2) ? MP_MODE_PIPELINE : MP_MODE_SEQUENTIAL, SRC_PATH, 0, 0, 0};
        cr_assert_eq(
            read_range(&got, in, plan->ranges[i].start, plan->ranges[i].end, got.units, &h, rnd(s)),
            MP_OK);
        cr_assert_eq(got.end_rc, MP_EOF);
    }
    cr_assert_eq(got.n, ref->n, "%s: plan of %zu ranges", in->name, plan->count);
    for (size_t k = 0; k < got.n; k++)
        cr_assert(same_item(&got.v[k], &ref->v[k]), "%s: item %zu", in->name, k);
    run_free(&got);
    mp_split_plan_free(plan);
}

static void plan_file(const char *path, void *user)
{
    uint64_t *s = user;
    size_t len;
    unsigned char *p = mf_read_file(path, &len);
    cr_assert_not_null(p);
    input in;
    input_init(&in, path, p, len);
    run ref;
    whole(&ref, &in, 0);
    static const unsigned parts[] = {1, 2, 3, 7, 64};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        mp_split_options so = MP_SPLIT_OPTIONS_INIT;
        so.parts = parts[i];
        plan_and_read(&in, &ref, &so, s);
    }
    mp_split_options so = MP_SPLIT_OPTIONS_INIT;
    so.target_bytes = 1 + len / 5;
    plan_and_read(&in, &ref, &so, s);
    run_free(&ref);
    input_done(&in);
    free(p);
}

Test(split, plans_partition_start_on_anchors_and_compose, .init = setup_pool, .fini = teardown_pool,
     .timeout = 600)
{
    const char *dir = corpus();
    uint64_t s = 99;
    if (dir)
        walk(dir, plan_file, &s);
    /* Mutants too (plans whose cuts find no anchor fall back to the cut). */
    mf_buf base;
    base_input(&base);
    for (int i = 0; i < 30; i++) {
        mf_buf b;
        mf_init(&b);
        mf_append(&b, base.p, base.len);
        mutate(&b, &s);
        input in;
        input_init(&in, "mutant", b.p, b.len);
        run ref;
        whole(&ref, &in, 0);
        mp_split_options so = MP_SPLIT_OPTIONS_INIT;
        so.parts = 1 + (unsigned)below(&s, 40);
        so.search_limit = below(&s, 2) ? 0 : 1 + below(&s, 3000);
        plan_and_read(&in, &ref, &so, &s);
        run_free(&ref);
        input_done(&in);
        mf_free(&b);
    }
    mf_free(&base);
}

Test(split, options_and_errors, .timeout = 60)
{
    mf_buf b;
    size_t offs[51];
    mf_init(&b);
    mf_sample(&b, 50, 14, offs);
    mp_split_plan *plan = NULL;
    mp_split_options so = MP_SPLIT_OPTIONS_INIT;
    /* Defaults: 64 MiB per range -> one range for a small input. */
    cr_assert_eq(mp_split_plan_mem(&plan, b.p, b.len, NULL), MP_OK);
    cr_assert_eq(plan->count, 1);
    cr_assert_eq(plan->ranges[0].end, b.len);
    mp_split_plan_free(plan);
    /* A cut at every byte: one range per record. */
    so.parts = (unsigned)b.len;
    cr_assert_eq(mp_split_plan_mem(&plan, b.p, b.len, &so), MP_OK);
    cr_assert_eq(plan->count, 50, "%zu ranges", plan->count);
    for (size_t i = 0; i < plan->count; i++)
        cr_assert_eq(plan->ranges[i].start, offs[i]);
    mp_split_plan_free(plan);
    /* target_bytes */
    so.parts = 0;
    so.target_bytes = b.len / 4;
    cr_assert_eq(mp_split_plan_mem(&plan, b.p, b.len, &so), MP_OK);
    cr_assert_geq(plan->count, 4);
    cr_assert_leq(plan->count, 5);
    mp_split_plan_free(plan);
    /* Both, or neither a regular file nor memory, or no out: refused. */
    so.parts = 2;
    cr_assert_eq(mp_split_plan_mem(&plan, b.p, b.len, &so), MP_EINVAL);
    cr_assert_null(plan);
    so.target_bytes = 0;
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(mp_split_plan_fd(&plan, fds[0], &so), MP_EINVAL);
    close(fds[0]);
    close(fds[1]);
    cr_assert_eq(mp_split_plan_path(&plan, "/nonexistent/x.mrc", &so), MP_ENOENT);
    cr_assert_eq(mp_split_plan_path(NULL, "x", &so), MP_EINVAL);
    so.size = 4; /* smaller than any release's struct */
    cr_assert_eq(mp_split_plan_mem(&plan, b.p, b.len, &so), MP_EINVAL);
    /* An empty input: one empty range. */
    so.size = sizeof so;
    cr_assert_eq(mp_split_plan_mem(&plan, "", 0, &so), MP_OK);
    cr_assert_eq(plan->count, 1);
    cr_assert_eq(plan->ranges[0].start, 0);
    cr_assert_eq(plan->ranges[0].end, 0);
    mp_split_plan_free(plan);
    mp_split_plan_free(NULL);
    mf_free(&b);
}

/* ---- allocation failures ------------------------------------------------------------ */

/* The k-th allocation fails during a range read (resync buffer, pipeline,
 * parser) and during planning: MP_ENOMEM at open, or an exact prefix of the
 * range's items then MP_ENOMEM, or the whole range - where a record whose
 * index could not be allocated is its own MEMORY error item in its place
 * (issue #16); nothing leaks (LSan). */
Test(range, allocation_failures_surface, .init = setup_pool, .fini = teardown_pool, .timeout = 300)
{
    mf_buf b;
    size_t offs[13];
    mf_init(&b);
    mf_sample(&b, 12, 5, offs);
    input in = {"mem", b.p, b.len, ""};
    uint64_t a = offs[3] + 7, e = offs[9] - 3;
    for (int mode = MP_MODE_PIPELINE; mode <= MP_MODE_SEQUENTIAL; mode++) {
        run ref;
        how h = {mode, SRC_MEM, 256, 0, 0};
        memset(&ref, 0, sizeof ref);
        cr_assert_eq(read_range(&ref, &in, a, e, 0, &h, 1), MP_OK);
        cr_assert_eq(ref.n, 5); /* the records at offs[4..8] */
        unsigned long enomem = 0;
        for (uint64_t k = 1; k <= 60; k++) {
            run got;
            memset(&got, 0, sizeof got);
            mp__alloc_fail_at(k);
            int rc = read_range(&got, &in, a, e, 0, &h, 1);
            mp__alloc_fail_at(0);
            if (rc != MP_OK) {
                cr_assert_eq(rc, MP_ENOMEM, "k=%llu: open %s", (unsigned long long)k,
                             mp_err_name(rc));
                enomem++;
                continue;
            }
            cr_assert(got.end_rc == MP_EOF || got.end_rc == MP_ENOMEM, "k=%llu: %s",
                      (unsigned long long)k, mp_err_name(got.end_rc));
            enomem += got.end_rc == MP_ENOMEM;
            cr_assert_leq(got.n, ref.n);
            unsigned memory_items = 0;
            for (size_t i = 0; i < got.n; i++) {
                const item *g = &got.v[i], *w = &ref.v[i];
                if (g->rc == MP_ERECORD && g->e.kind == MP_EK_MEMORY) {
                    cr_assert(!g->has_rec && w->has_rec && g->offset == w->offset &&
                                  g->length == w->length && g->ordinal == w->ordinal,
                              "k=%llu: MEMORY item %zu not in its record's place",
                              (unsigned long long)k, i);
                    memory_items++;
                    continue;
                }
                cr_assert(same_item(g, w), "k=%llu: item %zu", (unsigned long long)k, i);
            }
            cr_assert_leq(memory_items, 1, "k=%llu: one failed allocation", (unsigned long long)k);
            enomem += memory_items;
            if (got.end_rc == MP_EOF)
                cr_assert_eq(got.n, ref.n);
            run_free(&got);
        }
        cr_assert_gt(enomem, 0);
        run_free(&ref);
    }
    mp_split_options so = MP_SPLIT_OPTIONS_INIT;
    so.parts = 4;
    int refused = 0;
    for (uint64_t k = 1; k <= 5; k++) {
        mp_split_plan *plan = NULL;
        mp__alloc_fail_at(k);
        int rc = mp_split_plan_mem(&plan, b.p, b.len, &so);
        mp__alloc_fail_at(0);
        cr_assert(rc == MP_OK || rc == MP_ENOMEM);
        cr_assert(rc == MP_OK ? plan != NULL : plan == NULL);
        refused += rc == MP_ENOMEM;
        mp_split_plan_free(plan);
    }
    cr_assert_eq(refused, 3, "the plan, its ranges and the search buffer");
    mf_free(&b);
}
