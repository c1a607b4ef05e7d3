/* Prints the title (245 $a) of every record; the example in README.md. */
#include <stdio.h>
#include <marcpipe/marcpipe.h>

int main(int argc, char **argv)
{
    mp_reader *r;
    mp_reader_options o = MP_READER_OPTIONS_INIT; /* o.threads = 4, o.policy = ... */
    if (argc < 2 || mp_reader_open_path(&r, argv[1], &o) != MP_OK)
        return 2;
    const mp_record *rec;
    int rc;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
        if (rc == MP_ERECORD) { /* a damaged record: report it and go on */
            fprintf(stderr, "skipped: %s\n", mp_reader_error(r)->message);
            continue;
        }
        uint32_t pos = 0;
        const mp_field *f = mp_record_first(rec, "245");
        const mp_subfield *a = f ? mp_field_subfield(f, 'a', &pos) : NULL;
        if (a != NULL)
            printf("%.*s\n", (int)a->len, a->data);
    }
    mp_reader_close(r);
    return rc == MP_EOF ? 0 : 1; /* MP_EOF: the whole input was read */
}
