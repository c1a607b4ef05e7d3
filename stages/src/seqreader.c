/*
 * seqreader.c - the single-threaded sequential reader (marcpipe/seqreader.h).
 *
 * One growing window over the input, the pipeline's own frame() and
 * parse_item() run inline, one arena reset per record: no threads, no
 * per-record allocation. A memory source is read in place (zero-copy).
 * It is the parity oracle of the pipeline, so it must frame exactly as
 * the scanner does: it calls frame() with whatever it has, reads more on
 * NEED, and passes MP_FINAL_EOF once the source has ended (or failed).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <marcpipe/seqreader.h>
#include "alloc.h"
#include "marc.h"
#include "source.h"

#define MP__SEQ_READ (256u * 1024) /* initial window and read size */

struct mp_seqreader {
    mp__marc_fmt fmt;
    mp__consumer con;
    mp__src src;
    unsigned char *buf;       /* owned window buffer (NULL for memory input) */
    const unsigned char *win; /* window: buf, or the caller's memory */
    size_t cap;               /* buf capacity */
    size_t start, end;        /* unconsumed bytes: win[start..end) */
    uint64_t win_off;         /* stream offset of win[0] */
    int eof;                  /* source ended (or failed) */
    int io_status, io_errno;  /* failure behind eof, 0 at a clean end */
    uint64_t io_off;          /* stream offset of the failure */
    uint64_t ordinal;         /* next unit ordinal */
    mp__arena arena;          /* index of the current record */
    mp__item item;            /* the current item */
};

/* Makes at least `need` unconsumed bytes available, or sets eof. */
static int mp__seq_fill(mp_seqreader *r, size_t need)
{
    if (r->src.kind == MP__SRC_MEM) {
        r->eof = 1;
        return 0;
    }
    if (r->start + need > r->cap || r->cap - r->end < r->cap / 4) {
        size_t have = r->end - r->start;
        memmove(r->buf, r->buf + r->start, have);
        r->win_off += r->start;
        r->start = 0;
        r->end = have;
        if (need > r->cap) {
            size_t ncap = r->cap * 2 > need ? r->cap * 2 : need;
            unsigned char *nb = mp__realloc(r->buf, ncap);
            if (!nb)
                return MP_ENOMEM;
            r->buf = nb;
            r->win = nb;
            r->cap = ncap;
        }
    }
    while (r->end - r->start < need && !r->eof) {
        int se = 0;
        ssize_t n = mp__src_read(&r->src, r->buf + r->end, r->cap - r->end, &se, NULL);
        if (n > 0) {
            r->end += (size_t)n;
        } else {
            r->eof = 1;
            if (n < 0) {
                r->io_status = (int)n;
                r->io_errno = se;
                r->io_off = r->win_off + r->end;
            }
        }
    }
    return 0;
}

static int mp__seq_open(mp_seqreader **out, const mp_reader_options *opts, mp__src *src)
{
    mp_seqreader *r = NULL;
    int rc;
    if (!out)
        return MP_EINVAL;
    *out = NULL;
    r = mp__calloc(1, sizeof *r);
    if (!r)
        return MP_ENOMEM;
    if ((rc = mp__marc_fmt_init(&r->fmt, opts)) < 0)
        goto fail;
    mp__consumer_init(&r->con, opts);
    mp__arena_init(&r->arena, 64 * 1024);
    r->src = *src;
    if (src->kind == MP__SRC_MEM) {
        r->win = src->mem;
        r->end = src->mem_len;
        r->eof = 1;
    } else {
        r->cap = MP__SEQ_READ;
        r->buf = mp__malloc(r->cap);
        if (!r->buf) {
            rc = MP_ENOMEM;
            goto fail;
        }
        r->win = r->buf;
    }
    *out = r;
    return MP_OK;
fail:
    mp__arena_free(&r->arena);
    mp__free(r);
    return rc;
}

MP_EXPORT int mp_seqreader_open_path(mp_seqreader **out, const char *path,
                                     const mp_reader_options *opts)
{
    mp__src s;
    int rc = mp__src_path(&s, path);
    if (rc < 0)
        return rc;
    rc = mp__seq_open(out, opts, &s);
    if (rc < 0)
        mp__src_close(&s);
    return rc;
}

MP_EXPORT int mp_seqreader_open_fd(mp_seqreader **out, int fd, const mp_reader_options *opts)
{
    mp__src s;
    int rc = mp__src_fd(&s, fd);
    return rc < 0 ? rc : mp__seq_open(out, opts, &s);
}

MP_EXPORT int mp_seqreader_open_mem(mp_seqreader **out, const void *data, size_t len,
                                    const mp_reader_options *opts)
{
    mp__src s;
    int rc = mp__src_mem(&s, data, len);
    return rc < 0 ? rc : mp__seq_open(out, opts, &s);
}

MP_EXPORT int mp_seqreader_open_cb(mp_seqreader **out, mp_read_fn fn, void *user,
                                   const mp_reader_options *opts)
{
    mp__src s;
    int rc = mp__src_cb(&s, fn, user);
    return rc < 0 ? rc : mp__seq_open(out, opts, &s);
}

MP_EXPORT int mp_seqreader_next(mp_seqreader *r, const mp_record **rec)
{
    int rc;
    if (!r || !rec)
        return MP_EINVAL;
    *rec = NULL;
    if ((rc = mp__consumer_check(&r->con)) != 0)
        return rc;
    for (;;) {
        size_t avail = r->end - r->start;
        if (avail == 0) {
            if (r->eof)
                return mp__consumer_end(&r->con, r->io_status ? r->io_status : MP_EOF, r->io_errno,
                                        r->io_off);
            if ((rc = mp__seq_fill(r, 1)) < 0)
                return mp__consumer_end(&r->con, rc, 0, r->win_off + r->end);
            continue;
        }
        mp__frame f = {0, 0};
        mp__frame_rc fr = mp__marc_frame(&r->fmt, r->win + r->start, avail,
                                         r->eof ? MP_FINAL_EOF : MP_FINAL_NO, &f);
        if (fr == MP_FRAME_NEED) {
            if ((rc = mp__seq_fill(r, f.len)) < 0)
                return mp__consumer_end(&r->con, rc, 0, r->win_off + r->end);
            continue;
        }
        mp__item *it = &r->item;
        memset(it, 0, sizeof *it);
        it->data = r->win + r->start;
        it->len = (uint32_t)f.len;
        it->type = fr == MP_FRAME_RECORD ? MP_ITEM_RECORD : MP_ITEM_SKIP;
        it->frame_kind = f.kind;
        it->offset = r->win_off + r->start;
        it->ordinal = r->ordinal++;
        r->start += f.len;
        if (it->type == MP_ITEM_RECORD) {
            mp__arena_reset(&r->arena);
            if ((rc = mp__marc_parse_item(&r->fmt, it, &r->arena)) < 0)
                return mp__consumer_end(&r->con, rc, 0, it->offset);
        }
        int d = mp__consumer_item(&r->con, it, rec, &rc);
        if (d == 1)
            return rc;
        if (d < 0)
            return d;
    }
}

MP_EXPORT const mp_error_info *mp_seqreader_error(const mp_seqreader *r)
{
    return r ? &r->con.info : NULL;
}

MP_EXPORT void mp_seqreader_counts(const mp_seqreader *r, uint64_t *records, uint64_t *errors,
                                   uint64_t *bytes)
{
    if (records)
        *records = r ? r->con.records : 0;
    if (errors)
        *errors = r ? r->con.errors : 0;
    if (bytes)
        *bytes = r ? r->con.bytes : 0;
}

MP_EXPORT void mp_seqreader_close(mp_seqreader *r)
{
    if (!r)
        return;
    mp__src_close(&r->src);
    mp__arena_free(&r->arena);
    mp__free(r->buf);
    mp__free(r);
}
