/* unwind_torture.c — allocations from stacks that change shape in every way
 * a program can change them, for the unwinder's check mode
 * (HEAPLINE_UNWIND=check compares each stack heapline's own walk gives with
 * libunwind's and counts differences; tests/e2e "unwind_check" wants none).
 *
 * What it does, in order:
 *   recursion to depth 40..99, allocating on the way down and freeing on the
 *     way up: stacks deeper than --depth 64 (the test runs it with that
 *     and with the default), growing and shrinking;
 *   recursion to depth 280..370: deeper than the default depth and than the
 *     frames a thread's saved walk holds (272), so walks are cut short and
 *     later ones go on from where a cut one stopped;
 *   chains of alloca frames (CFA on RBP) of changing sizes;
 *   longjmp out of call chains of changing depth, then allocating again;
 *   a coroutine (makecontext/swapcontext) on its own malloc'd stack that
 *     allocates between switches, while main allocates on its stack;
 *   a signal handler that allocates, on an alternate stack and on the
 *     normal one (signal frames: these stacks are libunwind's);
 *   four threads doing the recursion and the alloca chains at once.
 * Built with -O2 so that most frames have their CFA on RSP, as in real
 * programs, and the alloca ones on RBP.  Prints "torture done".
 */
#include <alloca.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#define NI __attribute__((noinline))

volatile unsigned long sink;

static NI void touch(void *p)
{
	sink += (unsigned long)p;
	free(p);
}

static NI void deep(int d, int max)
{
	void *p = malloc(16 + (size_t)d);
	sink += (unsigned long)p;
	if (d < max)
		deep(d + 1, max);
	free(p);
	sink++;
}

static NI void with_alloca(int n)
{
	volatile char *buf = alloca(16 + (size_t)(n % 7) * 32);
	buf[0] = (char)n;
	touch(malloc(32));
	sink += (unsigned long)buf[0];
}

static NI void alloca_chain(int d, int n)
{
	volatile char *b = alloca(8 + (size_t)d * 8);
	b[0] = (char)d;
	if (d)
		alloca_chain(d - 1, n);
	else
		with_alloca(n);
	sink += (unsigned long)b[0];
}

static jmp_buf jb;
static volatile int bottom; /* 0; volatile so the recursion visibly ends */

static NI void jump_down(int d)
{
	touch(malloc(8));
	if (d <= bottom)
		longjmp(jb, 1);
	jump_down(d - 1);
	sink++;
}

static ucontext_t main_uc, co_uc;

static void co_body(void)
{
	for (int i = 0; i < 1000; i++) {
		touch(malloc(24));
		swapcontext(&co_uc, &main_uc);
	}
}

static void handler(int sig)
{
	(void)sig;
	touch(malloc(40));
}

static void *worker(void *arg)
{
	int k = (int)(long)arg;
	for (int i = 0; i < 100; i++)
		deep(0, 20 + (i + k) % 60);
	for (int i = 0; i < 1000; i++)
		alloca_chain((i + k) % 9, i);
	return NULL;
}

int main(void)
{
	for (int i = 0; i < 200; i++)
		deep(0, 40 + i % 60);
	for (int i = 0; i < 10; i++)
		deep(0, 280 + i * 10);
	for (int i = 0; i < 2000; i++)
		alloca_chain(i % 9, i);
	for (int i = 0; i < 200; i++)
		if (!setjmp(jb))
			jump_down(i % 30);

	size_t co_size = 256 * 1024;
	char *co_stack = malloc(co_size);
	if (!co_stack || getcontext(&co_uc))
		return 1;
	co_uc.uc_stack.ss_sp = co_stack;
	co_uc.uc_stack.ss_size = co_size;
	co_uc.uc_link = &main_uc;
	makecontext(&co_uc, co_body, 0);
	for (int i = 0; i <= 1000; i++) {
		swapcontext(&main_uc, &co_uc);
		touch(malloc(8));
	}
	free(co_stack);

	stack_t ss = {.ss_sp = malloc(1 << 16), .ss_size = 1 << 16};
	if (!ss.ss_sp || sigaltstack(&ss, NULL))
		return 1;
	struct sigaction sa = {.sa_handler = handler, .sa_flags = SA_ONSTACK};
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_flags = 0;
	sigaction(SIGUSR2, &sa, NULL);
	for (int i = 0; i < 100; i++) {
		raise(SIGUSR1);
		raise(SIGUSR2);
	}

	pthread_t t[4];
	for (long k = 0; k < 4; k++)
		if (pthread_create(&t[k], NULL, worker, (void *)k))
			return 1;
	for (int k = 0; k < 4; k++)
		pthread_join(t[k], NULL);
	puts("torture done");
	return 0;
}
