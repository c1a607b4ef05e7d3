/*
 * text.h - text decoding used by the MARC parser workers (internal).
 *
 * Converts one field's bytes (MARC-8 or UTF-8) into UTF-8 in the chunk
 * arena. Pure and reentrant: workers call it concurrently on different
 * records; the options are shared read-only.
 */
#ifndef MP_TEXT_H
#define MP_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include "arena.h"

typedef struct mp__text_opts {
    int utf8_handling; /* mp_utf8_handling: STRICT, REPLACE, IGNORE */
    int normalize;     /* 1: NFC the output of MARC-8 conversion */
    int marc8_replace; /* 1: unknown MARC-8 -> U+FFFD instead of an error */
    int dd_halves;     /* 1: MP_MARC8_DOUBLE_HALVES (U+FE20-FE23), 0: U+0361/U+0360 */
    /* 1: the text is a data field's subfields: the byte after each 0x1F is
     * a subfield code and is copied as is when it is ASCII (an ESC there is
     * a code, not an escape sequence). */
    int subfield_codes;
} mp__text_opts;

typedef struct mp__text_error {
    int kind;        /* mp_error_kind: MP_EK_ENCODING or MP_EK_MARC8, 0 if none */
    size_t position; /* byte offset in the input where the first problem is */
    unsigned count;  /* problems found (MARC-8); 1 for invalid UTF-8 */
    char message[96];
} mp__text_error;

/*
 * MARC-8 -> UTF-8. The G0/G1 state starts at Basic Latin / ANSEL for
 * every call (MARC 21: each field starts in the default sets). Escape
 * sequences, combining marks moved after their base character, EACC
 * multibyte; the output is NFC when o->normalize. C0 controls pass
 * through unchanged and a subfield delimiter (0x1F; also 0x1D, 0x1E)
 * re-establishes the default sets, as yaz and pymarc do per subfield, so
 * converting a whole field equals converting its subfields one by one.
 * The double diacritics follow o->dd_halves. In the EACC set, the
 * Innovative Interfaces (III) vendor codes 0x21203D (U+2026), 0x212040
 * (U+201C), 0x7F2014 (U+2014), 0x7F2019 (U+2019), 0x7F2020 (U+201D) and
 * 0x7F2122 (U+2122) are mapped, as pymarc maps them, without a problem.
 * An ESC that does not start a complete escape sequence (or one whose
 * technique-1 final is unknown) is one problem and only the ESC is
 * replaced: the bytes after it are decoded as text, so no valid text is
 * lost around it.
 *
 * Text that is pure ASCII (no ESC, no byte >= 0x80) is returned as is:
 * *out = in (zero-copy). Otherwise *out and *out_len point into the arena
 * (not NUL-terminated). err may be NULL; when given, err->kind is reset
 * to 0 and, on a problem (unknown character, broken or incomplete escape,
 * incomplete EACC character), filled with MP_EK_MARC8 and the byte
 * position of the FIRST problem. The output holds one U+FFFD per problem
 * either way, so the record stays usable. Returns 0, or 1 when there was
 * a problem and !o->marc8_replace, or MP_ENOMEM when the arena failed.
 * Thread-safety: reentrant; o is only read.
 */
int mp__marc8_to_utf8(const mp__text_opts *o, const unsigned char *in, size_t n, mp__arena *a,
                      const char **out, size_t *out_len, mp__text_error *err);

/*
 * 1 when in[0..n) holds no byte >= 0x80 (and no ESC when `esc`, as MARC-8
 * reads it): text that decodes to itself in either encoding, with nothing
 * to warn about. 16 bytes at a time, then words. Reentrant.
 */
int mp__text_plain(const unsigned char *in, size_t n, int esc);

/*
 * 1 (default): mp__marc8_to_utf8 answers the common NFC shapes (an ASCII
 * letter with one mark, BMP starters nothing composes with) from memoised
 * utf8proc results instead of normalising the rest of the field, and puts
 * runs of a single-byte G0 set other than ASCII in a loop of their own.
 * Written only by tests and fuzz_marc8 (0: everything through utf8proc
 * and the general path, to compare), before any thread decodes; read by
 * every decoding thread.
 */
extern int mp__marc8_nfc_shortcuts;

/* 1 when cp is a starter (combining class 0) that is the second character
 * of a canonical composition - NFC may merge it with the character before
 * it - by marc8.c's table (marc8_test checks it against utf8proc). Pure. */
int mp__marc8_second_starter(uint32_t cp);

/*
 * UTF-8 validation with the utf8_handling policy (overlongs, surrogates
 * and code points > U+10FFFF are invalid). When the input is valid,
 * *out = in (zero-copy) and returns 0. Otherwise err (may be NULL) gets
 * MP_EK_ENCODING and the position of the first invalid byte, and
 * STRICT: returns 1 with *out = in, *out_len = n; REPLACE (one U+FFFD per
 * maximal invalid subsequence, as Python's 'replace') / IGNORE (invalid
 * bytes dropped): writes the repaired text into the arena and returns 0.
 * MP_ENOMEM on arena failure. Thread-safety: reentrant; o is only read.
 */
int mp__utf8_check(const mp__text_opts *o, const unsigned char *in, size_t n, mp__arena *a,
                   const char **out, size_t *out_len, mp__text_error *err);

/*
 * 1 (default): the AVX2 paths, on CPUs that have AVX2 (utf8_avx2.h):
 * mp__utf8_check validates texts of 64 bytes and more 64 bytes per step
 * before looking for the first bad byte one sequence at a time, and the
 * ISO 2709 parser scans a record's data area 64 bytes per step,
 * validating its UTF-8 in the same pass. 0: the portable code alone.
 * Written only by tests and fuzz_marc8 (to compare the two), before any
 * thread parses or validates; read by every such thread.
 */
extern int mp__utf8_simd;

/* 1 when the AVX2 paths run (mp__utf8_simd, and built for x86-64 on a
 * CPU with AVX2); for tests and benchmarks. Reentrant. */
int mp__utf8_simd_active(void);

/*
 * pymarc's reading of a subfield code byte that is not ASCII. s[0..n) is
 * the subfield from its code byte (s[0] >= 0x80) to the next delimiter or
 * the field end. When s[0..n) is valid UTF-8, its characters are taken in
 * order and the code is the first ASCII character of their compatibility
 * decomposition (NFKD), and the code takes the first character's bytes;
 * otherwise the bytes are read as Latin-1 the same way and the code takes
 * one byte. Returns the ASCII code (0x00-0x7F) and sets *skip (the bytes
 * the code takes, the value follows them), or -1 when no character of the
 * subfield decomposes to ASCII (pymarc then fails on the record).
 * Thread-safety: pure.
 */
int mp__subfield_code_normalize(const unsigned char *s, size_t n, size_t *skip);

#endif
