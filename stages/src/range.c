/*
 * range.c - byte ranges of ISO 2709 input: finding anchors around an
 * offset (stages/FRAMING.md, "Anchors" and "Byte ranges") and planning
 * splits (marcpipe/split.h).
 *
 * An anchor is a position q whose previous byte is a record terminator
 * and which starts a plausible leader (mp__marc_anchor). The framer never
 * lets a unit contain one, so every anchor starts a unit of the
 * whole-input framing: a reader may start framing at any anchor and find
 * the same units the whole-input read finds from there on. Searches read
 * the source at chosen offsets (mp__src_pread) in blocks, never through.
 * Everything here runs on the caller's thread, before any pipeline starts.
 */
#include <string.h>
#include "alloc.h"
#include "marc.h"
#include <marcpipe/split.h>

#define MP__ANCHOR_BLOCK (64u * 1024) /* most bytes read per search step */
#define MP__ANCHOR_FIRST (4u * 1024)  /* the first step: an anchor is usually a record away */

/* A search buffer: block + the 24 bytes a leader check looks past it. */
typedef struct mp__search {
    mp__src *src;
    uint64_t size; /* stream bytes */
    unsigned char *buf;
} mp__search;

static int mp__search_init(mp__search *s, mp__src *src, uint64_t size)
{
    s->src = src;
    s->size = size;
    s->buf = mp__malloc(MP__ANCHOR_BLOCK + MP__LEADER_LEN + 1);
    return s->buf ? MP_OK : MP_ENOMEM;
}

/* Reads [off, off + n) (n <= the buffer; clipped at the end). Returns the
 * bytes read (>= 0) or MP_EIO. */
static ssize_t mp__search_read(mp__search *s, uint64_t off, size_t n)
{
    size_t got = 0;
    if (off >= s->size)
        return 0;
    if (n > s->size - off)
        n = (size_t)(s->size - off);
    while (got < n) {
        int se;
        ssize_t k = mp__src_pread(s->src, s->buf + got, n - got, off + got, &se);
        if (k < 0)
            return k;
        if (k == 0)
            break; /* the file shrank: what is there is all there is */
        got += (size_t)k;
    }
    return (ssize_t)got;
}

/*
 * The largest anchor q <= start (0 when there is none): where a reader of
 * a range starting at `start` begins framing. Reads backwards in steps of
 * 4 KiB doubling up to 64 KiB; on ordinary files the previous record's
 * terminator is in the first step.
 */
int mp__range_resync(mp__src *src, uint64_t size, uint64_t start, uint64_t *q0)
{
    mp__search s;
    int rc;
    *q0 = 0;
    if (start == 0)
        return MP_OK;
    if (start >= size) {
        *q0 = size; /* nothing begins at or after the end */
        return MP_OK;
    }
    if ((rc = mp__search_init(&s, src, size)) != MP_OK)
        return rc;
    /* Terminators r with r + 1 <= start, i.e. r < hi, from hi downwards, in
     * steps that double up to a block. */
    uint64_t hi = start;
    size_t step = MP__ANCHOR_FIRST;
    while (hi > 0) {
        uint64_t lo = hi > step ? hi - step : 0;
        step = step * 2 > MP__ANCHOR_BLOCK ? MP__ANCHOR_BLOCK : step * 2;
        ssize_t n = mp__search_read(&s, lo, (size_t)(hi - lo) + MP__LEADER_LEN + 1);
        if (n < 0) {
            rc = (int)n;
            goto out;
        }
        size_t lim = (size_t)(hi - lo) < (size_t)n ? (size_t)(hi - lo) : (size_t)n;
        while (lim > 0) {
            const unsigned char *t = memrchr(s.buf, 0x1D, lim);
            if (!t)
                break;
            size_t r = (size_t)(t - s.buf);
            if (mp__marc_anchor(t, (size_t)n - r)) {
                *q0 = lo + r + 1;
                goto out;
            }
            lim = r;
        }
        hi = lo;
    }
out:
    mp__free(s.buf);
    return rc;
}

/*
 * The first anchor q in [from, limit) (q == from == 0 counts), or
 * *q = UINT64_MAX when there is none.
 */
static int mp__range_next_anchor(mp__search *s, uint64_t from, uint64_t limit, uint64_t *q)
{
    *q = UINT64_MAX;
    if (from == 0) {
        *q = 0;
        return MP_OK;
    }
    if (limit > s->size)
        limit = s->size;
    /* Terminators r with from <= r + 1 < limit, in steps that double up to
     * a block. */
    uint64_t r0 = from - 1;
    size_t step = MP__ANCHOR_FIRST;
    while (r0 + 1 < limit) {
        size_t span = limit - 1 - r0 < step ? (size_t)(limit - 1 - r0) : step;
        step = step * 2 > MP__ANCHOR_BLOCK ? MP__ANCHOR_BLOCK : step * 2;
        ssize_t n = mp__search_read(s, r0, span + MP__LEADER_LEN + 1);
        if (n < 0)
            return (int)n;
        if (n == 0)
            break;
        size_t lim = span < (size_t)n ? span : (size_t)n, i = 0;
        while (i < lim) {
            const unsigned char *t = memchr(s->buf + i, 0x1D, lim - i);
            if (!t)
                break;
            size_t r = (size_t)(t - s->buf);
            if (mp__marc_anchor(t, (size_t)n - r)) {
                *q = r0 + r + 1;
                return MP_OK;
            }
            i = r + 1;
        }
        r0 += span;
    }
    return MP_OK;
}

/* ---- split plans -------------------------------------------------------------- */

#define MP__SPLIT_V1_SIZE   (offsetof(mp_split_options, search_limit) + sizeof(uint64_t))
#define MP__SPLIT_DEFAULT   ((uint64_t)64 << 20) /* target_bytes when neither is set */
#define MP__SPLIT_SEARCH    ((uint64_t)1 << 20)  /* search_limit default */
#define MP__SPLIT_MAX_PARTS ((uint64_t)1 << 24)

static int mp__split_plan(mp_split_plan **out, mp__src *src, const mp_split_options *opts)
{
    mp_split_options o;
    mp_split_plan *plan = NULL;
    mp__search s = {0};
    uint64_t size;
    int rc = MP_EINVAL;

    memset(&o, 0, sizeof o);
    if (opts) {
        size_t n = opts->size ? opts->size : sizeof o;
        if (n < MP__SPLIT_V1_SIZE)
            goto fail;
        memcpy(&o, opts, n < sizeof o ? n : sizeof o);
    }
    if (o.parts && o.target_bytes)
        goto fail;
    if (!mp__src_size(src, &size))
        goto fail;
    uint64_t parts = o.parts;
    if (!parts) {
        uint64_t t = o.target_bytes ? o.target_bytes : MP__SPLIT_DEFAULT;
        parts = size / t + (size % t != 0);
    }
    if (parts > size)
        parts = size; /* at most one range per byte */
    if (parts > MP__SPLIT_MAX_PARTS)
        parts = MP__SPLIT_MAX_PARTS;
    if (parts == 0)
        parts = 1;
    uint64_t limit = o.search_limit ? o.search_limit : MP__SPLIT_SEARCH;

    rc = MP_ENOMEM;
    plan = mp__calloc(1, sizeof *plan);
    if (!plan)
        goto fail;
    plan->ranges = mp__calloc((size_t)parts, sizeof *plan->ranges);
    if (!plan->ranges)
        goto fail;
    if ((rc = mp__search_init(&s, src, size)) != MP_OK)
        goto fail;
    plan->input_size = size;
    plan->count = 1;
    plan->ranges[0].start = 0;
    for (uint64_t k = 1; k < parts; k++) {
        /* k * size / parts without overflow: size < 2^64, parts < 2^24 */
        uint64_t cut = (size / parts) * k + (size % parts) * k / parts, q;
        uint64_t stop = limit < size - cut ? cut + limit : size;
        if ((rc = mp__range_next_anchor(&s, cut, stop, &q)) != MP_OK)
            goto fail;
        if (q == UINT64_MAX && stop == size)
            break; /* no anchor up to the end: the last range runs to it */
        if (q == UINT64_MAX)
            q = cut; /* no anchor near: the range's reader resynchronises */
        if (q <= plan->ranges[plan->count - 1].start || q >= size)
            continue; /* same anchor as the previous cut */
        plan->ranges[plan->count - 1].end = q;
        plan->ranges[plan->count++].start = q;
    }
    plan->ranges[plan->count - 1].end = size;
    mp__free(s.buf);
    *out = plan;
    return MP_OK;
fail:
    mp__free(s.buf);
    mp_split_plan_free(plan);
    return rc;
}

MP_EXPORT int mp_split_plan_path(mp_split_plan **out, const char *path,
                                 const mp_split_options *opts)
{
    mp__src src;
    int rc;
    if (!out)
        return MP_EINVAL;
    *out = NULL;
    if ((rc = mp__src_path(&src, path)) != MP_OK)
        return rc;
    rc = mp__split_plan(out, &src, opts);
    mp__src_close(&src);
    return rc;
}

MP_EXPORT int mp_split_plan_fd(mp_split_plan **out, int fd, const mp_split_options *opts)
{
    mp__src src;
    int rc;
    if (!out)
        return MP_EINVAL;
    *out = NULL;
    if ((rc = mp__src_fd(&src, fd)) != MP_OK)
        return rc;
    return mp__split_plan(out, &src, opts); /* borrowed: nothing to close */
}

MP_EXPORT int mp_split_plan_mem(mp_split_plan **out, const void *data, size_t len,
                                const mp_split_options *opts)
{
    mp__src src;
    int rc;
    if (!out)
        return MP_EINVAL;
    *out = NULL;
    if ((rc = mp__src_mem(&src, data, len)) != MP_OK)
        return rc;
    return mp__split_plan(out, &src, opts);
}

MP_EXPORT void mp_split_plan_free(mp_split_plan *plan)
{
    if (!plan)
        return;
    mp__free(plan->ranges);
    mp__free(plan);
}
