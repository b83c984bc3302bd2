/* SPDX-License-Identifier: MIT
 *
 * calcd: the calc server.  UDP and TCP on one port, one thread, one epoll
 * set, one calc_ctx; every request is answered by calc_answer().
 * This file: options, binding, signals, and main, which wires the loop's
 * hooks.  docs/PROTOCOL.md is the protocol; `calcd --help` the usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "calcd.h"
#include "calcd_log.h"
#include "calcd_proxy.h"
#include "calcd_sd.h"
#include "calcd_workers.h"

#include "calc_version.h"

#define CALCD_PORT_TRIES 32  /* --port 0: attempts to find one free port
                                for UDP and TCP on every address */
#define CALCD_FD_SPARE   32  /* descriptors beyond connections and sockets */

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
    "      --max-conn-per-addr N\n"
    "                         connections from one client address (default\n"
    "                         --max-conn / %u, at least 1)\n"
    "      --idle-timeout S   close a TCP connection that sent no complete\n"
    "                         request for S seconds (default %u; fractions\n"
    "                         allowed)\n"
    "      --request-timeout S\n"
    "                         close a TCP connection whose request is not\n"
    "                         complete S seconds after its first byte\n"
    "                         (default %u)\n"
    "      --proxy-protocol FROM\n"
    "                         TCP connections from these networks (the load\n"
    "                         balancers, e.g. 127.0.0.0/8,::1/128) must start\n"
    "                         with a PROXY v1/v2 header naming the client; a\n"
    "                         header from anyone else is refused\n"
    "      --threads N        worker threads, each with its own event loop\n"
    "                         and SO_REUSEPORT sockets (default 1; auto: one\n"
    "                         per CPU)\n"
    "  -v, --verbose          log every request on stderr\n"
    "  -h, --help             this text\n"
    "  -V, --version          print the version\n"
    "SIGUSR1 logs the counters; SIGINT/SIGTERM stop (answering what was\n"
    "received).\n"
    "Exit status: 0 after SIGINT/SIGTERM, 1 runtime failure (e.g. cannot\n"
    "bind), 2 usage error.\n",
    (unsigned)CALC_PORT_ALL, (unsigned)CALC_PORT_ADDSUB,
    (unsigned)CALC_PORT_MULDIV, (unsigned)CALCD_DEFAULT_MAX_CONN,
    (unsigned)CALCD_PER_ADDR_SHARE, (unsigned)(CALCD_DEFAULT_IDLE_MS / 1000),
    (unsigned)(CALCD_DEFAULT_REQUEST_MS / 1000));
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

/* Seconds (fractions allowed, 0.001..86400) as milliseconds. */
static int parse_seconds(const char *txt, uint64_t *ms) {
  char *end;
  double sec = strtod(txt, &end);
  if (end == txt || *end || !(sec >= 0.001 && sec <= 86400.0)) return -1;
  *ms = (uint64_t)(sec * 1000.0 + 0.5);
  return 0;
}

/* Parses argv into *o.  Returns -1 to exit 0 (help, version), 0 to run,
 * CALCD_EXIT_USAGE on a usage error. */
static int parse_options(int argc, char **argv, calcd_opts *o) {
  enum {
    OPT_MAX_CONN = 256, OPT_PER_ADDR, OPT_IDLE, OPT_REQUEST, OPT_PROXY,
    OPT_THREADS
  };
  static const struct option longopts[] = {
    {"role", required_argument, NULL, 'r'},
    {"port", required_argument, NULL, 'p'},
    {"bind", required_argument, NULL, 'b'},
    {"max-conn", required_argument, NULL, OPT_MAX_CONN},
    {"max-conn-per-addr", required_argument, NULL, OPT_PER_ADDR},
    {"idle-timeout", required_argument, NULL, OPT_IDLE},
    {"request-timeout", required_argument, NULL, OPT_REQUEST},
    {"proxy-protocol", required_argument, NULL, OPT_PROXY},
    {"threads", required_argument, NULL, OPT_THREADS},
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
  o->request_ms = CALCD_DEFAULT_REQUEST_MS;
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
    case OPT_PER_ADDR:
      if (parse_uint(optarg, 1000000, &v) < 0 || v == 0) {
        fprintf(stderr, "calcd: bad --max-conn-per-addr '%s' (1..1000000)\n",
                optarg);
        return CALCD_EXIT_USAGE;
      }
      o->max_per_addr = (unsigned)v;
      break;
    case OPT_IDLE:
    case OPT_REQUEST:
      if (parse_seconds(optarg, ch == OPT_IDLE ? &o->idle_ms
                                               : &o->request_ms) < 0) {
        fprintf(stderr, "calcd: bad --%s '%s' (0.001..86400 s)\n",
                ch == OPT_IDLE ? "idle-timeout" : "request-timeout", optarg);
        return CALCD_EXIT_USAGE;
      }
      break;
    case OPT_PROXY:
      if (calcd_proxy_option(optarg, &o->proxy_from) < 0)
        return CALCD_EXIT_USAGE;
      break;
    case OPT_THREADS:
      if (calcd_threads_option(optarg, &o->threads) < 0)
        return CALCD_EXIT_USAGE;
      break;
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

/* A bound (and for TCP listening) non-blocking socket, or -1 with errno.
 * reuseport: one of several workers' sockets on the same address. */
static int open_socket(struct sockaddr_storage *ss, socklen_t len, int type,
                       int reuseport) {
  int fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  if (reuseport)
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
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

static void close_sockets(calcd_socks *k) {
  for (int i = 0; i < k->n; i++) {
    close(k->tcp[i]);
    close(k->udp[i]);
  }
  k->n = 0;
}

/* Bind UDP and TCP on every address, all on one port.  Returns 0, 1 to
 * retry with another free port, or -1 (logged). */
static int bind_once(calcd_opts *o, int *port, calcd_socks *k) {
  for (int i = 0; i < o->nbind; i++) {
    static const int types[2] = {SOCK_STREAM, SOCK_DGRAM};
    int fds[2] = {-1, -1};
    set_port(&o->bind[i], (uint16_t)*port);
    for (int t = 0; t < 2; t++) {
      fds[t] = open_socket(&o->bind[i], o->bind_len[i], types[t],
                           o->threads > 1);
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
      k->tcp[k->n] = fds[0];
      k->udp[k->n++] = fds[1];
      continue;
    }
    int e = errno;
    if (fds[0] >= 0) close(fds[0]);
    char a[CALCD_ADDR_STR];
    calcd_addr_str((struct sockaddr *)&o->bind[i], 1, a, sizeof a);
    if (o->bind_default && o->bind[i].ss_family == AF_INET6 &&
        (e == EADDRNOTAVAIL || e == EAFNOSUPPORT)) {
      calcd_log("no IPv6 loopback (%s): serving IPv4 only", strerror(e));
      o->nbind--;
      o->bind[i] = o->bind[o->nbind];
      o->bind_len[i] = o->bind_len[o->nbind];
      i--;
      continue;
    }
    close_sockets(k);
    if (e == EADDRINUSE && o->port == 0) return 1;
    calcd_log("cannot bind %s %s: %s", fds[0] < 0 ? "tcp" : "udp", a,
              strerror(e));
    return -1;
  }
  return 0;
}

/* The sockets calcd serves: bound here, on o->port (0: a free one, then
 * written back).  0, or -1 (logged). */
int calcd_bind(calcd_opts *o, calcd_socks *k) {
  for (int tries = 0; tries < CALCD_PORT_TRIES; tries++) {
    int port = o->port;
    int r = bind_once(o, &port, k);
    if (r <= 0) {
      o->port = port;
      return r;
    }
  }
  calcd_log("cannot find a port free for both UDP and TCP");
  return -1;
}

/* Room for max_conn connections: raise the descriptor limit, or lower
 * max_conn to what it allows (and say so).  Then the per-address default,
 * which follows max_conn. */
static void fit_fd_limit(calcd_opts *o) {
  struct rlimit rl;
  /* each worker past the first: its refusals, sockets, epoll and pipe */
  rlim_t more = o->threads > 1 ? (rlim_t)(o->threads - 1) *
                (CALCD_REJECT_MAX + 2 * CALCD_MAX_BINDS + 4) : 0;
  rlim_t need = (rlim_t)o->max_conn + CALCD_REJECT_MAX + 2 * CALCD_MAX_BINDS +
                CALCD_FD_SPARE + more;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need
                      ? need : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < need) {
      rlim_t spare = CALCD_REJECT_MAX + 2 * CALCD_MAX_BINDS + CALCD_FD_SPARE +
                     more;
      o->max_conn = rl.rlim_cur > spare + 1 ? (unsigned)(rl.rlim_cur - spare)
                                            : 1;
      calcd_log("open file limit %lu: max-conn lowered to %u",
                (unsigned long)rl.rlim_cur, o->max_conn);
    }
  }
  if (o->max_per_addr == 0) {
    o->max_per_addr = o->max_conn / CALCD_PER_ADDR_SHARE;
    if (o->max_per_addr == 0) o->max_per_addr = 1;
  }
  if (o->max_per_addr > o->max_conn) o->max_per_addr = o->max_conn;
}

static void log_startup(const calcd_opts *o, const calcd *s) {
  char addrs[CALCD_MAX_BINDS * (CALCD_ADDR_STR + 1)] = "";
  size_t n = 0;
  for (int i = 0; i < o->nbind; i++) {
    char a[CALCD_ADDR_STR];
    calcd_addr_str((const struct sockaddr *)&o->bind[i], 0, a, sizeof a);
    n += (size_t)snprintf(addrs + n, sizeof addrs - n, "%s%s", i ? " " : "",
                          a);
  }
  char proxy[CALC_CIDR_MAX * (CALC_CIDR_TEXT_MAX + 1) + 32] = "";
  char threads[32] = "";
  if (o->threads > 1) snprintf(threads, sizeof threads, ", threads %u",
                               o->threads);
  if (o->proxy_from.n) {
    static const char pre[] = ", proxy-protocol from ";
    memcpy(proxy, pre, sizeof pre);
    calcd_proxy_describe(&o->proxy_from, proxy + sizeof pre - 1,
                         sizeof proxy - sizeof pre + 1);
  }
  calcd_log("version %s, role %s, port %d udp+tcp on %s, max-conn %u, "
            "max-conn-per-addr %u, idle-timeout %.3g s, request-timeout "
            "%.3g s, max-request %zu bytes, pid %ld%s%s",
            CALC_VERSION, calc_role_name(o->role), o->port, addrs,
            o->max_conn, o->max_per_addr, (double)o->idle_ms / 1000.0,
            (double)o->request_ms / 1000.0, calc_ctx_limits(s->ctx)->max_len,
            (long)getpid(), proxy, threads);
}

/* ---- signals ---- */

/* SIGINT/SIGTERM stop, SIGUSR1 logs the counters; all arrive through a
 * signalfd.  SIGPIPE is ignored (sends also use MSG_NOSIGNAL). */
static int setup_signals(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);
  if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) return -1;
  signal(SIGPIPE, SIG_IGN);
  return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* Stop: no new connections or data; what was received is answered,
 * computed until CALCD_STOP_COMPUTE_MS, ERR busy after. */
void calcd_stop(calcd *s, int sig) {
  if (s->loop.stopping) return;
  if (sig) calcd_log("signal %d: stopping", sig);
  s->busy_from = s->loop.now + CALCD_STOP_COMPUTE_MS;
  calcd_loop_stop(&s->loop, CALCD_STOP_MS);
}

static void on_signal(calcd_loop *L, calcd_io *io, uint32_t events) {
  (void)events;
  calcd *s = CALCD_OF(L);
  struct signalfd_siginfo si;
  while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si)
    calcd_workers_signal(s, (int)si.ssi_signo); /* to every worker */
}

/* ---- main ---- */

/* One server: its evaluator, loop, transports and tables. */
int calcd_init(calcd *s, const calcd_opts *o) {
  memset(s, 0, sizeof *s);
  s->o = o;
  s->ctx = calc_ctx_new(NULL);
  if (!s->ctx || calcd_loop_init(&s->loop) < 0 ||
      calcd_addrs_init(&s->addrs, o->max_conn) < 0 || calcd_tcp_init(s) < 0)
    return -1;
  calcd_udp_init(s);
  return 0;
}

int calcd_serve(calcd *s, calcd_socks *k) {
  for (int i = 0; i < k->n; i++)
    if (calcd_tcp_add(s, k->tcp[i]) < 0 || calcd_udp_add(s, k->udp[i]) < 0)
      return -1;
  return 0;
}

void calcd_free(calcd *s) {
  calcd_loop_free(&s->loop);
  calcd_addrs_free(&s->addrs);
  calc_ctx_free(s->ctx);
}

int main(int argc, char **argv) {
  static calcd_opts o;
  static calcd s;
  int r = parse_options(argc, argv, &o);
  if (r) return r < 0 ? CALCD_EXIT_OK : r;

  int sigfd = setup_signals();
  if (sigfd < 0) {
    calcd_log("cannot start: %s", strerror(errno));
    return CALCD_EXIT_FAIL;
  }
  fit_fd_limit(&o);
  calcd_socks k = {0};
  calcd_sd_socks sd = {0};  /* systemd's sockets, else calcd binds its own */
  r = calcd_sd_listen(&o, &sd);
  if (r < 0 || (r == 0 && calcd_bind(&o, &k) < 0)) return CALCD_EXIT_FAIL;
  if (calcd_init(&s, &o) < 0) {
    calcd_log("cannot start: %s", strerror(errno));
    return CALCD_EXIT_FAIL;
  }
  calcd_io sig = {.fd = sigfd, .fn = on_signal};
  if (calcd_serve(&s, &k) < 0 || calcd_sd_serve(&s, &sd) < 0) {
    calcd_log("cannot serve: %s", strerror(errno));
    return CALCD_EXIT_FAIL;
  }
  if (calcd_sd_hup_init(&s.loop) < 0) {
    calcd_log("cannot watch SIGHUP: %s", strerror(errno));
    return CALCD_EXIT_FAIL;
  }
  if (calcd_io_add(&s.loop, &sig, EPOLLIN) < 0) {
    calcd_log("epoll_ctl: %s", strerror(errno));
    return CALCD_EXIT_FAIL;
  }
  /* This thread is worker 0 (and the signals' reader); --threads starts
   * the others, on the port just bound. */
  if (calcd_workers_start(&s) < 0) return CALCD_EXIT_FAIL;
  log_startup(&o, &s);
  r = calcd_loop_run(&s.loop) < 0 ? CALCD_EXIT_FAIL : CALCD_EXIT_OK;
  calcd_workers_finish(&s); /* every worker's counters, then the sum */
  calcd_log("stopped");
  calcd_free(&s);
  return r;
}
