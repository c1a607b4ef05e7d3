/*
 * cli.h - internals of the `marcpipe` command-line tool (stages/cli).
 *
 * The tool is single-threaded on its own side: it is the consumer of each
 * reader, and everything here runs on the main thread. Only the tool
 * prints; the library never does.
 */
#ifndef MP_CLI_H
#define MP_CLI_H

#include <stdint.h>
#include <stdio.h>
#include <marcpipe/marcpipe.h>

/* Monotonic seconds. */
double mp__cli_now(void);

/* ---- progress bar (progress.c) ------------------------------------------ */

/* State of the bar. Owned and used by the main thread only. */
typedef struct mp_cli_progress {
    int enabled;          /* 1: stderr is a terminal and the user did not ask for --quiet */
    uint64_t total_bytes; /* 0: unknown (stdin, pipes) */
    double start;         /* when the run started */
    double delay;         /* seconds before the first draw (MARCPIPE_PROGRESS_DELAY) */
    double last_draw;     /* when the bar was last drawn */
    int drawn;            /* 1: a bar is on the terminal now (clear before printing) */
} mp_cli_progress;

void mp__cli_progress_init(mp_cli_progress *p, int enabled, uint64_t total_bytes);
/* Redraws the bar when the run is older than 0.5 s and the last draw is
 * older than 0.1 s; cheap otherwise (one clock read). */
void mp__cli_progress_update(mp_cli_progress *p, uint64_t bytes, uint64_t records);
/* Erases the bar if one is drawn (before other stderr output, and at the end). */
void mp__cli_progress_clear(mp_cli_progress *p);

/* ---- JSON strings (json.c) -------------------------------------------------- */

/* Writes s[0..n) as a JSON string literal with its quotes: '"', '\\' and
 * control characters escaped, each byte of invalid UTF-8 as \ufffd (the
 * library's UTF-8 rule, stages/src/utf8.h). */
void mp__cli_json_string(FILE *out, const char *s, size_t n);

#endif
