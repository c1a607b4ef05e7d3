/*
 * textfix.h - MARCXML, MARC-in-JSON and MARCMaker fixtures for the format
 * suites, written from records built in code (marcfix.h).
 *
 * tf_convert reads an ISO 2709 stream with the sequential reader (text as
 * stored) and writes its records in one of several styles, recording where
 * each record's unit starts and ends in the output - what the framers must
 * find. These writers are deliberately small test helpers (escaping what
 * the formats need, nothing more); they are not the library's writers.
 * Single-threaded; allocation failures abort.
 */
#ifndef MP_TEST_TEXTFIX_H
#define MP_TEST_TEXTFIX_H

#include <stddef.h>
#include "marcfix.h"

typedef enum tf_style {
    TF_XML,          /* <collection xmlns=MARC> with unprefixed records, indented */
    TF_XML_PREFIXED, /* <?xml?> + <marc:collection xmlns:marc=...>, marc: prefix, one line */
    TF_XML_BARE,     /* records only, each declaring the namespace, no collection */
    TF_XML_OAI,      /* an OAI-PMH ListRecords envelope (its own <record>s around) */
    TF_JSON_LINES,   /* one compact object per line (NDJSON) */
    TF_JSON_ARRAY,   /* a pretty-printed JSON array */
    TF_MRK,          /* MARCMaker, records separated by a blank line */
    TF_STYLE_COUNT
} tf_style;

const char *tf_style_name(tf_style s);

typedef struct tf_unit {
    size_t start, end; /* where the record's unit lies in the output */
} tf_unit;

/* Converts; returns the number of records (at most max_units are noted). */
size_t tf_convert(mf_buf *out, const unsigned char *iso, size_t len, tf_style style, tf_unit *units,
                  size_t max_units);

/* XML text escaping of n bytes (&, <, >, " as entities). */
void tf_xml_text(mf_buf *out, const char *p, size_t n);

#endif
