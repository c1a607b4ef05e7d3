/*
 * fork.h - what marcpipe does about fork().
 *
 * fork() copies only the calling thread: in the child, the workers of every
 * pool created before the fork are gone, and so is any thread that was
 * inside a pipeline. A handle from before the fork would wait for them for
 * ever. So every pool and pipeline records the fork generation it was
 * created in; the child's generation differs, and there such handles only
 * report MP_EFORKED and release their memory (see reader.h, "fork()").
 *
 * The first call registers pthread_atfork handlers: liburcu-bp's own
 * (urcu_bp_before_fork / _after_fork_parent / _after_fork_child, which it
 * asks programs that fork without exec to call: they keep the child's RCU
 * registry free of the parent's threads), and one that bumps the
 * generation in the child.
 */
#ifndef MP_FORK_H
#define MP_FORK_H

/* The current fork generation (0 until this process is a forked child of a
 * process that used marcpipe). Registers the handlers on the first call.
 * Any thread; lock-free after the first call. */
unsigned mp__fork_generation(void);

/* True when `gen` (a handle's creation generation) is not the current one:
 * the handle was inherited across fork(). Any thread. */
int mp__forked(unsigned gen);

#endif
