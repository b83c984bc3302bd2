/* SPDX-License-Identifier: MIT
 * calc_bench_opts.c: calc-bench's options and expression files (see
 * calc_bench_opts.h). */
#include "calc_bench_opts.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calc_bench_expect.h"
#include "calc_exit.h"
#include "calc_expr.h"
#include "calc_version.h"

#define BENCH_MAX_CONN 4096
#define BENCH_MAX_DEPTH 4096
#define BENCH_MAX_THREADS 64
#define BENCH_DEFAULT_CONN 4
#define BENCH_DEFAULT_DEPTH 16
#define BENCH_DEFAULT_SECONDS 5.0
#define BENCH_DEFAULT_TIMEOUT_MS 1000 /* UDP: a request unanswered this long
                                         is lost; TCP: the final drain */

/* The default mix: both classes, ints, floats, big ints, an error. */
static const char *bench_default_mix[] = {
  "15*15", "30+30", "2**100", "7//-2", "1/3", "(1+2)*3-4/5", "-2**2 + 0.5",
  "1/0",
};

static void usage(FILE *f) {
  fprintf(f,
    "usage: calc-bench [options]\n"
    "Load generator for calcd: keeps requests in flight, checks every reply,\n"
    "reports requests per second and latency percentiles.\n"
    "  --tcp | --udp          transport (default tcp)\n"
    "  -s, --server H:P       server (default 127.0.0.1:%d; IPv6 [::1]:%d)\n"
    "  -c, --connections N    connections (UDP: sockets) (default %d)\n"
    "  -d, --depth N          requests in flight per connection (default %d)\n"
    "  -D, --duration S       send for S seconds (default %g)\n"
    "  -n, --requests N       send N requests in all, then stop\n"
    "  -e, --expr E           an expression to send (repeat for a mix)\n"
    "      --expect R         the reply expected for the --expr (default:\n"
    "                         computed by the core)\n"
    "  -f, --file F           expressions, one a line; 'EXPR<TAB>REPLY' gives\n"
    "                         the expected reply; blank and '#' lines skipped\n"
    "      --role R           compute expected replies as a server of role R\n"
    "                         (all, addsub, muldiv; default all)\n"
    "  -R, --rate R           target R requests/s in all (default: unpaced),\n"
    "                         open loop: each request sent at its scheduled\n"
    "                         time (up to %u in flight per connection; -d\n"
    "                         does not apply), latency counted from it\n"
    "  -T, --threads N        worker threads (default 1)\n"
    "  -t, --timeout MS       UDP: a request unanswered MS ms is lost; TCP:\n"
    "                         wait at most MS ms for the last replies (%d)\n"
    "      --json             print the report as one JSON object\n"
    "  -q, --quiet            no progress line\n"
    "  -h, --help, -V, --version\n"
    "Without --expr or --file a built-in mix of %zu expressions is sent.\n"
    "A progress line is shown each second when stderr is a terminal.\n"
    "Exit status: 0 no wrong reply, 1 some reply was wrong, 2 usage,\n"
    "3 network (no server, connection lost, a reply line over any limit).\n",
    CALC_PORT_ALL, CALC_PORT_ALL, BENCH_DEFAULT_CONN, BENCH_DEFAULT_DEPTH,
    BENCH_DEFAULT_SECONDS, BENCH_RATE_WINDOW, BENCH_DEFAULT_TIMEOUT_MS,
    sizeof bench_default_mix / sizeof *bench_default_mix);
}

static int add_expr(bench_opts *o, const char *text, size_t len,
                    const char *expect, size_t elen) {
  /* the length limit counts the tag */
  if (len + BENCH_TAG_LEN > CALC_MAX_REQUEST_LEN || memchr(text, '\n', len)) {
    fprintf(stderr, "calc-bench: expression '%.40s...' is longer than %d "
                    "bytes or has a line break\n", text,
            CALC_MAX_REQUEST_LEN - BENCH_TAG_LEN);
    return -1;
  }
  bench_expr *n = realloc(o->exprs, (o->nexpr + 1) * sizeof *n);
  if (!n) return -1;
  o->exprs = n;
  bench_expr *e = &o->exprs[o->nexpr++];
  e->text = strndup(text, len);
  e->len = len;
  e->expect = expect ? strndup(expect, elen) : NULL;
  e->expect_len = expect ? elen : 0;
  return e->text && (!expect || e->expect) ? 0 : -1;
}

static int load_file(bench_opts *o, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "calc-bench: %s: %s\n", path, strerror(errno));
    return -1;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int r = 0;
  while (r == 0 && (n = getline(&line, &cap, f)) >= 0) {
    size_t len = calc_strip_eol(line, (size_t)n);
    size_t k = 0;
    while (k < len && calc_is_blank((unsigned char)line[k])) k++;
    if (k == len || line[k] == '#') continue;
    char *tab = memchr(line, '\t', len);
    if (tab)
      r = add_expr(o, line, (size_t)(tab - line), tab + 1,
                   len - (size_t)(tab - line) - 1);
    else
      r = add_expr(o, line, len, NULL, 0);
  }
  free(line);
  fclose(f);
  if (r == 0 && o->nexpr == 0) {
    fprintf(stderr, "calc-bench: %s: no expressions\n", path);
    r = -1;
  }
  return r;
}

static int parse_num(const char *s, double lo, double hi, double *v) {
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  return !*s || *end || errno || !(*v >= lo && *v <= hi) ? -1 : 0;
}

int bench_parse_options(int argc, char **argv, bench_opts *o) {
  enum { OPT_TCP = 256, OPT_UDP, OPT_EXPECT, OPT_ROLE, OPT_JSON };
  static const struct option longopts[] = {
    {"tcp", no_argument, NULL, OPT_TCP},
    {"udp", no_argument, NULL, OPT_UDP},
    {"server", required_argument, NULL, 's'},
    {"connections", required_argument, NULL, 'c'},
    {"depth", required_argument, NULL, 'd'},
    {"duration", required_argument, NULL, 'D'},
    {"requests", required_argument, NULL, 'n'},
    {"expr", required_argument, NULL, 'e'},
    {"expect", required_argument, NULL, OPT_EXPECT},
    {"file", required_argument, NULL, 'f'},
    {"role", required_argument, NULL, OPT_ROLE},
    {"rate", required_argument, NULL, 'R'},
    {"threads", required_argument, NULL, 'T'},
    {"timeout", required_argument, NULL, 't'},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
  };
  const char *server = "127.0.0.1", *expect = NULL;
  int nexpr_args = 0, have_file = 0, have_duration = 0;
  double v;
  int ch;
  char err[300];
  o->transport = CALC_NET_TCP;
  o->conns = BENCH_DEFAULT_CONN;
  o->depth = BENCH_DEFAULT_DEPTH;
  o->threads = 1;
  o->seconds = BENCH_DEFAULT_SECONDS;
  o->role = CALC_ROLE_ALL;
  o->timeout_ms = BENCH_DEFAULT_TIMEOUT_MS;
  while ((ch = getopt_long(argc, argv, "s:c:d:D:n:e:f:R:T:t:qhV", longopts,
                           NULL)) != -1) {
    switch (ch) {
    case OPT_TCP: o->transport = CALC_NET_TCP; break;
    case OPT_UDP: o->transport = CALC_NET_UDP; break;
    case 's': server = optarg; break;
    case 'c':
      if (parse_num(optarg, 1, BENCH_MAX_CONN, &v) < 0 || v != floor(v))
        goto bad;
      o->conns = (unsigned)v;
      break;
    case 'd':
      if (parse_num(optarg, 1, BENCH_MAX_DEPTH, &v) < 0 || v != floor(v))
        goto bad;
      o->depth = (unsigned)v;
      break;
    case 'D':
      if (parse_num(optarg, 0.001, 86400, &v) < 0) goto bad;
      o->seconds = v;
      have_duration = 1;
      break;
    case 'n':
      if (parse_num(optarg, 1, 1e15, &v) < 0 || v != floor(v)) goto bad;
      o->requests = (uint64_t)v;
      break;
    case 'e':
      if (add_expr(o, optarg, strlen(optarg), NULL, 0) < 0) return CALC_EXIT_USAGE;
      nexpr_args++;
      break;
    case OPT_EXPECT: expect = optarg; break;
    case 'f':
      if (load_file(o, optarg) < 0) return CALC_EXIT_USAGE;
      have_file = 1;
      break;
    case OPT_ROLE: {
      int r = calc_role_parse(optarg);
      if (r < 0) goto bad;
      o->role = (calc_role)r;
      break;
    }
    case 'R':
      if (parse_num(optarg, 0.001, 1e9, &v) < 0) goto bad;
      o->rate = v;
      break;
    case 'T':
      if (parse_num(optarg, 1, BENCH_MAX_THREADS, &v) < 0 || v != floor(v))
        goto bad;
      o->threads = (unsigned)v;
      break;
    case 't':
      if (parse_num(optarg, 1, 600000, &v) < 0 || v != floor(v)) goto bad;
      o->timeout_ms = (unsigned)v;
      break;
    case OPT_JSON: o->json = 1; break;
    case 'q': o->quiet = 1; break;
    case 'h': usage(stdout); return -1;
    case 'V': printf("calc-bench %s\n", CALC_VERSION); return -1;
    default: usage(stderr); return CALC_EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "calc-bench: unexpected argument '%s'\n", argv[optind]);
    return CALC_EXIT_USAGE;
  }
  if (expect) {
    if (nexpr_args != 1 || have_file) {
      fprintf(stderr, "calc-bench: --expect goes with exactly one --expr\n");
      return CALC_EXIT_USAGE;
    }
    o->exprs[0].expect = strdup(expect);
    o->exprs[0].expect_len = strlen(expect);
  }
  if (o->requests && have_duration) {
    fprintf(stderr, "calc-bench: give --duration or --requests, not both\n");
    return CALC_EXIT_USAGE;
  }
  if (o->nexpr == 0)
    for (size_t i = 0; i < sizeof bench_default_mix / sizeof *bench_default_mix;
         i++)
      if (add_expr(o, bench_default_mix[i], strlen(bench_default_mix[i]), NULL,
                   0) < 0)
        return CALC_EXIT_USAGE;
  if (o->threads > o->conns) o->threads = o->conns;
  if (calc_net_addr_parse(server, CALC_PORT_ALL, &o->server, err, sizeof err) <
      0) {
    fprintf(stderr, "calc-bench: --server %s\n", err);
    return CALC_EXIT_USAGE;
  }
  return 0;
bad:
  fprintf(stderr, "calc-bench: bad value '%s' for option -%c\n", optarg,
          ch < 256 ? ch : '-');
  fprintf(stderr, "Try 'calc-bench --help'.\n");
  return CALC_EXIT_USAGE;
}

void bench_opts_free(bench_opts *o) {
  for (size_t i = 0; i < o->nexpr; i++) {
    free(o->exprs[i].text);
    free(o->exprs[i].expect);
  }
  free(o->exprs);
  o->exprs = NULL;
  o->nexpr = 0;
}
