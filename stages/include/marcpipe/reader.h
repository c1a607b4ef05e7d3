/*
 * marcpipe/reader.h - reading MARC 21 / ISO 2709 through the pipeline.
 *
 *     mp_reader *r;
 *     mp_reader_options o = MP_READER_OPTIONS_INIT;
 *     int rc = mp_reader_open_path(&r, "books.mrc", &o);
 *     const mp_record *rec;
 *     while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
 *         if (rc == MP_ERECORD) { const mp_error_info *e = mp_reader_error(r); ... }
 *         else { ... }
 *     }
 *     // rc == MP_EOF at the true end; anything else: mp_reader_error(r)
 *     mp_reader_close(r);
 *
 * One handle for both ways of reading: the pipeline (threads) and the
 * sequential reader (the calling thread only), chosen by options.mode.
 *
 * Thread-safety: a reader is used by one thread at a time (its
 * consumer); mp_reader_stats() may be called from any thread while it
 * runs. Different readers are independent, also on one shared mp_pool.
 */
#ifndef MARCPIPE_READER_H
#define MARCPIPE_READER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <marcpipe/common.h>
#include <marcpipe/pool.h>
#include <marcpipe/record.h>
#include <marcpipe/stats.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_reader mp_reader;

/* What to do with error items. */
typedef enum mp_policy {
    MP_POLICY_REPORT = 0, /* return each as MP_ERECORD, go on (default) */
    MP_POLICY_STOP = 1,   /* return the first as MP_ERECORD, then MP_ESTOPPED */
    MP_POLICY_SKIP = 2,   /* never return them; count them (mp_reader_counts) */
} mp_policy;

/* How record text is decoded. */
typedef enum mp_encoding {
    MP_ENCODING_AUTO = 0,  /* leader/09: 'a' UTF-8, otherwise MARC-8 -> UTF-8 */
    MP_ENCODING_UTF8 = 1,  /* treat every record as UTF-8 (force_utf8) */
    MP_ENCODING_MARC8 = 2, /* treat every record as MARC-8 */
    MP_ENCODING_RAW = 3,   /* no decoding or validation: bytes as stored */
} mp_encoding;

/* Invalid UTF-8 handling, as pymarc's utf8_handling. */
typedef enum mp_utf8_handling {
    MP_UTF8_STRICT = 0,  /* error item (kind MP_EK_ENCODING) */
    MP_UTF8_REPLACE = 1, /* U+FFFD */
    MP_UTF8_IGNORE = 2,  /* drop the bad bytes */
} mp_utf8_handling;

/* Error item kinds (XX(name, message)). */
#define MP_ERROR_KIND_MAP(XX)                                                                      \
    XX(NONE, "no error")                                                                           \
    XX(LENGTH, "record length in the leader is invalid")                                           \
    XX(TERMINATOR, "record terminator missing where the length says")                              \
    XX(JUNK, "bytes between records skipped")                                                      \
    XX(TRUNCATED, "input ends inside a record")                                                    \
    XX(TOO_BIG, "record larger than the maximum record size")                                      \
    XX(LEADER, "leader is invalid")                                                                \
    XX(BASE_ADDRESS, "base address of data is invalid")                                            \
    XX(DIRECTORY, "directory is invalid")                                                          \
    XX(FIELD, "field is invalid or unterminated")                                                  \
    XX(INDICATOR, "indicator is invalid")                                                          \
    XX(SUBFIELD, "subfield is invalid")                                                            \
    XX(ENCODING, "invalid UTF-8")                                                                  \
    XX(MARC8, "invalid MARC-8")                                                                    \
    XX(IO, "input/output error")                                                                   \
    XX(FILTER, "the user record function failed")

typedef enum mp_error_kind {
#define MP__EK_ENUM(name, msg) MP_EK_##name,
    MP_ERROR_KIND_MAP(MP__EK_ENUM)
#undef MP__EK_ENUM
        MP_EK_COUNT
} mp_error_kind;

MP_EXPORT const char *mp_error_kind_name(mp_error_kind kind); /* "TRUNCATED" */

/* One error item. Borrowed from the reader until its next call. */
typedef struct mp_error_info {
    int code; /* MP_ERECORD for data errors, else the MP_E* failure */
    mp_error_kind kind;
    uint64_t ordinal;        /* unit ordinal (records and skipped spans count) */
    uint64_t offset;         /* stream offset of the bad unit / span / I/O failure */
    uint64_t length;         /* bytes in the unit or span */
    char control_number[32]; /* 001 when readable, else "" */
    char tag[4];             /* field tag where relevant, else "" */
    char subfield;           /* subfield code where relevant, else 0 */
    int sys_errno;           /* errno for I/O errors */
    char message[160];       /* human-readable, with the position */
} mp_error_info;

/* Per-reader user function run inside the parser workers on every good
 * record. Return 0 to keep, 1 to drop the record, < 0 to turn it into an
 * error item (kind MP_EK_FILTER). Called concurrently from several
 * workers: must be thread-safe. */
typedef int (*mp_record_fn)(void *user, const mp_record *rec);

/* Record serialisations, for input (options.format) and output. */
typedef enum mp_format {
    MP_FORMAT_AUTO = 0,    /* input: sniffed from the first bytes */
    MP_FORMAT_ISO2709 = 1, /* ISO 2709 / MARC 21 exchange format */
    MP_FORMAT_MARCXML = 2, /* MARC 21 slim XML */
    MP_FORMAT_JSON = 3,    /* MARC-in-JSON: one record per line or a JSON array */
    MP_FORMAT_MRK = 4,     /* MARCMaker mnemonic text (=LDR  ...) */
} mp_format;

/*
 * Who runs the work. zstd's nbWorkers = 0 in spirit: one handle, a mode.
 *
 * MP_MODE_AUTO takes the sequential path when the pipeline cannot pay for
 * its start-up and hand-offs: fewer than 2 CPUs usable by the process
 * (its affinity mask, as `taskset` or a container sets it), or an input
 * whose size is known at open (a regular file or memory) and smaller than
 * MP_AUTO_MIN_PIPELINE_BYTES, where starting threads costs more than
 * parsing the whole input on the calling thread. Otherwise the pipeline
 * runs; its consumer thread then parses chunks itself whenever the one it
 * needs is not ready, so a pipeline whose workers get no CPU (a loaded
 * machine) degrades towards the sequential reader's speed instead of
 * waiting. mp_reader_stats() says which path ran and why (mode,
 * mode_reason).
 */
typedef enum mp_reader_mode {
    MP_MODE_AUTO = 0,       /* the library chooses (default; see above) */
    MP_MODE_PIPELINE = 1,   /* producer, scanner and parser stages on pool threads */
    MP_MODE_SEQUENTIAL = 2, /* no threads: the calling thread frames and parses inline */
} mp_reader_mode;

/* Inputs smaller than this (when their size is known) are read sequentially
 * under MP_MODE_AUTO. Measured: below it the sequential reader finishes
 * before a private pool's threads have started (perf/PERFORMANCE.md). */
#define MP_AUTO_MIN_PIPELINE_BYTES ((uint64_t)1 << 20)

/* Why a reader runs the path it runs (mp_stats.mode_reason). */
typedef enum mp_mode_reason {
    MP_MODE_REASON_NONE = 0,        /* no reader (mp_reader_stats(NULL, ...)) */
    MP_MODE_REASON_REQUESTED = 1,   /* options.mode asked for it */
    MP_MODE_REASON_ONE_CPU = 2,     /* AUTO: fewer than 2 usable CPUs */
    MP_MODE_REASON_SMALL_INPUT = 3, /* AUTO: known size < MP_AUTO_MIN_PIPELINE_BYTES */
    MP_MODE_REASON_LARGE_INPUT = 4, /* AUTO: known size >= MP_AUTO_MIN_PIPELINE_BYTES */
    MP_MODE_REASON_STREAM = 5,      /* AUTO: size unknown (pipe, socket, callback) */
} mp_mode_reason;

/*
 * Reader options. Every field's zero value means its default, so
 * `mp_reader_options o = {0};` and MP_READER_OPTIONS_INIT are the same
 * reader. `size` lets the struct grow without breaking the ABI: callers
 * set it to sizeof(mp_reader_options) as they compiled it (the INIT macro
 * does; 0 means "this header's size"); fields past it read as zero.
 * Sequential mode ignores threads, chunk_size, chunks_in_flight, unordered
 * and pool; it yields the same items at the same positions.
 */
typedef struct mp_reader_options {
    size_t size;                    /* sizeof(mp_reader_options), or 0 */
    mp_reader_mode mode;            /* default MP_MODE_AUTO */
    unsigned threads;               /* private pool workers; 0: usable CPUs - 1 (at least 1): the
                                     * consumer thread parses too while it waits */
    size_t chunk_size;              /* bytes per chunk (64 B .. 2 GiB); 0: a quarter of the L2
                                     * cache, 128 KiB .. 512 KiB (512 KiB when unknown) */
    unsigned chunks_in_flight;      /* T; 0: 4 * (workers + 1) */
    size_t max_record_size;         /* 0: 8 MiB; 99999 is the ISO 2709 limit */
    mp_policy policy;               /* default MP_POLICY_REPORT */
    uint64_t max_errors;            /* error cap: after it, MP_ELIMIT (0: none) */
    int unordered;                  /* 1: deliver in completion order (default 0: input order) */
    mp_encoding encoding;           /* default MP_ENCODING_AUTO */
    mp_utf8_handling utf8_handling; /* default MP_UTF8_STRICT */
    int no_normalize;               /* 1: no NFC after MARC-8 conversion (default 0: NFC) */
    int marc8_replace;              /* 1: unknown MARC-8 -> U+FFFD instead of an error item */
    mp_record_fn record_fn;         /* optional, see above */
    void *record_fn_user;
    mp_pool *pool; /* shared pool (borrowed, must outlive the reader) */
    /* ---- fields past the first release's struct (see `size`) ---- */
    mp_format format;     /* input format; default MP_FORMAT_AUTO (sniffed) */
    int strict;           /* 1: warnings become error items */
    uint64_t range_start; /* read only the units that begin in [range_start, range_end) */
    uint64_t range_end;   /* 0: to the end of the input */
} mp_reader_options;

/* Every field spelled out so that -Wmissing-field-initializers and C++
 * accept it; all but `size` are the zero defaults. */
#define MP_READER_OPTIONS_INIT                                                                     \
    {                                                                                              \
        sizeof(mp_reader_options), MP_MODE_AUTO, 0, 0, 0, 0, MP_POLICY_REPORT, 0, 0,               \
            MP_ENCODING_AUTO, MP_UTF8_STRICT, 0, 0, NULL, NULL, NULL, MP_FORMAT_AUTO, 0, 0, 0      \
    }

/* User read callback: > 0 bytes, 0 end of input, < 0 failure (set *sys_errno). */
typedef ssize_t (*mp_read_fn)(void *user, void *buf, size_t cap, int *sys_errno);

/*
 * Open a reader. `opts` may be NULL (defaults). On success *out owns the
 * reader (close with mp_reader_close). Return MP_OK, MP_ENOENT, MP_EACCES,
 * MP_EIO, MP_EINVAL, MP_ENOMEM or MP_ETHREAD.
 * One ownership rule for the source, whatever the mode and whether the
 * open succeeds or fails: what the reader opened itself (_path's file) it
 * closes; what the caller lends it (_fd's descriptor, _mem's bytes, _cb's
 * function and user pointer) it never closes or frees.
 *  _path: a file path ("-" is NOT stdin here; use _fd(0)).
 *  _fd:   borrowed descriptor (pipe, socket, file); not closed by the reader.
 *  _mem:  borrowed buffer; must stay valid until mp_reader_close.
 *  _cb:   called from a pipeline thread (sequential mode: the thread in
 *         mp_reader_next), never concurrently with itself.
 */
MP_EXPORT int mp_reader_open_path(mp_reader **out, const char *path, const mp_reader_options *opts);
MP_EXPORT int mp_reader_open_fd(mp_reader **out, int fd, const mp_reader_options *opts);
MP_EXPORT int mp_reader_open_mem(mp_reader **out, const void *data, size_t len,
                                 const mp_reader_options *opts);
MP_EXPORT int mp_reader_open_cb(mp_reader **out, mp_read_fn fn, void *user,
                                const mp_reader_options *opts);

/*
 * Next item. MP_OK: *rec is a good record. MP_ERECORD: an error item
 * (mp_reader_error); *rec is the damaged record when one was framed and
 * partly parsed, NULL for skipped spans. MP_EOF: the whole input was
 * consumed. Other codes (MP_EIO, MP_ESTOPPED, MP_ELIMIT, MP_ENOMEM): the
 * stream is over; mp_reader_error() says where. *rec is borrowed until the
 * next call.
 */
MP_EXPORT int mp_reader_next(mp_reader *r, const mp_record **rec);

/* As mp_reader_next, but returns MP_EAGAIN after timeout_ms (>= 0)
 * without consuming anything (for Ctrl-C-aware bindings). */
MP_EXPORT int mp_reader_next_timeout(mp_reader *r, const mp_record **rec, int timeout_ms);

/* The last error item / failure; borrowed until the next call. */
MP_EXPORT const mp_error_info *mp_reader_error(const mp_reader *r);

/* Counts so far: good records delivered, error items (also skipped ones), bytes consumed. */
MP_EXPORT void mp_reader_counts(const mp_reader *r, uint64_t *records, uint64_t *errors,
                                uint64_t *bytes);
/* Per-stage counters and which path ran (mode, mode_reason, workers); any
 * thread while running. In sequential mode the stage counters are zero
 * except the consumer's items (records delivered) and bytes. */
MP_EXPORT void mp_reader_stats(const mp_reader *r, mp_stats *out);

/* Stops the pipeline, joins its threads, frees everything. Any time; NULL ok. */
MP_EXPORT void mp_reader_close(mp_reader *r);

#ifdef __cplusplus
}
#endif
#endif
