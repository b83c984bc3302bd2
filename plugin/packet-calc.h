/* SPDX-License-Identifier: MIT
 *
 * packet-calc.h: what the calc dissector (packet-calc.c) shares with its
 * plugin entry points (plugin.c) and its stats tree (calc-stats.c).
 */
#ifndef PACKET_CALC_H
#define PACKET_CALC_H

#include <epan/packet.h>

/* calc.type */
enum { CALC_TYPE_REQUEST = 1, CALC_TYPE_RESPONSE = 2 };

/* How a response compares with what the core computes for its request. */
enum {
  CALC_VERDICT_NONE = 0, /* not compared: no request, or verification off */
  CALC_VERDICT_MATCH,
  CALC_VERDICT_MISMATCH,
  CALC_VERDICT_REFUSED   /* a server's refusal: role, busy or internal */
};

/* What the dissector passes to the "calc" tap, one per message. */
typedef struct calc_tap_rec {
  guint8 type;            /* CALC_TYPE_* */
  gboolean repeated;      /* a retransmitted request or duplicate response */
  gboolean malformed;     /* requests: the core refuses the expression */
  unsigned classes;       /* CALC_CLASS_* bits (responses: the request's) */
  unsigned ops;           /* requests: 1u << calc_op for each operator */
  gboolean is_error;      /* responses: an "ERR" reply */
  const char *err_token;  /* responses: its kind as sent (packet scope) */
  gboolean matched;       /* responses: paired with a request */
  nstime_t time;          /* responses: time since the request, if matched */
  guint8 verdict;         /* responses: CALC_VERDICT_* */
  gboolean not_captured;  /* requests: the response is in bytes the
                             capture does not show (known from the second
                             pass on); responses: cut by the capture, or
                             its request may be in bytes it does not show */
  gboolean early;         /* requests: answered by a response captured
                             before it; responses: captured before their
                             request (no response time) */
} calc_tap_rec;

/* "add/sub", "mul/div", "mixed" or "none" for CALC_CLASS_* bits. */
const char *calc_op_class_name(unsigned classes);

void proto_register_calc(void);
void proto_reg_handoff_calc(void);

/* Registers the stats tree "calc" (tshark -z calc,tree) on the calc tap. */
void calc_stats_tree_register(void);
/* Registers calc's Service Response Time table (tshark -z rtd,calc). */
void calc_rtd_register(int proto);

#endif /* PACKET_CALC_H */
