/*
 * _marcpipe.c - the CPython extension behind the `marcpipe` package.
 *
 * Three heap types, created from specs with multi-phase init:
 *   RecordBase  a MARC record copied out of the pipeline into ONE Python
 *               object (leader + compact field/subfield index + text);
 *               Field objects are built only when touched.
 *   ReaderBase  wraps an mp_reader; its tp_iternext is the hot loop.
 *   Pool        wraps an mp_pool shared by many readers.
 * The pure-Python layer (the marcpipe package) subclasses RecordBase and ReaderBase
 * and registers its classes (Field, Subfield, Indicators, Leader, the error
 * factory) with _register(); they live in the module state.
 *
 * GIL: workers never touch Python. The consumer call first tries the
 * pipeline without blocking while holding the GIL (the common case when the
 * workers are ahead), and only otherwise waits in slices of at most 50 ms
 * with the GIL released, checking signals between slices so Ctrl-C
 * interrupts within ~50 ms. A callback source (a Python file object) runs
 * on the producer thread and takes the GIL for each read (PyGILState).
 *
 * Threads: one reader is iterated by one thread at a time; a second thread
 * entering next() while the first is inside it gets RuntimeError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <marcpipe/marcpipe.h>

/* ------------------------------------------------------------------------ */
/* module state                                                             */

typedef struct {
    PyTypeObject *record_type; /* RecordBase */
    PyTypeObject *reader_type; /* ReaderBase */
    PyTypeObject *pool_type;   /* Pool */
    PyObject *error_base;      /* PymarcException (created here) */
    /* registered by the Python layer; NULL until _register() */
    PyObject *record_cls;     /* marcpipe.Record (subclass of RecordBase) */
    PyObject *field_factory;  /* f(tag, indicators|None, subfields|None, data|None, raw) */
    PyObject *subfield_cls;   /* namedtuple Subfield(code, value) */
    PyObject *indicators_cls; /* namedtuple Indicators(first, second) */
    PyObject *leader_cls;     /* Leader(str) */
    PyObject *error_factory;  /* f(kind, code, ordinal, offset, length, cn, tag, sf, msg, raw) */
    PyObject *title_slow;     /* f(record): title when fields were materialized */
} mp_state;

static struct PyModuleDef mp_module_def;

static mp_state *state_of_type(PyTypeObject *tp)
{
    PyObject *m = PyType_GetModuleByDef(tp, &mp_module_def);
    return m ? (mp_state *)PyModule_GetState(m) : NULL;
}

/* ------------------------------------------------------------------------ */
/* RecordBase                                                               */

/* Compact index entries stored in the record's blob. */
typedef struct rfield {
    char tag[3];
    char ind1, ind2;
    uint8_t ctrl; /* pymarc's rule: tag is digits and < "010" */
    uint16_t pad;
    uint32_t sub0; /* first subfield index */
    uint32_t nsub;
    uint32_t off; /* control field data, relative to the text area */
    uint32_t len;
} rfield;

typedef struct rsub {
    uint32_t off, len;
    char code;
    char pad[3];
} rsub;

enum rec_mode {
    REC_UTF8 = 0,  /* text is UTF-8 (converted / validated by the workers) */
    REC_BYTES = 1, /* to_unicode=False: values are bytes */
    REC_CODEC = 2, /* decode with codec (encoding, errors) at access */
};

typedef struct {
    PyObject_VAR_HEAD         /* ob_size: blob bytes */
        PyObject *fields;     /* list of Field once materialized, else NULL */
    PyObject **slots;         /* per-field cache of built Field objects, or NULL */
    PyObject *leader;         /* Leader object (lazy) or whatever was assigned */
    PyObject *codec;          /* (encoding, errors) for REC_CODEC, else NULL */
    PyObject *force_utf8;     /* attribute, default False */
    PyObject *to_unicode;     /* attribute, default True */
    uint64_t offset, ordinal; /* stream position (UINT64_MAX: none) */
    uint32_t nfields, nsubs;
    uint32_t mode;
    uint32_t pad;
    uint64_t blob[]; /* leader[24] | rfield[nfields] | rsub[nsubs] | text */
} RecordObject;

#define REC_BLOB(o)   ((char *)(o)->blob)
#define REC_FIELDS(o) ((rfield *)(REC_BLOB(o) + 24))
#define REC_SUBS(o)   ((rsub *)(REC_BLOB(o) + 24 + (size_t)(o)->nfields * sizeof(rfield)))
#define REC_TEXT(o)                                                                                \
    (REC_BLOB(o) + 24 + (size_t)(o)->nfields * sizeof(rfield) + (size_t)(o)->nsubs * sizeof(rsub))

static int pymarc_is_control(const char *tag)
{
    /* pymarc: tag < "010" and tag.isdigit() */
    for (int i = 0; i < 3; i++)
        if (tag[i] < '0' || tag[i] > '9')
            return 0;
    return memcmp(tag, "010", 3) < 0;
}

/* Splits a data field body (indicators + 0x1F-separated subfields) the way
 * pymarc does; used only when the C parser's view of the field differs from
 * pymarc's control-field rule. Pass out == NULL to count. */
static uint32_t split_body(const char *d, uint32_t n, char *ind1, char *ind2, rsub *out, char *text,
                           uint32_t *text_pos)
{
    const char *us = memchr(d, 0x1f, n);
    uint32_t nind = us ? (uint32_t)(us - d) : n;
    *ind1 = nind >= 1 ? d[0] : ' ';
    *ind2 = nind >= 2 ? d[1] : ' ';
    uint32_t count = 0;
    while (us) {
        const char *start = us + 1;
        const char *end = d + n;
        const char *next = memchr(start, 0x1f, (size_t)(end - start));
        const char *stop = next ? next : end;
        if (stop > start) { /* pymarc skips empty pieces */
            if (out) {
                out[count].code = start[0];
                out[count].off = *text_pos;
                out[count].len = (uint32_t)(stop - start - 1);
                memcpy(text + *text_pos, start + 1, out[count].len);
                *text_pos += out[count].len;
            }
            count++;
        }
        us = next;
    }
    return count;
}

/*
 * The record blob (leader | rfield[] | rsub[] | text), built from a
 * borrowed mp_record without the Python API, so the parser workers can
 * build it (blob_prepare, the reader's mp_record_fn) and the consumer only
 * copies it into the new object.
 */
typedef struct blob_dims {
    uint32_t nfields, nsubs;
    size_t size; /* total blob bytes */
} blob_dims;

static int blob_measure(const mp_record *rec, blob_dims *d)
{
    uint32_t nf = mp_record_field_count(rec);
    size_t nsubs = 0, text = 0;
    for (uint32_t i = 0; i < nf; i++) {
        const mp_field *f = mp_record_field(rec, i);
        int pctrl = pymarc_is_control(f->tag);
        if (pctrl) {
            text += f->len;
        } else if (f->is_control) {
            char a, b;
            nsubs += split_body(f->data, f->len, &a, &b, NULL, NULL, NULL);
            text += f->len;
        } else {
            nsubs += f->nsubfields;
            for (uint32_t j = 0; j < f->nsubfields; j++)
                text += f->subfields[j].len;
        }
    }
    size_t size = 24 + (size_t)nf * sizeof(rfield) + nsubs * sizeof(rsub) + text;
    if (size > UINT32_MAX || nsubs > UINT32_MAX)
        return -1;
    d->nfields = nf;
    d->nsubs = (uint32_t)nsubs;
    d->size = size;
    return 0;
}

static void blob_fill(const mp_record *rec, const blob_dims *d, char *blob)
{
    /* The leader as stored (pymarc keeps 09 as read even after MARC-8
     * conversion); the library's view may already say UTF-8. */
    size_t rawlen = 0;
    const unsigned char *raw = mp_record_raw(rec, &rawlen);
    memcpy(blob, raw && rawlen >= 24 ? (const char *)raw : mp_record_leader(rec), 24);
    rfield *fo = (rfield *)(blob + 24);
    rsub *so = (rsub *)(blob + 24 + (size_t)d->nfields * sizeof(rfield));
    char *t = (char *)(so + d->nsubs);
    uint32_t tp_ = 0, sp = 0;
    for (uint32_t i = 0; i < d->nfields; i++) {
        const mp_field *f = mp_record_field(rec, i);
        rfield *fd = &fo[i];
        memcpy(fd->tag, f->tag, 3);
        fd->ctrl = (uint8_t)pymarc_is_control(f->tag);
        fd->sub0 = sp;
        fd->nsub = 0;
        fd->pad = 0;
        if (fd->ctrl) {
            fd->ind1 = fd->ind2 = ' ';
            fd->off = tp_;
            fd->len = f->len;
            memcpy(t + tp_, f->data, f->len);
            tp_ += f->len;
        } else if (f->is_control) {
            fd->off = fd->len = 0;
            fd->nsub = split_body(f->data, f->len, &fd->ind1, &fd->ind2, so + sp, t, &tp_);
            sp += fd->nsub;
        } else {
            fd->ind1 = f->ind1;
            fd->ind2 = f->ind2;
            fd->off = fd->len = 0;
            fd->nsub = f->nsubfields;
            for (uint32_t j = 0; j < f->nsubfields; j++) {
                const mp_subfield *sf = &f->subfields[j];
                so[sp].code = sf->code;
                so[sp].off = tp_;
                so[sp].len = sf->len;
                memset(so[sp].pad, 0, sizeof so[sp].pad);
                memcpy(t + tp_, sf->data, sf->len);
                tp_ += sf->len;
                sp++;
            }
        }
    }
}

/*
 * The reader's mp_record_fn: runs in a parser worker (no GIL, no Python
 * API) and attaches the finished blob to the record as its annotation,
 * prefixed by its dims. Always keeps the record.
 */
static int blob_prepare(void *user, const mp_record *rec)
{
    (void)user;
    blob_dims d;
    if (blob_measure(rec, &d) < 0)
        return 0; /* the consumer reports the size problem */
    char *a = mp_record_annotate(rec, sizeof(blob_dims) + d.size);
    if (a) {
        memcpy(a, &d, sizeof d);
        blob_fill(rec, &d, a + sizeof(blob_dims));
    }
    return 0;
}

/* Builds a RecordBase instance of type `tp` from a borrowed mp_record,
 * copying the blob a worker prepared when there is one. */
static PyObject *record_from_c(PyTypeObject *tp, const mp_record *rec, uint32_t mode,
                               PyObject *codec_utf8, PyObject *codec_file, int force_utf8)
{
    blob_dims d;
    size_t alen = 0;
    const char *ann = mp_record_annotation(rec, &alen);
    if (ann && alen >= sizeof d) {
        memcpy(&d, ann, sizeof d);
        if (d.size != alen - sizeof d)
            ann = NULL;
    } else {
        ann = NULL;
    }
    if (!ann && blob_measure(rec, &d) < 0) {
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
    if (ann)
        memcpy(REC_BLOB(o), ann + sizeof d, d.size);
    else
        blob_fill(rec, &d, REC_BLOB(o));
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

static PyObject *rec_build_field(mp_state *st, RecordObject *o, uint32_t i)
{
    rfield *f = &REC_FIELDS(o)[i];
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
    rsub *s = REC_SUBS(o) + f->sub0;
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
    mp_state *st = state_of_type(Py_TYPE(o));
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
    rfield *f = REC_FIELDS(o);
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
    rfield *fs = REC_FIELDS(o);
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
        rfield *fs = REC_FIELDS(o);
        for (uint32_t k = 0; k < o->nfields; k++)
            if (fs[k].tag[0] == '2' && fs[k].tag[1] == '4' && fs[k].tag[2] == '5') {
                i = (long)k;
                break;
            }
        if (i < 0)
            Py_RETURN_NONE;
    }
    if (i < 0 || (o->slots && o->slots[i])) {
        mp_state *st = state_of_type(Py_TYPE(self));
        if (!st || !st->title_slow) {
            PyErr_SetString(PyExc_RuntimeError, "marcpipe: Python layer not registered");
            return NULL;
        }
        return PyObject_CallOneArg(st->title_slow, self);
    }
    rfield *f = &REC_FIELDS(o)[i];
    if (f->ctrl)
        Py_RETURN_NONE;
    rsub *s = REC_SUBS(o) + f->sub0, *a = NULL, *b = NULL;
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
        mp_state *st = state_of_type(Py_TYPE(self));
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

static PyType_Spec Record_spec = {
    .name = "marcpipe._marcpipe.RecordBase",
    .basicsize = (int)offsetof(RecordObject, blob),
    .itemsize = 1,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .slots = Record_slots,
};

/* ------------------------------------------------------------------------ */
/* Pool                                                                     */

typedef struct {
    PyObject_HEAD mp_pool *pool; /* NULL after close() */
} PoolObject;

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
    Py_BEGIN_ALLOW_THREADS rc = mp_pool_create(&p->pool, threads);
    Py_END_ALLOW_THREADS if (rc != MP_OK)
    {
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
    Py_BEGIN_ALLOW_THREADS rc = mp_pool_destroy(p->pool);
    Py_END_ALLOW_THREADS if (rc == MP_OK) p->pool = NULL;
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
    int rc = pool_destroy((PoolObject *)self);
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
    return PyBool_FromLong(((PoolObject *)self)->pool == NULL);
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
    {Py_tp_doc, "Pool(threads=0): worker threads shared by many MARCReaders (0: one per CPU)."},
    {0, NULL},
};

static PyType_Spec Pool_spec = {
    .name = "marcpipe._marcpipe.Pool",
    .basicsize = sizeof(PoolObject),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = Pool_slots,
};

/* ------------------------------------------------------------------------ */
/* ReaderBase                                                               */

typedef struct {
    PyObject_HEAD mp_reader *r; /* NULL before _open() and after close() */
    mp_state *st;               /* module state, cached at _open() */
    PyObject *source;           /* kept alive while open (buffer owner, file object) */
    Py_buffer view;             /* for memory sources */
    int have_view;
    PyObject *cb_read; /* bound readinto or read method (callback sources) */
    int cb_is_readinto;
    PyObject *cb_exc;  /* exception raised by the callback (exc instance) */
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
    int strict;
    char handling[8]; /* utf8_handling name */
    int finished;
    int close_pending; /* close() called while another thread was inside next() */
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

/* Called on the producer thread. Never concurrently with itself. */
static ssize_t py_read_cb(void *user, void *buf, size_t cap, int *sys_errno)
{
    ReaderObject *self = user;
    ssize_t n = -1;
    PyGILState_STATE g = PyGILState_Ensure();
    if (self->cb_exc || !self->cb_read) {
        *sys_errno = EIO;
        goto out;
    }
    if (cap > (size_t)PY_SSIZE_T_MAX)
        cap = (size_t)PY_SSIZE_T_MAX;
    if (self->cb_is_readinto) {
        PyObject *mv = PyMemoryView_FromMemory(buf, (Py_ssize_t)cap, PyBUF_WRITE);
        if (!mv)
            goto pyfail;
        PyObject *res = PyObject_CallOneArg(self->cb_read, mv);
        PyObject *rel = PyObject_CallMethod(mv, "release", NULL);
        Py_XDECREF(rel);
        Py_DECREF(mv);
        if (!res)
            goto pyfail;
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
        PyObject *res = PyObject_CallFunction(self->cb_read, "n", (Py_ssize_t)cap);
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
    self->cb_exc = fetch_exception();
    *sys_errno = EIO;
    n = -1;
out:
    PyGILState_Release(g);
    return n;
}

static void reader_close_c(ReaderObject *self)
{
    mp_reader *r = self->r;
    self->r = NULL;
    if (r) {
        /* The GIL is released: a callback source may need it to finish. */
        Py_BEGIN_ALLOW_THREADS mp_reader_close(r);
        Py_END_ALLOW_THREADS
    }
    if (self->have_view) {
        PyBuffer_Release(&self->view);
        self->have_view = 0;
    }
    Py_CLEAR(self->cb_read);
}

static int Reader_clear(PyObject *op)
{
    ReaderObject *self = (ReaderObject *)op;
    reader_close_c(self);
    Py_CLEAR(self->source);
    Py_CLEAR(self->cb_exc);
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
    Py_VISIT(self->cb_read);
    Py_VISIT(self->cb_exc);
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

static int parse_handling(const char *s, int *out)
{
    if (!strcmp(s, "strict"))
        *out = MP_UTF8_STRICT;
    else if (!strcmp(s, "replace"))
        *out = MP_UTF8_REPLACE;
    else if (!strcmp(s, "ignore"))
        *out = MP_UTF8_IGNORE;
    else
        return -1;
    return 0;
}

static int raise_open_error(int rc, PyObject *path)
{
    switch (rc) {
    case MP_ENOENT:
        errno = ENOENT;
        break;
    case MP_EACCES:
        errno = EACCES;
        break;
    case MP_ENOMEM:
        PyErr_NoMemory();
        return -1;
    case MP_EINVAL:
        PyErr_Format(PyExc_ValueError, "marcpipe: invalid reader options (%s)", mp_strerror(rc));
        return -1;
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
 *       threads, chunk_size, ordered, pool, strict, record_cls)
 * kind: "path" (source: str/bytes path), "mem" (buffer), "fd" (int in
 * source[0], owner in source[1]), "readinto" / "read" (file object).
 * file_codec: None for MARC-8 (the default), else an encoding name that
 * non-UTF-8 records are decoded with (pymarc's file_encoding).
 */
static PyObject *Reader_open(PyObject *op, PyObject *args, PyObject *kw)
{
    ReaderObject *self = (ReaderObject *)op;
    static char *kwlist[] = {"kind",          "source",     "to_unicode", "force_utf8",
                             "utf8_handling", "file_codec", "threads",    "chunk_size",
                             "ordered",       "pool",       "strict",     "record_cls",
                             "policy",        NULL};
    const char *kind, *handling = "strict";
    PyObject *source, *file_codec = Py_None, *pool = Py_None, *record_cls = Py_None;
    int to_unicode = 1, force_utf8 = 0, ordered = 1, strict = 0, policy = MP_POLICY_REPORT;
    unsigned int threads = 0;
    Py_ssize_t chunk_size = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sO|$ppsOInpOpOi:_open", kwlist, &kind, &source,
                                     &to_unicode, &force_utf8, &handling, &file_codec, &threads,
                                     &chunk_size, &ordered, &pool, &strict, &record_cls, &policy))
        return NULL;
    if (self->r || self->source) {
        PyErr_SetString(PyExc_RuntimeError, "reader already opened");
        return NULL;
    }
    mp_state *st = state_of_type(Py_TYPE(op));
    if (!st)
        return NULL;
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    int h;
    if (parse_handling(handling, &h) < 0) {
        PyErr_Format(PyExc_ValueError,
                     "utf8_handling must be 'strict', 'replace' or 'ignore', not '%s'", handling);
        return NULL;
    }
    o.utf8_handling = (mp_utf8_handling)h;
    o.marc8_replace = 1;        /* pymarc is lenient with MARC-8 */
    o.record_fn = blob_prepare; /* the record layout is built in the workers */
    snprintf(self->handling, sizeof self->handling, "%s", handling);
    o.threads = threads;
    if (chunk_size > 0)
        o.chunk_size = (size_t)chunk_size;
    o.unordered = !ordered;
    o.policy = (mp_policy)policy;
    self->mode = REC_UTF8;
    if (!to_unicode) {
        o.encoding = MP_ENCODING_RAW;
        self->mode = REC_BYTES;
    } else if (file_codec != Py_None) {
        o.encoding = MP_ENCODING_RAW;
        self->mode = REC_CODEC;
        self->codec_utf8 = Py_BuildValue("(ss)", "utf-8", handling);
        self->codec_file = Py_BuildValue("(Os)", file_codec, "strict");
        if (!self->codec_utf8 || !self->codec_file)
            return NULL;
    } else if (force_utf8) {
        o.encoding = MP_ENCODING_UTF8;
    }
    self->force_utf8 = force_utf8;
    self->strict = strict;
    if (pool != Py_None) {
        if (!PyObject_TypeCheck(pool, st->pool_type)) {
            PyErr_SetString(PyExc_TypeError, "pool must be a marcpipe.Pool");
            return NULL;
        }
        if (!((PoolObject *)pool)->pool) {
            PyErr_SetString(PyExc_ValueError, "pool is closed");
            return NULL;
        }
        o.pool = ((PoolObject *)pool)->pool;
        self->pool = Py_NewRef(pool);
    }
    if (record_cls == Py_None)
        record_cls = st->record_cls ? st->record_cls : (PyObject *)st->record_type;
    if (!PyType_Check(record_cls) ||
        !PyType_IsSubtype((PyTypeObject *)record_cls, st->record_type)) {
        PyErr_SetString(PyExc_TypeError, "record_cls must subclass RecordBase");
        return NULL;
    }
    self->record_cls = Py_NewRef(record_cls);
    self->st = st;

    int rc;
    mp_reader *r = NULL;
    if (!strcmp(kind, "path")) {
        PyObject *b = NULL;
        if (!PyUnicode_FSConverter(source, &b))
            return NULL;
        const char *p = PyBytes_AS_STRING(b);
        Py_BEGIN_ALLOW_THREADS rc = mp_reader_open_path(&r, p, &o);
        Py_END_ALLOW_THREADS Py_DECREF(b);
        if (rc != MP_OK)
            return raise_open_error(rc, source), NULL;
        self->source = Py_NewRef(source);
    } else if (!strcmp(kind, "mem")) {
        if (PyObject_GetBuffer(source, &self->view, PyBUF_SIMPLE) < 0)
            return NULL;
        self->have_view = 1;
        const void *data = self->view.buf;
        size_t len = (size_t)self->view.len;
        Py_BEGIN_ALLOW_THREADS rc = mp_reader_open_mem(&r, data, len, &o);
        Py_END_ALLOW_THREADS if (rc != MP_OK)
        {
            PyBuffer_Release(&self->view);
            self->have_view = 0;
            return raise_open_error(rc, NULL), NULL;
        }
        self->source = Py_NewRef(source);
    } else if (!strcmp(kind, "fd")) {
        int fd;
        PyObject *owner;
        if (!PyArg_ParseTuple(source, "iO", &fd, &owner))
            return NULL;
        Py_BEGIN_ALLOW_THREADS rc = mp_reader_open_fd(&r, fd, &o);
        Py_END_ALLOW_THREADS if (rc != MP_OK) return raise_open_error(rc, NULL), NULL;
        self->source = Py_NewRef(owner);
    } else if (!strcmp(kind, "readinto") || !strcmp(kind, "read")) {
        self->cb_is_readinto = kind[4] == 'i';
        self->cb_read = PyObject_GetAttrString(source, kind);
        if (!self->cb_read)
            return NULL;
        self->source = Py_NewRef(source);
        /* The producer thread starts now and calls py_read_cb, which takes
         * the GIL: release it while opening. */
        Py_BEGIN_ALLOW_THREADS rc = mp_reader_open_cb(&r, py_read_cb, self, &o);
        Py_END_ALLOW_THREADS if (rc != MP_OK)
        {
            Py_CLEAR(self->cb_read);
            Py_CLEAR(self->source);
            return raise_open_error(rc, NULL), NULL;
        }
    } else {
        PyErr_Format(PyExc_ValueError, "unknown source kind %s", kind);
        return NULL;
    }
    self->r = r;
    Py_RETURN_NONE;
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

/* Turns the current error item into an exception object via the Python
 * error factory. `raw` may be NULL. */
static PyObject *make_error(mp_state *st, const mp_error_info *e, PyObject *raw, int to_unicode,
                            int force_utf8, const char *handling)
{
    if (!st->error_factory) {
        return PyObject_CallFunction(st->error_base, "s", e->message);
    }
    char sf[2] = {e->subfield, 0};
    PyObject *args = Py_BuildValue(
        "(siNNNNNNO)", mp_error_kind_name(e->kind), e->code, u64(e->ordinal), u64(e->offset),
        u64(e->length), text_field(e->control_number, sizeof e->control_number),
        text_field(e->tag, sizeof e->tag), text_field(sf, sizeof sf), raw ? raw : Py_None);
    if (!args)
        return NULL;
    PyObject *kw = Py_BuildValue("{sNsNsNss}", "message", text_field(e->message, sizeof e->message),
                                 "to_unicode", PyBool_FromLong(to_unicode), "force_utf8",
                                 PyBool_FromLong(force_utf8), "utf8_handling", handling);
    if (!kw) {
        Py_DECREF(args);
        return NULL;
    }
    PyObject *exc = PyObject_Call(st->error_factory, args, kw);
    Py_DECREF(args);
    Py_DECREF(kw);
    return exc;
}

static PyObject *fatal_error(ReaderObject *self, int rc)
{
    if (self->cb_exc) {
        PyObject *e = self->cb_exc;
        self->cb_exc = NULL;
        restore_exception(e);
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
    if (rc == MP_ESTOPPED && e) {
        PyErr_Format(self->st->error_base, "stopped at the first error: %s", e->message);
        return NULL;
    }
    PyErr_Format(self->st->error_base, "marcpipe reader failed: %s (%s)", mp_strerror(rc),
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
        self->close_pending = 0;
        self->finished = 1;
        reader_close_c(self);
    }
}

static PyObject *Reader_iternext(PyObject *op)
{
    ReaderObject *self = (ReaderObject *)op;
    if (!self->r || self->finished)
        return NULL;
    if (reader_enter(self) < 0)
        return NULL;
    const mp_record *rec = NULL;
    int rc = mp_reader_next_timeout(self->r, &rec, 0);
    while (rc == MP_EAGAIN) {
        mp_reader *r = self->r;
        Py_BEGIN_ALLOW_THREADS rc = mp_reader_next_timeout(r, &rec, 50);
        Py_END_ALLOW_THREADS if (rc != MP_EAGAIN) break;
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
        res = record_from_c((PyTypeObject *)self->record_cls, rec, self->mode, self->codec_utf8,
                            self->codec_file, self->force_utf8);
        if (res) {
            Py_CLEAR(self->cur_exc);
            Py_CLEAR(self->cur_raw);
            self->cur_offset = mp_record_offset(rec);
            size_t n = 0;
            (void)mp_record_raw(rec, &n);
            self->cur_length = n;
            self->cur_valid = 1;
        }
    } else if (rc == MP_ERECORD) {
        const mp_error_info *e = mp_reader_error(self->r);
        PyObject *raw = NULL;
        if (rec) {
            size_t n = 0;
            const unsigned char *p = mp_record_raw(rec, &n);
            raw = p ? PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n) : NULL;
            if (!p)
                raw = NULL;
            else if (!raw)
                goto out;
        }
        PyObject *exc =
            make_error(self->st, e, raw, self->mode != REC_BYTES, self->force_utf8, self->handling);
        if (!exc) {
            Py_XDECREF(raw);
            goto out;
        }
        if (PyObject_TypeCheck(exc, self->st->record_type)) {
            /* pymarc would have read this damaged record: the Python layer
             * decoded it the way pymarc does. */
            Py_CLEAR(self->cur_exc);
            Py_XSETREF(self->cur_raw, raw);
            self->cur_offset = e->offset;
            self->cur_length = e->length;
            self->cur_valid = 1;
            res = exc;
            goto out;
        }
        Py_XSETREF(self->cur_exc, exc);
        Py_XSETREF(self->cur_raw, raw);
        self->cur_offset = e->offset;
        self->cur_length = e->length;
        self->cur_valid = 1;
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

static PyObject *Reader_close(PyObject *op, PyObject *unused)
{
    ReaderObject *self = (ReaderObject *)op;
    /* acquire: pairs with the release store in reader_leave */
    if (atomic_load_explicit(&self->busy, memory_order_acquire)) {
        /* Another thread is waiting inside next() with the GIL released; it
         * closes the reader when it comes back (within one 50 ms slice). */
        self->close_pending = 1;
        Py_RETURN_NONE;
    }
    self->finished = 1;
    reader_close_c(self);
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
    PyObject *v = Py_BuildValue("{sIsIsIsK}", "chunks_total", s.chunks_total, "chunks_in_flight",
                                s.chunks_in_flight, "chunks_in_flight_max", s.chunks_in_flight_max,
                                "mpsc_stalls", (unsigned long long)s.mpsc_stalls);
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
    PyObject *r = Reader_close(op, NULL);
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

static PyObject *Reader_get_source(PyObject *op, void *c)
{
    PyObject *v = ((ReaderObject *)op)->source;
    return Py_NewRef(v ? v : Py_None);
}

static PyMethodDef Reader_methods[] = {
    {"_open", (PyCFunction)(void (*)(void))Reader_open, METH_VARARGS | METH_KEYWORDS,
     "internal: open the C reader"},
    {"close", Reader_close, METH_NOARGS,
     "Stop the pipeline, join its threads, free its memory. Idempotent."},
    {"counts", Reader_counts, METH_NOARGS, "(records, errors, bytes) so far"},
    {"stats", Reader_stats, METH_NOARGS, "per-stage counters (dict), None when closed"},
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

static PyType_Spec Reader_spec = {
    .name = "marcpipe._marcpipe.ReaderBase",
    .basicsize = sizeof(ReaderObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = Reader_slots,
};

/* ------------------------------------------------------------------------ */
/* module functions                                                         */

static PyObject *mod_register(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"record", "field_factory", "subfield",   "indicators",
                             "leader", "error_factory", "title_slow", NULL};
    PyObject *a[7];
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOOO:_register", kwlist, &a[0], &a[1], &a[2],
                                     &a[3], &a[4], &a[5], &a[6]))
        return NULL;
    mp_state *st = PyModule_GetState(m);
    if (!PyType_Check(a[0]) || !PyType_IsSubtype((PyTypeObject *)a[0], st->record_type)) {
        PyErr_SetString(PyExc_TypeError, "record must subclass RecordBase");
        return NULL;
    }
    for (int i = 2; i <= 3; i++)
        if (!PyType_Check(a[i]) || !PyType_IsSubtype((PyTypeObject *)a[i], &PyTuple_Type)) {
            PyErr_SetString(PyExc_TypeError, "subfield/indicators must be tuple subclasses");
            return NULL;
        }
    Py_XSETREF(st->record_cls, Py_NewRef(a[0]));
    Py_XSETREF(st->field_factory, Py_NewRef(a[1]));
    Py_XSETREF(st->subfield_cls, Py_NewRef(a[2]));
    Py_XSETREF(st->indicators_cls, Py_NewRef(a[3]));
    Py_XSETREF(st->leader_cls, Py_NewRef(a[4]));
    Py_XSETREF(st->error_factory, Py_NewRef(a[5]));
    Py_XSETREF(st->title_slow, Py_NewRef(a[6]));
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
    int sequential = 1, to_unicode = 1, force_utf8 = 0, h;
    const char *handling = "strict";
    unsigned int threads = 0;
    Py_ssize_t chunk = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|pppsIn:_scan", kwlist, &source, &sequential,
                                     &to_unicode, &force_utf8, &handling, &threads, &chunk))
        return NULL;
    if (parse_handling(handling, &h) < 0) {
        PyErr_SetString(PyExc_ValueError, "bad utf8_handling");
        return NULL;
    }
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.utf8_handling = (mp_utf8_handling)h;
    o.marc8_replace = 1;
    o.encoding = !to_unicode ? MP_ENCODING_RAW : force_utf8 ? MP_ENCODING_UTF8 : MP_ENCODING_AUTO;
    o.threads = threads;
    if (chunk > 0)
        o.chunk_size = (size_t)chunk;
    o.mode = sequential ? MP_MODE_SEQUENTIAL : MP_MODE_PIPELINE;
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
        Py_BEGIN_ALLOW_THREADS rc = mp_reader_open_path(&r, p, &o);
        Py_END_ALLOW_THREADS
    } else {
        if (PyObject_GetBuffer(source, &view, PyBUF_SIMPLE) < 0)
            goto fail;
        have_view = 1;
        const void *d = view.buf;
        size_t n = (size_t)view.len;
        Py_BEGIN_ALLOW_THREADS rc = mp_reader_open_mem(&r, d, n, &o);
        Py_END_ALLOW_THREADS
    }
    if (rc != MP_OK) {
        raise_open_error(rc, pathb ? source : NULL);
        goto fail;
    }
    for (;;) {
        const mp_record *rec = NULL;
        Py_BEGIN_ALLOW_THREADS rc = mp_reader_next(r, &rec);
        Py_END_ALLOW_THREADS if (rc != MP_OK && rc != MP_ERECORD) break;
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
        Py_BEGIN_ALLOW_THREADS mp_reader_close(r);
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
    int to_unicode = 1, force_utf8 = 0, h;
    const char *handling = "strict";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|pps:_decode", kwlist, &view, &to_unicode,
                                     &force_utf8, &handling))
        return NULL;
    mp_state *st = PyModule_GetState(m);
    PyObject *res = NULL;
    mp_reader *sr = NULL;
    if (parse_handling(handling, &h) < 0) {
        PyErr_SetString(PyExc_ValueError, "bad utf8_handling");
        goto out;
    }
    mp_reader_options o = MP_READER_OPTIONS_INIT;
    o.utf8_handling = (mp_utf8_handling)h;
    o.marc8_replace = 1;
    o.encoding = !to_unicode ? MP_ENCODING_RAW : force_utf8 ? MP_ENCODING_UTF8 : MP_ENCODING_AUTO;
    o.mode = MP_MODE_SEQUENTIAL;
    int rc = mp_reader_open_mem(&sr, view.buf, (size_t)view.len, &o);
    if (rc != MP_OK) {
        raise_open_error(rc, NULL);
        goto out;
    }
    const mp_record *rec = NULL;
    rc = mp_reader_next(sr, &rec);
    if (rc == MP_OK) {
        PyObject *cls = st->record_cls ? st->record_cls : (PyObject *)st->record_type;
        res = record_from_c((PyTypeObject *)cls, rec, to_unicode ? REC_UTF8 : REC_BYTES, NULL, NULL,
                            force_utf8);
    } else if (rc == MP_ERECORD) {
        const mp_error_info *e = mp_reader_error(sr);
        PyObject *raw = NULL;
        if (rec) {
            size_t n = 0;
            const unsigned char *p = mp_record_raw(rec, &n);
            if (p && !(raw = PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n)))
                goto out;
        }
        PyObject *exc = make_error(st, e, raw, to_unicode, force_utf8, handling);
        Py_XDECREF(raw);
        if (exc && PyObject_TypeCheck(exc, st->record_type)) {
            res = exc;
        } else if (exc) {
            PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
            Py_DECREF(exc);
        }
    } else if (rc == MP_EOF) {
        PyErr_SetString(st->error_base, "no record in data");
    } else {
        PyErr_Format(st->error_base, "cannot decode record: %s", mp_strerror(rc));
    }
out:
    mp_reader_close(sr);
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
    mp_state *st = PyModule_GetState(m);
    st->record_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &Record_spec, NULL);
    if (!st->record_type || PyModule_AddType(m, st->record_type) < 0)
        return -1;
    st->reader_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &Reader_spec, NULL);
    if (!st->reader_type || PyModule_AddType(m, st->reader_type) < 0)
        return -1;
    st->pool_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &Pool_spec, NULL);
    if (!st->pool_type || PyModule_AddType(m, st->pool_type) < 0)
        return -1;
    st->error_base = PyErr_NewExceptionWithDoc(
        "marcpipe.PymarcException", "Base of every marcpipe / pymarc exception.", NULL, NULL);
    if (!st->error_base || PyModule_AddObjectRef(m, "PymarcException", st->error_base) < 0)
        return -1;
    if (PyModule_AddStringConstant(m, "LIB_VERSION", mp_version()) < 0)
        return -1;
    return 0;
}

static int mod_traverse(PyObject *m, visitproc visit, void *arg)
{
    mp_state *st = PyModule_GetState(m);
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
    mp_state *st = PyModule_GetState(m);
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

static struct PyModuleDef mp_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "marcpipe._marcpipe",
    .m_doc = "C core of marcpipe: the pipeline reader, compact records, shared pools.",
    .m_size = sizeof(mp_state),
    .m_methods = mod_methods,
    .m_slots = mod_slots,
    .m_traverse = mod_traverse,
    .m_clear = mod_clear,
    .m_free = mod_free,
};

PyMODINIT_FUNC PyInit__marcpipe(void)
{
    return PyModuleDef_Init(&mp_module_def);
}
