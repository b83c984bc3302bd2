/* SPDX-License-Identifier: MIT
 * test_hist: calc-bench's latency histogram (calc_hist.h): bucket bounds,
 * relative error, percentiles against a sorted array, merging. */
#include <stdio.h>
#include <stdlib.h>

#include "calc_hist.h"

static int failures;
#define CHECK(cond, ...)                                \
  do {                                                  \
    if (!(cond)) {                                      \
      failures++;                                       \
      fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);   \
      fprintf(stderr, __VA_ARGS__);                     \
      fputc('\n', stderr);                              \
    }                                                   \
  } while (0)

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Every value lands in a bucket whose range holds it, buckets are in
 * order, and a bucket is at most 1/CALC_HIST_SUB of its values wide. */
static void test_buckets(void) {
  uint64_t probes[] = {0, 1, 127, 128, 255, 256, 257, 1000, 65535, 65536,
                       123456789, 1ull << 40, (1ull << 40) + 12345,
                       UINT64_MAX / 3, UINT64_MAX - 1, UINT64_MAX};
  for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
    uint64_t v = probes[i];
    unsigned b = calc_hist_index(v);
    CHECK(b < CALC_HIST_BUCKETS, "index %u of %llu out of range", b,
          (unsigned long long)v);
    uint64_t hi = calc_hist_upper(b);
    uint64_t lo = b ? calc_hist_upper(b - 1) + 1 : 0;
    CHECK(lo <= v && v <= hi, "%llu not in bucket [%llu, %llu]",
          (unsigned long long)v, (unsigned long long)lo,
          (unsigned long long)hi);
    CHECK((double)(hi - lo) <= (double)lo / CALC_HIST_SUB + 1.0,
          "bucket of %llu too wide", (unsigned long long)v);
  }
  CHECK(calc_hist_index(UINT64_MAX) == CALC_HIST_BUCKETS - 1,
        "the last bucket is not UINT64_MAX's");
  for (unsigned b = 1; b < CALC_HIST_BUCKETS; b++)
    if (calc_hist_upper(b) <= calc_hist_upper(b - 1)) {
      CHECK(0, "bucket %u does not follow bucket %u", b, b - 1);
      break;
    }
}

/* Percentiles are within a bucket's width of the exact order statistic. */
static void test_percentiles(void) {
  enum { N = 100000 };
  static uint64_t v[N];
  calc_hist a, b;
  calc_hist_init(&a);
  calc_hist_init(&b);
  srand(7);
  for (int i = 0; i < N; i++) {
    /* a long tail: mostly ~50 us, some ~ms, a few ~100 ms (in ns) */
    int r = rand() % 1000;
    v[i] = r < 900 ? 40000 + (uint64_t)(rand() % 20000)
           : r < 999 ? 1000000 + (uint64_t)(rand() % 5000000)
                     : 100000000 + (uint64_t)(rand() % 1000000);
    calc_hist_add(i % 2 ? &a : &b, v[i]);
  }
  calc_hist_merge(&a, &b);
  qsort(v, N, sizeof *v, cmp_u64);
  CHECK(a.count == N && a.min == v[0] && a.max == v[N - 1],
        "count/min/max wrong after merge");
  double ps[] = {50, 90, 99, 99.9, 100};
  for (size_t i = 0; i < sizeof ps / sizeof *ps; i++) {
    size_t rank = (size_t)(ps[i] / 100.0 * N + 0.999999);
    uint64_t exact = v[rank - 1], got = calc_hist_percentile(&a, ps[i]);
    CHECK(got >= exact && (double)(got - exact) <= (double)exact / 128.0 + 1,
          "p%g: %llu, exact %llu", ps[i], (unsigned long long)got,
          (unsigned long long)exact);
  }
  calc_hist_init(&b);
  CHECK(calc_hist_percentile(&b, 99) == 0, "empty histogram");
}

int main(void) {
  test_buckets();
  test_percentiles();
  if (failures) {
    fprintf(stderr, "test_hist: %d failure(s)\n", failures);
    return 1;
  }
  puts("test_hist: ok");
  return 0;
}
