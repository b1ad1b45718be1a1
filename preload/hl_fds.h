/* hl_fds.h — the profiler's own file descriptors, out of the program's way. */
#ifndef HL_FDS_H
#define HL_FDS_H

/* Where each kind of descriptor goes: the lowest free number from this far
 * below min(RLIMIT_NOFILE, 1024) up.  Apart, so that a program closing
 * them all does not make the trace file, opened again, take the number
 * libunwind still holds for its pipe (and closes when it notices). */
#define HL_FD_UNWIND 24
#define HL_FD_STATM  16 /* kept open in a seccomp sandbox only */
#define HL_FD_TRACE  8

/* fd moved up to a free number from below_top below min(RLIMIT_NOFILE,
 * 1024), close-on-exec; the new number, or fd itself where none is free or
 * the limit is small.  Never allocates. */
int hl_fd_high(int fd, int below_top);

#endif
