/*
 * error.c - mp_strerror / mp_err_name / mp_version, generated from the
 * MP_ERRNO_MAP X-macro in <marcpipe/common.h>. Thread-safe; no state.
 */
#include <marcpipe/common.h>

MP_EXPORT const char *mp_strerror(int code)
{
    switch (code) {
#define MP__ERRNO_MSG(name, value, msg)                                                            \
    case MP_##name:                                                                                \
        return msg;
        MP_ERRNO_MAP(MP__ERRNO_MSG)
#undef MP__ERRNO_MSG
    default:
        return "unknown error";
    }
}

MP_EXPORT const char *mp_err_name(int code)
{
    switch (code) {
#define MP__ERRNO_NAME(name, value, msg)                                                           \
    case MP_##name:                                                                                \
        return "MP_" #name;
        MP_ERRNO_MAP(MP__ERRNO_NAME)
#undef MP__ERRNO_NAME
    default:
        return "MP_UNKNOWN";
    }
}

MP_EXPORT const char *mp_version(void)
{
    return MP_VERSION_STRING;
}
