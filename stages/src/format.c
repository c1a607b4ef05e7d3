/*
 * format.c - format detection and dispatch (see format.h).
 */
#include <string.h>
#include <strings.h>
#include "format.h"

const char *mp__format_name(int format)
{
    switch (format) {
    case MP_FORMAT_ISO2709:
        return "ISO 2709";
    case MP_FORMAT_MARCXML:
        return "MARCXML";
    case MP_FORMAT_JSON:
        return "MARC-in-JSON";
    case MP_FORMAT_MRK:
        return "MARCMaker";
    default:
        return "an unknown format";
    }
}

const char *mp__format_key(int format)
{
    switch (format) {
    case MP_FORMAT_ISO2709:
        return "iso2709";
    case MP_FORMAT_MARCXML:
        return "marcxml";
    case MP_FORMAT_JSON:
        return "json";
    case MP_FORMAT_MRK:
        return "mrk";
    default:
        return "auto";
    }
}

static int mp__is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The encoding pseudo-attribute of an XML declaration d[0..n) (from
 * "<?xml" to "?>"), copied to enc; "" when absent or UTF-8. */
static void mp__xml_decl_encoding(const unsigned char *d, size_t n, char *enc, size_t cap)
{
    enc[0] = 0;
    for (size_t i = 5; i + 8 < n; i++) {
        if (memcmp(d + i, "encoding", 8) != 0 || !mp__is_ws(d[i - 1]))
            continue;
        size_t j = i + 8;
        while (j < n && mp__is_ws(d[j]))
            j++;
        if (j >= n || d[j] != '=')
            return;
        j++;
        while (j < n && mp__is_ws(d[j]))
            j++;
        if (j >= n || (d[j] != '"' && d[j] != '\''))
            return;
        unsigned char q = d[j++];
        size_t k = j;
        while (k < n && d[k] != q)
            k++;
        if (k >= n || k - j == 0 || k - j >= cap)
            return;
        memcpy(enc, d + j, k - j);
        enc[k - j] = 0;
        if (strcasecmp(enc, "UTF-8") == 0 || strcasecmp(enc, "UTF8") == 0)
            enc[0] = 0;
        return;
    }
}

int mp__sniff(const unsigned char *p, size_t n, int end, int *format, char *enc, size_t enc_cap)
{
    size_t i = 0;
    *format = MP_FORMAT_AUTO;
    if (enc_cap)
        enc[0] = 0;
    if (n >= 1 && p[0] == 0xEF) { /* a UTF-8 byte order mark */
        if (n < 3 && !end)
            return 0;
        if (n >= 3 && p[1] == 0xBB && p[2] == 0xBF)
            i = 3;
    }
    while (i < n && mp__is_ws(p[i]))
        i++;
    if (i == n)
        return end || n >= MP__LEAD_MAX;
    unsigned char c = p[i];
    if (c >= '0' && c <= '9') {
        *format = MP_FORMAT_ISO2709;
    } else if (c == '{' || c == '[') {
        *format = MP_FORMAT_JSON;
    } else if (c == '=') {
        *format = MP_FORMAT_MRK;
    } else if (c == '<') {
        *format = MP_FORMAT_MARCXML;
        /* An XML declaration names the document's encoding, which the
         * workers need: every record is parsed on its own. */
        static const char decl[] = "<?xml";
        size_t k = n - i < 5 ? n - i : 5;
        if (memcmp(p + i, decl, k) == 0) {
            if (k < 5)
                return end || n >= MP__LEAD_MAX;
            const unsigned char *e = memmem(p + i, n - i, "?>", 2);
            if (!e)
                return end || n >= MP__LEAD_MAX;
            if (enc_cap)
                mp__xml_decl_encoding(p + i, (size_t)(e - (p + i)), enc, enc_cap);
        }
    }
    return 1;
}

int mp__fmt_resolve(mp__marc_fmt *fmt, mp__src *src, const mp__pipe *pipe)
{
    if (!fmt->resolved) {
        const unsigned char *p;
        size_t n;
        int end, found;
        for (;;) {
            mp__src_lead(src, &p, &n, &end);
            if (mp__sniff(p, n, end, &found, fmt->xml_encoding, sizeof fmt->xml_encoding))
                break;
            if (mp__src_lead_more(src, pipe) == 0) {
                mp__src_lead(src, &p, &n, &end);
                (void)mp__sniff(p, n, 1, &found, fmt->xml_encoding, sizeof fmt->xml_encoding);
                break;
            }
        }
        fmt->found = found;
        if (fmt->requested != MP_FORMAT_AUTO) {
            fmt->format = fmt->requested;
            fmt->mismatch = found != MP_FORMAT_AUTO && found != fmt->requested;
        } else {
            fmt->format = found != MP_FORMAT_AUTO ? found : MP_FORMAT_ISO2709;
        }
        fmt->resolved = 1;
    }
    return fmt->mismatch ? MP_EFORMAT : MP_OK;
}

mp__frame_rc mp__fmt_frame(const void *fmtv, const unsigned char *p, size_t avail, int final,
                           mp__frame *out)
{
    const mp__marc_fmt *fmt = fmtv;
    switch (fmt->format) {
    case MP_FORMAT_MARCXML:
        return mp__xml_frame(fmtv, p, avail, final, out);
    case MP_FORMAT_JSON:
        return mp__json_frame(fmtv, p, avail, final, out);
    case MP_FORMAT_MRK:
        return mp__mrk_frame(fmtv, p, avail, final, out);
    default:
        return mp__marc_frame(fmtv, p, avail, final, out);
    }
}

int mp__fmt_parse_item(const void *fmtv, mp__item *item, mp__arena *arena)
{
    const mp__marc_fmt *fmt = fmtv;
    switch (fmt->format) {
    case MP_FORMAT_MARCXML:
        return mp__xml_parse_item(fmtv, item, arena);
    case MP_FORMAT_JSON:
        return mp__json_parse_item(fmtv, item, arena);
    case MP_FORMAT_MRK:
        return mp__mrk_parse_item(fmtv, item, arena);
    default:
        return mp__marc_parse_item(fmtv, item, arena);
    }
}
