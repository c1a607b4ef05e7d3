/*
 * source.c - path, descriptor, memory and callback sources (see source.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "source.h"

static int mp__errno_code(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return MP_ENOENT;
    case EACCES:
    case EPERM:
        return MP_EACCES;
    case ENOMEM:
        return MP_ENOMEM;
    case EISDIR:
        return MP_EISDIR;
    default:
        return MP_EIO;
    }
}

int mp__src_path(mp__src *s, const char *path)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    if (!path)
        return MP_EINVAL;
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return mp__errno_code(errno);
    struct stat st;
    int fs = fstat(fd, &st);
    if (fs == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return MP_EISDIR;
    }
    s->poll = fs != 0 || !S_ISREG(st.st_mode);
#ifdef POSIX_FADV_SEQUENTIAL
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    s->kind = MP__SRC_PATH;
    s->fd = fd;
    return MP_OK;
}

int mp__src_fd(mp__src *s, int fd)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    if (fd < 0)
        return MP_EINVAL;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
        return MP_EISDIR; /* read() would fail with EISDIR: say so at open */
    s->kind = MP__SRC_FD;
    s->fd = fd;
    s->poll = fstat(fd, &st) != 0 || !S_ISREG(st.st_mode);
    return MP_OK;
}

int mp__src_mem(mp__src *s, const void *data, size_t len)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    if (!data && len)
        return MP_EINVAL;
    s->kind = MP__SRC_MEM;
    s->mem = data;
    s->mem_len = len;
    return MP_OK;
}

int mp__src_cb(mp__src *s, mp_read_fn fn, void *user)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    if (!fn)
        return MP_EINVAL;
    s->kind = MP__SRC_CB;
    s->fn = fn;
    s->user = user;
    return MP_OK;
}

static ssize_t mp__src_read_raw(mp__src *s, unsigned char *buf, size_t cap, int *sys_errno,
                                const mp__pipe *pipe);

ssize_t mp__src_read(mp__src *s, unsigned char *buf, size_t cap, int *sys_errno,
                     const mp__pipe *pipe)
{
    *sys_errno = 0;
    if (s->kind != MP__SRC_MEM) {
        if (s->lead_pos < s->lead_len) {
            /* A short read: a pipe's first bytes are not held back. */
            size_t n = s->lead_len - s->lead_pos;
            if (n > cap)
                n = cap;
            memcpy(buf, s->lead + s->lead_pos, n);
            s->lead_pos += n;
            return (ssize_t)n;
        }
        if (s->lead_end) {
            *sys_errno = s->lead_errno;
            return s->lead_status;
        }
    }
    return mp__src_read_raw(s, buf, cap, sys_errno, pipe);
}

void mp__src_lead(const mp__src *s, const unsigned char **p, size_t *n, int *end)
{
    if (s->kind == MP__SRC_MEM) {
        *p = s->mem + s->mem_pos;
        *n = s->mem_len - s->mem_pos;
        *end = 1;
        return;
    }
    *p = s->lead + s->lead_pos;
    *n = s->lead_len - s->lead_pos;
    *end = s->lead_end;
}

ssize_t mp__src_lead_more(mp__src *s, const mp__pipe *pipe)
{
    if (s->kind == MP__SRC_MEM || s->lead_end || s->lead_len == MP__LEAD_MAX)
        return 0;
    int se = 0;
    ssize_t n = mp__src_read_raw(s, s->lead + s->lead_len, MP__LEAD_MAX - s->lead_len, &se, pipe);
    if (n > 0) {
        s->lead_len += (size_t)n;
        return n;
    }
    s->lead_end = 1;
    s->lead_status = (int)n;
    s->lead_errno = se;
    return 0;
}

static ssize_t mp__src_read_raw(mp__src *s, unsigned char *buf, size_t cap, int *sys_errno,
                                const mp__pipe *pipe)
{
    *sys_errno = 0;
    switch (s->kind) {
    case MP__SRC_MEM: {
        size_t n = s->mem_len - s->mem_pos;
        if (n > cap)
            n = cap;
        memcpy(buf, s->mem + s->mem_pos, n);
        s->mem_pos += n;
        return (ssize_t)n;
    }
    case MP__SRC_CB: {
        int se = 0;
        ssize_t n = s->fn(s->user, buf, cap, &se);
        if (n < 0) {
            *sys_errno = se;
            return MP_EIO; /* any failure of the callback is an I/O error */
        }
        return n > (ssize_t)cap ? (ssize_t)cap : n;
    }
    default:
        break;
    }
    for (;;) {
        if (pipe && mp__pipe_input_stopped(pipe))
            return MP_ECANCELED;
        if (pipe && s->poll) {
            /* Slices of 50 ms so a cancel is seen while a pipe is quiet. */
            struct pollfd pfd = {s->fd, POLLIN, 0};
            int pr = poll(&pfd, 1, 50);
            if (pr < 0 && errno != EINTR) {
                *sys_errno = errno;
                return MP_EIO;
            }
            if (pr <= 0)
                continue;
        }
        ssize_t n = read(s->fd, buf, cap);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (!pipe) { /* blocking caller on a non-blocking descriptor */
                struct pollfd pfd = {s->fd, POLLIN, 0};
                (void)poll(&pfd, 1, 50);
            }
            continue;
        }
        *sys_errno = errno;
        return MP_EIO;
    }
}

int mp__src_never_blocks(const mp__src *s)
{
    return s->kind == MP__SRC_MEM ||
           ((s->kind == MP__SRC_PATH || s->kind == MP__SRC_FD) && !s->poll);
}

int mp__src_can_map(const mp__src *s)
{
    return s->kind == MP__SRC_MEM;
}

ssize_t mp__src_map(mp__src *s, size_t cap, const unsigned char **data, int *sys_errno)
{
    *sys_errno = 0;
    size_t n = s->mem_len - s->mem_pos;
    if (n > cap)
        n = cap;
    *data = s->mem + s->mem_pos;
    s->mem_pos += n;
    return (ssize_t)n;
}

int mp__src_size(mp__src *s, uint64_t *size)
{
    struct stat st;
    switch (s->kind) {
    case MP__SRC_MEM:
        *size = s->mem_len;
        return 1;
    case MP__SRC_PATH:
    case MP__SRC_FD:
        if (fstat(s->fd, &st) != 0 || !S_ISREG(st.st_mode))
            return 0;
        if (s->kind == MP__SRC_FD) {
            off_t cur = lseek(s->fd, 0, SEEK_CUR);
            if (cur < 0)
                return 0;
            s->base = (uint64_t)cur;
        }
        *size = (uint64_t)st.st_size > s->base ? (uint64_t)st.st_size - s->base : 0;
        return 1;
    default:
        return 0;
    }
}

ssize_t mp__src_pread(mp__src *s, void *buf, size_t n, uint64_t off, int *sys_errno)
{
    *sys_errno = 0;
    if (s->kind == MP__SRC_MEM) {
        if (off >= s->mem_len)
            return 0;
        size_t k = s->mem_len - (size_t)off < n ? s->mem_len - (size_t)off : n;
        memcpy(buf, s->mem + off, k);
        return (ssize_t)k;
    }
    for (;;) {
        ssize_t k = pread(s->fd, buf, n, (off_t)(s->base + off));
        if (k >= 0)
            return k;
        if (errno != EINTR) {
            *sys_errno = errno;
            return MP_EIO;
        }
    }
}

int mp__src_seek(mp__src *s, uint64_t off)
{
    if (s->kind == MP__SRC_MEM) {
        s->mem_pos = off < s->mem_len ? (size_t)off : s->mem_len;
        return MP_OK;
    }
    return lseek(s->fd, (off_t)(s->base + off), SEEK_SET) < 0 ? MP_EIO : MP_OK;
}

void mp__src_close(mp__src *s)
{
    if (s->kind == MP__SRC_PATH && s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
}
