/* SPDX-License-Identifier: MIT
 * calc_proto.c: request and reply rules of docs/PROTOCOL.md. */
#include "calc_proto.h"

#include <stdarg.h>
#include <stdint.h>
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
  while (n > 0 && calc_is_blank((unsigned char)p[n - 1])) n--;
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

size_t calc_tag_format(char *out, size_t cap, uint32_t tag) {
  char d[10]; /* digits, last first: by hand, as snprintf costs more than
                 the rest of a small request's reply */
  size_t nd = 0;
  do {
    d[nd++] = (char)('0' + tag % 10);
    tag /= 10;
  } while (tag);
  if (cap == 0) return 0;
  size_t n = 2 + nd < cap ? 2 + nd : cap - 1;
  for (size_t i = 0; i < n; i++)
    out[i] = i == 0 ? ' ' : i == 1 ? '#' : d[nd - 1 - (i - 2)];
  out[n] = '\0';
  return n;
}

int calc_request_unfinished(calc_ctx *c, const char *p, size_t n) {
  calc_request rq;
  calc_request_split(p, calc_strip_eol(p, n), &rq);
  return calc_parse(c, rq.expr, rq.expr_len) == CALC_E_SYNTAX &&
         calc_errpos(c) == rq.expr_len + 1;
}

size_t calc_reply_too_long(char *out, size_t cap, size_t limit) {
  return calc_err_line(out, cap, CALC_E_TOO_LONG, CALC_MSG_TOO_LONG, limit);
}

size_t calc_reply_busy(char *out, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t n = calc_err_vline(out, cap, CALC_E_BUSY, fmt, ap);
  va_end(ap);
  return n;
}

/* The refusal of an operator of the other role starts so (the message names
 * the server that serves it); CALC_REPLY_ROLE keys on it. */
#define CALC_MSG_ROLE "this server (%s) serves only %s; '%s' is served by " \
                      "the %s server (port %u)"
/* What a result shortened by the UDP bound becomes: too-large, so. */
#define CALC_MSG_USE_TCP "use TCP"

/* Whether the n bytes at p start with fmt's text before its first '%'. */
static int starts_as(const char *p, size_t n, const char *fmt) {
  size_t k = strcspn(fmt, "%");
  return n >= k && memcmp(p, fmt, k) == 0;
}

/* CALC_REPLY_* of an error of kind e with message p[0..n) (NULL: none). */
static unsigned error_flags(calc_err e, const char *p, size_t n) {
  if (!p) return CALC_REPLY_CUT;
  switch (e) {
  case CALC_E_TOO_LONG: return CALC_REPLY_TOO_LONG;
  case CALC_E_UNSUPPORTED:
    return starts_as(p, n, CALC_MSG_ROLE) ? CALC_REPLY_ROLE : 0;
  case CALC_E_TOO_LARGE:
    if (n == sizeof CALC_MSG_USE_TCP - 1 &&
        memcmp(p, CALC_MSG_USE_TCP, n) == 0)
      return CALC_REPLY_CUT;
    return starts_as(p, n, CALC_MSG_INT_DIGITS) ? CALC_REPLY_DIGITS : 0;
  default: return 0;
  }
}

/* error_flags() of a NUL-terminated message, measured only when needed. */
static unsigned error_flags_of(calc_err e, const char *msg) {
  if (e != CALC_E_UNSUPPORTED && e != CALC_E_TOO_LARGE)
    return error_flags(e, msg, 0);
  return error_flags(e, msg, strlen(msg));
}

/* No amplification: a reply of kind *e, *len bytes at out (cap - taglen
 * bytes of room) and a tag of taglen bytes, over bound, shortened to the
 * bare kind, or a too-large error. */
static void shorten(char *out, size_t cap, calc_err *e, size_t *len,
                    unsigned *flags, size_t taglen, size_t bound) {
  *flags &= CALC_REPLY_TAGGED;
  if (*e != CALC_OK) *len = calc_err_line(out, cap, *e, NULL);
  if (*e == CALC_OK || *len + taglen > bound) {
    *e = CALC_E_TOO_LARGE;
    *len = calc_err_line(out, cap, *e, CALC_MSG_USE_TCP);
  }
  *flags |= CALC_REPLY_CUT;
}

calc_err calc_answer_bounded_kind(const calc_answer_info *ai, size_t bound) {
  if (ai->len <= bound || (ai->flags & CALC_REPLY_TOO_LONG)) return ai->kind;
  /* shorten() makes a result too-large whatever its text: no need to
   * write it. */
  if (ai->kind == CALC_OK) return CALC_E_TOO_LARGE;
  char out[CALC_ANSWER_MAX + 1];
  size_t taglen = ai->len - ai->body_len, len = ai->body_len;
  calc_err e = ai->kind;
  unsigned flags = ai->flags;
  shorten(out, sizeof out - taglen, &e, &len, &flags, taglen, bound);
  return e;
}

size_t calc_answer_info_of(calc_ctx *c, calc_role role, const char *req,
                           size_t n, size_t bound, char *out, size_t cap,
                           calc_answer_info *ai) {
  calc_request rq = {0};
  calc_err e = CALC_OK;
  if (n <= calc_ctx_limits(c)->max_len) { /* else refused unread */
    calc_request_split(req, n, &rq);
    e = calc_parse(c, rq.expr, rq.expr_len);
  }
  return calc_answer_info_parsed(c, role, n, &rq, e, bound, out, cap, ai);
}

size_t calc_answer_info_parsed(calc_ctx *c, calc_role role, size_t n,
                               const calc_request *rq, calc_err e,
                               size_t bound, char *out, size_t cap,
                               calc_answer_info *ai) {
  size_t len;
  char tagtxt[CALC_TAG_TEXT_MAX + 1] = "";
  size_t taglen = 0;
  unsigned flags = 0;

  /* The length rule: the whole request, tag included; no tag echoed. */
  if (n > calc_ctx_limits(c)->max_len) {
    len = calc_reply_too_long(out, cap, calc_ctx_limits(c)->max_len);
    ai->kind = CALC_E_TOO_LONG;
    ai->flags = CALC_REPLY_TOO_LONG;
    ai->len = ai->body_len = len;
    return len;
  }
  if (rq->has_tag) {
    taglen = calc_tag_format(tagtxt, sizeof tagtxt, rq->tag);
    flags |= CALC_REPLY_TAGGED;
  }
  cap -= taglen; /* room for the tag, appended last */

  if (e != CALC_OK) {
    const char *text = calc_reply(c, &len); /* the evaluator's error line */
    if (len >= cap) len = cap - 1;
    memcpy(out, text, len);
    flags |= error_flags_of(e, calc_errmsg(c));
  } else if (calc_classes(c) & ~calc_role_classes(role)) {
    unsigned other = calc_classes(c) & ~calc_role_classes(role);
    calc_role server = other & CALC_CLASS_MULDIV ? CALC_ROLE_MULDIV
                                                 : CALC_ROLE_ADDSUB;
    e = CALC_E_UNSUPPORTED;
    len = calc_err_line(out, cap, e, CALC_MSG_ROLE, calc_roles[role].name,
                        calc_roles[role].serves,
                        calc_op_symbol(first_op_of(c, other)),
                        calc_roles[server].name,
                        (unsigned)calc_roles[server].port);
    flags |= CALC_REPLY_ROLE;
  } else {
    e = calc_eval_parsed(c);
    const char *text = calc_reply(c, &len);
    if (len >= cap) len = cap - 1;
    memcpy(out, text, len);
    if (e != CALC_OK) flags |= error_flags_of(e, calc_errmsg(c));
  }

  if (len + taglen > bound) shorten(out, cap, &e, &len, &flags, taglen, bound);
  memcpy(out + len, tagtxt, taglen + 1);
  ai->kind = e;
  ai->flags = flags;
  ai->body_len = len;
  ai->len = len + taglen;
  return len + taglen;
}

size_t calc_answer(calc_ctx *c, calc_role role, const char *req, size_t n,
                   size_t bound, char *out, size_t cap, calc_err *kind) {
  calc_answer_info ai;
  size_t len = calc_answer_info_of(c, role, req, n, bound, out, cap, &ai);
  if (kind) *kind = ai.kind;
  return len;
}

/* ---- the reply grammar ---- */

/* Whether the 8 bytes at p are all digits: each byte's high nibble is 3,
 * and still is with 6 added (no carry between bytes then: each stays
 * below 0x100). */
static int word_is_digits(const char *p) {
  const uint64_t hi = 0xf0f0f0f0f0f0f0f0ull, three = 0x3030303030303030ull;
  const uint64_t six = 0x0606060606060606ull;
  uint64_t w;
  memcpy(&w, p, sizeof w);
  return (w & hi) == three && ((w + six) & hi) == three;
}

/* Digits at p[*i..n): how many, advancing *i (8 at a time while it can:
 * a result may have thousands). */
static size_t digits_at(const char *p, size_t n, size_t *i) {
  size_t k = *i;
  while (k + sizeof(uint64_t) <= n && word_is_digits(p + k))
    k += sizeof(uint64_t);
  while (k < n && is_digit(p[k])) k++;
  size_t d = k - *i;
  *i = k;
  return d;
}

/* Python's repr() of a finite float: "0.5", "123.0", "1e+16", "1.5e-05",
 * "5e-324" (the sign handled by the caller). */
static int is_float_repr(const char *p, size_t n) {
  size_t i = 0;
  size_t ip = digits_at(p, n, &i);
  if (ip == 0 || (ip > 1 && p[0] == '0')) return 0;
  int frac = 0;
  if (i < n && p[i] == '.') {
    i++;
    if (digits_at(p, n, &i) == 0) return 0;
    frac = 1;
  }
  if (i == n) return frac; /* fixed notation always has a fraction */
  if (p[i] != 'e' || ip != 1) return 0;
  i++;
  if (i == n || (p[i] != '+' && p[i] != '-')) return 0;
  i++;
  size_t ed = digits_at(p, n, &i);
  return i == n && ed >= 2 && ed <= 3;
}

/* Whether the d digits at p, after a sign when sign, are an int as
 * Python's str() writes it: no leading zero, no "-0", at most max_digits. */
static int int_is_canonical(const char *p, size_t d, int sign,
                            unsigned max_digits) {
  return d > 0 && d <= max_digits && (d == 1 || p[0] != '0') &&
         !(d == 1 && p[0] == '0' && sign);
}

int calc_reply_is_number(const char *p, size_t n, unsigned max_digits) {
  size_t i = 0;
  if (n == 3 && memcmp(p, "nan", 3) == 0) return 1;
  if (n > 0 && p[0] == '-') i = 1;
  if (n - i == 3 && memcmp(p + i, "inf", 3) == 0) return 1;
  size_t k = i;
  size_t d = digits_at(p, n, &k);
  if (d > 0 && k == n) /* an int */
    return int_is_canonical(p + i, d, i == 1, max_digits);
  return n > i && is_float_repr(p + i, n - i);
}

static int printable(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e) return 0;
  return 1;
}

const char *calc_escape(const char *p, size_t n, char *out, size_t cap) {
  size_t k = 0, i = 0;
  for (; i < n && k + 8 < cap; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (ch == '\\') {
      out[k++] = '\\';
      out[k++] = '\\';
    } else if (ch >= 0x20 && ch < 0x7f) {
      out[k++] = (char)ch;
    } else {
      k += (size_t)snprintf(out + k, cap - k, "\\x%02x", ch);
    }
  }
  if (i < n && k + 4 <= cap) {
    memcpy(out + k, "...", 3);
    k += 3;
  }
  if (cap) out[k < cap ? k : cap - 1] = '\0';
  return out;
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
  if (r->has_tag) r->flags |= CALC_REPLY_TAGGED;
  r->text_len = n;
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
    if (r->kind == CALC_OK) return -1;
    /* strict: "ERR <kind>" or "ERR <kind>: <printable message>" */
    int bare = i == n;
    r->strict = bare || (i + 2 < n && p[i + 1] == ' ' && printable(p, n));
    r->flags |= error_flags(r->kind, bare ? NULL : r->body, r->body_len);
    return 0;
  }
  /* An int, the common result, in one pass over its digits. */
  size_t i0 = p[0] == '-', k = i0;
  size_t d = digits_at(p, n, &k);
  if (d > 0 && k == n) {
    r->strict = int_is_canonical(p + i0, d, i0 == 1, CALC_MAX_DIGITS);
    return 0;
  }
  r->strict = calc_reply_is_number(p, n, CALC_MAX_DIGITS);
  /* A result: an int or a float repr. */
  for (size_t i = 0; i < n; i++) {
    char ch = p[i];
    if (!(is_digit(ch) || ch == '-' || ch == '+' || ch == '.' || ch == 'e' ||
          ch == 'i' || ch == 'n' || ch == 'f' || ch == 'a'))
      return -1;
  }
  return 0;
}
