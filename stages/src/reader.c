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
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "alloc.h"
#include "ec.h"
#include "fork.h"
#include "format.h"
#include "marc.h"
#include "source.h"

struct mp_reader {
    mp__marc_fmt fmt; /* written by open; read-only afterwards (workers read it) */
    mp__src src;      /* the producer task's (pipeline) or the consumer's (sequential) */
    mp__consumer con; /* consumer thread only */
    mp__pipe *pipe;   /* pipeline mode, NULL in sequential mode */
    mp__chunk *cur;   /* chunk being walked (one reference held), consumer only */
    uint32_t idx;     /* next item of cur */
    mp__seq seq;      /* sequential mode state, consumer thread only */
    unsigned gen;     /* fork generation at open; read-only */
};

/* The first release's struct ended with `pool`: nothing shorter exists. */
#define MP__OPTIONS_V1_SIZE (offsetof(mp_reader_options, pool) + sizeof(mp_pool *))

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
    if ((unsigned)out->mode > MP_MODE_SEQUENTIAL)
        return MP_EINVAL;
    if ((unsigned)out->format > MP_FORMAT_MRK && out->format != MP_FORMAT_NDJSON)
        return MP_EINVAL;
    /* Byte ranges start at ISO 2709 anchors (FRAMING.md): the text
     * formats are read whole. */
    if ((out->range_start || out->range_end) && out->format != MP_FORMAT_AUTO &&
        out->format != MP_FORMAT_ISO2709)
        return MP_EINVAL;
    if (out->range_end != 0 && out->range_end < out->range_start)
        return MP_EINVAL;
    return MP_OK;
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
    size_t chunk = o.chunk_size ? o.chunk_size : MP__DEFAULT_CHUNK;
    /* Checked before anything is allocated (4 chunks per thread would be). */
    if (chunk < 64 || chunk > ((size_t)1 << 31) || o.threads > MP__MAX_THREADS ||
        o.chunks_in_flight > MP__MAX_CHUNKS) {
        rc = MP_EINVAL;
        goto fail;
    }
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
    mp__seq_range range = {0, o.range_start, o.range_end, o.first_ordinal};
    uint64_t size;
    if ((o.range_start || o.range_end) && mp__src_size(src, &size)) {
        if ((rc = mp__range_resync(src, size, o.range_start, &range.resync)) < 0)
            goto fail;
        if (range.resync && (rc = mp__src_seek(src, range.resync)) < 0)
            goto fail;
    }
    r->src = *src;
    r->gen = mp__fork_generation();
    if (r->src.kind == MP__SRC_MEM)
        (void)mp__fmt_resolve(&r->fmt, &r->src, NULL); /* the bytes are there: no wait */

    if (o.mode == MP_MODE_SEQUENTIAL) {
        if ((rc = mp__seq_init(&r->seq, &r->fmt, &r->con, &r->src, &range)) < 0)
            goto fail;
        *out = r;
        return MP_OK;
    }

    /* chunks 0: the pipeline sizes T from the pool it reserved (4 per
     * worker); the pool is not touched before that reservation. */
    unsigned chunks = o.chunks_in_flight == 1 ? 2 : o.chunks_in_flight;

    mp__pipe_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.chunk_size = chunk;
    cfg.chunks = chunks;
    cfg.max_unit = r->fmt.max_record;
    cfg.threads = o.threads;
    cfg.pool = o.pool;
    cfg.ordered = !o.unordered;
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
    int rc = mp__src_path(&s, path);
    return rc < 0 ? rc : mp__reader_open(out, opts, &s);
}

MP_EXPORT int mp_reader_open_fd(mp_reader **out, int fd, const mp_reader_options *opts)
{
    mp__src s;
    int rc = mp__src_fd(&s, fd);
    return rc < 0 ? rc : mp__reader_open(out, opts, &s);
}

MP_EXPORT int mp_reader_open_mem(mp_reader **out, const void *data, size_t len,
                                 const mp_reader_options *opts)
{
    mp__src s;
    int rc = mp__src_mem(&s, data, len);
    return rc < 0 ? rc : mp__reader_open(out, opts, &s);
}

MP_EXPORT int mp_reader_open_cb(mp_reader **out, mp_read_fn fn, void *user,
                                const mp_reader_options *opts)
{
    mp__src s;
    int rc = mp__src_cb(&s, fn, user);
    return rc < 0 ? rc : mp__reader_open(out, opts, &s);
}

static int mp__reader_next(mp_reader *r, const mp_record **rec, const struct timespec *deadline)
{
    int rc;
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
        rc = mp__pipe_next(r->pipe, &c, deadline);
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
    return mp__reader_next(r, rec, NULL);
}

MP_EXPORT int mp_reader_next_timeout(mp_reader *r, const mp_record **rec, int timeout_ms)
{
    struct timespec dl;
    mp__deadline_in(&dl, timeout_ms < 0 ? 0 : timeout_ms);
    return mp__reader_next(r, rec, &dl);
}

MP_EXPORT mp_format mp_reader_format(const mp_reader *r)
{
    return r ? (mp_format)r->con.format : MP_FORMAT_AUTO;
}

MP_EXPORT const mp_error_info *mp_reader_error(const mp_reader *r)
{
    return r ? &r->con.info : NULL;
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

MP_EXPORT uint64_t mp_reader_units(const mp_reader *r)
{
    return r ? r->con.units : 0;
}

MP_EXPORT void mp_reader_stats(const mp_reader *r, mp_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (r && r->pipe)
        mp__pipe_stats(r->pipe, out);
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
