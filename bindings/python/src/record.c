/*
 * record.c - RecordBase, the compact record behind marcpipe.Record.
 *
 * The leader, a compact field/subfield index and the text live in one
 * object (the layout of layout.h). Field objects are built by the Python
 * layer's factory the first time they are touched and cached per field;
 * once the field list is materialized (record.fields), it is authoritative.
 * All of it runs with the GIL held.
 */
#include "binding.h"

#include <stdint.h>
#include <string.h>

typedef struct {
    PyObject_VAR_HEAD         /* ob_size: blob bytes */
    PyObject *fields;         /* list of Field once materialized, else NULL */
    PyObject **slots;         /* per-field cache of built Field objects, or NULL */
    PyObject *leader;         /* Leader object (lazy) or whatever was assigned */
    PyObject *codec;          /* (encoding, errors) for REC_CODEC, else NULL */
    PyObject *force_utf8;     /* attribute, default False */
    PyObject *to_unicode;     /* attribute, default True */
    uint64_t offset, ordinal; /* stream position (UINT64_MAX: none) */
    uint32_t nfields, nsubs;
    uint32_t mode;
    uint32_t pad;
    uint64_t blob[]; /* see layout.h */
} RecordObject;

#define REC_BLOB(o)   ((char *)(o)->blob)
#define REC_FIELDS(o) layout_fields(REC_BLOB(o))
#define REC_SUBS(o)   layout_subfields(REC_BLOB(o), (o)->nfields)
#define REC_TEXT(o)   layout_text(REC_BLOB(o), (o)->nfields, (o)->nsubs)

PyObject *record_from_c(PyTypeObject *tp, const mp_record *rec, enum rec_mode mode,
                        PyObject *codec_utf8, PyObject *codec_file, int force_utf8)
{
    layout_dims d;
    const char *ready = layout_prepared(rec, &d);
    if (!ready && layout_measure(rec, &d) < 0) {
        PyErr_SetString(PyExc_OverflowError, "record too large");
        return NULL;
    }
    RecordObject *o = (RecordObject *)tp->tp_alloc(tp, (Py_ssize_t)d.size);
    if (!o)
        return NULL;
    o->nfields = d.nfields;
    o->nsubs = d.nsubs;
    o->mode = mode;
    o->offset = mp_record_offset(rec);
    o->ordinal = mp_record_ordinal(rec);
    if (ready)
        memcpy(REC_BLOB(o), ready, d.size);
    else
        layout_fill(rec, &d, REC_BLOB(o));
    if (mode == REC_CODEC) {
        int utf8 = force_utf8 || REC_BLOB(o)[9] == 'a';
        o->codec = Py_NewRef(utf8 ? codec_utf8 : codec_file);
    }
    o->force_utf8 = Py_NewRef(force_utf8 ? Py_True : Py_False);
    o->to_unicode = Py_NewRef(mode == REC_BYTES ? Py_False : Py_True);
    return (PyObject *)o;
}

static PyObject *rec_text(RecordObject *o, uint32_t off, uint32_t len)
{
    const char *p = REC_TEXT(o) + off;
    switch (o->mode) {
    case REC_BYTES:
        return PyBytes_FromStringAndSize(p, len);
    case REC_CODEC: {
        const char *enc = PyUnicode_AsUTF8(PyTuple_GET_ITEM(o->codec, 0));
        const char *err = PyUnicode_AsUTF8(PyTuple_GET_ITEM(o->codec, 1));
        if (!enc || !err)
            return NULL;
        return PyUnicode_Decode(p, len, enc, err);
    }
    default:
        return PyUnicode_DecodeUTF8(p, len, "replace");
    }
}

static PyObject *char_str(char c)
{
    unsigned char u = (unsigned char)c;
    return PyUnicode_DecodeLatin1((const char *)&u, 1, NULL);
}

/* A namedtuple instance built without calling the Python constructor. */
static PyObject *pair_of(PyObject *cls, PyObject *a, PyObject *b)
{
    PyTypeObject *tp = (PyTypeObject *)cls;
    PyObject *t = tp->tp_alloc(tp, 2);
    if (!t) {
        Py_DECREF(a);
        Py_DECREF(b);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, a);
    PyTuple_SET_ITEM(t, 1, b);
    return t;
}

static PyObject *rec_build_field(module_state *st, RecordObject *o, uint32_t i)
{
    layout_field *f = &REC_FIELDS(o)[i];
    PyObject *tag = PyUnicode_DecodeLatin1(f->tag, 3, NULL), *res = NULL;
    if (!tag)
        return NULL;
    PyObject *raw = o->mode == REC_BYTES ? Py_True : Py_False;
    if (f->ctrl) {
        PyObject *data = rec_text(o, f->off, f->len);
        if (data) {
            PyObject *args[] = {tag, Py_None, Py_None, data, raw};
            res = PyObject_Vectorcall(st->field_factory, args, 5, NULL);
            Py_DECREF(data);
        }
        Py_DECREF(tag);
        return res;
    }
    PyObject *subs = PyList_New(f->nsub), *ind = NULL;
    if (!subs)
        goto fail;
    layout_subfield *s = REC_SUBS(o) + f->sub0;
    for (uint32_t j = 0; j < f->nsub; j++) {
        PyObject *code = char_str(s[j].code);
        PyObject *val = code ? rec_text(o, s[j].off, s[j].len) : NULL;
        if (!val) {
            Py_XDECREF(code);
            goto fail;
        }
        PyObject *sf = pair_of(st->subfield_cls, code, val);
        if (!sf)
            goto fail;
        PyList_SET_ITEM(subs, j, sf);
    }
    PyObject *i1 = char_str(f->ind1), *i2 = i1 ? char_str(f->ind2) : NULL;
    if (!i2) {
        Py_XDECREF(i1);
        goto fail;
    }
    ind = pair_of(st->indicators_cls, i1, i2);
    if (!ind)
        goto fail;
    {
        PyObject *args[] = {tag, ind, subs, Py_None, raw};
        res = PyObject_Vectorcall(st->field_factory, args, 5, NULL);
    }
fail:
    Py_DECREF(tag);
    Py_XDECREF(subs);
    Py_XDECREF(ind);
    return res;
}

/* Field i, built once and cached (identity is stable, as in pymarc). */
static PyObject *rec_field(RecordObject *o, uint32_t i)
{
    if (o->slots && o->slots[i])
        return Py_NewRef(o->slots[i]);
    module_state *st = state_of_type(Py_TYPE(o));
    if (!st)
        return NULL;
    if (!st->field_factory) {
        PyErr_SetString(PyExc_RuntimeError, "marcpipe: Python layer not registered");
        return NULL;
    }
    if (!o->slots) {
        o->slots = PyMem_Calloc(o->nfields ? o->nfields : 1, sizeof(PyObject *));
        if (!o->slots)
            return PyErr_NoMemory();
    }
    PyObject *f = rec_build_field(st, o, i);
    if (f)
        o->slots[i] = Py_NewRef(f);
    return f;
}

/* Materializes the field list; from then on the list is authoritative. */
static PyObject *rec_fields_list(RecordObject *o)
{
    if (o->fields)
        return o->fields;
    PyObject *l = PyList_New(o->nfields);
    if (!l)
        return NULL;
    for (uint32_t i = 0; i < o->nfields; i++) {
        PyObject *f = rec_field(o, i);
        if (!f) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, i, f);
    }
    o->fields = l;
    if (o->slots) {
        for (uint32_t i = 0; i < o->nfields; i++)
            Py_XDECREF(o->slots[i]);
        PyMem_Free(o->slots);
        o->slots = NULL;
    }
    return l;
}

static int tag_arg(PyObject *tag, char out[3])
{
    if (!PyUnicode_Check(tag))
        return 0;
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(tag, &n);
    if (!s) {
        PyErr_Clear();
        return 0;
    }
    if (n != 3)
        return 0;
    memcpy(out, s, 3);
    return 1;
}

static PyObject *field_tag(PyObject *f)
{
    return PyObject_GetAttrString(f, "tag");
}

/* Index of the first field with that tag, -1 if none, -2 on error.
 * Only valid while the fields are not materialized. */
static long rec_find(RecordObject *o, PyObject *tag, uint32_t from)
{
    char t[3];
    if (!tag_arg(tag, t))
        return -1;
    layout_field *f = REC_FIELDS(o);
    for (uint32_t i = from; i < o->nfields; i++)
        if (f[i].tag[0] == t[0] && f[i].tag[1] == t[1] && f[i].tag[2] == t[2])
            return (long)i;
    return -1;
}

static PyObject *list_first(PyObject *list, PyObject *tag)
{
    Py_ssize_t n = PyList_GET_SIZE(list);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *f = PyList_GET_ITEM(list, i);
        Py_INCREF(f);
        PyObject *ft = field_tag(f);
        if (!ft) {
            Py_DECREF(f);
            return NULL;
        }
        int eq = PyObject_RichCompareBool(ft, tag, Py_EQ);
        Py_DECREF(ft);
        if (eq < 0) {
            Py_DECREF(f);
            return NULL;
        }
        if (eq)
            return f;
        Py_DECREF(f);
    }
    return Py_NewRef(Py_None); /* sentinel: not found */
}

/* New ref to the first field with `tag`, Py_None (new ref) if none. */
static PyObject *rec_first(RecordObject *o, PyObject *tag)
{
    if (o->fields)
        return list_first(o->fields, tag);
    long i = rec_find(o, tag, 0);
    if (i < 0)
        return Py_NewRef(Py_None);
    return rec_field(o, (uint32_t)i);
}

static PyObject *Record_getitem(PyObject *self, PyObject *tag)
{
    PyObject *f = rec_first((RecordObject *)self, tag);
    if (f == Py_None) {
        Py_DECREF(f);
        PyErr_SetObject(PyExc_KeyError, tag);
        return NULL;
    }
    return f;
}

static int Record_contains(PyObject *self, PyObject *tag)
{
    RecordObject *o = (RecordObject *)self;
    if (!o->fields)
        return rec_find(o, tag, 0) >= 0;
    PyObject *f = list_first(o->fields, tag);
    if (!f)
        return -1;
    int r = f != Py_None;
    Py_DECREF(f);
    return r;
}

static PyObject *Record_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(tag, default=None)");
        return NULL;
    }
    PyObject *f = rec_first((RecordObject *)self, args[0]);
    if (f == Py_None && nargs == 2) {
        Py_DECREF(f);
        return Py_NewRef(args[1]);
    }
    return f;
}

static PyObject *Record_get_fields(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    RecordObject *o = (RecordObject *)self;
    if (nargs == 0) {
        PyObject *l = rec_fields_list(o);
        return l ? Py_NewRef(l) : NULL;
    }
    PyObject *out = PyList_New(0);
    if (!out)
        return NULL;
    if (o->fields) {
        Py_ssize_t n = PyList_GET_SIZE(o->fields);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *f = PyList_GET_ITEM(o->fields, i);
            Py_INCREF(f);
            PyObject *ft = field_tag(f);
            int hit = 0;
            for (Py_ssize_t k = 0; ft && k < nargs && !hit; k++) {
                hit = PyObject_RichCompareBool(ft, args[k], Py_EQ);
                if (hit < 0)
                    break;
            }
            Py_XDECREF(ft);
            if (!ft || hit < 0 || (hit && PyList_Append(out, f) < 0)) {
                Py_DECREF(f);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(f);
        }
        return out;
    }
    char tags[16][3];
    if (nargs > 16) { /* rare: fall back to one scan per tag set via the list */
        if (!rec_fields_list(o)) {
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(out);
        return Record_get_fields(self, args, nargs);
    }
    int ntags = 0;
    for (Py_ssize_t k = 0; k < nargs; k++)
        if (tag_arg(args[k], tags[ntags]))
            ntags++;
    layout_field *fs = REC_FIELDS(o);
    for (uint32_t i = 0; i < o->nfields; i++) {
        for (int k = 0; k < ntags; k++) {
            if (memcmp(fs[i].tag, tags[k], 3) == 0) {
                PyObject *f = rec_field(o, i);
                if (!f || PyList_Append(out, f) < 0) {
                    Py_XDECREF(f);
                    Py_DECREF(out);
                    return NULL;
                }
                Py_DECREF(f);
                break;
            }
        }
    }
    return out;
}

/* title: 245 $a, plus " " + $b when both are non-empty (pymarc 5.x). */
static PyObject *Record_title(PyObject *self, void *closure)
{
    RecordObject *o = (RecordObject *)self;
    long i = -1;
    if (!o->fields && o->mode == REC_UTF8) {
        layout_field *fs = REC_FIELDS(o);
        for (uint32_t k = 0; k < o->nfields; k++)
            if (fs[k].tag[0] == '2' && fs[k].tag[1] == '4' && fs[k].tag[2] == '5') {
                i = (long)k;
                break;
            }
        if (i < 0)
            Py_RETURN_NONE;
    }
    if (i < 0 || (o->slots && o->slots[i])) {
        module_state *st = state_of_type(Py_TYPE(self));
        if (!st || !st->title_slow) {
            PyErr_SetString(PyExc_RuntimeError, "marcpipe: Python layer not registered");
            return NULL;
        }
        return PyObject_CallOneArg(st->title_slow, self);
    }
    layout_field *f = &REC_FIELDS(o)[i];
    if (f->ctrl)
        Py_RETURN_NONE;
    layout_subfield *s = REC_SUBS(o) + f->sub0, *a = NULL, *b = NULL;
    for (uint32_t j = 0; j < f->nsub; j++) {
        if (!a && s[j].code == 'a')
            a = &s[j];
        else if (!b && s[j].code == 'b')
            b = &s[j];
    }
    if (!a)
        Py_RETURN_NONE;
    const char *t = REC_TEXT(o);
    if (a->len == 0 || !b || b->len == 0)
        return PyUnicode_DecodeUTF8(t + a->off, a->len, "replace");
    size_t n = (size_t)a->len + 1 + b->len;
    char stackbuf[1024];
    char *buf = n <= sizeof stackbuf ? stackbuf : PyMem_Malloc(n);
    if (!buf)
        return PyErr_NoMemory();
    memcpy(buf, t + a->off, a->len);
    buf[a->len] = ' ';
    memcpy(buf + a->len + 1, t + b->off, b->len);
    PyObject *r = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)n, "replace");
    if (buf != stackbuf)
        PyMem_Free(buf);
    return r;
}

static PyObject *Record_get_fields_attr(PyObject *self, void *closure)
{
    PyObject *l = rec_fields_list((RecordObject *)self);
    return l ? Py_NewRef(l) : NULL;
}

static int Record_set_fields_attr(PyObject *self, PyObject *v, void *closure)
{
    RecordObject *o = (RecordObject *)self;
    if (!v) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete fields");
        return -1;
    }
    if (o->slots) {
        for (uint32_t i = 0; i < o->nfields; i++)
            Py_XDECREF(o->slots[i]);
        PyMem_Free(o->slots);
        o->slots = NULL;
    }
    Py_XSETREF(o->fields, Py_NewRef(v));
    return 0;
}

static PyObject *Record_get_leader(PyObject *self, void *closure)
{
    RecordObject *o = (RecordObject *)self;
    if (!o->leader) {
        module_state *st = state_of_type(Py_TYPE(self));
        if (!st)
            return NULL;
        PyObject *s = PyUnicode_DecodeLatin1(REC_BLOB(o), 24, NULL);
        if (!s)
            return NULL;
        if (st->leader_cls) {
            o->leader = PyObject_CallOneArg(st->leader_cls, s);
            Py_DECREF(s);
            if (!o->leader)
                return NULL;
        } else {
            o->leader = s;
        }
    }
    return Py_NewRef(o->leader);
}

static int Record_set_leader(PyObject *self, PyObject *v, void *closure)
{
    if (!v) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete leader");
        return -1;
    }
    Py_XSETREF(((RecordObject *)self)->leader, Py_NewRef(v));
    return 0;
}

#define OBJ_ATTR(name)                                                                             \
    static PyObject *Record_get_##name(PyObject *self, void *c)                                    \
    {                                                                                              \
        PyObject *v = ((RecordObject *)self)->name;                                                \
        return Py_NewRef(v ? v : Py_None);                                                         \
    }                                                                                              \
    static int Record_set_##name(PyObject *self, PyObject *v, void *c)                             \
    {                                                                                              \
        Py_XSETREF(((RecordObject *)self)->name, Py_XNewRef(v));                                   \
        return 0;                                                                                  \
    }
OBJ_ATTR(force_utf8)
OBJ_ATTR(to_unicode)

static PyObject *Record_get_offset(PyObject *self, void *c)
{
    RecordObject *o = (RecordObject *)self;
    if (o->offset == UINT64_MAX)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong(o->offset);
}

static PyObject *Record_get_ordinal(PyObject *self, void *c)
{
    RecordObject *o = (RecordObject *)self;
    if (o->offset == UINT64_MAX)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong(o->ordinal);
}

static PyObject *Record_new(PyTypeObject *tp, PyObject *args, PyObject *kw)
{
    RecordObject *o = (RecordObject *)tp->tp_alloc(tp, 24);
    if (!o)
        return NULL;
    memset(REC_BLOB(o), ' ', 24);
    o->offset = UINT64_MAX;
    o->fields = PyList_New(0);
    o->force_utf8 = Py_NewRef(Py_False);
    o->to_unicode = Py_NewRef(Py_True);
    if (!o->fields) {
        Py_DECREF(o);
        return NULL;
    }
    return (PyObject *)o;
}

static void Record_dealloc(PyObject *self)
{
    RecordObject *o = (RecordObject *)self;
    PyTypeObject *tp = Py_TYPE(self);
    if (o->slots) {
        for (uint32_t i = 0; i < o->nfields; i++)
            Py_XDECREF(o->slots[i]);
        PyMem_Free(o->slots);
    }
    Py_XDECREF(o->fields);
    Py_XDECREF(o->leader);
    Py_XDECREF(o->codec);
    Py_XDECREF(o->force_utf8);
    Py_XDECREF(o->to_unicode);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static Py_ssize_t Record_len(PyObject *self)
{
    RecordObject *o = (RecordObject *)self;
    return o->fields ? PyObject_Length(o->fields) : (Py_ssize_t)o->nfields;
}

static PyObject *Record_iter(PyObject *self)
{
    PyObject *l = rec_fields_list((RecordObject *)self);
    return l ? PyObject_GetIter(l) : NULL;
}

/* (tags...) of the compact index or of the materialized list */
static PyObject *Record_tags(PyObject *self, PyObject *unused)
{
    RecordObject *o = (RecordObject *)self;
    if (o->fields) {
        PyObject *out = PyList_New(0);
        PyObject *it = out ? PyObject_GetIter(o->fields) : NULL, *f;
        if (!it) {
            Py_XDECREF(out);
            return NULL;
        }
        while ((f = PyIter_Next(it))) {
            PyObject *t = field_tag(f);
            Py_DECREF(f);
            if (!t || PyList_Append(out, t) < 0) {
                Py_XDECREF(t);
                Py_DECREF(it);
                Py_DECREF(out);
                return NULL;
            }
            Py_DECREF(t);
        }
        Py_DECREF(it);
        if (PyErr_Occurred()) {
            Py_DECREF(out);
            return NULL;
        }
        return out;
    }
    PyObject *out = PyList_New(o->nfields);
    if (!out)
        return NULL;
    for (uint32_t i = 0; i < o->nfields; i++) {
        PyObject *t = PyUnicode_DecodeLatin1(REC_FIELDS(o)[i].tag, 3, NULL);
        if (!t) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, t);
    }
    return out;
}

static PyMethodDef Record_methods[] = {
    {"get", (PyCFunction)(void (*)(void))Record_get, METH_FASTCALL,
     "get(tag, default=None): the first field with that tag, or default."},
    {"get_fields", (PyCFunction)(void (*)(void))Record_get_fields, METH_FASTCALL,
     "get_fields(*tags): fields with any of the tags (all fields without arguments)."},
    {"_tags", Record_tags, METH_NOARGS, "tags of the fields, in order."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Record_getset[] = {
    {"title", Record_title, NULL, "245 $a and $b (pymarc 5.x rules), or None.", NULL},
    {"fields", Record_get_fields_attr, Record_set_fields_attr, "list of Field objects", NULL},
    {"leader", Record_get_leader, Record_set_leader, "the Leader", NULL},
    {"force_utf8", Record_get_force_utf8, Record_set_force_utf8, NULL, NULL},
    {"to_unicode", Record_get_to_unicode, Record_set_to_unicode, NULL, NULL},
    {"offset", Record_get_offset, NULL, "byte offset of the record in its stream, or None", NULL},
    {"ordinal", Record_get_ordinal, NULL, "0-based unit ordinal in its stream, or None", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Record_slots[] = {
    {Py_tp_new, Record_new},
    {Py_tp_dealloc, Record_dealloc},
    {Py_tp_methods, Record_methods},
    {Py_tp_getset, Record_getset},
    {Py_mp_subscript, Record_getitem},
    {Py_mp_length, Record_len},
    {Py_sq_contains, Record_contains},
    {Py_tp_iter, Record_iter},
    {Py_tp_doc, "Compact MARC record built by the reader (base of marcpipe.Record)."},
    {0, NULL},
};

PyType_Spec record_spec = {
    .name = "marcpipe._marcpipe.RecordBase",
    .basicsize = (int)offsetof(RecordObject, blob),
    .itemsize = 1,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .slots = Record_slots,
};
