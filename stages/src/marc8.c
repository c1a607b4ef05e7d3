/*
 * marc8.c - MARC-8 -> UTF-8 conversion (see text.h).
 *
 * Pure and reentrant: no globals but the constant tables generated from
 * the Library of Congress code tables (marc8_tables.c), no locks, no
 * malloc on the common path (small fields are decoded on the stack and
 * copied into the arena at their exact size).
 *
 * MARC-8 reference: MARC 21 Specifications, "Character Sets and Encoding
 * Options", part 2 (MARC-8 environment): ISO 2022 style designation of
 * graphic sets into G0 (0x21-0x7E) and G1 (0xA1-0xFE), locking escapes
 * ESC g / ESC b / ESC p / ESC s for the Greek symbol, subscript and
 * superscript sets (technique 1) and ESC I F with intermediates ( , ) -
 * and $ for the registered sets (technique 2). Combining marks precede
 * their base character in MARC-8 and follow it in Unicode.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>
#include <marcpipe/common.h>
#include <marcpipe/reader.h>
#include "marc8_tables.h"
#include "text.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define M8_ESC  0x1B
#define M8_FFFD 0xFFFDu
/* More pending combining marks than this are emitted without a base. */
#define M8_MAX_COMB  16
#define M8_STACK_OUT 4096
#define M8_STACK_U32 1024

typedef struct m8_state {
    unsigned char *o;        /* output cursor */
    unsigned char *end;      /* one past the output buffer */
    unsigned char *last;     /* start of the last code point written (its starter) */
    uint32_t last_cp;        /* the code point at last */
    unsigned char *nfc_from; /* where NFC must start; NULL: output is NFC */
    int nfc;                 /* NFC wanted: the shortcuts below may compose */
    int problem;             /* a problem was recorded */
    int dd_halves;           /* MP_MARC8_DOUBLE_HALVES */
    int codes;               /* the byte after 0x1F is a subfield code */
    mp__text_error *err;     /* may be NULL */
} m8_state;

/*
 * NFC shortcuts. utf8proc normalising the rest of a field from the first
 * code point >= U+0300 on was ~40% of the reader's time on MARC-8 records
 * with diacritics (perf/PERFORMANCE.md). Two shapes cover most of them and
 * are answered from utf8proc's own results, memoised:
 *  - an ASCII base with one combining mark: NFC(base, mark) is one
 *    precomposed character, or the pair itself (m8_pair);
 *  - a character of the BMP that NFC leaves alone and that nothing
 *    before it composes with (m8_inert): a starter (combining class 0)
 *    that is its own NFC and is not the second character of any
 *    canonical composition (m8_second_starters). Greek, Cyrillic, Hebrew,
 *    Arabic letters, CJK ideographs, kana and Hangul syllables all are;
 *    a mark after one starts NFC at it anyway. Utf8proc over the rest of
 *    every field with an ideograph was ~60% of decoding EACC text.
 * Anything else still goes through utf8proc from its starter on. The
 * caches hold a pure function of their key, so relaxed atomics suffice:
 * an entry is one 64-bit word (key and value), a racing writer stores the
 * same word. fuzz_marc8 checks every input against MP_NFC_SHORTCUTS off.
 */
int mp__marc8_nfc_shortcuts = 1; /* tests: 0 compares with utf8proc alone */

#define M8_PAIRS 512
static _Atomic uint64_t m8_pairs[M8_PAIRS]; /* key << 32 | value + 1; 0 empty */
#define M8_INERT_LO 0x300u                  /* m8_put asks only from here on */
#define M8_INERT_HI 0x10000u
static _Atomic unsigned char m8_inert_tab[M8_INERT_HI - M8_INERT_LO]; /* 0 ?, 1 yes, 2 no */

/*
 * The starters that are the second character of a canonical composition
 * (NFC may merge each with the character before it): Bengali, Oriya,
 * Tamil, Kannada, Malayalam and Sinhala vowel signs and length marks,
 * Myanmar U+102E, Balinese U+1B35, Hangul's medial vowels and final
 * consonants (algorithmic), and the Brahmi-derived scripts beyond the
 * BMP. From the Unicode Character Database (no composition of characters
 * already encoded is ever added); marc8_test rebuilds the set from
 * utf8proc's own compositions and compares. None is a MARC-8 character.
 */
static const uint32_t m8_second_starters[][2] = {
    {0x09BE, 0x09BE},   {0x09D7, 0x09D7},   {0x0B3E, 0x0B3E},   {0x0B56, 0x0B57},
    {0x0BBE, 0x0BBE},   {0x0BD7, 0x0BD7},   {0x0CC2, 0x0CC2},   {0x0CD5, 0x0CD6},
    {0x0D3E, 0x0D3E},   {0x0D57, 0x0D57},   {0x0DCF, 0x0DCF},   {0x0DDF, 0x0DDF},
    {0x102E, 0x102E},   {0x1161, 0x1175},   {0x11A8, 0x11C2},   {0x1B35, 0x1B35},
    {0x11127, 0x11127}, {0x1133E, 0x1133E}, {0x11357, 0x11357}, {0x114B0, 0x114B0},
    {0x114BA, 0x114BA}, {0x114BD, 0x114BD}, {0x115AF, 0x115AF}, {0x11930, 0x11930},
};

int mp__marc8_second_starter(uint32_t cp)
{
    for (size_t i = 0; i < sizeof m8_second_starters / sizeof *m8_second_starters; i++)
        if (cp >= m8_second_starters[i][0] && cp <= m8_second_starters[i][1])
            return 1;
    return 0;
}

/* utf8proc's NFC of cps[0..n) into out (room for 4); its length, or -1. */
static int m8_nfc_small(const uint32_t *cps, int n, uint32_t *out)
{
    utf8proc_int32_t u[8];
    utf8proc_ssize_t k = 0;
    for (int i = 0; i < n; i++) {
        utf8proc_int32_t *d = u + k;
        int bound = 0;
        utf8proc_ssize_t r = utf8proc_decompose_char((utf8proc_int32_t)cps[i], d, 8 - k,
                                                     UTF8PROC_STABLE | UTF8PROC_DECOMPOSE, &bound);
        if (r < 0 || k + r > 8)
            return -1;
        k += r;
    }
    utf8proc_ssize_t r = utf8proc_normalize_utf32(u, k, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (r < 0 || r > 4)
        return -1;
    for (utf8proc_ssize_t i = 0; i < r; i++)
        out[i] = (uint32_t)u[i];
    return (int)r;
}

/* NFC(base, mark) for an ASCII base: the precomposed code point, 0 when
 * the pair is already NFC, UINT32_MAX when neither (no shortcut). */
static uint32_t m8_pair(uint32_t base, uint32_t mark)
{
    uint32_t key = base << 24 | mark; /* base < 0x80, mark < 2^21 */
    size_t h = (size_t)((key * 0x9E3779B1u) >> 23) % M8_PAIRS;
    /* relaxed: a memo of a pure function; the word carries its own key */
    uint64_t e = atomic_load_explicit(&m8_pairs[h], memory_order_relaxed);
    if (e && (uint32_t)(e >> 32) == key)
        return (uint32_t)e - 1;
    uint32_t in[2] = {base, mark}, out[4], v = UINT32_MAX;
    int n = m8_nfc_small(in, 2, out);
    if (n == 1)
        v = out[0];
    else if (n == 2 && out[0] == base && out[1] == mark)
        v = 0;
    /* relaxed: see the load */
    atomic_store_explicit(&m8_pairs[h], (uint64_t)key << 32 | (uint32_t)(v + 1),
                          memory_order_relaxed);
    return v;
}

/* m8_inert's verdict for cp (U+0300-U+FFFF), computed and memoised. */
__attribute__((noinline)) static int m8_inert_slow(uint32_t cp)
{
    uint32_t out[4];
    unsigned char v = utf8proc_get_property((utf8proc_int32_t)cp)->combining_class == 0 &&
                              m8_nfc_small(&cp, 1, out) == 1 && out[0] == cp &&
                              !mp__marc8_second_starter(cp)
                          ? 1
                          : 2;
    /* relaxed: a memo of a pure function of cp; racing writers store the same value */
    atomic_store_explicit(&m8_inert_tab[cp - M8_INERT_LO], v, memory_order_relaxed);
    return v == 1;
}

/* 1 when cp (>= U+0300) is a BMP starter that NFC leaves alone and that
 * composes with nothing before it (see above). */
static inline int m8_inert(uint32_t cp)
{
    if (cp < M8_INERT_LO || cp >= M8_INERT_HI)
        return 0;
    /* relaxed: a memo of a pure function of cp (m8_inert_slow stores it) */
    unsigned char v = atomic_load_explicit(&m8_inert_tab[cp - M8_INERT_LO], memory_order_relaxed);
    return v ? v == 1 : m8_inert_slow(cp);
}

static inline unsigned char *m8_encode(unsigned char *o, uint32_t cp)
{
    if (cp < 0x80) {
        *o++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *o++ = (unsigned char)(0xC0 | (cp >> 6));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (unsigned char)(0xE0 | (cp >> 12));
        *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (unsigned char)(0xF0 | (cp >> 18));
        *o++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    return o;
}

static inline void m8_put(m8_state *s, uint32_t cp)
{
    unsigned char *o = s->o;
    /* Below U+0300 every character is an NFC starter that no earlier one
       composes with, so NFC only needs the text from the starter before
       the first code point >= U+0300 on (m8_inert: one more such range). */
    if (cp >= 0x300 && !s->nfc_from && !(s->nfc && mp__marc8_nfc_shortcuts && m8_inert(cp)))
        s->nfc_from = s->last ? s->last : o;
    s->last = o;
    s->last_cp = cp;
    s->o = m8_encode(o, cp);
}

/* Records the first problem and writes one U+FFFD in its place. */
static void m8_problem(m8_state *s, size_t pos, const char *what, unsigned byte)
{
    if (s->err)
        s->err->count++;
    if (!s->problem) {
        s->problem = 1;
        if (s->err) {
            s->err->kind = MP_EK_MARC8;
            s->err->position = pos;
            snprintf(s->err->message, sizeof s->err->message, "MARC-8: %s (byte 0x%02X)", what,
                     byte);
        }
    }
    m8_put(s, M8_FFFD);
}

/* The set designated by an escape's final character, or -1. */
static int m8_final_to_set(unsigned f)
{
    switch (f) {
    case 'B': /* Basic Latin, technique 2 */
    case 's': /* Basic Latin, technique 1 */
        return MP__M8_ASCII;
    case 'E': /* ANSEL: ESC ) ! E (the '!' is an intermediate) */
        return MP__M8_ANSEL;
    case 'g':
        return MP__M8_GREEK_SYMBOLS;
    case 'b':
        return MP__M8_SUBSCRIPTS;
    case 'p':
        return MP__M8_SUPERSCRIPTS;
    case '2':
        return MP__M8_HEBREW;
    case 'N':
        return MP__M8_CYRILLIC;
    case 'Q':
        return MP__M8_CYRILLIC_EXT;
    case '3':
        return MP__M8_ARABIC;
    case '4':
        return MP__M8_ARABIC_EXT;
    case 'S':
        return MP__M8_GREEK;
    case '1':
        return MP__M8_EACC;
    default:
        return -1;
    }
}

/*
 * EACC lookups are a binary search of 15,739 codes (14 steps): ~20% of
 * decoding CJK text. A direct-mapped memo in front of it answers the
 * characters a catalogue repeats; each entry is one word, code << 32 |
 * (value + 1) (0: empty), a pure function of its key, so relaxed atomics
 * suffice (a racing writer stores a word of the same kind).
 */
#define M8_EACC_MEMO 4096
static _Atomic uint64_t m8_eacc_memo[M8_EACC_MEMO];

static uint32_t m8_eacc_search(uint32_t code)
{
    size_t lo = 0, hi = MP__M8_EACC_N;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t k = mp__marc8_eacc_code[mid];
        if (k == code)
            return mp__marc8_eacc_ucs[mid];
        if (k < code)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* The code point of an EACC code (three 7-bit bytes), 0 when unmapped. */
static inline uint32_t m8_eacc_lookup(uint32_t code)
{
    size_t h = (size_t)((code * 0x9E3779B1u) >> 20) % M8_EACC_MEMO;
    /* relaxed: a memo of a pure function; the word carries its own key */
    uint64_t e = atomic_load_explicit(&m8_eacc_memo[h], memory_order_relaxed);
    if (e && (uint32_t)(e >> 32) == code)
        return (uint32_t)e - 1;
    uint32_t v = m8_eacc_search(code);
    /* relaxed: see the load */
    atomic_store_explicit(&m8_eacc_memo[h], (uint64_t)code << 32 | (uint32_t)(v + 1),
                          memory_order_relaxed);
    return v;
}

static inline uint32_t m8_eacc_code(const unsigned char *p)
{
    return (uint32_t)(p[0] & 0x7F) << 16 | (uint32_t)(p[1] & 0x7F) << 8 | (uint32_t)(p[2] & 0x7F);
}

/* 1 when x may be the second or third byte of an EACC character. */
static inline int m8_eacc_byte(unsigned x)
{
    return (x & 0x7F) > 0x20 && x != 0x7F && x != 0xFF;
}

/* 1 when a mapped EACC character starts at in[i]. */
static int m8_eacc_known_at(const unsigned char *in, size_t n, size_t i)
{
    if (i + 3 > n)
        return 0;
    for (size_t k = i; k < i + 3; k++)
        if ((in[k] & 0x7F) <= 0x20 || (in[k] & 0x7F) == 0x7F)
            return 0;
    return m8_eacc_lookup(m8_eacc_code(in + i)) != 0;
}

int mp__text_plain(const unsigned char *in, size_t n, int esc)
{
    const uint64_t hi = 0x8080808080808080ull, ones = 0x0101010101010101ull;
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i escv = _mm_set1_epi8(M8_ESC);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
        if (esc)
            v = _mm_or_si128(v, _mm_cmpeq_epi8(v, escv));
        if (_mm_movemask_epi8(v))
            return 0;
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t w, x;
        memcpy(&w, in + i, 8);
        x = w ^ (ones * M8_ESC); /* a zero byte where w had ESC */
        if ((w & hi) || (esc && ((x - ones) & ~x & hi)))
            return 0;
    }
    for (; i < n; i++)
        if (in[i] >= 0x80 || (esc && in[i] == M8_ESC))
            return 0;
    return 1;
}

/*
 * Parses the escape sequence at in[i] (== ESC); returns the index after
 * what it consumed. A complete sequence is consumed: with a known final
 * it designates its set; a technique-2 sequence (with an intermediate)
 * naming an unknown set is one problem and the sets stay. Anything else -
 * an ESC at the end, an incomplete or broken sequence, a technique-1
 * final that names no set - is one problem for the ESC alone: the bytes
 * after it are decoded as text (pymarc keeps them too), so no valid
 * character is swallowed.
 */
static size_t m8_escape(m8_state *s, const unsigned char *in, size_t n, size_t i, int *g0, int *g1)
{
    size_t j = i + 1;
    int *target = g0;
    int intermediate = 0;
    unsigned c;

    if (j >= n)
        goto broken;
    c = in[j];
    if (c == '$') { /* multibyte set; the final tells which */
        intermediate = 1;
        if (++j >= n)
            goto broken;
        c = in[j];
    }
    if (c == '(' || c == ',') {
        intermediate = 1;
        j++;
    } else if (c == ')' || c == '-') {
        intermediate = 1;
        target = g1;
        j++;
    }
    if (j >= n)
        goto broken;
    c = in[j];
    if (c == '!' && intermediate) {
        if (++j >= n)
            goto broken;
        c = in[j];
    }
    if (c < 0x21 || c > 0x7E)
        goto broken;
    int set = m8_final_to_set(c);
    if (set < 0) {
        if (!intermediate)
            goto broken;
        m8_problem(s, i, "unknown character set in escape sequence", c);
        return j + 1;
    }
    *target = set;
    return j + 1;

broken:
    m8_problem(s, i, j >= n ? "incomplete escape sequence" : "broken escape sequence",
               j >= n ? M8_ESC : in[j]);
    return i + 1;
}

/* III (Innovative Interfaces) vendor codes met in EACC runs, mapped as
 * pymarc maps them: 3-byte code -> code point. Sorted by code. */
static const uint32_t m8_iii_code[] = {0x21203D, 0x212040, 0x7F2014, 0x7F2019, 0x7F2020, 0x7F2122};
static const uint32_t m8_iii_ucs[] = {0x2026, 0x201C, 0x2014, 0x2019, 0x201D, 0x2122};

/* The III character at in[i] (three 7-bit bytes), or 0. */
static uint32_t m8_iii_at(const unsigned char *in, size_t n, size_t i)
{
    if (i + 3 > n || (in[i] != 0x21 && in[i] != 0x7F))
        return 0;
    uint32_t code = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    for (size_t k = 0; k < sizeof m8_iii_code / sizeof *m8_iii_code; k++)
        if (m8_iii_code[k] == code)
            return m8_iii_ucs[k];
    return 0;
}

static void m8_flush_comb(m8_state *s, uint32_t *comb, int *ncomb)
{
    if (*ncomb == 1 && s->nfc && mp__marc8_nfc_shortcuts && !s->nfc_from && s->last &&
        s->last_cp < 0x80) {
        /* An ASCII base just written and one mark: NFC from the memo. */
        uint32_t v = m8_pair(s->last_cp, comb[0]);
        if (v != UINT32_MAX) {
            unsigned char *base = s->last;
            if (v) {
                s->o = m8_encode(base, v); /* replaces the base */
                s->last_cp = v;
            } else {
                s->o = m8_encode(s->o, comb[0]);
            }
            s->last = base; /* a later mark or non-starter: NFC from the base */
            *ncomb = 0;
            return;
        }
    }
    for (int k = 0; k < *ncomb; k++)
        m8_put(s, comb[k]);
    *ncomb = 0;
}

/* Decodes in[0..n) into s->o (room for 3 * n + 4 bytes). */
static void m8_decode(m8_state *s, const unsigned char *in, size_t n)
{
    int g0 = MP__M8_ASCII, g1 = MP__M8_ANSEL;
    uint32_t comb[M8_MAX_COMB];
    int ncomb = 0;
    size_t i = 0;

    while (i < n) {
        unsigned b = in[i];
        if (b >= 0x20 && b < 0x7F && g0 == MP__M8_ASCII && ncomb == 0) {
            /* A run of printable ASCII and spaces in the default G0 (its
             * table maps 0x21-0x7E to themselves, marc8_test checks; a
             * space with no marks pending is put as is): copied, and the
             * last one noted as m8_put notes it. No code point below
             * U+0300 starts NFC work. */
            unsigned char *o = s->o;
            size_t j = i;
#if defined(__SSE2__)
            /* 16 at a time: stored whole, the cursor moved past the run's
             * part (bytes after it are overwritten by what follows) */
            const __m128i below = _mm_set1_epi8(0x20), above = _mm_set1_epi8(0x7E);
            while (j + 16 <= n && (size_t)(s->end - o) >= 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(in + j));
                /* signed: bytes >= 0x80 are below 0x20 too */
                __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, below), _mm_cmpgt_epi8(v, above));
                unsigned m = (unsigned)_mm_movemask_epi8(bad);
                _mm_storeu_si128((__m128i *)(void *)o, v);
                if (m) {
                    unsigned k = (unsigned)__builtin_ctz(m);
                    o += k;
                    j += k;
                    goto run_end;
                }
                o += 16;
                j += 16;
            }
#endif
            while (j < n && in[j] >= 0x20 && in[j] < 0x7F)
                *o++ = in[j++];
#if defined(__SSE2__)
        run_end:
#endif
            s->last = o - 1;
            s->last_cp = in[j - 1];
            if (j + 1 < n && in[j] == 0x1F && s->codes && in[j + 1] >= 0x20 && in[j + 1] < 0x7F &&
                mp__marc8_nfc_shortcuts) {
                /* The delimiter ending the run and an ASCII subfield code:
                 * put as the general path below puts them (the subfield
                 * starts in the default sets: G0 is ASCII already). */
                o[0] = 0x1F;
                o[1] = in[j + 1];
                s->last = o + 1;
                s->last_cp = in[j + 1];
                o += 2;
                j += 2;
                g1 = MP__M8_ANSEL;
            }
            s->o = o;
            i = j;
            continue;
        }
        if (b >= 0x20 && b < 0x7F && ncomb == 0 && g0 != MP__M8_EACC && mp__marc8_nfc_shortcuts) {
            /* A run in another single-byte G0 set (Hebrew, Cyrillic,
             * Greek, Arabic...): its spacing characters and spaces, put
             * as the general path below would put them; it stops at
             * anything else (a mark, an unmapped byte, a control). Off
             * with the NFC shortcuts: the tests compare with both. */
            const uint32_t *tab = mp__marc8_sb[g0];
            size_t j = i;
            for (; j < n; j++) {
                unsigned c = in[j];
                uint32_t e = 0x20;
                if (c != 0x20) {
                    if (c < 0x21 || c > 0x7E)
                        break;
                    e = tab[c];
                    if (!e || (e & (MP__M8_SKIP | MP__M8_COMB)))
                        break;
                }
                m8_put(s, e & MP__M8_CP);
            }
            if (j > i) {
                i = j;
                continue;
            }
        }
        if (g0 == MP__M8_EACC && ncomb == 0 && b >= 0x20 && b < 0x7F && mp__marc8_nfc_shortcuts) {
            /* A run of EACC characters in G0 (and spaces), each put as the
             * general path below puts it; it stops at anything else: an
             * III vendor code (0x7F first, or 0x21 then a space), an
             * incomplete or unknown character, a mark, a control. */
            size_t j = i;
            while (j < n) {
                unsigned c0 = in[j];
                if (c0 == 0x20) {
                    m8_put(s, 0x20);
                    j++;
                    continue;
                }
                if (c0 < 0x21 || c0 > 0x7E || j + 3 > n || !m8_eacc_byte(in[j + 1]) ||
                    !m8_eacc_byte(in[j + 2]))
                    break;
                uint32_t e = m8_eacc_lookup(m8_eacc_code(in + j));
                if (!e || (e & (MP__M8_SKIP | MP__M8_COMB)))
                    break;
                m8_put(s, e & MP__M8_CP);
                j += 3;
            }
            if (j > i) {
                i = j;
                continue;
            }
        }
        if (b == M8_ESC) {
            i = m8_escape(s, in, n, i, &g0, &g1);
            continue;
        }
        if (g0 == MP__M8_EACC && (b == 0x21 || b == 0x7F)) {
            uint32_t v = m8_iii_at(in, n, i);
            if (v) { /* never combining: flushes pending marks like a base */
                m8_put(s, v);
                if (ncomb)
                    m8_flush_comb(s, comb, &ncomb);
                i += 3;
                continue;
            }
        }
        if (b <= 0x20 || b == 0x7F) {
            /* Controls (DEL too, as in the ASCII fast path) and space are
               the same in every set. Pending marks combine with a space
               and are dropped before a C0 control, as at the end. */
            if (b < 0x20)
                ncomb = 0;
            m8_put(s, b);
            if (b == 0x20)
                if (ncomb)
                    m8_flush_comb(s, comb, &ncomb);
            if (b >= 0x1D && b <= 0x1F) {
                /* Each subfield starts in the default sets, as yaz and
                   pymarc decode it: a whole field converts exactly like
                   its subfields converted one by one. */
                g0 = MP__M8_ASCII;
                g1 = MP__M8_ANSEL;
                if (b == 0x1F && s->codes && i + 1 < n && in[i + 1] < 0x80 && in[i + 1] != 0x1F &&
                    in[i + 1] != 0x1E && in[i + 1] != 0x1D) {
                    m8_put(s, in[i + 1]); /* the subfield code, as is */
                    i += 2;
                    continue;
                }
            }
            i++;
            continue;
        }
        int set;
        if (b < 0x80)
            set = g0;
        else if (b >= 0xA0)
            set = g1;
        else
            set = MP__M8_ANSEL; /* C1 controls: ANSEL defines 0x88 0x89 0x8D 0x8E */

        uint32_t e;
        if (set == MP__M8_EACC) {
            size_t k = i + 1;
            while (k < n && k < i + 3 && m8_eacc_byte(in[k]))
                k++;
            if (k < i + 3) {
                m8_problem(s, i, "incomplete EACC character", b);
                i = k;
                continue;
            }
            e = m8_eacc_lookup(m8_eacc_code(in + i));
            if (!e) {
                /* Mangled data often has stray bytes inside an EACC run:
                   resynchronise when a known character starts one or two
                   bytes later (yaz skips byte by byte), else skip all 3. */
                m8_problem(s, i, "unknown EACC character", b);
                size_t skip = 3;
                for (size_t d = 1; d < 3; d++) {
                    if (m8_eacc_known_at(in, n, i + d)) {
                        skip = d;
                        break;
                    }
                }
                i += skip;
                continue;
            }
            i += 3;
        } else {
            e = mp__marc8_sb[set][b & 0x7F];
            if (!e) {
                m8_problem(s, i, "character not in the current set", b);
                i++;
                continue;
            }
            i++;
        }
        if ((e & (MP__M8_SKIP | MP__M8_COMB)) && s->dd_halves && set == MP__M8_ANSEL) {
            /* The double diacritics' halves: U+FE20-U+FE23 (see mp_marc8_double). */
            switch (b & 0x7F) {
            case 0x6B: /* 0xEB ligature, first half */
                e = 0xFE20u | MP__M8_COMB;
                break;
            case 0x6C: /* 0xEC ligature, second half */
                e = 0xFE21u | MP__M8_COMB;
                break;
            case 0x7A: /* 0xFA double tilde, first half */
                e = 0xFE22u | MP__M8_COMB;
                break;
            case 0x7B: /* 0xFB double tilde, second half */
                e = 0xFE23u | MP__M8_COMB;
                break;
            default:
                break;
            }
        }
        if (e & MP__M8_SKIP)
            continue;
        if (e & MP__M8_COMB) {
            if (ncomb == M8_MAX_COMB)
                if (ncomb)
                    m8_flush_comb(s, comb, &ncomb);
            comb[ncomb++] = e & MP__M8_CP;
            continue;
        }
        m8_put(s, e & MP__M8_CP);
        if (ncomb)
            m8_flush_comb(s, comb, &ncomb);
    }
    /* Marks with no base at the end of the text are dropped, as yaz does:
       attaching them to the previous character would change its meaning. */
}

int mp__marc8_to_utf8(const mp__text_opts *o, const unsigned char *in, size_t n, mp__arena *a,
                      const char **out, size_t *out_len, mp__text_error *err)
{
    unsigned char sbuf[M8_STACK_OUT];
    int32_t ubuf[M8_STACK_U32];
    unsigned char *buf;
    const unsigned char *res;
    size_t len;
    int in_arena = 0;

    if (err) {
        err->kind = 0;
        err->position = 0;
        err->count = 0;
        err->message[0] = '\0';
    }
    if (n == 0 || mp__text_plain(in, n, 1)) {
        *out = (const char *)in;
        *out_len = n;
        return 0;
    }

    size_t cap = 3 * n + 4;
    if (cap <= sizeof sbuf) {
        buf = sbuf;
    } else {
        buf = mp__arena_alloc(a, cap, 1);
        if (!buf)
            return MP_ENOMEM;
        in_arena = 1;
    }
    m8_state s = {.o = buf,
                  .end = buf + (buf == sbuf ? sizeof sbuf : cap),
                  .err = err,
                  .dd_halves = o->dd_halves,
                  .codes = o->subfield_codes,
                  .nfc = o->normalize};
    m8_decode(&s, in, n);
    res = buf;
    len = (size_t)(s.o - buf);

    if (o->normalize && s.nfc_from) {
        /* NFC of the tail from s.nfc_from, decomposed into code points and
           recomposed in place by utf8proc; the head is already NFC. */
        const utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
        size_t head = (size_t)(s.nfc_from - buf), tail = len - head;
        int32_t *u = ubuf;
        utf8proc_ssize_t ucap = M8_STACK_U32, r;
        if ((size_t)ucap < tail + 1) { /* code points <= bytes */
            ucap = (utf8proc_ssize_t)tail + 16;
            u = mp__arena_alloc(a, (size_t)ucap * sizeof *u, sizeof *u);
            if (!u)
                return MP_ENOMEM;
        }
        r = utf8proc_decompose(s.nfc_from, (utf8proc_ssize_t)tail, u, ucap, opt);
        if (r >= ucap) { /* decomposition grew past the buffer: retry at its size */
            ucap = r + 1;
            u = mp__arena_alloc(a, (size_t)ucap * sizeof *u, sizeof *u);
            if (!u)
                return MP_ENOMEM;
            r = utf8proc_decompose(s.nfc_from, (utf8proc_ssize_t)tail, u, ucap, opt);
        }
        utf8proc_ssize_t bytes = -1;
        if (r >= 0 && r < ucap)
            bytes = utf8proc_reencode(u, r, opt);
        /* bytes < 0 cannot happen on our own valid output: keep it as is. */
        if (bytes >= 0) {
            unsigned char *dst = mp__arena_alloc(a, head + (size_t)bytes + 1, 1);
            if (!dst)
                return MP_ENOMEM;
            memcpy(dst, buf, head);
            memcpy(dst + head, u, (size_t)bytes);
            res = dst;
            len = head + (size_t)bytes;
            in_arena = 1;
        }
    }

    if (!in_arena) {
        unsigned char *dst = mp__arena_alloc(a, len ? len : 1, 1);
        if (!dst)
            return MP_ENOMEM;
        memcpy(dst, res, len);
        res = dst;
    }
    *out = (const char *)res;
    *out_len = len;
    return s.problem && !o->marc8_replace ? 1 : 0;
}
