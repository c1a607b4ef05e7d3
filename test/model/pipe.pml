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
 * NW pool workers run mp__pipe_step = mp__work in the pool loop: snapshot
 * the pool event count, make a pass, sleep on the snapshot when the pass
 * made no progress. mp__work (the locality policy): with a PARSED credit,
 * parse a chunk waiting on SCANNED; else read a chunk (producer token),
 * scan what FILLED holds (scanner token) keeping the last data chunk
 * scanned, and parse that one here (credit) - or put everything on
 * SCANNED (no credit). The consumer is its own thread (mp__pipe_next):
 * window, trytake PARSED (credit back, pool signalled only when the
 * credits were 0), then - HELP - the same mp__work keeping what it parses
 * in its window, then the blocking mp__ring_take on PARSED; it may close
 * at any point (cancel, detach, destroy the private pool).
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
 * Standing back: with HELP 2 the consumer's verdict at each call is
 * nondeterministic - alone (every worker stands back from its work while
 * its mark holds), some (with NW >= 2: workers numbered 1 and up stand
 * back and sleep on EC_STBY, the pool's standby event count, which only
 * signal_all signals) or none; -DSOME_ONLY leaves out "alone".
 * -DMUTANT_SIGNAL_ALL_POOL_ONLY makes signal_all forget EC_STBY: spin must
 * find the worker left asleep there.
 *
 * -DMUTANT_LATE_SNAPSHOT moves the worker's snapshot after its pass (a
 * plausible mistake): spin must find the lost wake-up, which shows the
 * model can see one (run_spin.sh expects that run to fail).
 *
 * Sizes: NDATA data chunks (+1 terminal), T chunk buffers, RCAP usable
 * slots in FILLED/SCANNED/PARSED (1 = ring_size 2, the tiny-ring test
 * mode that exercises the "pending" paths), NW workers, CARRY = 1 lets the
 * scanner recycle a chunk whose bytes all went into the carry, HELP = what
 * the consumer does while it waits (0 nothing, 1 scan and parse, 2 also
 * read: mp__help).
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
#ifndef HELP
#define HELP 2      /* mp__help of the consumer: 0 none, 1 scan + parse, 2 all */
#endif
#ifndef ALONE
#define ALONE 1     /* with HELP 2: the consumer may run alone, workers standing back */
#endif

#define EC_POOL 0   /* pool->ec: workers sleep on it */
#define EC_IDLE 1   /* pool->idle: closers sleep on it */
#define EC_PNE  2   /* parsed.not_empty: the consumer sleeps on it */
#define EC_STBY 3   /* pool->standby: workers that stood back from some work sleep on it */
#define NEC     4

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
/* Standing back (pipe.c: p->alone, p->cons_busy): alone is the consumer's
 * verdict at each next() call that busy consumer threads fill the CPUs
 * (nondeterministic here); busy its mark, cleared before it sleeps. */
bit  alone, busy;
/* The allowance (pipe.c: p->allowed) below the pool's size but above 0:
 * workers numbered 1 and up (_pid 2 and up) stand back while the mark is
 * fresh, and sleep on EC_STBY, which only signal_all signals. */
bit  some;
byte nactive, closers, instep, inrcu, workers_live;
byte prod_tok, scan_tok;   /* 0 free, 1 held, 2 held and a taker failed (mp__token_take) */
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
/* mp__pool_signal_all: the standing-back workers too. -DMUTANT_SIGNAL_ALL_POOL_ONLY
 * forgets them: spin must find the worker left asleep at shutdown. */
#if NW >= 2 && !defined(MUTANT_SIGNAL_ALL_POOL_ONLY)
inline signal_all() { ec_signal(EC_STBY); ec_signal(EC_POOL) }
#else
/* one worker: nobody is numbered above an allowance of 1 (and EC_STBY's
 * counter would only grow the state space) */
inline signal_all() { ec_signal(EC_POOL) }
#endif
/* mp__signal_helpers: no signal while the consumer runs alone (the load of
 * alone is a step of its own, after the put that made the work visible). */
inline help_signal() { if :: !alone -> pool_signal() :: else fi }

inline chunk_recycle() {
    assert(nfull(FREE));       /* "impossible: more than T chunks" */
    FREE!0;
    help_signal()
}

inline scan_put(c, pok) {
    if
    :: atomic { nfull(SCANNED) -> SCANNED!c }; help_signal(); pok = 1
    :: atomic { full(SCANNED) -> scan_pending = c }; pok = 0
    fi
}

/* mp__scan_some: scan FILLED in order; the last data chunk scanned is
 * kept (returned in mine) when keep, else put on SCANNED. */
inline scan_some(prog, keep, mine) {
    byte sc, held = NONE;
    bit sok;
    if
    :: scan_pending != NONE ->
        if
        :: atomic { nfull(SCANNED) -> SCANNED!scan_pending; scan_pending = NONE };
           help_signal(); prog = 1
        :: atomic { full(SCANNED) -> goto scan_out }   /* return false */
        fi
    :: else
    fi;
    do
    :: scan_done || cancel -> break
    :: else ->
        if
        :: held != NONE ->
            if
            :: empty(FILLED) -> break                  /* exact: only we take */
            :: nempty(FILLED)
            fi;
            scan_put(held, sok);
            held = NONE;
            if :: !sok -> break :: else fi
        :: else
        fi;
        if
        :: atomic { nempty(FILLED) -> FILLED?sc }
        :: atomic { empty(FILLED) -> break }
        fi;
        prog = 1;
        if
        :: sc & TERM -> scan_done = 1; sc = TERM | next_seq; next_seq++;
           scan_put(sc, sok);
           if :: !sok -> break :: else fi
        :: else ->
            if
            :: CARRY -> chunk_recycle()               /* every byte went into the carry */
            :: true -> sc = next_seq; next_seq++;
               if
               :: keep -> held = sc
               :: else -> scan_put(sc, sok); if :: !sok -> break :: else fi
               fi
            fi
        fi
    od;
    if
    :: held != NONE && keep -> mine = held
    :: held != NONE && !keep -> scan_put(held, sok)
    :: else
    fi;
scan_out:
    sc = 0; held = NONE; sok = 0
}

inline produce_one(prog, rd) {
    byte pd;
    if
    :: prod_pending != NONE ->
        if
        :: atomic { nfull(FILLED) -> FILLED!prod_pending; prod_pending = NONE };
           help_signal(); prog = 1
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
    :: atomic { nfull(FILLED) -> FILLED!pd }; rd = 1; help_signal()
    :: atomic { full(FILLED) -> prod_pending = pd }
    fi;
    prog = 1;
prod_out:
    pd = 0
}

/* mp__token_take (its CAS loop's outcome is one atomic step): a loser marks
 * the token; mp__token_give signals the pool when it was marked and the
 * giver is the consumer (cons). -DMUTANT_NO_TOKEN_MARK drops that signal:
 * spin must find the lost wake-up it causes. */
inline take_token(tok, got) {
    atomic { if :: tok == 0 -> tok = 1; got = 1 :: else -> tok = 2; got = 0 fi }
}
inline give_token(tok, marked, cons) {
    atomic { marked = (tok == 2) && cons; tok = 0 };
#ifndef MUTANT_NO_TOKEN_MARK
    if :: marked -> pool_signal() :: else fi
#endif
}

/* mp__work. cons = 1: the consumer (no credit; the parsed chunk comes back
 * in mine for its window); cons = 0: a worker (the parsed chunk goes to
 * PARSED under the credit). No read while a scanned chunk waits on SCANNED
 * (a read may block: the waiting chunk is parsed first). The bounded spin
 * for the scanner token only adds chances and is not modelled. Parsing
 * itself is a no-op. */
inline work(prog, cons, mine, produce) {
    bit cr, tk, rd;
    mine = NONE;
    if
    :: cons -> cr = 1
    :: else -> atomic { if :: credits > 0 -> credits--; cr = 1 :: else -> cr = 0 fi }
    fi;
    if
    :: cr -> atomic { if :: nempty(SCANNED) -> SCANNED?mine :: empty(SCANNED) fi }
    :: else
    fi;
    if
    :: mine == NONE ->
        if
        :: produce && len(SCANNED) == 0 ->   /* never read while a scanned chunk waits */
            take_token(prod_tok, tk);
            if :: tk -> produce_one(prog, rd); give_token(prod_tok, tk, cons) :: else fi
        :: else
        fi;
        take_token(scan_tok, tk);
        if :: tk -> scan_some(prog, cr, mine); give_token(scan_tok, tk, cons) :: else fi
    :: else
    fi;
    if
    :: mine != NONE ->
        prog = 1;
        if
        :: !cons ->
            assert(nfull(PARSED));              /* "impossible: PARSED over-committed" */
            PARSED!mine;
            ec_signal(EC_PNE);                  /* tryput signals not_empty */
            mine = NONE
        :: else
        fi
    :: else ->
        if :: cr && !cons -> credits++ :: else fi /* credit back unused, no signal */
    fi;
    cr = 0; tk = 0; rd = 0
}

/* mp__pipe_step. A worker that stands back (the consumer runs alone and
 * its mark has not lapsed) makes no progress and - here - sleeps without
 * a timeout: the code's 10 ms standby timeout is not needed for progress,
 * and leaving it out lets spin find any wake-up the protocol loses. The
 * mark may have lapsed at any time (the worker then helps). */
inline pipe_step(prog, stby) {
    byte wm;
    if
    :: cancel -> skip
    :: !cancel && alone && busy -> skip
    :: !cancel && !alone && some && busy && _pid >= 2 -> stby = 1
    :: !cancel -> work(prog, 0, wm, 1)
    fi;
    wm = 0
}

/* ---- pool.c: the worker loop --------------------------------------------- */
proctype worker() {
    byte v, vs;
    bit prog, pinned, stby;
    do
    ::
#ifndef MUTANT_LATE_SNAPSHOT
       v = ecv[EC_POOL];                                 /* snapshot before the pass */
#endif
       vs = ecv[EC_STBY];
       stby = 0;
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
           :: !closing -> instep++; pipe_step(prog, stby); instep--
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
       :: !prog && stby -> ec_wait(EC_STBY, vs)
       :: !prog && !stby -> ec_wait(EC_POOL, v)
       :: else
       fi
    od;
    workers_live--
}

/* ---- the consumer: mp__pipe_next + release, then mp__pipe_close ------------- */
proctype consumer() {
    byte c, v, nseq;
    bit ok, prog, cz;
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
#if ALONE
        /* mp__pipe_next's entry: mark busy; the allowance: 0 (alone), 1
         * of NW (some), all - a rise signals all the workers */
        if
        :: HELP == 2 ->
            busy = 1;
            if
#ifndef SOME_ONLY
            :: alone = 1; some = 0
#endif
            :: alone -> alone = 0; signal_all()
            :: !alone -> skip
#if NW >= 2
            :: alone -> alone = 0; some = 1; signal_all()
            :: !alone && !some -> some = 1
            :: some -> some = 0; signal_all()
#endif
            fi
        :: else
        fi;
#endif
next_call:
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
            /* mp__pipe_next: trytake PARSED; else help; else mp__ring_take */
            ok = 0;
            atomic { if :: nempty(PARSED) -> PARSED?c; ok = 1 :: empty(PARSED) fi };
            if
            :: !ok && HELP > 0 ->
                prog = 0;
                work(prog, 1, c, HELP == 2);
                if
                :: c != NONE ->
                    assert((c & 127) >= nseq && (c & 127) < nseq + T);
                    assert(!window[(c & 127) % T]);
                    window[(c & 127) % T] = 1;
                    term_in[(c & 127) % T] = (c & TERM) != 0;  /* taken from SCANNED */
                    c = 0
                :: else
                fi;
                if :: prog -> goto next_call :: else fi  /* progress: look again */
#if ALONE
                /* About to sleep: unmark; if it ran alone, stop, signal the
                 * pool and look again (the Dekker pair with help_signal).
                 * -DMUTANT_NO_SECOND_LOOK sleeps still alone: spin must
                 * find the lost wake-up. */
                if
                :: HELP == 2 ->
                    busy = 0;
#ifndef MUTANT_NO_SECOND_LOOK
                    if :: alone -> alone = 0; signal_all(); goto next_call :: else fi
#endif
                    /* some stood back without anyone skipping a signal: let
                     * them serve it now the mark is gone */
                    if :: some -> signal_all() :: else fi
                :: else
                fi;
#endif
            :: else
            fi;
            do
            :: ok -> break
            :: !ok ->
               atomic { if :: nempty(PARSED) -> PARSED?c; ok = 1 :: empty(PARSED) -> v = ecv[EC_PNE] fi };
               if
               :: ok -> break
               :: else
               fi;
               if
               :: atomic { nempty(PARSED) -> PARSED?c; ok = 1 }; break
               :: atomic { empty(PARSED) -> ec_wait(EC_PNE, v) }
               fi
            od;
            /* release: a PARSED slot; the pool is signalled only when the
             * credits were 0 (a worker may have stopped for want of one) */
            atomic { cz = (credits == 0); credits++ };
            if :: cz -> pool_signal() :: else fi;
            cz = 0;
            assert((c & 127) >= nseq && (c & 127) < nseq + T);
            assert(!window[(c & 127) % T]);
            window[(c & 127) % T] = 1;
            term_in[(c & 127) % T] = (c & TERM) != 0;
            c = 0; v = 0; ok = 0
        fi
    od;
    /* clean end: all batches in order, then the terminal chunk */
    assert(delivered + 1 == next_seq);
close:
    /* mp__pipe_cancel: store cancel, wake the rings' sleepers, signal the pool */
    cancel = 1;
    ec_signal(EC_PNE);
    signal_all();
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
    signal_all();
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
