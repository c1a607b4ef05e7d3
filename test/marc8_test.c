/*
 * marc8_test.c - MARC-8 -> UTF-8 conversion (stages/src/marc8.c).
 *
 * Hand-written byte strings for each escape type and each problem, the
 * fuzz regression inputs (test/fuzz/regress/marc8/), random input, and a
 * comparison with YAZ (`yaz-marcdump -f marc8 -t utf8`) over the MARC-8
 * records of the shared corpus. The record splitting here is a minimal
 * directory walk of its own, so this suite does not depend on the parser.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <marcpipe/reader.h>
#include "alloc.h"
#include "arena.h"
#include "corpus.h"
#include "marc8_tables.h"
#include "text.h"
#include <utf8proc.h>

static mp__arena arena;

static void setup(void)
{
    mp__arena_init(&arena, 4096);
}

static void teardown(void)
{
    mp__arena_free(&arena);
}

TestSuite(marc8, .init = setup, .fini = teardown, .timeout = 60);

static const mp__text_opts NFC = {.utf8_handling = MP_UTF8_STRICT, .normalize = 1};
static const mp__text_opts RAW = {.utf8_handling = MP_UTF8_STRICT, .normalize = 0};
static const mp__text_opts REPL = {
    .utf8_handling = MP_UTF8_STRICT, .normalize = 1, .marc8_replace = 1};

static int conv(const mp__text_opts *o, const char *in, size_t n, const char **out, size_t *len,
                mp__text_error *err)
{
    return mp__marc8_to_utf8(o, (const unsigned char *)in, n, &arena, out, len, err);
}

/* Converts in (with explicit length) and checks rc and the exact output. */
#define CHECK(o, in, want, want_rc)                                                                \
    do {                                                                                           \
        const char *out_;                                                                          \
        size_t len_;                                                                               \
        mp__text_error err_;                                                                       \
        int rc_ = conv(o, in, sizeof(in) - 1, &out_, &len_, &err_);                                \
        cr_assert_eq(rc_, want_rc, "%s: rc %d", #in, rc_);                                         \
        cr_assert_eq(len_, sizeof(want) - 1, "%s: length %zu, want %zu", #in, len_,                \
                     sizeof(want) - 1);                                                            \
        cr_assert(memcmp(out_, want, len_) == 0, "%s: output differs", #in);                       \
    } while (0)

/* Valid UTF-8 by the project's own strict checker. */
static int valid_utf8(const char *s, size_t n)
{
    mp__text_opts o = {.utf8_handling = MP_UTF8_STRICT};
    const char *out;
    size_t len;
    return mp__utf8_check(&o, (const unsigned char *)s, n, &arena, &out, &len, NULL) == 0;
}

Test(marc8, ascii_is_zero_copy, .timeout = 10)
{
    const char in[] = "The Kite Runner /\x1f"
                      "cKhaled Hosseini.";
    const char *out;
    size_t len;
    mp__text_error err;
    cr_assert_eq(conv(&NFC, in, sizeof in - 1, &out, &len, &err), 0);
    cr_assert_eq(out, in);
    cr_assert_eq(len, sizeof in - 1);
    cr_assert_eq(err.kind, 0);
    cr_assert_eq(conv(&NFC, NULL, 0, &out, &len, &err), 0);
    cr_assert_eq(len, 0);
}

/* The converter copies runs of printable ASCII in the default G0 without
 * the table: that is only right while the table maps them to themselves. */
Test(marc8, ascii_runs_copied_as_the_table_maps_them, .timeout = 10)
{
    for (unsigned b = 0x21; b < 0x7F; b++)
        cr_assert_eq(mp__marc8_sb[MP__M8_ASCII][b], b, "G0 ASCII 0x%02X", b);
    /* runs around marks, spaces, escapes and G1 text */
    CHECK(&NFC,
          "ab\xE2"
          "cd ef\xA1gh",
          "ab\xc4\x87"
          "d ef\xc5\x81gh",
          0);
    CHECK(&RAW,
          "ab\xE2"
          "cd",
          "abc\xcc\x81"
          "d",
          0);
    CHECK(&NFC, "x\x1b(SX\x1b(By", "x\xce\xa4y", 0); /* Greek tau (as yaz-iconv), then ASCII */
}

/* Runs longer than the 16-byte blocks the decoder copies them in: a mark,
 * a G1 character, a control or DEL at every position of a 70-byte run of
 * words and spaces ends the run there, and what follows decodes as alone. */
Test(marc8, long_runs_end_at_every_position, .timeout = 10)
{
    static const char words[] = "The quick brown fox jumps over the lazy dog; 1984 (2nd ed.) -- p.";
    static const struct {
        const char *in, *want; /* the bytes put at the position, and their NFC */
    } stops[] = {
        {"\xE2"
         "e",
         "\xc3\xa9"},                  /* acute + e: e acute */
        {"\xE2 ", " \xcc\x81"},        /* a mark on a space stays a pair */
        {"\xA1", "\xc5\x81"},          /* G1: L with stroke */
        {"\x7F", "\x7F"},              /* DEL is itself */
        {"\x1b(SX\x1b(B", "\xce\xa4"}, /* Greek tau by escape, then ASCII again */
    };
    char in[160], want[160];
    for (size_t k = 0; k < sizeof stops / sizeof stops[0]; k++) {
        for (size_t at = 0; at + 1 < sizeof words; at++) {
            size_t li = strlen(stops[k].in), lw = strlen(stops[k].want);
            size_t tail = sizeof words - 1 - at;
            memcpy(in, words, at);
            memcpy(in + at, stops[k].in, li);
            memcpy(in + at + li, words + at, tail);
            memcpy(want, words, at);
            memcpy(want + at, stops[k].want, lw);
            memcpy(want + at + lw, words + at, tail);
            size_t n = at + li + tail, m = at + lw + tail;
            const char *out;
            size_t len;
            mp__text_error err;
            int rc = conv(&NFC, in, n, &out, &len, &err);
            cr_assert_eq(rc, 0, "stop %zu at %zu: rc %d", k, at, rc);
            cr_assert_eq(len, m, "stop %zu at %zu: length %zu, want %zu", k, at, len, m);
            cr_assert(memcmp(out, want, m) == 0, "stop %zu at %zu: output differs", k, at);
        }
    }
}

Test(marc8, ansel_g1_and_c1, .timeout = 10)
{
    CHECK(&NFC, "\xA1\xC3", "\xc5\x81\xc2\xa9", 0);                 /* L with stroke, copyright */
    CHECK(&NFC, "\x88The\x89 book", "\xc2\x98The\xc2\x9c book", 0); /* non-sort begin/end */
    /* ANSEL designated into G0 (ESC ( ! E): 0x41 is the script small l. */
    CHECK(&NFC, "\x1b(!EA\x1b(BA",
          "\xe2\x84\x93"
          "A",
          0);
}

Test(marc8, combining_after_base, .timeout = 10)
{
    CHECK(&RAW,
          "\xE2"
          "e",
          "e\xcc\x81", 0);
    CHECK(&NFC,
          "\xE2"
          "e",
          "\xc3\xa9", 0);
    /* Two marks keep their order after the base; NFC reorders by class
       (dot below 220 before circumflex 230) and composes U+1EAD. */
    CHECK(&RAW,
          "\xE3\xF2"
          "a",
          "a\xcc\x82\xcc\xa3", 0);
    CHECK(&NFC,
          "\xE3\xF2"
          "a",
          "\xe1\xba\xad", 0);
    /* A mark on a space, and marks across an escape sequence. */
    CHECK(&RAW, "\xE2 x", " \xcc\x81x", 0);
    CHECK(&RAW, "\xE2\x1b(NA", "\xd0\xb0\xcc\x81", 0);
    /* Double diacritic: first half U+0361, second half maps to nothing. */
    CHECK(&NFC, "\xEBt\xECs", "t\xcd\xa1s", 0);
    CHECK(&NFC, "\xFAn\xFBg", "n\xcd\xa0g", 0);
    /* Marks without a base are dropped (as yaz does), without an error. */
    CHECK(&NFC, "a\xE2", "a", 0);
    CHECK(&NFC,
          "\xE2\x1f"
          "bx",
          "\x1f"
          "bx",
          0);
}

Test(marc8, technique1_greek_sub_super, .timeout = 10)
{
    CHECK(&NFC,
          "H\x1b"
          "b2\x1bsO",
          "H\xe2\x82\x82O", 0);
    CHECK(&NFC, "x\x1bp2\x1bs", "x\xc2\xb2", 0);
    CHECK(&NFC, "\x1bga\x1bs", "\xce\xb1", 0);
    /* Locking: stays in effect for the following characters. */
    CHECK(&NFC, "\x1bp(12)", "\xe2\x81\xbd\xc2\xb9\xc2\xb2\xe2\x81\xbe", 0);
}

Test(marc8, technique2_single_byte_sets, .timeout = 10)
{
    CHECK(&NFC, "\x1b(NA\x1b(B A", "\xd0\xb0 A", 0); /* Basic Cyrillic G0 */
    CHECK(&NFC, "\x1b,NA", "\xd0\xb0", 0);           /* G0 with ',' */
    CHECK(&NFC,
          "\x1b)N\xC1"
          "A",
          "\xd0\xb0"
          "A",
          0);                                       /* Basic Cyrillic G1 */
    CHECK(&NFC, "\x1b-N\xC1", "\xd0\xb0", 0);       /* G1 with '-' */
    CHECK(&NFC, "\x1b(SA", "\xce\x91", 0);          /* Basic Greek */
    CHECK(&NFC, "\x1b(S!a", "\xe1\xbd\xb0", 0);     /* Greek grave precedes alpha */
    CHECK(&RAW, "\x1b(2@a", "\xd7\x91\xd6\xb7", 0); /* Hebrew bet + patah */
    CHECK(&NFC, "\x1b(3H", "\xd8\xa8", 0);          /* Basic Arabic beh */
    CHECK(&NFC,
          "\x1b(3"
          "12",
          "\xd9\xa1\xd9\xa2", 0); /* Arabic-Indic digits */
}

Test(marc8, eacc_multibyte, .timeout = 10)
{
    CHECK(&NFC, "\x1b$1!0!\x1b(B.", "\xe4\xb8\x80.", 0); /* G0: ESC $ 1 */
    CHECK(&NFC,
          "\x1b$)1\xA1\xB0\xA1"
          "a",
          "\xe4\xb8\x80"
          "a",
          0);                                                     /* G1: ESC $ ) 1 */
    CHECK(&NFC, "\x1b$1!0! !0!", "\xe4\xb8\x80 \xe4\xb8\x80", 0); /* space is single */
    CHECK(&NFC, "!/0", "!/0", 0);                                 /* the same bytes in ASCII */
}

Test(marc8, subfield_delimiter_resets_sets, .timeout = 10)
{
    CHECK(&NFC,
          "\x1b(NA\x1f"
          "bA",
          "\xd0\xb0\x1f"
          "bA",
          0);
    CHECK(&NFC,
          "\x1b)N\xC1\x1f"
          "b\xA1",
          "\xd0\xb0\x1f"
          "b\xc5\x81",
          0);
}

Test(marc8, problems_positions_and_replacement, .timeout = 10)
{
    const char *out;
    size_t len;
    mp__text_error err;

    /* An incomplete escape: only the ESC is replaced, the rest is text. */
    CHECK(&NFC, "ab\x1b(", "ab\xef\xbf\xbd(", 1);
    CHECK(&NFC, "ab\x1b", "ab\xef\xbf\xbd", 1);
    CHECK(&NFC, "ab\x1b$", "ab\xef\xbf\xbd$", 1);
    CHECK(&NFC,
          "ab\xAF"
          "c",
          "ab\xef\xbf\xbd"
          "c",
          1);                                   /* not in ANSEL */
    CHECK(&NFC, "\x1b(Zx", "\xef\xbf\xbdx", 1); /* unknown set */
    CHECK(&NFC,
          "\x1b(\x1f"
          "a",
          "\xef\xbf\xbd(\x1f"
          "a",
          1);                                    /* delimiter kept */
    CHECK(&NFC, "\x1b$1~~~", "\xef\xbf\xbd", 1); /* unknown EACC */
    CHECK(&NFC, "\x1b$1!0", "\xef\xbf\xbd", 1);  /* incomplete EACC */
    CHECK(&NFC,
          "\x1b$1!0\x1f"
          "a",
          "\xef\xbf\xbd\x1f"
          "a",
          1);
    CHECK(&NFC, "\x80", "\xef\xbf\xbd", 1); /* undefined C1 */
    CHECK(&REPL,
          "ab\xAF"
          "c",
          "ab\xef\xbf\xbd"
          "c",
          0); /* replace: rc 0 */

    cr_assert_eq(conv(&NFC,
                      "xyz\xE2"
                      "e\x1b(",
                      7, &out, &len, &err),
                 1);
    cr_assert_eq(err.kind, MP_EK_MARC8);
    cr_assert_eq(err.position, 5, "position %zu", err.position);
    cr_assert_eq(err.count, 1);
    cr_assert(strstr(err.message, "escape") != NULL, "%s", err.message);
    /* A stray byte inside an EACC run: one U+FFFD, then back in step. */
    CHECK(&NFC, "\x1b$1!0!b!0!", "\xe4\xb8\x80\xef\xbf\xbd\xe4\xb8\x80", 1);

    /* Only the first problem is described, all are counted; with replace
     * it is still filled. */
    cr_assert_eq(conv(&REPL, "a\xAF\xAF", 3, &out, &len, &err), 0);
    cr_assert_eq(err.kind, MP_EK_MARC8);
    cr_assert_eq(err.position, 1);
    cr_assert_eq(err.count, 2);
    cr_assert_eq(len, 7);
    cr_assert_eq(conv(&NFC, "a\xAF\xAF", 3, &out, &len, NULL), 1); /* err may be NULL */
}

Test(marc8, invalid_escape_keeps_the_text_around_it, .timeout = 10)
{
    /* pymarc keeps "Socit\u00e9" (it drops the ESC); yaz fails on the
     * field. The ESC alone is the problem: 't' and the e-acute survive. */
    CHECK(&NFC,
          "Soci\x1bt\xe2"
          "e",
          "Soci\xef\xbf\xbdt\xc3\xa9", 1);
    CHECK(&REPL,
          "Soci\x1bt\xe2"
          "e",
          "Soci\xef\xbf\xbdt\xc3\xa9", 0);
    /* A technique-1 final that names no set, then a valid one. */
    CHECK(&NFC, "\x1bqx\x1bga\x1bsx", "\xef\xbf\xbdqx\xce\xb1x", 1);
    /* A broken technique-2 sequence keeps its bytes; a complete one naming
     * an unknown set is consumed (its final is not text). */
    CHECK(&NFC, "\x1b( x", "\xef\xbf\xbd( x", 1);
    CHECK(&NFC, "\x1b$)\x01x", "\xef\xbf\xbd$)\x01x", 1);
    CHECK(&NFC, "\x1b)Zx", "\xef\xbf\xbdx", 1);
    /* A valid sequence right after a broken ESC still works. */
    CHECK(&NFC, "\x1b\x1b(NA", "\xef\xbf\xbd\xd0\xb0", 1);
}

Test(marc8, double_diacritics_combined_or_halves, .timeout = 10)
{
    const mp__text_opts halves = {.normalize = 1, .dd_halves = 1};
    const mp__text_opts halves_raw = {.normalize = 0, .dd_halves = 1};
    /* LoC's primary mapping (and yaz): one U+0361 / U+0360, second half gone. */
    CHECK(&NFC, "\xEBt\xECs", "t\xcd\xa1s", 0);
    CHECK(&NFC, "\xFAn\xFBg", "n\xcd\xa0g", 0);
    /* pymarc (and the code tables' alternative): a half mark per half. */
    CHECK(&halves, "\xEBt\xECs", "t\xef\xb8\xa0s\xef\xb8\xa1", 0);
    CHECK(&halves, "\xFAn\xFBg", "n\xef\xb8\xa2g\xef\xb8\xa3", 0);
    CHECK(&halves_raw, "\xEBt\xECs", "t\xef\xb8\xa0s\xef\xb8\xa1", 0);
    /* The same bytes in other G1 sets are other letters (Cyrillic). */
    CHECK(&halves, "\x1b)Q\xEB", "\xd0\x8b", 0); /* yaz-iconv agrees */
    /* ANSEL in G0 (ESC ( ! E): 0x6B is the ligature's first half. */
    CHECK(&halves, "\x1b(!E\x6B\x1b(Bt", "t\xef\xb8\xa0", 0);
}

Test(marc8, iii_vendor_codes_in_eacc, .timeout = 10)
{
    /* Innovative Interfaces codes met in EACC runs, mapped as pymarc maps
     * them (no U+007F / U+0014 / U+0019 leaking into the text). */
    CHECK(&NFC, "\x1b$1\x7f\x20\x14\x1b(B", "\xe2\x80\x94", 0);          /* em dash */
    CHECK(&NFC, "\x1b$1\x7f\x20\x19", "\xe2\x80\x99", 0);                /* U+2019 */
    CHECK(&NFC, "\x1b$1\x7f\x20\x20", "\xe2\x80\x9d", 0);                /* U+201D */
    CHECK(&NFC, "\x1b$1\x7f\x21\x22", "\xe2\x84\xa2", 0);                /* U+2122 */
    CHECK(&NFC, "\x1b$1\x21\x20\x3d", "\xe2\x80\xa6", 0);                /* U+2026 */
    CHECK(&NFC, "\x1b$1\x21\x20\x40!0!", "\xe2\x80\x9c\xe4\xb8\x80", 0); /* U+201C, CJK */
    /* Outside EACC the same bytes are what they are in ASCII. */
    CHECK(&NFC, "\x7f\x20\x14", "\x7f\x20\x14", 0);
}

Test(marc8, subfield_codes_are_not_decoded, .timeout = 10)
{
    const mp__text_opts codes = {.normalize = 1, .subfield_codes = 1};
    /* An ESC as a subfield code is a code, not an escape sequence. */
    CHECK(&codes, "\x1f\x1b(Nx", "\x1f\x1b(Nx", 0);
    CHECK(&NFC, "\x1f\x1b(Nx", "\x1f\xd0\xac", 0); /* without: Cyrillic (as yaz-iconv) */
    /* Codes stay ASCII; the values are decoded. */
    CHECK(&codes,
          "\x1f"
          "a\xe2"
          "e\x1f"
          "b\xA1",
          "\x1f"
          "a\xc3\xa9\x1f"
          "b\xc5\x81",
          0);
}

Test(marc8, large_fields_use_the_arena, .timeout = 10)
{
    /* 6000 x (ESC-free ANSEL e-acute) = 12000 bytes: bigger than the stack
       buffers for the output and for the NFC code points. */
    static char in[12000];
    for (size_t i = 0; i < sizeof in; i += 2) {
        in[i] = (char)0xE2;
        in[i + 1] = 'e';
    }
    const char *out;
    size_t len;
    cr_assert_eq(conv(&NFC, in, sizeof in, &out, &len, NULL), 0);
    cr_assert_eq(len, 12000);
    for (size_t i = 0; i < len; i += 2)
        cr_assert(out[i] == (char)0xC3 && out[i + 1] == (char)0xA9);
    cr_assert_eq(conv(&RAW, in, sizeof in, &out, &len, NULL), 0);
    cr_assert_eq(len, 18000);
}

Test(marc8, arena_failure_is_enomem, .timeout = 10)
{
    const char *out;
    size_t len;
    mp__arena small;
    mp__arena_init(&small, 64);
    mp__alloc_fail_at(1);
    int rc = mp__marc8_to_utf8(&NFC,
                               (const unsigned char *)"\xE2"
                                                      "e",
                               2, &small, &out, &len, NULL);
    mp__alloc_fail_at(0);
    cr_assert_eq(rc, MP_ENOMEM);
    mp__arena_free(&small);
}

Test(marc8, random_bytes_give_valid_utf8, .timeout = 60)
{
    /* Biased toward ESC, intermediates, finals and high bytes. */
    static const unsigned char alphabet[] = {0x1b, '$',  '(',  ')',  ',',  '-',  '!',  'B',
                                             'E',  '1',  'N',  'S',  '2',  '3',  'g',  'b',
                                             'p',  's',  0x1f, 0x20, 0x21, 0x30, 0x7e, 0xa1,
                                             0xe2, 0xeb, 0xec, 0x88, 0xc1, 0xff, 0x7f, 'a'};
    unsigned long long x = 88172645463325252ull;
    unsigned char buf[64];
    for (int iter = 0; iter < 20000; iter++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = x % sizeof buf;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = (x >> 40) & 1 ? alphabet[x % sizeof alphabet] : (unsigned char)(x >> 24);
        }
        const char *out;
        size_t len;
        mp__text_error err;
        for (int mode = 0; mode < 2; mode++) {
            int rc = mp__marc8_to_utf8(mode ? &NFC : &RAW, buf, n, &arena, &out, &len, &err);
            cr_assert(rc == 0 || rc == 1);
            cr_assert(valid_utf8(out, len), "iteration %d", iter);
            if (rc == 1)
                cr_assert(err.kind == MP_EK_MARC8 && err.position < n);
        }
        if (iter % 256 == 0)
            mp__arena_reset(&arena);
    }
}

/* ---- files: fuzz regressions and the shared corpus ------------------------ */

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return NULL;
    }
    char *p = malloc((size_t)st.st_size + 1);
    cr_assert_not_null(p);
    *n = fread(p, 1, (size_t)st.st_size, f);
    fclose(f);
    return p;
}

/* The directory holding this source file (absolute in CMake builds). */
static void src_dir(char *buf, size_t size)
{
    snprintf(buf, size, "%s", __FILE__);
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(buf, size, ".");
}

Test(marc8, fuzz_regressions_replay, .timeout = 30)
{
    char dir[1024], path[1300];
    src_dir(dir, sizeof dir);
    strcat(dir, "/fuzz/regress/marc8");
    DIR *d = opendir(dir);
    if (!d) {
        cr_skip_test("SKIP: %s not found", dir);
    }
    struct dirent *de;
    int count = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strstr(de->d_name, ".md"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        size_t n;
        char *p = read_file(path, &n);
        cr_assert_not_null(p, "%s", path);
        for (int mode = 0; mode < 3; mode++) {
            const mp__text_opts *o = mode == 0 ? &RAW : mode == 1 ? &NFC : &REPL;
            const char *out;
            size_t len;
            int rc = mp__marc8_to_utf8(o, (unsigned char *)p, n, &arena, &out, &len, NULL);
            cr_assert(rc == 0 || rc == 1, "%s", path);
            cr_assert(valid_utf8(out, len), "%s", path);
        }
        free(p);
        mp__arena_reset(&arena);
        count++;
    }
    closedir(d);
    cr_log_info("replayed %d fuzz regression inputs", count);
    printf("marc8: replayed %d fuzz regression inputs\n", count);
    cr_assert_gt(count, 0);
}

typedef struct field {
    char tag[4];
    const unsigned char *data;
    size_t len;
} field;

/* Minimal ISO 2709 walk: fields of one record, or -1 when it is damaged. */
static int walk(const unsigned char *r, size_t n, field *f, int max)
{
    if (n < 25)
        return -1;
    size_t base = 0;
    for (int i = 12; i < 17; i++) {
        if (r[i] < '0' || r[i] > '9')
            return -1;
        base = base * 10 + (size_t)(r[i] - '0');
    }
    int k = 0;
    for (size_t e = 24; e + 12 <= n && r[e] != 0x1e && k < max; e += 12) {
        size_t len = 0, start = 0;
        for (int i = 3; i < 7; i++)
            len = len * 10 + (size_t)(r[e + i] - '0');
        for (int i = 7; i < 12; i++)
            start = start * 10 + (size_t)(r[e + i] - '0');
        if (base + start + len > n)
            return -1;
        memcpy(f[k].tag, r + e, 3);
        f[k].tag[3] = '\0';
        f[k].data = r + base + start;
        f[k].len = len;
        if (f[k].len && f[k].data[f[k].len - 1] == 0x1e)
            f[k].len--;
        k++;
    }
    return k;
}

static int hexval(int c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/*
 * Differences from yaz that are explained rather than fixed. Each entry:
 * file name, record index, tag, and why.
 */
typedef struct explained {
    const char *file;
    int record;
    const char *tag;
    const char *why;
} explained;

#define BAD_DIR_SUBFIELD                                                                           \
    "framing, not conversion: this damaged file's directory offsets are one byte off, yaz "        \
    "splits at the 0x1E terminators while this test's walk trusts the directory"
#define BAD_RECORD_LEADER                                                                          \
    "framing, not conversion: the record's directory is corrupt (a leader inside field data); "    \
    "yaz and this test's walk cut the 245 field differently"

static const explained known[] = {
    {"bad_subfield_code.dat", 0, "245", BAD_DIR_SUBFIELD},
    {"bad_subfield_code.dat", 0, "260", BAD_DIR_SUBFIELD},
    {"bad_subfield_code.dat", 0, "300", BAD_DIR_SUBFIELD},
    {"bad_subfield_code.dat", 0, "500", BAD_DIR_SUBFIELD},
    {"bad_subfield_code.dat", 0, "630", BAD_DIR_SUBFIELD},
    {"bad_subfield_code.dat", 0, "650", BAD_DIR_SUBFIELD},
    {"bad_records.mrc", 2, "245", BAD_RECORD_LEADER},
    {NULL, 0, NULL, NULL},
};

static const char *explain(const char *file, int rec, const char *tag)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    for (size_t i = 0; known[i].file; i++)
        if (!strcmp(known[i].file, base) && known[i].record == rec && !strcmp(known[i].tag, tag))
            return known[i].why;
    return NULL;
}

/*
 * Files whose blank leader/09 lies: not MARC-8 at all, so comparing them
 * with a MARC-8 decoder says nothing (yaz and marcpipe both produce
 * mojibake, differently).
 */
static int not_marc8(const char *path)
{
    static const char *const lies[] = {
        "pymarc/1251.dat",                     /* Windows-1251 Cyrillic */
        "pymarc/utf8_without_leader_flag.dat", /* UTF-8 */
        "pymarc/testunimarc.dat",              /* UNIMARC (ISO 5426) */
        NULL,
    };
    for (int i = 0; lies[i]; i++) {
        size_t a = strlen(path), b = strlen(lies[i]);
        if (a >= b && !strcmp(path + a - b, lies[i]))
            return 1;
    }
    return 0;
}

Test(marc8, equals_yaz_on_corpus, .timeout = 300)
{
    char dir[1024], sub[1400], cmd[3200];
    const char *c = mf_corpus_dir();
    if (!mf_is_dir(c) || system("command -v yaz-marcdump >/dev/null 2>&1") != 0) {
        printf("SKIP: marc8 yaz comparison: corpus %s or yaz-marcdump absent\n", c);
        cr_skip_test("SKIP: corpus %s or yaz-marcdump absent", c);
    }
    src_dir(dir, sizeof dir);

    /* The folders of the corpus that hold MARC-8 records. */
    static const char *const subdirs[] = {"marc8", "marc4j", "pymarc"};
    long nfiles = 0, records = 0, fields = 0, diffs = 0, unexplained = 0, yaz_failed = 0,
         split_checked = 0, invalid_diffs = 0, fffd_only = 0, framing_diffs = 0;
    field *fl = malloc(sizeof(field) * 4096);
    cr_assert_not_null(fl);
    for (size_t si = 0; si < sizeof subdirs / sizeof subdirs[0]; si++) {
        mf_corpus files;
        snprintf(sub, sizeof sub, "%s/%s", c, subdirs[si]);
        mf_corpus_list(&files, sub);
        for (size_t gi = 0; gi < files.n; gi++) {
            const char *path = files.v[gi].path;
            if (not_marc8(path))
                continue;
            size_t n;
            unsigned char *data = (unsigned char *)read_file(path, &n);
            cr_assert_not_null(data);
            /* Record offsets, by the same rule as the oracle script. */
            size_t offs[4096], lens[4096];
            int nrec = 0;
            for (size_t off = 0; off + 24 <= n && nrec < 4096;) {
                size_t l = 0;
                int ok = 1;
                for (int i = 0; i < 5; i++) {
                    if (data[off + i] < '0' || data[off + i] > '9')
                        ok = 0;
                    else
                        l = l * 10 + (size_t)(data[off + i] - '0');
                }
                if (!ok || l < 25 || off + l > n)
                    break;
                offs[nrec] = off;
                lens[nrec++] = l;
                off += l;
            }
            snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/marc8_yaz_oracle.py' '%s'", dir, path);
            FILE *p = popen(cmd, "r");
            cr_assert_not_null(p);
            char *line = NULL;
            size_t cap = 0;
            int cur = -1, nf = 0, fi = 0;
            int file_used = 0;
            while (getline(&line, &cap, p) > 0) {
                line[strcspn(line, "\n")] = '\0';
                if (line[0] == 'X') {
                    yaz_failed++;
                    cur = -1;
                    continue;
                }
                if (line[0] == 'R') {
                    cur = atoi(line + 2);
                    cr_assert(cur >= 0 && cur < nrec);
                    nf = walk(data + offs[cur], lens[cur], fl, 4096);
                    fi = 0;
                    if (nf < 0) {
                        yaz_failed++; /* damaged directory: nothing to compare */
                        cur = -1;
                    } else {
                        records++;
                        file_used = 1;
                    }
                    continue;
                }
                if (line[0] != 'F' || cur < 0)
                    continue;
                char tag[4] = {line[2], line[3], line[4], 0};
                const char *hex = line + 6;
                /* yaz's field order is the directory's; skip fields it left out. */
                while (fi < nf && strcmp(fl[fi].tag, tag) != 0)
                    fi++;
                if (fi >= nf)
                    continue;
                field *f = &fl[fi++];
                const unsigned char *in = f->data;
                size_t inlen = f->len;
                if (strncmp(tag, "00", 2) != 0) { /* data field: skip the indicators */
                    if (inlen < 2)
                        continue;
                    in += 2;
                    inlen -= 2;
                }
                const char *out;
                size_t len;
                mp__text_opts o = REPL;
                int rc = mp__marc8_to_utf8(&o, in, inlen, &arena, &out, &len, NULL);
                cr_assert_eq(rc, 0);
                /* A whole field converts like its subfields one by one. */
                if (in[0] == 0x1f) {
                    size_t acc = 0, s = 0;
                    int same = 1;
                    for (size_t i = 1; i <= inlen; i++) {
                        if (i == inlen || in[i] == 0x1f) {
                            const char *o2;
                            size_t l2;
                            mp__marc8_to_utf8(&o, in + s, i - s, &arena, &o2, &l2, NULL);
                            if (acc + l2 > len || memcmp(out + acc, o2, l2) != 0)
                                same = 0;
                            acc += l2;
                            s = i;
                        }
                    }
                    cr_assert(same && acc == len, "%s rec %d %s: split differs", path, cur, tag);
                    split_checked++;
                }
                size_t hl = strcmp(hex, "-") == 0 ? 0 : strlen(hex) / 2;
                int eq = hl == len;
                for (size_t i = 0; eq && i < hl; i++)
                    eq = (unsigned char)out[i] ==
                         (unsigned char)(hexval(hex[2 * i]) * 16 + hexval(hex[2 * i + 1]));
                fields++;
                if (!eq) {
                    diffs++;
                    /*
                     * Invalid MARC-8 (unknown character, broken or
                     * incomplete escape, mangled EACC): marcpipe reports an
                     * error item and writes U+FFFD in place of the bad
                     * bytes; yaz silently drops them, and after a broken
                     * escape sometimes the rest of the subfield too. This
                     * is a deliberate difference: data loss must be visible.
                     * Such a field counts as explained when the strict
                     * conversion reports the problem; "same but U+FFFD"
                     * counts those where deleting our U+FFFDs gives yaz's
                     * text exactly.
                     */
                    const char *o3;
                    size_t l3;
                    mp__text_error e3;
                    int invalid = mp__marc8_to_utf8(&NFC, in, inlen, &arena, &o3, &l3, &e3) == 1;
                    if (invalid) {
                        invalid_diffs++;
                        size_t k = 0, i = 0;
                        int same = 1;
                        while (i < len && same) {
                            if (i + 3 <= len && !memcmp(out + i, "\xef\xbf\xbd", 3)) {
                                i += 3;
                                continue;
                            }
                            same = k < hl && (unsigned char)out[i] ==
                                                 (unsigned char)(hexval(hex[2 * k]) * 16 +
                                                                 hexval(hex[2 * k + 1]));
                            i++;
                            k++;
                        }
                        if (same && k == hl)
                            fffd_only++;
                    }
                    const char *why = invalid ? "invalid MARC-8" : explain(path, cur, tag);
                    if (why && !invalid)
                        framing_diffs++;
                    if (!why) {
                        unexplained++;
                        if (unexplained <= 30) {
                            printf("DIFF %s rec %d %s\n  yaz: %s\n  mp : ", path, cur, tag, hex);
                            for (size_t i = 0; i < len; i++)
                                printf("%02x", (unsigned char)out[i]);
                            printf("\n");
                        }
                    }
                }
                mp__arena_reset(&arena);
            }
            free(line);
            pclose(p);
            free(data);
            nfiles += file_used;
        }
        mf_corpus_free(&files);
    }
    free(fl);
    printf("marc8 vs yaz: %ld files, %ld records, %ld fields compared, %ld differences: "
           "%ld on invalid MARC-8 (%ld of them same but U+FFFD), %ld framing, %ld unexplained; "
           "%ld records yaz could not convert; %ld fields split-checked\n",
           nfiles, records, fields, diffs, invalid_diffs, fffd_only, framing_diffs, unexplained,
           yaz_failed, split_checked);
    cr_assert_gt(fields, 0);
    cr_assert_eq(unexplained, 0, "%ld unexplained differences from yaz", unexplained);
}

/* Converts in[0..n) with the shortcuts and fast paths on and off (options
 * o) and asserts the same return code and output. */
static void same_both_ways(const mp__text_opts *o, const char *in, size_t n, int round)
{
    const char *fast, *slow;
    size_t fl, sl;
    int rf = conv(o, in, n, &fast, &fl, NULL);
    mp__marc8_nfc_shortcuts = 0;
    int rs = conv(o, in, n, &slow, &sl, NULL);
    mp__marc8_nfc_shortcuts = 1;
    cr_assert_eq(rf, rs, "round %d (%s)", round, o->normalize ? "NFC" : "raw");
    cr_assert(fl == sl && memcmp(fast, slow, fl) == 0, "round %d (%s): outputs differ", round,
              o->normalize ? "NFC" : "raw");
}

/* The NFC shortcuts (a memo of utf8proc's answers for an ASCII letter with
 * one mark and for inert letters of U+0370-U+07FF) give byte for byte what
 * normalising with utf8proc alone gives: 20,000 random texts mixing ASCII,
 * ANSEL marks and letters, Cyrillic, Greek, Hebrew and Arabic escapes,
 * subfield delimiters and broken bytes. */
Test(marc8, nfc_shortcuts_equal_utf8proc, .timeout = 60)
{
    static const char *const pieces[] = {
        "a",
        "e",
        "Z",
        " ",
        "1",
        "\xE2",
        "\xE3",
        "\xF2",
        "\xE1",
        "\xE8",
        "\xF0",
        "\xA2",
        "\xB1",
        "\x1F"
        "a",
        "\x1B(N",
        "\x1B(B",
        "\x1Bg",
        "\x1Bs",
        "\x1B(2",
        "\x1B(3",
        "\x1B$1",
        "A",
        "x",
        "\xEB",
        "\xEC",
        "\xFA",
        "\x80",
        "\xFF",
        "\x1B",
        "\xC3",
    };
    unsigned seed = 12345;
    char in[256];
    for (int round = 0; round < 20000; round++) {
        size_t n = 0, k = 1 + (size_t)(rand_r(&seed) % 40);
        for (size_t i = 0; i < k; i++) {
            const char *p = pieces[rand_r(&seed) % (sizeof pieces / sizeof *pieces)];
            size_t l = strlen(p);
            if (n + l >= sizeof in)
                break;
            memcpy(in + n, p, l);
            n += l;
        }
        same_both_ways(&NFC, in, n, round);
        if (round % 64 == 0)
            mp__arena_reset(&arena);
    }
}

/* The decoder's list of starters that NFC may merge with the character
 * before them (mp__marc8_second_starter), rebuilt from utf8proc: every
 * code point whose full canonical decomposition ends in a starter and
 * which NFC composes back from it (Hangul syllables included) makes that
 * starter one. Equal over all of Unicode, and none of them is a
 * character a MARC-8 table produces. */
Test(marc8, second_starters_match_utf8proc, .timeout = 60)
{
    static unsigned char second[0x110000];
    memset(second, 0, sizeof second);
    for (utf8proc_int32_t cp = 0; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp < 0xE000)
            continue;
        utf8proc_int32_t d[8];
        int bound = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char(cp, d, 8, UTF8PROC_DECOMPOSE, &bound);
        if (k < 2 || k > 8)
            continue;
        utf8proc_int32_t last = d[k - 1];
        if (utf8proc_get_property(last)->combining_class != 0)
            continue;
        utf8proc_ssize_t r = utf8proc_normalize_utf32(d, k, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (r == 1 && d[0] == cp)
            second[last] = 1;
    }
    size_t found = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        found += second[cp];
        cr_assert_eq(mp__marc8_second_starter(cp), second[cp],
                     "U+%04X: the table says %d, utf8proc's compositions %d", cp,
                     mp__marc8_second_starter(cp), second[cp]);
    }
    cr_assert_gt(found, 50); /* Hangul's 19 vowels and 27 finals at least */
    for (size_t i = 0; i < MP__M8_EACC_N; i++)
        cr_assert(!second[mp__marc8_eacc_ucs[i]], "EACC U+%04X", mp__marc8_eacc_ucs[i]);
    for (int set = 0; set < MP__M8_NSETS; set++)
        for (int b = 0; b < 128; b++)
            cr_assert(!second[mp__marc8_sb[set][b] & MP__M8_CP], "set %d byte 0x%02X", set, b);
}

/* The shortcuts against utf8proc alone on text in the other scripts:
 * 20,000 random texts of EACC characters (ideographs, kana, Hangul,
 * punctuation - drawn from the whole table), Hebrew, Cyrillic, Greek and
 * Arabic runs with their marks, ANSEL marks, spaces, delimiters, ASCII
 * and broken bytes. */
Test(marc8, nfc_shortcuts_equal_utf8proc_other_scripts, .timeout = 60)
{
    static const char *const pieces[] = {
        "\x1B$1",
        "\x1B(B",
        "\x1B(2",
        "\x1B(N",
        "\x1B(Q",
        "\x1B(S",
        "\x1B(3",
        "\x1B(4",
        "\x1B)!E",
        " ",
        "\x1F"
        "a",
        "a",
        "\xE2",
        "\xE8",
        "\xF0",
        "\x80",
        "\xFF",
        "\x1B",
        "!",
        "`",
        "H",
        "y",
        "@",
        "\x7F",
    };
    unsigned seed = 4242;
    char in[512];
    for (int round = 0; round < 20000; round++) {
        size_t n = 0, k = 1 + (size_t)(rand_r(&seed) % 60);
        for (size_t i = 0; i < k && n + 8 < sizeof in; i++) {
            unsigned pick = (unsigned)rand_r(&seed) % 3;
            if (pick == 0) { /* an EACC character's three bytes */
                uint32_t c = mp__marc8_eacc_code[(size_t)rand_r(&seed) % MP__M8_EACC_N];
                in[n++] = (char)(c >> 16);
                in[n++] = (char)(c >> 8);
                in[n++] = (char)c;
            } else if (pick == 1) { /* a byte a single-byte set maps (or marks) */
                in[n++] = (char)(0x21 + rand_r(&seed) % 0x5E);
            } else {
                const char *p = pieces[(size_t)rand_r(&seed) % (sizeof pieces / sizeof *pieces)];
                size_t l = strlen(p);
                memcpy(in + n, p, l);
                n += l;
            }
        }
        same_both_ways(&NFC, in, n, round);
        /* unnormalised too: the single-byte runs against the general path */
        same_both_ways(&RAW, in, n, round);
        if (round % 64 == 0)
            mp__arena_reset(&arena);
    }
}
