/*
 * fuzz_ranges.c - libFuzzer target: byte ranges compose on arbitrary bytes.
 *
 * The whole input is read by the sequential reader; every anchor (a record
 * terminator followed by a plausible leader) must start one of its units
 * (stages/FRAMING.md, "Anchors"). Then the input is cut at 1-7 positions
 * derived from a hash of its bytes (one in four cuts snapped onto a record
 * terminator or just after one) and the ranges are read one after the other,
 * by the sequential reader or, on one input in four, the pipeline with tiny
 * chunks; with first_ordinal chained through mp_reader_units, their items
 * concatenated must be the whole read's, item for item, each range ending
 * in MP_EOF. Build: -DMP_BUILD_FUZZ=ON with clang.
 */
#include <stdint.h>
#include <stdlib.h>
#include "marc.h"
#include "relcheck.h"

static mp_pool *g_pool;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mf_seq ref, all, got;
    /* Byte ranges are ISO 2709's (stages/FRAMING.md): the format is named.
     * An input whose first bytes look like another format ends in
     * MP_EFORMAT as a whole, and so would its first range: skipped. Later
     * ranges start at anchors, whose leaders start with digits. */
    mp_reader_options ro = MP_READER_OPTIONS_INIT;
    ro.format = MP_FORMAT_ISO2709;
    mp_reader *whole = NULL;
    if (mp_reader_open_mem(&whole, data, size, mf_seqopts(&ro)) != MP_OK)
        abort();
    memset(&ref, 0, sizeof ref);
    int wrc = mf_collect(&ref, whole);
    mp_reader_close(whole);
    if (wrc == MP_EFORMAT) { /* its first bytes look like MARCXML, JSON or MARCMaker */
        mf_seq_free(&ref);
        return 0;
    }
    if (wrc != MP_EOF)
        abort();
    /* Every anchor starts a unit of the whole read. */
    size_t k = 0;
    for (size_t r = 0; r < size; r++) {
        if (data[r] != 0x1D || !mp__marc_anchor(data + r, size - r))
            continue;
        while (k < ref.n && ref.v[k].offset < r + 1)
            k++;
        if (k == ref.n || ref.v[k].offset != r + 1)
            abort(); /* an anchor inside a unit */
    }
    if (size < 2) {
        mf_seq_free(&ref);
        return 0;
    }
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    uint64_t rng = h;
    unsigned ncuts = 1 + (unsigned)(rc_rand(&rng) % 7);
    uint64_t cuts[8];
    for (unsigned i = 0; i < ncuts; i++) {
        uint64_t c = 1 + rc_rand(&rng) % (size - 1);
        if (rc_rand(&rng) % 4 == 0) {
            const uint8_t *t = memchr(data + c, 0x1D, size - c);
            if (t && (size_t)(t - data) + 1 < size)
                c = (uint64_t)(t - data) + (rc_rand(&rng) & 1);
        }
        cuts[i] = c < 1 ? 1 : c;
    }
    qsort(cuts, ncuts, sizeof *cuts, cmp_u64);
    int pipeline = (h & 3) == 0;
    memset(&all, 0, sizeof all);
    uint64_t start = 0, first = 0;
    for (unsigned i = 0; i <= ncuts; i++) {
        mp_reader_options o = MP_READER_OPTIONS_INIT;
        o.mode = pipeline ? MP_MODE_PIPELINE : MP_MODE_SEQUENTIAL;
        o.format = MP_FORMAT_ISO2709;
        o.chunk_size = 64 + (size_t)(rc_rand(&rng) % 256);
        o.chunks_in_flight = 2 + (unsigned)(rc_rand(&rng) % 3);
        if (pipeline) {
            if (!g_pool && mp_pool_create(&g_pool, 2) != MP_OK)
                abort();
            o.pool = g_pool;
        }
        o.range_start = start;
        o.range_end = i < ncuts ? cuts[i] : 0;
        o.first_ordinal = first;
        mp_reader *r = NULL;
        if (mp_reader_open_mem(&r, data, size, &o) != MP_OK)
            abort();
        if (mf_collect(&got, r) != MP_EOF)
            abort(); /* a range of a memory input always ends in MP_EOF */
        first += mp_reader_units(r);
        mp_reader_close(r);
        for (size_t j = 0; j < got.n; j++) {
            if (got.v[j].offset < start || (o.range_end && got.v[j].offset >= o.range_end))
                abort(); /* a unit that does not begin in its range */
            if (all.n == all.cap) {
                all.cap = all.cap ? all.cap * 2 : 64;
                all.v = realloc(all.v, all.cap * sizeof *all.v);
                if (!all.v)
                    abort();
            }
            all.v[all.n++] = got.v[j];
        }
        mf_seq_free(&got);
        start = o.range_end;
    }
    all.end_rc = ref.end_rc;
    all.end_off = ref.end_off;
    if (mf_seq_diff(&ref, &all) >= 0)
        abort(); /* the ranges do not compose to the whole read */
    mf_seq_free(&all);
    mf_seq_free(&ref);
    return 0;
}
