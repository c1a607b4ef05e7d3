/* nlformat.c - see nlformat.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "nlformat.h"

uint32_t nl_hash(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static mp__frame_rc nl_frame(const void *fmt, const unsigned char *p, size_t avail, int final,
                             mp__frame *out)
{
    const nl_format *f = fmt;
    size_t look = avail < f->max_line ? avail : f->max_line;
    const unsigned char *nl = memchr(p, '\n', look);
    if (nl && f->ignore_hash && p[0] == '#') {
        out->len = (size_t)(nl - p) + 1;
        out->kind = 0;
        return MP_FRAME_IGNORE;
    }
    if (nl) {
        out->len = (size_t)(nl - p) + 1;
        out->kind = NL_KIND_CLEAN;
        return MP_FRAME_RECORD;
    }
    if (avail >= f->max_line) {
        out->len = f->max_line;
        out->kind = NL_KIND_LONG;
        return MP_FRAME_SKIP;
    }
    if (final == MP_FINAL_EOF) {
        out->len = avail;
        out->kind = NL_KIND_TRUNC;
        return MP_FRAME_RECORD;
    }
    if (final == MP_FINAL_MAX) {
        out->len = avail;
        out->kind = NL_KIND_MAX;
        return MP_FRAME_SKIP;
    }
    out->len = f->max_line;
    return MP_FRAME_NEED;
}

static int nl_parse(const void *fmt, mp__item *item, mp__arena *arena)
{
    const nl_format *f = fmt;
    if (f->enomem_ordinal >= 0 && item->ordinal == (uint64_t)f->enomem_ordinal)
        return MP_ENOMEM;
    if (f->delay_us_max) {
        unsigned seed = (unsigned)item->ordinal * 2654435761u;
        unsigned d = (unsigned)rand_r(&seed) % (f->delay_us_max + 1);
        if (d)
            usleep(d);
    }
    nl_result *r = mp__arena_alloc(arena, sizeof(*r), _Alignof(nl_result));
    if (!r)
        return MP_ENOMEM;
    r->len = item->len;
    r->sum = nl_hash(item->data, item->len);
    item->result = r;
    item->status = (item->len > 0 && item->data[0] == '!') ? -1 : 0;
    return MP_OK;
}

void nl_format_init(nl_format *f, size_t max_line)
{
    memset(f, 0, sizeof(*f));
    f->max_line = max_line;
    f->enomem_ordinal = -1;
}

mp__format nl_format_plugin(const nl_format *f)
{
    mp__format m = {.frame = nl_frame, .parse_item = nl_parse, .fmt = f};
    return m;
}

static ssize_t mem_read(void *src, unsigned char *buf, size_t cap, int *sys_errno,
                        const mp__pipe *pipe)
{
    mem_source *s = src;
    atomic_fetch_add(&s->reads, 1);
    if (s->block) {
        while (!mp__pipe_cancelled(pipe))
            usleep(1000);
        return MP_ECANCELED;
    }
    if (s->delay_us_max) {
        unsigned d = (unsigned)rand_r(&s->seed) % (s->delay_us_max + 1);
        if (d)
            usleep(d);
    }
    if (s->fail_at >= 0 && s->pos >= (size_t)s->fail_at) {
        *sys_errno = s->fail_errno;
        return s->fail_code;
    }
    size_t n = s->len - s->pos;
    if (n > cap)
        n = cap;
    if (s->max_read && n > s->max_read)
        n = s->max_read;
    if (s->fail_at >= 0 && n > (size_t)s->fail_at - s->pos)
        n = (size_t)s->fail_at - s->pos;
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

static void mem_close(void *src)
{
    ((mem_source *)src)->closed++;
}

void mem_source_init(mem_source *s, const void *data, size_t len)
{
    memset(s, 0, sizeof(*s));
    s->data = data;
    s->len = len;
    s->fail_at = -1;
    s->fail_code = MP_EIO;
    s->fail_errno = EIO;
    s->seed = 1;
}

mp__source mem_source_plugin(mem_source *s)
{
    mp__source m = {.read = mem_read, .close = mem_close, .src = s};
    return m;
}

unsigned char *nl_gen(unsigned seed, size_t nlines, size_t minlen, size_t maxlen, size_t *outlen)
{
    size_t cap = nlines * (maxlen + 24) + 1, n = 0;
    unsigned char *b = malloc(cap);
    for (size_t i = 0; i < nlines; i++) {
        size_t want =
            minlen + (maxlen > minlen ? (size_t)rand_r(&seed) % (maxlen - minlen + 1) : 0);
        int k = snprintf((char *)b + n, cap - n, "L%zu:", i);
        size_t len = (size_t)k;
        while (len + 1 < want) {
            b[n + len] = (unsigned char)('a' + rand_r(&seed) % 26);
            len++;
        }
        b[n + len++] = '\n';
        n += len;
    }
    *outlen = n;
    return b;
}

static void nl_push(nl_run *r, const nl_unit *u)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->units = realloc(r->units, r->cap * sizeof(*r->units));
    }
    r->units[r->n++] = *u;
}

void nl_expect(const unsigned char *p, size_t n, size_t max_line, nl_run *out)
{
    nl_format f;
    nl_format_init(&f, max_line);
    nl_expect_fmt(&f, p, n, out);
}

void nl_expect_fmt(const nl_format *fp, const unsigned char *p, size_t n, nl_run *out)
{
    nl_format f = *fp;
    f.delay_us_max = 0;
    memset(out, 0, sizeof(*out));
    size_t pos = 0;
    uint64_t ord = 0;
    while (pos < n) {
        mp__frame fr = {0, 0};
        mp__frame_rc rc = nl_frame(&f, p + pos, n - pos, MP_FINAL_EOF, &fr);
        if (rc == MP_FRAME_IGNORE) {
            pos += fr.len;
            continue;
        }
        nl_unit u = {.offset = pos,
                     .ordinal = ord++,
                     .len = (uint32_t)fr.len,
                     .type = rc == MP_FRAME_RECORD ? MP_ITEM_RECORD : MP_ITEM_SKIP,
                     .kind = fr.kind};
        u.sum = rc == MP_FRAME_RECORD ? nl_hash(p + pos, fr.len) : 0;
        u.status = (rc == MP_FRAME_RECORD && p[pos] == '!') ? -1 : 0;
        nl_push(out, &u);
        pos += fr.len;
    }
    out->final_rc = MP_EOF;
    out->final_off = n;
    out->order_ok = 1;
}

int nl_drain(mp__pipe *p, nl_run *out, unsigned hold)
{
    mp__chunk *held[64];
    unsigned nheld = 0;
    int rc;
    uint64_t next_seq = 0;
    memset(out, 0, sizeof(*out));
    out->order_ok = 1;
    if (hold > 64)
        hold = 64;
    for (;;) {
        mp__chunk *c;
        rc = mp__pipe_next(p, &c, NULL);
        if (rc != MP_OK) {
            out->final_rc = rc;
            break;
        }
        if (c->seq != next_seq)
            out->order_ok = 0;
        next_seq = c->seq + 1;
        if (c->status != 0) {
            out->final_rc = c->status;
            out->final_off = c->offset;
            out->final_errno = c->sys_errno;
            mp__chunk_release(c);
            rc = MP_OK;
            break;
        }
        out->chunks++;
        for (uint32_t i = 0; i < c->nitems; i++) {
            const mp__item *it = &c->items[i];
            nl_unit u = {.offset = it->offset,
                         .ordinal = it->ordinal,
                         .len = it->len,
                         .type = it->type,
                         .kind = it->frame_kind,
                         .status = it->status};
            if (it->type == MP_ITEM_RECORD) {
                const nl_result *res = it->result;
                /* The stored checksum must match the bytes the item points at. */
                u.sum = res && res->len == it->len && res->sum == nl_hash(it->data, it->len)
                            ? res->sum
                            : 0xdeadbeef;
            }
            nl_push(out, &u);
        }
        if (hold) {
            if (nheld == hold) {
                mp__chunk_release(held[0]);
                memmove(held, held + 1, (hold - 1) * sizeof(*held));
                nheld--;
            }
            held[nheld++] = c;
        } else {
            mp__chunk_release(c);
        }
    }
    for (unsigned i = 0; i < nheld; i++)
        mp__chunk_release(held[i]);
    return rc;
}

static int nl_cmp(const void *a, const void *b)
{
    const nl_unit *x = a, *y = b;
    return x->ordinal < y->ordinal ? -1 : x->ordinal > y->ordinal;
}

void nl_sort(nl_run *r)
{
    qsort(r->units, r->n, sizeof(*r->units), nl_cmp);
}

void nl_run_free(nl_run *r)
{
    free(r->units);
    memset(r, 0, sizeof(*r));
}

void nl_config(mp__pipe_config *cfg, const nl_format *f, mem_source *s)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->chunk_size = 4096;
    cfg->chunks = 4;
    cfg->max_unit = 1 << 16;
    cfg->threads = 2;
    cfg->ordered = 1;
    cfg->format = nl_format_plugin(f);
    cfg->source = mem_source_plugin(s);
}
