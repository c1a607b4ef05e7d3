/*
 * pipe.c - the format-agnostic pipeline (see pipe.h and core/ARCHITECTURE.md).
 *
 *  source -> [producer] -FILLED(SPSC)-> [scanner] -SCANNED(SPMC)-> [parser xN]
 *                ^                                                    |
 *                |                                          PARSED(MPSC)
 *                +------------- FREE (MPSC) <-- release <-- [consumer] <-+
 *
 * Producer and scanner are serial tasks guarded by tokens: a worker that
 * wins the token (atomic exchange, acquire) owns the stage state and the
 * stage's ring roles until it gives the token back (store, release); the
 * next owner's acquire makes the previous owner's ring operations and
 * state writes visible, so the single-producer/single-consumer contracts
 * of FILLED, the consumer role of FREE and the producer role of SCANNED
 * hold across threads. Nobody ever blocks on a token: a thread that
 * loses one moves on (after a bounded spin in the one case below).
 *
 * Who runs which step is a scheduling policy (oneTBB's token carrying):
 * a thread that reads a chunk goes on to scan it and then parses it
 * itself, so the bytes it parses are still in its cache. Chunks waiting
 * on SCANNED (left by a thread that could not keep them) are parsed
 * first, by anyone. The consumer thread, instead of sleeping while the
 * chunk it needs is not ready, runs the same steps (mp__pipe_next, per
 * cfg.help) and keeps what it parses in its own window.
 *
 * The parser is parallel. PARSED credits (one per free PARSED slot) are
 * taken before a worker takes or keeps a chunk to parse, so the put on
 * PARSED never fails, even on tiny test rings. Serial stages keep a
 * pending descriptor when their put fails and report "no progress"; no
 * task ever waits.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <ck_pr.h>
#include "alloc.h"
#include "fork.h"
#include "pipe.h"
#include "pool_internal.h"
#include "ring.h"

enum { MP__PROD_READING = 0, MP__PROD_TERMINAL = 1, MP__PROD_DONE = 2 };

/* Pause iterations a thread that has just read a chunk waits for the
 * scanner token (the holder is scanning the previous chunk: microseconds)
 * so that it scans and parses its own chunk while the bytes are hot. */
#define MP__SCAN_SPIN 1024

/* One step in MP__CPU_SAMPLE has its thread CPU time measured (stats.h). */
#define MP__CPU_SAMPLE 16
/* Smallest working set (chunk buffers + first arena blocks) put in one
 * huge-page slab; below it each buffer is a block of its own. Never under
 * AddressSanitizer: one block for all chunks would hide a read or write
 * past one chunk's buffer into the next, which separate blocks report. */
#if defined(__SANITIZE_ADDRESS__)
#define MP__SLAB_MIN SIZE_MAX
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MP__SLAB_MIN SIZE_MAX
#endif
#endif
#ifndef MP__SLAB_MIN
#define MP__SLAB_MIN ((size_t)1 << 20)
#endif

typedef struct mp__stage_counters {
    /* Written by the threads running the stage (relaxed adds); read by stats. */
    _Atomic uint64_t items, bytes, sleeps, wakeups;
    _Atomic uint64_t steps, timed_steps, timed_ns;
} mp__stage_counters;

struct mp__pipe {
    mp__pool_entry entry; /* registry entry: see pool_internal.h */
    mp__pipe_config cfg;  /* copied at open; read-only afterwards */
    mp_pool *pool;        /* set at open; read-only afterwards */
    int help_spin;        /* set at open, read by the consumer: it may retry instead of
                             sleeping (the pool's workers + it fit the usable CPUs) */
    int own_pool;         /* set at open: the pool is private (created/destroyed here) */
    unsigned gen;         /* fork generation at open; read-only */
    unsigned T;           /* chunk count; read-only */
    mp__chunk *chunks;    /* T descriptors; each owned by whoever holds it (see pipe.h) */
    unsigned char *slab;  /* NULL, or the chunks' buffers and first arena blocks in one
                             huge-page block (mp__buf_get_huge); set at open, freed at close */
    size_t slab_size;

    mp__ring free_r;  /* MPSC: releasers -> producer (holds all T) */
    mp__ring filled;  /* SPSC: producer -> scanner */
    mp__ring scanned; /* SPMC: scanner -> parser workers */
    mp__ring parsed;  /* MPSC: parser workers -> consumer */

    _Atomic int cancel;    /* written by mp__pipe_cancel (release); read by every stage (acquire) */
    _Atomic int halt;      /* written by a failing stage; read by the producer: stop reading */
    _Atomic int input_end; /* written by the scanner past emit_until (release); read by the
                            * producer and sources (acquire): end the input with MP_EOF */
    _Atomic int err_claim; /* first-error slot claim: CAS 0 -> 1 by the first failing stage */
    _Atomic int first_err; /* written once by the claimer (release); read by anyone */
    _Atomic uint64_t first_off; /* written by the claimer before first_err; read after it */

    _Atomic int prod_tok;      /* producer token: CAS(0 -> 1, acquire) / exchange(0, release) */
    _Atomic int scan_tok;      /* scanner token: same protocol (see mp__token_take) */
    _Atomic int parse_credits; /* free PARSED slots not yet promised to a worker */

    /* Producer state: read and written only by the prod_tok owner. */
    struct {
        uint64_t offset;    /* stream offset of the next byte to read */
        int state;          /* MP__PROD_* */
        int term_status;    /* status for the terminal chunk */
        int term_errno;     /* errno for the terminal chunk */
        mp__chunk *pending; /* chunk whose put on FILLED failed (tiny rings) */
        mp__chunk **stash;  /* T slots: free chunks taken off FREE, oldest first */
        unsigned nstash;    /* chunks in stash */
    } prod;

    /* Scanner state: read and written only by the scan_tok owner. */
    struct {
        unsigned char *carry; /* bytes of a unit straddling chunks (owned) */
        size_t carry_len, carry_cap;
        size_t carry_need;     /* bytes the last NEED on the carry asked for (0: none) */
        uint64_t carry_off;    /* stream offset of carry[0] */
        uint64_t next_seq;     /* seq of the next chunk sent downstream */
        uint64_t next_ordinal; /* ordinal of the next unit */
        mp__chunk *pending;    /* chunk whose put on SCANNED failed (tiny rings) */
        int done;              /* the terminal chunk went downstream */
        int over;              /* a unit started at or after cfg.emit_until: the range is read */
    } scan;

    /* Consumer state: consumer thread only. */
    struct {
        mp__chunk **window; /* ordered: T slots, seq % T */
        uint64_t next_seq;  /* ordered: next seq to deliver */
        uint64_t delivered; /* chunks delivered so far */
        mp__chunk *held;    /* unordered: terminal chunk waiting for lower seqs */
        int done;           /* a terminal chunk was delivered */
        int done_status;    /* its status */
        int alone;          /* the consumer's copy of p->alone */
        unsigned allowed;   /* the consumer's copy of p->allowed */
    } cons;

    mp__stage_counters st[MP_STAGE_COUNT];
    _Atomic uint32_t in_flight;       /* chunks out of FREE: producer ++, recycler -- (relaxed) */
    _Atomic uint32_t in_flight_max;   /* high-water mark (relaxed CAS max) */
    _Atomic uint64_t chunks_local;    /* parsed by the thread that read them (relaxed, stats) */
    _Atomic uint64_t chunks_consumer; /* parsed by the consumer thread (relaxed, stats) */
    _Atomic uint64_t chunks_home;     /* reused by the thread that read into them last (relaxed) */
    _Atomic uint64_t standbys;        /* worker steps that stood back (relaxed, stats) */

    /* Standing back (pool_internal.h, core/ARCHITECTURE.md "Standing back"):
     * cons_busy is the consumer's last mark (mp__pool_now at an
     * mp__pipe_next call; 0 once it is about to sleep) - written by the
     * consumer thread, read by workers (relaxed: a hint). alone = 1 while
     * the consumer found the pool's CPUs full of busy consumer threads at
     * its last call: it runs every step itself, workers stand back and
     * nobody signals them for this pipeline's work - written by the
     * consumer (relaxed stores at its calls; an acq_rel exchange to 0
     * before it sleeps), read by workers (relaxed: a hint) and by every
     * thread that would signal (mp__signal_helpers: an acq_rel RMW). */
    _Atomic uint64_t cons_busy;
    _Atomic int alone;
    /* How many of the pool's workers may help while the consumer's mark is
     * fresh (mp__pool_allowed at its last call; UINT_MAX before the first):
     * a worker numbered at or above it stands back. alone == (allowed ==
     * 0). Written by the consumer thread (relaxed stores when it changes),
     * read by workers (relaxed: a hint, like alone). */
    _Atomic unsigned allowed;
};

/* ---- small helpers ------------------------------------------------------- */

static uint64_t mp__cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void mp__count(_Atomic uint64_t *c, uint64_t n)
{
    /* relaxed: statistics only */
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/*
 * Signals the pool that work may be runnable, for a worker to help - unless
 * the consumer runs the pipeline alone (p->alone): the workers stand back
 * from it, so a signal would only wake one to look and stand back again
 * (per chunk). Nothing is lost: the consumer does that work itself, and
 * before it sleeps it clears alone (an exchange), signals the pool and
 * looks at its pipeline again (mp__pipe_next). The read of alone is a
 * read-modify-write for that reason: the two RMWs on alone are ordered.
 * Either the exchange comes first and this reads 0 and signals, or this
 * comes first and the exchange reads what it wrote - acquiring this
 * thread's release, so the consumer's second look sees the work made
 * runnable before the call. (A fence pair would do, but TSan has no fences.)
 */
static void mp__signal_helpers(mp__pipe *p)
{
    /* acq_rel: release pairs with the consumer's acquire exchange in mp__pipe_next */
    if (!atomic_fetch_or_explicit(&p->alone, 0, memory_order_acq_rel))
        mp__pool_signal(p->pool);
}

/* This thread's identity: a chunk remembers who read it (locality stats). */
static _Thread_local char mp__tl_self;
/* This thread's sampling generator (xorshift32; 0 means "not seeded"). */
static _Thread_local uint32_t mp__tl_rng;

/* A stage step's CPU timer: on for the stage's first step and for about
 * one step in MP__CPU_SAMPLE, drawn at random so that no step pattern
 * aliases with the sample (stats.h). */
typedef struct mp__timer {
    uint64_t t0;
    int on;
} mp__timer;

static void mp__timer_start(mp__pipe *p, int stage, mp__timer *t, int force)
{
    uint32_t x = mp__tl_rng;
    if (x == 0)
        x = (uint32_t)(uintptr_t)&mp__tl_self | 1u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    mp__tl_rng = x;
    /* relaxed: statistics only */
    t->on = force || x % MP__CPU_SAMPLE == 0 ||
            atomic_load_explicit(&p->st[stage].timed_steps, memory_order_relaxed) == 0;
    t->t0 = t->on ? mp__cpu_ns() : 0;
}

/* Ends a productive step; returns its CPU time when it was timed, else 0. */
static uint64_t mp__timer_stop(mp__pipe *p, int stage, const mp__timer *t)
{
    mp__count(&p->st[stage].steps, 1);
    if (!t->on)
        return 0;
    uint64_t ns = mp__cpu_ns() - t->t0;
    mp__count(&p->st[stage].timed_steps, 1);
    mp__count(&p->st[stage].timed_ns, ns);
    return ns;
}

/*
 * Stage tokens: 0 free, MP__TOK_HELD, or MP__TOK_MISSED = held, and some
 * thread failed to take it meanwhile. A thread that fails marks the token
 * before it goes on (and perhaps to sleep).
 *
 * Why: a worker that loses a token to another worker may sleep, because
 * the holder looks at the stage's input again after its own pass (its
 * snapshot of the pool's event count predates whatever the loser left
 * there, so its wait returns at once). The consumer thread helping is not
 * in the pool loop - it sleeps on PARSED - so when the consumer gives back
 * a token that was marked, it signals the pool: the loser looks again.
 * Without that a loser could sleep while the consumer gives the token back
 * without having seen the work (the spin model, test/model/pipe.pml, finds
 * that lost wake-up). Workers ignore the mark: their signal would wake
 * themselves too (the snapshot moves), and two idle workers could keep
 * each other busy.
 */
enum { MP__TOK_FREE = 0, MP__TOK_HELD = 1, MP__TOK_MISSED = 2 };

static int mp__token_take(_Atomic int *tok)
{
    /* relaxed: a first look; the CASes below do the ordering */
    int v = atomic_load_explicit(tok, memory_order_relaxed);
    for (;;) {
        if (v == MP__TOK_FREE) {
            /* acquire: pairs with the previous owner's release exchange in mp__token_give */
            if (atomic_compare_exchange_weak_explicit(tok, &v, MP__TOK_HELD, memory_order_acquire,
                                                      memory_order_relaxed))
                return 1;
            continue;
        }
        if (v == MP__TOK_MISSED)
            return 0;
        /* relaxed: the mark orders nothing of ours; the holder's exchange reads it */
        if (atomic_compare_exchange_weak_explicit(tok, &v, MP__TOK_MISSED, memory_order_relaxed,
                                                  memory_order_relaxed))
            return 0;
    }
}

/* As mp__token_take, retrying for up to `spin` pause iterations while the
 * token is held (bounded: a holder that was preempted costs the spin). */
static int mp__token_take_spin(_Atomic int *tok, unsigned spin)
{
    for (;;) {
        if (mp__token_take(tok))
            return 1;
        if (spin == 0)
            return 0;
        spin--;
        ck_pr_stall();
    }
}

/* Gives the token back; `consumer`: the giver is the consumer thread. */
static void mp__token_give(mp__pipe *p, _Atomic int *tok, int consumer)
{
    /* release: publishes the stage state and ring roles to the next owner's CAS */
    if (atomic_exchange_explicit(tok, MP__TOK_FREE, memory_order_release) == MP__TOK_MISSED &&
        consumer)
        mp__pool_signal(p->pool); /* a worker failed to take it meanwhile: look again */
}

static int mp__is_cancelled(const mp__pipe *p)
{
    /* acquire: pairs with mp__pipe_cancel's release store */
    return atomic_load_explicit(&p->cancel, memory_order_acquire) != 0;
}

/* Records the first fatal error (the slot is claimed once). Any thread. */
static void mp__record_error(mp__pipe *p, int code, uint64_t offset)
{
    int zero = 0;
    if (code == 0 || code == MP_EOF || code == MP_ECANCELED)
        return;
    /* relaxed: the claim only elects a writer; first_err's release publishes */
    if (!atomic_compare_exchange_strong_explicit(&p->err_claim, &zero, 1, memory_order_relaxed,
                                                 memory_order_relaxed))
        return;
    /* relaxed: ordered before readers by the release store of first_err below */
    atomic_store_explicit(&p->first_off, offset, memory_order_relaxed);
    /* release: pairs with mp__pipe_first_error's acquire load */
    atomic_store_explicit(&p->first_err, code, memory_order_release);
}

static void mp__halt(mp__pipe *p)
{
    /* release: pairs with the producer's acquire load (stop reading soon) */
    atomic_store_explicit(&p->halt, 1, memory_order_release);
}

static void mp__chunk_reset(mp__chunk *c)
{
    if (c->mapped) {
        const mp__source *src = &c->pipe->cfg.source;
        if (src->unmap)
            src->unmap(src->src, c->data, c->len);
        c->mapped = 0;
    }
    c->data = c->buf;
    c->len = 0;
    c->offset = 0;
    c->status = 0;
    c->sys_errno = 0;
    c->final = 0;
    c->seq = 0;
    c->nitems = 0;
    c->spill_len = 0;
    c->reader = NULL;
    mp__arena_reset(&c->arena);
}

/* Puts a chunk back on FREE (any thread: FREE is multi-producer). */
static void mp__chunk_recycle(mp__pipe *p, mp__chunk *c)
{
    mp__chunk_reset(c);
    /* relaxed: statistics only */
    atomic_fetch_sub_explicit(&p->in_flight, 1, memory_order_relaxed);
    /* FREE holds all T chunks, so this cannot fail; the ring's release orders the reset. */
    if (!mp__ring_tryput(&p->free_r, c))
        abort(); /* impossible: more than T chunks */
    /* The producer may be idle for want of a free chunk. mp__pool_signal only
     * enters the kernel when a worker sleeps. */
    mp__signal_helpers(p);
}

/* ---- PARSED credits ---------------------------------------------------------- */

static int mp__credit_take(mp__pipe *p)
{
    /* relaxed: the CAS below orders the credit */
    int cr = atomic_load_explicit(&p->parse_credits, memory_order_relaxed);
    do {
        if (cr <= 0)
            return 0;
        /* acquire: pairs with the consumer's release increment (a PARSED slot freed) */
    } while (!atomic_compare_exchange_weak_explicit(&p->parse_credits, &cr, cr - 1,
                                                    memory_order_acquire, memory_order_relaxed));
    return 1;
}

static void mp__credit_unused(mp__pipe *p)
{
    /* relaxed: the credit goes back unused; no slot was touched */
    atomic_fetch_add_explicit(&p->parse_credits, 1, memory_order_relaxed);
}

/* ---- producer -------------------------------------------------------------- */

/*
 * The free chunk this thread reads into next (cache locality, rule 3 of
 * ARCHITECTURE.md "Who runs which step"): the one released last among those
 * this thread read into before - its buffer and arena are likeliest still in
 * this core's cache, and no other core holds those lines modified, so the
 * read() copy and the parse write without fetching them from the other
 * core; else the one released first, the longest gone from the other core's
 * cache. FREE is a FIFO ring, which by itself hands out the chunk that has
 * been idle longest, i.e. the coldest: the producer-token holder drains it
 * into its stash and chooses there. Producer-token holder only.
 */
static mp__chunk *mp__stash_pick(mp__pipe *p)
{
    unsigned n = p->prod.nstash, k = n;
    while (k > 0 && p->prod.stash[k - 1]->home != &mp__tl_self)
        k--;
    if (k > 0)
        mp__count(&p->chunks_home, 1);
    k = k ? k - 1 : 0;
    mp__chunk *c = p->prod.stash[k];
    memmove(&p->prod.stash[k], &p->prod.stash[k + 1], (n - k - 1) * sizeof(*p->prod.stash));
    p->prod.nstash = n - 1;
    c->home = &mp__tl_self;
    return c;
}

/* Reads one chunk and puts it on FILLED; *out = that chunk (NULL when none
 * was read). Producer-token holder only. */
static bool mp__produce_one(mp__pipe *p, mp__chunk **out)
{
    bool progress = false;
    void *d;

    *out = NULL;
    if (p->prod.pending) {
        if (!mp__ring_tryput(&p->filled, p->prod.pending))
            return false;
        p->prod.pending = NULL;
        mp__signal_helpers(p);
        progress = true;
    }
    if (p->prod.state == MP__PROD_DONE)
        return progress;
    /* acquire: pairs with mp__halt's release store */
    if (mp__is_cancelled(p) || atomic_load_explicit(&p->halt, memory_order_acquire)) {
        p->prod.state = MP__PROD_DONE;
        return progress;
    }
    /* acquire: pairs with the scanner's release store in mp__scan_chunk_taken (range read) */
    if (p->prod.state == MP__PROD_READING &&
        atomic_load_explicit(&p->input_end, memory_order_acquire)) {
        p->prod.state = MP__PROD_TERMINAL;
        p->prod.term_status = MP_EOF;
        p->prod.term_errno = 0;
    }
    while (mp__ring_trytake(&p->free_r, &d))
        p->prod.stash[p->prod.nstash++] = d;
    if (p->prod.nstash == 0)
        return progress;
    mp__chunk *c = mp__stash_pick(p);
    mp__timer tm;
    mp__timer_start(p, MP_STAGE_PRODUCER, &tm, 0);
    /* relaxed: statistics only */
    uint32_t n = atomic_fetch_add_explicit(&p->in_flight, 1, memory_order_relaxed) + 1;
    /* relaxed: statistics only (CAS max) */
    uint32_t m = atomic_load_explicit(&p->in_flight_max, memory_order_relaxed);
    while (n > m && !atomic_compare_exchange_weak_explicit(
                        &p->in_flight_max, &m, n, memory_order_relaxed, memory_order_relaxed))
        ;

    c->offset = p->prod.offset;
    c->reader = &mp__tl_self;
    if (p->prod.state == MP__PROD_TERMINAL) {
        c->len = 0;
        c->final = 1;
        c->status = p->prod.term_status;
        c->sys_errno = p->prod.term_errno;
        p->prod.state = MP__PROD_DONE;
    } else {
        size_t len = 0;
        ssize_t r = 1;
        int err = 0;
        if (p->cfg.source.map) {
            /* Zero-copy: the chunk is a window of the source's own bytes. */
            const unsigned char *view = NULL;
            r = p->cfg.source.map(p->cfg.source.src, c->cap, &view, &err, p);
            if (r > 0) {
                len = (size_t)r > c->cap ? c->cap : (size_t)r;
                c->data = view;
                c->mapped = 1;
                r = 1;
            }
        }
        /* Fill the buffer while the source keeps up: big chunks amortise every
         * per-chunk cost. A short read (a pipe or socket with nothing more
         * buffered) ships what we have, so a slow stream's records are not held
         * back until a whole chunk has arrived. */
        while (!p->cfg.source.map && len < c->cap) {
            size_t want = c->cap - len;
            err = 0;
            r = p->cfg.source.read(p->cfg.source.src, c->buf + len, want, &err, p);
            if (r <= 0)
                break;
            len += (size_t)r > want ? want : (size_t)r;
            if ((size_t)r < want) {
                r = 1; /* not the end: more reads follow in the next chunk */
                break;
            }
            if (mp__pipe_input_stopped(p)) {
                r = MP_ECANCELED;
                break;
            }
        }
        c->len = len;
        p->prod.offset += len;
        if (r <= 0) {
            /* End of data: this chunk is the last with bytes; a terminal chunk follows. */
            c->final = 1;
            p->prod.state = MP__PROD_TERMINAL;
            p->prod.term_status = r == 0 ? MP_EOF : (int)r;
            p->prod.term_errno = r == 0 ? 0 : err;
            mp__record_error(p, (int)r, p->prod.offset);
        }
        mp__count(&p->st[MP_STAGE_PRODUCER].bytes, len);
    }
    mp__count(&p->st[MP_STAGE_PRODUCER].items, 1);
    if (mp__ring_tryput(&p->filled, c)) {
        *out = c;
        /* Wakes an idle worker, if one sleeps, to read the next chunk meanwhile
         * (or to scan this one if this thread cannot). */
        mp__signal_helpers(p);
    } else {
        p->prod.pending = c;
    }
    mp__timer_stop(p, MP_STAGE_PRODUCER, &tm);
    return true;
}

/* ---- scanner --------------------------------------------------------------- */

static int mp__grow(void **ptr, size_t *cap, size_t want, size_t elem, size_t min)
{
    if (want <= *cap)
        return MP_OK;
    size_t n = *cap ? *cap : min;
    while (n < want)
        n *= 2;
    void *q = mp__realloc(*ptr, n * elem);
    if (!q)
        return MP_ENOMEM;
    *ptr = q;
    *cap = n;
    return MP_OK;
}

/* Appends one item to c; spilled items store their spill offset in data
 * until mp__scan_fixup (the spill may move while it grows). */
static int mp__scan_add(mp__pipe *p, mp__chunk *c, const unsigned char *data, size_t len,
                        mp__frame_rc rc, uint16_t kind, uint64_t offset)
{
    size_t cap = c->items_cap;
    mp__item *it;
    int spilled = data == NULL;

    if (offset < p->cfg.emit_from)
        return MP_OK; /* before the range: framed only to find where the range's units start */
    if (mp__grow((void **)&c->items, &cap, (size_t)c->nitems + 1, sizeof(mp__item), 64) != MP_OK)
        return MP_ENOMEM;
    c->items_cap = (uint32_t)cap;
    if (spilled) {
        if (mp__grow((void **)&c->spill, &c->spill_cap, c->spill_len + len, 1, 4096) != MP_OK)
            return MP_ENOMEM;
        memcpy(c->spill + c->spill_len, p->scan.carry, len);
        data = (const unsigned char *)(uintptr_t)c->spill_len;
        c->spill_len += len;
    }
    it = &c->items[c->nitems++];
    it->data = data;
    it->len = (uint32_t)len;
    it->type = rc == MP_FRAME_RECORD ? MP_ITEM_RECORD : MP_ITEM_SKIP;
    it->spilled = (uint8_t)spilled;
    it->frame_kind = kind;
    it->offset = offset;
    it->ordinal = p->scan.next_ordinal++;
    it->result = NULL;
    it->status = 0;
    return MP_OK;
}

static void mp__scan_fixup(mp__chunk *c)
{
    for (uint32_t i = 0; i < c->nitems; i++)
        if (c->items[i].spilled)
            c->items[i].data = c->spill + (uintptr_t)c->items[i].data;
}

/* The unit starting at stream offset `off` is past the range: stop. */
static int mp__scan_past_range(mp__pipe *p, uint64_t off)
{
    if (p->cfg.emit_until == 0 || off < p->cfg.emit_until)
        return 0;
    p->scan.over = 1;
    p->scan.carry_len = 0;
    return 1;
}

/* A RECORD/SKIP verdict's length, clamped to [1, avail] (a misbehaving
 * format must not make the scanner loop or overrun). */
static size_t mp__frame_len(const mp__frame *out, size_t avail)
{
    if (out->len == 0)
        return 1;
    return out->len > avail ? avail : out->len;
}

/*
 * Frames the bytes of data chunk c: first continues the unit carried from
 * earlier chunks, then frames units inside c's buffer, then carries the
 * undecided tail. Returns MP_OK or MP_ENOMEM.
 */
static int mp__scan_chunk(mp__pipe *p, mp__chunk *c)
{
    const mp__format *f = &p->cfg.format;
    const size_t max_unit = p->cfg.max_unit;
    const unsigned char *buf = c->data;
    const size_t L = c->len;
    size_t pos = 0, from_c = 0;
    mp__frame out;
    mp__frame_rc rc;

    c->nitems = 0;
    c->spill_len = 0;

    /* Phase 1: the carried unit. from_c counts carry bytes taken from c. */
    while (p->scan.carry_len > 0) {
        if (mp__scan_past_range(p, p->scan.carry_off))
            break;
        size_t have = p->scan.carry_len;
        int final =
            (c->final && pos == L) ? MP_FINAL_EOF : (have >= max_unit ? MP_FINAL_MAX : MP_FINAL_NO);
        memset(&out, 0, sizeof(out));
        if (final == MP_FINAL_NO && have < p->scan.carry_need) {
            /* The last answer asked for more: framing again before it is
             * there would only say so again (and rescan the carry: with
             * small chunks, quadratic). */
            rc = MP_FRAME_NEED;
            out.len = p->scan.carry_need;
        } else {
            rc = f->frame(f->fmt, p->scan.carry, have, final, &out);
        }
        if (rc == MP_FRAME_NEED && final == MP_FINAL_NO) {
            size_t want = out.len > have ? out.len : have + 1;
            if (want > max_unit)
                want = max_unit;
            p->scan.carry_need = want;
            size_t take = want - have;
            if (take > L - pos)
                take = L - pos;
            if (take == 0)
                break; /* c is used up; the unit continues in the next chunk */
            if (mp__grow((void **)&p->scan.carry, &p->scan.carry_cap, have + take, 1, 4096) !=
                MP_OK)
                return MP_ENOMEM;
            memcpy(p->scan.carry + have, buf + pos, take);
            p->scan.carry_len += take;
            pos += take;
            from_c += take;
            continue;
        }
        if (rc == MP_FRAME_NEED) { /* format bug: NEED on a final call; skip it all */
            rc = MP_FRAME_SKIP;
            out.len = have;
        }
        size_t n = mp__frame_len(&out, have);
        if (rc != MP_FRAME_IGNORE &&
            mp__scan_add(p, c, NULL, n, rc, out.kind, p->scan.carry_off) != MP_OK)
            return MP_ENOMEM;
        p->scan.carry_need = 0; /* what is left starts a new unit */
        size_t rem = have - n;
        if (rem <= from_c) {
            /* The rest came from c: frame it in place. */
            pos -= rem;
            from_c = 0;
            p->scan.carry_len = 0;
        } else {
            memmove(p->scan.carry, p->scan.carry + n, rem);
            p->scan.carry_len = rem;
            p->scan.carry_off += n;
        }
    }

    /* Phase 2: units inside c's buffer. */
    while (pos < L && p->scan.carry_len == 0 && !p->scan.over) {
        if (mp__scan_past_range(p, c->offset + pos))
            break;
        size_t avail = L - pos;
        int final = c->final ? MP_FINAL_EOF : MP_FINAL_NO;
        memset(&out, 0, sizeof(out));
        rc = f->frame(f->fmt, buf + pos, avail, final, &out);
        if (rc == MP_FRAME_NEED && final == MP_FINAL_NO && avail >= max_unit) {
            avail = max_unit;
            memset(&out, 0, sizeof(out));
            rc = f->frame(f->fmt, buf + pos, avail, MP_FINAL_MAX, &out);
            final = MP_FINAL_MAX;
        }
        if (rc == MP_FRAME_NEED && final == MP_FINAL_NO) {
            /* Undecided tail (< max_unit): carry it into the next chunk. */
            if (mp__grow((void **)&p->scan.carry, &p->scan.carry_cap, avail, 1, 4096) != MP_OK)
                return MP_ENOMEM;
            memcpy(p->scan.carry, buf + pos, avail);
            p->scan.carry_len = avail;
            p->scan.carry_need = out.len > max_unit ? max_unit : out.len;
            p->scan.carry_off = c->offset + pos;
            pos = L;
            break;
        }
        if (rc == MP_FRAME_NEED) { /* format bug: NEED on a final call */
            rc = MP_FRAME_SKIP;
            out.len = avail;
        }
        size_t n = mp__frame_len(&out, avail);
        if (rc != MP_FRAME_IGNORE &&
            mp__scan_add(p, c, buf + pos, n, rc, out.kind, c->offset + pos) != MP_OK)
            return MP_ENOMEM;
        pos += n;
    }
    mp__scan_fixup(c);
    return MP_OK;
}

/* Puts a scanned chunk on SCANNED for any parser; false: the ring was full
 * and the chunk is kept as pending (tiny rings). Scanner-token holder. */
static bool mp__scan_put(mp__pipe *p, mp__chunk *c)
{
    if (mp__ring_tryput(&p->scanned, c)) {
        mp__signal_helpers(p);
        return true;
    }
    p->scan.pending = c;
    return false;
}

/* Frames one chunk taken from FILLED and numbers it. Returns the chunk when
 * it goes downstream (data or terminal), NULL when it was recycled (all its
 * bytes went into the carry, or lie outside the range: no seq consumed).
 * Scanner-token holder. */
static mp__chunk *mp__scan_chunk_taken(mp__pipe *p, mp__chunk *c)
{
    mp__timer tm;
    mp__timer_start(p, MP_STAGE_SCANNER, &tm, 0);
    mp__count(&p->st[MP_STAGE_SCANNER].items, 1);
    mp__count(&p->st[MP_STAGE_SCANNER].bytes, c->len);
    if (c->status != 0) {
        /* Terminal: the previous (final) data chunk flushed the carry. Past
         * a range's end, what happened to the input after it is no concern
         * of the range: it was read whole. */
        if (p->scan.over) {
            c->status = MP_EOF;
            c->sys_errno = 0;
        }
        c->nitems = 0;
        p->scan.done = 1;
    } else if (p->scan.over) {
        /* Bytes past the range, read before the producer stopped. */
        mp__chunk_recycle(p, c);
        c = NULL;
    } else if (mp__scan_chunk(p, c) != MP_OK) {
        /* Out of memory: this chunk becomes the terminal chunk, in order. */
        c->status = MP_ENOMEM;
        c->nitems = 0;
        p->scan.done = 1;
        mp__record_error(p, MP_ENOMEM, c->offset);
        mp__halt(p);
    } else {
        if (p->scan.over) {
            /* release: pairs with the producer's acquire load (end the input) and
             * mp__pipe_input_stopped's (sources stop waiting for bytes) */
            atomic_store_explicit(&p->input_end, 1, memory_order_release);
        }
        if (c->nitems == 0) {
            /* Every byte went into the carry or was ignored (or preceded
             * or followed the range): recycle now, no seq consumed. */
            mp__chunk_recycle(p, c);
            c = NULL;
        }
    }
    if (c)
        c->seq = p->scan.next_seq++;
    mp__timer_stop(p, MP_STAGE_SCANNER, &tm);
    return c;
}

/*
 * Scans the chunks waiting on FILLED, in order. With keep != NULL the last
 * data chunk scanned is not put on SCANNED but returned in *keep, for the
 * caller to parse while its bytes are in this core's cache (normally the
 * chunk the caller has just read). Scanner-token holder only.
 */
static bool mp__scan_some(mp__pipe *p, mp__chunk **keep)
{
    bool progress = false;
    mp__chunk *held = NULL;
    void *d;

    if (p->scan.pending) {
        if (!mp__ring_tryput(&p->scanned, p->scan.pending))
            return false;
        p->scan.pending = NULL;
        mp__signal_helpers(p);
        progress = true;
    }
    while (!p->scan.done && !mp__is_cancelled(p)) {
        if (held) {
            /* Another chunk waits: the held one goes to any parser. (The count
             * is exact here: only this thread takes from FILLED.) */
            if (mp__ring_count(&p->filled) == 0)
                break;
            bool put = mp__scan_put(p, held);
            held = NULL;
            if (!put)
                break;
        }
        if (!mp__ring_trytake(&p->filled, &d))
            break;
        progress = true;
        mp__chunk *c = mp__scan_chunk_taken(p, d);
        if (!c)
            continue;
        if (c->status == 0 && keep) {
            held = c;
        } else if (!mp__scan_put(p, c)) {
            break;
        }
    }
    if (held) {
        if (keep)
            *keep = held;
        else
            mp__scan_put(p, held);
    }
    return progress;
}

/* ---- parser ------------------------------------------------------------------ */

/* Parses every RECORD item of a scanned chunk (terminal chunks pass).
 * Whoever took or kept the chunk. */
static void mp__parse_chunk(mp__pipe *p, mp__chunk *c, int consumer)
{
    mp__timer tm;
    mp__timer_start(p, MP_STAGE_PARSER, &tm, 0);
    if (c->status == 0) {
        const mp__format *f = &p->cfg.format;
        uint64_t bytes = 0;
        mp__arena_reset(&c->arena);
        for (uint32_t i = 0; i < c->nitems; i++) {
            mp__item *it = &c->items[i];
            bytes += it->len;
            if (it->type != MP_ITEM_RECORD)
                continue;
            mp__arena_mark m = mp__arena_save(&c->arena);
            int rc = f->parse_item(f->fmt, it, &c->arena);
            if (rc != MP_OK) {
                /* Only this unit fails (an error item downstream); what it
                 * took from the arena is reused by the next ones. */
                mp__arena_rewind(&c->arena, m);
                it->result = NULL;
                it->status = rc;
            }
        }
        mp__count(&p->st[MP_STAGE_PARSER].bytes, bytes);
        if (c->reader == &mp__tl_self)
            mp__count(&p->chunks_local, 1);
        if (consumer)
            mp__count(&p->chunks_consumer, 1);
    }
    mp__count(&p->st[MP_STAGE_PARSER].items, 1);
    mp__timer_stop(p, MP_STAGE_PARSER, &tm);
}

/* A worker hands a parsed chunk to the consumer; the credit it holds
 * guarantees the PARSED slot. */
static void mp__parsed_put(mp__pipe *p, mp__chunk *c)
{
    if (mp__ec_has_waiters(&p->parsed.not_empty))
        mp__count(&p->st[MP_STAGE_CONSUMER].wakeups, 1);
    if (!mp__ring_tryput(&p->parsed, c))
        abort(); /* impossible: PARSED over-committed */
}

/*
 * One unit of work on a pipeline, for a pool worker (cons == NULL: parsed
 * chunks go to PARSED, under a credit) or for the consumer thread (cons:
 * the parsed chunk is returned there and never touches PARSED). Order:
 * a chunk left waiting on SCANNED first (it is older); else read a chunk
 * (when `produce`), scan it and parse it here, carrying it through the
 * three steps on this thread.
 */
static bool mp__work(mp__pipe *p, mp__chunk **cons, int produce)
{
    void *d;
    /* Without a credit (PARSED fully promised, tiny rings) a worker may still
     * read and scan, but parses nothing. */
    int credit = cons ? 1 : mp__credit_take(p);

    if (credit && mp__ring_trytake(&p->scanned, &d)) {
        mp__chunk *c = d;
        mp__parse_chunk(p, c, cons != NULL);
        if (cons)
            *cons = c;
        else
            mp__parsed_put(p, c);
        return true;
    }

    /* A read may block (a quiet pipe, a callback): never while a scanned chunk
     * waits on SCANNED for a parser - with one worker nobody else would parse
     * it, and its records would wait for the read. (A worker without a
     * credit that finds one there parses nothing and reads nothing: it goes
     * to sleep until the consumer frees a PARSED slot.) */
    bool progress = false;
    mp__chunk *mine = NULL, *read = NULL;
    if (produce && mp__ring_count(&p->scanned) == 0 && mp__token_take(&p->prod_tok)) {
        if (mp__produce_one(p, &read))
            progress = true;
        mp__token_give(p, &p->prod_tok, cons != NULL);
    }
    if (mp__token_take_spin(&p->scan_tok, read ? MP__SCAN_SPIN : 0)) {
        if (mp__scan_some(p, credit ? &mine : NULL))
            progress = true;
        mp__token_give(p, &p->scan_tok, cons != NULL);
    }
    if (mine) {
        mp__parse_chunk(p, mine, cons != NULL);
        if (cons)
            *cons = mine;
        else
            mp__parsed_put(p, mine);
        return true;
    }
    if (credit && !cons)
        mp__credit_unused(p);
    return progress;
}

/* ---- one worker step ------------------------------------------------------- */

static int mp__pipe_step(mp__pool_entry *e)
{
    mp__pipe *p = caa_container_of(e, mp__pipe, entry);

    if (mp__is_cancelled(p))
        return MP__STEP_IDLE;
    /* relaxed: a hint; a wrong guess costs speed only (see p->alone) */
    int alone = atomic_load_explicit(&p->alone, memory_order_relaxed);
    /* relaxed: a hint, like alone */
    unsigned allowed = atomic_load_explicit(&p->allowed, memory_order_relaxed);
    if (alone || mp__pool_worker_index() >= allowed) {
        /* relaxed: a hint, like alone */
        uint64_t busy = atomic_load_explicit(&p->cons_busy, memory_order_relaxed);
        /* signed: a mark taken just after our clock read counts as current */
        if (busy != 0 && (int64_t)(mp__pool_now() - busy) < (int64_t)MP__POOL_BUSY_NS) {
            mp__count(&p->standbys, 1);
            return alone ? MP__STEP_STANDBY : MP__STEP_STANDBY_SOME;
        }
    }
    return mp__work(p, NULL, 1) ? MP__STEP_PROGRESS : MP__STEP_IDLE;
}

/* ---- consumer -------------------------------------------------------------- */

static int mp__deliver(mp__pipe *p, mp__chunk *c, mp__chunk **out)
{
    /* relaxed: the consumer owns the chunk now (acquired through PARSED, or parsed here) */
    atomic_store_explicit(&c->refs, 1, memory_order_relaxed);
    p->cons.delivered++;
    if (c->status != 0) {
        p->cons.done = 1;
        p->cons.done_status = c->status;
    }
    mp__count(&p->st[MP_STAGE_CONSUMER].items, c->nitems);
    mp__count(&p->st[MP_STAGE_CONSUMER].bytes, c->len);
    *out = c;
    return MP_OK;
}

/* A parsed chunk reached the consumer: into the window (ordered), held
 * (unordered terminal), or delivered now. Returns 1 when delivered. */
static int mp__arrive(mp__pipe *p, mp__chunk *c, mp__chunk **out)
{
    if (p->cfg.ordered) {
        mp__chunk **slot = &p->cons.window[c->seq % p->T];
        if (*slot)
            abort(); /* impossible: more than T chunks in the window */
        *slot = c;
        return 0;
    }
    if (c->status != 0) {
        p->cons.held = c;
        return 0;
    }
    mp__deliver(p, c, out);
    return 1;
}

/* 1 when a worker (or anyone) holds the producer or scanner token. */
static int mp__tokens_held(mp__pipe *p)
{
    /* relaxed: a hint for whether to retry; mp__work's CASes decide */
    return atomic_load_explicit(&p->prod_tok, memory_order_relaxed) != MP__TOK_FREE ||
           atomic_load_explicit(&p->scan_tok, memory_order_relaxed) != MP__TOK_FREE;
}

/* 1 when parsing takes long enough (over MP__SLOW_PARSE_PS_PER_BYTE of CPU
 * per byte of chunk, from the sampled stage times) that the consumer's
 * sleep until a worker has parsed its chunk costs more than a bounded
 * retry even when the token holder may be blocked in a read (sources
 * without MP_HELP_ALL): MARCXML and MARC-in-JSON (1.3-1.7 ns per byte on
 * the development VM), MARC-8 text (2-3 ns); plain UTF-8 ISO 2709 parses
 * at 0.6-0.7 ns per byte. The line lies between the two with a margin of
 * ~1.4x either way: at 1.6 ns MARCXML fell on both sides of it from run
 * to run (pipeline/sequential 1.2-2.0x). Per byte, not per chunk: the
 * default chunk size follows the L2 cache. */
#define MP__SLOW_PARSE_PS_PER_BYTE 1000u
static int mp__parse_is_slow(mp__pipe *p)
{
    /* relaxed: statistics, a hint */
    uint64_t n = atomic_load_explicit(&p->st[MP_STAGE_PARSER].timed_steps, memory_order_relaxed);
    uint64_t ns = atomic_load_explicit(&p->st[MP_STAGE_PARSER].timed_ns, memory_order_relaxed);
    return n >= 2 && ns * 1000u / n > (uint64_t)MP__SLOW_PARSE_PS_PER_BYTE * p->cfg.chunk_size;
}

/* The consumer's retry budget in one mp__pipe_next call: MP__HELP_SPIN_US
 * from the first call ({0, 0}: not started). 1 while it lasts. */
#define MP__HELP_SPIN_US 200
static int mp__spin_budget(struct timespec *until)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now); /* vDSO: no system call */
    if (until->tv_sec == 0 && until->tv_nsec == 0) {
        *until = now;
        until->tv_nsec += MP__HELP_SPIN_US * 1000L;
        if (until->tv_nsec >= 1000000000L) {
            until->tv_sec++;
            until->tv_nsec -= 1000000000L;
        }
        return 1;
    }
    return now.tv_sec < until->tv_sec ||
           (now.tv_sec == until->tv_sec && now.tv_nsec < until->tv_nsec);
}

static int mp__expired(const struct timespec *deadline)
{
    struct timespec now;
    if (!deadline)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

int mp__pipe_next(mp__pipe *p, mp__chunk **out, const struct timespec *deadline)
{
    *out = NULL;
    if (mp__forked(p->gen))
        return MP_EFORKED; /* its stages ran on threads the child does not have */
    if (p->cons.done)
        return p->cons.done_status;
    mp__timer tm;
    mp__timer_start(p, MP_STAGE_CONSUMER, &tm, 0);
    if (p->cfg.help == MP_HELP_ALL) {
        /* This thread runs every step itself when nobody else does: mark it
         * busy, and run alone - no signals for help - while the busy threads
         * fill the CPUs (pool_internal.h, "Busy consumer threads"). */
        uint64_t now = mp__pool_now();
        mp__busy_mark(now);
        /* relaxed: a hint for the workers (mp__pipe_step) */
        atomic_store_explicit(&p->cons_busy, now, memory_order_relaxed);
        unsigned allowed = mp__pool_allowed(p->pool, now);
        int alone = allowed == 0, more = allowed > p->cons.allowed;
        if (allowed != p->cons.allowed) {
            p->cons.allowed = allowed;
            /* relaxed: a hint; the signal below publishes a rise */
            atomic_store_explicit(&p->allowed, allowed, memory_order_relaxed);
        }
        if (alone != p->cons.alone) {
            p->cons.alone = alone;
            /* relaxed: a hint; the signal below publishes a 0 */
            atomic_store_explicit(&p->alone, alone, memory_order_relaxed);
        }
        if (more)
            mp__pool_signal_all(p->pool); /* CPUs to spare again: workers, help */
    }
    uint64_t helped_ns = 0;
    struct timespec spin_until = {0, 0};
    int rc;
    for (;;) {
        mp__chunk *c = NULL;
        void *d;
        if (mp__is_cancelled(p)) {
            rc = MP_ECANCELED;
            break;
        }
        if (p->cfg.ordered) {
            mp__chunk **slot = &p->cons.window[p->cons.next_seq % p->T];
            if (*slot) {
                c = *slot;
                *slot = NULL;
                p->cons.next_seq++;
            }
        } else if (p->cons.held && p->cons.delivered == p->cons.held->seq) {
            c = p->cons.held;
            p->cons.held = NULL;
        }
        if (c) {
            rc = mp__deliver(p, c, out);
            break;
        }
        if (mp__ring_trytake(&p->parsed, &d)) {
            /* release: the PARSED slot is free again; pairs with the worker's acquire CAS */
            if (atomic_fetch_add_explicit(&p->parse_credits, 1, memory_order_release) == 0)
                mp__pool_signal(p->pool); /* a worker may have stopped for want of a credit */
            if (mp__arrive(p, d, out)) {
                rc = MP_OK;
                break;
            }
            continue;
        }
        /* Nothing ready. A deadline already past (a "try" call, as the Python
         * binding makes holding the GIL) means: neither work nor spin. */
        if (mp__expired(deadline)) {
            rc = MP_EAGAIN;
            break;
        }
        /* Otherwise do the work instead of sleeping on it (a step is one
         * chunk's work). */
        if (p->cfg.help != MP_HELP_NONE) {
            mp__chunk *mine = NULL;
            uint64_t h0 = tm.on ? mp__cpu_ns() : 0;
            bool progress = mp__work(p, &mine, p->cfg.help == MP_HELP_ALL);
            if (tm.on)
                helped_ns += mp__cpu_ns() - h0;
            if (mine && mp__arrive(p, mine, out)) {
                rc = MP_OK;
                break;
            }
            if (progress)
                continue;
            /* A worker holds a stage token: it is reading or scanning a
             * chunk (microseconds), after which there is work here again.
             * Retry for a bounded while instead of sleeping until that
             * worker has also parsed its chunk (a MARCXML chunk: ~0.5 ms;
             * 256 KiB of ISO 2709: ~0.2 ms). With MP_HELP_ALL (files,
             * memory: the holder never waits for data) always; otherwise
             * only when parsing is slow, as the holder may sit in a read. */
            if (p->help_spin && mp__tokens_held(p) &&
                (p->cfg.help == MP_HELP_ALL || mp__parse_is_slow(p)) &&
                mp__spin_budget(&spin_until)) {
                ck_pr_stall();
                continue;
            }
        }
        if (p->cfg.help == MP_HELP_ALL) {
            /* About to sleep: this thread is no longer busy, and the workers
             * must not stand back from its pipeline while it waits. */
            /* relaxed: a hint for the workers */
            atomic_store_explicit(&p->cons_busy, 0, memory_order_relaxed);
            mp__busy_clear();
            if (p->cons.alone) {
                p->cons.alone = 0;
                /* acq_rel: acquire pairs with the release of an mp__signal_helpers
                 * RMW ordered before this one - that thread skipped its signal,
                 * and the second look below sees its work */
                atomic_exchange_explicit(&p->alone, 0, memory_order_acq_rel);
                mp__pool_signal_all(p->pool); /* standing-back workers: serve it now */
                continue;                     /* the second look */
            }
            if (p->cons.allowed < mp_pool_threads(p->pool))
                /* Some workers stood back without being alone: nobody skipped
                 * a signal (the others were signalled), but those may serve it
                 * now that the mark is gone. */
                mp__pool_signal_all(p->pool);
        }
        /* relaxed: statistics only */
        uint64_t sleeps = atomic_load_explicit(&p->parsed.sleeps, memory_order_relaxed);
        rc = mp__ring_take(&p->parsed, &d, &p->cancel, deadline);
        /* relaxed: statistics only (the consumer is PARSED's only sleeper) */
        mp__count(&p->st[MP_STAGE_CONSUMER].sleeps,
                  atomic_load_explicit(&p->parsed.sleeps, memory_order_relaxed) - sleeps);
        if (rc != MP_OK)
            break;
        /* release: the PARSED slot is free again; pairs with the worker's acquire CAS */
        if (atomic_fetch_add_explicit(&p->parse_credits, 1, memory_order_release) == 0)
            mp__pool_signal(p->pool);
        if (mp__arrive(p, d, out)) {
            rc = MP_OK;
            break;
        }
    }
    /* The consumer stage's own time excludes the steps it ran for the other
     * stages (those are counted there). */
    mp__count(&p->st[MP_STAGE_CONSUMER].steps, 1);
    if (tm.on) {
        uint64_t ns = mp__cpu_ns() - tm.t0;
        mp__count(&p->st[MP_STAGE_CONSUMER].timed_steps, 1);
        mp__count(&p->st[MP_STAGE_CONSUMER].timed_ns, ns > helped_ns ? ns - helped_ns : 0);
    }
    return rc;
}

void mp__chunk_retain(mp__chunk *c)
{
    /* relaxed: the caller already holds a reference (as for any refcount increment) */
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void mp__chunk_release(mp__chunk *c)
{
    /* acq_rel: the last releaser sees every holder's accesses before recycling */
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    mp__chunk_recycle(c->pipe, c);
}

/* ---- lifecycle --------------------------------------------------------------- */

void mp__pipe_cancel(mp__pipe *p)
{
    /* release: pairs with the stages' and ring waiters' acquire loads */
    atomic_store_explicit(&p->cancel, 1, memory_order_release);
    mp__ring_wake_all(&p->free_r);
    mp__ring_wake_all(&p->filled);
    mp__ring_wake_all(&p->scanned);
    mp__ring_wake_all(&p->parsed);
    mp__pool_signal_all(p->pool);
}

int mp__pipe_cancelled(const mp__pipe *p)
{
    return mp__is_cancelled(p);
}

int mp__pipe_input_stopped(const mp__pipe *p)
{
    /* acquire: pairs with the scanner's release store of input_end */
    return mp__is_cancelled(p) || atomic_load_explicit(&p->input_end, memory_order_acquire);
}

static void mp__pipe_free(mp__pipe *p)
{
    if (p->chunks) {
        for (unsigned i = 0; i < p->T; i++) {
            mp__chunk *c = &p->chunks[i];
            if (c->pipe)
                mp__chunk_reset(c); /* unmaps a view still held */
            if (!p->slab)
                mp__buf_put(c->buf, c->cap); /* the next pipeline reuses the mapped pages */
            mp__free(c->items);
            mp__free(c->spill);
            mp__arena_free(&c->arena);
        }
    }
    mp__buf_put_huge(p->slab, p->slab_size); /* after the arenas: their first blocks are in it */
    mp__free(p->chunks);
    mp__free(p->prod.stash);
    mp__ring_destroy(&p->free_r);
    mp__ring_destroy(&p->filled);
    mp__ring_destroy(&p->scanned);
    mp__ring_destroy(&p->parsed);
    mp__free(p->cons.window);
    mp__free(p->scan.carry);
    mp__free(p);
}

static unsigned mp__pow2_above(unsigned t)
{
    unsigned n = 2;
    while (n <= t)
        n *= 2;
    return n;
}

int mp__pipe_open(mp__pipe **out, const mp__pipe_config *cfg)
{
    mp__pipe *p = NULL;
    mp_pool *pool = NULL;
    int own_pool = 0, reserved = 0;
    int rc = MP_EINVAL;

    if (!out)
        return MP_EINVAL;
    *out = NULL;
    if (!cfg || cfg->chunk_size < 64 || cfg->chunks == 1 || cfg->chunks > (1u << 20) ||
        cfg->threads > 1024 || !cfg->format.frame || !cfg->format.parse_item || !cfg->source.read)
        return MP_EINVAL;
    if (cfg->ring_size && (cfg->ring_size < 2 || (cfg->ring_size & (cfg->ring_size - 1))))
        return MP_EINVAL;
    if (cfg->emit_until && cfg->emit_until < cfg->emit_from)
        return MP_EINVAL;
    if (cfg->help < MP_HELP_NONE || cfg->help > MP_HELP_ALL)
        return MP_EINVAL;

    /* The pool first: a closed or inherited pool fails the open before
     * anything is allocated, and the reservation keeps it alive meanwhile. */
    if (cfg->pool) {
        pool = cfg->pool;
    } else {
        if ((rc = mp_pool_create(&pool, cfg->threads)) != MP_OK)
            goto fail;
        own_pool = 1;
    }
    if ((rc = mp__pool_reserve(pool)) != MP_OK)
        goto fail;
    reserved = 1;

    rc = MP_ENOMEM;
    p = mp__calloc(1, sizeof(*p));
    if (!p)
        goto fail;
    p->cfg = *cfg;
    if (p->cfg.max_unit == 0)
        p->cfg.max_unit = cfg->chunk_size * 4;
    p->pool = pool;
    p->own_pool = own_pool;
    p->gen = mp__fork_generation();
    p->T = cfg->chunks;
    {
        /* The workers that may parse for this pipeline at once: the pool's,
         * but while an MP_HELP_ALL consumer is busy at most cpus - 1 of them
         * (mp__pool_allowed: a pool with a worker per CPU does not put
         * cpus + 1 threads on this pipeline). */
        unsigned cpus = mp__pool_cpus(pool), workers = mp_pool_threads(pool);
        if (cfg->help == MP_HELP_ALL && workers >= cpus)
            workers = cpus - 1;
        if (p->T == 0) {
            /* Four chunks per thread that parses: those workers and, when it
             * helps, the consumer - one being parsed, the rest absorb jitter. */
            unsigned w = workers + (cfg->help != MP_HELP_NONE);
            p->T = w > 1 ? 4 * w : 4;
        }
        /* The consumer's bounded retry (mp__pipe_next) only helps when it
         * has a CPU of its own; otherwise it would take one from a worker. */
        p->help_spin = cfg->help != MP_HELP_NONE && cpus > 1 && workers + 1 <= cpus;
    }
    p->cfg.chunks = p->T;
    p->prod.offset = cfg->stream_offset;
    p->scan.next_ordinal = cfg->first_ordinal;
    /* relaxed: initialisation before publication (attach releases it) */
    atomic_init(&p->cancel, 0);
    atomic_init(&p->halt, 0);
    atomic_init(&p->input_end, 0);
    atomic_init(&p->err_claim, 0);
    atomic_init(&p->first_err, 0);
    atomic_init(&p->first_off, 0);
    atomic_init(&p->prod_tok, 0);
    atomic_init(&p->scan_tok, 0);
    atomic_init(&p->in_flight, 0);
    atomic_init(&p->in_flight_max, 0);
    for (int s = 0; s < MP_STAGE_COUNT; s++) {
        atomic_init(&p->st[s].items, 0);
        atomic_init(&p->st[s].bytes, 0);
        atomic_init(&p->st[s].sleeps, 0);
        atomic_init(&p->st[s].wakeups, 0);
        atomic_init(&p->st[s].steps, 0);
        atomic_init(&p->st[s].timed_steps, 0);
        atomic_init(&p->st[s].timed_ns, 0);
    }
    atomic_init(&p->chunks_local, 0);
    atomic_init(&p->chunks_consumer, 0);
    atomic_init(&p->chunks_home, 0);
    atomic_init(&p->standbys, 0);
    atomic_init(&p->cons_busy, 0);
    atomic_init(&p->alone, 0);
    atomic_init(&p->allowed, UINT_MAX);
    p->cons.allowed = UINT_MAX;

    unsigned rs = p->cfg.ring_size ? p->cfg.ring_size : mp__pow2_above(p->T);
    if ((rc = mp__ring_init(&p->free_r, MP_RING_MPSC, mp__pow2_above(p->T))) != MP_OK ||
        (rc = mp__ring_init(&p->filled, MP_RING_SPSC, rs)) != MP_OK ||
        (rc = mp__ring_init(&p->scanned, MP_RING_SPMC, rs)) != MP_OK ||
        (rc = mp__ring_init(&p->parsed, MP_RING_MPSC, rs)) != MP_OK)
        goto fail;
    atomic_init(&p->parse_credits, (int)mp__ring_capacity(&p->parsed));

    rc = MP_ENOMEM;
    p->chunks = mp__calloc(p->T, sizeof(*p->chunks));
    p->prod.stash = mp__calloc(p->T, sizeof(*p->prod.stash));
    if (!p->chunks || !p->prod.stash)
        goto fail;
    size_t arena_block = cfg->chunk_size / 2 < 4096 ? 4096 : cfg->chunk_size / 2;
    /* The slab: every chunk's buffer and first arena block in one block of
     * whole 2 MiB huge pages, when that is at least MP__SLAB_MIN - the
     * working set a reader touches at once, faulted in 2 MiB at a time
     * instead of 4 KiB (core/ARCHITECTURE.md, "Memory reuse across
     * readers"). What rounding up leaves over goes to the arenas. */
    size_t stride = (cfg->chunk_size + 63) & ~(size_t)63;
    size_t bufs = cfg->source.map ? 0 : (size_t)p->T * stride;
    /* A chunk's index took 1.0x its bytes on the realworld corpus (256 KiB
     * chunks: 262,000 bytes of arena): room for 1.5x before a second block. */
    size_t need = bufs + (size_t)p->T * (cfg->chunk_size + cfg->chunk_size / 2 + 64);
    if (need >= MP__SLAB_MIN) {
        p->slab_size = (need + MP__HUGE_PAGE - 1) / MP__HUGE_PAGE * MP__HUGE_PAGE;
        p->slab = mp__buf_get_huge(p->slab_size);
        if (!p->slab)
            goto fail;
    }
    size_t first = p->slab ? (p->slab_size - bufs) / p->T & ~(size_t)63 : 0;
    for (unsigned i = 0; i < p->T; i++) {
        mp__chunk *c = &p->chunks[i];
        c->pipe = p;
        c->index = i;
        c->cap = cfg->chunk_size;
        if (p->slab)
            mp__arena_init_first(&c->arena, arena_block, p->slab + bufs + i * first, first);
        else
            mp__arena_init(&c->arena, arena_block);
        /* relaxed: before publication */
        atomic_init(&c->refs, 0);
        if (!cfg->source.map) {
            c->buf = p->slab ? p->slab + (size_t)i * stride : mp__buf_get(cfg->chunk_size);
            if (!c->buf)
                goto fail;
        }
        c->data = c->buf;
    }
    if (p->cfg.ordered) {
        p->cons.window = mp__calloc(p->T, sizeof(*p->cons.window));
        if (!p->cons.window)
            goto fail;
    }
    for (unsigned i = 0; i < p->T; i++)
        if (!mp__ring_tryput(&p->free_r, &p->chunks[i]))
            abort(); /* impossible: FREE is sized above T */

    mp__pool_entry_init(&p->entry, mp__pipe_step);
    mp__pool_attach(pool, &p->entry);
    *out = p;
    return MP_OK;
fail:
    if (p)
        mp__pipe_free(p);
    if (reserved)
        mp__pool_unreserve(pool);
    if (own_pool)
        mp__pool_destroy_private(pool);
    return rc;
}

void mp__pipe_close(mp__pipe *p)
{
    if (!p)
        return;
    if (mp__forked(p->gen)) {
        /* A child of fork(): the workers are gone, possibly in the middle of
         * changing the chunks (a realloc half done), so nothing of theirs is
         * freed here. Unlink from the registry, give the pool back, close
         * the source; the rest stays allocated (see fork.h). */
        mp__pool_detach(p->pool, &p->entry);
        if (p->own_pool)
            mp__pool_destroy_private(p->pool);
        if (p->cfg.source.close)
            p->cfg.source.close(p->cfg.source.src);
        return;
    }
    mp__pipe_cancel(p);
    /* Grace period, then no worker inside: the stage state is ours now. */
    mp__pool_detach(p->pool, &p->entry);
    if (p->own_pool)
        mp__pool_destroy_private(p->pool);
    if (p->cfg.source.close)
        p->cfg.source.close(p->cfg.source.src);
    mp__pipe_free(p);
}

void mp__pipe_stats(const mp__pipe *p, mp_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int s = 0; s < MP_STAGE_COUNT; s++) {
        const mp__stage_counters *c = &p->st[s];
        mp_stage_stats *o = &out->stage[s];
        o->items = atomic_load_explicit(&c->items, memory_order_relaxed);             /* stats */
        o->bytes = atomic_load_explicit(&c->bytes, memory_order_relaxed);             /* stats */
        o->sleeps = atomic_load_explicit(&c->sleeps, memory_order_relaxed);           /* stats */
        o->wakeups = atomic_load_explicit(&c->wakeups, memory_order_relaxed);         /* stats */
        o->steps = atomic_load_explicit(&c->steps, memory_order_relaxed);             /* stats */
        o->timed_steps = atomic_load_explicit(&c->timed_steps, memory_order_relaxed); /* stats */
        uint64_t ns = atomic_load_explicit(&c->timed_ns, memory_order_relaxed);       /* stats */
        /* The sample scaled to every step (stats.h); a running snapshot may see
         * timed_steps > steps for a moment. */
        if (o->timed_steps == 0)
            o->cpu_ns = 0;
        else if (o->steps <= o->timed_steps)
            o->cpu_ns = ns;
        else
            o->cpu_ns = (uint64_t)((double)ns * (double)o->steps / (double)o->timed_steps);
    }
    /* Worker sleeps belong to the pool (shared by its pipelines): reported on the parser. */
    uint64_t sl, wk;
    mp__pool_counters(p->pool, &sl, &wk);
    out->stage[MP_STAGE_PARSER].sleeps += sl;
    out->stage[MP_STAGE_PARSER].wakeups += wk;
    const mp__ring *rings[MP_RING_COUNT] = {&p->free_r, &p->filled, &p->scanned, &p->parsed};
    for (int r = 0; r < MP_RING_COUNT; r++) {
        out->ring_capacity[r] = mp__ring_capacity(rings[r]);
        /* relaxed: statistics only */
        out->ring_hwm[r] = atomic_load_explicit(&rings[r]->hwm, memory_order_relaxed);
    }
    out->chunks_total = p->T;
    /* relaxed: statistics only */
    out->chunks_in_flight = atomic_load_explicit(&p->in_flight, memory_order_relaxed);
    /* relaxed: statistics only */
    out->chunks_in_flight_max = atomic_load_explicit(&p->in_flight_max, memory_order_relaxed);
    /* relaxed: statistics only */
    out->mpsc_stalls = atomic_load_explicit(&p->free_r.stalls, memory_order_relaxed) +
                       atomic_load_explicit(&p->parsed.stalls, memory_order_relaxed);
    out->workers = mp_pool_threads(p->pool);
    /* relaxed: statistics only */
    out->chunks_local = atomic_load_explicit(&p->chunks_local, memory_order_relaxed);
    /* relaxed: statistics only */
    out->chunks_home = atomic_load_explicit(&p->chunks_home, memory_order_relaxed);
    /* relaxed: statistics only */
    out->chunks_consumer = atomic_load_explicit(&p->chunks_consumer, memory_order_relaxed);
    /* relaxed: statistics only */
    out->worker_standbys = atomic_load_explicit(&p->standbys, memory_order_relaxed);
}

int mp__pipe_first_error(const mp__pipe *p, uint64_t *offset)
{
    /* acquire: pairs with mp__record_error's release store */
    int code = atomic_load_explicit(&p->first_err, memory_order_acquire);
    if (offset)
        /* relaxed: ordered after the acquire above */
        *offset = code ? atomic_load_explicit(&p->first_off, memory_order_relaxed) : 0;
    return code;
}
