/*
 * nlformat.h - a trivial format and in-memory sources for core tests.
 *
 * Units are newline-terminated lines. frame(): a line of at most
 * max_line bytes (newline included) is a RECORD; a longer line yields a
 * SKIP of max_line bytes (kind NL_KIND_LONG) and framing goes on after
 * it; an unterminated tail at end of input is a RECORD of kind
 * NL_KIND_TRUNC. With ignore_hash, a complete line starting with '#'
 * (at most max_line bytes) is IGNOREd: no unit, no ordinal. parse_item()
 * stores an nl_result (length, checksum) in the arena; lines starting
 * with '!' get status -1.
 *
 * Not thread-safe except where stated: the format callbacks are
 * reentrant (pipeline workers call them concurrently).
 */
#ifndef MP_TEST_NLFORMAT_H
#define MP_TEST_NLFORMAT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "pipe.h"

enum { NL_KIND_CLEAN = 0, NL_KIND_LONG = 1, NL_KIND_TRUNC = 2, NL_KIND_MAX = 3 };

typedef struct nl_format {
    size_t max_line;        /* longest line that is a record */
    unsigned delay_us_max;  /* random parse delay per record (0: none) */
    int64_t enomem_ordinal; /* parse_item returns MP_ENOMEM for this ordinal (-1: never) */
    int ignore_hash;        /* 1: complete '#' lines are MP_FRAME_IGNORE */
} nl_format;

typedef struct nl_result {
    uint32_t len;
    uint32_t sum; /* FNV-1a of the bytes */
} nl_result;

void nl_format_init(nl_format *f, size_t max_line);
mp__format nl_format_plugin(const nl_format *f);
uint32_t nl_hash(const unsigned char *p, size_t n);

/* In-memory source with short reads, an injected error and random delays. */
typedef struct mem_source {
    const unsigned char *data;
    size_t len, pos;
    size_t max_read;       /* 0: no limit */
    int64_t fail_at;       /* byte offset where read fails (-1: never) */
    int fail_code;         /* the error returned there (e.g. MP_EIO) */
    int fail_errno;        /* errno reported with it */
    unsigned delay_us_max; /* random delay per read */
    unsigned seed;
    int block;              /* 1: behave like an idle pipe (never data; polls cancel) */
    int closed;             /* set by close */
    _Atomic unsigned reads; /* read calls begun: written by the producer, read by tests */
} mem_source;

void mem_source_init(mem_source *s, const void *data, size_t len);
mp__source mem_source_plugin(mem_source *s);

/* Random lines "L<i>:<junk>\n" of min..max bytes; caller frees. */
unsigned char *nl_gen(unsigned seed, size_t nlines, size_t minlen, size_t maxlen, size_t *outlen);

/* One unit as the consumer saw it (or as the sequential model predicts). */
typedef struct nl_unit {
    uint64_t offset, ordinal;
    uint32_t len, sum;
    uint8_t type;
    uint16_t kind;
    int32_t status;
} nl_unit;

typedef struct nl_run {
    nl_unit *units;
    size_t n, cap;
    int final_rc;       /* status of the terminal chunk (MP_EOF or error) or next()'s error */
    uint64_t final_off; /* terminal chunk offset */
    int final_errno;
    uint64_t chunks; /* chunks delivered (non-terminal) */
    int order_ok;    /* ordered mode: seq consecutive */
} nl_run;

/* Sequential model of the whole input (what any chunking must produce). */
void nl_expect(const unsigned char *p, size_t n, size_t max_line, nl_run *out);
/* The same for a configured format (ignore_hash). */
void nl_expect_fmt(const nl_format *f, const unsigned char *p, size_t n, nl_run *out);

/*
 * Runs the pipeline to its end, recording units. `hold` > 0 keeps up to
 * hold delivered chunks before releasing the oldest (exercises
 * backpressure). Returns mp__pipe_next's final rc (MP_OK when a terminal
 * chunk ended the stream).
 */
int nl_drain(mp__pipe *p, nl_run *out, unsigned hold);

/* Sort units by ordinal (for unordered runs). */
void nl_sort(nl_run *r);
void nl_run_free(nl_run *r);

/* Defaults: chunk 4096, T 4, max_unit 1<<16, 2 threads, ordered. */
void nl_config(mp__pipe_config *cfg, const nl_format *f, mem_source *s);

#endif
