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
} mp__text_opts;

typedef struct mp__text_error {
    int kind;        /* mp_error_kind: MP_EK_ENCODING or MP_EK_MARC8, 0 if none */
    size_t position; /* byte offset in the input where the first problem is */
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

#endif
