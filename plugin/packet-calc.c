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
#include <wsutil/utf8_entities.h>

#include "calc_proxy.h"
#include "calc-track.h"
#include "packet-calc.h"
#include "ws-compat.h"

/* Most bytes a TCP line may have before its LF (a request of
 * CALC_MAX_REQUEST_LEN bytes and a CR, docs/PROTOCOL.md "Limits"): calcd
 * answers more as an over-long request and closes, and so the dissector
 * stops reassembling there and shows them as that request. */
#define CALC_LINE_MAX (CALC_MAX_REQUEST_LEN + 1)
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
static heur_dtbl_entry_t *proxy_heur; /* Wireshark's "proxy_tcp" */
static calc_ws_pref_bool calc_desegment = TRUE;
static calc_ws_pref_bool calc_verify = TRUE;

static int hf_calc_type = -1;
static int hf_calc_framing = -1;
static int hf_calc_expression = -1;
static int hf_calc_tag = -1;
static int hf_calc_operators = -1;
static int hf_calc_op_class = -1;
static int hf_calc_result = -1;
static int hf_calc_error_kind = -1;
static int hf_calc_error_message = -1;
static int hf_calc_response_in = -1;
static int hf_calc_response_to = -1;
static int hf_calc_time = -1;
static int hf_calc_retransmission_of = -1;
static int hf_calc_duplicate_of = -1;
static int hf_calc_joined_to = -1;
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
static expert_field ei_calc_joined = EI_INIT;
static expert_field ei_calc_tagless = EI_INIT;
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
    const char *text = calc_ws_format_text(scope, p, n);
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

/* A message's record is found by its place in the frame: which call of
 * this dissector in the frame (TCP may make more than one), and its index
 * in that call.  Messages come in the same order in every pass. */
static guint32 calc_msg_key(const packet_info *pinfo, guint32 index)
{
  return (guint32)pinfo->curr_proto_layer_num << 24 | (index & 0xffffff);
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
  if (!calc_track_core() || !parse) return;
  v->parsed = TRUE;
  v->parse_err = calc_parse(calc_track_core(), v->rq.expr, v->rq.expr_len);
  if (v->parse_err != CALC_OK)
    v->parse_msg = wmem_strdup(pinfo->pool, calc_errmsg(calc_track_core()));
  else {
    v->classes = calc_classes(calc_track_core());
    v->ops = calc_ops(calc_track_core());
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
  /* Both are for filters: the item's text names the type, and the usual
   * framing (datagram, line) goes without saying. */
  proto_item_set_hidden(calc_add_generated_uint(st, hf_calc_type, tvb,
                                                offset, 0, type));
  proto_item *fi = calc_add_generated_uint(st, hf_calc_framing, tvb, offset,
                                           0, framing);
  if (framing == CALC_FRAMING_DATAGRAM || framing == CALC_FRAMING_LINE)
    proto_item_set_hidden(fi);
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
  gboolean legacy;   /* TCP: the next message is bytes calcd buffers as a
                        legacy request (calc_track_request) */
} calc_where;

/* The record of this message, into *m: the first pass files it (resent
 * TCP data is filed but not paired), later passes find it.  NULL: none. */
static const calc_msg *calc_msg_of(packet_info *pinfo, guint32 key,
                                   const calc_where *w,
                                   const calc_req_view *v,
                                   const calc_reply_info *ri, const guint8 *p,
                                   size_t n, calc_msg *m)
{
  if (!PINFO_FD_VISITED(pinfo)) {
    /* A cut line is not verified, unless it is over-long already. */
    gboolean whole = w->framing != CALC_FRAMING_PARTIAL ||
                     n > CALC_MAX_REQUEST_LEN;
    calc_rec r = w->resent ? calc_rec_resent()
                 : v ? calc_track_request(pinfo, w->cv, v, p, n, w->udp,
                                          w->legacy, calc_verify && whole)
                     : calc_track_response(pinfo, w->cv, ri, p, n, w->udp,
                                           calc_verify, whole);
    calc_rec_put(pinfo, key, r);
  }
  return calc_rec_get(pinfo, key, m) ? m : NULL;
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
  calc_msg rec;
  const calc_msg *m = calc_msg_of(pinfo, key, w, &v, NULL, p, n, &rec);
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
  if (st && v.parse_err == CALC_OK && calc_track_core()) {
    proto_item *it = proto_tree_add_string(st, hf_calc_operators, tvb, offset,
        (int)v.shown, calc_ops_text(pinfo->pool, v.ops));
    proto_item_set_generated(it);
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
  if (m && m->joined) {
    proto_item *it = calc_add_generated_uint(st, hf_calc_joined_to, tvb, 0,
                                             0, m->repeats);
    expert_add_info_format(pinfo, it, &ei_calc_joined,
        "Joined to the legacy request in frame %u (calcd was still waiting "
        "for more of it)", m->repeats);
  } else if (m && m->repeats) {
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

  if (v.empty || (m && m->joined)) return; /* not a request of its own */
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
  calc_msg rec;
  const calc_msg *m = calc_msg_of(pinfo, key, w, NULL, &ri, p, n, &rec);
  calc_txn *t = m ? m->txn : NULL;

  const char *req = t ? calc_info_text(pinfo->pool, calc_txn_info(t),
                                       t->info_len,
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
    r.err_token = calc_ws_format_text(pinfo->pool, (const guint8 *)ri.token,
                                      ri.token_len);
  if (m && m->resent) {
    calc_add_resent(pinfo, ri_item);
    r.repeated = TRUE;
    calc_tap_queue(pinfo, &r);
    return;
  }
  if (!t) {
    /* calcd greets a connection past its limit with ERR busy, unasked. */
    if (!(ri.is_error && ri.kind == CALC_E_BUSY))
      expert_add_info(pinfo, ri_item, &ei_calc_no_request);
    calc_tap_queue(pinfo, &r);
    return;
  }
  if (m->tagless) expert_add_info(pinfo, ri_item, &ei_calc_tagless);
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
    if (m->verdict == CALC_VERDICT_MATCH && !ri.is_error)
      proto_item_set_hidden(it); /* the result itself, verified below */
  }
  if (m->verdict == CALC_VERDICT_MATCH ||
      m->verdict == CALC_VERDICT_MISMATCH) {
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
  w->legacy = FALSE;
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
  int lf = tvb_find_uint8(tvb, 0, len, '\n');

  if (lf >= 0 && *first_lf == 0 && !PINFO_FD_VISITED(pinfo))
    *first_lf = pinfo->num;
  if (lf < 0 && (*first_lf == 0 || pinfo->num < *first_lf)) {
    w.framing = CALC_FRAMING_LEGACY;
    w.legacy = w.to_server;
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
  /* The first LF makes calcd's legacy bytes, if it still holds some, the
   * start of the first line. */
  w.legacy = w.to_server && *first_lf == pinfo->num;
  while (offset < len) {
    int eol = tvb_find_uint8(tvb, offset, len - offset, '\n');
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
          len - offset <= CALC_LINE_MAX) {
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

/* A PROXY protocol header (v1 or v2, lib/calc_proxy.h's rules) opening a
 * client's stream: a load balancer's, in front of calcd --proxy-protocol
 * (docs/SCALING.md).  Wireshark's own "proxy" dissector shows it; calc
 * dissects what follows.  Returns the header's length, 0 when there is
 * none, or -1 when the segment is the start of one (reassembly asked). */
static int calc_tcp_proxy_header(tvbuff_t *tvb, packet_info *pinfo,
                                 proto_tree *tree, const struct tcpinfo *ti)
{
  if (!ti || ti->seq != 1 || !proxy_heur || !proxy_heur->enabled) return 0;
  int len = (int)tvb_captured_length(tvb);
  if (len == 0) return 0;
  calc_proxy_hdr h;
  calc_proxy_err e;
  int n = calc_proxy_parse(tvb_get_ptr(tvb, 0, len), (size_t)len, &h, &e);
  if (n == 0 && pinfo->can_desegment &&
      tvb_reported_length(tvb) == (guint)len) {
    pinfo->desegment_offset = 0;
    pinfo->desegment_len = DESEGMENT_ONE_MORE_SEGMENT;
    return -1;
  }
  if (n <= 0) return 0;
  proxy_heur->dissector(tvb_new_subset_length(tvb, 0, n), pinfo, tree,
                        (void *)ti);
  return n;
}

static int dissect_calc_tcp(tvbuff_t *tvb, packet_info *pinfo,
                            proto_tree *tree, void *data)
{
  const struct tcpinfo *ti = (const struct tcpinfo *)data;
  int hdr = calc_tcp_proxy_header(tvb, pinfo, tree, ti);
  if (hdr < 0) return (int)tvb_captured_length(tvb);
  if (hdr == 0) return dissect_calc_tcp_common(tvb, pinfo, tree, FALSE, ti);
  if (tvb_captured_length(tvb) == (guint)hdr) return hdr;
  int n = dissect_calc_tcp_common(tvb_new_subset_remaining(tvb, hdr), pinfo,
                                  tree, FALSE, ti);
  if (pinfo->desegment_len) pinfo->desegment_offset += hdr;
  return hdr + n;
}

/* Heuristics (off by default): printable text whose first message parses
 * as an expression with at least one binary operator. */
static gboolean calc_looks_like_request(tvbuff_t *tvb, gboolean tcp)
{
  int len = (int)tvb_captured_length(tvb);
  if (len == 0 || len > CALC_HEUR_MAX || !calc_track_core()) return FALSE;
  const char *p = (const char *)tvb_get_ptr(tvb, 0, len);
  int end = len;
  if (tcp) {
    int lf = tvb_find_uint8(tvb, 0, len, '\n');
    if (lf >= 0) end = lf + 1;
  }
  end = (int)calc_strip_eol(p, (size_t)end);
  for (int i = 0; i < end; i++)
    if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\t') return FALSE;
  calc_request rq;
  calc_request_split(p, (size_t)end, &rq);
  if (rq.expr_len == 0 || rq.expr_len > CALC_MAX_REQUEST_LEN) return FALSE;
  return calc_parse(calc_track_core(), rq.expr, rq.expr_len) == CALC_OK &&
         calc_classes(calc_track_core()) != 0;
}

static calc_ws_heur_result dissect_calc_heur_udp(tvbuff_t *tvb,
                                                 packet_info *pinfo,
                                                 proto_tree *tree,
                                                 void *data _U_)
{
  if (!calc_looks_like_request(tvb, FALSE)) return FALSE;
  conversation_set_dissector(find_or_create_conversation(pinfo),
                             calc_udp_handle);
  dissect_calc_udp_common(tvb, pinfo, tree, TRUE);
  return TRUE;
}

static calc_ws_heur_result dissect_calc_heur_tcp(tvbuff_t *tvb,
                                                 packet_info *pinfo,
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
  calc_track_init(proto_calc);
}

static void calc_cleanup(void)
{
  calc_track_cleanup();
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
    {&hf_calc_joined_to, {"Joined to", "calc.joined_to", FT_FRAMENUM,
      BASE_NONE, FRAMENUM_TYPE(FT_FRAMENUM_REQUEST), 0x0,
      "These legacy bytes continue the request in this frame: calcd joins "
      "bytes that come while it waits for more", HFILL}},
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
      "Line cut at the segment's end, not reassembled (reassembly off, or "
      "longer than calcd reads)", EXPFILL}},
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
    {&ei_calc_joined, {"calc.joined", PI_SEQUENCE, PI_NOTE,
      "Legacy bytes joined to the request before them", EXPFILL}},
    {&ei_calc_tagless, {"calc.tagless", PI_PROTOCOL, PI_NOTE,
      "Response without its request's tag (a server that ignores tags)",
      EXPFILL}},
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
  proxy_heur = find_heur_dissector_by_unique_short_name("proxy_tcp");
}
