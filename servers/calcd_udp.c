/* SPDX-License-Identifier: MIT
 *
 * calcd_udp.c: UDP (docs/PROTOCOL.md, "UDP").  One datagram is one request
 * and gets one reply datagram, within calc_udp_bound() of the request.
 *
 * Each socket holds a pool of CALCD_UDP_POOL received datagrams, filled
 * with recvmmsg (CALCD_UDP_BATCH at a time) and answered by the socket's
 * task (calcd_loop.h) for at most one turn, the replies of a turn sent with
 * sendmmsg.  The pool is served by sender (address and port) in turn: a
 * datagram is answered in round max(now, the sender's previous + 1), so a
 * sender that floods waits for its own datagrams, not the others.  When the
 * pool is full and more are queued, a flooding sender's newest held
 * datagrams are dropped (UDP may lose them; "shed" in the stats) to let
 * the others queued behind it in.
 *
 * The socket's task is heavy while a flood keeps it busy, so a datagram
 * of a new sender (one with none held) would wait for every other heavy
 * task's turn.  So while the task is queued heavy, the socket is read as
 * soon as it is readable, and a new sender's datagram promotes the task
 * to the fresh queue for one short turn: the datagrams of the current
 * round (at most one per sender ahead of it), then back behind the heavy
 * ones.  At most one such turn between two turns of the heavy queue, so
 * senders that keep changing ports take at most half the time from the
 * heavy tasks, never all of it.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "calcd.h"
#include "calcd_log.h"

enum { SLOT_FREE = 0, SLOT_HELD, SLOT_ANSWERED };

typedef struct udp_slot {
  int state;
  int at;                /* held: its index in the heap */
  int trunc;             /* longer than CALCD_UDP_BUF */
  size_t len;
  uint64_t sender;       /* hash of address and port */
  uint64_t round, seq;   /* served in (round, seq) order */
  socklen_t namelen;
  struct sockaddr_storage peer;
  char req[CALCD_UDP_BUF];
} udp_slot;

typedef struct udp_sender {
  uint64_t key;
  unsigned held;         /* its datagrams held in the pool */
  int logged;            /* its shedding was logged (while it stays) */
  uint64_t last_round;   /* the round of its latest */
} udp_sender;

struct calcd_udp {
  calcd_io io;           /* first: epoll_data.ptr points here */
  calcd_task task;
  int readable;          /* the socket may have datagrams queued */
  int stop_rounds;       /* stopping: reads still allowed; -1 before */
  unsigned held, nsenders, k; /* held datagrams, senders, replies made */
  uint64_t round, seq;
  int new_sender;        /* fill() held a datagram of a new sender */
  int promo;             /* promoted: a short turn is queued */
  uint64_t promo_round;  /* a promoted turn answers rounds up to this */
  uint64_t promo_mark;   /* L->heavy_turns at the last promoted turn */
  unsigned nfree;        /* free slots, a stack */
  int free[CALCD_UDP_POOL];
  int heap[CALCD_UDP_POOL]; /* held slots, a min-heap by (round, seq) */
  udp_sender senders[CALCD_UDP_POOL];
  udp_slot slot[CALCD_UDP_POOL];
  int out_slot[CALCD_UDP_BATCH];
  struct mmsghdr in[CALCD_UDP_BATCH], out[CALCD_UDP_BATCH];
  struct iovec in_iov[CALCD_UDP_BATCH], out_iov[CALCD_UDP_BATCH];
  char rep[CALCD_UDP_BATCH][CALC_ANSWER_MAX];
};

#define UDP_OF_TASK(t) \
  ((calcd_udp *)(void *)((char *)(t)-offsetof(calcd_udp, task)))

static uint64_t sender_of(const struct sockaddr_storage *ss) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over address and port */
  const unsigned char *p = (const unsigned char *)ss;
  size_t n = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                       : sizeof(struct sockaddr_in);
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

static udp_sender *find_sender(calcd_udp *u, uint64_t key) {
  for (unsigned i = 0; i < u->nsenders; i++)
    if (u->senders[i].key == key) return &u->senders[i];
  return NULL;
}

/* ---- the held datagrams: a binary min-heap of slots by (round, seq) */

static int sooner(const calcd_udp *u, int a, int b) {
  const udp_slot *x = &u->slot[u->heap[a]], *y = &u->slot[u->heap[b]];
  return x->round < y->round || (x->round == y->round && x->seq < y->seq);
}

static void heap_swap(calcd_udp *u, int a, int b) {
  int t = u->heap[a];
  u->heap[a] = u->heap[b];
  u->heap[b] = t;
  u->slot[u->heap[a]].at = a;
  u->slot[u->heap[b]].at = b;
}

static void heap_fix(calcd_udp *u, int i) {
  while (i > 0 && sooner(u, i, (i - 1) / 2)) { /* up */
    heap_swap(u, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
  for (;;) { /* down */
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < (int)u->held && sooner(u, l, m)) m = l;
    if (r < (int)u->held && sooner(u, r, m)) m = r;
    if (m == i) return;
    heap_swap(u, i, m);
    i = m;
  }
}

/* A datagram received into slot i: held, in its sender's next round. */
static void hold(calcd_udp *u, int i) {
  udp_slot *sl = &u->slot[i];
  sl->sender = sender_of(&sl->peer);
  udp_sender *sd = find_sender(u, sl->sender);
  if (!sd) {
    u->new_sender = 1;
    sd = &u->senders[u->nsenders++];
    *sd = (udp_sender){.key = sl->sender, .last_round = u->round};
    sl->round = u->round;
  } else {
    sl->round = sd->last_round + 1 > u->round ? sd->last_round + 1 : u->round;
  }
  sd->last_round = sl->round;
  sd->held++;
  sl->seq = u->seq++;
  sl->state = SLOT_HELD;
  sl->at = (int)u->held;
  u->heap[u->held++] = i;
  heap_fix(u, sl->at);
}

/* Slot i leaves the held datagrams (answered or dropped). */
static void unhold(calcd_udp *u, int i) {
  udp_sender *sd = find_sender(u, u->slot[i].sender);
  if (sd && --sd->held == 0) *sd = u->senders[--u->nsenders];
  int at = u->slot[i].at;
  u->held--;
  if (at != (int)u->held) {
    heap_swap(u, at, (int)u->held);
    heap_fix(u, at);
  }
}

static void free_slot(calcd_udp *u, int i) {
  u->slot[i].state = SLOT_FREE;
  u->free[u->nfree++] = i;
}

/* The held datagram to answer next, or -1. */
static int pick(const calcd_udp *u) { return u->held ? u->heap[0] : -1; }

/* Pool full and more queued: drop the newest held datagram of the sender
 * holding the most, if it holds more than CALCD_UDP_FLOOD (a flood).
 * Returns 0 when no sender does (then nothing is dropped). */
static int shed(calcd *s, calcd_udp *u) {
  udp_sender *top = NULL;
  for (unsigned i = 0; i < u->nsenders; i++)
    if (!top || u->senders[i].held > top->held) top = &u->senders[i];
  if (!top || top->held <= CALCD_UDP_FLOOD) return 0;
  int drop = -1;
  for (int i = 0; i < CALCD_UDP_POOL; i++)
    if (u->slot[i].state == SLOT_HELD && u->slot[i].sender == top->key &&
        (drop < 0 || u->slot[i].seq > u->slot[drop].seq))
      drop = i;
  if (!top->logged) {
    char a[CALCD_ADDR_STR];
    calcd_addr_str((const struct sockaddr *)&u->slot[drop].peer, 1, a,
                   sizeof a);
    calcd_log("%s: udp flood (over %d datagrams waiting): its newest "
              "dropped (logged once while it keeps some waiting)", a,
              CALCD_UDP_FLOOD);
    top->logged = 1;
  }
  unhold(u, drop); /* top may move: it is not used after this */
  free_slot(u, drop);
  s->st.n[CALCD_ST_UDP_SHED]++;
  return 1;
}

/* Read what is queued into free slots, CALCD_UDP_BATCH at a time, at most
 * CALCD_UDP_READS batches, shedding when the pool is full. */
static void fill(calcd *s, calcd_udp *u) {
  for (int r = 0; r < CALCD_UDP_READS && u->readable; r++) {
    if (u->stop_rounds == 0) {
      u->readable = 0;
      break;
    }
    if (u->stop_rounds < 0) /* the pool (nearly) full: room for more */
      while (u->nfree < CALCD_UDP_BATCH / 4 && shed(s, u)) continue;
    int idx[CALCD_UDP_BATCH], nfree = 0;
    while (u->nfree && nfree < CALCD_UDP_BATCH)
      idx[nfree++] = u->free[--u->nfree];
    if (nfree == 0) break; /* held by many senders: answer them first */
    for (int j = 0; j < nfree; j++) {
      udp_slot *sl = &u->slot[idx[j]];
      u->in_iov[j] = (struct iovec){sl->req, sizeof sl->req};
      u->in[j].msg_hdr = (struct msghdr){
        .msg_name = &sl->peer,
        .msg_namelen = sizeof sl->peer,
        .msg_iov = &u->in_iov[j],
        .msg_iovlen = 1,
      };
    }
    int n = recvmmsg(u->io.fd, u->in, (unsigned)nfree, MSG_DONTWAIT, NULL);
    if (u->stop_rounds > 0) u->stop_rounds--;
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        calcd_log("recvmmsg: %s", strerror(errno));
      n = 0;
    }
    for (int j = 0; j < n; j++) {
      udp_slot *sl = &u->slot[idx[j]];
      sl->len = u->in[j].msg_len;
      sl->trunc = (u->in[j].msg_hdr.msg_flags & MSG_TRUNC) != 0;
      sl->namelen = u->in[j].msg_hdr.msg_namelen;
      hold(u, idx[j]);
    }
    for (int j = n; j < nfree; j++) u->free[u->nfree++] = idx[j];
    if (n < nfree) u->readable = 0; /* the queue is empty */
  }
}

/* Send the replies made.  One that cannot be sent is dropped, as the
 * network may drop it: the client retries (docs/PROTOCOL.md). */
static void send_replies(calcd *s, calcd_udp *u) {
  unsigned k = u->k;
  for (unsigned sent = 0; sent < k;) {
    int r = sendmmsg(u->io.fd, u->out + sent, k - sent, MSG_DONTWAIT);
    if (r > 0) {
      sent += (unsigned)r;
      s->st.n[CALCD_ST_UDP_REPLIES] += (unsigned)r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      s->st.n[CALCD_ST_UDP_DROPPED] += k - sent;
      if (s->o->verbose)
        calcd_log("udp: send buffer full, %u replies dropped", k - sent);
      break;
    } else {
      s->st.n[CALCD_ST_UDP_DROPPED]++;
      if (s->o->verbose) calcd_log("udp: sendmmsg: %s", strerror(errno));
      sent++; /* skip the reply that failed */
    }
  }
  for (unsigned j = 0; j < k; j++) free_slot(u, u->out_slot[j]);
  u->k = 0;
}

/* Answer held slot i; its reply (if any) joins the replies to send. */
static void answer(calcd *s, calcd_udp *u, int i) {
  udp_slot *sl = &u->slot[i];
  size_t n = calc_strip_eol(sl->req, sl->len);
  char *out = u->rep[u->k];
  size_t m;
  calc_err kind = CALC_OK;
  unhold(u, i);
  u->round = sl->round;
  if (!sl->trunc && n == 0) { /* empty: no reply */
    free_slot(u, i);
    return;
  }
  s->st.n[CALCD_ST_UDP_REQUESTS]++;
  if (sl->trunc || n > calc_ctx_limits(s->ctx)->max_len) {
    m = calcd_too_long(s, out, CALC_ANSWER_MAX);
    kind = CALC_E_TOO_LONG;
  } else if (calcd_stop_busy(s)) {
    m = calcd_busy_stop(sl->req, n, out, CALC_ANSWER_MAX);
    kind = CALC_E_BUSY;
    s->st.n[CALCD_ST_UDP_STOP_BUSY]++;
  } else {
    m = calc_answer(s->ctx, s->o->role, sl->req, n, calc_udp_bound(n), out,
                    CALC_ANSWER_MAX, &kind);
  }
  if (kind != CALC_OK) s->st.n[CALCD_ST_UDP_ERRORS]++;
  if (s->o->verbose)
    calcd_log_request("udp", (const struct sockaddr *)&sl->peer, sl->req, n,
                      out, m);
  sl->state = SLOT_ANSWERED;
  u->out_slot[u->k] = i;
  u->out_iov[u->k] = (struct iovec){out, m};
  u->out[u->k].msg_hdr = (struct msghdr){
    .msg_name = &sl->peer,
    .msg_namelen = sl->namelen,
    .msg_iov = &u->out_iov[u->k],
    .msg_iovlen = 1,
  };
  if (++u->k == CALCD_UDP_BATCH) send_replies(s, u);
}

static int udp_turn(calcd_loop *L, calcd_task *t) {
  calcd *s = CALCD_OF(L);
  calcd_udp *u = UDP_OF_TASK(t);
  int promoted = u->promo;
  if (promoted) {
    u->promo = 0;
    u->promo_mark = L->heavy_turns;
  }
  fill(s, u);
  for (;;) {
    int i = pick(u);
    if (i < 0) {
      send_replies(s, u);
      if (!u->readable) break;
      fill(s, u); /* the pool ran dry: read on */
      if ((i = pick(u)) < 0) break;
    }
    if (promoted && u->slot[i].round > u->promo_round) {
      send_replies(s, u); /* the new senders are answered: back in line */
      return 1;
    }
    answer(s, u, i);
    if (calcd_turn_over(L)) {
      send_replies(s, u);
      if (u->held || u->readable) return 1;
      break;
    }
  }
  send_replies(s, u);
  u->task.heavy = 0;
  if (u->stop_rounds >= 0 && !u->readable && !u->held) { /* stopped */
    calcd_io_close(&u->io);
    L->live--;
  }
  return 0;
}

static void udp_event(calcd_loop *L, calcd_io *io, uint32_t events) {
  (void)events;
  calcd_udp *u = (calcd_udp *)io;
  u->readable = 1;
  if (calcd_task_queued_heavy(&u->task) && !u->promo &&
      u->promo_mark != L->heavy_turns) {
    u->new_sender = 0;
    fill(CALCD_OF(L), u);
    if (u->new_sender) {
      u->promo = 1;
      u->promo_round = u->round; /* a new sender's round */
      calcd_task_promote(L, &u->task);
    }
    return;
  }
  calcd_task_wake(L, &u->task);
}

int calcd_udp_add(calcd *s, int fd) {
  if (s->nudp == CALCD_MAX_BINDS) return -1;
  calcd_udp *u = calloc(1, sizeof *u);
  if (!u) return -1;
  u->io = (calcd_io){.fd = fd, .fn = udp_event};
  u->task.fn = udp_turn;
  u->stop_rounds = -1;
  u->promo_mark = UINT64_MAX; /* none yet */
  for (int i = CALCD_UDP_POOL - 1; i >= 0; i--) u->free[u->nfree++] = i;
  if (calcd_io_add(&s->loop, &u->io, EPOLLIN) < 0) {
    free(u);
    return -1;
  }
  s->udp[s->nudp++] = u;
  return 0;
}

/* Stopping: answer the datagrams held and those already queued (up to
 * CALCD_UDP_STOP_ROUNDS more reads), then close. */
static void udp_stop(calcd_loop *L) {
  calcd *s = CALCD_OF(L);
  for (int i = 0; i < s->nudp; i++) {
    calcd_udp *u = s->udp[i];
    if (u->io.fd < 0) continue;
    u->stop_rounds = CALCD_UDP_STOP_ROUNDS;
    u->readable = 1;
    L->live++;
    calcd_io_set(L, &u->io, 0); /* reads are the task's from now on */
    calcd_task_wake(L, &u->task);
  }
}

static void udp_finish(calcd_loop *L) {
  calcd *s = CALCD_OF(L);
  for (int i = 0; i < s->nudp; i++) {
    calcd_task_cancel(&s->udp[i]->task);
    calcd_io_close(&s->udp[i]->io);
    free(s->udp[i]);
  }
  s->nudp = 0;
}

void calcd_udp_init(calcd *s) {
  static const calcd_hooks hooks = {.stop = udp_stop, .finish = udp_finish};
  calcd_loop_hook(&s->loop, &hooks);
}
