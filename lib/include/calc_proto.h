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
 *
 * This module owns the wire's bytes: the tag (one format, one parse), the
 * request length rule, the replies no evaluation produces (too-long,
 * busy), the legacy "unfinished expression" test, the reply grammar and
 * the answer's kind and flags.  Framing a byte stream into messages is
 * calc_frame.h's.
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
/* " #<tag>": what a tag adds to a request or a reply, at most. */
#define CALC_TAG_TEXT_MAX (2 + CALC_TAG_MAX_DIGITS)

/* The request length rule (docs/PROTOCOL.md, "Limits"): a request, framing
 * removed, is at most the context's max_len (CALC_MAX_REQUEST_LEN) bytes,
 * its tag included.  A longer one is answered calc_reply_too_long(), with
 * no tag (a server does not read past the limit).  On TCP at most
 * CALC_REQUEST_LINE_MAX bytes may precede the LF (a request and a CR); a
 * UDP datagram is read up to CALC_REQUEST_DATAGRAM_MAX bytes (a request
 * and CR LF): more is over-long whatever it ends with. */
#define CALC_REQUEST_LINE_MAX     (CALC_MAX_REQUEST_LEN + 1)
#define CALC_REQUEST_DATAGRAM_MAX (CALC_MAX_REQUEST_LEN + 2)

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

/* The one tag format: " #<tag>" (decimal, no leading zeros) into out (cap
 * >= CALC_TAG_TEXT_MAX + 1), NUL-terminated; returns its length.  Requests
 * and replies carry a tag alike. */
size_t calc_tag_format(char *out, size_t cap, uint32_t tag);

/* Whether the unfinished-expression rule of legacy TCP framing holds for
 * the n request bytes at p (CR/LF and tag are removed here): the parser ran
 * out of input ("2*", "(1+", "-"), so the request may wait
 * CALC_LEGACY_INCOMPLETE_MS instead of CALC_LEGACY_QUIET_MS.  Parses with c
 * (its last result is overwritten). */
int calc_request_unfinished(calc_ctx *c, const char *p, size_t n);

/* Replies no evaluation produces, written here once.  Each writes at most
 * cap - 1 bytes and a NUL, and returns the length (no tag, no newline).
 *   too-long: "ERR too-long: request longer than <limit> bytes";
 *   busy:     "ERR busy: <reason>", the reason from fmt ("server at its
 *             connection limit (4096)", "server stopping"). */
size_t calc_reply_too_long(char *out, size_t cap, size_t limit);
size_t calc_reply_busy(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* What a reply is, beyond its kind: flags of calc_answer_info and
 * calc_reply_info, so that callers never match message text. */
enum {
  CALC_REPLY_TAGGED = 1u << 0,   /* ends with " #<tag>" */
  CALC_REPLY_CUT = 1u << 1,      /* shortened by the UDP bound: an error
                                    without its message, or too-large
                                    "use TCP"; padding the request (or TCP)
                                    gets the whole reply */
  CALC_REPLY_ROLE = 1u << 2,     /* unsupported: an operator served by the
                                    other role server */
  CALC_REPLY_TOO_LONG = 1u << 3, /* the request was over the length limit
                                    (answered without a tag) */
  CALC_REPLY_DIGITS = 1u << 4,   /* too-large: an int result over the
                                    digit limit (no reply can carry it) */
};

/* What calc_answer_info() wrote. */
typedef struct calc_answer_info {
  calc_err kind;     /* CALC_OK for a result */
  unsigned flags;    /* CALC_REPLY_* */
  size_t len;        /* reply bytes, tag included */
  size_t body_len;   /* reply bytes without " #<tag>" */
} calc_answer_info;

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

/* calc_answer(), telling kind, flags and lengths in *ai (not NULL). */
size_t calc_answer_info_of(calc_ctx *c, calc_role role, const char *req,
                           size_t n, size_t bound, char *out, size_t cap,
                           calc_answer_info *ai);

/* calc_answer_info_of() for a request of n bytes split into *rq whose
 * expression c has just parsed: e is what calc_parse(c, rq->expr,
 * rq->expr_len) returned, and c is not used in between (its tree and
 * error are read).  The same reply, without parsing again (a dissector
 * that parsed the request to show it).  n over the length limit: *rq
 * and e are not read. */
size_t calc_answer_info_parsed(calc_ctx *c, calc_role role, size_t n,
                               const calc_request *rq, calc_err e,
                               size_t bound, char *out, size_t cap,
                               calc_answer_info *ai);

/* The kind calc_answer_info_of() with bound tells of the request whose
 * unbounded answer (bound SIZE_MAX) *ai describes: the same shortening,
 * without answering again. */
calc_err calc_answer_bounded_kind(const calc_answer_info *ai, size_t bound);

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
  size_t text_len;     /* the reply without " #<tag>" (p[0..text_len)) */
  unsigned flags;      /* CALC_REPLY_* */
  int strict;          /* in the reply grammar of docs/PROTOCOL.md
                          ("Reply"): an int of at most CALC_MAX_DIGITS
                          digits, a float repr, inf, -inf, nan, or
                          "ERR <known kind>" with an optional ": <message>"
                          of printable ASCII; nothing else */
} calc_reply_info;

/* Parse the n bytes at p (framing removed) as a reply.  Returns 0, or -1
 * when the bytes are not a well-formed reply (*r is still filled as far as
 * it could be).  0 is the dissector's lenient reading (result characters,
 * or ERR and a known kind); r->strict is the grammar a client accepts. */
int calc_reply_parse(const char *p, size_t n, calc_reply_info *r);

/* Whether the n bytes at p are a result in the reply grammar: an int
 * (at most max_digits digits, no leading zeros, optional '-') or a float
 * repr, inf, -inf or nan.  A split client splices only these. */
int calc_reply_is_number(const char *p, size_t n, unsigned max_digits);

/* Write at most cap - 1 bytes of the n bytes at p and a NUL into out,
 * printable ASCII kept, a backslash as \\ and every other byte as \xNN, so that
 * untrusted bytes never reach a terminal raw; "..." when cut.  Returns
 * out. */
const char *calc_escape(const char *p, size_t n, char *out, size_t cap);

#endif /* CALC_PROTO_H */
