/*
 * main.c - the `marcpipe` command-line tool: count, dump, stats, convert, split.
 *
 * Reads each FILE (or '-' for standard input) through the reader in its
 * default mode (MP_MODE_AUTO: the pipeline, or the sequential reader for
 * small files), or as --pipeline / --sequential force. Files that run the
 * pipeline share ONE mp_pool, started at the first such file, so worker
 * threads are started once (and never for a run of small files). The tool
 * is the consumer of each reader and runs single-threaded on its side; it
 * is the only place in marcpipe that prints.
 *
 * convert (and dump, a convert to the line format) opens one mp_writer for
 * the whole run and hands each reader to mp_convert(): the readers are
 * opened with output_format, so the records are serialised by the parser
 * workers and this thread only writes the bytes in input order.
 *
 * Exit status: 0 clean, 1 data errors reported, 2 usage or I/O failure.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"

enum { EXIT_CLEAN = 0, EXIT_DATA = 1, EXIT_USAGE = 2 };

typedef enum cli_cmd { CMD_COUNT, CMD_DUMP, CMD_STATS, CMD_CONVERT, CMD_SPLIT } cli_cmd;

static const char *const cmd_names[] = {"count", "dump", "stats", "convert", "split"};

typedef struct cli_opts {
    cli_cmd cmd;
    mp_reader_options ro;
    unsigned threads;    /* as asked (0: usable CPUs - 1, at least 1); then the pool's size */
    uint64_t max_errors; /* global cap over all files (0: none) */
    int json, quiet, verbose, sequential, pipeline;
    mp_pool *pool;           /* shared by the files that run the pipeline; started lazily */
    int out_format;          /* -o (mp_format), 0: not given */
    unsigned out_flags;      /* MP_WRITE_* from --ascii, --keep-leader, ... */
    mp_damaged damaged;      /* --damaged */
    const char *output;      /* --output FILE, NULL or "-": standard output */
    mp_split_options split;  /* split: --parts, --target-size */
    const char *errors_json; /* --errors-json FILE, or NULL */
    FILE *ej;                /* its stream while the run goes on */
} cli_opts;

/* Counts of one input file. Main thread only. */
typedef struct cli_file {
    const char *path;
    int failed;        /* could not be opened or read to its end */
    const char *error; /* mp_err_name of the failure, or NULL */
    uint64_t records, errors, bytes, warnings, warned;
    uint64_t by_kind[MP_EK_COUNT];
    uint64_t warn_kind[MP_EK_COUNT];
    uint64_t unreported;
} cli_file;

/* Totals over all files. Main thread only. */
typedef struct cli_totals {
    uint64_t records;  /* good records delivered */
    uint64_t errors;   /* error items, including skipped ones */
    uint64_t bytes;    /* bytes consumed */
    uint64_t warnings; /* warnings on good records */
    uint64_t warned;   /* good records with warnings */
    uint64_t by_kind[MP_EK_COUNT];
    uint64_t warn_kind[MP_EK_COUNT];
    cli_file *per_file; /* one per FILE argument */
    int nper;
    uint64_t unreported; /* counted by the reader but never returned (--policy skip) */
    unsigned files, failed_files;
    uint64_t refused; /* records the writer could not write (convert, dump) */
    int stopped;      /* --policy stop, --damaged stop or --max-errors ended the run */
    int io_failure;   /* a file could not be opened or read, or the output failed */
    mp_stats stats;   /* per-stage counters summed over files (pipeline only) */
    int have_stats;
    unsigned files_pipeline, files_sequential; /* which path each file ran */
    unsigned
        pool_threads; /* the CLI's pool's worker count (kept: the pool is gone by the report) */
} cli_totals;

static const char *prog = "marcpipe";

/* Opens one input ("-": standard input) with the run's options. */
static int src_open(mp_reader **r, const char *path, const cli_opts *o)
{
    return strcmp(path, "-") == 0 ? mp_reader_open_fd(r, 0, &o->ro)
                                  : mp_reader_open_path(r, path, &o->ro);
}

/* ---- usage ---------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: marcpipe COMMAND [OPTIONS] FILE...\n"
            "\n"
            "Read MARC 21 files - ISO 2709, MARCXML, MARC-in-JSON or MARCMaker - through\n"
            "marcpipe's multi-threaded pipeline, and write them in other formats.\n"
            "FILE '-' is standard input. Several files are read one after the other on\n"
            "one shared pool of worker threads; counts and times cover all of them.\n"
            "Files under 1 MiB (and every file where one CPU is usable: affinity mask or a\n"
            "container's CPU quota) are read by the sequential reader, which is faster\n"
            "there, unless --pipeline is given.\n"
            "\n"
            "Commands:\n"
            "  count    parse and validate every record; print the number of good records\n"
            "  dump     print every good record in yaz-marcdump's line format (leader line,\n"
            "           '001 value', 'TAG ind1ind2 $a value $b value', blank line): the same\n"
            "           as 'convert -o line' (with --json: 'convert -o ndjson')\n"
            "  stats    print records, error items by kind, bytes, seconds, MB/s, records/s\n"
            "  convert  write every good record in another format (-o) to standard output\n"
            "           or --output FILE, in input order; the parser threads serialise\n"
            "  split    plan byte ranges for parallel reading (no parsing): one JSON object\n"
            "           per FILE, {\"file\",\"size\",\"ranges\":[{\"start\",\"end\"},...]};\n"
            "           each range after the first starts on a record\n"
            "\n"
            "Options:\n"
            "  -i, --input-format F     auto (default: from the first bytes of each file:\n"
            "                           a digit ISO 2709, '<' MARCXML, '{' or '[' JSON,\n"
            "                           '=' MARCMaker), iso2709 (or marc), marcxml (or xml),\n"
            "                           json (MARC-in-JSON: one record per line or an array)\n"
            "                           or mrk (MARCMaker); a file that looks like another\n"
            "                           format than the one named is one error (exit 2)\n"
            "  -t, --threads N          parser worker threads (default 0: one fewer than the\n"
            "                           usable CPUs, at least 1; the reading thread parses too)\n"
            "  -p, --policy P           what to do with a damaged record or framing problem:\n"
            "                           report (default: print it, go on), stop (end the run\n"
            "                           at the first one), skip (go on silently, count them)\n"
            "  -m, --max-errors N       end the run after N error items (default 0: no cap)\n"
            "  -e, --encoding E         auto (default: leader/09 'a' = UTF-8, else MARC-8),\n"
            "                           utf8 (force UTF-8), marc8 (force MARC-8), raw (bytes\n"
            "                           as stored, no decoding or text validation)\n"
            "  -u, --utf8 H             invalid UTF-8: strict (default: error item), replace\n"
            "                           (U+FFFD and a warning), ignore (drop the bad bytes and\n"
            "                           a warning)\n"
            "      --marc8-replace      invalid MARC-8 becomes U+FFFD and a warning, not an\n"
            "                           error item\n"
            "      --marc8-double D     MARC-8 double diacritics (ligature 0xEB/0xEC, double\n"
            "                           tilde 0xFA/0xFB): combined (default: U+0361/U+0360 after\n"
            "                           the first letter, as LoC and yaz) or halves\n"
            "                           (U+FE20-U+FE23, one per half, as pymarc)\n"
            "      --strict             warnings become error items (see below)\n"
            "      --no-normalize       do not NFC-normalise text converted from MARC-8\n"
            "  -c, --chunk-size SIZE    bytes per pipeline chunk (default: a quarter of the L2\n"
            "                           cache, 128K to 512K); K, M, G\n"
            "                           suffixes are powers of 1024\n"
            "      --chunks N           chunk buffers in flight (default 4 x (threads + 1))\n"
            "      --max-record-size SIZE  longest record accepted (default 8M; 64 to\n"
            "                           4294967295, i.e. 4G - 1)\n"
            "      --unordered          deliver records as workers finish (dump order varies)\n"
            "      --sequential         use the single-threaded sequential reader instead\n"
            "      --pipeline           use the pipeline even where the sequential reader\n"
            "                           would be chosen (small files, one CPU)\n"
            "  -r, --range A:B          read only the records and error items that begin at\n"
            "                           byte offsets A <= offset < B of each FILE ('A:' to the\n"
            "                           end); the ranges of a partition add up to the whole\n"
            "                           file (see 'split')\n"
            "  -P, --parts N            split: at most N ranges (default: --target-size)\n"
            "      --target-size SIZE   split: about SIZE bytes per range (default 64M)\n"
            "  -j, --json               machine-readable output: for count and stats one JSON\n"
            "                           object on stdout (records, errors, errors_by_kind,\n"
            "                           warnings, warnings_by_kind, bytes, seconds, and the\n"
            "                           same counts per input in \"per_file\"); for dump one\n"
            "                           MARC-in-JSON object per record and line\n"
            "      --errors-json FILE   write every error item, warning and failure to FILE\n"
            "                           ('-': stdout) as one JSON object per line (ordinal and\n"
            "                           offset count from 0, \"record\" from 1)\n"
            "  -o, --output-format F    convert: iso2709 (or marc), marcxml (or xml), json\n"
            "                           (one array, one record per line), ndjson (one\n"
            "                           object per line), mrk (MARCMaker, as pymarc's\n"
            "                           TextWriter), line (default, as dump); -i and -o\n"
            "                           mean what they mean for yaz-marcdump\n"
            "  -f, --from E             the same as --encoding (yaz-marcdump's -f)\n"
            "      --output FILE        convert, dump: write to FILE (default '-': stdout)\n"
            "      --damaged D          convert, dump: a damaged record (an error item with a\n"
            "                           parsed record) is reported and then: skip (default:\n"
            "                           not written), write (what was parsed), stop (the\n"
            "                           run ends); framing errors are never written\n"
            "      --keep-leader        leave leader/09 as read (default: 'a' in iso2709,\n"
            "                           marcxml and json output, whose text is UTF-8)\n"
            "      --ascii              json: \\uXXXX escapes; marcxml: &#N; for non-ASCII\n"
            "      --compact-xml        marcxml without line breaks, as pymarc writes it\n"
            "      --spaced-json        json with ', ' and ': ', as pymarc's as_json\n"
            "  -q, --quiet              no error items and no progress bar on stderr\n"
            "  -v, --verbose            stats: add per-stage counters of the pipeline\n"
            "  -V, --version            print the version and exit\n"
            "  -h, --help               print this help and exit\n"
            "\n"
            "Error items go to stderr as: FILE: record N, offset OFFSET: KIND [001 NUMBER]\n"
            "[field TAG $CODE]: MESSAGE, where N counts the units of the file from 1\n"
            "(records and skipped spans) and OFFSET is the byte offset from 0. A record\n"
            "whose content is readable despite an anomaly (a bare subfield delimiter,\n"
            "missing indicators, a non-ASCII subfield code, a misplaced field terminator,\n"
            "text repaired under --utf8 replace or --marc8-replace, ...) is a good record\n"
            "with warnings: they go to stderr as 'warning: FILE: record N, offset OFFSET:\n"
            "KIND ...' and do not change the exit status (stages/FRAMING.md lists every\n"
            "check); convert and dump write such records. A progress bar is shown on stderr\n"
            "for runs longer than half a second when stderr is a terminal\n"
            "(environment: MARCPIPE_PROGRESS_DELAY=SECONDS changes the half second).\n"
            "\n"
            "Exit status:\n"
            "  0  every record was read (with or without warnings)\n"
            "  1  data errors: error items were found (also with --policy skip), a\n"
            "     record could not be written (over iso2709's 99999 bytes), or\n"
            "     --policy stop / --damaged stop / --max-errors ended the run\n"
            "  2  usage error, a file could not be opened or read (a directory, a missing\n"
            "     file, an I/O error), or the output failed\n"
            "\n"
            "Examples:\n"
            "  marcpipe count books.mrc\n"
            "  marcpipe stats --threads 4 --json a.mrc b.mrc\n"
            "  marcpipe dump books.mrc | less\n"
            "  marcpipe count oai-harvest.xml export.json   (formats detected per file)\n"
            "  marcpipe convert -o marcxml --output books.xml books.mrc\n"
            "  marcpipe convert -i json -o iso2709 --output books.mrc books.json\n"
            "  marcpipe convert -o iso2709 --damaged write --output fixed.mrc broken.mrc\n"
            "  curl -s https://example.org/export.mrc | marcpipe stats -\n"
            "  marcpipe count --policy stop --encoding marc8 old-catalogue.mrc\n"
            "  marcpipe split --parts 8 big.mrc\n"
            "  marcpipe count --range 0:1048576 big.mrc\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'marcpipe --help' for more information.\n");
    return EXIT_USAGE;
}

/* ---- option values -------------------------------------------------------- */

/* "512K", "8M", "4096": powers of 1024. Returns 0 on success. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default:
        return -1;
    }
    if (*end == 'i' && end[1] == 'B')
        end += 2;
    else if (*end == 'B')
        end++;
    if (*end != '\0' || (shift > 0 && v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Index of s in names[0..n), or -1. */
static int pick(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

enum {
    OPT_NO_NORMALIZE = 256,
    OPT_MAX_RECORD_SIZE,
    OPT_UNORDERED,
    OPT_SEQUENTIAL,
    OPT_PIPELINE,
    OPT_CHUNKS,
    OPT_MARC8_REPLACE,
    OPT_OUTPUT,
    OPT_DAMAGED,
    OPT_KEEP_LEADER,
    OPT_ASCII,
    OPT_COMPACT_XML,
    OPT_SPACED_JSON,
    OPT_TARGET_SIZE,
    OPT_MARC8_DOUBLE,
    OPT_STRICT,
    OPT_ERRORS_JSON,
};

static const struct option long_options[] = {
    {"threads", required_argument, NULL, 't'},
    {"policy", required_argument, NULL, 'p'},
    {"max-errors", required_argument, NULL, 'm'},
    {"encoding", required_argument, NULL, 'e'},
    {"utf8", required_argument, NULL, 'u'},
    {"marc8-replace", no_argument, NULL, OPT_MARC8_REPLACE},
    {"marc8-double", required_argument, NULL, OPT_MARC8_DOUBLE},
    {"strict", no_argument, NULL, OPT_STRICT},
    {"errors-json", required_argument, NULL, OPT_ERRORS_JSON},
    {"no-normalize", no_argument, NULL, OPT_NO_NORMALIZE},
    {"chunk-size", required_argument, NULL, 'c'},
    {"chunks", required_argument, NULL, OPT_CHUNKS},
    {"max-record-size", required_argument, NULL, OPT_MAX_RECORD_SIZE},
    {"unordered", no_argument, NULL, OPT_UNORDERED},
    {"sequential", no_argument, NULL, OPT_SEQUENTIAL},
    {"pipeline", no_argument, NULL, OPT_PIPELINE},
    {"input-format", required_argument, NULL, 'i'},
    {"output-format", required_argument, NULL, 'o'},
    {"from", required_argument, NULL, 'f'},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"damaged", required_argument, NULL, OPT_DAMAGED},
    {"keep-leader", no_argument, NULL, OPT_KEEP_LEADER},
    {"ascii", no_argument, NULL, OPT_ASCII},
    {"compact-xml", no_argument, NULL, OPT_COMPACT_XML},
    {"spaced-json", no_argument, NULL, OPT_SPACED_JSON},
    {"range", required_argument, NULL, 'r'},
    {"parts", required_argument, NULL, 'P'},
    {"target-size", required_argument, NULL, OPT_TARGET_SIZE},
    {"json", no_argument, NULL, 'j'},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/*
 * Parses the options of argv into *o. Returns -1 to go on, or an exit
 * status (help, version, usage error).
 */
static int parse_args(int argc, char **argv, cli_opts *o)
{
    static const char *const policies[] = {"report", "stop", "skip"};
    static const char *const encodings[] = {"auto", "utf8", "marc8", "raw"};
    static const char *const utf8s[] = {"strict", "replace", "ignore"};
    static const char *const damaged[] = {"skip", "write", "stop"};
    static const char *const doubles[] = {"combined", "halves"};
    /* Format names, yaz-marcdump's where it has one ("marc", "marcxml", "json", "line"). */
    static const char *const in_names[] = {"auto", "iso2709", "marc", "marcxml",
                                           "xml",  "json",    "mrk"};
    static const mp_format in_fmts[] = {MP_FORMAT_AUTO,    MP_FORMAT_ISO2709, MP_FORMAT_ISO2709,
                                        MP_FORMAT_MARCXML, MP_FORMAT_MARCXML, MP_FORMAT_JSON,
                                        MP_FORMAT_MRK};
    static const char *const out_names[] = {"iso2709", "marc",   "marcxml", "xml",
                                            "json",    "ndjson", "mrk",     "line"};
    static const mp_format out_fmts[] = {MP_FORMAT_ISO2709, MP_FORMAT_ISO2709, MP_FORMAT_MARCXML,
                                         MP_FORMAT_MARCXML, MP_FORMAT_JSON,    MP_FORMAT_NDJSON,
                                         MP_FORMAT_MRK,     MP_FORMAT_LINE};
    mp_reader_options defaults = MP_READER_OPTIONS_INIT;
    mp_split_options split_defaults = MP_SPLIT_OPTIONS_INIT;
    memset(o, 0, sizeof *o);
    o->ro = defaults;
    o->split = split_defaults;
    char *colon;
    uint64_t v;
    int c, k;

    while ((c = getopt_long(argc, argv, "t:p:m:e:f:u:c:i:o:r:P:jqvVh", long_options, NULL)) != -1) {
        switch (c) {
        case 't':
            if (parse_uint(optarg, 1024, &v) != 0)
                return usage_error("--threads wants a number from 0 to 1024, not '%s'", optarg);
            o->threads = (unsigned)v;
            break;
        case 'p':
            if ((k = pick(optarg, policies, 3)) < 0)
                return usage_error("--policy wants report, stop or skip, not '%s'", optarg);
            o->ro.policy = (mp_policy)k;
            break;
        case 'm':
            if (parse_uint(optarg, UINT64_MAX, &v) != 0)
                return usage_error("--max-errors wants a number, not '%s'", optarg);
            o->max_errors = v;
            break;
        case 'e':
        case 'f':
            if ((k = pick(optarg, encodings, 4)) < 0)
                return usage_error("--encoding wants auto, utf8, marc8 or raw, not '%s'", optarg);
            o->ro.encoding = (mp_encoding)k;
            break;
        case 'i':
            if ((k = pick(optarg, in_names, 7)) < 0)
                return usage_error("--input-format wants auto, iso2709 (marc), marcxml, json or "
                                   "mrk, not '%s'",
                                   optarg);
            o->ro.format = in_fmts[k];
            break;
        case 'o':
            if ((k = pick(optarg, out_names, 8)) < 0)
                return usage_error("--output-format wants iso2709 (marc), marcxml, json, ndjson, "
                                   "mrk or line, not '%s'",
                                   optarg);
            o->out_format = out_fmts[k];
            break;
        case OPT_OUTPUT:
            o->output = optarg;
            break;
        case OPT_DAMAGED:
            if ((k = pick(optarg, damaged, 3)) < 0)
                return usage_error("--damaged wants skip, write or stop, not '%s'", optarg);
            o->damaged = (mp_damaged)k;
            break;
        case OPT_KEEP_LEADER:
            o->out_flags |= MP_WRITE_KEEP_LEADER;
            break;
        case OPT_ASCII:
            o->out_flags |= MP_WRITE_ASCII;
            break;
        case OPT_COMPACT_XML:
            o->out_flags |= MP_WRITE_XML_COMPACT;
            break;
        case OPT_SPACED_JSON:
            o->out_flags |= MP_WRITE_JSON_SPACED;
            break;
        case 'u':
            if ((k = pick(optarg, utf8s, 3)) < 0)
                return usage_error("--utf8 wants strict, replace or ignore, not '%s'", optarg);
            o->ro.utf8_handling = (mp_utf8_handling)k;
            break;
        case OPT_MARC8_REPLACE:
            o->ro.marc8_replace = 1;
            break;
        case OPT_MARC8_DOUBLE:
            if ((k = pick(optarg, doubles, 2)) < 0)
                return usage_error("--marc8-double wants combined or halves, not '%s'", optarg);
            o->ro.marc8_double = (mp_marc8_double)k;
            break;
        case OPT_STRICT:
            o->ro.strict = 1;
            break;
        case OPT_ERRORS_JSON:
            if (optarg[0] == '\0')
                return usage_error("--errors-json wants a file name or '-', not '%s'", optarg);
            o->errors_json = optarg;
            break;
        case OPT_NO_NORMALIZE:
            o->ro.no_normalize = 1;
            break;
        case 'c':
            if (parse_size(optarg, &v) != 0 || v < 1024 || v > ((uint64_t)1 << 30))
                return usage_error("--chunk-size wants a size from 1K to 1G (e.g. 512K), not '%s'",
                                   optarg);
            o->ro.chunk_size = (size_t)v;
            break;
        case OPT_CHUNKS:
            if (parse_uint(optarg, 65536, &v) != 0)
                return usage_error("--chunks wants a number from 0 to 65536, not '%s'", optarg);
            o->ro.chunks_in_flight = (unsigned)v;
            break;
        case OPT_MAX_RECORD_SIZE:
            if (parse_size(optarg, &v) != 0 || v < 64 || v > UINT32_MAX)
                return usage_error("--max-record-size wants a size from 64 to 4294967295 "
                                   "(4G - 1), not '%s'",
                                   optarg);
            o->ro.max_record_size = (size_t)v;
            break;
        case OPT_UNORDERED:
            o->ro.unordered = 1;
            break;
        case 'r':
            /* A:B, A: or :B (sizes with K/M/G suffixes allowed) */
            colon = strchr(optarg, ':');
            if (colon == NULL)
                return usage_error("--range wants START:END byte offsets (END may be empty), not "
                                   "'%s'",
                                   optarg);
            *colon = '\0';
            v = 0;
            if ((*optarg != '\0' && parse_size(optarg, &v) != 0)) {
                *colon = ':';
                return usage_error("--range: bad start offset in '%s'", optarg);
            }
            o->ro.range_start = v;
            v = 0;
            if (colon[1] != '\0' && (parse_size(colon + 1, &v) != 0 || v < o->ro.range_start)) {
                *colon = ':';
                return usage_error("--range: bad end offset (or end before start) in '%s'", optarg);
            }
            *colon = ':';
            o->ro.range_end = v;
            if (colon[1] != '\0' && v == 0) /* ":0" or "0:0": nothing */
                o->ro.range_start = o->ro.range_end = UINT64_MAX;
            break;
        case 'P':
            if (parse_uint(optarg, 1u << 24, &v) != 0 || v == 0)
                return usage_error("--parts wants a number from 1 to 16777216, not '%s'", optarg);
            o->split.parts = (unsigned)v;
            break;
        case OPT_TARGET_SIZE:
            if (parse_size(optarg, &v) != 0 || v == 0)
                return usage_error("--target-size wants a size such as 64M, not '%s'", optarg);
            o->split.target_bytes = v;
            break;
        case OPT_SEQUENTIAL:
            o->sequential = 1;
            o->pipeline = 0;
            o->ro.mode = MP_MODE_SEQUENTIAL;
            break;
        case OPT_PIPELINE:
            o->pipeline = 1;
            o->sequential = 0;
            o->ro.mode = MP_MODE_PIPELINE;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case 'V':
            printf("marcpipe %s\n", mp_version());
            return EXIT_CLEAN;
        case 'h':
            usage(stdout);
            return EXIT_CLEAN;
        default: /* getopt printed the problem */
            fprintf(stderr, "Try 'marcpipe --help' for more information.\n");
            return EXIT_USAGE;
        }
    }
    return -1;
}

/* ---- reporting ------------------------------------------------------------ */

/* Prints "TAG $C" context of an item or warning. */
static void print_where(const char *cn, size_t cn_cap, const char *tag, char subfield)
{
    if (cn[0] != '\0')
        fprintf(stderr, " [001 %.*s]", (int)cn_cap, cn);
    if (tag[0] != '\0') {
        fprintf(stderr, " [field %.3s", tag);
        if (subfield > 0x20 && subfield < 0x7F)
            fprintf(stderr, " $%c", subfield);
        fputc(']', stderr);
    }
}

static void print_item(const char *path, const mp_error_info *e)
{
    fprintf(stderr, "%s: %s: record %" PRIu64 ", offset %" PRIu64 ": %s", prog,
            strcmp(path, "-") == 0 ? "<stdin>" : path, e->ordinal + 1, e->offset,
            mp_error_kind_name(e->kind));
    print_where(e->control_number, sizeof e->control_number, e->tag, e->subfield);
    /* The library's message may repeat the position; print it once. */
    const char *msg = e->message;
    char prefix[64];
    int pl = snprintf(prefix, sizeof prefix, "record %" PRIu64 " at offset %" PRIu64,
                      e->ordinal + 1, e->offset);
    if (pl > 0 && strncmp(msg, prefix, (size_t)pl) == 0) {
        const char *colon = strstr(msg + pl, ": ");
        if (colon != NULL)
            msg = colon + 2;
    }
    fprintf(stderr, ": %.*s\n", (int)(sizeof e->message - (size_t)(msg - e->message)), msg);
}

/* The 001 of a record, printable, into buf (cap bytes). */
static void record_cn(const mp_record *rec, char *buf, size_t cap)
{
    size_t n = 0;
    const char *cn = mp_record_control_number(rec, &n);
    if (!cn)
        n = 0;
    if (n > cap - 1)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)cn[i] < 0x20 ? '?' : cn[i];
    buf[n] = '\0';
}

static void print_warning(const char *path, const mp_record *rec, const mp_warning *w,
                          const char *cn)
{
    fprintf(stderr, "%s: warning: %s: record %" PRIu64 ", offset %" PRIu64 ": %s", prog,
            strcmp(path, "-") == 0 ? "<stdin>" : path, mp_record_ordinal(rec) + 1, w->offset,
            mp_error_kind_name(w->kind));
    print_where(cn, 32, w->tag, w->subfield);
    fprintf(stderr, ": %.*s\n", (int)sizeof w->message, w->message);
}

/* --errors-json: the fields every line has. */
static void ej_head(FILE *f, const char *type, const char *path)
{
    fprintf(f, "{\"type\":\"%s\",\"file\":", type);
    mp__cli_json_string(f, path, strlen(path));
}

static void ej_where(FILE *f, const char *kind, uint64_t ordinal, uint64_t offset, const char *cn,
                     const char *tag, char subfield, const char *msg, size_t msg_cap)
{
    fprintf(f,
            ",\"kind\":\"%s\",\"ordinal\":%" PRIu64 ",\"record\":%" PRIu64 ",\"offset\":%" PRIu64
            ",\"control_number\":",
            kind, ordinal, ordinal + 1, offset);
    mp__cli_json_string(f, cn, strlen(cn));
    fputs(",\"tag\":", f);
    mp__cli_json_string(f, tag, strnlen(tag, 3));
    fputs(",\"subfield\":", f);
    mp__cli_json_string(f, &subfield, subfield ? 1 : 0);
    fputs(",\"message\":", f);
    mp__cli_json_string(f, msg, strnlen(msg, msg_cap));
}

static void ej_item(FILE *f, const char *path, const mp_error_info *e)
{
    ej_head(f, "error", path);
    ej_where(f, mp_error_kind_name(e->kind), e->ordinal, e->offset, e->control_number, e->tag,
             e->subfield, e->message, sizeof e->message);
    fprintf(f, ",\"length\":%" PRIu64 "}\n", e->length);
}

static void ej_warning(FILE *f, const char *path, const mp_record *rec, const mp_warning *w,
                       const char *cn)
{
    ej_head(f, "warning", path);
    ej_where(f, mp_error_kind_name(w->kind), mp_record_ordinal(rec), w->offset, cn, w->tag,
             w->subfield, w->message, sizeof w->message);
    fputs("}\n", f);
}

/* A failure: open failed, or the stream ended on an error (not an item). */
static void ej_failure(FILE *f, const char *path, int rc, uint64_t offset, const char *msg)
{
    ej_head(f, "failure", path);
    fprintf(f, ",\"code\":\"%s\",\"offset\":%" PRIu64 ",\"message\":", mp_err_name(rc), offset);
    mp__cli_json_string(f, msg, strlen(msg));
    fputs("}\n", f);
}

static void add_stats(mp_stats *sum, const mp_stats *s)
{
    for (int i = 0; i < MP_STAGE_COUNT; i++) {
        sum->stage[i].items += s->stage[i].items;
        sum->stage[i].bytes += s->stage[i].bytes;
        sum->stage[i].sleeps += s->stage[i].sleeps;
        sum->stage[i].wakeups += s->stage[i].wakeups;
        sum->stage[i].cpu_ns += s->stage[i].cpu_ns;
    }
    for (int i = 0; i < MP_RING_COUNT; i++) {
        sum->ring_capacity[i] = s->ring_capacity[i];
        if (s->ring_hwm[i] > sum->ring_hwm[i])
            sum->ring_hwm[i] = s->ring_hwm[i];
    }
    sum->chunks_total = s->chunks_total;
    if (s->chunks_in_flight_max > sum->chunks_in_flight_max)
        sum->chunks_in_flight_max = s->chunks_in_flight_max;
    sum->mpsc_stalls += s->mpsc_stalls;
}

/* The warnings of a good record: counted, printed, written as JSON. */
static void handle_warnings(const char *path, const mp_record *rec, const cli_opts *o, cli_file *pf,
                            mp_cli_progress *bar)
{
    uint32_t n = mp_record_warning_count(rec);
    if (n == 0)
        return;
    pf->warnings += n;
    pf->warned++;
    char cn[32];
    record_cn(rec, cn, sizeof cn);
    const mp_warning *last = NULL;
    for (uint32_t i = 0; i < n; i++) {
        const mp_warning *w = mp_record_warning(rec, i);
        if (w == NULL) { /* past the kept ones: counted under the last kept kind */
            if (last != NULL)
                pf->warn_kind[last->kind] += n - i;
            break;
        }
        last = w;
        if ((unsigned)w->kind < MP_EK_COUNT)
            pf->warn_kind[w->kind]++;
        if (!o->quiet) {
            mp__cli_progress_clear(bar);
            print_warning(path, rec, w, cn);
        }
        if (o->ej)
            ej_warning(o->ej, path, rec, w, cn);
    }
}

/* An error item: counted, printed, written as JSON. */
static void handle_item(const char *path, const mp_error_info *e, const cli_opts *o, cli_file *pf,
                        mp_cli_progress *bar)
{
    pf->errors++;
    if ((unsigned)e->kind < MP_EK_COUNT)
        pf->by_kind[e->kind]++;
    if (!o->quiet) {
        mp__cli_progress_clear(bar);
        print_item(path, e);
    }
    if (o->ej)
        ej_item(o->ej, pf->path, e);
}

/* What convert and dump hand to mp_convert's callbacks. Main thread only. */
typedef struct conv_ctx {
    const char *path;
    const cli_opts *o;
    cli_totals *t;
    cli_file *pf;
    mp_cli_progress *bar;
    uint64_t bytes_before;   /* t->bytes before this file */
    uint64_t records_before; /* t->records before this file */
} conv_ctx;

static int conv_error(void *user, int rc, const mp_error_info *e)
{
    conv_ctx *c = user;
    if (rc == MP_ERECORD) {
        handle_item(c->path, e, c->o, c->pf, c->bar);
        return 0;
    }
    c->t->refused++; /* the writer's refusal (over ISO 2709's limits) */
    if (!c->o->quiet) {
        mp__cli_progress_clear(c->bar);
        print_item(c->path, e);
    }
    if (c->o->ej) {
        ej_head(c->o->ej, "refused", c->pf->path);
        ej_where(c->o->ej, mp_error_kind_name(e->kind), e->ordinal, e->offset, e->control_number,
                 e->tag, e->subfield, e->message, sizeof e->message);
        fprintf(c->o->ej, ",\"length\":%" PRIu64 "}\n", e->length);
    }
    return 0;
}

static int conv_warnings(void *user, const mp_record *rec)
{
    conv_ctx *c = user;
    handle_warnings(c->path, rec, c->o, c->pf, c->bar);
    return 0;
}

static void conv_progress(void *user, const mp_convert_counts *k)
{
    conv_ctx *c = user;
    if (c->bar->enabled)
        mp__cli_progress_update(c->bar, c->bytes_before + k->bytes_in,
                                c->records_before + k->records);
}

/*
 * Whether `path` may run the pipeline, so the shared pool must exist before
 * it is opened: not with --sequential, nor for a regular file the library's
 * MP_MODE_AUTO reads sequentially (smaller than MP_AUTO_MIN_PIPELINE_BYTES);
 * the library still makes the choice itself.
 */
static int may_run_pipeline(const char *path, const cli_opts *o)
{
    struct stat st;
    if (o->sequential)
        return 0;
    if (o->pipeline)
        return 1;
    int r = strcmp(path, "-") == 0 ? fstat(0, &st) : stat(path, &st);
    return !(r == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size < MP_AUTO_MIN_PIPELINE_BYTES);
}

/* What the run used: "sequential", "pipeline" or "mixed" (files differed). */
static const char *reader_used(const cli_totals *t)
{
    if (t->files_pipeline == 0)
        return "sequential";
    return t->files_sequential == 0 ? "pipeline" : "mixed";
}

/*
 * Reads one input to its end (or to the end of the run: --policy stop,
 * --damaged stop, --max-errors, a failed output). count and stats read
 * here; dump and convert hand the reader to mp_convert with the run's
 * writer w. Fills *pf and updates *t. Returns 1 when the run must end now.
 */
static int run_file(const char *path, cli_opts *o, cli_totals *t, cli_file *pf,
                    mp_cli_progress *bar, mp_writer *w)
{
    mp_reader *src = NULL;
    const char *shown = strcmp(path, "-") == 0 ? "<stdin>" : path;
    memset(pf, 0, sizeof *pf);
    pf->path = shown;
    if (o->max_errors > 0)
        o->ro.max_errors = o->max_errors - t->errors; /* what is left of the global cap */
    int rc = MP_OK;
    if (!o->pool && may_run_pipeline(path, o)) {
        if (o->threads == 0) { /* as the library's private pools: the CLI's thread helps */
            unsigned cpus = mp_cpus_usable();
            o->threads = cpus > 1 ? cpus - 1 : 1;
        }
        rc = mp_pool_create(&o->pool, o->threads);
        if (rc != MP_OK) {
            mp__cli_progress_clear(bar);
            fprintf(stderr, "%s: cannot start %u worker threads: %s\n", prog, o->threads,
                    mp_strerror(rc));
            t->failed_files++;
            t->io_failure = 1;
            return 1;
        }
        o->ro.pool = o->pool;
    }
    rc = src_open(&src, path, o);
    if (rc != MP_OK) {
        mp__cli_progress_clear(bar);
        if (rc == MP_EINVAL && o->ro.format != MP_FORMAT_AUTO &&
            o->ro.format != MP_FORMAT_ISO2709 && (o->ro.range_start || o->ro.range_end))
            fprintf(stderr, "%s: %s: byte ranges (--range) read ISO 2709 only\n", prog, shown);
        else
            fprintf(stderr, "%s: %s: %s\n", prog, shown, mp_strerror(rc));
        if (o->ej)
            ej_failure(o->ej, shown, rc, 0, mp_strerror(rc));
        pf->failed = 1;
        pf->error = mp_err_name(rc);
        t->failed_files++;
        t->io_failure = 1;
        return 0;
    }
    t->files++;

    uint64_t n = 0, bytes = 0, lib_records = 0, lib_errors = 0;
    uint64_t bytes_before = t->bytes;
    int end_run = 0, damaged_stop = 0;
    const mp_record *rec;
    if (w != NULL) {
        conv_ctx cc = {path, o, t, pf, bar, bytes_before, t->records};
        mp_convert_options co = MP_CONVERT_OPTIONS_INIT;
        co.damaged = o->damaged;
        co.on_error = conv_error;
        co.on_warnings = conv_warnings;
        co.on_progress = conv_progress;
        co.user = &cc;
        mp_convert_counts k;
        rc = mp_convert(src, w, &co, &k);
        pf->records = k.records;
        if (rc == MP_OK) {
            rc = MP_EOF;
        } else if (mp_writer_status(w) < 0) {
            mp__cli_progress_clear(bar);
            int err = mp_writer_errno(w);
            fprintf(stderr, "%s: cannot write the output: %s\n", prog,
                    err ? strerror(err) : mp_strerror(mp_writer_status(w)));
            t->io_failure = 1;
            end_run = 1;
            rc = MP_EOF; /* reported */
        } else if (rc == MP_ESTOPPED && o->damaged == MP_DAMAGED_STOP && k.damaged > 0) {
            damaged_stop = 1;
        }
    } else {
        for (;;) {
            rc = mp_reader_next(src, &rec);
            if (rc == MP_OK) {
                pf->records++;
                handle_warnings(shown, rec, o, pf, bar);
            } else if (rc == MP_ERECORD) {
                const mp_error_info *e = mp_reader_error(src);
                if (e != NULL)
                    handle_item(path, e, o, pf, bar);
            } else {
                break;
            }
            if ((++n & 255) == 0 && bar->enabled) {
                mp_reader_counts(src, &lib_records, &lib_errors, &bytes);
                mp__cli_progress_update(bar, bytes_before + bytes, t->records + pf->records);
            }
        }
    }
    if (rc != MP_EOF) {
        const mp_error_info *e = mp_reader_error(src);
        mp__cli_progress_clear(bar);
        if (rc == MP_ESTOPPED || rc == MP_ELIMIT) {
            t->stopped = 1;
            end_run = 1;
            if (!o->quiet)
                fprintf(stderr, "%s: %s: %s; the run ends here\n", prog, shown,
                        damaged_stop        ? "stopped at the first damaged record (--damaged stop)"
                        : rc == MP_ESTOPPED ? "stopped at the first error (--policy stop)"
                                            : "error cap reached (--max-errors)");
        } else {
            t->io_failure = 1;
            t->failed_files++;
            pf->failed = 1;
            pf->error = mp_err_name(rc);
            /* The library's message already names the failure and where. */
            if (e != NULL && e->message[0] != '\0')
                fprintf(stderr, "%s: %s: %.*s\n", prog, shown, (int)sizeof e->message, e->message);
            else
                fprintf(stderr, "%s: %s: %s\n", prog, shown, mp_strerror(rc));
            if (o->ej)
                ej_failure(o->ej, shown, rc, e != NULL ? e->offset : 0,
                           e != NULL && e->message[0] ? e->message : mp_strerror(rc));
        }
    }

    mp_reader_counts(src, &lib_records, &lib_errors, &bytes);
    pf->bytes = bytes;
    if (o->ro.policy == MP_POLICY_SKIP && lib_errors > pf->errors) { /* counted, never returned */
        pf->unreported = lib_errors - pf->errors;
        pf->errors = lib_errors;
    }
    t->records += pf->records;
    t->bytes += bytes;
    t->errors += pf->errors;
    t->unreported += pf->unreported;
    t->warnings += pf->warnings;
    t->warned += pf->warned;
    for (int k = 0; k < MP_EK_COUNT; k++) {
        t->by_kind[k] += pf->by_kind[k];
        t->warn_kind[k] += pf->warn_kind[k];
    }
    mp_stats s;
    mp_reader_stats(src, &s);
    if (s.mode == MP_MODE_PIPELINE) {
        add_stats(&t->stats, &s);
        t->have_stats = 1;
        t->files_pipeline++;
    } else {
        t->files_sequential++;
    }
    mp_reader_close(src);
    if (o->max_errors > 0 && t->errors >= o->max_errors && !end_run) {
        t->stopped = 1;
        end_run = 1;
    }
    return end_run;
}

static int run_split(const char *path, const cli_opts *o)
{
    mp_split_plan *plan = NULL;
    int rc = strcmp(path, "-") == 0 ? mp_split_plan_fd(&plan, 0, &o->split)
                                    : mp_split_plan_path(&plan, path, &o->split);
    if (rc != MP_OK) {
        fprintf(stderr, "%s: %s: %s%s\n", prog, strcmp(path, "-") == 0 ? "<stdin>" : path,
                mp_strerror(rc),
                rc == MP_EINVAL ? " (split needs a regular file: pipes cannot be split)" : "");
        return 1;
    }
    printf("{\"file\":");
    mp__cli_json_string(stdout, path, strlen(path));
    printf(",\"size\":%" PRIu64 ",\"ranges\":[", plan->input_size);
    for (size_t i = 0; i < plan->count; i++)
        printf("%s{\"start\":%" PRIu64 ",\"end\":%" PRIu64 "}", i ? "," : "", plan->ranges[i].start,
               plan->ranges[i].end);
    printf("]}\n");
    mp_split_plan_free(plan);
    return 0;
}

static const char *const stage_names[MP_STAGE_COUNT] = {"producer", "scanner", "parser",
                                                        "consumer"};
static const char *const ring_names[MP_RING_COUNT] = {"free", "filled", "scanned", "parsed"};

/* "KIND":n for the non-zero counts (+ "SKIPPED" for --policy skip). */
static void print_json_kinds(const uint64_t *by_kind, uint64_t skipped)
{
    int first = 1;
    putchar('{');
    for (int k = 0; k < MP_EK_COUNT; k++) {
        if (by_kind[k] == 0)
            continue;
        printf("%s\"%s\":%" PRIu64, first ? "" : ",", mp_error_kind_name((mp_error_kind)k),
               by_kind[k]);
        first = 0;
    }
    if (skipped > 0)
        printf("%s\"SKIPPED\":%" PRIu64, first ? "" : ",", skipped);
    putchar('}');
}

static void print_json_counts(uint64_t records, uint64_t errors, const uint64_t *by_kind,
                              uint64_t skipped, uint64_t warnings, uint64_t warned,
                              const uint64_t *warn_kind)
{
    printf("\"records\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"errors_by_kind\":", records, errors);
    print_json_kinds(by_kind, skipped);
    printf(",\"warnings\":%" PRIu64 ",\"records_with_warnings\":%" PRIu64 ",\"warnings_by_kind\":",
           warnings, warned);
    print_json_kinds(warn_kind, 0);
}

static void print_json(const cli_opts *o, const cli_totals *t, double secs, int status)
{
    printf("{\"command\":\"%s\",\"version\":\"%s\",\"reader\":\"%s\",\"threads\":%u,"
           "\"files_pipeline\":%u,\"files_sequential\":%u,",
           cmd_names[o->cmd], mp_version(), reader_used(t),
           t->files_pipeline ? t->pool_threads : 1u, t->files_pipeline, t->files_sequential);
    printf("\"files\":%u,\"failed_files\":%u,", t->files, t->failed_files);
    print_json_counts(t->records, t->errors, t->by_kind, t->unreported, t->warnings, t->warned,
                      t->warn_kind);
    printf(",\"bytes\":%" PRIu64 ",\"seconds\":%.6f,\"mb_per_s\":%.3f,\"records_per_s\":%.1f,",
           t->bytes, secs, secs > 0 ? (double)t->bytes / 1e6 / secs : 0.0,
           secs > 0 ? (double)t->records / secs : 0.0);
    printf("\"per_file\":[");
    for (int i = 0; i < t->nper; i++) {
        const cli_file *f = &t->per_file[i];
        printf("%s{\"file\":", i ? "," : "");
        mp__cli_json_string(stdout, f->path, strlen(f->path));
        printf(",\"failed\":%s,\"error\":", f->failed ? "true" : "false");
        if (f->error)
            printf("\"%s\",", f->error);
        else
            printf("null,");
        print_json_counts(f->records, f->errors, f->by_kind, f->unreported, f->warnings, f->warned,
                          f->warn_kind);
        printf(",\"bytes\":%" PRIu64 "}", f->bytes);
    }
    printf("],");
    printf("\"stopped\":%s,\"exit_code\":%d", t->stopped ? "true" : "false", status);
    if (o->verbose && t->have_stats) {
        printf(",\"stages\":{");
        for (int i = 0; i < MP_STAGE_COUNT; i++) {
            const mp_stage_stats *s = &t->stats.stage[i];
            printf("%s\"%s\":{\"items\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"sleeps\":%" PRIu64
                   ",\"wakeups\":%" PRIu64 ",\"cpu_seconds\":%.6f}",
                   i ? "," : "", stage_names[i], s->items, s->bytes, s->sleeps, s->wakeups,
                   (double)s->cpu_ns * 1e-9);
        }
        printf("},\"rings\":{");
        for (int i = 0; i < MP_RING_COUNT; i++)
            printf("%s\"%s\":{\"capacity\":%u,\"high_water\":%u}", i ? "," : "", ring_names[i],
                   t->stats.ring_capacity[i], t->stats.ring_hwm[i]);
        printf("},\"chunks_total\":%u,\"chunks_in_flight_max\":%u,\"mpsc_stalls\":%" PRIu64,
               t->stats.chunks_total, t->stats.chunks_in_flight_max, t->stats.mpsc_stalls);
    }
    printf("}\n");
}

static void print_stats(const cli_opts *o, const cli_totals *t, double secs)
{
    printf("files        %u", t->files);
    if (t->failed_files > 0)
        printf(" (%u failed)", t->failed_files);
    printf("\nrecords      %" PRIu64 "\n", t->records);
    printf("errors       %" PRIu64 "\n", t->errors);
    for (int k = 0; k < MP_EK_COUNT; k++)
        if (t->by_kind[k] > 0)
            printf("  %-12s %" PRIu64 "\n", mp_error_kind_name((mp_error_kind)k), t->by_kind[k]);
    if (t->unreported > 0)
        printf("  %-12s %" PRIu64 " (kinds not reported: --policy skip)\n", "SKIPPED",
               t->unreported);
    printf("warnings     %" PRIu64 " (in %" PRIu64 " records)\n", t->warnings, t->warned);
    for (int k = 0; k < MP_EK_COUNT; k++)
        if (t->warn_kind[k] > 0)
            printf("  %-12s %" PRIu64 "\n", mp_error_kind_name((mp_error_kind)k), t->warn_kind[k]);
    printf("bytes        %" PRIu64 " (%.2f MB)\n", t->bytes, (double)t->bytes / 1e6);
    printf("seconds      %.3f\n", secs);
    printf("MB/s         %.1f\n", secs > 0 ? (double)t->bytes / 1e6 / secs : 0.0);
    printf("records/s    %.0f\n", secs > 0 ? (double)t->records / secs : 0.0);
    if (t->files_pipeline == 0)
        printf("reader       sequential (1 thread)\n");
    else if (t->files_sequential == 0)
        printf("reader       pipeline, %u worker threads\n", t->pool_threads);
    else
        printf("reader       pipeline for %u files (%u worker threads), sequential for %u\n",
               t->files_pipeline, t->pool_threads, t->files_sequential);
    if (t->stopped)
        printf("stopped      yes (--policy stop or --max-errors)\n");
    if (o->verbose && t->have_stats) {
        printf("\n%-9s %12s %14s %10s %10s %10s\n", "stage", "items", "bytes", "sleeps", "wakeups",
               "cpu s");
        for (int i = 0; i < MP_STAGE_COUNT; i++) {
            const mp_stage_stats *s = &t->stats.stage[i];
            printf("%-9s %12" PRIu64 " %14" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10.3f\n",
                   stage_names[i], s->items, s->bytes, s->sleeps, s->wakeups,
                   (double)s->cpu_ns * 1e-9);
        }
        printf("\n%-9s %10s %10s\n", "ring", "capacity", "high-water");
        for (int i = 0; i < MP_RING_COUNT; i++)
            printf("%-9s %10u %10u\n", ring_names[i], t->stats.ring_capacity[i],
                   t->stats.ring_hwm[i]);
        printf("\nchunks %u, at most %u in flight; MPSC enqueue stalls %" PRIu64 "\n",
               t->stats.chunks_total, t->stats.chunks_in_flight_max, t->stats.mpsc_stalls);
    }
}

int main(int argc, char **argv)
{
    cli_opts o;
    int status = EXIT_CLEAN;

    /* GNU getopt permutes argv: options may come before or after the
     * command and between files; the non-options end up at the end. */
    int r = parse_args(argc, argv, &o);
    if (r >= 0)
        return r;
    if (optind >= argc)
        return usage_error("%s", "missing COMMAND (count, dump, stats, convert or split)");
    int cmd = pick(argv[optind], cmd_names, 5);
    if (cmd < 0)
        return usage_error("unknown command '%s' (want count, dump, stats, convert or split)",
                           argv[optind]);
    o.cmd = (cli_cmd)cmd;
    int writes = o.cmd == CMD_DUMP || o.cmd == CMD_CONVERT;
    if (o.cmd == CMD_DUMP && o.out_format != 0)
        return usage_error("%s", "dump prints the line format (--json: ndjson); use convert -o");
    if (!writes && (o.out_format != 0 || o.output != NULL || o.out_flags != 0 || o.damaged != 0))
        return usage_error("%s: -o, --output, --damaged and the output flags are for convert "
                           "and dump",
                           cmd_names[o.cmd]);
    if (o.cmd == CMD_CONVERT && o.json)
        return usage_error("%s", "convert: use -o json or -o ndjson instead of --json");
    mp_writer_options wo = MP_WRITER_OPTIONS_INIT;
    if (writes) {
        wo.format = o.cmd == CMD_DUMP ? (o.json ? MP_FORMAT_NDJSON : MP_FORMAT_LINE)
                    : o.out_format    ? (mp_format)o.out_format
                                      : MP_FORMAT_LINE;
        wo.flags = o.out_flags;
        /* The parser workers serialise; the writer only copies their bytes. */
        o.ro.output_format = wo.format;
        o.ro.output_flags = wo.flags;
    }
    int to_stdout = writes && (o.output == NULL || strcmp(o.output, "-") == 0);
    if (o.errors_json != NULL && strcmp(o.errors_json, "-") == 0 && (to_stdout || o.json))
        return usage_error("%s", "--errors-json -: standard output already carries the records "
                                 "or the --json summary; give a file");
    int nfiles = argc - optind - 1;
    char **files = argv + optind + 1;
    if (nfiles <= 0)
        return usage_error("%s", "no FILE given (use '-' for standard input)");
    int stdin_seen = 0;
    for (int i = 0; i < nfiles; i++)
        if (strcmp(files[i], "-") == 0 && stdin_seen++)
            return usage_error("%s", "'-' (standard input) may be given only once");
    if (o.split.parts && o.split.target_bytes)
        return usage_error("%s", "--parts and --target-size exclude each other");
    if (o.cmd == CMD_SPLIT) {
        for (int i = 0; i < nfiles; i++)
            if (run_split(files[i], &o))
                status = EXIT_USAGE;
        if (fflush(stdout) != 0 && errno != EPIPE)
            status = EXIT_USAGE;
        return status;
    }

    /* Progress: only on a terminal, not when records go to the same terminal. */
    uint64_t total_bytes = 0;
    int total_known = o.ro.range_start == 0 && o.ro.range_end == 0; /* a range: unknown share */
    for (int i = 0; i < nfiles; i++) {
        struct stat st;
        if (strcmp(files[i], "-") != 0 && stat(files[i], &st) == 0 && S_ISREG(st.st_mode))
            total_bytes += (uint64_t)st.st_size;
        else
            total_known = 0;
    }
    int bar_on = !o.quiet && isatty(STDERR_FILENO) && !(to_stdout && isatty(STDOUT_FILENO));
    mp_cli_progress bar;
    mp__cli_progress_init(&bar, bar_on, total_known ? total_bytes : 0);

    static char outbuf[1 << 20];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

    mp_writer *w = NULL;
    if (writes) {
        int rc = to_stdout ? mp_writer_open_fd(&w, STDOUT_FILENO, &wo)
                           : mp_writer_open_path(&w, o.output, &wo);
        if (rc != MP_OK) {
            fprintf(stderr, "%s: %s: %s\n", prog, to_stdout ? "<stdout>" : o.output,
                    mp_strerror(rc));
            return EXIT_USAGE;
        }
    }

    double t0 = mp__cli_now();

    if (o.errors_json != NULL) {
        o.ej = strcmp(o.errors_json, "-") == 0 ? stdout : fopen(o.errors_json, "w");
        if (o.ej == NULL) {
            fprintf(stderr, "%s: --errors-json %s: %s\n", prog, o.errors_json, strerror(errno));
            if (o.pool != NULL)
                mp_pool_destroy(o.pool);
            mp_writer_close(w);
            return EXIT_USAGE;
        }
    }
    cli_totals t;
    memset(&t, 0, sizeof t);
    t.per_file = calloc((size_t)nfiles, sizeof *t.per_file);
    if (t.per_file == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        if (o.pool != NULL)
            mp_pool_destroy(o.pool);
        mp_writer_close(w);
        return EXIT_USAGE;
    }
    for (int i = 0; i < nfiles; i++) {
        t.nper = i + 1;
        if (run_file(files[i], &o, &t, &t.per_file[i], &bar, w))
            break;
    }
    if (o.ej != NULL && o.ej != stdout && fclose(o.ej) != 0) {
        fprintf(stderr, "%s: --errors-json %s: %s\n", prog, o.errors_json, strerror(errno));
        t.io_failure = 1;
    }
    if (w != NULL) {
        int failed = mp_writer_status(w) < 0; /* already reported by run_file */
        int rc = mp_writer_close(w);          /* footer, flush */
        if (rc < 0 && !failed)
            fprintf(stderr, "%s: cannot write the output: %s\n", prog,
                    rc == MP_EIO ? strerror(errno) : mp_strerror(rc));
        if (rc < 0)
            t.io_failure = 1;
    }
    double secs = mp__cli_now() - t0;
    mp__cli_progress_clear(&bar);
    t.pool_threads = mp_pool_threads(o.pool);
    if (o.pool != NULL && mp_pool_destroy(o.pool) != MP_OK)
        fprintf(stderr, "%s: internal: worker pool still busy at exit\n", prog);
    o.pool = NULL; /* destroyed: the reports below use t.pool_threads */

    if (t.io_failure)
        status = EXIT_USAGE;
    else if (t.errors > 0 || t.stopped || t.refused > 0)
        status = EXIT_DATA;

    if (!writes) {
        if (o.json)
            print_json(&o, &t, secs, status);
        else if (o.cmd == CMD_COUNT)
            printf("%" PRIu64 "\n", t.records);
        else
            print_stats(&o, &t, secs);
    }
    if (fflush(stdout) != 0 && errno != EPIPE) {
        fprintf(stderr, "%s: cannot write output: %s\n", prog, strerror(errno));
        status = EXIT_USAGE;
    }
    free(t.per_file);
    return status;
}
