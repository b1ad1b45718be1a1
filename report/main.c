/* main.c — the `heapline` command: dispatches to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const char usage[] =
	"usage: heapline COMMAND [OPTIONS] ...\n"
	"\n"
	"commands:\n"
	"  run [-o PATH] [--depth N] [--no-children] [--] PROG [ARGS...]\n"
	"                     run PROG under the profiler, one trace per process\n"
	"  report [OPTIONS] TRACE...\n"
	"                     print what a trace says (--format json for machines)\n"
	"  check [OPTIONS] (-- PROG [ARGS...] | TRACE...)\n"
	"                     the CI gate: leak classes, suppressions, budgets\n"
	"  diff [OPTIONS] OLD NEW\n"
	"                     what grew or shrank between two traces, by site and line\n"
	"\n"
	"Run 'heapline COMMAND --help' for a command's options.\n";

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return HL_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "--version")) {
		printf("heapline %s\n", HEAPLINE_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return hl_cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "report"))
		return hl_cmd_report(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return hl_cmd_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "diff"))
		return hl_cmd_diff(argc - 1, argv + 1);
	fprintf(stderr, "heapline: unknown command '%s' (try 'heapline --help')\n", cmd);
	return HL_EXIT_USAGE;
}
