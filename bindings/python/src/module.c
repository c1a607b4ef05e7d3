/*
 * module.c - the marcpipe._marcpipe module: state, multi-phase init and the
 * module functions (_register, _scan, _decode, _error_kinds, _record_restore, _text_from_utf8,
 * _split_plan, _at_exit).
 */
#include "binding.h"

#include <limits.h>
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
    static char *kwlist[] = {"record",          "field_factory", "subfield",     "indicators",
                             "leader",          "error_factory", "title_slow",   "error_base",
                             "warning_factory", "warning_hook",  "format_error", NULL};
    PyObject *a[11];
    a[10] = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOOOOOO|O:_register", kwlist, &a[0], &a[1],
                                     &a[2], &a[3], &a[4], &a[5], &a[6], &a[7], &a[8], &a[9],
                                     &a[10]))
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
    if (!PyExceptionClass_Check(a[7]) || (a[10] != Py_None && !PyExceptionClass_Check(a[10]))) {
        PyErr_SetString(PyExc_TypeError, "error_base/format_error must be exception classes");
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
    Py_XSETREF(st->warning_factory, Py_NewRef(a[8]));
    Py_XSETREF(st->warning_hook, Py_NewRef(a[9]));
    Py_XSETREF(st->format_error, a[10] == Py_None ? NULL : Py_NewRef(a[10]));
    Py_RETURN_NONE;
}

/* One item of a C-level scan, for parity tests. */
static PyObject *scan_item(int rc, const mp_record *rec, const mp_error_info *e)
{
    if (rc == MP_OK) {
        size_t n = 0;
        (void)mp_record_raw(rec, &n);
        return Py_BuildValue("(sKKKsII)", "record", (unsigned long long)mp_record_ordinal(rec),
                             (unsigned long long)mp_record_offset(rec), (unsigned long long)n, "",
                             mp_record_field_count(rec), mp_record_warning_count(rec));
    }
    return Py_BuildValue("(sKKKsII)", "error", (unsigned long long)e->ordinal,
                         (unsigned long long)e->offset, (unsigned long long)e->length,
                         mp_error_kind_name(e->kind), 0u, 0u);
}

/*
 * _scan(source, sequential=True, to_unicode=True, force_utf8=False,
 *       utf8_handling="strict", threads=0, chunk_size=0, marc8_double="halves",
 *       strict=False)
 * source: bytes-like (memory) or str path. Returns (items, final_rc_name)
 * where items are (what, ordinal, offset, length, kind, nfields, nwarnings),
 * with the options MARCReader would use.
 */
static PyObject *mod_scan(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"source",  "sequential", "to_unicode",   "force_utf8", "utf8_handling",
                             "threads", "chunk_size", "marc8_double", "strict",     NULL};
    PyObject *source;
    reader_args a = READER_ARGS_INIT;
    int sequential = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|pppsInsp:_scan", kwlist, &source, &sequential,
                                     &a.to_unicode, &a.force_utf8, &a.utf8_handling, &a.threads,
                                     &a.chunk_size, &a.marc8_double, &a.strict))
        return NULL;
    a.mode = sequential ? MP_MODE_SEQUENTIAL : MP_MODE_PIPELINE;
    mp_reader_options o;
    if (reader_options_from(&a, &o) < 0)
        return NULL;
    o.record_fn = NULL; /* no Python records here: no layout to build */
    o.record_fn_user = NULL;
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
        raise_open_error(rc, pathb ? source : NULL, &o);
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
 * _decode(data, to_unicode=True, force_utf8=False, utf8_handling="strict",
 *         marc8_double="halves", hide_utf8_warnings=False)
 * Parses the first record of `data` with the sequential reader (no
 * threads) into a RecordBase of the registered class; raises the
 * exception pymarc's decode_marc raises for a bad record. Backs
 * Record(data=...) and Record.decode_marc().
 */
/* _text_from_utf8(data, cont=-1, maxb=-1): text.c's decoder, for the
 * tests; with cont and maxb, the claimed survey (text_from_utf8_as). */
static PyObject *mod_text_from_utf8(PyObject *m, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t cont = -1;
    int maxb = -1;
    (void)m;
    if (!PyArg_ParseTuple(args, "y*|ni:_text_from_utf8", &view, &cont, &maxb))
        return NULL;
    PyObject *res = cont < 0 || maxb < 0 ? text_from_utf8(view.buf, (size_t)view.len)
                                         : text_from_utf8_as(view.buf, (size_t)view.len,
                                                             (size_t)cont, (unsigned)maxb);
    PyBuffer_Release(&view);
    return res;
}

static PyObject *mod_decode(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"data",         "to_unicode",         "force_utf8", "utf8_handling",
                             "marc8_double", "hide_utf8_warnings", NULL};
    Py_buffer view;
    reader_args a = READER_ARGS_INIT;
    int quiet = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|ppssp:_decode", kwlist, &view, &a.to_unicode,
                                     &a.force_utf8, &a.utf8_handling, &a.marc8_double, &quiet))
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
    o.record_fn = NULL; /* the layout is built below, on this thread */
    o.record_fn_user = NULL;
    int rc = mp_reader_open_mem(&r, view.buf, (size_t)view.len, &o);
    if (rc != MP_OK) {
        raise_open_error(rc, NULL, &o);
        goto out;
    }
    const mp_record *rec = NULL;
    rc = mp_reader_next(r, &rec);
    if (rc == MP_OK) {
        PyObject *cls = st->record_cls ? st->record_cls : (PyObject *)st->record_type;
        res = record_from_c(st, (PyTypeObject *)cls, rec, rec_mode_for(&a), NULL, NULL,
                            a.force_utf8, layout_opts_for(&a), 1, quiet);
    } else if (rc == MP_ERECORD) {
        size_t ulen = 0;
        const unsigned char *unit = mp_reader_error_data(r, &ulen);
        PyObject *exc = error_item_to_py(st, mp_reader_error(r), unit, ulen, a.force_utf8, 1, NULL);
        if (exc) {
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

/* _record_restore(cls, state): the record _state() described (pickle, copy). */
static PyObject *mod_record_restore(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyType_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "_record_restore(cls, state)");
        return NULL;
    }
    return record_restore((PyTypeObject *)args[0], args[1]);
}

/*
 * _split_plan(source, parts=0, target_bytes=0, search_limit=0)
 * source: a str/PathLike path, an int descriptor of a regular file, or a
 * bytes-like object. Returns (input_size, [(start, end), ...]): the plan of
 * mp_split_plan_* (marcpipe/split.h). Raises ValueError for a source that
 * cannot be split (a pipe) or bad options, OSError for a missing file.
 */
static PyObject *mod_split_plan(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"source", "parts", "target_bytes", "search_limit", NULL};
    PyObject *source, *pathb = NULL, *res = NULL, *list = NULL;
    unsigned int parts = 0;
    unsigned long long target = 0, limit = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|IKK:_split_plan", kwlist, &source, &parts,
                                     &target, &limit))
        return NULL;
    mp_split_options so = MP_SPLIT_OPTIONS_INIT;
    so.parts = parts;
    so.target_bytes = target;
    so.search_limit = limit;
    mp_split_plan *plan = NULL;
    int rc;
    if (PyLong_Check(source)) {
        long v = PyLong_AsLong(source);
        if (v == -1 && PyErr_Occurred())
            return NULL;
        if (v < 0 || v > INT_MAX) {
            PyErr_SetString(PyExc_ValueError, "_split_plan: bad file descriptor");
            return NULL;
        }
        int fd = (int)v;
        Py_BEGIN_ALLOW_THREADS
        rc = mp_split_plan_fd(&plan, fd, &so);
        Py_END_ALLOW_THREADS
    } else if (PyUnicode_Check(source) || PyObject_HasAttrString(source, "__fspath__")) {
        if (!PyUnicode_FSConverter(source, &pathb))
            return NULL;
        const char *p = PyBytes_AS_STRING(pathb);
        Py_BEGIN_ALLOW_THREADS
        rc = mp_split_plan_path(&plan, p, &so);
        Py_END_ALLOW_THREADS
    } else {
        Py_buffer view;
        if (PyObject_GetBuffer(source, &view, PyBUF_SIMPLE) < 0)
            return NULL;
        Py_BEGIN_ALLOW_THREADS
        rc = mp_split_plan_mem(&plan, view.buf, (size_t)view.len, &so);
        Py_END_ALLOW_THREADS
        PyBuffer_Release(&view);
    }
    if (rc != MP_OK) {
        if (rc == MP_EINVAL)
            PyErr_SetString(PyExc_ValueError,
                            "marcpipe: cannot plan splits (a regular file or memory is needed, "
                            "and parts and target_bytes exclude each other)");
        else
            raise_open_error(rc, pathb ? source : NULL, NULL);
        goto out;
    }
    list = PyList_New((Py_ssize_t)plan->count);
    for (size_t i = 0; list && i < plan->count; i++) {
        PyObject *t = Py_BuildValue("(KK)", (unsigned long long)plan->ranges[i].start,
                                    (unsigned long long)plan->ranges[i].end);
        if (!t) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, t);
    }
    if (list)
        res = Py_BuildValue("(KN)", (unsigned long long)plan->input_size, list);
out:
    mp_split_plan_free(plan);
    Py_XDECREF(pathb);
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
    {"_text_from_utf8", mod_text_from_utf8, METH_VARARGS,
     "internal: _text_from_utf8(data, cont=-1, maxb=-1) -> str, as data.decode('utf-8', "
     "'replace') (the decoder of str(record); cont and maxb: a claimed survey)"},
    {"_record_restore", (PyCFunction)(void (*)(void))mod_record_restore, METH_FASTCALL,
     "internal: rebuild a record from RecordBase._state() (pickle, copy)"},
    {"_split_plan", (PyCFunction)(void (*)(void))mod_split_plan, METH_VARARGS | METH_KEYWORDS,
     "internal: mp_split_plan_* -> (input_size, [(start, end), ...])"},
    {"_at_exit", reader_at_exit, METH_NOARGS,
     "internal: the interpreter is exiting (abandoned reads no longer touch Python)"},
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
    if (!(st->k_leader = PyUnicode_InternFromString("leader")) ||
        !(st->k_fields = PyUnicode_InternFromString("fields")) ||
        !(st->k_ind1 = PyUnicode_InternFromString("ind1")) ||
        !(st->k_ind2 = PyUnicode_InternFromString("ind2")) ||
        !(st->k_subfields = PyUnicode_InternFromString("subfields")) ||
        !(st->n_str_pymarc = PyUnicode_InternFromString("_str_pymarc")) ||
        !(st->n_as_dict_pymarc = PyUnicode_InternFromString("_as_dict_pymarc")))
        return -1;
    for (int i = 0; i < 256; i++) {
        unsigned char c = (unsigned char)i;
        if (!(st->chars[i] = PyUnicode_DecodeLatin1((const char *)&c, 1, NULL)))
            return -1;
    }
    /* marcpipe/write.h's formats and flags, for RecordBase._write. */
    static const struct {
        const char *name;
        long value;
    } consts[] = {
        {"FORMAT_ISO2709", MP_FORMAT_ISO2709},
        {"FORMAT_MARCXML", MP_FORMAT_MARCXML},
        {"FORMAT_JSON", MP_FORMAT_JSON},
        {"FORMAT_NDJSON", MP_FORMAT_NDJSON},
        {"FORMAT_MRK", MP_FORMAT_MRK},
        {"FORMAT_LINE", MP_FORMAT_LINE},
        {"WRITE_KEEP_LEADER", MP_WRITE_KEEP_LEADER},
        {"WRITE_JSON_SPACED", MP_WRITE_JSON_SPACED},
        {"WRITE_ASCII", MP_WRITE_ASCII},
        {"WRITE_XML_COMPACT", MP_WRITE_XML_COMPACT},
        {"WRITE_XML_NAMESPACE", MP_WRITE_XML_NAMESPACE},
        {"E_TOOBIG", MP_ETOOBIG},
        {"E_INVAL", MP_EINVAL},
    };
    for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
        if (PyModule_AddIntConstant(m, consts[i].name, consts[i].value) < 0)
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
    Py_VISIT(st->format_error);
    Py_VISIT(st->record_cls);
    Py_VISIT(st->field_factory);
    Py_VISIT(st->subfield_cls);
    Py_VISIT(st->indicators_cls);
    Py_VISIT(st->leader_cls);
    Py_VISIT(st->error_factory);
    Py_VISIT(st->title_slow);
    Py_VISIT(st->warning_factory);
    Py_VISIT(st->warning_hook);
    Py_VISIT(st->k_leader);
    Py_VISIT(st->k_fields);
    Py_VISIT(st->k_ind1);
    Py_VISIT(st->k_ind2);
    Py_VISIT(st->k_subfields);
    for (int i = 0; i < 1000; i++)
        Py_VISIT(st->digit_tags[i]);
    for (int i = 0; i < 256; i++)
        Py_VISIT(st->chars[i]);
    Py_VISIT(st->n_str_pymarc);
    Py_VISIT(st->n_as_dict_pymarc);
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
    Py_CLEAR(st->format_error);
    Py_CLEAR(st->record_cls);
    Py_CLEAR(st->field_factory);
    Py_CLEAR(st->subfield_cls);
    Py_CLEAR(st->indicators_cls);
    Py_CLEAR(st->leader_cls);
    Py_CLEAR(st->error_factory);
    Py_CLEAR(st->title_slow);
    Py_CLEAR(st->warning_factory);
    Py_CLEAR(st->warning_hook);
    Py_CLEAR(st->k_leader);
    Py_CLEAR(st->k_fields);
    Py_CLEAR(st->k_ind1);
    Py_CLEAR(st->k_ind2);
    Py_CLEAR(st->k_subfields);
    for (int i = 0; i < 1000; i++)
        Py_CLEAR(st->digit_tags[i]);
    for (int i = 0; i < 256; i++)
        Py_CLEAR(st->chars[i]);
    Py_CLEAR(st->n_str_pymarc);
    Py_CLEAR(st->n_as_dict_pymarc);
    mp_buf_free(&st->scratch);
    PyMem_Free(st->view_fields);
    PyMem_Free(st->view_subs);
    st->view_fields = NULL;
    st->view_subs = NULL;
    st->view_fcap = st->view_scap = 0;
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
