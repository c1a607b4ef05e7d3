/*
 * marcpipe/common.h - export macro, error codes, version.
 *
 * Every fallible marcpipe function returns 0 (MP_OK) or a negative MP_E*
 * code from the single X-macro list below; mp_strerror() and mp_err_name()
 * are generated from the same list. All functions in this header are
 * thread-safe and allocate nothing.
 */
#ifndef MARCPIPE_COMMON_H
#define MARCPIPE_COMMON_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MP_STATIC_DEFINE)
#define MP_EXPORT
#else
#define MP_EXPORT __attribute__((visibility("default")))
#endif

#define MP_VERSION_MAJOR  0
#define MP_VERSION_MINOR  1
#define MP_VERSION_PATCH  0
#define MP_VERSION_STRING "0.1.0"

/*
 * XX(name, value, message). Values are stable ABI. The codes that nothing
 * returned (ENOTSUP -15, EINTR -16, ERANGE -17) were dropped before the
 * ABI settled; ETOOBIG, dropped with them, came back at its old value -9
 * with the writers (a record over the output format's size limits). A new
 * code takes the next value below the lowest one ever used (ECLOSED -18,
 * EFORKED -19, EISDIR -20; next: -21).
 */
#define MP_ERRNO_MAP(XX)                                                                           \
    XX(OK, 0, "success")                                                                           \
    XX(EOF, -1, "end of stream")                                                                   \
    XX(ERECORD, -2, "record error: an error item describes it")                                    \
    XX(ENOMEM, -3, "out of memory")                                                                \
    XX(EINVAL, -4, "invalid argument")                                                             \
    XX(EIO, -5, "input/output error")                                                              \
    XX(ECANCELED, -6, "pipeline was cancelled")                                                    \
    XX(ENOENT, -7, "no such file or directory")                                                    \
    XX(EACCES, -8, "permission denied")                                                            \
    XX(ETOOBIG, -9, "record too large for the output format")                                      \
    XX(ESTOPPED, -10, "stopped at the first error (policy)")                                       \
    XX(ELIMIT, -11, "error cap reached")                                                           \
    XX(EAGAIN, -12, "resource temporarily unavailable")                                            \
    XX(EBUSY, -13, "resource busy")                                                                \
    XX(ETHREAD, -14, "could not start a thread")                                                   \
    XX(ECLOSED, -18, "the pool is closed")                                                         \
    XX(EFORKED, -19, "handle created before fork(): unusable in the child process")                \
    XX(EISDIR, -20, "is a directory")

typedef enum mp_errno {
#define MP__ERRNO_ENUM(name, value, msg) MP_##name = (value),
    MP_ERRNO_MAP(MP__ERRNO_ENUM)
#undef MP__ERRNO_ENUM
} mp_errno;

/* Human-readable message for an MP_* code; never NULL ("unknown error"). */
MP_EXPORT const char *mp_strerror(int code);

/* Symbolic name of an MP_* code, e.g. "MP_EIO"; never NULL. */
MP_EXPORT const char *mp_err_name(int code);

/* "0.1.0" */
MP_EXPORT const char *mp_version(void);

#ifdef __cplusplus
}
#endif
#endif
