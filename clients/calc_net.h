/* SPDX-License-Identifier: MIT
 *
 * calc_net.h: the calc client's transport (docs/CLIENTS.md, "Transport").
 *
 * A calc_net_conn talks to one server over TCP or UDP and answers batches
 * of requests: calc_net_exchange() sends every request of a batch at once
 * (pipelined) and waits for all the replies.
 *
 * Every request carries a tag ("15*15 #7", docs/PROTOCOL.md) that the reply
 * echoes.  Over UDP the tag is what makes retries safe: a reply is taken
 * only for the pending request with its tag, so a late, duplicated or
 * stray datagram is never printed as another request's answer.  Over TCP
 * replies come in order (framed by calc_frame) and the tag is checked as
 * well.
 *
 * No reply is trusted: one outside the reply grammar of docs/PROTOCOL.md
 * (calc_reply_parse()'s strict) is a protocol error, and so, over TCP, is
 * a reply without the tag we sent or arriving before its request was
 * sent: the exchange fails with the offending bytes escaped
 * (calc_escape()) in the message.  The exceptions are the server's own
 * refusals, which carry no tag: "ERR busy" (a connection refused) and
 * "ERR too-long".  Over UDP a datagram without a tag we are waiting for
 * cannot be an answer of ours and is ignored (late, duplicated, stray).
 *
 * UDP: each request is sent, then re-sent after CALC_NET_TIMEOUT_MS,
 * doubling the wait each time, CALC_NET_RETRIES times; a reply shortened by
 * the UDP bound ("ERR too-large: use TCP", or an error without its message)
 * is asked again padded with blanks, which raises the bound.
 * TCP: a connection that the server closed (it restarted, or closed after an
 * error) is opened again and the unanswered requests re-sent.
 */
#ifndef CALC_NET_H
#define CALC_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "calc_proto.h"

/* Defaults: the first UDP wait, the UDP re-sends, and the cap on one wait.
 * With the defaults a request is given up after 0.25+0.5+1+2+4 = 7.75 s;
 * TCP waits as long for a connection or for the next reply. */
#define CALC_NET_TIMEOUT_MS  250
#define CALC_NET_RETRIES     4
#define CALC_NET_WAIT_MAX_MS 8000
#define CALC_NET_RETRIES_MAX 20

/* The longest expression that fits the server's length limit with a tag
 * (" #" and CALC_TAG_MAX_DIGITS digits: the limit counts the tag).  Over
 * TCP a longer one is sent without a tag; over UDP it gets ERR too-long. */
#define CALC_NET_TAGGED_MAX (CALC_MAX_REQUEST_LEN - 2 - CALC_TAG_MAX_DIGITS)

/* Requests of one calc_net_exchange() (callers split larger batches). */
#define CALC_NET_BATCH_MAX 64

/* A UDP request whose reply was shortened is asked again padded with
 * blanks: an error without its message to CALC_NET_UDP_PAD_ERR bytes (the
 * bound then holds any error reply), "use TCP" to CALC_NET_UDP_PAD bytes
 * (the bound then holds the longest reply). */
#define CALC_NET_UDP_PAD_ERR 96
#define CALC_NET_UDP_PAD \
  ((CALC_ANSWER_MAX + CALC_UDP_AMP_FACTOR - 1) / CALC_UDP_AMP_FACTOR)

typedef enum calc_net_transport { CALC_NET_TCP, CALC_NET_UDP } calc_net_transport;

/* A server address from the command line: "HOST:PORT", "[V6]:PORT", "HOST"
 * or "[V6]" (default port), or a bare IPv6 address (default port). */
typedef struct calc_net_addr {
  char host[256];
  char port[8];
  char text[280]; /* as shown in messages: "127.0.0.1:4000", "[::1]:4000" */
} calc_net_addr;

/* Parse s into *a.  Returns 0, or -1 with a message in err. */
int calc_net_addr_parse(const char *s, uint16_t default_port,
                        calc_net_addr *a, char *err, size_t errlen);

/* Resolve a for a socket type (SOCK_STREAM, SOCK_DGRAM): the first
 * address into ss.  Returns 0, or -1 with a message in err. */
int calc_net_resolve(const calc_net_addr *a, int socktype,
                     struct sockaddr_storage *ss, unsigned *sslen, char *err,
                     size_t errlen);

typedef struct calc_net_opts {
  calc_net_transport transport;
  unsigned timeout_ms; /* first UDP wait (and TCP budget unit) */
  unsigned retries;    /* UDP re-sends; TCP reconnect attempts */
  int verbose;         /* log re-sends and reconnects to stderr */
  const char *label;   /* names the server in messages ("addsub") */
} calc_net_opts;

/* Fill *o with the defaults above (TCP). */
void calc_net_opts_default(calc_net_opts *o);

/* Total time a request is given up after: the sum of the waits. */
unsigned calc_net_budget_ms(const calc_net_opts *o);

/* One request and, after calc_net_exchange(), its reply. */
typedef struct calc_net_msg {
  const char *req;  /* the expression: no tag, no line end */
  size_t req_len;
  int done;         /* the reply below arrived */
  calc_err kind;    /* CALC_OK: a result; else the error kind */
  unsigned flags;   /* CALC_REPLY_* (calc_proto.h) */
  size_t reply_len; /* reply text: tag and line end removed; in the reply
                       grammar, so printable */
  char reply[CALC_ANSWER_MAX + 1];
} calc_net_msg;

typedef struct calc_net_conn calc_net_conn;

/* A connection to a (not yet contacted: the first exchange connects).
 * NULL when out of memory. */
calc_net_conn *calc_net_open(const calc_net_addr *a, const calc_net_opts *o);
void calc_net_close(calc_net_conn *c);

/* Send the n (<= CALC_NET_BATCH_MAX) requests and wait for their replies.
 * Returns 0 when every reply arrived, or -1 on a network failure or a
 * protocol error: the replies that arrived are marked done, and
 * calc_net_error() says what failed.  A request must not contain a line
 * feed. */
int calc_net_exchange(calc_net_conn *c, calc_net_msg *m, size_t n);

/* The last failure, e.g. "no reply from 127.0.0.1:4000 over UDP after 5
 * attempts (7.8 s): is calcd running?". */
const char *calc_net_error(const calc_net_conn *c);

/* "127.0.0.1:4000" and "tcp" / "udp", for messages. */
const char *calc_net_where(const calc_net_conn *c);
const char *calc_net_proto(const calc_net_conn *c);

#endif /* CALC_NET_H */
