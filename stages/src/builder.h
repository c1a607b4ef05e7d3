/*
 * builder.h - the record builder shared by the text formats (internal to
 * stages/): MARCXML, MARC-in-JSON and MARCMaker parsers call it with the
 * leader, fields and subfields they read, in order, and it makes the one
 * record model out of them.
 *
 * What it builds, all in the chunk arena of the worker's chunk:
 *   - raw: the record as ISO 2709 (leader with the real record length and
 *     base address, "22" at 10-11, "4500" at 20-23, 'a' at 09 when the
 *     text is UTF-8; a directory; the field bodies with their terminators),
 *   - the index (mp_field / mp_subfield spans pointing into raw),
 *   - the leader as the input stated it (mp_record.leader),
 * then runs record_fn (mp__record_done). No malloc: the data area grows
 * by doubling inside the arena, so a record costs at most twice its size.
 *
 * Text is appended as it comes (a SAX parser delivers it in pieces). The
 * first problem found is the record's error (mp__rec_set_error); the
 * record is still built, so a damaged record is an error item with a
 * record (MP_ERECORD), as for ISO 2709.
 *
 * Not thread-safe: one builder per record, owned by the worker parsing it.
 */
#ifndef MP_BUILDER_H
#define MP_BUILDER_H

#include <stddef.h>
#include <stdint.h>
#include "marc.h"

typedef struct mp__bfield {
    char tag[4];
    uint8_t is_control;
    uint32_t start; /* body offset in the data area */
    uint32_t len;   /* body length (without the field terminator) */
    uint32_t sub0;  /* index of its first subfield */
    uint32_t nsub;
} mp__bfield;

typedef struct mp__bsub {
    uint32_t start; /* value offset in the data area */
    uint32_t len;
    char code;
} mp__bsub;

enum mp__bld_open {
    MP__BLD_NONE = 0,
    MP__BLD_LEADER = 1,
    MP__BLD_CONTROL = 2,
    MP__BLD_DATA = 3,     /* a data field, between subfields */
    MP__BLD_SUB = 4,      /* a subfield of the open data field */
    MP__BLD_SUB_SKIP = 5, /* a subfield without a usable code: its text is dropped */
};

typedef struct mp__bld {
    const mp__marc_fmt *fmt;
    mp__item *item;
    mp__arena *a;
    mp_record *rec;
    char leader[24];
    size_t leader_len; /* leader text bytes seen (may exceed 24) */
    int leader_seen;
    int open;      /* enum mp__bld_open */
    int check_ctl; /* text may hold ISO 2709 delimiters (0x1D-0x1F): replace them by '?' + error */
    int utf8;      /* the text is UTF-8: raw leader/09 = 'a' */
    int oom;
    unsigned char *d; /* data area */
    size_t dlen, dcap;
    mp__bfield *f;
    size_t nf, fcap;
    mp__bsub *s;
    size_t ns, scap;
    size_t wcap; /* entries allocated at rec->warns */
} mp__bld;

/* Starts a record for `item` (size_hint: expected data bytes). MP_OK or
 * MP_ENOMEM. */
int mp__bld_init(mp__bld *b, const mp__marc_fmt *fmt, mp__item *item, mp__arena *a,
                 size_t size_hint);

/* The first problem of the record (kind: mp_error_kind); later ones are
 * dropped. tag may be NULL, sub 0. */
__attribute__((format(printf, 5, 6))) void mp__bld_error(mp__bld *b, int kind, const char *tag,
                                                         char sub, const char *fmt, ...);

/* A problem that leaves the record readable (FRAMING.md, "Checks"): a
 * warning on the record (offset: the unit's start; the first
 * MP_RECORD_WARNINGS_KEPT kept, all counted), or with options.strict the
 * record's error. */
__attribute__((format(printf, 5, 6))) void mp__bld_warn(mp__bld *b, int kind, const char *tag,
                                                        char sub, const char *fmt, ...);

void mp__bld_leader_begin(mp__bld *b);
void mp__bld_leader_end(mp__bld *b); /* a leader of another length than 24: LEADER error */

/* tag: the tag text (n bytes; NULL when missing). A tag that is not 3
 * printable ASCII characters is an error (FIELD); '?' stands in. */
void mp__bld_control_begin(mp__bld *b, const char *tag, size_t n);
void mp__bld_control_end(mp__bld *b);
void mp__bld_data_begin(mp__bld *b, const char *tag, size_t n);
/* Indicator `which` (1 or 2) of the open data field: p == NULL: absent
 * (blank, nothing said). Otherwise (FRAMING.md, "What a text format
 * makes"): empty is a blank with a warning; a control character is kept
 * with a warning; more than one character: the first is read, with a
 * warning; a non-ASCII first byte or an ISO 2709 delimiter is an
 * INDICATOR error (blank). May come after subfields (JSON). */
void mp__bld_indicator(mp__bld *b, int which, const char *p, size_t n);
/* code: NULL when missing. One ASCII character: kept (a control
 * character or space with a warning, not a delimiter byte); anything else
 * is a SUBFIELD error: the first character stands in when usable, and
 * without one the subfield is dropped. */
void mp__bld_sub_begin(mp__bld *b, const char *code, size_t n);
void mp__bld_sub_end(mp__bld *b);
void mp__bld_data_end(mp__bld *b);

/* Text of the open leader, control field or subfield (appended); text
 * elsewhere is ignored. */
void mp__bld_text(mp__bld *b, const char *p, size_t n);

/* Writes raw and the index, runs record_fn, finishes the item. MP_OK or
 * MP_ENOMEM. An element still open is closed first. */
int mp__bld_finish(mp__bld *b);

#endif
