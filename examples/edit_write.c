/*
 * edit_write.c - fix records and save them: every good record of IN gets
 * its local 9XX fields removed and a 999 $a "checked" $b <ordinal> added,
 * then is written to OUT as ISO 2709 (or MARCXML with -x). Damaged records
 * are reported on stderr and left out.
 *
 *     edit_write [-x] IN OUT
 *
 * Shows: mp_record_edit (an owned, editable copy of a borrowed record),
 * the editing calls of <marcpipe/build.h>, and an mp_writer
 * (<marcpipe/write.h>) that frames the output (the MARCXML <collection>)
 * and recomputes each record's leader and directory.
 * Exit status: 0 all records written, 1 some were damaged or refused,
 * 2 the input or output failed.
 */
#include <stdio.h>
#include <string.h>
#include <marcpipe/marcpipe.h>

/* The edits, on an editable record. MP_OK or the first failure. */
static int fix(mp_record *rec, uint64_t ordinal)
{
    int rc;
    /* Backwards, so that removing a field does not move the ones still to see. */
    for (uint32_t i = mp_record_field_count(rec); i-- > 0;)
        if (mp_record_field(rec, i)->tag[0] == '9' && (rc = mp_record_remove_field(rec, i)) < 0)
            return rc;
    char num[24];
    int n = snprintf(num, sizeof num, "%llu", (unsigned long long)ordinal);
    uint32_t at = mp_record_field_count(rec);
    if ((rc = mp_record_insert_data(rec, MP_END, "999", ' ', ' ')) < 0 ||
        (rc = mp_record_insert_subfield(rec, at, MP_END, 'a', "checked", 7)) < 0 ||
        (rc = mp_record_insert_subfield(rec, at, MP_END, 'b', num, (size_t)n)) < 0)
        return rc;
    return MP_OK;
}

int main(int argc, char **argv)
{
    int xml = argc > 1 && strcmp(argv[1], "-x") == 0;
    if (argc - xml != 3) {
        fprintf(stderr, "usage: edit_write [-x] IN OUT\n");
        return 2;
    }
    const char *in = argv[1 + xml], *out = argv[2 + xml];
    mp_reader *r = NULL;
    mp_writer *w = NULL;
    mp_writer_options wo = MP_WRITER_OPTIONS_INIT;
    wo.format = xml ? MP_FORMAT_MARCXML : MP_FORMAT_ISO2709;
    int rc = mp_reader_open_path(&r, in, NULL);
    if (rc == MP_OK)
        rc = mp_writer_open_path(&w, out, &wo);
    if (rc != MP_OK) {
        fprintf(stderr, "edit_write: %s\n", mp_strerror(rc));
        mp_reader_close(r);
        return 2;
    }
    int status = 0;
    const mp_record *rec;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
        if (rc == MP_ERECORD) {
            fprintf(stderr, "left out: %s\n", mp_reader_error(r)->message);
            status = 1;
            continue;
        }
        mp_record *copy; /* rec is borrowed until the next call: edit a copy */
        int erc = mp_record_edit(rec, &copy);
        if (erc == MP_OK)
            erc = fix(copy, mp_record_ordinal(rec));
        if (erc == MP_OK)
            erc = mp_writer_write(w, copy);
        mp_record_free(copy);
        if (erc == MP_ETOOBIG) { /* over ISO 2709's 99,999 bytes */
            fprintf(stderr, "not written: record %llu: %s\n",
                    (unsigned long long)mp_record_ordinal(rec), mp_strerror(erc));
            status = 1;
        } else if (erc != MP_OK) {
            rc = erc;
            break;
        }
    }
    int wrc = mp_writer_close(w); /* the footer, then flush */
    mp_reader_close(r);
    if (rc != MP_EOF || wrc != MP_OK) {
        fprintf(stderr, "edit_write: %s\n", mp_strerror(rc != MP_EOF ? rc : wrc));
        return 2;
    }
    return status;
}
