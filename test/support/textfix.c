/* textfix.c - see textfix.h. */
#include "textfix.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <marcpipe/marcpipe.h>

const char *tf_style_name(tf_style s)
{
    static const char *const names[] = {"xml",        "xml-prefixed", "xml-bare", "xml-oai",
                                        "json-lines", "json-array",   "mrk"};
    return (unsigned)s < TF_STYLE_COUNT ? names[s] : "?";
}

void tf_xml_text(mf_buf *out, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (p[i]) {
        case '&':
            mf_appends(out, "&amp;");
            break;
        case '<':
            mf_appends(out, "&lt;");
            break;
        case '>':
            mf_appends(out, "&gt;");
            break;
        case '"':
            mf_appends(out, "&quot;");
            break;
        default:
            mf_append(out, p + i, 1);
        }
    }
}

static void tf_json_str(mf_buf *out, const char *p, size_t n)
{
    mf_appends(out, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            mf_append(out, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            mf_appends(out, esc);
        } else {
            mf_append(out, p + i, 1);
        }
    }
    mf_appends(out, "\"");
}

static void tf_xml_record(mf_buf *out, const mp_record *rec, const char *pfx, const char *attrs,
                          const char *nl, const char *ind)
{
    char buf[256];
    snprintf(buf, sizeof buf, "<%srecord%s>%s", pfx, attrs, nl);
    mf_appends(out, buf);
    snprintf(buf, sizeof buf, "%s<%sleader>", ind, pfx);
    mf_appends(out, buf);
    tf_xml_text(out, mp_record_leader(rec), 24);
    snprintf(buf, sizeof buf, "</%sleader>%s", pfx, nl);
    mf_appends(out, buf);
    for (uint32_t i = 0; i < mp_record_field_count(rec); i++) {
        const mp_field *f = mp_record_field(rec, i);
        if (f->is_control) {
            snprintf(buf, sizeof buf, "%s<%scontrolfield tag=\"", ind, pfx);
            mf_appends(out, buf);
            tf_xml_text(out, f->tag, 3);
            mf_appends(out, "\">");
            tf_xml_text(out, f->data, f->len);
            snprintf(buf, sizeof buf, "</%scontrolfield>%s", pfx, nl);
            mf_appends(out, buf);
            continue;
        }
        snprintf(buf, sizeof buf, "%s<%sdatafield tag=\"", ind, pfx);
        mf_appends(out, buf);
        tf_xml_text(out, f->tag, 3);
        mf_appends(out, "\" ind1=\"");
        tf_xml_text(out, &f->ind1, 1);
        mf_appends(out, "\" ind2=\"");
        tf_xml_text(out, &f->ind2, 1);
        mf_appends(out, "\">");
        mf_appends(out, nl);
        for (uint32_t j = 0; j < f->nsubfields; j++) {
            const mp_subfield *s = &f->subfields[j];
            snprintf(buf, sizeof buf, "%s%s<%ssubfield code=\"", ind, ind, pfx);
            mf_appends(out, buf);
            tf_xml_text(out, &s->code, 1);
            mf_appends(out, "\">");
            tf_xml_text(out, s->data, s->len);
            snprintf(buf, sizeof buf, "</%ssubfield>%s", pfx, nl);
            mf_appends(out, buf);
        }
        snprintf(buf, sizeof buf, "%s</%sdatafield>%s", ind, pfx, nl);
        mf_appends(out, buf);
    }
    snprintf(buf, sizeof buf, "</%srecord>", pfx);
    mf_appends(out, buf);
}

static void tf_json_record(mf_buf *out, const mp_record *rec, int pretty)
{
    const char *nl = pretty ? "\n" : "", *sp = pretty ? "  " : "";
    mf_appends(out, "{");
    mf_appends(out, nl);
    mf_appends(out, sp);
    mf_appends(out, "\"leader\":");
    tf_json_str(out, mp_record_leader(rec), 24);
    mf_appends(out, ",");
    mf_appends(out, nl);
    mf_appends(out, sp);
    mf_appends(out, "\"fields\":[");
    for (uint32_t i = 0; i < mp_record_field_count(rec); i++) {
        const mp_field *f = mp_record_field(rec, i);
        mf_appends(out, i ? "," : "");
        mf_appends(out, nl);
        mf_appends(out, sp);
        mf_appends(out, sp);
        mf_appends(out, "{");
        tf_json_str(out, f->tag, 3);
        mf_appends(out, ":");
        if (f->is_control) {
            tf_json_str(out, f->data, f->len);
        } else {
            /* Subfields first, indicators after (key order is free). */
            mf_appends(out, "{\"subfields\":[");
            for (uint32_t j = 0; j < f->nsubfields; j++) {
                mf_appends(out, j ? ",{" : "{");
                tf_json_str(out, &f->subfields[j].code, 1);
                mf_appends(out, ":");
                tf_json_str(out, f->subfields[j].data, f->subfields[j].len);
                mf_appends(out, "}");
            }
            mf_appends(out, "],\"ind1\":");
            tf_json_str(out, &f->ind1, 1);
            mf_appends(out, ",\"ind2\":");
            tf_json_str(out, &f->ind2, 1);
            mf_appends(out, "}");
        }
        mf_appends(out, "}");
    }
    mf_appends(out, nl);
    mf_appends(out, sp);
    mf_appends(out, "]");
    mf_appends(out, nl);
    mf_appends(out, "}");
}

static void tf_mrk_blanks(mf_buf *out, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mf_append(out, p[i] == ' ' ? "\\" : p + i, 1);
}

static void tf_mrk_record(mf_buf *out, const mp_record *rec)
{
    mf_appends(out, "=LDR  ");
    mf_append(out, mp_record_leader(rec), 24);
    mf_appends(out, "\n");
    for (uint32_t i = 0; i < mp_record_field_count(rec); i++) {
        const mp_field *f = mp_record_field(rec, i);
        mf_appends(out, "=");
        mf_append(out, f->tag, 3);
        mf_appends(out, "  ");
        if (f->is_control) {
            tf_mrk_blanks(out, f->data, f->len);
        } else {
            tf_mrk_blanks(out, &f->ind1, 1);
            tf_mrk_blanks(out, &f->ind2, 1);
            for (uint32_t j = 0; j < f->nsubfields; j++) {
                mf_appends(out, "$");
                mf_append(out, &f->subfields[j].code, 1);
                mf_append(out, f->subfields[j].data, f->subfields[j].len);
            }
        }
        mf_appends(out, "\n");
    }
}

size_t tf_convert(mf_buf *out, const unsigned char *iso, size_t len, tf_style style, tf_unit *units,
                  size_t max_units)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.mode = MP_MODE_SEQUENTIAL;
    o.encoding = MP_ENCODING_RAW;
    o.format = MP_FORMAT_ISO2709;
    mp_reader *r;
    if (mp_reader_open_mem(&r, iso, len, &o) != MP_OK)
        abort();
    static const char ns[] = "http://www.loc.gov/MARC21/slim";
    char attrs[160];
    switch (style) {
    case TF_XML:
        mf_appends(out, "<collection xmlns=\"http://www.loc.gov/MARC21/slim\">\n");
        break;
    case TF_XML_PREFIXED:
        mf_appends(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- a comment -->\n"
                        "<marc:collection xmlns:marc=\"http://www.loc.gov/MARC21/slim\" "
                        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">");
        break;
    case TF_XML_OAI:
        mf_appends(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\">\n"
                        "<responseDate>2026-01-01T00:00:00Z</responseDate>\n"
                        "<request verb=\"ListRecords\">https://example.org/oai</request>\n"
                        "<ListRecords>\n");
        break;
    case TF_JSON_ARRAY:
        mf_appends(out, "[\n");
        break;
    default:
        break;
    }
    const mp_record *rec;
    size_t n = 0;
    int rc;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
        if (rc != MP_OK)
            continue;
        size_t start = out->len, end;
        switch (style) {
        case TF_XML:
            start = out->len;
            tf_xml_record(out, rec, "", "", "\n", "  ");
            mf_appends(out, "\n");
            end = out->len - 1;
            break;
        case TF_XML_PREFIXED:
            tf_xml_record(out, rec, "marc:", "", "", "");
            end = out->len;
            break;
        case TF_XML_BARE:
            snprintf(attrs, sizeof attrs, " xmlns=\"%s\"", ns);
            tf_xml_record(out, rec, "", attrs, "\n", " ");
            end = out->len;
            mf_appends(out, "\n");
            break;
        case TF_XML_OAI:
            mf_appends(out, "<record><header><identifier>oai:example.org:");
            char id[32];
            snprintf(id, sizeof id, "%zu", n);
            mf_appends(out, id);
            mf_appends(out, "</identifier><datestamp>2026-01-01</datestamp></header>\n"
                            "<metadata>");
            start = out->len;
            snprintf(attrs, sizeof attrs, " xmlns:marc=\"%s\"", ns);
            tf_xml_record(out, rec, "marc:", attrs, "\n", "  ");
            end = out->len;
            mf_appends(out, "</metadata></record>\n");
            if (n % 3 == 1) /* a deleted record: header only */
                mf_appends(out, "<record><header status=\"deleted\"><identifier>oai:x:gone"
                                "</identifier></header></record>\n");
            break;
        case TF_JSON_LINES:
            tf_json_record(out, rec, 0);
            end = out->len;
            mf_appends(out, "\n");
            break;
        case TF_JSON_ARRAY:
            if (n)
                mf_appends(out, ",\n");
            start = out->len;
            tf_json_record(out, rec, 1);
            end = out->len;
            break;
        default:
            if (n)
                mf_appends(out, "\n");
            start = out->len;
            tf_mrk_record(out, rec);
            end = out->len;
            break;
        }
        if (units && n < max_units) {
            units[n].start = start;
            units[n].end = end;
        }
        n++;
    }
    mp_reader_close(r);
    switch (style) {
    case TF_XML:
        mf_appends(out, "</collection>\n");
        break;
    case TF_XML_PREFIXED:
        mf_appends(out, "</marc:collection>");
        break;
    case TF_XML_OAI:
        mf_appends(out, "<resumptionToken cursor=\"0\"></resumptionToken>\n</ListRecords>\n"
                        "</OAI-PMH>\n");
        break;
    case TF_JSON_ARRAY:
        mf_appends(out, "\n]\n");
        break;
    default:
        break;
    }
    return n;
}
