/*
 * pipe_read.c - reading MARC from a pipe (or any non-seekable descriptor).
 *
 *     cat books.mrc | ./pipe_read          # standard input
 *     ./pipe_read books.mrc                # forks a writer child, reads its pipe
 *
 * mp_reader_open_fd() borrows the descriptor (the reader never closes
 * it) and read()s it into pooled chunk buffers, so memory stays bounded
 * however long the stream is, and a slow writer simply makes the pipeline
 * wait. Prints "records N errors M bytes B".
 *
 * Exit status: 0 clean, 1 data errors reported, 2 open/read failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <marcpipe/marcpipe.h>

/* The child: copies the file into the pipe in small, uneven pieces. */
static int writer(const char *path, int out)
{
    int in = open(path, O_RDONLY);
    if (in < 0)
        return 1;
    char buf[3000]; /* deliberately not a record or chunk size */
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return 1;
            off += w;
        }
    }
    close(in);
    return n < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    int fd = STDIN_FILENO;
    pid_t child = -1;
    if (argc == 2) {
        int p[2];
        if (pipe(p) != 0) {
            perror("pipe");
            return 2;
        }
        child = fork();
        if (child < 0) {
            perror("fork");
            return 2;
        }
        if (child == 0) { /* writer: no marcpipe here (no threads were started yet) */
            close(p[0]);
            _exit(writer(argv[1], p[1]));
        }
        close(p[1]);
        fd = p[0];
    } else if (argc > 2) {
        fprintf(stderr, "usage: %s [FILE.mrc]   (without FILE: standard input)\n", argv[0]);
        return 2;
    }

    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.chunk_size = 64 * 1024; /* smaller chunks: a pipe delivers 64 KiB at most per read */
    mp_reader *r = NULL;
    int status = 0;
    int rc = mp_reader_open_fd(&r, fd, &o);
    if (rc != MP_OK) {
        fprintf(stderr, "open: %s\n", mp_strerror(rc));
        status = 2;
        goto out;
    }
    const mp_record *rec;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD) {
        if (rc == MP_ERECORD) {
            const mp_error_info *e = mp_reader_error(r);
            fprintf(stderr, "%s: %s\n", mp_error_kind_name(e->kind), e->message);
        }
    }
    uint64_t records, errors, bytes;
    mp_reader_counts(r, &records, &errors, &bytes);
    if (rc != MP_EOF) {
        fprintf(stderr, "read: %s: %s\n", mp_strerror(rc), mp_reader_error(r)->message);
        status = 2;
    } else if (errors > 0) {
        status = 1;
    }
    printf("records %llu errors %llu bytes %llu\n", (unsigned long long)records,
           (unsigned long long)errors, (unsigned long long)bytes);
    mp_reader_close(r);

out:
    if (child > 0) {
        int ws;
        close(fd); /* a writer still running gets EPIPE instead of blocking */
        while (waitpid(child, &ws, 0) < 0 && errno == EINTR)
            ;
        if (status == 0 && (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)) {
            fprintf(stderr, "writer failed (cannot read %s?)\n", argv[1]);
            status = 2;
        }
    }
    return status;
}
