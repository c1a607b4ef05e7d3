/*
 * main.c - the `marcpipe` command-line tool: count, dump, stats.
 *
 * Reads each FILE (or '-' for standard input) through the reader in its
 * default mode (MP_MODE_AUTO: the pipeline, or the sequential reader for
 * small files), or as --pipeline / --sequential force. Files that run the
 * pipeline share ONE mp_pool, started at the first such file, so worker
 * threads are started once (and never for a run of small files). The tool
 * is the consumer of each reader and runs single-threaded on its side; it
 * is the only place in marcpipe that prints.
 *
 * Exit status: 0 clean, 1 data errors reported, 2 usage or I/O failure.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"

enum { EXIT_CLEAN = 0, EXIT_DATA = 1, EXIT_USAGE = 2 };

typedef enum cli_cmd { CMD_COUNT, CMD_DUMP, CMD_STATS } cli_cmd;

static const char *const cmd_names[] = {"count", "dump", "stats"};

typedef struct cli_opts {
    cli_cmd cmd;
    mp_reader_options ro;
    unsigned threads;    /* as asked (0: usable CPUs - 1, at least 1); then the pool's size */
    uint64_t max_errors; /* global cap over all files (0: none) */
    int json, quiet, verbose, sequential, pipeline;
    mp_pool *pool; /* shared by the files that run the pipeline; started lazily */
} cli_opts;

/* Totals over all files. Main thread only. */
typedef struct cli_totals {
    uint64_t records; /* good records delivered */
    uint64_t errors;  /* error items, including skipped ones */
    uint64_t bytes;   /* bytes consumed */
    uint64_t by_kind[MP_EK_COUNT];
    uint64_t unreported; /* counted by the reader but never returned (--policy skip) */
    unsigned files, failed_files;
    int stopped;    /* --policy stop or --max-errors ended the run */
    int io_failure; /* a file could not be opened or read */
    mp_stats stats; /* per-stage counters summed over files (pipeline only) */
    int have_stats;
    unsigned files_pipeline, files_sequential; /* which path each file ran */
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
            "Read MARC 21 / ISO 2709 files through marcpipe's multi-threaded pipeline.\n"
            "FILE '-' is standard input. Several files are read one after the other on\n"
            "one shared pool of worker threads; counts and times cover all of them.\n"
            "Files under 1 MiB (and every file on a one-CPU machine) are read by the\n"
            "sequential reader, which is faster there, unless --pipeline is given.\n"
            "\n"
            "Commands:\n"
            "  count   parse and validate every record; print the number of good records\n"
            "  dump    print every good record in yaz-marcdump's line format (leader line,\n"
            "          '001 value', 'TAG ind1ind2 $a value $b value', blank line)\n"
            "  stats   print records, error items by kind, bytes, seconds, MB/s, records/s\n"
            "\n"
            "Options:\n"
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
            "                           (U+FFFD), ignore (drop the bad bytes)\n"
            "      --marc8-replace      unknown MARC-8 characters become U+FFFD, not errors\n"
            "      --no-normalize       do not NFC-normalise text converted from MARC-8\n"
            "  -c, --chunk-size SIZE    bytes per pipeline chunk (default: a quarter of the L2\n"
            "                           cache, 128K to 512K); K, M, G\n"
            "                           suffixes are powers of 1024\n"
            "      --chunks N           chunk buffers in flight (default 4 x (threads + 1))\n"
            "      --max-record-size SIZE  longest record accepted (default 8M)\n"
            "      --unordered          deliver records as workers finish (dump order varies)\n"
            "      --sequential         use the single-threaded sequential reader instead\n"
            "      --pipeline           use the pipeline even where the sequential reader\n"
            "                           would be chosen (small files, one CPU)\n"
            "  -j, --json               machine-readable output: for count and stats one JSON\n"
            "                           object on stdout (records, errors, errors_by_kind,\n"
            "                           bytes, seconds, ...); for dump one MARC-in-JSON\n"
            "                           object per record and line\n"
            "  -q, --quiet              no error items and no progress bar on stderr\n"
            "  -v, --verbose            stats: add per-stage counters of the pipeline\n"
            "  -V, --version            print the version and exit\n"
            "  -h, --help               print this help and exit\n"
            "\n"
            "Error items go to stderr as: FILE: record ORDINAL, offset OFFSET: KIND\n"
            "[001 NUMBER] [field TAG $CODE]: MESSAGE. A progress bar is shown on stderr\n"
            "for runs longer than half a second when stderr is a terminal\n"
            "(environment: MARCPIPE_PROGRESS_DELAY=SECONDS changes the half second).\n"
            "\n"
            "Exit status:\n"
            "  0  every record was read cleanly\n"
            "  1  data errors: error items were found (also with --policy skip), or\n"
            "     --policy stop / --max-errors ended the run\n"
            "  2  usage error, or a file could not be opened or read\n"
            "\n"
            "Examples:\n"
            "  marcpipe count books.mrc\n"
            "  marcpipe stats --threads 4 --json a.mrc b.mrc\n"
            "  marcpipe dump books.mrc | less\n"
            "  curl -s https://example.org/export.mrc | marcpipe stats -\n"
            "  marcpipe count --policy stop --encoding marc8 old-catalogue.mrc\n");
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
};

static const struct option long_options[] = {
    {"threads", required_argument, NULL, 't'},
    {"policy", required_argument, NULL, 'p'},
    {"max-errors", required_argument, NULL, 'm'},
    {"encoding", required_argument, NULL, 'e'},
    {"utf8", required_argument, NULL, 'u'},
    {"marc8-replace", no_argument, NULL, OPT_MARC8_REPLACE},
    {"no-normalize", no_argument, NULL, OPT_NO_NORMALIZE},
    {"chunk-size", required_argument, NULL, 'c'},
    {"chunks", required_argument, NULL, OPT_CHUNKS},
    {"max-record-size", required_argument, NULL, OPT_MAX_RECORD_SIZE},
    {"unordered", no_argument, NULL, OPT_UNORDERED},
    {"sequential", no_argument, NULL, OPT_SEQUENTIAL},
    {"pipeline", no_argument, NULL, OPT_PIPELINE},
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
    mp_reader_options defaults = MP_READER_OPTIONS_INIT;
    memset(o, 0, sizeof *o);
    o->ro = defaults;
    uint64_t v;
    int c, k;

    while ((c = getopt_long(argc, argv, "t:p:m:e:u:c:jqvVh", long_options, NULL)) != -1) {
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
            if ((k = pick(optarg, encodings, 4)) < 0)
                return usage_error("--encoding wants auto, utf8, marc8 or raw, not '%s'", optarg);
            o->ro.encoding = (mp_encoding)k;
            break;
        case 'u':
            if ((k = pick(optarg, utf8s, 3)) < 0)
                return usage_error("--utf8 wants strict, replace or ignore, not '%s'", optarg);
            o->ro.utf8_handling = (mp_utf8_handling)k;
            break;
        case OPT_MARC8_REPLACE:
            o->ro.marc8_replace = 1;
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
            if (parse_size(optarg, &v) != 0 || v < 24 || v > ((uint64_t)1 << 32))
                return usage_error("--max-record-size wants a size from 24 to 4G, not '%s'",
                                   optarg);
            o->ro.max_record_size = (size_t)v;
            break;
        case OPT_UNORDERED:
            o->ro.unordered = 1;
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

static void print_item(const char *path, const mp_error_info *e)
{
    fprintf(stderr, "%s: %s: record %" PRIu64 ", offset %" PRIu64 ": %s", prog,
            strcmp(path, "-") == 0 ? "<stdin>" : path, e->ordinal, e->offset,
            mp_error_kind_name(e->kind));
    if (e->control_number[0] != '\0')
        fprintf(stderr, " [001 %.*s]", (int)sizeof e->control_number, e->control_number);
    if (e->tag[0] != '\0') {
        fprintf(stderr, " [field %.*s", (int)sizeof e->tag, e->tag);
        if (e->subfield != 0)
            fprintf(stderr, " $%c", e->subfield);
        fputc(']', stderr);
    }
    /* The library's message may repeat the position; print it once. */
    const char *msg = e->message;
    char prefix[64];
    int pl = snprintf(prefix, sizeof prefix, "record %" PRIu64 " at offset %" PRIu64, e->ordinal,
                      e->offset);
    if (pl > 0 && strncmp(msg, prefix, (size_t)pl) == 0) {
        const char *colon = strstr(msg + pl, ": ");
        if (colon != NULL)
            msg = colon + 2;
    }
    fprintf(stderr, ": %.*s\n", (int)(sizeof e->message - (size_t)(msg - e->message)), msg);
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
 * --max-errors). Updates *t. Returns 1 when the run must end now.
 */
static int run_file(const char *path, cli_opts *o, cli_totals *t, mp_cli_progress *bar)
{
    mp_reader *src = NULL;
    const char *shown = strcmp(path, "-") == 0 ? "<stdin>" : path;
    if (o->max_errors > 0)
        o->ro.max_errors = o->max_errors - t->errors; /* what is left of the global cap */
    int rc = MP_OK;
    if (!o->pool && may_run_pipeline(path, o)) {
        if (o->threads == 0) { /* as the library's private pools: the CLI's thread helps */
            cpu_set_t set;
            unsigned cpus =
                sched_getaffinity(0, sizeof set, &set) == 0 ? (unsigned)CPU_COUNT(&set) : 1;
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
        fprintf(stderr, "%s: %s: %s\n", prog, shown, mp_strerror(rc));
        t->failed_files++;
        t->io_failure = 1;
        return 0;
    }
    t->files++;

    uint64_t records = 0, items = 0, n = 0, bytes = 0, lib_records = 0, lib_errors = 0;
    uint64_t bytes_before = t->bytes;
    int end_run = 0;
    const mp_record *rec;
    for (;;) {
        rc = mp_reader_next(src, &rec);
        if (rc == MP_OK) {
            records++;
            if (o->cmd == CMD_DUMP) {
                if (o->json)
                    mp__cli_dump_json(stdout, rec);
                else
                    mp__cli_dump_line(stdout, rec);
            }
        } else if (rc == MP_ERECORD) {
            const mp_error_info *e = mp_reader_error(src);
            items++;
            if (e != NULL && (unsigned)e->kind < MP_EK_COUNT)
                t->by_kind[e->kind]++;
            if (!o->quiet && e != NULL) {
                mp__cli_progress_clear(bar);
                print_item(path, e);
            }
        } else if (rc == MP_EOF) {
            break;
        } else {
            const mp_error_info *e = mp_reader_error(src);
            mp__cli_progress_clear(bar);
            if (rc == MP_ESTOPPED || rc == MP_ELIMIT) {
                t->stopped = 1;
                end_run = 1;
                if (!o->quiet)
                    fprintf(stderr, "%s: %s: %s; the run ends here\n", prog, shown,
                            rc == MP_ESTOPPED ? "stopped at the first error (--policy stop)"
                                              : "error cap reached (--max-errors)");
            } else {
                t->io_failure = 1;
                t->failed_files++;
                if (e != NULL && e->message[0] != '\0')
                    fprintf(stderr, "%s: %s: offset %" PRIu64 ": %s: %.*s\n", prog, shown,
                            e->offset, mp_strerror(rc), (int)sizeof e->message, e->message);
                else
                    fprintf(stderr, "%s: %s: %s\n", prog, shown, mp_strerror(rc));
            }
            break;
        }
        if ((++n & 255) == 0 && bar->enabled) {
            mp_reader_counts(src, &lib_records, &lib_errors, &bytes);
            mp__cli_progress_update(bar, bytes_before + bytes, t->records + records);
        }
    }

    mp_reader_counts(src, &lib_records, &lib_errors, &bytes);
    t->records += records;
    t->bytes += bytes;
    t->errors += items;
    if (lib_errors > items) { /* --policy skip: counted, never returned */
        t->unreported += lib_errors - items;
        t->errors += lib_errors - items;
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

static const char *const stage_names[MP_STAGE_COUNT] = {"producer", "scanner", "parser",
                                                        "consumer"};
static const char *const ring_names[MP_RING_COUNT] = {"free", "filled", "scanned", "parsed"};

static void print_json(const cli_opts *o, const cli_totals *t, double secs, int status)
{
    printf("{\"command\":\"%s\",\"version\":\"%s\",\"reader\":\"%s\",\"threads\":%u,"
           "\"files_pipeline\":%u,\"files_sequential\":%u,",
           cmd_names[o->cmd], mp_version(), reader_used(t),
           t->files_pipeline ? mp_pool_threads(o->pool) : 1u, t->files_pipeline,
           t->files_sequential);
    printf("\"files\":%u,\"failed_files\":%u,\"records\":%" PRIu64 ",\"errors\":%" PRIu64
           ",\"errors_by_kind\":{",
           t->files, t->failed_files, t->records, t->errors);
    int first = 1;
    for (int k = 0; k < MP_EK_COUNT; k++) {
        if (t->by_kind[k] == 0)
            continue;
        printf("%s\"%s\":%" PRIu64, first ? "" : ",", mp_error_kind_name((mp_error_kind)k),
               t->by_kind[k]);
        first = 0;
    }
    if (t->unreported > 0)
        printf("%s\"SKIPPED\":%" PRIu64, first ? "" : ",", t->unreported);
    printf("},\"bytes\":%" PRIu64 ",\"seconds\":%.6f,\"mb_per_s\":%.3f,\"records_per_s\":%.1f,",
           t->bytes, secs, secs > 0 ? (double)t->bytes / 1e6 / secs : 0.0,
           secs > 0 ? (double)t->records / secs : 0.0);
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
    printf("bytes        %" PRIu64 " (%.2f MB)\n", t->bytes, (double)t->bytes / 1e6);
    printf("seconds      %.3f\n", secs);
    printf("MB/s         %.1f\n", secs > 0 ? (double)t->bytes / 1e6 / secs : 0.0);
    printf("records/s    %.0f\n", secs > 0 ? (double)t->records / secs : 0.0);
    if (t->files_pipeline == 0)
        printf("reader       sequential (1 thread)\n");
    else if (t->files_sequential == 0)
        printf("reader       pipeline, %u worker threads\n", mp_pool_threads(o->pool));
    else
        printf("reader       pipeline for %u files (%u worker threads), sequential for %u\n",
               t->files_pipeline, mp_pool_threads(o->pool), t->files_sequential);
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
        return usage_error("%s", "missing COMMAND (count, dump or stats)");
    int cmd = pick(argv[optind], cmd_names, 3);
    if (cmd < 0)
        return usage_error("unknown command '%s' (want count, dump or stats)", argv[optind]);
    o.cmd = (cli_cmd)cmd;
    int nfiles = argc - optind - 1;
    char **files = argv + optind + 1;
    if (nfiles <= 0)
        return usage_error("%s", "no FILE given (use '-' for standard input)");
    int stdin_seen = 0;
    for (int i = 0; i < nfiles; i++)
        if (strcmp(files[i], "-") == 0 && stdin_seen++)
            return usage_error("%s", "'-' (standard input) may be given only once");

    /* Progress: only on a terminal, not when dump output goes to the same terminal. */
    uint64_t total_bytes = 0;
    int total_known = 1;
    for (int i = 0; i < nfiles; i++) {
        struct stat st;
        if (strcmp(files[i], "-") != 0 && stat(files[i], &st) == 0 && S_ISREG(st.st_mode))
            total_bytes += (uint64_t)st.st_size;
        else
            total_known = 0;
    }
    int bar_on = !o.quiet && isatty(STDERR_FILENO) && !(o.cmd == CMD_DUMP && isatty(STDOUT_FILENO));
    mp_cli_progress bar;
    mp__cli_progress_init(&bar, bar_on, total_known ? total_bytes : 0);

    static char outbuf[1 << 20];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

    double t0 = mp__cli_now();

    cli_totals t;
    memset(&t, 0, sizeof t);
    for (int i = 0; i < nfiles; i++)
        if (run_file(files[i], &o, &t, &bar))
            break;
    double secs = mp__cli_now() - t0;
    mp__cli_progress_clear(&bar);
    if (o.pool != NULL && mp_pool_destroy(o.pool) != MP_OK)
        fprintf(stderr, "%s: internal: worker pool still busy at exit\n", prog);

    if (t.io_failure)
        status = EXIT_USAGE;
    else if (t.errors > 0 || t.stopped)
        status = EXIT_DATA;

    if (o.cmd != CMD_DUMP) {
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
    return status;
}
