/* SPDX-License-Identifier: MIT
 *
 * calc-rtd.c: calc's Service Response Time (tshark -z rtd,calc;
 * Statistics > Service Response Time > CALC in the GUI), fed by the
 * "calc" tap: response times per operator class of the request, with the
 * counts of requests still unanswered, responses without a request and
 * duplicate requests and responses.
 */
#include <epan/rtd_table.h>

#include "calc_expr.h"
#include "packet-calc.h"

/* One row per CALC_CLASS_* combination, indexed by the bits. */
static const value_string calc_rtd_vals[] = {
  {0, "none"},
  {CALC_CLASS_ADDSUB, "add/sub"},
  {CALC_CLASS_MULDIV, "mul/div"},
  {CALC_CLASS_ADDSUB | CALC_CLASS_MULDIV, "mixed"},
  {0, NULL}
};
#define CALC_RTD_ROWS 4

static tap_packet_status calc_rtd_packet(void *arg, packet_info *pinfo,
                                         epan_dissect_t *edt _U_,
                                         const void *data,
                                         tap_flags_t flags _U_)
{
  rtd_data_t *rtd = (rtd_data_t *)arg;
  rtd_timestat *ts = &rtd->stat_table.time_stats[0];
  const calc_tap_rec *r = (const calc_tap_rec *)data;

  /* Open requests are those the server did not answer as far as the
   * capture shows: not those answered before them in capture order, nor
   * those whose response is in bytes the capture does not show.
   * Discarded responses are those without a request, not those the
   * capture cut or whose request it may not show. */
  if (r->type == CALC_TYPE_REQUEST) {
    if (r->repeated) ts->req_dup_num++;
    else if (!r->early && !r->not_captured) ts->open_req_num++;
    return TAP_PACKET_REDRAW;
  }
  if (r->repeated) {
    ts->rsp_dup_num++;
    return TAP_PACKET_REDRAW;
  }
  if (!r->matched) {
    if (!r->not_captured && !r->early) ts->disc_rsp_num++;
    return TAP_PACKET_REDRAW;
  }
  if (r->early) return TAP_PACKET_REDRAW; /* no time; its request not open */
  if (ts->open_req_num) ts->open_req_num--;
  unsigned row = r->classes & (CALC_CLASS_ADDSUB | CALC_CLASS_MULDIV);
  time_stat_update(&ts->rtd[row], &r->time, pinfo);
  return TAP_PACKET_REDRAW;
}

void calc_rtd_register(int proto)
{
  register_rtd_table(proto, NULL, 1, CALC_RTD_ROWS, calc_rtd_vals,
                     calc_rtd_packet, NULL);
}
