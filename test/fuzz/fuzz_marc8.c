/*
 * fuzz_marc8.c - libFuzzer target for the MARC-8 decoder (stages/src/marc8.c).
 *
 * Converts the input with and without NFC and checks the invariants the
 * parser relies on: rc is 0 or 1 (never a crash, never MP_ENOMEM with a
 * working arena), the output is valid UTF-8, a reported problem lies
 * inside the input, and converting subfield by subfield equals converting
 * the whole text, and the NFC shortcuts give utf8proc's own answer; and
 * that the 32-byte UTF-8 validator judges the input as the byte rule does.
 * Build: -DMP_BUILD_FUZZ=ON with clang (test/fuzz/).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "arena.h"
#include "text.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mp__arena a;
    static int init;
    if (!init) {
        mp__arena_init(&a, 1 << 16);
        init = 1;
    }
    const mp__text_opts strict = {.utf8_handling = 0};
    for (int nfc = 0; nfc < 2; nfc++) {
        /* The double diacritics mapping varies with nfc: both are covered. */
        mp__text_opts o = {
            .utf8_handling = 0, .normalize = nfc, .marc8_replace = 0, .dd_halves = nfc};
        const char *out, *v;
        size_t len, vlen;
        mp__text_error err;
        int rc = mp__marc8_to_utf8(&o, data, size, &a, &out, &len, &err);
        check(rc == 0 || rc == 1);
        check(rc == 0 || (err.kind != 0 && err.position < size));
        check(mp__utf8_check(&strict, (const unsigned char *)out, len, &a, &v, &vlen, NULL) == 0);
        if (nfc) {
            /* The NFC shortcuts answer exactly as utf8proc alone would. */
            const char *slow;
            size_t slow_len;
            mp__marc8_nfc_shortcuts = 0;
            int rs = mp__marc8_to_utf8(&o, data, size, &a, &slow, &slow_len, NULL);
            mp__marc8_nfc_shortcuts = 1;
            check(rs == rc && slow_len == len && memcmp(slow, out, len) == 0);
        }
        if (!nfc) {
            /* Subfield delimiters reset the state: pieces concatenate. */
            size_t acc = 0, s = 0;
            for (size_t i = 1; i <= size; i++) {
                if (i == size || data[i] == 0x1f) {
                    const char *p;
                    size_t l;
                    mp__marc8_to_utf8(&o, data + s, i - s, &a, &p, &l, NULL);
                    check(acc + l <= len && memcmp(out + acc, p, l) == 0);
                    acc += l;
                    s = i;
                }
            }
            check(acc == len);
        }
    }
    {
        /* The 32-byte UTF-8 validator and the byte rule agree on the input. */
        const char *v;
        size_t vlen;
        mp__text_error e1, e0;
        int r1 = mp__utf8_check(&strict, data, size, &a, &v, &vlen, &e1);
        mp__utf8_simd = 0;
        int r0 = mp__utf8_check(&strict, data, size, &a, &v, &vlen, &e0);
        mp__utf8_simd = 1;
        check(r1 == r0 && (r0 == 0 || e1.position == e0.position));
    }
    mp__arena_reset(&a);
    return 0;
}
