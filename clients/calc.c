/* SPDX-License-Identifier: MIT
 *
 * calc-cli: the calculator client (docs/CLIENTS.md).  Not "calc": Debian's
 * calc package (the arbitrary-precision calculator) owns /usr/bin/calc.
 *
 *   calc-cli '15*15'                       one-shot: prints 225
 *   printf '1+1\n2*3\n' | calc-cli --udp   batch: one reply per line
 *   calc-cli                               interactive, with the "->" prompt
 *   calc-cli --addsub H:P --muldiv H:P '3+4*2'   the split across two servers
 *
 * This file holds the options and the three modes; calc_net.c is the
 * transport and calc_route.c the split evaluation.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef CALC_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

#include "calc_exit.h"
#include "calc_net.h"
#include "calc_proto.h"
#include "calc_route.h"
#include "calc_version.h"

#define CALC_PROMPT "-> "
#define CALC_HISTORY_FILE ".calc-cli_history" /* in $HOME; CALC_HISTFILE overrides */
#define CALC_HISTORY_MAX 1000             /* lines kept */
#define CALC_READ_CHUNK 65536             /* batch mode: bytes per read */

/* Exit codes: lib's table (calc_exit.h); a run reports the worst. */

typedef struct calc_cli {
  calc_net_opts net;
  calc_net_addr server, addsub, muldiv;
  int have_server, have_addsub, have_muldiv;
  int verbose;
  calc_net_conn *conn;          /* one server */
  calc_net_conn *role_conn[2];  /* the split: addsub, muldiv */
  calc_route *route;
  int status;
  calc_net_msg *msgs;           /* CALC_NET_BATCH_MAX */
} calc_cli;

static void usage(FILE *f) {
  fprintf(f,
    "usage: calc-cli [options] [EXPR ...]\n"
    "Sends arithmetic expressions to a calcd server and prints the replies.\n"
    "With EXPR arguments, answers each and exits; otherwise reads standard\n"
    "input: interactively with the '->' prompt on a terminal (line editing,\n"
    "history in ~/" CALC_HISTORY_FILE ", 'help', 'quit', Ctrl-D), else one\n"
    "reply per input line.\n"
    "\n"
    "  --tcp               use TCP (default)\n"
    "  --udp               use UDP\n"
    "  -s, --server H:P    the server (default 127.0.0.1:%d; IPv6: [::1]:%d)\n"
    "  --addsub H:P        with --muldiv: split each expression across the\n"
    "  --muldiv H:P        addsub (+ -) and muldiv (* / // %% **) servers\n"
    "  -t, --timeout MS    first UDP wait; doubles per retry (default %d)\n"
    "  -r, --retries N     UDP re-sends, TCP reconnect attempts (default %d)\n"
    "  -v, --verbose       show each request and reply (each hop of a split)\n"
    "                      and every retry on standard error\n"
    "  -h, --help          this help;  -V, --version  the version\n"
    "\n"
    "A request is given up after timeout * (2^(retries+1) - 1) ms, 7.75 s by\n"
    "default: over UDP it is sent retries+1 times, over TCP the connection\n"
    "waits that long.  An expression starting with '-' may be given as is\n"
    "('calc-cli -2**2') or after '--'.\n"
    "\n"
    "Exit status: 0 every request was answered with a result, 1 some answer\n"
    "was an error (ERR ...), 2 usage, 3 network (no server, no reply) or\n"
    "protocol (a reply outside the calc protocol, shown escaped).\n",
    CALC_PORT_ALL, CALC_PORT_ALL, CALC_NET_TIMEOUT_MS, CALC_NET_RETRIES);
}

static void raise_status(calc_cli *cli, int s) {
  if (s > cli->status) cli->status = s;
}

/* ---- asking ------------------------------------------------------------- */

/* Answer m[0..n) (n <= CALC_NET_BATCH_MAX).  Returns 0, or -1 after a
 * network failure (message printed; the first replies may be done). */
static int ask(calc_cli *cli, calc_net_msg *m, size_t n) {
  if (!cli->route) {
    if (calc_net_exchange(cli->conn, m, n) == 0) {
      if (cli->verbose)
        for (size_t i = 0; i < n; i++)
          fprintf(stderr, "calc-cli: %s %s: %.*s => %s\n", calc_net_proto(cli->conn),
                  calc_net_where(cli->conn), (int)m[i].req_len, m[i].req,
                  m[i].reply);
      return 0;
    }
    fprintf(stderr, "calc-cli: %s\n", calc_net_error(cli->conn));
    raise_status(cli, CALC_EXIT_NET);
    return -1;
  }
  for (size_t i = 0; i < n; i++) m[i].done = 0;
  for (size_t i = 0; i < n; i++) {
    if (calc_route_eval(cli->route, &m[i]) < 0) {
      fprintf(stderr, "calc-cli: %s\n", calc_route_error(cli->route));
      raise_status(cli, CALC_EXIT_NET);
      return -1;
    }
  }
  return 0;
}

/* Print the answers that arrived, in order, up to the first missing one. */
static void print_answers(calc_cli *cli, const calc_net_msg *m, size_t n) {
  for (size_t i = 0; i < n && m[i].done; i++) {
    fwrite(m[i].reply, 1, m[i].reply_len, stdout);
    fputc('\n', stdout);
    if (m[i].kind != CALC_OK) raise_status(cli, CALC_EXIT_ERROR);
  }
  fflush(stdout);
}

/* Ask and print a batch; -1 after a network failure. */
static int answer(calc_cli *cli, size_t n) {
  int r = ask(cli, cli->msgs, n);
  print_answers(cli, cli->msgs, n);
  return r;
}

/* ---- modes -------------------------------------------------------------- */

static int run_args(calc_cli *cli, char **exprs, int nexpr) {
  for (int i = 0; i < nexpr; i++) {
    if (strchr(exprs[i], '\n')) {
      fprintf(stderr, "calc-cli: an expression cannot contain a line break "
                      "(argument %d)\n", i + 1);
      return CALC_EXIT_USAGE;
    }
  }
  for (int i = 0; i < nexpr;) {
    size_t n = 0;
    for (; i < nexpr && n < CALC_NET_BATCH_MAX; i++, n++) {
      cli->msgs[n].req = exprs[i];
      cli->msgs[n].req_len = strlen(exprs[i]);
    }
    if (answer(cli, n) < 0) break;
  }
  return cli->status;
}

/* Standard input not a terminal: every line is a request, answered in
 * order.  Lines already read are sent together (pipelined); the replies
 * are printed before the next read blocks, so a program feeding us one
 * line at a time gets each answer at once. */
static int run_batch(calc_cli *cli) {
  size_t cap = CALC_READ_CHUNK, len = 0;
  char *buf = malloc(cap);
  int eof = 0;
  if (!buf) {
    fprintf(stderr, "calc-cli: out of memory\n");
    return CALC_EXIT_NET;
  }
  while (!eof) {
    if (cap - len < CALC_READ_CHUNK) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        fprintf(stderr, "calc-cli: out of memory\n");
        free(buf);
        return CALC_EXIT_NET;
      }
      buf = nb;
      cap *= 2;
    }
    ssize_t k = read(STDIN_FILENO, buf + len, cap - len);
    if (k < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "calc-cli: reading standard input: %s\n", strerror(errno));
      free(buf);
      raise_status(cli, CALC_EXIT_USAGE);
      return cli->status;
    }
    if (k == 0) {
      eof = 1;
      if (len > 0 && buf[len - 1] != '\n') buf[len++] = '\n'; /* last line */
    }
    len += (size_t)k;
    /* Answer the complete lines, CALC_NET_BATCH_MAX at a time. */
    size_t start = 0;
    for (;;) {
      size_t n = 0, at = start;
      while (n < CALC_NET_BATCH_MAX) {
        char *lf = memchr(buf + at, '\n', len - at);
        if (!lf) break;
        size_t end = (size_t)(lf - buf);
        cli->msgs[n].req = buf + at;
        cli->msgs[n].req_len = calc_strip_eol(buf + at, end - at + 1);
        n++;
        at = end + 1;
      }
      if (n == 0) break;
      if (answer(cli, n) < 0) {
        free(buf);
        return cli->status;
      }
      start = at;
    }
    memmove(buf, buf + start, len - start);
    len -= start;
  }
  free(buf);
  return cli->status;
}

static const char *trim(char *s, size_t *n) {
  while (isspace((unsigned char)*s)) s++;
  size_t k = strlen(s);
  while (k > 0 && isspace((unsigned char)s[k - 1])) k--;
  s[k] = '\0';
  *n = k;
  return s;
}

static void interactive_help(const calc_cli *cli) {
  printf(
    "Type an arithmetic expression (Python 3 syntax) and press Enter, e.g.\n"
    "  15*15    2**100    7//-2    1/3    (1+2)*3    0x_ff    1e-5\n"
    "Operators: + - * / // %% ** and unary + -, parentheses; '#' starts a\n"
    "comment.  Commands: help, quit (or Ctrl-D).  The up and down arrows\n"
    "recall earlier lines.\n");
  if (cli->route)
    printf("Split: + - go to the addsub server %s, * / // %% ** to the muldiv "
           "server %s, over %s.\n", calc_net_where(cli->role_conn[0]),
           calc_net_where(cli->role_conn[1]),
           cli->net.transport == CALC_NET_UDP ? "UDP" : "TCP");
  else
    printf("Server: %s over %s.\n", calc_net_where(cli->conn),
           cli->net.transport == CALC_NET_UDP ? "UDP" : "TCP");
  fflush(stdout);
}

#ifdef CALC_HAVE_LIBEDIT
static char *history_path(void) {
  const char *env = getenv("CALC_HISTFILE");
  if (env) return *env ? strdup(env) : NULL; /* empty: no history file */
  const char *home = getenv("HOME");
  if (!home || !*home) return NULL;
  size_t n = strlen(home) + sizeof CALC_HISTORY_FILE + 1;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", home, CALC_HISTORY_FILE);
  return p;
}
#endif

/* Read one line with the prompt; NULL at end of input (Ctrl-D). */
static char *prompt_line(void) {
#ifdef CALC_HAVE_LIBEDIT
  return readline(CALC_PROMPT);
#else
  fputs(CALC_PROMPT, stdout);
  fflush(stdout);
  char *line = NULL;
  size_t cap = 0;
  if (getline(&line, &cap, stdin) < 0) {
    free(line);
    return NULL;
  }
  return line;
#endif
}

static int run_interactive(calc_cli *cli) {
#ifdef CALC_HAVE_LIBEDIT
  char *hist = history_path();
  using_history();
  stifle_history(CALC_HISTORY_MAX);
  if (hist) read_history(hist);
#endif
  printf("calc-cli %s: %s over %s.  Type 'help' for help, 'quit' or Ctrl-D to "
         "leave.\n", CALC_VERSION,
         cli->route ? "split across the addsub and muldiv servers"
                    : calc_net_where(cli->conn),
         cli->net.transport == CALC_NET_UDP ? "UDP" : "TCP");
  fflush(stdout);
  for (;;) {
    char *raw = prompt_line();
    if (!raw) {
      putchar('\n');
      break;
    }
    size_t n;
    const char *line = trim(raw, &n);
    if (n == 0) {
      free(raw);
      continue;
    }
#ifdef CALC_HAVE_LIBEDIT
    add_history(line);
    if (hist) write_history(hist); /* now: an interrupted session keeps it */
#endif
    if (strcmp(line, "quit") == 0 || strcmp(line, "exit") == 0) {
      free(raw);
      break;
    }
    if (strcmp(line, "help") == 0 || strcmp(line, "?") == 0) {
      interactive_help(cli);
      free(raw);
      continue;
    }
    cli->msgs[0].req = line;
    cli->msgs[0].req_len = n;
    answer(cli, 1); /* a network failure is reported; the session goes on */
    free(raw);
  }
#ifdef CALC_HAVE_LIBEDIT
  free(hist);
#endif
  fflush(stdout);
  return cli->status;
}

/* ---- options ------------------------------------------------------------ */

static const struct option calc_longopts[] = {
  {"tcp", no_argument, NULL, 'T'},
  {"udp", no_argument, NULL, 'U'},
  {"server", required_argument, NULL, 's'},
  {"addsub", required_argument, NULL, 'A'},
  {"muldiv", required_argument, NULL, 'M'},
  {"timeout", required_argument, NULL, 't'},
  {"retries", required_argument, NULL, 'r'},
  {"verbose", no_argument, NULL, 'v'},
  {"help", no_argument, NULL, 'h'},
  {"version", no_argument, NULL, 'V'},
  {NULL, 0, NULL, 0},
};
#define CALC_SHORTOPTS "s:t:r:vhV"

/* Whether argument s is an option rather than an expression such as
 * "-2**2" or "-(1+2)": options are "-x..." and "--name..." with a letter. */
static int is_option(const char *s) {
  if (s[0] != '-') return 0;
  if (isalpha((unsigned char)s[1])) return 1;
  return s[1] == '-' && isalpha((unsigned char)s[2]);
}

/* Whether option s takes the next argument as its value. */
static int takes_value(const char *s) {
  if (s[1] == '-') {
    if (strchr(s, '=')) return 0;
    for (const struct option *o = calc_longopts; o->name; o++)
      if (o->has_arg == required_argument &&
          strncmp(o->name, s + 2, strlen(s + 2)) == 0)
        return 1; /* getopt accepts unambiguous prefixes */
    return 0;
  }
  /* a cluster like -vs: the last option letter may take the value */
  for (const char *p = s + 1; *p; p++) {
    const char *o = strchr(CALC_SHORTOPTS, *p);
    if (o && o[1] == ':') return p[1] == '\0';
  }
  return 0;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (!*s || *end || errno || *s == '-' || v < lo || v > hi) return -1;
  *out = (unsigned)v;
  return 0;
}

static int parse_addr(const char *s, uint16_t port, calc_net_addr *a,
                      const char *opt) {
  char err[300];
  if (calc_net_addr_parse(s, port, a, err, sizeof err) == 0) return 0;
  fprintf(stderr, "calc-cli: %s %s\n", opt, err);
  return -1;
}

/* Parse options; expressions go to exprs.  Returns -1 to exit with
 * *code (help, version, usage). */
static int parse_options(calc_cli *cli, int argc, char **argv, char **exprs,
                         int *nexpr, int *code) {
  char **opts = calloc((size_t)argc + 1, sizeof *opts);
  int nopt = 0;
  *nexpr = 0;
  if (!opts) {
    *code = CALC_EXIT_USAGE;
    return -1;
  }
  opts[nopt++] = argv[0];
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      while (++i < argc) exprs[(*nexpr)++] = argv[i];
      break;
    }
    if (is_option(argv[i])) {
      opts[nopt++] = argv[i];
      if (takes_value(argv[i]) && i + 1 < argc) opts[nopt++] = argv[++i];
    } else {
      exprs[(*nexpr)++] = argv[i];
    }
  }
  int ch, bad = 0;
  optind = 1;
  while ((ch = getopt_long(nopt, opts, CALC_SHORTOPTS, calc_longopts, NULL)) !=
         -1) {
    switch (ch) {
    case 'T': cli->net.transport = CALC_NET_TCP; break;
    case 'U': cli->net.transport = CALC_NET_UDP; break;
    case 's':
      bad |= parse_addr(optarg, CALC_PORT_ALL, &cli->server, "--server") < 0;
      cli->have_server = 1;
      break;
    case 'A':
      bad |= parse_addr(optarg, CALC_PORT_ADDSUB, &cli->addsub, "--addsub") < 0;
      cli->have_addsub = 1;
      break;
    case 'M':
      bad |= parse_addr(optarg, CALC_PORT_MULDIV, &cli->muldiv, "--muldiv") < 0;
      cli->have_muldiv = 1;
      break;
    case 't':
      if (parse_uint(optarg, 1, 600000, &cli->net.timeout_ms) < 0) {
        fprintf(stderr, "calc-cli: --timeout wants milliseconds, 1 to 600000\n");
        bad = 1;
      }
      break;
    case 'r':
      if (parse_uint(optarg, 0, CALC_NET_RETRIES_MAX, &cli->net.retries) < 0) {
        fprintf(stderr, "calc-cli: --retries wants a number from 0 to %d\n",
                CALC_NET_RETRIES_MAX);
        bad = 1;
      }
      break;
    case 'v': cli->verbose = 1; break;
    case 'h':
      usage(stdout);
      *code = CALC_EXIT_OK;
      free(opts);
      return -1;
    case 'V':
      printf("calc-cli %s (line editing: %s)\n", CALC_VERSION,
#ifdef CALC_HAVE_LIBEDIT
             "libedit"
#else
             "none"
#endif
      );
      *code = CALC_EXIT_OK;
      free(opts);
      return -1;
    default: bad = 1; break;
    }
  }
  for (; optind < nopt; optind++) {
    fprintf(stderr, "calc-cli: unexpected argument '%s'\n", opts[optind]);
    bad = 1;
  }
  free(opts);
  if (!bad && cli->have_addsub != cli->have_muldiv) {
    fprintf(stderr, "calc-cli: the split needs both --addsub and --muldiv\n");
    bad = 1;
  }
  if (!bad && cli->have_addsub && cli->have_server) {
    fprintf(stderr, "calc-cli: --server is for one server; the split uses "
                    "--addsub and --muldiv\n");
    bad = 1;
  }
  if (bad) {
    fprintf(stderr, "Try 'calc-cli --help'.\n");
    *code = CALC_EXIT_USAGE;
    return -1;
  }
  return 0;
}

static int setup(calc_cli *cli) {
  cli->msgs = calloc(CALC_NET_BATCH_MAX, sizeof *cli->msgs);
  if (!cli->msgs) return -1;
  cli->net.verbose = cli->verbose;
  if (cli->have_addsub) {
    calc_net_opts o = cli->net;
    o.label = "addsub";
    cli->role_conn[0] = calc_net_open(&cli->addsub, &o);
    o.label = "muldiv";
    cli->role_conn[1] = calc_net_open(&cli->muldiv, &o);
    if (!cli->role_conn[0] || !cli->role_conn[1]) return -1;
    cli->route = calc_route_new(cli->role_conn[0], cli->role_conn[1],
                                cli->verbose);
    return cli->route ? 0 : -1;
  }
  if (!cli->have_server) {
    char err[300];
    if (calc_net_addr_parse("127.0.0.1", CALC_PORT_ALL, &cli->server, err,
                            sizeof err) < 0)
      return -1;
  }
  cli->conn = calc_net_open(&cli->server, &cli->net);
  return cli->conn ? 0 : -1;
}

int main(int argc, char **argv) {
  calc_cli cli;
  memset(&cli, 0, sizeof cli);
  calc_net_opts_default(&cli.net);
  char **exprs = calloc((size_t)argc + 1, sizeof *exprs);
  int nexpr = 0, code = CALC_EXIT_USAGE;
  if (!exprs || parse_options(&cli, argc, argv, exprs, &nexpr, &code) < 0) {
    free(exprs);
    return code;
  }
  if (setup(&cli) < 0) {
    fprintf(stderr, "calc-cli: out of memory\n");
    return CALC_EXIT_NET;
  }
  int status;
  if (nexpr > 0) status = run_args(&cli, exprs, nexpr);
  else if (isatty(STDIN_FILENO)) status = run_interactive(&cli);
  else status = run_batch(&cli);

  calc_route_free(cli.route);
  calc_net_close(cli.conn);
  calc_net_close(cli.role_conn[0]);
  calc_net_close(cli.role_conn[1]);
  free(cli.msgs);
  free(exprs);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "calc-cli: write error: %s\n", strerror(errno));
    if (status < CALC_EXIT_USAGE) status = CALC_EXIT_USAGE;
  }
  return status;
}
