/*
 * utf8_test.c - UTF-8 validation and repair (stages/src/utf8.c).
 *
 * The expected REPLACE / IGNORE outputs and STRICT positions were computed
 * with CPython 3.11: bytes.decode('utf-8', 'replace' / 'ignore') and
 * UnicodeDecodeError.start.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <marcpipe/reader.h>
#include "alloc.h"
#include "arena.h"
#include "text.h"
#include "utf8.h"

typedef struct u8case {
    const char *in;
    size_t n;
    const char *repl;
    size_t repl_n;
    const char *ign;
    size_t ign_n;
    long bad; /* first invalid byte, -1 when valid */
} u8case;

static const u8case cases[] = {
    {"\x61\x62\x63", 3, "\x61\x62\x63", 3, "\x61\x62\x63", 3, -1},
    {"\xc3\xa9", 2, "\xc3\xa9", 2, "\xc3\xa9", 2, -1},
    /* overlong 2-byte */
    {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6, "", 0, 0},
    /* overlong 3-byte */
    {"\xe0\x80\xaf", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9, "", 0, 0},
    /* surrogate U+D800, and U+D7FF just below */
    {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9, "", 0, 0},
    {"\xed\x9f\xbf", 3, "\xed\x9f\xbf", 3, "\xed\x9f\xbf", 3, -1},
    /* U+110000, and U+10FFFF */
    {"\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12, "", 0, 0},
    {"\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf", 4, "\xf4\x8f\xbf\xbf", 4, -1},
    /* lead bytes that never occur */
    {"\xf5\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6, "", 0, 0},
    {"\xff", 1, "\xef\xbf\xbd", 3, "", 0, 0},
    /* truncated sequences: one U+FFFD per maximal subpart */
    {"\x61\xe2\x82", 3, "\x61\xef\xbf\xbd", 4, "\x61", 1, 1},
    {"\xe2\x82\x61", 3, "\xef\xbf\xbd\x61", 4, "\x61", 1, 0},
    {"\xc2", 1, "\xef\xbf\xbd", 3, "", 0, 0},
    /* lone continuation bytes */
    {"\x80\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6, "", 0, 0},
    /* 4-byte valid, 4-byte overlong */
    {"\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80", 4, -1},
    {"\xf0\x80\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12, "", 0, 0},
    /* problems after and between 8-byte ASCII runs */
    {"\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\xe9\x6b\x6c\x6d\x6e\x6f\x70\x71\x72\x73\x74\x75\x76"
     "\x77\x78\xf0\x9f\x98",
     28,
     "\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\xef\xbf\xbd\x6b\x6c\x6d\x6e\x6f\x70\x71\x72\x73\x74"
     "\x75\x76\x77\x78\xef\xbf\xbd",
     30,
     "\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f\x70\x71\x72\x73\x74\x75\x76\x77"
     "\x78",
     24, 10},
    {"\x31\x32\x33\x34\x35\x36\x37\x38\xe1\x80\xe1\x80\x80\x7a", 14,
     "\x31\x32\x33\x34\x35\x36\x37\x38\xef\xbf\xbd\xe1\x80\x80\x7a", 15,
     "\x31\x32\x33\x34\x35\x36\x37\x38\xe1\x80\x80\x7a", 12, 8},
};

static mp__arena arena;

static void setup(void)
{
    mp__arena_init(&arena, 4096);
}

static void teardown(void)
{
    mp__arena_free(&arena);
}

TestSuite(utf8, .init = setup, .fini = teardown, .timeout = 10);

static int run(int mode, const u8case *c, const char **out, size_t *out_len, mp__text_error *err)
{
    mp__text_opts o = {.utf8_handling = mode, .normalize = 1, .marc8_replace = 0};
    return mp__utf8_check(&o, (const unsigned char *)c->in, c->n, &arena, out, out_len, err);
}

Test(utf8, strict_positions, .timeout = 10)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *out;
        size_t len;
        mp__text_error err;
        int rc = run(MP_UTF8_STRICT, &cases[i], &out, &len, &err);
        cr_assert_eq(out, cases[i].in, "case %zu: STRICT must not copy", i);
        cr_assert_eq(len, cases[i].n);
        if (cases[i].bad < 0) {
            cr_assert_eq(rc, 0, "case %zu", i);
            cr_assert_eq(err.kind, 0);
        } else {
            cr_assert_eq(rc, 1, "case %zu", i);
            cr_assert_eq(err.kind, MP_EK_ENCODING);
            cr_assert_eq(err.position, (size_t)cases[i].bad, "case %zu: position %zu", i,
                         err.position);
            cr_assert(strlen(err.message) > 0);
        }
    }
}

Test(utf8, replace_matches_python, .timeout = 10)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *out;
        size_t len;
        mp__text_error err;
        int rc = run(MP_UTF8_REPLACE, &cases[i], &out, &len, &err);
        cr_assert_eq(rc, 0, "case %zu", i);
        cr_assert_eq(len, cases[i].repl_n, "case %zu: length %zu", i, len);
        cr_assert(memcmp(out, cases[i].repl, len) == 0, "case %zu", i);
        if (cases[i].bad < 0)
            cr_assert_eq(out, cases[i].in, "case %zu: valid input is zero-copy", i);
        else
            cr_assert_eq(err.kind, MP_EK_ENCODING, "case %zu: still reported", i);
    }
}

Test(utf8, ignore_matches_python, .timeout = 10)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *out;
        size_t len;
        int rc = run(MP_UTF8_IGNORE, &cases[i], &out, &len, NULL);
        cr_assert_eq(rc, 0, "case %zu", i);
        cr_assert_eq(len, cases[i].ign_n, "case %zu: length %zu", i, len);
        cr_assert(memcmp(out, cases[i].ign, len) == 0, "case %zu", i);
    }
}

Test(utf8, empty_and_long_ascii, .timeout = 10)
{
    mp__text_opts o = {.utf8_handling = MP_UTF8_STRICT};
    const char *out;
    size_t len;
    cr_assert_eq(mp__utf8_check(&o, NULL, 0, &arena, &out, &len, NULL), 0);
    cr_assert_eq(len, 0);

    static unsigned char big[10007];
    memset(big, 'x', sizeof big);
    cr_assert_eq(mp__utf8_check(&o, big, sizeof big, &arena, &out, &len, NULL), 0);
    cr_assert_eq((const void *)out, (const void *)big);
    /* One bad byte at every position of the tail, past the 8-byte loop. */
    for (size_t p = sizeof big - 17; p < sizeof big; p++) {
        mp__text_error err;
        big[p] = 0xFF;
        cr_assert_eq(mp__utf8_check(&o, big, sizeof big, &arena, &out, &len, &err), 1);
        cr_assert_eq(err.position, p);
        big[p] = 'x';
    }
}

Test(utf8, every_two_byte_string, .timeout = 30)
{
    /* Exhaustive over 2-byte inputs: REPLACE output is valid (checks as
       valid again) and IGNORE output never contains a replacement. */
    mp__text_opts r = {.utf8_handling = MP_UTF8_REPLACE}, s = {.utf8_handling = MP_UTF8_STRICT};
    for (unsigned a = 0; a < 256; a++) {
        for (unsigned b = 0; b < 256; b++) {
            unsigned char in[2] = {(unsigned char)a, (unsigned char)b};
            const char *out, *out2;
            size_t len, len2;
            cr_assert_eq(mp__utf8_check(&r, in, 2, &arena, &out, &len, NULL), 0);
            cr_assert_eq(
                mp__utf8_check(&s, (const unsigned char *)out, len, &arena, &out2, &len2, NULL), 0,
                "%02x %02x", a, b);
        }
        mp__arena_reset(&arena);
    }
}

Test(utf8, arena_failure_is_enomem, .timeout = 10)
{
    mp__text_opts o = {.utf8_handling = MP_UTF8_REPLACE};
    const char *out;
    size_t len;
    mp__arena small;
    mp__arena_init(&small, 64);
    mp__alloc_fail_at(1);
    int rc = mp__utf8_check(&o, (const unsigned char *)"ab\xff", 3, &small, &out, &len, NULL);
    mp__alloc_fail_at(0);
    cr_assert_eq(rc, MP_ENOMEM);
    mp__arena_free(&small);
}

/* The first ill-formed byte by the rule alone, one sequence after another. */
static size_t ref_first_bad(const unsigned char *in, size_t n)
{
    size_t i = 0, bad;
    while (i < n) {
        size_t l = mp__utf8_step(in + i, n - i, &bad);
        if (!l)
            return i;
        i += l;
    }
    return n;
}

/*
 * The block loops (64 and 16 bytes of ASCII, runs of non-ASCII characters)
 * against the rule applied byte by byte: every sequence below, valid or
 * not, alone and as a run of three, at every position of ASCII text long
 * enough for both block sizes, in a buffer of exactly its size (ASan sees
 * any read past it).
 */
Test(utf8, blocks_agree_with_the_rule_at_every_position, .timeout = 30)
{
    static const char *const seqs[] = {"\xc3\xa9",
                                       "\xce\xa9",
                                       "\xe2\x82\xac",
                                       "\xf0\x9f\x98\x80",
                                       "\xc3",
                                       "\xe2\x82",
                                       "\xc0\xaf",
                                       "\xed\xa0\x80",
                                       "\xf4\x90\x80\x80",
                                       "\x80",
                                       "\xff",
                                       "\xc3\xa9\xe2\x82\xac\x80",
                                       "\xdf\xbf\xc2",
                                       "\xc2\x80\xc2\x80"};
    mp__text_opts o = {.utf8_handling = MP_UTF8_STRICT};
    for (size_t k = 0; k < sizeof seqs / sizeof seqs[0]; k++) {
        for (int reps = 1; reps <= 3; reps += 2) {
            size_t sl = strlen(seqs[k]), n = 150;
            for (size_t at = 0; at + reps * sl <= n; at++) {
                unsigned char *buf = malloc(n);
                cr_assert_not_null(buf);
                memset(buf, 'a', n);
                for (int r = 0; r < reps; r++)
                    memcpy(buf + at + (size_t)r * sl, seqs[k], sl);
                size_t want = ref_first_bad(buf, n);
                const char *out;
                size_t len;
                mp__text_error err;
                int rc = mp__utf8_check(&o, buf, n, &arena, &out, &len, &err);
                cr_assert_eq(rc, want == n ? 0 : 1, "seq %zu x%d at %zu: rc %d", k, reps, at, rc);
                if (want != n)
                    cr_assert_eq(err.position, want, "seq %zu x%d at %zu: position %zu, want %zu",
                                 k, reps, at, err.position, want);
                free(buf);
            }
            mp__arena_reset(&arena);
        }
    }
}

/* mp__utf8_check with the 32-byte validator and with the byte rule alone:
 * the same answer and the same first bad byte. */
static void simd_agrees(const unsigned char *buf, size_t n, const char *what, size_t at)
{
    mp__text_opts o = {.utf8_handling = MP_UTF8_STRICT};
    const char *out;
    size_t len;
    mp__text_error e1, e0;
    mp__utf8_simd = 1;
    int r1 = mp__utf8_check(&o, buf, n, &arena, &out, &len, &e1);
    mp__utf8_simd = 0;
    int r0 = mp__utf8_check(&o, buf, n, &arena, &out, &len, &e0);
    mp__utf8_simd = 1;
    cr_assert_eq(r1, r0, "%s at %zu (n %zu): %d with the validator, %d without", what, at, n, r1,
                 r0);
    if (r0)
        cr_assert_eq(e1.position, e0.position, "%s at %zu: position %zu vs %zu", what, at,
                     e1.position, e0.position);
}

/*
 * Every string of 4 bytes drawn from the bytes where the classes change
 * (ASCII, each continuation range, each lead and the leads that are never
 * valid), at offsets either side of the 32- and 64-byte block edges and at
 * the very end of the input (the padded last block), in ASCII text.
 */
Test(utf8, simd_validator_agrees_on_every_short_string, .timeout = 60)
{
    if (!mp__utf8_simd_active())
        cr_log_warn("no AVX2 here: both runs take the byte rule");
    static const unsigned char alpha[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF,
                                          0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE,
                                          0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFF};
    static const size_t offs[] = {0, 29, 30, 31, 62, 63, 96};
    const size_t na = sizeof alpha;
    unsigned char buf[128];
    for (size_t k = 0; k < na * na * na * na; k++) {
        unsigned char s4[4] = {alpha[k % na], alpha[k / na % na], alpha[k / na / na % na],
                               alpha[k / na / na / na]};
        for (size_t j = 0; j < sizeof offs / sizeof offs[0]; j++) {
            memset(buf, 'a', sizeof buf);
            memcpy(buf + offs[j], s4, 4);
            simd_agrees(buf, sizeof buf, "string", offs[j]);
        }
        memset(buf, 'a', sizeof buf); /* ending the input: 64 and 77 bytes */
        memcpy(buf + 60, s4, 4);
        simd_agrees(buf, 64, "string at the end", 60);
        memcpy(buf + 73, s4, 4);
        simd_agrees(buf, 77, "string at the end", 73);
    }
}

/* Random texts of well-formed and ill-formed sequences, 64-700 bytes. */
Test(utf8, simd_validator_agrees_on_random_texts, .timeout = 60)
{
    static const char *const pieces[] = {"a",
                                         "hello world ",
                                         "\xc3\xa9",
                                         "\xd0\x9c",
                                         "\xe2\x82\xac",
                                         "\xe6\x9d\xb1",
                                         "\xed\x9f\xbf",
                                         "\xef\xbf\xbd",
                                         "\xf0\x9f\x98\x80",
                                         "\xf4\x8f\xbf\xbf",
                                         "\x1f",
                                         "\x1e"};
    static const char *const bad[] = {
        "\xc3",     "\x80",     "\xc0\xaf",     "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xf5\x80", "\xe2\x82", "\xf0\x9f\x98", "\xff"};
    unsigned char buf[800];
    uint64_t st = 0x9E3779B97F4A7C15ull;
    for (int t = 0; t < 200000; t++) {
        st ^= st << 13, st ^= st >> 7, st ^= st << 17;
        size_t want = 64 + (size_t)(st % 637), n = 0;
        int nbad = (int)(st >> 40) % 4 == 0; /* a quarter get one bad piece */
        size_t bad_at = (size_t)(st >> 20) % want;
        while (n < want) {
            st ^= st << 13, st ^= st >> 7, st ^= st << 17;
            const char *p = pieces[st % (sizeof pieces / sizeof pieces[0])];
            if (nbad && n >= bad_at) {
                p = bad[(st >> 8) % (sizeof bad / sizeof bad[0])];
                nbad = 0;
            }
            size_t l = strlen(p);
            if (n + l > want)
                break;
            memcpy(buf + n, p, l);
            n += l;
        }
        if (n < 64)
            continue;
        simd_agrees(buf, n, "random text", (size_t)t);
        if ((t & 1023) == 0)
            mp__arena_reset(&arena);
    }
}
