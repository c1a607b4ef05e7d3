/*
 * fmt_json.c - MARC-in-JSON: framing and parsing (format.h, rules in
 * stages/FRAMING.md).
 *
 *     {"leader": "...", "fields": [{"001": "..."},
 *       {"245": {"ind1": "1", "ind2": "0", "subfields": [{"a": "..."}]}}]}
 *
 * One record per line (NDJSON), concatenated objects, or a JSON array of
 * records: the framer takes each top-level object (braces balanced
 * outside strings) as a unit and ignores the white space, '[', ',' and ']'
 * around them. The workers parse a unit with YAJL, a streaming (SAX-style)
 * parser from Debian (libyajl-dev): its callbacks feed the record builder
 * directly, no document tree is made, and its allocations come from the
 * chunk arena (yajl_alloc_funcs), so a record costs no malloc.
 *
 * Semantics (pymarc's JSONReader): "leader" is a string; "fields" an array
 * of one-key objects, tag -> string (control field) or tag -> object with
 * "ind1", "ind2" (absent: blank) and "subfields", an array of objects code
 * -> string (an object with several codes gives several subfields, in
 * order). Other keys are ignored. Anything else is an error of the record
 * (the record is still delivered, with what could be read).
 */
#include <string.h>
#include <yajl/yajl_parse.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include "builder.h"
#include "format.h"

/* ---- framing ------------------------------------------------------------- */

static int mp__json_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Whether the '{' at q starts a MARC-in-JSON record: white space (at most
 * 64 bytes) then the key "leader" or "fields". 1 yes, 0 no, -1 undecided.
 */
static int mp__json_record_start(const unsigned char *q, size_t n, int fin)
{
    size_t i = 1;
    while (i < n && i <= 64 && mp__json_ws(q[i]))
        i++;
    if (i > 64)
        return 0;
    if (i + 8 > n)
        return fin ? 0 : -1;
    return memcmp(q + i, "\"leader\"", 8) == 0 || memcmp(q + i, "\"fields\"", 8) == 0;
}

/* The next byte at or after k that framing looks at - '"', '\\', '{',
 * '}', LF - or w. 16 bytes a step. */
static inline size_t mp__json_next_special(const unsigned char *p, size_t k, size_t w)
{
#if defined(__SSE2__)
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), lb = _mm_set1_epi8('{'),
                  rb = _mm_set1_epi8('}'), lf = _mm_set1_epi8('\n');
    while (k + 16 <= w) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + k));
        __m128i m =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)),
                         _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, lb), _mm_cmpeq_epi8(v, rb)),
                                      _mm_cmpeq_epi8(v, lf)));
        unsigned mask = (unsigned)_mm_movemask_epi8(m);
        if (mask)
            return k + (size_t)__builtin_ctz(mask);
        k += 16;
    }
#endif
    while (k < w && p[k] != '"' && p[k] != '\\' && p[k] != '{' && p[k] != '}' && p[k] != '\n')
        k++;
    return k;
}

mp__frame_rc mp__json_frame(const void *fmtv, const unsigned char *p, size_t avail, int final,
                            mp__frame *out)
{
    const mp__marc_fmt *fmt = fmtv;
    size_t max = fmt->max_record;
    size_t w = avail < max ? avail : max;
    int fin = final != MP_FINAL_NO || avail >= max;

    int bom = mp__bom(p, w, fin);
    if (bom > 0)
        return mp__text_answer(out, MP_FRAME_IGNORE, 3, 0);
    if (bom < 0)
        return mp__text_answer(out, MP_FRAME_NEED, 3, 0);
    /* Structure between records: ignored byte by byte, so any split of
     * the run is the same. */
    size_t i = 0;
    while (i < w && (mp__json_ws(p[i]) || p[i] == '[' || p[i] == ']' || p[i] == ','))
        i++;
    if (i > 0)
        return mp__text_answer(out, MP_FRAME_IGNORE, i, 0);

    if (p[0] != '{') { /* junk: up to the next '{' or the end of the line */
        size_t lim = w < MP__TEXT_JUNK_MAX ? w : MP__TEXT_JUNK_MAX;
        for (size_t k = 1; k < lim; k++) {
            if (p[k] == '{')
                return mp__text_answer(out, MP_FRAME_SKIP, k, MP_EK_JUNK);
            if (p[k] == '\n')
                return mp__text_answer(out, MP_FRAME_SKIP, k + 1, MP_EK_JUNK);
        }
        if (lim == MP__TEXT_JUNK_MAX || fin)
            return mp__text_answer(out, MP_FRAME_SKIP, lim, MP_EK_JUNK);
        return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
    }

    /* An object: braces balanced outside strings. A '{' that starts
     * another record (outside a string, or at the start of a line inside
     * one) ends a damaged record, so one bad record does not swallow the
     * next. */
    size_t depth = 0;
    int in_str = 0;
    for (size_t k = 0; (k = mp__json_next_special(p, k, w)) < w; k++) {
        unsigned char c = p[k];
        if (in_str) {
            if (c == '\\') {
                k++;
            } else if (c == '"') {
                in_str = 0;
            } else if (c == '\n' && k + 1 < w && p[k + 1] == '{') {
                /* Raw newlines are allowed in strings (pymarc reads with
                 * json's strict=False), but a line that starts a record
                 * ends a record whose string was never closed. */
                int r = mp__json_record_start(p + k + 1, w - k - 1, fin);
                if (r < 0)
                    return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
                if (r)
                    return mp__text_answer(out, MP_FRAME_RECORD, k + 1, MP_EK_TRUNCATED);
            }
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '{') {
            /* A field or subfield object ({"245":..., {"a":...) is no
             * record start: decided without a look further. */
            int quick_no = k + 2 < w && p[k + 1] == '"' && p[k + 2] != 'l' && p[k + 2] != 'f';
            if (depth > 0 && !quick_no) {
                int r = mp__json_record_start(p + k, w - k, fin);
                if (r < 0)
                    return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
                if (r)
                    return mp__text_answer(out, MP_FRAME_RECORD, k, MP_EK_TRUNCATED);
            }
            depth++;
        } else if (c == '}') {
            if (--depth == 0)
                return mp__text_answer(out, MP_FRAME_RECORD, k + 1, 0);
        }
    }
    if (!fin)
        return mp__text_answer(out, MP_FRAME_NEED, mp__text_grow(avail, max), 0);
    if (avail >= max)
        return mp__text_answer(out, MP_FRAME_SKIP, w, MP_EK_TOO_BIG);
    return mp__text_answer(out, MP_FRAME_SKIP, w, MP_EK_TRUNCATED);
}

/* ---- parsing ------------------------------------------------------------- */

enum mp__jlevel { J_TOP, J_RECORD, J_FIELDS, J_FIELD, J_DATA, J_SUBS, J_SUB, J_DONE };
enum mp__jexpect {
    V_NONE,
    V_SKIP,
    V_LEADER,
    V_FIELDS,
    V_FIELDVAL,
    V_IND1,
    V_IND2,
    V_SUBS,
    V_SUBVAL
};
enum mp__jvalue { JV_STRING, JV_OTHER, JV_MAP, JV_ARRAY };

typedef struct mp__json {
    mp__bld b;
    int level;   /* enum mp__jlevel */
    int expect;  /* enum mp__jexpect: what the next value is */
    size_t skip; /* > 0: nesting depth inside a skipped value */
    int field_keys;
    char key[64];  /* the pending key (cut) */
    size_t keylen; /* its real length */
} mp__json;

static const char *mp__json_tag(const mp__json *j)
{
    return j->b.nf ? j->b.f[j->b.nf - 1].tag : NULL;
}

/* A value arrives where `expect` says what it means. */
static void mp__json_value(mp__json *j, int kind, const unsigned char *s, size_t n)
{
    mp__bld *b = &j->b;
    int expect = j->expect;
    j->expect = V_NONE;
    size_t kn = j->keylen < sizeof j->key ? j->keylen : sizeof j->key;
    switch (expect) {
    case V_LEADER:
        if (kind == JV_STRING) {
            mp__bld_leader_begin(b);
            mp__bld_text(b, (const char *)s, n);
            mp__bld_leader_end(b);
            return;
        }
        mp__bld_error(b, MP_EK_LEADER, NULL, 0, "\"leader\" is not a string");
        break;
    case V_FIELDS:
        if (kind == JV_ARRAY) {
            j->level = J_FIELDS;
            return;
        }
        mp__bld_error(b, MP_EK_FIELD, NULL, 0, "\"fields\" is not an array");
        break;
    case V_FIELDVAL:
        if (kind == JV_STRING) {
            mp__bld_control_begin(b, j->key, kn);
            mp__bld_text(b, (const char *)s, n);
            mp__bld_control_end(b);
            return;
        }
        if (kind == JV_MAP) {
            mp__bld_data_begin(b, j->key, kn);
            j->level = J_DATA;
            return;
        }
        mp__bld_error(b, MP_EK_FIELD, NULL, 0, "field \"%.*s\" is neither a string nor an object",
                      (int)(kn < 16 ? kn : 16), j->key);
        break;
    case V_IND1:
    case V_IND2:
        if (kind == JV_STRING) {
            mp__bld_indicator(b, expect == V_IND1 ? 1 : 2, (const char *)s, n);
            return;
        }
        mp__bld_error(b, MP_EK_INDICATOR, mp__json_tag(j), 0,
                      "field %s: indicator %d is not a string", mp__json_tag(j),
                      expect == V_IND1 ? 1 : 2);
        break;
    case V_SUBS:
        if (kind == JV_ARRAY) {
            j->level = J_SUBS;
            return;
        }
        mp__bld_error(b, MP_EK_SUBFIELD, mp__json_tag(j), 0,
                      "field %s: \"subfields\" is not an array", mp__json_tag(j));
        break;
    case V_SUBVAL:
        if (kind == JV_STRING) {
            mp__bld_sub_begin(b, j->key, kn);
            mp__bld_text(b, (const char *)s, n);
            mp__bld_sub_end(b);
            return;
        }
        mp__bld_error(b, MP_EK_SUBFIELD, mp__json_tag(j), 0,
                      "field %s: subfield \"%.*s\" is not a string", mp__json_tag(j),
                      (int)(kn < 8 ? kn : 8), j->key);
        break;
    case V_SKIP:
        break;
    default: /* an array element, or the top */
        if (j->level == J_TOP && kind == JV_MAP) {
            j->level = J_RECORD;
            return;
        }
        if (j->level == J_FIELDS) {
            if (kind == JV_MAP) {
                j->level = J_FIELD;
                j->field_keys = 0;
                return;
            }
            mp__bld_error(b, MP_EK_FIELD, NULL, 0, "an element of \"fields\" is not an object");
        } else if (j->level == J_SUBS) {
            if (kind == JV_MAP) {
                j->level = J_SUB;
                return;
            }
            mp__bld_error(b, MP_EK_SUBFIELD, mp__json_tag(j), 0,
                          "field %s: an element of \"subfields\" is not an object",
                          mp__json_tag(j));
        } else {
            mp__bld_error(b, MP_EK_SYNTAX, NULL, 0, "the record is not a JSON object");
        }
        break;
    }
    if (kind == JV_MAP || kind == JV_ARRAY)
        j->skip = 1; /* skip the whole value */
}

static int mp__j_null(void *ctx)
{
    mp__json *j = ctx;
    if (!j->skip)
        mp__json_value(j, JV_OTHER, NULL, 0);
    return !j->b.oom;
}

static int mp__j_bool(void *ctx, int v)
{
    (void)v;
    return mp__j_null(ctx);
}

static int mp__j_number(void *ctx, const char *s, size_t n)
{
    (void)s;
    (void)n;
    return mp__j_null(ctx);
}

static int mp__j_string(void *ctx, const unsigned char *s, size_t n)
{
    mp__json *j = ctx;
    if (!j->skip)
        mp__json_value(j, JV_STRING, s, n);
    return !j->b.oom;
}

static int mp__j_start(mp__json *j, int kind)
{
    if (j->skip)
        j->skip++;
    else
        mp__json_value(j, kind, NULL, 0);
    return !j->b.oom;
}

static int mp__j_start_map(void *ctx)
{
    return mp__j_start(ctx, JV_MAP);
}

static int mp__j_start_array(void *ctx)
{
    return mp__j_start(ctx, JV_ARRAY);
}

static int mp__j_key(void *ctx, const unsigned char *k, size_t n)
{
    mp__json *j = ctx;
    if (j->skip)
        return 1;
    memcpy(j->key, k, n < sizeof j->key ? n : sizeof j->key);
    j->keylen = n;
    switch (j->level) {
    case J_RECORD:
        j->expect = n == 6 && memcmp(k, "leader", 6) == 0   ? V_LEADER
                    : n == 6 && memcmp(k, "fields", 6) == 0 ? V_FIELDS
                                                            : V_SKIP;
        break;
    case J_FIELD:
        if (++j->field_keys == 1) {
            j->expect = V_FIELDVAL;
        } else {
            mp__bld_error(&j->b, MP_EK_FIELD, NULL, 0, "a field object holds more than one tag");
            j->expect = V_SKIP;
        }
        break;
    case J_DATA:
        j->expect = n == 4 && memcmp(k, "ind1", 4) == 0        ? V_IND1
                    : n == 4 && memcmp(k, "ind2", 4) == 0      ? V_IND2
                    : n == 9 && memcmp(k, "subfields", 9) == 0 ? V_SUBS
                                                               : V_SKIP;
        break;
    case J_SUB:
        j->expect = V_SUBVAL;
        break;
    default:
        j->expect = V_SKIP;
        break;
    }
    return 1;
}

static int mp__j_end(void *ctx)
{
    mp__json *j = ctx;
    if (j->skip) {
        j->skip--;
        return 1;
    }
    switch (j->level) {
    case J_RECORD:
        j->level = J_DONE;
        break;
    case J_FIELDS:
        j->level = J_RECORD;
        break;
    case J_FIELD:
        if (j->field_keys == 0)
            mp__bld_error(&j->b, MP_EK_FIELD, NULL, 0, "an empty field object");
        j->level = J_FIELDS;
        break;
    case J_DATA:
        mp__bld_data_end(&j->b);
        j->level = J_FIELD;
        break;
    case J_SUBS:
        j->level = J_DATA;
        break;
    case J_SUB:
        j->level = J_SUBS;
        break;
    default:
        break;
    }
    return 1;
}

static const yajl_callbacks mp__json_callbacks = {
    mp__j_null,   mp__j_bool,      NULL,      NULL,      mp__j_number,
    mp__j_string, mp__j_start_map, mp__j_key, mp__j_end, mp__j_start_array,
    mp__j_end,
};

/* YAJL allocates from the chunk arena: a size header makes realloc
 * possible; free is a no-op (the arena is reset with the chunk). */
typedef struct mp__jhdr {
    size_t size;
    size_t pad;
} mp__jhdr;

static void *mp__j_malloc(void *ctx, size_t sz)
{
    mp__jhdr *h = mp__arena_alloc(ctx, sizeof *h + sz, 16);
    if (!h)
        return NULL;
    h->size = sz;
    return h + 1;
}

static void *mp__j_realloc(void *ctx, void *ptr, size_t sz)
{
    if (!ptr)
        return mp__j_malloc(ctx, sz);
    mp__jhdr *old = (mp__jhdr *)ptr - 1;
    if (sz <= old->size)
        return ptr;
    void *q = mp__j_malloc(ctx, sz);
    if (q)
        memcpy(q, ptr, old->size);
    return q;
}

static void mp__j_free(void *ctx, void *ptr)
{
    (void)ctx;
    (void)ptr;
}

/*
 * JSON text with raw control characters inside strings (which Python's
 * json.load(strict=False), and so pymarc, accepts) rewritten with them
 * escaped, since YAJL rejects them: *out = in when there are none, else a
 * copy in the arena. MP_OK or MP_ENOMEM.
 */
static int mp__json_lenient(const unsigned char *in, size_t n, mp__arena *a,
                            const unsigned char **out, size_t *out_len)
{
    size_t extra = 0;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = in[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            else if (c < 0x20)
                extra += 5; /* "\u00XX" */
        } else if (c == '"') {
            in_str = 1;
        }
    }
    *out = in;
    *out_len = n;
    if (extra == 0)
        return MP_OK;
    unsigned char *o = mp__arena_alloc(a, n + extra, 1);
    if (!o)
        return MP_ENOMEM;
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    in_str = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = in[i];
        if (in_str && c < 0x20) {
            memcpy(o + k, "\\u00", 4);
            o[k + 4] = (unsigned char)hex[c >> 4];
            o[k + 5] = (unsigned char)hex[c & 15];
            k += 6;
            continue;
        }
        o[k++] = c;
        if (in_str) {
            if (c == '\\' && i + 1 < n)
                o[k++] = in[++i];
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        }
    }
    *out = o;
    *out_len = k;
    return MP_OK;
}

int mp__json_parse_item(const void *fmtv, mp__item *item, mp__arena *arena)
{
    const mp__marc_fmt *fmt = fmtv;
    mp__json j;
    memset(&j, 0, sizeof j);
    if (mp__bld_init(&j.b, fmt, item, arena, item->len / 2) < 0)
        return MP_ENOMEM;
    j.b.check_ctl = 1; /* "\u001f" is valid JSON */
    if (item->frame_kind == MP_EK_TRUNCATED)
        mp__bld_error(&j.b, MP_EK_SYNTAX, NULL, 0,
                      "the record object is not closed before the next record");
    const unsigned char *text = item->data;
    size_t tlen = item->len;
    yajl_alloc_funcs af = {mp__j_malloc, mp__j_realloc, mp__j_free, arena};
    yajl_handle h = NULL;
    yajl_status st;
    for (int pass = 0;; pass++) {
        h = yajl_alloc(&mp__json_callbacks, &af, &j);
        if (!h)
            return MP_ENOMEM;
        st = yajl_parse(h, text, tlen);
        if (st == yajl_status_ok)
            st = yajl_complete_parse(h);
        if (j.b.oom) {
            yajl_free(h);
            return MP_ENOMEM;
        }
        if (st == yajl_status_ok || pass == 1)
            break;
        /* Raw control characters in strings (json.load(strict=False)
         * accepts them, YAJL does not): escaped, then parsed again from a
         * fresh record. Valid JSON never takes this second pass. */
        const unsigned char *fixed;
        size_t flen;
        if (mp__json_lenient(item->data, item->len, arena, &fixed, &flen) < 0) {
            yajl_free(h);
            return MP_ENOMEM;
        }
        if (fixed == item->data)
            break; /* nothing to escape: the error stands */
        yajl_free(h);
        memset(&j, 0, sizeof j);
        if (mp__bld_init(&j.b, fmt, item, arena, item->len / 2) < 0)
            return MP_ENOMEM;
        j.b.check_ctl = 1;
        if (item->frame_kind == MP_EK_TRUNCATED)
            mp__bld_error(&j.b, MP_EK_SYNTAX, NULL, 0,
                          "the record object is not closed before the next record");
        text = fixed;
        tlen = flen;
    }
    if (st != yajl_status_ok) {
        size_t at = yajl_get_bytes_consumed(h);
        unsigned char *msg = yajl_get_error(h, 0, text, tlen);
        mp__bld_error(&j.b, MP_EK_SYNTAX, NULL, 0, "invalid JSON at byte %zu of the record: %s", at,
                      msg ? (const char *)msg : "parse error");
        if (msg)
            yajl_free_error(h, msg);
    }
    yajl_free(h);
    return mp__bld_finish(&j.b);
}
