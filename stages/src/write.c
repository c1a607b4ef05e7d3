/*
 * write.c - writing records (marcpipe/write.h): the sink, dispatch to the
 * serialisers, the parser workers' output hook, mp_writer and mp_convert.
 *
 * Where the work happens: with reader option output_format, every record
 * is serialised by the worker that parsed it (mp__write_prepare, called
 * from mp__marc_parse_item) into its chunk's arena - or, for an ISO 2709
 * record that is written as read, not copied at all: its output is its
 * input bytes. The consumer's mp_writer_write then only appends those
 * bytes, in input order, to the writer's buffer; a record that was not
 * prepared (another format, or the arena was short) is serialised on the
 * consumer's thread instead, with the same result.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "alloc.h"
#include "write_internal.h"

/* Messages are cut to their buffers on purpose. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define MP__WRITER_BUFFER (256u * 1024)

/* ---- sink ------------------------------------------------------------------ */

int mp__sink_grow(mp__sink *s, size_t n)
{
    if (s->failed)
        return -1;
    if (n > SIZE_MAX / 4 - s->len) {
        s->failed = 1;
        return -1;
    }
    size_t want = s->len + n, ncap = s->cap ? s->cap * 2 : (s->hint > 256 ? s->hint : 256);
    if (ncap < want)
        ncap = want;
    if (s->arena) {
        /* Give the old region back first: when the block has room, the new
         * region starts at the same address and nothing moves. */
        unsigned char *old = s->p;
        if (old)
            mp__arena_trim(s->arena, old, 0);
        unsigned char *np = mp__arena_alloc(s->arena, ncap, 1);
        if (!np) { /* the output is discarded: the old region may stay given back */
            s->failed = 1;
            return -1;
        }
        if (old && np != old && s->len)
            memmove(np, old, s->len);
        s->p = np;
    } else {
        unsigned char *np = mp__realloc(s->p, ncap);
        if (!np) {
            s->failed = 1;
            return -1;
        }
        s->p = np;
    }
    s->cap = ncap;
    return 0;
}

/* ---- shared pieces ------------------------------------------------------------- */

void mp__write_leader(const mp_record *rec, unsigned flags, int utf8_leader, char out[24])
{
    size_t n = rec->raw_len < MP__LEADER_LEN ? rec->raw_len : MP__LEADER_LEN;
    memset(out, ' ', MP__LEADER_LEN);
    if (n)
        memcpy(out, rec->raw, n);
    if (utf8_leader && !(flags & MP_WRITE_KEEP_LEADER) && !rec->text_raw)
        out[9] = 'a';
}

int mp__iso_pristine(const mp_record *rec, unsigned flags)
{
    /* A record with warnings (stages/FRAMING.md) is rebuilt: its output
     * carries what was read, not the anomalies (a bare delimiter, a
     * misplaced terminator, a non-ASCII subfield code...). */
    return !rec->no_input && !rec->err && !rec->nwarns && !rec->converted &&
           rec->raw_len > MP__LEADER_LEN && rec->raw[rec->raw_len - 1] == MP__RT &&
           (rec->text_raw || (flags & MP_WRITE_KEEP_LEADER) || rec->raw[9] == 'a');
}

int mp__write_format_ok(int format)
{
    return format >= MP_FORMAT_ISO2709 && format <= MP_FORMAT_LINE;
}

int mp__write_record(mp__sink *s, const mp_record *rec, int format, unsigned flags)
{
    if (flags & ~MP_WRITE_FLAGS_ALL)
        return MP_EINVAL;
    switch (format) {
    case MP_FORMAT_ISO2709:
        return mp__write_iso2709(s, rec, flags);
    case MP_FORMAT_MARCXML:
        return mp__write_marcxml(s, rec, flags);
    case MP_FORMAT_JSON:
        return mp__write_json(s, rec, flags, 0);
    case MP_FORMAT_NDJSON:
        return mp__write_json(s, rec, flags, 1);
    case MP_FORMAT_MRK:
        return mp__write_mrk(s, rec, flags);
    case MP_FORMAT_LINE:
        return mp__write_line(s, rec, flags);
    default:
        return MP_EINVAL;
    }
}

/* A first guess of the output size, so that the arena sink rarely grows. */
static size_t mp__write_estimate(const mp_record *rec, int format)
{
    size_t text = 0, nsubs = 0, ndata = 0;
    for (uint32_t i = 0; i < rec->nfields; i++) {
        const mp_field *f = &rec->fields[i];
        if (f->is_control) {
            text += f->len;
        } else {
            ndata++;
            nsubs += f->nsubfields;
            for (uint32_t j = 0; j < f->nsubfields; j++)
                text += f->subfields[j].len;
        }
    }
    size_t nctrl = rec->nfields - ndata;
    switch (format) {
    case MP_FORMAT_MARCXML:
        return text + text / 16 + 60 * ndata + 45 * nctrl + 36 * nsubs + 160;
    case MP_FORMAT_JSON:
    case MP_FORMAT_NDJSON:
        return text + text / 16 + 52 * ndata + 16 * nctrl + 12 * nsubs + 64;
    default:
        return text + 12 * rec->nfields + 4 * nsubs + 64;
    }
}

void mp__write_prepare(mp_record *rec, mp__arena *arena, int format, unsigned flags)
{
    rec->out = NULL;
    rec->out_len = 0;
    rec->out_rc = 0;
    rec->out_format = (uint8_t)format;
    rec->out_flags = flags;
    if (format == MP_FORMAT_ISO2709 && mp__iso_pristine(rec, flags)) {
        rec->out = rec->raw; /* zero-copy: the output is the input */
        rec->out_len = rec->raw_len;
        return;
    }
    mp__sink s;
    memset(&s, 0, sizeof s);
    s.arena = arena;
    s.hint = mp__write_estimate(rec, format);
    int rc = mp__write_record(&s, rec, format, flags);
    if (rc == MP_OK && s.len <= UINT32_MAX) {
        mp__arena_trim(arena, s.p, s.len); /* the unused tail goes back */
        rec->out = s.p;
        rec->out_len = (uint32_t)s.len;
    } else {
        /* s.p, when set, is still the arena's last allocation (a failed
         * growth gave it back already): return it. */
        if (s.p && !s.failed)
            mp__arena_trim(arena, s.p, 0);
        if (rc == MP_OK || rc == MP_ENOMEM)
            rec->out_format = 0; /* not prepared: the consumer serialises it */
        else
            rec->out_rc = rc; /* refused (MP_ETOOBIG, MP_EINVAL) */
    }
}

/* ---- mp_buf, mp_record_write, mp_record_output -------------------------------------- */

MP_EXPORT void mp_buf_free(mp_buf *b)
{
    if (!b)
        return;
    mp__free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

MP_EXPORT int mp_record_write(const mp_record *rec, mp_format format, unsigned flags, mp_buf *out)
{
    if (!rec || !out || !mp__write_format_ok(format) || out->len > out->cap)
        return MP_EINVAL;
    mp__sink s;
    memset(&s, 0, sizeof s);
    s.p = out->data;
    s.len = out->len;
    s.cap = out->cap;
    int rc = mp__write_record(&s, rec, format, flags);
    out->data = s.p; /* a grown buffer belongs to out even when the record failed */
    out->cap = s.cap;
    if (rc == MP_OK && s.failed)
        rc = MP_ENOMEM;
    if (rc == MP_OK)
        out->len = s.len;
    return rc;
}

MP_EXPORT const void *mp_record_output(const mp_record *rec, size_t *len, int *rc)
{
    if (len)
        *len = rec && rec->out ? rec->out_len : 0;
    if (rc)
        *rc = rec ? rec->out_rc : MP_EINVAL;
    return rec ? rec->out : NULL;
}

/* ---- mp_writer ---------------------------------------------------------------------- */

enum mp__wkind { MP__W_FD, MP__W_CB, MP__W_BUF };

struct mp_writer {
    int format;
    unsigned flags;
    int kind;       /* enum mp__wkind */
    int fd;         /* MP__W_FD */
    int owns_fd;    /* opened by _path: closed by close */
    mp_write_fn fn; /* MP__W_CB */
    void *user;
    mp_buf *ubuf; /* MP__W_BUF: the caller's buffer */
    mp__sink buf; /* pending bytes (FD, CB); for BUF a window on ubuf */
    size_t flush_at;
    uint64_t records, bytes;
    int failed; /* sticky output failure (MP_E*), 0 while healthy */
    int sys_errno;
};

static int mp__fd_write(mp_writer *w, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(w->fd, p, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = {w->fd, POLLOUT, 0};
            (void)poll(&pf, 1, -1);
            continue;
        }
        w->sys_errno = k < 0 ? errno : EIO;
        return MP_EIO;
    }
    return MP_OK;
}

/* Sends p[0..n) to the target (not for BUF). */
static int mp__target_write(mp_writer *w, const unsigned char *p, size_t n)
{
    if (n == 0)
        return MP_OK;
    int rc = w->kind == MP__W_FD ? mp__fd_write(w, p, n) : w->fn(w->user, p, n);
    if (rc < 0)
        w->failed = rc;
    return rc < 0 ? rc : MP_OK;
}

MP_EXPORT int mp_writer_flush(mp_writer *w)
{
    if (!w)
        return MP_EINVAL;
    if (w->failed)
        return w->failed;
    if (w->kind == MP__W_BUF)
        return MP_OK;
    int rc = mp__target_write(w, w->buf.p, w->buf.len);
    w->buf.len = 0;
    return rc;
}

/* BUF writers work on the caller's buffer through the sink. */
static void mp__wbuf_load(mp_writer *w)
{
    if (w->kind == MP__W_BUF) {
        w->buf.p = w->ubuf->data;
        w->buf.len = w->ubuf->len;
        w->buf.cap = w->ubuf->cap;
    }
}

static void mp__wbuf_store(mp_writer *w)
{
    if (w->kind == MP__W_BUF) {
        w->ubuf->data = w->buf.p;
        w->ubuf->len = w->buf.len;
        w->ubuf->cap = w->buf.cap;
    }
}

/* Appends framing bytes. */
static int mp__wput(mp_writer *w, const char *s, size_t n)
{
    mp__wbuf_load(w);
    int rc = mp__sink_put(&w->buf, s, n) < 0 ? MP_ENOMEM : MP_OK;
    mp__wbuf_store(w);
    if (rc < 0)
        w->failed = rc;
    else
        w->bytes += n;
    return rc;
}

#define MP__XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
#define MP__XML_COLL "<collection xmlns=\"http://www.loc.gov/MARC21/slim\">"

static int mp__writer_header(mp_writer *w)
{
    int compact = (w->flags & MP_WRITE_XML_COMPACT) != 0;
    switch (w->format) {
    case MP_FORMAT_MARCXML:
        return compact ? mp__wput(w, MP__XML_DECL MP__XML_COLL, strlen(MP__XML_DECL MP__XML_COLL))
                       : mp__wput(w, MP__XML_DECL "\n" MP__XML_COLL "\n",
                                  strlen(MP__XML_DECL "\n" MP__XML_COLL "\n"));
    case MP_FORMAT_JSON:
        return mp__wput(w, "[", 1);
    default:
        return MP_OK;
    }
}

static int mp__writer_open(mp_writer **out, const mp_writer_options *user, mp_writer *proto)
{
    mp_writer_options o;
    memset(&o, 0, sizeof o);
    if (user) { /* fields past the caller's size read as zero (defaults) */
        size_t n = user->size ? user->size : sizeof o;
        memcpy(&o, user, n < sizeof o ? n : sizeof o);
    }
    if (o.format == MP_FORMAT_AUTO)
        o.format = MP_FORMAT_ISO2709;
    if (!mp__write_format_ok(o.format) || (o.flags & ~MP_WRITE_FLAGS_ALL))
        return MP_EINVAL;
    mp_writer *w = mp__calloc(1, sizeof *w);
    if (!w)
        return MP_ENOMEM;
    *w = *proto;
    w->format = o.format;
    w->flags = o.flags;
    w->flush_at = o.buffer_size ? o.buffer_size : MP__WRITER_BUFFER;
    int rc = mp__writer_header(w);
    if (rc < 0) {
        mp__free(w->buf.p);
        mp__free(w);
        return rc;
    }
    *out = w;
    return MP_OK;
}

MP_EXPORT int mp_writer_open_fd(mp_writer **out, int fd, const mp_writer_options *o)
{
    if (!out || fd < 0)
        return MP_EINVAL;
    *out = NULL;
    mp_writer proto;
    memset(&proto, 0, sizeof proto);
    proto.kind = MP__W_FD;
    proto.fd = fd;
    return mp__writer_open(out, o, &proto);
}

MP_EXPORT int mp_writer_open_path(mp_writer **out, const char *path, const mp_writer_options *o)
{
    if (!out || !path)
        return MP_EINVAL;
    *out = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR                   ? MP_ENOENT
               : errno == EACCES || errno == EPERM || errno == EROFS ? MP_EACCES
                                                                     : MP_EIO;
    mp_writer proto;
    memset(&proto, 0, sizeof proto);
    proto.kind = MP__W_FD;
    proto.fd = fd;
    proto.owns_fd = 1;
    int rc = mp__writer_open(out, o, &proto);
    if (rc < 0)
        close(fd);
    return rc;
}

MP_EXPORT int mp_writer_open_cb(mp_writer **out, mp_write_fn fn, void *user,
                                const mp_writer_options *o)
{
    if (!out || !fn)
        return MP_EINVAL;
    *out = NULL;
    mp_writer proto;
    memset(&proto, 0, sizeof proto);
    proto.kind = MP__W_CB;
    proto.fn = fn;
    proto.user = user;
    return mp__writer_open(out, o, &proto);
}

MP_EXPORT int mp_writer_open_buf(mp_writer **out, mp_buf *buf, const mp_writer_options *o)
{
    if (!out || !buf || buf->len > buf->cap)
        return MP_EINVAL;
    *out = NULL;
    mp_writer proto;
    memset(&proto, 0, sizeof proto);
    proto.kind = MP__W_BUF;
    proto.ubuf = buf;
    return mp__writer_open(out, o, &proto);
}

/* The separator before a record (JSON array, MRK blank line). */
static size_t mp__writer_sep(const mp_writer *w, const char **s)
{
    if (w->records == 0) {
        *s = w->format == MP_FORMAT_JSON ? "\n" : "";
        return w->format == MP_FORMAT_JSON ? 1 : 0;
    }
    switch (w->format) {
    case MP_FORMAT_JSON:
        *s = ",\n";
        return 2;
    case MP_FORMAT_MRK:
        *s = "\n";
        return 1;
    default:
        *s = "";
        return 0;
    }
}

/* The terminator after a record (pretty MARCXML: a newline). */
static size_t mp__writer_term(const mp_writer *w, const char **s)
{
    *s = "\n";
    return w->format == MP_FORMAT_MARCXML && !(w->flags & MP_WRITE_XML_COMPACT) ? 1 : 0;
}

MP_EXPORT int mp_writer_write(mp_writer *w, const mp_record *rec)
{
    if (!w || !rec)
        return MP_EINVAL;
    if (w->failed)
        return w->failed;
    const char *sep, *term;
    size_t nsep = mp__writer_sep(w, &sep), nterm = mp__writer_term(w, &term);
    int rc;
    int prepared = rec->out_format == w->format && rec->out_flags == w->flags &&
                   (rec->out != NULL || rec->out_rc != 0);
    if (prepared && rec->out_rc)
        return rec->out_rc;
    mp__wbuf_load(w);
    size_t start = w->buf.len;
    if (prepared) {
        size_t n = rec->out_len;
        if (w->kind != MP__W_BUF && n >= w->flush_at && w->buf.len + nsep == 0) {
            /* A big record on an empty buffer: straight to the target. */
            if ((rc = mp__target_write(w, rec->out, n)) < 0)
                return rc;
            if (nterm && mp__sink_put(&w->buf, term, nterm) < 0) {
                w->failed = MP_ENOMEM;
                return MP_ENOMEM;
            }
        } else if (mp__sink_reserve(&w->buf, nsep + n + nterm) < 0) {
            mp__wbuf_store(w);
            w->failed = MP_ENOMEM;
            return MP_ENOMEM;
        } else {
            mp__sink_mem(&w->buf, sep, nsep);
            mp__sink_mem(&w->buf, rec->out, n);
            mp__sink_mem(&w->buf, term, nterm);
        }
        w->bytes += nsep + n + nterm;
    } else {
        if (mp__sink_put(&w->buf, sep, nsep) < 0) {
            mp__wbuf_store(w);
            w->failed = MP_ENOMEM;
            return MP_ENOMEM;
        }
        rc = mp__write_record(&w->buf, rec, w->format, w->flags);
        if (rc == MP_OK && w->buf.failed)
            rc = MP_ENOMEM;
        if (rc == MP_OK && mp__sink_put(&w->buf, term, nterm) < 0)
            rc = MP_ENOMEM;
        if (rc < 0) {
            w->buf.len = start; /* nothing of this record stays */
            w->buf.failed = 0;
            mp__wbuf_store(w);
            if (rc == MP_ENOMEM)
                w->failed = rc;
            return rc;
        }
        w->bytes += w->buf.len - start;
    }
    mp__wbuf_store(w);
    w->records++;
    if (w->kind != MP__W_BUF && w->buf.len >= w->flush_at)
        return mp_writer_flush(w);
    return MP_OK;
}

MP_EXPORT int mp_writer_close(mp_writer *w)
{
    if (!w)
        return MP_OK;
    int rc = w->failed;
    if (!rc) {
        switch (w->format) {
        case MP_FORMAT_MARCXML:
            rc = w->flags & MP_WRITE_XML_COMPACT ? mp__wput(w, "</collection>", 13)
                                                 : mp__wput(w, "</collection>\n", 14);
            break;
        case MP_FORMAT_JSON:
            rc = w->records ? mp__wput(w, "\n]\n", 3) : mp__wput(w, "]\n", 2);
            break;
        default:
            break;
        }
    }
    if (!rc)
        rc = mp_writer_flush(w);
    if (w->owns_fd && close(w->fd) != 0 && !rc) {
        w->sys_errno = errno;
        rc = MP_EIO;
    }
    int err = w->sys_errno;
    if (w->kind != MP__W_BUF)
        mp__free(w->buf.p);
    mp__free(w);
    if (rc == MP_EIO && err)
        errno = err; /* the cause, for the caller's message */
    return rc;
}

MP_EXPORT void mp_writer_counts(const mp_writer *w, uint64_t *records, uint64_t *bytes)
{
    if (records)
        *records = w ? w->records : 0;
    if (bytes)
        *bytes = w ? w->bytes : 0;
}

MP_EXPORT int mp_writer_errno(const mp_writer *w)
{
    return w ? w->sys_errno : 0;
}

MP_EXPORT int mp_writer_status(const mp_writer *w)
{
    return w ? w->failed : MP_EINVAL;
}

/* ---- mp_convert ------------------------------------------------------------------------ */

/* An error item for a record the writer refused. */
static void mp__refusal_info(mp_error_info *e, int rc, const mp_record *rec, int format)
{
    memset(e, 0, sizeof *e);
    e->code = rc;
    e->kind = rc == MP_ETOOBIG ? MP_EK_TOO_BIG : MP_EK_FIELD;
    e->ordinal = rec->ordinal;
    e->offset = rec->offset;
    e->length = rec->no_input ? 0 : rec->raw_len;
    if (rec->cn) {
        size_t n =
            rec->cn_len < sizeof e->control_number - 1 ? rec->cn_len : sizeof e->control_number - 1;
        memcpy(e->control_number, rec->cn, n);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)e->control_number[i] < 0x20)
                e->control_number[i] = '?';
    }
    const char *why = rc == MP_ETOOBIG
                          ? "over ISO 2709's limits (99999 bytes per record, 9999 per field)"
                          : "a value holds a separator byte (0x1E, 0x1F) the format cannot carry";
    snprintf(e->message, sizeof e->message, "record %llu at offset %llu: not written as %s: %s",
             (unsigned long long)rec->ordinal, (unsigned long long)rec->offset,
             format == MP_FORMAT_ISO2709 ? "ISO 2709" : "output", why);
}

MP_EXPORT int mp_convert(mp_reader *r, mp_writer *w, const mp_convert_options *user,
                         mp_convert_counts *counts)
{
    mp_convert_options o;
    mp_convert_counts c;
    memset(&o, 0, sizeof o);
    memset(&c, 0, sizeof c);
    if (user) {
        size_t n = user->size ? user->size : sizeof o;
        memcpy(&o, user, n < sizeof o ? n : sizeof o);
    }
    int rc;
    if (!r || !w || (unsigned)o.damaged > MP_DAMAGED_STOP) {
        rc = MP_EINVAL;
        goto done;
    }
    for (uint64_t n = 1;; n++) {
        const mp_record *rec;
        rc = mp_reader_next(r, &rec);
        int write = 0;
        if (rc == MP_OK) {
            c.records++;
            write = 1;
            if (o.on_warnings && mp_record_warning_count(rec) && o.on_warnings(o.user, rec) != 0) {
                rc = MP_ESTOPPED;
                goto done;
            }
        } else if (rc == MP_ERECORD) {
            c.errors++;
            if (rec)
                c.damaged++;
            if (o.on_error && o.on_error(o.user, rc, mp_reader_error(r)) != 0) {
                rc = MP_ESTOPPED;
                goto done;
            }
            if (rec && o.damaged == MP_DAMAGED_STOP) {
                rc = MP_ESTOPPED;
                goto done;
            }
            write = rec && o.damaged == MP_DAMAGED_WRITE;
        } else {
            if (rc == MP_EOF)
                rc = MP_OK;
            goto done;
        }
        if (write) {
            int wrc = mp_writer_write(w, rec);
            if (wrc == MP_ETOOBIG || (wrc == MP_EINVAL && !w->failed)) {
                c.refused++;
                if (o.on_error) {
                    mp_error_info e;
                    mp__refusal_info(&e, wrc, rec, w->format);
                    if (o.on_error(o.user, wrc, &e) != 0) {
                        rc = MP_ESTOPPED;
                        goto done;
                    }
                }
            } else if (wrc < 0) {
                rc = wrc;
                goto done;
            } else {
                c.written++;
            }
        }
        if (o.on_progress && (n & 255) == 0) {
            mp_reader_counts(r, NULL, NULL, &c.bytes_in);
            o.on_progress(o.user, &c);
        }
    }
done:
    if (r)
        mp_reader_counts(r, NULL, NULL, &c.bytes_in);
    if (counts)
        *counts = c;
    return rc;
}
