/* SPDX-License-Identifier: MIT
 *
 * calcd_stats.c: summing and logging the counters (calcd_stats.h).
 */
#include <stdio.h>
#include <string.h>

#include "calcd_log.h"
#include "calcd_stats.h"

static const struct {
  const char *transport, *label;
} rows[CALCD_ST_COUNT_] = {
#define CALCD_STAT_ROW_(name, tr, lb) [CALCD_ST_##name] = {tr, lb},
  CALCD_STATS_MAP(CALCD_STAT_ROW_)
#undef CALCD_STAT_ROW_
};

void calcd_stats_add(calcd_stats *sum, const calcd_stats *x) {
  for (int i = 0; i < CALCD_ST_COUNT_; i++) sum->n[i] += x->n[i];
}

void calcd_stats_log(const calcd_stats *st, const char *what) {
  for (int i = 0; i < CALCD_ST_COUNT_;) {
    const char *tr = rows[i].transport;
    char line[1024];
    size_t k = 0;
    for (; i < CALCD_ST_COUNT_ && !strcmp(rows[i].transport, tr); i++) {
      int n = snprintf(line + k, sizeof line - k, "%s%s %llu",
                       k ? ", " : "", rows[i].label,
                       (unsigned long long)st->n[i]);
      if (n > 0 && (size_t)n < sizeof line - k) k += (size_t)n;
    }
    calcd_log("%s %s: %s", what, tr, line);
  }
}
