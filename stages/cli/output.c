/*
 * output.c - record output formats of the `marcpipe` tool: yaz-marcdump's
 * line format and MARC-in-JSON. Runs on the main thread only.
 */
#include <string.h>
#include "cli.h"

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

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
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
            size_t len = utf8_seq(s + i, n - i);
            if (len == 0) {
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
