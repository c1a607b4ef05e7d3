/*
 * seq.c - the reader's sequential mode (MP_MODE_SEQUENTIAL).
 *
 * One growing window over the input, the pipeline's own frame() and
 * parse_item() run inline, one arena reset per record: no threads, no
 * per-record allocation. A memory source is read in place (zero-copy).
 * It is the parity oracle of the pipeline, so it must frame exactly as
 * the scanner does: it calls frame() with whatever it has, reads more on
 * NEED, and passes MP_FINAL_EOF once the source has ended (or failed).
 */
#include <string.h>
#include "alloc.h"
#include "format.h"
#include "marc.h"

#define MP__SEQ_READ (256u * 1024) /* initial window and read size */

/* Makes at least `need` unconsumed bytes available, or sets eof. */
static int mp__seq_fill(mp__seq *s, size_t need)
{
    if (s->src->kind == MP__SRC_MEM) {
        s->eof = 1;
        return 0;
    }
    if (s->start + need > s->cap || s->cap - s->end < s->cap / 4) {
        size_t have = s->end - s->start;
        memmove(s->buf, s->buf + s->start, have);
        s->win_off += s->start;
        s->start = 0;
        s->end = have;
        if (need > s->cap) {
            size_t ncap = s->cap * 2 > need ? s->cap * 2 : need;
            unsigned char *nb = mp__realloc(s->buf, ncap);
            if (!nb)
                return MP_ENOMEM;
            s->buf = nb;
            s->win = nb;
            s->cap = ncap;
        }
    }
    while (s->end - s->start < need && !s->eof) {
        int se = 0;
        ssize_t n = mp__src_read(s->src, s->buf + s->end, s->cap - s->end, &se, NULL);
        if (n > 0) {
            s->end += (size_t)n;
        } else {
            s->eof = 1;
            if (n < 0) {
                s->io_status = (int)n;
                s->io_errno = se;
                s->io_off = s->win_off + s->end;
            }
        }
    }
    return 0;
}

int mp__seq_init(mp__seq *s, mp__marc_fmt *fmt, mp__consumer *con, mp__src *src,
                 const mp__seq_range *range)
{
    memset(s, 0, sizeof *s);
    s->fmt = fmt;
    s->con = con;
    s->src = src;
    s->range = *range;
    s->ordinal = range->first_ordinal;
    mp__arena_init(&s->arena, 64 * 1024);
    if (src->kind == MP__SRC_MEM) {
        s->win = src->mem;
        s->end = src->mem_len;
        s->start = range->resync < src->mem_len ? (size_t)range->resync : src->mem_len;
        s->eof = 1;
        return MP_OK;
    }
    s->win_off = range->resync;
    /* A small input needs no 256 KiB window (one read returns it all, the
     * second returns 0); buffers come from the cache (alloc.h). */
    s->cap = MP__SEQ_READ;
    if (range->size_hint >= 0 && (uint64_t)range->size_hint + 1 < s->cap)
        s->cap = range->size_hint + 1 < 4096 ? 4096 : (size_t)range->size_hint + 1;
    s->buf = mp__buf_get(s->cap);
    if (!s->buf) {
        mp__arena_free(&s->arena);
        return MP_ENOMEM;
    }
    s->win = s->buf;
    return MP_OK;
}

int mp__seq_next(mp__seq *s, const mp_record **rec)
{
    int rc;
    if (!s->fmt->resolved || s->fmt->mismatch) {
        /* The first bytes decide the format (blocking read of the lead-in). */
        rc = mp__fmt_resolve(s->fmt, s->src, NULL);
        s->con->format = s->fmt->format;
        if (rc < 0)
            return mp__consumer_end(s->con, rc, 0, 0);
    }
    for (;;) {
        size_t avail = s->end - s->start;
        if (s->range.until && s->win_off + s->start >= s->range.until)
            return mp__consumer_end(s->con, MP_EOF, 0, 0); /* the range is read */
        if (avail == 0) {
            if (s->eof)
                return mp__consumer_end(s->con, s->io_status ? s->io_status : MP_EOF, s->io_errno,
                                        s->io_status ? s->io_off : s->win_off + s->end);
            if ((rc = mp__seq_fill(s, 1)) < 0)
                return mp__consumer_end(s->con, rc, 0, s->win_off + s->end);
            continue;
        }
        mp__frame f = {0, 0};
        mp__frame_rc fr = mp__fmt_frame(s->fmt, s->win + s->start, avail,
                                        s->eof ? MP_FINAL_EOF : MP_FINAL_NO, &f);
        if (fr == MP_FRAME_NEED) {
            if ((rc = mp__seq_fill(s, f.len)) < 0)
                return mp__consumer_end(s->con, rc, 0, s->win_off + s->end);
            continue;
        }
        if (fr == MP_FRAME_IGNORE) { /* document structure between units */
            s->start += f.len ? f.len : 1;
            continue;
        }
        if (s->win_off + s->start < s->range.from) {
            s->start += f.len; /* before the range: framed only to find its first unit */
            continue;
        }
        mp__item *it = &s->item;
        memset(it, 0, sizeof *it);
        it->data = s->win + s->start;
        it->len = (uint32_t)f.len;
        it->type = fr == MP_FRAME_RECORD ? MP_ITEM_RECORD : MP_ITEM_SKIP;
        it->frame_kind = f.kind;
        it->offset = s->win_off + s->start;
        it->ordinal = s->ordinal++;
        s->start += f.len;
        if (it->type == MP_ITEM_RECORD) {
            mp__arena_reset(&s->arena);
            if ((rc = mp__fmt_parse_item(s->fmt, it, &s->arena)) < 0) {
                /* As in the pipeline: this record's error item, not the end. */
                mp__arena_reset(&s->arena);
                it->result = NULL;
                it->status = rc;
            }
        }
        int d = mp__consumer_item(s->con, it, rec, &rc);
        if (d == 1)
            return rc;
        if (d < 0)
            return d;
    }
}

void mp__seq_free(mp__seq *s)
{
    mp__arena_free(&s->arena);
    mp__buf_put(s->buf, s->cap);
    s->buf = NULL;
}
