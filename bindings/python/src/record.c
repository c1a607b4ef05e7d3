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
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct {
    PyObject_VAR_HEAD         /* ob_size: blob bytes */
    PyObject *fields;         /* list of Field once materialized, else NULL */
    PyObject **slots;         /* per-field cache of built Field objects, or NULL */
    PyObject *leader;         /* Leader object (lazy) or whatever was assigned */
    PyObject *codec;          /* (encoding, errors) for REC_CODEC, else NULL */
    PyObject *force_utf8;     /* attribute, default False */
    PyObject *to_unicode;     /* attribute, default True */
    PyObject *warnings;       /* tuple of warning objects, or NULL (none) */
    uint64_t offset, ordinal; /* stream position (UINT64_MAX: none) */
    uint32_t nfields, nsubs;
    uint32_t mode;
    uint32_t ascii;               /* REC_MRK_* bits (str(), as_dict()); 0: nothing known yet */
    uint64_t mrk_len;             /* bytes of str(record) from the blob (REC_MRK_SIZED) */
    uint32_t text_cont, text_max; /* the text area's continuation bytes and
                                   * largest byte (REC_TEXT_CHECKED) */
    uint64_t blob[];              /* see layout.h */
} RecordObject;

#define REC_BLOB(o)   ((char *)(o)->blob)
#define REC_FIELDS(o) layout_fields(REC_BLOB(o))
#define REC_SUBS(o)   layout_subfields(REC_BLOB(o), (o)->nfields)
#define REC_TEXT(o)   layout_text(REC_BLOB(o), (o)->nfields, (o)->nsubs)

/* The record's warnings as a tuple of the registered factory's objects
 * (plain (kind, offset, ordinal, tag, subfield, message) tuples before
 * the Python layer registered one). */
static PyObject *warnings_from_c(module_state *st, const mp_record *rec)
{
    uint32_t n = mp_record_warning_count(rec), kept = 0;
    while (kept < n && mp_record_warning(rec, kept))
        kept++;
    PyObject *t = PyTuple_New(kept);
    if (!t)
        return NULL;
    for (uint32_t i = 0; i < kept; i++) {
        const mp_warning *w = mp_record_warning(rec, i);
        char sf[2] = {w->subfield, 0};
        PyObject *args = Py_BuildValue(
            "(sKKNNN)", mp_error_kind_name(w->kind), (unsigned long long)w->offset,
            (unsigned long long)mp_record_ordinal(rec),
            PyUnicode_DecodeLatin1(w->tag, (Py_ssize_t)strnlen(w->tag, sizeof w->tag), NULL),
            PyUnicode_DecodeLatin1(sf, w->subfield ? 1 : 0, NULL),
            PyUnicode_DecodeUTF8(w->message, (Py_ssize_t)strnlen(w->message, sizeof w->message),
                                 "replace"));
        PyObject *v = NULL;
        if (args)
            v = st && st->warning_factory ? PyObject_CallObject(st->warning_factory, args)
                                          : Py_NewRef(args);
        Py_XDECREF(args);
        if (!v) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

static void record_summary(RecordObject *o, const layout_dims *d);

PyObject *record_from_c(module_state *st, PyTypeObject *tp, const mp_record *rec,
                        enum rec_mode mode, PyObject *codec_utf8, PyObject *codec_file,
                        int force_utf8, const layout_opts *lo, int emit, int quiet)
{
    layout_dims d;
    const char *ready = layout_prepared(rec, &d);
    if (!ready && layout_measure(rec, lo, &d) < 0) {
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
        layout_fill(rec, lo, &d, REC_BLOB(o));
    if (d.summary) /* what str() and as_dict() would learn on first use */
        record_summary(o, &d);
    if (mode == REC_CODEC) {
        int utf8 = force_utf8 || REC_BLOB(o)[9] == 'a';
        o->codec = Py_NewRef(utf8 ? codec_utf8 : codec_file);
    }
    o->force_utf8 = Py_NewRef(force_utf8 ? Py_True : Py_False);
    o->to_unicode = Py_NewRef(mode == REC_BYTES ? Py_False : Py_True);
    if (mp_record_warning_count(rec)) { /* rare: the common path stays a copy */
        if (!(o->warnings = warnings_from_c(st, rec))) {
            Py_DECREF(o);
            return NULL;
        }
        if (emit && st && st->warning_hook && st->warning_hook != Py_None) {
            PyObject *r = PyObject_CallFunction(st->warning_hook, "OO", (PyObject *)o,
                                                quiet ? Py_True : Py_False);
            if (!r) { /* warnings turned into errors (-W error) */
                Py_DECREF(o);
                return NULL;
            }
            Py_DECREF(r);
        }
    }
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

/* offset / ordinal are set together by the reader; by hand (decode_marc)
 * each may be set to an int >= 0, or offset to None (no position). */
static int Record_set_position(PyObject *self, PyObject *v, void *which)
{
    RecordObject *o = (RecordObject *)self;
    int is_offset = which != NULL;
    if (!v || v == Py_None) {
        if (is_offset)
            o->offset = UINT64_MAX;
        else
            o->ordinal = 0;
        return 0;
    }
    unsigned long long x = PyLong_AsUnsignedLongLong(v);
    if (x == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    if (is_offset) {
        if (x == UINT64_MAX) {
            PyErr_SetString(PyExc_OverflowError, "offset too large");
            return -1;
        }
        o->offset = x;
    } else {
        o->ordinal = x;
        if (o->offset == UINT64_MAX)
            o->offset = 0; /* a position needs both */
    }
    return 0;
}

static PyObject *Record_get_warnings(PyObject *self, void *c)
{
    PyObject *v = ((RecordObject *)self)->warnings;
    return v ? Py_NewRef(v) : PyTuple_New(0);
}

static int Record_set_warnings(PyObject *self, PyObject *v, void *c)
{
    PyObject *t = v ? PySequence_Tuple(v) : NULL;
    if (v && !t)
        return -1;
    Py_XSETREF(((RecordObject *)self)->warnings, t);
    return 0;
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
    Py_XDECREF(o->warnings);
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

/* ---- pickle / copy -------------------------------------------------------- */

/* The blob is native structs: a state says which layout it is in, and a
 * restore on another layout (another ABI or byte order) refuses it. */
#define STATE_VERSION 1
static long layout_signature(void)
{
    const uint16_t one = 1;
    return (long)(sizeof(layout_field) << 16 | sizeof(layout_subfield) << 8 |
                  (unsigned)*(const unsigned char *)&one);
}

static PyObject *opt_u64(uint64_t v, int valid)
{
    return valid ? PyLong_FromUnsignedLongLong(v) : Py_NewRef(Py_None);
}

/*
 * _state(): (version, signature, blob, nfields, nsubs, mode, offset, ordinal,
 *            codec, force_utf8, to_unicode, leader, fields, built)
 * The compact layout as one bytes object - no per-field objects - unless
 * the record was changed in Python: `fields` is the materialized list
 * (then the blob keeps only the raw leader), `built` the Field objects
 * already built from the layout ((index, field) pairs: edits made through
 * them stick), `leader` the Leader object once it was touched.
 */
static PyObject *Record_state(PyObject *self, PyObject *unused)
{
    RecordObject *o = (RecordObject *)self;
    size_t size = o->fields ? LAYOUT_LEADER_LEN : (size_t)Py_SIZE(o);
    PyObject *blob = PyBytes_FromStringAndSize(REC_BLOB(o), (Py_ssize_t)size);
    PyObject *built = NULL, *res = NULL;
    if (!blob)
        return NULL;
    if (!o->fields && o->slots) {
        built = PyList_New(0);
        for (uint32_t i = 0; built && i < o->nfields; i++) {
            if (!o->slots[i])
                continue;
            PyObject *pair = Py_BuildValue("(IO)", i, o->slots[i]);
            if (!pair || PyList_Append(built, pair) < 0) {
                Py_XDECREF(pair);
                Py_CLEAR(built);
            }
            Py_XDECREF(pair);
        }
        if (!built)
            goto out;
    }
    int pos = o->offset != UINT64_MAX;
    PyObject *off = opt_u64(o->offset, pos), *ord = off ? opt_u64(o->ordinal, pos) : NULL;
    if (!ord) {
        Py_XDECREF(off);
        goto out;
    }
    res = Py_BuildValue("(ilNIIINNOOOOOO)", STATE_VERSION, layout_signature(), blob,
                        o->fields ? 0u : o->nfields, o->fields ? 0u : o->nsubs, o->mode, off, ord,
                        o->codec ? o->codec : Py_None, o->force_utf8 ? o->force_utf8 : Py_None,
                        o->to_unicode ? o->to_unicode : Py_None, o->leader ? o->leader : Py_None,
                        o->fields ? o->fields : Py_None, built ? built : Py_None);
    blob = NULL; /* stolen by N */
out:
    Py_XDECREF(blob);
    Py_XDECREF(built);
    return res;
}

/* Checks that every index of the blob stays inside it (a state may come
 * from anywhere: a corrupt one must fail, not read out of bounds). */
static int blob_valid(const char *blob, size_t size, uint32_t nf, uint32_t ns)
{
    uint64_t fixed = LAYOUT_LEADER_LEN + (uint64_t)nf * sizeof(layout_field) +
                     (uint64_t)ns * sizeof(layout_subfield);
    if (fixed > size)
        return 0;
    uint64_t text = size - fixed;
    const layout_field *f = (const layout_field *)(blob + LAYOUT_LEADER_LEN);
    const layout_subfield *s = (const layout_subfield *)(f + nf);
    for (uint32_t i = 0; i < nf; i++) {
        if (f[i].ctrl ? (uint64_t)f[i].off + f[i].len > text : (uint64_t)f[i].sub0 + f[i].nsub > ns)
            return 0;
    }
    for (uint32_t j = 0; j < ns; j++)
        if ((uint64_t)s[j].off + s[j].len > text)
            return 0;
    return 1;
}

/* Clears LAYOUT_RUN where a field's run is not what the flag promises
 * (str() copies a run without looking into it): after blob_valid, on the
 * record's own copy of a state's blob. */
static void blob_runs_check(char *blob, size_t size, uint32_t nf, uint32_t ns)
{
    layout_field *f = layout_fields(blob);
    const layout_subfield *s = layout_subfields(blob, nf);
    const char *text = layout_text(blob, nf, ns);
    uint64_t tlen = size - (uint64_t)(text - blob);
    for (uint32_t i = 0; i < nf; i++) {
        if (f[i].ctrl || !(f[i].flags & LAYOUT_RUN))
            continue;
        uint64_t pos = f[i].off, end = (uint64_t)f[i].off + f[i].len;
        int ok = end <= tlen;
        for (uint32_t j = 0; ok && j < f[i].nsub; j++) {
            const layout_subfield *sj = &s[f[i].sub0 + j];
            ok = pos + 2 <= end && text[pos] == '$' && text[pos + 1] == sj->code &&
                 sj->off == pos + 2 && (uint64_t)sj->off + sj->len <= end;
            pos = (uint64_t)sj->off + sj->len;
        }
        if (!ok || pos != end)
            f[i].flags &= (uint16_t)~LAYOUT_RUN;
    }
}

PyObject *record_restore(PyTypeObject *cls, PyObject *state)
{
    int version;
    long sig;
    Py_buffer blob;
    unsigned int nf, ns, mode;
    PyObject *off, *ord, *codec, *fu8, *tu, *leader, *fields, *built;
    module_state *st = state_of_type(cls);
    if (!st)
        return NULL;
    if (!PyType_IsSubtype(cls, st->record_type)) {
        PyErr_SetString(PyExc_TypeError, "_record_restore: cls must subclass RecordBase");
        return NULL;
    }
    if (!PyTuple_Check(state) ||
        !PyArg_ParseTuple(state, "ily*IIIOOOOOOOO:_record_restore", &version, &sig, &blob, &nf, &ns,
                          &mode, &off, &ord, &codec, &fu8, &tu, &leader, &fields, &built)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "_record_restore: state must be a tuple");
        return NULL;
    }
    RecordObject *o = NULL;
    const char *why = NULL;
    if (version != STATE_VERSION || sig != layout_signature())
        why = "the record was pickled by another marcpipe version or platform";
    else if (mode > REC_CODEC || (size_t)blob.len < LAYOUT_LEADER_LEN ||
             !blob_valid(blob.buf, (size_t)blob.len, nf, ns))
        why = "corrupt record state";
    else if (mode == REC_CODEC && !(PyTuple_Check(codec) && PyTuple_GET_SIZE(codec) == 2 &&
                                    PyUnicode_Check(PyTuple_GET_ITEM(codec, 0)) &&
                                    PyUnicode_Check(PyTuple_GET_ITEM(codec, 1))))
        why = "corrupt record state (codec)";
    else if ((fields != Py_None && !PyList_Check(fields)) ||
             (built != Py_None && (!PyList_Check(built) || fields != Py_None)))
        why = "corrupt record state (fields)";
    if (why) {
        PyErr_SetString(PyExc_ValueError, why);
        goto fail;
    }
    o = (RecordObject *)cls->tp_alloc(cls, blob.len);
    if (!o)
        goto fail;
    memcpy(REC_BLOB(o), blob.buf, (size_t)blob.len);
    blob_runs_check(REC_BLOB(o), (size_t)blob.len, nf, ns);
    o->nfields = nf;
    o->nsubs = ns;
    o->mode = mode;
    o->offset = off == Py_None ? UINT64_MAX : PyLong_AsUnsignedLongLong(off);
    o->ordinal = ord == Py_None ? 0 : PyLong_AsUnsignedLongLong(ord);
    if (PyErr_Occurred())
        goto fail;
    if (mode == REC_CODEC)
        o->codec = Py_NewRef(codec);
    o->force_utf8 = Py_NewRef(fu8);
    o->to_unicode = Py_NewRef(tu);
    if (leader != Py_None)
        o->leader = Py_NewRef(leader);
    if (fields != Py_None)
        o->fields = Py_NewRef(fields);
    if (built != Py_None && PyList_GET_SIZE(built) > 0) {
        o->slots = PyMem_Calloc(nf ? nf : 1, sizeof(PyObject *));
        if (!o->slots) {
            PyErr_NoMemory();
            goto fail;
        }
        for (Py_ssize_t k = 0; k < PyList_GET_SIZE(built); k++) {
            unsigned int i;
            PyObject *f;
            if (!PyArg_ParseTuple(PyList_GET_ITEM(built, k), "IO", &i, &f))
                goto fail;
            if (i >= nf) {
                PyErr_SetString(PyExc_ValueError, "corrupt record state (field index)");
                goto fail;
            }
            Py_XSETREF(o->slots[i], Py_NewRef(f));
        }
    }
    PyBuffer_Release(&blob);
    return (PyObject *)o;
fail:
    PyBuffer_Release(&blob);
    Py_XDECREF(o);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* serialising: as_marc, as_json, str(), MARCXML through marcpipe/write.h   */

/*
 * The record is handed to the library's serialisers as an mp_record view
 * (mp_record_view): mp_field / mp_subfield arrays whose spans point into
 * the blob's text for untouched fields, and into the UTF-8 buffers of the
 * Python strings for fields that exist as Field objects (cached or in the
 * materialized list). Those objects are held in `refs` until the bytes are
 * made. A shape pymarc allows but the C model cannot carry exactly (a tag
 * that is not 3 characters, a multi-character or non-ASCII indicator or
 * code, bytes or None values, a leader that is not 24 bytes, a record in
 * to_unicode=False or file_encoding mode) makes view_build answer 0: the
 * Python layer then serialises it the way pymarc does.
 */
typedef struct view_build {
    mp_field *fields;
    size_t nfields, fcap;
    mp_subfield *subs;
    size_t nsubs, scap;
    PyObject **refs; /* objects whose buffers the spans point into */
    size_t nrefs, rcap;
    char leader[LAYOUT_LEADER_LEN];
    module_state *st; /* the arrays are the module's (returned by view_free) */
} view_build;

/* Starts a view, borrowing the module's arrays unless they are in use. */
static void view_init(view_build *v, module_state *st)
{
    memset(v, 0, sizeof *v);
    if (st && !st->view_busy) {
        st->view_busy = 1;
        v->st = st;
        v->fields = st->view_fields;
        v->fcap = st->view_fcap;
        v->subs = st->view_subs;
        v->scap = st->view_scap;
    }
}

static void view_free(view_build *v)
{
    for (size_t i = 0; i < v->nrefs; i++)
        Py_DECREF(v->refs[i]);
    PyMem_Free(v->refs);
    if (v->st) { /* give the (maybe grown) arrays back for the next call */
        v->st->view_fields = v->fields;
        v->st->view_fcap = v->fcap;
        v->st->view_subs = v->subs;
        v->st->view_scap = v->scap;
        v->st->view_busy = 0;
    } else {
        PyMem_Free(v->fields);
        PyMem_Free(v->subs);
    }
}

/* Keeps `obj` (a new reference, stolen; NULL: an error is set) alive. */
static PyObject *view_hold(view_build *v, PyObject *obj)
{
    if (!obj)
        return NULL;
    if (v->nrefs == v->rcap) {
        size_t ncap = v->rcap ? v->rcap * 2 : 32;
        PyObject **n = PyMem_Realloc(v->refs, ncap * sizeof *n);
        if (!n) {
            Py_DECREF(obj);
            PyErr_NoMemory();
            return NULL;
        }
        v->refs = n;
        v->rcap = ncap;
    }
    v->refs[v->nrefs++] = obj;
    return obj;
}

static mp_field *view_field(view_build *v)
{
    if (v->nfields == v->fcap) {
        size_t ncap = v->fcap ? v->fcap * 2 : 32;
        mp_field *n = PyMem_Realloc(v->fields, ncap * sizeof *n);
        if (!n) {
            PyErr_NoMemory();
            return NULL;
        }
        v->fields = n;
        v->fcap = ncap;
    }
    mp_field *f = &v->fields[v->nfields++];
    memset(f, 0, sizeof *f);
    return f;
}

/* Appends a subfield; field pointers are fixed up in view_finish. */
static int view_sub(view_build *v, char code, const char *data, size_t len)
{
    if (len > UINT32_MAX)
        return 0;
    if (v->nsubs == v->scap) {
        size_t ncap = v->scap ? v->scap * 2 : 64;
        mp_subfield *n = PyMem_Realloc(v->subs, ncap * sizeof *n);
        if (!n) {
            PyErr_NoMemory();
            return -1;
        }
        v->subs = n;
        v->scap = ncap;
    }
    mp_subfield *s = &v->subs[v->nsubs++];
    s->code = code;
    s->data = data;
    s->len = (uint32_t)len;
    return 1;
}

/* The UTF-8 of a str: 1, 0 (not a str, or one UTF-8 cannot hold). */
static int view_utf8(PyObject *s, const char **p, Py_ssize_t *n)
{
    if (!PyUnicode_Check(s))
        return 0;
    *p = PyUnicode_AsUTF8AndSize(s, n);
    if (!*p) {
        PyErr_Clear(); /* lone surrogates: pymarc's path raises its own error */
        return 0;
    }
    return 1;
}

/* A one-character ASCII str: 1, else 0. */
static int view_char(PyObject *s, char *c)
{
    if (!PyUnicode_Check(s) || PyUnicode_GET_LENGTH(s) != 1)
        return 0;
    Py_UCS4 u = PyUnicode_READ_CHAR(s, 0);
    if (u >= 0x80)
        return 0;
    *c = (char)u;
    return 1;
}

/* One field from its Python object: 1, 0 (shape for pymarc's path), -1. */
static int view_py_field(view_build *v, PyObject *f)
{
    const char *p;
    Py_ssize_t n;
    PyObject *tag = view_hold(v, PyObject_GetAttrString(f, "tag"));
    if (!tag)
        return -1;
    if (!view_utf8(tag, &p, &n) || n != 3)
        return 0;
    PyObject *cf = view_hold(v, PyObject_GetAttrString(f, "control_field"));
    if (!cf)
        return -1;
    int ctrl = PyObject_IsTrue(cf);
    if (ctrl < 0)
        return -1;
    mp_field *g = view_field(v);
    if (!g)
        return -1;
    memcpy(g->tag, p, 3);
    if (ctrl) {
        PyObject *data = view_hold(v, PyObject_GetAttrString(f, "data"));
        if (!data)
            return -1;
        if (!view_utf8(data, &p, &n) || (size_t)n > UINT32_MAX)
            return 0;
        g->is_control = 1;
        g->ind1 = g->ind2 = ' ';
        g->data = p;
        g->len = (uint32_t)n;
        return 1;
    }
    PyObject *ind = view_hold(v, PyObject_GetAttrString(f, "indicators"));
    if (!ind)
        return -1;
    if (!PyTuple_Check(ind) || PyTuple_GET_SIZE(ind) != 2 ||
        !view_char(PyTuple_GET_ITEM(ind, 0), &g->ind1) ||
        !view_char(PyTuple_GET_ITEM(ind, 1), &g->ind2))
        return 0;
    PyObject *subs = view_hold(v, PyObject_GetAttrString(f, "subfields"));
    if (!subs)
        return -1;
    if (!PyList_Check(subs))
        return 0;
    /* The list is held; its items are held by the list while no Python
     * code runs (nothing below calls back into Python). */
    size_t first = v->nsubs;
    for (Py_ssize_t j = 0; j < PyList_GET_SIZE(subs); j++) {
        PyObject *sf = PyList_GET_ITEM(subs, j);
        char code;
        if (!PyTuple_Check(sf) || PyTuple_GET_SIZE(sf) != 2 ||
            !view_char(PyTuple_GET_ITEM(sf, 0), &code) ||
            !view_utf8(PyTuple_GET_ITEM(sf, 1), &p, &n))
            return 0;
        int r = view_sub(v, code, p, (size_t)n);
        if (r <= 0)
            return r;
    }
    g->subfields = (const mp_subfield *)(uintptr_t)first; /* an index until view_finish */
    g->nsubfields = (uint32_t)(v->nsubs - first);
    return 1;
}

/* Field i of the blob. */
static int view_blob_field(view_build *v, RecordObject *o, uint32_t i)
{
    const layout_field *lf = &REC_FIELDS(o)[i];
    mp_field *g = view_field(v);
    if (!g)
        return -1;
    memcpy(g->tag, lf->tag, 3);
    const char *text = REC_TEXT(o);
    if (lf->ctrl) {
        g->is_control = 1;
        g->ind1 = g->ind2 = ' ';
        g->data = text + lf->off;
        g->len = lf->len;
        return 1;
    }
    g->ind1 = lf->ind1;
    g->ind2 = lf->ind2;
    size_t first = v->nsubs;
    const layout_subfield *s = REC_SUBS(o) + lf->sub0;
    for (uint32_t j = 0; j < lf->nsub; j++) {
        int r = view_sub(v, s[j].code, text + s[j].off, s[j].len);
        if (r <= 0)
            return r;
    }
    g->subfields = (const mp_subfield *)(uintptr_t)first;
    g->nsubfields = lf->nsub;
    return 1;
}

/* The whole record: 1, 0 (pymarc's path), -1 (error set). */
static int view_record(view_build *v, RecordObject *o)
{
    if (o->mode != REC_UTF8 || o->to_unicode != Py_True)
        return 0;
    if (o->leader) {
        const char *p;
        Py_ssize_t n;
        PyObject *s = view_hold(v, PyObject_Str(o->leader));
        if (!s)
            return -1;
        if (!view_utf8(s, &p, &n) || n != LAYOUT_LEADER_LEN)
            return 0;
        memcpy(v->leader, p, LAYOUT_LEADER_LEN);
    } else {
        memcpy(v->leader, REC_BLOB(o), LAYOUT_LEADER_LEN);
    }
    int r = 1;
    if (o->fields) {
        PyObject *list = view_hold(v, PySequence_List(o->fields));
        if (!list)
            return -1;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list) && r == 1; i++)
            r = view_py_field(v, PyList_GET_ITEM(list, i));
    } else {
        for (uint32_t i = 0; i < o->nfields && r == 1; i++)
            r = o->slots && o->slots[i] ? view_py_field(v, o->slots[i]) : view_blob_field(v, o, i);
    }
    if (r != 1)
        return r;
    for (size_t i = 0; i < v->nfields; i++) /* indexes -> pointers, now that subs stays put */
        if (!v->fields[i].is_control)
            v->fields[i].subfields = v->subs + (uintptr_t)v->fields[i].subfields;
    return 1;
}

static int format_ok(int fmt, unsigned flags)
{
    return fmt >= MP_FORMAT_ISO2709 && fmt <= MP_FORMAT_LINE && !(flags & ~MP_WRITE_FLAGS_ALL);
}

static PyObject *write_view(PyObject *self, module_state *st, int fmt, unsigned flags, int text);
static int bytes_ascii(const char *p, size_t n);

/* A writer's UTF-8 output as str (invalid bytes replaced): ASCII output
 * (all of as_json's, with \\uXXXX escapes) is copied into a str of
 * maxchar 127 after a check that vectorises, instead of going through
 * CPython's decoder. */
static PyObject *text_str(const char *p, size_t n)
{
    if (!bytes_ascii(p, n))
        return PyUnicode_DecodeUTF8(p, (Py_ssize_t)n, "replace");
    PyObject *s = PyUnicode_New((Py_ssize_t)n, 127);
    if (s)
        memcpy(PyUnicode_DATA(s), p, n);
    return s;
}

/*
 * _write(format, flags, text=False): the record serialised by the library
 * (format an mp_format, flags MP_WRITE_*) as bytes, or as str (UTF-8,
 * invalid bytes replaced) with text=True; None when its shape needs
 * pymarc's path; an int (the library's refusal: MP_ETOOBIG, MP_EINVAL)
 * when the format cannot carry it. The Python layer turns those into
 * pymarc's behaviour or an exception.
 */
static PyObject *Record_write(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    int fmt;
    unsigned flags;
    if (nargs < 2 || nargs > 3 || !PyLong_Check(args[0]) || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "_write(format: int, flags: int, text: bool = False)");
        return NULL;
    }
    fmt = (int)PyLong_AsLong(args[0]);
    flags = (unsigned)PyLong_AsUnsignedLong(args[1]);
    int text = nargs == 3 ? PyObject_IsTrue(args[2]) : 0;
    if (PyErr_Occurred() || text < 0)
        return NULL;
    module_state *st = state_of_type(Py_TYPE(self));
    if (!st)
        return NULL;
    return write_view(self, st, fmt, flags, text);
}

/* Record_write's work (see there): format and flags as given. */
static PyObject *write_view(PyObject *self, module_state *st, int fmt, unsigned flags, int text)
{
    view_build v;
    view_init(&v, st);
    int r = view_record(&v, (RecordObject *)self);
    if (r <= 0) {
        view_free(&v);
        if (r < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    mp_record *rec = NULL;
    mp_buf *out = &st->scratch;
    out->len = 0;
    PyObject *res = NULL;
    int rc = mp_record_view(&rec, v.leader, v.fields, (uint32_t)v.nfields);
    if (rc == MP_OK)
        rc = mp_record_write(rec, (mp_format)fmt, flags, out);
    if (rc == MP_OK && text)
        res = text_str((const char *)out->data, out->len);
    else if (rc == MP_OK)
        res = PyBytes_FromStringAndSize((const char *)out->data, (Py_ssize_t)out->len);
    else if (rc == MP_ENOMEM)
        PyErr_NoMemory();
    else if (rc == MP_EINVAL && !format_ok(fmt, flags))
        PyErr_Format(PyExc_ValueError, "_write: bad format %d or flags %#x", fmt, flags);
    else
        res = PyLong_FromLong(rc);
    if (out->cap > ((size_t)1 << 20)) /* one big record: do not keep its buffer */
        mp_buf_free(out);
    mp_record_free(rec);
    view_free(&v);
    return res;
}

/* _mark_utf8(): sets leader/09 to 'a' in the blob and returns True, or
 * returns False when the leader is a Python object (the caller sets it). */
static PyObject *Record_mark_utf8(PyObject *self, PyObject *unused)
{
    RecordObject *o = (RecordObject *)self;
    if (o->leader)
        Py_RETURN_FALSE;
    REC_BLOB(o)[9] = 'a';
    Py_RETURN_TRUE;
}

/* ------------------------------------------------------------------------ */
/* str() and as_dict() straight from the compact layout                      */

/*
 * Both read the blob alone when no Field object exists (one may have been
 * edited: the general paths read it), the text is decoded UTF-8 and
 * to_unicode is True; otherwise str() takes _write's view and then
 * pymarc's path (_str_pymarc), as_dict() pymarc's path (_as_dict_pymarc).
 */
static int rec_compact_only(const RecordObject *o)
{
    if (o->fields || o->mode != REC_UTF8 || o->to_unicode != Py_True)
        return 0;
    if (o->slots)
        for (uint32_t i = 0; i < o->nfields; i++)
            if (o->slots[i])
                return 0;
    return 1;
}

/* RecordObject.ascii and mrk_len: what str() and as_dict() learnt of the
 * blob, kept for the next calls. The blob never changes but for
 * _mark_utf8's leader/09 = 'a', which keeps the size the same and an
 * ASCII leader ASCII (a stale "not ASCII" only costs a decode). */
#define REC_MRK_SIZED 1u /* mrk_len: the size of its MARCMaker text; ... */
#define REC_MRK_HEAD_ASCII                                                                         \
    2u                       /* ... its bytes from outside the text area (tags,                    \
                              * indicators, codes of fields without a run)                         \
                              * are ASCII */
#define REC_LEADER_ASCII 4u  /* (with REC_MRK_SIZED) the blob's leader is ASCII */
#define REC_TEXT_CHECKED 8u  /* REC_TEXT_ASCII says whether ... */
#define REC_TEXT_ASCII   16u /* ... the whole text area (every value) is ASCII */

static int bytes_ascii(const char *p, size_t n)
{
    uint64_t acc = 0;
    size_t i = 0;
#if defined(__SSE2__)
    __m128i v = _mm_setzero_si128();
    for (; i + 32 <= n; i += 32)
        v = _mm_or_si128(
            v, _mm_or_si128(_mm_loadu_si128((const __m128i *)(const void *)(p + i)),
                            _mm_loadu_si128((const __m128i *)(const void *)(p + i + 16))));
    if (_mm_movemask_epi8(v))
        return 0;
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        acc |= w;
    }
    for (; i < n; i++)
        acc |= (unsigned char)p[i];
    return !(acc & 0x8080808080808080ull);
}

/* The tag's length as the MRK writer takes it (strnlen of 3). */
static size_t mrk_tag_len(const char *t)
{
    return !t[0] ? 0 : !t[1] ? 1 : !t[2] ? 2 : 3;
}

/* Bytes of the MARCMaker text of the compact record (from its index);
 * *head: the bytes it takes from outside the text area (tags, indicators,
 * codes of fields without a run) OR-ed together. */
static size_t mrk_size(const RecordObject *o, unsigned *head)
{
    size_t n = 6 + LAYOUT_LEADER_LEN + 1; /* "=LDR  " leader "\n" */
    const layout_field *f = REC_FIELDS(o);
    const layout_subfield *s = REC_SUBS(o);
    unsigned h = 0;
    for (uint32_t i = 0; i < o->nfields; i++) {
        n += 1 + mrk_tag_len(f[i].tag) + 2 + 1; /* "=" tag "  " ... "\n" */
        h |= (unsigned char)f[i].tag[0] | (unsigned char)f[i].tag[1] | (unsigned char)f[i].tag[2];
        if (f[i].ctrl) {
            n += f[i].len;
            continue;
        }
        n += 2; /* indicators */
        h |= (unsigned char)f[i].ind1 | (unsigned char)f[i].ind2;
        if (f[i].flags & LAYOUT_RUN) {
            n += f[i].len;
            continue;
        }
        n += 2 * (size_t)f[i].nsub; /* "$" code per subfield */
        for (uint32_t j = 0; j < f[i].nsub; j++) {
            n += s[f[i].sub0 + j].len;
            h |= (unsigned char)s[f[i].sub0 + j].code;
        }
    }
    *head = h;
    return n;
}

static char mrk_blank(char c)
{
    return c == ' ' || c == '\\' ? '\\' : c;
}

/*
 * The MARCMaker text (pymarc's str(record)) into `out` (its mrk_len bytes):
 * byte for byte what the library's MRK writer (write_text.c) makes of the
 * same record: "=LDR  " and the leader; per field "=", the tag, two
 * blanks, then a control field's data with blanks as '\', or the
 * indicators (blank and '\' as '\') and "$", code, value per subfield;
 * every line ends with "\n".
 */
/* Eight bytes with every blank turned into '\\' (MARCMaker's control data). */
static uint64_t mrk_blanks8(uint64_t w)
{
    const uint64_t lo7 = 0x7F7F7F7F7F7F7F7Full, hi = 0x8080808080808080ull;
    uint64_t x = w ^ 0x2020202020202020ull;         /* 0 where a blank */
    uint64_t blank = ~(((x & lo7) + lo7) | x) & hi; /* 0x80 where a blank */
    uint64_t m = (blank >> 7) * 0xFF;
    return (w & ~m) | (0x5C5C5C5C5C5C5C5Cull & m);
}

/* "=", the tag, two blanks and the indicators (blank and '\' as '\'):
 * eight bytes, in one store where the byte order allows. */
static inline void mrk_head(char *out, const layout_field *fi)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t h = (uint64_t)'=' | (uint64_t)(unsigned char)fi->tag[0] << 8 |
                 (uint64_t)(unsigned char)fi->tag[1] << 16 |
                 (uint64_t)(unsigned char)fi->tag[2] << 24 | (uint64_t)0x2020 << 32 |
                 (uint64_t)(unsigned char)mrk_blank(fi->ind1) << 48 |
                 (uint64_t)(unsigned char)mrk_blank(fi->ind2) << 56;
    memcpy(out, &h, 8);
#else
    const char head[8] = {'=', fi->tag[0], fi->tag[1],          fi->tag[2],
                          ' ', ' ',        mrk_blank(fi->ind1), mrk_blank(fi->ind2)};
    memcpy(out, head, 8);
#endif
}

static size_t mrk_fill(const RecordObject *o, const char *leader, char *restrict out, size_t cap)
{
    /* Fields and subfields are read into locals: the writes through `out`
     * (char) could otherwise alias them and force a reload per byte. */
    const layout_field *f = REC_FIELDS(o);
    const layout_subfield *s = REC_SUBS(o);
    const char *text = REC_TEXT(o), *text_end = REC_BLOB(o) + Py_SIZE(o);
    const uint32_t nfields = o->nfields;
    char *const start = out, *const out_end = out + cap;
    if (cap < 6 + LAYOUT_LEADER_LEN + 1)
        return SIZE_MAX;
    memcpy(out, "=LDR  ", 6);
    memcpy(out + 6, leader, LAYOUT_LEADER_LEN);
    out += 6 + LAYOUT_LEADER_LEN;
    *out++ = '\n';
    for (uint32_t i = 0; i < nfields; i++) {
        const layout_field fi = f[i];
        const int run = !fi.ctrl && (fi.flags & LAYOUT_RUN);
        /* The common field first: a three-character tag, control data or
         * a run, and room on both sides for whole 16-byte moves (what is
         * written past the field is overwritten by what follows). */
        if ((fi.ctrl || run) && fi.tag[0] && fi.tag[1] && fi.tag[2]) {
            const char *p = text + fi.off;
            const size_t len = fi.len, whole = (len + 15) & ~(size_t)15;
            if ((size_t)(out_end - out) >= 8 + whole && (size_t)(text_end - p) >= whole) {
                mrk_head(out, &fi);
                if (fi.ctrl) {
                    out += 6;
                    for (size_t k = 0; k < len; k += 8) {
                        uint64_t w;
                        memcpy(&w, p + k, 8);
                        w = mrk_blanks8(w);
                        memcpy(out + k, &w, 8);
                    }
                } else {
                    out += 8;
                    for (size_t k = 0; k < len; k += 16)
                        memcpy(out + k, p + k, 16);
                }
                out += len;
                *out++ = '\n';
                continue;
            }
        }
        /* "=" tag "  " "\n" and the control data or the indicators */
        if ((size_t)(out_end - out) < 7 + (fi.ctrl ? (size_t)fi.len : 2 + (run ? fi.len : 0)))
            return SIZE_MAX;
        size_t tl = mrk_tag_len(fi.tag);
        *out++ = '=';
        if (tl == 3) { /* nearly always: no call for a variable-length copy */
            out[0] = fi.tag[0];
            out[1] = fi.tag[1];
            out[2] = fi.tag[2];
        } else {
            memcpy(out, fi.tag, tl);
        }
        out += tl;
        *out++ = ' ';
        *out++ = ' ';
        if (fi.ctrl) {
            const char *p = text + fi.off;
            const uint32_t len = fi.len;
            uint32_t k = 0;
            /* eight bytes at a time while both sides have room for the
             * last word (bytes past the data are overwritten later) */
            size_t room = (size_t)(out_end - out) < (size_t)(text_end - p) ? (size_t)(out_end - out)
                                                                           : (size_t)(text_end - p);
            if (((size_t)len + 7) / 8 * 8 <= room) {
                for (; k < len; k += 8) {
                    uint64_t w;
                    memcpy(&w, p + k, 8);
                    w = mrk_blanks8(w);
                    memcpy(out + k, &w, 8);
                }
            } else {
                for (; k < len; k++)
                    out[k] = p[k] == ' ' ? '\\' : p[k];
            }
            out += len;
        } else {
            *out++ = mrk_blank(fi.ind1);
            *out++ = mrk_blank(fi.ind2);
        }
        if (run) { /* the subfields as written: one copy, 16-byte moves
                    * while short (both sides stay in bounds; what lies
                    * past the run is overwritten by what follows) */
            const char *p = text + fi.off;
            const size_t len = fi.len, whole = (len + 15) & ~(size_t)15;
            if (len <= 96 && (size_t)(out_end - out) >= whole && (size_t)(text_end - p) >= whole) {
                for (size_t k = 0; k < len; k += 16)
                    memcpy(out + k, p + k, 16);
            } else {
                memcpy(out, p, len);
            }
            out += len;
        } else if (!fi.ctrl) {
            const layout_subfield *sf = s + fi.sub0;
            const uint32_t nsub = fi.nsub;
            for (uint32_t j = 0; j < nsub; j++) {
                const layout_subfield sj = sf[j];
                const char *p = text + sj.off;
                const uint32_t len = sj.len;
                if ((size_t)(out_end - out) < 2 + (size_t)len + 1) /* "$" code value "\n" */
                    return SIZE_MAX;
                out[0] = '$';
                out[1] = sj.code;
                out += 2;
                /* most values are short: 16-byte moves (what lies past the
                 * value, in the blob, is overwritten by what follows it;
                 * both stay in bounds) instead of a call */
                size_t whole = ((size_t)len + 15) & ~(size_t)15;
                if (len <= 32 && (size_t)(out_end - out) >= whole &&
                    (size_t)(text_end - p) >= whole) {
                    for (size_t k = 0; k < len; k += 16)
                        memcpy(out + k, p + k, 16);
                } else {
                    memcpy(out, p, len);
                }
                out += len;
            }
        }
        *out++ = '\n';
    }
    return (size_t)(out - start);
}

/* The summary layout_fill made of the blob, as the bits above. */
static void record_summary(RecordObject *o, const layout_dims *d)
{
    o->mrk_len = d->mrk_len;
    o->text_cont = d->text_cont;
    o->text_max = d->text_max;
    o->ascii = REC_MRK_SIZED | REC_TEXT_CHECKED | (d->text_max < 0x80 ? REC_TEXT_ASCII : 0) |
               (d->ascii & LAYOUT_HEAD_ASCII ? REC_MRK_HEAD_ASCII : 0) |
               (d->ascii & LAYOUT_LEADER_ASCII ? REC_LEADER_ASCII : 0);
}

/* Whether the whole text area (every value) is ASCII; what layout_text_survey
 * found there is kept in the record (for text_from_utf8_as). */
static int rec_text_ascii(RecordObject *o)
{
    if (!(o->ascii & REC_TEXT_CHECKED)) {
        const char *t = REC_TEXT(o);
        size_t cont;
        unsigned maxb;
        layout_text_survey(t, (size_t)(REC_BLOB(o) + Py_SIZE(o) - t), &cont, &maxb);
        o->text_cont = (uint32_t)cont; /* the blob is < 4 GiB (layout_measure) */
        o->text_max = maxb;
        o->ascii |= REC_TEXT_CHECKED | (maxb < 0x80 ? REC_TEXT_ASCII : 0);
    }
    return (o->ascii & REC_TEXT_ASCII) != 0;
}

/*
 * str(record) from the blob, with `leader` (the blob's own when
 * `own_leader`; another is ASCII): a new str, or NULL with an error set.
 * Sized exactly from the index (each LAYOUT_RUN field is one span). Text
 * known to be ASCII (the text area, the leader, tags, indicators and codes
 * are) is written straight into a str of maxchar 127; other text is
 * written into a buffer and made a str by text_from_utf8 (invalid bytes
 * replaced, as the other paths do). What the first call learns (size,
 * ASCII-ness) is kept in the record.
 */
static PyObject *mrk_compact(RecordObject *o, const char *leader, int own_leader)
{
    if (!(o->ascii & REC_MRK_SIZED)) {
        unsigned head;
        o->mrk_len = mrk_size(o, &head);
        o->ascii |= REC_MRK_SIZED | (head < 0x80 ? REC_MRK_HEAD_ASCII : 0) |
                    (bytes_ascii(REC_BLOB(o), LAYOUT_LEADER_LEN) ? REC_LEADER_ASCII : 0);
    }
    size_t n = (size_t)o->mrk_len;
    if (n > (size_t)PY_SSIZE_T_MAX)
        return PyErr_NoMemory();
    int text_ascii = rec_text_ascii(o);
    if (text_ascii && (o->ascii & REC_MRK_HEAD_ASCII) &&
        (!own_leader || (o->ascii & REC_LEADER_ASCII))) {
        PyObject *s = PyUnicode_New((Py_ssize_t)n, 127);
        if (s && mrk_fill(o, leader, PyUnicode_DATA(s), n) != n) {
            Py_DECREF(s);
            PyErr_SetString(PyExc_SystemError, "str(record): the MARCMaker text changed size");
            return NULL;
        }
        return s;
    }
    char stack[4096];
    char *buf = n <= sizeof stack ? stack : PyMem_Malloc(n);
    if (!buf)
        return PyErr_NoMemory();
    size_t w = mrk_fill(o, leader, buf, n);
    /* the text area's survey stands for the whole text when every byte of
     * the area is in it and the rest is ASCII (as nearly always:
     * text_from_utf8_as checks the claim) */
    PyObject *s = w != n       ? NULL
                  : text_ascii ? text_from_utf8(buf, n)
                               : text_from_utf8_as(buf, n, o->text_cont, o->text_max);
    if (buf != stack)
        PyMem_Free(buf);
    if (w != n)
        PyErr_SetString(PyExc_SystemError, "str(record): the MARCMaker text changed size");
    return s;
}

/*
 * str(record): pymarc's MARCMaker text. From the blob when it alone holds
 * the record; else the library's MRK writer over _write's view; else
 * (shapes the C model does not carry) the Python layer's _str_pymarc().
 */
static PyObject *Record_str(PyObject *self)
{
    RecordObject *o = (RecordObject *)self;
    module_state *st = state_of_type(Py_TYPE(self));
    if (!st)
        return NULL;
    if (rec_compact_only(o)) {
        if (!o->leader)
            return mrk_compact(o, REC_BLOB(o), 1);
        PyObject *l = PyObject_Str(o->leader);
        if (!l)
            return NULL;
        /* the writer's rule for a leader object: its 24 bytes of UTF-8 */
        if (PyUnicode_Check(l) && PyUnicode_IS_ASCII(l) &&
            PyUnicode_GET_LENGTH(l) == LAYOUT_LEADER_LEN) {
            PyObject *s = mrk_compact(o, (const char *)PyUnicode_DATA(l), 0);
            Py_DECREF(l);
            return s;
        }
        Py_DECREF(l);
    }
    PyObject *out = write_view(self, st, MP_FORMAT_MRK, MP_WRITE_KEEP_LEADER, 1);
    if (!out || PyUnicode_Check(out))
        return out;
    Py_DECREF(out);
    return PyObject_CallMethodNoArgs(self, st->n_str_pymarc);
}

/* A value of the blob's text as str (UTF-8, invalid bytes replaced):
 * an ASCII value is copied into a new compact str; one character is
 * CPython's singleton. */
static PyObject *dict_str(module_state *st, const char *p, uint32_t n, int ascii)
{
    if (!ascii && !bytes_ascii(p, n))
        return PyUnicode_DecodeUTF8(p, n, "replace");
    if (n <= 1)
        return n ? Py_NewRef(st->chars[(unsigned char)*p]) : PyUnicode_New(0, 0);
    PyObject *s = PyUnicode_New(n, 127);
    if (s)
        memcpy(PyUnicode_DATA(s), p, n);
    return s;
}

/* d[key] = value; the key is borrowed, the value (NULL: an error is set)
 * stolen. */
static int dict_put(PyObject *d, PyObject *key, PyObject *value)
{
    if (!value)
        return -1;
    int r = PyDict_SetItem(d, key, value);
    Py_DECREF(value);
    return r;
}

/* The str of a tag: shared for all-digit tags (the cache of the module). */
static PyObject *dict_tag(module_state *st, const char *t)
{
    if (t[0] >= '0' && t[0] <= '9' && t[1] >= '0' && t[1] <= '9' && t[2] >= '0' && t[2] <= '9') {
        int n = (t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0');
        if (!st->digit_tags[n] && !(st->digit_tags[n] = PyUnicode_DecodeLatin1(t, 3, NULL)))
            return NULL;
        return Py_NewRef(st->digit_tags[n]);
    }
    return PyUnicode_DecodeLatin1(t, 3, NULL);
}

/* {"ind1": .., "ind2": .., "subfields": [{code: value}, ...]} of data
 * field `lf`. */
static PyObject *dict_data_field(module_state *st, RecordObject *o, const layout_field *lf,
                                 int ascii)
{
    PyObject *value = PyDict_New(), *subs = PyList_New(lf->nsub);
    if (!value || !subs)
        goto fail;
    if (PyDict_SetItem(value, st->k_ind1, st->chars[(unsigned char)lf->ind1]) < 0 ||
        PyDict_SetItem(value, st->k_ind2, st->chars[(unsigned char)lf->ind2]) < 0 ||
        PyDict_SetItem(value, st->k_subfields, subs) < 0)
        goto fail;
    const char *text = REC_TEXT(o);
    const layout_subfield *s = REC_SUBS(o) + lf->sub0;
    for (uint32_t j = 0; j < lf->nsub; j++) {
        PyObject *sd = PyDict_New();
        if (!sd)
            goto fail;
        PyList_SET_ITEM(subs, j, sd);
        if (dict_put(sd, st->chars[(unsigned char)s[j].code],
                     dict_str(st, text + s[j].off, s[j].len, ascii)) < 0)
            goto fail;
    }
    Py_DECREF(subs);
    return value;
fail:
    Py_XDECREF(subs);
    Py_XDECREF(value);
    return NULL;
}

/*
 * as_dict(): pymarc's {"leader": str(leader), "fields": [{tag: data} or
 * {tag: {"ind1", "ind2", "subfields": [{code: value}...]}}]}, built from
 * the blob when it alone holds the record (a new dict each call, nothing
 * kept); else the Python layer's _as_dict_pymarc() reads the Field objects.
 */
static PyObject *Record_as_dict(PyObject *self, PyObject *unused)
{
    RecordObject *o = (RecordObject *)self;
    module_state *st = state_of_type(Py_TYPE(self));
    if (!st)
        return NULL;
    if (!rec_compact_only(o))
        return PyObject_CallMethodNoArgs(self, st->n_as_dict_pymarc);
    /* one scan of the text area (kept) rather than one per value */
    int ascii = rec_text_ascii(o);
    PyObject *out = PyDict_New(), *fields = PyList_New(o->nfields);
    if (!out || !fields)
        goto fail;
    if (dict_put(out, st->k_leader,
                 o->leader ? PyObject_Str(o->leader)
                           : PyUnicode_DecodeLatin1(REC_BLOB(o), LAYOUT_LEADER_LEN, NULL)) < 0 ||
        PyDict_SetItem(out, st->k_fields, fields) < 0)
        goto fail;
    const char *text = REC_TEXT(o);
    const layout_field *lf = REC_FIELDS(o);
    for (uint32_t i = 0; i < o->nfields; i++) {
        PyObject *fd = PyDict_New();
        if (!fd)
            goto fail;
        PyList_SET_ITEM(fields, i, fd);
        PyObject *tag = dict_tag(st, lf[i].tag);
        if (!tag)
            goto fail;
        int r = dict_put(fd, tag,
                         lf[i].ctrl ? dict_str(st, text + lf[i].off, lf[i].len, ascii)
                                    : dict_data_field(st, o, &lf[i], ascii));
        Py_DECREF(tag);
        if (r < 0)
            goto fail;
    }
    Py_DECREF(fields);
    return out;
fail:
    Py_XDECREF(out);
    Py_XDECREF(fields);
    return NULL;
}

static PyMethodDef Record_methods[] = {
    {"_state", Record_state, METH_NOARGS,
     "internal: the record's compact state for pickle and copy (see _record_restore)."},
    {"get", (PyCFunction)(void (*)(void))Record_get, METH_FASTCALL,
     "get(tag, default=None): the first field with that tag, or default."},
    {"get_fields", (PyCFunction)(void (*)(void))Record_get_fields, METH_FASTCALL,
     "get_fields(*tags): fields with any of the tags (all fields without arguments)."},
    {"_tags", Record_tags, METH_NOARGS, "tags of the fields, in order."},
    {"_write", (PyCFunction)(void (*)(void))Record_write, METH_FASTCALL,
     "_write(format, flags, text=False): bytes (str with text) from the library's serialiser, "
     "None for pymarc's path, or the library's refusal code."},
    {"_mark_utf8", Record_mark_utf8, METH_NOARGS,
     "leader/09 = 'a' in the compact leader; False when the leader is a Python object."},
    {"as_dict", Record_as_dict, METH_NOARGS,
     "as_dict(): the record as MARC-in-JSON in a dict, as pymarc's "
     "{\"leader\": ..., \"fields\": [{tag: data | {...}}]}."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Record_getset[] = {
    {"title", Record_title, NULL, "245 $a and $b (pymarc 5.x rules), or None.", NULL},
    {"fields", Record_get_fields_attr, Record_set_fields_attr, "list of Field objects", NULL},
    {"leader", Record_get_leader, Record_set_leader, "the Leader", NULL},
    {"force_utf8", Record_get_force_utf8, Record_set_force_utf8, NULL, NULL},
    {"to_unicode", Record_get_to_unicode, Record_set_to_unicode, NULL, NULL},
    {"offset", Record_get_offset, Record_set_position,
     "byte offset of the record in its stream (0-based), or None for a record built by hand",
     (void *)"offset"},
    {"ordinal", Record_get_ordinal, Record_set_position,
     "0-based unit ordinal in its stream, or None for a record built by hand", NULL},
    {"warnings", Record_get_warnings, Record_set_warnings,
     "tuple of the problems that left the record readable (RecordWarning objects; "
     "stages/FRAMING.md lists the checks); () when none",
     NULL},
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
    {Py_tp_str, Record_str},
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
