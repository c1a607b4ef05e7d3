/*
 * marcfix.h - MARC fixtures built in code for the stages suites.
 *
 * Records are written byte by byte (leader, directory, fields), so the
 * suites do not depend on ../shared/data; damaged variants are made by
 * editing the bytes of a well-formed stream. Single-threaded helpers;
 * every buffer is owned by its mf_buf (free with mf_free). Allocation
 * failures abort (these are test helpers).
 */
#ifndef MP_TEST_MARCFIX_H
#define MP_TEST_MARCFIX_H

#include <stddef.h>
#include <stdint.h>

typedef struct mf_buf {
    unsigned char *p;
    size_t len, cap;
} mf_buf;

void mf_init(mf_buf *b);
void mf_free(mf_buf *b);
void mf_append(mf_buf *b, const void *p, size_t n);
void mf_appends(mf_buf *b, const char *s);

/*
 * Appends one ISO 2709 record. `leader` gives leader bytes 5-11 and 17-23
 * as one 14-character string ("nam a22" + " a 4500"), NULL: "nam a22" +
 * " a 4500" (UTF-8 coding). Each field is "TAG" followed by its body; for
 * data fields the body is two indicators then subfields, where '$' stands
 * for the 0x1F delimiter ("24510$aTitle /$cBy me."). Returns the offset of
 * the record in b. When the record is longer than 99999 bytes its leader
 * says 99999 (as bad_hathi_records.mrc does).
 */
size_t mf_record(mf_buf *b, const char *leader, const char *const *fields, size_t nfields);

/*
 * Appends `n` varied, valid records (deterministic for a seed): sizes from
 * ~60 bytes to a few KiB, 001 = "cn<ordinal>", a few data fields with
 * several subfields. Offsets of the records go to offs[] when not NULL
 * (n + 1 entries: the last is the end).
 */
void mf_sample(mf_buf *b, unsigned n, unsigned seed, size_t *offs);

/* Appends one valid record of about `target` bytes (fields of <= 9000 bytes). */
size_t mf_big_record(mf_buf *b, size_t target, unsigned seed);

/*
 * Appends a hostile but well-framed record: `nentries` directory entries
 * (tag 245) that all point at the same data field of `field_len` (4..9999)
 * bytes, packed with one-letter subfields. Its leader length is right (or
 * 99999 past that). `leader` as for mf_record. Returns its offset.
 */
size_t mf_overlap_record(mf_buf *b, size_t nentries, size_t field_len, const char *leader);

/* Overwrites the 5-digit leader length of the record at `off`. */
void mf_set_length(mf_buf *b, size_t off, const char *five);

/* Inserts bytes at `at` (shifting the rest). */
void mf_insert(mf_buf *b, size_t at, const void *p, size_t n);

/* Deletes n bytes at `at`. */
void mf_delete(mf_buf *b, size_t at, size_t n);

/* Reads a whole file (NULL when it cannot be read). */
unsigned char *mf_read_file(const char *path, size_t *len);

#endif

/* ---- collecting what a reader yields (for parity checks) ----------------- */

#include <marcpipe/marcpipe.h>

typedef struct mf_item {
    int rc;          /* MP_OK or MP_ERECORD */
    int kind;        /* mp_error_kind (0 for good records) */
    int has_rec;     /* a record came with it */
    uint64_t offset; /* stream offset */
    uint64_t length; /* bytes */
    uint64_t ordinal;
    uint32_t nfields;
    uint64_t hash; /* FNV-1a over the record's index and text */
} mf_item;

typedef struct mf_seq {
    mf_item *v;
    size_t n, cap;
    int end_rc;       /* the terminal code (MP_EOF, MP_EIO, ...) */
    uint64_t end_off; /* mp_error_info.offset of the terminal code */
} mf_seq;

void mf_seq_free(mf_seq *s);
uint64_t mf_record_hash(const mp_record *rec);
/* Reads everything from r (either mode). */
int mf_collect(mf_seq *s, mp_reader *r);
/* o (NULL: defaults) with mode = MP_MODE_SEQUENTIAL; a per-thread copy,
 * valid until the next call on the same thread. */
const mp_reader_options *mf_seqopts(const mp_reader_options *o);
/* First index where a and b differ (a->n == b->n and ends equal: -1). */
long mf_seq_diff(const mf_seq *a, const mf_seq *b);
