/* hl_crash.c — a trace that ends where the program crashed.  A fatal signal
 * no hook sees coming (a segfault; glibc aborting from inside free on a
 * double free, which reaches abort through no interposable call) used to
 * cost the trace its last ~50 ms block and its END; a crash in the first
 * 50 ms, the whole trace.  For SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT
 * left at their default action, a handler of ours finishes the trace (END
 * "crash" and the signal's number) and lets the signal do what it would
 * have done:
 *   - a fault the kernel raised returns to the faulting instruction, which
 *     faults again under the default action: the core dump and the exit
 *     status are the program's own, from the place it crashed;
 *   - a signal sent (abort's raise, kill) is sent again, under the
 *     default action.
 * The handler is one-shot (SA_RESETHAND) and invisible: sigaction(),
 * signal() and its older forms (bsd_signal, sysv_signal, sigset) report
 * the default action while it is in place, and a handler
 * the program installs simply replaces it (Rust's runtime, a JVM, Python's
 * faulthandler).  The hook side (hl_hooks_on_crash) declines where
 * finishing could wait on the crashed thread itself: inside heapline's own
 * code, in its writer, in a vfork child. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hl_crash.h"
#include "hl_hooks.h"

#define HL_EXPORT __attribute__((visibility("default")))

static const int crash_sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
static _Atomic int ours[NSIG]; /* our handler is in place for this signal */
static _Atomic int fired[NSIG]; /* our handler has run for this signal */

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef void (*sighandler_fn)(int);
typedef sighandler_fn (*signal_fn)(int, sighandler_fn);

static sigaction_fn real_sigaction(void)
{
	static void *_Atomic next;
	return (sigaction_fn)hl_next_fn(&next, "sigaction");
}

static void on_crash(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	int e = errno;
	int first = !atomic_exchange(&fired[sig], 1);
	atomic_store(&ours[sig], 0); /* SA_RESETHAND: the default action is back */
	if (first)
		hl_hooks_on_crash(sig);
	/* si_code > 0: raised by the kernel for an instruction, which runs
	 * again when this returns; else sent, so sent again (delivered when
	 * this returns: the signal is blocked while its handler runs).  A
	 * second call (a handler that took our place and chains to us, for a
	 * fault that recurs) gets the default action put back and the signal
	 * sent: the crash it was. */
	if (!first) {
		struct sigaction dfl;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigaction_fn fn = real_sigaction();
		if (fn)
			fn(sig, &dfl, NULL);
	}
	if (!first || si->si_code <= 0)
		syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
	errno = e;
}

void hl_crash_install(void)
{
	sigaction_fn sa_fn = real_sigaction();
	if (!sa_fn)
		return;
	for (size_t i = 0; i < sizeof(crash_sigs) / sizeof(crash_sigs[0]); i++) {
		int sig = crash_sigs[i];
		struct sigaction old, sa;
		if (sa_fn(sig, NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) ||
		    old.sa_handler != SIG_DFL)
			continue;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_crash;
		sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_ONSTACK | SA_RESTART;
		sigfillset(&sa.sa_mask);
		atomic_store(&ours[sig], 1);
		if (sa_fn(sig, &sa, NULL) != 0)
			atomic_store(&ours[sig], 0);
	}
}

static int is_ours(int sig)
{
	return sig > 0 && sig < NSIG && atomic_load(&ours[sig]);
}

/* The program's view: the default action while ours is in place. */
HL_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	sigaction_fn fn = real_sigaction();
	if (!fn)
		return errno = ENOSYS, -1;
	int was_ours = is_ours(sig);
	int r = fn(sig, act, old);
	if (r == 0 && was_ours) {
		if (old && (old->sa_flags & SA_SIGINFO) && old->sa_sigaction == on_crash) {
			memset(old, 0, sizeof(*old));
			old->sa_handler = SIG_DFL;
		}
		if (act)
			atomic_store(&ours[sig], 0);
	}
	return r;
}

/* signal() and its older forms: the same, through the libc function. */
static sighandler_fn set_handler(void *_Atomic *next, const char *name, int sig,
				 sighandler_fn handler)
{
	signal_fn fn = (signal_fn)hl_next_fn(next, name);
	if (!fn)
		return errno = ENOSYS, SIG_ERR;
	int was_ours = is_ours(sig);
	sighandler_fn r = fn(sig, handler);
	if (r != SIG_ERR && was_ours) {
		atomic_store(&ours[sig], 0);
		if (r == (sighandler_fn)(void *)on_crash)
			r = SIG_DFL;
	}
	return r;
}

#define SET_HANDLER(name)                                                                          \
	HL_EXPORT sighandler_fn name(int sig, sighandler_fn handler)                               \
	{                                                                                          \
		static void *_Atomic next;                                                         \
		return set_handler(&next, #name, sig, handler);                                    \
	}

SET_HANDLER(signal)
SET_HANDLER(bsd_signal)
SET_HANDLER(sysv_signal)
SET_HANDLER(sigset)
