/*
 * marcpipe/stats.h - per-stage counters of one pipeline.
 *
 * Counters are updated by the thread running each stage with relaxed
 * atomic adds and may be read at any time, from any thread, while the
 * pipeline runs: a snapshot is consistent per counter, not across
 * counters.
 *
 * CPU time is sampled, not measured on every step: on Linux
 * CLOCK_THREAD_CPUTIME_ID is a system call (1 us on a paravirtualised
 * guest), too dear for every chunk hand-off. Each stage times its first
 * step and then about one step in 16, chosen at random per thread;
 * cpu_ns = (measured time of the timed steps) x steps / timed_steps, an
 * unbiased estimate whose error shrinks with the number of steps (exact
 * when steps == timed_steps).
 */
#ifndef MARCPIPE_STATS_H
#define MARCPIPE_STATS_H

#include <stdint.h>
#include <marcpipe/common.h>

#ifdef __cplusplus
extern "C" {
#endif

enum mp_stage_id {
    MP_STAGE_PRODUCER = 0, /* I/O: fills chunks from the source */
    MP_STAGE_SCANNER = 1,  /* finds record boundaries, numbers batches */
    MP_STAGE_PARSER = 2,   /* the worker pool: parses records */
    MP_STAGE_CONSUMER = 3, /* the iterator: reorders, delivers, releases */
    MP_STAGE_COUNT = 4
};

typedef struct mp_stage_stats {
    uint64_t items;       /* chunks (producer, scanner, parser) or records delivered (consumer) */
    uint64_t bytes;       /* bytes handled by the stage */
    uint64_t sleeps;      /* times a thread of this stage slept on an event count */
    uint64_t wakeups;     /* wake-ups issued towards this stage's sleepers */
    uint64_t cpu_ns;      /* thread CPU time spent in the stage, estimated from a sample of its
                           * steps (see below) */
    uint64_t steps;       /* productive steps of the stage (consumer: next() calls) */
    uint64_t timed_steps; /* steps whose CPU time was measured (the sample behind cpu_ns) */
} mp_stage_stats;

/* Rings between stages, in pipeline order. */
enum mp_ring_id {
    MP_RING_FREE = 0,    /* MPSC: released chunks -> producer */
    MP_RING_FILLED = 1,  /* SPSC: producer -> scanner */
    MP_RING_SCANNED = 2, /* SPMC: scanner -> parser workers */
    MP_RING_PARSED = 3,  /* MPSC: parser workers -> consumer */
    MP_RING_COUNT = 4
};

typedef struct mp_stats {
    mp_stage_stats stage[MP_STAGE_COUNT];
    uint32_t ring_capacity[MP_RING_COUNT]; /* usable slots (size - 1) */
    uint32_t ring_hwm[MP_RING_COUNT];      /* high-water mark of occupancy */
    uint32_t chunks_total;                 /* T: chunk buffers in the pool */
    uint32_t chunks_in_flight;             /* chunks not in the free ring now */
    uint32_t chunks_in_flight_max;         /* high-water mark of the above */
    uint64_t mpsc_stalls;                  /* MPSC enqueue retries (preempted reservers) */
    /* ---- who ran what (fields past the first release; the struct only grows at its end) */
    uint32_t mode;            /* the path that ran: an mp_reader_mode (reader.h), never AUTO;
                               * filled by mp_reader_stats, 0 from the core alone */
    uint32_t mode_reason;     /* why that path: an mp_mode_reason (reader.h) */
    uint32_t workers;         /* pool worker threads serving the pipeline (0: sequential) */
    uint32_t reserved;        /* 0 */
    uint64_t chunks_local;    /* chunks read, scanned and parsed by one thread (cache locality) */
    uint64_t chunks_consumer; /* chunks the consumer thread parsed itself instead of waiting */
    uint64_t chunks_home;     /* chunks read into a buffer (and parsed into an arena) that the
                                 same thread had read into last: still in its cache */
    uint64_t worker_standbys; /* worker steps that left the pipeline to its consumer thread:
                                 busy consumer threads filled the CPUs (ARCHITECTURE.md,
                                 "Standing back") */
} mp_stats;

#ifdef __cplusplus
}
#endif
#endif
