/*
 * layout.h - the compact record layout of marcpipe._marcpipe, in plain C.
 *
 * A Python record is ONE object whose variable part is a blob:
 *
 *     leader[24] | layout_field[nfields] | layout_subfield[nsubs] | text
 *
 * The parser workers build the blob from the mp_record they just parsed
 * (layout_record_fn, the reader's mp_record_fn) and attach it as the
 * record's annotation; the consumer only copies it into the new object.
 * The workers hold no GIL, so this header and layout.c must never include
 * Python.h: a Python call there is then a compile error, not a crash.
 *
 * Thread safety: every function here reads only the record it is given and
 * writes only memory the caller owns (or the annotation of a record the
 * calling worker owns); none keeps state. Safe from any thread, without
 * the GIL, concurrently with each other on different records.
 */
#ifndef MP_PY_LAYOUT_H
#define MP_PY_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include <marcpipe/record.h>

#define LAYOUT_LEADER_LEN 24

/* One field of the compact index. */
typedef struct layout_field {
    char tag[3];
    char ind1, ind2;
    uint8_t ctrl;   /* pymarc's rule: tag is digits and < "010" */
    uint16_t flags; /* LAYOUT_RUN */
    uint32_t sub0;  /* first subfield index */
    uint32_t nsub;
    uint32_t off; /* control field data, or a data field's run (LAYOUT_RUN), */
    uint32_t len; /* relative to the text area; 0, 0 for other data fields */
} layout_field;

/*
 * layout_field.flags:
 *  LAYOUT_RUN: a data field whose text [off, off + len) is its subfields
 *  as MARCMaker writes them: per subfield "$", the code, then the value,
 *  each value where its layout_subfield says. str(record) copies the run
 *  whole. layout_fill sets it on every data field; a blob from elsewhere
 *  (a pickle) keeps it only where record.c checked it (blob_runs_check).
 */
#define LAYOUT_RUN 1u

/* One subfield; its value is text[off, off + len), after "$" and the code
 * in a LAYOUT_RUN field. */
typedef struct layout_subfield {
    uint32_t off, len;
    char code;
    char pad[3];
} layout_subfield;

/* The sizes of one record's blob (layout_measure), and what layout_fill
 * learnt of its text for str() and as_dict() (`summary` set). Written by
 * the thread that builds the blob (a parser worker, in the record's
 * annotation, before the pipeline hands the record on), read by the
 * consumer after that hand-off; never written again. */
typedef struct layout_dims {
    uint32_t nfields, nsubs;
    size_t size;        /* total blob bytes */
    uint64_t mrk_len;   /* bytes of its MARCMaker text (str(record)) */
    uint32_t text_cont; /* continuation bytes (0x80-0xBF) of the text area */
    uint8_t text_max;   /* the largest byte of the text area */
    uint8_t ascii;      /* LAYOUT_*_ASCII */
    uint8_t summary;    /* 1: the four above are set */
    uint8_t pad;
} layout_dims;

#define LAYOUT_HEAD_ASCII   1u /* tags and indicators are ASCII */
#define LAYOUT_LEADER_ASCII 2u /* the leader is ASCII */

/* The continuation bytes (0x80-0xBF) of s[0, n) in *cont and its largest
 * byte in *maxb (< 0x80: the text is ASCII). */
void layout_text_survey(const char *s, size_t n, size_t *cont, unsigned *maxb);

static inline layout_field *layout_fields(char *blob)
{
    return (layout_field *)(blob + LAYOUT_LEADER_LEN);
}

static inline layout_subfield *layout_subfields(char *blob, uint32_t nfields)
{
    return (layout_subfield *)(blob + LAYOUT_LEADER_LEN + (size_t)nfields * sizeof(layout_field));
}

static inline char *layout_text(char *blob, uint32_t nfields, uint32_t nsubs)
{
    return (char *)(layout_subfields(blob, nfields) + nsubs);
}

/*
 * How the layout reads a record, beyond the reader's options. Shared
 * read-only by the workers (the reader's record_fn_user).
 *  marc8_control_latin1: a record read as MARC-8 (leader/09 not 'a', no
 *  force_utf8) keeps its control fields (pymarc's rule: digits < "010")
 *  as pymarc decodes them - their stored bytes read as Latin-1 - instead
 *  of the library's MARC-8 decoding.
 */
typedef struct layout_opts {
    int marc8_control_latin1;
} layout_opts;

/* LAYOUT_PYMARC: marc8_control_latin1 on. LAYOUT_PLAIN: the library's text. */
extern const layout_opts LAYOUT_PYMARC, LAYOUT_PLAIN;

/* Measures the blob of `rec` (borrowed). -1 when it would not fit the
 * 32-bit offsets of the layout. */
int layout_measure(const mp_record *rec, const layout_opts *o, layout_dims *d);

/* Writes the blob of `rec` (borrowed) into `blob`, which the caller owns
 * and sized with layout_measure (with the same opts) into *d; completes
 * *d with the summary of the text (text area bytes not written are
 * zeroed). */
void layout_fill(const mp_record *rec, const layout_opts *o, layout_dims *d, char *blob);

/* The reader's mp_record_fn (user: a const layout_opts *, NULL = PLAIN):
 * runs in parser workers, concurrently, each on a record it owns at that
 * moment; attaches the dims and the blob as the record's annotation.
 * Always keeps the record (returns 0); when the record is too large or
 * memory is short it simply attaches nothing. */
int layout_record_fn(void *user, const mp_record *rec);

/* The blob a worker attached to `rec`, with its dims in *d, or NULL (a
 * damaged record, a record read without layout_record_fn). Borrowed for
 * as long as `rec`. Any thread that may read the record. */
const char *layout_prepared(const mp_record *rec, layout_dims *d);

#endif
