/* SPDX-License-Identifier: MIT
 *
 * calc_exit.h: the one table of program exit codes, shared by calc,
 * calc-eval, calc-bench and calcd (their --help and docs print it).
 *
 * A row gives the name (CALC_EXIT_<name>), the status, and what it means
 * for each program; a program exits only with statuses of this table.
 */
#ifndef CALC_EXIT_H
#define CALC_EXIT_H

/* X(name, status, meaning) */
#define CALC_EXIT_MAP(X)                                                      \
  X(OK,    0, "success (calcd: stopped by SIGINT/SIGTERM, or --help)")        \
  X(ERROR, 1, "an answer was an error reply (calc, calc-eval), a reply was "  \
              "wrong (calc-bench), a runtime failure (calcd)")                \
  X(USAGE, 2, "usage error: bad options or arguments")                        \
  X(NET,   3, "network or protocol failure: a server could not be reached, " \
              "never answered, or sent a reply outside the protocol")

typedef enum calc_exit {
#define CALC_EXIT_ENUM_(name, status, meaning) CALC_EXIT_##name = status,
  CALC_EXIT_MAP(CALC_EXIT_ENUM_)
#undef CALC_EXIT_ENUM_
} calc_exit;

/* The meaning of status s, or NULL outside the table. */
const char *calc_exit_describe(int s);

#endif /* CALC_EXIT_H */
