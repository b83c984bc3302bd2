/* SPDX-License-Identifier: MIT
 *
 * calc-pair.c: requests paired with their responses (calc-track.h): by
 * tag, else in order; over UDP by the expected answer when replies are
 * lost; after a gap in TCP (a lost segment, a cut frame, a start
 * mid-connection) by tag or by an answer only one waiting request has,
 * else in order but uncertain.  Also UDP retransmissions and duplicates,
 * and the legacy bytes calcd joins (docs/PROTOCOL.md, "Legacy mode").
 */
#include <string.h>

#include "calc-track.h"
#include "packet-calc.h"

/* Unanswered requests a response looks through (oldest first) for its
 * tag or its answer, and a UDP request for the one it repeats.  Bounds
 * the work per message when replies never come. */
#define CALC_SCAN_MAX 256
/* UDP: requests older than a response's request that keep waiting (their
 * responses may come later, reordered); those before them are taken as
 * unanswered, so that lost responses do not fill the scan. */
#define CALC_REORDER_MAX 32

/* Tagged responses with no waiting request kept per conversation for a
 * request that may come after them in capture order (UDP reordered
 * between the capture point and the client, timestamps from two
 * interfaces), and for how long after the response such a request still
 * pairs with it. */
#define CALC_EARLY_MAX 8
#define CALC_EARLY_NS 1000000000 /* 1 s */

/* This file's own evaluation context (the legacy "unfinished" test). */
static calc_ctx *calc_pair_ctx;

/* A transaction whose legacy request grew by joined bytes. */
typedef struct calc_join {
  uint8_t info[CALC_INFO_MAX];
  uint8_t info_len;        /* as calc_txn.info_len */
  uint8_t exp[sizeof(uint64_t) + 32]; /* as calc_txn's expected bytes */
  const uint8_t *bytes;    /* the joined request */
  size_t n;
} calc_join;

static wmem_map_t *calc_joins; /* calc_txn * -> calc_join * */

/* ---- transactions ---- */

/* Request times are kept in 32 bits: an offset from the file's first
 * request time, in ns while it fits 30 bits (about a second), else in us
 * or ms when that is exact (a pcap's us, for 17 minutes or 12 days); else
 * (and for a time before the first) the index of the full time in
 * calc_times_far.  The top 2 bits say which. */
#define CALC_T_BITS 30
#define CALC_T_NS 0u
#define CALC_T_US 1u
#define CALC_T_MS 2u
#define CALC_T_FAR 3u

static int64_t calc_time_base;
static bool calc_time_set;
static GArray *calc_times_far; /* int64_t ns */

static uint32_t calc_time_code(int64_t ns)
{
  if (!calc_time_set) {
    calc_time_base = ns;
    calc_time_set = true;
  }
  static const struct { int64_t unit; uint32_t code; } units[] = {
    {1, CALC_T_NS}, {1000, CALC_T_US}, {1000000, CALC_T_MS}};
  int64_t d = ns - calc_time_base;
  for (size_t i = 0; d >= 0 && i < G_N_ELEMENTS(units); i++)
    if (d % units[i].unit == 0 && d / units[i].unit < (1 << CALC_T_BITS))
      return units[i].code << CALC_T_BITS | (uint32_t)(d / units[i].unit);
  if (!calc_times_far) calc_times_far = g_array_new(FALSE, FALSE, sizeof ns);
  g_array_append_val(calc_times_far, ns);
  return CALC_T_FAR << CALC_T_BITS | (calc_times_far->len - 1);
}

int64_t calc_txn_req_ns(const calc_txn *t)
{
  uint32_t v = t->req_t & ((1u << CALC_T_BITS) - 1);
  switch (t->req_t >> CALC_T_BITS) {
  case CALC_T_NS: return calc_time_base + v;
  case CALC_T_US: return calc_time_base + (int64_t)v * 1000;
  case CALC_T_MS: return calc_time_base + (int64_t)v * 1000000;
  default: return g_array_index(calc_times_far, int64_t, v);
  }
}

/* The bytes after the tag (calc_txn.bytes). */
static const uint8_t *calc_txn_tail(const calc_txn *t)
{
  return t->bytes + ((t->flags & CALC_TXN_TAG) ? sizeof(uint32_t) : 0);
}

uint32_t calc_txn_tag(const calc_txn *t)
{
  uint32_t tag = 0;
  if (t->flags & CALC_TXN_TAG) memcpy(&tag, t->bytes, sizeof tag);
  return tag;
}

static size_t calc_txn_exp_size(const calc_txn *t)
{
  if (t->flags & CALC_TXN_INLINE) return (size_t)t->exp_len + 1;
  return (t->flags & CALC_TXN_EXPECTED) ? sizeof(uint64_t) : 0;
}

static const calc_join *calc_join_of(const calc_txn *t)
{
  return (t->flags & CALC_TXN_JOINED)
             ? (const calc_join *)wmem_map_lookup(calc_joins, t)
             : NULL;
}

const uint8_t *calc_txn_info(const calc_txn *t, size_t *n, bool *cut)
{
  const calc_join *j = calc_join_of(t);
  uint8_t len = j ? j->info_len : t->info_len;
  *n = len & ~CALC_INFO_CUT;
  *cut = (len & CALC_INFO_CUT) != 0;
  return j ? j->info : calc_txn_tail(t);
}

const uint8_t *calc_txn_joined(const calc_txn *t, size_t *n)
{
  const calc_join *j = calc_join_of(t);
  if (!j) return NULL;
  *n = j->n;
  return j->bytes;
}

const uint8_t *calc_txn_exp_bytes(const calc_txn *t)
{
  const calc_join *j = calc_join_of(t);
  return j ? j->exp : calc_txn_tail(t) + (t->info_len & ~CALC_INFO_CUT);
}

/* UDP: the request's and the first response's hashes (the low 32 bits of
 * calc_verify_hash() of the datagram). */
static uint32_t *calc_txn_udp(calc_txn *t)
{
  return (uint32_t *)(void *)((uint8_t *)calc_txn_tail(t) +
                              (t->info_len & ~CALC_INFO_CUT) +
                              calc_txn_exp_size(t));
}


static uint8_t calc_info_len(size_t n)
{
  return n > CALC_INFO_MAX ? (uint8_t)(CALC_INFO_MAX | CALC_INFO_CUT)
                           : (uint8_t)n;
}

/* ---- queues of unanswered requests ---- */

static void calc_queue_push(calc_queue *q, calc_txn *t)
{
  if (q->head + q->len == q->cap) {
    if (q->head > 0) {
      memmove(q->v, q->v + q->head, q->len * sizeof *q->v);
      q->head = 0;
    }
    if (q->len == q->cap) {
      q->cap = q->cap ? q->cap * 2 : 4;
      q->v = (calc_txn **)wmem_realloc(calc_track_pool(), q->v,
                                       q->cap * sizeof *q->v);
    }
  }
  q->v[q->head + q->len++] = t;
}

static calc_txn *calc_queue_at(const calc_queue *q, uint32_t i)
{
  return i < q->len ? q->v[q->head + i] : NULL;
}

/* Remove the i-th; with older, those before it too: a server answers in
 * order, so those will not be answered any more. */
static void calc_queue_take(calc_queue *q, uint32_t i, bool older)
{
  if (older || i == 0) {
    q->head += i + 1;
    q->len -= i + 1;
  } else {
    memmove(q->v + q->head + i, q->v + q->head + i + 1,
            (q->len - i - 1) * sizeof *q->v);
    q->len--;
  }
  if (q->len == 0) q->head = 0;
}

/* ---- holes: requests the capture does not show ---- */

static bool calc_is_hole(const calc_txn *t)
{
  return t->nreq == 0;
}

void calc_track_hole(packet_info *pinfo, calc_conv *cv)
{
  calc_queue *q = &cv->untagged;
  if (q->len && calc_is_hole(calc_queue_at(q, q->len - 1))) return;
  calc_txn *t = (calc_txn *)calc_rec_alloc(sizeof *t);
  t->flags = CALC_TXN_CUT;
  t->req_frame = pinfo->num;
  calc_queue_push(q, t);
}

/* Whether a hole waits among the first unanswered untagged requests
 * (hidden requests may be tagged too). */
static bool calc_hole_waits(const calc_conv *cv)
{
  for (uint32_t i = 0; i < cv->untagged.len && i < CALC_SCAN_MAX; i++)
    if (calc_is_hole(calc_queue_at(&cv->untagged, i))) return true;
  return false;
}

/* Whether holes are all that waits (no request the capture shows). */
static bool calc_holes_only(const calc_conv *cv)
{
  if (cv->tagged.len || !cv->untagged.len) return false;
  for (uint32_t i = 0; i < cv->untagged.len && i < CALC_SCAN_MAX; i++)
    if (!calc_is_hole(calc_queue_at(&cv->untagged, i))) return false;
  return true;
}

/* Remove the holes at the head of the untagged queue (a response paired
 * by order past them: uncertain); true if any. */
static bool calc_holes_pass(calc_conv *cv)
{
  bool any = false;
  while (cv->untagged.len && calc_is_hole(calc_queue_at(&cv->untagged, 0))) {
    calc_queue_take(&cv->untagged, 0, false);
    any = true;
  }
  return any;
}

/* Bytes of t's response on a TCP line (" #<tag>" and LF included) when
 * the core's answer is known: what a server that answers right sends;
 * the fewest it can be when verification is on but t's answer was not
 * computed; 0 when nothing is known (verification off). */
static uint64_t calc_txn_reply_wire(const calc_txn *t)
{
  if (calc_is_hole(t)) return 0; /* requests not shown: not known */
  uint64_t n = (uint64_t)t->exp_len + 1;
  if (!(t->flags & CALC_TXN_EXPECTED)) {
    /* Verified, but not this one (out of budget, cut): at least a byte
     * and LF; verification off: not known. */
    if (!(t->flags & (CALC_TXN_BUDGET | CALC_TXN_CUT))) return 0;
    n = 2;
  }
  if (t->flags & CALC_TXN_TAG) {
    uint32_t tag = calc_txn_tag(t);
    n += 2; /* " #" */
    do n++; while (tag /= 10);
  }
  return n;
}

/* The queue holding the oldest waiting request (a TCP server answers in
 * the order of requests, tagged or not); NULL when none waits. */
static calc_queue *calc_oldest_queue(calc_conv *cv)
{
  calc_txn *u = calc_queue_at(&cv->untagged, 0);
  calc_txn *g = calc_queue_at(&cv->tagged, 0);
  if (!u || !g) return u ? &cv->untagged : g ? &cv->tagged : NULL;
  return g->req_frame < u->req_frame ? &cv->tagged : &cv->untagged;
}

/* The oldest waiting request's response is in bytes the capture does not
 * show: it waits no more, and says so (not "no response"). */
static calc_txn *calc_retire_oldest(calc_conv *cv)
{
  calc_queue *q = calc_oldest_queue(cv);
  if (!q) return NULL;
  calc_txn *t = calc_queue_at(q, 0);
  t->reply |= CALC_REPLY_SEEN_LOST;
  calc_queue_take(q, 0, false);
  if (t->flags & CALC_TXN_TAG) /* its tag may still come: calc_unretire */
    cv->lost_tags[cv->lost_next++ % CALC_ANSWERED_TAGS] = t;
  return t;
}

/* Each waiting request's response, oldest first, while the lost bytes
 * hold it whole; each is retired once, so the work is bounded by the
 * requests.  An answer not known (verification off or out of budget, a
 * cut request) stops it: its length is not known.  What is retired too
 * few is found by the answers (calc_resync), too many by the tags
 * (calc_unretire).  The bytes left are kept for the latter. */
static void calc_retire_fill(calc_conv *cv, uint64_t lost)
{
  for (;;) {
    calc_queue *q = calc_oldest_queue(cv);
    uint64_t w = q ? calc_txn_reply_wire(calc_queue_at(q, 0)) : 0;
    if (!w || w > lost) break;
    calc_retire_oldest(cv);
    lost -= w;
  }
  cv->lost_left = lost > UINT32_MAX ? UINT32_MAX : (uint32_t)lost;
}

/* A complete tag wins over a retirement by length: the tagged request
 * retired as not captured whose tag the response has (a server that
 * answered out of order: the lost bytes held others' responses) waits
 * again, and the bytes it stood for go, with those left over, to the
 * oldest waiting requests, as calc_track_lost_replies would have given
 * them.  NULL: none has the tag. */
static calc_txn *calc_unretire(calc_conv *cv, uint32_t tag)
{
  calc_txn *t = NULL;
  for (uint32_t i = 0; i < CALC_ANSWERED_TAGS && !t; i++) {
    calc_txn **a = &cv->lost_tags[i];
    if (*a && !(*a)->rep_frame && calc_txn_tag(*a) == tag) {
      t = *a;
      *a = NULL;
    }
  }
  if (!t) return NULL;
  t->reply &= (uint8_t)~CALC_REPLY_SEEN_LOST;
  calc_retire_fill(cv, calc_txn_reply_wire(t) + cv->lost_left);
  return t;
}

void calc_track_lost_replies(calc_conv *cv, uint64_t lost, int start)
{
  if (start == CALC_LOST_HELD) {
    /* TCP held the start of the oldest one's response: its end is lost
     * (at most its whole length). */
    calc_queue *q = calc_oldest_queue(cv);
    uint64_t w = q ? calc_txn_reply_wire(calc_queue_at(q, 0)) : 0;
    if (!w) return;
    calc_retire_oldest(cv);
    lost = lost > w ? lost - w : 0;
  } else if (start == CALC_LOST_SHOWN) {
    /* The rest of the response shown cut: at most its whole length. */
    uint64_t w = cv->answered ? calc_txn_reply_wire(cv->answered) : 0;
    if (!w) return;
    lost = lost > w ? lost - w : 0;
  }
  calc_retire_fill(cv, lost);
}

void calc_track_drop_waiting(calc_conv *cv, unsigned why)
{
  for (int k = 0; k < 2; k++) {
    calc_queue *q = k ? &cv->tagged : &cv->untagged;
    for (uint32_t i = 0; i < q->len; i++) calc_queue_at(q, i)->reply |= why;
    q->len = q->head = 0;
  }
}

/* ---- legacy requests (TCP without LF) ---- */

/* Whether n bytes at p end unfinished, as calcd tells (lib's rule). */
static bool calc_unfinished(const uint8_t *p, size_t n)
{
  return calc_pair_ctx &&
         calc_request_unfinished(calc_pair_ctx, (const char *)p, n);
}

static void calc_buf_set(uint8_t **buf, uint32_t *len, uint32_t *cap,
                         const uint8_t *p, size_t n, bool append)
{
  uint32_t at = append ? *len : 0;
  uint32_t need = at + (uint32_t)n;
  if (need > *cap) {
    *cap = MAX(need, MAX(64, *cap * 2));
    *buf = (uint8_t *)wmem_realloc(calc_track_pool(), *buf, *cap);
  }
  memcpy(*buf + at, p, n);
  *len = need;
}

/* Remember t, a new legacy request of n bytes at p, as calcd's buffer. */
static void calc_legacy_open(packet_info *pinfo, calc_conv *cv, calc_txn *t,
                             const uint8_t *p, size_t n)
{
  calc_buf_set(&cv->legacy_buf, &cv->legacy_len, &cv->legacy_cap, p, n,
               false);
  cv->legacy = t;
  cv->legacy_last = pinfo->abs_ts;
  cv->legacy_unfinished = calc_unfinished(p, n);
}

/* Whether calcd still holds the last legacy request when these bytes come:
 * unanswered, and its last bytes came less than CALC_LEGACY_QUIET_MS ago
 * (CALC_LEGACY_INCOMPLETE_MS while they end unfinished). */
static bool calc_legacy_joins(const calc_conv *cv, const packet_info *pinfo)
{
  if (!cv->legacy || cv->legacy->rep_frame) return false;
  nstime_t d;
  nstime_delta(&d, &pinfo->abs_ts, &cv->legacy_last);
  int64_t ms = (int64_t)d.secs * 1000 + d.nsecs / 1000000;
  return ms >= 0 && ms < (cv->legacy_unfinished ? CALC_LEGACY_INCOMPLETE_MS
                                                : CALC_LEGACY_QUIET_MS);
}

/* Join n bytes at p to the held legacy request: the core answers the
 * joined bytes, and this message's record points at that request. */
static calc_rec calc_legacy_join(packet_info *pinfo, calc_conv *cv,
                                 const uint8_t *p, size_t n, bool verify)
{
  calc_txn *t = cv->legacy;
  calc_buf_set(&cv->legacy_buf, &cv->legacy_len, &cv->legacy_cap, p, n,
               true);
  uint32_t len = cv->legacy_len;
  cv->legacy_last = pinfo->abs_ts;
  cv->legacy_unfinished = calc_unfinished(cv->legacy_buf, len);

  calc_req_view v;
  memset(&v, 0, sizeof v);
  v.too_long = len > CALC_MAX_REQUEST_LEN;
  v.rq.expr = (const char *)cv->legacy_buf;
  v.rq.expr_len = len;
  if (!v.too_long) calc_request_split((const char *)cv->legacy_buf, len, &v.rq);
  calc_join *j = (calc_join *)wmem_map_lookup(calc_joins, t);
  if (!j) {
    j = wmem_new0(calc_track_pool(), calc_join);
    wmem_map_insert(calc_joins, t, j);
  }
  size_t info_len = calc_trim((const uint8_t *)v.rq.expr, v.rq.expr_len);
  j->info_len = calc_info_len(info_len);
  memcpy(j->info, v.rq.expr, j->info_len & ~CALC_INFO_CUT);
  j->bytes = (const uint8_t *)wmem_memdup(calc_track_pool(), cv->legacy_buf,
                                          len);
  j->n = len;
  t->flags |= CALC_TXN_JOINED;
  t->flags &= (uint8_t)~(CALC_TXN_EXPECTED | CALC_TXN_INLINE);
  calc_expect e;
  if (verify && calc_verify_expect(&v, (const char *)cv->legacy_buf, len,
                                   false, NULL, &e)) {
    if (e.len + 1 > sizeof j->exp) e.text = NULL;
    calc_expect k = e;
    if (!e.text) k.len = SIZE_MAX; /* too long to keep inline: the hash */
    calc_verify_keep(t, j->exp, e.text ? &e : &k);
    t->exp_len = (uint16_t)e.len;
  }
  t->req_n = (uint16_t)MIN(len, G_MAXUINT16);

  calc_msg *m = calc_rec_new(t, t->req_frame);
  m->joined = 1;
  return calc_rec_of_msg(m);
}

/* ---- responses before their requests ---- */

typedef struct calc_early {
  struct {
    calc_msg *m;           /* the response's record; NULL: free */
    uint8_t *bytes;        /* the response, for its verdict */
    uint32_t n, frame, tag, hash;
    int64_t ns;
    bool whole;
  } e[CALC_EARLY_MAX];
  uint32_t next;           /* the slot to take next (the oldest) */
} calc_early;

static int64_t calc_pinfo_ns(const packet_info *pinfo)
{
  return (int64_t)pinfo->abs_ts.secs * 1000000000 + pinfo->abs_ts.nsecs;
}

/* Keep a tagged response no request waits for (m: its record). */
static void calc_early_keep(packet_info *pinfo, calc_conv *cv, calc_msg *m,
                            const calc_reply_info *ri, const uint8_t *p,
                            size_t n, bool whole, uint32_t hash)
{
  if (!cv->early) cv->early = wmem_new0(calc_track_pool(), calc_early);
  calc_early *k = cv->early;
  uint32_t i = k->next++ % CALC_EARLY_MAX;
  if (k->e[i].bytes) wmem_free(calc_track_pool(), k->e[i].bytes);
  k->e[i].m = m;
  k->e[i].bytes = (uint8_t *)wmem_memdup(calc_track_pool(), p, n);
  k->e[i].n = (uint32_t)n;
  k->e[i].frame = pinfo->num;
  k->e[i].tag = ri->tag;
  k->e[i].hash = hash;
  k->e[i].ns = calc_pinfo_ns(pinfo);
  k->e[i].whole = whole;
  m->early = 1;
}

/* A new tagged request t: the response with its tag captured before it,
 * if one came less than CALC_EARLY_NS before, answers it. */
static bool calc_early_pair(packet_info *pinfo, calc_conv *cv, calc_txn *t,
                            bool udp)
{
  calc_early *k = cv->early;
  if (!k) return false;
  int64_t now = calc_pinfo_ns(pinfo);
  uint32_t tag = calc_txn_tag(t);
  for (uint32_t j = 0; j < CALC_EARLY_MAX; j++) {
    uint32_t i = (k->next + j) % CALC_EARLY_MAX; /* oldest first */
    if (!k->e[i].m || k->e[i].tag != tag || now - k->e[i].ns < 0 ||
        now - k->e[i].ns > CALC_EARLY_NS)
      continue;
    calc_reply_info ri;
    calc_reply_parse((const char *)k->e[i].bytes, k->e[i].n, &ri);
    calc_msg *m = k->e[i].m;
    m->txn = t;
    m->verdict = t->verdict = k->e[i].whole ? calc_verify_verdict(t, &ri)
                                            : CALC_VERDICT_NONE;
    m->unseen = 0;
    t->rep_frame = k->e[i].frame;
    t->nrep = 1;
    t->reply |= CALC_REPLY_SEEN_EARLY;
    if (udp) calc_txn_udp(t)[1] = k->e[i].hash;
    cv->answered_tags[cv->answered_next++ % CALC_ANSWERED_TAGS] = t;
    wmem_free(calc_track_pool(), k->e[i].bytes);
    memset(&k->e[i], 0, sizeof k->e[i]);
    return true;
  }
  return false;
}

/* ---- requests ---- */

calc_rec calc_track_request(packet_info *pinfo, calc_conv *cv,
                            const calc_req_view *v, const uint8_t *p,
                            size_t n, bool udp, bool legacy, bool verify,
                            bool cut, bool piece)
{
  if (legacy && !cut && calc_legacy_joins(cv, pinfo))
    return calc_legacy_join(pinfo, cv, p, n, verify);
  if (v->empty && !cut) /* not answered: not a transaction */
    return calc_rec_of_msg(calc_rec_new(NULL, 0));
  bool tagged = v->rq.has_tag && !cut && !piece;
  calc_queue *q = tagged ? &cv->tagged : &cv->untagged;
  uint64_t whole = udp ? calc_verify_hash(p, n) : 0;
  uint32_t req_hash = (uint32_t)whole;

  /* Over UDP the same bytes again, while unanswered, are a retransmission
   * (over TCP, a repeated line is a new request).  A tag still unanswered
   * is reused. */
  bool reused = false;
  if (!cut && (udp || tagged)) {
    for (uint32_t i = 0; i < q->len && i < CALC_SCAN_MAX; i++) {
      calc_txn *t = calc_queue_at(q, i);
      if (tagged && calc_txn_tag(t) != v->rq.tag) continue;
      if (udp && t->req_n == n && calc_txn_udp(t)[0] == req_hash) {
        if (t->nreq < G_MAXUINT8) t->nreq++;
        return calc_rec_of_msg(calc_rec_new(t, t->req_frame));
      }
      reused = tagged;
    }
  }

  calc_expect e;
  bool expect = verify && !cut &&
                calc_verify_expect(v, (const char *)p, n, udp,
                                   udp ? &whole : NULL, &e);
  size_t info_len = calc_trim(piece ? p : (const uint8_t *)v->rq.expr,
                              piece ? n : cut ? v->rq.expr_len : v->shown);
  uint8_t il = calc_info_len(info_len);
  if (piece) il |= CALC_INFO_CUT; /* the rest is in the next segment */
  size_t kept = expect ? calc_verify_kept(&e) : 0;
  size_t tl = tagged ? sizeof(uint32_t) : 0;
  calc_txn *t = (calc_txn *)calc_rec_alloc(sizeof *t + tl +
      (il & ~CALC_INFO_CUT) + kept + (udp ? 2 * sizeof(uint32_t) : 0));
  if (tagged) {
    t->flags |= CALC_TXN_TAG;
    memcpy(t->bytes, &v->rq.tag, sizeof(uint32_t));
  }
  memcpy(t->bytes + tl, piece ? p : (const uint8_t *)v->rq.expr,
         il & ~CALC_INFO_CUT);
  t->info_len = il;
  if (expect)
    calc_verify_keep(t, t->bytes + tl + (il & ~CALC_INFO_CUT), &e);
  else if (verify && !cut && e.budget)
    t->flags |= CALC_TXN_BUDGET;
  if (udp) calc_txn_udp(t)[0] = req_hash;
  t->req_n = (uint16_t)MIN(n, G_MAXUINT16);
  t->req_t = calc_time_code((int64_t)pinfo->abs_ts.secs * 1000000000 +
                            pinfo->abs_ts.nsecs);
  t->req_frame = pinfo->num;
  if (cut) t->flags |= CALC_TXN_CUT;
  if (reused) t->flags |= CALC_TXN_TAG_REUSED;
  t->nreq = 1;
  if (!expect) t->classes = (uint8_t)(v->parsed ? v->classes : 0);
  if (piece) t->classes |= CALC_TXN_TAG_OPEN;
  if (tagged && !reused && calc_early_pair(pinfo, cv, t, udp))
    return calc_rec_of_req(t); /* answered already */
  calc_queue_push(q, t);
  if (legacy && !cut) calc_legacy_open(pinfo, cv, t, p, n);
  return calc_rec_of_req(t);
}

/* ---- responses ---- */

/* Whether the oldest waiting untagged request, else the oldest tagged one
 * (a server that ignores tags), is what an untagged response answers. */
static calc_queue *calc_order_queue(calc_conv *cv)
{
  return cv->untagged.len ? &cv->untagged : &cv->tagged;
}

/* The request an untagged response would answer in order; NULL when none
 * waits or a hole comes first (order says nothing then). */
static calc_txn *calc_order_head(const calc_conv *cv)
{
  calc_txn *t = calc_queue_at(calc_order_queue((calc_conv *)cv), 0);
  return t && !calc_is_hole(t) ? t : NULL;
}

/* After a gap: the one waiting request whose answer the response is;
 * false when none or more than one is. */
static bool calc_resync(calc_conv *cv, const calc_reply_info *ri,
                        calc_queue **qp, uint32_t *ip)
{
  int found = 0;
  for (int pass = 0; pass < 2; pass++) {
    calc_queue *q = pass ? &cv->tagged : &cv->untagged;
    for (uint32_t i = 0; i < q->len && i < CALC_SCAN_MAX; i++)
      if (calc_verify_verdict(calc_queue_at(q, i), ri) == CALC_VERDICT_MATCH) {
        if (found++) return false;
        *qp = q;
        *ip = i;
      }
  }
  return found == 1;
}

/* TCP, after bytes the capture does not show: calc_resync, and when the
 * response is the answer of none of the CALC_SCAN_MAX oldest waiting
 * requests while more wait, once more in the next CALC_SCAN_MAX untagged
 * ones.  A TCP server answers in order: a response to a request past
 * them means their responses came before it, in what was not captured
 * (the lost bytes were fewer than their expected answers: shorter
 * answers, refusals), so calc_track_response retires them as not
 * captured.  When even those are not it and more than 2 * CALC_SCAN_MAX
 * wait, the oldest CALC_SCAN_MAX are retired so: pairing is back in step
 * after a response per CALC_SCAN_MAX requests behind.  A response looks
 * at most 3 * CALC_SCAN_MAX requests. */
static bool calc_resync_far(calc_conv *cv, const calc_reply_info *ri,
                            calc_queue **qp, uint32_t *ip)
{
  if (calc_resync(cv, ri, qp, ip)) return true;
  calc_queue *q = &cv->untagged;
  if (q->len <= CALC_SCAN_MAX) return false;
  uint32_t found = 0, at = 0;
  for (uint32_t i = CALC_SCAN_MAX; i < q->len && i < 2 * CALC_SCAN_MAX; i++)
    if (calc_verify_verdict(calc_queue_at(q, i), ri) == CALC_VERDICT_MATCH &&
        found++ == 0)
      at = i;
  if (found == 1) {
    *qp = q;
    *ip = at;
    return true;
  }
  if (q->len > 2 * CALC_SCAN_MAX)
    for (uint32_t i = 0; i < CALC_SCAN_MAX; i++) calc_retire_oldest(cv);
  return false;
}

/* Whether every waiting request (as far as a response looks) has its
 * answer computed, so that a response matching none of them answers
 * none of them. */
static bool calc_order_checkable(const calc_conv *cv)
{
  uint32_t real = 0;
  for (int pass = 0; pass < 2; pass++) {
    const calc_queue *q = pass ? &cv->tagged : &cv->untagged;
    for (uint32_t i = 0; i < q->len && i < CALC_SCAN_MAX; i++) {
      const calc_txn *t = calc_queue_at(q, i);
      if (calc_is_hole(t)) continue;
      if (!(t->flags & CALC_TXN_EXPECTED)) return false;
      real++;
    }
  }
  return real > 0;
}

bool calc_track_reply_is_whole(const calc_conv *cv, const uint8_t *p,
                               size_t n)
{
  calc_reply_info ri;
  if (calc_reply_parse((const char *)p, n, &ri) != 0) return false;
  calc_txn *t = calc_order_head(cv);
  return t && calc_verify_verdict(t, &ri) == CALC_VERDICT_MATCH;
}

bool calc_track_reply_is_start(const calc_conv *cv, const uint8_t *p,
                               size_t n)
{
  calc_reply_info ri;
  if (n == 0 || calc_reply_parse((const char *)p, n, &ri) != 0) return false;
  calc_txn *t = calc_order_head(cv);
  return t && !cv->unsync && calc_verify_may_continue(t, &ri);
}

/* The rest of a legacy reply: joined to the last one, which is judged
 * again on the joined bytes. */
static calc_rec calc_reply_join(calc_conv *cv, const uint8_t *p, size_t n,
                                bool whole)
{
  calc_txn *t = cv->legacy_rep;
  calc_buf_set(&cv->legacy_rep_buf, &cv->legacy_rep_len,
               &cv->legacy_rep_cap, p, n, true);
  calc_reply_info ri;
  calc_reply_parse((const char *)cv->legacy_rep_buf, cv->legacy_rep_len, &ri);
  if (whole) t->verdict = calc_verify_verdict(t, &ri);
  calc_msg *m = calc_rec_new(t, t->rep_frame);
  m->joined = 1;
  m->verdict = t->verdict;
  return calc_rec_of_msg(m);
}

/* A response cut by the capture: whose it may be is not told "no
 * response".  TCP answers in order: the oldest waiting request's, which
 * waits no more.  UDP: the oldest waiting one it may be the start of,
 * which still waits (a whole response may come, retransmitted). */
static void calc_cut_reply(calc_conv *cv, const uint8_t *p, size_t n,
                           bool udp)
{
  if (!udp) {
    calc_txn *t = calc_retire_oldest(cv);
    if (t) cv->answered = t; /* the rest of its line: calc_track_lost_replies */
    return;
  }
  for (int pass = 0; pass < 2; pass++) {
    calc_queue *c = pass ? &cv->tagged : &cv->untagged;
    for (uint32_t i = 0; i < c->len && i < CALC_SCAN_MAX; i++) {
      calc_txn *t = calc_queue_at(c, i);
      if (calc_verify_may_start(t, (const char *)p, n)) {
        t->reply |= CALC_REPLY_SEEN_LOST;
        return;
      }
    }
  }
}

static calc_rec calc_pair_response(packet_info *pinfo, calc_conv *cv,
                                   const calc_reply_info *ri,
                                   const uint8_t *p, size_t n, bool udp,
                                   bool whole, bool cut, bool legacy,
                                   bool piece, uint32_t hash);

/* UDP: the datagram hashed once, for the duplicate check and for its
 * comparisons with answers kept as hashes (an untagged result is all of
 * the datagram). */
calc_rec calc_track_response(packet_info *pinfo, calc_conv *cv,
                             const calc_reply_info *ri, const uint8_t *p,
                             size_t n, bool udp, bool whole, bool cut,
                             bool legacy, bool piece)
{
  if (!udp)
    return calc_pair_response(pinfo, cv, ri, p, n, udp, whole, cut, legacy,
                              piece, 0);
  uint64_t h = calc_verify_hash(p, n);
  calc_verify_reply_begin(p, n, h);
  calc_rec r = calc_pair_response(pinfo, cv, ri, p, n, udp, whole, cut,
                                  legacy, piece, (uint32_t)h);
  calc_verify_reply_end();
  return r;
}

static calc_rec calc_pair_response(packet_info *pinfo, calc_conv *cv,
                                   const calc_reply_info *ri,
                                   const uint8_t *p, size_t n, bool udp,
                                   bool whole, bool cut, bool legacy,
                                   bool piece, uint32_t hash)
{
  calc_queue *q = NULL;
  uint32_t at = 0;
  calc_txn *t = NULL, *last = NULL;
  bool dup = false, tagless = false, uncertain = false, older = false;
  bool unretired = false;
  /* older: the requests before t will not be answered any more */
  /* partial: a TCP line cut at the segment's end (no reassembly): its tag,
   * if any, is in the rest, so it is no untagged response. */
  bool partial = piece && !cut && !udp;

  /* A reply cut by the capture is matched by nothing: its tag, if any,
   * may be what was cut.  What follows may be out of step. */
  if (cut) {
    cv->unsync = true;
    calc_cut_reply(cv, p, n, udp);
    calc_msg *m = calc_rec_new(NULL, 0);
    m->cut = 1;
    return calc_rec_of_msg(m);
  }

  /* The original server's reply in two segments: nothing waits for an
   * answer, so these bytes continue the last one. */
  if (legacy && !cut && cv->legacy_rep && !cv->untagged.len &&
      !cv->tagged.len)
    return calc_reply_join(cv, p, n, whole);

  /* calcd answers a connection's requests in order: a partial reply
   * answers the oldest waiting request when all waiting are alike (tagged
   * or not); else which one is not known yet (no pairing, and what follows
   * pairs by tag or value). */
  calc_txn *ut = calc_queue_at(&cv->untagged, 0);
  calc_txn *tt = calc_queue_at(&cv->tagged, 0);
  if (partial && ut && tt &&
      (ut->req_frame == tt->req_frame || calc_is_hole(ut))) {
    cv->unsync = true;
    calc_msg *m = calc_rec_new(NULL, 0);
    m->cut = 1;
    return calc_rec_of_msg(m);
  }
  if (partial && tt && (!ut || tt->req_frame < ut->req_frame)) {
    q = &cv->tagged;
    t = calc_queue_at(q, 0);
    uncertain = cv->unsync;
  } else if (ri->has_tag && !cut) {
    q = &cv->tagged;
    for (uint32_t i = 0; i < q->len && i < CALC_SCAN_MAX; i++)
      if (calc_txn_tag(calc_queue_at(q, i)) == ri->tag) {
        t = calc_queue_at(q, i);
        at = i;
        break;
      }
    for (uint32_t i = 0; !t && i < CALC_ANSWERED_TAGS; i++) {
      calc_txn *a = cv->answered_tags[(cv->answered_next - 1 - i) %
                                      CALC_ANSWERED_TAGS];
      if (a && calc_txn_tag(a) == ri->tag) {
        last = a;
        dup = true;
        break;
      }
    }
    if (!t && !dup && (t = calc_unretire(cv, ri->tag)) != NULL)
      unretired = true; /* in no queue now */
    /* The oldest waiting request may be a line's start whose tag was in
     * its rest (no reassembly). */
    calc_txn *h = calc_order_head(cv);
    if (!t && !dup && h && (h->classes & CALC_TXN_TAG_OPEN) &&
        cv->untagged.len) {
      q = &cv->untagged;
      at = 0;
      t = h;
      older = true;
    }
  } else {
    /* Untagged: an untagged request, or else, from a server that ignores
     * tags (the original programs read them as comments), a tagged one;
     * over UDP, and after a gap, the one whose answer the response is. */
    last = cv->answered;
    dup = udp && last && last->nrep < last->nreq &&
          calc_txn_udp(last)[1] == hash;
    /* After a gap, or where a hole in the requests comes first, order
     * alone says nothing. */
    calc_txn *h = calc_queue_at(&cv->untagged, 0);
    bool unsure = cv->unsync || (h && calc_is_hole(h));
    if (!dup && !cut && udp) {
      for (int pass = 0; !t && pass < 2; pass++) {
        calc_queue *c = pass ? &cv->tagged : &cv->untagged;
        for (uint32_t i = 0; i < c->len && i < CALC_SCAN_MAX; i++) {
          uint8_t vd = calc_verify_verdict(calc_queue_at(c, i), ri);
          if (vd == CALC_VERDICT_MATCH || vd == CALC_VERDICT_REFUSED) {
            q = c;
            at = i;
            t = calc_queue_at(c, i);
            break;
          }
        }
      }
    } else if (!dup && unsure && !partial &&
               calc_resync_far(cv, ri, &q, &at)) {
      t = calc_queue_at(q, at);
      cv->unsync = false;
    } else if (!dup && unsure && !partial && calc_order_checkable(cv)) {
      /* After a gap, an answer no waiting request has answers one the
       * capture does not show. */
      calc_msg *m = calc_rec_new(NULL, 0);
      m->unseen = 1;
      return calc_rec_of_msg(m);
    }
    if (!dup && !t && !udp && calc_holes_only(cv)) {
      /* Only hidden requests wait: this answers one of them. */
      calc_msg *m = calc_rec_new(NULL, 0);
      m->unseen = 1;
      return calc_rec_of_msg(m);
    }
    if (!dup && !t) {
      bool passed = !udp && calc_holes_pass(cv); /* given up on */
      q = calc_order_queue(cv);
      at = 0;
      if (udp && last && calc_txn_udp(last)[1] == hash)
        dup = true;             /* the network duplicated the answer */
      else
        t = calc_queue_at(q, 0); /* in order (a wrong answer is flagged) */
      if (udp && t && (t->reply & CALC_REPLY_SEEN_SKIPPED) &&
          calc_verify_verdict(t, ri) == CALC_VERDICT_MISMATCH) {
        /* A newer request was answered before it: its own response may
         * still come, reordered, and this one is not its answer: it
         * answers a request the capture does not show, or one too late
         * to be waited for (CALC_REORDER_MAX). */
        calc_msg *m = calc_rec_new(NULL, 0);
        m->unseen = 1;
        return calc_rec_of_msg(m);
      }
      uncertain = t && (unsure || passed || cut ||
                        (t->flags & CALC_TXN_CUT));
    }
    tagless = t && q == &cv->tagged;
    older = t && q == &cv->untagged; /* answered in order */
  }

  if (t && older && at > 0 && udp) {
    /* Datagrams may be reordered: the requests before t still wait for
     * their responses, up to CALC_REORDER_MAX of them (older ones are
     * taken as unanswered, so that they do not fill the scan). */
    uint32_t drop = at > CALC_REORDER_MAX ? at - CALC_REORDER_MAX : 0;
    for (uint32_t i = drop; i < at; i++)
      calc_queue_at(q, i)->reply |= CALC_REPLY_SEEN_SKIPPED;
    q->head += drop;
    q->len -= drop;
    at -= drop;
    older = false;
  } else if (t && older && at > 0) {
    /* TCP answers in order: those before t were answered in what the
     * capture does not show (a resync follows a gap or a cut). */
    for (uint32_t i = 0; i < at; i++)
      calc_queue_at(q, i)->reply |= CALC_REPLY_SEEN_LOST;
  }
  if (t) {
    if (!unretired) calc_queue_take(q, at, older);
    t->rep_frame = pinfo->num;
    t->nrep = 1;
    if (udp) calc_txn_udp(t)[1] = hash;
    if (ri->has_tag && !cut)
      cv->answered_tags[cv->answered_next++ % CALC_ANSWERED_TAGS] = t;
    else
      cv->answered = t;
    uint8_t vd = whole && !uncertain && !cut ? calc_verify_verdict(t, ri)
                                              : CALC_VERDICT_NONE;
    if (legacy && !cut) {
      /* It may continue in the next segment: judged then. */
      if (vd == CALC_VERDICT_MISMATCH && calc_verify_may_continue(t, ri))
        vd = CALC_VERDICT_NONE;
      cv->legacy_rep = t;
      calc_buf_set(&cv->legacy_rep_buf, &cv->legacy_rep_len,
                   &cv->legacy_rep_cap, p, n, false);
    } else {
      cv->legacy_rep = NULL;
    }
    if (uncertain) t->flags |= CALC_TXN_UNCERTAIN;
    if (tagless || cut) {
      calc_msg *m = calc_rec_new(t, 0);
      m->tagless = tagless;
      m->cut = cut;
      m->uncertain = uncertain;
      m->verdict = t->verdict = vd;
      return calc_rec_of_msg(m);
    }
    t->verdict = vd;
    return calc_rec_of_rep(t);
  }
  if (!dup) {
    calc_msg *m = calc_rec_new(NULL, 0);
    m->unseen = cv->unsync || cut || calc_hole_waits(cv);
    m->cut = cut;
    if (ri->has_tag && !cut) /* its request may come after it */
      calc_early_keep(pinfo, cv, m, ri, p, n, whole, hash);
    return calc_rec_of_msg(m);
  }
  if (last->nrep < G_MAXUINT8) last->nrep++;
  calc_msg *m = calc_rec_new(last, last->rep_frame);
  if (whole && !cut) m->verdict = calc_verify_verdict(last, ri);
  return calc_rec_of_msg(m);
}

void calc_pair_init(void)
{
  if (!calc_pair_ctx) calc_pair_ctx = calc_ctx_new(NULL);
  calc_joins = wmem_map_new(calc_track_pool(), g_direct_hash, g_direct_equal);
}

void calc_pair_cleanup(void)
{
  calc_ctx_free(calc_pair_ctx);
  calc_pair_ctx = NULL;
  calc_joins = NULL;
  calc_time_set = false;
  if (calc_times_far) g_array_free(calc_times_far, TRUE);
  calc_times_far = NULL;
}
