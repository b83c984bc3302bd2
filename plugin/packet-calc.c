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
#include <epan/proto_data.h>
#include <epan/strutil.h>
#include <epan/tap.h>
#include <epan/dissectors/packet-tcp.h>
#include <wsutil/utf8_entities.h>

#include "calc_proto.h"
#include "packet-calc.h"

/* Bytes of a message shown in the Info column before an ellipsis. */
#define CALC_INFO_MAX 48
/* Unanswered requests remembered per conversation and tag (or untagged):
 * older ones stay unanswered, so a capture of requests only stays linear. */
#define CALC_PENDING_MAX 256
/* Longest TCP line reassembled; past it the bytes are shown as an
 * unterminated over-long line. */
#define CALC_REASSEMBLY_MAX (1u << 20)
/* Longest datagram or first line the heuristic dissectors consider. */
#define CALC_HEUR_MAX (CALC_MAX_REQUEST_LEN + 2 + CALC_TAG_MAX_DIGITS + 2)

/* calc.framing */
enum {
  CALC_FRAMING_DATAGRAM = 1,
  CALC_FRAMING_LINE,
  CALC_FRAMING_LEGACY,
  CALC_FRAMING_PARTIAL,     /* start of a line cut at the segment's end */
  CALC_FRAMING_CONTINUATION /* rest of such a line: not a message */
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

/* One request and what answered it.  A retransmitted request joins the
 * transaction of the request it repeats. */
typedef struct calc_txn {
  struct calc_txn *next;   /* queue of unanswered requests */
  const char *info;        /* the expression as shown in Info (file scope) */
  const guint8 *req;       /* UDP: request bytes, to spot retransmissions */
  size_t req_n;
  const char *expected;    /* core's reply text, tag removed; NULL: none */
  nstime_t req_time;
  guint32 req_frame, rep_frame;
  guint32 req_len;         /* request payload bytes (UDP bound) */
  guint32 rep_hash;        /* first response's bytes, hashed */
  guint32 tag;
  guint16 nreq, nrep;      /* requests (with retransmissions), responses */
  guint8 has_tag;
  guint8 classes;          /* CALC_CLASS_* bits of the expression */
  guint8 exp_kind;         /* calc_err of the expected reply */
  guint8 bounded_kind;     /* UDP: calc_err of the reply shortened to the
                              amplification bound (= exp_kind when it fits) */
} calc_txn;

/* Unanswered requests of one tag (or of no tag), oldest first. */
typedef struct calc_queue {
  calc_txn *head, *tail;
  calc_txn *answered;      /* latest request answered */
  guint32 count;
} calc_queue;

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
  calc_queue untagged;
  wmem_map_t *tags;        /* tag + 1 -> calc_queue, created on first tag */
} calc_conv;

/* Per message, saved in the first pass. */
typedef struct calc_msg {
  calc_txn *txn;           /* its transaction; NULL: a response to nothing */
  guint32 repeats;         /* frame of the message it repeats, or 0 */
  guint8 verdict;          /* responses: CALC_VERDICT_* */
  guint8 tag_reused;       /* requests: tag still outstanding */
  guint8 resent;           /* TCP data seen before (retransmission that
                              TCP passed on): not paired */
} calc_msg;

/* What one parse of a request tells. */
typedef struct calc_req_view {
  calc_request rq;
  size_t shown;            /* expression bytes without blanks before a tag */
  size_t tag_end;          /* end of the tag digits */
  calc_err parse_err;      /* CALC_OK, or why the expression is refused */
  const char *parse_msg;   /* packet scope, or NULL */
  unsigned classes, ops;
  gboolean too_long;
} calc_req_view;

static guint32 calc_hash(const guint8 *p, size_t n)
{
  guint32 h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

/* The n bytes at p as printable Info text, without trailing blanks (a
 * client may pad UDP requests), cut after CALC_INFO_MAX bytes. */
static const char *calc_info_text(wmem_allocator_t *scope, const guint8 *p,
                                  size_t n)
{
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
  if (n <= CALC_INFO_MAX) return format_text(scope, p, n);
  return wmem_strconcat(scope, format_text(scope, p, CALC_INFO_MAX),
                        UTF8_HORIZONTAL_ELLIPSIS, NULL);
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

static gboolean calc_to_server(const calc_conv *cv, const packet_info *pinfo)
{
  return pinfo->destport == cv->srv_port &&
         addresses_equal(&pinfo->dst, &cv->srv_addr);
}

static calc_queue *calc_queue_of(calc_conv *cv, gboolean has_tag, guint32 tag,
                                 gboolean create)
{
  if (!has_tag) return &cv->untagged;
  if (!cv->tags) {
    if (!create) return NULL;
    cv->tags = wmem_map_new(wmem_file_scope(), g_direct_hash, g_direct_equal);
  }
  gpointer key = GUINT_TO_POINTER(tag + 1);
  calc_queue *q = (calc_queue *)wmem_map_lookup(cv->tags, key);
  if (!q && create) {
    q = wmem_new0(wmem_file_scope(), calc_queue);
    wmem_map_insert(cv->tags, key, q);
  }
  return q;
}

static void calc_queue_push(calc_queue *q, calc_txn *t)
{
  if (q->count >= CALC_PENDING_MAX) { /* forget the oldest */
    q->head = q->head->next;
    if (!q->head) q->tail = NULL;
    q->count--;
  }
  t->next = NULL;
  if (q->tail) q->tail->next = t;
  else q->head = t;
  q->tail = t;
  q->count++;
}

/* Remove t and every older request from q: a server answers in order, so
 * the older ones will not be answered any more. */
static void calc_queue_take(calc_queue *q, calc_txn *t)
{
  while (q->head) {
    calc_txn *h = q->head;
    q->head = h->next;
    q->count--;
    if (h == t) break;
  }
  if (!q->head) q->tail = NULL;
  t->next = NULL;
}

/* Compare a response with the core's answer to its request.  Results must
 * be byte-identical; errors need only the same kind (messages may be
 * worded differently).  Refusals that depend on the server, not on the
 * expression, are not mismatches. */
static guint8 calc_verdict_of(const calc_txn *t, const calc_reply_info *ri)
{
  if (!t->expected) return CALC_VERDICT_NONE;
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
  size_t n = strlen(t->expected);
  return ri->body_len == n && memcmp(ri->body, t->expected, n) == 0
             ? CALC_VERDICT_MATCH
             : CALC_VERDICT_MISMATCH;
}

/* Ask the core what a server of every operator answers to the n request
 * bytes at p, unbounded (calc.expected) and, for UDP, within the
 * amplification bound of a raw_len-byte datagram. */
static void calc_compute_expected(calc_txn *t, const calc_request *rq,
                                  const char *p, size_t n, gboolean udp,
                                  guint32 raw_len)
{
  static char out[CALC_ANSWER_MAX + 1];
  calc_err kind;
  size_t len = calc_answer(calc_core, CALC_ROLE_ALL, p, n, SIZE_MAX, out,
                           sizeof out, &kind);
  size_t suffix = 0;
  if (rq->has_tag) { /* calc_answer appended " #<tag>" */
    suffix = 2;
    for (guint32 v = rq->tag; ; v /= 10) {
      suffix++;
      if (v < 10) break;
    }
  }
  if (suffix > len) suffix = len;
  t->expected = wmem_strndup(wmem_file_scope(), out, len - suffix);
  t->exp_kind = (guint8)kind;
  t->bounded_kind = (guint8)kind;
  if (udp && len > calc_udp_bound(raw_len)) {
    calc_answer(calc_core, CALC_ROLE_ALL, p, n, calc_udp_bound(raw_len), out,
                sizeof out, &kind);
    t->bounded_kind = (guint8)kind;
  }
}

/* First pass: file a request. */
static calc_msg *calc_track_request(packet_info *pinfo, calc_conv *cv,
                                    const calc_req_view *v, const guint8 *p,
                                    size_t n, gboolean udp, guint32 raw_len,
                                    gboolean whole)
{
  calc_msg *m = wmem_new0(wmem_file_scope(), calc_msg);
  calc_queue *q = calc_queue_of(cv, v->rq.has_tag, v->rq.tag, TRUE);

  /* Over UDP the same bytes again, while unanswered, are a retransmission
   * (over TCP, a repeated line is a new request). */
  if (udp) {
    for (calc_txn *t = q->head; t; t = t->next) {
      if (t->req_n == n && memcmp(t->req, p, n) == 0) {
        t->nreq++;
        m->txn = t;
        m->repeats = t->req_frame;
        return m;
      }
    }
  }
  m->tag_reused = v->rq.has_tag && q->head != NULL;

  calc_txn *t = wmem_new0(wmem_file_scope(), calc_txn);
  t->info = calc_info_text(wmem_file_scope(), (const guint8 *)v->rq.expr,
                           v->shown);
  if (udp) {
    t->req = (const guint8 *)wmem_memdup(wmem_file_scope(), p, n);
    t->req_n = n;
  }
  t->req_time = pinfo->abs_ts;
  t->req_frame = pinfo->num;
  t->req_len = raw_len;
  t->tag = v->rq.tag;
  t->has_tag = (guint8)v->rq.has_tag;
  t->nreq = 1;
  t->classes = (guint8)v->classes;
  if (calc_verify && calc_core && whole)
    calc_compute_expected(t, &v->rq, (const char *)p, n, udp, raw_len);
  calc_queue_push(q, t);
  m->txn = t;
  return m;
}

/* First pass: pair a response with its request.  By tag, or else the
 * oldest unanswered request; over UDP (replies may be lost) the oldest
 * whose answer the response matches, when verification is on. */
static calc_msg *calc_track_response(packet_info *pinfo, calc_conv *cv,
                                     const calc_reply_info *ri,
                                     const guint8 *p, size_t n, gboolean udp,
                                     gboolean whole)
{
  calc_msg *m = wmem_new0(wmem_file_scope(), calc_msg);
  calc_queue *q = calc_queue_of(cv, ri->has_tag, ri->tag, FALSE);
  guint32 hash = calc_hash(p, n);
  if (!q) return m;

  calc_txn *last = q->answered, *t = q->head;
  /* An answer to a retransmission repeats the first answer. */
  if (udp && last && last->nrep < last->nreq && last->rep_hash == hash)
    t = NULL;
  else if (udp && calc_verify) {
    for (calc_txn *c = q->head; c; c = c->next) {
      guint8 vd = calc_verdict_of(c, ri);
      if (vd == CALC_VERDICT_MATCH || vd == CALC_VERDICT_REFUSED) {
        t = c;
        break;
      }
    }
  }
  if (t) {
    calc_queue_take(q, t);
    t->rep_frame = pinfo->num;
    t->rep_hash = hash;
    t->nrep = 1;
    q->answered = t;
    m->txn = t;
  } else if (last && (ri->has_tag || (udp && last->rep_hash == hash))) {
    last->nrep++;
    m->txn = last;
    m->repeats = last->rep_frame;
  }
  if (m->txn && whole) m->verdict = calc_verdict_of(m->txn, ri);
  return m;
}

/* This frame's next message number: messages come in the same order in
 * every pass, so (frame, number) finds the record of the first pass. */
static guint32 calc_next_ordinal(packet_info *pinfo)
{
  guint32 *k = (guint32 *)p_get_proto_data(pinfo->pool, pinfo, proto_calc, 0);
  if (!k) {
    k = wmem_new0(pinfo->pool, guint32);
    p_add_proto_data(pinfo->pool, pinfo, proto_calc, 0, k);
  }
  return (*k)++;
}

static calc_msg *calc_msg_get(packet_info *pinfo, guint32 ordinal)
{
  return (calc_msg *)p_get_proto_data(wmem_file_scope(), pinfo, proto_calc,
                                      ordinal);
}

static calc_msg *calc_msg_put(packet_info *pinfo, guint32 ordinal,
                              calc_msg *m)
{
  p_add_proto_data(wmem_file_scope(), pinfo, proto_calc, ordinal, m);
  return m;
}

/* ---- dissection ---- */

static void calc_view_request(packet_info *pinfo, const guint8 *p, size_t n,
                              calc_req_view *v)
{
  memset(v, 0, sizeof *v);
  calc_request_split((const char *)p, n, &v->rq);
  v->tag_end = n;
  while (v->tag_end > 0 && (p[v->tag_end - 1] == ' ' ||
                            p[v->tag_end - 1] == '\t'))
    v->tag_end--;
  v->shown = v->rq.expr_len;
  if (v->rq.has_tag)
    while (v->shown > 0 && (p[v->shown - 1] == ' ' || p[v->shown - 1] == '\t'))
      v->shown--;
  if (v->rq.expr_len > CALC_MAX_REQUEST_LEN) {
    v->too_long = TRUE;
    v->parse_err = CALC_E_TOO_LONG;
    return;
  }
  if (!calc_core) return;
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

/* The message head shared by both types; returns its subtree. */
static proto_tree *calc_add_head(tvbuff_t *tvb, packet_info *pinfo,
                                 proto_tree *tree, int offset, int total,
                                 guint8 type, guint8 framing,
                                 const char *info, gboolean first)
{
  proto_item *ti = proto_tree_add_item(tree, proto_calc, tvb, offset, total,
                                       ENC_NA);
  proto_item_append_text(ti, ", %s: %s", val_to_str_const(type,
                         calc_type_vals, "?"), info);
  proto_tree *st = proto_item_add_subtree(ti, ett_calc);
  calc_add_generated_uint(st, hf_calc_type, tvb, offset, 0, type);
  proto_item *fi = calc_add_generated_uint(st, hf_calc_framing, tvb, offset,
                                           0, framing);
  if (framing == CALC_FRAMING_PARTIAL)
    expert_add_info(pinfo, fi, &ei_calc_unterminated);

  col_set_str(pinfo->cinfo, COL_PROTOCOL, "CALC");
  if (first) /* replaces what follows TCP's fence, if any */
    col_add_fstr(pinfo->cinfo, COL_INFO, "%s %s",
                 val_to_str_const(type, calc_type_vals, "?"), info);
  else
    col_append_sep_fstr(pinfo->cinfo, COL_INFO, ", ", "%s %s",
                        val_to_str_const(type, calc_type_vals, "?"), info);
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
  gboolean to_server;
  gboolean udp;
  gboolean resent;   /* TCP: bytes seen before in this direction */
  guint8 framing;    /* CALC_FRAMING_* */
  guint32 raw_len;   /* UDP: the datagram's payload length */
} calc_where;

/* The record of this message: the first pass files it (resent TCP data is
 * filed but not paired), later passes find it. */
static calc_msg *calc_msg_of(packet_info *pinfo, guint32 ordinal,
                             const calc_where *w, const calc_req_view *v,
                             const calc_reply_info *ri, const guint8 *p,
                             size_t n)
{
  calc_msg *m = calc_msg_get(pinfo, ordinal);
  if (m || PINFO_FD_VISITED(pinfo)) return m;
  if (w->resent) {
    m = wmem_new0(wmem_file_scope(), calc_msg);
    m->resent = 1;
  } else if (v) {
    m = calc_track_request(pinfo, w->cv, v, p, n, w->udp, w->raw_len,
                           w->framing != CALC_FRAMING_PARTIAL);
  } else {
    m = calc_track_response(pinfo, w->cv, ri, p, n, w->udp,
                            w->framing != CALC_FRAMING_PARTIAL);
  }
  return calc_msg_put(pinfo, ordinal, m);
}

static void calc_add_resent(packet_info *pinfo, proto_item *it)
{
  expert_add_info_format(pinfo, it, &ei_calc_retransmission,
                         "Retransmitted TCP data: not paired again");
}

static void dissect_calc_request(tvbuff_t *tvb, packet_info *pinfo,
                                 proto_tree *tree, const calc_where *w,
                                 guint32 ordinal, int offset,
                                 const guint8 *p, size_t n, int total)
{
  calc_req_view v;
  calc_view_request(pinfo, p, n, &v);
  calc_msg *m = calc_msg_of(pinfo, ordinal, w, &v, NULL, p, n);
  calc_txn *t = m ? m->txn : NULL;

  proto_tree *st = calc_add_head(tvb, pinfo, tree, offset, total,
                                 CALC_TYPE_REQUEST, w->framing,
                                 calc_info_text(pinfo->pool, p, n),
                                 ordinal == 0);
  proto_item *ei = proto_tree_add_item(st, hf_calc_expression, tvb, offset,
                                       (int)v.shown, ENC_ASCII);
  if (v.rq.has_tag)
    proto_tree_add_uint(st, hf_calc_tag, tvb, offset + (int)v.rq.expr_len,
                        (int)(v.tag_end - v.rq.expr_len), v.rq.tag);
  if (v.parse_err == CALC_OK && calc_core) {
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
        "Expression of %zu bytes exceeds the limit of %u bytes",
        v.rq.expr_len, (unsigned)CALC_MAX_REQUEST_LEN);
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
  if (t && t->expected) {
    proto_item *it = proto_tree_add_string(st, hf_calc_expected, tvb, 0, 0,
                                           t->expected);
    proto_item_set_generated(it);
  }

  calc_tap_rec r = {0};
  r.type = CALC_TYPE_REQUEST;
  r.repeated = m && (m->repeats || m->resent);
  r.classes = v.classes;
  r.ops = v.ops;
  calc_tap_queue(pinfo, &r);
}

static void dissect_calc_response(tvbuff_t *tvb, packet_info *pinfo,
                                  proto_tree *tree, const calc_where *w,
                                  guint32 ordinal, int offset,
                                  const guint8 *p, size_t n, int total)
{
  calc_reply_info ri;
  int rc = calc_reply_parse((const char *)p, n, &ri);
  calc_msg *m = calc_msg_of(pinfo, ordinal, w, NULL, &ri, p, n);
  calc_txn *t = m ? m->txn : NULL;

  const char *info = calc_info_text(pinfo->pool, p, n);
  if (t) info = wmem_strdup_printf(pinfo->pool, "%s (%s)", info, t->info);
  proto_tree *st = calc_add_head(tvb, pinfo, tree, offset, total,
                                 CALC_TYPE_RESPONSE, w->framing, info,
                                 ordinal == 0);
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
  if (t->expected) {
    it = proto_tree_add_string(st, hf_calc_expected, tvb, 0, 0, t->expected);
    proto_item_set_generated(it);
  }
  if (m->verdict == CALC_VERDICT_MATCH || m->verdict == CALC_VERDICT_MISMATCH) {
    it = proto_tree_add_boolean(st, hf_calc_verified, tvb, 0, 0,
                                m->verdict == CALC_VERDICT_MATCH);
    proto_item_set_generated(it);
    if (m->verdict == CALC_VERDICT_MISMATCH)
      expert_add_info_format(pinfo, ri_item, &ei_calc_mismatch,
                             "Response differs from the core's answer: %s",
                             t->expected);
  } else if (m->verdict == CALC_VERDICT_REFUSED) {
    it = proto_tree_add_boolean(st, hf_calc_refused, tvb, 0, 0, TRUE);
    proto_item_set_generated(it);
  }
  if (w->udp) {
    guint32 bound = (guint32)calc_udp_bound(t->req_len);
    it = calc_add_generated_uint(st, hf_calc_udp_bound, tvb, 0, 0, bound);
    if (w->raw_len > bound)
      expert_add_info_format(pinfo, it, &ei_calc_amplification,
          "UDP response of %u bytes exceeds the bound of %u bytes for a "
          "%u-byte request", w->raw_len, bound, t->req_len);
  }
  calc_tap_queue(pinfo, &r);
}

/* One message: n bytes at offset without the line end, total with it. */
static void dissect_calc_message(tvbuff_t *tvb, packet_info *pinfo,
                                 proto_tree *tree, const calc_where *w,
                                 int offset, int n, int total)
{
  static const guint8 empty[1] = {0};
  guint32 ordinal = calc_next_ordinal(pinfo);
  const guint8 *p = n > 0 ? tvb_get_ptr(tvb, offset, n) : empty;

  if (w->to_server)
    dissect_calc_request(tvb, pinfo, tree, w, ordinal, offset, p, (size_t)n,
                         total);
  else
    dissect_calc_response(tvb, pinfo, tree, w, ordinal, offset, p, (size_t)n,
                          total);
}

/* The rest of a line cut at the end of an earlier segment. */
static void dissect_calc_continuation(tvbuff_t *tvb, packet_info *pinfo,
                                      proto_tree *tree, int offset, int len)
{
  proto_item *ti = proto_tree_add_item(tree, proto_calc, tvb, offset, len,
                                       ENC_NA);
  proto_item_append_text(ti, ", rest of a line (not reassembled)");
  proto_tree *st = proto_item_add_subtree(ti, ett_calc);
  calc_add_generated_uint(st, hf_calc_framing, tvb, offset, 0,
                          CALC_FRAMING_CONTINUATION);
  calc_next_ordinal(pinfo); /* later messages append to Info */
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
  w.cv = calc_conv_get(pinfo, heuristic);
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
  w.cv = calc_conv_get(pinfo, heuristic);
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
      dissect_calc_continuation(tvb, pinfo, tree, offset, end - offset);
      cont = FALSE;
      cut = eol < 0;
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
}

static void calc_cleanup(void)
{
  calc_ctx_free(calc_core);
  calc_core = NULL;
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
