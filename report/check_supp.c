/* check_supp.c — reading LSan-format suppression files and matching their
 * rules against a leak's frames (check_supp.h); finding the shipped default
 * list. */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_supp.h"
#include "symbolize.h"

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* LSan's template: implicitly "*t*" unless anchored by ^ or $. */
static char *make_pattern(const char *t)
{
	size_t n = strlen(t);
	int start = t[0] == '^', end = n > (size_t)start && t[n - 1] == '$';
	char *p = malloc(n + 3), *o = p;

	if (!p)
		return NULL;
	if (!start)
		*o++ = '*';
	memcpy(o, t + start, n - (size_t)start - (size_t)end);
	o += n - (size_t)start - (size_t)end;
	if (!end)
		*o++ = '*';
	*o = '\0';
	return p;
}

int hl_supp_load(struct hl_supp *s, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *line = NULL, *file;
	size_t cap = 0;
	unsigned lineno = 0;
	int ret = -1;

	if (!f) {
		snprintf(err, errlen, "%s: cannot read suppressions: %s", path, strerror(errno));
		return -1;
	}
	char **files = realloc(s->files, (s->nfiles + 1) * sizeof(*files));
	if (!files || !(file = strdup(path)))
		goto nomem;
	s->files = files;
	s->files[s->nfiles++] = file;
	while (getline(&line, &cap, f) > 0) {
		char *t = trim(line);

		lineno++;
		if (!*t || *t == '#')
			continue;
		if (strncmp(t, "leak:", 5)) {
			snprintf(err, errlen,
				 "%s:%u: not a leak suppression (want 'leak:<pattern>'): %.60s",
				 path, lineno, t);
			goto out;
		}
		t = trim(t + 5);
		if (!*t) {
			snprintf(err, errlen, "%s:%u: empty leak: pattern", path, lineno);
			goto out;
		}
		if (s->n == s->cap) {
			size_t nc = s->cap ? 2 * s->cap : 16;
			struct hl_supp_rule *r = realloc(s->rules, nc * sizeof(*r));
			if (!r)
				goto nomem;
			s->rules = r;
			s->cap = nc;
		}
		struct hl_supp_rule *r = &s->rules[s->n];
		memset(r, 0, sizeof(*r));
		r->templ = strdup(t);
		r->pattern = make_pattern(t);
		r->file = file;
		r->line = lineno;
		if (!r->templ || !r->pattern) {
			free(r->templ);
			free(r->pattern);
			goto nomem;
		}
		s->n++;
	}
	ret = 0;
	goto out;
nomem:
	snprintf(err, errlen, "%s: out of memory", path);
out:
	free(line);
	fclose(f);
	return ret;
}

void hl_supp_free(struct hl_supp *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->rules[i].templ);
		free(s->rules[i].pattern);
	}
	for (size_t i = 0; i < s->nfiles; i++)
		free(s->files[i]);
	free(s->rules);
	free(s->files);
	memset(s, 0, sizeof(*s));
}

static bool hit(const char *pattern, const char *str)
{
	return str && fnmatch(pattern, str, 0) == 0;
}

int hl_supp_match(const struct hl_supp *s, const struct hl_frame *const *frames, size_t n)
{
	for (size_t r = 0; r < s->n; r++) {
		const char *p = s->rules[r].pattern;
		for (size_t i = 0; i < n; i++)
			if (hit(p, frames[i]->function) || hit(p, frames[i]->file) ||
			    hit(p, frames[i]->module))
				return (int)r;
	}
	return -1;
}

/* ---- the default list ----------------------------------------------------- */

static bool is_regular(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void dir_of(char *p)
{
	char *slash = strrchr(p, '/');

	if (slash)
		*slash = '\0';
}

const char *hl_supp_default_path(char *buf, size_t len)
{
	const char *env = getenv("HEAPLINE_DEFAULT_SUPP");
	char exe[4096], real[4200];
	ssize_t n;

	if (env) /* set but empty: no default list */
		return *env && is_regular(env) && strlen(env) < len ? strcpy(buf, env) : NULL;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	/* The build tree's copy sits beside the build tree's heapline; an
	 * installed heapline must not pick up a stale build left on disk. */
	if (exe[0] && realpath(HL_BUILD_SUPP, real)) {
		char d[4096];

		snprintf(d, sizeof(d), "%s", exe);
		dir_of(d);
		dir_of(real);
		if (!strcmp(d, real) && strlen(HL_BUILD_SUPP) < len)
			return strcpy(buf, HL_BUILD_SUPP);
	}
	if (is_regular(HL_INSTALL_SUPP) && strlen(HL_INSTALL_SUPP) < len)
		return strcpy(buf, HL_INSTALL_SUPP);
	if (exe[0]) {
		dir_of(exe);
		snprintf(real, sizeof(real), "%s/../share/heapline/default.supp", exe);
		if (is_regular(real) && strlen(real) < len)
			return strcpy(buf, real);
	}
	return NULL;
}
