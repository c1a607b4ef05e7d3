/*
 * fuzz_formats.c - libFuzzer target: the text input formats (MARCXML,
 * MARC-in-JSON, MARCMaker) - detection, framing, parsing - on arbitrary
 * bytes. Owner: formats.
 *
 * The input is read as the default reader reads it (format sniffed from
 * the first bytes) by the sequential reader: every byte of every record is
 * touched, items come in order, the stream ends in MP_EOF. Then, by the
 * detected format:
 *   - every unit the framer yields is framed again from shorter prefixes
 *     (NEED, or the same answer: framing never depends on what follows);
 *   - MARCXML: every unit is parsed by the fast path and by libxml2, and
 *     when the fast path accepts, both records must be identical (the fast
 *     path accepts only what libxml2 accepts, and means the same);
 * and on one input in four the pipeline (tiny chunks, 1-2 workers) must
 * yield exactly what the sequential reader yields.
 * Seeds: the corpus's *.xml and *.json files, test/fuzz/regress/formats.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "format.h"
#include "relcheck.h"

static mp_pool *g_pool;

static int detected(const uint8_t *data, size_t size)
{
    int f;
    char enc[40];
    mp__sniff(data, size, 1, &f, enc, sizeof enc);
    return f;
}

/* Framing never depends on the bytes after the answer. */
static void check_prefixes(const mp__marc_fmt *f, const uint8_t *p, size_t n, size_t len)
{
    mp__frame full = {0, 0};
    mp__frame_rc rf = mp__fmt_frame(f, p, n, MP_FINAL_EOF, &full);
    static const size_t cuts[] = {1, 2, 7, 31, 200};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        size_t a = len > cuts[k] ? len - cuts[k] : 1;
        if (a >= n)
            continue;
        mp__frame o = {0, 0};
        mp__frame_rc r = mp__fmt_frame(f, p, a, MP_FINAL_NO, &o);
        if (r == MP_FRAME_NEED) {
            if (o.len <= a)
                abort(); /* NEED must ask for more */
            continue;
        }
        if (r == MP_FRAME_IGNORE && rf == MP_FRAME_IGNORE)
            continue;
        if (r != rf || o.len != full.len || o.kind != full.kind)
            abort(); /* an answer that depends on what follows */
    }
}

static void twin(const mp__marc_fmt *f, const uint8_t *p, size_t n)
{
    mp__arena a, b;
    mp__arena_init(&a, 4096);
    mp__arena_init(&b, 4096);
    mp__item ia, ib;
    memset(&ia, 0, sizeof ia);
    ia.data = p;
    ia.len = (uint32_t)n;
    ia.type = MP_ITEM_RECORD;
    ib = ia;
    int ra = mp__xml_parse_fast(f, &ia, &a);
    int rb = mp__xml_parse_libxml2(f, &ib, &b);
    if (rb != MP_OK)
        abort();
    if (ra == 0) {
        const mp_record *x = ia.result, *y = ib.result;
        if (ia.status != ib.status || mf_record_hash(x) != mf_record_hash(y))
            abort(); /* the fast path disagrees with libxml2 */
        size_t xl, yl;
        const unsigned char *xr = mp_record_raw(x, &xl), *yr = mp_record_raw(y, &yl);
        if (xl != yl || memcmp(xr, yr, xl) != 0)
            abort();
    } else if (ra != 1) {
        abort();
    }
    mp__arena_free(&a);
    mp__arena_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fmt = detected(data, size);
    if (fmt != MP_FORMAT_MARCXML && fmt != MP_FORMAT_JSON && fmt != MP_FORMAT_MRK)
        return 0; /* ISO 2709 has its own targets */
    mf_seq ref, got;
    char why[256];
    mp_reader *r = NULL;
    memset(&ref, 0, sizeof ref);
    if (mp_reader_open_mem(&r, data, size, mf_seqopts(NULL)) != MP_OK)
        abort();
    if (mf_collect(&ref, r) != MP_EOF)
        abort(); /* a memory source always ends in MP_EOF */
    mp_reader_close(r);
    /* mf_collect hashed every byte of every record: ASan sees any over-read. */
    if (rc_check_order(&ref, why, sizeof why))
        abort();

    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.format = (mp_format)fmt;
    o.max_record_size = 64 * 1024;
    mp__marc_fmt f;
    if (mp__marc_fmt_init(&f, &o) != MP_OK)
        abort();
    f.resolved = 1;
    size_t pos = 0;
    while (pos < size) {
        mp__frame out = {0, 0};
        mp__frame_rc rc = mp__fmt_frame(&f, data + pos, size - pos, MP_FINAL_EOF, &out);
        if (rc == MP_FRAME_NEED || out.len == 0 || out.len > size - pos)
            abort();
        check_prefixes(&f, data + pos, size - pos, out.len);
        if (rc == MP_FRAME_RECORD && fmt == MP_FORMAT_MARCXML)
            twin(&f, data + pos, out.len);
        pos += out.len;
    }

    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size && i < 64; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    if ((h & 3) == 0) {
        if (!g_pool && mp_pool_create(&g_pool, 2) != MP_OK)
            abort();
        mp_reader_options po = MP_READER_OPTIONS_INIT;
        po.chunk_size = 64 + (size_t)((h >> 8) & 255);
        po.chunks_in_flight = 2 + (unsigned)((h >> 16) & 3);
        po.pool = (h >> 20) & 1 ? g_pool : NULL;
        po.threads = 1 + (unsigned)((h >> 21) & 1);
        memset(&got, 0, sizeof got);
        if (mp_reader_open_mem(&r, data, size, &po) != MP_OK)
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
