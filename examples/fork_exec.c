/* fork_exec.c — fork then exec: the child runs PROG (argv[1], the test
 * passes the `basic` example), whose trace must hold basic's exact numbers
 * (see basic.c), while the parent's trace holds only its own.
 *
 * Parent: malloc(777) before fork, frees it after the child exits.
 *   allocations 1, frees 1, bytes_allocated 777, peak_bytes 777, leaked 0,
 *   end "exit", exit status: the child's (0 for basic).
 * Child before exec: allocates nothing; if it has a trace of its own it
 *   shows 0 allocations and end "exec".
 * Exec'd PROG: basic.c's numbers (14 allocations, 10 frees, ...).
 * Output: PROG's output, then "fork_exec done\n".
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	void *p = malloc(777);
	sink = p;
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		char *args[] = { argv[1], NULL };
		execv(argv[1], args);
		_exit(127);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 1;
	free(p);
	if (write(1, "fork_exec done\n", 15) != 15)
		return 1;
	return WEXITSTATUS(status);
}
