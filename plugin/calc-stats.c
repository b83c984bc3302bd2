/* SPDX-License-Identifier: MIT
 *
 * calc-stats.c: the stats tree "calc" (tshark -z calc,tree; Statistics >
 * Calc in the GUI), fed by the dissector's "calc" tap: requests by operator
 * class and by operator, responses by kind, and response times.
 */
#include <epan/stats_tree.h>

#include "calc_expr.h"
#include "packet-calc.h"

static const char st_requests[] = "Requests by operator class";
static const char st_ops[] = "Requests by operator";
static const char st_retrans[] = "Retransmitted requests";
static const char st_responses[] = "Responses by kind";
static const char st_unmatched[] = "Responses without a request";
/* What the capture does not show: responses it cut or whose request may
 * be in bytes it lacks; requests whose response is in such bytes (known
 * in the second pass). */
static const char st_resp_uncaptured[] = "Responses cut or after a gap";
static const char st_req_uncaptured[] = "Requests, response not captured";
static const char st_duplicates[] = "Duplicate responses";
static const char st_mismatch[] = "Responses differing from the core";
static const char st_time[] = "Response time (ms)";
/* The ranges are in microseconds (the stats tree's ranges are integers):
 * calcd answers in tens of microseconds, so whole milliseconds would put
 * every response in one row. */
static const char st_time_ranges[] = "Response time ranges (us)";

static int st_node_requests = -1;
static int st_node_ops = -1;
static int st_node_responses = -1;
static int st_node_time = -1;
static int st_node_time_ranges = -1;

static void calc_stats_init(stats_tree *st)
{
  st_node_requests = stats_tree_create_node(st, st_requests, 0, STAT_DT_INT,
                                            TRUE);
  st_node_ops = stats_tree_create_node(st, st_ops, 0, STAT_DT_INT, TRUE);
  stats_tree_create_node(st, st_retrans, 0, STAT_DT_INT, FALSE);
  st_node_responses = stats_tree_create_node(st, st_responses, 0,
                                             STAT_DT_INT, TRUE);
  stats_tree_create_node(st, st_unmatched, 0, STAT_DT_INT, FALSE);
  stats_tree_create_node(st, st_resp_uncaptured, 0, STAT_DT_INT, FALSE);
  stats_tree_create_node(st, st_req_uncaptured, 0, STAT_DT_INT, FALSE);
  stats_tree_create_node(st, st_duplicates, 0, STAT_DT_INT, FALSE);
  stats_tree_create_node(st, st_mismatch, 0, STAT_DT_INT, FALSE);
  st_node_time = stats_tree_create_node(st, st_time, 0, STAT_DT_FLOAT,
                                        FALSE);
  st_node_time_ranges = stats_tree_create_range_node(st, st_time_ranges, 0,
      "0-49", "50-99", "100-249", "250-499", "500-999", "1000-9999",
      "10000-99999", "100000-999999", "1000000-", NULL);
}

static tap_packet_status calc_stats_packet(stats_tree *st,
                                           packet_info *pinfo _U_,
                                           epan_dissect_t *edt _U_,
                                           const void *data,
                                           tap_flags_t flags _U_)
{
  const calc_tap_rec *r = (const calc_tap_rec *)data;

  if (r->type == CALC_TYPE_REQUEST) {
    if (r->repeated) {
      tick_stat_node(st, st_retrans, 0, FALSE);
      return TAP_PACKET_REDRAW;
    }
    if (r->not_captured) tick_stat_node(st, st_req_uncaptured, 0, FALSE);
    tick_stat_node(st, st_requests, 0, TRUE);
    tick_stat_node(st, r->malformed ? "malformed"
                                    : calc_op_class_name(r->classes),
                   st_node_requests, FALSE);
    tick_stat_node(st, st_ops, 0, TRUE);
    for (int op = 0; op < CALC_OP_COUNT_; op++)
      if ((r->ops & (1u << op)) && calc_op_class((calc_op)op))
        tick_stat_node(st, calc_op_symbol((calc_op)op), st_node_ops, FALSE);
    return TAP_PACKET_REDRAW;
  }

  if (r->repeated) {
    tick_stat_node(st, st_duplicates, 0, FALSE);
    return TAP_PACKET_REDRAW;
  }
  tick_stat_node(st, st_responses, 0, TRUE);
  tick_stat_node(st, r->is_error ? r->err_token : "result",
                 st_node_responses, FALSE);
  if (!r->matched) {
    if (r->not_captured) tick_stat_node(st, st_resp_uncaptured, 0, FALSE);
    else if (!r->early) tick_stat_node(st, st_unmatched, 0, FALSE);
    return TAP_PACKET_REDRAW;
  }
  if (r->verdict == CALC_VERDICT_MISMATCH)
    tick_stat_node(st, st_mismatch, 0, FALSE);
  if (r->early) return TAP_PACKET_REDRAW; /* before its request: no time */
  double ms = (double)r->time.secs * 1e3 + (double)r->time.nsecs / 1e6;
  avg_stat_node_add_value_float(st, st_time, 0, FALSE, (float)ms);
  tick_stat_node(st, st_time_ranges, 0, TRUE);
  double us = ms * 1e3;
  stats_tree_tick_range(st, st_time_ranges, 0,
                        us < (double)G_MAXINT ? (int)us : G_MAXINT);
  return TAP_PACKET_REDRAW;
}

void calc_stats_tree_register(void)
{
  stats_tree_register_plugin("calc", "calc", "Calc/Requests and Responses",
                             0, calc_stats_packet, calc_stats_init, NULL);
}
