/*
 * corpus.h - the shared corpus of real MARC files for the C tests.
 *
 * One place that says where the corpus is ($MARCPIPE_CORPUS, by default
 * the source tree's ../shared/data) and which of its files are MARC, for
 * every suite and stress program that walks it. Single-threaded helpers;
 * a list is owned by its mf_corpus (free with mf_corpus_free). Allocation
 * failures abort (these are test helpers).
 */
#ifndef MP_TEST_CORPUS_H
#define MP_TEST_CORPUS_H

#include <stddef.h>
#include <stdint.h>

/*
 * The corpus directory: $MARCPIPE_CORPUS when set and non-empty, else the
 * build's default (MF_CORPUS_DEFAULT, set by test/CMakeLists.txt). Never
 * NULL; check it with mf_is_dir() before walking it.
 */
const char *mf_corpus_dir(void);

/* 1 when path names a directory (symbolic links followed). */
int mf_is_dir(const char *path);

/* 1 when a file name has a MARC extension: .mrc .marc .dat .usmarc .iso */
int mf_is_marc_name(const char *name);

typedef struct mf_corpus_file {
    char *path;    /* dir + "/" + relative path */
    uint64_t size; /* bytes, as stat() saw them */
} mf_corpus_file;

typedef struct mf_corpus {
    mf_corpus_file *v;
    size_t n;
} mf_corpus;

/*
 * Lists the regular files with a MARC name under dir, in subdirectories
 * too (at most 3 levels down), skipping names that start with '.', sorted
 * by path so that runs are reproducible. A missing or unreadable dir gives
 * an empty list. Returns c->n.
 */
size_t mf_corpus_list(mf_corpus *c, const char *dir);

void mf_corpus_free(mf_corpus *c);

#endif
