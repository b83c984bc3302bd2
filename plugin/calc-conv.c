/* SPDX-License-Identifier: MIT
 *
 * calc-conv.c: conversations (calc-track.h): the state of each one, which
 * side is the server (and, where that is a guess, what the content says
 * of it), and what TCP showed of each direction (gaps, retransmitted
 * data, a start mid-connection, a 4-tuple reused).
 */
#include <string.h>

#include <epan/conversation.h>

#include "calc-track.h"
#include "packet-calc.h"

/* Slots of the first pass's conversation cache (calc_conv_find). */
#define CALC_CONV_SLOTS 1024
/* A TCP segment further than this from where its direction stands
 * (behind or ahead) is taken for a new connection on the same 4-tuple
 * whose SYN was not captured, not for a retransmission or a gap: both
 * stay within a window, and a new connection's initial sequence number is
 * random.  Independent of TCP's relative sequence numbers. */
#define CALC_SEQ_WINDOW (1u << 24)
/* tcp_flow_t.static_flags: TCP's base sequence number is known
 * (packet-tcp.c's TCP_S_BASE_SEQ_SET, not in its public header). */
#define CALC_TCP_BASE_SET 0x01

/* Whether the port is calc's in the transport's port table (its
 * preference, or Decode As). */
static bool calc_port_is_ours(const packet_info *pinfo, uint32_t port)
{
  const char *name = pinfo->ptype == PT_TCP ? "tcp.port" : "udp.port";
  dissector_handle_t h =
      dissector_get_uint_handle(find_dissector_table(name), port);
  return h && dissector_handle_get_protocol_index(h) == calc_track_proto();
}

/* The conversation's state; on first sight, decide which side serves:
 * TCP's SYN when it was captured; else the only side whose port is
 * calc's; else (both, heuristics, equal ports) the receiver of this
 * first message, a guess (calc_conv.guess) that the content of the
 * messages may still turn round (calc_side_evidence). */
static calc_conv *calc_conv_get(packet_info *pinfo, bool heuristic,
                                const conversation_t **convp)
{
  conversation_t *conv = find_or_create_conversation(pinfo);
  *convp = conv;
  calc_conv *cv =
      (calc_conv *)conversation_get_proto_data(conv, calc_track_proto());
  if (cv) return cv;

  cv = wmem_new0(calc_track_pool(), calc_conv);
  cv->first_frame = pinfo->num;
  bool srv_is_src = false, known = false;
  bool syn = false;
  if (pinfo->ptype == PT_TCP) {
    struct tcp_analysis *tcpd = get_tcp_conversation_data(conv, pinfo);
    if (tcpd && tcpd->server_port && pinfo->srcport != pinfo->destport) {
      srv_is_src = tcpd->server_port == pinfo->srcport;
      known = syn = true;
    }
  }
  if (!known && !heuristic && pinfo->srcport != pinfo->destport) {
    bool src = calc_port_is_ours(pinfo, pinfo->srcport);
    bool dst = calc_port_is_ours(pinfo, pinfo->destport);
    if (src != dst) {
      srv_is_src = src;
      known = true;
    }
  }
  if (!known) {
    cv->guess = CALC_GUESS_FIRST;
    cv->side = CALC_SIDE_OPEN;
  }
  copy_address_wmem(calc_track_pool(), &cv->srv_addr,
                    srv_is_src ? &pinfo->src : &pinfo->dst);
  cv->srv_port = srv_is_src ? pinfo->srcport : pinfo->destport;
  /* With the SYN, both directions start at a line's start. */
  for (int d = 0; d < 2; d++) cv->tcp[d].boundary = syn;
  conversation_add_proto_data(conv, calc_track_proto(), cv);
  return cv;
}

/* The first pass's conversation cache: the conversation's state by
 * transport, ports and addresses, in front of
 * find_or_create_conversation().  A TCP 4-tuple reused by a new
 * connection is a new conversation (TCP's own per-connection identity):
 * a TCP slot holds only while its conversation is the one TCP found for
 * this very frame (conversation_t.last_frame); else the full lookup. */
typedef struct calc_conv_slot {
  calc_conv *cv;
  const conversation_t *conv;
  uint32_t ports;          /* srcport << 16 | destport, as filed */
  uint8_t ptype;           /* PT_UDP or PT_TCP */
  uint8_t alen;
  uint8_t src[16], dst[16];
} calc_conv_slot;

static calc_conv_slot calc_conv_cache[CALC_CONV_SLOTS];

/* Whether the len bytes of two addresses are the same (IPv4's 4 as one
 * word: no call per comparison). */
static bool calc_addr_same(const uint8_t *a, const void *b, uint8_t len)
{
  if (len != 4) return memcmp(a, b, len) == 0;
  uint32_t x, y;
  memcpy(&x, a, sizeof x);
  memcpy(&y, b, sizeof y);
  return x == y;
}

static bool calc_slot_is(const calc_conv_slot *c, uint32_t ports,
                         const address *s, const address *d)
{
  return c->ports == ports && calc_addr_same(c->src, s->data, c->alen) &&
         calc_addr_same(c->dst, d->data, c->alen);
}

void calc_conv_reset_cache(void)
{
  memset(calc_conv_cache, 0, sizeof calc_conv_cache);
}

calc_conv *calc_conv_find(packet_info *pinfo, bool heuristic)
{
  const address *s = &pinfo->src, *d = &pinfo->dst;
  const conversation_t *conv;
  if (PINFO_FD_VISITED(pinfo) ||
      (pinfo->ptype != PT_UDP && pinfo->ptype != PT_TCP) ||
      s->type != d->type || s->len != d->len ||
      (s->type != AT_IPv4 && s->type != AT_IPv6) || s->len > 16)
    return calc_conv_get(pinfo, heuristic, &conv);

  const uint8_t *sa = (const uint8_t *)s->data, *da = (const uint8_t *)d->data;
  uint32_t h = (pinfo->srcport ^ pinfo->destport) * 2654435761u;
  for (int i = 0; i < s->len; i++) h = (h ^ sa[i] ^ da[i]) * 16777619u;
  /* The products' low bits see only the inputs' low bits: fold the high
   * bits in, so that conversations that differ in a port's high bits do
   * not share (and thrash) a slot. */
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  calc_conv_slot *c = &calc_conv_cache[h % CALC_CONV_SLOTS];
  uint32_t fwd = pinfo->srcport << 16 | pinfo->destport;
  uint32_t rev = pinfo->destport << 16 | pinfo->srcport;
  if (c->cv && c->ptype == pinfo->ptype && c->alen == s->len &&
      (pinfo->ptype == PT_UDP || c->conv->last_frame == pinfo->num) &&
      (calc_slot_is(c, fwd, s, d) || calc_slot_is(c, rev, d, s)))
    return c->cv;

  c->cv = calc_conv_get(pinfo, heuristic, &conv);
  c->conv = conv;
  c->ptype = (uint8_t)pinfo->ptype;
  c->ports = fwd;
  c->alen = (uint8_t)s->len;
  memcpy(c->src, sa, s->len);
  memcpy(c->dst, da, s->len);
  return c->cv;
}

bool calc_to_server(const calc_conv *cv, const packet_info *pinfo)
{
  bool to = pinfo->destport == cv->srv_port &&
            addresses_equal(&pinfo->dst, &cv->srv_addr);
  /* Turned round once the guess stood: what came before was filed, and
   * is shown in every pass, as it was taken then. */
  return cv->side_late && pinfo->num < cv->side_frame ? !to : to;
}

/* ---- the server side from the content ---- */

/* Messages, and their bytes, kept while the server side is an open
 * guess; past either, the guess stands.  Only conversations without a
 * SYN between two calc ports (or found by a heuristic) keep any. */
#define CALC_GUESS_MAX 16
#define CALC_GUESS_BYTES 8192

typedef struct calc_side_book {
  uint32_t n, bytes;
  calc_side_msg m[CALC_GUESS_MAX];
} calc_side_book;

int calc_side_says(const uint8_t *p, size_t n, bool cut)
{
  if (n == 0) return CALC_SAYS_NOTHING;
  calc_reply_info ri;
  int rc = calc_reply_parse((const char *)p, n, &ri);
  if (cut) /* a prefix: an ERR line's start still says who sends it */
    return n >= 4 && memcmp(p, "ERR ", 4) == 0 ? CALC_SAYS_SERVER
                                               : CALC_SAYS_NOTHING;
  if (ri.is_error) return CALC_SAYS_SERVER;
  if (rc != 0 || !ri.strict) return CALC_SAYS_CLIENT; /* 5-1, (3), HELLO */
  /* inf, -inf, nan: float results no expression is (names) */
  const char *b = ri.body;
  size_t bl = ri.body_len;
  if (bl && b[0] == '-') b++, bl--;
  if ((bl == 3 && memcmp(b, "inf", 3) == 0) ||
      (bl == 3 && memcmp(b, "nan", 3) == 0))
    return CALC_SAYS_SERVER;
  return CALC_SAYS_NOTHING; /* a number: a request or a reply */
}

/* Swap two values of a type. */
#define CALC_SWAP(T, a, b) do { T t_ = (a); (a) = (b); (b) = t_; } while (0)

/* What pairing keeps is dropped: after a guess settles, the caller files
 * it again (calc_side_logged); calc_conv_restart, for a new connection. */
static void calc_side_unpair(calc_conv *cv)
{
  cv->untagged.len = cv->tagged.len = 0;
  cv->untagged.head = cv->tagged.head = 0;
  cv->answered = NULL;
  memset(cv->answered_tags, 0, sizeof cv->answered_tags);
  memset(cv->lost_tags, 0, sizeof cv->lost_tags);
  cv->lost_left = 0;
  cv->legacy = cv->legacy_rep = NULL;
}

/* The guess was wrong: the other side serves.  What each direction
 * showed goes with it. */
static void calc_side_turn(calc_conv *cv, packet_info *pinfo)
{
  bool dst_was = calc_to_server(cv, pinfo);
  copy_address_wmem(calc_track_pool(), &cv->srv_addr,
                    dst_was ? &pinfo->src : &pinfo->dst);
  cv->srv_port = dst_was ? pinfo->srcport : pinfo->destport;
  CALC_SWAP(calc_tcp_dir, cv->tcp[0], cv->tcp[1]);
  CALC_SWAP(uint8_t, cv->seen_msg[0], cv->seen_msg[1]);
  cv->side_turned = true;
}

/* Settled (says: why): what was filed under the guess is to be filed
 * again, with verdicts, and turned round if it was wrong. */
static bool calc_side_settle(calc_conv *cv, uint32_t frame, int says)
{
  cv->side = says == CALC_SAYS_COUNT ? CALC_SIDE_STANDS : CALC_SIDE_SETTLED;
  cv->side_says = (uint8_t)says;
  cv->side_frame = frame;
  if (!cv->side_log || !cv->side_log->n) {
    calc_side_drop(cv);
    return false;
  }
  calc_side_unpair(cv);
  return true;
}

bool calc_side_evidence(calc_conv *cv, packet_info *pinfo, int says)
{
  if (!calc_side_undecided(cv) || says == CALC_SAYS_NOTHING ||
      PINFO_FD_VISITED(pinfo))
    return false;
  bool from_client = calc_to_server(cv, pinfo);
  bool wrong = (says == CALC_SAYS_SERVER) == from_client;
  if (cv->side == CALC_SIDE_STANDS) {
    /* Nothing is logged to file again: from this frame on the roles are
     * the content's; what waits was filed the other way round, so it
     * pairs with nothing now, and order says nothing until a response
     * finds its step. */
    cv->side = CALC_SIDE_SETTLED;
    cv->side_says = (uint8_t)says;
    cv->side_frame = pinfo->num;
    if (wrong) {
      calc_side_turn(cv, pinfo);
      cv->side_late = true;
      calc_track_drop_waiting(cv, CALC_REPLY_SEEN_ROLES);
      calc_side_unpair(cv);
      cv->unsync = true;
    }
    return false;
  }
  if (wrong) calc_side_turn(cv, pinfo);
  return calc_side_settle(cv, pinfo->num, says);
}

bool calc_side_log(calc_conv *cv, const calc_side_msg *m)
{
  if (cv->side != CALC_SIDE_OPEN) return false;
  calc_side_book *l = cv->side_log;
  if (!l) l = cv->side_log = wmem_new0(calc_track_pool(), calc_side_book);
  if (l->n == CALC_GUESS_MAX || m->n > CALC_GUESS_BYTES - l->bytes)
    return calc_side_settle(cv, m->frame, CALC_SAYS_COUNT); /* it stands */
  calc_side_msg *c = &l->m[l->n++];
  *c = *m;
  c->p = m->n ? (const uint8_t *)wmem_memdup(calc_track_pool(), m->p, m->n)
              : NULL;
  l->bytes += m->n;
  return false;
}

const calc_side_msg *calc_side_logged(const calc_conv *cv, uint32_t i)
{
  return cv->side_log && i < cv->side_log->n ? &cv->side_log->m[i] : NULL;
}

void calc_side_drop(calc_conv *cv)
{
  if (!cv->side_log) return;
  for (uint32_t i = 0; i < cv->side_log->n; i++)
    if (cv->side_log->m[i].p)
      wmem_free(calc_track_pool(), (void *)cv->side_log->m[i].p);
  wmem_free(calc_track_pool(), cv->side_log);
  cv->side_log = NULL;
}

/* A new connection on the conversation's 4-tuple: what the old one left
 * waiting is not answered on this one, and each direction starts afresh
 * at a line's start (what came before it on this connection, if
 * anything, was not captured: pairing starts uncertain). */
static void calc_conv_restart(calc_conv *cv)
{
  calc_side_unpair(cv);    /* what pairing kept, as when a guess settles */
  cv->early = NULL;        /* the old connection's responses (pool-freed) */
  memset(cv->tcp, 0, sizeof cv->tcp);
  for (int d = 0; d < 2; d++) cv->tcp[d].boundary = true;
  cv->unsync = true;
}

/* Whether this segment holds its direction's first byte after the SYN,
 * by TCP's own base sequence number (the ISN, when the SYN or the
 * peer's ACK of it was seen) in either sequence-number mode: relative
 * (the first byte is 1) or absolute (ISN + 1).  Without TCP's analysis,
 * nothing contradicts it. */
static bool calc_tcp_first_after_syn(packet_info *pinfo,
                                     const struct tcpinfo *ti,
                                     uint32_t *before)
{
  conversation_t *conv = find_conversation_pinfo(pinfo, 0);
  struct tcp_analysis *tcpd =
      conv ? get_tcp_conversation_data(conv, pinfo) : NULL;
  *before = 0;
  if (!tcpd || !tcpd->fwd || !(tcpd->fwd->static_flags & CALC_TCP_BASE_SET))
    return true;
  /* The bytes sent before it: the nearer of the two readings. */
  uint32_t rel = ti->seq - 1, abs = ti->seq - tcpd->fwd->base_seq - 1;
  *before = MIN(rel, abs);
  return *before == 0;
}

int calc_conv_tcp_pos(calc_conv *cv, int dir, packet_info *pinfo,
                      const struct tcpinfo *ti)
{
  calc_tcp_dir *d = &cv->tcp[dir];
  if (!ti) return CALC_POS_NEW;
  if (d->seen && d->frame == pinfo->num) return CALC_POS_NEW;
  d->frame = pinfo->num;
  if (!d->seen) {
    d->seen = true;
    d->next = ti->nxtseq;
    uint32_t before;
    if (d->boundary && calc_tcp_first_after_syn(pinfo, ti, &before))
      return CALC_POS_NEW;               /* right after the SYN */
    if (d->boundary) {                   /* its first data not captured */
      cv->unsync = true;
      if (dir == 1 && before <= CALC_SEQ_WINDOW)
        calc_track_lost_replies(cv, before, CALC_LOST_LINE);
      return CALC_POS_GAP;               /* no line lost: it starts one */
    }
    d->lost = true;                      /* a start mid-connection */
    cv->unsync = true;
    return CALC_POS_GAP;
  }
  int32_t ahead = (int32_t)(ti->seq - d->next);
  uint32_t dist = ahead < 0 ? (uint32_t)-(int64_t)ahead : (uint32_t)ahead;
  if (dist > CALC_SEQ_WINDOW) {
    calc_conv_restart(cv);
    d->seen = true;
    d->frame = pinfo->num;
    d->next = ti->nxtseq;
    return CALC_POS_GAP;
  }
  if (ahead > 0) {
    d->next = ti->nxtseq;
    d->lost = !d->boundary;  /* a gap after a line's end loses no line */
    cv->unsync = true;
    if (dir == 1) /* the lost bytes hold the oldest requests' responses */
      calc_track_lost_replies(cv, (uint32_t)ahead,
                              d->boundary ? CALC_LOST_LINE
                              : d->midline ? CALC_LOST_SHOWN
                                           : CALC_LOST_HELD);
    return CALC_POS_GAP;
  }
  if (ahead < 0 && (int32_t)(ti->nxtseq - d->next) <= 0 &&
      !ti->is_reassembled)
    return CALC_POS_RESENT;
  if ((int32_t)(ti->nxtseq - d->next) > 0) d->next = ti->nxtseq;
  return CALC_POS_NEW;
}

bool calc_conv_tcp_acked_unseen(calc_conv *cv, int dir, packet_info *pinfo,
                                const struct tcpinfo *ti)
{
  calc_tcp_dir *o = &cv->tcp[1 - dir];
  if (!ti || !(ti->flags & TH_ACK) || !o->seen) return false;
  uint32_t known = o->next;
  if (o->unseen && (int32_t)(o->unseen_to - known) > 0) known = o->unseen_to;
  int32_t ahead = (int32_t)(ti->lastackseq - known);
  if (ahead <= 0 || (uint32_t)ahead > CALC_SEQ_WINDOW) return false;
  /* The peer's FIN takes one sequence number and no byte. */
  conversation_t *conv = find_conversation_pinfo(pinfo, 0);
  struct tcp_analysis *tcpd =
      conv ? get_tcp_conversation_data(conv, pinfo) : NULL;
  if (ahead == 1 && (!tcpd || (tcpd->rev && tcpd->rev->fin))) return false;
  o->unseen = true;
  o->unseen_to = ti->lastackseq;
  return true;
}
