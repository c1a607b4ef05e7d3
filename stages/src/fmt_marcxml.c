/*
 * fmt_marcxml.c - MARCXML (MARC 21 slim): framing and parsing (format.h,
 * rules in stages/FRAMING.md).
 *
 * Framing (scanner): a unit is one MARC <record> element, from its start
 * tag to its end tag, with any prefix (marc:record, ns0:record), in a
 * <collection>, bare, or inside an envelope such as OAI-PMH (whose own
 * <record> elements are told apart: a record element is MARC when it
 * declares the MARC namespace, or declares none and its first child is a
 * leader, controlfield, datafield or subfield, or it is empty). Everything
 * between units - the XML declaration, comments, envelope tags and their
 * text, white space - is ignored; bytes that are not XML there, and MARC
 * elements outside any record, are JUNK error items; a DOCTYPE that
 * declares entities is a DTD error item (nothing of it is loaded). A
 * record that is not closed before the next one starts ends there (its
 * parse reports it), so damage never swallows the next record.
 *
 * Parsing (workers), two parsers behind one event interface (mp__xev_*)
 * that feeds the record builder (builder.h):
 *   - the fast path: a one-pass recogniser of a strict subset of XML 1.0
 *     (ASCII names, quoted attributes, the five predefined entities and
 *     character references, UTF-8 text checked as XML's Char) that covers
 *     what MARCXML writers produce. On anything outside the subset
 *     (comments, CDATA, processing instructions, CR line ends, unknown
 *     entities, malformed or truncated markup, other encodings...) it
 *     declines and
 *   - libxml2 decides: a SAX2 push parser per record (no tree), options
 *     XML_PARSE_NONET, no DTD loading, no entity substitution, no HUGE
 *     (its default limits on depth, names and text hold); a record that
 *     is not well-formed is an error item (kind SYNTAX) with libxml2's
 *     message. A unit never holds a DTD (it starts at <record>), so no
 *     entity beyond the predefined ones can be expanded: XXE and
 *     "billion laughs" end as undefined-entity errors.
 * The fast path accepts only what libxml2 accepts and must give the same
 * record: test/fuzz/fuzz_formats.c checks both on the same units.
 *
 * Semantics (pymarc's XmlHandler, by local names; namespaces are not
 * resolved, as a record is parsed without the document around it):
 * leader text; controlfield@tag + text; datafield@tag, @ind1, @ind2
 * (absent: blank) with subfield@code + text. Unknown elements are ignored
 * with their content; a subfield outside a datafield, fields inside a
 * datafield, a missing tag or code are errors of the record.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include "builder.h"
#include "format.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Messages are cut to their buffers on purpose. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#define MP__MARC_NS "http://www.loc.gov/MARC21/slim"

/* ---- framing ------------------------------------------------------------- */

static int mp__x_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* XML name bytes as the framer sees them: ASCII name characters and any
 * byte >= 0x80 (non-ASCII names are left for the parser to judge). Bit 1:
 * may start a name (':' included), bit 2: may be in one. */
static const unsigned char mp__x_nametab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 0, 0, 0, 0, 0,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 3,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
};

static inline int mp__x_namestart(unsigned char c)
{
    return mp__x_nametab[c] & 1;
}

static inline int mp__x_namechar(unsigned char c)
{
    return mp__x_nametab[c] & 2;
}

/* The local part of a qualified name. */
static void mp__x_local(const unsigned char *q, size_t n, const unsigned char **l, size_t *ln)
{
    const unsigned char *c = memchr(q, ':', n);
    *l = c ? c + 1 : q;
    *ln = c ? n - (size_t)(c + 1 - q) : n;
}

static int mp__x_is(const unsigned char *l, size_t n, const char *name)
{
    return n == strlen(name) && memcmp(l, name, n) == 0;
}

enum { MP__LEX_OK = 0, MP__LEX_MORE = -1, MP__LEX_BAD = -2 };

/*
 * A tag at p[0] == '<' (start tag, or end tag when p[1] == '/'). On
 * MP__LEX_OK: *end = bytes up to and including '>', the qualified name
 * at p + *name_at (*name_len), *empty for "/>". For start tags the
 * attributes must be quoted and hold no '<'. MP__LEX_MORE: n bytes do not
 * decide.
 */
static int mp__x_tag(const unsigned char *p, size_t n, size_t *end, size_t *name_at,
                     size_t *name_len, int *empty)
{
    size_t i = 1;
    int close = 0;
    if (i < n && p[i] == '/') {
        close = 1;
        i++;
    }
    if (i >= n)
        return MP__LEX_MORE;
    if (!mp__x_namestart(p[i]))
        return MP__LEX_BAD;
    *name_at = i;
    while (i < n && mp__x_namechar(p[i]))
        i++;
    if (i >= n)
        return MP__LEX_MORE;
    *name_len = i - *name_at;
    *empty = 0;
    unsigned char q = 0;
    for (; i < n; i++) {
        unsigned char c = p[i];
        if (q) {
            if (c == q)
                q = 0;
            else if (c == '<')
                return MP__LEX_BAD;
            continue;
        }
        if (c == '>') {
            *end = i + 1;
            return MP__LEX_OK;
        }
        if (c == '<')
            return MP__LEX_BAD;
        if (close && !mp__x_ws(c))
            return MP__LEX_BAD;
        if (c == '"' || c == '\'')
            q = c;
        else if (c == '/') {
            if (i + 1 >= n)
                return MP__LEX_MORE;
            if (p[i + 1] != '>')
                return MP__LEX_BAD;
            *empty = 1;
            *end = i + 2;
            return MP__LEX_OK;
        }
    }
    return MP__LEX_MORE;
}

/* The value of attribute `name` in the start tag p[0..n), or NULL. */
static const unsigned char *mp__x_attr(const unsigned char *p, size_t n, const char *name,
                                       size_t *vlen)
{
    size_t nl = strlen(name), i = 1;
    while (i < n && mp__x_namechar(p[i]))
        i++;
    while (i < n) {
        while (i < n && mp__x_ws(p[i]))
            i++;
        size_t a = i;
        while (i < n && mp__x_namechar(p[i]))
            i++;
        size_t an = i - a;
        if (an == 0)
            return NULL;
        while (i < n && mp__x_ws(p[i]))
            i++;
        if (i >= n || p[i] != '=')
            return NULL;
        i++;
        while (i < n && mp__x_ws(p[i]))
            i++;
        if (i >= n || (p[i] != '"' && p[i] != '\''))
            return NULL;
        unsigned char q = p[i++];
        size_t v = i;
        while (i < n && p[i] != q)
            i++;
        if (i >= n)
            return NULL;
        if (an == nl && memcmp(p + a, name, nl) == 0) {
            *vlen = i - v;
            return p + v;
        }
        i++;
    }
    return NULL;
}

/* Skips a comment, CDATA section or processing instruction at p[0] ==
 * '<' (p[1] is '!' or '?'). *len on OK. MP__LEX_BAD: not one of them. */
static int mp__x_special(const unsigned char *p, size_t n, size_t *len)
{
    static const char com[] = "<!--", cd[] = "<![CDATA[";
    const char *close;
    size_t open;
    if (p[1] == '?') {
        open = 2;
        close = "?>";
    } else {
        size_t k = n < 4 ? n : 4;
        if (memcmp(p, com, k) == 0) {
            if (n < 4)
                return MP__LEX_MORE;
            open = 4;
            close = "-->";
        } else {
            k = n < 9 ? n : 9;
            if (memcmp(p, cd, k) != 0)
                return MP__LEX_BAD;
            if (n < 9)
                return MP__LEX_MORE;
            open = 9;
            close = "]]>";
        }
    }
    size_t cl = strlen(close);
    if (n < open)
        return MP__LEX_MORE;
    const unsigned char *e = memmem(p + open, n - open, close, cl);
    if (!e)
        return MP__LEX_MORE;
    *len = (size_t)(e - p) + cl;
    return MP__LEX_OK;
}

/* A DOCTYPE at p: *len through its '>', *entities when its internal
 * subset declares entities. */
static int mp__x_doctype(const unsigned char *p, size_t n, size_t *len, int *entities)
{
    unsigned char q = 0;
    int subset = 0;
    *entities = 0;
    for (size_t i = 9; i < n; i++) {
        unsigned char c = p[i];
        if (q) {
            if (c == q)
                q = 0;
            continue;
        }
        if (c == '"' || c == '\'') {
            q = c;
        } else if (c == '[' && !subset) {
            subset = 1;
        } else if (c == ']' && subset) {
            subset = 0;
        } else if (c == '<' && subset) {
            if (i + 4 > n)
                return MP__LEX_MORE;
            if (memcmp(p + i, "<!--", 4) == 0) {
                const unsigned char *e = memmem(p + i + 4, n - i - 4, "-->", 3);
                if (!e)
                    return MP__LEX_MORE;
                i = (size_t)(e - p) + 2;
                continue;
            }
            if (i + 8 > n)
                return MP__LEX_MORE;
            if (memcmp(p + i, "<!ENTITY", 8) == 0)
                *entities = 1;
        } else if (c == '>' && !subset) {
            *len = i + 1;
            return MP__LEX_OK;
        }
    }
    return MP__LEX_MORE;
}

/*
 * Whether the `record` start tag p[0..tl) (name at p + na, nn bytes) opens
 * a MARC record: its own namespace declaration says so, or, without one,
 * its first child element is a MARC element (or it has none). 1 yes, 0
 * no, MP__LEX_MORE: n bytes do not decide.
 */
static int mp__x_is_marc(const unsigned char *p, size_t n, size_t tl, size_t na, size_t nn,
                         int empty)
{
    char decl[80] = "xmlns";
    const unsigned char *colon = memchr(p + na, ':', nn);
    if (colon) {
        size_t pl = (size_t)(colon - (p + na));
        if (pl + 7 > sizeof decl)
            return 0;
        decl[5] = ':';
        memcpy(decl + 6, p + na, pl);
        decl[6 + pl] = 0;
    }
    size_t vl = 0;
    const unsigned char *v = mp__x_attr(p, tl, decl, &vl);
    if (v)
        return vl == strlen(MP__MARC_NS) && memcmp(v, MP__MARC_NS, vl) == 0;
    if (empty)
        return 1;
    size_t i = tl;
    for (;;) {
        while (i < n && p[i] != '<')
            i++;
        if (i + 1 >= n)
            return MP__LEX_MORE;
        if (p[i + 1] == '!' || p[i + 1] == '?') {
            size_t sl;
            int r = mp__x_special(p + i, n - i, &sl);
            if (r == MP__LEX_MORE)
                return MP__LEX_MORE;
            if (r == MP__LEX_BAD)
                return 0;
            i += sl;
            continue;
        }
        if (p[i + 1] == '/')
            return 1; /* an empty record */
        size_t end, ca, cn;
        int e;
        int r = mp__x_tag(p + i, n - i, &end, &ca, &cn, &e);
        if (r == MP__LEX_MORE)
            return MP__LEX_MORE;
        if (r == MP__LEX_BAD)
            return 0;
        const unsigned char *l;
        size_t ln;
        mp__x_local(p + i + ca, cn, &l, &ln);
        return mp__x_is(l, ln, "leader") || mp__x_is(l, ln, "controlfield") ||
               mp__x_is(l, ln, "datafield") || mp__x_is(l, ln, "subfield");
    }
}

/* The first "<!" or "<?" in p[i..n) (a comment, CDATA section or
 * processing instruction starts there), or n. 16 bytes a step. */
static size_t mp__x_find_special(const unsigned char *p, size_t i, size_t n)
{
#if defined(__SSE2__)
    const __m128i lt = _mm_set1_epi8('<'), bang = _mm_set1_epi8('!'), qm = _mm_set1_epi8('?');
    while (i + 17 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i w = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 1));
        __m128i m = _mm_and_si128(_mm_cmpeq_epi8(v, lt),
                                  _mm_or_si128(_mm_cmpeq_epi8(w, bang), _mm_cmpeq_epi8(w, qm)));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
#endif
    for (; i + 1 < n; i++)
        if (p[i] == '<' && (p[i + 1] == '!' || p[i + 1] == '?'))
            return i;
    return n;
}

/* The next "record" in p[i..n) (position of its 'r'), or n. */
static size_t mp__x_find_record(const unsigned char *p, size_t i, size_t n)
{
#if defined(__SSE2__)
    const __m128i r = _mm_set1_epi8('r'), d = _mm_set1_epi8('d');
    while (i + 21 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i w = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 5));
        unsigned mask =
            (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(v, r), _mm_cmpeq_epi8(w, d)));
        while (mask) {
            size_t k = i + (size_t)__builtin_ctz(mask);
            if (memcmp(p + k + 1, "ecor", 4) == 0)
                return k;
            mask &= mask - 1;
        }
        i += 16;
    }
#endif
    for (; i + 6 <= n; i++)
        if (p[i] == 'r' && memcmp(p + i, "record", 6) == 0)
            return i;
    return n;
}

size_t mp__xml_record_end(const unsigned char *p, size_t n, size_t tl, int *unclosed)
{
    size_t pos = tl;
    *unclosed = 0;
    for (;;) {
        size_t r = mp__x_find_record(p, pos, n);
        if (r == n)
            return 0;
        /* A comment, CDATA or PI before it is skipped whole first. */
        size_t sp = mp__x_find_special(p, pos, r);
        if (sp < r) {
            size_t sl;
            int k = mp__x_special(p + sp, n - sp, &sl);
            if (k == MP__LEX_MORE)
                return 0;
            pos = k == MP__LEX_OK ? sp + sl : sp + 1;
            continue;
        }
        if (r + 6 >= n)
            return 0;
        unsigned char d = p[r + 6];
        /* What precedes "record": '<' or "</", or a prefix (no ':' in it)
         * and ':' after one of them - the local name is what follows the
         * first ':' of a name. */
        size_t q = r;
        if (q > tl && p[q - 1] == ':') {
            q--;
            while (q > tl && mp__x_namechar(p[q - 1]) && p[q - 1] != ':')
                q--;
        }
        int end_tag = q >= tl + 2 && p[q - 1] == '/' && p[q - 2] == '<';
        int start_tag = !end_tag && q >= tl + 1 && p[q - 1] == '<';
        if (start_tag && (mp__x_ws(d) || d == '>' || d == '/')) {
            *unclosed = 1;
            return q - 1;
        }
        if (end_tag) {
            size_t k = r + 6;
            while (k < n && mp__x_ws(p[k]))
                k++;
            if (k >= n)
                return 0;
            if (p[k] == '>')
                return k + 1;
        }
        pos = r + 1;
    }
}

/* JUNK up to the next '<' after p[0] (or the next "record" tag when
 * `to_record`), at most MP__TEXT_JUNK_MAX bytes. */
static mp__frame_rc mp__x_junk(const unsigned char *p, size_t avail, size_t w, int fin, size_t max,
                               int to_record, mp__frame *out)
{
    size_t lim = w < MP__TEXT_JUNK_MAX ? w : MP__TEXT_JUNK_MAX;
    for (size_t i = 1; i < lim; i++) {
        if (p[i] != '<')
            continue;
        if (!to_record)
            return mp__text_answer(out, MP_FRAME_SKIP, i, MP_EK_JUNK);
        /* "<" "/"? (prefix ":")? "record" followed by a delimiter */
        size_t k = i + 1;
        if (k < lim && p[k] == '/')
            k++;
        size_t s = k;
        while (k < lim && mp__x_namechar(p[k]))
            k++;
        if (k >= lim) {
            if (lim == w && !fin)
                return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
            break;
        }
        const unsigned char *l;
        size_t ln;
        mp__x_local(p + s, k - s, &l, &ln);
        if (mp__x_is(l, ln, "record") && (mp__x_ws(p[k]) || p[k] == '>' || p[k] == '/'))
            return mp__text_answer(out, MP_FRAME_SKIP, i, MP_EK_JUNK);
    }
    if (lim == MP__TEXT_JUNK_MAX || fin)
        return mp__text_answer(out, MP_FRAME_SKIP, lim, MP_EK_JUNK);
    return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
}

/* A token that the bytes up to the end (or the maximum) leave open. */
static mp__frame_rc mp__x_open_end(size_t avail, size_t w, size_t max, mp__frame *out)
{
    return mp__text_answer(out, MP_FRAME_SKIP, w, avail >= max ? MP_EK_TOO_BIG : MP_EK_TRUNCATED);
}

mp__frame_rc mp__xml_frame(const void *fmtv, const unsigned char *p, size_t avail, int final,
                           mp__frame *out)
{
    const mp__marc_fmt *fmt = fmtv;
    size_t max = fmt->max_record;
    size_t w = avail < max ? avail : max;
    int fin = final != MP_FINAL_NO || avail >= max;

    int bom = mp__bom(p, w, fin);
    if (bom > 0)
        return mp__text_answer(out, MP_FRAME_IGNORE, 3, 0);
    if (bom < 0)
        return mp__text_answer(out, MP_FRAME_NEED, 3, 0);
    size_t i = 0;
    while (i < w && mp__x_ws(p[i]))
        i++;
    if (i > 0) /* white space: ignored, any split of it is the same */
        return mp__text_answer(out, MP_FRAME_IGNORE, i, 0);

    if (p[0] != '<') { /* envelope text: ignored unless it holds control bytes */
        size_t lim = w < MP__TEXT_JUNK_MAX ? w : MP__TEXT_JUNK_MAX;
        const unsigned char *lt = memchr(p, '<', lim);
        size_t n = lt ? (size_t)(lt - p) : lim;
        if (!lt && lim < MP__TEXT_JUNK_MAX && !fin)
            return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
        for (size_t k = 0; k < n; k++)
            if (p[k] < 0x20 && !mp__x_ws(p[k]))
                return mp__text_answer(out, MP_FRAME_SKIP, n, MP_EK_JUNK);
        return mp__text_answer(out, MP_FRAME_IGNORE, n, 0);
    }

    if (w < 2)
        return fin ? mp__x_open_end(avail, w, max, out) : mp__text_answer(out, MP_FRAME_NEED, 2, 0);
    size_t len;
    int r;
    if (p[1] == '?' || p[1] == '!') {
        if (p[1] == '!') {
            static const char dt[] = "<!DOCTYPE";
            size_t k = w < 9 ? w : 9;
            if (memcmp(p, dt, k) == 0) {
                if (k < 9) {
                    if (fin)
                        return mp__x_open_end(avail, w, max, out);
                    return mp__text_answer(out, MP_FRAME_NEED, 9, 0);
                }
                int ent;
                r = mp__x_doctype(p, w, &len, &ent);
                if (r == MP__LEX_OK)
                    return ent ? mp__text_answer(out, MP_FRAME_SKIP, len, MP_EK_DTD)
                               : mp__text_answer(out, MP_FRAME_IGNORE, len, 0);
                if (fin)
                    return mp__x_open_end(avail, w, max, out);
                return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
            }
        }
        r = mp__x_special(p, w, &len);
        if (r == MP__LEX_OK)
            return mp__text_answer(out, MP_FRAME_IGNORE, len, 0);
        if (r == MP__LEX_BAD)
            return mp__x_junk(p, avail, w, fin, max, 0, out);
        if (fin)
            return mp__x_open_end(avail, w, max, out);
        return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
    }

    size_t tl, na, nn;
    int empty;
    r = mp__x_tag(p, w, &tl, &na, &nn, &empty);
    if (r == MP__LEX_BAD)
        return mp__x_junk(p, avail, w, fin, max, 0, out);
    if (r == MP__LEX_MORE) {
        if (fin)
            return mp__x_open_end(avail, w, max, out);
        return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
    }
    if (p[1] == '/') /* an envelope end tag */
        return mp__text_answer(out, MP_FRAME_IGNORE, tl, 0);
    const unsigned char *l;
    size_t ln;
    mp__x_local(p + na, nn, &l, &ln);
    if (mp__x_is(l, ln, "leader") || mp__x_is(l, ln, "controlfield") ||
        mp__x_is(l, ln, "datafield") || mp__x_is(l, ln, "subfield"))
        return mp__x_junk(p, avail, w, fin, max, 1, out); /* MARC outside a record */
    if (!mp__x_is(l, ln, "record"))
        return mp__text_answer(out, MP_FRAME_IGNORE, tl, 0); /* an envelope element */

    int marc = mp__x_is_marc(p, w, tl, na, nn, empty);
    if (marc == MP__LEX_MORE) {
        if (!fin)
            return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
        marc = 1; /* the input ends inside: a truncated record */
    }
    if (!marc)
        return mp__text_answer(out, MP_FRAME_IGNORE, tl, 0); /* e.g. OAI-PMH's <record> */
    if (empty)
        return mp__text_answer(out, MP_FRAME_RECORD, tl, 0);
    int unclosed;
    size_t e = mp__xml_record_end(p, w, tl, &unclosed);
    if (e)
        return mp__text_answer(out, MP_FRAME_RECORD, e, unclosed ? MP_EK_TRUNCATED : 0);
    if (!fin)
        return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
    return mp__x_open_end(avail, w, max, out);
}

/* ---- events: both parsers drive the builder through these ---------------- */

enum mp__xk { X_NONE = 0, X_ROOT, X_LEADER, X_CONTROL, X_DATA, X_SUB };

typedef struct mp__xattr {
    const char *name; /* local name of an attribute without a prefix */
    size_t nname;
    const char *val; /* decoded value */
    size_t nval;
} mp__xattr;

#define MP__XDEPTH 4

typedef struct mp__xst {
    mp__bld b;
    int kinds[MP__XDEPTH]; /* enum mp__xk of the open elements, root first */
    int depth;             /* open elements that matter (<= MP__XDEPTH) */
    size_t ignored;        /* > 0: nesting depth inside an ignored element */
} mp__xst;

static const mp__xattr *mp__xev_attr(const mp__xattr *a, int n, const char *name)
{
    size_t nl = strlen(name);
    for (int i = 0; i < n; i++)
        if (a[i].nname == nl && memcmp(a[i].name, name, nl) == 0)
            return &a[i];
    return NULL;
}

static void mp__xev_start(mp__xst *x, const char *local, size_t nl, const mp__xattr *a, int na)
{
    mp__bld *b = &x->b;
    if (x->ignored) {
        x->ignored++;
        return;
    }
    int parent = x->depth ? x->kinds[x->depth - 1] : X_NONE;
    int kind = X_NONE;
    const unsigned char *l = (const unsigned char *)local;
    if (parent == X_NONE) {
        kind = X_ROOT;
    } else if (parent == X_ROOT) {
        if (mp__x_is(l, nl, "leader")) {
            mp__bld_leader_begin(b);
            kind = X_LEADER;
        } else if (mp__x_is(l, nl, "controlfield")) {
            const mp__xattr *t = mp__xev_attr(a, na, "tag");
            mp__bld_control_begin(b, t ? t->val : NULL, t ? t->nval : 0);
            kind = X_CONTROL;
        } else if (mp__x_is(l, nl, "datafield")) {
            const mp__xattr *t = mp__xev_attr(a, na, "tag");
            const mp__xattr *i1 = mp__xev_attr(a, na, "ind1");
            const mp__xattr *i2 = mp__xev_attr(a, na, "ind2");
            mp__bld_data_begin(b, t ? t->val : NULL, t ? t->nval : 0);
            mp__bld_indicator(b, 1, i1 ? i1->val : NULL, i1 ? i1->nval : 0);
            mp__bld_indicator(b, 2, i2 ? i2->val : NULL, i2 ? i2->nval : 0);
            kind = X_DATA;
        } else if (mp__x_is(l, nl, "subfield")) {
            mp__bld_error(b, MP_EK_SUBFIELD, NULL, 0, "<subfield> outside a <datafield>");
        }
    } else if (parent == X_DATA) {
        const char *tag = b->nf ? b->f[b->nf - 1].tag : "";
        if (mp__x_is(l, nl, "subfield")) {
            const mp__xattr *c = mp__xev_attr(a, na, "code");
            mp__bld_sub_begin(b, c ? c->val : NULL, c ? c->nval : 0);
            kind = X_SUB;
        } else if (mp__x_is(l, nl, "leader") || mp__x_is(l, nl, "controlfield") ||
                   mp__x_is(l, nl, "datafield")) {
            mp__bld_error(b, MP_EK_FIELD, tag, 0, "field %s: <%.*s> inside a <datafield>", tag,
                          (int)nl, local);
        }
    }
    if (kind == X_NONE || x->depth == MP__XDEPTH) {
        x->ignored = 1;
        return;
    }
    x->kinds[x->depth++] = kind;
}

static void mp__xev_end(mp__xst *x)
{
    if (x->ignored) {
        x->ignored--;
        return;
    }
    if (x->depth == 0)
        return;
    switch (x->kinds[--x->depth]) {
    case X_LEADER:
        mp__bld_leader_end(&x->b);
        break;
    case X_CONTROL:
        mp__bld_control_end(&x->b);
        break;
    case X_DATA:
        mp__bld_data_end(&x->b);
        break;
    case X_SUB:
        mp__bld_sub_end(&x->b);
        break;
    default:
        break;
    }
}

/* Whether text here is kept (inside a leader, controlfield or subfield). */
static int mp__xev_wants_text(const mp__xst *x)
{
    if (x->ignored || x->depth == 0)
        return 0;
    int k = x->kinds[x->depth - 1];
    return k == X_LEADER || k == X_CONTROL || k == X_SUB;
}

static void mp__xev_text(mp__xst *x, const char *p, size_t n)
{
    if (mp__xev_wants_text(x))
        mp__bld_text(&x->b, p, n);
}

static int mp__xst_init(mp__xst *x, const mp__marc_fmt *fmt, mp__item *item, mp__arena *arena)
{
    memset(x, 0, sizeof *x);
    return mp__bld_init(&x->b, fmt, item, arena, item->len / 2);
}

/* ---- the libxml2 path ----------------------------------------------------- */

typedef struct mp__xml2 {
    mp__xst x;
    int err_set;
    int line, col;
    char msg[96];
    mp__xattr attrs[16];
} mp__xml2;

/* libxml2 hands attribute values over with '&' written as "&#38;" when it
 * substitutes no entities; decode that (the only such escape). */
static void mp__xml2_attr_value(mp__xml2 *c, mp__xattr *a, const xmlChar *v, const xmlChar *e)
{
    a->val = (const char *)v;
    a->nval = (size_t)(e - v);
    if (!memchr(v, '&', a->nval))
        return;
    char *o = mp__arena_alloc(c->x.b.a, a->nval, 1);
    if (!o) {
        c->x.b.oom = 1;
        return;
    }
    size_t n = 0;
    for (const xmlChar *q = v; q < e;) {
        if (e - q >= 5 && memcmp(q, "&#38;", 5) == 0) {
            o[n++] = '&';
            q += 5;
        } else {
            o[n++] = (char)*q++;
        }
    }
    a->val = o;
    a->nval = n;
}

static void mp__xml2_start(void *ctx, const xmlChar *local, const xmlChar *prefix,
                           const xmlChar *uri, int nb_ns, const xmlChar **ns, int nb_attr,
                           int nb_def, const xmlChar **attrs)
{
    mp__xml2 *c = ctx;
    (void)prefix;
    (void)uri;
    (void)nb_ns;
    (void)ns;
    (void)nb_def;
    int n = 0;
    for (int i = 0; i < nb_attr && n < 16; i++) {
        const xmlChar **at = attrs + 5 * i; /* localname, prefix, URI, value, end */
        if (at[1] != NULL)
            continue;
        c->attrs[n].name = (const char *)at[0];
        c->attrs[n].nname = strlen((const char *)at[0]);
        mp__xml2_attr_value(c, &c->attrs[n], at[3], at[4]);
        n++;
    }
    mp__xev_start(&c->x, (const char *)local, strlen((const char *)local), c->attrs, n);
}

static void mp__xml2_end(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    (void)local;
    (void)prefix;
    (void)uri;
    mp__xev_end(&((mp__xml2 *)ctx)->x);
}

static void mp__xml2_chars(void *ctx, const xmlChar *ch, int len)
{
    mp__xev_text(&((mp__xml2 *)ctx)->x, (const char *)ch, (size_t)len);
}

static void mp__xml2_error(void *ctx, xmlErrorPtr e)
{
    mp__xml2 *c = ctx;
    /* Namespaces are not resolved (a record is parsed without its
     * document): their errors are not the record's. */
    if (!e || e->domain == XML_FROM_NAMESPACE || e->level < XML_ERR_ERROR || c->err_set)
        return;
    c->err_set = 1;
    c->line = e->line;
    c->col = e->int2;
    snprintf(c->msg, sizeof c->msg, "%s", e->message ? e->message : "not well-formed");
    size_t n = strlen(c->msg);
    while (n > 0 && (c->msg[n - 1] == '\n' || c->msg[n - 1] == ' '))
        c->msg[--n] = 0;
}

static void mp__xml2_silent(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

int mp__xml_parse_libxml2(const mp__marc_fmt *fmt, mp__item *item, mp__arena *arena)
{
    mp__xml2 c;
    memset(&c, 0, sizeof c);
    if (mp__xst_init(&c.x, fmt, item, arena) < 0)
        return MP_ENOMEM;
    if (item->frame_kind == MP_EK_TRUNCATED)
        mp__bld_error(&c.x.b, MP_EK_SYNTAX, NULL, 0,
                      "the record element is not closed before the next record");
    xmlInitParser();
    /* libxml2's generic error channel is per thread: keep workers silent. */
    xmlSetGenericErrorFunc(NULL, mp__xml2_silent);
    xmlSAXHandler sax;
    memset(&sax, 0, sizeof sax);
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = mp__xml2_start;
    sax.endElementNs = mp__xml2_end;
    sax.characters = mp__xml2_chars;
    sax.cdataBlock = mp__xml2_chars;
    sax.ignorableWhitespace = mp__xml2_chars;
    sax.serror = mp__xml2_error;
    xmlParserCtxtPtr ctxt = xmlCreatePushParserCtxt(&sax, &c, NULL, 0, NULL);
    if (!ctxt)
        return MP_ENOMEM;
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    int ok = 1;
    if (fmt->xml_encoding[0]) {
        xmlCharEncodingHandlerPtr h = xmlFindCharEncodingHandler(fmt->xml_encoding);
        if (!h || xmlSwitchToEncoding(ctxt, h) != 0) {
            mp__bld_error(&c.x.b, MP_EK_ENCODING, NULL, 0,
                          "the document's encoding '%.40s' is not supported", fmt->xml_encoding);
            ok = 0;
        }
    }
    if (ok) {
        /* Chunks of at most 1 GiB: xmlParseChunk takes an int. */
        const unsigned char *p = item->data;
        size_t left = item->len;
        do {
            size_t n = left < (1u << 30) ? left : (1u << 30);
            left -= n;
            xmlParseChunk(ctxt, (const char *)p, (int)n, left == 0);
            p += n;
        } while (left > 0 && ctxt->wellFormed);
        if (!ctxt->wellFormed) {
            /* Not well-formed says more than what the events met before. */
            c.x.b.rec->err = NULL;
            mp__bld_error(&c.x.b, MP_EK_SYNTAX, NULL, 0,
                          "not well-formed XML at line %d, column %d of the record: %s", c.line,
                          c.col, c.err_set ? c.msg : "parse error");
        }
    }
    xmlFreeParserCtxt(ctxt);
    return mp__bld_finish(&c.x.b);
}

/* ---- the fast path -------------------------------------------------------- */

/* The subset's names: ASCII letters, '_' to start (bit 1); letters,
 * digits, '_', '.', '-' after (bit 2); at most one ':' between two such
 * parts. */
static const unsigned char mp__f_nametab[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 3,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static inline int mp__f_start(unsigned char c)
{
    return mp__f_nametab[c] & 1;
}

static inline int mp__f_char(unsigned char c)
{
    return mp__f_nametab[c] & 2;
}

/* A qualified name at p: its length (0: not one of the subset's). The
 * unit ends with '>' (checked first), which is no name byte, so the scans
 * need no bound: p < e. */
static inline size_t mp__f_qname(const unsigned char *p, size_t *local_at)
{
    const unsigned char *q = p;
    if (!mp__f_start(*q))
        return 0;
    while (mp__f_char(*q))
        q++;
    *local_at = 0;
    if (*q == ':') {
        q++;
        *local_at = (size_t)(q - p);
        if (!mp__f_start(*q))
            return 0;
        while (mp__f_char(*q))
            q++;
    }
    /* libxml2 limits names (XML_MAX_NAME_LENGTH): long ones are its call. */
    return q - p > 1000 ? 0 : (size_t)(q - p);
}

/* XML white space; '>' ends every scan (see mp__f_qname). */
static inline const unsigned char *mp__f_skip_ws(const unsigned char *q)
{
    while (*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r')
        q++;
    return q;
}

/* One UTF-8 character at p that is an XML Char; its length, 0 if not. */
static size_t mp__f_utf8(const unsigned char *p, const unsigned char *e)
{
    unsigned c = p[0];
    if (c < 0xC2 || c > 0xF4)
        return 0;
    if (c < 0xE0) {
        if (e - p < 2 || (p[1] & 0xC0) != 0x80)
            return 0;
        return 2;
    }
    if (c < 0xF0) {
        if (e - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        unsigned v = ((c & 0x0F) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
        if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF) || v == 0xFFFE || v == 0xFFFF)
            return 0;
        return 3;
    }
    if (e - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
        return 0;
    unsigned v =
        ((c & 0x07) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
    if (v < 0x10000 || v > 0x10FFFF)
        return 0;
    return 4;
}

/* A reference at p[0] == '&': the decoded UTF-8 in out (<= 4 bytes), its
 * length in *ol; returns the reference's length, 0 if outside the subset. */
static size_t mp__f_ref(const unsigned char *p, const unsigned char *e, char *out, size_t *ol)
{
    static const struct {
        const char *name;
        char c;
    } pre[] = {{"lt;", '<'}, {"gt;", '>'}, {"amp;", '&'}, {"quot;", '"'}, {"apos;", '\''}};
    size_t n = (size_t)(e - p);
    if (n >= 2 && p[1] != '#') {
        for (size_t i = 0; i < 5; i++) {
            size_t l = strlen(pre[i].name);
            if (n >= l + 1 && memcmp(p + 1, pre[i].name, l) == 0) {
                out[0] = pre[i].c;
                *ol = 1;
                return l + 1;
            }
        }
        return 0;
    }
    size_t i = 2;
    unsigned long v = 0;
    int hex = i < n && p[i] == 'x';
    if (hex)
        i++;
    size_t d0 = i;
    for (; i < n && i - d0 < 10; i++) {
        unsigned char c = p[i];
        unsigned dv;
        if (c >= '0' && c <= '9')
            dv = c - '0';
        else if (hex && c >= 'a' && c <= 'f')
            dv = c - 'a' + 10;
        else if (hex && c >= 'A' && c <= 'F')
            dv = c - 'A' + 10;
        else
            break;
        v = v * (hex ? 16 : 10) + dv;
    }
    if (i == d0 || i >= n || p[i] != ';' || i - d0 >= 10)
        return 0;
    /* XML 1.0 Char */
    if (!(v == 0x9 || v == 0xA || v == 0xD || (v >= 0x20 && v <= 0xD7FF) ||
          (v >= 0xE000 && v <= 0xFFFD) || (v >= 0x10000 && v <= 0x10FFFF)))
        return 0;
    unsigned char *o = (unsigned char *)out;
    if (v < 0x80) {
        o[0] = (unsigned char)v;
        *ol = 1;
    } else if (v < 0x800) {
        o[0] = (unsigned char)(0xC0 | (v >> 6));
        o[1] = (unsigned char)(0x80 | (v & 0x3F));
        *ol = 2;
    } else if (v < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (v >> 12));
        o[1] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (v & 0x3F));
        *ol = 3;
    } else {
        o[0] = (unsigned char)(0xF0 | (v >> 18));
        o[1] = (unsigned char)(0x80 | ((v >> 12) & 0x3F));
        o[2] = (unsigned char)(0x80 | ((v >> 6) & 0x3F));
        o[3] = (unsigned char)(0x80 | (v & 0x3F));
        *ol = 4;
    }
    return i + 1;
}

/* Byte classes of text: 0 plain (emitted as is), 1 needs a look ('<',
 * '&', ']', >= 0x80), 2 outside the subset (C0 controls but TAB and LF;
 * CR, which XML would normalise). */
static const unsigned char mp__f_class[256] = {
    2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* The first byte at or after p that is not plain text (class 0), or e. */
static inline const unsigned char *mp__f_plain(const unsigned char *p, const unsigned char *e)
{
#if defined(__SSE2__)
    const __m128i lt = _mm_set1_epi8('<'), amp = _mm_set1_epi8('&'), rb = _mm_set1_epi8(']');
    const __m128i sp = _mm_set1_epi8(0x20), tab = _mm_set1_epi8('\t'), lf = _mm_set1_epi8('\n');
    while (e - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* Signed compare: bytes >= 0x80 are negative, so "< 0x20" finds
         * them with the control bytes; TAB and LF are plain. */
        __m128i ctl = _mm_andnot_si128(_mm_or_si128(_mm_cmpeq_epi8(v, tab), _mm_cmpeq_epi8(v, lf)),
                                       _mm_cmplt_epi8(v, sp));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, lt), _mm_cmpeq_epi8(v, amp)),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, rb), ctl));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#endif
    while (p < e && mp__f_class[*p] == 0)
        p++;
    return p;
}

#define MP__F_MAXATTR 16

typedef struct mp__fattr {
    const unsigned char *qname;
    size_t nq, local_at;
    const unsigned char *val;
    size_t nval;
    int has_ref;
} mp__fattr;

/* Decodes an attribute value with references into the arena. 0, or 1 to
 * decline, or MP_ENOMEM. */
static int mp__f_attr_decode(mp__arena *a, const mp__fattr *fa, mp__xattr *xa)
{
    char *o = mp__arena_alloc(a, fa->nval, 1);
    if (!o)
        return MP_ENOMEM;
    size_t n = 0;
    const unsigned char *p = fa->val, *e = fa->val + fa->nval;
    while (p < e) {
        if (*p == '&') {
            char buf[4];
            size_t bl;
            size_t rl = mp__f_ref(p, e, buf, &bl);
            if (!rl)
                return 1;
            memcpy(o + n, buf, bl); /* a reference is longer than what it decodes to */
            n += bl;
            p += rl;
        } else {
            o[n++] = (char)*p++;
        }
    }
    xa->val = o;
    xa->nval = n;
    return 0;
}

enum { MP__F_DECLINE = 1 };

int mp__xml_parse_fast(const mp__marc_fmt *fmt, mp__item *item, mp__arena *arena)
{
    /* Other encodings, damaged units and texts near libxml2's own limit
     * on text nodes (XML_MAX_TEXT_LENGTH) are libxml2's call. */
    if (fmt->xml_encoding[0] || item->frame_kind != 0 || item->len >= 10000000)
        return MP__F_DECLINE;
    const unsigned char *cls = mp__f_class;
    mp__xst x;
    if (mp__xst_init(&x, fmt, item, arena) < 0)
        return MP_ENOMEM;
    const unsigned char *p = item->data, *e = p + item->len;
    struct {
        const unsigned char *q;
        size_t n;
    } stack[32];
    int depth = 0;
    mp__fattr fa[MP__F_MAXATTR];
    mp__xattr xa[MP__F_MAXATTR];

    if (p >= e || *p != '<' || e[-1] != '>')
        return MP__F_DECLINE; /* not a complete element: libxml2 will say why */
    while (p < e) {
        if (*p != '<') {
            /* Text: plain runs are emitted as they are. */
            if (depth == 0)
                return MP__F_DECLINE;
            const unsigned char *s = p;
            for (;;) {
                p = mp__f_plain(p, e);
                if (p >= e || *p == '<' || *p == '&')
                    break;
                if (cls[*p] == 2) {
                    /* CR: XML turns CR LF and CR into LF - what no text
                     * keeps (white space between fields, CRLF files) may
                     * hold it; kept text with a CR is libxml2's. */
                    if (*p != '\r' || mp__xev_wants_text(&x))
                        return MP__F_DECLINE;
                    p++;
                    continue;
                }
                if (*p == ']') {
                    if (e - p >= 3 && p[1] == ']' && p[2] == '>')
                        return MP__F_DECLINE;
                    p++;
                    continue;
                }
                size_t u = mp__f_utf8(p, e);
                if (!u)
                    return MP__F_DECLINE;
                p += u;
            }
            if (p > s)
                mp__xev_text(&x, (const char *)s, (size_t)(p - s));
            if (p < e && *p == '&') {
                char buf[4];
                size_t bl;
                size_t rl = mp__f_ref(p, e, buf, &bl);
                if (!rl)
                    return MP__F_DECLINE;
                mp__xev_text(&x, buf, bl);
                p += rl;
            }
            continue;
        }
        /* Markup. */
        if (e - p < 2)
            return MP__F_DECLINE;
        if (p[1] == '/') {
            /* The open element's name, and then no more name: its end tag
             * (the name was checked when the element started). */
            if (depth == 0)
                return MP__F_DECLINE;
            size_t qn = stack[depth - 1].n;
            const unsigned char *nm = stack[depth - 1].q;
            if ((size_t)(e - p) < qn + 3)
                return MP__F_DECLINE;
            if (memcmp(p + 2, nm, qn) != 0)
                return MP__F_DECLINE;
            if (mp__f_char(p[2 + qn]) || p[2 + qn] == ':')
                return MP__F_DECLINE;
            const unsigned char *q = mp__f_skip_ws(p + 2 + qn);
            if (*q != '>')
                return MP__F_DECLINE;
            p = q + 1;
            depth--;
            mp__xev_end(&x);
            if (depth == 0)
                break;
            continue;
        }
        size_t la;
        size_t qn = mp__f_qname(p + 1, &la);
        if (!qn || depth == 32 || (depth == 0 && p != item->data))
            return MP__F_DECLINE;
        const unsigned char *name = p + 1;
        if (la == 6 && memcmp(name, "xmlns:", 6) == 0)
            return MP__F_DECLINE;
        const unsigned char *q = name + qn;
        int na = 0, empty = 0;
        for (;;) {
            const unsigned char *ws = q;
            q = mp__f_skip_ws(q);
            if (*q == '>') {
                q++;
                break;
            }
            if (*q == '/') {
                if (q + 1 >= e || q[1] != '>')
                    return MP__F_DECLINE;
                q += 2;
                empty = 1;
                break;
            }
            if (q == ws || na == MP__F_MAXATTR)
                return MP__F_DECLINE;
            mp__fattr *a = &fa[na];
            a->qname = q;
            a->nq = mp__f_qname(q, &a->local_at);
            if (!a->nq)
                return MP__F_DECLINE;
            q = mp__f_skip_ws(q + a->nq);
            if (*q != '=')
                return MP__F_DECLINE;
            q = mp__f_skip_ws(q + 1);
            if (*q != '"' && *q != '\'')
                return MP__F_DECLINE;
            unsigned char quote = *q++;
            a->val = q;
            a->has_ref = 0;
            while (q < e && *q != quote) {
                unsigned char c = *q;
                if (c < 0x20 || c == '<') /* TAB, LF, CR would be normalised */
                    return MP__F_DECLINE;
                if (c == '&') {
                    char ref[4];
                    size_t rl;
                    size_t l = mp__f_ref(q, e, ref, &rl);
                    if (!l)
                        return MP__F_DECLINE;
                    a->has_ref = 1;
                    q += l;
                } else if (c >= 0x80) {
                    size_t u = mp__f_utf8(q, e);
                    if (!u)
                        return MP__F_DECLINE;
                    q += u;
                } else {
                    q++;
                }
            }
            if (q >= e)
                return MP__F_DECLINE;
            a->nval = (size_t)(q - a->val);
            q++;
            /* No two attributes with one local name (a duplicate is fatal;
             * prefixed ones are left to libxml2). */
            const unsigned char *al = a->qname + a->local_at;
            size_t aln = a->nq - a->local_at;
            for (int k = 0; k < na; k++) {
                const unsigned char *bl = fa[k].qname + fa[k].local_at;
                if (fa[k].nq - fa[k].local_at == aln && memcmp(bl, al, aln) == 0)
                    return MP__F_DECLINE;
            }
            if ((a->local_at == 6 && memcmp(a->qname, "xmlns:", 6) == 0) ||
                (a->nq == 5 && memcmp(a->qname, "xmlns", 5) == 0)) {
                if (a->nval == 0 || a->has_ref)
                    return MP__F_DECLINE;
            }
            na++;
        }
        /* The attributes the events see: no prefix, not xmlns. */
        int nx = 0;
        for (int k = 0; k < na; k++) {
            if (fa[k].local_at || (fa[k].nq == 5 && memcmp(fa[k].qname, "xmlns", 5) == 0))
                continue;
            xa[nx].name = (const char *)fa[k].qname;
            xa[nx].nname = fa[k].nq;
            if (fa[k].has_ref) {
                int r = mp__f_attr_decode(arena, &fa[k], &xa[nx]);
                if (r == MP_ENOMEM)
                    return MP_ENOMEM;
                if (r)
                    return MP__F_DECLINE;
            } else {
                xa[nx].val = (const char *)fa[k].val;
                xa[nx].nval = fa[k].nval;
            }
            nx++;
        }
        mp__xev_start(&x, (const char *)name + la, qn - la, xa, nx);
        p = q;
        if (empty) {
            mp__xev_end(&x);
            if (depth == 0)
                break;
        } else {
            stack[depth].q = name;
            stack[depth].n = qn;
            depth++;
        }
    }
    if (depth != 0 || p != e)
        return MP__F_DECLINE;
    if (x.b.oom)
        return MP_ENOMEM;
    return mp__bld_finish(&x.b);
}

void mp__xml_global_init(void)
{
    xmlInitParser();
}

int mp__xml_parse_item(const void *fmtv, mp__item *item, mp__arena *arena)
{
    const mp__marc_fmt *fmt = fmtv;
    int rc = mp__xml_parse_fast(fmt, item, arena);
    if (rc != MP__F_DECLINE)
        return rc;
    return mp__xml_parse_libxml2(fmt, item, arena);
}
