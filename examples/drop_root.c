/* drop_root.c — a server's worker: forked by a root parent, it gives up root
 * (setgroups, setgid, setuid to nobody, as nginx's and postfix's workers
 * do) before it allocates anything.  Its trace must still be written, in a
 * directory only root may write to.
 *
 * Usage: drop_root   (as root)
 *   the parent makes 10 malloc(100)/free pairs, forks, and waits; the child
 *   drops to uid and gid 65534, then makes 1000 malloc(200)/free pairs.
 * Output: "child ok\n" from the child (it checks it is no longer root),
 * "done\n" from the parent.  Exit status 0, or 1 if a step failed.
 * Expected: two traces, the parent's with 10 allocations, the child's with
 * 1000 (200000 bytes), nothing leaked in either.
 */
#include <grp.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

static void pairs(int n, size_t size)
{
	for (int i = 0; i < n; i++) {
		sink = malloc(size);
		free(sink);
	}
}

int main(void)
{
	pairs(10, 100);
	pid_t pid = fork();
	if (pid == 0) {
		const gid_t none[1] = {65534};
		if (setgroups(1, none) || setgid(65534) || setuid(65534) || getuid() == 0)
			_exit(1);
		pairs(1000, 200);
		_exit(write(1, "child ok\n", 9) == 9 ? 0 : 1);
	}
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return 1;
	return write(1, "done\n", 5) == 5 ? 0 : 1;
}
