/*
 * fuzz_reader_cb.c - libFuzzer target: the reader API over a callback
 * source that misbehaves as the input says.
 *
 * Input layout: 8 header bytes drive the source (fault kind: none, EIO,
 * EINTR, zero-length read; where it strikes; short-read size; pipeline or
 * sequential reader; chunk size), the rest is the byte stream. Oracle: the
 * sequential reader over the intact bytes (relcheck.h): every good record
 * that ends before the fault is delivered identically, no phantom record,
 * an I/O fault surfaces as MP_EIO at the fault offset with its errno, a
 * zero-length read ends the stream with MP_EOF.
 */
#include <stdint.h>
#include <stdlib.h>
#include "relcheck.h"

static mp_pool *g_pool;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    const uint8_t *hd = data;
    data += 8;
    size -= 8;
    mf_seq ref, got;
    char why[256];
    rc_ref_mem(&ref, data, size);
    rc_src s = {.data = data, .len = size};
    s.fault = hd[0] & 3;
    s.fail_at = size ? ((size_t)hd[1] | (size_t)hd[2] << 8) % (size + 1) : 0;
    s.short_reads = (hd[3] & 1) != 0;
    s.avg = 1 + (hd[3] >> 1);
    s.rng = hd[4];
    int pipeline = (hd[5] & 1) != 0;
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.chunk_size = 64 + (size_t)hd[6] * 4;
    o.chunks_in_flight = 2 + (hd[7] & 3);
    o.threads = 1 + ((hd[7] >> 2) & 1);
    memset(&got, 0, sizeof(got));
    int rc;
    mp_error_info ei;
    if (pipeline) {
        if (!g_pool && mp_pool_create(&g_pool, 2) != MP_OK)
            abort();
        o.pool = (hd[7] & 16) ? g_pool : NULL;
        mp_reader *r = NULL;
        if (mp_reader_open_cb(&r, rc_src_read, &s, &o) != MP_OK)
            abort();
        rc = mf_collect(&got, r);
        ei = *mp_reader_error(r);
        mp_reader_close(r);
    } else {
        mp_reader *r = NULL;
        if (mp_reader_open_cb(&r, rc_src_read, &s, mf_seqopts(&o)) != MP_OK)
            abort();
        rc = mf_collect(&got, r);
        ei = *mp_reader_error(r);
        mp_reader_close(r);
    }
    uint64_t cut = s.fault == RC_FAULT_NONE ? size : s.fail_at;
    if (rc_check_cut(&ref, &got, cut, why, sizeof why))
        abort();
    if (s.fault == RC_FAULT_NONE || s.fault == RC_FAULT_ZERO) {
        if (rc != MP_EOF)
            abort();
        if (s.fault == RC_FAULT_NONE && mf_seq_diff(&ref, &got) >= 0)
            abort();
    } else {
        if (rc != MP_EIO || ei.offset != cut ||
            ei.sys_errno != (s.fault == RC_FAULT_EIO ? EIO : EINTR))
            abort();
    }
    mf_seq_free(&ref);
    mf_seq_free(&got);
    return 0;
}
