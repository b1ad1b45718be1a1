/* fork_threads.c — fork while other threads are inside malloc/free and the
 * profiler's hooks: no child may deadlock, and every child's trace is exact.
 *
 * Two threads allocate and free 100-byte blocks without pause; the main
 * thread forks 50 children.  Each child mallocs 1000 bytes, frees them and
 * leaves (exit() for odd children, _exit() for even ones).
 * Expected per child: allocations 1, frees 1, bytes_allocated 1000,
 * leaked 0, unknown_frees 0.  The parent: exit status 0 and "done\n".
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN 50

static volatile int stop;

static void *hammer(void *arg)
{
	(void)arg;
	while (!stop) {
		void *volatile p = malloc(100);
		free(p);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, hammer, NULL);
	for (int i = 0; i < CHILDREN; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			void *volatile x = malloc(1000);
			free(x);
			if (i % 2)
				exit(0);
			_exit(0);
		}
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			return 1;
	}
	stop = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return write(1, "done\n", 5) == 5 ? 0 : 1;
}
