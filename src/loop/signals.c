/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process signals, handled synchronously by one thread with sigtimedwait: no async-signal-safety
 * constraints, and callbacks may take locks or post to workers. The set is blocked in every
 * thread before the workers start (they inherit the mask), so only the signal thread receives
 * them; SIGPIPE stays blocked so writes to a closed peer fail with EPIPE instead.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "ig/loop.h"

/* How often the wait re-checks the quit flag if the wake-up signal cannot be sent. */
#define SIGNAL_POLL_NS 200000000L
/* Sent to the signal thread only (pthread_kill) to end its wait early. */
#define SIGNAL_WAKE SIGUSR2

static _Atomic int quit_requested;
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t run_thread;
static int running;

static void fill_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGPIPE);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

void ig_signals_block(void)
{
    sigset_t set;
    fill_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

void ig_signals_run(ig_signal_cb on_term, ig_signal_cb on_hup, void *arg)
{
    sigset_t set, old;
    fill_set(&set);
    sigaddset(&set, SIGNAL_WAKE);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    sigdelset(&set, SIGPIPE); /* stays blocked, never handled */

    pthread_mutex_lock(&run_lock);
    run_thread = pthread_self();
    running = 1;
    pthread_mutex_unlock(&run_lock);

    while (!atomic_load(&quit_requested)) {
        struct timespec ts = {0, SIGNAL_POLL_NS};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == -1)
            continue; /* EAGAIN (timeout) or EINTR */
        if (sig == SIGTERM || sig == SIGINT) {
            if (on_term != NULL)
                on_term(sig, arg);
        } else if (sig == SIGHUP) {
            if (on_hup != NULL)
                on_hup(sig, arg);
        }
    }

    pthread_mutex_lock(&run_lock);
    running = 0;
    pthread_mutex_unlock(&run_lock);
    /* Consume a wake-up that raced with the flag so it cannot fire later. */
    sigset_t wake;
    sigemptyset(&wake);
    sigaddset(&wake, SIGNAL_WAKE);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&wake, NULL, &zero) == SIGNAL_WAKE)
        ;
    atomic_store(&quit_requested, 0);
    /* Restore the wake signal's disposition for the caller; the process set stays blocked. */
    if (!sigismember(&old, SIGNAL_WAKE))
        pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
}

void ig_signals_quit(void)
{
    atomic_store(&quit_requested, 1);
    pthread_mutex_lock(&run_lock);
    if (running)
        pthread_kill(run_thread, SIGNAL_WAKE);
    pthread_mutex_unlock(&run_lock);
}
