/*
 * fmt_mrk.c - MARCMaker (mnemonic) text: framing and parsing (format.h,
 * rules in stages/FRAMING.md).
 *
 *     =LDR  00755cam  22002414a 4500
 *     =001  fol05731351\
 *     =245  10$aA title /$cby someone.
 *
 * A record is a run of non-blank lines that starts with '='; it ends at a
 * blank line (empty or white space only), at a line that starts "=LDR"
 * (the next record), or at the end of the input. Blank lines between
 * records are ignored; other lines outside a record are JUNK, one item a
 * line. Each line is "=" tag "  " data; LDR is the leader; tags below
 * "010" (as pymarc compares them) are control fields; the others hold two
 * indicators and "$"-delimited subfields. '\' stands for a blank in the
 * leader, control fields and indicators (MARCMaker; pymarc keeps the
 * backslash). Character mnemonics ({dollar}, {eacute}...) are not decoded,
 * as in pymarc. Text is UTF-8 (validated as options.utf8_handling says);
 * options.encoding MARC8 converts it from MARC-8, RAW keeps the bytes.
 */
#include <string.h>
#include "builder.h"
#include "format.h"

static int mp__blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/*
 * Whether the line at q (n bytes available) ends the record before it: a
 * blank line, or one that starts "=LDR". 1 yes, 0 no, -1 undecided.
 */
static int mp__mrk_ends_before(const unsigned char *q, size_t n, int fin)
{
    size_t i = 0;
    while (i < n && mp__blank(q[i]))
        i++;
    if (i == n)
        return fin ? 1 : -1;
    if (q[i] == '\n')
        return 1;
    if (i > 0)
        return 0;
    if (n < 4)
        return memcmp(q, "=LDR", n) != 0 ? 0 : (fin ? 0 : -1);
    return memcmp(q, "=LDR", 4) == 0;
}

mp__frame_rc mp__mrk_frame(const void *fmtv, const unsigned char *p, size_t avail, int final,
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
    /* Blank lines: ignored. */
    size_t i = 0, done = 0;
    for (;;) {
        while (i < w && mp__blank(p[i]))
            i++;
        if (i < w && p[i] == '\n') {
            done = ++i;
            continue;
        }
        break;
    }
    if (done > 0)
        return mp__text_answer(out, MP_FRAME_IGNORE, done, 0);
    if (i == w) { /* white space to the end of what is there */
        if (fin)
            return mp__text_answer(out, MP_FRAME_IGNORE, w, 0);
        return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
    }

    if (p[0] != '=') { /* junk: one line */
        size_t lim = w < MP__TEXT_JUNK_MAX ? w : MP__TEXT_JUNK_MAX;
        const unsigned char *nl = memchr(p, '\n', lim);
        if (nl)
            return mp__text_answer(out, MP_FRAME_SKIP, (size_t)(nl - p) + 1, MP_EK_JUNK);
        if (lim == MP__TEXT_JUNK_MAX || fin)
            return mp__text_answer(out, MP_FRAME_SKIP, lim, MP_EK_JUNK);
        return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
    }

    /* A record: lines up to a blank line, an "=LDR" line or the end. */
    size_t pos = 0;
    for (;;) {
        const unsigned char *nl = memchr(p + pos, '\n', w - pos);
        if (!nl)
            break;
        size_t e = (size_t)(nl - p) + 1;
        int end = mp__mrk_ends_before(p + e, w - e, fin);
        if (end < 0)
            return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
        if (end)
            return mp__text_answer(out, MP_FRAME_RECORD, e, 0);
        pos = e;
    }
    if (!fin)
        return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
    if (avail >= max)
        return mp__text_answer(out, MP_FRAME_SKIP, w, MP_EK_TOO_BIG);
    return mp__text_answer(out, MP_FRAME_RECORD, w, 0); /* the last record, no newline */
}

/* ---- parsing ------------------------------------------------------------- */

typedef struct mp__mrk {
    mp__bld b;
    int mode; /* MP_ENCODING_UTF8, _MARC8 or _RAW */
    char *tmp;
    size_t tmp_cap;
} mp__mrk;

/* Appends text to the open element, '\' -> ' ' when `blanks`, decoded
 * as the mode says. */
static void mp__mrk_text(mp__mrk *m, const unsigned char *p, size_t n, int blanks, const char *tag)
{
    if (blanks && memchr(p, '\\', n)) {
        if (n > m->tmp_cap) {
            size_t cap = n < 256 ? 256 : n * 2;
            char *t = mp__arena_alloc(m->b.a, cap, 1);
            if (!t) {
                m->b.oom = 1;
                return;
            }
            m->tmp = t;
            m->tmp_cap = cap;
        }
        for (size_t i = 0; i < n; i++)
            m->tmp[i] = p[i] == '\\' ? ' ' : (char)p[i];
        p = (const unsigned char *)m->tmp;
    }
    if (m->mode == MP_ENCODING_RAW || n == 0) {
        mp__bld_text(&m->b, (const char *)p, n);
        return;
    }
    const char *o;
    size_t on;
    mp__text_error te;
    memset(&te, 0, sizeof te);
    int r = m->mode == MP_ENCODING_MARC8
                ? mp__marc8_to_utf8(&m->b.fmt->text, p, n, m->b.a, &o, &on, &te)
                : mp__utf8_check(&m->b.fmt->text, p, n, m->b.a, &o, &on, &te);
    if (r < 0) {
        m->b.oom = 1;
        return;
    }
    if (r == 1)
        mp__bld_error(&m->b, te.kind ? te.kind : MP_EK_ENCODING, tag, 0,
                      "field %.3s: %s at byte %zu of the field", tag,
                      te.message[0] ? te.message : "invalid text", te.position);
    mp__bld_text(&m->b, o, on);
}

static void mp__mrk_line(mp__mrk *m, const unsigned char *l, size_t n, size_t lineno)
{
    mp__bld *b = &m->b;
    if (n == 0)
        return;
    if (l[0] != '=') {
        mp__bld_error(b, MP_EK_SYNTAX, NULL, 0, "line %zu does not start with '='", lineno);
        return;
    }
    if (n < 6 || l[4] != ' ' || l[5] != ' ') {
        mp__bld_error(b, MP_EK_SYNTAX, NULL, 0, "line %zu: the tag must be followed by two spaces",
                      lineno);
        return;
    }
    const char *tag = (const char *)l + 1;
    const unsigned char *d = l + 6;
    size_t dn = n - 6;
    if (memcmp(tag, "LDR", 3) == 0) {
        mp__bld_leader_begin(b);
        mp__mrk_text(m, d, dn, 1, "LDR");
        mp__bld_leader_end(b);
        return;
    }
    if (memcmp(tag, "010", 3) < 0) {
        mp__bld_control_begin(b, tag, 3);
        mp__mrk_text(m, d, dn, 1, tag);
        mp__bld_control_end(b);
        return;
    }
    mp__bld_data_begin(b, tag, 3);
    const char *ftag = b->nf ? b->f[b->nf - 1].tag : tag;
    if (dn < 2) { /* as ISO 2709's check 17: the missing ones are blanks */
        mp__bld_warn(b, MP_EK_INDICATOR, ftag, 0,
                     "field %s: %zu indicator(s) before the data; read as blank", ftag, dn);
        if (dn == 1) {
            char ind = (char)(d[0] == '\\' ? ' ' : d[0]);
            mp__bld_indicator(b, 1, &ind, 1);
        }
        dn = 0;
    } else {
        char ind[2] = {(char)(d[0] == '\\' ? ' ' : d[0]), (char)(d[1] == '\\' ? ' ' : d[1])};
        mp__bld_indicator(b, 1, ind, 1);
        mp__bld_indicator(b, 2, ind + 1, 1);
        d += 2;
        dn -= 2;
    }
    if (dn > 0 && d[0] != '$')
        mp__bld_error(b, MP_EK_SUBFIELD, ftag, 0, "field %s: text before the first '$'", ftag);
    const unsigned char *sd = dn > 0 ? memchr(d, '$', dn) : NULL;
    while (sd) {
        const unsigned char *s = sd + 1, *end = d + dn;
        const unsigned char *next = memchr(s, '$', (size_t)(end - s));
        const unsigned char *e = next ? next : end;
        if (e == s) { /* as ISO 2709's check 21: no subfield for it */
            mp__bld_warn(b, MP_EK_SUBFIELD, ftag, 0,
                         next ? "field %s: empty subfield ('$' twice in a row); dropped"
                              : "field %s: '$' without a code at the end of the field; dropped",
                         ftag);
        } else {
            mp__bld_sub_begin(b, (const char *)s, 1);
            mp__mrk_text(m, s + 1, (size_t)(e - s - 1), 0, ftag);
        }
        mp__bld_sub_end(b);
        sd = next;
    }
    mp__bld_data_end(b);
}

int mp__mrk_parse_item(const void *fmtv, mp__item *item, mp__arena *arena)
{
    const mp__marc_fmt *fmt = fmtv;
    mp__mrk m;
    memset(&m, 0, sizeof m);
    if (mp__bld_init(&m.b, fmt, item, arena, item->len) < 0)
        return MP_ENOMEM;
    m.mode = fmt->encoding == MP_ENCODING_MARC8 || fmt->encoding == MP_ENCODING_RAW
                 ? fmt->encoding
                 : MP_ENCODING_UTF8;
    m.b.check_ctl = 1;
    m.b.utf8 = m.mode != MP_ENCODING_RAW;
    const unsigned char *p = item->data, *end = p + item->len;
    size_t lineno = 0;
    while (p < end && !m.b.oom) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *e = nl ? nl : end;
        size_t n = (size_t)(e - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        mp__mrk_line(&m, p, n, ++lineno);
        p = nl ? nl + 1 : end;
    }
    return mp__bld_finish(&m.b);
}
