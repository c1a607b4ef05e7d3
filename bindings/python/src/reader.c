/*
 * reader.c - ReaderBase, the C core of marcpipe.MARCReader, and the helpers
 * every reader entry point shares (options, error items, open errors).
 *
 * Threads: one reader is iterated by one thread at a time; a second thread
 * entering next() while the first is inside it gets RuntimeError. The
 * pipeline's own threads never run code of this file except py_read_cb,
 * which takes the GIL, and a reaper thread (below).
 *
 * Closing (issue #16). close() returns within CLOSE_WAIT_MS plus one wait
 * slice, whatever the source does, and never lets go of a source the
 * pipeline may still use:
 *  - from the iterating thread, or when none is iterating: the closing
 *    thread closes the C reader itself (reader_close_c). mp_reader_close
 *    returns only once the producer has stopped using the source; for
 *    descriptors that takes at most one 50 ms poll slice. A Python
 *    callback source is different: its read (say readinto on a quiet
 *    pipe, holding the BufferedReader's lock) cannot be interrupted. So
 *    the callback's state lives in a cb_src that the reader can let go of:
 *    `closing` stops new Python calls; if a call is in progress, a reaper
 *    thread runs mp_reader_close and the closer waits for it at most
 *    CLOSE_WAIT_MS; past that the closer returns and the reaper finishes
 *    alone when the stuck call returns: it closes the file object then and
 *    drops the last references (the objects stay alive until then).
 *  - from another thread while one is inside next() (GIL released in its
 *    50 ms wait slices): the closer asks (close_pending) and waits on an
 *    eventfd until the iterating thread has done the above, at most one
 *    slice plus CLOSE_WAIT_MS. The file object given to close() is closed
 *    by whoever completes the close, after the pipeline stopped using it.
 * No mutex, condition variable or semaphore: the GIL orders the reader's
 * own fields, atomics order the cb_src and reaper hand-overs, an eventfd
 * carries the wake-ups.
 */
#include "binding.h"

#include <structmember.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* How long a close waits for a stuck callback before leaving it to the reaper. */
#define CLOSE_WAIT_MS 100
/* The consumer's wait slice (signals and pending closes are checked between). */
#define WAIT_SLICE_MS 50

/*
 * A Python callback source, shared by the reader object (consumer side,
 * with the GIL) and the pipeline's producer thread (py_read_cb). Owned by
 * the reader until it closes; then by whoever completes the close (the
 * closer, or the reaper when a stuck call was abandoned).
 */
typedef struct cb_src {
    PyObject *read;  /* bound readinto/readinto1/read/read1 (strong); GIL */
    int is_readinto; /* 1: readinto or readinto1; 0: read or read1 */
    /* >= 0: the descriptor under a plain BufferedReader (stdin, a socket's
     * makefile): the producer waits for it to be readable, in slices that
     * check `closing`, before it calls Python - so it never sits in a read
     * holding the BufferedReader's lock (a close would have to abandon it,
     * and CPython aborts at exit when a thread holds the lock of stdin). */
    int poll_fd;
    PyObject *exc; /* exception parked by a failed call; written by the producer,
                    * read by the consumer, both with the GIL */
    /* Set once by the closer (seq_cst), read by the producer (seq_cst): no
     * Python call starts after it. Dekker pair with in_call. */
    _Atomic int closing;
    /* Producer calls past their closing check: incremented (seq_cst) by the
     * producer before it loads closing, decremented (release) when the call
     * is over; loaded by the closer (seq_cst) after it stored closing. */
    _Atomic int in_call;
} cb_src;

/* Set by _at_exit() (the package's atexit hook): from then on the reaper
 * never touches Python (the interpreter may be torn down under it).
 * Written once (release), read by reapers (acquire). */
static _Atomic int interpreter_exiting;

typedef struct {
    PyObject_HEAD
    mp_reader *r;     /* NULL before _open() and after close() */
    module_state *st; /* module state, cached at _open() */
    PyObject *source; /* kept alive while open (buffer owner, file object) */
    Py_buffer view;   /* for memory sources */
    int have_view;
    cb_src *cb;        /* callback sources: see cb_src (NULL otherwise, and after close) */
    PyObject *pool;    /* PoolObject or NULL */
    PyObject *cur_exc; /* current_exception */
    PyObject *cur_raw; /* raw bytes of the current error unit, or NULL */
    uint64_t cur_offset, cur_length;
    int cur_valid;        /* cur_offset/length describe the current unit */
    PyObject *codec_utf8; /* (encoding, errors) tuples for REC_CODEC */
    PyObject *codec_file;
    PyObject *record_cls; /* type records are created as */
    uint32_t mode;
    int force_utf8;
    int strict; /* error units raise (options.strict, or _open's raise_errors) */
    int quiet;  /* hide_utf8_warnings */
    const layout_opts *lo;
    int finished;
    int forked;              /* this is a child of fork() and the reader was opened before it */
    int close_pending;       /* close() called while another thread was inside next() */
    PyObject *pending_file;  /* the file object that close() asked to close then */
    int close_efd;           /* eventfd the pending closer waits on, -1: none (GIL) */
    uint64_t units_at_close; /* mp_reader_units when the C reader was closed */
    /* Set while a thread is inside next(). Only touched with the GIL held, so
     * the GIL orders it; atomic anyway so the contract does not depend on it. */
    atomic_int busy;
    PyObject *weakrefs;
} ReaderObject;

static PyObject *Reader_new(PyTypeObject *tp, PyObject *args, PyObject *kw)
{
    ReaderObject *self = (ReaderObject *)tp->tp_alloc(tp, 0);
    if (!self)
        return NULL;
    /* relaxed: set before the object is shared with anyone */
    atomic_store_explicit(&self->busy, 0, memory_order_relaxed);
    self->close_efd = -1;
    return (PyObject *)self;
}

/* The pending exception as one normalized object (traceback attached). */
static PyObject *fetch_exception(void)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (v && tb)
        (void)PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
}

static void restore_exception(PyObject *v)
{
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(v)), v, PyException_GetTraceback(v));
}

/*
 * The reader's mp_read_fn for file objects. Runs on the producer thread,
 * which holds no GIL, never concurrently with itself; it takes the GIL for
 * the Python call. `buf` is borrowed for the call. A Python exception is
 * parked in cb->exc and the library sees an I/O error; the consumer
 * raises the parked exception (the original one: OSError stays OSError).
 * Once the reader closes (cb->closing), no Python call starts: the read
 * ends the input instead.
 */
static ssize_t py_read_cb(void *user, void *buf, size_t cap, int *sys_errno)
{
    cb_src *cb = user;
    ssize_t n = -1;
    while (cb->poll_fd >= 0) {
        /* acquire: pairs with reader_close_c's store (a hint here; the
         * Dekker pair below decides) */
        if (atomic_load_explicit(&cb->closing, memory_order_acquire))
            return 0;
        struct pollfd pfd = {cb->poll_fd, POLLIN, 0};
        int pr = poll(&pfd, 1, WAIT_SLICE_MS);
        if (pr > 0 || (pr < 0 && errno != EINTR))
            break; /* data, end, or an error that the read will report */
    }
    /* seq_cst: Dekker pair with reader_close_c (store closing, load in_call) */
    atomic_fetch_add_explicit(&cb->in_call, 1, memory_order_seq_cst);
    /* seq_cst: the other half of that pair */
    if (atomic_load_explicit(&cb->closing, memory_order_seq_cst)) {
        /* release: pairs with the closer's seq_cst load of in_call */
        atomic_fetch_sub_explicit(&cb->in_call, 1, memory_order_release);
        return 0;
    }
    PyGILState_STATE g = PyGILState_Ensure();
    if (cb->exc) {
        *sys_errno = EIO;
        goto out;
    }
    if (cap > (size_t)PY_SSIZE_T_MAX)
        cap = (size_t)PY_SSIZE_T_MAX;
    if (cb->is_readinto) {
        PyObject *mv = PyMemoryView_FromMemory(buf, (Py_ssize_t)cap, PyBUF_WRITE);
        if (!mv)
            goto pyfail;
        PyObject *res = PyObject_CallOneArg(cb->read, mv);
        /* Release the view before anything else, with no exception pending
         * (calling Python with one set made readinto's OSError a
         * SystemError): the failure of readinto wins over the release's. */
        PyObject *exc = res ? NULL : fetch_exception();
        PyObject *mbuf = Py_NewRef((PyObject *)((PyMemoryViewObject *)mv)->mbuf);
        PyObject *rel = PyObject_CallMethod(mv, "release", NULL);
        Py_DECREF(mv);
        if (!rel) {
            if (exc) /* the readinto failure is what happened first */
                PyErr_Clear();
            else /* readinto kept the buffer: it may write into it later */
                exc = fetch_exception();
        } else if (!exc && ((_PyManagedBufferObject *)mbuf)->exports > 0) {
            /* A slice of the view outlived the call: it still points at the
             * pipeline's buffer, which is reused. Report it as release does. */
            PyErr_SetString(PyExc_BufferError,
                            "readinto() kept a view of the reader's buffer past the call");
            exc = fetch_exception();
        }
        Py_DECREF(mbuf);
        Py_XDECREF(rel);
        if (exc) {
            Py_XDECREF(res);
            cb->exc = exc;
            goto ioerr;
        }
        if (res == Py_None) { /* non-blocking object with nothing ready */
            Py_DECREF(res);
            PyErr_SetString(PyExc_BlockingIOError, "source has no data (non-blocking)");
            goto pyfail;
        }
        n = PyLong_AsSsize_t(res);
        Py_DECREF(res);
        if (n == -1 && PyErr_Occurred())
            goto pyfail;
        if (n < 0 || (size_t)n > cap) {
            PyErr_SetString(PyExc_ValueError, "readinto() returned an invalid count");
            goto pyfail;
        }
    } else {
        PyObject *res = PyObject_CallFunction(cb->read, "n", (Py_ssize_t)cap);
        if (!res)
            goto pyfail;
        Py_buffer v;
        if (PyObject_GetBuffer(res, &v, PyBUF_SIMPLE) < 0) {
            Py_DECREF(res);
            PyErr_SetString(PyExc_TypeError, "MARCReader: read() must return bytes "
                                             "(is the file opened in text mode?)");
            goto pyfail;
        }
        if ((size_t)v.len > cap) {
            PyBuffer_Release(&v);
            Py_DECREF(res);
            PyErr_SetString(PyExc_ValueError, "read() returned more than asked");
            goto pyfail;
        }
        memcpy(buf, v.buf, (size_t)v.len);
        n = v.len;
        PyBuffer_Release(&v);
        Py_DECREF(res);
    }
    goto out;
pyfail:
    cb->exc = fetch_exception();
ioerr:
    *sys_errno = EIO;
    n = -1;
out:
    PyGILState_Release(g);
    /* release: the call is over (pairs with the closer's seq_cst load) */
    atomic_fetch_sub_explicit(&cb->in_call, 1, memory_order_release);
    return n;
}

/* Frees a cb_src no producer can call any more. GIL held. */
static void cb_free(cb_src *cb)
{
    if (!cb)
        return;
    Py_XDECREF(cb->read);
    Py_XDECREF(cb->exc);
    PyMem_RawFree(cb);
}

/* file.close(), errors ignored (pymarc closes the handle; a failing close
 * of a source we are done with must not mask the reader's own result).
 * GIL held; steals the reference. */
static void close_file(PyObject *file)
{
    if (!file)
        return;
    PyObject *r = PyObject_CallMethod(file, "close", NULL);
    if (!r)
        PyErr_WriteUnraisable(file);
    Py_XDECREF(r);
    Py_DECREF(file);
}

/* ---- the reaper: closing past a stuck callback ----------------------------- */

enum { HANDOFF_OPEN = 0, HANDOFF_DONE = 1, HANDOFF_ABANDONED = 2 };

typedef struct reaper {
    mp_reader *r;   /* closed by the reaper thread */
    cb_src *cb;     /* freed by whoever finishes (see handoff) */
    PyObject *file; /* closed by whoever finishes, or NULL */
    int efd;        /* the reaper's "done" signal to the closer */
    /* OPEN until one side moves it: the reaper to DONE when mp_reader_close
     * returned first (the closer finishes), the closer to ABANDONED when it
     * stopped waiting first (the reaper finishes). CAS acq_rel both ways. */
    _Atomic int handoff;
} reaper;

static int py_finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

static void *reaper_main(void *arg)
{
    reaper *rp = arg;
    int efd = rp->efd;
    mp_reader_close(rp->r); /* returns once the stuck call has returned */
    int open = HANDOFF_OPEN;
    /* acq_rel: pairs with the closer's CAS (one of the two wins) */
    if (atomic_compare_exchange_strong_explicit(&rp->handoff, &open, HANDOFF_DONE,
                                                memory_order_acq_rel, memory_order_acquire)) {
        uint64_t one = 1;
        /* The closer is waiting for this and then frees rp: rp is not touched again. */
        (void)!write(efd, &one, sizeof one);
        return NULL;
    }
    /* The closer left: the Python objects are ours to release - unless the
     * interpreter is going away, when they are left to the process's end. */
    close(efd);
    /* acquire: pairs with mod_at_exit's release store */
    if (!atomic_load_explicit(&interpreter_exiting, memory_order_acquire) && !py_finalizing()) {
        PyGILState_STATE g = PyGILState_Ensure();
        close_file(rp->file);
        cb_free(rp->cb);
        PyGILState_Release(g);
    }
    free(rp);
    return NULL;
}

/*
 * Closes `r` whose callback `cb` may be stuck in a Python call, waiting at
 * most CLOSE_WAIT_MS (GIL released meanwhile). Returns 1 when the close
 * completed (the caller still owns cb and file), 0 when it was left to the
 * reaper (which now owns cb and file). GIL held.
 */
static int close_with_reaper(mp_reader *r, cb_src *cb, PyObject *file)
{
    reaper *rp = calloc(1, sizeof *rp);
    int efd = rp ? eventfd(0, EFD_CLOEXEC) : -1;
    pthread_attr_t at;
    pthread_t t;
    int started = 0;
    if (efd >= 0) {
        rp->r = r;
        rp->cb = cb;
        rp->file = file;
        rp->efd = efd;
        /* relaxed: published to the reaper by pthread_create */
        atomic_init(&rp->handoff, HANDOFF_OPEN);
        if (pthread_attr_init(&at) == 0) {
            pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
            started = pthread_create(&t, &at, reaper_main, rp) == 0;
            pthread_attr_destroy(&at);
        }
    }
    if (!started) { /* no thread to spare: wait for the call, however long */
        if (efd >= 0)
            close(efd);
        free(rp);
        Py_BEGIN_ALLOW_THREADS
        mp_reader_close(r);
        Py_END_ALLOW_THREADS
        return 1;
    }
    struct pollfd pfd = {efd, POLLIN, 0};
    Py_BEGIN_ALLOW_THREADS(void)
    poll(&pfd, 1, CLOSE_WAIT_MS);
    Py_END_ALLOW_THREADS
    int open = HANDOFF_OPEN;
    /* acq_rel: pairs with the reaper's CAS */
    if (atomic_compare_exchange_strong_explicit(&rp->handoff, &open, HANDOFF_ABANDONED,
                                                memory_order_acq_rel, memory_order_acquire))
        return 0;
    /* DONE: the reaper has closed the reader; wait for its signal (it is
     * about to write, if it has not), then nothing of it remains. */
    uint64_t v;
    Py_BEGIN_ALLOW_THREADS
    while (read(efd, &v, sizeof v) < 0 && errno == EINTR)
        ;
    Py_END_ALLOW_THREADS
    close(efd);
    free(rp);
    return 1;
}

/*
 * Closes the C reader (if open) and releases the source. `file` (new
 * reference, may be NULL) is closed once the pipeline no longer uses the
 * source. GIL held. Returns within CLOSE_WAIT_MS (+ one 50 ms poll slice
 * for descriptors) whatever the source is doing.
 */
static void reader_close_c(ReaderObject *self, PyObject *file)
{
    mp_reader *r = self->r;
    cb_src *cb = self->cb;
    self->r = NULL;
    self->cb = NULL;
    if (r) {
        int stuck = 0;
        self->units_at_close = mp_reader_units(r);
        if (cb) {
            /* seq_cst: Dekker pair with py_read_cb (in_call++, then load closing) */
            atomic_store_explicit(&cb->closing, 1, memory_order_seq_cst);
            /* seq_cst: the other half; 0 means no Python call is running or will */
            stuck = atomic_load_explicit(&cb->in_call, memory_order_seq_cst) != 0;
        }
        if (!stuck) {
            /* The GIL is released: the producer may be waiting for it. */
            Py_BEGIN_ALLOW_THREADS
            mp_reader_close(r);
            Py_END_ALLOW_THREADS
        } else if (!close_with_reaper(r, cb, file)) {
            cb = NULL; /* the reaper releases them when the call returns */
            file = NULL;
        }
    }
    cb_free(cb);
    if (self->have_view) {
        PyBuffer_Release(&self->view);
        self->have_view = 0;
    }
    close_file(file);
}

static int Reader_clear(PyObject *op)
{
    ReaderObject *self = (ReaderObject *)op;
    reader_close_c(self, NULL);
    Py_CLEAR(self->source);
    Py_CLEAR(self->pending_file);
    Py_CLEAR(self->pool);
    Py_CLEAR(self->cur_exc);
    Py_CLEAR(self->cur_raw);
    Py_CLEAR(self->codec_utf8);
    Py_CLEAR(self->codec_file);
    Py_CLEAR(self->record_cls);
    return 0;
}

static int Reader_traverse(PyObject *op, visitproc visit, void *arg)
{
    ReaderObject *self = (ReaderObject *)op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->source);
    if (self->cb) {
        Py_VISIT(self->cb->read);
        Py_VISIT(self->cb->exc);
    }
    Py_VISIT(self->pending_file);
    Py_VISIT(self->pool);
    Py_VISIT(self->cur_exc);
    Py_VISIT(self->cur_raw);
    Py_VISIT(self->codec_utf8);
    Py_VISIT(self->codec_file);
    Py_VISIT(self->record_cls);
    return 0;
}

static void Reader_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    if (((ReaderObject *)op)->weakrefs)
        PyObject_ClearWeakRefs(op);
    (void)Reader_clear(op);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static const char *const format_names[] = {"auto", "iso2709", "marcxml", "json", "mrk"};

int format_from_name(const char *name, mp_format *out)
{
    for (int i = 0; i < 5; i++) {
        if (!strcmp(name, format_names[i])) {
            *out = (mp_format)i;
            return 0;
        }
    }
    PyErr_Format(PyExc_ValueError,
                 "format must be 'auto', 'iso2709', 'marcxml', 'json' or 'mrk', not '%s'", name);
    return -1;
}

int reader_options_from(const reader_args *a, mp_reader_options *o)
{
    mp_reader_options d = MP_READER_OPTIONS_INIT;
    *o = d;
    if (!strcmp(a->utf8_handling, "strict")) {
        o->utf8_handling = MP_UTF8_STRICT;
    } else if (!strcmp(a->utf8_handling, "replace")) {
        o->utf8_handling = MP_UTF8_REPLACE;
    } else if (!strcmp(a->utf8_handling, "ignore")) {
        o->utf8_handling = MP_UTF8_IGNORE;
    } else {
        PyErr_Format(PyExc_ValueError,
                     "utf8_handling must be 'strict', 'replace' or 'ignore', not '%s'",
                     a->utf8_handling);
        return -1;
    }
    o->marc8_replace = 1; /* pymarc is lenient with MARC-8: a warning, not an error */
    if (!strcmp(a->marc8_double, "halves")) {
        o->marc8_double = MP_MARC8_DOUBLE_HALVES;
    } else if (!strcmp(a->marc8_double, "combined")) {
        o->marc8_double = MP_MARC8_DOUBLE_COMBINED;
    } else {
        PyErr_Format(PyExc_ValueError, "marc8_double must be 'halves' or 'combined', not '%s'",
                     a->marc8_double);
        return -1;
    }
    o->strict = a->strict != 0;
    o->record_fn = layout_record_fn; /* the record layout is built in the workers */
    /* The workers only read it; it outlives every reader. */
    o->record_fn_user = (void *)(uintptr_t)layout_opts_for(a);
    /* Bytes, or text decoded at access with a Python codec: the workers
     * leave the values as read. */
    if (rec_mode_for(a) != REC_UTF8)
        o->encoding = MP_ENCODING_RAW;
    else if (a->force_utf8)
        o->encoding = MP_ENCODING_UTF8;
    o->threads = a->threads;
    if (a->chunk_size > 0)
        o->chunk_size = (size_t)a->chunk_size;
    o->unordered = !a->ordered;
    o->policy = (mp_policy)a->policy;
    o->mode = a->mode;
    o->range_start = a->range_start;
    o->range_end = a->range_end;
    o->first_ordinal = a->first_ordinal;
    o->format = a->format;
    return 0;
}

#define FORKED_MESSAGE                                                                             \
    "marcpipe: this reader or pool was created before os.fork(); its threads do not exist in "     \
    "the child process - open a new one there"

int raise_open_error(int rc, PyObject *path, const mp_reader_options *o)
{
    switch (rc) {
    case MP_ENOENT:
        errno = ENOENT;
        break;
    case MP_EACCES:
        errno = EACCES;
        break;
    case MP_EISDIR:
        errno = EISDIR; /* IsADirectoryError */
        break;
    case MP_ENOMEM:
        PyErr_NoMemory();
        return -1;
    case MP_EINVAL: {
        char msg[200];
        if (o && mp_reader_options_check(o, msg, sizeof msg) == MP_EINVAL)
            PyErr_Format(PyExc_ValueError, "marcpipe: invalid reader option: %s", msg);
        else
            PyErr_Format(PyExc_ValueError, "marcpipe: invalid argument (%s)", mp_strerror(rc));
        return -1;
    case MP_ECLOSED: /* Pool.close() won the race against this open */
        PyErr_SetString(PyExc_ValueError, "pool is closed");
        return -1;
    case MP_EFORKED:
        PyErr_SetString(PyExc_RuntimeError, FORKED_MESSAGE);
        return -1;
    }
    default:
        errno = rc == MP_EIO ? EIO : 0;
        if (!errno) {
            PyErr_Format(PyExc_OSError, "marcpipe: cannot open reader: %s", mp_strerror(rc));
            return -1;
        }
    }
    if (path)
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
    else
        PyErr_SetFromErrno(PyExc_OSError);
    return -1;
}

/*
 * _open(kind, source, *, to_unicode, force_utf8, utf8_handling, file_codec,
 *       threads, chunk_size, ordered, pool, strict, record_cls, policy,
 *       range_start, range_end, first_ordinal, poll_fd, marc8_double,
 *       hide_utf8_warnings, format, raise_errors, mode)
 * mode: "auto" (the library chooses: small inputs and one-CPU machines are
 * read sequentially), "pipeline" or "sequential".
 * kind: "path" (source: str/bytes path), "mem" (buffer), "fd" (int in
 * source[0], owner in source[1]), "readinto" / "readinto1" / "read" /
 * "read1" (file object; poll_fd >= 0: its descriptor, see cb_src).
 * file_codec: None for MARC-8 (the default), else an encoding name that
 * non-UTF-8 records are decoded with (pymarc's file_encoding).
 * strict: warnings are errors (options.strict), and error units raise;
 * raise_errors (0 or 1; default -1: as strict): whether error units raise,
 * apart from the option (the text readers raise as pymarc's do).
 */
static PyObject *Reader_open(PyObject *op, PyObject *args, PyObject *kw)
{
    ReaderObject *self = (ReaderObject *)op;
    static char *kwlist[] = {"kind",
                             "source",
                             "to_unicode",
                             "force_utf8",
                             "utf8_handling",
                             "file_codec",
                             "threads",
                             "chunk_size",
                             "ordered",
                             "pool",
                             "strict",
                             "record_cls",
                             "policy",
                             "range_start",
                             "range_end",
                             "first_ordinal",
                             "poll_fd",
                             "marc8_double",
                             "hide_utf8_warnings",
                             "format",
                             "raise_errors",
                             "mode",
                             NULL};
    reader_args a = READER_ARGS_INIT;
    const char *kind, *format = "iso2709";
    PyObject *source, *pool = Py_None, *record_cls = Py_None;
    int poll_fd = -1, quiet = 0, raise_errors = -1;
    const char *mode = "auto";
    a.file_codec = Py_None;
    if (!PyArg_ParseTupleAndKeywords(
            args, kw, "sO|$ppsOInpOpOiKKKispsis:_open", kwlist, &kind, &source, &a.to_unicode,
            &a.force_utf8, &a.utf8_handling, &a.file_codec, &a.threads, &a.chunk_size, &a.ordered,
            &pool, &a.strict, &record_cls, &a.policy, &a.range_start, &a.range_end,
            &a.first_ordinal, &poll_fd, &a.marc8_double, &quiet, &format, &raise_errors, &mode))
        return NULL;
    if (format_from_name(format, &a.format) < 0)
        return NULL;
    if (!strcmp(mode, "auto")) {
        a.mode = MP_MODE_AUTO;
    } else if (!strcmp(mode, "pipeline")) {
        a.mode = MP_MODE_PIPELINE;
    } else if (!strcmp(mode, "sequential")) {
        a.mode = MP_MODE_SEQUENTIAL;
    } else {
        PyErr_Format(PyExc_ValueError, "mode must be 'auto', 'pipeline' or 'sequential', not '%s'",
                     mode);
        return NULL;
    }
    if (self->r || self->source) {
        PyErr_SetString(PyExc_RuntimeError, "reader already opened");
        return NULL;
    }
    /* Nothing was acquired before this point; from here on every failure
     * goes through fail:, which leaves the object unopened. */
    PyObject *path = NULL, *keep = source;
    mp_reader *r = NULL;
    mp_reader_options o;
    int rc = MP_OK;
    module_state *st = state_of_type(Py_TYPE(op));
    if (!st || reader_options_from(&a, &o) < 0)
        goto fail;
    self->st = st;
    self->mode = rec_mode_for(&a);
    self->force_utf8 = a.force_utf8;
    self->strict = raise_errors >= 0 ? raise_errors != 0 : a.strict;
    self->quiet = quiet;
    self->lo = layout_opts_for(&a);
    if (self->mode == REC_CODEC) {
        self->codec_utf8 = Py_BuildValue("(ss)", "utf-8", a.utf8_handling);
        self->codec_file = Py_BuildValue("(Os)", a.file_codec, "strict");
        if (!self->codec_utf8 || !self->codec_file)
            goto fail;
    }
    if (pool != Py_None) {
        if (!PyObject_TypeCheck(pool, st->pool_type)) {
            PyErr_SetString(PyExc_TypeError, "pool must be a marcpipe.Pool");
            goto fail;
        }
        if (!((PoolObject *)pool)->pool || ((PoolObject *)pool)->closing) {
            PyErr_SetString(PyExc_ValueError, "pool is closed");
            goto fail;
        }
        o.pool = ((PoolObject *)pool)->pool;
        self->pool = Py_NewRef(pool);
        /* Pool.close() refuses while this is non-zero: the pool cannot be
         * destroyed between here and the reservation the open takes. */
        ((PoolObject *)pool)->opening++;
    }
    if (record_cls == Py_None)
        record_cls = st->record_cls ? st->record_cls : (PyObject *)st->record_type;
    if (!PyType_Check(record_cls) ||
        !PyType_IsSubtype((PyTypeObject *)record_cls, st->record_type)) {
        PyErr_SetString(PyExc_TypeError, "record_cls must subclass RecordBase");
        goto fail;
    }
    self->record_cls = Py_NewRef(record_cls);

    if (!strcmp(kind, "path")) {
        if (!PyUnicode_FSConverter(source, &path))
            goto fail;
        const char *p = PyBytes_AS_STRING(path);
        Py_BEGIN_ALLOW_THREADS
        rc = mp_reader_open_path(&r, p, &o);
        Py_END_ALLOW_THREADS
    } else if (!strcmp(kind, "mem")) {
        if (PyObject_GetBuffer(source, &self->view, PyBUF_SIMPLE) < 0)
            goto fail;
        self->have_view = 1;
        const void *data = self->view.buf;
        size_t len = (size_t)self->view.len;
        Py_BEGIN_ALLOW_THREADS
        rc = mp_reader_open_mem(&r, data, len, &o);
        Py_END_ALLOW_THREADS
    } else if (!strcmp(kind, "fd")) {
        int fd;
        if (!PyArg_ParseTuple(source, "iO", &fd, &keep))
            goto fail;
        Py_BEGIN_ALLOW_THREADS
        rc = mp_reader_open_fd(&r, fd, &o);
        Py_END_ALLOW_THREADS
    } else if (!strcmp(kind, "readinto") || !strcmp(kind, "readinto1") || !strcmp(kind, "read") ||
               !strcmp(kind, "read1")) {
        cb_src *cb = PyMem_RawCalloc(1, sizeof *cb);
        if (!cb) {
            PyErr_NoMemory();
            goto fail;
        }
        self->cb = cb;
        cb->is_readinto = !strncmp(kind, "readinto", 8);
        cb->poll_fd = poll_fd;
        /* relaxed: published to the producer by the open (thread start) */
        atomic_init(&cb->closing, 0);
        atomic_init(&cb->in_call, 0);
        cb->read = PyObject_GetAttrString(source, kind);
        if (!cb->read)
            goto fail;
        /* The producer thread starts now and calls py_read_cb, which takes
         * the GIL: release it while opening. */
        Py_BEGIN_ALLOW_THREADS
        rc = mp_reader_open_cb(&r, py_read_cb, cb, &o);
        Py_END_ALLOW_THREADS
    } else {
        PyErr_Format(PyExc_ValueError, "unknown source kind %s", kind);
        goto fail;
    }
    if (self->pool)
        ((PoolObject *)self->pool)->opening--;
    if (rc != MP_OK) {
        raise_open_error(rc, path ? source : NULL, &o);
        goto fail_opened;
    }
    Py_XDECREF(path);
    self->source = Py_NewRef(keep);
    self->r = r;
    Py_RETURN_NONE;

fail:
    if (self->pool)
        ((PoolObject *)self->pool)->opening--;
fail_opened:
    Py_XDECREF(path);
    if (self->have_view) {
        PyBuffer_Release(&self->view);
        self->have_view = 0;
    }
    /* A failed open has not used the source once it returned (reader.h). */
    cb_free(self->cb);
    self->cb = NULL;
    Py_CLEAR(self->codec_utf8);
    Py_CLEAR(self->codec_file);
    Py_CLEAR(self->pool);
    Py_CLEAR(self->record_cls);
    return NULL;
}

static PyObject *u64(uint64_t v)
{
    return PyLong_FromUnsignedLongLong(v);
}

/* A NUL-terminated C text field of the error info as str (never fails on
 * bad bytes: a truncated 001 may end inside a UTF-8 sequence). */
static PyObject *text_field(const char *s, size_t cap)
{
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strnlen(s, cap), "replace");
}

PyObject *error_item_to_py(module_state *st, const mp_error_info *e, const unsigned char *unit,
                           size_t unit_len, int force_utf8, int decode, PyObject **raw_out)
{
    PyObject *raw = NULL, *args = NULL, *kw = NULL, *res = NULL;
    if (raw_out)
        *raw_out = NULL;
    if (unit && !(raw = PyBytes_FromStringAndSize((const char *)unit, (Py_ssize_t)unit_len)))
        return NULL;
    if (!st->error_factory) {
        res = PyObject_CallFunction(error_base(st), "s", e->message);
        goto out;
    }
    char sf[2] = {e->subfield, 0};
    args = Py_BuildValue(
        "(siNNNNNNO)", mp_error_kind_name(e->kind), e->code, u64(e->ordinal), u64(e->offset),
        u64(e->length), text_field(e->control_number, sizeof e->control_number),
        text_field(e->tag, sizeof e->tag), text_field(sf, sizeof sf), raw ? raw : Py_None);
    if (!args)
        goto out;
    kw =
        Py_BuildValue("{sNsNsN}", "message", text_field(e->message, sizeof e->message),
                      "force_utf8", PyBool_FromLong(force_utf8), "decode", PyBool_FromLong(decode));
    if (!kw)
        goto out;
    res = PyObject_Call(st->error_factory, args, kw);
out:
    Py_XDECREF(args);
    Py_XDECREF(kw);
    if (res && raw_out)
        *raw_out = raw;
    else
        Py_XDECREF(raw);
    return res;
}

static PyObject *fatal_error(ReaderObject *self, int rc)
{
    if (self->cb && self->cb->exc) {
        PyObject *e = self->cb->exc; /* what the file object raised, as it raised it */
        self->cb->exc = NULL;
        restore_exception(e);
        return NULL;
    }
    if (rc == MP_EFORKED) {
        PyErr_SetString(PyExc_RuntimeError, FORKED_MESSAGE);
        return NULL;
    }
    const mp_error_info *e = self->r ? mp_reader_error(self->r) : NULL;
    if (rc == MP_EIO) {
        errno = e && e->sys_errno ? e->sys_errno : EIO;
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    if (rc == MP_ENOMEM)
        return PyErr_NoMemory();
    if (rc == MP_EFORMAT && e) {
        PyObject *cls = self->st->format_error ? self->st->format_error : error_base(self->st);
        PyErr_SetString(cls, e->message);
        return NULL;
    }
    if (rc == MP_ESTOPPED && e) {
        PyErr_Format(error_base(self->st), "stopped at the first error: %s", e->message);
        return NULL;
    }
    PyErr_Format(error_base(self->st), "marcpipe reader failed: %s (%s)", mp_strerror(rc),
                 e ? e->message : "");
    return NULL;
}

static int reader_enter(ReaderObject *self)
{
    int expected = 0;
    /* acq_rel: pairs with the release store in reader_leave */
    if (!atomic_compare_exchange_strong_explicit(&self->busy, &expected, 1, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        PyErr_SetString(PyExc_RuntimeError, "MARCReader is being iterated by another thread; "
                                            "a reader may be used by one thread at a time");
        return -1;
    }
    return 0;
}

static void reader_leave(ReaderObject *self)
{
    /* release: pairs with the compare-exchange in reader_enter */
    atomic_store_explicit(&self->busy, 0, memory_order_release);
    if (self->close_pending) {
        /* close() from another thread asked, and waits on close_efd. */
        self->close_pending = 0;
        self->finished = 1;
        PyObject *file = self->pending_file;
        self->pending_file = NULL;
        reader_close_c(self, file);
        if (self->close_efd >= 0) {
            uint64_t one = 1;
            (void)!write(self->close_efd, &one, sizeof one);
        }
    }
}

static PyObject *Reader_iternext(PyObject *op)
{
    ReaderObject *self = (ReaderObject *)op;
    if (self->forked) {
        PyErr_SetString(PyExc_RuntimeError, FORKED_MESSAGE);
        return NULL;
    }
    if (!self->r || self->finished)
        return NULL;
    if (reader_enter(self) < 0)
        return NULL;
    const mp_record *rec = NULL;
    int rc = mp_reader_next_timeout(self->r, &rec, 0);
    while (rc == MP_EAGAIN) {
        mp_reader *r = self->r;
        Py_BEGIN_ALLOW_THREADS
        rc = mp_reader_next_timeout(r, &rec, WAIT_SLICE_MS);
        Py_END_ALLOW_THREADS
        if (rc != MP_EAGAIN)
            break;
        if (self->close_pending) {
            reader_leave(self);
            return NULL;
        }
        if (PyErr_CheckSignals() < 0) {
            reader_leave(self);
            return NULL;
        }
    }
    PyObject *res = NULL;
    if (rc == MP_OK) {
        res = record_from_c(self->st, (PyTypeObject *)self->record_cls, rec,
                            (enum rec_mode)self->mode, self->codec_utf8, self->codec_file,
                            self->force_utf8, self->lo, 1, self->quiet);
        if (res) {
            Py_CLEAR(self->cur_exc);
            Py_CLEAR(self->cur_raw);
            self->cur_offset = mp_record_offset(rec);
            self->cur_length = mp_record_input_length(rec);
            self->cur_valid = 1;
        }
    } else if (rc == MP_ERECORD) {
        const mp_error_info *e = mp_reader_error(self->r);
        size_t ulen = 0;
        const unsigned char *unit = mp_reader_error_data(self->r, &ulen);
        PyObject *raw;
        /* The pymarc checks of the Python layer judge ISO 2709 bytes: a
         * damaged record of a text format gets the class of its kind, and
         * its own text as current_chunk. */
        int iso = mp_reader_format(self->r) == MP_FORMAT_ISO2709;
        PyObject *exc =
            error_item_to_py(self->st, e, iso ? unit : NULL, ulen, self->force_utf8, 0, &raw);
        if (exc && !iso && unit)
            raw = PyBytes_FromStringAndSize((const char *)unit, (Py_ssize_t)ulen);
        if (!exc)
            goto out;
        Py_XSETREF(self->cur_raw, raw);
        self->cur_offset = e->offset;
        self->cur_length = e->length;
        self->cur_valid = 1;
        Py_XSETREF(self->cur_exc, exc);
        if (self->strict) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            goto out;
        }
        res = Py_NewRef(Py_None);
    } else if (rc == MP_EOF) {
        self->finished = 1;
    } else {
        self->finished = 1;
        (void)fatal_error(self, rc);
    }
out:
    reader_leave(self);
    return res;
}

/*
 * close(file=None): stops the pipeline and, once it no longer uses the
 * source, closes `file` (MARCReader passes its file object, as pymarc
 * closes it). Returns within CLOSE_WAIT_MS plus one wait slice, see the
 * top of this file.
 */
static PyObject *Reader_close(PyObject *op, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"file", NULL};
    ReaderObject *self = (ReaderObject *)op;
    PyObject *file = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:close", kwlist, &file))
        return NULL;
    if (file == Py_None)
        file = NULL;
    /* acquire: pairs with the release store in reader_leave */
    if (atomic_load_explicit(&self->busy, memory_order_acquire)) {
        /* Another thread is waiting inside next() with the GIL released; it
         * closes the reader when it comes back (within one wait slice).
         * Wait for it, so that the pipeline has stopped using the source
         * when this returns - unless that takes longer than a close may. */
        self->close_pending = 1;
        if (file)
            Py_XSETREF(self->pending_file, Py_NewRef(file));
        if (self->close_efd < 0) {
            int efd = eventfd(0, EFD_CLOEXEC);
            if (efd >= 0) {
                self->close_efd = efd;
                struct pollfd pfd = {efd, POLLIN, 0};
                Py_BEGIN_ALLOW_THREADS(void)
                poll(&pfd, 1, WAIT_SLICE_MS + CLOSE_WAIT_MS + 50);
                Py_END_ALLOW_THREADS
                self->close_efd = -1; /* the GIL orders this with reader_leave's write */
                close(efd);
            }
        }
        Py_RETURN_NONE;
    }
    self->finished = 1;
    reader_close_c(self, file ? Py_NewRef(file) : NULL);
    Py_RETURN_NONE;
}

/* os.register_at_fork(after_in_child=...): the reader was opened before the
 * fork; the child has none of its threads. Close what can be closed there
 * (the C close does not wait or free in a child) and make next() say why. */
static PyObject *Reader_forked(PyObject *op, PyObject *unused)
{
    ReaderObject *self = (ReaderObject *)op;
    self->forked = 1;
    self->finished = 1;
    self->close_pending = 0;
    /* relaxed: the child has this one thread */
    atomic_store_explicit(&self->busy, 0, memory_order_relaxed);
    self->close_efd = -1; /* the parent's closer is not in this process */
    Py_CLEAR(self->pending_file);
    reader_close_c(self, NULL);
    Py_RETURN_NONE;
}

static PyObject *Reader_counts(PyObject *op, PyObject *unused)
{
    ReaderObject *self = (ReaderObject *)op;
    uint64_t rec = 0, err = 0, bytes = 0;
    if (self->r)
        mp_reader_counts(self->r, &rec, &err, &bytes);
    return Py_BuildValue("(KKK)", (unsigned long long)rec, (unsigned long long)err,
                         (unsigned long long)bytes);
}

static PyObject *Reader_tally(PyObject *op, PyObject *unused)
{
    ReaderObject *self = (ReaderObject *)op;
    mp_counts c = MP_COUNTS_INIT;
    if (self->r)
        mp_reader_get_counts(self->r, &c);
    PyObject *kinds = PyDict_New();
    if (!kinds)
        return NULL;
    for (int k = 0; k < MP_EK_COUNT; k++) {
        if (!c.warnings_by_kind[k])
            continue;
        PyObject *v = PyLong_FromUnsignedLongLong(c.warnings_by_kind[k]);
        if (!v || PyDict_SetItemString(kinds, mp_error_kind_name((mp_error_kind)k), v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(kinds);
            return NULL;
        }
        Py_DECREF(v);
    }
    return Py_BuildValue("{sKsKsKsKsKsN}", "records", (unsigned long long)c.records, "errors",
                         (unsigned long long)c.errors, "bytes", (unsigned long long)c.bytes,
                         "warnings", (unsigned long long)c.warnings, "records_with_warnings",
                         (unsigned long long)c.records_with_warnings, "warnings_by_kind", kinds);
}

static PyObject *Reader_get_units(PyObject *op, void *c)
{
    ReaderObject *self = (ReaderObject *)op;
    return PyLong_FromUnsignedLongLong(self->r ? mp_reader_units(self->r) : self->units_at_close);
}

static PyObject *Reader_stats(PyObject *op, PyObject *unused)
{
    ReaderObject *self = (ReaderObject *)op;
    if (!self->r)
        Py_RETURN_NONE;
    mp_stats s;
    memset(&s, 0, sizeof s);
    mp_reader_stats(self->r, &s);
    static const char *names[MP_STAGE_COUNT] = {"producer", "scanner", "parser", "consumer"};
    PyObject *d = PyDict_New();
    if (!d)
        return NULL;
    for (int i = 0; i < MP_STAGE_COUNT; i++) {
        PyObject *v = Py_BuildValue("{sKsKsKsKsK}", "items", (unsigned long long)s.stage[i].items,
                                    "bytes", (unsigned long long)s.stage[i].bytes, "sleeps",
                                    (unsigned long long)s.stage[i].sleeps, "wakeups",
                                    (unsigned long long)s.stage[i].wakeups, "cpu_ns",
                                    (unsigned long long)s.stage[i].cpu_ns);
        if (!v || PyDict_SetItemString(d, names[i], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    static const char *modes[] = {"auto", "pipeline", "sequential"};
    static const char *reasons[] = {"none",        "requested",   "one_cpu",
                                    "small_input", "large_input", "stream"};
    PyObject *v = Py_BuildValue(
        "{sIsIsIsKsssssIsKsKsKsK}", "chunks_total", s.chunks_total, "chunks_in_flight",
        s.chunks_in_flight, "chunks_in_flight_max", s.chunks_in_flight_max, "mpsc_stalls",
        (unsigned long long)s.mpsc_stalls, "mode", s.mode < 3 ? modes[s.mode] : "?", "mode_reason",
        s.mode_reason < 6 ? reasons[s.mode_reason] : "?", "workers", s.workers, "chunks_local",
        (unsigned long long)s.chunks_local, "chunks_consumer",
        (unsigned long long)s.chunks_consumer, "chunks_home", (unsigned long long)s.chunks_home,
        "worker_standbys", (unsigned long long)s.worker_standbys);
    if (!v || PyDict_Update(d, v) < 0) {
        Py_XDECREF(v);
        Py_DECREF(d);
        return NULL;
    }
    Py_DECREF(v);
    return d;
}

static PyObject *Reader_enter(PyObject *op, PyObject *unused)
{
    return Py_NewRef(op);
}

static PyObject *Reader_exit(PyObject *op, PyObject *args)
{
    PyObject *r = PyObject_CallMethod(op, "close", NULL); /* MARCReader.close: the file too */
    if (!r)
        return NULL;
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

static PyObject *Reader_get_cur_exc(PyObject *op, void *c)
{
    PyObject *v = ((ReaderObject *)op)->cur_exc;
    return Py_NewRef(v ? v : Py_None);
}

static PyObject *Reader_get_cur_raw(PyObject *op, void *c)
{
    PyObject *v = ((ReaderObject *)op)->cur_raw;
    return Py_NewRef(v ? v : Py_None);
}

static PyObject *Reader_get_cur_span(PyObject *op, void *c)
{
    ReaderObject *self = (ReaderObject *)op;
    if (!self->cur_valid)
        Py_RETURN_NONE;
    return Py_BuildValue("(KK)", (unsigned long long)self->cur_offset,
                         (unsigned long long)self->cur_length);
}

static PyObject *Reader_get_closed(PyObject *op, void *c)
{
    return PyBool_FromLong(((ReaderObject *)op)->r == NULL);
}

static PyObject *Reader_get_format(PyObject *op, void *c)
{
    ReaderObject *self = (ReaderObject *)op;
    mp_format f = self->r ? mp_reader_format(self->r) : MP_FORMAT_AUTO;
    if ((unsigned)f > MP_FORMAT_MRK || f == MP_FORMAT_AUTO)
        Py_RETURN_NONE;
    return PyUnicode_FromString(format_names[f]);
}

static PyObject *Reader_get_source(PyObject *op, void *c)
{
    PyObject *v = ((ReaderObject *)op)->source;
    return Py_NewRef(v ? v : Py_None);
}

static PyMethodDef Reader_methods[] = {
    {"_open", (PyCFunction)(void (*)(void))Reader_open, METH_VARARGS | METH_KEYWORDS,
     "internal: open the C reader"},
    {"close", (PyCFunction)(void (*)(void))Reader_close, METH_VARARGS | METH_KEYWORDS,
     "close(file=None): stop the pipeline and free its memory; then close `file` "
     "(once the pipeline no longer uses the source). Idempotent. Returns within "
     "about 0.15 s whatever the source does: a read that cannot be interrupted is "
     "left to finish on its own, and `file` is closed when it returns."},
    {"_forked", Reader_forked, METH_NOARGS, "internal: the reader was inherited across fork()"},
    {"counts", Reader_counts, METH_NOARGS, "(records, errors, bytes) so far"},
    {"tally", Reader_tally, METH_NOARGS,
     "dict of the counts so far: records, errors, bytes, warnings, records_with_warnings, "
     "warnings_by_kind"},
    {"stats", Reader_stats, METH_NOARGS,
     "per-stage counters (dict: producer/scanner/parser/consumer -> items, bytes, sleeps, "
     "wakeups, cpu_ns) and which path ran: mode ('pipeline' or 'sequential'), mode_reason "
     "('requested', 'one_cpu', 'small_input', 'large_input', 'stream'), workers, "
     "chunks_local, chunks_consumer, chunks_home, worker_standbys; None when closed"},
    {"__enter__", Reader_enter, METH_NOARGS, NULL},
    {"__exit__", Reader_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Reader_getset[] = {
    {"current_exception", Reader_get_cur_exc, NULL,
     "exception of the last bad unit (None after a good record)", NULL},
    {"_current_raw", Reader_get_cur_raw, NULL, NULL, NULL},
    {"_current_span", Reader_get_cur_span, NULL, NULL, NULL},
    {"closed", Reader_get_closed, NULL, NULL, NULL},
    {"format", Reader_get_format, NULL,
     "the input format being read ('iso2709', 'marcxml', 'json', 'mrk'); None before the "
     "first record or after close()",
     NULL},
    {"units", Reader_get_units, NULL,
     "units read so far: records and bad units (with first_ordinal: the next ordinal)", NULL},
    {"_source", Reader_get_source, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef Reader_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(ReaderObject, weakrefs), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyObject *Reader_iter(PyObject *op)
{
    return Py_NewRef(op);
}

static PyType_Slot Reader_slots[] = {
    {Py_tp_new, Reader_new},
    {Py_tp_dealloc, Reader_dealloc},
    {Py_tp_traverse, Reader_traverse},
    {Py_tp_clear, Reader_clear},
    {Py_tp_iter, Reader_iter},
    {Py_tp_iternext, Reader_iternext},
    {Py_tp_methods, Reader_methods},
    {Py_tp_getset, Reader_getset},
    {Py_tp_members, Reader_members},
    {Py_tp_doc, "C core of marcpipe.MARCReader."},
    {0, NULL},
};

PyType_Spec reader_spec = {
    .name = "marcpipe._marcpipe.ReaderBase",
    .basicsize = sizeof(ReaderObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = Reader_slots,
};

/* _at_exit(): the interpreter is exiting (the package's atexit hook):
 * reapers leave Python alone from now on. */
PyObject *reader_at_exit(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    /* release: pairs with reaper_main's acquire load */
    atomic_store_explicit(&interpreter_exiting, 1, memory_order_release);
    Py_RETURN_NONE;
}
