/* SPDX-License-Identifier: MIT
 *
 * packet-calc.c: the calc protocol dissector (docs/DISSECTOR.md; the wire
 * format is docs/PROTOCOL.md, its code lib/calc_proto.h).
 *
 * Framing: a UDP datagram is one message; on TCP a message is a line ending
 * in LF, reassembled across segments, except in a direction that has never
 * sent LF: there (the original Python programs) each segment is one
 * unterminated message.  Requests and responses are paired per conversation,
 * by tag when the request has one and otherwise in order, and each response
 * is checked against what the calc core computes for its request.
 *
 * Everything that depends on earlier frames (pairing, verification, the
 * framing mode) is decided in the first pass and saved per message; later
 * passes only read it.
 */
#include <string.h>

#include <epan/packet.h>
#include <epan/conversation.h>
#include <epan/expert.h>
#include <epan/prefs.h>
#include <epan/prefs-int.h>
#include <epan/proto_data.h>
#include <epan/strutil.h>
#include <epan/tap.h>
#include <epan/dissectors/packet-tcp.h>
#include <wsutil/utf8_entities.h>

#include "calc_proto.h"
#include "packet-calc.h"

/* Bytes of a message shown in the Info column before an ellipsis. */
#define CALC_INFO_MAX 48
/* Unanswered requests a response looks through (oldest first) for its
 * tag or, over UDP, for its answer; and a UDP request for the one it
 * repeats.  Bounds the work per message when replies never come. */
#define CALC_SCAN_MAX 256
/* Answered tagged requests remembered, to tell a duplicate response. */
#define CALC_ANSWERED_TAGS 8
/* Longest TCP line reassembled; past it the bytes are shown as an
 * unterminated over-long line. */
#define CALC_REASSEMBLY_MAX (1u << 20)
/* Slots of the first pass's conversation cache (calc_conv_find). */
#define CALC_CONV_SLOTS 1024
/* Longest datagram or first line the heuristic dissectors consider. */
#define CALC_HEUR_MAX (CALC_MAX_REQUEST_LEN + 2 + CALC_TAG_MAX_DIGITS + 2)

/* calc.framing */
enum {
  CALC_FRAMING_DATAGRAM = 1,
  CALC_FRAMING_LINE,
  CALC_FRAMING_LEGACY,
  CALC_FRAMING_PARTIAL,     /* start of a line cut at the segment's end */
  CALC_FRAMING_CONTINUATION,/* rest of such a line: not a message */
  CALC_FRAMING_FINAL        /* unterminated last line, ended by FIN */
};
/* File-scope per-frame key: the frame's TCP data starts mid-line. */
#define CALC_KEY_CONTINUES G_MAXUINT32

/* Where the dissector stands. */
static int proto_calc = -1;
static int calc_tap = -1;
static dissector_handle_t calc_udp_handle;
static dissector_handle_t calc_tcp_handle;
static gboolean calc_desegment = TRUE;
static gboolean calc_verify = TRUE;
/* The core's evaluation context, for the whole file (created in init). */
static calc_ctx *calc_core;

static int hf_calc_type = -1;
static int hf_calc_framing = -1;
static int hf_calc_expression = -1;
static int hf_calc_tag = -1;
static int hf_calc_operators = -1;
static int hf_calc_operator = -1;
static int hf_calc_op_class = -1;
static int hf_calc_result = -1;
static int hf_calc_error_kind = -1;
static int hf_calc_error_message = -1;
static int hf_calc_response_in = -1;
static int hf_calc_response_to = -1;
static int hf_calc_time = -1;
static int hf_calc_retransmission_of = -1;
static int hf_calc_duplicate_of = -1;
static int hf_calc_expected = -1;
static int hf_calc_verified = -1;
static int hf_calc_refused = -1;
static int hf_calc_udp_bound = -1;

static gint ett_calc = -1;

/* One expert info per error kind, generated from the core's table. */
static expert_field ei_calc_error_reply[CALC_E_COUNT_];
static expert_field ei_calc_error_unknown = EI_INIT;
static expert_field ei_calc_malformed_request = EI_INIT;
static expert_field ei_calc_empty_request = EI_INIT;
static expert_field ei_calc_malformed_response = EI_INIT;
static expert_field ei_calc_too_long = EI_INIT;
static expert_field ei_calc_unterminated = EI_INIT;
static expert_field ei_calc_mismatch = EI_INIT;
static expert_field ei_calc_no_request = EI_INIT;
static expert_field ei_calc_no_response = EI_INIT;
static expert_field ei_calc_retransmission = EI_INIT;
static expert_field ei_calc_duplicate_response = EI_INIT;
static expert_field ei_calc_tag_reused = EI_INIT;
static expert_field ei_calc_amplification = EI_INIT;

static const value_string calc_type_vals[] = {
  {CALC_TYPE_REQUEST, "Request"},
  {CALC_TYPE_RESPONSE, "Response"},
  {0, NULL}
};

static const value_string calc_framing_vals[] = {
  {CALC_FRAMING_DATAGRAM, "Datagram"},
  {CALC_FRAMING_LINE, "Line"},
  {CALC_FRAMING_LEGACY, "Legacy (one unterminated message per segment)"},
  {CALC_FRAMING_PARTIAL, "Unterminated line (not reassembled)"},
  {CALC_FRAMING_CONTINUATION, "Rest of a line (not reassembled)"},
  {CALC_FRAMING_FINAL, "Last line, ended by the client's FIN"},
  {0, NULL}
};

/* CALC_CLASS_* bits. */
static const value_string calc_op_class_vals[] = {
  {0, "none"},
  {CALC_CLASS_ADDSUB, "add/sub"},
  {CALC_CLASS_MULDIV, "mul/div"},
  {CALC_CLASS_ADDSUB | CALC_CLASS_MULDIV, "mixed"},
  {0, NULL}
};

/* ---- request/response tracking (first pass) ---- */

/* Per message, saved in the first pass. */
typedef struct calc_msg {
  struct calc_txn *txn;    /* its transaction; NULL: a response to nothing */
  guint32 repeats;         /* frame of the message it repeats, or 0 */
  guint8 verdict;          /* responses: CALC_VERDICT_* */
  guint8 tag_reused;       /* requests: tag still outstanding */
  guint8 resent;           /* TCP data seen before (retransmission that
                              TCP passed on): not paired */
} calc_msg;

/* One request and what answered it, in one allocation with its bytes.  A
 * retransmitted request joins the transaction of the request it repeats. */
typedef struct calc_txn {
  struct calc_txn *next;   /* in its list of unanswered requests */
  calc_msg req_msg;        /* the request's record */
  calc_msg rep_msg;        /* its first response's record */
  nstime_t req_time;
  guint32 req_frame, rep_frame;
  guint32 req_n;           /* request bytes, CR/LF removed (UDP bound) */
  guint32 rep_hash;        /* first response's bytes, hashed */
  guint32 tag;
  guint32 nreq, nrep;      /* requests (with retransmissions), responses */
  guint16 exp_len;
  guint8 info_len, info_cut; /* expression bytes for Info: at most
                                CALC_INFO_MAX (info_cut: there were more) */
  guint8 has_expected;
  guint8 has_tag;
  guint8 classes;          /* CALC_CLASS_* bits of the expression */
  guint8 exp_kind;         /* calc_err of the expected reply */
  guint8 bounded_kind;     /* UDP: calc_err of the reply shortened to the
                              amplification bound (= exp_kind when it fits) */
  guint8 bytes[];          /* info bytes; the core's reply text, tag
                              removed, NUL-terminated (has_expected); UDP:
                              the request bytes, to spot retransmissions */
} calc_txn;

static const char *calc_txn_expected(const calc_txn *t)
{
  return t->has_expected ? (const char *)t->bytes + t->info_len : NULL;
}

static const guint8 *calc_txn_req(const calc_txn *t)
{
  return t->bytes + t->info_len + (t->has_expected ? t->exp_len + 1 : 0);
}

/* Unanswered requests, oldest first. */
typedef struct calc_list {
  calc_txn *head, *tail;
} calc_list;

/* Per conversation. */
typedef struct calc_conv {
  address srv_addr;        /* the server's side */
  guint32 srv_port;
  guint32 first_lf[2];     /* TCP, per direction (0: to the server): first
                              frame that carried LF; 0 while none did */
  guint32 tcp_next[2];     /* TCP, per direction: sequence number after the
                              data seen so far (valid when tcp_seen) */
  gboolean tcp_seen[2];
  gboolean midline[2];     /* TCP, per direction: the last segment ended in
                              an unterminated line (no reassembly) */
  calc_list untagged, tagged;
  calc_txn *answered;      /* latest untagged request answered */
  calc_txn *answered_tags[CALC_ANSWERED_TAGS]; /* latest tagged, a ring */
  guint32 answered_next;
} calc_conv;

/* What one parse of a request tells. */
typedef struct calc_req_view {
  calc_request rq;
  size_t shown;            /* expression bytes without blanks before a tag */
  size_t tag_end;          /* end of the tag digits */
  calc_err parse_err;      /* CALC_OK, or why the expression is refused */
  const char *parse_msg;   /* packet scope, or NULL */
  unsigned classes, ops;
  gboolean too_long;       /* over CALC_MAX_REQUEST_LEN, tag included: the
                              server answers too-long, without the tag */
  gboolean empty;          /* no bytes: the server sends no reply */
  gboolean parsed;         /* parse_err, parse_msg, classes, ops are set */
} calc_req_view;

static guint32 calc_hash(const guint8 *p, size_t n)
{
  guint32 h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

/* n bytes without trailing blanks (a client may pad UDP requests). */
static size_t calc_trim(const guint8 *p, size_t n)
{
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
  return n;
}

/* The n bytes at p as printable Info text, without trailing blanks, cut
 * after CALC_INFO_MAX bytes (or marked cut anyway). */
static const char *calc_info_text(wmem_allocator_t *scope, const guint8 *p,
                                  size_t n, gboolean cut)
{
  n = calc_trim(p, n);
  if (n > CALC_INFO_MAX) {
    n = CALC_INFO_MAX;
    cut = TRUE;
  }
  size_t i = 0;
  while (i < n && p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') i++;
  if (i < n) { /* escapes needed */
    const char *text = format_text(scope, p, n);
    return cut ? wmem_strconcat(scope, text, UTF8_HORIZONTAL_ELLIPSIS, NULL)
               : text;
  }
  size_t e = cut ? sizeof UTF8_HORIZONTAL_ELLIPSIS - 1 : 0;
  char *text = (char *)wmem_alloc(scope, n + e + 1);
  memcpy(text, p, n);
  memcpy(text + n, UTF8_HORIZONTAL_ELLIPSIS, e);
  text[n + e] = '\0';
  return text;
}

/* The conversation's state; on first sight, decide which side is the
 * server: the side whose port matched our port table, else (heuristics,
 * equal ports) the receiver of this first message. */
static calc_conv *calc_conv_get(packet_info *pinfo, gboolean heuristic)
{
  conversation_t *conv = find_or_create_conversation(pinfo);
  calc_conv *cv = (calc_conv *)conversation_get_proto_data(conv, proto_calc);
  if (cv) return cv;

  cv = wmem_new0(wmem_file_scope(), calc_conv);
  gboolean srv_is_src = !heuristic && pinfo->srcport != pinfo->destport &&
                        pinfo->match_uint == pinfo->srcport;
  copy_address_wmem(wmem_file_scope(), &cv->srv_addr,
                    srv_is_src ? &pinfo->src : &pinfo->dst);
  cv->srv_port = srv_is_src ? pinfo->srcport : pinfo->destport;
  conversation_add_proto_data(conv, proto_calc, cv);
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

static calc_conv *calc_conv_find(packet_info *pinfo, gboolean heuristic,
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

static gboolean calc_to_server(const calc_conv *cv, const packet_info *pinfo)
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
  size_t len = calc_answer(calc_core, CALC_ROLE_ALL, p, n, SIZE_MAX, out, cap,
                           kind);
  *bounded = *kind;
  if (udp && !v->too_long && len > calc_udp_bound(n)) {
    char small[CALC_ANSWER_MAX + 1];
    calc_answer(calc_core, CALC_ROLE_ALL, p, n, calc_udp_bound(n), small,
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
    return calc_classes(calc_core);
  case CALC_E_TOO_LARGE:
    return calc_parse(calc_core, v->rq.expr, v->rq.expr_len) == CALC_OK
               ? calc_classes(calc_core)
               : 0;
  default: /* refused before or while parsing */
    return 0;
  }
}

/* First pass: file a request. */
static calc_msg *calc_track_request(packet_info *pinfo, calc_conv *cv,
                                    const calc_req_view *v, const guint8 *p,
                                    size_t n, gboolean udp, gboolean whole)
{
  if (v->empty) /* not answered: not a transaction */
    return wmem_new0(wmem_file_scope(), calc_msg);
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
        calc_msg *m = wmem_new0(wmem_file_scope(), calc_msg);
        t->nreq++;
        m->txn = t;
        m->repeats = t->req_frame;
        return m;
      }
      reused = v->rq.has_tag;
    }
  }

  static char out[CALC_ANSWER_MAX + 1];
  calc_err kind = CALC_OK, bounded = CALC_OK;
  size_t exp_len = 0;
  gboolean verify = calc_verify && calc_core && whole;
  if (verify)
    exp_len = calc_expected(v, (const char *)p, n, udp, out, sizeof out,
                            &kind, &bounded);
  size_t info_len = calc_trim((const guint8 *)v->rq.expr, v->shown);
  gboolean cut = info_len > CALC_INFO_MAX;
  if (cut) info_len = CALC_INFO_MAX;

  calc_txn *t = (calc_txn *)wmem_alloc0(wmem_file_scope(), sizeof *t +
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
  t->req_msg.txn = t;
  t->req_msg.tag_reused = (guint8)reused;
  return &t->req_msg;
}

/* First pass: pair a response with its request: the oldest unanswered
 * request with its tag, or else the oldest untagged one; over UDP (replies
 * may be lost) the oldest whose answer the response matches, when
 * verification is on.  A response repeating the answer just given is a
 * duplicate, not the answer to the next request. */
static calc_msg *calc_track_response(packet_info *pinfo, calc_conv *cv,
                                     const calc_reply_info *ri,
                                     const guint8 *p, size_t n, gboolean udp,
                                     gboolean whole)
{
  guint32 hash = calc_hash(p, n);
  calc_list *l = ri->has_tag ? &cv->tagged : &cv->untagged;
  calc_txn *t = NULL, *prev = NULL, *last = NULL;
  gboolean dup = FALSE;

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
    last = cv->answered;
    dup = udp && last && last->nrep < last->nreq && last->rep_hash == hash;
    if (!dup && udp && calc_verify) {
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
      if (udp && last && last->rep_hash == hash)
        dup = TRUE;             /* the network duplicated the answer */
      else
        t = l->head;            /* in order (a wrong answer is flagged) */
    }
  }

  calc_msg *m;
  if (t) {
    calc_list_take(l, prev, t, !ri->has_tag);
    t->rep_frame = pinfo->num;
    t->rep_hash = hash;
    t->nrep = 1;
    if (ri->has_tag)
      cv->answered_tags[cv->answered_next++ % CALC_ANSWERED_TAGS] = t;
    else
      cv->answered = t;
    m = &t->rep_msg;
    m->txn = t;
  } else {
    m = wmem_new0(wmem_file_scope(), calc_msg);
    if (dup) {
      last->nrep++;
      m->txn = last;
      m->repeats = last->rep_frame;
    }
  }
  if (m->txn && whole) m->verdict = calc_verdict_of(m->txn, ri);
  return m;
}

/* A message's record is found by its place in the frame: which call of
 * this dissector in the frame (TCP may make more than one), and its index
 * in that call.  Messages come in the same order in every pass. */
static guint32 calc_msg_key(const packet_info *pinfo, guint32 index)
{
  return (guint32)pinfo->curr_proto_layer_num << 24 | (index & 0xffffff);
}

static calc_msg *calc_msg_get(packet_info *pinfo, guint32 key)
{
  return (calc_msg *)p_get_proto_data(wmem_file_scope(), pinfo, proto_calc,
                                      key);
}

static calc_msg *calc_msg_put(packet_info *pinfo, guint32 key,
                              calc_msg *m)
{
  p_add_proto_data(wmem_file_scope(), pinfo, proto_calc, key, m);
  return m;
}

/* ---- dissection ---- */

/* The request's parts; with parse (a tree or the tap wants them), also
 * what the core's parser says. */
static void calc_view_request(packet_info *pinfo, const guint8 *p, size_t n,
                              gboolean parse, calc_req_view *v)
{
  memset(v, 0, sizeof *v);
  v->empty = n == 0;
  v->too_long = n > CALC_MAX_REQUEST_LEN;
  if (v->too_long) { /* not read by the server: no tag */
    v->rq.expr = (const char *)p;
    v->rq.expr_len = v->shown = v->tag_end = n;
    v->parse_err = CALC_E_TOO_LONG;
    v->parsed = TRUE;
    return;
  }
  calc_request_split((const char *)p, n, &v->rq);
  v->tag_end = n;
  while (v->tag_end > 0 && (p[v->tag_end - 1] == ' ' ||
                            p[v->tag_end - 1] == '\t'))
    v->tag_end--;
  v->shown = v->rq.expr_len;
  if (v->rq.has_tag)
    while (v->shown > 0 && (p[v->shown - 1] == ' ' || p[v->shown - 1] == '\t'))
      v->shown--;
  if (!calc_core || !parse) return;
  v->parsed = TRUE;
  v->parse_err = calc_parse(calc_core, v->rq.expr, v->rq.expr_len);
  if (v->parse_err != CALC_OK)
    v->parse_msg = wmem_strdup(pinfo->pool, calc_errmsg(calc_core));
  else {
    v->classes = calc_classes(calc_core);
    v->ops = calc_ops(calc_core);
  }
}

/* "+ *": the binary operators of ops, in table order. */
static const char *calc_ops_text(wmem_allocator_t *scope, unsigned ops)
{
  wmem_strbuf_t *b = wmem_strbuf_new(scope, "");
  for (int op = 0; op < CALC_OP_COUNT_; op++) {
    if (!(ops & (1u << op)) || !calc_op_class((calc_op)op)) continue;
    if (wmem_strbuf_get_len(b)) wmem_strbuf_append_c(b, ' ');
    wmem_strbuf_append(b, calc_op_symbol((calc_op)op));
  }
  return wmem_strbuf_get_str(b);
}

static proto_item *calc_add_generated_uint(proto_tree *tree, int hf,
                                           tvbuff_t *tvb, int off, int len,
                                           guint32 v)
{
  proto_item *it = proto_tree_add_uint(tree, hf, tvb, off, len, v);
  proto_item_set_generated(it);
  return it;
}

/* The message head shared by both types; returns its subtree.  Info gets
 * "<Type> <text>", and " (<req>)" when req is not NULL. */
static proto_tree *calc_add_head(tvbuff_t *tvb, packet_info *pinfo,
                                 proto_tree *tree, int offset, int total,
                                 guint8 type, guint8 framing,
                                 const char *text, const char *req,
                                 gboolean first)
{
  const char *name = val_to_str_const(type, calc_type_vals, "?");
  col_set_str(pinfo->cinfo, COL_PROTOCOL, "CALC");
  if (first) /* replaces what follows TCP's fence, if any */
    col_add_lstr(pinfo->cinfo, COL_INFO, name, " ", text,
                 req ? " (" : "", req ? req : "", req ? ")" : "",
                 COL_ADD_LSTR_TERMINATOR);
  else
    col_append_lstr(pinfo->cinfo, COL_INFO, ", ", name, " ", text,
                    req ? " (" : "", req ? req : "", req ? ")" : "",
                    COL_ADD_LSTR_TERMINATOR);
  if (!tree) return NULL;

  proto_item *ti = proto_tree_add_item(tree, proto_calc, tvb, offset, total,
                                       ENC_NA);
  proto_item_append_text(ti, ", %s: %s", name, text);
  if (req) proto_item_append_text(ti, " (%s)", req);
  proto_tree *st = proto_item_add_subtree(ti, ett_calc);
  calc_add_generated_uint(st, hf_calc_type, tvb, offset, 0, type);
  proto_item *fi = calc_add_generated_uint(st, hf_calc_framing, tvb, offset,
                                           0, framing);
  if (framing == CALC_FRAMING_PARTIAL)
    expert_add_info(pinfo, fi, &ei_calc_unterminated);
  return st;
}

static void calc_tap_queue(packet_info *pinfo, const calc_tap_rec *r)
{
  if (!have_tap_listener(calc_tap)) return;
  calc_tap_rec *c = wmem_new(pinfo->pool, calc_tap_rec);
  *c = *r;
  tap_queue_packet(calc_tap, pinfo, c);
}

/* How one message arrived. */
typedef struct calc_where {
  calc_conv *cv;
  guint32 index;     /* messages so far in this call */
  gboolean to_server;
  gboolean udp;
  gboolean resent;   /* TCP: bytes seen before in this direction */
  guint8 framing;    /* CALC_FRAMING_* */
  guint32 raw_len;   /* UDP: the datagram's payload length */
  gboolean fin;      /* TCP: the segment ends the sender's stream */
} calc_where;

/* The record of this message: the first pass files it (resent TCP data is
 * filed but not paired), later passes find it. */
static calc_msg *calc_msg_of(packet_info *pinfo, guint32 key,
                             const calc_where *w, const calc_req_view *v,
                             const calc_reply_info *ri, const guint8 *p,
                             size_t n)
{
  if (PINFO_FD_VISITED(pinfo)) return calc_msg_get(pinfo, key);
  calc_msg *m;
  if (w->resent) {
    m = wmem_new0(wmem_file_scope(), calc_msg);
    m->resent = 1;
  } else if (v) {
    m = calc_track_request(pinfo, w->cv, v, p, n, w->udp,
                           w->framing != CALC_FRAMING_PARTIAL);
  } else {
    m = calc_track_response(pinfo, w->cv, ri, p, n, w->udp,
                            w->framing != CALC_FRAMING_PARTIAL);
  }
  return calc_msg_put(pinfo, key, m);
}

static void calc_add_resent(packet_info *pinfo, proto_item *it)
{
  expert_add_info_format(pinfo, it, &ei_calc_retransmission,
                         "Retransmitted TCP data: not paired again");
}

static void dissect_calc_request(tvbuff_t *tvb, packet_info *pinfo,
                                 proto_tree *tree, const calc_where *w,
                                 guint32 key, gboolean first, int offset,
                                 const guint8 *p, size_t n, int total)
{
  calc_req_view v;
  calc_view_request(pinfo, p, n, tree || have_tap_listener(calc_tap), &v);
  calc_msg *m = calc_msg_of(pinfo, key, w, &v, NULL, p, n);
  calc_txn *t = m ? m->txn : NULL;

  proto_tree *st = calc_add_head(tvb, pinfo, tree, offset, total,
                                 CALC_TYPE_REQUEST, w->framing,
                                 calc_info_text(pinfo->pool, p, n, FALSE),
                                 NULL, first);
  proto_item *ei = proto_tree_add_item(st, hf_calc_expression, tvb, offset,
                                       (int)v.shown, ENC_ASCII);
  if (v.rq.has_tag)
    proto_tree_add_uint(st, hf_calc_tag, tvb, offset + (int)v.rq.expr_len,
                        (int)(v.tag_end - v.rq.expr_len), v.rq.tag);
  if (st && v.parse_err == CALC_OK && calc_core) {
    proto_item *it = proto_tree_add_string(st, hf_calc_operators, tvb, offset,
        (int)v.shown, calc_ops_text(pinfo->pool, v.ops));
    proto_item_set_generated(it);
    for (int op = 0; op < CALC_OP_COUNT_; op++) {
      if (!(v.ops & (1u << op)) || !calc_op_class((calc_op)op)) continue;
      it = proto_tree_add_string(st, hf_calc_operator, tvb, offset,
                                 (int)v.shown, calc_op_symbol((calc_op)op));
      proto_item_set_generated(it);
    }
    calc_add_generated_uint(st, hf_calc_op_class, tvb, offset, (int)v.shown,
                            v.classes);
  }
  if (v.too_long)
    expert_add_info_format(pinfo, ei, &ei_calc_too_long,
        "Request of %zu bytes exceeds the limit of %u bytes",
        n, (unsigned)CALC_MAX_REQUEST_LEN);
  else if (v.empty)
    expert_add_info(pinfo, ei, &ei_calc_empty_request);
  else if (v.parse_err != CALC_OK)
    expert_add_info_format(pinfo, ei, &ei_calc_malformed_request,
        "Malformed request: %s: %s", calc_err_token(v.parse_err),
        v.parse_msg ? v.parse_msg : "");

  if (m && m->resent)
    calc_add_resent(pinfo, ei);
  if (m && m->repeats) {
    proto_item *it = calc_add_generated_uint(st, hf_calc_retransmission_of,
                                             tvb, 0, 0, m->repeats);
    expert_add_info_format(pinfo, it, &ei_calc_retransmission,
                           "Retransmission of the request in frame %u",
                           m->repeats);
  }
  if (m && m->tag_reused)
    expert_add_info(pinfo, ei, &ei_calc_tag_reused);
  if (t && t->rep_frame)
    calc_add_generated_uint(st, hf_calc_response_in, tvb, 0, 0, t->rep_frame);
  else if (t && PINFO_FD_VISITED(pinfo))
    expert_add_info(pinfo, ei, &ei_calc_no_response);
  if (t && t->has_expected) {
    proto_item *it = proto_tree_add_string(st, hf_calc_expected, tvb, 0, 0,
                                           calc_txn_expected(t));
    proto_item_set_generated(it);
  }

  if (v.empty) return; /* not a request the server answers */
  calc_tap_rec r = {0};
  r.type = CALC_TYPE_REQUEST;
  r.repeated = m && (m->repeats || m->resent);
  r.malformed = v.parse_err != CALC_OK;
  r.classes = v.classes;
  r.ops = v.ops;
  calc_tap_queue(pinfo, &r);
}

static void dissect_calc_response(tvbuff_t *tvb, packet_info *pinfo,
                                  proto_tree *tree, const calc_where *w,
                                  guint32 key, gboolean first, int offset,
                                  const guint8 *p, size_t n, int total)
{
  calc_reply_info ri;
  int rc = calc_reply_parse((const char *)p, n, &ri);
  calc_msg *m = calc_msg_of(pinfo, key, w, NULL, &ri, p, n);
  calc_txn *t = m ? m->txn : NULL;

  const char *req = t ? calc_info_text(pinfo->pool, t->bytes, t->info_len,
                                       t->info_cut)
                     : NULL;
  proto_tree *st = calc_add_head(tvb, pinfo, tree, offset, total,
                                 CALC_TYPE_RESPONSE, w->framing,
                                 calc_info_text(pinfo->pool, p, n, FALSE),
                                 req, first);
  proto_item *ri_item;
  if (ri.is_error) {
    int tok = (int)(ri.token - (const char *)p);
    ri_item = proto_tree_add_item(st, hf_calc_error_kind, tvb, offset + tok,
                                  (int)ri.token_len, ENC_ASCII);
    if (ri.kind != CALC_OK)
      proto_item_append_text(ri_item, " (%s)", calc_err_describe(ri.kind));
    if (ri.body_len)
      proto_tree_add_item(st, hf_calc_error_message, tvb,
                          offset + (int)(ri.body - (const char *)p),
                          (int)ri.body_len, ENC_ASCII);
    if (ri.kind != CALC_OK)
      expert_add_info(pinfo, ri_item, &ei_calc_error_reply[ri.kind]);
    else
      expert_add_info(pinfo, ri_item, &ei_calc_error_unknown);
  } else {
    ri_item = proto_tree_add_item(st, hf_calc_result, tvb, offset,
                                  (int)ri.body_len, ENC_ASCII);
    if (rc != 0)
      expert_add_info(pinfo, ri_item, &ei_calc_malformed_response);
  }
  if (ri.has_tag) {
    size_t at = ri.body_len; /* body, then " #<tag>" */
    if (ri.is_error) at = (size_t)(ri.body - (const char *)p) + ri.body_len;
    if (at < n) at++;
    proto_tree_add_uint(st, hf_calc_tag, tvb, offset + (int)at,
                        (int)(n - at), ri.tag);
  }
  if (n > CALC_ANSWER_MAX)
    expert_add_info_format(pinfo, ri_item, &ei_calc_too_long,
        "Response of %zu bytes exceeds the longest possible reply (%u bytes)",
        n, (unsigned)CALC_ANSWER_MAX);

  calc_tap_rec r = {0};
  r.type = CALC_TYPE_RESPONSE;
  r.is_error = ri.is_error;
  if (ri.is_error)
    r.err_token = format_text(pinfo->pool, (const guint8 *)ri.token,
                              ri.token_len);
  if (m && m->resent) {
    calc_add_resent(pinfo, ri_item);
    r.repeated = TRUE;
    calc_tap_queue(pinfo, &r);
    return;
  }
  if (!t) {
    expert_add_info(pinfo, ri_item, &ei_calc_no_request);
    calc_tap_queue(pinfo, &r);
    return;
  }
  r.matched = TRUE;
  r.repeated = m->repeats != 0;
  r.verdict = m->verdict;
  calc_add_generated_uint(st, hf_calc_response_to, tvb, 0, 0, t->req_frame);
  nstime_delta(&r.time, &pinfo->abs_ts, &t->req_time);
  proto_item *it = proto_tree_add_time(st, hf_calc_time, tvb, 0, 0, &r.time);
  proto_item_set_generated(it);
  if (m->repeats) {
    it = calc_add_generated_uint(st, hf_calc_duplicate_of, tvb, 0, 0,
                                 m->repeats);
    expert_add_info_format(pinfo, it, &ei_calc_duplicate_response,
                           "Duplicate of the response in frame %u",
                           m->repeats);
  }
  if (t->has_expected) {
    it = proto_tree_add_string(st, hf_calc_expected, tvb, 0, 0,
                               calc_txn_expected(t));
    proto_item_set_generated(it);
  }
  if (m->verdict == CALC_VERDICT_MATCH || m->verdict == CALC_VERDICT_MISMATCH) {
    it = proto_tree_add_boolean(st, hf_calc_verified, tvb, 0, 0,
                                m->verdict == CALC_VERDICT_MATCH);
    proto_item_set_generated(it);
    if (m->verdict == CALC_VERDICT_MISMATCH)
      expert_add_info_format(pinfo, ri_item, &ei_calc_mismatch,
                             "Response differs from the core's answer: %s",
                             calc_txn_expected(t));
  } else if (m->verdict == CALC_VERDICT_REFUSED) {
    it = proto_tree_add_boolean(st, hf_calc_refused, tvb, 0, 0, TRUE);
    proto_item_set_generated(it);
  }
  if (w->udp) {
    guint32 bound = (guint32)calc_udp_bound(t->req_n);
    it = calc_add_generated_uint(st, hf_calc_udp_bound, tvb, 0, 0, bound);
    if (w->raw_len > bound)
      expert_add_info_format(pinfo, it, &ei_calc_amplification,
          "UDP response of %u bytes exceeds the bound of %u bytes for a "
          "%u-byte request", w->raw_len, bound, t->req_n);
  }
  calc_tap_queue(pinfo, &r);
}

/* One message: n bytes at offset without the line end, total with it. */
static void dissect_calc_message(tvbuff_t *tvb, packet_info *pinfo,
                                 proto_tree *tree, calc_where *w,
                                 int offset, int n, int total)
{
  static const guint8 empty[1] = {0};
  guint32 key = calc_msg_key(pinfo, w->index);
  gboolean first = w->index++ == 0 && pinfo->curr_proto_layer_num <= 1;
  const guint8 *p = n > 0 ? tvb_get_ptr(tvb, offset, n) : empty;

  if (w->to_server)
    dissect_calc_request(tvb, pinfo, tree, w, key, first, offset, p,
                         (size_t)n, total);
  else
    dissect_calc_response(tvb, pinfo, tree, w, key, first, offset, p,
                          (size_t)n, total);
}

/* The rest of a line cut at the end of an earlier segment. */
static void dissect_calc_continuation(tvbuff_t *tvb, packet_info *pinfo,
                                      proto_tree *tree, calc_where *w,
                                      int offset, int len)
{
  proto_item *ti = proto_tree_add_item(tree, proto_calc, tvb, offset, len,
                                       ENC_NA);
  proto_item_append_text(ti, ", rest of a line (not reassembled)");
  proto_tree *st = proto_item_add_subtree(ti, ett_calc);
  calc_add_generated_uint(st, hf_calc_framing, tvb, offset, 0,
                          CALC_FRAMING_CONTINUATION);
  w->index++; /* later messages append to Info */
  col_set_str(pinfo->cinfo, COL_PROTOCOL, "CALC");
  col_add_str(pinfo->cinfo, COL_INFO, "Rest of a line");
}

/* Length of the len bytes at offset without their trailing CR/LF. */
static int calc_text_len(tvbuff_t *tvb, int offset, int len)
{
  if (len <= 0) return 0;
  return (int)calc_strip_eol((const char *)tvb_get_ptr(tvb, offset, len),
                             (size_t)len);
}

static int dissect_calc_udp_common(tvbuff_t *tvb, packet_info *pinfo,
                                   proto_tree *tree, gboolean heuristic)
{
  calc_where w = {0};
  w.cv = calc_conv_find(pinfo, heuristic, NULL);
  w.to_server = calc_to_server(w.cv, pinfo);
  w.udp = TRUE;
  w.framing = CALC_FRAMING_DATAGRAM;
  w.raw_len = tvb_reported_length(tvb);
  int len = (int)tvb_captured_length(tvb);
  dissect_calc_message(tvb, pinfo, tree, &w, 0, calc_text_len(tvb, 0, len),
                       len);
  return len;
}

static int dissect_calc_udp(tvbuff_t *tvb, packet_info *pinfo,
                            proto_tree *tree, void *data _U_)
{
  return dissect_calc_udp_common(tvb, pinfo, tree, FALSE);
}

/* First pass: whether TCP passed on a segment whose bytes it passed
 * before (a retransmission, when TCP's "do not call subdissectors for
 * error packets" is off).  Reassembled data is TCP's business. */
static gboolean calc_tcp_resent(calc_conv *cv, int dir, packet_info *pinfo,
                                const struct tcpinfo *ti)
{
  if (!ti || ti->is_reassembled || PINFO_FD_VISITED(pinfo)) return FALSE;
  if (cv->tcp_seen[dir] && (gint32)(ti->nxtseq - cv->tcp_next[dir]) <= 0)
    return TRUE;
  cv->tcp_seen[dir] = TRUE;
  cv->tcp_next[dir] = ti->nxtseq;
  return FALSE;
}

/* TCP: lines, or legacy messages in a direction that never sent LF. */
static int dissect_calc_tcp_common(tvbuff_t *tvb, packet_info *pinfo,
                                   proto_tree *tree, gboolean heuristic,
                                   const struct tcpinfo *ti)
{
  calc_where w = {0};
  w.cv = calc_conv_find(pinfo, heuristic, ti);
  w.to_server = calc_to_server(w.cv, pinfo);
  int dir = w.to_server ? 0 : 1;
  w.resent = calc_tcp_resent(w.cv, dir, pinfo, ti);
  guint32 *first_lf = &w.cv->first_lf[dir];
  int len = (int)tvb_captured_length(tvb);
  gboolean complete = tvb_reported_length(tvb) == (guint)len;
  int lf = tvb_find_guint8(tvb, 0, len, '\n');

  if (lf >= 0 && *first_lf == 0 && !PINFO_FD_VISITED(pinfo))
    *first_lf = pinfo->num;
  if (lf < 0 && (*first_lf == 0 || pinfo->num < *first_lf)) {
    w.framing = CALC_FRAMING_LEGACY;
    dissect_calc_message(tvb, pinfo, tree, &w, 0, calc_text_len(tvb, 0, len),
                         len);
    return len;
  }

  /* Without reassembly a line may be cut at a segment's end: its start is
   * the message (paired, not verified), its rest in the next segment is
   * shown as such, so that pairing stays in step. */
  gboolean cont;
  if (!PINFO_FD_VISITED(pinfo)) {
    cont = w.cv->midline[dir];
    if (cont)
      p_add_proto_data(wmem_file_scope(), pinfo, proto_calc,
                       CALC_KEY_CONTINUES, GUINT_TO_POINTER(1));
  } else {
    cont = p_get_proto_data(wmem_file_scope(), pinfo, proto_calc,
                            CALC_KEY_CONTINUES) != NULL;
  }

  int offset = 0;
  gboolean cut = FALSE;
  while (offset < len) {
    int eol = tvb_find_guint8(tvb, offset, len - offset, '\n');
    int end = eol < 0 ? len : eol + 1;
    if (cont) {
      dissect_calc_continuation(tvb, pinfo, tree, &w, offset, end - offset);
      cont = FALSE;
      cut = eol < 0;
    } else if (eol < 0 && ti && (ti->flags & TH_FIN)) {
      /* The sender's last bytes: calcd answers them as a line. */
      w.framing = CALC_FRAMING_FINAL;
      dissect_calc_message(tvb, pinfo, tree, &w, offset,
                           calc_text_len(tvb, offset, len - offset),
                           len - offset);
    } else if (eol < 0) {
      if (calc_desegment && pinfo->can_desegment && complete &&
          (guint)(len - offset) < CALC_REASSEMBLY_MAX) {
        pinfo->desegment_offset = offset;
        pinfo->desegment_len = DESEGMENT_ONE_MORE_SEGMENT;
        return len;
      }
      w.framing = CALC_FRAMING_PARTIAL;
      dissect_calc_message(tvb, pinfo, tree, &w, offset,
                           calc_text_len(tvb, offset, len - offset),
                           len - offset);
      cut = TRUE;
    } else {
      w.framing = CALC_FRAMING_LINE;
      dissect_calc_message(tvb, pinfo, tree, &w, offset,
                           calc_text_len(tvb, offset, end - offset),
                           end - offset);
    }
    offset = end;
  }
  if (!PINFO_FD_VISITED(pinfo)) w.cv->midline[dir] = cut;
  return len;
}

static int dissect_calc_tcp(tvbuff_t *tvb, packet_info *pinfo,
                            proto_tree *tree, void *data)
{
  return dissect_calc_tcp_common(tvb, pinfo, tree, FALSE,
                                 (const struct tcpinfo *)data);
}

/* Heuristics (off by default): printable text whose first message parses
 * as an expression with at least one binary operator. */
static gboolean calc_looks_like_request(tvbuff_t *tvb, gboolean tcp)
{
  int len = (int)tvb_captured_length(tvb);
  if (len == 0 || len > CALC_HEUR_MAX || !calc_core) return FALSE;
  const char *p = (const char *)tvb_get_ptr(tvb, 0, len);
  int end = len;
  if (tcp) {
    int lf = tvb_find_guint8(tvb, 0, len, '\n');
    if (lf >= 0) end = lf + 1;
  }
  end = (int)calc_strip_eol(p, (size_t)end);
  for (int i = 0; i < end; i++)
    if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\t') return FALSE;
  calc_request rq;
  calc_request_split(p, (size_t)end, &rq);
  if (rq.expr_len == 0 || rq.expr_len > CALC_MAX_REQUEST_LEN) return FALSE;
  return calc_parse(calc_core, rq.expr, rq.expr_len) == CALC_OK &&
         calc_classes(calc_core) != 0;
}

static gboolean dissect_calc_heur_udp(tvbuff_t *tvb, packet_info *pinfo,
                                      proto_tree *tree, void *data _U_)
{
  if (!calc_looks_like_request(tvb, FALSE)) return FALSE;
  conversation_set_dissector(find_or_create_conversation(pinfo),
                             calc_udp_handle);
  dissect_calc_udp_common(tvb, pinfo, tree, TRUE);
  return TRUE;
}

static gboolean dissect_calc_heur_tcp(tvbuff_t *tvb, packet_info *pinfo,
                                      proto_tree *tree, void *data)
{
  if (!calc_looks_like_request(tvb, TRUE)) return FALSE;
  conversation_set_dissector(find_or_create_conversation(pinfo),
                             calc_tcp_handle);
  dissect_calc_tcp_common(tvb, pinfo, tree, TRUE,
                          (const struct tcpinfo *)data);
  return TRUE;
}

const char *calc_op_class_name(unsigned classes)
{
  return val_to_str_const(classes, calc_op_class_vals, "?");
}

/* ---- registration ---- */

static void calc_init(void)
{
  if (!calc_core) calc_core = calc_ctx_new(NULL);
  memset(calc_conv_cache, 0, sizeof calc_conv_cache);
  module_t *tcp = prefs_find_module("tcp");
  pref_t *rel = tcp ? prefs_find_preference(tcp, "relative_sequence_numbers")
                    : NULL;
  pref_t *seq = tcp ? prefs_find_preference(tcp, "analyze_sequence_numbers")
                    : NULL;
  calc_tcp_relative = rel && seq && prefs_get_bool_value(rel, pref_current) &&
                      prefs_get_bool_value(seq, pref_current);
}

static void calc_cleanup(void)
{
  calc_ctx_free(calc_core);
  calc_core = NULL;
  memset(calc_conv_cache, 0, sizeof calc_conv_cache);
}

void proto_register_calc(void)
{
  static hf_register_info hf[] = {
    {&hf_calc_type, {"Type", "calc.type", FT_UINT8, BASE_DEC,
      VALS(calc_type_vals), 0x0, "Request or response", HFILL}},
    {&hf_calc_framing, {"Framing", "calc.framing", FT_UINT8, BASE_DEC,
      VALS(calc_framing_vals), 0x0,
      "How the message is delimited: a datagram, an LF-terminated line, or "
      "a legacy unterminated TCP segment", HFILL}},
    {&hf_calc_expression, {"Expression", "calc.expression", FT_STRING,
      BASE_NONE, NULL, 0x0, "The arithmetic expression of a request",
      HFILL}},
    {&hf_calc_tag, {"Tag", "calc.tag", FT_UINT32, BASE_DEC, NULL, 0x0,
      "Request tag (#<digits>), echoed by the response", HFILL}},
    {&hf_calc_operators, {"Operators", "calc.operators", FT_STRING,
      BASE_NONE, NULL, 0x0,
      "The binary operators the expression uses, in table order", HFILL}},
    {&hf_calc_operator, {"Operator", "calc.operator", FT_STRING, BASE_NONE,
      NULL, 0x0, "One binary operator the expression uses", HFILL}},
    {&hf_calc_op_class, {"Operator class", "calc.op_class", FT_UINT8,
      BASE_DEC, VALS(calc_op_class_vals), 0x0,
      "Which role server may answer: add/sub, mul/div, mixed (neither) or "
      "none (no binary operator)", HFILL}},
    {&hf_calc_result, {"Result", "calc.result", FT_STRING, BASE_NONE, NULL,
      0x0, "The result text of a response", HFILL}},
    {&hf_calc_error_kind, {"Error kind", "calc.error.kind", FT_STRING,
      BASE_NONE, NULL, 0x0, "The kind of an error response (ERR <kind>)",
      HFILL}},
    {&hf_calc_error_message, {"Error message", "calc.error.message",
      FT_STRING, BASE_NONE, NULL, 0x0, "The message of an error response",
      HFILL}},
    {&hf_calc_response_in, {"Response in", "calc.response_in", FT_FRAMENUM,
      BASE_NONE, FRAMENUM_TYPE(FT_FRAMENUM_RESPONSE), 0x0,
      "The response to this request is in this frame", HFILL}},
    {&hf_calc_response_to, {"Request in", "calc.response_to", FT_FRAMENUM,
      BASE_NONE, FRAMENUM_TYPE(FT_FRAMENUM_REQUEST), 0x0,
      "This is a response to the request in this frame", HFILL}},
    {&hf_calc_time, {"Response time", "calc.time", FT_RELATIVE_TIME,
      BASE_NONE, NULL, 0x0, "Time between the request and this response",
      HFILL}},
    {&hf_calc_retransmission_of, {"Retransmission of",
      "calc.retransmission_of", FT_FRAMENUM, BASE_NONE,
      FRAMENUM_TYPE(FT_FRAMENUM_RETRANS_PREV), 0x0,
      "This request repeats the unanswered request in this frame", HFILL}},
    {&hf_calc_duplicate_of, {"Duplicate of", "calc.duplicate_of",
      FT_FRAMENUM, BASE_NONE, FRAMENUM_TYPE(FT_FRAMENUM_RETRANS_PREV), 0x0,
      "This response repeats the response in this frame", HFILL}},
    {&hf_calc_expected, {"Expected", "calc.expected", FT_STRING, BASE_NONE,
      NULL, 0x0,
      "What the calc core answers to the request (every operator served, "
      "no size bound, tag left out)", HFILL}},
    {&hf_calc_verified, {"Verified", "calc.verified", FT_BOOLEAN, BASE_NONE,
      NULL, 0x0,
      "True when the response equals the core's answer (errors: same kind), "
      "false when it differs", HFILL}},
    {&hf_calc_refused, {"Refused by the server", "calc.refused", FT_BOOLEAN,
      BASE_NONE, NULL, 0x0,
      "The response is a refusal that depends on the server (a role "
      "server's 'unsupported', 'busy', 'internal'), not a wrong result",
      HFILL}},
    {&hf_calc_udp_bound, {"UDP size bound", "calc.udp_bound", FT_UINT32,
      BASE_DEC, NULL, 0x0,
      "Largest UDP response allowed for the request (no amplification)",
      HFILL}},
  };
  static gint *ett[] = {&ett_calc};
  static ei_register_info ei[] = {
#define CALC_EI_ROW_(name, token, desc)                                      \
    {&ei_calc_error_reply[CALC_E_##name],                                   \
     {"calc.error_reply." token, PI_RESPONSE_CODE, PI_NOTE,                 \
      "Error response: " token " (" desc ")", EXPFILL}},
    CALC_ERR_MAP(CALC_EI_ROW_)
#undef CALC_EI_ROW_
    {&ei_calc_error_unknown, {"calc.error_reply.unknown", PI_MALFORMED,
      PI_WARN, "Error response of an unknown kind", EXPFILL}},
    {&ei_calc_malformed_request, {"calc.malformed_request", PI_MALFORMED,
      PI_WARN, "Malformed request", EXPFILL}},
    {&ei_calc_empty_request, {"calc.empty_request", PI_PROTOCOL, PI_NOTE,
      "Empty request: servers send no reply", EXPFILL}},
    {&ei_calc_malformed_response, {"calc.malformed_response", PI_MALFORMED,
      PI_WARN, "Malformed response: neither a result nor ERR <kind>",
      EXPFILL}},
    {&ei_calc_too_long, {"calc.too_long", PI_PROTOCOL, PI_WARN,
      "Message longer than the protocol allows", EXPFILL}},
    {&ei_calc_unterminated, {"calc.unterminated", PI_REASSEMBLE, PI_NOTE,
      "Line not terminated in the captured data", EXPFILL}},
    {&ei_calc_mismatch, {"calc.mismatch", PI_PROTOCOL, PI_WARN,
      "Response differs from the core's answer", EXPFILL}},
    {&ei_calc_no_request, {"calc.no_request", PI_SEQUENCE, PI_WARN,
      "Response without a request", EXPFILL}},
    {&ei_calc_no_response, {"calc.no_response", PI_SEQUENCE, PI_NOTE,
      "No response seen to this request", EXPFILL}},
    {&ei_calc_retransmission, {"calc.retransmission", PI_SEQUENCE, PI_NOTE,
      "Retransmitted request", EXPFILL}},
    {&ei_calc_duplicate_response, {"calc.duplicate_response", PI_SEQUENCE,
      PI_NOTE, "Duplicate response", EXPFILL}},
    {&ei_calc_tag_reused, {"calc.tag_reused", PI_SEQUENCE, PI_WARN,
      "Tag reused while a request with it is unanswered", EXPFILL}},
    {&ei_calc_amplification, {"calc.amplification", PI_SECURITY, PI_WARN,
      "UDP response larger than the amplification bound", EXPFILL}},
  };

  proto_calc = proto_register_protocol("Calculator Protocol", "CALC", "calc");
  proto_register_field_array(proto_calc, hf, array_length(hf));
  proto_register_subtree_array(ett, array_length(ett));
  expert_register_field_array(expert_register_protocol(proto_calc), ei,
                              array_length(ei));

  module_t *m = prefs_register_protocol(proto_calc, NULL);
  prefs_register_bool_preference(m, "desegment",
      "Reassemble lines spanning TCP segments",
      "Whether a calc line split across TCP segments is reassembled. "
      "Needs TCP's \"Allow subdissector to reassemble TCP streams\".",
      &calc_desegment);
  prefs_register_bool_preference(m, "verify",
      "Verify results with the calc core",
      "Compute each request's answer with the calc core (calc.expected), "
      "flag responses that differ, and use the answers to pair UDP "
      "responses when some are lost.",
      &calc_verify);

  calc_udp_handle = register_dissector("calc.udp", dissect_calc_udp,
                                       proto_calc);
  calc_tcp_handle = register_dissector("calc.tcp", dissect_calc_tcp,
                                       proto_calc);
  calc_tap = register_tap("calc");
  register_init_routine(calc_init);
  register_cleanup_routine(calc_cleanup);
}

void proto_reg_handoff_calc(void)
{
  /* Plugins register after the built-in dissectors, so these replace ICQ
   * on UDP 4000 and OPSI on TCP 4002. */
  dissector_add_uint_range_with_preference("udp.port", "4000-4002",
                                           calc_udp_handle);
  dissector_add_uint_range_with_preference("tcp.port", "4000-4002",
                                           calc_tcp_handle);
  heur_dissector_add("udp", dissect_calc_heur_udp, "Calc over UDP",
                     "calc_udp", proto_calc, HEURISTIC_DISABLE);
  heur_dissector_add("tcp", dissect_calc_heur_tcp, "Calc over TCP",
                     "calc_tcp", proto_calc, HEURISTIC_DISABLE);
}
