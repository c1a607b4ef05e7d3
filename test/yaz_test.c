/*
 * yaz_test.c - marcpipe against YAZ (yaz-marcdump -i marc -o line) on
 * every MARC file of $MARCPIPE_CORPUS (default ../shared/data, test/support/corpus.h).
 *
 * Undamaged files (no error item and no warning from marcpipe): the same
 * records with the same fields, indicators and subfields, compared through
 * YAZ's "line" rendering. Damaged files (error items, or warnings: marcpipe
 * repairs what YAZ passes through, e.g. a non-ASCII subfield code read as
 * pymarc reads it): at least as many records as YAZ recovers, and
 * the items (records and skipped spans) tile the whole file, so every
 * skipped byte was reported. Text is compared RAW (conversion is tested by
 * the MARC-8/UTF-8 suites). Skips visibly without the corpus or YAZ.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "corpus.h"
#include "marcfix.h"

static void dump_record(mf_buf *out, const mp_record *rec)
{
    /* YAZ rewrites non-numeric leader/10-11 and 20-22 to what it assumes. */
    char ld[24];
    memcpy(ld, mp_record_leader(rec), 24);
    static const int pos[] = {10, 11, 20, 21, 22};
    static const char assumed[] = "22450";
    for (int k = 0; k < 5; k++)
        if (ld[pos[k]] < '0' || ld[pos[k]] > '9')
            ld[pos[k]] = assumed[k];
    mf_append(out, ld, 24);
    mf_appends(out, "\n");
    for (uint32_t i = 0; i < mp_record_field_count(rec); i++) {
        const mp_field *f = mp_record_field(rec, i);
        mf_append(out, f->tag, 3);
        mf_appends(out, " ");
        if (f->is_control) {
            mf_append(out, f->data, f->len);
        } else {
            mf_append(out, &f->ind1, 1);
            mf_append(out, &f->ind2, 1);
            for (uint32_t j = 0; j < f->nsubfields; j++) {
                char h[4] = {' ', '$', f->subfields[j].code, ' '};
                mf_append(out, h, 4);
                mf_append(out, f->subfields[j].data, f->subfields[j].len);
            }
        }
        mf_appends(out, "\n");
    }
    mf_appends(out, "\n");
}

static int yaz_dump(const char *path, mf_buf *out)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "yaz-marcdump -i marc -o line '%s' 2>/dev/null", path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    /* Drop YAZ's diagnostics: "(...)" warnings and "<!-- -->" comments. */
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, p)) > 0)
        if (line[0] != '(' && strncmp(line, "<!--", 4) != 0)
            mf_append(out, line, (size_t)n);
    free(line);
    pclose(p);
    return 0;
}

/* Records in a line dump: leader lines (5 digits) that start a block,
 * i.e. come first or after a blank line or a YAZ comment line. */
static size_t count_records(const mf_buf *d)
{
    size_t n = 0;
    int start = 1;
    size_t i = 0;
    while (i < d->len) {
        const unsigned char *l = d->p + i;
        const unsigned char *nl = memchr(l, '\n', d->len - i);
        size_t ll = nl ? (size_t)(nl - l) : d->len - i;
        int digits = ll >= 24;
        for (size_t k = 0; k < 5 && digits; k++)
            digits = l[k] >= '0' && l[k] <= '9';
        if (start && digits)
            n++;
        start = ll == 0;
        i += ll + 1;
    }
    return n;
}

static int checked, damaged;

static void compare_file(const char *path)
{
    size_t len;
    unsigned char *data = mf_read_file(path, &len);
    cr_assert_not_null(data);
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.encoding = MP_ENCODING_RAW;
    mp_reader *r;
    cr_assert_eq(mp_reader_open_mem(&r, data, len, mf_seqopts(&o)), MP_OK);
    mf_buf mine, yaz;
    mf_init(&mine);
    mf_init(&yaz);
    const mp_record *rec;
    int rc;
    size_t nrec = 0, nerr = 0, nwarn = 0;
    uint64_t next_off = 0;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
        const mp_error_info *e = mp_reader_error(r);
        uint64_t off = rec ? mp_record_offset(rec) : e->offset;
        size_t l = 0;
        if (rec)
            mp_record_raw(rec, &l);
        else
            l = e->length;
        cr_assert_eq(off, next_off, "%s: gap or overlap at %llu", path,
                     (unsigned long long)next_off);
        next_off = off + l;
        if (rc == MP_ERECORD)
            nerr++;
        if (rec) {
            nrec++;
            nwarn += mp_record_warning_count(rec);
            dump_record(&mine, rec);
        }
    }
    cr_assert_eq(rc, MP_EOF, "%s: %s", path, mp_err_name(rc));
    cr_assert_eq(next_off, len, "%s: items cover %llu of %zu bytes", path,
                 (unsigned long long)next_off, len);
    mp_reader_close(r);
    cr_assert_eq(yaz_dump(path, &yaz), 0);
    size_t ny = count_records(&yaz);
    if (nerr == 0 && nwarn == 0) {
        size_t n = mine.len < yaz.len ? mine.len : yaz.len;
        size_t i = 0;
        while (i < n && mine.p[i] == yaz.p[i])
            i++;
        size_t ls = i;
        while (ls > 0 && mine.p[ls - 1] != '\n')
            ls--;
        cr_assert(mine.len == yaz.len && i == n,
                  "%s: differs from yaz-marcdump at byte %zu of the dump:\n  mine: %.80s\n  yaz:  "
                  "%.80s",
                  path, i, (const char *)mine.p + ls, (const char *)yaz.p + ls);
    } else {
        damaged++;
        cr_assert_geq(nrec, ny, "%s: %zu records, yaz-marcdump recovers %zu", path, nrec, ny);
        cr_log_info("%s: %zu records (%zu warnings) + %zu error items (yaz: %zu records)", path,
                    nrec, nwarn, nerr, ny);
    }
    checked++;
    mf_free(&mine);
    mf_free(&yaz);
    free(data);
}

/* The corpus directory, or NULL when it is absent. */
static const char *corpus(void)
{
    const char *dir = mf_corpus_dir();
    return mf_is_dir(dir) ? dir : NULL;
}

Test(yaz, same_records_as_yaz_marcdump, .timeout = 600)
{
    const char *dir = corpus();
    if (!dir)
        cr_skip_test("SKIP: corpus not found (set MARCPIPE_CORPUS)");
    if (system("command -v yaz-marcdump >/dev/null 2>&1") != 0)
        cr_skip_test("SKIP: yaz-marcdump not installed (Debian package yaz)");
    mf_corpus files;
    mf_corpus_list(&files, dir);
    for (size_t i = 0; i < files.n; i++)
        compare_file(files.v[i].path);
    mf_corpus_free(&files);
    cr_assert_gt(checked, 0);
    cr_log_info("%d files compared with yaz-marcdump, %d damaged", checked, damaged);
}

/* The two files YAZ recovers nothing from yield what they contain. */
Test(yaz, files_yaz_cannot_read, .timeout = 60)
{
    const char *dir = corpus();
    if (!dir)
        cr_skip_test("SKIP: corpus not found (set MARCPIPE_CORPUS)");
    static const struct {
        const char *name;
        int records, good;
        int kind;
    } want[] = {
        /* leader says 23375; the terminator is 2 bytes earlier */
        {"marc4j/bad_too_long_plus_2.mrc", 3, 2, MP_EK_LENGTH},
        /* one record of 214804 bytes whose leader says 99999 */
        {"marc4j/datos-20161010-slice.mrc", 1, 0, MP_EK_LENGTH},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, want[i].name);
        mp_reader *r;
        cr_assert_eq(mp_reader_open_path(&r, path, NULL), MP_OK);
        const mp_record *rec;
        int rc, n = 0, good = 0;
        while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
            cr_assert_not_null(rec, "%s: %s", path, mp_reader_error(r)->message);
            cr_assert_gt(mp_record_field_count(rec), 5);
            if (rc == MP_OK)
                good++;
            else
                cr_assert_eq((int)mp_reader_error(r)->kind, want[i].kind, "%s: %s", path,
                             mp_reader_error(r)->message);
            n++;
        }
        cr_assert_eq(rc, MP_EOF);
        cr_assert_eq(n, want[i].records, "%s: %d records", path, n);
        cr_assert_eq(good, want[i].good, "%s: %d good", path, good);
        mp_reader_close(r);
    }
}
