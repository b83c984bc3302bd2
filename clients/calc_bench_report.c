/* SPDX-License-Identifier: MIT
 * calc_bench_report.c: calc-bench's report, text or JSON (see
 * calc_bench_report.h). */
#include "calc_bench_report.h"

#include <stdio.h>

static void fmt_us(char *buf, size_t cap, uint64_t ns) {
  double us = (double)ns / 1000.0;
  if (us < 1000) snprintf(buf, cap, "%.1f us", us);
  else if (us < 1e6) snprintf(buf, cap, "%.2f ms", us / 1000.0);
  else snprintf(buf, cap, "%.2f s", us / 1e6);
}

static const struct {
  const char *name; /* JSON key and label */
  double p;
} bench_pcts[] = {
  {"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}, {"p99.9", 99.9},
};

void bench_report(const bench_opts *o, const bench_counts *t,
                   const calc_hist *h, double secs, const char *fatal) {
  double rps = secs > 0 ? (double)t->replies / secs : 0;
  const char *proto = o->transport == CALC_NET_UDP ? "udp" : "tcp";
  if (o->json) {
    printf("{\"transport\":\"%s\",\"server\":\"%s\",\"connections\":%u,"
           "\"depth\":%u,\"threads\":%u,\"expressions\":%zu,"
           "\"rate_target\":%.3f,\"seconds\":%.6f,\"sent\":%llu,"
           "\"replies\":%llu,\"ok\":%llu,\"wrong\":%llu,"
           "\"error_replies\":%llu,\"lost\":%llu,\"late\":%llu,"
           "\"rps\":%.1f,\"latency_us\":{\"min\":%.3f",
           proto, o->server.text, o->conns, bench_inflight_cap(o), o->threads,
           o->nexpr,
           o->rate, secs, (unsigned long long)t->sent,
           (unsigned long long)t->replies, (unsigned long long)t->ok,
           (unsigned long long)t->wrong, (unsigned long long)t->err_replies,
           (unsigned long long)t->lost, (unsigned long long)t->late, rps,
           h->count ? (double)h->min / 1000.0 : 0.0);
    for (size_t i = 0; i < sizeof bench_pcts / sizeof *bench_pcts; i++)
      printf(",\"%s\":%.3f", bench_pcts[i].name,
             (double)calc_hist_percentile(h, bench_pcts[i].p) / 1000.0);
    printf(",\"max\":%.3f,\"mean\":%.3f},\"error\":", (double)h->max / 1000.0,
           h->count ? h->sum / (double)h->count / 1000.0 : 0.0);
    if (fatal) {
      putchar('"');
      for (const char *p = fatal; *p; p++)
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if ((unsigned char)*p >= 0x20) putchar(*p);
      puts("\"}");
    } else {
      puts("null}");
    }
    return;
  }
  printf("calc-bench: %s %s, %u connection%s x %s %u, %u thread%s, "
         "%zu expression%s, %.2f s\n", proto, o->server.text, o->conns,
         o->conns == 1 ? "" : "s", o->rate > 0 ? "open loop, window" : "depth",
         bench_inflight_cap(o), o->threads,
         o->threads == 1 ? "" : "s", o->nexpr, o->nexpr == 1 ? "" : "s", secs);
  printf("  requests   sent %llu, replies %llu (ok %llu, wrong %llu), error "
         "replies %llu, lost %llu, late %llu\n",
         (unsigned long long)t->sent, (unsigned long long)t->replies,
         (unsigned long long)t->ok, (unsigned long long)t->wrong,
         (unsigned long long)t->err_replies, (unsigned long long)t->lost,
         (unsigned long long)t->late);
  printf("  throughput %.0f replies/s\n", rps);
  char b[32];
  fmt_us(b, sizeof b, h->count ? h->min : 0);
  printf("  latency    min %s", b);
  for (size_t i = 0; i < sizeof bench_pcts / sizeof *bench_pcts; i++) {
    fmt_us(b, sizeof b, calc_hist_percentile(h, bench_pcts[i].p));
    printf("  %s %s", bench_pcts[i].name, b);
  }
  fmt_us(b, sizeof b, h->max);
  printf("  max %s", b);
  fmt_us(b, sizeof b, h->count ? (uint64_t)(h->sum / (double)h->count) : 0);
  printf("  mean %s\n", b);
}

