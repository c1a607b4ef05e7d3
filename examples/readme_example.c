/* Prints 245 $a of every record; damaged records are reported and skipped. */
#include <stdio.h>
#include <marcpipe/marcpipe.h>

int main(int argc, char **argv)
{
    mp_reader *r;
    if (argc < 2 || mp_reader_open_path(&r, argv[1], NULL) != MP_OK)
        return 2;
    const mp_record *rec;
    int rc;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
        uint32_t pos = 0;
        const mp_field *f = rc == MP_OK ? mp_record_first(rec, "245") : NULL;
        const mp_subfield *a = f ? mp_field_subfield(f, 'a', &pos) : NULL;
        if (rc == MP_ERECORD)
            fprintf(stderr, "skipped: %s\n", mp_reader_error(r)->message);
        else if (a)
            printf("%.*s\n", (int)a->len, a->data);
    }
    mp_reader_close(r);
    return rc == MP_EOF ? 0 : 1; /* MP_EOF: the whole input was read */
}
