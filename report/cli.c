/* cli.c — the subcommands' shared command-line helpers (cli.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"

int hl_cli_usage(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "heapline %s: ", cmd);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (try 'heapline %s --help')\n", cmd);
	return HL_EXIT_USAGE;
}

int hl_cli_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int hl_cli_bad_option(const char *cmd, int c, char **argv)
{
	/* An unknown short option is named by optopt (it may sit inside
	 * "-qx"); anything else by the argument getopt just stepped over
	 * (optopt is then 0, or a long option's value). */
	char shortopt[3] = {'-', (char)optopt, '\0'};

	if (c == ':')
		return hl_cli_usage(cmd, "option '%s' needs a value", argv[optind - 1]);
	if (optopt > 0 && optopt < 128)
		return hl_cli_usage(cmd, "unknown option '%s'", shortopt);
	return hl_cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
}
