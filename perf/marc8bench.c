/*
 * marc8bench.c - MARC-8 -> UTF-8 conversion throughput (stages/src/marc8.c).
 *
 * Usage: marc8bench [FILE.mrc ...]
 *
 * Reports MB/s of MARC-8 input, single-threaded, for (1) the data fields of
 * the given files (records with blank leader/09, minimal directory walk),
 * repeated to about 64 MB of input, and (2) a synthetic mostly-ASCII text
 * (one field in ten has a diacritic or an escape). Each is run with NFC
 * (the default) and without. The arena is reset between passes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "arena.h"
#include "text.h"

typedef struct span {
    const unsigned char *p;
    size_t n;
} span;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t collect(const unsigned char *d, size_t n, span *out, size_t max)
{
    size_t k = 0;
    for (size_t off = 0; off + 24 <= n && k < max;) {
        size_t l = 0, base = 0;
        for (int i = 0; i < 5; i++)
            l = l * 10 + (size_t)(d[off + i] - '0');
        for (int i = 12; i < 17; i++)
            base = base * 10 + (size_t)(d[off + i] - '0');
        if (l < 25 || off + l > n || base >= l)
            break;
        const unsigned char *r = d + off;
        if (r[9] == ' ') {
            for (size_t e = 24; e + 12 <= l && r[e] != 0x1e && k < max; e += 12) {
                size_t fl = 0, st = 0;
                for (int i = 3; i < 7; i++)
                    fl = fl * 10 + (size_t)(r[e + i] - '0');
                for (int i = 7; i < 12; i++)
                    st = st * 10 + (size_t)(r[e + i] - '0');
                if (base + st + fl <= l && fl > 3 && memcmp(r + e, "010", 3) >= 0)
                    out[k++] = (span){r + base + st + 2, fl - 3}; /* no indicators, no 0x1E */
            }
        }
        off += l;
    }
    return k;
}

static void run(const char *name, const span *s, size_t k, int normalize)
{
    mp__text_opts o = {.utf8_handling = 0, .normalize = normalize, .marc8_replace = 1};
    mp__arena a;
    mp__arena_init(&a, 1 << 20);
    size_t bytes = 0;
    for (size_t i = 0; i < k; i++)
        bytes += s[i].n;
    if (!bytes)
        return;
    size_t reps = (64u << 20) / bytes + 1, total = 0, outb = 0;
    double t0 = now();
    for (size_t r = 0; r < reps; r++) {
        for (size_t i = 0; i < k; i++) {
            const char *out;
            size_t len;
            if (mp__marc8_to_utf8(&o, s[i].p, s[i].n, &a, &out, &len, NULL) < 0) {
                fprintf(stderr, "out of memory\n");
                exit(1);
            }
            outb += len;
        }
        total += bytes;
        mp__arena_reset(&a);
    }
    double dt = now() - t0;
    printf("%-34s nfc=%d  %8.1f MB/s  (%zu fields, %.1f MB in, %.1f MB out, %.3f s)\n", name,
           normalize, (double)total / dt / 1e6, k, (double)total / 1e6, (double)outb / 1e6, dt);
    mp__arena_free(&a);
}

int main(int argc, char **argv)
{
    enum { MAXF = 1 << 20 };
    span *s = malloc(sizeof(span) * MAXF);
    size_t k = 0;
    if (!s)
        return 1;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            continue;
        }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        unsigned char *d = malloc((size_t)n); /* kept until exit: spans point into it */
        if (!d || fread(d, 1, (size_t)n, f) != (size_t)n) {
            fclose(f);
            return 1;
        }
        fclose(f);
        k += collect(d, (size_t)n, s + k, MAXF - k);
    }
    if (k) {
        run("corpus MARC-8 data fields", s, k, 1);
        run("corpus MARC-8 data fields", s, k, 0);
    }

    /* Synthetic: 20000 fields of ~80 bytes, one in ten with ANSEL/escapes. */
    static const char *const words[] = {"the",     "history", "of",    "library", "catalogue",
                                        "records", "and",     "their", "formats", "1998"};
    enum { NSYN = 20000 };
    unsigned char *pool = malloc(NSYN * 128);
    unsigned long long x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < NSYN; i++) {
        unsigned char *p = pool + i * 128, *q = p;
        *q++ = 0x1f;
        *q++ = 'a';
        while (q - p < 80) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            const char *w = words[x % 10];
            memcpy(q, w, strlen(w));
            q += strlen(w);
            *q++ = ' ';
        }
        if (i % 10 == 0) {
            memcpy(q,
                   "\xE2"
                   "e\xF0"
                   "c \x1b(NAB\x1b(B",
                   12);
            q += 12;
        }
        s[i] = (span){p, (size_t)(q - p)};
    }
    run("synthetic mostly-ASCII", s, NSYN, 1);
    run("synthetic mostly-ASCII", s, NSYN, 0);
    free(pool);
    free(s);
    return 0;
}
