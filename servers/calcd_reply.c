/* SPDX-License-Identifier: MIT
 *
 * calcd_reply.c: the replies calcd writes itself, for requests the
 * evaluator never sees (docs/PROTOCOL.md, "Limits").
 */
#include <stdarg.h>
#include <stdio.h>

#include "calcd.h"

/* "ERR <token>: <message>" for kind e into out (cap bytes); its length. */
static size_t error_reply(calc_err e, char *out, size_t cap, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));
static size_t error_reply(calc_err e, char *out, size_t cap, const char *fmt,
                          ...) {
  int k = snprintf(out, cap, "ERR %s: ", calc_err_token(e));
  if (k < 0 || (size_t)k >= cap) return 0;
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(out + k, cap - (size_t)k, fmt, ap);
  va_end(ap);
  if (m < 0) return (size_t)k;
  return (size_t)k + (size_t)m < cap ? (size_t)k + (size_t)m : cap - 1;
}

size_t calcd_too_long(const calcd *s, char *out, size_t cap) {
  return error_reply(CALC_E_TOO_LONG, out, cap,
                     "request longer than %zu bytes",
                     calc_ctx_limits(s->ctx)->max_len);
}

size_t calcd_busy_conn(const calcd *s, char *out, size_t cap) {
  return error_reply(CALC_E_BUSY, out, cap,
                     "server at its connection limit (%u)", s->o->max_conn);
}

size_t calcd_busy_addr(const calcd *s, char *out, size_t cap) {
  return error_reply(CALC_E_BUSY, out, cap,
                     "too many connections from your address (%u)",
                     s->o->max_per_addr);
}

size_t calcd_busy_stop(const char *req, size_t n, char *out, size_t cap) {
  calc_request rq;
  calc_request_split(req, n, &rq);
  if (!rq.has_tag) return error_reply(CALC_E_BUSY, out, cap, "server stopping");
  return error_reply(CALC_E_BUSY, out, cap, "server stopping #%u", rq.tag);
}
