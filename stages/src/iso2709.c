/*
 * iso2709.c - ISO 2709 framing and MARC 21 parsing (see marc.h and
 * stages/FRAMING.md for the framing rules).
 *
 * Framing in short: a unit starts at a plausible leader (digits at 0-4,
 * no 0x1D in 5-23, digits at 12-16 or "45" at 20-21). If its stated length
 * ends on 0x1D - and no 0x1D inside it is followed by a plausible leader
 * (an anchor: no unit may contain one, so byte ranges can find their
 * units) - it is a clean RECORD; otherwise the record ends at the first
 * 0x1D and is delivered with frame_kind LENGTH or TERMINATOR (indexed,
 * MP_ERECORD) - this is how the 1.1 MB record of bad_hathi_records.mrc
 * (leader 99999), bad_too_long_plus_2.mrc and datos-20161010-slice.mrc
 * (from which YAZ recovers nothing) are read. Bytes that start no plausible
 * leader are a JUNK SKIP up to the next 0x1D or plausible leader (64 KiB at
 * most per item). At the end of input the rest is TRUNCATED (or JUNK when
 * it does not start with a digit); no terminator within max_record_size
 * gives a TOO_BIG SKIP of max_record_size bytes.
 *
 * Both functions are pure: frame() depends only on the bytes it is given
 * (and the configured maximum), never on how many bytes beyond its answer
 * are available; parse_item() writes only the item and the arena it is
 * given. The pipeline and the sequential reader call the same code.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "marc.h"
#include "write_internal.h"
#include "utf8_avx2.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Messages are cut to their buffers on purpose. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

static inline int mp__is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static size_t mp__num(const unsigned char *p, size_t n)
{
    size_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (size_t)(p[i] - '0');
    return v;
}

static int mp__all_digits(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!mp__is_digit(p[i]))
            return 0;
    return 1;
}

/*
 * A directory entry's nine digits e9[0..9): 1 when all are digits, with
 * the field length (the first four) in *len and the start (the last five)
 * in *start; else 0. Eight of them at once in a 64-bit word (this was ~9 %
 * of a plain record's parse as byte loops): the digit test of
 * simdjson's is_made_of_eight_digits_fast, then pairs, then quads.
 */
static inline int mp__entry_nums(const unsigned char *e9, size_t *len, size_t *start)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t F0 = 0xF0F0F0F0F0F0F0F0ull;
    uint64_t w;
    memcpy(&w, e9, 8); /* byte k = digit k: the first digit is the lowest byte */
    if (((w & F0) | (((w + 0x0606060606060606ull) & F0) >> 4)) != 0x3333333333333333ull ||
        !mp__is_digit(e9[8]))
        return 0;
    w -= 0x3030303030303030ull;
    /* each byte <= 9, each pair <= 99, each quad <= 9999: no carry crosses a lane */
    w = (w * 10 + (w >> 8)) & 0x00FF00FF00FF00FFull;
    w = (w * 100 + (w >> 16)) & 0x0000FFFF0000FFFFull;
    *len = (size_t)(w & 0xFFFF);
    *start = (size_t)(w >> 32) * 10 + (size_t)(e9[8] - '0');
    return 1;
#else
    if (!mp__all_digits(e9, 9))
        return 0;
    *len = mp__num(e9, 4);
    *start = mp__num(e9 + 4, 5);
    return 1;
#endif
}

int mp__marc_fmt_init(mp__marc_fmt *fmt, const mp_reader_options *opts)
{
    memset(fmt, 0, sizeof *fmt);
    fmt->max_record = opts->max_record_size ? opts->max_record_size : MP__DEFAULT_MAX_RECORD;
    if (fmt->max_record < 64 || fmt->max_record > (size_t)UINT32_MAX)
        return MP_EINVAL;
    if ((unsigned)opts->encoding > MP_ENCODING_RAW ||
        (unsigned)opts->utf8_handling > MP_UTF8_IGNORE || (unsigned)opts->policy > MP_POLICY_SKIP)
        return MP_EINVAL;
    fmt->encoding = opts->encoding;
    fmt->text.utf8_handling = opts->utf8_handling;
    fmt->text.normalize = !opts->no_normalize;
    fmt->text.marc8_replace = opts->marc8_replace;
    fmt->text.dd_halves = opts->marc8_double == MP_MARC8_DOUBLE_HALVES;
    fmt->strict = opts->strict != 0;
    fmt->record_fn = opts->record_fn;
    fmt->record_fn_user = opts->record_fn_user;
    if (opts->output_format != MP_FORMAT_AUTO && !mp__write_format_ok(opts->output_format))
        return MP_EINVAL;
    if (opts->output_flags & ~MP_WRITE_FLAGS_ALL)
        return MP_EINVAL;
    fmt->out_format = opts->output_format;
    fmt->out_flags = opts->output_flags;
    int in = opts->format == MP_FORMAT_NDJSON ? MP_FORMAT_JSON : (int)opts->format;
    if ((unsigned)in > MP_FORMAT_MRK)
        return MP_EINVAL;
    fmt->requested = in;
    fmt->format = in != MP_FORMAT_AUTO ? in : MP_FORMAT_ISO2709;
    return MP_OK;
}

/* ---- framing ---------------------------------------------------------------- */

enum { MP__NO = 0, MP__YES = 1, MP__MORE = -1 };

/*
 * A plausible leader starts at q: digits at 0-4 (record length), no record
 * terminator in 5-23, and either digits at 12-16 (base address) or "45" at
 * 20-21 (entry map), so one damaged leader field is tolerated. Needs 24
 * bytes; MP__MORE when the n available ones do not decide.
 */
static int mp__plausible(const unsigned char *q, size_t n)
{
    size_t i;
    for (i = 0; i < 5; i++) {
        if (i >= n)
            return MP__MORE;
        if (!mp__is_digit(q[i]))
            return MP__NO;
    }
    for (; i < MP__LEADER_LEN; i++) {
        if (i >= n)
            return MP__MORE;
        if (q[i] == MP__RT)
            return MP__NO;
    }
    if (mp__all_digits(q + 12, 5) || (q[20] == '4' && q[21] == '5'))
        return MP__YES;
    return MP__NO;
}

/*
 * A clean record starts at q: a plausible leader and a terminator where
 * its length says (a directory or text that merely looks like a leader
 * fails the second test). MP__MORE: *need bytes from q decide.
 */
static int mp__clean_record_at(const unsigned char *q, size_t n, size_t max, size_t *need)
{
    int pl = mp__plausible(q, n);
    if (pl != MP__YES) {
        *need = MP__LEADER_LEN;
        return pl;
    }
    size_t len = mp__num(q, 5);
    if (len < MP__MIN_RECORD || len > max)
        return MP__NO;
    if (len > n) {
        *need = len;
        return MP__MORE;
    }
    return q[len - 1] == MP__RT ? MP__YES : MP__NO;
}

/*
 * An anchor inside the n-byte unit at p: a record terminator followed by a
 * plausible leader, strictly inside. No unit may contain one (FRAMING.md,
 * "Anchors"), which is what lets a byte range find its first unit without
 * reading the file from the start. The caller knows p[n - 1] is the
 * terminator: a plausible leader's 24 bytes hold no terminator, so every
 * leader that starts inside fits inside and the answer never needs bytes
 * beyond the unit. Leaders hold no terminator either, so the search starts
 * after p's own.
 */
static int mp__inner_anchor(const unsigned char *p, size_t n)
{
    size_t i = MP__LEADER_LEN;
    while (i + 1 < n) {
        const unsigned char *t = memchr(p + i, MP__RT, n - 1 - i);
        if (!t)
            return 0;
        i = (size_t)(t - p) + 1;
        if (mp__plausible(p + i, n - i) == MP__YES)
            return 1;
    }
    return 0;
}

int mp__marc_anchor(const unsigned char *p, size_t n)
{
    return n > MP__LEADER_LEN && p[0] == MP__RT && mp__plausible(p + 1, n - 1) == MP__YES;
}

static mp__frame_rc mp__answer(mp__frame *out, mp__frame_rc rc, size_t len, uint16_t kind)
{
    out->len = len;
    out->kind = kind;
    return rc;
}

/* Geometric growth for NEED while searching for a terminator, so a long
 * search costs O(n) over repeated calls; capped at the maximum. */
static size_t mp__grow(size_t avail, size_t cap)
{
    size_t want = avail < 4096 ? avail + 4096 : avail * 2;
    return want > cap ? cap : want;
}

/*
 * Junk: p does not start a plausible leader. The span ends after the next
 * record terminator or before the next plausible leader, whichever comes
 * first, and is at most MP__JUNK_MAX bytes.
 */
static mp__frame_rc mp__frame_junk(const unsigned char *p, size_t avail, size_t w, int fin,
                                   size_t max, mp__frame *out)
{
    size_t lim = w < MP__JUNK_MAX ? w : MP__JUNK_MAX;
    for (size_t i = 1; i <= lim; i++) {
        if (p[i - 1] == MP__RT)
            return mp__answer(out, MP_FRAME_SKIP, i, MP_EK_JUNK);
        if (i == lim)
            break;
        if (mp__is_digit(p[i])) {
            int r = mp__plausible(p + i, w - i);
            if (r == MP__YES)
                return mp__answer(out, MP_FRAME_SKIP, i, MP_EK_JUNK);
            if (r == MP__MORE && !fin) {
                size_t need = i + MP__LEADER_LEN > max ? max : i + MP__LEADER_LEN;
                return mp__answer(out, MP_FRAME_NEED, need, 0);
            }
        }
    }
    if (lim == MP__JUNK_MAX)
        return mp__answer(out, MP_FRAME_SKIP, lim, MP_EK_JUNK);
    if (!fin) {
        size_t cap = MP__JUNK_MAX + MP__LEADER_LEN < max ? MP__JUNK_MAX + MP__LEADER_LEN : max;
        return mp__answer(out, MP_FRAME_NEED, mp__grow(avail, cap), 0);
    }
    /* The input ends (or the maximum is reached) with no terminator: the
     * rest is a truncated record when it starts like one. */
    uint16_t kind = (avail < max && mp__is_digit(p[0])) ? MP_EK_TRUNCATED : MP_EK_JUNK;
    return mp__answer(out, MP_FRAME_SKIP, w, kind);
}

mp__frame_rc mp__marc_frame(const void *fmtv, const unsigned char *p, size_t avail, int final,
                            mp__frame *out)
{
    const mp__marc_fmt *fmt = fmtv;
    size_t max = fmt->max_record;
    size_t w = avail < max ? avail : max;
    /* Reaching the maximum decides like the end of input does, whatever
     * the caller says, so the answer never depends on the chunk size. */
    int fin = final != MP_FINAL_NO || avail >= max;
    int pl = mp__plausible(p, w);

    if (pl == MP__MORE && !fin)
        return mp__answer(out, MP_FRAME_NEED, MP__LEADER_LEN, 0);
    if (pl != MP__YES)
        return mp__frame_junk(p, avail, w, fin, max, out);

    size_t stated = mp__num(p, 5);
    if (stated >= MP__MIN_RECORD && stated <= max) {
        if (stated > w) {
            if (!fin)
                return mp__answer(out, MP_FRAME_NEED, stated, 0);
        } else if (p[stated - 1] == MP__RT) {
            /* Clean, unless a terminator inside it is followed by a
             * leader: then the record ends at its first terminator. */
            if (!mp__inner_anchor(p, stated))
                return mp__answer(out, MP_FRAME_RECORD, stated, 0);
        } else if (!memchr(p, MP__RT, stated)) {
            /* Only the terminator is damaged: when a plausible leader (or
             * the end of input) follows the stated length, trust the
             * length, so the next record is not swallowed by a resync.
             * "The input ends at L" needs a real end (not a caller that
             * reached the maximum) and L < max: at L == max nothing past L
             * can be examined, and whether the end of input is known there
             * depends on how the input was cut into reads, so the answer
             * would depend on the chunk size. */
            size_t more = 0;
            int next = (final == MP_FINAL_EOF && avail == stated && stated < max)
                           ? MP__YES
                           : mp__clean_record_at(p + stated, w - stated, max, &more);
            if (next == MP__MORE && !fin) {
                size_t need = stated + more;
                return mp__answer(out, MP_FRAME_NEED, need > max ? max : need, 0);
            }
            if (next == MP__YES)
                return mp__answer(out, MP_FRAME_RECORD, stated, MP_EK_TERMINATOR);
        }
    }
    /* The length lies: the record ends at the first terminator. */
    const unsigned char *e = memchr(p, MP__RT, w);
    if (e) {
        size_t n = (size_t)(e - p) + 1;
        if (n < MP__MIN_RECORD)
            return mp__frame_junk(p, avail, w, fin, max, out);
        /* LENGTH: the stated length is impossible or past the terminator
         * (also 99999 on a record longer than ISO 2709 can state);
         * TERMINATOR: the terminator is missing where the length says. */
        uint16_t kind =
            (stated < MP__MIN_RECORD || stated > n || n > 99999) ? MP_EK_LENGTH : MP_EK_TERMINATOR;
        return mp__answer(out, MP_FRAME_RECORD, n, kind);
    }
    if (!fin)
        return mp__answer(out, MP_FRAME_NEED, mp__grow(avail, max), 0);
    if (avail >= max)
        return mp__answer(out, MP_FRAME_SKIP, w, MP_EK_TOO_BIG);
    return mp__answer(out, MP_FRAME_SKIP, w, MP_EK_TRUNCATED);
}

/* ---- parsing ----------------------------------------------------------------- */

typedef struct mp__parse_ctx {
    const mp__marc_fmt *fmt;
    mp_record *rec;
    mp__arena *a;
    int mode; /* MP_ENCODING_UTF8, _MARC8 or _RAW for this record */
    int oom;
    /* Subfield delimiter bitmap of the data area (bit i: area[i] == 0x1F),
     * built by the scan pass so fields do not compare their bytes again. */
    const unsigned char *area;
    size_t area_len;
    const uint64_t *sdmap;
    /* MARC-8 records only (else NULL): bit i set when area[i] needs
     * decoding (>= 0x80 or ESC), from the same pass, so that each field
     * asks a few words whether it is plain instead of reading its bytes. */
    const uint64_t *hmap;
    /* The data field being decoded: its raw subfield text (from the first
     * delimiter), for the positions of warnings found in the decoded text. */
    const unsigned char *ftext;
    size_t ftext_len;
} mp__parse_ctx;

int mp__rec_set_error(mp_record *rec, mp__arena *a, int kind, const char *tag, char sub,
                      const char *fmt, ...)
{
    if (rec->err)
        return MP_OK;
    mp__rec_err *e = mp__arena_alloc(a, sizeof *e, _Alignof(mp__rec_err));
    if (!e)
        return MP_ENOMEM;
    memset(e, 0, sizeof *e);
    e->kind = (uint16_t)kind;
    if (tag)
        memcpy(e->tag, tag, strnlen(tag, 3));
    e->subfield = sub;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    rec->err = e;
    return MP_OK;
}

int mp__record_done(const mp__marc_fmt *fmt, mp_record *rec, mp__item *item, mp__arena *a)
{
    if (!rec->err && fmt->record_fn) {
        rec->arena = a; /* mp_record_annotate, during record_fn only */
        int u = fmt->record_fn(fmt->record_fn_user, rec);
        rec->arena = NULL;
        if (u == 1)
            rec->dropped = 1;
        else if (u < 0 && mp__rec_set_error(rec, a, MP_EK_FILTER, NULL, 0,
                                            "record function returned %d", u) < 0)
            return MP_ENOMEM;
    }
    if (fmt->out_format && !rec->dropped)
        mp__write_prepare(rec, a, fmt->out_format, fmt->out_flags);
    item->result = rec;
    item->status = rec->err ? MP_ERECORD : 0;
    return MP_OK;
}

/* Records the first error of the record (later ones are not kept). */
__attribute__((format(printf, 5, 6))) static void
mp__rec_error(mp__parse_ctx *x, int kind, const char *tag, char sub, const char *fmt, ...)
{
    if (x->rec->err)
        return;
    char msg[sizeof x->rec->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (mp__rec_set_error(x->rec, x->a, kind, tag, sub, "%s", msg) < 0)
        x->oom = 1;
}

/*
 * Records a warning at byte `pos` of the record: a problem that leaves
 * the content readable (stages/FRAMING.md, "Checks"). Under
 * options.strict it is the record's error instead. The first
 * MP_RECORD_WARNINGS_KEPT are kept (arena, grown 4, 8, 16, 32); all are
 * counted.
 */
__attribute__((format(printf, 6, 7))) static void mp__rec_warn(mp__parse_ctx *x, int kind,
                                                               const char *tag, char sub,
                                                               size_t pos, const char *fmt, ...)
{
    mp_record *rec = x->rec;
    va_list ap;
    if (x->fmt->strict) {
        if (rec->err)
            return;
        mp__rec_error(x, kind, tag, sub, "%s", "");
        if (rec->err) {
            va_start(ap, fmt);
            vsnprintf(rec->err->msg, sizeof rec->err->msg, fmt, ap);
            va_end(ap);
        }
        return;
    }
    uint32_t i = rec->nwarns++;
    if (i >= MP_RECORD_WARNINGS_KEPT)
        return;
    if (i == rec->warns_cap) {
        uint32_t cap = rec->warns_cap ? rec->warns_cap * 2 : 4;
        mp_warning *w = mp__arena_alloc(x->a, cap * sizeof *w, _Alignof(mp_warning));
        if (!w) {
            x->oom = 1;
            return;
        }
        if (i)
            memcpy(w, rec->warns, i * sizeof *w);
        rec->warns = w;
        rec->warns_cap = cap;
    }
    mp_warning *w = &rec->warns[i];
    memset(w, 0, sizeof *w);
    w->kind = (mp_error_kind)kind;
    w->offset = rec->offset + pos;
    if (tag)
        memcpy(w->tag, tag, 3);
    w->subfield = sub;
    va_start(ap, fmt);
    vsnprintf(w->message, sizeof w->message, fmt, ap);
    va_end(ap);
}

/* Where a non-ASCII subfield code was rewritten to its ASCII reading:
 * at[j] is the position in the rewritten text just after the j-th code,
 * gone[j] the bytes removed up to and including it. */
typedef struct mp__rewrites {
    size_t n;
    const size_t *at, *gone;
} mp__rewrites;

/* Position in the raw text of position p of the (maybe rewritten) text. */
static size_t mp__unrewrite(const mp__rewrites *rw, size_t p)
{
    size_t add = 0;
    for (size_t j = 0; rw && j < rw->n && rw->at[j] <= p; j++)
        add = rw->gone[j];
    return p + add;
}

/*
 * Decodes text per the record's mode. `pos` is the record position of
 * the raw text `in` came from, rw the rewrites between them (or NULL).
 * A problem is an error, or a warning when the options let it pass
 * (utf8_handling replace/ignore, marc8_replace). Returns 0, or MP_ENOMEM.
 */
static int mp__text(mp__parse_ctx *x, const mp__text_opts *o, const unsigned char *in, size_t n,
                    const char **out, size_t *out_len, const char *tag, size_t pos,
                    const mp__rewrites *rw)
{
    mp__text_error te;
    int r;
    if (x->mode == MP_ENCODING_RAW) {
        *out = (const char *)in;
        *out_len = n;
        return 0;
    }
    te.kind = 0;
    te.count = 0;
    te.message[0] = 0;
    if (x->mode == MP_ENCODING_MARC8)
        r = mp__marc8_to_utf8(o, in, n, x->a, out, out_len, &te);
    else
        r = mp__utf8_check(o, in, n, x->a, out, out_len, &te);
    if (r < 0)
        return r;
    if (*out != (const char *)in)
        x->rec->converted = 1; /* the text differs from the stored bytes */
    if (te.kind == 0)
        return 0;
    size_t at = mp__unrewrite(rw, te.position);
    const char *what = te.message[0] ? te.message : "invalid text";
    if (r == 1) /* a problem the options do not let pass */
        mp__rec_error(x, te.kind, tag, 0, "field %.3s: %s at byte %zu of the record", tag, what,
                      pos + at);
    else if (te.kind == MP_EK_MARC8)
        mp__rec_warn(x, te.kind, tag, 0, pos + at, "field %.3s: %s; %u replaced with U+FFFD", tag,
                     what, te.count);
    else
        mp__rec_warn(x, te.kind, tag, 0, pos + at, "field %.3s: %s; %s", tag, what,
                     x->fmt->text.utf8_handling == MP_UTF8_IGNORE ? "bad bytes dropped"
                                                                  : "replaced with U+FFFD");
    return 0;
}

/*
 * One pass over a record's data area, 64 bytes at a time: counts subfield
 * delimiters (to size the subfield array once), sets their bits in `map`
 * (when given: (n + 63) / 64 + 1 words, written here, need not be zeroed)
 * and tells whether any byte needs decoding (>= 0x80, or ESC when `esc`:
 * MARC-8), setting those bytes' bits in `hmap` (when given, with `esc`
 * only: as map). This pass and the field walk are the whole per-record
 * cost for plain records, so it must not be a byte loop.
 */
static inline __attribute__((always_inline)) size_t mp__scan_area_k(const unsigned char *p,
                                                                    size_t n, const int esc,
                                                                    int *special, uint64_t *map,
                                                                    uint64_t *hmap)
{
    size_t i = 0, nsd = 0;
    unsigned acc = 0;
#if defined(__SSE2__)
    const __m128i sd = _mm_set1_epi8((char)MP__SD);
    const __m128i escv = _mm_set1_epi8(0x1B);
    __m128i hi = _mm_setzero_si128();
    while (i + 64 <= n) {
        /* Per-byte delimiter counters (cmpeq gives -1 per match, four
         * compares per block), summed with SAD before they can overflow. */
        __m128i cnt = _mm_setzero_si128();
        size_t stop = i + 64 * 63 < n ? i + 64 * 63 : n;
        for (; i + 64 <= stop; i += 64) {
            __m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
            __m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 16));
            __m128i v2 = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 32));
            __m128i v3 = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 48));
            __m128i e0 = _mm_cmpeq_epi8(v0, sd), e1 = _mm_cmpeq_epi8(v1, sd);
            __m128i e2 = _mm_cmpeq_epi8(v2, sd), e3 = _mm_cmpeq_epi8(v3, sd);
            cnt = _mm_sub_epi8(cnt, _mm_add_epi8(_mm_add_epi8(e0, e1), _mm_add_epi8(e2, e3)));
            if (map) /* i is a multiple of 64: one word per block */
                map[i >> 6] = (uint64_t)(unsigned)_mm_movemask_epi8(e0) |
                              (uint64_t)(unsigned)_mm_movemask_epi8(e1) << 16 |
                              (uint64_t)(unsigned)_mm_movemask_epi8(e2) << 32 |
                              (uint64_t)(unsigned)_mm_movemask_epi8(e3) << 48;
            /* top bit set: a byte >= 0x80, or an ESC (cmpeq yields 0xFF) */
            if (esc) {
                v0 = _mm_or_si128(v0, _mm_cmpeq_epi8(v0, escv));
                v1 = _mm_or_si128(v1, _mm_cmpeq_epi8(v1, escv));
                v2 = _mm_or_si128(v2, _mm_cmpeq_epi8(v2, escv));
                v3 = _mm_or_si128(v3, _mm_cmpeq_epi8(v3, escv));
                if (hmap)
                    hmap[i >> 6] = (uint64_t)(unsigned)_mm_movemask_epi8(v0) |
                                   (uint64_t)(unsigned)_mm_movemask_epi8(v1) << 16 |
                                   (uint64_t)(unsigned)_mm_movemask_epi8(v2) << 32 |
                                   (uint64_t)(unsigned)_mm_movemask_epi8(v3) << 48;
            }
            hi = _mm_or_si128(hi, _mm_or_si128(_mm_or_si128(v0, v1), _mm_or_si128(v2, v3)));
        }
        __m128i sum = _mm_sad_epu8(cnt, _mm_setzero_si128());
        nsd += (size_t)_mm_cvtsi128_si32(sum) + (size_t)_mm_extract_epi16(sum, 4);
    }
    if (map) { /* the word the tail ORs into, and the spare one */
        map[i >> 6] = 0;
        map[(n + 63) >> 6] = 0;
    }
    if (hmap) {
        hmap[i >> 6] = 0;
        hmap[(n + 63) >> 6] = 0;
    }
    for (; i + 16 <= n; i += 16) { /* the tail: 16 bytes at a time, then bytes */
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i eq = _mm_cmpeq_epi8(v, sd);
        unsigned m = (unsigned)_mm_movemask_epi8(eq);
        unsigned c = m - ((m >> 1) & 0x5555u); /* bits set in the 16-bit mask */
        c = (c & 0x3333u) + ((c >> 2) & 0x3333u);
        c = (c + (c >> 4)) & 0x0F0Fu;
        nsd += (c + (c >> 8)) & 0x1Fu;
        if (map) /* i is a multiple of 16: the mask lands in one word */
            map[i >> 6] |= (uint64_t)m << (i & 63);
        if (esc)
            v = _mm_or_si128(v, _mm_cmpeq_epi8(v, escv));
        if (hmap)
            hmap[i >> 6] |= (uint64_t)(unsigned)_mm_movemask_epi8(v) << (i & 63);
        hi = _mm_or_si128(hi, v);
    }
    acc = (unsigned)_mm_movemask_epi8(hi);
#else
    for (size_t k = 0; k <= (n + 63) >> 6; k++) {
        if (map)
            map[k] = 0;
        if (hmap)
            hmap[k] = 0;
    }
#endif
    for (; i < n; i++) {
        unsigned h = (p[i] & 0x80u) | (esc && p[i] == 0x1B);
        acc |= h;
        nsd += p[i] == MP__SD;
        if (map && p[i] == MP__SD)
            map[i >> 6] |= (uint64_t)1 << (i & 63);
        if (hmap && h)
            hmap[i >> 6] |= (uint64_t)1 << (i & 63);
    }
    *special = acc != 0;
    return nsd;
}

#if defined(MP_U8_AVX2)
/*
 * mp__scan_area_k 64 bytes per step with AVX2, and, when `u8`, the UTF-8
 * validation of the same bytes in the same pass (*u8ok: the data area is
 * well-formed UTF-8, as mp__utf8_check would say). The last step reads a
 * zero-padded copy of the rest (zeros are no delimiter and need no
 * decoding, and end the UTF-8 text: utf8_avx2.h).
 */
MP__AVX2 static inline __attribute__((always_inline)) size_t
mp__scan_area_avx2_k(const unsigned char *p, size_t n, const int esc, const int u8, int *special,
                     uint64_t *map, uint64_t *hmap, int *u8ok)
{
    const __m256i sd = _mm256_set1_epi8((char)MP__SD), escv = _mm256_set1_epi8(0x1B);
    unsigned char tail[64];
    uint64_t acc = 0;
    size_t i = 0, nsd = 0;
    mp__u8v st;
    if (u8)
        mp__u8v_init(&st);
    for (;;) {
        __m256i v0, v1;
        int last = mp__avx2_load64(p, n, i, tail, &v0, &v1);
        uint64_t w = (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v0, sd)) |
                     (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v1, sd)) << 32;
        nsd += (size_t)__builtin_popcountll(w);
        if (map)
            map[i >> 6] = w;
        uint64_t h;
        if (esc) { /* >= 0x80, or ESC (cmpeq yields 0xFF) */
            __m256i h0 = _mm256_or_si256(v0, _mm256_cmpeq_epi8(v0, escv));
            __m256i h1 = _mm256_or_si256(v1, _mm256_cmpeq_epi8(v1, escv));
            h = (uint64_t)(uint32_t)_mm256_movemask_epi8(h0) |
                (uint64_t)(uint32_t)_mm256_movemask_epi8(h1) << 32;
            if (hmap)
                hmap[i >> 6] = h;
        } else {
            h = (uint32_t)_mm256_movemask_epi8(_mm256_or_si256(v0, v1));
        }
        acc |= h;
        if (u8)
            mp__u8v_step(&st, v0, v1, h == 0);
        if (last)
            break;
        i += 64;
    }
    if (map) /* the spare word (the last step wrote it when n % 64 == 0) */
        map[(n + 63) >> 6] = 0;
    if (hmap)
        hmap[(n + 63) >> 6] = 0;
    *special = acc != 0;
    if (u8)
        *u8ok = mp__u8v_ok(&st);
    return nsd;
}

/* Instances: MARC-8 (decode bitmap), UTF-8 (validated), neither. */
MP__AVX2 static size_t mp__scan_area_avx2(const unsigned char *p, size_t n, int mode, int *special,
                                          uint64_t *map, uint64_t *hmap, int *u8ok)
{
    if (mode == MP_ENCODING_MARC8)
        return mp__scan_area_avx2_k(p, n, 1, 0, special, map, hmap, u8ok);
    if (mode == MP_ENCODING_UTF8)
        return mp__scan_area_avx2_k(p, n, 0, 1, special, map, NULL, u8ok);
    return mp__scan_area_avx2_k(p, n, 0, 0, special, map, NULL, u8ok);
}
#endif

/* mp__scan_area_k, compiled once per `esc` (the decode bitmap with it) */
static size_t mp__scan_area(const unsigned char *p, size_t n, int esc, int *special, uint64_t *map,
                            uint64_t *hmap)
{
    return esc ? mp__scan_area_k(p, n, 1, special, map, hmap)
               : mp__scan_area_k(p, n, 0, special, map, NULL);
}

static size_t mp__count_sd(const unsigned char *p, size_t n)
{
    int ignored;
    return mp__scan_area(p, n, 0, &ignored, NULL, NULL);
}

/* mp__text_plain for in[0..n): from the decode bitmap when in lies in the
 * data area and the record has one, else from the bytes. */
static inline int mp__plain(const mp__parse_ctx *x, const unsigned char *in, size_t n)
{
    if (!x->hmap || n == 0 || in < x->area || in + n > x->area + x->area_len)
        return mp__text_plain(in, n, x->mode == MP_ENCODING_MARC8);
    size_t a = (size_t)(in - x->area), last = a + n - 1, w = a >> 6;
    uint64_t m = x->hmap[w] & (~(uint64_t)0 << (a & 63));
    for (; w < last >> 6; m = x->hmap[++w])
        if (m)
            return 0;
    return (m & (~(uint64_t)0 >> (63 - (last & 63)))) == 0;
}

/* Record position of the delimiter at t[q] of the current data field's
 * text t. When t was decoded (x->ftext is then its raw text): decoding
 * keeps delimiters one to one, so it is the raw text's delimiter with as
 * many delimiters before it. Slow path only (a warning is being recorded). */
static size_t mp__delim_pos(const mp__parse_ctx *x, const char *t, size_t q)
{
    const unsigned char *raw = x->rec->raw;
    if ((const unsigned char *)t >= raw && (const unsigned char *)t < raw + x->rec->raw_len)
        return (size_t)((const unsigned char *)t + q - raw); /* not decoded: t is raw */
    size_t d = 0;
    for (const char *p = t; p < t + q && (p = memchr(p, MP__SD, (size_t)(t + q - p))) != NULL; p++)
        d++;
    const unsigned char *p = x->ftext, *e = x->ftext + x->ftext_len;
    for (size_t k = 0; p < e; k++) {
        const unsigned char *h = memchr(p, MP__SD, (size_t)(e - p));
        if (!h)
            break;
        if (k == d)
            return (size_t)(h - x->rec->raw);
        p = h + 1;
    }
    return (size_t)(x->ftext - x->rec->raw);
}

/* mp__subfield's rare cases: an empty subfield, a delimiter ending the
 * field, a code that is not a printable ASCII character. Returns -1 when
 * there is no subfield to store, else the code | (bytes it takes << 8).
 * Out of line, and taking nothing of the caller's by address, so that the
 * common path stays inlined in the field walk with its state in registers. */
__attribute__((noinline)) static int mp__subfield_odd(mp__parse_ctx *x, const mp_field *f,
                                                      const char *t, size_t q, size_t nx,
                                                      int at_end, int raw)
{
    if (q + 1 >= nx) { /* a delimiter right before another one, or last */
        mp__rec_warn(x, MP_EK_SUBFIELD, f->tag, 0, mp__delim_pos(x, t, q),
                     at_end ? "field %s: delimiter without a code at the end of the field; dropped"
                            : "field %s: empty subfield (two delimiters in a row); dropped",
                     f->tag);
        return -1;
    }
    unsigned char code = (unsigned char)t[q + 1];
    size_t skip = 1;
    if (code >= 0x80 && raw) {
        int c = mp__subfield_code_normalize((const unsigned char *)t + q + 1, nx - q - 1, &skip);
        if (c < 0) {
            skip = 1;
            mp__rec_error(x, MP_EK_SUBFIELD, f->tag, 0,
                          "field %s: subfield code byte 0x%02X has no ASCII reading", f->tag, code);
        } else {
            mp__rec_warn(x, MP_EK_SUBFIELD, f->tag, (char)c, mp__delim_pos(x, t, q) + 1,
                         "field %s: subfield code byte 0x%02X is not ASCII; read as '%c'", f->tag,
                         code, c >= 0x20 && c < 0x7F ? c : '?');
            code = (unsigned char)c;
        }
    } else if (code <= 0x20 || code == 0x7F) {
        mp__rec_warn(x, MP_EK_SUBFIELD, f->tag, (char)code, mp__delim_pos(x, t, q) + 1,
                     "field %s: subfield code is byte 0x%02X (a control character or space)",
                     f->tag, code);
    }
    return (int)code | (int)(skip << 8);
}

/*
 * One subfield: the delimiter at t[q], the next delimiter (or the end of
 * the text) at t[nx]. `raw`: t is the record's own bytes (not decoded), so
 * a non-ASCII code byte is read here as pymarc reads it. Returns 0, or 1
 * when `cap` subfields are used up.
 */
static inline int mp__subfield(mp__parse_ctx *x, mp_field *f, const char *t, size_t q, size_t nx,
                               int at_end, int raw, mp_subfield *subs, size_t cap, uint32_t *ns)
{
    unsigned code;
    size_t skip = 1;
    if (__builtin_expect(q + 1 < nx && (unsigned char)(t[q + 1] - 0x21) < 0x5E, 1)) {
        code = (unsigned char)t[q + 1]; /* 0x21 .. 0x7E */
    } else {
        int r = mp__subfield_odd(x, f, t, q, nx, at_end, raw);
        if (r < 0)
            return 0;
        code = (unsigned)r & 0xFFu;
        skip = (size_t)r >> 8;
    }
    if (*ns == cap)
        return 1;
    subs[*ns].code = (char)code;
    subs[*ns].data = t + q + 1 + skip;
    subs[*ns].len = (uint32_t)(nx - q - 1 - skip);
    (*ns)++;
    return 0;
}

/*
 * 1 when no delimiter in t[0..n) is followed there by a byte >= 0x80 (or
 * ESC): from the record's delimiter and special-byte bitmaps, a few words
 * instead of a memchr per subfield. 0 when one may be, or when t is not in
 * the mapped data area (then mp__rewrite_codes looks).
 */
static int mp__codes_ascii(const mp__parse_ctx *x, const unsigned char *t, size_t n)
{
    if (!x->hmap || n < 2 || t < x->area || t + n > x->area + x->area_len)
        return n < 2;
    /* the bytes q in [a + 1, e] right after a delimiter at q - 1 */
    size_t a = (size_t)(t - x->area) + 1, e = a + n - 2;
    for (size_t w = a >> 6; w <= e >> 6; w++) {
        uint64_t after = x->sdmap[w] << 1 | (w ? x->sdmap[w - 1] >> 63 : 0);
        uint64_t m = after & x->hmap[w];
        if (w == a >> 6)
            m &= ~(uint64_t)0 << (a & 63);
        if (w == e >> 6)
            m &= ~(uint64_t)0 >> (63 - (e & 63));
        if (m)
            return 0;
    }
    return 1;
}

/*
 * Before decoding a data field's subfield text tx[0..n): every non-ASCII
 * code byte is read as pymarc reads it (mp__subfield_code_normalize) and
 * the code's bytes are replaced by that ASCII character, so the decoder
 * sees an ASCII code. Returns the text to decode (tx itself when nothing
 * changes, else a copy in the arena, *rw saying what moved), or NULL on
 * arena failure (x->oom). `pos`: record position of tx.
 */
__attribute__((noinline)) static const unsigned char *
mp__rewrite_codes(mp__parse_ctx *x, const char *tag, const unsigned char *tx, size_t n, size_t pos,
                  size_t *out_n, mp__rewrites *rw)
{
    size_t found = 0;
    rw->n = 0;
    *out_n = n;
    for (const unsigned char *p = tx; (p = memchr(p, MP__SD, (size_t)(tx + n - p))) != NULL; p++)
        if (p + 1 < tx + n && p[1] >= 0x80)
            found++;
    if (!found)
        return tx;
    unsigned char *cp = mp__arena_alloc(x->a, n, 1);
    size_t *at = mp__arena_alloc(x->a, 2 * found * sizeof *at, _Alignof(size_t));
    if (!cp || !at) {
        x->oom = 1;
        return NULL;
    }
    size_t *gone = at + found, i = 0, j = 0, removed = 0;
    while (i < n) {
        unsigned char b = tx[i];
        cp[j++] = b;
        i++;
        if (b != MP__SD || i >= n || tx[i] < 0x80)
            continue;
        size_t e = i;
        while (e < n && tx[e] != MP__SD)
            e++;
        size_t skip;
        int c = mp__subfield_code_normalize(tx + i, e - i, &skip);
        if (c < 0) {
            mp__rec_error(x, MP_EK_SUBFIELD, tag, 0,
                          "field %s: subfield code byte 0x%02X has no ASCII reading", tag, tx[i]);
            continue; /* left as is: decoded as text */
        }
        mp__rec_warn(x, MP_EK_SUBFIELD, tag, (char)c, pos + i,
                     "field %s: subfield code byte 0x%02X is not ASCII; read as '%c'", tag, tx[i],
                     c >= 0x20 && c < 0x7F ? c : '?');
        cp[j++] = (unsigned char)c;
        i += skip;
        removed += skip - 1;
        at[rw->n] = j;
        gone[rw->n] = removed;
        rw->n++;
    }
    rw->at = at;
    rw->gone = gone;
    *out_n = j;
    return cp;
}

/* The indicator checks of a data field whose first subfield is not
 * preceded by exactly two printable indicators (b[0..k) before it; `pos`:
 * record position of b). Out of line: the common case is one compare. */
__attribute__((noinline)) static void mp__indicators_odd(mp__parse_ctx *x, const mp_field *f,
                                                         const unsigned char *b, size_t k,
                                                         size_t pos)
{
    if (k != 2) {
        for (size_t i = 0; i < k; i++) {
            if (b[i] >= 0x80) { /* pymarc reads indicators as ASCII and fails */
                mp__rec_error(x, MP_EK_INDICATOR, f->tag, 0,
                              "field %s: byte 0x%02X before the first subfield is not ASCII",
                              f->tag, b[i]);
                break;
            }
        }
        if (k < 2)
            mp__rec_warn(x, MP_EK_INDICATOR, f->tag, 0, pos,
                         "field %s: %zu indicator(s) before the first subfield; read as blank",
                         f->tag, k);
        else
            mp__rec_warn(x, MP_EK_INDICATOR, f->tag, 0, pos + 2,
                         "field %s: %zu bytes before the first subfield; indicators are the first "
                         "two",
                         f->tag, k);
    }
    for (size_t i = 0; i < 2 && i < k; i++) {
        if (b[i] >= 0x80) {
            if (k == 2)
                mp__rec_error(x, MP_EK_INDICATOR, f->tag, 0,
                              "field %s: indicator %zu is byte 0x%02X (not ASCII)", f->tag, i + 1,
                              b[i]);
        } else if (b[i] < 0x20 || b[i] == 0x7F) {
            mp__rec_warn(x, MP_EK_INDICATOR, f->tag, 0, pos + i,
                         "field %s: indicator %zu is byte 0x%02X (a control character)", f->tag,
                         i + 1, b[i]);
        }
    }
}

/* Returns 0, MP_ENOMEM, or 1 when the field holds more than `cap`
 * subfields (only with overlapping field bodies: the caller then sizes an
 * array for this field alone and calls again). */
static inline __attribute__((always_inline)) int mp__data_field(mp__parse_ctx *x, mp_field *f,
                                                                const unsigned char *b, size_t n,
                                                                mp_subfield *subs, size_t cap,
                                                                int special)
{
    /* indicator region: two bytes before the first delimiter, nearly always */
    const unsigned char *sd = n > 2 && b[2] == MP__SD ? b + 2 : memchr(b, MP__SD, n);
    size_t k = sd ? (size_t)(sd - b) : n;
    f->ind1 = k > 0 ? (char)b[0] : ' ';
    f->ind2 = k > 1 ? (char)b[1] : ' ';
    if (__builtin_expect(k != 2 || b[0] < 0x20 || b[0] >= 0x7F || b[1] < 0x20 || b[1] >= 0x7F, 0))
        mp__indicators_odd(x, f, b, k, (size_t)(b - x->rec->raw));
    /* Subfield text: converted in one call (a delimiter resets MARC-8 state,
     * so this equals converting subfield by subfield). */
    const char *t = (const char *)b + k;
    size_t tn = n - k;
    int raw = 1;
    if (special && tn > 0 && !mp__plain(x, b + k, tn)) {
        x->ftext = b + k; /* for warnings about the decoded text (mp__delim_pos) */
        x->ftext_len = tn;
        const char *o;
        size_t on, rn;
        mp__rewrites rw;
        size_t pos = (size_t)(b - x->rec->raw);
        const unsigned char *src = b + k;
        rn = tn;
        rw.n = 0;
        if (!mp__codes_ascii(x, b + k, tn))
            src = mp__rewrite_codes(x, f->tag, b + k, tn, pos + k, &rn, &rw);
        if (!src)
            return MP_ENOMEM;
        mp__text_opts to = x->fmt->text;
        to.subfield_codes = 1;
        if (mp__text(x, &to, src, rn, &o, &on, f->tag, pos + k, rw.n ? &rw : NULL) < 0)
            return MP_ENOMEM;
        if (o != t) {
            /* Converted: rebuild a contiguous body (indicators + text). */
            char *nb = mp__arena_alloc(x->a, k + on + 1, 1);
            if (!nb)
                return MP_ENOMEM;
            memcpy(nb, b, k);
            memcpy(nb + k, o, on);
            f->data = nb;
            f->len = (uint32_t)(k + on);
            t = nb + k;
            tn = on;
            raw = 0;
        }
    }
    /* Walk the delimiters (t[0] is one, when tn > 0): each delimiter d
     * with its successor d' (or the end) delimits the subfield [d+2, d'). */
    uint32_t ns = 0;
    size_t cur = 0, i = 0;
    int rc = 0;
    const unsigned char *ut = (const unsigned char *)t;
    if (x->sdmap && tn > 1 && ut >= x->area && ut + tn <= x->area + x->area_len) {
        /* Unconverted text: walk the delimiter bits of [t+1, t+tn). */
        size_t a = (size_t)(ut - x->area) + 1, e = a - 1 + tn;
        size_t w = a >> 6;
        uint64_t m = x->sdmap[w] & (~(uint64_t)0 << (a & 63));
        for (;;) {
            while (m && rc == 0) {
                size_t d = (w << 6) + (size_t)__builtin_ctzll(m);
                if (d >= e)
                    goto walked;
                m &= m - 1;
                d -= a - 1; /* relative to t */
                rc = mp__subfield(x, f, t, cur, d, 0, raw, subs, cap, &ns);
                cur = d;
            }
            if (rc != 0 || (++w << 6) >= e)
                break;
            m = x->sdmap[w];
        }
    walked:
        i = tn; /* nothing left for the byte loops below */
    }
#if defined(__SSE2__)
    const __m128i sdv = _mm_set1_epi8((char)MP__SD);
    for (; i + 16 <= tn && rc == 0; i += 16) {
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(t + i)), sdv));
        if (i == 0)
            m &= ~1u; /* t[0]: the first delimiter, already `cur` */
        while (m && rc == 0) {
            size_t d = i + (size_t)__builtin_ctz(m);
            m &= m - 1;
            rc = mp__subfield(x, f, t, cur, d, 0, raw, subs, cap, &ns);
            cur = d;
        }
    }
#endif
    for (; i < tn && rc == 0; i++) {
        if (i == 0 || t[i] != MP__SD)
            continue;
        rc = mp__subfield(x, f, t, cur, i, 0, raw, subs, cap, &ns);
        cur = i;
    }
    if (rc == 0 && tn > 0)
        rc = mp__subfield(x, f, t, cur, tn, 1, raw, subs, cap, &ns);
    if (rc == 1)
        return 1;
    f->subfields = subs;
    f->nsubfields = ns;
    return 0;
}

static inline int mp__printable(unsigned char c)
{
    return c >= 0x20 && c < 0x7F;
}

/* Directory entry i's tag e[0..3) holds a byte that is not printable. */
__attribute__((noinline)) static void mp__bad_tag(mp__parse_ctx *x, mp_field *f,
                                                  const unsigned char *e, size_t i)
{
    for (int j = 0; j < 3; j++) {
        if (!mp__printable(e[j])) {
            f->tag[j] = '?';
            mp__rec_error(x, MP_EK_DIRECTORY, NULL, 0,
                          "directory entry %zu: tag byte %d is 0x%02X (not printable ASCII)", i + 1,
                          j + 1, e[j]);
        }
    }
}

/*
 * Every field starts just after a terminator (the directory's or the
 * previous field's). The field at fs does not: the offsets are off,
 * typically because a producer counted characters, not bytes, in an
 * earlier field. Returns the nearest field boundary, before or after, and
 * records the warning.
 */
__attribute__((noinline)) static size_t mp__snap_start(mp__parse_ctx *x, const mp_field *f,
                                                       size_t base, size_t end, size_t fs)
{
    const unsigned char *r = x->rec->raw;
    const unsigned char *bk = memrchr(r + base - 1, MP__FT, fs - base);
    const unsigned char *fw = memchr(r + fs, MP__FT, end - fs);
    size_t back = bk ? (size_t)(bk - r) + 1 : base;
    size_t fwd = fw && (size_t)(fw - r) + 1 < end ? (size_t)(fw - r) + 1 : 0;
    size_t nfs = fwd && fwd - fs <= fs - back ? fwd : back;
    mp__rec_warn(x, MP_EK_FIELD, f->tag, 0, fs,
                 "field %s: starts at byte %zu, not after a field terminator; read from byte %zu",
                 f->tag, fs, nfs);
    return nfs;
}

static int mp__index(mp__parse_ctx *x)
{
    mp_record *rec = x->rec;
    const unsigned char *r = rec->raw;
    size_t n = rec->raw_len;
    size_t end = (n > 0 && r[n - 1] == MP__RT) ? n - 1 : n; /* data end */

    if (n < MP__LEADER_LEN) {
        mp__rec_error(x, MP_EK_LEADER, NULL, 0, "record shorter than a leader (%zu bytes)", n);
        return 0;
    }
    if (r[10] != '2' || r[11] != '2') {
        /* Digits declare another structure (e.g. 3 indicators): reading it
         * as MARC 21 would misplace every subfield. Anything else carries
         * no information: MARC 21's 2 and 2 are what the data uses. */
        if (mp__all_digits(r + 10, 2))
            mp__rec_error(x, MP_EK_LEADER, NULL, 0,
                          "leader/10-11 (indicator count, subfield code length) are '%c%c', not "
                          "'22'",
                          r[10], r[11]);
        else
            mp__rec_warn(x, MP_EK_LEADER, NULL, 0, 10,
                         "leader/10-11 (indicator count, subfield code length) are '%c%c', not "
                         "digits; read as '22'",
                         r[10] >= 0x20 && r[10] < 0x7F ? r[10] : '?',
                         r[11] >= 0x20 && r[11] < 0x7F ? r[11] : '?');
    }
    size_t base = mp__all_digits(r + 12, 5) ? mp__num(r + 12, 5) : 0;
    size_t dend; /* directory terminator position */
    if (base >= MP__LEADER_LEN + 1 && base <= end && r[base - 1] == MP__FT) {
        dend = base - 1;
    } else {
        const unsigned char *t = memchr(r + MP__LEADER_LEN, MP__FT, end - MP__LEADER_LEN);
        if (!t) {
            mp__rec_error(x, MP_EK_DIRECTORY, NULL, 0, "no directory terminator");
            return 0;
        }
        dend = (size_t)(t - r);
        mp__rec_error(x, MP_EK_BASE_ADDRESS, NULL, 0,
                      "base address %.5s, but the directory ends at byte %zu", r + 12, dend);
        base = dend + 1;
    }
    if ((dend - MP__LEADER_LEN) % 12 != 0)
        mp__rec_error(x, MP_EK_DIRECTORY, NULL, 0, "directory length %zu is not a multiple of 12",
                      dend - MP__LEADER_LEN);
    size_t nent = (dend - MP__LEADER_LEN) / 12;
    if (x->mode == MP_ENCODING_AUTO)
        x->mode = r[9] == 'a' ? MP_ENCODING_UTF8 : MP_ENCODING_MARC8;
    int special;
    size_t area = end - base, words = (area + 63) / 64;
    int m8 = x->mode == MP_ENCODING_MARC8;
    uint64_t *sdmap =
        mp__arena_alloc(x->a, (m8 ? 2 : 1) * (words + 1) * sizeof(uint64_t), _Alignof(uint64_t));
    if (!sdmap)
        return MP_ENOMEM;
    uint64_t *hmap = m8 ? sdmap + words + 1 : NULL;
    int u8ok = -1; /* the data area is valid UTF-8 (1), is not (0), not known (-1) */
    size_t nsd;
#if defined(MP_U8_AVX2)
    if (mp__utf8_simd && mp__avx2_ok())
        nsd = mp__scan_area_avx2(r + base, area, x->mode, &special, sdmap, hmap, &u8ok);
    else
#endif
        nsd = mp__scan_area(r + base, area, m8, &special, sdmap, hmap);
    x->area = r + base;
    x->area_len = area;
    x->sdmap = sdmap;
    x->hmap = hmap;
    int u8clean = 0; /* the whole data area is valid UTF-8 */
    if (x->mode == MP_ENCODING_RAW) {
        special = 0;
    } else if (special && x->mode == MP_ENCODING_UTF8) {
        /* Validate the data area once instead of field by field. Field
         * bodies end before an ASCII terminator, so each is valid too,
         * unless a damaged directory starts one on a continuation byte
         * (checked per control field below; data field text starts at a
         * delimiter). */
        const char *o;
        size_t on;
        mp__text_opts strict = x->fmt->text;
        strict.utf8_handling = MP_UTF8_STRICT;
        if (u8ok == 1 ||
            (u8ok < 0 && mp__utf8_check(&strict, r + base, end - base, x->a, &o, &on, NULL) == 0)) {
            special = 0;
            u8clean = 1;
        }
    }

    mp_field *fields = NULL;
    mp_subfield *subs = NULL;
    if (nent) {
        fields = mp__arena_alloc(x->a, nent * sizeof *fields, _Alignof(mp_field));
        if (!fields)
            return MP_ENOMEM;
    }
    if (nsd) {
        subs = mp__arena_alloc(x->a, nsd * sizeof *subs, _Alignof(mp_subfield));
        if (!subs)
            return MP_ENOMEM;
    }
    size_t nf = 0, used_subs = 0;
    /* Work bound. A sound directory indexes each byte of the data area
     * once; overlapping entries (ISO 2709 does not forbid them) would cost
     * entries x field length in time and memory - 7,497 entries on one
     * 9,999-byte field is 75 MB of subfield index from a 100 KB record.
     * So the field bodies indexed may add up to twice the data area plus
     * MP__FIELD_SLACK; the entries past that are dropped with an error. */
    size_t budget = 2 * area + MP__FIELD_SLACK, spent = 0;
    for (size_t i = 0; i < nent; i++) {
        const unsigned char *e = r + MP__LEADER_LEN + 12 * i;
        mp_field *f = &fields[nf];
        /* The tag in one store, and tested below from registers, not read
         * back from f: a load spanning smaller stores still in the store
         * buffer waits until they reach the cache, and when another core
         * holds the line (the thread that read this arena's records last
         * time) that is a cross-core round trip per field (the hottest
         * instruction of the parse on a VM whose cores are 250 ns apart:
         * perf/PERFORMANCE.md, "A machine whose cores are far apart"). A
         * bad tag byte becomes '?', never '0': tag00 holds for it too. */
        const char tg[4] = {(char)e[0], (char)e[1], (char)e[2], 0};
        memcpy(f->tag, tg, 4);
        const int tag00 = tg[0] == '0' && tg[1] == '0';
        if (__builtin_expect(!mp__printable(e[0]) || !mp__printable(e[1]) || !mp__printable(e[2]),
                             0))
            mp__bad_tag(x, f, e, i);
        size_t flen, fs;
        if (!mp__entry_nums(e + 3, &flen, &fs)) {
            mp__rec_error(x, MP_EK_DIRECTORY, f->tag, 0,
                          "directory entry %zu (%s): length/start not numeric", i + 1, f->tag);
            continue;
        }
        fs += base;
        if (fs >= end) {
            mp__rec_error(x, MP_EK_DIRECTORY, f->tag, 0,
                          "field %s starts at byte %zu, beyond the record end %zu", f->tag, fs,
                          end);
            continue;
        }
        /* r[base - 1] is the directory terminator: fs - 1 is always valid. */
        if (__builtin_expect(r[fs - 1] != MP__FT, 0) && fs > base && flen > 0 && fs + flen <= end)
            fs = mp__snap_start(x, f, base, end, fs);
        size_t be; /* body end (exclusive, without the terminator) */
        if (flen == 0 || fs + flen > end || r[fs + flen - 1] != MP__FT) {
            const unsigned char *t = memchr(r + fs, MP__FT, end - fs);
            be = t ? (size_t)(t - r) : end;
            if (flen == 0 || fs + flen > end)
                mp__rec_error(x, MP_EK_DIRECTORY, f->tag, 0,
                              "field %s: length %zu at byte %zu overruns the record (%zu bytes)",
                              f->tag, flen, fs, n);
            else
                mp__rec_warn(
                    x, MP_EK_FIELD, f->tag, 0, fs + flen - 1,
                    "field %s: no field terminator at byte %zu; the field ends at byte %zu", f->tag,
                    fs + flen - 1, be);
        } else {
            be = fs + flen - 1;
        }
        const unsigned char *b = r + fs;
        size_t bl = be - fs;
        if (bl > budget - spent) {
            mp__rec_error(x, MP_EK_DIRECTORY, f->tag, 0,
                          "directory entries overlap: entries %zu..%zu (from field %s) would "
                          "index more than %zu bytes of a %zu-byte data area; dropped",
                          i, nent - 1, f->tag, budget, area);
            break;
        }
        spent += bl;
        f->data = (const char *)b;
        f->len = (uint32_t)bl;
        f->subfields = NULL;
        f->nsubfields = 0;
        /* 00X fields are control fields, unless subfields follow two
         * indicators (Danmarc; YAZ reads them as data fields too). */
        int danmarc = tag00 && ((bl > 2 && b[2] == MP__SD) || (bl > 3 && b[3] == MP__SD));
        if (danmarc && b[2] != MP__SD) { /* one stray byte before the indicators */
            b++;
            bl--;
            f->data = (const char *)b;
            f->len = (uint32_t)bl;
        }
        if (tag00 && !danmarc) {
            f->is_control = 1;
            f->ind1 = f->ind2 = ' ';
            if ((__builtin_expect(special, 0) && !mp__plain(x, b, bl)) ||
                (u8clean && bl > 0 && (b[0] & 0xC0) == 0x80)) {
                const char *o;
                size_t on;
                if (mp__text(x, &x->fmt->text, b, bl, &o, &on, f->tag, (size_t)(b - r), NULL) < 0)
                    return MP_ENOMEM;
                f->data = o;
                f->len = (uint32_t)on;
            }
        } else {
            f->is_control = 0;
            /* Subfields of this field: bounded by its delimiters, which lie
             * in the data area counted above; overlapping bodies (a damaged
             * directory) could exceed that count, so check. */
            uint32_t nwarns = rec->nwarns;
            int rc = mp__data_field(x, f, b, bl, subs ? subs + used_subs : NULL, nsd - used_subs,
                                    special);
            if (rc == 1) {
                size_t cnt = mp__count_sd(b, bl);
                mp_subfield *own = mp__arena_alloc(x->a, cnt * sizeof *subs, _Alignof(mp_subfield));
                if (!own)
                    return MP_ENOMEM;
                rec->nwarns = nwarns; /* the field is indexed again: no warning twice */
                rc = mp__data_field(x, f, b, bl, own, cnt, special);
            } else if (rc == 0) {
                used_subs += f->nsubfields;
            }
            if (rc < 0)
                return MP_ENOMEM;
        }
        if (__builtin_expect(special, 0)) { /* only decoding changes a field's data */
            if (!rec->fraw && f->data != (const char *)b) {
                /* Decoding changed this field: keep every field's raw body
                 * from now on. The earlier ones were not changed: data is raw. */
                rec->fraw = mp__arena_alloc(x->a, 2 * nent * sizeof *rec->fraw, _Alignof(uint32_t));
                if (!rec->fraw)
                    return MP_ENOMEM;
                for (size_t k = 0; k < nf; k++) {
                    rec->fraw[2 * k] = (uint32_t)((const unsigned char *)fields[k].data - r);
                    rec->fraw[2 * k + 1] = fields[k].len;
                }
            }
            if (rec->fraw) {
                rec->fraw[2 * nf] = (uint32_t)(b - r);
                rec->fraw[2 * nf + 1] = (uint32_t)bl;
            }
        }
        nf++;
    }
    if (nent == 0) /* pymarc: NoFieldsFound */
        mp__rec_error(x, MP_EK_NO_FIELDS, NULL, 0, "record has no fields (empty directory)");
    rec->fields = fields;
    rec->nfields = (uint32_t)nf;
    for (size_t i = 0; i < nf; i++) {
        if (fields[i].is_control && memcmp(fields[i].tag, "001", 3) == 0) {
            rec->cn = fields[i].data;
            rec->cn_len = fields[i].len;
            break;
        }
    }
    return 0;
}

int mp__marc_parse_item(const void *fmtv, mp__item *item, mp__arena *arena)
{
    const mp__marc_fmt *fmt = fmtv;
    mp__parse_ctx x = {fmt, NULL, arena, fmt->encoding, 0, NULL, 0, NULL, NULL, NULL, 0};
    mp_record *rec = mp__arena_alloc(arena, sizeof *rec, _Alignof(mp_record));
    if (!rec)
        return MP_ENOMEM;
    memset(rec, 0, sizeof *rec);
    rec->raw = item->data; /* its leader too: rec->leader stays NULL */
    rec->raw_len = item->len;
    rec->offset = item->offset;
    rec->unit_len = item->len;
    rec->ordinal = item->ordinal;
    rec->text_raw = fmt->encoding == MP_ENCODING_RAW;
    x.rec = rec;
    item->result = NULL;
    if (item->frame_kind == MP_EK_LENGTH || item->frame_kind == MP_EK_TERMINATOR)
        mp__rec_error(&x, item->frame_kind, NULL, 0,
                      "leader length '%.5s' disagrees with the record terminator (length %u)",
                      item->data, item->len);
    else if (item->frame_kind != 0)
        mp__rec_error(&x, item->frame_kind, NULL, 0, "framing problem");
    if (mp__index(&x) < 0 || x.oom)
        return MP_ENOMEM;
    return mp__record_done(fmt, rec, item, arena);
}
