/*
 * format.h - the input formats plugged into the pipeline (internal to
 * stages/): ISO 2709 (iso2709.c), MARCXML (fmt_marcxml.c), MARC-in-JSON
 * (fmt_json.c) and MARCMaker (fmt_mrk.c), their detection, and the
 * dispatch the reader hands to the core as its mp__format.
 *
 * Every format frames units on the scanner with a pure function of the
 * bytes (stages/FRAMING.md) and parses each unit on a worker into the one
 * record model (marc.h): the text formats go through the record builder
 * (builder.h), which writes the ISO 2709 form of the record into the chunk
 * arena and indexes it, so every reader of mp_record works unchanged.
 *
 * Synchronization: as marc.h (frame on the scanner, one thread at a time;
 * parse_item on workers, reentrant, fmt read-only). mp__fmt_resolve writes
 * the detection fields of fmt and runs before any frame/parse_item call
 * of that reader (see mp__marc_fmt).
 */
#ifndef MP_FORMAT_H
#define MP_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include "marc.h"
#include "source.h"

/*
 * Detection from the first bytes of the input: a UTF-8 byte order mark
 * and white space are skipped, then the first byte decides - a digit:
 * ISO 2709; '<': MARCXML; '{' or '[': MARC-in-JSON; '=': MARCMaker;
 * anything else, or nothing within MP__LEAD_MAX bytes: MP_FORMAT_AUTO
 * (undecided: read as ISO 2709). For MARCXML that starts with an XML
 * declaration, the encoding it names is copied to enc ("" for UTF-8).
 * Returns 1 when p[0..n) decides (end: no byte follows them), 0 when
 * more bytes are needed. Pure.
 */
int mp__sniff(const unsigned char *p, size_t n, int end, int *format, char *enc, size_t enc_cap);

/*
 * Detects the input format of a reader from its source (reading the
 * lead-in when the source is not memory: may block, polls `pipe` for
 * cancellation) and resolves fmt->format, found, mismatch, xml_encoding.
 * Idempotent. MP_OK, or MP_EFORMAT when the input looks like another
 * format than the one requested (fmt->mismatch). Called by the thread that
 * reads the source first (see mp__marc_fmt).
 */
int mp__fmt_resolve(mp__marc_fmt *fmt, mp__src *src, const mp__pipe *pipe);

/* Human-readable name: "ISO 2709", "MARCXML", "MARC-in-JSON", "MARCMaker". */
const char *mp__format_name(int format);
/* CLI / Python spelling: "iso2709", "marcxml", "json", "mrk", "auto". */
const char *mp__format_key(int format);

/* The reader's mp__format: dispatch on fmt->format (resolved). */
mp__frame_rc mp__fmt_frame(const void *fmt, const unsigned char *p, size_t avail, int final,
                           mp__frame *out);
int mp__fmt_parse_item(const void *fmt, mp__item *item, mp__arena *arena);

/* ---- the text formats (same contracts as mp__marc_frame / _parse_item) ---- */

mp__frame_rc mp__xml_frame(const void *fmt, const unsigned char *p, size_t avail, int final,
                           mp__frame *out);
int mp__xml_parse_item(const void *fmt, mp__item *item, mp__arena *arena);

mp__frame_rc mp__json_frame(const void *fmt, const unsigned char *p, size_t avail, int final,
                            mp__frame *out);
int mp__json_parse_item(const void *fmt, mp__item *item, mp__arena *arena);

mp__frame_rc mp__mrk_frame(const void *fmt, const unsigned char *p, size_t avail, int final,
                           mp__frame *out);
int mp__mrk_parse_item(const void *fmt, mp__item *item, mp__arena *arena);

/*
 * MARCXML parsers, for tests and the differential fuzzer: the fast path
 * (a strict subset of XML 1.0 recognised in one pass) returns 1 when it
 * declined the unit (then nothing was built: libxml2 must decide), else
 * as parse_item; the libxml2 path always decides. mp__xml_parse_item
 * tries the first and falls back to the second.
 */
int mp__xml_parse_fast(const mp__marc_fmt *fmt, mp__item *item, mp__arena *arena);
int mp__xml_parse_libxml2(const mp__marc_fmt *fmt, mp__item *item, mp__arena *arena);

/*
 * The end of a MARC record in MARCXML whose start tag is p[0..tl): just
 * past its end tag (the first end tag with local name "record", any
 * prefix), or the position of the next "record" start tag when one comes
 * first (*unclosed = 1). Comments, CDATA and processing instructions are
 * skipped whole. 0 when n bytes do not decide. Pure; exposed for tests.
 */
size_t mp__xml_record_end(const unsigned char *p, size_t n, size_t tl, int *unclosed);

/* libxml2's one-time global setup, before any worker may parse XML:
 * called by the reader's open (the consumer's thread). Idempotent. */
void mp__xml_global_init(void);

/* A UTF-8 byte order mark at p (the text framers ignore it where they
 * ignore white space): 3, 0 when there is none, -1 when the w bytes
 * there (w < 3, the input goes on: !fin) do not decide. */
static inline int mp__bom(const unsigned char *p, size_t w, int fin)
{
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    if (w >= 3)
        return p[0] == bom[0] && p[1] == bom[1] && p[2] == bom[2] ? 3 : 0;
    for (size_t i = 0; i < w; i++)
        if (p[i] != bom[i])
            return 0;
    return fin ? 0 : -1;
}

/* The text framers' answer: sets out and returns rc. */
static inline mp__frame_rc mp__text_answer(mp__frame *out, mp__frame_rc rc, size_t len,
                                           uint16_t kind)
{
    out->len = len;
    out->kind = kind;
    return rc;
}

/* How much to ask for (MP_FRAME_NEED) when a unit goes on past the `avail`
 * bytes seen: +4 KiB, then doubling (a long unit costs O(n) over repeated
 * calls), at most `max`. */
static inline size_t mp__text_grow(size_t avail, size_t max)
{
    size_t want = avail < 4096 ? avail + 4096 : avail * 2;
    return want > max ? max : want;
}

/* Longest span of envelope / junk per item, as for ISO 2709. */
#define MP__TEXT_JUNK_MAX (64u * 1024)

#endif
