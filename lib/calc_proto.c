/* SPDX-License-Identifier: MIT
 * calc_proto.c: request and reply rules of docs/PROTOCOL.md. */
#include "calc_proto.h"

#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  unsigned classes;
  uint16_t port;
  const char *serves; /* for the refusal message */
} calc_roles[CALC_ROLE_COUNT_] = {
  [CALC_ROLE_ALL]    = {"all", CALC_CLASS_ADDSUB | CALC_CLASS_MULDIV,
                        CALC_PORT_ALL, "every operator"},
  [CALC_ROLE_ADDSUB] = {"addsub", CALC_CLASS_ADDSUB, CALC_PORT_ADDSUB, "+ -"},
  [CALC_ROLE_MULDIV] = {"muldiv", CALC_CLASS_MULDIV, CALC_PORT_MULDIV,
                        "* / // % **"},
};

const char *calc_role_name(calc_role r) {
  return (unsigned)r < CALC_ROLE_COUNT_ ? calc_roles[r].name : NULL;
}

int calc_role_parse(const char *s) {
  for (int r = 0; r < CALC_ROLE_COUNT_; r++)
    if (strcmp(s, calc_roles[r].name) == 0) return r;
  return -1;
}

unsigned calc_role_classes(calc_role r) {
  return (unsigned)r < CALC_ROLE_COUNT_ ? calc_roles[r].classes : 0;
}

uint16_t calc_role_port(calc_role r) {
  return (unsigned)r < CALC_ROLE_COUNT_ ? calc_roles[r].port : 0;
}

static int is_blank(char ch) { return ch == ' ' || ch == '\t'; }
static int is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* Parse "#<1..9 digits>" ending exactly at p+n.  Returns the offset of '#'
 * or -1. */
static long tag_at_end(const char *p, size_t n, uint32_t *tag) {
  size_t i = n, digits = 0;
  while (i > 0 && is_digit(p[i - 1]) && digits <= CALC_TAG_MAX_DIGITS) {
    i--;
    digits++;
  }
  if (digits == 0 || digits > CALC_TAG_MAX_DIGITS || i == 0 || p[i - 1] != '#')
    return -1;
  uint32_t v = 0;
  for (size_t k = i; k < n; k++) v = v * 10 + (uint32_t)(p[k] - '0');
  *tag = v;
  return (long)(i - 1);
}

void calc_request_split(const char *p, size_t n, calc_request *r) {
  r->expr = p;
  r->expr_len = n;
  r->has_tag = 0;
  r->tag = 0;
  while (n > 0 && is_blank(p[n - 1])) n--;
  uint32_t tag;
  long at = tag_at_end(p, n, &tag);
  if (at < 0) return;
  r->has_tag = 1;
  r->tag = tag;
  r->expr_len = (size_t)at;
}

size_t calc_strip_eol(const char *p, size_t n) {
  while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r')) n--;
  return n;
}

size_t calc_udp_bound(size_t n) {
  size_t b = n * CALC_UDP_AMP_FACTOR;
  return b > CALC_UDP_AMP_MIN ? b : CALC_UDP_AMP_MIN;
}

/* The first operator (in table order) of class bits `cls` used by c. */
static calc_op first_op_of(const calc_ctx *c, unsigned cls) {
  unsigned ops = calc_ops(c);
  for (int op = 0; op < CALC_OP_COUNT_; op++)
    if ((ops & (1u << op)) && (calc_op_class((calc_op)op) & cls))
      return (calc_op)op;
  return CALC_OP_NUM;
}

/* Write "ERR <token>: <msg>" or, when msg is NULL, "ERR <token>". */
static size_t put_error(char *out, size_t cap, calc_err e, const char *msg) {
  int k = msg ? snprintf(out, cap, "ERR %s: %s", calc_err_token(e), msg)
              : snprintf(out, cap, "ERR %s", calc_err_token(e));
  if (k < 0) return 0;
  return (size_t)k < cap ? (size_t)k : cap - 1;
}

size_t calc_answer(calc_ctx *c, calc_role role, const char *req, size_t n,
                   size_t bound, char *out, size_t cap, calc_err *kind) {
  calc_request rq;
  calc_err e;
  size_t len;
  char tagtxt[2 + CALC_TAG_MAX_DIGITS + 1] = "";
  size_t taglen = 0;

  calc_request_split(req, n, &rq);
  if (rq.has_tag)
    taglen = (size_t)snprintf(tagtxt, sizeof tagtxt, " #%u", (unsigned)rq.tag);
  cap -= taglen; /* room for the tag, appended last */

  if (rq.expr_len > calc_ctx_limits(c)->max_len) {
    char msg[80];
    snprintf(msg, sizeof msg, "request longer than %zu bytes",
             calc_ctx_limits(c)->max_len);
    e = CALC_E_TOO_LONG;
    len = put_error(out, cap, e, msg);
  } else if ((e = calc_parse(c, rq.expr, rq.expr_len)) != CALC_OK) {
    len = put_error(out, cap, e, calc_errmsg(c));
  } else if (calc_classes(c) & ~calc_role_classes(role)) {
    unsigned other = calc_classes(c) & ~calc_role_classes(role);
    calc_role server = other & CALC_CLASS_MULDIV ? CALC_ROLE_MULDIV
                                                 : CALC_ROLE_ADDSUB;
    char msg[160];
    snprintf(msg, sizeof msg,
             "this server (%s) serves only %s; '%s' is served by the %s "
             "server (port %u)",
             calc_roles[role].name, calc_roles[role].serves,
             calc_op_symbol(first_op_of(c, other)), calc_roles[server].name,
             (unsigned)calc_roles[server].port);
    e = CALC_E_UNSUPPORTED;
    len = put_error(out, cap, e, msg);
  } else {
    e = calc_eval_parsed(c);
    const char *text = calc_reply(c, &len);
    if (len >= cap) len = cap - 1;
    memcpy(out, text, len);
  }

  /* No amplification: shorten to the bare kind, or a too-large error. */
  if (len + taglen > bound) {
    if (e != CALC_OK) len = put_error(out, cap, e, NULL);
    if (e == CALC_OK || len + taglen > bound) {
      e = CALC_E_TOO_LARGE;
      len = put_error(out, cap, e, "use TCP");
    }
  }
  memcpy(out + len, tagtxt, taglen + 1);
  if (kind) *kind = e;
  return len + taglen;
}

int calc_reply_parse(const char *p, size_t n, calc_reply_info *r) {
  memset(r, 0, sizeof *r);
  uint32_t tag;
  long at = tag_at_end(p, n, &tag);
  if (at >= 1 && p[at - 1] == ' ') {
    r->has_tag = 1;
    r->tag = tag;
    n = (size_t)at - 1;
  }
  r->body = p;
  r->body_len = n;
  if (n == 0) return -1;
  if (n >= 4 && memcmp(p, "ERR ", 4) == 0) {
    size_t i = 4;
    while (i < n && p[i] != ':') i++;
    r->is_error = 1;
    r->token = p + 4;
    r->token_len = i - 4;
    r->kind = calc_err_from_token(r->token, r->token_len);
    r->body = p + n;
    r->body_len = 0;
    if (i < n) { /* ": <message>" */
      size_t m = i + 1;
      if (m < n && p[m] == ' ') m++;
      r->body = p + m;
      r->body_len = n - m;
    }
    return r->kind == CALC_OK ? -1 : 0;
  }
  /* A result: an int or a float repr. */
  for (size_t i = 0; i < n; i++) {
    char ch = p[i];
    if (!(is_digit(ch) || ch == '-' || ch == '+' || ch == '.' || ch == 'e' ||
          ch == 'i' || ch == 'n' || ch == 'f' || ch == 'a'))
      return -1;
  }
  return 0;
}
