/* SPDX-License-Identifier: MIT
 *
 * calc_net.c: the calc client's transport: addresses, TCP with reconnect,
 * UDP with tags, timeouts and exponential backoff (see calc_net.h).
 */
#include "calc_net.h"

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

/* Largest datagram or line a server may send us (a reply, its tag, CR LF);
 * anything longer is not a calc reply. */
#define CALC_NET_REPLY_MAX (CALC_ANSWER_MAX + 2)
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

/* Printable excerpt of a reply for messages. */
static const char *excerpt(const char *p, size_t n, char *buf, size_t cap) {
  size_t k = 0, i = 0;
  for (; i < n && k + 8 < cap; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (ch >= 0x20 && ch < 0x7f) buf[k++] = (char)ch;
    else k += (size_t)snprintf(buf + k, cap - k, "\\x%02x", ch);
  }
  if (i < n) k += (size_t)snprintf(buf + k, cap - k, "...");
  buf[k] = '\0';
  return buf;
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

/* A reply the UDP bound shortened: "ERR too-large: use TCP", or an error
 * without its message. */
static int is_shortened(const calc_reply_info *r) {
  if (!r->is_error) return 0;
  if (r->body_len == 0) return 1;
  return r->kind == CALC_E_TOO_LARGE && r->body_len == 7 &&
         memcmp(r->body, "use TCP", 7) == 0;
}

/* Store reply text p[0..n) (line end removed) into m, without the tag we
 * sent (tagged). */
static void store(calc_net_msg *m, const char *p, size_t n,
                  const calc_reply_info *r, int tagged) {
  if (r->has_tag && tagged) {
    while (n > 0 && p[n - 1] != '#') n--;
    n = n >= 2 ? n - 2 : 0; /* drop " #" */
  }
  if (n > CALC_ANSWER_MAX) n = CALC_ANSWER_MAX;
  memcpy(m->reply, p, n);
  m->reply[n] = '\0';
  m->reply_len = n;
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
  if (tag) k += (size_t)sprintf(p + k, " #%u", (unsigned)tag);
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

/* Whether the server closed our idle connection (it restarted, or timed
 * us out): then the next request goes over a new one. */
static int tcp_peer_gone(calc_net_conn *c) {
  struct pollfd p = {c->fd, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return 0;
  char b;
  ssize_t r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
         r > 0; /* bytes nobody asked for: start afresh */
}

enum { RUN_DONE = 0, RUN_LOST = 1, RUN_FAIL = -1 };

/* Take complete reply lines from c->in for m[*next...]. */
static int tcp_take_lines(calc_net_conn *c, calc_net_msg *m, size_t n,
                          size_t *next) {
  size_t start = 0;
  for (;;) {
    char *lf = memchr(c->in + start, '\n', c->in_len - start);
    if (!lf) break;
    size_t len = calc_strip_eol(c->in + start, (size_t)(lf - (c->in + start)));
    const char *line = c->in + start;
    start = (size_t)(lf - c->in) + 1;
    calc_reply_info r;
    calc_reply_parse(line, len, &r);
    char ex[96];
    if (*next >= n) {
      fail(c, "%s sent a reply nobody asked for: '%s'", c->who,
           excerpt(line, len, ex, sizeof ex));
      return RUN_FAIL;
    }
    if (c->tag[*next] && r.has_tag && r.tag != c->tag[*next]) {
      fail(c, "%s answered out of order (tag #%u, expected #%u): '%s'", c->who,
           (unsigned)r.tag, (unsigned)c->tag[*next],
           excerpt(line, len, ex, sizeof ex));
      return RUN_FAIL;
    }
    store(&m[*next], line, len, &r, c->tag[*next] != 0);
    ++*next;
  }
  memmove(c->in, c->in + start, c->in_len - start);
  c->in_len -= start;
  if (c->in_len >= CALC_NET_REPLY_MAX) {
    fail(c, "%s sent a line longer than any calc reply", c->who);
    return RUN_FAIL;
  }
  return RUN_DONE;
}

/* Write c->out and read replies until m[*next..n) are answered. */
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
    if (p.revents & POLLOUT) {
      ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) c->out_off += (size_t)w;
      else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
               errno != EINTR)
        return RUN_LOST;
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t k = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len,
                       MSG_DONTWAIT);
      if (k == 0) return RUN_LOST;
      if (k < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
          continue;
        return RUN_LOST;
      }
      c->in_len += (size_t)k;
      size_t before = *next;
      int t = tcp_take_lines(c, m, n, next);
      if (t != RUN_DONE) return t;
      if (*next > before) deadline = now_ms() + budget; /* progress */
    }
  }
  return RUN_DONE;
}

static int tcp_exchange(calc_net_conn *c, calc_net_msg *m, size_t n) {
  size_t next = 0;
  int stalls = 0; /* connections lost without a reply on them */
  while (next < n) {
    if (c->fd >= 0 && tcp_peer_gone(c)) {
      vlog(c, "the server closed the connection; reconnecting");
      drop_fd(c);
    }
    if (c->fd < 0 && tcp_connect(c) < 0) return -1;
    c->out_len = c->out_off = 0;
    for (size_t i = next; i < n; i++) {
      /* The length limit counts the tag: a request with no room for one
       * goes without (replies come in order anyway). */
      c->tag[i] = m[i].req_len <= CALC_NET_TAGGED_MAX ? take_tag(c) : 0;
      if (frame(c, &m[i], c->tag[i], 0) < 0) return -1;
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
  calc_reply_parse(p, len, &r);
  size_t i = n;
  if (r.has_tag) {
    for (i = 0; i < n; i++)
      if (!m[i].done && c->tag[i] == r.tag) break;
    if (i == n) {
      vlog(c, "ignoring a late or duplicate reply: '%s'",
           excerpt(p, len, ex, sizeof ex));
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
  if (i == n) {
    vlog(c, "ignoring a reply without a tag we sent: '%s'",
         excerpt(p, len, ex, sizeof ex));
    return 0;
  }
  if (is_shortened(&r) && c->padded[i] < 2) {
    /* an error without its message needs little room; "use TCP" most */
    c->padded[i] = r.body_len == 0 && c->padded[i] == 0 ? 1 : 2;
    c->tag[i] = take_tag(c);
    vlog(c, "reply shortened by the UDP bound ('%s'); asking again padded "
         "to %d bytes", excerpt(p, len, ex, sizeof ex),
         c->padded[i] == 1 ? CALC_NET_UDP_PAD_ERR : (int)CALC_NET_UDP_PAD);
    return udp_send(c, &m[i], i);
  }
  store(&m[i], p, len, &r, 1);
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
        vlog(c, "ignoring a %zd-byte datagram (no calc reply is that long)",
             k);
        continue;
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
