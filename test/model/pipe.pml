/*
 * pipe.pml - Promela model of marcpipe's scheduling, wait/wake,
 * end-of-stream, cancel and detach handshakes, as implemented in
 * core/src/pool.c, core/src/pipe.c, core/src/ring.c and core/src/ec.c.
 * Checked exhaustively by spin for small sizes (test/model/run_spin.sh,
 * CTest label "model").
 *
 *   producer -FILLED-> scanner -SCANNED-> parser (credits) -PARSED-> consumer
 *      ^                                                               |
 *      +----------------------- FREE <---- release <-------------------+
 *
 * NW pool workers run mp__pipe_step (parse_one, scan token, producer
 * token) in the pool loop: snapshot the pool event count, make a pass,
 * sleep on the snapshot when the pass made no progress. The consumer is
 * its own thread (mp__pipe_next, blocking mp__ring_take on PARSED), and
 * may close at any point (cancel, detach, destroy the private pool).
 *
 * Event counts (ck_ec32, multi-producer): value + sleeper flag; a waiter
 * sets the flag with a CAS only while the value is still its snapshot and
 * enters futex_wait only while value|flag is unchanged; a signal is an
 * atomic increment that, when the flag was set, clears it and wakes all.
 * No timeouts and no spurious returns (ck_ec re-sleeps until the value
 * moves): a lost wake-up is a process blocked forever.
 *
 * Each step that is one atomic instruction (or a ck ring operation, which
 * is linearizable) is one atomic step; everything between interleaves.
 * Memory is sequentially consistent here (the code's seq_cst Dekker pairs
 * and release/acquire chains are what make that sound on real hardware).
 *
 * Checked:
 *  - no invalid end state: no lost wake-up, no deadlock (pan -E off);
 *  - the consumer gets every batch in sequence order and the terminal
 *    chunk only after all of them (assertions);
 *  - after detach returns no worker is inside the pipeline (assertion);
 *  - a ring put that the code asserts cannot fail never fails;
 *  - every chunk is accounted for at a clean end of stream.
 *
 * -DMUTANT_LATE_SNAPSHOT moves the worker's snapshot after its pass (a
 * plausible mistake): spin must find the lost wake-up, which shows the
 * model can see one (run_spin.sh expects that run to fail).
 *
 * Sizes: NDATA data chunks (+1 terminal), T chunk buffers, RCAP usable
 * slots in FILLED/SCANNED/PARSED (1 = ring_size 2, the tiny-ring test
 * mode that exercises the "pending" paths), NW workers, CARRY = 1 lets the
 * scanner recycle a chunk whose bytes all went into the carry.
 */

#ifndef NDATA
#define NDATA 2
#endif
#ifndef T
#define T 2
#endif
#ifndef RCAP
#define RCAP 1
#endif
#ifndef NW
#define NW 2
#endif
#ifndef CARRY
#define CARRY 0
#endif
#ifndef EARLY
#define EARLY 1     /* 1: the consumer may close at any point (cancel paths) */
#endif

#define EC_POOL 0   /* pool->ec: workers sleep on it */
#define EC_IDLE 1   /* pool->idle: closers sleep on it */
#define EC_PNE  2   /* parsed.not_empty: the consumer sleeps on it */
#define NEC     3

#define TERM    128 /* flag bit in a descriptor: terminal chunk */
#define NONE    255

byte ecv[NEC];
bit  ecf[NEC];
byte sleeping[NW + 3]; /* per _pid: 1 + ec it sleeps on, 0 awake */
hidden byte q;

chan FREE    = [T] of { byte };
chan FILLED  = [RCAP] of { byte };
chan SCANNED = [RCAP] of { byte };
chan PARSED  = [RCAP] of { byte };

bit  cancel, shutdown, closing, registered = 1;
byte nactive, closers, instep, inrcu, workers_live;
bit  prod_tok, scan_tok;
byte credits = RCAP;
/* producer state (prod_tok owner) */
byte prod_pending = NONE, produced;
bit  prod_done;
/* scanner state (scan_tok owner) */
byte scan_pending = NONE, next_seq;
bit  scan_done;
/* consumer observations */
byte delivered;
bit  saw_term;

/* ---- event counts ------------------------------------------------------ */
inline ec_signal(e) {
    bit fl;
    atomic { ecv[e] = ecv[e] + 1; fl = ecf[e] }           /* lock incl */
    if
    :: fl ->
        ecf[e] = 0;                                          /* ck_ec32_wake: clear flag */
        atomic {                                             /* futex_wake(INT_MAX) */
            q = 0;
            do
            :: q < NW + 3 -> if :: sleeping[q] == e + 1 -> sleeping[q] = 0 :: else fi; q++
            :: else -> break
            od
        }
    :: else
    fi;
    fl = 0
}
/* ck_ec32_wait: returns only once the value moved (it re-sleeps after a
 * wake-up that left the value unchanged). CAS and futex_wait are separate
 * steps: a signal may slip in between them. */
inline ec_wait(e, old) {
    do
    :: atomic { ecv[e] != old -> break }
    :: atomic { ecv[e] == old -> ecf[e] = 1 };               /* CAS old -> old|flag */
       atomic { if :: ecv[e] == old && ecf[e] -> sleeping[_pid] = e + 1 :: else fi };
       (sleeping[_pid] == 0)                                 /* futex_wait returns */
    od
}

/* ---- pipe.c: stages ----------------------------------------------------- */
inline pool_signal() { ec_signal(EC_POOL) }

inline chunk_recycle() {
    assert(nfull(FREE));       /* "impossible: more than T chunks" */
    FREE!0;
    pool_signal()
}

inline parse_one(prog) {
    byte pc;
    bit ok;
    atomic { if :: credits > 0 -> credits--; ok = 1 :: else -> ok = 0 fi }
    if
    :: ok ->
        atomic { if :: nempty(SCANNED) -> SCANNED?pc :: empty(SCANNED) -> ok = 0 fi }
        if
        :: ok ->
            assert(nfull(PARSED));              /* "impossible: PARSED over-committed" */
            PARSED!pc;
            ec_signal(EC_PNE);                  /* tryput signals not_empty */
            prog = 1
        :: else -> credits++                    /* credit back */
        fi
    :: else
    fi;
    pc = 0; ok = 0
}

inline scan_emit(c) {
    c = (c & TERM) | next_seq;
    next_seq++;
    if
    :: atomic { nfull(SCANNED) -> SCANNED!c }; pool_signal()
    :: atomic { full(SCANNED) -> scan_pending = c }
    fi
}

inline scan_one(prog) {
    byte sc;
    if
    :: scan_pending != NONE ->
        if
        :: atomic { nfull(SCANNED) -> SCANNED!scan_pending; scan_pending = NONE };
           pool_signal(); prog = 1
        :: atomic { full(SCANNED) -> goto scan_out }   /* return false */
        fi
    :: else
    fi;
    if
    :: scan_done || cancel -> goto scan_out
    :: else
    fi;
    if
    :: atomic { nempty(FILLED) -> FILLED?sc }
    :: atomic { empty(FILLED) -> goto scan_out }
    fi;
    if
    :: sc & TERM -> scan_done = 1; scan_emit(sc)
    :: else ->
        if
        :: CARRY -> chunk_recycle()            /* every byte went into the carry */
        :: scan_emit(sc)
        fi
    fi;
    prog = 1;
scan_out:
    sc = 0
}

inline produce_one(prog) {
    byte pd;
    if
    :: prod_pending != NONE ->
        if
        :: atomic { nfull(FILLED) -> FILLED!prod_pending; prod_pending = NONE };
           pool_signal(); prog = 1
        :: atomic { full(FILLED) -> goto prod_out }
        fi
    :: else
    fi;
    if
    :: prod_done -> goto prod_out
    :: else
    fi;
    if
    :: cancel -> prod_done = 1; goto prod_out
    :: else
    fi;
    if
    :: atomic { nempty(FREE) -> FREE?pd }
    :: atomic { empty(FREE) -> goto prod_out }
    fi;
    if
    :: produced == NDATA -> pd = TERM; prod_done = 1
    :: else -> pd = 0; produced++
    fi;
    if
    :: atomic { nfull(FILLED) -> FILLED!pd }; pool_signal()
    :: atomic { full(FILLED) -> prod_pending = pd }
    fi;
    prog = 1;
prod_out:
    pd = 0
}

/* mp__token_take: relaxed pre-check + exchange; one atomic step here */
/* mp__pipe_step: no read right after a scan made progress (the next pass
 * parses the scanned chunk first; a read may block) */
inline pipe_step(prog) {
    bit tk, scanned;
    if
    :: cancel -> skip
    :: else ->
        parse_one(prog);
        atomic { tk = !scan_tok; scan_tok = 1 }
        if :: tk -> scan_one(scanned); scan_tok = 0 :: else fi;
        if
        :: scanned -> prog = 1
        :: else ->
            atomic { tk = !prod_tok; prod_tok = 1 }
            if :: tk -> produce_one(prog); prod_tok = 0 :: else fi
        fi
    fi;
    tk = 0;
    scanned = 0
}

/* ---- pool.c: the worker loop --------------------------------------------- */
proctype worker() {
    byte v;
    bit prog, pinned;
    do
    ::
#ifndef MUTANT_LATE_SNAPSHOT
       v = ecv[EC_POOL];                                 /* snapshot before the pass */
#endif
       if :: shutdown -> break :: else fi;
       prog = 0;
       /* pin batch: inside rcu_read_lock, find the entry if registered */
       atomic { if :: registered -> inrcu++; pinned = 1 :: else -> pinned = 0 fi }
       if
       :: pinned ->
           nactive++;                                     /* seq_cst */
           if
           :: closing -> nactive--; pinned = 0;           /* unpin at once */
              if :: closers -> ec_signal(EC_IDLE) :: else fi
           :: else
           fi;
           inrcu--                                       /* rcu_read_unlock */
       :: else
       fi;
       if
       :: pinned ->
           if
           :: !closing -> instep++; pipe_step(prog); instep--
           :: else
           fi;
           nactive--;                                     /* unpin, seq_cst */
           if :: closers -> ec_signal(EC_IDLE) :: else fi
       :: else
       fi;
       pinned = 0;
#ifdef MUTANT_LATE_SNAPSHOT
       v = ecv[EC_POOL];      /* WRONG: a signal during the pass is lost */
#endif
       if
       :: !prog -> ec_wait(EC_POOL, v)
       :: else
       fi
    od;
    workers_live--
}

/* ---- the consumer: mp__pipe_next + release, then mp__pipe_close ------------- */
proctype consumer() {
    byte c, v, nseq;
    bit ok;
    bit window[T];
    bit term_in[T];
    bit holding;        /* holds a delivered data chunk until the next call */

    do
    :: saw_term -> break
    :: !saw_term ->
        if
        :: holding -> holding = 0; chunk_recycle()       /* mp__chunk_release */
        :: else
        fi;
        if
        :: EARLY -> goto close                            /* early close, any time */
        :: true
        fi;
        if
        :: window[nseq % T] ->                            /* deliver from the window */
            window[nseq % T] = 0;
            if
            :: term_in[nseq % T] -> term_in[nseq % T] = 0; saw_term = 1;
               assert(delivered == nseq)
            :: else -> delivered++; holding = 1
            fi;
            nseq++
        :: else ->
            /* mp__ring_take(PARSED): trytake, snapshot, re-check, cancel, wait */
            do
            :: atomic { nempty(PARSED) -> PARSED?c; ok = 1 }; break
            :: atomic { empty(PARSED) -> v = ecv[EC_PNE] };
               if
               :: atomic { nempty(PARSED) -> PARSED?c; ok = 1 }; break
               :: atomic { empty(PARSED) -> ec_wait(EC_PNE, v) }
               fi
            od;
            credits++;                                    /* release: a PARSED slot */
            pool_signal();
            assert((c & 127) >= nseq && (c & 127) < nseq + T);
            assert(!window[(c & 127) % T]);
            window[(c & 127) % T] = 1;
            term_in[(c & 127) % T] = (c & TERM) != 0;
            c = 0; v = 0
        fi
    od;
    /* clean end: all batches in order, then the terminal chunk */
    assert(delivered + 1 == next_seq);
close:
    /* mp__pipe_cancel: store cancel, wake the rings' sleepers, signal the pool */
    cancel = 1;
    ec_signal(EC_PNE);
    pool_signal();
    /* mp__pool_detach */
    closing = 1;
    registered = 0;                                       /* cds_lfht_del */
    (inrcu == 0);                                         /* synchronize_rcu */
    closers++;
    do
    :: v = ecv[EC_IDLE];
       if
       :: nactive == 0 -> break
       :: else -> ec_wait(EC_IDLE, v)
       fi
    od;
    closers--;
    assert(instep == 0 && nactive == 0);                  /* nobody inside the pipe */
    /* mp_pool_destroy (private pool): shutdown, signal, join */
    shutdown = 1;
    pool_signal();
    (workers_live == 0)
}

init {
    byte k;
    atomic {
        k = 0;
        do :: k < T -> FREE!0; k++ :: else -> break od;
        workers_live = NW;
        k = 0;
        do :: k < NW -> run worker(); k++ :: else -> break od;
        run consumer()
    }
}
