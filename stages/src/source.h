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

/* Bytes read ahead of the first chunk to detect the input format. */
#define MP__LEAD_MAX 4096u

typedef struct mp__src {
    int kind;                 /* enum mp__src_kind */
    int fd;                   /* PATH (owned) and FD (borrowed) */
    int poll;                 /* PATH, FD: not a regular file (a pipe, FIFO, socket,
                               * tty): a read may block, so it is polled in slices */
    const unsigned char *mem; /* MEM: the caller's buffer (borrowed) */
    size_t mem_len, mem_pos;  /* MEM: size and read position */
    mp_read_fn fn;            /* CB */
    void *user;               /* CB */
    uint64_t base;            /* FD: the descriptor's position at open (stream offset 0) */
    /* Lead-in (mp__src_lead_more): bytes read ahead, served first by
     * mp__src_read; the status of the read that ended the lead-in (0, or
     * a negative code) is returned once they are used up. PATH/FD/CB. */
    size_t lead_len, lead_pos;
    int lead_end;    /* 1: the lead-in ended the input (EOF or lead_status) */
    int lead_status; /* 0 at EOF, or the MP_E* code of the failed read */
    int lead_errno;
    unsigned char lead[MP__LEAD_MAX];
} mp__src;

/* Opens a path (MP_ENOENT, MP_EACCES, MP_EIO, MP_EINVAL). */
int mp__src_path(mp__src *s, const char *path);
int mp__src_fd(mp__src *s, int fd);
int mp__src_mem(mp__src *s, const void *data, size_t len);
int mp__src_cb(mp__src *s, mp_read_fn fn, void *user);

/*
 * Reads up to cap bytes: > 0, 0 at the end, or a negative MP_E* code with
 * *sys_errno. EINTR is retried. With a pipe, descriptors that are not
 * regular files (whether given as _fd or opened from a path: a FIFO,
 * /dev/stdin) are polled in slices of at most 50 ms and MP_ECANCELED is
 * returned once the pipe is cancelled; with pipe == NULL reads block.
 */
ssize_t mp__src_read(mp__src *s, unsigned char *buf, size_t cap, int *sys_errno,
                     const mp__pipe *pipe);

/*
 * Format detection reads the first bytes of the input before any chunk
 * exists. mp__src_lead shows them without consuming them: for a memory
 * source the caller's bytes from the current position (*end = 1), for
 * the others the lead-in buffer. mp__src_lead_more reads once more into
 * the lead-in (up to MP__LEAD_MAX bytes): > 0 bytes added, 0 when it
 * cannot add (input ended or failed - the failure is kept and returned
 * by mp__src_read after the lead-in bytes - or the buffer is full).
 * Same thread rules as mp__src_read.
 */
void mp__src_lead(const mp__src *s, const unsigned char **p, size_t *n, int *end);
ssize_t mp__src_lead_more(mp__src *s, const mp__pipe *pipe);

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

/*
 * Random access, for byte ranges (stream offsets: from the source's start;
 * a descriptor's stream starts at its position when the reader opened it).
 * mp__src_size: 1 and *size when the source can be read at any offset
 * (memory; a path or descriptor of a regular file), else 0 (pipes,
 * sockets, callbacks: a range is then found by reading from the start).
 * mp__src_pread: up to n bytes at stream offset off into buf (> 0), 0 past
 * the end, or MP_EIO with *sys_errno; the read position does not move.
 * mp__src_seek: the next read starts at stream offset off (MP_OK or
 * MP_EIO). Only on sources for which mp__src_size said 1, before reading.
 */
int mp__src_size(mp__src *s, uint64_t *size);
ssize_t mp__src_pread(mp__src *s, void *buf, size_t n, uint64_t off, int *sys_errno);
int mp__src_seek(mp__src *s, uint64_t off);

/* 1 when a read never waits for data to arrive (memory, regular files):
 * any thread may then read, also the consumer thread with a deadline. */
int mp__src_never_blocks(const mp__src *s);

/* Closes what the source owns (the descriptor of a path). Idempotent. */
void mp__src_close(mp__src *s);

#endif
