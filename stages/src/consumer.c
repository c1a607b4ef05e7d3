/*
 * consumer.c - from items to return codes: error items, policies, counts.
 *
 * Shared by the pipeline and the sequential mode of the reader so that both
 * report the same codes, positions and messages. Consumer thread only.
 */
#include <stdio.h>
#include <string.h>
#include "marc.h"

/* Messages are cut to their buffers on purpose. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

void mp__consumer_init(mp__consumer *c, const mp_reader_options *opts)
{
    memset(c, 0, sizeof *c);
    c->policy = opts->policy;
    c->max_errors = opts->max_errors;
    c->max_record = opts->max_record_size ? opts->max_record_size : MP__DEFAULT_MAX_RECORD;
}

static void mp__copy_cn(mp_error_info *e, const mp_record *rec)
{
    if (!rec || !rec->cn)
        return;
    size_t n =
        rec->cn_len < sizeof e->control_number - 1 ? rec->cn_len : sizeof e->control_number - 1;
    memcpy(e->control_number, rec->cn, n);
    e->control_number[n] = 0;
    /* Keep it printable (it may come from a damaged record). */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)e->control_number[i] < 0x20)
            e->control_number[i] = '?';
}

/* Fills c->info for an error item. */
static void mp__item_info(mp__consumer *c, const mp__item *it, const mp_record *rec)
{
    mp_error_info *e = &c->info;
    memset(e, 0, sizeof *e);
    c->err_data = it->data;
    c->err_len = it->len;
    e->code = MP_ERECORD;
    e->ordinal = it->ordinal;
    e->offset = it->offset;
    e->length = it->len;
    unsigned long long off = (unsigned long long)it->offset;
    unsigned long long ord = (unsigned long long)it->ordinal + 1; /* people count from 1 */
    if (it->type == MP_ITEM_SKIP) {
        e->kind = (mp_error_kind)it->frame_kind;
        switch (it->frame_kind) {
        case MP_EK_TRUNCATED:
            snprintf(e->message, sizeof e->message,
                     "input ends inside a record: %u bytes at offset %llu (unit %llu)", it->len,
                     off, ord);
            break;
        case MP_EK_TOO_BIG:
            snprintf(e->message, sizeof e->message,
                     "no record terminator within %zu bytes (the maximum record size) at "
                     "offset %llu (unit %llu); skipped",
                     c->max_record, off, ord);
            break;
        default:
            snprintf(e->message, sizeof e->message,
                     "skipped %u bytes that are not a record at offset %llu (unit %llu)", it->len,
                     off, ord);
            break;
        }
        return;
    }
    mp__copy_cn(e, rec);
    if (!rec) { /* the parser could not index it (out of memory) */
        e->kind = MP_EK_MEMORY;
        snprintf(e->message, sizeof e->message,
                 "record %llu at offset %llu: not enough memory to index its %u bytes; skipped",
                 ord, off, it->len);
    } else if (rec->err) {
        e->kind = (mp_error_kind)rec->err->kind;
        memcpy(e->tag, rec->err->tag, sizeof e->tag);
        e->subfield = rec->err->subfield;
        snprintf(e->message, sizeof e->message, "record %llu at offset %llu%s%s: %s", ord, off,
                 e->control_number[0] ? " 001 " : "", e->control_number, rec->err->msg);
    } else {
        e->kind = MP_EK_NONE;
        snprintf(e->message, sizeof e->message, "record %llu at offset %llu: error %d", ord, off,
                 (int)it->status);
    }
}

int mp__consumer_check(mp__consumer *c)
{
    if (c->over)
        return c->over;
    if (c->policy == MP_POLICY_STOP && c->last_rc == MP_ERECORD) {
        c->over = MP_ESTOPPED;
        c->info.code = MP_ESTOPPED;
        c->err_data = NULL; /* not an item: mp_reader_error_data says NULL */
        c->err_len = 0;
        return c->over;
    }
    return 0;
}

int mp__consumer_item(mp__consumer *c, const mp__item *it, const mp_record **rec, int *rc)
{
    const mp_record *r = it->type == MP_ITEM_RECORD ? (const mp_record *)it->result : NULL;
    c->units++;
    c->bytes += it->len; /* the items tile the input (or the range): a sum, in any order */
    /* Unordered delivery may hand back an earlier unit last: keep the
     * furthest end seen, so positions never go backwards. */
    if (it->offset + it->len > c->pos)
        c->pos = it->offset + it->len;
    if (it->type == MP_ITEM_RECORD && r && it->status == 0) {
        if (r->dropped)
            return 0;
        c->records++;
        if (r->nwarns) {
            c->warned++;
            c->warnings += r->nwarns;
            uint32_t kept =
                r->nwarns < MP_RECORD_WARNINGS_KEPT ? r->nwarns : MP_RECORD_WARNINGS_KEPT;
            for (uint32_t i = 0; i < kept; i++)
                c->warn_kind[(unsigned)r->warns[i].kind & 31u]++;
            /* Warnings past the kept ones are counted under the last kept kind. */
            if (r->nwarns > kept)
                c->warn_kind[(unsigned)r->warns[kept - 1].kind & 31u] += r->nwarns - kept;
        }
        c->last_rc = MP_OK;
        *rec = r;
        *rc = MP_OK;
        return 1;
    }
    /* An error item. The one past the cap ends the stream instead of being
     * delivered or skipped, and is not counted: `errors` never exceeds the
     * cap (mp_reader_error describes it, with code MP_ELIMIT). */
    mp__item_info(c, it, r);
    if (c->max_errors && c->errors >= c->max_errors) {
        c->info.code = MP_ELIMIT;
        c->over = MP_ELIMIT;
        return MP_ELIMIT;
    }
    c->errors++;
    if (c->policy == MP_POLICY_SKIP)
        return 0;
    c->last_rc = MP_ERECORD;
    *rec = r;
    *rc = MP_ERECORD;
    return 1;
}

int mp__consumer_end(mp__consumer *c, int status, int sys_errno, uint64_t offset)
{
    if (status == MP_EOF) {
        c->over = MP_EOF;
        return MP_EOF;
    }
    mp_error_info *e = &c->info;
    memset(e, 0, sizeof *e);
    c->err_data = NULL;
    c->err_len = 0;
    e->code = status;
    e->kind = status == MP_EIO ? MP_EK_IO : MP_EK_NONE;
    e->offset = offset;
    e->sys_errno = sys_errno;
    if (sys_errno)
        snprintf(e->message, sizeof e->message, "%s at offset %llu: %s", mp_strerror(status),
                 (unsigned long long)offset, strerror(sys_errno));
    else
        snprintf(e->message, sizeof e->message, "%s at offset %llu", mp_strerror(status),
                 (unsigned long long)offset);
    c->over = status;
    return status;
}
