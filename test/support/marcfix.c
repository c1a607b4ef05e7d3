/* marcfix.c - see marcfix.h. */
#include "marcfix.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mf_init(mf_buf *b)
{
    b->p = NULL;
    b->len = b->cap = 0;
}

void mf_free(mf_buf *b)
{
    free(b->p);
    mf_init(b);
}

static void mf_reserve(mf_buf *b, size_t n)
{
    if (b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p)
        abort();
    b->cap = cap;
}

void mf_append(mf_buf *b, const void *p, size_t n)
{
    mf_reserve(b, n + 1);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void mf_appends(mf_buf *b, const char *s)
{
    mf_append(b, s, strlen(s));
}

static void mf_digits(unsigned char *at, size_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        at[i] = (unsigned char)('0' + v % 10);
        v /= 10;
    }
}

size_t mf_record(mf_buf *b, const char *leader, const char *const *fields, size_t nfields)
{
    const char *ld = leader ? leader : "nam a22 a 4500";
    size_t base = 24 + 12 * nfields + 1;
    size_t data = 0;
    for (size_t i = 0; i < nfields; i++)
        data += strlen(fields[i]) - 3 + 1;
    size_t total = base + data + 1;
    size_t off = b->len;
    mf_reserve(b, total + 1);
    unsigned char *r = b->p + off;
    mf_digits(r, total > 99999 ? 99999 : total, 5);
    memcpy(r + 5, ld, 7);
    mf_digits(r + 12, base, 5);
    memcpy(r + 17, ld + 7, 7);
    size_t pos = 0;
    unsigned char *dir = r + 24, *d = r + base;
    for (size_t i = 0; i < nfields; i++) {
        size_t fl = strlen(fields[i]) - 3;
        memcpy(dir, fields[i], 3);
        mf_digits(dir + 3, fl + 1, 4);
        mf_digits(dir + 7, pos, 5);
        dir += 12;
        for (size_t j = 0; j < fl; j++) {
            char c = fields[i][3 + j];
            d[pos + j] = (unsigned char)(c == '$' ? 0x1F : c);
        }
        d[pos + fl] = 0x1E;
        pos += fl + 1;
    }
    *dir = 0x1E;
    d[pos] = 0x1D;
    b->len += total;
    return off;
}

static unsigned mf_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

void mf_sample(mf_buf *b, unsigned n, unsigned seed, size_t *offs)
{
    static const char *words[] = {"alpha",   "beta",    "gamma", "delta", "catalog", "museum",
                                  "library", "records", "of",    "the",   "art",     "history"};
    unsigned s = seed * 7919u + 1;
    for (unsigned k = 0; k < n; k++) {
        char *fields[12];
        size_t nf = 0;
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "001cn%u", k);
        fields[nf++] = strdup(tmp);
        fields[nf++] = strdup("008850101s1984    nyu           000 0 eng  ");
        unsigned extra = 1 + mf_rand(&s) % 8;
        for (unsigned e = 0; e < extra; e++) {
            static const char *tags[] = {"020", "100", "245", "260", "300", "500", "650", "700"};
            size_t t = 0;
            t += (size_t)snprintf(tmp + t, sizeof tmp - t, "%s%c%c", tags[mf_rand(&s) % 8],
                                  "01 "[mf_rand(&s) % 3], "0 4"[mf_rand(&s) % 3]);
            unsigned nsub = 1 + mf_rand(&s) % 4;
            for (unsigned q = 0; q < nsub; q++) {
                t += (size_t)snprintf(tmp + t, sizeof tmp - t, "$%c", "abcdxyz"[mf_rand(&s) % 7]);
                unsigned nw = 1 + mf_rand(&s) % (mf_rand(&s) % 10 == 0 ? 300 : 12);
                for (unsigned w = 0; w < nw && t < sizeof tmp - 20; w++)
                    t += (size_t)snprintf(tmp + t, sizeof tmp - t, "%s%s", w ? " " : "",
                                          words[mf_rand(&s) % 12]);
            }
            fields[nf++] = strdup(tmp);
        }
        size_t off = mf_record(b, NULL, (const char *const *)fields, nf);
        if (offs)
            offs[k] = off;
        for (size_t i = 0; i < nf; i++)
            free(fields[i]);
    }
    if (offs)
        offs[n] = b->len;
}

size_t mf_big_record(mf_buf *b, size_t target, unsigned seed)
{
    size_t nf = target / 9000 + 2;
    char **fields = calloc(nf, sizeof *fields);
    if (!fields)
        abort();
    unsigned s = seed + 17;
    fields[0] = strdup("001big");
    size_t have = 40;
    size_t k = 1;
    while (k < nf && have < target) {
        size_t fl = target - have > 9000 ? 9000 : target - have;
        if (fl < 16)
            fl = 16;
        char *f = malloc(fl + 1);
        if (!f)
            abort();
        memcpy(f, "500  $a", 7);
        for (size_t i = 7; i < fl; i++)
            f[i] = (char)('a' + mf_rand(&s) % 26);
        f[fl] = 0;
        fields[k++] = f;
        have += fl - 3 + 1 + 12;
    }
    size_t off = mf_record(b, NULL, (const char *const *)fields, k);
    for (size_t i = 0; i < k; i++)
        free(fields[i]);
    free(fields);
    return off;
}

void mf_set_length(mf_buf *b, size_t off, const char *five)
{
    memcpy(b->p + off, five, 5);
}

void mf_insert(mf_buf *b, size_t at, const void *p, size_t n)
{
    mf_reserve(b, n + 1);
    memmove(b->p + at + n, b->p + at, b->len - at);
    memcpy(b->p + at, p, n);
    b->len += n;
}

void mf_delete(mf_buf *b, size_t at, size_t n)
{
    memmove(b->p + at, b->p + at + n, b->len - at - n);
    b->len -= n;
}

unsigned char *mf_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    mf_buf b;
    mf_init(&b);
    unsigned char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        mf_append(&b, tmp, n);
    fclose(f);
    if (!b.p)
        mf_reserve(&b, 1);
    *len = b.len;
    return b.p;
}

/* ---- collecting ------------------------------------------------------------ */

void mf_seq_free(mf_seq *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

static uint64_t mf_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

uint64_t mf_record_hash(const mp_record *rec)
{
    uint64_t h = 1469598103934665603ull;
    h = mf_fnv(h, mp_record_leader(rec), 24);
    for (uint32_t i = 0; i < mp_record_field_count(rec); i++) {
        const mp_field *f = mp_record_field(rec, i);
        h = mf_fnv(h, f->tag, 3);
        h = mf_fnv(h, &f->ind1, 1);
        h = mf_fnv(h, &f->ind2, 1);
        h = mf_fnv(h, f->data, f->len);
        for (uint32_t j = 0; j < f->nsubfields; j++) {
            h = mf_fnv(h, &f->subfields[j].code, 1);
            h = mf_fnv(h, f->subfields[j].data, f->subfields[j].len);
        }
    }
    uint32_t nw = mp_record_warning_count(rec);
    h = mf_fnv(h, &nw, sizeof nw);
    for (uint32_t i = 0; i < nw; i++) {
        const mp_warning *w = mp_record_warning(rec, i);
        if (!w)
            break;
        h = mf_fnv(h, &w->kind, sizeof w->kind);
        h = mf_fnv(h, &w->offset, sizeof w->offset);
        h = mf_fnv(h, w->tag, sizeof w->tag);
        h = mf_fnv(h, &w->subfield, 1);
        h = mf_fnv(h, w->message, strnlen(w->message, sizeof w->message));
    }
    return h;
}

static void mf_push(mf_seq *s, int rc, const mp_record *rec, const mp_error_info *e)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v)
            abort();
    }
    mf_item *it = &s->v[s->n++];
    memset(it, 0, sizeof *it);
    it->rc = rc;
    if (rc == MP_ERECORD) {
        it->kind = (int)e->kind;
        it->offset = e->offset;
        it->length = e->length;
        it->ordinal = e->ordinal;
    }
    if (rec) {
        size_t len;
        mp_record_raw(rec, &len);
        it->has_rec = 1;
        it->offset = mp_record_offset(rec);
        it->length = len;
        it->ordinal = mp_record_ordinal(rec);
        it->nfields = mp_record_field_count(rec);
        it->hash = mf_record_hash(rec);
    }
}

const mp_reader_options *mf_seqopts(const mp_reader_options *o)
{
    static _Thread_local mp_reader_options copy;
    mp_reader_options d = MP_READER_OPTIONS_INIT;
    copy = o ? *o : d;
    copy.mode = MP_MODE_SEQUENTIAL;
    return &copy;
}

int mf_collect(mf_seq *s, mp_reader *r)
{
    const mp_record *rec;
    int rc;
    memset(s, 0, sizeof *s);
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD)
        mf_push(s, rc, rec, mp_reader_error(r));
    s->end_rc = rc;
    s->end_off = rc == MP_EOF ? 0 : mp_reader_error(r)->offset;
    return rc;
}

long mf_seq_diff(const mf_seq *a, const mf_seq *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a->v[i], &b->v[i], sizeof a->v[i]) != 0)
            return (long)i;
    if (a->n != b->n || a->end_rc != b->end_rc || a->end_off != b->end_off)
        return (long)n;
    return -1;
}

size_t mf_overlap_record(mf_buf *b, size_t nentries, size_t field_len, const char *leader)
{
    const char *ld = leader ? leader : "nam a22 a 4500";
    if (field_len < 4 || field_len > 9999)
        abort();
    size_t base = 24 + 12 * nentries + 1;
    size_t total = base + field_len + 1;
    size_t off = b->len;
    mf_reserve(b, total + 1);
    unsigned char *r = b->p + off;
    mf_digits(r, total > 99999 ? 99999 : total, 5);
    memcpy(r + 5, ld, 7);
    mf_digits(r + 12, base, 5);
    memcpy(r + 17, ld + 7, 7);
    for (size_t i = 0; i < nentries; i++) {
        unsigned char *e = r + 24 + 12 * i;
        memcpy(e, "245", 3);
        mf_digits(e + 3, field_len, 4);
        mf_digits(e + 7, 0, 5);
    }
    r[base - 1] = 0x1E;
    /* "10" then "$a" subfields of one letter: as many subfields as bytes allow. */
    unsigned char *d = r + base;
    d[0] = '1';
    d[1] = '0';
    for (size_t j = 2; j + 1 < field_len; j++)
        d[j] = (j % 3 == 2) ? 0x1F : (unsigned char)((j % 3 == 0) ? 'a' : 'x');
    d[field_len - 1] = 0x1E;
    r[total - 1] = 0x1D;
    b->len += total;
    return off;
}
