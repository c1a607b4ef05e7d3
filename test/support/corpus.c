/* corpus.c - the shared corpus of real MARC files (see corpus.h). */
#include "corpus.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef MF_CORPUS_DEFAULT
#define MF_CORPUS_DEFAULT "../shared/data"
#endif

/* Deep enough for the corpus's one level of folders, bounded against link loops. */
#define MF_CORPUS_MAX_DEPTH 3

const char *mf_corpus_dir(void)
{
    const char *env = getenv("MARCPIPE_CORPUS");
    return env && *env ? env : MF_CORPUS_DEFAULT;
}

int mf_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int mf_is_marc_name(const char *name)
{
    static const char *const ext[] = {".mrc", ".marc", ".dat", ".usmarc", ".iso"};
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        return 0;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (!strcmp(dot, ext[i]))
            return 1;
    return 0;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "corpus: out of memory\n");
        abort();
    }
    return p;
}

static void add(mf_corpus *c, const char *path, uint64_t size, size_t *cap)
{
    if (c->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        c->v = xrealloc(c->v, *cap * sizeof *c->v);
    }
    size_t len = strlen(path) + 1;
    c->v[c->n].path = memcpy(xrealloc(NULL, len), path, len);
    c->v[c->n].size = size;
    c->n++;
}

static void walk(mf_corpus *c, const char *dir, int depth, size_t *cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < MF_CORPUS_MAX_DEPTH)
                walk(c, path, depth + 1, cap);
        } else if (S_ISREG(st.st_mode) && mf_is_marc_name(e->d_name)) {
            add(c, path, (uint64_t)st.st_size, cap);
        }
    }
    closedir(d);
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const mf_corpus_file *)a)->path, ((const mf_corpus_file *)b)->path);
}

size_t mf_corpus_list(mf_corpus *c, const char *dir)
{
    size_t cap = 0;
    c->v = NULL;
    c->n = 0;
    walk(c, dir, 0, &cap);
    if (c->n > 1)
        qsort(c->v, c->n, sizeof *c->v, by_path);
    return c->n;
}

void mf_corpus_free(mf_corpus *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].path);
    free(c->v);
    c->v = NULL;
    c->n = 0;
}
