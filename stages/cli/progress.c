/*
 * progress.c - the progress bar of the `marcpipe` tool.
 *
 * Drawn on stderr only when stderr is a terminal, only once the run is
 * older than 0.5 s, at most ten times a second, and erased at the end, so
 * short runs and redirected runs never see it. Main thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

#define MP_CLI_PROGRESS_DELAY    0.5 /* seconds before the first draw */
#define MP_CLI_PROGRESS_INTERVAL 0.1 /* seconds between draws */
#define MP_CLI_BAR_WIDTH         24

double mp__cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void mp__cli_progress_init(mp_cli_progress *p, int enabled, uint64_t total_bytes)
{
    memset(p, 0, sizeof *p);
    p->enabled = enabled;
    p->total_bytes = total_bytes;
    p->start = mp__cli_now();
    p->delay = MP_CLI_PROGRESS_DELAY;
    /* MARCPIPE_PROGRESS_DELAY=SECONDS: draw sooner or later (tests use 0). */
    const char *env = getenv("MARCPIPE_PROGRESS_DELAY");
    if (env != NULL && *env != '\0') {
        char *end;
        double d = strtod(env, &end);
        if (*end == '\0' && d >= 0)
            p->delay = d;
    }
}

/* Writes all of buf to stderr, ignoring errors (a bar is best effort). */
static void write_all(const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, buf, n);
        if (w <= 0)
            return;
        buf += w;
        n -= (size_t)w;
    }
}

/* "12.3k", "4.56M": compact human numbers. */
static void human(char *buf, size_t cap, double v)
{
    if (v >= 1e9)
        snprintf(buf, cap, "%.2fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, cap, "%.2fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, cap, "%.1fk", v / 1e3);
    else
        snprintf(buf, cap, "%.0f", v);
}

void mp__cli_progress_update(mp_cli_progress *p, uint64_t bytes, uint64_t records)
{
    if (!p->enabled)
        return;
    double now = mp__cli_now();
    double elapsed = now - p->start;
    if (elapsed < p->delay || now - p->last_draw < MP_CLI_PROGRESS_INTERVAL)
        return;
    p->last_draw = now;

    char line[256], done[16], total[16], rate[16];
    int len = 0;
    human(done, sizeof done, (double)bytes);
    human(rate, sizeof rate, (double)records / elapsed);
    if (p->total_bytes > 0) {
        double frac = (double)bytes / (double)p->total_bytes;
        if (frac > 1.0)
            frac = 1.0;
        int fill = (int)(frac * MP_CLI_BAR_WIDTH);
        char bar[MP_CLI_BAR_WIDTH + 1];
        for (int i = 0; i < MP_CLI_BAR_WIDTH; i++)
            bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
        bar[MP_CLI_BAR_WIDTH] = '\0';
        human(total, sizeof total, (double)p->total_bytes);
        double bps = (double)bytes / elapsed;
        long eta = bps > 0 ? (long)((double)(p->total_bytes -
                                             (bytes < p->total_bytes ? bytes : p->total_bytes)) /
                                        bps +
                                    0.5)
                           : 0;
        len = snprintf(line, sizeof line, "\r[%s] %3d%% %sB/%sB %s rec/s ETA %ld:%02ld\033[K", bar,
                       (int)(frac * 100.0), done, total, rate, eta / 60, eta % 60);
    } else {
        char mbps[16];
        human(mbps, sizeof mbps, (double)bytes / elapsed);
        len = snprintf(line, sizeof line, "\r%sB read %sB/s %s rec/s %.0fs\033[K", done, mbps, rate,
                       elapsed);
    }
    if (len > 0) {
        write_all(line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
        p->drawn = 1;
    }
}

void mp__cli_progress_clear(mp_cli_progress *p)
{
    if (!p->drawn)
        return;
    write_all("\r\033[K", 4);
    p->drawn = 0;
}
