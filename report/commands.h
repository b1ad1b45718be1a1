/* commands.h — the subcommands of the `heapline` program, one per file
 * (cmd_<name>.c).  Each takes argc/argv starting at its own name and returns
 * the process exit status. */
#ifndef HL_COMMANDS_H
#define HL_COMMANDS_H

int hl_cmd_run(int argc, char **argv);
int hl_cmd_report(int argc, char **argv);
int hl_cmd_check(int argc, char **argv);
int hl_cmd_diff(int argc, char **argv);

/* Exit codes shared by all commands (README lists them). */
#define HL_EXIT_USAGE 2   /* bad command line, unreadable or corrupt trace */

#endif
