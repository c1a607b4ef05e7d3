/*
 * isbn_index.c - build an ISBN -> title index from a MARC file and print
 * it sorted by ISBN, one "ISBN<TAB>title" line per ISBN.
 *
 *     ./isbn_index books.mrc > index.tsv
 *
 * Shows: reading with the pipeline reader, finding repeated fields
 * (mp_record_find over every 020) and subfields, and the lifetime rule of
 * marcpipe records: a record and every span in it are BORROWED until the
 * next mp_reader_next() call, so whatever is kept must be copied (here
 * with strndup; mp_record_clone() copies a whole record).
 *
 * Damaged records are reported on stderr and skipped; the index is still
 * built from everything else. Exit status: 0 clean, 1 data errors were
 * reported, 2 the file could not be opened or read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <marcpipe/marcpipe.h>

typedef struct entry {
    char *isbn;
    char *title;
} entry;

typedef struct index_t {
    entry *v;
    size_t n, cap;
} index_t;

/* Keeps the ISBN proper: "9780471383147 (paper)" -> "9780471383147". */
static size_t isbn_len(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != ' ' && s[i] != '(' && s[i] != ':' && s[i] != ';')
        i++;
    return i;
}

/* Drops ISBD punctuation at the end of a title: "Title :" -> "Title". */
static size_t title_len(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == ':' || s[n - 1] == '/' || s[n - 1] == ';' ||
                     s[n - 1] == ',' || s[n - 1] == '.' || s[n - 1] == '='))
        n--;
    return n;
}

static int add(index_t *ix, const char *isbn, size_t il, const char *title, size_t tl)
{
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? ix->cap * 2 : 256;
        entry *v = realloc(ix->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        ix->v = v;
        ix->cap = cap;
    }
    entry *e = &ix->v[ix->n];
    e->isbn = strndup(isbn, il);
    e->title = strndup(title, tl);
    if (e->isbn == NULL || e->title == NULL) {
        free(e->isbn);
        free(e->title);
        return -1;
    }
    ix->n++;
    return 0;
}

static int by_isbn(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->isbn, y->isbn);
    return c != 0 ? c : strcmp(x->title, y->title);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.mrc\n", argv[0]);
        return 2;
    }
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    mp_reader *r = NULL;
    index_t ix = {NULL, 0, 0};
    int status = 0;
    int rc = mp_reader_open_path(&r, argv[1], &o);
    if (rc != MP_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], mp_strerror(rc));
        return 2;
    }

    const mp_record *rec;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
        if (rc == MP_ERECORD) {
            const mp_error_info *e = mp_reader_error(r);
            fprintf(stderr, "record %llu at offset %llu: %s: %s\n", (unsigned long long)e->ordinal,
                    (unsigned long long)e->offset, mp_error_kind_name(e->kind), e->message);
            status = 1;
            continue;
        }
        const char *title = "";
        size_t tl = 0;
        uint32_t sp = 0;
        const mp_field *f245 = mp_record_first(rec, "245");
        const mp_subfield *ta = f245 ? mp_field_subfield(f245, 'a', &sp) : NULL;
        if (ta != NULL) {
            title = ta->data;
            tl = title_len(ta->data, ta->len);
        }
        uint32_t pos = 0;
        const mp_field *f;
        while ((f = mp_record_find(rec, "020", &pos)) != NULL) {
            uint32_t spos = 0;
            const mp_subfield *a;
            while ((a = mp_field_subfield(f, 'a', &spos)) != NULL) {
                size_t il = isbn_len(a->data, a->len);
                if (il > 0 && add(&ix, a->data, il, title, tl) != 0) {
                    fprintf(stderr, "out of memory\n");
                    status = 2;
                    goto done;
                }
            }
        }
    }
    if (rc != MP_EOF) {
        const mp_error_info *e = mp_reader_error(r);
        fprintf(stderr, "%s: %s: %s\n", argv[1], mp_strerror(rc), e ? e->message : "");
        status = 2;
    }

    qsort(ix.v, ix.n, sizeof *ix.v, by_isbn);
    for (size_t i = 0; i < ix.n; i++)
        printf("%s\t%s\n", ix.v[i].isbn, ix.v[i].title);

done:
    for (size_t i = 0; i < ix.n; i++) {
        free(ix.v[i].isbn);
        free(ix.v[i].title);
    }
    free(ix.v);
    mp_reader_close(r);
    return status;
}
