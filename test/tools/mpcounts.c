/*
 * mpcounts.c - the C side of the corpus count test
 * (test/python/test_corpus_counts.py): for each FILE, one JSON object on a
 * line with what the C reader counts (mp_reader_get_counts).
 *
 *     mpcounts [--marc8-replace] [--marc8-double halves|combined]
 *              [--sequential] FILE...
 *
 * Public API only, linked against the shared library, like any C user.
 * Exit status 0, or 2 when a file cannot be opened or read to its end.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <marcpipe/marcpipe.h>

static int count_file(const char *path, const mp_reader_options *o)
{
    mp_reader *r;
    int rc = mp_reader_open_path(&r, path, o);
    if (rc != MP_OK) {
        fprintf(stderr, "mpcounts: %s: %s\n", path, mp_strerror(rc));
        return 2;
    }
    const mp_record *rec;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD)
        ;
    mp_counts c = MP_COUNTS_INIT;
    mp_reader_get_counts(r, &c);
    mp_reader_close(r);
    if (rc != MP_EOF) {
        fprintf(stderr, "mpcounts: %s: %s\n", path, mp_strerror(rc));
        return 2;
    }
    printf("{\"file\":\"%s\",\"records\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"warnings\":%" PRIu64
           ",\"records_with_warnings\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"warnings_by_kind\":{",
           path, c.records, c.errors, c.warnings, c.records_with_warnings, c.bytes);
    const char *sep = "";
    for (int k = 0; k < MP_EK_COUNT; k++) {
        if (!c.warnings_by_kind[k])
            continue;
        printf("%s\"%s\":%" PRIu64, sep, mp_error_kind_name((mp_error_kind)k),
               c.warnings_by_kind[k]);
        sep = ",";
    }
    printf("}}\n");
    return 0;
}

int main(int argc, char **argv)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    int status = 0, i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (!strcmp(argv[i], "--marc8-replace")) {
            o.marc8_replace = 1;
        } else if (!strcmp(argv[i], "--sequential")) {
            o.mode = MP_MODE_SEQUENTIAL;
        } else if (!strcmp(argv[i], "--marc8-double") && i + 1 < argc) {
            i++;
            o.marc8_double =
                !strcmp(argv[i], "halves") ? MP_MARC8_DOUBLE_HALVES : MP_MARC8_DOUBLE_COMBINED;
        } else {
            fprintf(stderr, "mpcounts: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    for (; i < argc; i++)
        if (count_file(argv[i], &o) != 0)
            status = 2;
    return status;
}
