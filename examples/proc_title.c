/* proc_title.c — a program that rewrites its process title the way redis,
 * nginx, postgres and sshd do (setproctitle): environ is copied to the heap
 * and the strings the kernel put after argv — the environment among them —
 * are overwritten with the title.  What the profiler read from its
 * environment at start must not be read from there later.
 *
 * Usage: proc_title
 *   copies environ (one array and a strdup per string), blanks argv and
 *   the environment strings and writes a title there, makes 1000
 *   malloc(100)/free pairs, then forks a child that execs /bin/true (with
 *   the copied environment) and waits for it.
 * Output: "env N\n" (the number of environment strings), then "done\n".
 * Expected: allocations = N + 1001, frees = 1000, the array and the N
 * copies still live at exit; and the child (/bin/true) profiled too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static void *volatile sink;

int main(int argc, char **argv)
{
	/* The area: argv's strings, then environ's, one after another. */
	char *start = argv[0], *end = argv[0] + strlen(argv[0]) + 1;
	for (int i = 1; i < argc; i++)
		if (argv[i] == end)
			end += strlen(argv[i]) + 1;
	int n = 0;
	for (; environ[n]; n++)
		if (environ[n] == end)
			end += strlen(environ[n]) + 1;

	char **env = malloc((size_t)(n + 1) * sizeof(*env));
	if (!env)
		return 1;
	for (int i = 0; i < n; i++)
		if (!(env[i] = strdup(environ[i])))
			return 1;
	env[n] = NULL;
	environ = env;
	memset(start, 0, (size_t)(end - start));
	snprintf(start, (size_t)(end - start), "proc_title: worker");

	for (int i = 0; i < 1000; i++) {
		sink = malloc(100);
		free(sink);
	}

	char line[64];
	int len = snprintf(line, sizeof(line), "env %d\n", n);
	if (write(1, line, (size_t)len) != len)
		return 1;
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return 1;
	return write(1, "done\n", 5) == 5 ? 0 : 1;
}
