/* launch.c — runs PROG for `heapline run` and knows about processes, not
 * traces: finds libheapline.so, inspects PROG (static, set-id, sanitizer),
 * builds the child's HEAPLINE_* environment, forks and execs, then waits as a
 * child subreaper for every descendant, forwarding termination signals, and
 * reads the session log the profiled processes appended to.  Exports the
 * hl_launch_* functions of launch.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "launch.h"

#define LIB_NAME "libheapline.so"

/* ---- finding the library ---------------------------------------------- */

static int copy_str(char *buf, size_t len, const char *s)
{
	size_t n = strlen(s);

	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, s, n + 1);
	return 0;
}

static bool is_regular(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Cuts the last `levels` components off an absolute path. */
static void path_up(char *p, int levels)
{
	while (levels-- > 0) {
		char *slash = strrchr(p, '/');

		if (!slash)
			return;
		*slash = '\0';
	}
}

static int self_exe(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* The build tree's library only when this heapline runs from that same build
 * tree (<build>/report/heapline beside <build>/preload/libheapline.so): an
 * installed heapline must not pick up a stale build left on disk. */
static bool build_lib_is_ours(const char *lib)
{
	char exe[PATH_MAX], real[PATH_MAX];

	if (!is_regular(lib) || self_exe(exe, sizeof(exe)) || !realpath(lib, real))
		return false;
	path_up(exe, 2);
	path_up(real, 2);
	return strcmp(exe, real) == 0;
}

/* Makes `path` absolute and checks LD_PRELOAD can carry it: ld.so splits the
 * variable at spaces and colons, with no way to quote them. */
static int take_lib(const char *path, char *buf, size_t len, char *err, size_t errlen)
{
	char real[PATH_MAX];

	if (!realpath(path, real) || !is_regular(real)) {
		int e = errno ? errno : ENOENT;

		snprintf(err, errlen, "heapline: %s: %s", path, strerror(e));
		return -e;
	}
	if (strpbrk(real, ": ")) {
		snprintf(err, errlen, "heapline: %s: LD_PRELOAD cannot carry a path containing a space or colon", real);
		return -EINVAL;
	}
	if (copy_str(buf, len, real)) {
		snprintf(err, errlen, "heapline: %s: path too long", real);
		return -ENAMETOOLONG;
	}
	return 0;
}

int hl_launch_find_lib(char *buf, size_t len, char *err, size_t errlen)
{
	const char *env = getenv("HEAPLINE_LIB");
	char beside[PATH_MAX];

	/* An explicit choice is never second-guessed by falling back. */
	if (env && *env) {
		int rc = take_lib(env, buf, len, err, errlen);

		if (rc == -ENOENT)
			snprintf(err, errlen, "heapline: HEAPLINE_LIB=%s: no such file", env);
		return rc;
	}
	if (build_lib_is_ours(HL_BUILD_PRELOAD))
		return take_lib(HL_BUILD_PRELOAD, buf, len, err, errlen);
	if (is_regular(HL_INSTALL_PRELOAD))
		return take_lib(HL_INSTALL_PRELOAD, buf, len, err, errlen);
	beside[0] = '\0';
	if (!self_exe(beside, sizeof(beside))) {
		path_up(beside, 1);
		if (strlen(beside) + sizeof("/../lib/heapline/" LIB_NAME) <= sizeof(beside))
			strcat(beside, "/../lib/heapline/" LIB_NAME);
		else
			beside[0] = '\0';
		if (beside[0] && is_regular(beside))
			return take_lib(beside, buf, len, err, errlen);
	}
	snprintf(err, errlen,
		 "heapline: cannot find " LIB_NAME " (looked for %s, %s%s%s); set HEAPLINE_LIB",
		 HL_BUILD_PRELOAD, HL_INSTALL_PRELOAD, beside[0] ? ", " : "", beside);
	return -ENOENT;
}

/* ---- the output pattern ----------------------------------------------- */

int hl_launch_output_pattern(const char *path, char *buf, size_t len)
{
	char cwd[PATH_MAX];
	size_t o = 0;

	if (path && path[0] == '/')
		return copy_str(buf, len, path);
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	/* The library expands %p and %e; a '%' that is part of the directory
	 * name is written %% so it stays literal. */
	for (const char *c = cwd; *c; c++) {
		if (o + 3 > len)
			return -ENAMETOOLONG;
		if (*c == '%')
			buf[o++] = '%';
		buf[o++] = *c;
	}
	if (o == 1) /* cwd is "/" */
		o = 0;
	if (!path)
		path = "heapline.%e.%p.hlt";
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if (o + 1 + strlen(path) + 1 > len)
		return -ENAMETOOLONG;
	buf[o++] = '/';
	strcpy(buf + o, path);
	return 0;
}

/* ---- inspecting PROG -------------------------------------------------- */

/* Where execvp will find prog: as given if it has a slash, else the first
 * executable regular file along PATH (glibc's default when unset). */
static int resolve_prog(const char *prog, char *buf, size_t len)
{
	const char *path = getenv("PATH");

	if (strchr(prog, '/'))
		return copy_str(buf, len, prog);
	if (!path)
		path = "/bin:/usr/bin";
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		int dlen = (int)(end - p);

		if (dlen == 0) /* an empty entry means the current directory */
			snprintf(buf, len, "./%s", prog);
		else
			snprintf(buf, len, "%.*s/%s", dlen, p, prog);
		if (access(buf, X_OK) == 0 && is_regular(buf))
			return 0;
		if (!*end)
			break;
		p = end;
	}
	return -ENOENT;
}

/* Sanitizer runtimes bring their own allocator and insist on being loaded
 * first (ASan aborts otherwise), so preloading heapline would break the run. */
static const struct {
	const char *init;  /* dynamic symbol of the runtime's entry point */
	const char *token; /* lib<token>.so / libclang_rt.<token>-ARCH.so */
	const char *name;
} sanitizers[] = {
	{"__asan_init", "asan", "AddressSanitizer"},
	{"__tsan_init", "tsan", "ThreadSanitizer"},
	{"__msan_init", "msan", "MemorySanitizer"},
	{"__lsan_init", "lsan", "LeakSanitizer"},
	{"__hwasan_init", "hwasan", "HWAddressSanitizer"},
};

#define N_SANITIZERS (sizeof(sanitizers) / sizeof(sanitizers[0]))

static const char *sanitizer_of_needed(const char *lib)
{
	for (size_t i = 0; i < N_SANITIZERS; i++) {
		const char *t = sanitizers[i].token;
		size_t tl = strlen(t);
		const char *rt = strstr(lib, "clang_rt.");

		if (!strncmp(lib, "lib", 3) && !strncmp(lib + 3, t, tl) && lib[3 + tl] == '.')
			return sanitizers[i].name;
		if (rt && !strncmp(rt + 9, t, tl) && (rt[9 + tl] == '-' || rt[9 + tl] == '.'))
			return sanitizers[i].name;
	}
	return NULL;
}

static const char *sanitizer_of_symbol(const char *sym)
{
	for (size_t i = 0; i < N_SANITIZERS; i++)
		if (!strcmp(sym, sanitizers[i].init))
			return sanitizers[i].name;
	return NULL;
}

/* Scans .dynsym and .dynamic; a binary without section headers simply
 * yields nothing. */
static const char *find_sanitizer(Elf *e)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t n;

		if (!gelf_getshdr(scn, &sh) || !sh.sh_entsize)
			continue;
		if (sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_DYNAMIC)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		n = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < n; i++) {
			const char *name = NULL, *san = NULL;

			if (sh.sh_type == SHT_DYNSYM) {
				GElf_Sym sym;

				if (gelf_getsym(d, (int)i, &sym))
					name = elf_strptr(e, sh.sh_link, sym.st_name);
				if (name)
					san = sanitizer_of_symbol(name);
			} else {
				GElf_Dyn dyn;

				if (!gelf_getdyn(d, (int)i, &dyn) || dyn.d_tag == DT_NULL)
					break;
				if (dyn.d_tag == DT_NEEDED)
					name = elf_strptr(e, sh.sh_link, dyn.d_un.d_val);
				if (name)
					san = sanitizer_of_needed(name);
			}
			if (san)
				return san;
		}
	}
	return NULL;
}

/* Set-id bits and file capabilities make the kernel run PROG in secure mode
 * (AT_SECURE), where ld.so ignores LD_PRELOAD paths.  Not when the bits are
 * moot: we already are that user/group, or the mount is nosuid. */
static const char *secure_exec_reason(int fd, const struct stat *st)
{
	struct statvfs vfs;

	if (fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_NOSUID))
		return NULL;
	if ((st->st_mode & S_ISUID) && st->st_uid != geteuid())
		return "is setuid";
	if ((st->st_mode & S_ISGID) && (st->st_mode & S_IXGRP) && st->st_gid != getegid())
		return "is setgid";
	if (fgetxattr(fd, "security.capability", NULL, 0) > 0)
		return "has file capabilities";
	return NULL;
}

enum hl_prog_kind hl_launch_inspect(const char *prog, const char **detail)
{
	enum hl_prog_kind kind = HL_PROG_PROFILABLE;
	char path[PATH_MAX];
	unsigned char magic[4];
	struct stat st;
	GElf_Ehdr eh;
	size_t nph;
	Elf *e = NULL;
	int fd;

	*detail = NULL;
	if (resolve_prog(prog, path, sizeof(path)))
		return kind; /* exec will report it */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kind;
	/* Scripts (#!) are run by a dynamic interpreter, and the kernel
	 * ignores set-id bits on them: only ELF files are looked at. */
	if (fstat(fd, &st) || pread(fd, magic, 4, 0) != 4 || memcmp(magic, ELFMAG, SELFMAG))
		goto out;
	*detail = secure_exec_reason(fd, &st);
	if (*detail) {
		kind = HL_PROG_SETUID;
		goto out;
	}
	if (elf_version(EV_CURRENT) == EV_NONE)
		goto out;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF || !gelf_getehdr(e, &eh) || elf_getphdrnum(e, &nph))
		goto out;
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
		goto out;
	kind = HL_PROG_STATIC;
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_INTERP)
			kind = HL_PROG_PROFILABLE;
	}
	if (kind == HL_PROG_STATIC) {
		*detail = "is statically linked";
		goto out;
	}
	*detail = find_sanitizer(e);
	if (*detail)
		kind = HL_PROG_SANITIZER;
out:
	if (e)
		elf_end(e);
	close(fd);
	return kind;
}

/* ---- the session directory -------------------------------------------- */

int hl_launch_session_create(struct hl_launch *l)
{
	const char *tmp = getenv("TMPDIR");
	char tmpl[PATH_MAX];
	int fd, rc;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (snprintf(tmpl, sizeof(tmpl), "%s/heapline-XXXXXX", tmp) >= (int)sizeof(tmpl))
		return -ENAMETOOLONG;
	if (!mkdtemp(tmpl))
		return -errno;
	/* Absolute: profiled processes may chdir before they create traces. */
	if (!realpath(tmpl, l->session_dir)) {
		rc = -errno;
		rmdir(tmpl);
		return rc;
	}
	if (snprintf(l->session_log, sizeof(l->session_log), "%s/session.log", l->session_dir) >=
	    (int)sizeof(l->session_log)) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	fd = open(l->session_log, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	close(fd);
	return 0;
fail:
	hl_launch_session_remove(l);
	return rc;
}

void hl_launch_session_remove(struct hl_launch *l)
{
	DIR *d;
	struct dirent *de;

	free(l->reaped);
	l->reaped = NULL;
	l->nreaped = l->reaped_cap = 0;
	if (!l->session_dir[0])
		return;
	d = opendir(l->session_dir);
	if (d) {
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	rmdir(l->session_dir);
	l->session_dir[0] = '\0';
}

int hl_launch_session_read(const struct hl_launch *l, struct hl_session_entry **out, size_t *n)
{
	struct hl_session_entry *v = NULL;
	size_t cnt = 0, cap = 0, linecap = 0;
	char *line = NULL;
	ssize_t len;
	FILE *f;
	int rc = 0;

	*out = NULL;
	*n = 0;
	f = fopen(l->session_log, "re");
	if (!f)
		return -errno;
	/* pid TAB ppid TAB path NL; anything else (a torn line) is skipped. */
	while ((len = getline(&line, &linecap, f)) >= 0) {
		char *p = line, *end;
		long pid, ppid;

		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		pid = strtol(p, &end, 10);
		if (end == p || *end != '\t' || pid <= 0)
			continue;
		p = end + 1;
		ppid = strtol(p, &end, 10);
		if (end == p || *end != '\t' || !end[1])
			continue;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct hl_session_entry *nv = realloc(v, ncap * sizeof(*v));

			if (!nv) {
				rc = -ENOMEM;
				goto fail;
			}
			v = nv;
			cap = ncap;
		}
		v[cnt].path = strdup(end + 1);
		if (!v[cnt].path) {
			rc = -ENOMEM;
			goto fail;
		}
		v[cnt].pid = (pid_t)pid;
		v[cnt].ppid = (pid_t)ppid;
		cnt++;
	}
	free(line);
	fclose(f);
	*out = v;
	*n = cnt;
	return 0;
fail:
	free(line);
	fclose(f);
	hl_launch_session_free(v, cnt);
	return rc;
}

void hl_launch_session_free(struct hl_session_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].path);
	free(e);
}

/* ---- running the process tree ----------------------------------------- */

/* Runs in the child between fork and exec; the launcher is single-threaded,
 * so allocating here is safe. */
static void child_env(const struct hl_launch *l)
{
	const char *old = getenv("LD_PRELOAD");
	char *preload = NULL;
	char num[32];

	if (old && *old && asprintf(&preload, "%s:%s", l->lib, old) >= 0)
		setenv("LD_PRELOAD", preload, 1);
	else
		setenv("LD_PRELOAD", l->lib, 1);
	free(preload);
	setenv("HEAPLINE_OUTPUT", l->output, 1);
	if (l->depth > 0) {
		snprintf(num, sizeof(num), "%d", l->depth);
		setenv("HEAPLINE_DEPTH", num, 1);
	}
	if (l->no_children)
		setenv("HEAPLINE_NO_CHILDREN", "1", 1);
	if (l->lossy)
		setenv("HEAPLINE_LOSSY", "1", 1);
	if (l->leak_scan)
		setenv("HEAPLINE_LEAK_SCAN", "1", 1);
	snprintf(num, sizeof(num), "%d", (int)getpid());
	setenv("HEAPLINE_ROOT_PID", num, 1);
	setenv("HEAPLINE_SESSION_LOG", l->session_log, 1);
}

/* Once PROG is gone, a termination signal still has to reach the orphans
 * we are waiting for, or `heapline run` could not be stopped. */
static void signal_children(int sig)
{
	char path[64];
	FILE *f;
	long pid;

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	f = fopen(path, "re");
	if (!f)
		return;
	while (fscanf(f, "%ld", &pid) == 1)
		if (pid > 0)
			kill((pid_t)pid, sig);
	fclose(f);
}

/* Remembers how a descendant ended, for its trace's line; out of memory,
 * that line only says less. */
static void note_reaped(struct hl_launch *l, pid_t pid, int status)
{
	if (l->nreaped == l->reaped_cap) {
		size_t cap = l->reaped_cap ? 2 * l->reaped_cap : 64;
		struct hl_reaped *v = realloc(l->reaped, cap * sizeof(*v));
		if (!v)
			return;
		l->reaped = v;
		l->reaped_cap = cap;
	}
	l->reaped[l->nreaped++] = (struct hl_reaped){pid, status};
}

bool hl_launch_status_of(const struct hl_launch *l, pid_t pid, int *status)
{
	for (size_t i = l->nreaped; i-- > 0;)
		if (l->reaped[i].pid == pid) {
			*status = l->reaped[i].status;
			return true;
		}
	return false;
}

/* Reaps until no child is left.  The forwarded signals and SIGCHLD are
 * blocked, so one that arrives between the reaping pass and sigtimedwait stays
 * pending and wakes it: no wakeup is lost.  The timeout is only a backstop. */
static void wait_all(struct hl_launch *l, const sigset_t *set)
{
	bool root_alive = true;

	for (;;) {
		const struct timespec backstop = {.tv_sec = 1};
		siginfo_t si;
		pid_t pid;
		int st, sig;

		while ((pid = waitpid(-1, &st, WNOHANG | __WALL)) > 0) {
			note_reaped(l, pid, st);
			if (pid == l->root_pid) {
				l->root_status = st;
				root_alive = false;
			}
		}
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			return; /* ECHILD: every descendant has ended */
		sig = sigtimedwait(set, &si, &backstop);
		if (sig <= 0 || sig == SIGCHLD)
			continue;
		if (root_alive)
			kill(l->root_pid, sig);
		else
			signal_children(sig);
	}
}

int hl_launch_run(struct hl_launch *l, char **argv)
{
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
	sigset_t set, old_mask;
	int pfd[2], e, rc = 0;
	pid_t pid;
	ssize_t n;

	l->exec_errno = 0;
	l->root_status = 0;
	/* Orphaned descendants (daemons, double forks) reparent to us, so we
	 * can wait for their traces.  Without it we only lose the wait. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	/* Tells us whether exec happened: the child's end closes on exec. */
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, &old_mask);
	/* As system() does: the terminal sends these to PROG as well. */
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	fflush(NULL);

	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(pfd[0]);
		close(pfd[1]);
		goto restore;
	}
	if (pid == 0) {
		close(pfd[0]);
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
		if (l->profile)
			child_env(l);
		execvp(argv[0], argv);
		e = errno;
		if (write(pfd[1], &e, sizeof(e)) < 0) {
			/* the parent then just sees PROG exit 126/127 */
		}
		fprintf(stderr, "heapline: cannot run %s: %s\n", argv[0], strerror(e));
		_exit(e == EACCES ? 126 : 127);
	}

	l->root_pid = pid;
	close(pfd[1]);
	do
		n = read(pfd[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	if (n == sizeof(e))
		l->exec_errno = e;
	close(pfd[0]);
	wait_all(l, &set);
restore:
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	return rc;
}

int hl_launch_exit_code(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
