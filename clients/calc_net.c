/* SPDX-License-Identifier: MIT
 *
 * calc_net.c: the calc client's transport: addresses, TCP with reconnect,
 * UDP with tags, timeouts and exponential backoff (see calc_net.h).
 */
#include "calc_net.h"

#include "calc_frame.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

/* Largest datagram a server may send us (a reply, its tag, CR LF); anything
 * longer is not a calc reply.  (TCP lines: calc_frame's reply limit.) */
#define CALC_NET_REPLY_MAX (CALC_ANSWER_MAX + 2)
/* Bytes of an offending reply shown in a message, escaped. */
#define CALC_NET_SHOW_MAX 160
/* Tags have CALC_TAG_MAX_DIGITS digits, so every request of an expression
 * has the same length (and the same UDP bound). */
#define CALC_NET_TAG_MIN 100000000u
#define CALC_NET_TAG_MAX 999999999u

struct calc_net_conn {
  calc_net_addr addr;
  calc_net_opts o;
  char who[320];           /* "the addsub server at 127.0.0.1:4001" */
  struct addrinfo *ai;     /* resolved addresses (lazily) */
  struct addrinfo *cur;    /* the one in use */
  int fd;
  int connected_once;      /* TCP: a later connect is a reconnect */
  uint32_t next_tag;
  uint32_t tag[CALC_NET_BATCH_MAX];
  unsigned char padded[CALC_NET_BATCH_MAX];
  size_t req_end[CALC_NET_BATCH_MAX]; /* TCP: end of request i in out */
  calc_frame frame;        /* TCP: the replies of this connection */
  char *in;                /* TCP input, or one UDP datagram */
  size_t in_len, in_cap;
  char *out;               /* framed requests being written */
  size_t out_len, out_off, out_cap;
  char err[512];
};

/* ---- small helpers ---------------------------------------------------- */

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void fail(calc_net_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(calc_net_conn *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err, sizeof c->err, fmt, ap);
  va_end(ap);
}

static void vlog(const calc_net_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void vlog(const calc_net_conn *c, const char *fmt, ...) {
  if (!c->o.verbose) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "calc-cli: %s: ", c->addr.text);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static uint32_t take_tag(calc_net_conn *c) {
  uint32_t t = c->next_tag;
  c->next_tag = t == CALC_NET_TAG_MAX ? CALC_NET_TAG_MIN : t + 1;
  return t;
}

/* A protocol error: the server sent bytes p[0..n) that are no answer
 * (what: why), shown escaped, never raw. */
static void protocol_error(calc_net_conn *c, const char *what, const char *p,
                           size_t n) {
  char ex[4 * CALC_NET_SHOW_MAX + 8];
  fail(c, "protocol error: %s %s: '%s'", c->who, what,
       calc_escape(p, n, ex, sizeof ex));
}

/* ---- addresses -------------------------------------------------------- */

int calc_net_addr_parse(const char *s, uint16_t default_port,
                        calc_net_addr *a, char *err, size_t errlen) {
  const char *host = s, *port = NULL;
  size_t hostlen;
  memset(a, 0, sizeof *a);
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close) {
      snprintf(err, errlen, "'%s': missing ']' after the IPv6 address", s);
      return -1;
    }
    host = s + 1;
    hostlen = (size_t)(close - host);
    if (close[1] == ':') port = close + 2;
    else if (close[1] != '\0') {
      snprintf(err, errlen, "'%s': expected ':PORT' after ']'", s);
      return -1;
    }
  } else {
    const char *colon = strchr(s, ':');
    if (colon && strchr(colon + 1, ':')) {
      hostlen = strlen(s); /* a bare IPv6 address: default port */
    } else {
      hostlen = colon ? (size_t)(colon - s) : strlen(s);
      if (colon) port = colon + 1;
    }
  }
  if (hostlen == 0 || hostlen >= sizeof a->host) {
    snprintf(err, errlen, "'%s': expected HOST:PORT", s);
    return -1;
  }
  memcpy(a->host, host, hostlen);
  a->host[hostlen] = '\0';
  unsigned long p = default_port;
  if (port) {
    char *end;
    errno = 0;
    p = strtoul(port, &end, 10);
    if (!*port || *end || errno || p == 0 || p > 65535 || *port == '-' ||
        *port == '+') {
      snprintf(err, errlen, "'%s': the port must be a number from 1 to 65535",
               s);
      return -1;
    }
  }
  snprintf(a->port, sizeof a->port, "%lu", p);
  if (strchr(a->host, ':'))
    snprintf(a->text, sizeof a->text, "[%s]:%lu", a->host, p);
  else
    snprintf(a->text, sizeof a->text, "%s:%lu", a->host, p);
  return 0;
}

static int resolve(const calc_net_addr *a, int socktype, struct addrinfo **res,
                   char *err, size_t errlen) {
  struct addrinfo hints = {0};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_NUMERICSERV;
  int r = getaddrinfo(a->host, a->port, &hints, res);
  if (r != 0) {
    snprintf(err, errlen, "cannot resolve '%s': %s", a->host,
             r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
    return -1;
  }
  return 0;
}

int calc_net_resolve(const calc_net_addr *a, int socktype,
                     struct sockaddr_storage *ss, unsigned *sslen, char *err,
                     size_t errlen) {
  struct addrinfo *res;
  if (resolve(a, socktype, &res, err, errlen) < 0) return -1;
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *sslen = (unsigned)res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

/* ---- options and connections ------------------------------------------ */

void calc_net_opts_default(calc_net_opts *o) {
  o->transport = CALC_NET_TCP;
  o->timeout_ms = CALC_NET_TIMEOUT_MS;
  o->retries = CALC_NET_RETRIES;
  o->verbose = 0;
  o->label = NULL;
}

static unsigned wait_ms(const calc_net_opts *o, unsigned attempt) {
  uint64_t w = (uint64_t)o->timeout_ms << (attempt < 30 ? attempt : 30);
  return w > CALC_NET_WAIT_MAX_MS ? CALC_NET_WAIT_MAX_MS : (unsigned)w;
}

unsigned calc_net_budget_ms(const calc_net_opts *o) {
  unsigned total = 0;
  for (unsigned a = 0; a <= o->retries; a++) total += wait_ms(o, a);
  return total;
}

calc_net_conn *calc_net_open(const calc_net_addr *a, const calc_net_opts *o) {
  calc_net_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->addr = *a;
  c->o = *o;
  c->fd = -1;
  c->in_cap = o->transport == CALC_NET_UDP ? 65536 : 2 * CALC_NET_REPLY_MAX;
  c->in = malloc(c->in_cap);
  if (!c->in) {
    free(c);
    return NULL;
  }
  /* Tags start anywhere, so a reply meant for an earlier process that had
   * our port is unlikely to carry a tag we are waiting for. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  c->next_tag = CALC_NET_TAG_MIN +
                (uint32_t)(((uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16)) %
                           (CALC_NET_TAG_MAX - CALC_NET_TAG_MIN + 1));
  if (o->label)
    snprintf(c->who, sizeof c->who, "the %s server at %s", o->label, a->text);
  else
    snprintf(c->who, sizeof c->who, "%s", a->text);
  return c;
}

static void drop_fd(calc_net_conn *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->in_len = 0;
}

void calc_net_close(calc_net_conn *c) {
  if (!c) return;
  drop_fd(c);
  if (c->ai) freeaddrinfo(c->ai);
  free(c->in);
  free(c->out);
  free(c);
}

const char *calc_net_error(const calc_net_conn *c) { return c->err; }
const char *calc_net_where(const calc_net_conn *c) { return c->addr.text; }
const char *calc_net_proto(const calc_net_conn *c) {
  return c->o.transport == CALC_NET_UDP ? "udp" : "tcp";
}

static int ensure_resolved(calc_net_conn *c) {
  if (c->ai) return 0;
  int type = c->o.transport == CALC_NET_UDP ? SOCK_DGRAM : SOCK_STREAM;
  if (resolve(&c->addr, type, &c->ai, c->err, sizeof c->err) < 0) return -1;
  c->cur = c->ai;
  return 0;
}

/* ---- replies ---------------------------------------------------------- */

/* The reply p[0..n) (line end removed), parsed into *r, for a request
 * sent with tag (0: untagged).  Returns 0 when it answers that request, or
 * -1 after a protocol error (said in c->err). */
static int check_reply(calc_net_conn *c, const char *p, size_t n,
                       uint32_t tag, calc_reply_info *r) {
  calc_reply_parse(p, n, r);
  if (!r->strict) {
    protocol_error(c, "sent a reply outside the calc protocol", p, n);
    return -1;
  }
  /* The server's refusals come without a tag. */
  if (!r->has_tag && r->is_error &&
      (r->kind == CALC_E_BUSY || (r->flags & CALC_REPLY_TOO_LONG)))
    return 0;
  if (tag && !r->has_tag) {
    protocol_error(c, "sent a reply without the request's tag", p, n);
    return -1;
  }
  if (!tag && r->has_tag) {
    protocol_error(c, "sent a tag the request did not have", p, n);
    return -1;
  }
  if (tag && r->tag != tag) {
    char what[96];
    snprintf(what, sizeof what, "answered out of order (tag #%u, expected "
             "#%u)", (unsigned)r->tag, (unsigned)tag);
    protocol_error(c, what, p, n);
    return -1;
  }
  return 0;
}

/* Store the checked reply (tag removed) into m. */
static void store(calc_net_msg *m, const calc_reply_info *r, const char *p) {
  size_t n = r->text_len;
  if (n > CALC_ANSWER_MAX) n = CALC_ANSWER_MAX;
  memcpy(m->reply, p, n);
  m->reply[n] = '\0';
  m->reply_len = n;
  m->kind = r->is_error ? r->kind : CALC_OK;
  m->flags = r->flags;
  m->done = 1;
}

/* Frame request i into c->out: "expr #tag" (just "expr" for tag 0), + LF
 * for TCP, padded with blanks at level pad (0 none, 1 CALC_NET_UDP_PAD_ERR,
 * 2 CALC_NET_UDP_PAD bytes). */
static int frame(calc_net_conn *c, const calc_net_msg *m, uint32_t tag,
                 int pad) {
  size_t need = m->req_len + 2 + CALC_TAG_MAX_DIGITS + 1 + CALC_NET_UDP_PAD +
                CALC_NET_UDP_PAD_ERR;
  if (c->out_len + need > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + need) cap *= 2;
    char *p = realloc(c->out, cap);
    if (!p) {
      fail(c, "out of memory");
      return -1;
    }
    c->out = p;
    c->out_cap = cap;
  }
  char *p = c->out + c->out_len;
  memcpy(p, m->req, m->req_len);
  size_t k = m->req_len;
  if (tag) k += calc_tag_format(p + k, CALC_TAG_TEXT_MAX + 1, tag);
  size_t to = pad == 1 ? CALC_NET_UDP_PAD_ERR : pad ? CALC_NET_UDP_PAD : 0;
  while (k < to) p[k++] = ' ';
  if (c->o.transport == CALC_NET_TCP) p[k++] = '\n';
  c->out_len += k;
  return 0;
}

/* ---- TCP -------------------------------------------------------------- */

/* Connect to one address within timeout_ms.  Returns the fd, or -1 with
 * errno set. */
static int connect_one(const struct addrinfo *ai, unsigned timeout_ms) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                  ai->ai_protocol);
  if (fd < 0) return -1;
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) return fd;
  if (errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  struct pollfd p = {fd, POLLOUT, 0};
  int r;
  do r = poll(&p, 1, (int)timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r == 0) {
    close(fd);
    errno = ETIMEDOUT;
    return -1;
  }
  int soerr = 0;
  socklen_t len = sizeof soerr;
  if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  if (soerr) {
    close(fd);
    errno = soerr;
    return -1;
  }
  return fd;
}

/* Open the TCP connection: each resolved address in turn.  A reconnect
 * (the server went away after serving us) retries a refused connection
 * with backoff, since a restarting server may not listen yet. */
static int tcp_connect(calc_net_conn *c) {
  if (ensure_resolved(c) < 0) return -1;
  unsigned budget = calc_net_budget_ms(&c->o);
  unsigned attempts = c->connected_once ? c->o.retries + 1 : 1;
  int e = 0;
  for (unsigned a = 0; a < attempts; a++) {
    if (a > 0) {
      unsigned w = wait_ms(&c->o, a - 1);
      vlog(c, "connection refused, trying again in %u ms", w);
      struct timespec ts = {w / 1000, (long)(w % 1000) * 1000000L};
      nanosleep(&ts, NULL);
    }
    for (struct addrinfo *ai = c->ai; ai; ai = ai->ai_next) {
      int fd = connect_one(ai, budget);
      if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->cur = ai;
        c->in_len = 0;
        calc_frame_init(&c->frame, CALC_FRAME_REPLIES);
        c->connected_once = 1;
        return 0;
      }
      e = errno;
    }
    if (e != ECONNREFUSED) break;
  }
  if (e == ETIMEDOUT)
    fail(c, "cannot connect to %s over TCP: no answer within %.1f s", c->who,
         budget / 1000.0);
  else
    fail(c, "cannot connect to %s over TCP: %s%s", c->who, strerror(e),
         e == ECONNREFUSED ? " (is calcd running?)" : "");
  return -1;
}

enum { RUN_DONE = 0, RUN_LOST = 1, RUN_FAIL = -1 };

/* Before requests go out on a connection: RUN_LOST when the server closed
 * it (it restarted, or timed us out: the requests go over a new one),
 * RUN_FAIL when it sent bytes nobody asked for (a reply before its
 * request: a protocol error, unless it is the server's busy refusal,
 * which the exchange then reads), else RUN_DONE. */
static int tcp_check_idle(calc_net_conn *c) {
  struct pollfd p = {c->fd, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return RUN_DONE;
  char b[CALC_NET_SHOW_MAX];
  ssize_t r = recv(c->fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return RUN_DONE;
  if (r <= 0) return RUN_LOST;
  calc_reply_info ri;
  char *lf = memchr(b, '\n', (size_t)r);
  if (lf && calc_reply_parse(b, calc_strip_eol(b, (size_t)(lf - b)), &ri) ==
                0 && ri.strict && ri.is_error && ri.kind == CALC_E_BUSY &&
      !ri.has_tag)
    return RUN_DONE;
  protocol_error(c, "sent a reply before any request was sent", b, (size_t)r);
  return RUN_FAIL;
}

/* Take the complete reply lines held in c->in for m[*next...]; eof: the
 * server closed (a last line without LF counts). */
static int tcp_take_lines(calc_net_conn *c, calc_net_msg *m, size_t n,
                          size_t *next, int eof) {
  size_t at = 0;
  calc_frame_msg f;
  if (eof) calc_frame_eof(&c->frame);
  int r = RUN_DONE;
  while (r == RUN_DONE &&
         calc_frame_next(&c->frame, NULL, c->in + at, c->in_len - at, 0, &f) !=
             CALC_FRAME_NONE) {
    const char *line = c->in + at;
    at += f.end;
    if (f.kind == CALC_FRAME_TOO_LONG || f.kind == CALC_FRAME_REST) {
      protocol_error(c, "sent a line longer than any calc reply", line,
                     f.end < CALC_NET_SHOW_MAX ? f.end : CALC_NET_SHOW_MAX);
      r = RUN_FAIL;
    } else if (f.kind == CALC_FRAME_EMPTY) {
      protocol_error(c, "sent an empty reply line", line, f.end);
      r = RUN_FAIL;
    } else if (*next >= n) {
      protocol_error(c, "sent a reply nobody asked for", line, f.len);
      r = RUN_FAIL;
    } else {
      calc_reply_info ri;
      if (check_reply(c, line, f.len, c->tag[*next], &ri) < 0) {
        r = RUN_FAIL;
      } else if (c->out_off < c->req_end[*next] && ri.kind != CALC_E_BUSY) {
        /* a server answers a line once it has it all */
        protocol_error(c, "sent a reply before its request was sent", line,
                       f.len);
        r = RUN_FAIL;
      } else {
        store(&m[*next], &ri, line);
        ++*next;
      }
    }
  }
  memmove(c->in, c->in + at, c->in_len - at);
  c->in_len -= at;
  return r;
}

/* Read replies (first: what came before this turn's write is judged
 * against what was sent before it), then write c->out, until m[*next..n)
 * are answered. */
static int tcp_run(calc_net_conn *c, calc_net_msg *m, size_t n, size_t *next) {
  unsigned budget = calc_net_budget_ms(&c->o);
  uint64_t deadline = now_ms() + budget;
  while (*next < n) {
    struct pollfd p = {c->fd, POLLIN, 0};
    if (c->out_off < c->out_len) p.events |= POLLOUT;
    uint64_t now = now_ms();
    if (now >= deadline) {
      fail(c, "no reply from %s over TCP within %.1f s", c->who,
           budget / 1000.0);
      return RUN_FAIL;
    }
    int r = poll(&p, 1, (int)(deadline - now));
    if (r < 0) {
      if (errno == EINTR) continue;
      fail(c, "poll: %s", strerror(errno));
      return RUN_FAIL;
    }
    if (r == 0) continue;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t k = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len,
                       MSG_DONTWAIT);
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        continue;
      if (k > 0) c->in_len += (size_t)k;
      size_t before = *next;
      int t = tcp_take_lines(c, m, n, next, k <= 0);
      if (t != RUN_DONE) return t;
      if (k <= 0) return RUN_LOST;
      if (*next > before) deadline = now_ms() + budget; /* progress */
      continue; /* look for more input before writing */
    }
    if (p.revents & POLLOUT) {
      ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) c->out_off += (size_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
               errno != EINTR)
        return RUN_LOST;
    }
  }
  return RUN_DONE;
}

static int tcp_exchange(calc_net_conn *c, calc_net_msg *m, size_t n) {
  size_t next = 0;
  int stalls = 0; /* connections lost without a reply on them */
  while (next < n) {
    if (c->fd >= 0) {
      int idle = tcp_check_idle(c);
      if (idle == RUN_FAIL) {
        drop_fd(c);
        return -1;
      }
      if (idle == RUN_LOST) {
        vlog(c, "the server closed the connection; reconnecting");
        drop_fd(c);
      }
    }
    if (c->fd < 0 && tcp_connect(c) < 0) return -1;
    c->out_len = c->out_off = 0;
    for (size_t i = next; i < n; i++) {
      /* The length limit counts the tag: a request with no room for one
       * goes without (replies come in order anyway). */
      c->tag[i] = m[i].req_len <= CALC_NET_TAGGED_MAX ? take_tag(c) : 0;
      if (frame(c, &m[i], c->tag[i], 0) < 0) return -1;
      c->req_end[i] = c->out_len;
    }
    size_t before = next;
    int r = tcp_run(c, m, n, &next);
    if (r == RUN_DONE) return 0;
    drop_fd(c);
    if (r == RUN_FAIL) return -1;
    stalls = next > before ? 0 : stalls + 1;
    if (stalls >= 2) {
      fail(c, "%s closed the connection without replying (%zu request%s "
           "unanswered)", c->who, n - next, n - next == 1 ? "" : "s");
      return -1;
    }
    vlog(c, "connection lost with %zu request%s unanswered; reconnecting",
         n - next, n - next == 1 ? "" : "s");
  }
  return 0;
}

/* ---- UDP -------------------------------------------------------------- */

static int udp_open(calc_net_conn *c) {
  if (ensure_resolved(c) < 0) return -1;
  int fd = socket(c->cur->ai_family, SOCK_DGRAM | SOCK_CLOEXEC,
                  c->cur->ai_protocol);
  if (fd < 0) {
    fail(c, "socket: %s", strerror(errno));
    return -1;
  }
  /* Connected: only the server's datagrams reach us, and an ICMP "port
   * unreachable" comes back as ECONNREFUSED. */
  if (connect(fd, c->cur->ai_addr, c->cur->ai_addrlen) < 0) {
    fail(c, "cannot reach %s over UDP: %s", c->who, strerror(errno));
    close(fd);
    return -1;
  }
  c->fd = fd;
  return 0;
}

/* The server is not there: try the next address, else fail. */
static int udp_refused(calc_net_conn *c) {
  drop_fd(c);
  if (c->cur && c->cur->ai_next) {
    c->cur = c->cur->ai_next;
    vlog(c, "port unreachable; trying the next address");
    return udp_open(c);
  }
  fail(c, "no server at %s over UDP (port unreachable: is calcd running?)",
       c->who);
  return -1;
}

static int udp_send(calc_net_conn *c, const calc_net_msg *m, size_t i) {
  c->out_len = 0;
  if (frame(c, m, c->tag[i], c->padded[i]) < 0) return -1;
  for (;;) {
    if (send(c->fd, c->out, c->out_len, 0) >= 0) return 0;
    if (errno == EINTR) continue;
    if (errno == ECONNREFUSED) return 1;
    if (errno == EMSGSIZE) {
      fail(c, "a request of %zu bytes does not fit in a UDP datagram: use "
           "TCP", m->req_len);
      return -1;
    }
    /* ENOBUFS and the like: the datagram is lost; a retry resends it. */
    vlog(c, "send: %s", strerror(errno));
    return 0;
  }
}

/* Send every request not yet answered; 1 when the server refused. */
static int udp_send_pending(calc_net_conn *c, calc_net_msg *m, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (m[i].done) continue;
    int r = udp_send(c, &m[i], i);
    if (r) return r;
  }
  return 0;
}

/* One datagram from the server. */
static int udp_take(calc_net_conn *c, calc_net_msg *m, size_t n,
                    const char *p, size_t len) {
  calc_reply_info r;
  char ex[96];
  len = calc_strip_eol(p, len);
  if (len == 0) {
    /* No reply is empty, and an empty datagram carries no tag, so it
     * answers nothing of ours: nginx's UDP proxy sends one when its
     * upstream refused.  The request is asked again as for a loss. */
    vlog(c, "ignoring an empty datagram");
    return 0;
  }
  calc_reply_parse(p, len, &r);
  if (!r.strict) {
    protocol_error(c, "sent a reply outside the calc protocol", p, len);
    return -1;
  }
  size_t i = n;
  if (r.has_tag) {
    for (i = 0; i < n; i++)
      if (!m[i].done && c->tag[i] == r.tag) break;
    if (i == n) {
      vlog(c, "ignoring a late or duplicate reply: '%s'",
           calc_escape(p, len, ex, sizeof ex));
      return 0;
    }
  } else if (r.is_error && r.kind == CALC_E_TOO_LONG) {
    /* The server could not see the tag of a datagram over its length
     * limit: the answer to our one over-long request, if we have one. */
    size_t cand = n, count = 0;
    for (size_t k = 0; k < n; k++)
      if (!m[k].done && m[k].req_len > CALC_NET_TAGGED_MAX) cand = k, count++;
    if (count == 1) i = cand;
  }
  if (i == n) { /* a stray datagram: it cannot be any answer of ours */
    vlog(c, "ignoring a reply without a tag we sent: '%s'",
         calc_escape(p, len, ex, sizeof ex));
    return 0;
  }
  if ((r.flags & CALC_REPLY_CUT) && c->padded[i] < 2) {
    /* an error without its message needs little room; "use TCP" most */
    c->padded[i] = r.body_len == 0 && c->padded[i] == 0 ? 1 : 2;
    c->tag[i] = take_tag(c);
    vlog(c, "reply shortened by the UDP bound ('%s'); asking again padded "
         "to %d bytes", calc_escape(p, len, ex, sizeof ex),
         c->padded[i] == 1 ? CALC_NET_UDP_PAD_ERR : (int)CALC_NET_UDP_PAD);
    return udp_send(c, &m[i], i);
  }
  store(&m[i], &r, p);
  return 0;
}

static int udp_exchange(calc_net_conn *c, calc_net_msg *m, size_t n) {
  if (c->fd < 0 && udp_open(c) < 0) return -1;
  for (size_t i = 0; i < n; i++) {
    c->tag[i] = take_tag(c);
    c->padded[i] = 0;
  }
  unsigned attempt = 0;
  int r;
  while ((r = udp_send_pending(c, m, n)) == 1)
    if (udp_refused(c) < 0) return -1;
  if (r < 0) return -1;
  uint64_t deadline = now_ms() + wait_ms(&c->o, 0);
  for (;;) {
    size_t pending = 0;
    for (size_t i = 0; i < n; i++) pending += !m[i].done;
    if (pending == 0) return 0;
    uint64_t now = now_ms();
    if (now >= deadline) {
      if (attempt >= c->o.retries) {
        fail(c, "no reply from %s over UDP after %u attempt%s (%.1f s): is "
             "calcd running?", c->who, attempt + 1, attempt ? "s" : "",
             calc_net_budget_ms(&c->o) / 1000.0);
        return -1;
      }
      attempt++;
      vlog(c, "no reply in %u ms; sending %zu request%s again (attempt %u "
           "of %u)", wait_ms(&c->o, attempt - 1), pending,
           pending == 1 ? "" : "s", attempt + 1, c->o.retries + 1);
      while ((r = udp_send_pending(c, m, n)) == 1)
        if (udp_refused(c) < 0) return -1;
      if (r < 0) return -1;
      deadline = now_ms() + wait_ms(&c->o, attempt);
      continue;
    }
    struct pollfd p = {c->fd, POLLIN, 0};
    int pr = poll(&p, 1, (int)(deadline - now));
    if (pr < 0 && errno != EINTR) {
      fail(c, "poll: %s", strerror(errno));
      return -1;
    }
    if (pr <= 0) continue;
    for (;;) {
      ssize_t k = recv(c->fd, c->in, c->in_cap, MSG_DONTWAIT);
      if (k < 0) {
        if (errno == EINTR) continue;
        if (errno == ECONNREFUSED) {
          if (udp_refused(c) < 0) return -1;
          while ((r = udp_send_pending(c, m, n)) == 1)
            if (udp_refused(c) < 0) return -1;
          if (r < 0) return -1;
        }
        break; /* EAGAIN */
      }
      if ((size_t)k > CALC_NET_REPLY_MAX) {
        protocol_error(c, "sent a datagram longer than any calc reply", c->in,
                       CALC_NET_SHOW_MAX);
        return -1;
      }
      r = udp_take(c, m, n, c->in, (size_t)k);
      if (r < 0) return -1;
      if (r == 1 && udp_refused(c) < 0) return -1;
    }
  }
}

int calc_net_exchange(calc_net_conn *c, calc_net_msg *m, size_t n) {
  c->err[0] = '\0';
  if (n > CALC_NET_BATCH_MAX) {
    fail(c, "internal: batch of %zu requests", n);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    m[i].done = 0;
    m[i].kind = CALC_OK;
    m[i].flags = 0;
    m[i].reply_len = 0;
    m[i].reply[0] = '\0';
    if (c->o.transport == CALC_NET_TCP && memchr(m[i].req, '\n', m[i].req_len)) {
      fail(c, "a request cannot contain a line feed");
      return -1;
    }
  }
  if (n == 0) return 0;
  return c->o.transport == CALC_NET_UDP ? udp_exchange(c, m, n)
                                        : tcp_exchange(c, m, n);
}
