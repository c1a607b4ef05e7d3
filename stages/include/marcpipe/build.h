/*
 * marcpipe/build.h - building and editing records.
 *
 *     mp_record *rec;
 *     mp_record_new(&rec);                                  // or mp_record_edit(read, &rec)
 *     mp_record_insert_control(rec, MP_END, "001", "ocm42", 5);
 *     mp_record_insert_data(rec, MP_END, "245", '1', '0');
 *     mp_record_insert_subfield(rec, 1, MP_END, 'a', "Title /", 7);
 *     mp_buf out = MP_BUF_INIT;
 *     mp_record_write(rec, MP_FORMAT_ISO2709, 0, &out);      // marcpipe/write.h
 *     mp_record_free(rec);
 *
 * An editable record is an OWNED mp_record: every accessor of record.h
 * works on it and so does every serialiser of write.h. Make one empty
 * (mp_record_new) or as an owned, editable copy of any record - one read
 * from a reader (borrowed or cloned), a view, or another editable record
 * (mp_record_edit) - change it, and free it with mp_record_free. An
 * editable record has no input bytes: mp_record_raw() returns NULL, and
 * the ISO 2709 serialiser recomputes its length, base address and
 * directory. Its leader is kept as set (positions 00-04 and 12-16 are
 * only filled in by the ISO 2709 serialiser's output).
 *
 * Addressing: fields by index 0 .. mp_record_field_count() - 1, as in
 * record.h; subfields by index 0 .. nsubfields - 1 within a data field.
 * An insertion index `at` of MP_END (or the current count) appends.
 *
 * Values: tags are 3 bytes from 0x20-0x7E; indicators one byte from
 * 0x20-0x7E; subfield codes one byte from 0x21-0x7E; values are byte
 * spans (UTF-8 text, not NUL-terminated) that must not hold the ISO 2709
 * separators 0x1E or 0x1F (0x1D is allowed, as in read records). A value
 * may point anywhere, also into the record being edited.
 *
 * Every edit returns MP_OK, MP_EINVAL (not an editable record, an index
 * out of range, a tag, indicator, code or value that breaks the rules
 * above, a subfield edit on a control field or a control-data edit on a
 * data field) or MP_ENOMEM; on failure the record is unchanged.
 *
 * Pointer validity: mp_field / mp_subfield pointers and the spans they
 * hold, taken from an editable record, stay valid until the next edit of
 * that record (an edit may move any of them).
 *
 * Thread-safety: an editable record belongs to one thread at a time;
 * edits must not run concurrently with anything else on the same record,
 * while reads (accessors, serialisers, clones) may run concurrently with
 * each other. Different records are independent.
 */
#ifndef MARCPIPE_BUILD_H
#define MARCPIPE_BUILD_H

#include <stddef.h>
#include <stdint.h>
#include <marcpipe/common.h>
#include <marcpipe/record.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Insertion index meaning "after the last one". */
#define MP_END UINT32_MAX

/* The leader of a new record: pymarc's default ("          22        4500"). */
#define MP_DEFAULT_LEADER "          22        4500"

/*
 * A new, empty editable record with MP_DEFAULT_LEADER. *out owns it (free
 * with mp_record_free). MP_OK, MP_EINVAL (out NULL) or MP_ENOMEM.
 */
MP_EXPORT int mp_record_new(mp_record **out);

/*
 * An editable deep copy of `src` (any record: borrowed from a reader,
 * cloned, a view or editable). The copy is independent of src and of its
 * reader; it keeps src's leader, fields, text (as decoded by the reader),
 * offset and ordinal, but not its error state, annotation or prepared
 * output. Copy-on-write inside: the fields are copied in one block and a
 * field gets storage of its own only when it is edited. *out owns the
 * copy. MP_OK, MP_EINVAL or MP_ENOMEM.
 */
MP_EXPORT int mp_record_edit(const mp_record *src, mp_record **out);

/*
 * A read-only record over the caller's arrays, copied nowhere: `leader`
 * (24 bytes) and `fields` (nfields entries, each with its tag, is_control,
 * data/len for control fields, ind1/ind2 and subfields for data fields;
 * the data/len of a data field is not used) must stay valid and unchanged
 * until mp_record_free(*out), which frees only the small record header.
 * For serialising records kept in another form (a binding's own layout)
 * without building them. No validation: serialisers refuse what they
 * cannot write. MP_OK, MP_EINVAL or MP_ENOMEM.
 */
MP_EXPORT int mp_record_view(mp_record **out, const char *leader, const mp_field *fields,
                             uint32_t nfields);

/* Sets the 24-byte leader (no byte may be NUL, 0x1D, 0x1E or 0x1F). */
MP_EXPORT int mp_record_set_leader(mp_record *rec, const char *leader);

/* Inserts a control field (tag, data) before index `at` (MP_END: append). */
MP_EXPORT int mp_record_insert_control(mp_record *rec, uint32_t at, const char *tag,
                                       const char *data, size_t len);

/* Inserts a data field with no subfields yet before index `at`. */
MP_EXPORT int mp_record_insert_data(mp_record *rec, uint32_t at, const char *tag, char ind1,
                                    char ind2);

/*
 * Inserts a copy of `f` (from any record, also this one) before index
 * `at`: a control field when f->is_control (f->data/len), else a data
 * field (f->ind1, f->ind2, f->subfields).
 */
MP_EXPORT int mp_record_insert_field(mp_record *rec, uint32_t at, const mp_field *f);

/* Replaces field i by a copy of `f` (may be field i itself or any other). */
MP_EXPORT int mp_record_replace_field(mp_record *rec, uint32_t i, const mp_field *f);

/* Removes field i. */
MP_EXPORT int mp_record_remove_field(mp_record *rec, uint32_t i);

/* Changes the tag of field i (control or data stays as it is). */
MP_EXPORT int mp_record_set_tag(mp_record *rec, uint32_t i, const char *tag);

/* Replaces the data of control field i. */
MP_EXPORT int mp_record_set_data(mp_record *rec, uint32_t i, const char *data, size_t len);

/* Sets both indicators of data field i. */
MP_EXPORT int mp_record_set_indicators(mp_record *rec, uint32_t i, char ind1, char ind2);

/* Inserts subfield (code, value) into data field i before subfield `at`. */
MP_EXPORT int mp_record_insert_subfield(mp_record *rec, uint32_t i, uint32_t at, char code,
                                        const char *value, size_t len);

/* Replaces subfield j of data field i by (code, value). */
MP_EXPORT int mp_record_set_subfield(mp_record *rec, uint32_t i, uint32_t j, char code,
                                     const char *value, size_t len);

/* Removes subfield j of data field i. */
MP_EXPORT int mp_record_remove_subfield(mp_record *rec, uint32_t i, uint32_t j);

#ifdef __cplusplus
}
#endif
#endif
