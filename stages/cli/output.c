/*
 * output.c - record output formats of the `marcpipe` tool: yaz-marcdump's
 * line format and MARC-in-JSON. Runs on the main thread only.
 */
#include <string.h>
#include "cli.h"
#include "utf8.h"

void mp__cli_dump_line(FILE *out, const mp_record *rec)
{
    fwrite(mp_record_leader(rec), 1, 24, out);
    fputc('\n', out);
    uint32_t n = mp_record_field_count(rec);
    for (uint32_t i = 0; i < n; i++) {
        const mp_field *f = mp_record_field(rec, i);
        if (f == NULL)
            break;
        fwrite(f->tag, 1, 3, out);
        fputc(' ', out);
        if (f->is_control) {
            fwrite(f->data, 1, f->len, out);
        } else {
            fputc(f->ind1, out);
            fputc(f->ind2, out);
            for (uint32_t k = 0; k < f->nsubfields; k++) {
                const mp_subfield *s = &f->subfields[k];
                fputs(" $", out);
                fputc(s->code, out);
                fputc(' ', out);
                fwrite(s->data, 1, s->len, out);
            }
        }
        fputc('\n', out);
    }
    fputc('\n', out);
}

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
            if (len == 0) { /* each invalid byte becomes one U+FFFD (cli.h) */
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

void mp__cli_dump_json(FILE *out, const mp_record *rec)
{
    fputs("{\"leader\":", out);
    mp__cli_json_string(out, mp_record_leader(rec), 24);
    fputs(",\"fields\":[", out);
    uint32_t n = mp_record_field_count(rec);
    for (uint32_t i = 0; i < n; i++) {
        const mp_field *f = mp_record_field(rec, i);
        if (f == NULL)
            break;
        if (i > 0)
            fputc(',', out);
        fputc('{', out);
        mp__cli_json_string(out, f->tag, strnlen(f->tag, 3));
        fputc(':', out);
        if (f->is_control) {
            mp__cli_json_string(out, f->data, f->len);
        } else {
            fputs("{\"subfields\":[", out);
            for (uint32_t k = 0; k < f->nsubfields; k++) {
                const mp_subfield *s = &f->subfields[k];
                fputs(k > 0 ? ",{" : "{", out);
                mp__cli_json_string(out, &s->code, 1);
                fputc(':', out);
                mp__cli_json_string(out, s->data, s->len);
                fputc('}', out);
            }
            fputs("],\"ind1\":", out);
            mp__cli_json_string(out, &f->ind1, 1);
            fputs(",\"ind2\":", out);
            mp__cli_json_string(out, &f->ind2, 1);
            fputc('}', out);
        }
        fputc('}', out);
    }
    fputs("]}\n", out);
}
