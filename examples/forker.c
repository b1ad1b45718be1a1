/* forker.c — fork without exec: the child is a new process image with its
 * own trace, starting empty; the parent's trace goes on.
 *
 * Parent: malloc(1000) before fork, waits for the child, then malloc(3000)
 *   and frees it.  allocations 2, frees 1, bytes_allocated 4000,
 *   peak_bytes 4000, leaked_bytes 1000 in 1 block, unknown_frees 0,
 *   end "exit", exit status 0 (the child's status, which must be 0).
 * Child: malloc(2000), calloc(2, 500) and frees both, then frees the
 *   1000-byte block it inherited, which its trace never saw allocated.
 *   allocations 2, frees 3, unknown_frees 1, bytes_allocated 3000,
 *   peak_bytes 3000, leaked_bytes 0, end "exit", ppid = the parent's pid.
 * Output: "child\n" then "parent\n" (write(2), no stdio).
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

int main(void)
{
	void *inherited = malloc(1000);
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		void *a = malloc(2000);
		void *b = calloc(2, 500);   /* child live 3000 = peak */
		sink = a;
		free(b);
		free(a);
		free(inherited);            /* an unknown free in the child's trace */
		exit(write(1, "child\n", 6) == 6 ? 0 : 1);
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return 1;
	void *c = malloc(3000);             /* parent live 4000 = peak */
	sink = c;
	free(c);
	sink = inherited;                   /* the parent's copy leaks */
	return write(1, "parent\n", 7) == 7 ? 0 : 1;
}
