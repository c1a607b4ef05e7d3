/*
 * parity_test.c - the pipeline yields exactly what the sequential reader
 * yields (type, offset, length, ordinal, kind, index hash, terminal code)
 * for 1, 2, 4 and 8 workers and chunk sizes from 4 KiB to 4 MiB: on
 * generated fixtures always, and on every file of $MARCPIPE_CORPUS
 * (default ../shared/data, test/support/corpus.h) when it is present.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "corpus.h"
#include "marcfix.h"

static const unsigned workers[] = {1, 2, 4, 8};
static const size_t chunks[] = {4096, 16384, 65536, 1u << 20, 4u << 20};

static void check_parity(const char *name, const unsigned char *data, size_t len, int enc,
                         size_t max_record)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.encoding = (mp_encoding)enc;
    if (max_record)
        o.max_record_size = max_record;
    mp_reader *s;
    cr_assert_eq(mp_reader_open_mem(&s, data, len, mf_seqopts(&o)), MP_OK);
    mf_seq want;
    mf_collect(&want, s);
    mp_reader_close(s);
    cr_assert(want.end_rc == MP_EOF, "%s: sequential reader ended with %s", name,
              mp_err_name(want.end_rc));
    o.mode = MP_MODE_PIPELINE; /* also for inputs MP_MODE_AUTO would read sequentially */
    for (size_t w = 0; w < sizeof workers / sizeof *workers; w++) {
        for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
            if (chunks[c] > 4 * len + 65536 && c > 0)
                continue; /* bigger chunks than the input add nothing */
            o.threads = workers[w];
            o.chunk_size = chunks[c];
            mp_reader *r;
            cr_assert_eq(mp_reader_open_mem(&r, data, len, &o), MP_OK);
            mf_seq got;
            mf_collect(&got, r);
            mp_reader_close(r);
            long d = mf_seq_diff(&want, &got);
            cr_assert(d < 0,
                      "%s: pipeline (%u workers, chunk %zu) differs from the sequential "
                      "reader at item %ld (seq %zu items end %s, pipe %zu items end %s)",
                      name, workers[w], chunks[c], d, want.n, mp_err_name(want.end_rc), got.n,
                      mp_err_name(got.end_rc));
            mf_seq_free(&got);
        }
    }
    mf_seq_free(&want);
}

Test(parity, fixtures, .timeout = 120)
{
    mf_buf b;
    size_t offs[301];
    mf_init(&b);
    mf_sample(&b, 300, 11, offs);
    check_parity("clean fixture", b.p, b.len, MP_ENCODING_AUTO, 0);

    /* Damage of every kind in one stream. */
    mf_set_length(&b, offs[5], "99999");
    mf_set_length(&b, offs[9], "00000");
    mf_set_length(&b, offs[20], "00031");
    b.p[offs[40] + 13] = 'x';
    b.p[offs[60] + 30] = 'Z';
    mf_insert(&b, offs[100], "\r\n junk \x1d", 9);
    mf_insert(&b, offs[200], "\x1a\x00\x00", 3);
    size_t big = b.len;
    mf_big_record(&b, 300000, 5);
    mf_sample(&b, 3, 12, NULL);
    mf_set_length(&b, big, "99999");
    b.len -= 7; /* truncated last record */
    check_parity("damaged fixture", b.p, b.len, MP_ENCODING_AUTO, 0);
    check_parity("damaged fixture, small maximum", b.p, b.len, MP_ENCODING_AUTO, 100000);
    mf_free(&b);
}

Test(parity, empty_and_tiny_inputs, .timeout = 30)
{
    check_parity("empty", (const unsigned char *)"", 0, MP_ENCODING_AUTO, 0);
    check_parity("one byte", (const unsigned char *)"0", 1, MP_ENCODING_AUTO, 0);
    check_parity("terminator", (const unsigned char *)"\x1d", 1, MP_ENCODING_AUTO, 0);
}

Test(parity, corpus, .timeout = 600)
{
    const char *dir = mf_corpus_dir();
    if (!mf_is_dir(dir))
        cr_skip_test("SKIP: corpus %s not found (set MARCPIPE_CORPUS)", dir);
    mf_corpus files;
    mf_corpus_list(&files, dir);
    int n = 0;
    for (size_t i = 0; i < files.n; i++) {
        const char *path = files.v[i].path;
        size_t len;
        unsigned char *data = mf_read_file(path, &len);
        cr_assert_not_null(data, "cannot read %s", path);
        check_parity(path, data, len, MP_ENCODING_RAW, 0);
        check_parity(path, data, len, MP_ENCODING_AUTO, 0);
        free(data);
        n++;
    }
    mf_corpus_free(&files);
    cr_assert_gt(n, 0, "no MARC files under %s", dir);
    cr_log_info("parity checked on %d corpus files", n);
}
