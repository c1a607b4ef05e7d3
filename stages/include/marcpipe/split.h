/*
 * marcpipe/split.h - planning byte ranges of an ISO 2709 file, so that
 * several readers (threads, processes, machines) read one file together.
 *
 *     mp_split_options so = MP_SPLIT_OPTIONS_INIT;
 *     so.parts = 8;
 *     mp_split_plan *plan;
 *     if (mp_split_plan_path(&plan, "big.mrc", &so) == MP_OK) {
 *         for (size_t i = 0; i < plan->count; i++) {
 *             mp_reader_options o = MP_READER_OPTIONS_INIT;
 *             o.range_start = plan->ranges[i].start;
 *             o.range_end = plan->ranges[i].end;
 *             ... mp_reader_open_path(&r, "big.mrc", &o) on some worker ...
 *         }
 *         mp_split_plan_free(plan);
 *     }
 *
 * A reader given [range_start, range_end) yields exactly the units
 * (records and error items) that begin in that range, and any partition
 * of a file into ranges composes to the whole-file read
 * (stages/FRAMING.md, "Byte ranges"). A plan is therefore never needed
 * for correctness - any cuts work - but a planned range starts on an
 * anchor (a record terminator followed by a leader: the start of a
 * record), so its reader frames nothing twice.
 *
 * Planning is cheap: it reads at most `search_limit` bytes after each cut
 * (usually a few hundred), never parses, never reads the file through.
 *
 * Thread-safety: the functions are reentrant; a plan is plain data owned
 * by the caller (free with mp_split_plan_free) and may be read from any
 * thread.
 */
#ifndef MARCPIPE_SPLIT_H
#define MARCPIPE_SPLIT_H

#include <stddef.h>
#include <stdint.h>
#include <marcpipe/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A byte range [start, end) of an input (stream offsets). */
typedef struct mp_range {
    uint64_t start;
    uint64_t end;
} mp_range;

/*
 * Split options. Every field's zero value is its default; `size` lets
 * the struct grow (set it to sizeof(mp_split_options), as the INIT macro
 * does; 0 means "this header's size").
 */
typedef struct mp_split_options {
    size_t size;           /* sizeof(mp_split_options), or 0 */
    unsigned parts;        /* at most this many ranges (0: from target_bytes) */
    uint64_t target_bytes; /* about this many bytes per range (0: from parts; both 0: 64 MiB) */
    uint64_t search_limit; /* bytes searched for an anchor after each cut (0: 1 MiB) */
} mp_split_options;

#define MP_SPLIT_OPTIONS_INIT                                                                      \
    {                                                                                              \
        sizeof(mp_split_options), 0, 0, 0                                                          \
    }

/*
 * A plan: `count` >= 1 ranges in file order that partition [0,
 * input_size): ranges[0].start == 0, ranges[i].end == ranges[i + 1].start,
 * the last end == input_size (an empty input gives one range [0, 0)).
 * Each start after the first is the first anchor at or after its cut,
 * or the cut itself when no anchor lies within search_limit bytes after
 * it (damaged data: the reader of such a range finds its first unit
 * itself). Cuts whose anchors coincide, and cuts after the last anchor,
 * are merged into their neighbours, so count may be below `parts`.
 */
typedef struct mp_split_plan {
    uint64_t input_size; /* bytes of the input (from the descriptor's position for _fd) */
    size_t count;        /* number of ranges */
    mp_range *ranges;    /* count ranges (owned by the plan) */
} mp_split_plan;

/*
 * Plans ranges of a file. *out owns the plan (free with
 * mp_split_plan_free). Returns MP_OK; MP_EINVAL (NULL out or path, parts
 * and target_bytes both set, an input that is not a regular file or
 * memory, a size smaller than the first release's struct); MP_ENOENT,
 * MP_EACCES, MP_EIO; MP_ENOMEM.
 *  _path: opens and closes the file.
 *  _fd:   borrowed descriptor of a regular file, not closed; offsets
 *         count from its current position (as mp_reader_open_fd's do);
 *         the position is not moved.
 *  _mem:  borrowed bytes, read during the call only.
 */
MP_EXPORT int mp_split_plan_path(mp_split_plan **out, const char *path,
                                 const mp_split_options *opts);
MP_EXPORT int mp_split_plan_fd(mp_split_plan **out, int fd, const mp_split_options *opts);
MP_EXPORT int mp_split_plan_mem(mp_split_plan **out, const void *data, size_t len,
                                const mp_split_options *opts);

/* Frees a plan. Accepts NULL. */
MP_EXPORT void mp_split_plan_free(mp_split_plan *plan);

#ifdef __cplusplus
}
#endif
#endif
