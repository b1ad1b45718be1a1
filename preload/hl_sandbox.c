/* hl_sandbox.c — a program putting itself in a sandbox.  Exports prctl and
 * syscall (glibc's, wrapped), the two ways a seccomp filter goes in
 * (PR_SET_SECCOMP; the seccomp system call, which libseccomp uses), and
 * unshare and setns, whose user namespaces want a single-threaded process.
 *
 * A filter may forbid what heapline does later: open /proc/self/statm for
 * the RSS, create the trace file, open a module's file for its unwind
 * tables, start a thread.  What it forbids kills the process when the
 * filter says so, and a filter with SECCOMP_FILTER_FLAG_TSYNC applies to
 * the writer thread too (examples/seccomp_sandbox.c: the program died of
 * SIGSYS, with no trace).  So just before a filter goes in,
 * hl_hooks_before_sandbox does what can no longer be done after. */
#define _GNU_SOURCE 1 /* CLONE_* */
#include <errno.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "hl_hooks.h"

#define HL_EXPORT __attribute__((visibility("default")))

/* The seccomp or prctl system call with its first arguments (from the
 * assembly below, and prctl): a filter or strict mode is going in. */
/* unshare and setns that need the process to be one thread: a user
 * namespace (the kernel refuses it to a multi-threaded process: `unshare -U`,
 * bubblewrap, podman), and setns into a mount namespace (refused while
 * another thread shares the filesystem context, as heapline's writer does).
 * The writer thread is stopped for them (hl_hooks_before_single_thread);
 * the next event starts it again, on the same trace. */
static int needs_one_thread(long nr, unsigned long a1, unsigned long a2)
{
	if (nr == SYS_unshare)
		return (a1 & (CLONE_NEWUSER | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)) != 0;
	if (nr == SYS_setns)
		return a2 == 0 || a2 == CLONE_NEWUSER || a2 == CLONE_NEWNS;
	return 0;
}

__attribute__((used, visibility("hidden"))) void hl_sandbox_syscall_hook(long nr, unsigned long a1,
									unsigned long a2,
									unsigned long a3)
{
	if (needs_one_thread(nr, a1, a2))
		hl_hooks_before_single_thread();
	else if (nr == SYS_seccomp && (a1 == SECCOMP_SET_MODE_STRICT ||
				  (a1 == SECCOMP_SET_MODE_FILTER && a3)))
		hl_hooks_before_sandbox(a1 == SECCOMP_SET_MODE_STRICT);
	else if (nr == SYS_prctl && a1 == PR_SET_SECCOMP &&
		 (a2 == SECCOMP_MODE_STRICT || (a2 == SECCOMP_MODE_FILTER && a3)))
		hl_hooks_before_sandbox(a2 == SECCOMP_MODE_STRICT);
}

/* glibc's errno convention for the assembly below. */
__attribute__((used, visibility("hidden"))) long hl_sandbox_syscall_error(long ret)
{
	errno = (int)-ret;
	return -1;
}

#define STR_(x) #x
#define STR(x)	STR_(x)

/* syscall(): glibc's instruction for instruction (a frameless system call:
 * clone and vfork through it behave as through glibc's), after a look at
 * the number.  The seccomp and prctl calls first pass the hook, the six
 * argument registers kept around it. */
__asm__(".text\n"
	".globl syscall\n"
	".type syscall, @function\n"
	".p2align 4\n"
	"syscall:\n"
	".cfi_startproc\n"
	"	cmpq $" STR(SYS_seccomp) ", %rdi\n"
	"	je 2f\n"
	"	cmpq $" STR(SYS_prctl) ", %rdi\n"
	"	je 2f\n"
	"	cmpq $" STR(SYS_unshare) ", %rdi\n"
	"	je 2f\n"
	"	cmpq $" STR(SYS_setns) ", %rdi\n"
	"	je 2f\n"
	"1:	movq %rdi, %rax\n"
	"	movq %rsi, %rdi\n"
	"	movq %rdx, %rsi\n"
	"	movq %rcx, %rdx\n"
	"	movq %r8, %r10\n"
	"	movq %r9, %r8\n"
	"	movq 8(%rsp), %r9\n"
	"	syscall\n"
	"	cmpq $-4095, %rax\n"
	"	jae 3f\n"
	"	ret\n"
	"3:	movq %rax, %rdi\n"
	"	jmp hl_sandbox_syscall_error\n"
	"2:	pushq %rdi\n"
	".cfi_adjust_cfa_offset 8\n"
	"	pushq %rsi\n"
	".cfi_adjust_cfa_offset 8\n"
	"	pushq %rdx\n"
	".cfi_adjust_cfa_offset 8\n"
	"	pushq %rcx\n"
	".cfi_adjust_cfa_offset 8\n"
	"	pushq %r8\n"
	".cfi_adjust_cfa_offset 8\n"
	"	pushq %r9\n"
	".cfi_adjust_cfa_offset 8\n"
	"	subq $8, %rsp\n" /* the call's stack 16-byte aligned */
	".cfi_adjust_cfa_offset 8\n"
	"	call hl_sandbox_syscall_hook\n"
	"	addq $8, %rsp\n"
	".cfi_adjust_cfa_offset -8\n"
	"	popq %r9\n"
	".cfi_adjust_cfa_offset -8\n"
	"	popq %r8\n"
	".cfi_adjust_cfa_offset -8\n"
	"	popq %rcx\n"
	".cfi_adjust_cfa_offset -8\n"
	"	popq %rdx\n"
	".cfi_adjust_cfa_offset -8\n"
	"	popq %rsi\n"
	".cfi_adjust_cfa_offset -8\n"
	"	popq %rdi\n"
	".cfi_adjust_cfa_offset -8\n"
	"	jmp 1b\n"
	".cfi_endproc\n"
	".size syscall, .-syscall\n");

typedef int (*prctl_fn)(int, ...);

HL_EXPORT int prctl(int option, ...)
{
	static void *_Atomic next;
	prctl_fn fn = (prctl_fn)hl_next_fn(&next, "prctl");
	va_list ap;
	va_start(ap, option);
	/* As glibc's own wrapper: four more words, whatever the option. */
	unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
	unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
	va_end(ap);
	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	hl_sandbox_syscall_hook(SYS_prctl, (unsigned long)option, a2, a3);
	return fn(option, a2, a3, a4, a5);
}

typedef int (*unshare_fn)(int);
typedef int (*setns_fn)(int, int);

HL_EXPORT int unshare(int flags)
{
	static void *_Atomic next;
	unshare_fn fn = (unshare_fn)hl_next_fn(&next, "unshare");
	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	if (needs_one_thread(SYS_unshare, (unsigned long)flags, 0))
		hl_hooks_before_single_thread();
	return fn(flags);
}

HL_EXPORT int setns(int fd, int nstype)
{
	static void *_Atomic next;
	setns_fn fn = (setns_fn)hl_next_fn(&next, "setns");
	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	if (needs_one_thread(SYS_setns, (unsigned long)fd, (unsigned long)nstype))
		hl_hooks_before_single_thread();
	return fn(fd, nstype);
}
