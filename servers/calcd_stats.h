/* SPDX-License-Identifier: MIT
 *
 * calcd_stats.h: calcd's counters, one struct per loop, summed for the
 * log line of each transport (at exit and on SIGUSR1; docs/PROTOCOL.md,
 * "Running calcd").
 */
#ifndef CALCD_STATS_H
#define CALCD_STATS_H

#include <stdint.h>

/* X(name, transport, label): one row per counter, in log order. */
#define CALCD_STATS_MAP(X)                                                  \
  X(UDP_REQUESTS,     "udp", "requests")                                    \
  X(UDP_REPLIES,      "udp", "replies")                                     \
  X(UDP_ERRORS,       "udp", "errors")        /* ERR replies */             \
  X(UDP_DROPPED,      "udp", "dropped")       /* send buffer full */        \
  X(UDP_SHED,         "udp", "shed")          /* a flood's, unanswered */   \
  X(UDP_STOP_BUSY,    "udp", "stop-busy")     /* refused: stopping */       \
  X(TCP_CONNS,        "tcp", "connections")   /* served */                  \
  X(TCP_REQUESTS,     "tcp", "requests")                                    \
  X(TCP_REPLIES,      "tcp", "replies")                                     \
  X(TCP_ERRORS,       "tcp", "errors")        /* ERR replies */             \
  X(TCP_STOP_BUSY,    "tcp", "stop-busy")     /* refused: stopping */       \
  X(TCP_REFUSED,      "tcp", "refused-max-conn")                            \
  X(TCP_REFUSED_ADDR, "tcp", "refused-per-addr")                            \
  X(TCP_TOO_LONG,     "tcp", "over-long")                                   \
  X(TCP_IDLE,         "tcp", "idle-timeouts")                               \
  X(TCP_REQ_TIMEOUT,  "tcp", "request-timeouts")                            \
  X(TCP_RESETS,       "tcp", "resets")        /* closed unread: RST */   \
  X(TCP_PROXY_REFUSED, "tcp", "proxy-refused") /* bad/missing header */

enum {
#define CALCD_STAT_ENUM_(name, tr, label) CALCD_ST_##name,
  CALCD_STATS_MAP(CALCD_STAT_ENUM_)
#undef CALCD_STAT_ENUM_
  CALCD_ST_COUNT_
};

typedef struct calcd_stats {
  uint64_t n[CALCD_ST_COUNT_];
} calcd_stats;

/* sum += x, counter by counter. */
void calcd_stats_add(calcd_stats *sum, const calcd_stats *x);
/* One log line per transport: "<what> udp: requests 3, replies 3, ...". */
void calcd_stats_log(const calcd_stats *st, const char *what);

#endif /* CALCD_STATS_H */
