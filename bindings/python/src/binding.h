/*
 * binding.h - what the C files of marcpipe._marcpipe share.
 *
 * One C file per exposed type, as python-zstandard's c-ext/ does:
 *   record.c  RecordBase: a MARC record copied out of the pipeline into ONE
 *             Python object (leader + compact field/subfield index + text);
 *             Field objects are built only when touched.
 *   reader.c  ReaderBase: wraps an mp_reader; its tp_iternext is the hot
 *             loop. Also the helpers every reader entry point uses:
 *             reader_options_from(), error_item_to_py(), raise_open_error().
 *   pool.c    Pool: wraps an mp_pool shared by many readers.
 *   module.c  module state, multi-phase init, _register/_scan/_decode.
 *   layout.c  the compact record layout, built by the parser workers. It
 *             runs without the GIL and includes layout.h, never this file.
 * The pure-Python layer (the marcpipe package) subclasses RecordBase and
 * ReaderBase and registers its classes (Field, Subfield, Indicators,
 * Leader, PymarcException, the error factory) with _register(); they live
 * in the module state.
 *
 * GIL: workers never touch Python. The consumer call first tries the
 * pipeline without blocking while holding the GIL (the common case when the
 * workers are ahead), and only otherwise waits in slices of at most 50 ms
 * with the GIL released, checking signals between slices so Ctrl-C
 * interrupts within ~50 ms. A callback source (a Python file object) runs
 * on the producer thread and takes the GIL for each read (PyGILState).
 *
 * Names: mp_ is the library's public API; the binding's own shared names
 * carry no prefix and stay inside the extension (hidden visibility).
 */
#ifndef MP_PY_BINDING_H
#define MP_PY_BINDING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <marcpipe/marcpipe.h>

#include "layout.h"

/* ------------------------------------------------------------------------ */
/* module state (module.c)                                                  */

typedef struct module_state {
    PyTypeObject *record_type; /* RecordBase */
    PyTypeObject *reader_type; /* ReaderBase */
    PyTypeObject *pool_type;   /* Pool */
    /* registered by the Python layer; NULL until _register() */
    PyObject *error_base;      /* marcpipe.PymarcException */
    PyObject *record_cls;      /* marcpipe.Record (subclass of RecordBase) */
    PyObject *field_factory;   /* f(tag, indicators|None, subfields|None, data|None, raw) */
    PyObject *subfield_cls;    /* namedtuple Subfield(code, value) */
    PyObject *indicators_cls;  /* namedtuple Indicators(first, second) */
    PyObject *leader_cls;      /* Leader(str) */
    PyObject *error_factory;   /* f(kind, code, ordinal, offset, length, cn, tag, sf, raw, ...) */
    PyObject *title_slow;      /* f(record): title when fields were materialized */
    PyObject *warning_factory; /* f(kind, offset, ordinal, tag, subfield, message) */
    PyObject *warning_hook;    /* f(record, quiet): pymarc's warnings / logging, or None */
    PyObject *format_error;    /* raised for MP_EFORMAT (NULL: error_base) */
    /* as_dict() from the compact layout (record.c): its keys, interned once,
     * and the str of every all-digit tag, made on first use. */
    PyObject *k_leader, *k_fields, *k_ind1, *k_ind2, *k_subfields;
    PyObject *digit_tags[1000];
    /* the one-character str of every byte (CPython's Latin-1 singletons),
     * for codes and indicators; and the names of the Python layer's
     * fallbacks that str() and as_dict() call (interned). */
    PyObject *chars[256];
    PyObject *n_str_pymarc, *n_as_dict_pymarc;
    /* RecordBase._write's output buffer, reused (the GIL serialises its
     * users); shrunk back when one record made it big. */
    mp_buf scratch;
    /* ... and its view arrays, kept between calls; `view_busy` when a call
     * is using them (a Field property could call back into _write: that
     * call then allocates its own). */
    mp_field *view_fields;
    mp_subfield *view_subs;
    size_t view_fcap, view_scap;
    int view_busy;
} module_state;

extern struct PyModuleDef module_def;

/* The state of the module that created `tp` (a heap type of this module or
 * a subclass); NULL with an exception set when there is none. */
module_state *state_of_type(PyTypeObject *tp);

/* The class of the errors the library reports: PymarcException once the
 * Python layer registered it, RuntimeError before. Borrowed. */
PyObject *error_base(const module_state *st);

/* ------------------------------------------------------------------------ */
/* text (text.c)                                                            */

/* A new str of UTF-8 bytes s[0, n), exactly PyUnicode_DecodeUTF8(s, n,
 * "replace") but made in one write for ASCII, Latin-1 and BMP text;
 * NULL with an error set. Needs the GIL; s is borrowed. */
PyObject *text_from_utf8(const char *s, size_t n);

/* The same for text whose continuation bytes (0x80-0xBF) and largest byte
 * are already known to be `cont` and `maxb` (layout_text_survey): one pass less.
 * A wrong claim costs time only: the result is checked, and made by
 * CPython's decoder when it does not match. Not for ASCII text. */
PyObject *text_from_utf8_as(const char *s, size_t n, size_t cont, unsigned maxb);

/* ------------------------------------------------------------------------ */
/* records (record.c)                                                       */

extern PyType_Spec record_spec;

/* How a record's text turns into Python values. */
enum rec_mode {
    REC_UTF8 = 0,  /* text is UTF-8 (converted / validated by the workers) */
    REC_BYTES = 1, /* to_unicode=False: values are bytes */
    REC_CODEC = 2, /* decode with codec (encoding, errors) at access */
};

/* The record's compact state for pickle/copy (RecordBase._state) and the
 * record rebuilt from it (_record_restore(cls, state), module.c). */
PyObject *record_restore(PyTypeObject *cls, PyObject *state);

/* A new record of type `tp` (RecordBase or a subclass) from the borrowed
 * `rec`, copying the layout a worker prepared when there is one (else
 * building it here with `lo`). For REC_CODEC, codec_utf8 / codec_file are
 * the (encoding, errors) tuples for UTF-8 records and for the others
 * (borrowed; NULL otherwise). The record's warnings become
 * record.warnings (objects of st's warning factory); when there are some
 * and `emit`, st's warning hook runs (pymarc's warnings.warn / logging;
 * quiet: hide_utf8_warnings). */
PyObject *record_from_c(module_state *st, PyTypeObject *tp, const mp_record *rec,
                        enum rec_mode mode, PyObject *codec_utf8, PyObject *codec_file,
                        int force_utf8, const layout_opts *lo, int emit, int quiet);

/* ------------------------------------------------------------------------ */
/* pools (pool.c)                                                           */

extern PyType_Spec pool_spec;

typedef struct {
    PyObject_HEAD
    mp_pool *pool; /* NULL after close() */
    int opening;   /* readers being opened on it right now (GIL): close() refuses */
    int closing;   /* close() is destroying it, GIL released (GIL): opens refuse */
} PoolObject;

/* ------------------------------------------------------------------------ */
/* readers (reader.c)                                                       */

extern PyType_Spec reader_spec;

/* The keyword arguments every reader entry point shares, as parsed
 * (PyArg_ParseTupleAndKeywords writes into the fields). Borrowed for the
 * duration of the call. Start from READER_ARGS_INIT: MARCReader's defaults. */
typedef struct reader_args {
    int to_unicode;            /* 0: values are bytes */
    int force_utf8;            /* every record is UTF-8, whatever leader/09 says */
    const char *utf8_handling; /* "strict", "replace" or "ignore" */
    PyObject *file_codec;      /* NULL or None: MARC-8; else the codec of non-UTF-8 records */
    unsigned int threads;      /* private pool workers; 0: one per CPU */
    Py_ssize_t chunk_size;     /* <= 0: the library's default */
    int ordered;               /* 0: records in completion order */
    int policy;                /* mp_policy */
    mp_reader_mode mode;       /* MP_MODE_AUTO: the library's choice */
    unsigned long long range_start, range_end; /* byte range; 0, 0: the whole input */
    unsigned long long first_ordinal;          /* ordinal of the range's first unit */
    const char *marc8_double;                  /* "halves" (pymarc, the default) or "combined" */
    int strict;                                /* warnings become error items */
    mp_format format;                          /* input format (MARCReader: ISO 2709) */
} reader_args;

#define READER_ARGS_INIT                                                                           \
    {                                                                                              \
        .to_unicode = 1, .utf8_handling = "strict", .ordered = 1, .policy = MP_POLICY_REPORT,      \
        .marc8_double = "halves", .format = MP_FORMAT_ISO2709                                      \
    }

/* mp_format from its name ("auto", "iso2709", "marcxml", "json", "mrk"):
 * 0, or -1 with ValueError set. */
int format_from_name(const char *name, mp_format *out);

/* The mp_reader_options for `a` (the one place Python-level reader
 * arguments become library options), record_fn included. -1 with
 * ValueError set on a bad value. */
int reader_options_from(const reader_args *a, mp_reader_options *o);

/* The layout options that go with `a` (pymarc's Latin-1 control fields
 * for text read as MARC-8). */
static inline const layout_opts *layout_opts_for(const reader_args *a)
{
    return a->to_unicode && !a->force_utf8 ? &LAYOUT_PYMARC : &LAYOUT_PLAIN;
}

/* The record mode that goes with the options reader_options_from chose. */
static inline enum rec_mode rec_mode_for(const reader_args *a)
{
    if (!a->to_unicode)
        return REC_BYTES;
    return a->file_codec && a->file_codec != Py_None ? REC_CODEC : REC_UTF8;
}

/*
 * The error item `e` as a Python object made by the registered error
 * factory: the exception pymarc would raise (its class chosen by pymarc's
 * rules on the unit's bytes: a reader's framing rules, or decode_marc's
 * when `decode`; force_utf8 as the reader's). `unit` / `unit_len` are the unit's bytes
 * (mp_reader_error_data, borrowed; NULL when unknown). When `raw` is not
 * NULL, *raw receives them as bytes (new reference) or NULL. Returns a
 * new reference; NULL with an exception set (and *raw NULL) on failure.
 */
PyObject *error_item_to_py(module_state *st, const mp_error_info *e, const unsigned char *unit,
                           size_t unit_len, int force_utf8, int decode, PyObject **raw);

/* _at_exit(): called by the package's atexit hook (module function). */
PyObject *reader_at_exit(PyObject *m, PyObject *unused);

/* Raises the Python exception for an mp_reader_open_* failure `rc`
 * (`path`: the path object for OSError's filename, or NULL; `o`: the
 * options, for the message of MP_EINVAL). Returns -1. */
int raise_open_error(int rc, PyObject *path, const mp_reader_options *o);

#endif
