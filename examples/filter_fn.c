/*
 * filter_fn.c - a user-supplied per-record function running INSIDE the
 * parser worker pool (mp_reader_options.record_fn).
 *
 *     ./filter_fn FILE.mrc [LANG [WORD]]     (defaults: eng, no word)
 *
 * Keeps the records whose language (008/35-37) is LANG, or, when WORD is
 * given, that have a subject heading (650 $a) containing WORD (ASCII
 * case-insensitive). The filter runs in the workers, in parallel, before
 * records reach the consumer, so the consumer only sees what was kept and
 * dropped records cost no consumer time. It prints "001<TAB>title" for each
 * kept record, then a summary line on stderr.
 *
 * Thread-safety: the function is called concurrently from several workers,
 * so it only reads its argument (the shared, read-only filter settings)
 * and counts with atomics — no locks. The counters are read after
 * mp_reader_close(), which waits until no worker runs this reader's stages
 * any more.
 *
 * Exit status: 0 clean, 1 data errors reported, 2 open/read failure,
 * 3 the workers' "kept" count differs from the records the consumer saw
 * (which would be a bug in marcpipe).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <marcpipe/marcpipe.h>

/* Shared by all workers: settings written once before the reader opens,
 * read-only afterwards; counters updated by workers with atomics. */
typedef struct filter {
    const char *lang;     /* written by main before open; read by workers */
    const char *word;     /* written by main before open; read by workers (may be NULL) */
    atomic_ulong kept;    /* written by workers; read by main after close */
    atomic_ulong dropped; /* written by workers; read by main after close */
} filter;

/* Does [s, s+n) contain word (ASCII case-insensitive)? */
static int contains(const char *s, size_t n, const char *word)
{
    size_t wl = strlen(word);
    for (size_t i = 0; wl <= n && i <= n - wl; i++)
        if (strncasecmp(s + i, word, wl) == 0)
            return 1;
    return 0;
}

static int wanted(const filter *flt, const mp_record *rec)
{
    const mp_field *f008 = mp_record_first(rec, "008");
    if (f008 != NULL && f008->len >= 38 && memcmp(f008->data + 35, flt->lang, 3) == 0)
        return 1;
    if (flt->word == NULL)
        return 0;
    uint32_t pos = 0;
    const mp_field *f;
    while ((f = mp_record_find(rec, "650", &pos)) != NULL) {
        uint32_t spos = 0;
        const mp_subfield *a = mp_field_subfield(f, 'a', &spos);
        if (a != NULL && contains(a->data, a->len, flt->word))
            return 1;
    }
    return 0;
}

/* Runs on pool workers, concurrently. 0: keep, 1: drop. */
static int record_fn(void *user, const mp_record *rec)
{
    filter *flt = user;
    if (wanted(flt, rec)) {
        /* relaxed: a statistic; mp_reader_close() orders it before main's read */
        atomic_fetch_add_explicit(&flt->kept, 1, memory_order_relaxed);
        return 0;
    }
    /* relaxed: a statistic; mp_reader_close() orders it before main's read */
    atomic_fetch_add_explicit(&flt->dropped, 1, memory_order_relaxed);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s FILE.mrc [LANG [WORD]]\n", argv[0]);
        return 2;
    }
    filter flt;
    flt.lang = argc > 2 ? argv[2] : "eng";
    flt.word = argc > 3 ? argv[3] : NULL;
    if (strlen(flt.lang) != 3) {
        fprintf(stderr, "LANG is a three-letter MARC code such as eng\n");
        return 2;
    }
    /* Before the reader (and so any worker call) exists: no ordering needed. */
    atomic_init(&flt.kept, 0);
    atomic_init(&flt.dropped, 0); /* as above */

    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.record_fn = record_fn;
    o.record_fn_user = &flt;
    mp_reader *r = NULL;
    int rc = mp_reader_open_path(&r, argv[1], &o);
    if (rc != MP_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], mp_strerror(rc));
        return 2;
    }
    unsigned long seen = 0, errors = 0;
    const mp_record *rec;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
        if (rc == MP_ERECORD) {
            errors++;
            fprintf(stderr, "error item: %s\n", mp_reader_error(r)->message);
            continue;
        }
        seen++;
        size_t cl = 0;
        const char *cn = mp_record_control_number(rec, &cl);
        uint32_t pos = 0;
        const mp_field *f = mp_record_first(rec, "245");
        const mp_subfield *a = f ? mp_field_subfield(f, 'a', &pos) : NULL;
        printf("%.*s\t%.*s\n", (int)(cn ? cl : 0), cn ? cn : "", (int)(a ? a->len : 0),
               a ? a->data : "");
    }
    int status = errors > 0 ? 1 : 0;
    if (rc != MP_EOF) {
        fprintf(stderr, "%s: %s\n", argv[1], mp_strerror(rc));
        status = 2;
    }
    mp_reader_close(r); /* joins the reader's work: the counters are final now */

    /* relaxed: every worker increment happened before mp_reader_close returned */
    unsigned long kept = atomic_load_explicit(&flt.kept, memory_order_relaxed);
    /* relaxed: as above */
    unsigned long dropped = atomic_load_explicit(&flt.dropped, memory_order_relaxed);
    fprintf(stderr, "kept %lu, dropped %lu, error items %lu (language %s%s%s)\n", kept, dropped,
            errors, flt.lang, flt.word ? ", or 650 $a containing " : "", flt.word ? flt.word : "");
    if (status != 2 && kept != seen) {
        fprintf(stderr, "BUG: workers kept %lu records but the consumer saw %lu\n", kept, seen);
        return 3;
    }
    return status;
}
