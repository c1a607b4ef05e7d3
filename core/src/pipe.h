/*
 * pipe.h - the format-agnostic pipeline: stages, chunks, items.
 *
 *  source -> [producer] -SPSC-> [scanner] -SPMC-> [parser xN] -MPSC-> [consumer]
 *               ^                                                        |
 *               +------------------ free chunks (MPSC) <-----------------+
 *
 * A pipeline moves chunk descriptors (mp__chunk) through four rings. A chunk
 * is both an I/O buffer and the batch of items (records or skipped spans)
 * the scanner framed in it; its arena holds the index the parser built.
 * Exactly T chunks exist per pipeline: when all are in flight the producer
 * has nothing to fill, which is the backpressure. Every ring has room for
 * all T chunks, so puts never block in the pipeline; only takes wait.
 *
 * Stages are tasks, not threads. Pool workers run them: the producer and
 * the scanner are serial (an atomic token makes one worker at a time their
 * owner, so their rings keep single-producer/single-consumer roles), the
 * parser is parallel. The consumer is the caller's thread. With a shared
 * mp_pool, 1,000 pipelines cost no extra threads.
 *
 * A format plugs in three pure functions (mp__format): `frame` decides
 * where units end, `parse_item` indexes one unit into an arena, and an
 * optional `finish` hook. A source plugs in `read`. Core knows nothing of
 * MARC; test/ drives it with newline-delimited records.
 *
 * End of stream and I/O errors travel as a terminal chunk (status != 0)
 * through the same rings, so the consumer sees them after every item
 * before them, in stream order.
 */
#ifndef MP_PIPE_H
#define MP_PIPE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <marcpipe/common.h>
#include <marcpipe/pool.h>
#include <marcpipe/stats.h>
#include "arena.h"

typedef struct mp__pipe mp__pipe;

/* ---- items and chunks ------------------------------------------------- */

enum mp__item_type {
    MP_ITEM_RECORD = 0, /* a framed unit to parse */
    MP_ITEM_SKIP = 1,   /* bytes skipped while resynchronising: an error span */
};

typedef struct mp__item {
    /* Written by the scanner before the chunk is enqueued on SCANNED;
     * read by workers and the consumer => no barrier of its own. */
    const unsigned char *data; /* unit bytes: in the chunk buffer or its spill */
    uint32_t len;              /* unit length in bytes */
    uint8_t type;              /* enum mp__item_type */
    uint8_t spilled;           /* data lives in the chunk's spill buffer */
    uint16_t frame_kind;       /* format-specific framing verdict (0: clean) */
    uint64_t offset;           /* stream offset of data[0] */
    uint64_t ordinal;          /* 0-based index of the unit (RECORD or SKIP) in the stream */
    /* Written by the worker that parses the chunk before it enqueues the
     * chunk on PARSED; read by the consumer after dequeuing => ordered by
     * the ring. */
    void *result;   /* format-specific parse result (in the chunk arena) */
    int32_t status; /* 0, or a format-specific negative error of the unit */
} mp__item;

typedef struct mp__chunk {
    /* Immutable after pipeline open. */
    mp__pipe *pipe;
    unsigned char *buf; /* I/O buffer (NULL when the source maps) */
    size_t cap;         /* buffer capacity (chunk size) */
    uint32_t index;     /* position in the pipe's chunk array */

    /* Written by the producer before enqueue on FILLED; read by the
     * scanner after dequeue => ordered by the ring. */
    const unsigned char *data; /* the chunk's bytes: buf, or a view the source mapped */
    uint8_t mapped;            /* data is a mapped view: unmap it on recycle */
    size_t len;                /* valid bytes at data */
    uint64_t offset;           /* stream offset of buf[0] */
    int status;                /* 0; MP_EOF (end of input) or an MP_E* error: terminal chunk */
    int sys_errno;             /* errno behind an I/O status, 0 otherwise */
    int final;                 /* 1: no data follows this chunk (the scanner flushes its carry) */
    const void *reader;        /* identity of the thread that read it (locality stats only) */
    const void *home;          /* the thread that last read into it: kept across recycling;
                                * written and read by the producer-token holder only */

    /* Written by the scanner before enqueue on SCANNED; read by workers
     * and the consumer => ordered by the rings. */
    uint64_t seq;         /* batch sequence number, consecutive from 0 */
    mp__item *items;      /* items framed in (or completed by) this chunk */
    uint32_t nitems;      /* number of items */
    uint32_t items_cap;   /* allocated items */
    unsigned char *spill; /* units that straddled chunk boundaries (owned) */
    size_t spill_len, spill_cap;

    /* Written by the worker that parses the chunk, then by the consumer
     * (which owns the chunk after dequeuing from PARSED). */
    mp__arena arena;

    /* Shared: holders of the chunk (the consumer's delivery + retains).
     * At zero the chunk goes back to the FREE ring. */
    _Atomic uint32_t refs;
} mp__chunk;

/* ---- plug-in interfaces -------------------------------------------------- */

typedef enum mp__frame_rc {
    MP_FRAME_RECORD = 0, /* out->len bytes form one unit */
    MP_FRAME_SKIP = 1,   /* out->len bytes are skipped and reported (out->kind says why) */
    MP_FRAME_NEED = 2,   /* undecidable: give me at least out->len bytes (> avail) */
    MP_FRAME_IGNORE = 3, /* out->len bytes belong to no unit (document structure between
                          * units: an XML envelope, JSON array punctuation, blank lines):
                          * no item, no ordinal. Splitting an ignored span must not change
                          * how the bytes after it are framed. */
} mp__frame_rc;

enum mp__frame_final {
    MP_FINAL_NO = 0,  /* more bytes may follow */
    MP_FINAL_EOF = 1, /* the input ends after avail bytes */
    MP_FINAL_MAX = 2, /* avail reached the maximum unit size: decide now */
};

typedef struct mp__frame {
    size_t len;    /* unit length (RECORD/SKIP) or bytes wanted (NEED) */
    uint16_t kind; /* format-specific framing verdict, stored in mp__item.frame_kind */
} mp__frame;

typedef struct mp__format {
    /*
     * Frames the unit that starts at p (avail >= 1 bytes available).
     * Pure and deterministic: the scanner and the sequential reader call
     * it with the same bytes and must get the same answer. With final !=
     * MP_FINAL_NO it must not return NEED. RECORD/SKIP/IGNORE return
     * 1 <= len <= avail. Called by the scanner (one thread at a time).
     */
    mp__frame_rc (*frame)(const void *fmt, const unsigned char *p, size_t avail, int final,
                          mp__frame *out);
    /*
     * Parses one RECORD item: builds its index in `arena` and stores it in
     * item->result, sets item->status (0 or a negative format error).
     * Returns MP_OK or MP_ENOMEM (the unit could not be indexed): then the
     * pipeline rewinds the arena to where it was before the call, sets
     * item->result = NULL and item->status = MP_ENOMEM, and goes on with
     * the next unit - one unit's failure is that unit's error item, never
     * the end of the stream.
     * Called by workers concurrently on different chunks: must be
     * reentrant; fmt is shared read-only.
     */
    int (*parse_item)(const void *fmt, mp__item *item, mp__arena *arena);
    const void *fmt; /* format state, read-only while the pipeline runs */
} mp__format;

typedef struct mp__source {
    /*
     * Reads up to cap bytes into buf. Returns > 0 bytes read, 0 at end of
     * input, or a negative MP_E* code (with *sys_errno set). Must return
     * within ~50 ms when mp__pipe_cancelled(pipe) becomes true (poll in
     * slices for pipes and sockets). Called by the producer (one thread at
     * a time), never concurrently with itself.
     */
    ssize_t (*read)(void *src, unsigned char *buf, size_t cap, int *sys_errno,
                    const mp__pipe *pipe);
    /*
     * Optional zero-copy input (NULL: use read). Instead of copying, makes
     * the next bytes of the input (at most cap) visible at *data: > 0
     * bytes, 0 at end of input, < 0 an MP_E* code (with *sys_errno). The
     * bytes stay valid and unchanged until unmap(src, data, len) - called
     * when the chunk is recycled, from the recycling thread (any thread,
     * possibly concurrently with map) - or until mp__pipe_close. Called by
     * the producer only. A source with map never sees read calls, and the
     * pipeline allocates no chunk buffers for it.
     */
    ssize_t (*map)(void *src, size_t cap, const unsigned char **data, int *sys_errno,
                   const mp__pipe *pipe);
    void (*unmap)(void *src, const unsigned char *data, size_t len); /* may be NULL */
    void (*close)(void *src); /* called once by mp__pipe_close; may be NULL */
    void *src;
} mp__source;

/* What the consumer thread may do itself while the chunk it needs is not
 * ready (mp__pipe_config.help). */
enum mp__help {
    MP_HELP_NONE = 0,  /* only wait */
    MP_HELP_PARSE = 1, /* scan and parse (the source's read may block: never read) */
    MP_HELP_ALL = 2,   /* also read: the source never blocks for long (file, memory) */
};

typedef struct mp__pipe_config {
    size_t chunk_size;  /* bytes per chunk buffer (>= 64) */
    unsigned chunks;    /* T: chunk buffers (>= 2; 0: 4 per thread that parses - the pool's
                         * workers, plus the consumer when help != MP_HELP_NONE - at least 4) */
    size_t max_unit;    /* largest unit the scanner will carry across chunks */
    unsigned threads;   /* private pool size when pool == NULL (0: online CPUs; <= 1024) */
    mp_pool *pool;      /* shared pool, or NULL for a private one */
    int ordered;        /* 1: deliver chunks in seq order (reorder window) */
    unsigned ring_size; /* FILLED/SCANNED/PARSED size, power of two >= 2; 0: smallest
                         * power of two > T. Tests force tiny rings; FREE always holds T. */
    int help;           /* enum mp__help: what mp__pipe_next may run on the consumer thread */
    mp__format format;
    mp__source source;
    /*
     * Byte range (all zero: the whole input). The source's first byte is
     * at stream offset `stream_offset` (item offsets count from there).
     * Units that start before `emit_from` are framed and dropped: no item,
     * no ordinal. The first unit that starts at or after `emit_until`
     * (0: none) ends the stream: the scanner drops it and all after it,
     * stops the producer (mp__pipe_input_stopped) and the terminal chunk
     * says MP_EOF, whatever happened to the input beyond that point. Units
     * are numbered from `first_ordinal`. The format must be able to frame
     * from `stream_offset` as it would from the start of the input (for
     * ISO 2709: an anchor, stages/FRAMING.md).
     */
    uint64_t stream_offset;
    uint64_t emit_from;
    uint64_t emit_until;
    uint64_t first_ordinal;
} mp__pipe_config;

/* ---- lifecycle -------------------------------------------------------------- */

/*
 * Builds the pipeline, attaches it to the pool (private if cfg->pool is
 * NULL) and starts it. On failure nothing is left running and
 * cfg->source.close is NOT called (the caller still owns the source).
 * Caller thread only; the pipeline is then owned by the caller (its
 * consumer).
 */
int mp__pipe_open(mp__pipe **out, const mp__pipe_config *cfg);

/*
 * The consumer's call: the next chunk (in seq order when ordered). The
 * chunk holds one reference for the caller, dropped by mp__chunk_release.
 * A chunk with status != 0 is terminal: its items (none) are followed by
 * nothing; the status is MP_EOF or the I/O error (offset = where).
 * Returns MP_OK, MP_EAGAIN at `deadline` (NULL: wait forever),
 * MP_ECANCELED after mp__pipe_cancel. Once a terminal chunk was returned,
 * later calls return its status (MP_EOF or the error) with *out = NULL.
 * Chunks with no items are never returned (the scanner recycles them), so
 * a non-terminal chunk has nitems >= 1. A chunk the scanner could not
 * frame for lack of memory comes back as a terminal chunk with status
 * MP_ENOMEM, no items, offset = the chunk (a unit whose parse failed is
 * only that item's status, see parse_item). Returns MP_EFORKED in a child
 * of fork() for a pipeline opened before it. Consumer thread only.
 */
int mp__pipe_next(mp__pipe *p, mp__chunk **out, const struct timespec *deadline);

/* Takes one more reference on a chunk the caller holds. Any thread. */
void mp__chunk_retain(mp__chunk *c);
/* Drops one reference; at zero the chunk returns to the free ring and
 * the producer is woken. Any thread; not after mp__pipe_close. */
void mp__chunk_release(mp__chunk *c);

/* True once the pipeline wants no more input: cancelled, or the scanner
 * reached cfg.emit_until. Any thread (sources poll it and return early). */
int mp__pipe_input_stopped(const mp__pipe *p);

/* Asks every stage to stop soon. Any thread; idempotent; non-blocking. */
void mp__pipe_cancel(mp__pipe *p);
/* True once cancelled. Any thread (sources poll it). */
int mp__pipe_cancelled(const mp__pipe *p);

/*
 * Cancels, detaches from the pool, waits until no worker is inside the
 * pipeline (after an RCU grace period), closes the source and frees every
 * chunk - including chunks the consumer still holds. Accepts NULL.
 * Consumer thread; at any time. No thread of the pipeline outlives it.
 */
void mp__pipe_close(mp__pipe *p);

/* Snapshot of the counters. Any thread, while running. */
void mp__pipe_stats(const mp__pipe *p, mp_stats *out);

/* First fatal error recorded (0 if none) and its stream offset. Any thread. */
int mp__pipe_first_error(const mp__pipe *p, uint64_t *offset);

#endif
