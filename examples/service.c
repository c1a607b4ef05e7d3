/*
 * service.c - a small long-running service that reads many MARC files
 * concurrently on ONE shared mp_pool.
 *
 *     ./service [--threads P] [--clients K]                 paths on stdin
 *     ./service [--threads P] [--clients K] --listen PORT   paths over TCP
 *
 * For every file path it receives (one per line) it answers one line:
 *
 *     path<TAB>records<TAB>errors        good records, error items
 *     path<TAB>ERROR<TAB>message          the file could not be opened or read
 *
 * Answers come in completion order, not request order. With --listen it
 * accepts loopback TCP connections on 127.0.0.1:PORT (0: any free port,
 * printed as "listening on 127.0.0.1:PORT"); each connection sends paths and
 * gets its answers back on the same connection, which the service closes
 * once the client has shut down its sending side and every answer is sent.
 * SIGINT/SIGTERM end the TCP service after the answers in progress. In
 * stdin mode the service ends after the last answer once stdin is closed.
 *
 * Architecture (no locks anywhere):
 *  - one mp_pool of P worker threads parses for every reader;
 *  - K client threads each own the reader they open for their current file
 *    (opts.pool = the shared pool), so K files are read at once with P+K
 *    threads in total, however many files or connections there are;
 *  - work travels in "packet mode" pipes (pipe2 O_DIRECT): every write() of
 *    at most PIPE_BUF bytes is one message and every read() takes exactly
 *    one, so several client threads can take jobs from one pipe and send
 *    answers into another without any user-space synchronisation;
 *  - the main thread owns everything else (input, connections, the queue of
 *    jobs not yet sent) in one poll() loop. It keeps at most K*2 jobs in
 *    the pipes, so neither pipe can fill up and block (a pipe holds 16
 *    messages).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <marcpipe/marcpipe.h>

#define MAX_CONNS    64
#define MAX_CLIENTS  16
#define LINE_MAX_LEN 3900 /* a path plus a job header fits in PIPE_BUF */

/* One message in a pipe: who asked (connection index, 0 = stdin) + text. */
typedef struct msg {
    uint32_t conn;
    char text[PIPE_BUF - sizeof(uint32_t)];
} msg;

/* An input connection; owned by the main thread only. */
typedef struct conn {
    int fd; /* -1: slot free */
    char buf[LINE_MAX_LEN + 1];
    size_t len;         /* bytes of an incomplete line in buf */
    unsigned in_flight; /* jobs sent for this connection, not yet answered */
    int eof;            /* the client shut down its sending side */
} conn;

/* A job not yet written to the job pipe; owned by the main thread only. */
typedef struct job {
    struct job *next;
    uint32_t conn;
    char path[];
} job;

/* Set once before the client threads start; read-only afterwards. */
static mp_pool *pool;
static int jobs_rd, jobs_wr;       /* job pipe: main writes, clients read */
static int answers_rd, answers_wr; /* answer pipe: clients write, main reads */
static int signal_wr = -1;         /* self-pipe written by the signal handler */

static void on_signal(int sig)
{
    char c = (char)sig;
    ssize_t ignored = write(signal_wr, &c, 1); /* async-signal-safe */
    (void)ignored;
}

/* Counts one file with a reader owned by this client thread. Writes the
 * answer line into out (a path is at most LINE_MAX_LEN, so it fits). */
static int count_file(const char *path, char *out, size_t cap)
{
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.pool = pool; /* shared: no threads are started per reader */
    mp_reader *r = NULL;
    int rc = mp_reader_open_path(&r, path, &o);
    if (rc != MP_OK) {
        return snprintf(out, cap, "%s\tERROR\t%s\n", path, mp_strerror(rc));
    }
    const mp_record *rec;
    while ((rc = mp_reader_next(r, &rec)) == MP_OK || rc == MP_ERECORD)
        ; /* every record is parsed and validated by the pool */
    uint64_t records, errors, bytes;
    mp_reader_counts(r, &records, &errors, &bytes);
    int len;
    if (rc == MP_EOF)
        len = snprintf(out, cap, "%s\t%llu\t%llu\n", path, (unsigned long long)records,
                       (unsigned long long)errors);
    else
        len = snprintf(out, cap, "%s\tERROR\t%s\n", path, mp_strerror(rc));
    mp_reader_close(r);
    return len;
}

static void *client_main(void *arg)
{
    (void)arg;
    msg in, out;
    for (;;) {
        ssize_t n = read(jobs_rd, &in, sizeof in); /* exactly one job */
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= (ssize_t)sizeof in.conn) /* 0: main closed the pipe: shut down */
            break;
        in.text[n - sizeof in.conn - 1] = '\0';
        out.conn = in.conn;
        int tl = count_file(in.text, out.text, sizeof out.text);
        if (tl < 0 || (size_t)tl >= sizeof out.text) /* cannot happen: paths are short */
            tl = (int)strlen(out.text);
        size_t len = sizeof out.conn + (size_t)tl;
        while (write(answers_wr, &out, len) < 0 && errno == EINTR) /* one answer */
            ;
    }
    return NULL;
}

/* Main-thread state. */
static conn conns[MAX_CONNS];
static job *queue_head, *queue_tail;
static unsigned queued, in_pipe, max_in_pipe;

static int enqueue(uint32_t c, const char *path, size_t len)
{
    while (len > 0 && (path[len - 1] == '\r' || path[len - 1] == ' '))
        len--;
    if (len == 0)
        return 0;
    job *j = malloc(sizeof *j + len + 1);
    if (j == NULL)
        return -1;
    j->next = NULL;
    j->conn = c;
    memcpy(j->path, path, len);
    j->path[len] = '\0';
    if (queue_tail)
        queue_tail->next = j;
    else
        queue_head = j;
    queue_tail = j;
    queued++;
    conns[c].in_flight++;
    return 0;
}

/* Moves queued jobs into the job pipe while fewer than max_in_pipe are there. */
static void dispatch(void)
{
    while (queue_head != NULL && in_pipe < max_in_pipe) {
        job *j = queue_head;
        msg m;
        m.conn = j->conn;
        size_t len = strlen(j->path) + 1;
        memcpy(m.text, j->path, len);
        while (write(jobs_wr, &m, sizeof m.conn + len) < 0 && errno == EINTR)
            ;
        queue_head = j->next;
        if (queue_head == NULL)
            queue_tail = NULL;
        free(j);
        queued--;
        in_pipe++;
    }
}

/* Splits complete lines out of a connection's buffer into jobs. */
static int take_lines(uint32_t c, int final)
{
    conn *k = &conns[c];
    size_t start = 0;
    for (size_t i = 0; i < k->len; i++) {
        if (k->buf[i] == '\n') {
            if (enqueue(c, k->buf + start, i - start) != 0)
                return -1;
            start = i + 1;
        }
    }
    memmove(k->buf, k->buf + start, k->len - start);
    k->len -= start;
    if (final || k->len == LINE_MAX_LEN) { /* last line without '\n', or an overlong one */
        if (enqueue(c, k->buf, k->len) != 0)
            return -1;
        k->len = 0;
    }
    return 0;
}

static void close_if_done(uint32_t c)
{
    if (c > 0 && conns[c].fd >= 0 && conns[c].eof && conns[c].in_flight == 0) {
        close(conns[c].fd);
        conns[c].fd = -1;
    }
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the client went away: drop the answer */
        s += w;
        n -= (size_t)w;
    }
}

static int listen_on(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    socklen_t al = sizeof a;
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 16) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &al) != 0) {
        close(s);
        return -1;
    }
    printf("listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);
    return s;
}

int main(int argc, char **argv)
{
    unsigned threads = 2, clients = 3;
    int port = -1, listener = -1, status = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc)
            clients = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            port = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--threads P] [--clients K] [--listen PORT]\n", argv[0]);
            return 2;
        }
    }
    if (clients < 1 || clients > MAX_CLIENTS) {
        fprintf(stderr, "--clients wants 1..%d\n", MAX_CLIENTS);
        return 2;
    }
    max_in_pipe = clients * 2;
    signal(SIGPIPE, SIG_IGN); /* a vanished TCP client must not kill the service */

    int p[2], q[2], sp[2];
    if (pipe2(p, O_DIRECT | O_CLOEXEC) != 0 || pipe2(q, O_DIRECT | O_CLOEXEC) != 0 ||
        pipe2(sp, O_CLOEXEC | O_NONBLOCK) != 0) {
        perror("pipe2(O_DIRECT)");
        return 2;
    }
    jobs_rd = p[0], jobs_wr = p[1], answers_rd = q[0], answers_wr = q[1];
    signal_wr = sp[1];
    for (int i = 0; i < MAX_CONNS; i++)
        conns[i].fd = -1;
    conns[0].fd = STDIN_FILENO; /* connection 0: stdin (or unused with --listen) */
    if (port >= 0) {
        if ((listener = listen_on(port)) < 0) {
            perror("listen");
            return 2;
        }
        conns[0].fd = -1;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }

    int rc = mp_pool_create(&pool, threads);
    if (rc != MP_OK) {
        fprintf(stderr, "mp_pool_create: %s\n", mp_strerror(rc));
        return 2;
    }
    pthread_t tids[MAX_CLIENTS];
    unsigned started = 0;
    for (; started < clients; started++)
        if (pthread_create(&tids[started], NULL, client_main, NULL) != 0)
            break;
    if (started == 0) {
        fprintf(stderr, "cannot start client threads\n");
        mp_pool_destroy(pool);
        return 2;
    }

    int stopping = 0; /* no more input will be taken */
    unsigned long served = 0;
    for (;;) {
        int open_inputs = 0;
        for (int i = 0; i < MAX_CONNS; i++)
            open_inputs += conns[i].fd >= 0 && !conns[i].eof;
        if ((stopping || (listener < 0 && open_inputs == 0)) && queued == 0 && in_pipe == 0)
            break;

        struct pollfd fds[MAX_CONNS + 3];
        uint32_t who[MAX_CONNS + 3];
        nfds_t nf = 0;
        fds[nf] = (struct pollfd){answers_rd, POLLIN, 0};
        who[nf++] = UINT32_MAX;
        if (listener >= 0 && !stopping) {
            fds[nf] = (struct pollfd){sp[0], POLLIN, 0};
            who[nf++] = UINT32_MAX - 1;
            fds[nf] = (struct pollfd){listener, POLLIN, 0};
            who[nf++] = UINT32_MAX - 2;
        }
        for (uint32_t i = 0; i < MAX_CONNS && !stopping && queued < 1024; i++)
            if (conns[i].fd >= 0 && !conns[i].eof) {
                fds[nf] = (struct pollfd){conns[i].fd, POLLIN, 0};
                who[nf++] = i;
            }
        if (poll(fds, nf, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("poll");
            status = 2;
            break;
        }
        for (nfds_t i = 0; i < nf; i++) {
            if (fds[i].revents == 0)
                continue;
            if (who[i] == UINT32_MAX) { /* an answer */
                msg m;
                ssize_t n = read(answers_rd, &m, sizeof m);
                if (n <= (ssize_t)sizeof m.conn)
                    continue;
                in_pipe--;
                served++;
                conn *k = &conns[m.conn];
                int out = m.conn == 0 ? STDOUT_FILENO : k->fd;
                write_all(out, m.text, (size_t)n - sizeof m.conn);
                k->in_flight--;
                close_if_done(m.conn);
            } else if (who[i] == UINT32_MAX - 1) { /* SIGINT / SIGTERM */
                stopping = 1;
            } else if (who[i] == UINT32_MAX - 2) { /* a new connection */
                int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
                uint32_t c = 1;
                while (c < MAX_CONNS && conns[c].fd >= 0)
                    c++;
                if (fd >= 0 && c == MAX_CONNS) {
                    close(fd); /* full: refuse */
                } else if (fd >= 0) {
                    conns[c] = (conn){.fd = fd};
                }
            } else { /* input from stdin or a connection */
                conn *k = &conns[who[i]];
                ssize_t n = read(k->fd, k->buf + k->len, LINE_MAX_LEN - k->len);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n > 0)
                    k->len += (size_t)n;
                else
                    k->eof = 1;
                if (take_lines(who[i], k->eof) != 0) {
                    fprintf(stderr, "out of memory\n");
                    stopping = 1;
                    status = 2;
                }
                if (k->eof && who[i] > 0)
                    shutdown(k->fd, SHUT_RD);
                close_if_done(who[i]);
            }
        }
        dispatch();
    }

    close(jobs_wr); /* clients read end-of-file and return */
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    for (int i = 1; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    if (listener >= 0)
        close(listener);
    fprintf(stderr, "service: %lu files served by %u client threads on a pool of %u workers\n",
            served, started, mp_pool_threads(pool));
    if (mp_pool_destroy(pool) != MP_OK) {
        fprintf(stderr, "service: pool still busy at exit\n");
        status = 2;
    }
    return status;
}
