/* SPDX-License-Identifier: MIT
 *
 * calc-track.c: the dissector's first pass (calc-track.h): conversations,
 * pairing by tag or order, UDP retransmissions and duplicates, and the
 * core's answer to each request.
 */
#include <string.h>

#include <epan/conversation.h>
#include <epan/prefs.h>
#include <epan/prefs-int.h>

#include "calc-track.h"
#include "packet-calc.h"

/* Unanswered requests a response looks through (oldest first) for its
 * tag or, over UDP, for its answer; and a UDP request for the one it
 * repeats.  Bounds the work per message when replies never come. */
#define CALC_SCAN_MAX 256
/* Slots of the first pass's conversation cache (calc_conv_find). */
#define CALC_CONV_SLOTS 1024

static int calc_track_proto = -1;
/* The core's evaluation context, for the whole file. */
static calc_ctx *calc_track_ctx;
/* Everything this file keeps for the whole capture file, in an allocator
 * of its own: kept apart from the file scope, the state of TCP and the
 * other dissectors stays as compact (and as fast to walk) as without us. */
static wmem_allocator_t *calc_track_pool;

static guint32 calc_hash(const guint8 *p, size_t n)
{
  guint32 h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

const char *calc_txn_expected(const calc_txn *t)
{
  if (t->join) return t->join->expected;
  return t->has_expected ? (const char *)t->bytes + t->info_len : NULL;
}

const guint8 *calc_txn_info(const calc_txn *t)
{
  return t->join ? t->join->info : t->bytes;
}

/* UDP: the request bytes (not after a join: legacy requests are TCP). */
static const guint8 *calc_txn_req(const calc_txn *t)
{
  return t->bytes + t->info_len + (t->has_expected ? t->exp_len + 1 : 0);
}

/* The conversation's state; on first sight, decide which side is the
 * server: the side whose port matched our port table, else (heuristics,
 * equal ports) the receiver of this first message. */
static calc_conv *calc_conv_get(packet_info *pinfo, gboolean heuristic)
{
  conversation_t *conv = find_or_create_conversation(pinfo);
  calc_conv *cv =
      (calc_conv *)conversation_get_proto_data(conv, calc_track_proto);
  if (cv) return cv;

  cv = wmem_new0(calc_track_pool, calc_conv);
  gboolean srv_is_src = !heuristic && pinfo->srcport != pinfo->destport &&
                        pinfo->match_uint == pinfo->srcport;
  copy_address_wmem(calc_track_pool, &cv->srv_addr,
                    srv_is_src ? &pinfo->src : &pinfo->dst);
  cv->srv_port = srv_is_src ? pinfo->srcport : pinfo->destport;
  conversation_add_proto_data(conv, calc_track_proto, cv);
  return cv;
}

/* The first pass's conversation cache: the conversation's state by
 * transport, ports and addresses, in front of find_or_create_conversation()
 * (otherwise a large share of the work per message).  Safe there because
 * frames come in order and every TCP connection's first data byte
 * (relative sequence number 1) takes the full lookup and refreshes its
 * slot, so a port pair reused by a new connection finds the new
 * conversation.  Without relative sequence numbers TCP is not cached. */
typedef struct calc_conv_slot {
  calc_conv *cv;
  guint32 ports;           /* srcport << 16 | destport, as filed */
  guint8 ptype, alen;
  guint8 src[16], dst[16];
} calc_conv_slot;

static calc_conv_slot calc_conv_cache[CALC_CONV_SLOTS];
static gboolean calc_tcp_relative; /* TCP numbers sequences from 1 */

static gboolean calc_slot_is(const calc_conv_slot *c, guint32 ports,
                             const address *s, const address *d)
{
  return c->ports == ports && memcmp(c->src, s->data, c->alen) == 0 &&
         memcmp(c->dst, d->data, c->alen) == 0;
}

calc_conv *calc_conv_find(packet_info *pinfo, gboolean heuristic,
                          const struct tcpinfo *ti)
{
  const address *s = &pinfo->src, *d = &pinfo->dst;
  if (PINFO_FD_VISITED(pinfo) || s->type != d->type || s->len != d->len ||
      (s->type != AT_IPv4 && s->type != AT_IPv6) || s->len > 16 ||
      (pinfo->ptype != PT_UDP &&
       (pinfo->ptype != PT_TCP || !ti || !calc_tcp_relative)))
    return calc_conv_get(pinfo, heuristic);

  const guint8 *sa = (const guint8 *)s->data, *da = (const guint8 *)d->data;
  guint32 h = (pinfo->srcport ^ pinfo->destport) * 2654435761u;
  for (int i = 0; i < s->len; i++) h = (h ^ sa[i] ^ da[i]) * 16777619u;
  calc_conv_slot *c = &calc_conv_cache[(h ^ pinfo->ptype) % CALC_CONV_SLOTS];
  guint32 fwd = pinfo->srcport << 16 | pinfo->destport;
  guint32 rev = pinfo->destport << 16 | pinfo->srcport;
  gboolean first_byte = pinfo->ptype == PT_TCP && ti->seq == 1;
  if (!first_byte && c->cv && c->ptype == pinfo->ptype && c->alen == s->len &&
      (calc_slot_is(c, fwd, s, d) || calc_slot_is(c, rev, d, s)))
    return c->cv;

  c->cv = calc_conv_get(pinfo, heuristic);
  c->ports = fwd;
  c->ptype = (guint8)pinfo->ptype;
  c->alen = (guint8)s->len;
  memcpy(c->src, sa, s->len);
  memcpy(c->dst, da, s->len);
  return c->cv;
}

gboolean calc_to_server(const calc_conv *cv, const packet_info *pinfo)
{
  return pinfo->destport == cv->srv_port &&
         addresses_equal(&pinfo->dst, &cv->srv_addr);
}

static void calc_list_push(calc_list *l, calc_txn *t)
{
  t->next = NULL;
  if (l->tail) l->tail->next = t;
  else l->head = t;
  l->tail = t;
}

/* Remove t (whose predecessor is prev, NULL for the head) from l; with
 * older, the requests before it too: a server answers untagged requests in
 * order, so those will not be answered any more. */
static void calc_list_take(calc_list *l, calc_txn *prev, calc_txn *t,
                           gboolean older)
{
  if (older || !prev) l->head = t->next;
  else prev->next = t->next;
  if (l->tail == t) l->tail = older ? NULL : prev;
  if (!l->head) l->tail = NULL;
  t->next = NULL;
}

/* Compare a response with the core's answer to its request.  Results must
 * be byte-identical; errors need only the same kind (messages may be
 * worded differently).  Refusals that depend on the server, not on the
 * expression, are not mismatches. */
static guint8 calc_verdict_of(const calc_txn *t, const calc_reply_info *ri)
{
  if (!t->has_expected) return CALC_VERDICT_NONE;
  if (ri->is_error) {
    if (ri->kind == CALC_OK) return CALC_VERDICT_MISMATCH; /* unknown kind */
    if (ri->kind == t->exp_kind || ri->kind == t->bounded_kind)
      return CALC_VERDICT_MATCH;
    if ((ri->kind == CALC_E_UNSUPPORTED && t->classes) ||
        ri->kind == CALC_E_BUSY || ri->kind == CALC_E_INTERNAL)
      return CALC_VERDICT_REFUSED;
    return CALC_VERDICT_MISMATCH;
  }
  if (t->exp_kind != CALC_OK) return CALC_VERDICT_MISMATCH;
  return ri->body_len == t->exp_len &&
                 memcmp(ri->body, calc_txn_expected(t), t->exp_len) == 0
             ? CALC_VERDICT_MATCH
             : CALC_VERDICT_MISMATCH;
}

/* What a server of every operator answers to the n request bytes at p
 * (CR/LF removed), unbounded (calc.expected): the reply's length without
 * the tag, written to out, and its kind; *bounded gets the kind of the
 * reply within the UDP amplification bound.  A request over the length
 * limit is refused by calcd before calc_answer() sees it, and without its
 * tag; calc_answer() words that refusal alike for any over-long untagged
 * input, such as blanks. */
static size_t calc_expected(const calc_req_view *v, const char *p, size_t n,
                            gboolean udp, char *out, size_t cap,
                            calc_err *kind, calc_err *bounded)
{
  static char blanks[CALC_MAX_REQUEST_LEN + 1];
  if (v->too_long) {
    memset(blanks, ' ', sizeof blanks);
    p = blanks;
    n = sizeof blanks;
  }
  size_t len = calc_answer(calc_track_ctx, CALC_ROLE_ALL, p, n, SIZE_MAX,
                           out, cap, kind);
  *bounded = *kind;
  if (udp && !v->too_long && len > calc_udp_bound(n)) {
    char small[CALC_ANSWER_MAX + 1];
    calc_answer(calc_track_ctx, CALC_ROLE_ALL, p, n, calc_udp_bound(n), small,
                sizeof small, bounded);
  }
  if (!v->too_long && v->rq.has_tag) { /* calc_answer appended " #<tag>" */
    size_t suffix = 2;
    for (guint32 t = v->rq.tag; ; t /= 10) {
      suffix++;
      if (t < 10) break;
    }
    len = suffix < len ? len - suffix : 0;
  }
  return len;
}

/* The operator classes of a request not parsed for its view, from the
 * parse calc_answer() just made (calc_expr.h: the tree stays valid through
 * calc_eval_parsed()); that parse succeeded when the evaluation failed or
 * not.  too-large may come from either: parse again. */
static unsigned calc_classes_answered(const calc_req_view *v, calc_err kind)
{
  switch (kind) {
  case CALC_OK:
  case CALC_E_ZERO_DIV:
  case CALC_E_OVERFLOW:
  case CALC_E_DOMAIN:
    return calc_classes(calc_track_ctx);
  case CALC_E_TOO_LARGE:
    return calc_parse(calc_track_ctx, v->rq.expr, v->rq.expr_len) == CALC_OK
               ? calc_classes(calc_track_ctx)
               : 0;
  default: /* refused before or while parsing */
    return 0;
  }
}

/* ---- records ---- */

/* A calc_rec is a pointer with its kind in the low bits (the pointers are
 * at least 8-aligned). */
#define CALC_REC_MSG 0u   /* a calc_msg of its own */
#define CALC_REC_REQ 1u   /* a calc_txn's request */
#define CALC_REC_REP 2u   /* a calc_txn's first response */
#define CALC_REC_SET 3u   /* the records of a frame with several: a set */
#define CALC_REC_KIND(r) ((guint)((r) & 3u))
#define CALC_REC_PTR(r) ((void *)((r) & ~(calc_rec)3u))
/* The key of the first message of the first call in a frame, the only one
 * most frames have: filed without a set. */
#define CALC_KEY_FIRST (1u << 24)

typedef struct calc_rec_set {
  guint32 n, cap;
  struct {
    guint32 key;
    calc_rec rec;
  } e[];
} calc_rec_set;

/* The records by frame number: one word per frame (a pointer, or 0). */
static calc_rec *calc_frames;
static guint32 calc_frames_len;

/* A record of its own: a retransmission or duplicate of a transaction's
 * message (repeats: the frame repeated), or a message with none. */
static calc_rec calc_rec_msg(calc_txn *t, guint32 repeats)
{
  calc_msg *m = wmem_new0(calc_track_pool, calc_msg);
  m->txn = t;
  m->repeats = repeats;
  return (calc_rec)m;
}

calc_rec calc_rec_resent(void)
{
  calc_rec r = calc_rec_msg(NULL, 0);
  ((calc_msg *)r)->resent = 1;
  return r;
}

void calc_rec_put(const packet_info *pinfo, guint32 key, calc_rec r)
{
  guint32 f = pinfo->num;
  if (f >= calc_frames_len) {
    guint32 len = MAX(f + 1, calc_frames_len * 2);
    calc_frames =
        (calc_rec *)g_realloc(calc_frames, len * sizeof *calc_frames);
    memset(calc_frames + calc_frames_len, 0,
           (len - calc_frames_len) * sizeof *calc_frames);
    calc_frames_len = len;
  }
  calc_rec slot = calc_frames[f];
  if (!slot && key == CALC_KEY_FIRST) {
    calc_frames[f] = r;
    return;
  }
  calc_rec_set *s = NULL;
  if (slot && CALC_REC_KIND(slot) == CALC_REC_SET) {
    s = (calc_rec_set *)CALC_REC_PTR(slot);
  } else {
    s = (calc_rec_set *)wmem_alloc(calc_track_pool,
                                   sizeof *s + 4 * sizeof s->e[0]);
    s->n = 0;
    s->cap = 4;
    if (slot) {
      s->e[0].key = CALC_KEY_FIRST;
      s->e[0].rec = slot;
      s->n = 1;
    }
  }
  if (s->n == s->cap) {
    s->cap *= 2;
    s = (calc_rec_set *)wmem_realloc(calc_track_pool, s,
                                     sizeof *s + s->cap * sizeof s->e[0]);
  }
  s->e[s->n].key = key;
  s->e[s->n].rec = r;
  s->n++;
  calc_frames[f] = (calc_rec)s | CALC_REC_SET;
}

gboolean calc_rec_get(const packet_info *pinfo, guint32 key, calc_msg *m)
{
  guint32 f = pinfo->num;
  calc_rec r = f < calc_frames_len ? calc_frames[f] : 0;
  if (r && CALC_REC_KIND(r) == CALC_REC_SET) {
    const calc_rec_set *s = (const calc_rec_set *)CALC_REC_PTR(r);
    r = 0;
    for (guint32 i = 0; i < s->n; i++)
      if (s->e[i].key == key) r = s->e[i].rec;
  } else if (key != CALC_KEY_FIRST) {
    r = 0;
  }
  if (!r) return FALSE;
  calc_txn *t = (calc_txn *)CALC_REC_PTR(r);
  memset(m, 0, sizeof *m);
  switch (CALC_REC_KIND(r)) {
  case CALC_REC_REQ:
    m->txn = t;
    m->tag_reused = t->tag_reused;
    break;
  case CALC_REC_REP:
    m->txn = t;
    m->verdict = t->verdict;
    break;
  default:
    *m = *(const calc_msg *)CALC_REC_PTR(r);
  }
  return TRUE;
}

/* ---- legacy requests (TCP without LF) ---- */

/* Whether n bytes at p end unfinished, as calcd tells: the parser ran out
 * of input (a syntax error just past the end). */
static gboolean calc_unfinished(const guint8 *p, size_t n)
{
  calc_request rq;
  if (!calc_track_ctx || n > CALC_MAX_REQUEST_LEN) return FALSE;
  calc_request_split((const char *)p, n, &rq);
  return calc_parse(calc_track_ctx, rq.expr, rq.expr_len) == CALC_E_SYNTAX &&
         calc_errpos(calc_track_ctx) == rq.expr_len + 1;
}

/* Remember t, a new legacy request of n bytes at p, as calcd's buffer. */
static void calc_legacy_open(packet_info *pinfo, calc_conv *cv, calc_txn *t,
                             const guint8 *p, size_t n)
{
  if (n > cv->legacy_cap) {
    cv->legacy_cap = (guint32)MAX(n, 64);
    cv->legacy_buf = (guint8 *)wmem_realloc(calc_track_pool, cv->legacy_buf,
                                            cv->legacy_cap);
  }
  memcpy(cv->legacy_buf, p, n);
  cv->legacy = t;
  cv->legacy_len = (guint32)n;
  cv->legacy_last = pinfo->abs_ts;
  cv->legacy_unfinished = calc_unfinished(p, n);
}

/* Whether calcd still holds the last legacy request when these bytes come:
 * unanswered, and its last bytes came less than CALC_LEGACY_QUIET_MS ago
 * (CALC_LEGACY_INCOMPLETE_MS while they end unfinished). */
static gboolean calc_legacy_joins(const calc_conv *cv, const packet_info *pinfo)
{
  if (!cv->legacy || cv->legacy->rep_frame) return FALSE;
  nstime_t d;
  nstime_delta(&d, &pinfo->abs_ts, &cv->legacy_last);
  gint64 ms = (gint64)d.secs * 1000 + d.nsecs / 1000000;
  return ms >= 0 && ms < (cv->legacy_unfinished ? CALC_LEGACY_INCOMPLETE_MS
                                                : CALC_LEGACY_QUIET_MS);
}

/* Join n bytes at p to the held legacy request: the core answers the
 * joined bytes, and this message's record points at that request. */
static calc_rec calc_legacy_join(packet_info *pinfo, calc_conv *cv,
                                 const guint8 *p, size_t n, gboolean verify)
{
  calc_txn *t = cv->legacy;
  guint32 len = cv->legacy_len + (guint32)n;
  if (len > cv->legacy_cap) {
    cv->legacy_cap = MAX(len, cv->legacy_cap * 2);
    cv->legacy_buf = (guint8 *)wmem_realloc(calc_track_pool, cv->legacy_buf,
                                            cv->legacy_cap);
  }
  memcpy(cv->legacy_buf + cv->legacy_len, p, n);
  cv->legacy_len = len;
  cv->legacy_last = pinfo->abs_ts;
  cv->legacy_unfinished = calc_unfinished(cv->legacy_buf, len);

  calc_req_view v;
  memset(&v, 0, sizeof v);
  v.too_long = len > CALC_MAX_REQUEST_LEN;
  v.rq.expr = (const char *)cv->legacy_buf;
  v.rq.expr_len = len;
  if (!v.too_long) calc_request_split((const char *)cv->legacy_buf, len, &v.rq);
  calc_join *j = wmem_new0(calc_track_pool, calc_join);
  size_t info_len = calc_trim((const guint8 *)v.rq.expr, v.rq.expr_len);
  t->info_cut = info_len > CALC_INFO_MAX;
  t->info_len = (guint8)MIN(info_len, CALC_INFO_MAX);
  memcpy(j->info, v.rq.expr, t->info_len);
  if (verify) {
    static char out[CALC_ANSWER_MAX + 1];
    calc_err kind, bounded;
    size_t exp_len = calc_expected(&v, (const char *)cv->legacy_buf, len,
                                   FALSE, out, sizeof out, &kind, &bounded);
    j->expected = wmem_strndup(calc_track_pool, out, exp_len);
    t->exp_len = (guint16)exp_len;
    t->exp_kind = (guint8)kind;
    t->bounded_kind = (guint8)bounded;
    t->classes = (guint8)calc_classes_answered(&v, kind);
  }
  t->join = j;
  t->req_n = len;

  calc_rec r = calc_rec_msg(t, t->req_frame);
  ((calc_msg *)r)->joined = 1;
  return r;
}

/* First pass: file a request. */
calc_rec calc_track_request(packet_info *pinfo, calc_conv *cv,
                            const calc_req_view *v, const guint8 *p,
                            size_t n, gboolean udp, gboolean legacy,
                            gboolean verify)
{
  verify = verify && calc_track_ctx;
  if (legacy && calc_legacy_joins(cv, pinfo))
    return calc_legacy_join(pinfo, cv, p, n, verify);
  if (v->empty) /* not answered: not a transaction */
    return calc_rec_msg(NULL, 0);
  calc_list *l = v->rq.has_tag ? &cv->tagged : &cv->untagged;

  /* Over UDP the same bytes again, while unanswered, are a retransmission
   * (over TCP, a repeated line is a new request).  A tag still unanswered
   * is reused. */
  gboolean reused = FALSE;
  if (udp || v->rq.has_tag) {
    int depth = 0;
    for (calc_txn *t = l->head; t && depth < CALC_SCAN_MAX;
         t = t->next, depth++) {
      if (v->rq.has_tag && t->tag != v->rq.tag) continue;
      if (udp && t->req_n == n && memcmp(calc_txn_req(t), p, n) == 0) {
        t->nreq++;
        return calc_rec_msg(t, t->req_frame);
      }
      reused = v->rq.has_tag;
    }
  }

  static char out[CALC_ANSWER_MAX + 1];
  calc_err kind = CALC_OK, bounded = CALC_OK;
  size_t exp_len = 0;
  if (verify)
    exp_len = calc_expected(v, (const char *)p, n, udp, out, sizeof out,
                            &kind, &bounded);
  size_t info_len = calc_trim((const guint8 *)v->rq.expr, v->shown);
  gboolean cut = info_len > CALC_INFO_MAX;
  if (cut) info_len = CALC_INFO_MAX;

  calc_txn *t = (calc_txn *)wmem_alloc0(calc_track_pool, sizeof *t +
      info_len + (verify ? exp_len + 1 : 0) + (udp ? n : 0));
  guint8 *b = t->bytes;
  memcpy(b, v->rq.expr, info_len);
  t->info_len = (guint8)info_len;
  t->info_cut = (guint8)cut;
  b += info_len;
  if (verify) {
    memcpy(b, out, exp_len); /* NUL from wmem_alloc0 */
    t->has_expected = 1;
    t->exp_len = (guint16)exp_len;
    t->exp_kind = (guint8)kind;
    t->bounded_kind = (guint8)bounded;
    b += exp_len + 1;
  }
  if (udp) memcpy(b, p, n);
  t->req_n = (guint32)n;
  t->req_time = pinfo->abs_ts;
  t->req_frame = pinfo->num;
  t->tag = v->rq.tag;
  t->has_tag = (guint8)v->rq.has_tag;
  t->nreq = 1;
  t->classes = (guint8)(v->parsed ? v->classes
                                  : verify ? calc_classes_answered(v, kind)
                                           : 0);
  calc_list_push(l, t);
  t->tag_reused = (guint8)reused;
  if (legacy) calc_legacy_open(pinfo, cv, t, p, n);
  return (calc_rec)t | CALC_REC_REQ;
}

/* First pass: pair a response with its request: the oldest unanswered
 * request with its tag, or else the oldest untagged one; over UDP (replies
 * may be lost) the oldest whose answer the response matches, when
 * verification is on.  A response repeating the answer just given is a
 * duplicate, not the answer to the next request. */
calc_rec calc_track_response(packet_info *pinfo, calc_conv *cv,
                             const calc_reply_info *ri, const guint8 *p,
                             size_t n, gboolean udp, gboolean verify,
                             gboolean whole)
{
  guint32 hash = calc_hash(p, n);
  calc_list *l = ri->has_tag ? &cv->tagged : &cv->untagged;
  calc_txn *t = NULL, *prev = NULL, *last = NULL;
  gboolean dup = FALSE, tagless = FALSE;

  if (ri->has_tag) {
    int depth = 0;
    for (calc_txn *c = l->head; c && depth < CALC_SCAN_MAX;
         prev = c, c = c->next, depth++)
      if (c->tag == ri->tag) {
        t = c;
        break;
      }
    for (guint32 i = 0; !t && i < CALC_ANSWERED_TAGS; i++) {
      calc_txn *a = cv->answered_tags[(cv->answered_next - 1 - i) %
                                      CALC_ANSWERED_TAGS];
      if (a && a->tag == ri->tag) {
        last = a;
        dup = TRUE;
        break;
      }
    }
  } else {
    /* Untagged: an untagged request, or else, from a server that ignores
     * tags (the original programs read them as comments), a tagged one;
     * over UDP the oldest whose answer the response is, before the
     * oldest at all. */
    last = cv->answered;
    dup = udp && last && last->nrep < last->nreq && last->rep_hash == hash;
    for (int pass = 0; !dup && !t && pass < 2; pass++) {
      l = pass ? &cv->tagged : &cv->untagged;
      prev = NULL;
      if (!udp || !verify) continue;
      int depth = 0;
      for (calc_txn *c = l->head; c && depth < CALC_SCAN_MAX;
           prev = c, c = c->next, depth++) {
        guint8 vd = calc_verdict_of(c, ri);
        if (vd == CALC_VERDICT_MATCH || vd == CALC_VERDICT_REFUSED) {
          t = c;
          break;
        }
      }
    }
    if (!dup && !t) {
      prev = NULL;
      l = cv->untagged.head ? &cv->untagged : &cv->tagged;
      if (udp && last && last->rep_hash == hash)
        dup = TRUE;             /* the network duplicated the answer */
      else
        t = l->head;            /* in order (a wrong answer is flagged) */
    }
    tagless = t && l == &cv->tagged;
  }

  if (t && tagless) {
    calc_list_take(l, prev, t, FALSE);
    t->rep_frame = pinfo->num;
    t->rep_hash = hash;
    t->nrep = 1;
    cv->answered = t;
    calc_rec r = calc_rec_msg(t, 0);
    ((calc_msg *)r)->tagless = 1;
    if (whole) ((calc_msg *)r)->verdict = calc_verdict_of(t, ri);
    return r;
  }
  if (t) {
    calc_list_take(l, prev, t, !ri->has_tag);
    t->rep_frame = pinfo->num;
    t->rep_hash = hash;
    t->nrep = 1;
    if (ri->has_tag)
      cv->answered_tags[cv->answered_next++ % CALC_ANSWERED_TAGS] = t;
    else
      cv->answered = t;
    if (whole) t->verdict = calc_verdict_of(t, ri);
    return (calc_rec)t | CALC_REC_REP;
  }
  if (!dup) return calc_rec_msg(NULL, 0);
  last->nrep++;
  calc_rec r = calc_rec_msg(last, last->rep_frame);
  if (whole) ((calc_msg *)r)->verdict = calc_verdict_of(last, ri);
  return r;
}

void calc_track_init(int proto)
{
  calc_track_proto = proto;
  if (!calc_track_ctx) calc_track_ctx = calc_ctx_new(NULL);
  if (!calc_track_pool)
    calc_track_pool = wmem_allocator_new(WMEM_ALLOCATOR_BLOCK);
  memset(calc_conv_cache, 0, sizeof calc_conv_cache);
  module_t *tcp = prefs_find_module("tcp");
  pref_t *rel = tcp ? prefs_find_preference(tcp, "relative_sequence_numbers")
                    : NULL;
  pref_t *seq = tcp ? prefs_find_preference(tcp, "analyze_sequence_numbers")
                    : NULL;
  calc_tcp_relative = rel && seq && prefs_get_bool_value(rel, pref_current) &&
                      prefs_get_bool_value(seq, pref_current);
}

void calc_track_cleanup(void)
{
  g_free(calc_frames);
  calc_frames = NULL;
  calc_frames_len = 0;
  if (calc_track_pool) wmem_destroy_allocator(calc_track_pool);
  calc_track_pool = NULL;
  calc_ctx_free(calc_track_ctx);
  calc_track_ctx = NULL;
  memset(calc_conv_cache, 0, sizeof calc_conv_cache);
}

calc_ctx *calc_track_core(void)
{
  return calc_track_ctx;
}
