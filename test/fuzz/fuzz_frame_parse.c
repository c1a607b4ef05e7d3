/*
 * fuzz_frame_parse.c - libFuzzer target: ISO 2709 framing + MARC parsing
 * on arbitrary bytes.
 *
 * Runs the sequential mode over the input (mp_reader_open_mem) and
 * touches every byte of every record and error item it yields (ASan sees
 * any over-read); items must come in stream order and the stream must end
 * in MP_EOF. On one input in eight it also runs the pipeline with tiny
 * chunks (64-319 bytes, 1-2 workers on a shared pool) and requires the
 * very same items (parity). Build: -DMP_BUILD_FUZZ=ON with clang.
 */
#include <stdint.h>
#include <stdlib.h>
#include "relcheck.h"

static mp_pool *g_pool;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mf_seq ref, got;
    char why[256];
    if (rc_ref_mem(&ref, data, size) != MP_EOF)
        abort(); /* a memory source always ends in MP_EOF */
    if (rc_check_order(&ref, why, sizeof why))
        abort();
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size && i < 64; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    if (size > 0 && (h & 7) == 0) {
        if (!g_pool && mp_pool_create(&g_pool, 2) != MP_OK)
            abort();
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        mp_reader *r = NULL;
        o.chunk_size = 64 + (size_t)((h >> 8) & 255);
        o.chunks_in_flight = 2 + (unsigned)((h >> 16) & 3);
        o.pool = (h >> 20) & 1 ? g_pool : NULL;
        o.threads = 1 + (unsigned)((h >> 21) & 1);
        memset(&got, 0, sizeof(got));
        if (mp_reader_open_mem(&r, data, size, &o) != MP_OK)
            abort();
        mf_collect(&got, r);
        mp_reader_close(r);
        if (mf_seq_diff(&ref, &got) >= 0)
            abort(); /* the pipeline and the sequential reader disagree */
        mf_seq_free(&got);
    }
    mf_seq_free(&ref);
    return 0;
}
