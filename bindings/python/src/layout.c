/*
 * layout.c - builds the compact record layout (layout.h) from an mp_record.
 *
 * Runs in the parser workers without the GIL: this file includes no Python
 * header on purpose (see layout.h), and every function is reentrant.
 */
#include "layout.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#ifdef Py_PYTHON_H
#error "layout.c runs in the parser workers without the GIL: no Python API here"
#endif

const layout_opts LAYOUT_PYMARC = {.marc8_control_latin1 = 1};
const layout_opts LAYOUT_PLAIN = {.marc8_control_latin1 = 0};

/* The stored bytes of control field i when pymarc's Latin-1 reading
 * applies (a MARC-8 record whose field the library decoded), else NULL. */
static const char *latin1_source(const mp_record *rec, const layout_opts *o, uint32_t i, size_t *n)
{
    if (!o || !o->marc8_control_latin1 || mp_record_leader(rec)[9] == 'a')
        return NULL;
    const mp_field *f = mp_record_field(rec, i);
    const char *raw = mp_record_field_raw(rec, i, n);
    return raw && raw != f->data ? raw : NULL;
}

/* Latin-1 bytes s[0..n) as UTF-8 into out (NULL: only measure). */
static size_t latin1_to_utf8(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (out)
                out[k] = (char)c;
            k++;
        } else {
            if (out) {
                out[k] = (char)(0xC0 | (c >> 6));
                out[k + 1] = (char)(0x80 | (c & 0x3F));
            }
            k += 2;
        }
    }
    return k;
}

static int pymarc_is_control(const char *tag)
{
    /* pymarc: tag < "010" and tag.isdigit(), that is "00" and a digit */
    return tag[0] == '0' && tag[1] == '0' && tag[2] >= '0' && tag[2] <= '9';
}

/* Splits a data field body (indicators + 0x1F-separated subfields) the way
 * pymarc does; used only when the C parser's view of the field differs from
 * pymarc's control-field rule. Pass out == NULL to count. Each value goes
 * into the text after "$" and its code (LAYOUT_RUN). */
static uint32_t split_body(const char *d, uint32_t n, char *ind1, char *ind2, layout_subfield *out,
                           char *text, uint32_t *text_pos)
{
    const char *us = memchr(d, 0x1f, n);
    uint32_t nind = us ? (uint32_t)(us - d) : n;
    *ind1 = nind >= 1 ? d[0] : ' ';
    *ind2 = nind >= 2 ? d[1] : ' ';
    uint32_t count = 0;
    while (us) {
        const char *start = us + 1;
        const char *end = d + n;
        const char *next = memchr(start, 0x1f, (size_t)(end - start));
        const char *stop = next ? next : end;
        if (stop > start) { /* pymarc skips empty pieces */
            if (out) {
                out[count].code = start[0];
                text[*text_pos] = '$';
                text[*text_pos + 1] = start[0];
                out[count].off = *text_pos + 2;
                out[count].len = (uint32_t)(stop - start - 1);
                memset(out[count].pad, 0, sizeof out[count].pad);
                memcpy(text + *text_pos + 2, start + 1, out[count].len);
                *text_pos += 2 + out[count].len;
            }
            count++;
        }
        us = next;
    }
    return count;
}

void layout_text_survey(const char *s, size_t n, size_t *cont, unsigned *maxb)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, c = 0;
    unsigned m = 0;
#if defined(__SSE2__)
    /* the largest byte first, 64 bytes a round: most texts are ASCII, and
     * for them that is all */
    const __m128i zero = _mm_setzero_si128();
    __m128i vmax = zero;
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_max_epu8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)),
                                 _mm_loadu_si128((const __m128i *)(const void *)(p + i + 16)));
        __m128i b = _mm_max_epu8(_mm_loadu_si128((const __m128i *)(const void *)(p + i + 32)),
                                 _mm_loadu_si128((const __m128i *)(const void *)(p + i + 48)));
        vmax = _mm_max_epu8(vmax, _mm_max_epu8(a, b));
    }
    for (; i + 16 <= n; i += 16)
        vmax = _mm_max_epu8(vmax, _mm_loadu_si128((const __m128i *)(const void *)(p + i)));
    unsigned char top[16];
    _mm_storeu_si128((__m128i *)(void *)top, vmax);
    for (int k = 0; k < 16; k++)
        m = top[k] > m ? top[k] : m;
    for (; i < n; i++)
        m = p[i] > m ? p[i] : m;
    if (m >= 0x80) {
        /* then the continuation bytes, 32 a round: one counter per lane
         * (+1 per continuation byte, at most 2 a round), summed before it
         * can wrap */
        const __m128i lim = _mm_set1_epi8((char)0xC0); /* signed: below it are 0x80-0xBF */
        __m128i sums = zero;
        for (i = 0; i + 32 <= n;) {
            __m128i lanes = zero;
            for (unsigned r = 0; r < 127 && i + 32 <= n; r++, i += 32) {
                __m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
                __m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 16));
                lanes = _mm_sub_epi8(lanes, _mm_cmplt_epi8(v0, lim));
                lanes = _mm_sub_epi8(lanes, _mm_cmplt_epi8(v1, lim));
            }
            sums = _mm_add_epi64(sums, _mm_sad_epu8(lanes, zero));
        }
        c = (size_t)_mm_cvtsi128_si64(sums) +
            (size_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums));
        for (; i < n; i++)
            c += (p[i] & 0xC0) == 0x80;
    }
#else
    for (; i < n; i++) {
        c += (p[i] & 0xC0) == 0x80;
        m = p[i] > m ? p[i] : m;
    }
#endif
    *cont = c;
    *maxb = m;
}

int layout_measure(const mp_record *rec, const layout_opts *o, layout_dims *d)
{
    uint32_t nf = mp_record_field_count(rec);
    size_t nsubs = 0, text = 0;
    for (uint32_t i = 0; i < nf; i++) {
        const mp_field *f = mp_record_field(rec, i);
        size_t rn;
        const char *l1;
        if (pymarc_is_control(f->tag) && (l1 = latin1_source(rec, o, i, &rn)) != NULL) {
            text += latin1_to_utf8(l1, rn, NULL);
        } else if (pymarc_is_control(f->tag)) {
            text += f->len;
        } else if (f->is_control) {
            char a, b;
            nsubs += split_body(f->data, f->len, &a, &b, NULL, NULL, NULL);
            text += f->len; /* a bound: "$" code value is as long as 0x1F code value */
        } else {
            nsubs += f->nsubfields;
            for (uint32_t j = 0; j < f->nsubfields; j++)
                text += 2 + (size_t)f->subfields[j].len; /* "$" code value */
        }
    }
    size_t size = LAYOUT_LEADER_LEN + (size_t)nf * sizeof(layout_field) +
                  nsubs * sizeof(layout_subfield) + text;
    if (size > UINT32_MAX || nsubs > UINT32_MAX)
        return -1;
    memset(d, 0, sizeof *d);
    d->nfields = nf;
    d->nsubs = (uint32_t)nsubs;
    d->size = size;
    return 0;
}

void layout_fill(const mp_record *rec, const layout_opts *o, layout_dims *d, char *blob)
{
    /* The leader as the input states it (pymarc keeps 09 as read even
     * after MARC-8 conversion, and a MARCXML / JSON / MARCMaker leader as
     * written): for ISO 2709 the raw bytes, for the text formats the
     * record's own leader, not the one of the ISO 2709 form built for it. */
    memcpy(blob, mp_record_leader(rec), LAYOUT_LEADER_LEN);
    layout_field *fo = layout_fields(blob);
    layout_subfield *so = layout_subfields(blob, d->nfields);
    char *t = layout_text(blob, d->nfields, d->nsubs);
    uint32_t tp = 0, sp = 0;
    uint64_t mrk = 6 + LAYOUT_LEADER_LEN + 1; /* "=LDR  " leader "\n" */
    unsigned head = 0, lead = 0;
    for (int k = 0; k < LAYOUT_LEADER_LEN; k++)
        lead |= (unsigned char)blob[k];
    for (uint32_t i = 0; i < d->nfields; i++) {
        const mp_field *f = mp_record_field(rec, i);
        layout_field *fd = &fo[i];
        memcpy(fd->tag, f->tag, 3);
        fd->ctrl = (uint8_t)pymarc_is_control(f->tag);
        fd->sub0 = sp;
        fd->nsub = 0;
        fd->flags = 0;
        size_t rn;
        const char *l1;
        if (fd->ctrl && (l1 = latin1_source(rec, o, i, &rn)) != NULL) {
            fd->ind1 = fd->ind2 = ' ';
            fd->off = tp;
            fd->len = (uint32_t)latin1_to_utf8(l1, rn, t + tp);
            tp += fd->len;
        } else if (fd->ctrl) {
            fd->ind1 = fd->ind2 = ' ';
            fd->off = tp;
            fd->len = f->len;
            memcpy(t + tp, f->data, f->len);
            tp += f->len;
        } else if (f->is_control) {
            fd->off = tp;
            fd->nsub = split_body(f->data, f->len, &fd->ind1, &fd->ind2, so + sp, t, &tp);
            fd->len = tp - fd->off;
            fd->flags = LAYOUT_RUN;
            sp += fd->nsub;
        } else {
            fd->ind1 = f->ind1;
            fd->ind2 = f->ind2;
            fd->off = tp;
            fd->nsub = f->nsubfields;
            for (uint32_t j = 0; j < f->nsubfields; j++) {
                const mp_subfield *sf = &f->subfields[j];
                so[sp].code = sf->code;
                so[sp].off = tp + 2;
                so[sp].len = sf->len;
                memset(so[sp].pad, 0, sizeof so[sp].pad);
                t[tp] = '$';
                t[tp + 1] = sf->code;
                memcpy(t + tp + 2, sf->data, sf->len);
                tp += 2 + sf->len;
                sp++;
            }
            fd->len = tp - fd->off;
            fd->flags = LAYOUT_RUN;
        }
        /* "=" tag "  ", the data or the indicators and the run, "\n";
         * the tag and indicators (blanks in a control field) into head */
        const char t0 = f->tag[0], t1 = f->tag[1], t2 = f->tag[2];
        mrk += 7 + fd->len + (fd->ctrl ? 0 : 2);
        if (!t0 || !t1 || !t2) /* MRK writes strnlen(tag, 3) */
            mrk -= 3 - (!t0 ? 0 : !t1 ? 1 : 2);
        head |= (unsigned char)(t0 | t1 | t2 | fd->ind1 | fd->ind2);
    }
    /* the text area's bound may exceed what was written (split_body) */
    size_t area = d->size - (size_t)(t - blob), cont;
    unsigned maxb;
    memset(t + tp, 0, area - tp);
    layout_text_survey(t, tp, &cont, &maxb);
    d->mrk_len = mrk;
    d->text_cont = (uint32_t)cont;
    d->text_max = (uint8_t)maxb;
    d->ascii =
        (uint8_t)((head < 0x80 ? LAYOUT_HEAD_ASCII : 0) | (lead < 0x80 ? LAYOUT_LEADER_ASCII : 0));
    d->summary = 1;
}

int layout_record_fn(void *user, const mp_record *rec)
{
    const layout_opts *o = user ? (const layout_opts *)user : &LAYOUT_PLAIN;
    layout_dims d;
    if (layout_measure(rec, o, &d) < 0)
        return 0; /* the consumer reports the size problem */
    /* The annotation is the worker's until record_fn returns; the pipeline
     * hands the record to the consumer after that, which orders the writes. */
    char *a = mp_record_annotate(rec, sizeof(layout_dims) + d.size);
    if (a) {
        layout_fill(rec, o, &d, a + sizeof(layout_dims));
        memcpy(a, &d, sizeof d);
    }
    return 0;
}

const char *layout_prepared(const mp_record *rec, layout_dims *d)
{
    size_t alen = 0;
    const char *ann = mp_record_annotation(rec, &alen);
    if (!ann || alen < sizeof *d)
        return NULL;
    memcpy(d, ann, sizeof *d);
    /* Any other annotation (a second record_fn?) is not ours: ignore it. */
    if (d->size != alen - sizeof *d)
        return NULL;
    return ann + sizeof *d;
}
