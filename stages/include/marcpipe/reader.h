/*
 * marcpipe/reader.h - reading MARC 21 records (ISO 2709, MARCXML,
 * MARC-in-JSON, MARCMaker) through the pipeline.
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
 * After fork(), see mp_reader_close.
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
    MP_UTF8_REPLACE = 1, /* U+FFFD, and a warning (kind MP_EK_ENCODING) */
    MP_UTF8_IGNORE = 2,  /* drop the bad bytes, and a warning */
} mp_utf8_handling;

/*
 * The ANSEL double diacritics: ligature (0xEB first half, 0xEC second
 * half) and double tilde (0xFA, 0xFB), each written as two halves around
 * the two base characters.
 */
typedef enum mp_marc8_double {
    /* Default: one combining double diacritic after the first base,
     * U+0361 (ligature) / U+0360 (double tilde); the second half maps to
     * nothing. The Library of Congress code tables' primary mapping, and
     * what yaz produces: "\xEBt\xECs" -> "t\u0361s". */
    MP_MARC8_DOUBLE_COMBINED = 0,
    /* Each half is its own combining half mark, U+FE20 / U+FE21
     * (ligature) and U+FE22 / U+FE23 (double tilde): the code tables'
     * alternative mapping, and what pymarc produces:
     * "\xEBt\xECs" -> "t\uFE20s\uFE21". */
    MP_MARC8_DOUBLE_HALVES = 1,
} mp_marc8_double;

/*
 * One error item. Borrowed from the reader until its next call.
 * `ordinal` is 0-based like every position in the API (the first unit
 * is 0); `message` is for people and counts from 1 ("record 1" is the
 * first unit, records and skipped spans both count).
 */
typedef struct mp_error_info {
    int code; /* MP_ERECORD for data errors, else the MP_E* failure */
    mp_error_kind kind;
    uint64_t ordinal;        /* 0-based unit ordinal (records and skipped spans count) */
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
 * workers: must be thread-safe. It runs on the thread that parsed the
 * record, while its bytes are in that thread's cache: per-record work
 * done here (filters, counters, extraction into per-thread state), with
 * the record then dropped, skips the hand-over to the reader's thread
 * (perf/PERFORMANCE.md, "Handing records over"). */
typedef int (*mp_record_fn)(void *user, const mp_record *rec);

/*
 * Record serialisations, for input (options.format) and output
 * (options.output_format, marcpipe/write.h). The last two are output
 * only: as input, NDJSON is JSON, and LINE cannot be read. Every input
 * format yields the same mp_record (record.h); MARCXML, MARC-in-JSON and
 * MARCMaker records come with an ISO 2709 form (mp_record_raw) built by
 * the parser. With MP_FORMAT_AUTO the first bytes decide (after a UTF-8
 * byte order mark and white space: a digit ISO 2709, '<' MARCXML, '{' or
 * '[' MARC-in-JSON, '=' MARCMaker, anything else ISO 2709). With a format
 * named, an input whose first bytes look like another format ends at once
 * with MP_EFORMAT (mp_reader_error says which format it looks like).
 * Detection reads at most 4 KiB ahead, on the thread that reads the
 * source (never in open). MARCXML: one <record> element per record, any
 * prefix, in a collection, bare or in an envelope (OAI-PMH); no DTD is
 * loaded and no entity beyond XML's five is expanded. MARC-in-JSON: one
 * object per line or a JSON array. Rules: stages/FRAMING.md.
 * options.encoding applies to ISO 2709 and MARCMaker (whose text is UTF-8
 * unless MP_ENCODING_MARC8 or _RAW is asked); XML and JSON text is
 * Unicode. Byte ranges (range_start/range_end) are ISO 2709's: with a
 * range, AUTO means ISO 2709 and another named format is MP_EINVAL.
 */
typedef enum mp_format {
    MP_FORMAT_AUTO = 0,    /* input: sniffed from the first bytes; output: none */
    MP_FORMAT_ISO2709 = 1, /* ISO 2709 / MARC 21 exchange format */
    MP_FORMAT_MARCXML = 2, /* MARC 21 slim XML */
    MP_FORMAT_JSON = 3,    /* MARC-in-JSON: one record per line or a JSON array */
    MP_FORMAT_MRK = 4,     /* MARCMaker mnemonic text (=LDR  ...) */
    MP_FORMAT_NDJSON = 5,  /* output: MARC-in-JSON, one object per line */
    MP_FORMAT_LINE = 6,    /* output: yaz-marcdump's line format (marcpipe dump) */
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
    MP_MODE_REASON_ONE_CPU = 2,     /* AUTO: fewer than 2 usable CPUs (mp_cpus_usable) */
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
    unsigned threads;               /* private pool workers; 0: usable CPUs - 1, at least 1 (the
                                     * consumer thread parses too while it waits); at most 1024 */
    size_t chunk_size;              /* bytes per chunk (64 B .. 2 GiB); 0: a quarter of the L2
                                     * cache, 128 KiB .. 512 KiB (512 KiB when unknown) */
    unsigned chunks_in_flight;      /* T; 0: 4 * (workers + 1) (at most 2^20) */
    size_t max_record_size;         /* 0: 8 MiB; else 64 .. 4 GiB - 1; ISO 2709 states 99999 */
    mp_policy policy;               /* default MP_POLICY_REPORT */
    uint64_t max_errors;            /* error cap: N items, then MP_ELIMIT at the next (0: none) */
    int unordered;                  /* 1: deliver in completion order (default 0: input order) */
    mp_encoding encoding;           /* default MP_ENCODING_AUTO */
    mp_utf8_handling utf8_handling; /* default MP_UTF8_STRICT */
    int no_normalize;               /* 1: no NFC after MARC-8 conversion (default 0: NFC) */
    int marc8_replace;              /* 1: unknown MARC-8 -> U+FFFD instead of an error item */
    mp_record_fn record_fn;         /* optional, see above */
    void *record_fn_user;
    mp_pool *pool; /* shared pool (borrowed, must outlive the reader) */
    /* ---- fields past the first release's struct (see `size`) ---- */
    mp_format format; /* input format; default MP_FORMAT_AUTO (detected) */
    /* 1: every warning becomes an error item (the record's first problem,
     * warning or error, is the item's kind and message). Default 0:
     * readable records are delivered with their warnings attached. Which
     * checks warn: stages/FRAMING.md, "Checks" (ISO 2709) and "What a
     * text format makes" (MARCXML, MARC-in-JSON, MARCMaker). */
    int strict;
    uint64_t range_start; /* read only the units that begin in [range_start, range_end) */
    uint64_t range_end;   /* 0: to the end of the input (see "Byte ranges" below) */
    /* Serialise every record in the parser workers (marcpipe/write.h):
     * 0 (MP_FORMAT_AUTO): no. Otherwise the workers serialise each record
     * they index (good and damaged ones) into the chunk arena, with
     * output_flags (MP_WRITE_*), and mp_writer_write() of a writer with
     * the same format and flags copies those bytes instead of serialising
     * on the consumer's thread: that is how mp_convert() runs in parallel.
     * mp_record_output() gives the bytes. */
    mp_format output_format;
    unsigned output_flags;
    uint64_t first_ordinal;       /* ordinal of the first unit read (default 0; "Byte ranges") */
    mp_marc8_double marc8_double; /* default MP_MARC8_DOUBLE_COMBINED */
} mp_reader_options;

/*
 * Byte ranges (range_start, range_end; stages/FRAMING.md, "Byte ranges").
 * A reader given [range_start, range_end) yields exactly the units - good
 * records and error items alike - that BEGIN in that range: it finds the
 * first of them the way the whole-input read would (it starts framing at
 * the last anchor at or before range_start: a record terminator followed
 * by a leader) and reads past range_end to finish the last one. Any
 * partition of an input into ranges therefore composes to the whole read:
 * the same records and error items, with the same offsets, kinds and
 * bytes, none lost, none twice, damaged data included - provided every
 * range is read with the same max_record_size.
 *  - Offsets are stream offsets (for _fd: from the descriptor's position
 *    at open), as in a whole read.
 *  - Ordinals are range-local: the range's first unit has ordinal
 *    first_ordinal (default 0). A caller that knows how many units the
 *    earlier ranges held (mp_reader_units) passes their sum to get the
 *    whole read's ordinals (and messages) exactly.
 *  - mp_reader_counts' bytes are the bytes of the range's units.
 *  - MP_EOF means the range was read whole; an I/O error or truncation
 *    after the last unit of the range is not reported (it belongs to a
 *    later range).
 *  - Paths, regular-file descriptors and memory are read from near
 *    range_start (pread/seek); a pipe, socket or callback is read from
 *    its start and what precedes the range is framed and dropped.
 *  - range_end 0 means the end of the input; range_end < range_start is
 *    MP_EINVAL; range_end == range_start (> 0) is an empty range.
 * marcpipe/split.h plans ranges cheaply (mp_split_plan_path).
 */

/* Every field spelled out so that -Wmissing-field-initializers and C++
 * accept it; all but `size` are the zero defaults. */
#define MP_READER_OPTIONS_INIT                                                                     \
    {                                                                                              \
        sizeof(mp_reader_options), MP_MODE_AUTO, 0, 0, 0, 0, MP_POLICY_REPORT, 0, 0,               \
            MP_ENCODING_AUTO, MP_UTF8_STRICT, 0, 0, NULL, NULL, NULL, MP_FORMAT_AUTO, 0, 0, 0,     \
            MP_FORMAT_AUTO, 0, 0, MP_MARC8_DOUBLE_COMBINED                                         \
    }

/* User read callback: > 0 bytes, 0 end of input, < 0 failure (set *sys_errno). */
typedef ssize_t (*mp_read_fn)(void *user, void *buf, size_t cap, int *sys_errno);

/*
 * Checks options as the open functions do, without opening anything.
 * Returns MP_OK, or MP_EINVAL and writes into msg (cap bytes, always
 * NUL-terminated when cap > 0; msg may be NULL) which field is wrong,
 * its value and what is allowed, e.g.
 * "mp_reader_options.chunk_size = 12: want 0 (default) or 64 .. 2147483648".
 * Thread-safe; `opts` may be NULL (the defaults, always valid).
 */
MP_EXPORT int mp_reader_options_check(const mp_reader_options *opts, char *msg, size_t cap);

/*
 * Open a reader. `opts` may be NULL (defaults). On success *out owns the
 * reader (close with mp_reader_close). Return MP_OK, MP_ENOENT, MP_EACCES,
 * MP_EISDIR (_path or _fd names a directory), MP_EIO, MP_EINVAL (an
 * invalid option - mp_reader_options_check says which - or argument),
 * MP_ENOMEM, MP_ETHREAD, MP_ECLOSED (opts->pool was being destroyed, see
 * pool.h) or MP_EFORKED (opts->pool was created before fork() and this is
 * the child). A format mismatch is not an open error:
 * the first mp_reader_next returns MP_EFORMAT.
 * One ownership rule for the source, whatever the mode and whether the
 * open succeeds or fails: what the reader opened itself (_path's file) it
 * closes; what the caller lends it (_fd's descriptor, _mem's bytes, _cb's
 * function and user pointer) it never closes or frees.
 *  _path: a file path ("-" is NOT stdin here; use _fd(0)).
 *  _fd:   borrowed descriptor (pipe, socket, file); not closed by the reader.
 *  _mem:  borrowed buffer.
 *  _cb:   called from a pipeline thread (sequential mode: the thread in
 *         mp_reader_next), never concurrently with itself.
 *
 * When a borrowed source may be released. The reader uses the descriptor,
 * the buffer, the function and the user pointer from the open call until
 * mp_reader_close returns, and never after: once close has returned, the
 * caller may close the descriptor (and its number may be reused at once by
 * the next open(), pipe() or socket()), free or change the buffer, and
 * destroy whatever `user` points to. Before that it must not: a pipeline
 * reads ahead on its own threads, so the source is in use between calls
 * too, not only inside mp_reader_next. A failed open has not used the
 * source once it returns.
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
 * partly parsed, NULL for skipped spans and for a record that could not
 * be indexed for lack of memory (kind MP_EK_MEMORY: only that record is
 * lost, the stream goes on). MP_EOF: the whole input was consumed. Other
 * codes (MP_EIO, MP_ESTOPPED, MP_ELIMIT, MP_ENOMEM, MP_EFORKED,
 * MP_EFORMAT): the stream is over; mp_reader_error() says where. *rec is
 * borrowed until the next call.
 */
MP_EXPORT int mp_reader_next(mp_reader *r, const mp_record **rec);

/* As mp_reader_next, but returns MP_EAGAIN after timeout_ms (>= 0)
 * without consuming anything (for Ctrl-C-aware bindings). */
MP_EXPORT int mp_reader_next_timeout(mp_reader *r, const mp_record **rec, int timeout_ms);

/* The format being read: options.format, or what detection found
 * (MP_FORMAT_AUTO until the first mp_reader_next has returned an item or
 * the end). Consumer thread. */
MP_EXPORT mp_format mp_reader_format(const mp_reader *r);

/* The last error item / failure; borrowed until the next call. */
MP_EXPORT const mp_error_info *mp_reader_error(const mp_reader *r);

/*
 * The bytes of the unit the last error item describes - a skipped span
 * (JUNK, TRUNCATED, TOO_BIG) or the damaged record's raw bytes - as read
 * from the input, mp_error_info.length of them. Borrowed until the next
 * call on the reader. NULL with *len = 0 when the last failure is not an
 * item (I/O errors, MP_ESTOPPED, ...) or nothing failed yet. len may be NULL.
 */
MP_EXPORT const unsigned char *mp_reader_error_data(const mp_reader *r, size_t *len);

/* Counts so far: good records delivered, error items (also skipped ones), bytes consumed
 * (the bytes of the units read; for MARCXML, MARC-in-JSON and MARCMaker the
 * records and error spans, not the document structure around them). */
MP_EXPORT void mp_reader_counts(const mp_reader *r, uint64_t *records, uint64_t *errors,
                                uint64_t *bytes);

/*
 * All counts so far, warnings apart from errors. `size` lets the struct
 * grow: callers set it to sizeof(mp_counts) (MP_COUNTS_INIT does); the
 * reader fills the fields that fit and leaves the rest alone.
 */
typedef struct mp_counts {
    size_t size;                    /* sizeof(mp_counts) as the caller compiled it */
    uint64_t records;               /* good records delivered (with or without warnings) */
    uint64_t errors;                /* error items, also those skipped by MP_POLICY_SKIP */
    uint64_t bytes;                 /* stream bytes consumed */
    uint64_t warnings;              /* warnings on good records (not on error items) */
    uint64_t records_with_warnings; /* good records with at least one warning */
    uint64_t warnings_by_kind[32];  /* warnings by mp_error_kind (< MP_EK_COUNT <= 32) */
} mp_counts;

#define MP_COUNTS_INIT                                                                             \
    {                                                                                              \
        sizeof(mp_counts), 0, 0, 0, 0, 0,                                                          \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

/* Fills *out (see mp_counts). Same thread rule as mp_reader_counts: the
 * consumer's thread, or any thread once it no longer calls next(). */
MP_EXPORT void mp_reader_get_counts(const mp_reader *r, mp_counts *out);

/* Units read so far: records and error items, delivered, skipped (policy)
 * or dropped (record_fn) - the next unit's ordinal minus first_ordinal. */
MP_EXPORT uint64_t mp_reader_units(const mp_reader *r);
/* Per-stage counters and which path ran (mode, mode_reason, workers); any
 * thread while running. In sequential mode the stage counters are zero
 * except the consumer's items (records delivered) and bytes. */
MP_EXPORT void mp_reader_stats(const mp_reader *r, mp_stats *out);

/*
 * Stops the pipeline, waits until none of its threads is inside it, and
 * frees everything (records and error info it returned included). Any
 * time; NULL ok; from the reader's consumer thread (not concurrently with
 * another call on the same reader). When it returns, the reader no longer
 * uses its source (see "When a borrowed source may be released" above).
 *
 * How long it takes: a descriptor is polled in slices of at most 50 ms,
 * so closing a reader whose producer waits on a quiet pipe or socket
 * returns within about 50 ms. A user callback (mp_reader_open_cb) is
 * never interrupted: close waits until the call in progress returns, so
 * close blocks as long as the callback blocks. A callback that can block
 * for long (a network read) should give up by itself (a timeout, or a
 * flag the caller sets before closing) - or the caller closes the reader
 * from a thread that may wait.
 *
 * fork(): the child of a process that forked gets copies of its readers
 * and pools, but not their threads. In the child, every reader and pool
 * created before the fork is unusable: mp_reader_next returns MP_EFORKED
 * (mp_reader_error says so), opening a reader on such a pool returns
 * MP_EFORKED; mp_reader_close and mp_pool_destroy return at once, close
 * the file a path reader opened and unlink the reader from its pool, but
 * free no memory the parent's threads may have been changing at the
 * moment of the fork (it stays allocated in the child). Readers and pools
 * the child creates itself work normally. marcpipe registers liburcu-bp's
 * fork handlers (urcu_bp_before_fork & co.) with pthread_atfork on first
 * use; a program must not register them a second time.
 */
MP_EXPORT void mp_reader_close(mp_reader *r);

#ifdef __cplusplus
}
#endif
#endif
