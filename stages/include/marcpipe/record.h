/*
 * marcpipe/record.h - read-only view of one MARC 21 / ISO 2709 record.
 *
 * A record returned by mp_reader_next() is a zero-copy view into the
 * reader's chunk plus an index built by a parser worker. It is BORROWED:
 * valid until the next mp_reader_next() or mp_reader_close() on the same
 * reader. mp_record_clone() makes an owned copy (free with
 * mp_record_free()).
 *
 * Thread-safety: all accessors are pure reads; a record may be read from
 * several threads at once while it is valid. Strings are NOT
 * NUL-terminated: every (data, len) pair is a byte span. Text is UTF-8
 * when the reader converted it (see mp_reader_options.encoding),
 * otherwise the record's own bytes.
 */
#ifndef MARCPIPE_RECORD_H
#define MARCPIPE_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <marcpipe/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_record mp_record;

/*
 * Problem kinds, for error items (mp_error_info.kind, reader.h) and for
 * warnings (mp_warning.kind) alike: XX(name, message). Which check gives
 * which kind, and whether it warns or errors, is the table in
 * stages/FRAMING.md ("Checks").
 */
#define MP_ERROR_KIND_MAP(XX)                                                                      \
    XX(NONE, "no error")                                                                           \
    XX(LENGTH, "record length in the leader is invalid")                                           \
    XX(TERMINATOR, "record terminator missing where the length says")                              \
    XX(JUNK, "bytes between records skipped")                                                      \
    XX(TRUNCATED, "input ends inside a record")                                                    \
    XX(TOO_BIG, "record larger than the maximum record size")                                      \
    XX(LEADER, "leader is invalid")                                                                \
    XX(BASE_ADDRESS, "base address of data is invalid")                                            \
    XX(DIRECTORY, "directory is invalid")                                                          \
    XX(FIELD, "field is invalid or unterminated")                                                  \
    XX(INDICATOR, "indicator is invalid")                                                          \
    XX(SUBFIELD, "subfield is invalid")                                                            \
    XX(ENCODING, "invalid UTF-8")                                                                  \
    XX(MARC8, "invalid MARC-8")                                                                    \
    XX(IO, "input/output error")                                                                   \
    XX(FILTER, "the user record function failed")                                                  \
    XX(MEMORY, "not enough memory to index the record")                                            \
    XX(NO_FIELDS, "record has no fields")

typedef enum mp_error_kind {
#define MP__EK_ENUM(name, msg) MP_EK_##name,
    MP_ERROR_KIND_MAP(MP__EK_ENUM)
#undef MP__EK_ENUM
        MP_EK_COUNT
} mp_error_kind;

MP_EXPORT const char *mp_error_kind_name(mp_error_kind kind); /* "TRUNCATED" */

/*
 * One warning: an anomaly that left the record's content readable (see
 * the table in stages/FRAMING.md). The record is delivered as good
 * (MP_OK) with its warnings attached; with mp_reader_options.strict the
 * first problem becomes an error item instead. Borrowed from the record.
 */
typedef struct mp_warning {
    mp_error_kind kind; /* MP_EK_INDICATOR, MP_EK_SUBFIELD, MP_EK_ENCODING, ... */
    uint64_t offset;    /* stream offset of the byte where the problem is */
    char tag[4];        /* field tag, "" when not field-specific */
    char subfield;      /* subfield code where relevant (as delivered), else 0 */
    char message[107];  /* human-readable, NUL-terminated */
} mp_warning;

/* At most this many warnings are kept per record; more are counted. */
#define MP_RECORD_WARNINGS_KEPT 32

/* One subfield: code and value span (read-only view). */
typedef struct mp_subfield {
    const char *data; /* value, without the code */
    uint32_t len;
    char code;
} mp_subfield;

/* One variable field (read-only view). */
typedef struct mp_field {
    char tag[4];      /* three characters + NUL */
    const char *data; /* whole field body without the field terminator
                         (for data fields: indicators and subfields) */
    uint32_t len;
    char ind1, ind2;    /* indicators (data fields), ' ' for control fields */
    uint8_t is_control; /* 1 for control fields (tag 00X), 0 for data fields */
    uint32_t nsubfields;
    const mp_subfield *subfields; /* nsubfields entries (data fields) */
} mp_field;

/* Leader: the 24 raw bytes (always available, never NUL-terminated). */
MP_EXPORT const char *mp_record_leader(const mp_record *rec);

/* Named leader positions (MARC 21). */
MP_EXPORT uint32_t mp_record_length(const mp_record *rec);       /* 00-04 as stated */
MP_EXPORT char mp_record_status(const mp_record *rec);           /* 05 */
MP_EXPORT char mp_record_type(const mp_record *rec);             /* 06 */
MP_EXPORT char mp_record_bib_level(const mp_record *rec);        /* 07 */
MP_EXPORT char mp_record_control_type(const mp_record *rec);     /* 08 */
MP_EXPORT char mp_record_coding_scheme(const mp_record *rec);    /* 09: ' ' MARC-8, 'a' UTF-8 */
MP_EXPORT uint32_t mp_record_base_address(const mp_record *rec); /* 12-16 as stated */
MP_EXPORT char mp_record_encoding_level(const mp_record *rec);   /* 17 */
MP_EXPORT char mp_record_cataloging_form(const mp_record *rec);  /* 18 */

/* Raw ISO 2709 bytes of the record as read (before any conversion). */
MP_EXPORT const unsigned char *mp_record_raw(const mp_record *rec, size_t *len);
/* Stream position: byte offset of the leader and 0-based unit ordinal. */
MP_EXPORT uint64_t mp_record_offset(const mp_record *rec);
MP_EXPORT uint64_t mp_record_ordinal(const mp_record *rec);

/* Fields in directory order. */
MP_EXPORT uint32_t mp_record_field_count(const mp_record *rec);
/* i < field_count, else NULL. */
MP_EXPORT const mp_field *mp_record_field(const mp_record *rec, uint32_t i);

/*
 * Tag patterns: exactly three characters, each either a tag character
 * (printable ASCII, 0x21-0x7E, matched exactly) or 'X' / 'x' (matches any
 * character): "245", "6XX", "X00". Anything else - NULL, "24", "2450",
 * " 45" - is invalid and matches nothing. mp_tag_pattern_check() returns
 * MP_OK for a valid pattern, MP_EINVAL otherwise.
 */
MP_EXPORT int mp_tag_pattern_check(const char *pattern);

/*
 * Finds the next field at index >= *pos whose tag matches `pattern` (see
 * above), stores its index + 1 in *pos, returns it, or NULL when none is
 * left (then *pos = field count). Start with *pos = 0 to iterate all
 * matches. An invalid pattern returns NULL at once: check patterns that
 * come from users with mp_tag_pattern_check().
 */
MP_EXPORT const mp_field *mp_record_find(const mp_record *rec, const char *pattern, uint32_t *pos);
/* First field whose tag matches `pattern`, or NULL (also for an invalid pattern). */
MP_EXPORT const mp_field *mp_record_first(const mp_record *rec, const char *pattern);

/*
 * The body of field i as stored in the record - before any MARC-8 or
 * UTF-8 decoding, indicators and subfield delimiters included, without the
 * field terminator - and its length in *len; NULL when i >= field count.
 * Equals mp_field.data when nothing was decoded. Borrowed like the record.
 */
MP_EXPORT const char *mp_record_field_raw(const mp_record *rec, uint32_t i, size_t *len);

/* Control number: the 001 data, or NULL when absent (len in *len). */
MP_EXPORT const char *mp_record_control_number(const mp_record *rec, size_t *len);

/*
 * Warnings of the record (see mp_warning): mp_record_warning_count is
 * the number found, mp_record_warning(rec, i) the i-th for
 * i < min(count, MP_RECORD_WARNINGS_KEPT), else NULL. A good record
 * (MP_OK) may carry warnings; a damaged one (MP_ERECORD) may too, besides
 * its error. Clones keep them.
 */
MP_EXPORT uint32_t mp_record_warning_count(const mp_record *rec);
MP_EXPORT const mp_warning *mp_record_warning(const mp_record *rec, uint32_t i);

/*
 * Subfields of a data field with the given code, iterated like
 * mp_record_find (start *pos = 0). NULL when none left.
 */
MP_EXPORT const mp_subfield *mp_field_subfield(const mp_field *f, char code, uint32_t *pos);

/*
 * Annotations: one block of bytes that a mp_record_fn (reader.h) attaches
 * to its record while it runs in a parser worker, so per-record work of an
 * embedding (a binding's own record layout, a digest...) is done in
 * parallel and the consumer only reads the result.
 *
 * mp_record_annotate: ONLY from inside mp_record_fn, on the record it was
 * given (the worker owns the record then). Allocates n bytes (8-aligned)
 * in the record's chunk arena - valid exactly as long as the record, no
 * free - attaches them and returns them; a second call replaces the
 * first. NULL when called elsewhere or when memory is short (the record
 * goes on without an annotation).
 * mp_record_annotation: the attached block and its size, or NULL (also
 * for records that record_fn did not see: damaged ones). Any thread that
 * may read the record. Clones do not carry annotations.
 */
MP_EXPORT void *mp_record_annotate(const mp_record *rec, size_t n);
MP_EXPORT const void *mp_record_annotation(const mp_record *rec, size_t *n);

/*
 * Owned deep copy (raw bytes + index + converted text). *out must be
 * freed with mp_record_free. Returns MP_OK or MP_ENOMEM. The clone is
 * independent of the reader and may be kept and shared read-only.
 */
MP_EXPORT int mp_record_clone(const mp_record *rec, mp_record **out);
/* Frees a clone. Accepts NULL. Never call it on a borrowed record. */
MP_EXPORT void mp_record_free(mp_record *rec);

#ifdef __cplusplus
}
#endif
#endif
