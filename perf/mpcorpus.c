/*
 * mpcorpus - corpus tools for the perf harness.
 *
 *   mpcorpus repeat IN OUT --repeat-to SIZE     concatenate IN until OUT >= SIZE
 *   mpcorpus synth OUT --size SIZE [--seed N] [--marc8 RATE] [--damage RATE]
 *                                               deterministic synthetic records
 *   mpcorpus head IN OUT --records N            the first N records of IN (leader lengths)
 *
 * SIZE accepts K, M, G suffixes (powers of 1024). Prints one JSON line
 * describing what it wrote.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth.h"

static unsigned long long parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    switch (*end) {
    case 'k':
    case 'K':
        v *= 1024.0;
        break;
    case 'm':
    case 'M':
        v *= 1024.0 * 1024.0;
        break;
    case 'g':
    case 'G':
        v *= 1024.0 * 1024.0 * 1024.0;
        break;
    default:
        break;
    }
    return (unsigned long long)v;
}

static const char *opt(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            unsigned char *nb = realloc(buf, cap);
            if (!nb)
                goto fail;
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

static int cmd_repeat(int argc, char **argv)
{
    size_t len;
    unsigned long long target = parse_size(opt(argc, argv, "--repeat-to", "200M"));
    unsigned char *in = slurp(argv[2], &len);
    FILE *out = fopen(argv[3], "wb");
    unsigned long long written = 0, copies = 0;
    if (!in || !out || len == 0) {
        fprintf(stderr, "mpcorpus: cannot read %s or write %s: %s\n", argv[2], argv[3],
                strerror(errno));
        return 1;
    }
    while (written < target) {
        if (fwrite(in, 1, len, out) != len) {
            fprintf(stderr, "mpcorpus: write failed: %s\n", strerror(errno));
            return 1;
        }
        written += len;
        copies++;
    }
    if (fclose(out) != 0)
        return 1;
    free(in);
    printf("{\"tool\":\"repeat\",\"out\":\"%s\",\"bytes\":%llu,\"copies\":%llu}\n", argv[3],
           written, copies);
    return 0;
}

static int cmd_synth(int argc, char **argv)
{
    synth_opts o = SYNTH_OPTS_INIT;
    synth g;
    static unsigned char buf[SYNTH_MAX_UNIT];
    unsigned long long target = parse_size(opt(argc, argv, "--size", "16M")), written = 0;
    o.seed = strtoull(opt(argc, argv, "--seed", "1"), NULL, 10);
    o.marc8_rate = atof(opt(argc, argv, "--marc8", "0.2"));
    o.damage_rate = atof(opt(argc, argv, "--damage", "0"));
    synth_init(&g, &o);
    FILE *out = fopen(argv[2], "wb");
    if (!out) {
        fprintf(stderr, "mpcorpus: cannot write %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    while (written < target) {
        size_t n = synth_record(&g, buf, sizeof buf, NULL);
        if (fwrite(buf, 1, n, out) != n)
            return 1;
        written += n;
    }
    if (fclose(out) != 0)
        return 1;
    printf("{\"tool\":\"synth\",\"out\":\"%s\",\"bytes\":%llu,\"units\":%llu,\"damaged\":%llu,"
           "\"marc8\":%llu,\"seed\":%llu}\n",
           argv[2], written, (unsigned long long)g.records, (unsigned long long)g.damaged,
           (unsigned long long)g.marc8, (unsigned long long)o.seed);
    return 0;
}

static int cmd_head(int argc, char **argv)
{
    size_t len, p = 0;
    unsigned long long want = strtoull(opt(argc, argv, "--records", "10"), NULL, 10), n = 0;
    unsigned char *in = slurp(argv[2], &len);
    FILE *out = fopen(argv[3], "wb");
    if (!in || !out)
        return 1;
    while (n < want && p + 5 <= len) {
        size_t rl = 0;
        for (int i = 0; i < 5; i++)
            rl = rl * 10 + (size_t)(in[p + i] - '0');
        if (rl < 24 || p + rl > len)
            break;
        p += rl;
        n++;
    }
    if (fwrite(in, 1, p, out) != p || fclose(out) != 0)
        return 1;
    free(in);
    printf("{\"tool\":\"head\",\"out\":\"%s\",\"bytes\":%zu,\"records\":%llu}\n", argv[3], p, n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "repeat") == 0)
        return cmd_repeat(argc, argv);
    if (argc >= 3 && strcmp(argv[1], "synth") == 0)
        return cmd_synth(argc, argv);
    if (argc >= 4 && strcmp(argv[1], "head") == 0)
        return cmd_head(argc, argv);
    fprintf(stderr, "usage: mpcorpus repeat IN OUT --repeat-to SIZE\n"
                    "       mpcorpus synth OUT --size SIZE [--seed N] [--marc8 R] [--damage R]\n"
                    "       mpcorpus head IN OUT --records N\n");
    return 2;
}
