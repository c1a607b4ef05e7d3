/*
 * pool.c - Pool, an mp_pool of worker threads shared by many readers.
 *
 * Readers opened on a Pool hold a reference to it, so a Pool is never
 * destroyed under an attached reader; close() with readers still attached
 * is refused (the library answers MP_EBUSY). A reader being opened counts
 * as attached: `opening` (read and written with the GIL) covers the time
 * between the open reading the pool pointer and the library's reservation,
 * when the GIL is released, so close() can never free the pool under an
 * open; `closing` (GIL) covers the destroy itself, which runs with the GIL
 * released: an open then fails with "pool is closed" instead of reading a
 * pool being freed. Of a close() and a MARCReader(pool=...) racing, never
 * both succeed: the close fails with RuntimeError (the reader was there
 * first), or the open with ValueError("pool is closed").
 */
#include "binding.h"

static PyObject *Pool_new(PyTypeObject *tp, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"threads", NULL};
    unsigned int threads = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|I:Pool", kwlist, &threads))
        return NULL;
    PoolObject *p = (PoolObject *)tp->tp_alloc(tp, 0);
    if (!p)
        return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mp_pool_create(&p->pool, threads);
    Py_END_ALLOW_THREADS
    if (rc != MP_OK) {
        p->pool = NULL;
        Py_DECREF(p);
        PyErr_Format(rc == MP_ENOMEM ? PyExc_MemoryError : PyExc_OSError, "mp_pool_create: %s",
                     mp_strerror(rc));
        return NULL;
    }
    return (PyObject *)p;
}

static int pool_destroy(PoolObject *p)
{
    if (!p->pool)
        return MP_OK;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = mp_pool_destroy(p->pool);
    Py_END_ALLOW_THREADS
    if (rc == MP_OK)
        p->pool = NULL;
    return rc;
}

static void Pool_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    /* Readers hold a reference to their Pool, so none is attached here. */
    (void)pool_destroy((PoolObject *)self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *Pool_close(PyObject *self, PyObject *unused)
{
    PoolObject *p = (PoolObject *)self;
    if (!p->pool || p->closing)
        Py_RETURN_NONE;
    if (p->opening > 0) {
        PyErr_SetString(PyExc_RuntimeError, "Pool.close(): readers are being opened on this pool");
        return NULL;
    }
    /* Checked with the GIL held: the count only goes down meanwhile (readers
     * closing), and no open can start once `closing` is set. */
    if (mp_pool_attached(p->pool) != 0) {
        PyErr_SetString(PyExc_RuntimeError, "Pool.close(): readers are still open on this pool");
        return NULL;
    }
    /* The GIL is released during the destroy: an open running then sees
     * `closing` and never reaches the pool being freed. */
    p->closing = 1;
    int rc = pool_destroy(p);
    p->closing = 0;
    if (rc == MP_EBUSY) {
        PyErr_SetString(PyExc_RuntimeError, "Pool.close(): readers are still open on this pool");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *Pool_enter(PyObject *self, PyObject *unused)
{
    return Py_NewRef(self);
}

static PyObject *Pool_exit(PyObject *self, PyObject *args)
{
    return Pool_close(self, NULL);
}

static PyObject *Pool_get_threads(PyObject *self, void *c)
{
    PoolObject *p = (PoolObject *)self;
    return PyLong_FromUnsignedLong(p->pool ? mp_pool_threads(p->pool) : 0);
}

static PyObject *Pool_get_attached(PyObject *self, void *c)
{
    PoolObject *p = (PoolObject *)self;
    return PyLong_FromUnsignedLong(p->pool ? mp_pool_attached(p->pool) : 0);
}

static PyObject *Pool_get_closed(PyObject *self, void *c)
{
    return PyBool_FromLong(((PoolObject *)self)->pool == NULL || ((PoolObject *)self)->closing);
}

static PyMethodDef Pool_methods[] = {
    {"close", Pool_close, METH_NOARGS,
     "Stop the workers. RuntimeError while readers are still open on the pool."},
    {"__enter__", Pool_enter, METH_NOARGS, NULL},
    {"__exit__", Pool_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Pool_getset[] = {
    {"threads", Pool_get_threads, NULL, "number of worker threads", NULL},
    {"attached", Pool_get_attached, NULL, "readers attached now (snapshot)", NULL},
    {"closed", Pool_get_closed, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Pool_slots[] = {
    {Py_tp_new, Pool_new},
    {Py_tp_dealloc, Pool_dealloc},
    {Py_tp_methods, Pool_methods},
    {Py_tp_getset, Pool_getset},
    {Py_tp_doc,
     "Pool(threads=0): worker threads shared by many MARCReaders (0: one per usable CPU: affinity "
     "mask, container CPU quota); with one reader busy, all but one of them help it."},
    {0, NULL},
};

PyType_Spec pool_spec = {
    .name = "marcpipe._marcpipe.Pool",
    .basicsize = sizeof(PoolObject),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = Pool_slots,
};
