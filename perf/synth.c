/*
 * synth.c - deterministic synthetic MARC 21 records (see synth.h).
 */
#include "synth.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define SYN_FT         0x1E /* field terminator */
#define SYN_RT         0x1D /* record terminator */
#define SYN_SD         0x1F /* subfield delimiter */
#define SYN_MAX_FIELDS 512

static uint64_t syn_next(synth *g)
{
    /* splitmix64: tiny, deterministic, good enough for workloads. */
    uint64_t z = (g->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double syn_unit(synth *g)
{
    return (double)(syn_next(g) >> 11) * (1.0 / 9007199254740992.0);
}

static unsigned syn_below(synth *g, unsigned n)
{
    return (unsigned)(syn_next(g) % n);
}

static double syn_normal(synth *g)
{
    double u1 = syn_unit(g), u2 = syn_unit(g);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void synth_init(synth *g, const synth_opts *o)
{
    synth_opts d = SYNTH_OPTS_INIT;
    memset(g, 0, sizeof *g);
    g->o = o ? *o : d;
    if (g->o.size_median <= 0)
        g->o.size_median = d.size_median;
    if (g->o.size_sigma <= 0)
        g->o.size_sigma = d.size_sigma;
    g->state = g->o.seed * 0x2545F4914F6CDD1Dull + 1;
}

static const char *const syn_words[] = {
    "the",        "of",       "and",      "art",        "museum",      "collection", "catalogue",
    "exhibition", "painting", "drawings", "history",    "new",         "york",       "metropolitan",
    "sculpture",  "portrait", "century",  "french",     "italian",     "american",   "studies",
    "in",         "from",     "works",    "gallery",    "photography", "design",     "textiles",
    "prints",     "ancient",  "medieval", "modern",     "egyptian",    "greek",      "roman",
    "library",    "archive",  "journal",  "bulletin",   "annual",      "report",     "illustrated",
    "volume",     "edition",  "press",    "university", "society",     "arms",       "armor",
    "ceramics",   "glass",    "silver",   "furniture",  "islamic",     "asian",      "decorative"};
#define SYN_NWORDS (sizeof syn_words / sizeof syn_words[0])

/* UTF-8 flavour words. */
static const char *const syn_utf8[] = {
    "caf\xC3\xA9",          "M\xC3\xBCller",
    "Z\xC3\xBCrich",        "\xE6\x9D\xB1\xE4\xBA\xAC",
    "Dvo\xC5\x99\xC3\xA1k", "\xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0"};
/* MARC-8 flavour words: ANSEL combining marks precede their base letter;
 * ESC ( N selects Basic Cyrillic as G0, ESC ( B returns to ASCII. */
static const char *const syn_marc8[] = {"caf\xE2"
                                        "e",
                                        "M\xE8uller",
                                        "Z\xE8urich",
                                        "\xA5gypten",
                                        "Dvo\xE9r\xE2"
                                        "ak",
                                        "\x1B(Nmoskwa\x1B(B"};
#define SYN_NFLAV 6

typedef struct syn_buf {
    unsigned char *p;
    size_t len, cap;
} syn_buf;

static void syn_put(syn_buf *b, const void *s, size_t n)
{
    if (b->len + n > b->cap)
        n = b->cap - b->len;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void syn_putc(syn_buf *b, unsigned char c)
{
    if (b->len < b->cap)
        b->p[b->len++] = c;
}

static void syn_text(synth *g, syn_buf *b, size_t want, int flavour)
{
    int marc8 = g->cur_marc8;
    size_t start = b->len;
    int first = 1;
    while (b->len - start < want) {
        const char *w;
        if (flavour && syn_below(g, 16) == 0)
            w = marc8 ? syn_marc8[syn_below(g, SYN_NFLAV)] : syn_utf8[syn_below(g, SYN_NFLAV)];
        else
            w = syn_words[syn_below(g, SYN_NWORDS)];
        if (!first)
            syn_putc(b, ' ');
        first = 0;
        syn_put(b, w, strlen(w));
    }
}

typedef struct syn_dir {
    char tag[4];
    size_t start, len;
} syn_dir;

/* Appends a data field with `nsub` subfields of roughly `each` bytes. */
static void syn_datafield(synth *g, syn_buf *data, syn_dir *dir, unsigned *nf, const char *tag,
                          const char *codes, size_t each, int flavour)
{
    if (*nf >= SYN_MAX_FIELDS || data->len + 4 * each + 64 > data->cap)
        return;
    syn_dir *d = &dir[(*nf)++];
    memcpy(d->tag, tag, 4);
    d->start = data->len;
    syn_putc(data, (unsigned char)"0 14"[syn_below(g, 4)]);
    syn_putc(data, (unsigned char)" 0 2"[syn_below(g, 4)]);
    for (const char *c = codes; *c; c++) {
        syn_putc(data, SYN_SD);
        syn_putc(data, (unsigned char)*c);
        syn_text(g, data, 1 + each / 2 + syn_below(g, (unsigned)each + 1), flavour);
    }
    syn_putc(data, SYN_FT);
    d->len = data->len - d->start;
}

static void syn_controlfield(syn_buf *data, syn_dir *dir, unsigned *nf, const char *tag,
                             const char *val)
{
    syn_dir *d = &dir[(*nf)++];
    memcpy(d->tag, tag, 4);
    d->start = data->len;
    syn_put(data, val, strlen(val));
    syn_putc(data, SYN_FT);
    d->len = data->len - d->start;
}

size_t synth_record(synth *g, unsigned char *buf, size_t cap, int *damage)
{
    static unsigned char data_mem[SYNTH_MAX_UNIT];
    static syn_dir dir[SYN_MAX_FIELDS];
    /* The static scratch keeps the stack small; callers are single-threaded
     * per process in the harness (documented in synth.h). */
    syn_buf data = {data_mem, 0, sizeof data_mem - 1024};
    unsigned nf = 0;
    int marc8 = syn_unit(g) < g->o.marc8_rate;
    g->cur_marc8 = marc8;
    int dmg = 0;
    char tmp[64];

    if (cap < SYNTH_MAX_UNIT)
        return 0;
    if (g->o.damage_rate > 0 && syn_unit(g) < g->o.damage_rate)
        dmg = 1 + (int)syn_below(g, 5);
    if (dmg == 5 && marc8)
        dmg = 4; /* invalid UTF-8 only makes sense in a UTF-8 record */

    double t = exp(log(g->o.size_median) + g->o.size_sigma * syn_normal(g));
    size_t target = t < 400 ? 400 : t > 30000 ? 30000 : (size_t)t;

    snprintf(tmp, sizeof tmp, "syn%010llu", (unsigned long long)g->records);
    syn_controlfield(&data, dir, &nf, "001", tmp);
    syn_controlfield(&data, dir, &nf, "003", "SYNTH");
    syn_controlfield(&data, dir, &nf, "005", "20250401120000.0");
    syn_controlfield(&data, dir, &nf, "008", "250401s2024    nyua     b    001 0 eng d");
    syn_datafield(g, &data, dir, &nf, "040", "abec", 4, 0);
    syn_datafield(g, &data, dir, &nf, syn_below(g, 2) ? "100" : "110", "ad", 14, 1);
    syn_datafield(g, &data, dir, &nf, "245", "abc", 24, 1);
    syn_datafield(g, &data, dir, &nf, syn_below(g, 2) ? "260" : "264", "abc", 12, 1);
    syn_datafield(g, &data, dir, &nf, "300", "abc", 10, 0);
    syn_datafield(g, &data, dir, &nf, "336", "ab2", 6, 0);
    syn_datafield(g, &data, dir, &nf, "337", "ab2", 6, 0);
    syn_datafield(g, &data, dir, &nf, "338", "ab2", 6, 0);
    static const char *const more[][2] = {{"650", "avxz"}, {"650", "ax"},  {"655", "a2"},
                                          {"856", "uz3"},  {"500", "a"},   {"700", "ade"},
                                          {"710", "ab"},   {"600", "adt"}, {"651", "az"},
                                          {"776", "it"},   {"505", "a"}};
    while (nf < SYN_MAX_FIELDS && 24 + 12 * (nf + 1) + 1 + data.len < target &&
           data.len + 2048 < data.cap) {
        unsigned k = syn_below(g, sizeof more / sizeof more[0]);
        size_t each = more[k][0][0] == '5' ? 40 + syn_below(g, 160) : 6 + syn_below(g, 24);
        syn_datafield(g, &data, dir, &nf, more[k][0], more[k][1], each, 1);
    }
    if (dmg == 5) { /* an invalid UTF-8 byte inside 245 */
        data.p[dir[6].start + 4] = 0xFF;
    }

    size_t base = 24 + 12 * (size_t)nf + 1;
    size_t total = base + data.len + 1;
    size_t o = 0;
    if (dmg == 3) { /* junk before the record (never a terminator) */
        size_t nj = 5 + syn_below(g, 36);
        for (size_t i = 0; i < nj; i++)
            buf[o++] = (unsigned char)('!' + syn_below(g, 90));
    }
    unsigned char *rec = buf + o;
    snprintf(tmp, sizeof tmp, "%05ucam %c22%05u a 4500", (unsigned)(total % 100000),
             marc8 ? ' ' : 'a', (unsigned)(base % 100000));
    memcpy(rec, tmp, 24);
    if (dmg == 1) {
        static const char *const bad[] = {"99999", "00000", "12a45"};
        memcpy(rec, bad[syn_below(g, 3)], 5);
    }
    size_t p = 24;
    for (unsigned i = 0; i < nf; i++, p += 12) {
        snprintf(tmp, sizeof tmp, "%.3s%04u%05u", dir[i].tag, (unsigned)(dir[i].len % 10000),
                 (unsigned)(dir[i].start % 100000));
        memcpy(rec + p, tmp, 12);
    }
    if (dmg == 4)
        rec[24 + 12 * (nf / 2) + 4] = 'x';
    rec[p++] = SYN_FT;
    memcpy(rec + p, data.p, data.len);
    p += data.len;
    rec[p++] = SYN_RT;
    if (dmg == 2)
        p--; /* the terminator is missing */
    o += p;

    g->records++;
    g->damaged += dmg != 0;
    g->marc8 += marc8 != 0;
    if (damage)
        *damage = dmg;
    return o;
}

size_t synth_fill(synth *g, unsigned char *buf, size_t cap)
{
    size_t n = 0;
    while (cap - n >= SYNTH_MAX_UNIT)
        n += synth_record(g, buf + n, cap - n, NULL);
    return n;
}
