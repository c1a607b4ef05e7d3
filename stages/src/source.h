/*
 * source.h - input sources shared by the pipeline reader and the
 * sequential reader (internal to stages/).
 *
 * A source is used by one thread at a time (the producer task, or the
 * sequential reader's caller); it holds no shared state.
 */
#ifndef MP_SOURCE_H
#define MP_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <marcpipe/reader.h>
#include "pipe.h"

enum mp__src_kind { MP__SRC_PATH = 0, MP__SRC_FD = 1, MP__SRC_MEM = 2, MP__SRC_CB = 3 };

typedef struct mp__src {
    int kind;                 /* enum mp__src_kind */
    int fd;                   /* PATH (owned) and FD (borrowed) */
    const unsigned char *mem; /* MEM: the caller's buffer (borrowed) */
    size_t mem_len, mem_pos;  /* MEM: size and read position */
    mp_read_fn fn;            /* CB */
    void *user;               /* CB */
    int regular;              /* PATH/FD on a regular file: a read never waits for data */
    int64_t size; /* bytes left to read when known at open (regular file, MEM), else -1 */
} mp__src;

/* Opens a path (MP_ENOENT, MP_EACCES, MP_EIO, MP_EINVAL). */
int mp__src_path(mp__src *s, const char *path);
int mp__src_fd(mp__src *s, int fd);
int mp__src_mem(mp__src *s, const void *data, size_t len);
int mp__src_cb(mp__src *s, mp_read_fn fn, void *user);

/*
 * Reads up to cap bytes: > 0, 0 at the end, or a negative MP_E* code with
 * *sys_errno. EINTR is retried. With a pipe, descriptors are polled in
 * slices of at most 50 ms and MP_ECANCELED is returned once the pipe is
 * cancelled; with pipe == NULL reads block.
 */
ssize_t mp__src_read(mp__src *s, unsigned char *buf, size_t cap, int *sys_errno,
                     const mp__pipe *pipe);

/*
 * Zero-copy input for the pipeline (see mp__source.map in pipe.h): a memory
 * source hands out views of the caller's buffer (valid until the reader is
 * closed, by the mp_reader_open_mem contract) instead of copying it into
 * chunks. Files are read with read(): mapping them in chunk-sized windows
 * (tried: mmap per chunk, munmap on recycle) moved the copy cost into page
 * faults and TLB shootdowns in the workers, for no gain measurable on this
 * noisy 2-core machine, and a file shrinking under a mapping would SIGBUS.
 */
int mp__src_can_map(const mp__src *s);
ssize_t mp__src_map(mp__src *s, size_t cap, const unsigned char **data, int *sys_errno);

/* 1 when a read never waits for data to arrive (memory, regular files):
 * any thread may then read, also the consumer thread with a deadline. */
int mp__src_never_blocks(const mp__src *s);

/* Closes what the source owns (the descriptor of a path). Idempotent. */
void mp__src_close(mp__src *s);

#endif
