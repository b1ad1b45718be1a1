/* hl_fds.c — the descriptors the profiler keeps open sit near the top of the
 * first 1024 numbers, not at the lowest free ones (hl_fds.h).
 *
 * A program expects the numbers a plain run gets (its first open() is 3),
 * may put its own files on fixed low numbers (a shell's `exec 3<file`),
 * and may close every descriptor it did not open and then open files of
 * its own, which take the lowest numbers.  Two descriptors of the
 * profiler's live long: the trace file (the writer copes with losing it,
 * see hl_writer.c) and libunwind's pipe.  libunwind checks an address it is
 * unsure of (stacks through a signal frame) by writing one byte of it into
 * that pipe and reading a byte back, and when the read fails it closes both
 * numbers and makes a new pipe: at 3 and 4 it read the program's input,
 * wrote into its output and closed its files.  So libunwind's pipe2() calls
 * come here and the pipe is moved up, as the trace file is.
 *
 * A program that puts a file of its own on one of those high numbers with
 * dup2() still meets them (valgrind's descriptors have the same limit).
 */
#define _GNU_SOURCE 1
#include "hl_fds.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#define UNW_LOCAL_ONLY /* the library hl_unwind.c uses */
#include <libunwind.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HL_EXPORT __attribute__((visibility("default")))

/* Not above 1024 whatever the limit: the file table keeps its usual size. */
#define TOP_CAP 1024

int hl_fd_high(int fd, int below_top)
{
	struct rlimit rl;
	if (fd < 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return fd;
	rlim_t top = rl.rlim_cur < TOP_CAP ? rl.rlim_cur : TOP_CAP;
	if (top < 4 * HL_FD_UNWIND || (rlim_t)fd >= top - (rlim_t)below_top)
		return fd; /* a small limit: the numbers are the program's */
	int saved = errno;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, (int)(top - (rlim_t)below_top));
	if (high < 0) {
		errno = saved;
		return fd;
	}
	close(fd);
	errno = saved;
	return high;
}

/* Whether code at return address ra is libunwind's. */
static int from_libunwind(const void *ra)
{
	static struct link_map *_Atomic unwind_map;
	struct dl_find_object fo;

	struct link_map *lm = atomic_load_explicit(&unwind_map, memory_order_relaxed);
	if (!lm) {
		if (_dl_find_object((void *)(uintptr_t)&unw_backtrace, &fo) != 0)
			return 0;
		lm = fo.dlfo_link_map;
		atomic_store_explicit(&unwind_map, lm, memory_order_relaxed);
	}
	return _dl_find_object((void *)((uintptr_t)ra - 1), &fo) == 0 && fo.dlfo_link_map == lm;
}

/* glibc's pipe2 is the system call alone; libunwind's pipe is moved up. */
HL_EXPORT int pipe2(int fds[2], int flags)
{
	if (syscall(SYS_pipe2, fds, flags) != 0)
		return -1;
	if (from_libunwind(__builtin_return_address(0))) {
		fds[0] = hl_fd_high(fds[0], HL_FD_UNWIND);
		fds[1] = hl_fd_high(fds[1], HL_FD_UNWIND);
	}
	return 0;
}
