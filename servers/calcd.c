/* SPDX-License-Identifier: MIT
 *
 * calcd: the calc server.  UDP and TCP on one port, one thread, one epoll
 * set, one calc_ctx; every request is answered by calc_answer().
 * This file: options, sockets, signals, logging.  docs/PROTOCOL.md is the
 * protocol; `calcd --help` the usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "calcd.h"
#include "calcd_sd.h"

#include "calc_version.h"

#define CALCD_PORT_TRIES 32  /* --port 0: attempts to find one free port
                                for UDP and TCP on every address */
#define CALCD_FD_SPARE   32  /* descriptors beyond connections and sockets */
#define CALCD_ADDR_STR   64  /* "[v6addr]:port" */

static void usage(FILE *f) {
  fprintf(f,
    "usage: calcd [OPTIONS]\n"
    "Serves the calc protocol (docs/PROTOCOL.md) over UDP and TCP on one port.\n"
    "  -r, --role ROLE        all (every operator, port %u), addsub (+ -, port %u)\n"
    "                         or muldiv (* / // %% **, port %u); default all\n"
    "  -p, --port PORT        UDP and TCP port (default: the role's); 0 picks a\n"
    "                         free one, shown in the startup log\n"
    "  -b, --bind ADDR        numeric IPv4 or IPv6 address to serve on; repeat\n"
    "                         for more (default 127.0.0.1 and ::1)\n"
    "      --max-conn N       concurrent TCP connections; more are told\n"
    "                         'ERR busy' and closed (default %u)\n"
    "      --idle-timeout S   close a TCP connection silent for S seconds\n"
    "                         (default %u; fractions allowed)\n"
    "  -v, --verbose          log every request on stderr\n"
    "  -h, --help             this text\n"
    "  -V, --version          print the version\n"
    "Exit status: 0 after SIGINT/SIGTERM, 1 runtime failure (e.g. cannot\n"
    "bind), 2 usage error.\n",
    (unsigned)CALC_PORT_ALL, (unsigned)CALC_PORT_ADDSUB,
    (unsigned)CALC_PORT_MULDIV, (unsigned)CALCD_DEFAULT_MAX_CONN,
    (unsigned)(CALCD_DEFAULT_IDLE_MS / 1000));
}

void calcd_log(const char *fmt, ...) {
  static const char prefix[] = "calcd: ";
  char line[2048];
  size_t k = sizeof prefix - 1;
  memcpy(line, prefix, k);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line + k, sizeof line - k, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  k += (size_t)n < sizeof line - k - 1 ? (size_t)n : sizeof line - k - 2;
  line[k++] = '\n';
  (void)!write(STDERR_FILENO, line, k); /* one write: one whole line */
}

/* "127.0.0.1:4000" or "[::1]:4000" (port omitted when with_port is 0). */
static void addr_str(const struct sockaddr *sa, int with_port, char *buf,
                     size_t cap) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  int v6 = sa->sa_family == AF_INET6;
  if (v6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  } else if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  }
  if (!with_port)
    snprintf(buf, cap, "%s", host);
  else
    snprintf(buf, cap, v6 ? "[%s]:%u" : "%s:%u", host, port);
}

/* Quote at most CALCD_LOG_EXPR_MAX bytes, escaping what is not printable. */
static void quote(const char *p, size_t n, char *buf, size_t cap) {
  size_t o = 0;
  buf[o++] = '"';
  for (size_t i = 0; i < n && o + 8 < cap; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (i == CALCD_LOG_EXPR_MAX) {
      o += (size_t)snprintf(buf + o, cap - o, "...");
      break;
    }
    if (ch == '"' || ch == '\\')
      o += (size_t)snprintf(buf + o, cap - o, "\\%c", ch);
    else if (ch < 0x20 || ch > 0x7e)
      o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
    else
      buf[o++] = (char)ch;
  }
  buf[o++] = '"';
  buf[o] = '\0';
}

void calcd_log_request(const char *proto, const struct sockaddr *peer,
                       const char *req, size_t n, const char *reply,
                       size_t m) {
  char who[CALCD_ADDR_STR], q[4 * CALCD_LOG_EXPR_MAX + 8],
      r[4 * CALCD_LOG_EXPR_MAX + 8];
  addr_str(peer, 1, who, sizeof who);
  quote(req, n, q, sizeof q);
  quote(reply, m, r, sizeof r);
  calcd_log("%s %s %s -> %s", proto, who, q, r);
}

size_t calcd_error_reply(calc_err e, char *out, size_t cap, const char *fmt,
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
  return calcd_error_reply(CALC_E_TOO_LONG, out, cap,
                           "request longer than %zu bytes",
                           calc_ctx_limits(s->ctx)->max_len);
}

size_t calcd_busy(const calcd *s, char *out, size_t cap) {
  return calcd_error_reply(CALC_E_BUSY, out, cap,
                           "server at its connection limit (%u)",
                           s->o.max_conn);
}

/* ---- options ---- */

static int parse_addr(const char *txt, struct sockaddr_storage *ss,
                      socklen_t *len) {
  char buf[INET6_ADDRSTRLEN + 2];
  size_t n = strlen(txt);
  if (n >= 2 && txt[0] == '[' && txt[n - 1] == ']' && n - 2 < sizeof buf) {
    memcpy(buf, txt + 1, n - 2);
    buf[n - 2] = '\0';
    txt = buf;
  }
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, txt, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    *len = sizeof *a4;
    return 0;
  }
  if (inet_pton(AF_INET6, txt, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    *len = sizeof *a6;
    return 0;
  }
  return -1;
}

static int parse_uint(const char *txt, unsigned long max, unsigned long *v) {
  char *end;
  errno = 0;
  if (*txt < '0' || *txt > '9') return -1;
  *v = strtoul(txt, &end, 10);
  return errno || *end || *v > max ? -1 : 0;
}

/* Parses argv into *o.  Returns -1 to exit 0 (help, version), 0 to run,
 * CALCD_EXIT_USAGE on a usage error. */
static int parse_options(int argc, char **argv, calcd_opts *o) {
  enum { OPT_MAX_CONN = 256, OPT_IDLE };
  static const struct option longopts[] = {
    {"role", required_argument, NULL, 'r'},
    {"port", required_argument, NULL, 'p'},
    {"bind", required_argument, NULL, 'b'},
    {"max-conn", required_argument, NULL, OPT_MAX_CONN},
    {"idle-timeout", required_argument, NULL, OPT_IDLE},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
  };
  memset(o, 0, sizeof *o);
  o->role = CALC_ROLE_ALL;
  o->port = -1;
  o->max_conn = CALCD_DEFAULT_MAX_CONN;
  o->idle_ms = CALCD_DEFAULT_IDLE_MS;
  int ch;
  unsigned long v;
  while ((ch = getopt_long(argc, argv, "r:p:b:vhV", longopts, NULL)) != -1) {
    switch (ch) {
    case 'r': {
      int r = calc_role_parse(optarg);
      if (r < 0) {
        fprintf(stderr, "calcd: unknown role '%s' (all, addsub, muldiv)\n",
                optarg);
        return CALCD_EXIT_USAGE;
      }
      o->role = (calc_role)r;
      break;
    }
    case 'p':
      if (parse_uint(optarg, 65535, &v) < 0) {
        fprintf(stderr, "calcd: bad port '%s'\n", optarg);
        return CALCD_EXIT_USAGE;
      }
      o->port = (int)v;
      break;
    case 'b':
      if (o->nbind == CALCD_MAX_BINDS) {
        fprintf(stderr, "calcd: at most %d --bind addresses\n",
                CALCD_MAX_BINDS);
        return CALCD_EXIT_USAGE;
      }
      if (parse_addr(optarg, &o->bind[o->nbind], &o->bind_len[o->nbind])) {
        fprintf(stderr, "calcd: bad address '%s' (numeric IPv4 or IPv6)\n",
                optarg);
        return CALCD_EXIT_USAGE;
      }
      o->nbind++;
      break;
    case OPT_MAX_CONN:
      if (parse_uint(optarg, 1000000, &v) < 0 || v == 0) {
        fprintf(stderr, "calcd: bad --max-conn '%s' (1..1000000)\n", optarg);
        return CALCD_EXIT_USAGE;
      }
      o->max_conn = (unsigned)v;
      break;
    case OPT_IDLE: {
      char *end;
      double sec = strtod(optarg, &end);
      if (*end || !(sec >= 0.001 && sec <= 86400.0)) {
        fprintf(stderr, "calcd: bad --idle-timeout '%s' (0.001..86400 s)\n",
                optarg);
        return CALCD_EXIT_USAGE;
      }
      o->idle_ms = (uint64_t)(sec * 1000.0 + 0.5);
      break;
    }
    case 'v': o->verbose = 1; break;
    case 'h': usage(stdout); return -1;
    case 'V': printf("calcd %s\n", CALC_VERSION); return -1;
    default: usage(stderr); return CALCD_EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "calcd: unexpected argument '%s'\n", argv[optind]);
    return CALCD_EXIT_USAGE;
  }
  if (o->nbind == 0) {
    parse_addr("127.0.0.1", &o->bind[0], &o->bind_len[0]);
    parse_addr("::1", &o->bind[1], &o->bind_len[1]);
    o->nbind = 2;
    o->bind_default = 1;
  }
  if (o->port < 0) o->port = calc_role_port(o->role);
  return 0;
}

/* ---- sockets ---- */

static void set_port(struct sockaddr_storage *ss, uint16_t port) {
  if (ss->ss_family == AF_INET6)
    ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
  else
    ((struct sockaddr_in *)ss)->sin_port = htons(port);
}

static uint16_t get_port(const struct sockaddr_storage *ss) {
  return ntohs(ss->ss_family == AF_INET6
                   ? ((const struct sockaddr_in6 *)ss)->sin6_port
                   : ((const struct sockaddr_in *)ss)->sin_port);
}

/* A bound (and for TCP listening) non-blocking socket, or -1 with errno. */
static int open_socket(struct sockaddr_storage *ss, socklen_t len, int type) {
  int fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  if (ss->ss_family == AF_INET6) /* "::" must not take 0.0.0.0 too */
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (type == SOCK_STREAM)
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (struct sockaddr *)ss, len) < 0 ||
      (type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0)) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static void close_sockets(calcd *s) {
  for (int i = 0; i < s->nlisten; i++) close(s->listen[i].fd);
  for (int i = 0; i < s->nudp; i++) close(s->udp[i].fd);
  s->nlisten = s->nudp = 0;
}

/* Bind UDP and TCP on every address, all on one port.  Returns 0, 1 to
 * retry with another free port, or -1 (logged). */
static int bind_once(calcd *s, int *port) {
  calcd_opts *o = &s->o;
  for (int i = 0; i < o->nbind; i++) {
    static const int types[2] = {SOCK_STREAM, SOCK_DGRAM};
    int fds[2] = {-1, -1};
    set_port(&o->bind[i], (uint16_t)*port);
    for (int t = 0; t < 2; t++) {
      fds[t] = open_socket(&o->bind[i], o->bind_len[i], types[t]);
      if (fds[t] < 0) break;
      if (*port == 0) { /* the kernel chose: use it everywhere */
        struct sockaddr_storage got;
        socklen_t gl = sizeof got;
        getsockname(fds[t], (struct sockaddr *)&got, &gl);
        *port = get_port(&got);
        set_port(&o->bind[i], (uint16_t)*port);
      }
    }
    if (fds[1] >= 0) {
      s->listen[s->nlisten++] = (calcd_io){.fd = fds[0],
                                           .fn = calcd_tcp_accept};
      s->udp[s->nudp++] = (calcd_io){.fd = fds[1], .fn = calcd_udp_event};
      continue;
    }
    int e = errno;
    if (fds[0] >= 0) close(fds[0]);
    char a[CALCD_ADDR_STR];
    addr_str((struct sockaddr *)&o->bind[i], 1, a, sizeof a);
    if (o->bind_default && o->bind[i].ss_family == AF_INET6 &&
        (e == EADDRNOTAVAIL || e == EAFNOSUPPORT)) {
      calcd_log("no IPv6 loopback (%s): serving IPv4 only", strerror(e));
      o->nbind--;
      o->bind[i] = o->bind[o->nbind];
      o->bind_len[i] = o->bind_len[o->nbind];
      i--;
      continue;
    }
    close_sockets(s);
    if (e == EADDRINUSE && o->port == 0) return 1;
    calcd_log("cannot bind %s %s: %s", fds[0] < 0 ? "tcp" : "udp", a,
              strerror(e));
    return -1;
  }
  return 0;
}

static int bind_all(calcd *s) {
  for (int tries = 0; tries < CALCD_PORT_TRIES; tries++) {
    int port = s->o.port;
    int r = bind_once(s, &port);
    if (r <= 0) {
      s->o.port = port;
      return r;
    }
  }
  calcd_log("cannot find a port free for both UDP and TCP");
  return -1;
}

/* Room for max_conn connections: raise the descriptor limit, or lower
 * max_conn to what it allows (and say so). */
static void fit_fd_limit(calcd_opts *o) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return;
  rlim_t need = (rlim_t)o->max_conn + CALCD_REJECT_MAX + 2 * CALCD_MAX_BINDS +
                CALCD_FD_SPARE;
  if (rl.rlim_cur < need) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need
                      ? need : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur < need) {
    rlim_t spare = CALCD_REJECT_MAX + 2 * CALCD_MAX_BINDS + CALCD_FD_SPARE;
    o->max_conn = rl.rlim_cur > spare + 1 ? (unsigned)(rl.rlim_cur - spare)
                                          : 1;
    calcd_log("open file limit %lu: max-conn lowered to %u",
              (unsigned long)rl.rlim_cur, o->max_conn);
  }
}

static void log_startup(const calcd *s) {
  char addrs[CALCD_MAX_BINDS * (CALCD_ADDR_STR + 1)] = "";
  size_t n = 0;
  for (int i = 0; i < s->o.nbind; i++) {
    char a[CALCD_ADDR_STR];
    addr_str((const struct sockaddr *)&s->o.bind[i], 0, a, sizeof a);
    n += (size_t)snprintf(addrs + n, sizeof addrs - n, "%s%s", i ? " " : "",
                          a);
  }
  calcd_log("version %s, role %s, port %d udp+tcp on %s, max-conn %u, "
            "idle-timeout %.3g s, max-request %zu bytes, pid %ld",
            CALC_VERSION, calc_role_name(s->o.role), s->o.port, addrs,
            s->o.max_conn, (double)s->o.idle_ms / 1000.0,
            calc_ctx_limits(s->ctx)->max_len, (long)getpid());
}

/* SIGINT/SIGTERM arrive through a signalfd; SIGPIPE is ignored (sends also
 * use MSG_NOSIGNAL). */
static int setup_signals(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) return -1;
  signal(SIGPIPE, SIG_IGN);
  return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int main(int argc, char **argv) {
  static calcd s;
  int r = parse_options(argc, argv, &s.o);
  if (r) return r < 0 ? CALCD_EXIT_OK : r;

  int sigfd = setup_signals();
  s.ctx = calc_ctx_new(NULL);
  if (sigfd < 0 || !s.ctx || calcd_loop_init(&s) < 0 || calcd_udp_init(&s)) {
    calcd_log("cannot start: %s", strerror(errno));
    return CALCD_EXIT_FAIL;
  }
  fit_fd_limit(&s.o);
  calcd_tcp_init(&s);
  r = calcd_sd_listen(&s); /* systemd's sockets, else calcd binds its own */
  if (r < 0 || (r == 0 && bind_all(&s) < 0)) return CALCD_EXIT_FAIL;
  for (int i = 0; i < s.nlisten + s.nudp; i++)
    if (calcd_io_add(&s, i < s.nlisten ? &s.listen[i]
                                       : &s.udp[i - s.nlisten], EPOLLIN) < 0) {
      calcd_log("epoll_ctl: %s", strerror(errno));
      return CALCD_EXIT_FAIL;
    }
  if (calcd_sd_hup_init(&s) < 0) {
    calcd_log("cannot watch SIGHUP: %s", strerror(errno));
    return CALCD_EXIT_FAIL;
  }
  log_startup(&s);
  r = calcd_run(&s, sigfd);
  calc_ctx_free(s.ctx);
  free(s.ub);
  return r;
}
