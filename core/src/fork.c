/*
 * fork.c - the fork generation and marcpipe's pthread_atfork handlers
 * (see fork.h).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <urcu-bp.h>
#include "fork.h"

/* Incremented by the child handler (the child's only thread, before fork()
 * returns there); read by every handle check. */
static _Atomic unsigned mp__fork_gen;
static pthread_once_t mp__fork_once = PTHREAD_ONCE_INIT;

static void mp__fork_child(void)
{
    urcu_bp_after_fork_child();
    /* relaxed: the child has one thread; nothing else to order */
    atomic_fetch_add_explicit(&mp__fork_gen, 1, memory_order_relaxed);
}

static void mp__fork_register(void)
{
    /* Handlers run in the forking thread: prepare in reverse order of
     * registration, parent/child in order. */
    /* It fails only with ENOMEM; then fork() stays unhandled, as before
     * marcpipe knew about it (a child's old handles would hang). */
    (void)pthread_atfork(urcu_bp_before_fork, urcu_bp_after_fork_parent, mp__fork_child);
}

unsigned mp__fork_generation(void)
{
    pthread_once(&mp__fork_once, mp__fork_register);
    /* relaxed: the generation only changes in a child with one thread, before
     * any of its code runs; handles compare it with their own copy */
    return atomic_load_explicit(&mp__fork_gen, memory_order_relaxed);
}

int mp__forked(unsigned gen)
{
    /* relaxed: see mp__fork_generation */
    return atomic_load_explicit(&mp__fork_gen, memory_order_relaxed) != gen;
}
