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

typedef struct mp_text_opts {
    int utf8_handling; /* mp_utf8_handling: STRICT, REPLACE, IGNORE */
    int normalize;     /* 1: NFC the output of MARC-8 conversion */
    int marc8_replace; /* 1: unknown MARC-8 -> U+FFFD instead of an error */
} mp_text_opts;

typedef struct mp_text_error {
    int kind;        /* mp_error_kind: MP_EK_ENCODING or MP_EK_MARC8, 0 if none */
    size_t position; /* byte offset in the input where the first problem is */
    char message[96];
} mp_text_error;

/*
 * MARC-8 -> UTF-8. The G0/G1 state starts at Basic Latin / ANSEL for
 * every call (MARC 21: each field starts in the default sets). Escape
 * sequences, combining marks moved after their base character, EACC
 * multibyte. On success *out/*out_len (in the arena, not NUL-terminated)
 * and 0. Returns 1 when the text was converted with a reported problem
 * (err filled; the output holds U+FFFD where the problem was, so the
 * record stays usable), MP_ENOMEM when the arena failed.
 */
int mp__marc8_to_utf8(const mp_text_opts *o, const unsigned char *in, size_t n, mp_arena *a,
                      const char **out, size_t *out_len, mp_text_error *err);

/*
 * UTF-8 validation with the utf8_handling policy. When the input is
 * valid, *out = in (zero-copy) and returns 0. Otherwise STRICT: returns 1
 * with err filled and *out = in; REPLACE / IGNORE: writes the repaired
 * text into the arena and returns 0. MP_ENOMEM on arena failure.
 */
int mp__utf8_check(const mp_text_opts *o, const unsigned char *in, size_t n, mp_arena *a,
                   const char **out, size_t *out_len, mp_text_error *err);

#endif
