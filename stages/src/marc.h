/*
 * marc.h - the ISO 2709 / MARC 21 format plugged into the pipeline
 * (internal to stages/).
 *
 * Three pieces, shared by the reader's pipeline mode (reader.c) and its
 * sequential mode (seq.c) so both give the same items at the same
 * positions:
 *
 *   mp__marc_frame       framing (mp__format.frame): see stages/FRAMING.md
 *   mp__marc_parse_item  parsing (mp__format.parse_item), runs on workers
 *   mp__consumer_*       turning items into MP_OK / MP_ERECORD / terminal
 *                        codes with mp_error_info and the error policies
 *
 * Synchronization table (who may run what concurrently):
 *
 *                    frame   parse_item   consumer_*
 *   frame            no      yes          yes
 *   parse_item       yes     yes (*)      yes (*)
 *   consumer_*       yes     yes (*)      no
 *
 *   (*) on different items; an item is handed over through the pipeline
 *       rings (release/acquire), never shared while being written.
 * The mp__marc_fmt is written once before the pipeline starts and only
 * read afterwards.
 */
#ifndef MP_MARC_H
#define MP_MARC_H

#include <stddef.h>
#include <stdint.h>
#include <marcpipe/reader.h>
#include <marcpipe/record.h>
#include "arena.h"
#include "pipe.h"
#include "source.h"
#include "text.h"

#define MP__RT         0x1D /* record terminator */
#define MP__FT         0x1E /* field terminator */
#define MP__SD         0x1F /* subfield delimiter */
#define MP__LEADER_LEN 24u
#define MP__MIN_RECORD 25u          /* leader + record terminator */
#define MP__JUNK_MAX   (64u * 1024) /* longest single junk span (then another item) */
/* Field bytes a record may index beyond twice its data area (iso2709.c). */
#define MP__FIELD_SLACK (64u * 1024)

#define MP__DEFAULT_MAX_RECORD (8u * 1024 * 1024) /* options.max_record_size = 0 */
#define MP__DEFAULT_CHUNK      (512u * 1024)      /* options.chunk_size = 0: at most this, */
#define MP__MIN_DEFAULT_CHUNK  (128u * 1024)      /* at least this: L2 / 4 between (reader.c) */
#define MP__MAX_THREADS        1024u              /* options.threads (as mp_pool_create) */
#define MP__MAX_CHUNKS         (1u << 20)         /* options.chunks_in_flight */

/*
 * Format state: written by the reader's open, read-only afterwards -
 * except the detection results (`format`, `found`, `xml_encoding`,
 * `resolved`): written once by whoever reads the first bytes of the input
 * (the producer task, or open for memory inputs, or the sequential
 * reader) before the first chunk is handed on; the scanner, the workers
 * and the consumer read them only after taking a chunk from a ring, which
 * orders them (release/acquire of FILLED, SCANNED, PARSED).
 */
typedef struct mp__marc_fmt {
    size_t max_record;  /* largest unit framed (opts->max_record_size) */
    int encoding;       /* mp_encoding */
    mp__text_opts text; /* utf8_handling, normalize, marc8_replace, double diacritics */
    int strict;         /* opts->strict: warnings become the record's error */
    mp_record_fn record_fn;
    void *record_fn_user;
    int out_format;        /* mp_format the workers serialise to (0: none) */
    unsigned out_flags;    /* MP_WRITE_* flags for it */
    int requested;         /* options.format (MP_FORMAT_AUTO: detect) */
    int format;            /* the format framed and parsed (never AUTO once resolved) */
    int found;             /* what the first bytes look like (MP_FORMAT_AUTO: nothing certain) */
    int resolved;          /* detection done */
    int mismatch;          /* 1: the input looks like `found`, not the `requested` format */
    char xml_encoding[40]; /* MARCXML: encoding the XML declaration names ("" = UTF-8) */
} mp__marc_fmt;

/* First problem found in a record (in the arena, or in a clone). */
typedef struct mp__rec_err {
    uint16_t kind; /* mp_error_kind */
    char tag[4];   /* "" when not field-specific */
    char subfield; /* 0 when not subfield-specific */
    char msg[115];
} mp__rec_err;

/* Who owns a record's memory; mp_record_free acts on it. */
enum mp__rec_owner {
    MP__OWN_ARENA = 0, /* borrowed: a chunk arena (or the sequential reader's) */
    MP__OWN_CLONE = 1, /* one block from mp_record_clone */
    MP__OWN_EDIT = 2,  /* editable (build.h): the record and its mp__edit */
    MP__OWN_VIEW = 3,  /* mp_record_view: this header only, the arrays are borrowed */
};

typedef struct mp__edit mp__edit; /* build.c */

/* A record: raw bytes + index. Written by the worker that parses it,
 * then only read (by the consumer and whoever it lends the record to).
 * Editable records (build.c) are written by their owner thread only.
 * For ISO 2709 input raw is the unit as read and leader == raw; for
 * MARCXML, MARC-in-JSON and MARCMaker input raw is the ISO 2709 form the
 * worker built in the arena (format.h, builder.c) and leader the 24 bytes
 * the input states. */
struct mp_record {
    /* ISO 2709 bytes (chunk, spill, window, arena or clone). Records without
     * input bytes (no_input: built, edited, views) keep only their 24-byte
     * leader here. */
    const unsigned char *raw;
    const char *leader; /* a text format's own 24-byte leader (arena or clone); NULL: raw's */
    uint32_t raw_len;
    uint32_t nfields;
    mp_field *fields; /* nfields entries (arena, clone, edit storage or the caller's) */
    const char *cn;   /* 001 data, NULL when absent */
    uint32_t cn_len;
    uint8_t dropped;   /* record_fn returned 1: not delivered */
    uint8_t owner;     /* enum mp__rec_owner */
    uint8_t no_input;  /* built, edited or a view: raw is the leader only */
    uint8_t converted; /* some text was decoded into the arena: it differs from raw */
    uint8_t text_raw;  /* read with MP_ENCODING_RAW: text as stored, maybe not UTF-8 */
    uint64_t offset;   /* stream offset of the unit (raw[0] for ISO 2709) */
    uint32_t unit_len; /* bytes of the unit in the input */
    uint64_t ordinal;  /* unit ordinal */
    mp__rec_err *err;  /* first error, NULL for a record without errors */
    /* The first min(nwarns, MP_RECORD_WARNINGS_KEPT) warnings (arena or
     * clone), NULL when none. */
    mp_warning *warns;
    uint32_t nwarns;    /* warnings found */
    uint32_t warns_cap; /* entries allocated at warns (worker only, while parsing) */
    /* Where each field's body lies in raw: [2 * i] offset, [2 * i + 1]
     * length. Only when decoding changed some field's data (NULL: every
     * field's data is its raw body). Arena or clone. */
    uint32_t *fraw;
    /* Set by the worker around record_fn only (the record's chunk arena),
     * NULL otherwise: what mp_record_annotate allocates from. */
    mp__arena *arena;
    const void *ann; /* mp_record_annotate's block (arena), or NULL */
    size_t ann_len;
    /* The serialised record (reader option output_format), written by the
     * worker that parsed it, in the chunk arena or the raw bytes
     * themselves; read by the consumer (mp_writer_write). out_rc: the
     * serialiser's refusal (MP_ETOOBIG, MP_EINVAL), 0 otherwise; out ==
     * NULL with out_rc == 0 means "not prepared" (serialise inline). */
    const unsigned char *out;
    uint32_t out_len;
    int32_t out_rc;
    uint32_t out_flags; /* the flags out was made with */
    uint8_t out_format; /* mp_format of out, 0 when none */
    mp__edit *edit;     /* MP__OWN_EDIT: the owned storage (build.c) */
};

/* Frees an MP__OWN_EDIT record and its storage (build.c). */
void mp__record_edit_free(mp_record *rec);

/* The leader the record states: a text format's own (rec->leader), else
 * the first 24 bytes of raw (ISO 2709 input, built, edited, views). */
static inline const char *mp__rec_leader(const mp_record *rec)
{
    return rec->leader ? rec->leader : (const char *)rec->raw;
}

/* Copies the caller's options into *out: the first opts->size bytes
 * (0: all), zero for fields past them, all zero for NULL. MP_OK, or
 * MP_EINVAL for a size smaller than the first release's struct. */
int mp__reader_options_copy(mp_reader_options *out, const mp_reader_options *opts);

/* Fills fmt from resolved reader options. MP_OK or MP_EINVAL. */
int mp__marc_fmt_init(mp__marc_fmt *fmt, const mp_reader_options *opts);

/* Records the first problem of a record (later ones are not kept):
 * allocates its mp__rec_err in the arena. Returns MP_OK, or MP_ENOMEM
 * (then the record has no error recorded). Worker owning the record. */
__attribute__((format(printf, 6, 7))) int mp__rec_set_error(mp_record *rec, mp__arena *a, int kind,
                                                            const char *tag, char sub,
                                                            const char *fmt, ...);

/* Runs record_fn on a parsed record and finishes its item:
 * item->result = rec, item->status = 0 or MP_ERECORD. MP_OK or
 * MP_ENOMEM. Worker owning the record. */
int mp__record_done(const mp__marc_fmt *fmt, mp_record *rec, mp__item *item, mp__arena *a);

/* mp__format.frame for ISO 2709. Pure function of (p[0..avail), final,
 * fmt->max_record). Scanner thread (one at a time). */
mp__frame_rc mp__marc_frame(const void *fmt, const unsigned char *p, size_t avail, int final,
                            mp__frame *out);

/*
 * 1 when an anchor starts right after p[0]: p[0] is a record terminator
 * and a plausible leader follows (stages/FRAMING.md, "Anchors"). Every
 * anchor starts a unit of the whole-input framing. n: the bytes available
 * at p, at least 25 unless the input ends sooner. Pure; any thread.
 */
int mp__marc_anchor(const unsigned char *p, size_t n);

/* mp__format.parse_item: indexes one RECORD item into the arena and runs
 * record_fn. item->result = the mp_record (never NULL on MP_OK),
 * item->status = 0 or MP_ERECORD (damaged but indexed). Reentrant. */
int mp__marc_parse_item(const void *fmt, mp__item *item, mp__arena *arena);

/* ---- the consumer's side: items -> return codes ---------------------- */

/* Consumer state. Owned by one reader; its consumer thread only. */
typedef struct mp__consumer {
    const mp__marc_fmt *fmt; /* the reader's format (for the format-mismatch message) */
    mp_policy policy;
    uint64_t max_errors;
    size_t max_record;
    uint64_t records;       /* good records delivered */
    uint64_t errors;        /* error items (also skipped ones) */
    uint64_t units;         /* items seen: delivered, skipped or dropped */
    uint64_t bytes;         /* bytes of those items (they tile the input, or the range) */
    uint64_t pos;           /* stream offset just past the last item */
    uint64_t warnings;      /* warnings on good records delivered */
    uint64_t warned;        /* good records delivered with at least one warning */
    uint64_t warn_kind[32]; /* warnings by kind (mp_counts.warnings_by_kind) */
    int over;               /* terminal code once the stream is over, else 0 */
    int format;             /* fmt->format once an item or the terminal chunk came through
                             * the rings (or the sequential reader detected it); 0 before */
    int last_rc;            /* code of the last delivered item (for ESTOPPED) */
    mp_error_info info;
    /* The bytes of the unit info describes (item data: chunk, spill or
     * window), valid until the next call; NULL for failures. */
    const unsigned char *err_data;
    size_t err_len;
} mp__consumer;

void mp__consumer_init(mp__consumer *c, const mp_reader_options *opts, const mp__marc_fmt *fmt);

/*
 * One item. Returns 1 and sets *rc (MP_OK / MP_ERECORD) and *rec when the
 * item is delivered, 0 when it is not (a dropped record, an error under
 * SKIP), or a negative terminal code (MP_ELIMIT) after which c->over is
 * set.
 */
int mp__consumer_item(mp__consumer *c, const mp__item *it, const mp_record **rec, int *rc);

/* The stream's end: MP_EOF or an I/O failure at `offset`. Returns the
 * terminal code (also stored in c->over). */
int mp__consumer_end(mp__consumer *c, int status, int sys_errno, uint64_t offset);

/* Applied at the top of every next(): returns c->over or 0 (and turns a
 * STOP-policy error into MP_ESTOPPED). */
int mp__consumer_check(mp__consumer *c);

/* ---- byte ranges (range.c) -------------------------------------------- */

/*
 * The largest anchor at or before `start` (0 when none): where a reader of
 * a range that starts there begins framing. `size`: the source's bytes
 * (mp__src_size). Reads with mp__src_pread only. MP_OK, MP_EIO, MP_ENOMEM.
 */
int mp__range_resync(mp__src *src, uint64_t size, uint64_t start, uint64_t *q0);

/* ---- the sequential mode: frame and parse on the caller's thread ------- */

/* The byte range of a read (all zero: the whole input). */
typedef struct mp__seq_range {
    uint64_t resync;        /* stream offset where framing starts: an anchor (or 0) */
    uint64_t from;          /* units starting before this are dropped */
    uint64_t until;         /* the first unit starting at or after this ends the read (0: none) */
    uint64_t first_ordinal; /* ordinal of the first unit delivered */
    int64_t size_hint;      /* bytes the read covers when known at open, else -1: sizes the
                             * window of a small input */
} mp__seq_range;

/* One growing window over the source, frame() and parse_item() run
 * inline, one arena reset per record. Owned by one reader; consumer
 * thread only. */
typedef struct mp__seq {
    mp__marc_fmt *fmt;        /* the reader's format (borrowed; detection writes it) */
    mp__consumer *con;        /* the reader's consumer (borrowed) */
    mp__src *src;             /* the reader's source (borrowed) */
    unsigned char *buf;       /* owned window buffer (NULL for memory input) */
    const unsigned char *win; /* window: buf, or the caller's memory */
    size_t cap;               /* buf capacity */
    size_t start, end;        /* unconsumed bytes: win[start..end) */
    uint64_t win_off;         /* stream offset of win[0] */
    int eof;                  /* source ended (or failed) */
    int io_status, io_errno;  /* failure behind eof, 0 at a clean end */
    uint64_t io_off;          /* stream offset of the failure */
    uint64_t ordinal;         /* next unit ordinal */
    mp__seq_range range;      /* the byte range read */
    mp__arena arena;          /* index of the current record */
    mp__item item;            /* the current item */
} mp__seq;

/* MP_OK or MP_ENOMEM (then nothing to free). A source that is not memory
 * must already be positioned at range->resync (mp__src_seek). Detection
 * writes fmt (mp__fmt_resolve). */
int mp__seq_init(mp__seq *s, mp__marc_fmt *fmt, mp__consumer *con, mp__src *src,
                 const mp__seq_range *range);
/* Same contract as mp_reader_next. */
int mp__seq_next(mp__seq *s, const mp_record **rec);
/* Frees the window and arena; does not close the source. */
void mp__seq_free(mp__seq *s);

#endif
