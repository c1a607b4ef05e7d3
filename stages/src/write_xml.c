/*
 * write_xml.c - the MARCXML (MARC 21 slim) serialiser.
 *
 * Two layouts of the same elements: the default one is yaz-marcdump's
 * (one element per line, two-space indent, datafield attributes tag,
 * ind1, ind2); MP_WRITE_XML_COMPACT is pymarc's record_to_xml (no
 * whitespace, attributes ind1, ind2, tag, empty elements as "<x />", as
 * ElementTree writes them).
 *
 * Escaping follows ElementTree (so the compact layout matches pymarc
 * byte for byte on everything XML can carry): & < > in text; & < > "
 * TAB LF CR in attributes (TAB as "&#09;"); in text CR becomes "&#13;"
 * too, since a parser would turn a raw CR into LF. What XML 1.0 cannot
 * carry at all - C0 controls other than TAB LF CR, U+FFFE, U+FFFF - and
 * invalid UTF-8 become U+FFFD; MP_WRITE_ASCII writes every non-ASCII
 * character as a decimal reference (ElementTree's us-ascii output).
 */
#include "write_internal.h"

static size_t mp__dec(unsigned char *o, uint32_t v)
{
    char t[10];
    size_t n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        o[i] = (unsigned char)t[n - 1 - i];
    return n;
}

/* Escaped text or attribute value. 0, or -1 when the sink failed. */
static int mp__xml_text(mp__sink *s, const char *text, size_t n, int attr, int ascii)
{
    const unsigned char *d = (const unsigned char *)text;
    int kind = attr ? MP__RUN_XML_ATTR : MP__RUN_XML_TEXT;
    /* Room for the plain case at once; an escape reserves for itself and
     * the rest, so before every plain copy n - i bytes are free. */
    if (mp__sink_reserve(s, n) < 0)
        return -1;
    size_t i = 0;
    for (;;) {
        size_t j = mp__plain_run(d + i, n - i, kind);
        mp__sink_mem(s, d + i, j);
        i += j;
        if (i == n)
            break;
        if (mp__sink_reserve(s, 12 + (n - i)) < 0)
            return -1;
        unsigned char c = d[i];
        if (c < 0x80) {
            i++;
            switch (c) {
            case '&':
                MP__SINK_LIT(s, "&amp;");
                break;
            case '<':
                MP__SINK_LIT(s, "&lt;");
                break;
            case '>':
                MP__SINK_LIT(s, "&gt;");
                break;
            case '"':
                MP__SINK_LIT(s, "&quot;");
                break;
            case '\t':
                MP__SINK_LIT(s, "&#09;");
                break;
            case '\n':
                MP__SINK_LIT(s, "&#10;");
                break;
            case '\r':
                MP__SINK_LIT(s, "&#13;");
                break;
            default: /* a control character XML cannot carry */
                if (ascii)
                    MP__SINK_LIT(s, "&#65533;");
                else
                    MP__SINK_LIT(s, "\xEF\xBF\xBD");
                break;
            }
            continue;
        }
        uint32_t cp;
        size_t k = mp__u8_step(d + i, n - i, &cp);
        if (cp == 0xFFFE || cp == 0xFFFF)
            cp = 0xFFFD;
        if (ascii) {
            MP__SINK_LIT(s, "&#");
            s->len += mp__dec(s->p + s->len, cp);
            mp__sink_byte(s, ';');
        } else if (cp == 0xFFFD) {
            MP__SINK_LIT(s, "\xEF\xBF\xBD");
        } else {
            mp__sink_mem(s, d + i, k); /* valid: copied as is */
        }
        i += k;
    }
    return 0;
}

#define MP__XML_NS                                                                                 \
    " xmlns=\"http://www.loc.gov/MARC21/slim\""                                                    \
    " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""                                     \
    " xsi:schemaLocation=\"http://www.loc.gov/MARC21/slim"                                         \
    " http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd\""

/* One attribute: ` name="value"`. */
static int mp__xml_attr(mp__sink *s, const char *name, size_t nlen, const char *v, size_t vn,
                        int ascii)
{
    if (mp__sink_reserve(s, nlen + 4) < 0)
        return -1;
    mp__sink_byte(s, ' ');
    mp__sink_mem(s, name, nlen);
    MP__SINK_LIT(s, "=\"");
    if (mp__xml_text(s, v, vn, 1, ascii) < 0 || mp__sink_put(s, "\"", 1) < 0)
        return -1;
    return 0;
}

/* `<name attrs>text</name>` or, compact and empty, `<name attrs />`; the
 * attribute string is already escaped by the caller (tag="...").
 * Returns 0 / -1. */
static int mp__xml_leaf(mp__sink *s, const char *indent, const char *open, size_t olen,
                        const char *text, size_t n, const char *close, size_t clen, int compact,
                        int ascii)
{
    size_t il = compact ? 0 : strlen(indent);
    if (mp__sink_reserve(s, il + olen + 3) < 0)
        return -1;
    mp__sink_mem(s, indent, il);
    mp__sink_mem(s, open, olen);
    if (compact && n == 0) {
        MP__SINK_LIT(s, " />");
        return 0;
    }
    mp__sink_byte(s, '>');
    if (mp__xml_text(s, text, n, 0, ascii) < 0)
        return -1;
    if (mp__sink_reserve(s, clen + 1) < 0)
        return -1;
    mp__sink_mem(s, close, clen);
    if (!compact)
        mp__sink_byte(s, '\n');
    return 0;
}

int mp__write_marcxml(mp__sink *s, const mp_record *rec, unsigned flags)
{
    int compact = (flags & MP_WRITE_XML_COMPACT) != 0;
    int ascii = (flags & MP_WRITE_ASCII) != 0;
    const char *nl = compact ? "" : "\n";
    char leader[MP__LEADER_LEN];
    mp__write_leader(rec, flags, 1, leader);

    if (mp__sink_reserve(s, 16 + sizeof MP__XML_NS) < 0)
        return MP_ENOMEM;
    MP__SINK_LIT(s, "<record");
    if (flags & MP_WRITE_XML_NAMESPACE)
        MP__SINK_LIT(s, MP__XML_NS);
    mp__sink_byte(s, '>');
    if (!compact)
        mp__sink_byte(s, '\n');
    if (mp__xml_leaf(s, "  ", "<leader", 7, leader, MP__LEADER_LEN, "</leader>", 9, compact,
                     ascii) < 0)
        return MP_ENOMEM;

    for (uint32_t i = 0; i < rec->nfields; i++) {
        const mp_field *f = &rec->fields[i];
        size_t tl = strnlen(f->tag, 3);
        if (f->is_control) {
            if (mp__sink_reserve(s, 16) < 0)
                return MP_ENOMEM;
            if (!compact)
                MP__SINK_LIT(s, "  ");
            MP__SINK_LIT(s, "<controlfield");
            if (mp__xml_attr(s, "tag", 3, f->tag, tl, ascii) < 0)
                return MP_ENOMEM;
            if (compact && f->len == 0) {
                if (mp__sink_put(s, " />", 3) < 0)
                    return MP_ENOMEM;
                continue;
            }
            if (mp__sink_put(s, ">", 1) < 0 || mp__xml_text(s, f->data, f->len, 0, ascii) < 0 ||
                mp__sink_put(s, "</controlfield>", 15) < 0 || mp__sink_put(s, nl, !compact) < 0)
                return MP_ENOMEM;
            continue;
        }
        if (mp__sink_reserve(s, 16) < 0)
            return MP_ENOMEM;
        if (!compact)
            MP__SINK_LIT(s, "  ");
        MP__SINK_LIT(s, "<datafield");
        int rc;
        if (compact)
            rc = mp__xml_attr(s, "ind1", 4, &f->ind1, 1, ascii) |
                 mp__xml_attr(s, "ind2", 4, &f->ind2, 1, ascii) |
                 mp__xml_attr(s, "tag", 3, f->tag, tl, ascii);
        else
            rc = mp__xml_attr(s, "tag", 3, f->tag, tl, ascii) |
                 mp__xml_attr(s, "ind1", 4, &f->ind1, 1, ascii) |
                 mp__xml_attr(s, "ind2", 4, &f->ind2, 1, ascii);
        if (rc < 0)
            return MP_ENOMEM;
        if (compact && f->nsubfields == 0) {
            if (mp__sink_put(s, " />", 3) < 0)
                return MP_ENOMEM;
            continue;
        }
        if (mp__sink_put(s, ">", 1) < 0 || mp__sink_put(s, nl, !compact) < 0)
            return MP_ENOMEM;
        for (uint32_t j = 0; j < f->nsubfields; j++) {
            const mp_subfield *sf = &f->subfields[j];
            if (mp__sink_reserve(s, 16) < 0)
                return MP_ENOMEM;
            if (!compact)
                MP__SINK_LIT(s, "    ");
            MP__SINK_LIT(s, "<subfield");
            if (mp__xml_attr(s, "code", 4, &sf->code, 1, ascii) < 0)
                return MP_ENOMEM;
            if (compact && sf->len == 0) {
                if (mp__sink_put(s, " />", 3) < 0)
                    return MP_ENOMEM;
                continue;
            }
            if (mp__sink_put(s, ">", 1) < 0 || mp__xml_text(s, sf->data, sf->len, 0, ascii) < 0 ||
                mp__sink_put(s, "</subfield>", 11) < 0 || mp__sink_put(s, nl, !compact) < 0)
                return MP_ENOMEM;
        }
        if (mp__sink_put(s, compact ? "</datafield>" : "  </datafield>\n", compact ? 12 : 15) < 0)
            return MP_ENOMEM;
    }
    if (mp__sink_put(s, "</record>", 9) < 0)
        return MP_ENOMEM;
    return MP_OK;
}
