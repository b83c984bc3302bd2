/* SPDX-License-Identifier: MIT
 *
 * calc-track.h: the dissector's first pass: the state of each
 * conversation, requests paired with their responses, and responses
 * verified against the calc core.  packet-calc.c frames and displays the
 * messages; what is decided here is saved per message (calc_msg) for the
 * later passes.
 */
#ifndef CALC_TRACK_H
#define CALC_TRACK_H

#include <epan/packet.h>
#include <epan/dissectors/packet-tcp.h>

#include "calc_proto.h"

/* Bytes of a request's expression kept for the Info column of its
 * response (more are cut, with an ellipsis). */
#define CALC_INFO_MAX 48
/* Answered tagged requests remembered, to tell a duplicate response. */
#define CALC_ANSWERED_TAGS 8

/* What the first pass decided about one message. */
typedef struct calc_msg {
  struct calc_txn *txn;    /* its transaction; NULL: a response to nothing */
  guint32 repeats;         /* frame of the message it repeats, or 0 */
  guint8 verdict;          /* responses: CALC_VERDICT_* */
  guint8 tag_reused;       /* requests: tag still outstanding */
  guint8 resent;           /* TCP data seen before (retransmission that
                              TCP passed on): not paired */
  guint8 joined;           /* legacy bytes calcd adds to the request in
                              frame `repeats` (sent before it answered) */
  guint8 tagless;          /* a response without its request's tag (the
                              original server ignores tags) */
} calc_msg;

/* A request that grew by legacy bytes joined to it: its new text. */
typedef struct calc_join {
  const char *expected;    /* the core's reply to the joined request */
  guint8 info[CALC_INFO_MAX];
} calc_join;

/* One request and what answered it, in one allocation with its bytes.  A
 * retransmitted request joins the transaction of the request it repeats. */
typedef struct calc_txn {
  struct calc_txn *next;   /* in its list of unanswered requests */
  const calc_join *join;   /* NULL unless legacy bytes were joined */
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
  guint8 tag_reused;       /* the request's tag was still outstanding */
  guint8 verdict;          /* the first response's CALC_VERDICT_* */
  guint8 bytes[];          /* info bytes; the core's reply text, tag
                              removed, NUL-terminated (has_expected); UDP:
                              the request bytes, to spot retransmissions */
} calc_txn;

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
  /* TCP legacy requests, as calcd buffers them: the last one, its bytes,
   * when its last bytes came, and whether they end unfinished. */
  calc_txn *legacy;
  guint8 *legacy_buf;
  guint32 legacy_len, legacy_cap;
  nstime_t legacy_last;
  gboolean legacy_unfinished;
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

/* n bytes without trailing blanks (a client may pad UDP requests). */
static inline size_t calc_trim(const guint8 *p, size_t n)
{
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
  return n;
}

/* Per file (init and cleanup routines): the core's context, which the
 * dissector shares, and TCP's preferences. */
void calc_track_init(int proto);
void calc_track_cleanup(void);
calc_ctx *calc_track_core(void);

/* The conversation's state (first sight: the server is the side whose port
 * matched the port table, else the receiver of this first message), and
 * whether the packet goes to the server. */
calc_conv *calc_conv_find(packet_info *pinfo, gboolean heuristic,
                          const struct tcpinfo *ti);
gboolean calc_to_server(const calc_conv *cv, const packet_info *pinfo);

/* A message's record: what calc_track_*() decided, filed by the first pass
 * (calc_rec_put) under the frame and a key, found by later passes.  Most
 * are a transaction's request or first response and cost nothing more. */
typedef uintptr_t calc_rec;

void calc_rec_put(const packet_info *pinfo, guint32 key, calc_rec r);
/* FALSE when no record was filed under key. */
gboolean calc_rec_get(const packet_info *pinfo, guint32 key, calc_msg *m);
/* The record of retransmitted TCP data, which is not paired again. */
calc_rec calc_rec_resent(void);

/* First pass: file a request of n bytes at p (CR/LF removed); with
 * verify, compute what the core answers to it.  legacy: TCP bytes calcd
 * buffers as a legacy request (a legacy segment, or the first line of the
 * segment that switches to lines), which it joins to the previous legacy
 * request while that one waits for more (docs/PROTOCOL.md, "Legacy
 * mode"). */
calc_rec calc_track_request(packet_info *pinfo, calc_conv *cv,
                            const calc_req_view *v, const guint8 *p,
                            size_t n, gboolean udp, gboolean legacy,
                            gboolean verify);

/* First pass: pair a response (parsed as ri) with its request; verify:
 * the requests carry the core's answers (UDP pairing may use them); whole:
 * the response is complete, so compare it with the answer. */
calc_rec calc_track_response(packet_info *pinfo, calc_conv *cv,
                             const calc_reply_info *ri, const guint8 *p,
                             size_t n, gboolean udp, gboolean verify,
                             gboolean whole);

/* The core's reply text to the transaction's request, tag removed; NULL
 * when not verified. */
const char *calc_txn_expected(const calc_txn *t);
/* The request's expression bytes kept for Info (t->info_len of them). */
const guint8 *calc_txn_info(const calc_txn *t);

#endif /* CALC_TRACK_H */
