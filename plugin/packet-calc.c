/* SPDX-License-Identifier: MIT
 *
 * packet-calc.c: the calc protocol dissector (docs/DISSECTOR.md; the wire
 * format is docs/PROTOCOL.md, its code lib/calc_proto.h).
 *
 * Framing: a UDP datagram is one message; on TCP a message is a line ending
 * in LF, reassembled across segments, except in a request direction that
 * has never sent LF: there (the original Python programs) each segment is
 * one unterminated message, and the replies follow the requests' framing.
 * Requests and responses are paired per conversation (calc-pair.c), and
 * each response is checked against what the calc core computes for its
 * request (calc-verify.c).  What the capture could not show (cut frames,
 * lost segments, a start mid-connection) is said, never blamed on the
 * server.  A conversation whose bytes are not calc is handed to the
 * dissector calc displaced from the port, or left to TCP's and UDP's
 * heuristics.
 *
 * Everything that depends on earlier frames (pairing, verification, the
 * framing mode) is decided in the first pass and saved per message; later
 * passes only read it.
 */
#include <string.h>

#include <epan/packet.h>
#include <epan/conversation.h>
#include <epan/exceptions.h>
#include <epan/expert.h>
#include <epan/prefs.h>
#include <epan/proto_data.h>
#include <epan/strutil.h>
#include <epan/tap.h>
#include <wsutil/utf8_entities.h>

#include "calc-proxyhdr.h"
#include "calc-track.h"
#include "calc_frame.h"
#include "packet-calc.h"
#include "ws-compat.h"

/* Longest datagram or first line the heuristic dissectors consider. */
#define CALC_HEUR_MAX (CALC_MAX_REQUEST_LEN + 2 + CALC_TAG_MAX_DIGITS + 2)
/* calc's well-known ports (calc_proto.h), whose earlier owners (ICQ on
 * UDP 4000, OPSI on TCP 4002) get back what is not calc. */
#define CALC_PORT_FIRST CALC_PORT_ALL
#define CALC_PORT_COUNT 3

/* calc.framing */
enum {
  CALC_FRAMING_DATAGRAM = 1,
  CALC_FRAMING_LINE,
  CALC_FRAMING_LEGACY,
  CALC_FRAMING_PARTIAL,     /* start of a line cut at the segment's end */
  CALC_FRAMING_CONTINUATION,/* rest of a line whose start is not here */
  CALC_FRAMING_FINAL        /* unterminated last line, ended by FIN */
};
/* File-scope per-frame keys (p_add_proto_data): the frame's TCP data
 * starts mid-line; an unterminated reply taken as whole. */
#define CALC_KEY_CONTINUES G_MAXUINT32
#define CALC_KEY_WHOLE_REPLY (G_MAXUINT32 - 1)
#define CALC_KEY_REPLY_WAITS (G_MAXUINT32 - 2)
/* Minus the call's layer number: bytes of an overlapping segment seen
 * before (calc_tcp_overlap). */
#define CALC_KEY_OVERLAP (G_MAXUINT32 - 16)

/* Where the dissector stands. */
static int proto_calc = -1;
static int calc_tap = -1;
/* Wireshark's expert tap ("expert": tshark -z expert, the GUI's Expert
 * Information), found per file; -1: not found. */
static int calc_expert_tap = -1;
static dissector_handle_t calc_udp_handle;
static dissector_handle_t calc_tcp_handle;
static dissector_handle_t calc_tls_handle;
/* What held calc's ports before the handoff ([0] UDP, [1] TCP). */
static dissector_handle_t calc_displaced[2][CALC_PORT_COUNT];
static bool calc_ports_given_back;
static calc_ws_pref_bool calc_desegment = TRUE;
static calc_ws_pref_bool calc_verify = TRUE;
static unsigned calc_verify_budget; /* millions of work units per capture */
/* This file's own evaluation context: parsing what is displayed. */
static calc_ctx *calc_view_ctx;
/* Parses made in calc_view_ctx so far (calc_view_tree). */
static uint32_t calc_view_gen;

static int hf_calc_type = -1;
static int hf_calc_request = -1;
static int hf_calc_response = -1;
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
static expert_field ei_calc_bad_request = EI_INIT;
static expert_field ei_calc_empty_request = EI_INIT;
static expert_field ei_calc_malformed_response = EI_INIT;
static expert_field ei_calc_too_long = EI_INIT;
static expert_field ei_calc_unterminated = EI_INIT;
static expert_field ei_calc_mismatch = EI_INIT;
static expert_field ei_calc_no_request = EI_INIT;
static expert_field ei_calc_no_response = EI_INIT;
static expert_field ei_calc_response_not_captured = EI_INIT;
static expert_field ei_calc_response_early = EI_INIT;
static expert_field ei_calc_request_not_seen_yet = EI_INIT;
static expert_field ei_calc_retransmission = EI_INIT;
static expert_field ei_calc_duplicate_response = EI_INIT;
static expert_field ei_calc_tag_reused = EI_INIT;
static expert_field ei_calc_joined = EI_INIT;
static expert_field ei_calc_tagless = EI_INIT;
static expert_field ei_calc_amplification = EI_INIT;
static expert_field ei_calc_cut = EI_INIT;
static expert_field ei_calc_uncertain = EI_INIT;
static expert_field ei_calc_unseen = EI_INIT;
static expert_field ei_calc_server_guess = EI_INIT;
static expert_field ei_calc_budget = EI_INIT;

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
  {CALC_FRAMING_CONTINUATION, "Rest of a line whose start is not here"},
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

/* Whether a byte shows in Info as it is (printable ASCII, no backslash:
 * no escape needed). */
static bool calc_info_byte_plain(uint8_t c)
{
  return c >= 0x20 && c < 0x7f && c != '\\';
}

/* Bit tricks on 8 bytes at once: each test sets the high bit of the
 * bytes it finds; a borrow between bytes only follows a byte found
 * already, so "any" is exact. */
#define CALC_ONES 0x0101010101010101ull
#define CALC_HIGH (CALC_ONES << 7)

/* Whether any of the 8 bytes of w is below 0x20 or above 0x7e. */
static bool calc_word_unprintable(uint64_t w)
{
  if (w & CALC_HIGH) return true;                          /* past ASCII */
  uint64_t ctl = (w - 0x20 * CALC_ONES) & ~w & CALC_HIGH;  /* below 0x20 */
  uint64_t del = (w + CALC_ONES) & CALC_HIGH;              /* 0x7f */
  return (ctl | del) != 0;
}

/* Whether any of the 8 bytes of w is not calc_info_byte_plain(). */
static bool calc_info_word_escapes(uint64_t w)
{
  uint64_t b = w ^ ('\\' * CALC_ONES);
  return calc_word_unprintable(w) ||
         ((b - CALC_ONES) & ~b & CALC_HIGH) != 0;         /* a backslash */
}

/* The n bytes at p as Info text: without trailing blanks, cut after
 * CALC_INFO_MAX bytes (*n and *cut updated); whether they show as they
 * are (calc_info_byte_plain()). */
static bool calc_info_plain(const uint8_t *p, size_t *n, bool *cut)
{
  *n = calc_trim(p, *n);
  if (*n > CALC_INFO_MAX) {
    *n = CALC_INFO_MAX;
    *cut = true;
  }
  size_t i = 0;
  for (; i + sizeof(uint64_t) <= *n; i += sizeof(uint64_t)) {
    uint64_t w;
    memcpy(&w, p + i, sizeof w);
    if (calc_info_word_escapes(w)) return false;
  }
  for (; i < *n; i++)
    if (!calc_info_byte_plain(p[i])) return false;
  return true;
}

/* The n bytes at p as printable Info text (calc_info_plain), escaped
 * where needed, an ellipsis when cut. */
static const char *calc_info_text(wmem_allocator_t *scope, const uint8_t *p,
                                  size_t n, bool cut)
{
  bool plain = calc_info_plain(p, &n, &cut);
  const char *text = plain ? wmem_strndup(scope, (const char *)p, n)
                           : calc_ws_format_text(scope, p, n);
  return cut ? wmem_strconcat(scope, text, UTF8_HORIZONTAL_ELLIPSIS, NULL)
             : text;
}

/* Bytes of an ellipsis, and the most one Info text takes when plain. */
#define CALC_ELLIPSIS_LEN (sizeof UTF8_HORIZONTAL_ELLIPSIS - 1)
#define CALC_INFO_PLAIN_MAX (CALC_INFO_MAX + CALC_ELLIPSIS_LEN)

/* Copy the plain Info text of n bytes at p (cut: an ellipsis) to out;
 * returns its length. */
static size_t calc_info_put(char *out, const uint8_t *p, size_t n, bool cut)
{
  memcpy(out, p, n);
  if (cut) memcpy(out + n, UTF8_HORIZONTAL_ELLIPSIS, CALC_ELLIPSIS_LEN);
  return n + (cut ? CALC_ELLIPSIS_LEN : 0);
}

/* A message's Info line, ", <name> <text>" and " (<req text>)" when rp
 * is not NULL, in one allocation of the packet's scope: the line is what
 * follows the first two bytes, the separator when it is appended to an
 * earlier message's.  The texts are calc_info_text()'s. */
static const char *calc_info_line(wmem_allocator_t *scope, const char *name,
                                  const uint8_t *p, size_t n, bool cut,
                                  const uint8_t *rp, size_t rn, bool rcut)
{
  if (!calc_info_plain(p, &n, &cut) ||
      (rp && !calc_info_plain(rp, &rn, &rcut))) /* escapes: rare */
    return wmem_strconcat(scope, ", ", name, " ",
                          calc_info_text(scope, p, n, cut),
                          rp ? " (" : "",
                          rp ? calc_info_text(scope, rp, rn, rcut) : "",
                          rp ? ")" : "", NULL);
  size_t nl = strlen(name);
  char *line = (char *)wmem_alloc(scope, 2 + nl + 1 + CALC_INFO_PLAIN_MAX +
                                         2 + CALC_INFO_PLAIN_MAX + 2);
  size_t k = 0;
  line[k++] = ',';
  line[k++] = ' ';
  memcpy(line + k, name, nl);
  k += nl;
  line[k++] = ' ';
  k += calc_info_put(line + k, p, n, cut);
  if (rp) {
    line[k++] = ' ';
    line[k++] = '(';
    k += calc_info_put(line + k, rp, rn, rcut);
    line[k++] = ')';
  }
  line[k] = '\0';
  return line;
}

/* A message's record is found by its place in the frame: which call of
 * this dissector in the frame (TCP may make more than one), and its index
 * in that call.  Messages come in the same order in every pass. */
static uint32_t calc_msg_key(const packet_info *pinfo, uint32_t index)
{
  return (uint32_t)pinfo->curr_proto_layer_num << 24 | (index & 0xffffff);
}

/* ---- what the bytes are ---- */

/* Bytes no calc peer sends: controls other than tab, CR and LF, and
 * anything past ASCII. */
static bool calc_byte_is_binary(uint8_t c)
{
  return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c >= 0x7f;
}

/* (A word at a time: one with no unprintable byte has no binary byte.) */
static bool calc_is_binary(const uint8_t *p, size_t n)
{
  size_t i = 0;
  for (; i + sizeof(uint64_t) <= n; i += sizeof(uint64_t)) {
    uint64_t w;
    memcpy(&w, p + i, sizeof w);
    if (!calc_word_unprintable(w)) continue;
    for (size_t k = i; k < i + sizeof w; k++)
      if (calc_byte_is_binary(p[k])) return true;
  }
  for (; i < n; i++)
    if (calc_byte_is_binary(p[i])) return true;
  return false;
}

/* Text protocols' request lines, "<METHOD> <target> <NAME>/<version>",
 * and client greetings, whose bytes no calc client sends: the request
 * shows at once that the conversation is not calc. */
static const char *const calc_other_versions[] = {"HTTP/", "RTSP/", "SIP/"};
static const char *const calc_other_greetings[] = {"SSH-1.", "SSH-2.0-"};

static bool calc_is_other_request(const uint8_t *p, size_t line)
{
  for (size_t k = 0; k < G_N_ELEMENTS(calc_other_greetings); k++) {
    size_t g = strlen(calc_other_greetings[k]);
    if (line >= g && memcmp(p, calc_other_greetings[k], g) == 0) return true;
  }
  for (size_t i = 1; i < line; i++) {
    if (p[i] != ' ') continue;
    for (size_t k = 0; k < G_N_ELEMENTS(calc_other_versions); k++) {
      size_t v = strlen(calc_other_versions[k]);
      if (i + 1 + v <= line &&
          memcmp(p + i + 1, calc_other_versions[k], v) == 0)
        return true;
    }
  }
  return false;
}

/* Whether the first message of a direction, n bytes at p (its first line
 * on TCP), shows that the conversation is another protocol: binary (a
 * first byte no calc peer sends, or more than half of the bytes), another
 * text protocol's request line or greeting (calc_is_other_request), an
 * HTTP status line, or from the server something that is not a calc
 * reply.  Garbage requests stay calc: calcd answers them ERR. */
static bool calc_is_other_protocol(const uint8_t *p, size_t n, bool to_server)
{
  size_t bin = 0;
  for (size_t i = 0; i < n; i++) bin += calc_byte_is_binary(p[i]);
  if (n && (calc_byte_is_binary(p[0]) || bin * 2 > n)) return true;
  size_t line = n;
  for (size_t i = 0; i < n; i++)
    if (p[i] == '\n') {
      line = i;
      break;
    }
  if (!to_server) {
    if (line >= 5 && memcmp(p, "HTTP/", 5) == 0) return true;
    calc_reply_info ri;
    size_t m = calc_strip_eol((const char *)p, line);
    return m > 0 && calc_reply_parse((const char *)p, m, &ri) != 0;
  }
  return calc_is_other_request(p, line);
}

/* Not calc: the dissector that held the port before calc gets it, from
 * now on as the conversation's dissector (ahead of the port table, so
 * that calc is not in the way); else (0) TCP's or UDP's heuristics and
 * data. */
static int calc_give_up(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree,
                        void *data, bool tcp)
{
  uint32_t port = pinfo->match_uint;
  if (port >= CALC_PORT_FIRST && port < CALC_PORT_FIRST + CALC_PORT_COUNT) {
    dissector_handle_t h = calc_displaced[tcp][port - CALC_PORT_FIRST];
    if (h) {
      if (!PINFO_FD_VISITED(pinfo))
        conversation_set_dissector(find_or_create_conversation(pinfo), h);
      return call_dissector_only(h, tvb, pinfo, tree, data);
    }
  }
  return 0;
}

/* Judge the conversation on each direction's first message, once (first
 * pass); true when it is not calc, in this pass or a later one. */
static bool calc_conv_is_other(calc_conv *cv, packet_info *pinfo, int dir,
                               const uint8_t *p, size_t n)
{
  if (cv->judged == CALC_JUDGE_OTHER) return true;
  if (PINFO_FD_VISITED(pinfo) || cv->judged == CALC_JUDGE_CALC ||
      cv->seen_msg[dir] || n == 0)
    return false;
  cv->seen_msg[dir] = 1;
  if (calc_is_other_protocol(p, n, dir == 0)) {
    cv->judged = CALC_JUDGE_OTHER;
    return true;
  }
  if (cv->seen_msg[0] && cv->seen_msg[1]) cv->judged = CALC_JUDGE_CALC;
  return false;
}

/* ---- dissection ---- */

/* The request's parts and what the core's parser says of them (the same
 * with a tree or without: expert infos must not depend on it). */
static void calc_view_request(packet_info *pinfo, const uint8_t *p, size_t n,
                              calc_req_view *v)
{
  memset(v, 0, sizeof *v);
  v->empty = n == 0;
  v->too_long = n > CALC_MAX_REQUEST_LEN;
  v->binary = calc_is_binary(p, n);
  if (v->too_long) { /* not read by the server: no tag */
    v->rq.expr = (const char *)p;
    v->rq.expr_len = v->shown = v->tag_end = n;
    v->parse_err = CALC_E_TOO_LONG;
    v->parsed = true;
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
  if (!calc_view_ctx || v->empty) return;
  v->parsed = true;
  v->parse_err = calc_parse(calc_view_ctx, v->rq.expr, v->rq.expr_len);
  calc_view_gen++;
  if (v->parse_err != CALC_OK) {
    v->parse_msg = wmem_strdup(pinfo->pool, calc_errmsg(calc_view_ctx));
    v->unfinished = v->parse_err == CALC_E_SYNTAX &&
                    calc_request_unfinished(calc_view_ctx, (const char *)p,
                                            n);
  } else {
    v->classes = calc_classes(calc_view_ctx);
    v->ops = calc_ops(calc_view_ctx);
    v->tree_gen = calc_view_gen;
  }
}

calc_ctx *calc_view_tree(const calc_req_view *v)
{
  if (!v->tree_gen || v->tree_gen != calc_view_gen) return NULL;
  calc_view_gen++; /* evaluated next: the tree is gone */
  return calc_view_ctx;
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

/* Whether an expert info's own text shows anywhere: in a tree, or to the
 * expert tap.  Where neither is, its summary does as well (the same group,
 * severity, Expert column and highest severity; nothing else reads the
 * text), without the cost of formatting it. */
static bool calc_expert_text_shows(const proto_tree *tree)
{
  return tree || calc_expert_tap < 0 || have_tap_listener(calc_expert_tap);
}

/* (Without a tree, nothing: proto_tree_add_uint() would add nothing.) */
static proto_item *calc_add_generated_uint(proto_tree *tree, int hf,
                                           tvbuff_t *tvb, int off, int len,
                                           uint32_t v)
{
  if (!tree) return NULL;
  proto_item *it = proto_tree_add_uint(tree, hf, tvb, off, len, v);
  proto_item_set_generated(it);
  return it;
}

/* How one message arrived. */
typedef struct calc_where {
  calc_conv *cv;           /* NULL: quoted by an ICMP error, not tracked */
  uint32_t index;          /* messages so far in this call */
  bool to_server;
  bool udp;
  bool resent;             /* TCP: bytes seen before in this direction */
  bool cut;                /* the message's bytes are not all captured */
  bool legacy;             /* TCP: the next message is bytes calcd buffers
                              as a legacy request (calc_track_request) */
  uint8_t framing;         /* CALC_FRAMING_* */
  bool side_noted;         /* the server side's Note is on this frame */
  uint32_t raw_len;        /* UDP: the datagram's payload length */
} calc_where;

/* How the server side was told, where it was guessed: on the
 * conversation's first frame, and on the frame whose content turned the
 * guess round (first pass: as it stood then; later passes: as it ended). */
static void calc_add_side_note(packet_info *pinfo, proto_item *ti,
                               calc_where *w)
{
  const calc_conv *cv = w->cv;
  if (!cv || !cv->guess || w->side_noted) return;
  const char *role = w->to_server ? "receiver" : "sender";
  static const char *const says[] = {
    [CALC_SAYS_CLIENT] = "not a calc reply: only a client sends it",
    [CALC_SAYS_SERVER] = "a calc reply no client sends (ERR, inf, nan)"};
  if (pinfo->num == cv->first_frame) {
    w->side_noted = true;
    if (cv->side_late) /* (later passes) the roles as first taken */
      expert_add_info_format(pinfo, ti, &ei_calc_server_guess,
          "Server side guessed: no SYN captured and both ports are calc's; "
          "taken as this message's %s (port %u), unconfirmed and not "
          "verified, until the content of frame %u showed the other side "
          "serves", role, w->to_server ? pinfo->destport : pinfo->srcport,
          cv->side_frame);
    else if (cv->side == CALC_SIDE_OPEN)
      expert_add_info_format(pinfo, ti, &ei_calc_server_guess,
          "Server side guessed: no SYN captured and both ports are calc's; "
          "taken as this message's %s (port %u), until the content shows "
          "which side serves", role, cv->srv_port);
    else if (cv->side_frame == pinfo->num && cv->side_says != CALC_SAYS_COUNT)
      expert_add_info_format(pinfo, ti, &ei_calc_server_guess,
          "Server side from this message's content: no SYN captured and "
          "both ports are calc's; this message is %s, so its %s serves "
          "(port %u)", says[cv->side_says], role, cv->srv_port);
    else if (cv->side_says == CALC_SAYS_COUNT)
      expert_add_info_format(pinfo, ti, &ei_calc_server_guess,
          "Server side guessed: no SYN captured and both ports are calc's; "
          "taken as this message's %s (port %u): no message up to frame %u "
          "showed which side serves, so nothing is verified until one does",
          role, cv->srv_port, cv->side_frame);
    else
      expert_add_info_format(pinfo, ti, &ei_calc_server_guess,
          "Server side guessed: no SYN captured and both ports are calc's; "
          "this message's %s (port %u), as the content of frame %u %s",
          role, cv->srv_port, cv->side_frame,
          cv->side_turned && PINFO_FD_VISITED(pinfo)
              ? "shows (first taken the other way round)"
              : cv->side_turned ? "shows" : "confirms");
  } else if (cv->side_turned && pinfo->num == cv->side_frame) {
    w->side_noted = true;
    if (cv->side_late)
      expert_add_info_format(pinfo, ti, &ei_calc_server_guess,
          "Server side turned round by this message: it is %s, so its %s "
          "serves (port %u); the messages before it stay shown the other "
          "way round, not verified", says[cv->side_says], role,
          cv->srv_port);
    else
      expert_add_info_format(pinfo, ti, &ei_calc_server_guess,
          "Server side turned round by this message: it is %s, so its %s "
          "serves (port %u); the messages before it were %s the other way "
          "round", says[cv->side_says], role, cv->srv_port,
          PINFO_FD_VISITED(pinfo) ? "first taken" : "shown");
  }
}

/* The message head shared by both types; returns its subtree (NULL
 * without a tree).  Info gets "<Type> <text>" of the n bytes at p, and
 * " (<req>)" of the rn bytes at rp when rp is not NULL (rcut: they were
 * cut); built only when a column or the tree shows it. */
static proto_tree *calc_add_head(tvbuff_t *tvb, packet_info *pinfo,
                                 proto_tree *tree, int offset, int total,
                                 uint8_t type, const calc_where *w,
                                 const uint8_t *p, size_t n,
                                 const uint8_t *rp, size_t rn, bool rcut,
                                 bool first)
{
  /* calc_type_vals is in type order, from CALC_TYPE_REQUEST */
  const char *name = calc_type_vals[type - CALC_TYPE_REQUEST].strptr;
  const char *line = NULL;
  col_set_str(pinfo->cinfo, COL_PROTOCOL, "CALC");
  if (tree || pinfo->cinfo) {
    /* One string, set (not copied) or appended in one copy. */
    line = calc_info_line(pinfo->pool, name, p, n, w->cut, rp, rn, rcut);
    if (first) /* replaces what follows TCP's fence, if any */
      col_set_str(pinfo->cinfo, COL_INFO, line + 2);
    else
      col_append_str(pinfo->cinfo, COL_INFO, line);
  }

  proto_item *ti = NULL, *fi = NULL;
  proto_tree *st = NULL;
  if (tree) {
    ti = proto_tree_add_item(tree, proto_calc, tvb, offset, total, ENC_NA);
    /* ", <Type>: <text> (<req>)": the line after its name's blank */
    proto_item_append_text(ti, ", %s: %s", name, line + 2 + strlen(name) + 1);
    st = proto_item_add_subtree(ti, ett_calc);
    /* calc.type is for filters (the item's text names the type); the
     * booleans for "Apply as Filter"; the usual framing (datagram, line)
     * goes without saying. */
    proto_item_set_hidden(calc_add_generated_uint(st, hf_calc_type, tvb,
                                                  offset, 0, type));
    proto_item *bi = proto_tree_add_boolean(st, type == CALC_TYPE_REQUEST
                                                ? hf_calc_request
                                                : hf_calc_response,
                                            tvb, offset, 0, 1);
    proto_item_set_generated(bi);
    fi = calc_add_generated_uint(st, hf_calc_framing, tvb, offset, 0,
                                 w->framing);
    if (w->framing == CALC_FRAMING_DATAGRAM ||
        w->framing == CALC_FRAMING_LINE)
      proto_item_set_hidden(fi);
  }
  if (w->framing == CALC_FRAMING_PARTIAL && !w->cut)
    expert_add_info(pinfo, fi, &ei_calc_unterminated);
  if (w->cut)
    expert_add_info(pinfo, ti, &ei_calc_cut);
  calc_add_side_note(pinfo, ti, (calc_where *)w);
  return st;
}

/* Whether the message's n bytes are all there: not cut by the capture,
 * and not a line cut at a segment's end (unless over-long already). */
static bool calc_msg_whole(const calc_where *w, size_t n)
{
  return !w->cut && (w->framing != CALC_FRAMING_PARTIAL ||
                     n > CALC_MAX_REQUEST_LEN);
}

static void calc_tap_queue(packet_info *pinfo, const calc_where *w,
                           const calc_tap_rec *r)
{
  if (!w->cv || !have_tap_listener(calc_tap)) return; /* quoted: not counted */
  calc_tap_rec *c = wmem_new(pinfo->pool, calc_tap_rec);
  *c = *r;
  tap_queue_packet(calc_tap, pinfo, c);
}

/* The guess of the server side was settled (first pass): the messages
 * filed under it are filed again, in their order, turned round if the
 * guess was wrong, and verified, so that later passes show them as the
 * conversation ended and pairing goes on from where they leave it. */
static void calc_side_refile(calc_conv *cv, packet_info *pinfo)
{
  packet_info at = *pinfo; /* each message's frame and time */
  const calc_side_msg *g;
  for (uint32_t i = 0; (g = calc_side_logged(cv, i)) != NULL; i++) {
    static const uint8_t none[1] = {0};
    const uint8_t *p = g->p ? g->p : none;
    at.num = g->frame;
    at.abs_ts = g->ts;
    calc_rec r;
    if (g->to_server != cv->side_turned) { /* a request now */
      calc_req_view v;
      calc_view_request(&at, p, g->n, &v);
      r = calc_track_request(&at, cv, &v, p, g->n, g->udp, g->legacy,
                             calc_verify && g->whole &&
                                 cv->side != CALC_SIDE_STANDS,
                             g->cut,
                             !g->whole && !g->cut);
    } else {
      calc_reply_info ri;
      calc_reply_parse((const char *)p, g->n, &ri);
      if (g->cut || !g->whole) ri.has_tag = 0; /* as dissect_calc_response */
      r = calc_track_response(&at, cv, &ri, p, g->n, g->udp, g->whole,
                              g->cut, g->legacy, !g->whole && !g->cut);
    }
    calc_rec_put(&at, g->key, r);
  }
  calc_side_drop(cv);
}

/* The record of this message, into *m: the first pass files it (resent
 * TCP data is filed but not paired), later passes find it.  NULL: none
 * (also for a packet quoted by an ICMP error, never tracked). */
static const calc_msg *calc_msg_of(packet_info *pinfo, uint32_t key,
                                   const calc_where *w,
                                   const calc_req_view *v,
                                   const calc_reply_info *ri,
                                   const uint8_t *p, size_t n, calc_msg *m)
{
  if (!w->cv) return NULL;
  if (!PINFO_FD_VISITED(pinfo)) {
    /* A line cut at a segment's end is not verified, unless it is
     * over-long already; a message cut by the capture never is. */
    bool whole = calc_msg_whole(w, n);
    bool piece = !whole && !w->cut; /* a line cut at a segment's end */
    calc_rec r;
    if (!w->resent && w->cv->side == CALC_SIDE_OPEN) {
      /* Kept to be filed again once the side is settled; not verified
       * until then (the roles may be the other way round). */
      calc_side_msg sm = {pinfo->num, key, (uint32_t)n, pinfo->abs_ts,
                          w->to_server, w->udp, whole, w->cut,
                          w->framing == CALC_FRAMING_LEGACY, p};
      if (calc_side_log(w->cv, &sm)) calc_side_refile(w->cv, pinfo);
      if (w->cv->side == CALC_SIDE_OPEN) whole = false;
    }
    if (w->resent) {
      calc_msg *rm = calc_rec_new(NULL, 0);
      rm->resent = 1;
      r = calc_rec_of_msg(rm);
    } else if (v) {
      /* A guess that stands unconfirmed verifies nothing: the roles may
       * be the other way round. */
      r = calc_track_request(pinfo, w->cv, v, p, n, w->udp, w->legacy,
                             calc_verify && whole &&
                                 w->cv->side != CALC_SIDE_STANDS,
                             w->cut, piece);
    } else {
      r = calc_track_response(pinfo, w->cv, ri, p, n, w->udp, whole, w->cut,
                              w->framing == CALC_FRAMING_LEGACY, piece);
    }
    calc_rec_put(pinfo, key, r);
  }
  return calc_rec_get(pinfo, key, m) ? m : NULL;
}

/* What the content of this frame's message (first pass) says of the
 * server side, while it is a guess; turned round, what was filed under
 * it is filed again. */
static void calc_side_from(calc_conv *cv, packet_info *pinfo, int says)
{
  if (calc_side_evidence(cv, pinfo, says)) calc_side_refile(cv, pinfo);
}

/* What a TCP segment's data (n bytes at p, from its first line's start)
 * says of its sender: its first line that says anything; bytes without
 * LF are the start of a line when the segment has one (a prefix: only an
 * ERR's start says), else a message (legacy; cut when the frame is). */
static int calc_tcp_says(const uint8_t *p, size_t n, bool cut_frame)
{
  const uint8_t *lf0 = (const uint8_t *)memchr(p, '\n', n);
  for (size_t at = 0; at < n;) {
    const uint8_t *lf = (const uint8_t *)memchr(p + at, '\n', n - at);
    size_t end = lf ? (size_t)(lf - p) : n;
    size_t len = calc_strip_eol((const char *)p + at, end - at);
    int says = calc_side_says(p + at, len, lf ? false : lf0 || cut_frame);
    if (says != CALC_SAYS_NOTHING) return says;
    at = end + 1;
  }
  return CALC_SAYS_NOTHING;
}

/* Whether the conversation is known to be calc: its server has sent a
 * calc reply (later passes: ever did).  Until then a request's faults
 * are no Warning: the conversation may be another protocol's, given up
 * at its reply (docs/DISSECTOR.md, "What one pass can do"). */
static bool calc_conv_known(const calc_conv *cv)
{
  return !cv || cv->judged == CALC_JUDGE_CALC || cv->seen_msg[1];
}

static void calc_add_resent(packet_info *pinfo, proto_item *it)
{
  expert_add_info_format(pinfo, it, &ei_calc_retransmission,
                         "Retransmitted TCP data: not paired again");
}

static nstime_t calc_txn_time(const calc_txn *t)
{
  nstime_t ts;
  int64_t ns = calc_txn_req_ns(t);
  ts.secs = (time_t)(ns / 1000000000);
  ts.nsecs = (int)(ns % 1000000000);
  return ts;
}

static void calc_add_expected(proto_tree *st, tvbuff_t *tvb,
                              const char *text, bool hide)
{
  proto_item *it = proto_tree_add_string(st, hf_calc_expected, tvb, 0, 0,
                                         text);
  proto_item_set_generated(it);
  if (hide) proto_item_set_hidden(it);
}

/* The expected text of t for display: kept (short answers), else, with a
 * tree on the request's own frame, computed again from its bytes (or the
 * legacy bytes joined to it); NULL otherwise. */
static const char *calc_expected_text(packet_info *pinfo, const calc_txn *t,
                                      const calc_req_view *v,
                                      const uint8_t *p, size_t n)
{
  if (!(t->flags & CALC_TXN_EXPECTED)) return NULL;
  const char *kept = calc_txn_expected(t);
  if (kept) return kept;
  size_t jn;
  const uint8_t *j = calc_txn_joined(t, &jn);
  if (!j) return v ? calc_verify_text(pinfo, v, (const char *)p, n) : NULL;
  calc_req_view jv;
  memset(&jv, 0, sizeof jv);
  jv.too_long = jn > CALC_MAX_REQUEST_LEN;
  jv.rq.expr = (const char *)j;
  jv.rq.expr_len = jn;
  if (!jv.too_long) calc_request_split((const char *)j, jn, &jv.rq);
  return calc_verify_text(pinfo, &jv, (const char *)j, jn);
}

static void dissect_calc_request(tvbuff_t *tvb, packet_info *pinfo,
                                 proto_tree *tree, const calc_where *w,
                                 uint32_t key, bool first, int offset,
                                 const uint8_t *p, size_t n, int total)
{
  calc_req_view v;
  calc_view_request(pinfo, p, n, &v);
  calc_msg rec;
  const calc_msg *m = calc_msg_of(pinfo, key, w, &v, NULL, p, n, &rec);
  calc_txn *t = m ? m->txn : NULL;

  proto_tree *st = calc_add_head(tvb, pinfo, tree, offset, total,
                                 CALC_TYPE_REQUEST, w, p, n, NULL, 0, false,
                                 first);
  /* A line's start cut at the segment's end (no reassembly): the server
   * reads the whole line, so neither its tag nor its syntax is known. */
  bool piece = !w->cut && !calc_msg_whole(w, n);
  /* (Without a tree, no item: its bytes are the message's, fetched.) */
  proto_item *ei = !st ? NULL
      : proto_tree_add_item(st, hf_calc_expression, tvb, offset,
                            piece ? (int)calc_trim(p, n) : (int)v.shown,
                            ENC_ASCII);
  if (v.rq.has_tag && !w->cut && !piece)
    proto_tree_add_uint(st, hf_calc_tag, tvb, offset + (int)v.rq.expr_len,
                        (int)(v.tag_end - v.rq.expr_len), v.rq.tag);
  if (st && v.parse_err == CALC_OK && v.parsed) {
    proto_item *it = proto_tree_add_string(st, hf_calc_operators, tvb, offset,
        (int)v.shown, calc_ops_text(pinfo->pool, v.ops));
    proto_item_set_generated(it);
    calc_add_generated_uint(st, hf_calc_op_class, tvb, offset, (int)v.shown,
                            v.classes);
  }
  /* A legacy piece that ends unfinished waits for more (calcd joins it),
   * and one that was joined is judged with what joined it. */
  bool waits = w->framing == CALC_FRAMING_LEGACY &&
               (v.unfinished || (t && (t->flags & CALC_TXN_JOINED)));
  if (w->cut)
    ; /* what the capture cut is not judged */
  else if (!calc_conv_known(w->cv) && (v.binary || v.too_long ||
                                       (v.parse_err != CALC_OK && !waits)))
    proto_item_append_text(ei, " [%s; no expert info until the reply shows "
        "the conversation is calc]", v.binary ? "bytes no calc client sends"
        : v.too_long ? "longer than the protocol allows"
        : calc_err_token(v.parse_err));
  else if (v.binary)
    expert_add_info(pinfo, ei, &ei_calc_malformed_request);
  else if (v.too_long)
    expert_add_info_format(pinfo, ei, &ei_calc_too_long,
        "Request of %zu bytes exceeds the limit of %u bytes",
        n, (unsigned)CALC_MAX_REQUEST_LEN);
  else if (v.empty)
    expert_add_info(pinfo, ei, &ei_calc_empty_request);
  else if (v.parse_err != CALC_OK && !waits && !piece)
    expert_add_info_format(pinfo, ei, &ei_calc_bad_request,
        "Request the server refuses: %s: %s", calc_err_token(v.parse_err),
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
  if (m && m->tag_reused && calc_conv_known(w->cv))
    expert_add_info(pinfo, ei, &ei_calc_tag_reused);
  if (t && t->rep_frame) {
    proto_item *it = calc_add_generated_uint(st, hf_calc_response_in, tvb, 0,
                                             0, t->rep_frame);
    if (t->reply & CALC_REPLY_SEEN_EARLY)
      proto_item_append_text(it, " (captured before this request: paired "
                                 "by tag)");
  } else if (t && PINFO_FD_VISITED(pinfo) && !w->cut &&
             !(t->reply & CALC_REPLY_SEEN_ROLES)) {
    expert_add_info(pinfo, ei, (t->reply & CALC_REPLY_SEEN_LOST)
                                   ? &ei_calc_response_not_captured
                                   : &ei_calc_no_response);
  }
  if (st && t) {
    const char *exp = calc_expected_text(pinfo, t, m->joined ? NULL : &v, p,
                                         n);
    if (exp) calc_add_expected(st, tvb, exp, false);
  }

  if (v.empty || (m && m->joined)) return; /* not a request of its own */
  calc_tap_rec r = {0};
  r.type = CALC_TYPE_REQUEST;
  r.repeated = m && (m->repeats || m->resent);
  r.malformed = (v.parse_err != CALC_OK && !piece) || v.binary;
  r.classes = v.classes;
  r.ops = v.ops;
  r.early = t && (t->reply & CALC_REPLY_SEEN_EARLY);
  /* (not counted as unanswered; nor what was perhaps no request) */
  r.not_captured = t && !t->rep_frame && PINFO_FD_VISITED(pinfo) &&
                   (w->cut || (t->reply & (CALC_REPLY_SEEN_LOST |
                                           CALC_REPLY_SEEN_ROLES)));
  calc_tap_queue(pinfo, w, &r);
}

static void dissect_calc_response(tvbuff_t *tvb, packet_info *pinfo,
                                  proto_tree *tree, const calc_where *w,
                                  uint32_t key, bool first, int offset,
                                  const uint8_t *p, size_t n, int total)
{
  calc_reply_info ri;
  int rc = calc_reply_parse((const char *)p, n, &ri);
  /* A piece of a reply (cut by the capture, or going on in the next
   * segment): its tag, if any, is in what is not here; what it lacks is
   * not an error of the server. */
  bool piece = !calc_msg_whole(w, n);
  if (piece) ri.has_tag = 0;
  calc_msg rec;
  const calc_msg *m = calc_msg_of(pinfo, key, w, NULL, &ri, p, n, &rec);
  calc_txn *t = m ? m->txn : NULL;

  const uint8_t *req = NULL;
  size_t il = 0;
  bool icut = false;
  if (t) req = calc_txn_info(t, &il, &icut);
  proto_tree *st = calc_add_head(tvb, pinfo, tree, offset, total,
                                 CALC_TYPE_RESPONSE, w, p, n, req, il, icut,
                                 first);
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
    else if (!piece)
      expert_add_info(pinfo, ri_item, &ei_calc_error_unknown);
  } else {
    ri_item = !st ? NULL /* as the request's expression */
        : proto_tree_add_item(st, hf_calc_result, tvb, offset,
                              (int)ri.body_len, ENC_ASCII);
    if (rc != 0 && !piece)
      expert_add_info(pinfo, ri_item, &ei_calc_malformed_response);
  }
  if (ri.has_tag) {
    size_t at = ri.text_len; /* the reply, then its tag after a blank */
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
    r.err_token = calc_ws_format_text(pinfo->pool, (const uint8_t *)ri.token,
                                      ri.token_len);
  if (m && m->resent) {
    calc_add_resent(pinfo, ri_item);
    r.repeated = true;
    calc_tap_queue(pinfo, w, &r);
    return;
  }
  if (m && m->joined && t) {
    proto_item *it = calc_add_generated_uint(st, hf_calc_joined_to, tvb, 0,
                                             0, m->repeats);
    expert_add_info_format(pinfo, it, &ei_calc_joined,
        "The rest of the legacy reply in frame %u", m->repeats);
  }
  if (!t) {
    /* calcd greets a connection past its limit with ERR busy, unasked;
     * after a gap the request may be in what was not captured; a tagged
     * response may come before its request (one pass: not known yet). */
    r.not_captured = w->cut || (m && m->unseen);
    r.early = m && m->early;
    if (m && m->unseen)
      expert_add_info(pinfo, ri_item, &ei_calc_unseen);
    else if (m && m->early && !PINFO_FD_VISITED(pinfo))
      expert_add_info(pinfo, ri_item, &ei_calc_request_not_seen_yet);
    else if (!(ri.is_error && ri.kind == CALC_E_BUSY) && w->cv && !w->cut &&
             !(m && m->cut))
      expert_add_info(pinfo, ri_item, &ei_calc_no_request);
    calc_tap_queue(pinfo, w, &r);
    return;
  }
  if (m->early) {
    r.early = true;
    expert_add_info_format(pinfo, ri_item, &ei_calc_response_early,
        "Response captured before its request (frame %u): paired by tag",
        t->req_frame);
  }
  if (m->tagless) expert_add_info(pinfo, ri_item, &ei_calc_tagless);
  if (m->uncertain) expert_add_info(pinfo, ri_item, &ei_calc_uncertain);
  r.matched = true;
  r.repeated = m->repeats != 0 && !m->joined;
  r.verdict = m->verdict;
  r.classes = t->classes & ~CALC_TXN_TAG_OPEN;
  calc_add_generated_uint(st, hf_calc_response_to, tvb, 0, 0, t->req_frame);
  nstime_t req_time = calc_txn_time(t);
  nstime_delta(&r.time, &pinfo->abs_ts, &req_time);
  proto_item *it = NULL;
  if (st && !m->early) { /* before its request: no response time to tell */
    it = proto_tree_add_time(st, hf_calc_time, tvb, 0, 0, &r.time);
    proto_item_set_generated(it);
  }
  if (m->repeats && !m->joined) {
    it = calc_add_generated_uint(st, hf_calc_duplicate_of, tvb, 0, 0,
                                 m->repeats);
    expert_add_info_format(pinfo, it, &ei_calc_duplicate_response,
                           "Duplicate of the response in frame %u",
                           m->repeats);
  }
  /* A verified result is the expected text itself (kept as a hash when
   * long): looked for only where it shows (the tree, a mismatch). */
  const char *exp = calc_txn_expected(t);
  if (!exp && (st || m->verdict == CALC_VERDICT_MISMATCH) &&
      calc_verify_is_expected(t, (const char *)p, ri.text_len))
    exp = wmem_strndup(pinfo->pool, (const char *)p, ri.text_len);
  if (st && exp)
    calc_add_expected(st, tvb, exp,
                      m->verdict == CALC_VERDICT_MATCH && !ri.is_error);
  if (m->verdict == CALC_VERDICT_MATCH ||
      m->verdict == CALC_VERDICT_MISMATCH) {
    it = !st ? NULL : proto_tree_add_boolean(st, hf_calc_verified, tvb, 0,
        0, m->verdict == CALC_VERDICT_MATCH);
    proto_item_set_generated(it);
    if (m->verdict == CALC_VERDICT_MISMATCH && exp)
      expert_add_info_format(pinfo, ri_item, &ei_calc_mismatch,
                             "Response differs from the core's answer: %s",
                             exp);
    else if (m->verdict == CALC_VERDICT_MISMATCH)
      expert_add_info_format(pinfo, ri_item, &ei_calc_mismatch,
          "Response differs from the core's answer (%u bytes: "
          "calc.expected of the request in frame %u)",
          (unsigned)t->exp_len, t->req_frame);
  } else if (m->verdict == CALC_VERDICT_REFUSED) {
    it = proto_tree_add_boolean(st, hf_calc_refused, tvb, 0, 0, 1);
    proto_item_set_generated(it);
  } else if ((t->flags & CALC_TXN_BUDGET) && !m->repeats) {
    expert_add_info(pinfo, ri_item, &ei_calc_budget);
  }
  if (w->udp && !w->cut && !(t->flags & CALC_TXN_CUT)) {
    uint32_t bound = (uint32_t)calc_udp_bound(t->req_n);
    it = calc_add_generated_uint(st, hf_calc_udp_bound, tvb, 0, 0, bound);
    if (w->raw_len > bound && !calc_expert_text_shows(tree))
      expert_add_info(pinfo, it, &ei_calc_amplification);
    else if (w->raw_len > bound)
      expert_add_info_format(pinfo, it, &ei_calc_amplification,
          "UDP response of %u bytes exceeds the bound of %u bytes for a "
          "%u-byte request", w->raw_len, bound, (unsigned)t->req_n);
  }
  calc_tap_queue(pinfo, w, &r);
}

/* One message: n bytes at offset without the line end, total with it. */
static void dissect_calc_message(tvbuff_t *tvb, packet_info *pinfo,
                                 proto_tree *tree, calc_where *w,
                                 int offset, int n, int total)
{
  static const uint8_t empty[1] = {0};
  uint32_t key = calc_msg_key(pinfo, w->index);
  bool first = w->index == 0 && pinfo->curr_proto_layer_num <= 1;
  const uint8_t *p = n > 0 ? tvb_get_ptr(tvb, offset, n) : empty;

  if (w->to_server)
    dissect_calc_request(tvb, pinfo, tree, w, key, first, offset, p,
                         (size_t)n, total);
  else
    dissect_calc_response(tvb, pinfo, tree, w, key, first, offset, p,
                          (size_t)n, total);
  w->index++;
  w->legacy = false;
}

/* The rest of a line whose start is not here: cut at the end of an
 * earlier segment (no reassembly), or before a gap or the capture's
 * start.  Not a message: not paired, no expert info. */
static void dissect_calc_continuation(tvbuff_t *tvb, packet_info *pinfo,
                                      proto_tree *tree, calc_where *w,
                                      int offset, int len)
{
  proto_item *ti = proto_tree_add_item(tree, proto_calc, tvb, offset, len,
                                       ENC_NA);
  proto_item_append_text(ti, ", rest of a line (its start is not here)");
  calc_add_side_note(pinfo, ti, w);
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

/* A frame captured shorter than it was sent: after what could be shown,
 * the exception that says so ("[Packet size limited during capture]"), as
 * DNS does.  Not for a packet an ICMP error quotes. */
static void calc_end_of_captured(tvbuff_t *tvb, packet_info *pinfo)
{
  if (tvb_captured_length(tvb) < tvb_reported_length(tvb) &&
      !pinfo->flags.in_error_pkt)
    tvb_ensure_bytes_exist(tvb, 0, (int)tvb_reported_length(tvb));
}

/* A packet an ICMP error quotes: decoded, never tracked, paired or
 * counted (as DNS does); a request when it went to a calc port. */
static void calc_where_quoted(calc_where *w, const packet_info *pinfo)
{
  w->cv = NULL;
  w->to_server = pinfo->match_uint == pinfo->destport;
}

static int dissect_calc_udp_common(tvbuff_t *tvb, packet_info *pinfo,
                                   proto_tree *tree, void *data,
                                   bool heuristic)
{
  calc_where w = {0};
  int len = (int)tvb_captured_length(tvb);
  const uint8_t *p = len ? tvb_get_ptr(tvb, 0, len) : NULL;
  if (pinfo->flags.in_error_pkt) {
    calc_where_quoted(&w, pinfo);
  } else {
    w.cv = calc_conv_find(pinfo, heuristic);
    if (calc_side_undecided(w.cv) && !PINFO_FD_VISITED(pinfo) && len) {
      bool cut = (unsigned)len < tvb_reported_length(tvb);
      calc_side_from(w.cv, pinfo, calc_side_says(p, cut ? (size_t)len
          : calc_strip_eol((const char *)p, (size_t)len), cut));
    }
    w.to_server = calc_to_server(w.cv, pinfo);
    if (calc_conv_is_other(w.cv, pinfo, w.to_server ? 0 : 1, p, (size_t)len))
      return heuristic ? 0 : calc_give_up(tvb, pinfo, tree, data, false);
  }
  w.udp = true;
  w.framing = CALC_FRAMING_DATAGRAM;
  w.raw_len = tvb_reported_length(tvb);
  w.cut = (unsigned)len < w.raw_len;
  dissect_calc_message(tvb, pinfo, tree, &w, 0,
                       w.cut ? len : calc_text_len(tvb, 0, len), len);
  calc_end_of_captured(tvb, pinfo);
  return len;
}

static int dissect_calc_udp(tvbuff_t *tvb, packet_info *pinfo,
                            proto_tree *tree, void *data)
{
  return dissect_calc_udp_common(tvb, pinfo, tree, data, false);
}

/* Whether the frame's data starts with the rest of a line (first pass:
 * decided and saved; later passes: read). */
static bool calc_starts_midline(calc_conv *cv, int dir, packet_info *pinfo,
                                int pos)
{
  if (PINFO_FD_VISITED(pinfo))
    return p_get_proto_data(wmem_file_scope(), pinfo, proto_calc,
                            CALC_KEY_CONTINUES) != NULL;
  calc_tcp_dir *d = &cv->tcp[dir];
  bool cont = d->midline || d->cut_open || (pos == CALC_POS_GAP && d->lost);
  d->midline = d->lost = d->cut_open = false;
  if (cont)
    p_add_proto_data(wmem_file_scope(), pinfo, proto_calc,
                     CALC_KEY_CONTINUES, GUINT_TO_POINTER(1));
  return cont;
}

/* The reply direction's framing follows the requests': lines once either
 * direction has sent LF before this frame (the server's own LF counts from
 * its frame on).  An unterminated reply in line mode is reassembled until
 * LF, unless it is exactly its request's answer: the original server,
 * which never sends LF, answering a line client (first pass: decided and
 * saved). */
static bool calc_reply_is_legacy(calc_conv *cv, packet_info *pinfo,
                                 tvbuff_t *tvb, int len)
{
  uint32_t req_lf = cv->tcp[0].first_lf, rep_lf = cv->tcp[1].first_lf;
  bool lines = (req_lf && req_lf < pinfo->num) ||
               (rep_lf && rep_lf <= pinfo->num);
  if (!lines) return true;
  if (rep_lf && rep_lf <= pinfo->num) return false;
  if (PINFO_FD_VISITED(pinfo))
    return p_get_proto_data(wmem_file_scope(), pinfo, proto_calc,
                            CALC_KEY_WHOLE_REPLY) != NULL;
  int n = calc_text_len(tvb, 0, len);
  if (!calc_track_reply_is_whole(cv, tvb_get_ptr(tvb, 0, len), (size_t)n))
    return false;
  p_add_proto_data(wmem_file_scope(), pinfo, proto_calc, CALC_KEY_WHOLE_REPLY,
                   GUINT_TO_POINTER(1));
  return true;
}

/* A legacy reply that is the start of its request's answer, shorter
 * than it and not the sender's last: the network cut the original
 * server's reply, so TCP reassembles it with the next segment (first
 * pass: decided and saved). */
static bool calc_legacy_reply_waits(calc_conv *cv, packet_info *pinfo,
                                    tvbuff_t *tvb, int len)
{
  if (!calc_desegment || !pinfo->can_desegment) return false;
  if (PINFO_FD_VISITED(pinfo))
    return p_get_proto_data(wmem_file_scope(), pinfo, proto_calc,
                            CALC_KEY_REPLY_WAITS) != NULL;
  if (!calc_track_reply_is_start(cv, tvb_get_ptr(tvb, 0, len),
                                 (size_t)calc_text_len(tvb, 0, len)))
    return false;
  p_add_proto_data(wmem_file_scope(), pinfo, proto_calc, CALC_KEY_REPLY_WAITS,
                   GUINT_TO_POINTER(1));
  return true;
}

/* First pass, TCP: what this segment tells of the bytes the capture does
 * not show, before its messages are paired.  Requests sent there are a
 * hole in the order of requests (calc_track_hole); replies there put
 * pairing out of step. */
static void calc_tcp_unseen(calc_conv *cv, int dir, packet_info *pinfo,
                            const struct tcpinfo *ti, int pos)
{
  calc_tcp_dir *d = &cv->tcp[dir], *o = &cv->tcp[1 - dir];
  if (pos == CALC_POS_GAP && dir == 0) {
    /* One hole per range: the peer's ACK may have told of it already. */
    if (!d->unseen) calc_track_hole(pinfo, cv);
    d->unseen = false;
  } else if (d->unseen && (int32_t)(d->next - d->unseen_to) >= 0) {
    d->unseen = false;
  }
  if (calc_conv_tcp_acked_unseen(cv, dir, pinfo, ti)) {
    cv->unsync = true;
    if (dir == 1) calc_track_hole(pinfo, cv);
  }
  /* The peer's data came after a cut frame: it answered, or asked again,
   * so the cut line ended in that frame (a sender that goes on with the
   * same line sends its next segment first). */
  if (o->cut_open) {
    o->cut_open = false;
    o->boundary = true;
  }
}

/* A segment that starts before where its direction stands and goes past
 * it (a retransmission that overlaps bytes seen and carries new ones,
 * passed on by TCP): the number of bytes seen before, which are not
 * decoded again (first pass: decided and saved per call); 0: none. */
static bool calc_in_overlap; /* decoding the new bytes of one */

static int calc_tcp_overlap(const calc_conv *cv, int dir, packet_info *pinfo,
                            const struct tcpinfo *ti, int len)
{
  uint32_t key = CALC_KEY_OVERLAP - pinfo->curr_proto_layer_num;
  if (calc_in_overlap) return 0;
  if (PINFO_FD_VISITED(pinfo))
    return GPOINTER_TO_INT(p_get_proto_data(wmem_file_scope(), pinfo,
                                            proto_calc, key));
  const calc_tcp_dir *d = &cv->tcp[dir];
  if (!ti || ti->is_reassembled || !d->seen || d->frame == pinfo->num)
    return 0;
  int32_t back = (int32_t)(d->next - ti->seq);
  if (back <= 0 || back >= len || (int32_t)(ti->nxtseq - d->next) <= 0)
    return 0;
  p_add_proto_data(wmem_file_scope(), pinfo, proto_calc, key,
                   GINT_TO_POINTER(back));
  return back;
}

/* TCP: lines, or legacy messages in a direction that never sent LF. */
static int dissect_calc_tcp_common(tvbuff_t *tvb, packet_info *pinfo,
                                   proto_tree *tree, void *data,
                                   bool heuristic)
{
  const struct tcpinfo *ti = (const struct tcpinfo *)data;
  calc_where w = {0};
  int len = (int)tvb_captured_length(tvb);
  const uint8_t *raw = len ? tvb_get_ptr(tvb, 0, len) : NULL;
  bool cut_frame = tvb_reported_length(tvb) > (unsigned)len;
  if (pinfo->flags.in_error_pkt) { /* quoted: each line alone */
    calc_where_quoted(&w, pinfo);
    for (int off = 0; off < len;) {
      int eol = tvb_find_uint8(tvb, off, len - off, '\n');
      int end = eol < 0 ? len : eol + 1;
      w.framing = eol < 0 ? CALC_FRAMING_PARTIAL : CALC_FRAMING_LINE;
      w.cut = eol < 0;
      dissect_calc_message(tvb, pinfo, tree, &w, off,
                           eol < 0 ? end - off : calc_text_len(tvb, off,
                                                               end - off),
                           end - off);
      off = end;
    }
    return len;
  }
  w.cv = calc_conv_find(pinfo, heuristic);
  calc_conv *cv = w.cv;
  w.to_server = calc_to_server(cv, pinfo);
  int dir = w.to_server ? 0 : 1;
  calc_tcp_dir *d = &cv->tcp[dir];
  int seen = calc_tcp_overlap(cv, dir, pinfo, ti, len);
  if (seen > 0) {
    proto_item *it = proto_tree_add_item(tree, proto_calc, tvb, 0, seen,
                                         ENC_NA);
    proto_item_append_text(it, ", TCP data seen before (%d bytes)", seen);
    calc_add_resent(pinfo, it);
    col_set_str(pinfo->cinfo, COL_PROTOCOL, "CALC");
    col_add_str(pinfo->cinfo, COL_INFO, "Retransmitted data");
    /* The new bytes, as TCP would pass them alone. */
    struct tcpinfo sub = *ti;
    sub.seq += (uint32_t)seen;
    volatile int n = 0;
    calc_in_overlap = true;
    TRY {
      n = dissect_calc_tcp_common(tvb_new_subset_remaining(tvb, seen), pinfo,
                                  tree, &sub, heuristic);
    } FINALLY {
      calc_in_overlap = false;
    } ENDTRY;
    if (pinfo->desegment_len) pinfo->desegment_offset += seen;
    return seen + n;
  }
  int pos = PINFO_FD_VISITED(pinfo) ? CALC_POS_NEW
                                    : calc_conv_tcp_pos(cv, dir, pinfo, ti);
  w.resent = pos == CALC_POS_RESENT;
  if (!PINFO_FD_VISITED(pinfo) && !w.resent)
    calc_tcp_unseen(cv, dir, pinfo, ti, pos);
  bool cont = !w.resent && calc_starts_midline(cv, dir, pinfo, pos);

  /* The conversation is judged on its first message each way, not on the
   * rest of a line. */
  int lf = tvb_find_uint8(tvb, 0, len, '\n');
  int judge_at = cont ? (lf < 0 ? len : lf + 1) : 0;
  if (calc_side_undecided(cv) && !PINFO_FD_VISITED(pinfo) && !w.resent &&
      judge_at < len) {
    calc_side_from(cv, pinfo, calc_tcp_says(raw + judge_at,
                                            (size_t)(len - judge_at),
                                            cut_frame));
    w.to_server = calc_to_server(cv, pinfo);
    dir = w.to_server ? 0 : 1;
    d = &cv->tcp[dir];
  }
  if (cv->judged == CALC_JUDGE_OTHER ||
      (!w.resent && judge_at < len &&
       calc_conv_is_other(cv, pinfo, dir, raw + judge_at,
                          (size_t)(len - judge_at))))
    return heuristic ? 0 : calc_give_up(tvb, pinfo, tree, data, true);

  if (lf >= 0 && d->first_lf == 0 && !PINFO_FD_VISITED(pinfo))
    d->first_lf = pinfo->num;
  bool legacy = lf < 0 && !cont &&
                (w.to_server ? (d->first_lf == 0 || pinfo->num < d->first_lf)
                             : calc_reply_is_legacy(cv, pinfo, tvb, len));
  if (legacy && !w.to_server && !cut_frame &&
      !(ti && (ti->flags & TH_FIN)) &&
      calc_legacy_reply_waits(cv, pinfo, tvb, len)) {
    pinfo->desegment_offset = 0;
    pinfo->desegment_len = DESEGMENT_ONE_MORE_SEGMENT;
    return len;
  }
  if (legacy) {
    w.framing = CALC_FRAMING_LEGACY;
    w.legacy = w.to_server;
    w.cut = cut_frame;
    dissect_calc_message(tvb, pinfo, tree, &w, 0,
                         cut_frame ? len : calc_text_len(tvb, 0, len), len);
    if (!PINFO_FD_VISITED(pinfo)) {
      d->boundary = true;
      if (cut_frame) cv->unsync = true;
    }
    calc_end_of_captured(tvb, pinfo);
    return len;
  }

  int offset = 0;
  bool cut_line = false, shown_cut = false;
  /* The first LF makes calcd's legacy bytes, if it still holds some, the
   * start of the first line. */
  w.legacy = w.to_server && d->first_lf == pinfo->num;
  if (cont) {
    int end = lf < 0 ? len : lf + 1;
    dissect_calc_continuation(tvb, pinfo, tree, &w, 0, end);
    cut_line = lf < 0;
    offset = end;
  }
  /* Lines, as lib's framer cuts them (calcd's rules: the length limit, CR
   * removed, empty lines, the last bytes at the sender's FIN). */
  calc_frame fr;
  calc_frame_init(&fr, w.to_server ? CALC_FRAME_REQUESTS : CALC_FRAME_REPLIES);
  fr.flags |= CALC_FRAME_F_LINE;
  if (ti && (ti->flags & TH_FIN) && !cut_frame) calc_frame_eof(&fr);
  while (offset < len) {
    const char *at = (const char *)raw + offset;
    size_t left = (size_t)(len - offset);
    calc_frame_msg m;
    calc_frame_fed(&fr, left, 0);
    calc_frame_kind k = calc_frame_next(&fr, NULL, at, left, 0, &m);
    if (k == CALC_FRAME_NONE && cut_frame) {
      /* The rest of the frame was not captured. */
      w.framing = CALC_FRAMING_PARTIAL;
      w.cut = true;
      dissect_calc_message(tvb, pinfo, tree, &w, offset, (int)left,
                           (int)left);
      shown_cut = true;
      break;
    }
    if (k == CALC_FRAME_NONE) {
      if (calc_desegment && pinfo->can_desegment) {
        pinfo->desegment_offset = offset;
        pinfo->desegment_len = DESEGMENT_ONE_MORE_SEGMENT;
        if (!PINFO_FD_VISITED(pinfo)) d->boundary = false;
        return len;
      }
      w.framing = CALC_FRAMING_PARTIAL;
      dissect_calc_message(tvb, pinfo, tree, &w, offset,
                           calc_text_len(tvb, offset, (int)left), (int)left);
      cut_line = true;
      break;
    }
    if (k == CALC_FRAME_TOO_LONG) {
      /* Over the limit: calcd refuses it and closes; shown as the one
       * over-long message up to its LF, or the segment's end. */
      int eol = tvb_find_uint8(tvb, offset, (int)left, '\n');
      int end = eol < 0 ? len : eol + 1;
      w.framing = eol < 0 ? CALC_FRAMING_PARTIAL : CALC_FRAMING_LINE;
      dissect_calc_message(tvb, pinfo, tree, &w, offset,
                           calc_text_len(tvb, offset, end - offset),
                           end - offset);
      cut_line = eol < 0;
      offset = end;
      calc_frame_init(&fr, fr.dir);
      fr.flags |= CALC_FRAME_F_LINE;
      continue;
    }
    w.framing = k == CALC_FRAME_FINAL ? CALC_FRAMING_FINAL : CALC_FRAMING_LINE;
    dissect_calc_message(tvb, pinfo, tree, &w, offset, (int)m.len,
                         (int)m.end);
    offset += (int)m.end;
  }
  if (!PINFO_FD_VISITED(pinfo) && !w.resent) {
    d->midline = cut_line;
    /* What a cut frame did not capture may end its last line, hold more
     * lines (requests: a hole), or go on into the next segment: that one
     * starts with the rest of a line unless the peer's data comes first
     * (calc_tcp_unseen).  Pairing is uncertain until it finds its step. */
    d->boundary = !cut_frame && len > 0 && raw[len - 1] == '\n';
    d->cut_open = cut_frame;
    if (cut_frame) {
      cv->unsync = true;
      if (dir == 0) calc_track_hole(pinfo, cv);
    }
    if (cut_frame && !w.to_server) /* responses in what was not captured */
      calc_track_lost_replies(cv, tvb_reported_length(tvb) - (unsigned)len,
                              shown_cut ? CALC_LOST_SHOWN : CALC_LOST_LINE);
  }
  calc_end_of_captured(tvb, pinfo);
  return len;
}

static int dissect_calc_tcp(tvbuff_t *tvb, packet_info *pinfo,
                            proto_tree *tree, void *data)
{
  const struct tcpinfo *ti = (const struct tcpinfo *)data;
  /* A PROXY header opens a client's stream to the server behind a load
   * balancer (calc-proxyhdr.c); calc's lines follow it. */
  int len = (int)tvb_captured_length(tvb);
  int hdr = 0;
  if (ti && ti->seq == 1 && len > 0 && !pinfo->flags.in_error_pkt &&
      calc_to_server(calc_conv_find(pinfo, false), pinfo))
    hdr = calc_proxyhdr_dissect(tvb, pinfo, tree);
  if (hdr < 0) return (int)tvb_captured_length(tvb);
  if (hdr == 0) return dissect_calc_tcp_common(tvb, pinfo, tree, data, false);
  if (tvb_captured_length(tvb) == (unsigned)hdr) return hdr;
  int n = dissect_calc_tcp_common(tvb_new_subset_remaining(tvb, hdr), pinfo,
                                  tree, data, false);
  if (pinfo->desegment_len) pinfo->desegment_offset += hdr;
  return hdr + n;
}

/* Heuristics (off by default): printable text whose first message parses
 * as an expression with at least one binary operator. */
static bool calc_looks_like_request(tvbuff_t *tvb, bool tcp)
{
  int len = (int)tvb_captured_length(tvb);
  if (len == 0 || len > CALC_HEUR_MAX || !calc_view_ctx) return false;
  const char *p = (const char *)tvb_get_ptr(tvb, 0, len);
  int end = len;
  if (tcp) {
    int lf = tvb_find_uint8(tvb, 0, len, '\n');
    if (lf >= 0) end = lf + 1;
  }
  end = (int)calc_strip_eol(p, (size_t)end);
  for (int i = 0; i < end; i++)
    if ((p[i] < 0x20 || p[i] > 0x7e) && p[i] != '\t') return false;
  calc_request rq;
  calc_request_split(p, (size_t)end, &rq);
  if (rq.expr_len == 0 || rq.expr_len > CALC_MAX_REQUEST_LEN) return false;
  calc_view_gen++;
  return calc_parse(calc_view_ctx, rq.expr, rq.expr_len) == CALC_OK &&
         calc_classes(calc_view_ctx) != 0;
}

static calc_ws_heur_result dissect_calc_heur_udp(tvbuff_t *tvb,
                                                 packet_info *pinfo,
                                                 proto_tree *tree,
                                                 void *data)
{
  if (pinfo->flags.in_error_pkt || !calc_looks_like_request(tvb, false))
    return FALSE;
  conversation_set_dissector(find_or_create_conversation(pinfo),
                             calc_udp_handle);
  dissect_calc_udp_common(tvb, pinfo, tree, data, true);
  return TRUE;
}

static calc_ws_heur_result dissect_calc_heur_tcp(tvbuff_t *tvb,
                                                 packet_info *pinfo,
                                                 proto_tree *tree, void *data)
{
  if (pinfo->flags.in_error_pkt || !calc_looks_like_request(tvb, true))
    return FALSE;
  conversation_set_dissector(find_or_create_conversation(pinfo),
                             calc_tcp_handle);
  dissect_calc_tcp_common(tvb, pinfo, tree, data, true);
  return TRUE;
}

/* TLS (Decode As on tls.port): the decrypted stream, as over TCP.  TLS
 * passes no tcpinfo: no gap or retransmission is seen below it. */
static int dissect_calc_tls(tvbuff_t *tvb, packet_info *pinfo,
                            proto_tree *tree, void *data _U_)
{
  return dissect_calc_tcp_common(tvb, pinfo, tree, NULL, false);
}

const char *calc_op_class_name(unsigned classes)
{
  return val_to_str_const(classes, calc_op_class_vals, "?");
}

/* ---- registration ---- */

/* With calc disabled (--disable-protocol calc, Analyze > Enabled
 * Protocols), the ports go back to the dissectors calc displaced, so that
 * ICQ and OPSI decode as they would without the plugin; enabled again,
 * calc takes back those of its preference's range. */
static void calc_ports_follow_enabled(void)
{
  bool on = proto_is_protocol_enabled(find_protocol_by_id(proto_calc));
  if (on != calc_ports_given_back) return;
  static const char *const tables[2] = {"udp.port", "tcp.port"};
  dissector_handle_t ours[2] = {calc_udp_handle, calc_tcp_handle};
  for (int t = 0; t < 2; t++) {
    range_t *r = prefs_get_range_value("calc", t ? "tcp.port" : "udp.port");
    for (int i = 0; i < CALC_PORT_COUNT; i++) {
      uint32_t port = CALC_PORT_FIRST + (uint32_t)i;
      if (!calc_displaced[t][i] || (on && !(r && value_is_in_range(r, port))))
        continue;
      dissector_add_uint(tables[t], port, on ? ours[t] : calc_displaced[t][i]);
    }
  }
  calc_ports_given_back = !on;
}

static void calc_init(void)
{
  calc_track_init(proto_calc, calc_verify_budget);
  if (!calc_view_ctx) calc_view_ctx = calc_ctx_new(NULL);
  calc_ports_follow_enabled();
  calc_expert_tap = find_tap_id("expert");
}

static void calc_cleanup(void)
{
  calc_track_cleanup();
  calc_ctx_free(calc_view_ctx);
  calc_view_ctx = NULL;
}

void proto_register_calc(void)
{
  static hf_register_info hf[] = {
    {&hf_calc_type, {"Type", "calc.type", FT_UINT8, BASE_DEC,
      VALS(calc_type_vals), 0x0, "Request or response", HFILL}},
    {&hf_calc_request, {"Request", "calc.request", FT_BOOLEAN, BASE_NONE,
      NULL, 0x0, "True: a request (to the server)", HFILL}},
    {&hf_calc_response, {"Response", "calc.response", FT_BOOLEAN, BASE_NONE,
      NULL, 0x0, "True: a response (from the server)", HFILL}},
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
    {&ei_calc_error_unknown, {"calc.error_reply.unknown", PI_RESPONSE_CODE,
      PI_WARN, "Error response of an unknown kind", EXPFILL}},
    {&ei_calc_malformed_request, {"calc.malformed_request", PI_MALFORMED,
      PI_WARN, "Malformed request: bytes no calc client sends (controls, "
      "8-bit)", EXPFILL}},
    {&ei_calc_bad_request, {"calc.bad_request", PI_REQUEST_CODE, PI_WARN,
      "Request the server refuses", EXPFILL}},
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
    {&ei_calc_response_not_captured, {"calc.response_not_captured",
      PI_SEQUENCE, PI_NOTE, "Response not captured: it is in bytes the "
      "capture does not show (lost segments, or a frame cut by the "
      "snapshot length)", EXPFILL}},
    {&ei_calc_response_early, {"calc.response_early", PI_SEQUENCE, PI_NOTE,
      "Response captured before its request: paired by tag", EXPFILL}},
    {&ei_calc_request_not_seen_yet, {"calc.request_not_seen_yet",
      PI_SEQUENCE, PI_NOTE, "No request with this tag seen yet: it may come "
      "later in the capture (the second pass tells)", EXPFILL}},
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
    {&ei_calc_cut, {"calc.cut", PI_UNDECODED, PI_NOTE,
      "Message cut by the capture (snapshot length): not paired by order "
      "alone, not verified", EXPFILL}},
    {&ei_calc_uncertain, {"calc.uncertain", PI_SEQUENCE, PI_NOTE,
      "Paired by order after bytes the capture does not show: may be the "
      "answer to another request, not verified", EXPFILL}},
    {&ei_calc_unseen, {"calc.unseen_request", PI_SEQUENCE, PI_NOTE,
      "Response whose request may be in bytes the capture does not show",
      EXPFILL}},
    {&ei_calc_server_guess, {"calc.server_guess", PI_ASSUMPTION, PI_NOTE,
      "Server side guessed", EXPFILL}},
    {&ei_calc_budget, {"calc.not_verified_budget", PI_UNDECODED, PI_NOTE,
      "Not verified (budget): the capture's verification work is spent",
      EXPFILL}},
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
  calc_verify_budget = calc_verify_default_budget();
  prefs_register_uint_preference(m, "verify_budget",
      "Verification work per capture (millions of units)",
      "How much evaluation verification may spend on one capture file: a "
      "unit is a byte of a request, or of the square of a result's length "
      "over 16.  Past it, responses are marked \"not verified (budget)\". "
      "Identical expressions are evaluated once.",
      10, &calc_verify_budget);

  calc_udp_handle = register_dissector("calc.udp", dissect_calc_udp,
                                       proto_calc);
  calc_tcp_handle = register_dissector("calc.tcp", dissect_calc_tcp,
                                       proto_calc);
  calc_tls_handle = register_dissector("calc.tls", dissect_calc_tls,
                                       proto_calc);
  calc_tap = register_tap("calc");
  calc_rtd_register(proto_calc);
  calc_proxyhdr_register(proto_calc);
  register_init_routine(calc_init);
  register_cleanup_routine(calc_cleanup);
}

void proto_reg_handoff_calc(void)
{
  /* Plugins register after the built-in dissectors, so these replace ICQ
   * on UDP 4000 and OPSI on TCP 4002: kept, for the conversations that are
   * not calc (calc_give_up) and for calc disabled. */
  static const char *const tables[2] = {"udp.port", "tcp.port"};
  for (int t = 0; t < 2; t++)
    for (int i = 0; i < CALC_PORT_COUNT; i++)
      calc_displaced[t][i] = dissector_get_uint_handle(
          find_dissector_table(tables[t]), CALC_PORT_FIRST + (uint32_t)i);
  dissector_add_uint_range_with_preference("udp.port", "4000-4002",
                                           calc_udp_handle);
  dissector_add_uint_range_with_preference("tcp.port", "4000-4002",
                                           calc_tcp_handle);
  /* Decode As only: TLS has no default port for calc. */
  dissector_add_for_decode_as("tls.port", calc_tls_handle);
  heur_dissector_add("udp", dissect_calc_heur_udp, "Calc over UDP",
                     "calc_udp", proto_calc, HEURISTIC_DISABLE);
  heur_dissector_add("tcp", dissect_calc_heur_tcp, "Calc over TCP",
                     "calc_tcp", proto_calc, HEURISTIC_DISABLE);
}
