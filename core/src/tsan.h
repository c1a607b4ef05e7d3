/*
 * tsan.h - ThreadSanitizer annotations for synchronisation TSan cannot
 * see (ck_pr inline assembly, uninstrumented liburcu). Empty unless the
 * build defines MP_TSAN (-DMP_SANITIZE=thread).
 *
 * MP__TSAN_RELEASE(a) before publishing through such a channel,
 * MP__TSAN_ACQUIRE(a) after receiving from it: TSan then orders the
 * publisher's earlier accesses before the receiver's later ones.
 */
#ifndef MP_TSAN_H
#define MP_TSAN_H

#ifdef MP_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
void AnnotateIgnoreReadsBegin(const char *file, int line);
void AnnotateIgnoreReadsEnd(const char *file, int line);
void AnnotateIgnoreWritesBegin(const char *file, int line);
void AnnotateIgnoreWritesEnd(const char *file, int line);
#define MP__TSAN_RELEASE(a) __tsan_release((void *)(a))
#define MP__TSAN_ACQUIRE(a) __tsan_acquire((void *)(a))
#define MP__TSAN_IGNORE_BEGIN()                                                                    \
    do {                                                                                           \
        AnnotateIgnoreReadsBegin(__FILE__, __LINE__);                                              \
        AnnotateIgnoreWritesBegin(__FILE__, __LINE__);                                             \
    } while (0)
#define MP__TSAN_IGNORE_END()                                                                      \
    do {                                                                                           \
        AnnotateIgnoreWritesEnd(__FILE__, __LINE__);                                               \
        AnnotateIgnoreReadsEnd(__FILE__, __LINE__);                                                \
    } while (0)
#else
#define MP__TSAN_RELEASE(a)     ((void)0)
#define MP__TSAN_ACQUIRE(a)     ((void)0)
#define MP__TSAN_IGNORE_BEGIN() ((void)0)
#define MP__TSAN_IGNORE_END()   ((void)0)
#endif

#endif
