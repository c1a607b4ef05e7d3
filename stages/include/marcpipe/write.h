/*
 * marcpipe/write.h - writing records: serialisers, writers, conversion.
 *
 * Three layers:
 *
 *   mp_record_write()  one record -> bytes appended to a caller's mp_buf
 *   mp_writer          a stream of records in one format -> a file, a
 *                      descriptor, a callback or an mp_buf, with the
 *                      format's framing (MARCXML <collection>, JSON array)
 *   mp_convert()       reader -> writer, in input order, with the
 *                      serialising done in the reader's parser workers
 *                      when the reader was opened with output_format
 *
 *     mp_reader_options ro = MP_READER_OPTIONS_INIT;
 *     ro.output_format = MP_FORMAT_MARCXML;           // workers serialise
 *     mp_writer_options wo = MP_WRITER_OPTIONS_INIT;
 *     wo.format = MP_FORMAT_MARCXML;
 *     mp_reader *r; mp_writer *w;
 *     mp_reader_open_path(&r, "in.mrc", &ro);
 *     mp_writer_open_path(&w, "out.xml", &wo);
 *     int rc = mp_convert(r, w, NULL, NULL);           // MP_OK: all of in.mrc read
 *     int wrc = mp_writer_close(w);                     // footer, flush, close
 *     mp_reader_close(r);
 *
 * Output formats (mp_format, reader.h):
 *   MP_FORMAT_ISO2709  MARC 21 exchange format. A record read from
 *                      ISO 2709 that is undamaged, unedited and whose text
 *                      needed no decoding is written byte for byte as it
 *                      was read (when its leader/09 already says UTF-8, or
 *                      it was read with MP_ENCODING_RAW, or with
 *                      MP_WRITE_KEEP_LEADER). Every other record is
 *                      rebuilt: leader 00-04 (length), 10-11 "22", 12-16
 *                      (base address), 20-23 "4500", 09 'a'; directory in
 *                      field order; indicators + 0x1F code value per
 *                      subfield. The format's limits - 99,999 bytes per
 *                      record, 9,999 per field - are enforced: a record
 *                      over them is refused with MP_ETOOBIG (nothing
 *                      written), as marc4j and MARC::Record refuse them.
 *   MP_FORMAT_MARCXML  MARC 21 slim (namespace http://www.loc.gov/MARC21/slim),
 *                      UTF-8. A stream is one <collection> with an XML
 *                      declaration; a single record is a <record> element.
 *                      Escaped: & < > in text; & < > " TAB LF CR in
 *                      attributes; CR in text as &#13;. Characters XML 1.0
 *                      cannot carry (C0 controls other than TAB LF CR,
 *                      U+FFFE, U+FFFF) and invalid UTF-8 become U+FFFD.
 *                      Valid against MARC21slim.xsd whenever the record's
 *                      own content matches the schema's patterns (tags,
 *                      indicators, codes, leader).
 *   MP_FORMAT_JSON     MARC-in-JSON as pymarc's as_dict()/as_json():
 *                      {"leader":..,"fields":[{"001":".."},{"245":{"ind1":
 *                      "1","ind2":"0","subfields":[{"a":".."}]}}]}; a stream
 *                      is a JSON array, one record per line.
 *   MP_FORMAT_NDJSON   the same objects, one per line, no array.
 *   MP_FORMAT_MRK      MARCMaker text as pymarc's str(record): "=LDR  " +
 *                      leader, "=TAG  data" (blanks as '\'), "=TAG  II$aval"
 *                      (blank indicators as '\'), one line per field; a
 *                      stream separates records with a blank line.
 *   MP_FORMAT_LINE     yaz-marcdump's line format ("TAG II $a val"), each
 *                      record followed by a blank line (marcpipe dump).
 * Invalid UTF-8 becomes U+FFFD in MARCXML and JSON (one per maximal
 * invalid sequence, as Python's 'replace'); ISO 2709, MRK and LINE carry
 * the bytes as they are.
 *
 * Leader/09: ISO 2709, MARCXML and JSON output say 'a' (UTF-8), since
 * the text the reader delivers is UTF-8 (MARC-8 decoded), unless the
 * record was read with MP_ENCODING_RAW or MP_WRITE_KEEP_LEADER is given.
 * MRK and LINE show the leader as stored.
 *
 * Thread-safety: mp_record_write is reentrant (any threads, any records
 * that are valid). A writer is used by one thread at a time.
 */
#ifndef MARCPIPE_WRITE_H
#define MARCPIPE_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include <marcpipe/common.h>
#include <marcpipe/reader.h>
#include <marcpipe/record.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- flags (mp_record_write, mp_writer_options.flags, reader output_flags) ---- */

/* Keep leader/09 as the record has it (pymarc's XML/JSON/text output). */
#define MP_WRITE_KEEP_LEADER 0x01u
/* JSON: ", " and ": " between items, as Python's json.dumps (pymarc as_json). */
#define MP_WRITE_JSON_SPACED 0x02u
/* JSON: \uXXXX for every non-ASCII character (json.dumps ensure_ascii);
 * MARCXML: &#N; references for them (ElementTree's us-ascii output). */
#define MP_WRITE_ASCII 0x04u
/* MARCXML: no whitespace between elements and datafield attributes in
 * pymarc's order (ind1, ind2, tag): pymarc's record_to_xml / XMLWriter. */
#define MP_WRITE_XML_COMPACT 0x08u
/* MARCXML, single records: <record> carries xmlns, xmlns:xsi and
 * xsi:schemaLocation (pymarc's namespace=True). */
#define MP_WRITE_XML_NAMESPACE 0x10u
#define MP_WRITE_FLAGS_ALL     0x1Fu

/* ---- one record --------------------------------------------------------------- */

/* A growable byte buffer. Start with MP_BUF_INIT (or fill in your own
 * malloc'd block); the library grows it with realloc; free with
 * mp_buf_free. Not thread-safe. */
typedef struct mp_buf {
    unsigned char *data;
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
} mp_buf;

#define MP_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* Frees b->data and resets b to empty. NULL ok. */
MP_EXPORT void mp_buf_free(mp_buf *b);

/*
 * Appends the serialisation of one record to `out` (format and flags as
 * above; MARCXML: one <record> element, JSON: one object, NDJSON: one
 * object and "\n", MRK: the record's lines, LINE: its lines and a blank
 * line). Works on every kind of record: borrowed, cloned, built, views.
 * Returns MP_OK; MP_EINVAL (a bad format or flag, NULL arguments, or a
 * record ISO 2709 cannot carry: a value holding 0x1E/0x1F, or 0x1D
 * followed by a leader-like run (an anchor: readers cut the record there,
 * stages/FRAMING.md), a code or indicator that is a separator);
 * MP_ETOOBIG (ISO 2709 limits); MP_ENOMEM.
 * On failure out->len is unchanged. Reentrant.
 */
MP_EXPORT int mp_record_write(const mp_record *rec, mp_format format, unsigned flags, mp_buf *out);

/*
 * The bytes the parser workers prepared for this record (reader option
 * output_format): *len bytes as mp_record_write would append them, or
 * NULL when none were prepared (also: not for this record kind, or the
 * serialiser refused it - then *rc, when given, says why). Borrowed like
 * the record. Any thread that may read the record.
 */
MP_EXPORT const void *mp_record_output(const mp_record *rec, size_t *len, int *rc);

/* ---- a stream of records ------------------------------------------------------ */

typedef struct mp_writer mp_writer;

/* Output callback: write all len bytes; return 0, or a negative MP_E*
 * code (the writer then fails with it). Called on the writer's thread. */
typedef int (*mp_write_fn)(void *user, const void *data, size_t len);

typedef struct mp_writer_options {
    size_t size;        /* sizeof(mp_writer_options), or 0 */
    mp_format format;   /* 0 (AUTO) means MP_FORMAT_ISO2709 */
    unsigned flags;     /* MP_WRITE_* */
    size_t buffer_size; /* bytes gathered before each write; 0: 256 KiB */
} mp_writer_options;

#define MP_WRITER_OPTIONS_INIT                                                                     \
    {                                                                                              \
        sizeof(mp_writer_options), MP_FORMAT_ISO2709, 0, 0                                         \
    }

/*
 * Open a writer; it writes the format's header (MARCXML declaration and
 * <collection>, JSON "[") before the first record. On success *out owns
 * the writer: close it with mp_writer_close. Ownership of the target, as
 * for readers: a file the writer opened (_path: created or truncated,
 * mode 0666 & ~umask) it closes; a descriptor (_fd), callback or buffer
 * (_buf: bytes are appended to it, it is never freed) it only borrows.
 * Returns MP_OK, MP_EINVAL, MP_ENOENT, MP_EACCES, MP_EIO or MP_ENOMEM.
 */
MP_EXPORT int mp_writer_open_path(mp_writer **out, const char *path, const mp_writer_options *o);
MP_EXPORT int mp_writer_open_fd(mp_writer **out, int fd, const mp_writer_options *o);
MP_EXPORT int mp_writer_open_cb(mp_writer **out, mp_write_fn fn, void *user,
                                const mp_writer_options *o);
MP_EXPORT int mp_writer_open_buf(mp_writer **out, mp_buf *buf, const mp_writer_options *o);

/*
 * Writes one record (the bytes its worker prepared when they match this
 * writer's format and flags, else serialised here). MP_OK; a refusal of
 * this record (MP_ETOOBIG, MP_EINVAL: nothing written, the writer goes
 * on); or a failure of the output (MP_EIO with errno kept for
 * mp_writer_errno, MP_ENOMEM, the callback's code) after which every
 * call returns that failure.
 */
MP_EXPORT int mp_writer_write(mp_writer *w, const mp_record *rec);

/* Pushes buffered bytes to the target. MP_OK or the output's failure. */
MP_EXPORT int mp_writer_flush(mp_writer *w);

/*
 * Writes the footer (</collection>, "]"), flushes, closes what the
 * writer opened and frees it. Returns MP_OK or the first output failure
 * (the writer is freed either way; on MP_EIO errno holds the cause).
 * NULL ok (MP_OK).
 */
MP_EXPORT int mp_writer_close(mp_writer *w);

/* Records written and bytes produced so far (header included). */
MP_EXPORT void mp_writer_counts(const mp_writer *w, uint64_t *records, uint64_t *bytes);
/* The output's failure (sticky: MP_EIO, MP_ENOMEM, the callback's code),
 * or 0 while the writer is healthy. Refused records do not count. */
MP_EXPORT int mp_writer_status(const mp_writer *w);
/* errno behind an MP_EIO failure, 0 otherwise. */
MP_EXPORT int mp_writer_errno(const mp_writer *w);

/* ---- conversion ------------------------------------------------------------------ */

/* What a conversion does with a damaged record (an MP_ERECORD item that
 * carries a parsed record). Skipped spans have no record: never written. */
typedef enum mp_damaged {
    MP_DAMAGED_SKIP = 0,  /* not written; reported (default) */
    MP_DAMAGED_WRITE = 1, /* write what was parsed (the record's index), reported */
    MP_DAMAGED_STOP = 2,  /* reported, then the conversion ends with MP_ESTOPPED */
} mp_damaged;

typedef struct mp_convert_counts {
    uint64_t records;  /* good records read */
    uint64_t damaged;  /* damaged records read (error items with a record) */
    uint64_t errors;   /* error items read (damaged records, skipped spans) */
    uint64_t written;  /* records written (good and damaged) */
    uint64_t refused;  /* records the writer refused (MP_ETOOBIG, MP_EINVAL) */
    uint64_t bytes_in; /* input bytes consumed */
} mp_convert_counts;

typedef struct mp_convert_options {
    size_t size;        /* sizeof(mp_convert_options), or 0 */
    mp_damaged damaged; /* default MP_DAMAGED_SKIP */
    /*
     * Called for every error item the reader returns (rc MP_ERECORD, e =
     * mp_reader_error) and for every record the writer refuses (rc =
     * MP_ETOOBIG / MP_EINVAL, e describes the record: kind MP_EK_TOO_BIG
     * or MP_EK_FIELD, its ordinal, offset, length, 001). Return 0 to go
     * on, nonzero to end the conversion (mp_convert returns MP_ESTOPPED).
     * May be NULL. Runs on the thread of mp_convert.
     */
    int (*on_error)(void *user, int rc, const mp_error_info *e);
    /* Called about every 256 items with the counts so far; may be NULL. */
    void (*on_progress)(void *user, const mp_convert_counts *c);
    void *user;
    /*
     * Called for every good record that carries warnings
     * (mp_record_warning_count > 0, reader.h), before it is written; rec is
     * borrowed for the call. Return 0 to go on, nonzero to end the
     * conversion (MP_ESTOPPED). May be NULL. Runs on the thread of
     * mp_convert. (Past the first release's struct: see `size`.)
     */
    int (*on_warnings)(void *user, const mp_record *rec);
} mp_convert_options;

#define MP_CONVERT_OPTIONS_INIT                                                                    \
    {                                                                                              \
        sizeof(mp_convert_options), MP_DAMAGED_SKIP, NULL, NULL, NULL, NULL                        \
    }

/*
 * Reads r to its end and writes every good record (and, with
 * MP_DAMAGED_WRITE, every damaged one) to w in input order. The
 * serialising runs in r's parser workers when r was opened with
 * output_format/output_flags equal to w's format/flags; otherwise here.
 * Does not close r or w (close w to finish the stream). `o` may be NULL
 * (defaults); `counts` may be NULL, else it is filled in (also on
 * failure). Returns MP_OK when the whole input was read (records the
 * writer refused and error items do not change that: count them),
 * MP_ESTOPPED (MP_DAMAGED_STOP, on_error, or the reader's
 * MP_POLICY_STOP), or the failure that ended it: the reader's (MP_EIO,
 * MP_ELIMIT, MP_ENOMEM; mp_reader_error says where) or the writer's.
 * Thread-safety: as r and w (their one consumer thread).
 */
MP_EXPORT int mp_convert(mp_reader *r, mp_writer *w, const mp_convert_options *o,
                         mp_convert_counts *counts);

#ifdef __cplusplus
}
#endif
#endif
