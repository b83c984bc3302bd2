/* SPDX-License-Identifier: MIT
 *
 * calc_proto.h: the calc protocol's message rules, shared by the servers,
 * the clients and the dissector.  docs/PROTOCOL.md is the specification;
 * this header is its code.
 *
 * A request is one expression, optionally followed by a tag "#<digits>"
 * (Python reads it as a comment, so the original servers still evaluate
 * tagged requests).  A reply is the core's reply text, followed by " #<tag>"
 * when the request had one.
 */
#ifndef CALC_PROTO_H
#define CALC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "calc_err.h"
#include "calc_expr.h"

/* Well-known ports: a server of every operator, and the two role servers. */
#define CALC_PORT_ALL    4000
#define CALC_PORT_ADDSUB 4001
#define CALC_PORT_MULDIV 4002

/* A tag is 1 to CALC_TAG_MAX_DIGITS decimal digits (fits a uint32). */
#define CALC_TAG_MAX_DIGITS 9

/* No amplification: a UDP reply is at most
 * max(CALC_UDP_AMP_FACTOR * request payload, CALC_UDP_AMP_MIN) bytes. */
#define CALC_UDP_AMP_FACTOR 3
#define CALC_UDP_AMP_MIN    32

/* Longest reply calc_answer() writes: reply text plus " #<tag>". */
#define CALC_ANSWER_MAX (CALC_REPLY_MAX + 2 + CALC_TAG_MAX_DIGITS)

/* TCP legacy framing (docs/PROTOCOL.md, "TCP"): a connection that has never
 * sent LF is a legacy connection; its buffered bytes form one request once
 * no more bytes arrive for CALC_LEGACY_QUIET_MS, or for
 * CALC_LEGACY_INCOMPLETE_MS while they end in an incomplete expression. */
#define CALC_LEGACY_QUIET_MS      20
#define CALC_LEGACY_INCOMPLETE_MS 250

/* The assignment's split: which operator classes a server serves. */
typedef enum calc_role {
  CALC_ROLE_ALL = 0,
  CALC_ROLE_ADDSUB,
  CALC_ROLE_MULDIV,
  CALC_ROLE_COUNT_
} calc_role;

/* "all", "addsub", "muldiv"; NULL when out of range. */
const char *calc_role_name(calc_role r);
/* The role named by s, or -1. */
int calc_role_parse(const char *s);
/* CALC_CLASS_* bits the role serves, and its default port. */
unsigned calc_role_classes(calc_role r);
uint16_t calc_role_port(calc_role r);

/* A request with framing removed, split into expression and tag. */
typedef struct calc_request {
  const char *expr;   /* points into the request */
  size_t expr_len;
  int has_tag;
  uint32_t tag;
} calc_request;

/* Split the n bytes at p (framing removed) into expression and tag.  The tag
 * is a final "#" and 1..CALC_TAG_MAX_DIGITS digits, after optional blanks;
 * anything else stays in the expression (a "#" comment there is ignored by
 * the evaluator, as by Python). */
void calc_request_split(const char *p, size_t n, calc_request *r);

/* Length of the n bytes at p without trailing CR and LF bytes. */
size_t calc_strip_eol(const char *p, size_t n);

/* The largest UDP reply payload allowed for a request of n payload bytes. */
size_t calc_udp_bound(size_t n);

/* Answer one request (framing removed) as a server in role `role` would:
 * evaluate it, refuse operators of the other role, echo the tag, and keep
 * the reply within `bound` bytes (SIZE_MAX for TCP; calc_udp_bound() for
 * UDP), shortening an over-long reply to an error that fits.  Writes at most
 * CALC_ANSWER_MAX bytes to out (cap must be at least that) and returns the
 * reply length; *kind (may be NULL) gets the error kind or CALC_OK. */
size_t calc_answer(calc_ctx *c, calc_role role, const char *req, size_t n,
                   size_t bound, char *out, size_t cap, calc_err *kind);

/* A reply, parsed (clients and the dissector). */
typedef struct calc_reply_info {
  int is_error;        /* starts with "ERR " */
  calc_err kind;       /* error kind; CALC_OK for results or unknown tokens */
  const char *token;   /* error token as sent, and its length */
  size_t token_len;
  const char *body;    /* result text, or the error message (may be empty) */
  size_t body_len;
  int has_tag;
  uint32_t tag;
} calc_reply_info;

/* Parse the n bytes at p (framing removed) as a reply.  Returns 0, or -1
 * when the bytes are not a well-formed reply (*r is still filled as far as
 * it could be). */
int calc_reply_parse(const char *p, size_t n, calc_reply_info *r);

#endif /* CALC_PROTO_H */
