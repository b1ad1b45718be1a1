/* cli.h — what the subcommands' command lines share: the one-line usage
 * error, whole-number arguments, getopt's two complaints.  Exports hl_cli_*. */
#ifndef HL_CLI_H
#define HL_CLI_H

/* Prints "heapline CMD: " fmt (one %s: arg) " (try 'heapline CMD --help')"
 * on stderr; returns HL_EXIT_USAGE. */
int hl_cli_usage(const char *cmd, const char *fmt, const char *arg);

/* A whole number in [lo, hi], digits only: 0, or -1. */
int hl_cli_uint(const char *s, unsigned lo, unsigned hi, unsigned *out);

/* getopt_long returned ':' (a missing value) or '?' (an unknown option):
 * the usage error naming the option; returns HL_EXIT_USAGE. */
int hl_cli_bad_option(const char *cmd, int c, char **argv);

#endif
