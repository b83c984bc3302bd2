/* SPDX-License-Identifier: MIT
 *
 * calcd_reply.c: the replies calcd sends for requests the evaluator never
 * sees (docs/PROTOCOL.md, "Limits"), with calcd's numbers in them.  Their
 * bytes are lib's (calc_reply_too_long, calc_reply_busy, calc_tag_format).
 */
#include "calcd.h"

size_t calcd_too_long(const calcd *s, char *out, size_t cap) {
  return calc_reply_too_long(out, cap, calc_ctx_limits(s->ctx)->max_len);
}

size_t calcd_busy_conn(const calcd *s, char *out, size_t cap) {
  return calc_reply_busy(out, cap, "server at its connection limit (%u)",
                         s->o->max_conn);
}

size_t calcd_busy_addr(const calcd *s, char *out, size_t cap) {
  return calc_reply_busy(out, cap,
                         "too many connections from your address (%u)",
                         s->o->max_per_addr);
}

size_t calcd_busy_stop(const char *req, size_t n, char *out, size_t cap) {
  calc_request rq;
  calc_request_split(req, n, &rq);
  size_t m = calc_reply_busy(out, cap, "server stopping");
  if (rq.has_tag && m + CALC_TAG_TEXT_MAX < cap)
    m += calc_tag_format(out + m, cap - m, rq.tag);
  return m;
}
