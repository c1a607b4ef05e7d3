/*
 * module.c - the marcpipe._marcpipe module: state, multi-phase init and the
 * module functions (_register, _scan, _decode, _error_kinds).
 */
#include "binding.h"

#include <string.h>

module_state *state_of_type(PyTypeObject *tp)
{
    PyObject *m = PyType_GetModuleByDef(tp, &module_def);
    return m ? (module_state *)PyModule_GetState(m) : NULL;
}

PyObject *error_base(const module_state *st)
{
    return st->error_base ? st->error_base : PyExc_RuntimeError;
}

static PyObject *mod_register(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"record",        "field_factory", "subfield",   "indicators", "leader",
                             "error_factory", "title_slow",    "error_base", NULL};
    PyObject *a[8];
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOOOO:_register", kwlist, &a[0], &a[1], &a[2],
                                     &a[3], &a[4], &a[5], &a[6], &a[7]))
        return NULL;
    module_state *st = PyModule_GetState(m);
    if (!PyType_Check(a[0]) || !PyType_IsSubtype((PyTypeObject *)a[0], st->record_type)) {
        PyErr_SetString(PyExc_TypeError, "record must subclass RecordBase");
        return NULL;
    }
    for (int i = 2; i <= 3; i++)
        if (!PyType_Check(a[i]) || !PyType_IsSubtype((PyTypeObject *)a[i], &PyTuple_Type)) {
            PyErr_SetString(PyExc_TypeError, "subfield/indicators must be tuple subclasses");
            return NULL;
        }
    if (!PyExceptionClass_Check(a[7])) {
        PyErr_SetString(PyExc_TypeError, "error_base must be an exception class");
        return NULL;
    }
    Py_XSETREF(st->record_cls, Py_NewRef(a[0]));
    Py_XSETREF(st->field_factory, Py_NewRef(a[1]));
    Py_XSETREF(st->subfield_cls, Py_NewRef(a[2]));
    Py_XSETREF(st->indicators_cls, Py_NewRef(a[3]));
    Py_XSETREF(st->leader_cls, Py_NewRef(a[4]));
    Py_XSETREF(st->error_factory, Py_NewRef(a[5]));
    Py_XSETREF(st->title_slow, Py_NewRef(a[6]));
    Py_XSETREF(st->error_base, Py_NewRef(a[7]));
    Py_RETURN_NONE;
}

/* One item of a C-level scan, for parity tests. */
static PyObject *scan_item(int rc, const mp_record *rec, const mp_error_info *e)
{
    if (rc == MP_OK) {
        size_t n = 0;
        (void)mp_record_raw(rec, &n);
        return Py_BuildValue("(sKKKsI)", "record", (unsigned long long)mp_record_ordinal(rec),
                             (unsigned long long)mp_record_offset(rec), (unsigned long long)n, "",
                             mp_record_field_count(rec));
    }
    return Py_BuildValue("(sKKKsI)", "error", (unsigned long long)e->ordinal,
                         (unsigned long long)e->offset, (unsigned long long)e->length,
                         mp_error_kind_name(e->kind), 0u);
}

/*
 * _scan(source, sequential=True, to_unicode=True, force_utf8=False,
 *       utf8_handling="strict", threads=0, chunk_size=0)
 * source: bytes-like (memory) or str path. Returns (items, final_rc_name)
 * where items are (what, ordinal, offset, length, kind, nfields).
 */
static PyObject *mod_scan(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"source",        "sequential", "to_unicode", "force_utf8",
                             "utf8_handling", "threads",    "chunk_size", NULL};
    PyObject *source;
    reader_args a = READER_ARGS_INIT;
    int sequential = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|pppsIn:_scan", kwlist, &source, &sequential,
                                     &a.to_unicode, &a.force_utf8, &a.utf8_handling, &a.threads,
                                     &a.chunk_size))
        return NULL;
    a.mode = sequential ? MP_MODE_SEQUENTIAL : MP_MODE_PIPELINE;
    mp_reader_options o;
    if (reader_options_from(&a, &o) < 0)
        return NULL;
    Py_buffer view;
    int have_view = 0, rc;
    PyObject *pathb = NULL, *items = PyList_New(0), *res = NULL;
    if (!items)
        return NULL;
    mp_reader *r = NULL;
    if (PyUnicode_Check(source) || PyObject_HasAttrString(source, "__fspath__")) {
        if (!PyUnicode_FSConverter(source, &pathb))
            goto fail;
        const char *p = PyBytes_AS_STRING(pathb);
        Py_BEGIN_ALLOW_THREADS
        rc = mp_reader_open_path(&r, p, &o);
        Py_END_ALLOW_THREADS
    } else {
        if (PyObject_GetBuffer(source, &view, PyBUF_SIMPLE) < 0)
            goto fail;
        have_view = 1;
        const void *d = view.buf;
        size_t n = (size_t)view.len;
        Py_BEGIN_ALLOW_THREADS
        rc = mp_reader_open_mem(&r, d, n, &o);
        Py_END_ALLOW_THREADS
    }
    if (rc != MP_OK) {
        raise_open_error(rc, pathb ? source : NULL);
        goto fail;
    }
    for (;;) {
        const mp_record *rec = NULL;
        Py_BEGIN_ALLOW_THREADS
        rc = mp_reader_next(r, &rec);
        Py_END_ALLOW_THREADS
        if (rc != MP_OK && rc != MP_ERECORD)
            break;
        PyObject *it = scan_item(rc, rec, mp_reader_error(r));
        if (!it || PyList_Append(items, it) < 0) {
            Py_XDECREF(it);
            goto fail;
        }
        Py_DECREF(it);
    }
    res = Py_BuildValue("(Os)", items, mp_err_name(rc));
fail:
    if (r) {
        Py_BEGIN_ALLOW_THREADS
        mp_reader_close(r);
        Py_END_ALLOW_THREADS
    }
    if (have_view)
        PyBuffer_Release(&view);
    Py_XDECREF(pathb);
    Py_DECREF(items);
    return res;
}

/*
 * _decode(data, to_unicode=True, force_utf8=False, utf8_handling="strict")
 * Parses the first record of `data` with the sequential reader (no
 * threads) into a RecordBase of the registered class; raises the mapped
 * exception for a bad record. Backs Record(data=...).
 */
static PyObject *mod_decode(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"data", "to_unicode", "force_utf8", "utf8_handling", NULL};
    Py_buffer view;
    reader_args a = READER_ARGS_INIT;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|pps:_decode", kwlist, &view, &a.to_unicode,
                                     &a.force_utf8, &a.utf8_handling))
        return NULL;
    module_state *st = PyModule_GetState(m);
    PyObject *res = NULL;
    mp_reader *r = NULL;
    mp_reader_options o;
    /* One record from memory: threads would cost more than they save, and
     * the GIL stays held (no callback can need it). */
    a.mode = MP_MODE_SEQUENTIAL;
    if (reader_options_from(&a, &o) < 0)
        goto out;
    int rc = mp_reader_open_mem(&r, view.buf, (size_t)view.len, &o);
    if (rc != MP_OK) {
        raise_open_error(rc, NULL);
        goto out;
    }
    const mp_record *rec = NULL;
    rc = mp_reader_next(r, &rec);
    if (rc == MP_OK) {
        PyObject *cls = st->record_cls ? st->record_cls : (PyObject *)st->record_type;
        res = record_from_c((PyTypeObject *)cls, rec, rec_mode_for(&a), NULL, NULL, a.force_utf8);
    } else if (rc == MP_ERECORD) {
        PyObject *exc = error_item_to_py(st, mp_reader_error(r), rec, a.to_unicode, a.force_utf8,
                                         a.utf8_handling, NULL);
        if (exc && PyObject_TypeCheck(exc, st->record_type)) {
            res = exc;
        } else if (exc) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
    } else if (rc == MP_EOF) {
        PyErr_SetString(error_base(st), "no record in data");
    } else {
        PyErr_Format(error_base(st), "cannot decode record: %s", mp_strerror(rc));
    }
out:
    mp_reader_close(r);
    PyBuffer_Release(&view);
    return res;
}

static PyObject *mod_error_kinds(PyObject *m, PyObject *unused)
{
    PyObject *l = PyList_New(MP_EK_COUNT);
    if (!l)
        return NULL;
    for (int i = 0; i < MP_EK_COUNT; i++) {
        PyObject *s = PyUnicode_FromString(mp_error_kind_name((mp_error_kind)i));
        if (!s) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, i, s);
    }
    return l;
}

static PyMethodDef mod_methods[] = {
    {"_register", (PyCFunction)(void (*)(void))mod_register, METH_VARARGS | METH_KEYWORDS,
     "internal: register the pure-Python classes"},
    {"_scan", (PyCFunction)(void (*)(void))mod_scan, METH_VARARGS | METH_KEYWORDS,
     "internal: list the items of a source as the C readers see them (parity tests)"},
    {"_decode", (PyCFunction)(void (*)(void))mod_decode, METH_VARARGS | METH_KEYWORDS,
     "internal: decode one record from bytes"},
    {"_error_kinds", mod_error_kinds, METH_NOARGS, "names of mp_error_kind values"},
    {NULL, NULL, 0, NULL},
};

static int mod_exec(PyObject *m)
{
    module_state *st = PyModule_GetState(m);
    st->record_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &record_spec, NULL);
    if (!st->record_type || PyModule_AddType(m, st->record_type) < 0)
        return -1;
    st->reader_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &reader_spec, NULL);
    if (!st->reader_type || PyModule_AddType(m, st->reader_type) < 0)
        return -1;
    st->pool_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &pool_spec, NULL);
    if (!st->pool_type || PyModule_AddType(m, st->pool_type) < 0)
        return -1;
    if (PyModule_AddStringConstant(m, "LIB_VERSION", mp_version()) < 0)
        return -1;
    return 0;
}

static int mod_traverse(PyObject *m, visitproc visit, void *arg)
{
    module_state *st = PyModule_GetState(m);
    if (!st)
        return 0;
    Py_VISIT(st->record_type);
    Py_VISIT(st->reader_type);
    Py_VISIT(st->pool_type);
    Py_VISIT(st->error_base);
    Py_VISIT(st->record_cls);
    Py_VISIT(st->field_factory);
    Py_VISIT(st->subfield_cls);
    Py_VISIT(st->indicators_cls);
    Py_VISIT(st->leader_cls);
    Py_VISIT(st->error_factory);
    Py_VISIT(st->title_slow);
    return 0;
}

static int mod_clear(PyObject *m)
{
    module_state *st = PyModule_GetState(m);
    if (!st)
        return 0;
    Py_CLEAR(st->record_type);
    Py_CLEAR(st->reader_type);
    Py_CLEAR(st->pool_type);
    Py_CLEAR(st->error_base);
    Py_CLEAR(st->record_cls);
    Py_CLEAR(st->field_factory);
    Py_CLEAR(st->subfield_cls);
    Py_CLEAR(st->indicators_cls);
    Py_CLEAR(st->leader_cls);
    Py_CLEAR(st->error_factory);
    Py_CLEAR(st->title_slow);
    return 0;
}

static void mod_free(void *m)
{
    (void)mod_clear((PyObject *)m);
}

static PyModuleDef_Slot mod_slots[] = {
    {Py_mod_exec, mod_exec},
    {0, NULL},
};

struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "marcpipe._marcpipe",
    .m_doc = "C core of marcpipe: the pipeline reader, compact records, shared pools.",
    .m_size = sizeof(module_state),
    .m_methods = mod_methods,
    .m_slots = mod_slots,
    .m_traverse = mod_traverse,
    .m_clear = mod_clear,
    .m_free = mod_free,
};

PyMODINIT_FUNC PyInit__marcpipe(void)
{
    return PyModuleDef_Init(&module_def);
}
