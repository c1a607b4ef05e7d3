/*
 * json.c - the JSON strings of the `marcpipe` tool's own output (the --json
 * summary and --errors-json lines). Records are written by the library's
 * writers (marcpipe/write.h); this only quotes file names and messages.
 * Main thread only.
 */
#include "cli.h"
#include "utf8.h"

void mp__cli_json_string(FILE *out, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', out);
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc(c, out);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            fprintf(out, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            fputc(c, out);
            i++;
        } else {
            size_t bad;
            size_t len = mp__utf8_step(s + i, n - i, &bad);
            if (len == 0) { /* each invalid byte becomes one U+FFFD */
                fputs("\\ufffd", out);
                i++;
            } else {
                fwrite(s + i, 1, len, out);
                i += len;
            }
        }
    }
    fputc('"', out);
}
