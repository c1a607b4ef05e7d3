/*
 * synth.h - deterministic synthetic MARC 21 records for the perf harness.
 *
 * The generator is seeded and pure: the same options give the same bytes on
 * every machine. Record sizes follow a log-normal law fitted to the
 * realworld corpus (median ~1,600 bytes, p90 ~3,600, ~30 fields), the field
 * mix follows its most common tags, a configurable share of records is
 * MARC-8 (leader/09 blank, ANSEL diacritics and a Cyrillic escape) and a
 * configurable share is damaged (bad length, missing terminator, junk
 * between records, bad directory, invalid UTF-8).
 *
 * Not thread-safe: one synth per thread.
 */
#ifndef MP_PERF_SYNTH_H
#define MP_PERF_SYNTH_H

#include <stddef.h>
#include <stdint.h>

/* Largest unit synth_record() writes (record + junk), bytes. */
#define SYNTH_MAX_UNIT (64u * 1024u)

typedef struct synth_opts {
    uint64_t seed;
    double marc8_rate;  /* share of MARC-8 records, 0..1 (default 0.2) */
    double damage_rate; /* share of damaged records, 0..1 (default 0) */
    double size_median; /* bytes (default 1600) */
    double size_sigma;  /* log-normal sigma (default 0.63) */
} synth_opts;

#define SYNTH_OPTS_INIT                                                                            \
    {                                                                                              \
        1, 0.2, 0.0, 1600.0, 0.63                                                                  \
    }

typedef struct synth {
    uint64_t state;
    synth_opts o;
    uint64_t records; /* units written */
    uint64_t damaged; /* of which damaged */
    uint64_t marc8;   /* of which MARC-8 */
    int cur_marc8;    /* the record being written is MARC-8 (internal) */
} synth;

void synth_init(synth *g, const synth_opts *o);

/*
 * Writes the next unit (one record, possibly damaged, possibly preceded by
 * junk) into buf (cap >= SYNTH_MAX_UNIT) and returns its length in bytes.
 * *damage receives 0 for a clean record, else a damage kind (1..5).
 */
size_t synth_record(synth *g, unsigned char *buf, size_t cap, int *damage);

/*
 * Fills buf with whole units until no further unit of SYNTH_MAX_UNIT
 * bytes fits; returns the bytes written. Convenience for corpora in memory.
 */
size_t synth_fill(synth *g, unsigned char *buf, size_t cap);

#endif
