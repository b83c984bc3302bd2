/* SPDX-License-Identifier: MIT
 *
 * calc-eval: the expression core, offline.  Prints for each expression
 * exactly the reply a calcd server would send (TCP framing, by default the
 * all-operators role), one per line.
 *
 *   calc-eval '15*15' '2**-1'      -> 225, 0.5
 *   printf '1/0\n' | calc-eval     -> ERR zero-division: division by zero
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calc_exit.h"
#include "calc_expr.h"
#include "calc_proto.h"
#include "calc_version.h"


static void usage(FILE *f) {
  fprintf(f,
          "usage: calc-eval [--role all|addsub|muldiv] [--udp] [EXPR ...]\n"
          "Evaluates each EXPR, or each line of standard input, and prints\n"
          "the reply a calcd server would send, one per line.\n"
          "  --role R   answer as a server in role R (default all)\n"
          "  --udp      apply the UDP reply bound (no amplification)\n"
          "Exit status: 0 all results, 1 some reply was an error, 2 usage.\n");
}

static int is_expr_arg(const char *a) {
  if (a[0] != '-' || !a[1]) return 0;
  if (a[1] == '-') /* "--role" and "--" are options, "--1" and "-(-1)" not */
    return a[2] && !isalpha((unsigned char)a[2]);
  return strchr("0123456789.(+ \t", a[1]) != NULL;
}

struct eval_opts {
  calc_role role;
  int udp;
};

/* Answer one request and print it; returns 1 when the reply is an error. */
static int answer(calc_ctx *c, const struct eval_opts *o, const char *s,
                  size_t n) {
  static char out[CALC_ANSWER_MAX];
  calc_err kind;
  n = calc_strip_eol(s, n);
  size_t bound = o->udp ? calc_udp_bound(n) : SIZE_MAX;
  size_t len = calc_answer(c, o->role, s, n, bound, out, sizeof out, &kind);
  out[len] = '\n';
  fwrite(out, 1, len + 1, stdout);
  return kind != CALC_OK;
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
    {"role", required_argument, NULL, 'r'},
    {"udp", no_argument, NULL, 'u'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
  };
  struct eval_opts o = {CALC_ROLE_ALL, 0};
  int ch;
  /* "+": options end at the first expression, and an argument that starts
   * like a negative number or a parenthesis ("-2**2", "-(1)") is one. */
  while (optind < argc && !is_expr_arg(argv[optind]) &&
         (ch = getopt_long(argc, argv, "+r:uhV", longopts, NULL)) != -1) {
    switch (ch) {
    case 'r': {
      int r = calc_role_parse(optarg);
      if (r < 0) {
        fprintf(stderr, "calc-eval: unknown role '%s'\n", optarg);
        return CALC_EXIT_USAGE;
      }
      o.role = (calc_role)r;
      break;
    }
    case 'u': o.udp = 1; break;
    case 'h': usage(stdout); return CALC_EXIT_OK;
    case 'V': printf("calc-eval %s\n", CALC_VERSION); return CALC_EXIT_OK;
    default: usage(stderr); return CALC_EXIT_USAGE;
    }
  }

  calc_ctx *c = calc_ctx_new(NULL);
  if (!c) {
    fprintf(stderr, "calc-eval: out of memory\n");
    return CALC_EXIT_USAGE;
  }
  int failed = 0;
  if (optind < argc) {
    for (int i = optind; i < argc; i++)
      failed |= answer(c, &o, argv[i], strlen(argv[i]));
  } else {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0)
      failed |= answer(c, &o, line, (size_t)n);
    free(line);
  }
  calc_ctx_free(c);
  if (fflush(stdout) != 0) {
    fprintf(stderr, "calc-eval: write error: %s\n", strerror(errno));
    return CALC_EXIT_USAGE;
  }
  return failed ? CALC_EXIT_ERROR : CALC_EXIT_OK;
}
