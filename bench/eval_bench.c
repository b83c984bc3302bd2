/* SPDX-License-Identifier: MIT
 *
 * eval_bench: nanoseconds per evaluation of the expression core on the
 * fixed corpus bench/eval_corpus.txt, as a server spends them: one
 * calc_ctx, reused for every request.  For each item it measures
 *
 *   parse   calc_parse() alone
 *   eval    calc_eval() (parse + evaluate + reply text)
 *   answer  calc_answer() for the all-operators role over TCP (what calcd
 *           does per request after framing: tag, role check, reply)
 *
 * as the mean of a loop of n calls (n calibrated so a loop lasts at least
 * --min-ms), taking the minimum over --repeats loops; and the slowest of
 * --max-calls individually timed calc_eval() calls (the worst case a
 * client can cause, for hostile inputs): in wall-clock time, and as its
 * cost, the smaller of each call's wall-clock and thread CPU time (the
 * first counts preemption by other processes, the second a few us of
 * clock overhead: on a shared machine only their minimum is the call's).  bench/run-eval-bench runs
 * this and Python's eval on the same corpus and prints the comparison.
 *
 *   eval_bench [options] CORPUS        summary by category
 *   eval_bench --tsv CORPUS            one line per item (for the script)
 *   eval_bench --smoke CORPUS          every item once, checked (ctest)
 *   eval_bench --dump-seeds DIR CORPUS one file per item (fuzzer seeds)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "calc_expr.h"
#include "calc_proto.h"
#include "eval_corpus.h"

enum bench_mode { MODE_PARSE, MODE_EVAL, MODE_ANSWER, MODE_COUNT_ };
static const char *const bench_mode_name[MODE_COUNT_] = {"parse", "eval",
                                                         "answer"};

typedef struct bench_opts {
  int repeats;       /* loops per item and mode; the fastest counts */
  double min_ns;     /* a calibrated loop lasts at least this */
  long iters;        /* fixed calls per loop (0: calibrate) */
  int max_calls;     /* individually timed calls for the max */
} bench_opts;

typedef struct bench_result {
  double ns[MODE_COUNT_]; /* mean ns per call, best loop */
  double max_ns;          /* slowest single calc_eval(), wall clock */
  double max_cost_ns;     /* ... its min(wall, thread CPU time) */
  calc_err kind;          /* outcome of calc_eval() */
} bench_result;

static double clock_ns(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static double now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static char answer_buf[CALC_ANSWER_MAX + 1];
static volatile size_t bench_sink; /* keeps results observable */

/* One call of `mode` on item it. */
static inline void run_once(calc_ctx *c, enum bench_mode mode,
                            const calc_corpus_item *it) {
  switch (mode) {
  case MODE_PARSE: bench_sink += calc_parse(c, it->text, it->len); break;
  case MODE_EVAL: bench_sink += calc_eval(c, it->text, it->len); break;
  default:
    bench_sink += calc_answer(c, CALC_ROLE_ALL, it->text, it->len, SIZE_MAX,
                              answer_buf, sizeof answer_buf, NULL);
    break;
  }
}

/* Total ns of n calls. */
static double run_loop(calc_ctx *c, enum bench_mode mode,
                       const calc_corpus_item *it, long n) {
  double t0 = now_ns();
  for (long i = 0; i < n; i++) run_once(c, mode, it);
  return now_ns() - t0;
}

static void measure(calc_ctx *c, const bench_opts *o,
                    const calc_corpus_item *it, bench_result *r) {
  r->kind = calc_eval(c, it->text, it->len);
  r->max_ns = r->max_cost_ns = 0;
  for (int k = 0; k < o->max_calls; k++) {
    double cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    double t = run_loop(c, MODE_EVAL, it, 1);
    double cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    if (t > r->max_ns) r->max_ns = t;
    double cost = cpu < t ? cpu : t;
    if (cost > r->max_cost_ns) r->max_cost_ns = cost;
  }
  for (int m = 0; m < MODE_COUNT_; m++) {
    long n = o->iters;
    if (n <= 0) { /* double n until one loop lasts min_ns */
      n = 1;
      while (run_loop(c, (enum bench_mode)m, it, n) < o->min_ns && n < (1L << 30))
        n *= 2;
    }
    double best = -1;
    for (int k = 0; k < o->repeats; k++) {
      double t = run_loop(c, (enum bench_mode)m, it, n) / (double)n;
      if (best < 0 || t < best) best = t;
    }
    r->ns[m] = best;
  }
}

/* The item's text for a table: non-printing bytes as \xHH, cut to width. */
static const char *preview(const calc_corpus_item *it, size_t width) {
  static char buf[160];
  size_t k = 0, i = 0;
  for (; i < it->len && k + 5 < sizeof buf && k < width; i++) {
    unsigned char ch = (unsigned char)it->text[i];
    if (ch >= 0x21 && ch < 0x7f && ch != '\\')
      buf[k++] = (char)ch;
    else if (ch == ' ')
      buf[k++] = ' ';
    else
      k += (size_t)snprintf(buf + k, sizeof buf - k, "\\x%02x", ch);
  }
  if (i < it->len) k += (size_t)snprintf(buf + k, sizeof buf - k, "...");
  buf[k] = '\0';
  return buf;
}

static const char *kind_name(calc_err e) {
  return e == CALC_OK ? "ok" : calc_err_token(e);
}

/* --smoke: every item once in every mode; calc_eval, calc_parse +
 * calc_eval_parsed and calc_answer (which adds " #tag") must agree.
 * Returns the number of disagreements. */
static int smoke(calc_ctx *c, const calc_corpus *cp) {
  static char want[CALC_ANSWER_MAX + 1];
  int bad = 0;
  for (size_t i = 0; i < cp->n; i++) {
    const calc_corpus_item *it = &cp->items[i];
    size_t n1, n2;
    calc_err e1 = calc_eval(c, it->text, it->len);
    const char *r1 = calc_reply(c, &n1);
    memcpy(want, r1, n1 + 1);
    calc_err e2 = calc_parse(c, it->text, it->len);
    if (e2 == CALC_OK) e2 = calc_eval_parsed(c);
    const char *r2 = calc_reply(c, &n2);
    int same = e1 == e2 && n1 == n2 && memcmp(want, r2, n1) == 0;
    calc_request rq;
    calc_request_split(it->text, it->len, &rq);
    if (rq.has_tag)
      n1 += (size_t)snprintf(want + n1, sizeof want - n1, " #%u",
                             (unsigned)rq.tag);
    calc_err e3;
    size_t n3 = calc_answer(c, CALC_ROLE_ALL, it->text, it->len, SIZE_MAX,
                            answer_buf, sizeof answer_buf, &e3);
    same = same && e1 == e3 && n3 == n1 && memcmp(want, answer_buf, n1) == 0;
    if (!same) {
      fprintf(stderr, "eval_bench: line %d (%s): replies differ: '%s'\n",
              it->line, preview(it, 40), want);
      bad++;
    }
  }
  return bad;
}

static int dump_seeds(const calc_corpus *cp, const char *dir) {
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    fprintf(stderr, "eval_bench: %s: %s\n", dir, strerror(errno));
    return 1;
  }
  for (size_t i = 0; i < cp->n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/corpus-%03zu", dir, i + 1);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(cp->items[i].text, 1, cp->items[i].len, f) !=
                  cp->items[i].len || fclose(f) != 0) {
      fprintf(stderr, "eval_bench: %s: cannot write\n", path);
      return 1;
    }
  }
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: eval_bench [--tsv | --smoke | --dump-seeds DIR]\n"
          "                  [--repeats N] [--min-ms MS] [--iters N]\n"
          "                  [--max-calls N] CORPUS\n"
          "Nanoseconds per evaluation of each corpus item (see the header\n"
          "of bench/eval_bench.c); --tsv prints one line per item:\n"
          "index category bytes parse_ns eval_ns answer_ns max_ns "
          "max_cost_ns kind preview\n");
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
    {"tsv", no_argument, NULL, 't'},
    {"smoke", no_argument, NULL, 's'},
    {"dump-seeds", required_argument, NULL, 'd'},
    {"repeats", required_argument, NULL, 'r'},
    {"min-ms", required_argument, NULL, 'm'},
    {"iters", required_argument, NULL, 'i'},
    {"max-calls", required_argument, NULL, 'x'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
  };
  bench_opts o = {.repeats = 7, .min_ns = 2e6, .iters = 0, .max_calls = 30};
  int tsv = 0, smoke_only = 0, ch;
  const char *seed_dir = NULL;
  while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (ch) {
    case 't': tsv = 1; break;
    case 's': smoke_only = 1; break;
    case 'd': seed_dir = optarg; break;
    case 'r': o.repeats = atoi(optarg); break;
    case 'm': o.min_ns = atof(optarg) * 1e6; break;
    case 'i': o.iters = atol(optarg); break;
    case 'x': o.max_calls = atoi(optarg); break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind + 1 != argc || o.repeats < 1 || o.max_calls < 0) {
    usage(stderr);
    return 2;
  }
  calc_corpus cp;
  char err[256];
  if (calc_corpus_load(argv[optind], &cp, err, sizeof err) != 0) {
    fprintf(stderr, "eval_bench: %s\n", err);
    return 2;
  }
  if (seed_dir) {
    int rc = dump_seeds(&cp, seed_dir);
    calc_corpus_free(&cp);
    return rc;
  }
  calc_ctx *c = calc_ctx_new(NULL);
  if (!c) {
    fprintf(stderr, "eval_bench: out of memory\n");
    return 2;
  }
  if (smoke_only) { /* the checks, then one pass of the benchmark itself */
    int bad = smoke(c, &cp);
    bench_opts one = {.repeats = 1, .iters = 1, .max_calls = 0};
    bench_result r;
    for (size_t i = 0; i < cp.n; i++) measure(c, &one, &cp.items[i], &r);
    printf("eval_bench: %zu items, %d mismatches\n", cp.n, bad);
    calc_ctx_free(c);
    calc_corpus_free(&cp);
    return bad ? 1 : 0;
  }

  bench_result *res = calloc(cp.n, sizeof *res);
  if (!res) return 2;
  for (size_t i = 0; i < cp.n; i++) {
    measure(c, &o, &cp.items[i], &res[i]);
    if (tsv)
      printf("%zu\t%s\t%zu\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t%s\t%s\n", i + 1,
             cp.items[i].category, cp.items[i].len, res[i].ns[MODE_PARSE],
             res[i].ns[MODE_EVAL], res[i].ns[MODE_ANSWER], res[i].max_ns,
             res[i].max_cost_ns, kind_name(res[i].kind),
             preview(&cp.items[i], 40));
    fflush(stdout);
  }
  if (!tsv) { /* a summary by category: mean ns per item */
    printf("%-10s %5s %12s %12s %12s %12s\n", "category", "items",
           bench_mode_name[0], bench_mode_name[1], bench_mode_name[2],
           "max cost");
    for (size_t k = 0; k <= cp.ncats; k++) {
      double sum[MODE_COUNT_] = {0}, mx = 0;
      size_t n = 0;
      for (size_t i = 0; i < cp.n; i++) {
        if (k < cp.ncats && cp.items[i].category != cp.cats[k]) continue;
        for (int m = 0; m < MODE_COUNT_; m++) sum[m] += res[i].ns[m];
        if (res[i].max_cost_ns > mx) mx = res[i].max_cost_ns;
        n++;
      }
      printf("%-10s %5zu %12.1f %12.1f %12.1f %12.0f\n",
             k < cp.ncats ? cp.cats[k] : "(all)", n, sum[0] / (double)n,
             sum[1] / (double)n, sum[2] / (double)n, mx);
    }
    printf("(mean ns per evaluation of an item; max: slowest single "
           "calc_eval, min(wall, thread CPU) per call)\n");
  }
  free(res);
  calc_ctx_free(c);
  calc_corpus_free(&cp);
  return 0;
}
