/*
 * marcpipe/seqreader.h - the single-threaded sequential reader.
 *
 * No pipeline, no threads: the same framing and parsing code as the
 * pipeline, run inline over one growing window. It is the parity oracle
 * for the pipeline and the baseline of the benchmarks. Same options (the
 * thread, chunk and pool fields are ignored), same items, same positions.
 * Not thread-safe: one thread per mp_seqreader.
 */
#ifndef MARCPIPE_SEQREADER_H
#define MARCPIPE_SEQREADER_H

#include <marcpipe/reader.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_seqreader mp_seqreader;

MP_EXPORT int mp_seqreader_open_path(mp_seqreader **out, const char *path,
                                     const mp_reader_options *opts);
MP_EXPORT int mp_seqreader_open_fd(mp_seqreader **out, int fd, const mp_reader_options *opts);
MP_EXPORT int mp_seqreader_open_mem(mp_seqreader **out, const void *data, size_t len,
                                    const mp_reader_options *opts);
MP_EXPORT int mp_seqreader_open_cb(mp_seqreader **out, mp_read_fn fn, void *user,
                                   const mp_reader_options *opts);
/* Same contract as mp_reader_next. */
MP_EXPORT int mp_seqreader_next(mp_seqreader *r, const mp_record **rec);
MP_EXPORT const mp_error_info *mp_seqreader_error(const mp_seqreader *r);
MP_EXPORT void mp_seqreader_counts(const mp_seqreader *r, uint64_t *records, uint64_t *errors,
                                   uint64_t *bytes);
MP_EXPORT void mp_seqreader_close(mp_seqreader *r);

#ifdef __cplusplus
}
#endif
#endif
