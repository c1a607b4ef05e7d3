/*
 * reader.c - the reader (marcpipe/reader.h): one handle, two modes.
 *
 * Pipeline mode plugs the input format (format.h: ISO 2709, MARCXML,
 * MARC-in-JSON or MARCMaker, detected from the first bytes unless named)
 * and a source (source.h) into the core pipeline (pipe.h) and turns its
 * chunks into records and error items on the consumer's thread. Sequential mode
 * (seq.c) runs the same frame() and parse_item() inline on the caller's
 * thread. Both feed the same consumer (consumer.c), so both give the same
 * items, codes and positions. In pipeline mode the consumer holds at most one chunk:
 * the one whose items it is walking; it releases it when it moves past
 * its last item, which is also when the record it returned last stops
 * being valid.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "alloc.h"
#include "ec.h"
#include "fork.h"
#include "format.h"
#include "marc.h"
#include "source.h"
#include "write_internal.h"

struct mp_reader {
    mp__marc_fmt fmt;      /* written by open; read-only afterwards (workers read it) */
    mp__src src;           /* the producer task's (pipeline) or the consumer's (sequential) */
    mp__consumer con;      /* consumer thread only */
    mp__pipe *pipe;        /* pipeline mode, NULL in sequential mode */
    mp__chunk *cur;        /* chunk being walked (one reference held), consumer only */
    uint32_t idx;          /* next item of cur */
    mp__seq seq;           /* sequential mode state, consumer thread only */
    unsigned gen;          /* fork generation at open; read-only */
    mp_reader_mode mode;   /* the path that runs (never AUTO); set by open */
    mp_mode_reason reason; /* why; set by open */
};

/* CPUs this thread may use: its affinity mask and the process's cgroup
 * CPU quota (mp_cpus_usable: one system call; the quota is read once). */
static unsigned mp__usable_cpus(void)
{
    return mp_cpus_usable();
}

/*
 * The default chunk size: a quarter of the L2 cache (as a power of two,
 * 128 KiB .. 512 KiB), so that the chunk a thread reads, scans and parses
 * and the index it builds (about half as large) stay in that core's L2
 * between the read and the parse, with room left for the records the
 * consumer is walking; and so that a new reader's buffers (T chunks and
 * their indexes, first-touched page by page) stay a few MiB. 512 KiB when
 * the size is not reported. Not smaller: every chunk costs a fixed number
 * of cache-line hand-offs between cores (rings, tokens, counters), ~8 µs a
 * chunk where a hand-off takes 250 ns (perf/PERFORMANCE.md, "A machine
 * whose cores are far apart"): an eighth of a 1 MiB L2 (128 KiB) cost 7 %
 * more CPU than a quarter there.
 * Computed once (a racing first computation stores the same value).
 */
static size_t mp__default_chunk(void)
{
    static _Atomic size_t cached;
    /* relaxed: an idempotent memo of a pure function of the machine */
    size_t c = atomic_load_explicit(&cached, memory_order_relaxed);
    if (c)
        return c;
    long l2 = 0;
#ifdef _SC_LEVEL2_CACHE_SIZE
    l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    c = MP__DEFAULT_CHUNK;
    if (l2 > 0) {
        c = MP__MIN_DEFAULT_CHUNK;
        while (c * 2 <= (size_t)l2 / 4 && c * 2 <= MP__DEFAULT_CHUNK)
            c *= 2;
    }
    /* relaxed: see above */
    atomic_store_explicit(&cached, c, memory_order_relaxed);
    return c;
}

/* MP_MODE_AUTO's choice (reader.h): the path and the reason. `bytes`: what
 * the read will cover when known (the range's part of a sized source), or
 * -1 (a stream). */
static mp_reader_mode mp__auto_mode(int64_t bytes, mp_mode_reason *why)
{
    if (mp__usable_cpus() < 2) {
        *why = MP_MODE_REASON_ONE_CPU;
        return MP_MODE_SEQUENTIAL;
    }
    if (bytes < 0) {
        *why = MP_MODE_REASON_STREAM;
        return MP_MODE_PIPELINE;
    }
    if ((uint64_t)bytes < MP_AUTO_MIN_PIPELINE_BYTES) {
        *why = MP_MODE_REASON_SMALL_INPUT;
        return MP_MODE_SEQUENTIAL;
    }
    *why = MP_MODE_REASON_LARGE_INPUT;
    return MP_MODE_PIPELINE;
}

/* The first release's struct ended with `pool`: nothing shorter exists. */
#define MP__OPTIONS_V1_SIZE (offsetof(mp_reader_options, pool) + sizeof(mp_pool *))

/* Messages are cut to the caller's buffer on purpose. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

/* MP_EINVAL with "mp_reader_options.FIELD = VALUE: WANT" in msg. */
static int mp__bad_option(char *msg, size_t cap, const char *field, unsigned long long value,
                          const char *want)
{
    if (msg && cap)
        snprintf(msg, cap, "mp_reader_options.%s = %llu: %s", field, value, want);
    return MP_EINVAL;
}

/* Every rule on option values, in one place: the open functions and
 * mp_reader_options_check apply it to the copied options. */
static int mp__options_validate(const mp_reader_options *o, char *msg, size_t cap)
{
    if ((unsigned)o->mode > MP_MODE_SEQUENTIAL)
        return mp__bad_option(msg, cap, "mode", (unsigned)o->mode,
                              "want MP_MODE_AUTO (0), MP_MODE_PIPELINE (1) or "
                              "MP_MODE_SEQUENTIAL (2)");
    if (o->chunk_size && (o->chunk_size < 64 || o->chunk_size > ((size_t)1 << 31)))
        return mp__bad_option(msg, cap, "chunk_size", o->chunk_size,
                              "want 0 (default 512 KiB) or 64 .. 2147483648");
    if (o->max_record_size && (o->max_record_size < 64 || o->max_record_size > (size_t)UINT32_MAX))
        return mp__bad_option(msg, cap, "max_record_size", o->max_record_size,
                              "want 0 (default 8 MiB) or 64 .. 4294967295");
    if ((unsigned)o->policy > MP_POLICY_SKIP)
        return mp__bad_option(
            msg, cap, "policy", (unsigned)o->policy,
            "want MP_POLICY_REPORT (0), MP_POLICY_STOP (1) or MP_POLICY_SKIP (2)");
    if ((unsigned)o->encoding > MP_ENCODING_RAW)
        return mp__bad_option(msg, cap, "encoding", (unsigned)o->encoding,
                              "want MP_ENCODING_AUTO (0), _UTF8 (1), _MARC8 (2) or _RAW (3)");
    if ((unsigned)o->utf8_handling > MP_UTF8_IGNORE)
        return mp__bad_option(msg, cap, "utf8_handling", (unsigned)o->utf8_handling,
                              "want MP_UTF8_STRICT (0), _REPLACE (1) or _IGNORE (2)");
    if (o->threads > MP__MAX_THREADS)
        return mp__bad_option(msg, cap, "threads", o->threads, "want 0 (one per CPU) .. 1024");
    if (o->chunks_in_flight > MP__MAX_CHUNKS)
        return mp__bad_option(msg, cap, "chunks_in_flight", o->chunks_in_flight,
                              "want 0 (default) .. 1048576");
    if ((unsigned)o->format > MP_FORMAT_MRK && o->format != MP_FORMAT_NDJSON)
        return mp__bad_option(msg, cap, "format", (unsigned)o->format,
                              "want MP_FORMAT_AUTO (0), _ISO2709 (1), _MARCXML (2), _JSON (3), "
                              "_MRK (4) or _NDJSON (5, read as JSON)");
    /* Byte ranges start at ISO 2709 anchors (FRAMING.md): the text
     * formats are read whole. */
    if ((o->range_start || o->range_end) && o->format != MP_FORMAT_AUTO &&
        o->format != MP_FORMAT_ISO2709)
        return mp__bad_option(msg, cap, "format", (unsigned)o->format,
                              "byte ranges (range_start, range_end) read ISO 2709 only");
    if (o->range_end != 0 && o->range_end < o->range_start)
        return mp__bad_option(msg, cap, "range_end", o->range_end,
                              "want 0 (to the end) or >= range_start");
    if (o->output_format != MP_FORMAT_AUTO && !mp__write_format_ok(o->output_format))
        return mp__bad_option(msg, cap, "output_format", (unsigned)o->output_format,
                              "want 0 (none) or an output mp_format (write.h)");
    if (o->output_flags & ~MP_WRITE_FLAGS_ALL)
        return mp__bad_option(msg, cap, "output_flags", o->output_flags,
                              "want MP_WRITE_* flags only");
    if ((unsigned)o->marc8_double > MP_MARC8_DOUBLE_HALVES)
        return mp__bad_option(msg, cap, "marc8_double", (unsigned)o->marc8_double,
                              "want MP_MARC8_DOUBLE_COMBINED (0) or MP_MARC8_DOUBLE_HALVES (1)");
    if (msg && cap)
        msg[0] = '\0';
    return MP_OK;
}

int mp__reader_options_copy(mp_reader_options *out, const mp_reader_options *opts)
{
    memset(out, 0, sizeof *out);
    if (!opts)
        return MP_OK;
    size_t n = opts->size ? opts->size : sizeof *out;
    if (n < MP__OPTIONS_V1_SIZE)
        return MP_EINVAL;
    memcpy(out, opts, n < sizeof *out ? n : sizeof *out);
    out->size = sizeof *out;
    return mp__options_validate(out, NULL, 0);
}

MP_EXPORT int mp_reader_options_check(const mp_reader_options *opts, char *msg, size_t cap)
{
    mp_reader_options o;
    if (msg && cap)
        msg[0] = '\0';
    if (opts && opts->size && opts->size < MP__OPTIONS_V1_SIZE) {
        if (msg && cap)
            snprintf(msg, cap,
                     "mp_reader_options.size = %zu: want sizeof(mp_reader_options) (%zu) or 0",
                     opts->size, sizeof o);
        return MP_EINVAL;
    }
    memset(&o, 0, sizeof o);
    if (opts) {
        size_t n = opts->size ? opts->size : sizeof o;
        memcpy(&o, opts, n < sizeof o ? n : sizeof o);
    }
    return mp__options_validate(&o, msg, cap);
}

/* The producer's source: the first read detects the format (the
 * lead-in is read then, on the producer's thread, so opening never
 * blocks on a quiet pipe) before any chunk reaches the scanner. */
static ssize_t mp__reader_read(void *rv, unsigned char *buf, size_t cap, int *sys_errno,
                               const mp__pipe *pipe)
{
    mp_reader *r = rv;
    *sys_errno = 0;
    int rc = mp__fmt_resolve(&r->fmt, &r->src, pipe);
    if (rc < 0)
        return rc;
    return mp__src_read(&r->src, buf, cap, sys_errno, pipe);
}

static ssize_t mp__reader_map(void *rv, size_t cap, const unsigned char **data, int *sys_errno,
                              const mp__pipe *pipe)
{
    mp_reader *r = rv;
    (void)pipe;
    *sys_errno = 0;
    if (r->fmt.mismatch) /* memory inputs are detected at open */
        return MP_EFORMAT;
    return mp__src_map(&r->src, cap, data, sys_errno);
}

static void mp__reader_src_close(void *rv)
{
    mp__src_close(&((mp_reader *)rv)->src);
}

static int mp__reader_open(mp_reader **out, const mp_reader_options *user_opts, mp__src *src)
{
    mp_reader_options o;
    mp_reader *r = NULL;
    int rc;
    if (!out) {
        rc = MP_EINVAL;
        goto fail;
    }
    *out = NULL;
    if ((rc = mp__reader_options_copy(&o, user_opts)) < 0)
        goto fail;
    size_t chunk = o.chunk_size ? o.chunk_size : mp__default_chunk();
    /* The limits are checked before anything is allocated (4 chunks per
     * thread would be): mp__reader_options_copy did. */
    r = mp__calloc(1, sizeof *r);
    if (!r) {
        rc = MP_ENOMEM;
        goto fail;
    }
    if ((rc = mp__marc_fmt_init(&r->fmt, &o)) < 0)
        goto fail;
    if ((o.range_start || o.range_end) && r->fmt.requested == MP_FORMAT_AUTO) {
        /* Ranges are ISO 2709's: a text input gets the mismatch error. */
        r->fmt.requested = MP_FORMAT_ISO2709;
        r->fmt.format = MP_FORMAT_ISO2709;
    }
    if (o.format == MP_FORMAT_AUTO || o.format == MP_FORMAT_MARCXML)
        mp__xml_global_init();
    mp__consumer_init(&r->con, &o, &r->fmt);
    /* A byte range starts framing at the last anchor at or before its
     * start (FRAMING.md, "Byte ranges"); a source that cannot seek is
     * framed from its start, and what precedes the range is dropped. */
    mp__seq_range range = {0, o.range_start, o.range_end, o.first_ordinal, -1};
    uint64_t size;
    int sized =
        (o.range_start || o.range_end || o.mode == MP_MODE_AUTO) && mp__src_size(src, &size);
    if (sized && (o.range_start || o.range_end)) {
        if ((rc = mp__range_resync(src, size, o.range_start, &range.resync)) < 0)
            goto fail;
        if (range.resync && (rc = mp__src_seek(src, range.resync)) < 0)
            goto fail;
    }
    if (sized) {
        /* What this read covers: from the resync point to the range's end. */
        uint64_t end = o.range_end && o.range_end < size ? o.range_end : size;
        range.size_hint = end > range.resync ? (int64_t)(end - range.resync) : 0;
    }
    r->src = *src;
    r->gen = mp__fork_generation();
    if (r->src.kind == MP__SRC_MEM)
        (void)mp__fmt_resolve(&r->fmt, &r->src, NULL); /* the bytes are there: no wait */

    r->mode = o.mode;
    r->reason = MP_MODE_REASON_REQUESTED;
    if (o.mode == MP_MODE_AUTO)
        r->mode = mp__auto_mode(range.size_hint, &r->reason);
    if (r->mode == MP_MODE_SEQUENTIAL) {
        if ((rc = mp__seq_init(&r->seq, &r->fmt, &r->con, &r->src, &range)) < 0)
            goto fail;
        *out = r;
        return MP_OK;
    }

    /* chunks 0: the pipeline sizes T from the pool it reserved (4 per thread
     * that parses: its workers and the consumer); the pool is not touched
     * before that reservation. */
    unsigned chunks = o.chunks_in_flight == 1 ? 2 : o.chunks_in_flight;
    /* The consumer thread parses too while it waits (cfg.help below), so a
     * private pool needs one worker fewer than the CPUs to keep them all busy
     * without more runnable threads than CPUs. */
    unsigned threads = o.threads;
    if (!threads && !o.pool) {
        unsigned cpus = mp__usable_cpus();
        threads = cpus > 1 ? cpus - 1 : 1;
    }

    mp__pipe_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.chunk_size = chunk;
    cfg.chunks = chunks;
    cfg.max_unit = r->fmt.max_record;
    cfg.threads = threads;
    cfg.pool = o.pool;
    cfg.ordered = !o.unordered;
    /* The consumer thread works instead of sleeping while its next chunk is
     * not ready; it reads too when a read can never block it (a file or
     * memory), so a deadline (mp_reader_next_timeout) still holds. */
    cfg.help = mp__src_never_blocks(&r->src) ? MP_HELP_ALL : MP_HELP_PARSE;
    cfg.format.frame = mp__fmt_frame;
    cfg.format.parse_item = mp__fmt_parse_item;
    cfg.format.fmt = &r->fmt;
    cfg.source.read = mp__reader_read;
    if (mp__src_can_map(&r->src))
        cfg.source.map = mp__reader_map; /* memory: chunks are views of the caller's bytes */
    cfg.source.close = mp__reader_src_close;
    cfg.source.src = r;
    cfg.stream_offset = range.resync;
    cfg.emit_from = range.from;
    cfg.emit_until = range.until;
    cfg.first_ordinal = range.first_ordinal;
    if ((rc = mp__pipe_open(&r->pipe, &cfg)) < 0)
        goto fail;
    *out = r;
    return MP_OK;
fail:
    /* Nothing took the source: close it here (a no-op for borrowed ones). */
    mp__src_close(src);
    mp__free(r);
    return rc;
}

MP_EXPORT int mp_reader_open_path(mp_reader **out, const char *path, const mp_reader_options *opts)
{
    mp__src s;
    if (out)
        *out = NULL; /* also when the source cannot be opened */
    int rc = mp__src_path(&s, path);
    return rc < 0 ? rc : mp__reader_open(out, opts, &s);
}

MP_EXPORT int mp_reader_open_fd(mp_reader **out, int fd, const mp_reader_options *opts)
{
    mp__src s;
    if (out)
        *out = NULL; /* also when the source cannot be opened */
    int rc = mp__src_fd(&s, fd);
    return rc < 0 ? rc : mp__reader_open(out, opts, &s);
}

MP_EXPORT int mp_reader_open_mem(mp_reader **out, const void *data, size_t len,
                                 const mp_reader_options *opts)
{
    mp__src s;
    if (out)
        *out = NULL; /* also when the source cannot be opened */
    int rc = mp__src_mem(&s, data, len);
    return rc < 0 ? rc : mp__reader_open(out, opts, &s);
}

MP_EXPORT int mp_reader_open_cb(mp_reader **out, mp_read_fn fn, void *user,
                                const mp_reader_options *opts)
{
    mp__src s;
    if (out)
        *out = NULL; /* also when the source cannot be opened */
    int rc = mp__src_cb(&s, fn, user);
    return rc < 0 ? rc : mp__reader_open(out, opts, &s);
}

/* timeout_ms < 0: no deadline. The deadline is computed only when the call
 * has to ask the pipeline for a chunk, not for every record. */
static int mp__reader_next(mp_reader *r, const mp_record **rec, int timeout_ms)
{
    int rc, have_dl = 0;
    struct timespec dl;
    if (!r || !rec)
        return MP_EINVAL;
    *rec = NULL;
    if ((rc = mp__consumer_check(&r->con)) != 0)
        return rc;
    if (mp__forked(r->gen)) /* opened before fork(): see reader.h */
        return mp__consumer_end(&r->con, MP_EFORKED, 0, r->con.pos);
    if (!r->pipe)
        return mp__seq_next(&r->seq, rec);
    for (;;) {
        mp__chunk *c = r->cur;
        if (c) {
            while (r->idx < c->nitems) {
                const mp__item *it = &c->items[r->idx++];
                int d = mp__consumer_item(&r->con, it, rec, &rc);
                if (d == 1)
                    return rc;
                if (d < 0)
                    return d;
            }
            r->cur = NULL;
            if (c->status != 0) {
                if (!r->con.format) /* the terminal chunk came after detection */
                    r->con.format = r->fmt.format;
                rc = mp__consumer_end(&r->con, c->status, c->sys_errno, c->offset);
                mp__chunk_release(c);
                return rc;
            }
            mp__chunk_release(c);
        }
        if (timeout_ms >= 0 && !have_dl) {
            mp__deadline_in(&dl, timeout_ms);
            have_dl = 1;
        }
        rc = mp__pipe_next(r->pipe, &c, timeout_ms >= 0 ? &dl : NULL);
        if (rc == MP_EAGAIN)
            return MP_EAGAIN;
        if (rc < 0) {
            uint64_t off = 0;
            int first = mp__pipe_first_error(r->pipe, &off);
            return mp__consumer_end(&r->con, first ? first : rc, 0, first ? off : r->con.pos);
        }
        r->cur = c;
        r->idx = 0;
    }
}

MP_EXPORT int mp_reader_next(mp_reader *r, const mp_record **rec)
{
    return mp__reader_next(r, rec, -1);
}

MP_EXPORT int mp_reader_next_timeout(mp_reader *r, const mp_record **rec, int timeout_ms)
{
    return mp__reader_next(r, rec, timeout_ms < 0 ? 0 : timeout_ms);
}

MP_EXPORT mp_format mp_reader_format(const mp_reader *r)
{
    return r ? (mp_format)r->con.format : MP_FORMAT_AUTO;
}

MP_EXPORT const mp_error_info *mp_reader_error(const mp_reader *r)
{
    return r ? &r->con.info : NULL;
}

MP_EXPORT const unsigned char *mp_reader_error_data(const mp_reader *r, size_t *len)
{
    const unsigned char *p = r ? r->con.err_data : NULL;
    if (len)
        *len = p ? r->con.err_len : 0;
    return p;
}

MP_EXPORT void mp_reader_counts(const mp_reader *r, uint64_t *records, uint64_t *errors,
                                uint64_t *bytes)
{
    if (records)
        *records = r ? r->con.records : 0;
    if (errors)
        *errors = r ? r->con.errors : 0;
    if (bytes)
        *bytes = r ? r->con.bytes : 0;
}

MP_EXPORT void mp_reader_get_counts(const mp_reader *r, mp_counts *out)
{
    if (!out)
        return;
    size_t n = out->size ? out->size : sizeof *out;
    mp_counts c;
    memset(&c, 0, sizeof c);
    c.size = n < sizeof c ? n : sizeof c;
    if (r) {
        c.records = r->con.records;
        c.errors = r->con.errors;
        c.bytes = r->con.bytes;
        c.warnings = r->con.warnings;
        c.records_with_warnings = r->con.warned;
        memcpy(c.warnings_by_kind, r->con.warn_kind, sizeof c.warnings_by_kind);
    }
    memcpy(out, &c, c.size);
}

MP_EXPORT uint64_t mp_reader_units(const mp_reader *r)
{
    return r ? r->con.units : 0;
}

MP_EXPORT void mp_reader_stats(const mp_reader *r, mp_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!r)
        return;
    if (r->pipe) {
        mp__pipe_stats(r->pipe, out);
    } else {
        out->stage[MP_STAGE_CONSUMER].items = r->con.records + r->con.errors;
        out->stage[MP_STAGE_CONSUMER].bytes = r->con.bytes;
    }
    out->mode = (uint32_t)r->mode;
    out->mode_reason = (uint32_t)r->reason;
}

MP_EXPORT void mp_reader_close(mp_reader *r)
{
    if (!r)
        return;
    if (mp__forked(r->gen)) {
        /* A child of fork(): threads of the parent may have been changing
         * this reader's memory when they vanished, so it is not freed.
         * Close what the reader opened and unlink it from its pool. */
        if (r->pipe)
            mp__pipe_close(r->pipe); /* the same rule inside */
        else
            mp__src_close(&r->src);
        return;
    }
    if (r->pipe) {
        /* mp__pipe_close frees every chunk, the one held here included, and
         * closes the source. */
        mp__pipe_close(r->pipe);
    } else {
        mp__seq_free(&r->seq);
        mp__src_close(&r->src);
    }
    mp__free(r);
}
