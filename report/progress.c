/* progress.c — the progress line of a pass over a trace (progress.h).
 *
 * The reader (trace_read.c) does not say how far it has read, so the
 * offset is taken from its descriptor: the one in /proc/self/fd that is the
 * trace file (same device and inode), read with lseek(fd, 0, SEEK_CUR).
 * The clock is read once per 16384 events, the line rewritten at most ten
 * times a second. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "progress.h"

#define CHECK_EVERY 16384

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* The highest descriptor open on the file at path, or -1. */
static int find_fd(const char *path)
{
	struct stat want, st;
	struct dirent *d;
	DIR *dir;
	int found = -1;

	if (stat(path, &want) || !(dir = opendir("/proc/self/fd")))
		return -1;
	while ((d = readdir(dir))) {
		char *end;
		long fd = strtol(d->d_name, &end, 10);

		if (*end || end == d->d_name || fd == dirfd(dir))
			continue;
		if (!fstat((int)fd, &st) && st.st_dev == want.st_dev && st.st_ino == want.st_ino &&
		    fd > found)
			found = (int)fd;
	}
	closedir(dir);
	return found;
}

void hl_progress_begin(struct hl_progress *p, const char *label, const char *path)
{
	struct stat st;

	memset(p, 0, sizeof(*p));
	p->label = label;
	p->path = path;
	p->fd = -1;
	if (!isatty(STDERR_FILENO) || stat(path, &st) || st.st_size <= 0)
		return;
	p->fd = find_fd(path);
	p->size = (uint64_t)st.st_size;
	p->enabled = p->fd >= 0;
	clock_gettime(CLOCK_MONOTONIC, &p->start);
}

static void update(struct hl_progress *p, size_t events)
{
	struct timespec now;
	off_t off;

	p->calls += events;
	if (!p->enabled || p->calls < CHECK_EVERY)
		return;
	p->calls = 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (seconds_between(&p->start, &now) < 1.0 ||
	    (p->shown && seconds_between(&p->last, &now) < 0.1))
		return;
	off = lseek(p->fd, 0, SEEK_CUR);
	if (off < 0)
		return;
	p->last = now;
	p->shown = 1;
	fprintf(stderr, "\rheapline: %s %s: %3d%%", p->label, p->path,
		(int)((uint64_t)off * 100 / p->size > 100 ? 100 : (uint64_t)off * 100 / p->size));
}

static int on_events(void *ctx, const struct hl_replay *r, const struct hl_event *ev, size_t n)
{
	update(ctx, n);
	return 0;
}

static int on_tick(void *ctx, const struct hl_replay *r, uint64_t ms, uint64_t rss_kib,
		   uint64_t live_bytes)
{
	update(ctx, 1);
	return 0;
}

/* No hooks at all when there is no line to show (stderr not a terminal):
 * the replay then calls nothing for it.  Shown, it counts events a batch
 * at a time. */
struct hl_replay_hooks hl_progress_hooks(struct hl_progress *p)
{
	if (!p->enabled)
		return (struct hl_replay_hooks){.ctx = p};
	return (struct hl_replay_hooks){.ctx = p, .events = on_events, .tick = on_tick};
}

void hl_progress_end(struct hl_progress *p)
{
	if (p->shown)
		fputs("\r\033[K", stderr); /* erase the line */
	p->shown = 0;
	p->enabled = 0;
}
