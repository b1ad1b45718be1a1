/* hl_output.c — naming and creating trace files.  Exports hl_output_*.
 * Never calls malloc (fixed buffers, snprintf-free formatting) and never
 * follows a symlink where the trace should be: a pre-planted link is refused.
 *
 * Naming: %p is the pid, %e the program's short name, %% a percent sign.
 * The launched (root) process gets the pattern as is; any other process
 * whose pattern has no %p gets ".<pid>" inserted before a ".hlt" suffix (or
 * appended).  If the name exists as a regular file (an exec'd image with the
 * same pid), ".2", ".3", ... is inserted the same way. */
#include "hl_output.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hl_fds.h"
#include "hl_options.h"

extern char *program_invocation_short_name;

static char pattern[4096];
/* %e, read at start: the name points into argv[0], which programs that set
 * their process title overwrite (proc_title.c). */
static char progname[256];

static size_t put_str(char *dst, size_t at, size_t cap, const char *s)
{
	while (*s && at + 1 < cap)
		dst[at++] = *s++;
	dst[at] = '\0';
	return at;
}

static size_t put_num(char *dst, size_t at, size_t cap, unsigned long v)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n && at + 1 < cap)
		dst[at++] = tmp[--n];
	dst[at] = '\0';
	return at;
}

void hl_output_prepare(void)
{
	const char *p = hl_opt.output;
	size_t at = 0;
	pattern[0] = '\0';
	put_str(progname, 0, sizeof(progname),
		program_invocation_short_name ? program_invocation_short_name : "");
	if (p[0] != '/') {
		if (!getcwd(pattern, sizeof(pattern) - 2))
			pattern[0] = '\0';
		at = strlen(pattern);
		if (at)
			at = put_str(pattern, at, sizeof(pattern), "/");
	}
	put_str(pattern, at, sizeof(pattern), p);
}

/* Expands the pattern; `extra` (if nonzero) is inserted before ".hlt" or appended. */
static int expand(char *out, size_t cap, unsigned long extra_pid, unsigned serial)
{
	size_t at = 0;
	int has_pid = 0;
	out[0] = '\0';
	for (const char *s = pattern; *s; s++) {
		if (s[0] == '%' && s[1] == 'p') {
			at = put_num(out, at, cap, (unsigned long)getpid());
			has_pid = 1;
			s++;
		} else if (s[0] == '%' && s[1] == 'e') {
			at = put_str(out, at, cap, progname[0] ? progname : "prog");
			s++;
		} else if (s[0] == '%' && s[1] == '%') {
			at = put_str(out, at, cap, "%");
			s++;
		} else if (at + 1 < cap) {
			out[at++] = *s;
			out[at] = '\0';
		}
	}
	if (at + 40 >= cap)
		return -ENAMETOOLONG;
	/* Insertion point: before a trailing ".hlt", else the end. */
	size_t ins = at;
	if (at >= 4 && !strcmp(out + at - 4, ".hlt"))
		ins = at - 4;
	char tail[8];
	strcpy(tail, out + ins);
	out[ins] = '\0';
	at = ins;
	if (extra_pid && !has_pid) {
		at = put_str(out, at, cap, ".");
		at = put_num(out, at, cap, extra_pid);
	}
	if (serial > 1) {
		at = put_str(out, at, cap, ".");
		at = put_num(out, at, cap, serial);
	}
	put_str(out, at, cap, tail);
	return 0;
}

static void say(const char *a, const char *b, const char *c)
{
	/* One line, written with a single write so it is not interleaved. */
	char line[4300];
	size_t at = put_str(line, 0, sizeof(line) - 1, "heapline: ");
	at = put_str(line, at, sizeof(line) - 1, a);
	at = put_str(line, at, sizeof(line) - 1, b);
	at = put_str(line, at, sizeof(line) - 1, c);
	at = put_str(line, at, sizeof(line), "\n");
	ssize_t r = write(2, line, at);
	(void)r;
}

/* Tells the launcher (if any) which trace this process writes, or "-" when
 * it could not write one (it said why on stderr). */
static void log_session(const char *path)
{
	if (!hl_opt.session_log)
		return;
	int lfd = open(hl_opt.session_log, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (lfd < 0)
		return;
	char line[4200];
	size_t at = put_num(line, 0, sizeof(line), (unsigned long)getpid());
	at = put_str(line, at, sizeof(line), "\t");
	at = put_num(line, at, sizeof(line), (unsigned long)getppid());
	at = put_str(line, at, sizeof(line), "\t");
	at = put_str(line, at, sizeof(line) - 1, path);
	at = put_str(line, at, sizeof(line), "\n");
	ssize_t r = write(lfd, line, at);
	(void)r;
	close(lfd);
}

static int put_all(int fd, const void *p, size_t n)
{
	const char *b = p;
	off_t at = 0;
	while (n) {
		ssize_t r = pwrite(fd, b, n, at);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		at += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The file made whole before it has a name: an unnamed file (O_TMPFILE) in
 * the trace's directory, the header written, then linked at path, so a
 * process killed meanwhile leaves no file rather than an empty one, which
 * no reader could take for a trace (Chromium kills its children at its
 * end).  The fd; -2 if this filesystem or a missing /proc cannot do it
 * (the caller creates the file the plain way); -1 with errno (EEXIST: the
 * name is taken). */
static int create_whole(const char *path, const void *hdr, size_t hdr_len)
{
	char dir[4096], link[64];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	int fd, e;

	if (!slash || n + 1 >= sizeof(dir))
		return -2;
	memcpy(dir, path, n);
	dir[n ? n : 1] = '\0';
	if (!n)
		dir[0] = '/';
	fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -2;
	if (put_all(fd, hdr, hdr_len)) {
		close(fd);
		return -2;
	}
	size_t at = put_str(link, 0, sizeof(link), "/proc/self/fd/");
	put_num(link, at, sizeof(link), (unsigned long)fd);
	if (linkat(AT_FDCWD, link, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return fd;
	e = errno;
	close(fd);
	if (e == EEXIST) {
		errno = EEXIST;
		return -1;
	}
	return -2;
}

int hl_output_open(int is_root, char *path, unsigned long cap, const void *hdr, size_t hdr_len)
{
	int fd = -1, whole = 1;
	for (unsigned serial = 1; serial < 1000; serial++) {
		if (expand(path, cap, is_root ? 0 : (unsigned long)getpid(), serial)) {
			say("trace path too long: ", pattern, "");
			log_session("-");
			return -1;
		}
		fd = whole ? create_whole(path, hdr, hdr_len) : -2;
		if (fd == -2) {
			whole = 0;
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (fd >= 0 && put_all(fd, hdr, hdr_len)) {
				say("cannot write trace ", path, "");
				close(fd);
				log_session("-");
				return -1;
			}
		}
		if (fd >= 0)
			break;
		if (errno != EEXIST) {
			/* strerrordesc_np: English, no locale, no allocation */
			const char *why = errno == ENOENT ? "no such directory" : strerrordesc_np(errno);
			char line[160];
			put_str(line, put_str(line, 0, sizeof(line), ": "), sizeof(line),
				why ? why : "cannot create file");
			say("cannot create trace ", path, line);
			log_session("-");
			return -1;
		}
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
			say("refusing to write trace ", path, ": it is a symbolic link");
			log_session("-");
			return -1;
		}
	}
	if (fd < 0) {
		say("cannot create trace ", path, ": too many files of that name");
		log_session("-");
		return -1;
	}
	log_session(path);
	return hl_fd_high(fd, HL_FD_TRACE);
}
