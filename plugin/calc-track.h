/* SPDX-License-Identifier: MIT
 *
 * calc-track.h: what the dissector's first pass decides and keeps, shared
 * by its parts:
 *
 *   calc-conv.c    conversations: which side serves, whether the bytes are
 *                  calc at all, what TCP showed of each direction
 *   calc-pair.c    requests paired with their responses (tag, order,
 *                  value), retransmissions, duplicates, legacy joins
 *   calc-verify.c  the core's answer to each request, kept as a length and
 *                  a hash, within a per-capture work budget
 *   calc-frames.c  the record of each message, by frame, for later passes,
 *                  and the arena of transactions and records
 *
 * packet-calc.c frames and displays the messages.  Everything kept lives
 * in calc-frames.c's arena (transactions, records) or calc_track_pool()
 * (the rest), both file scope, freed by calc_track_cleanup().
 */
#ifndef CALC_TRACK_H
#define CALC_TRACK_H

#include <stdbool.h>
#include <stdint.h>

#include <epan/packet.h>
#include <epan/dissectors/packet-tcp.h>

#include "calc_proto.h"

/* Bytes of a request's expression kept for the Info column of its
 * response (more are cut, with an ellipsis). */
#define CALC_INFO_MAX 48
/* Answered tagged requests remembered, to tell a duplicate response. */
#define CALC_ANSWERED_TAGS 8

/* calc_txn.flags */
enum {
  CALC_TXN_TAG = 1u << 0,        /* the request has a tag */
  CALC_TXN_EXPECTED = 1u << 1,   /* exp_* are set (verified) */
  CALC_TXN_INLINE = 1u << 2,     /* the expected text is kept in bytes[] */
  CALC_TXN_TAG_REUSED = 1u << 3, /* its tag was still outstanding */
  CALC_TXN_CUT = 1u << 4,        /* captured cut: content unknown */
  CALC_TXN_UNCERTAIN = 1u << 5,  /* paired after a gap, by order only */
  CALC_TXN_BUDGET = 1u << 6,     /* not verified: budget spent */
  CALC_TXN_JOINED = 1u << 7      /* legacy bytes joined (calc_txn_join) */
};

/* One request and what answered it, in one allocation with its bytes.  A
 * retransmitted request joins the transaction of the request it repeats. */
typedef struct calc_txn {
  uint32_t req_t;          /* request time, coded (calc_txn_req_ns()) */
  uint32_t req_frame, rep_frame;
  uint16_t exp_len;        /* expected reply text, tag removed */
  uint16_t req_n;          /* request bytes, CR/LF removed (UDP bound) */
  uint8_t flags;           /* CALC_TXN_* */
  uint8_t nreq, nrep;      /* requests (with retransmissions), responses
                              (saturating); nreq 0: a hole (calc_track_hole) */
  uint8_t exp_kind;        /* calc_err of the expected reply */
  uint8_t bounded_kind;    /* UDP: calc_err of the reply shortened to the
                              amplification bound (= exp_kind when it fits) */
  uint8_t classes;         /* CALC_CLASS_* bits of the expression, and
                              CALC_TXN_TAG_OPEN */
  uint8_t verdict : 4;     /* the first response's CALC_VERDICT_* */
  uint8_t reply : 4;       /* CALC_REPLY_SEEN_*: what the capture showed
                              of its response when it has none */
  uint8_t info_len;        /* expression bytes kept for Info; the high bit:
                              there were more */
  uint8_t bytes[];         /* the tag (TAG: 4 bytes); info bytes; then the expected text (INLINE,
                              NUL-terminated) or its 64-bit hash
                              (EXPECTED); UDP: the request's and first
                              response's 32-bit hashes */
} calc_txn;

#define CALC_INFO_CUT 0x80u
/* calc_txn.classes: the request is a line's start, not reassembled: its
 * tag, if any, is in the rest (a tagged reply may answer it). */
#define CALC_TXN_TAG_OPEN 0x80u

/* calc_txn.reply: why a request has no response, or how it got one. */
enum {
  CALC_REPLY_SEEN_NONE = 0,       /* as far as the capture shows */
  CALC_REPLY_SEEN_LOST = 1u << 0, /* its response is in bytes the capture
                                     does not show (a gap, a cut frame):
                                     not "no response" */
  CALC_REPLY_SEEN_EARLY = 1u << 1, /* its response was captured before it
                                      (rep_frame < req_frame), paired by
                                      tag when it came */
  CALC_REPLY_SEEN_SKIPPED = 1u << 2, /* UDP: a newer request was answered
                                       first (reordered, or lost) */
  CALC_REPLY_SEEN_ROLES = 1u << 3  /* filed under a guess of the server
                                      side turned round later: perhaps no
                                      request at all (calc_conv.side_late) */
};

/* What the first pass decided about one message. */
typedef struct calc_msg {
  calc_txn *txn;           /* its transaction; NULL: a response to nothing */
  uint32_t repeats;        /* frame of the message it repeats or joins */
  uint8_t verdict;         /* responses: CALC_VERDICT_* */
  uint8_t tag_reused;      /* requests: tag still outstanding */
  uint8_t resent;          /* TCP data seen before: not paired */
  uint8_t joined;          /* legacy bytes joined to the message of frame
                              `repeats` */
  uint8_t tagless;         /* a response without its request's tag */
  uint8_t uncertain;       /* paired by order after a gap: no verdict */
  uint8_t unseen;          /* a response with no request after a gap: its
                              request may be in what was not captured */
  uint8_t cut;             /* captured cut: not paired or verified */
  uint8_t early;           /* a tagged response before its request: paired
                              (txn set) when the request came, or still
                              waiting for it in the first pass */
} calc_msg;

/* Requests waiting for their answers, oldest first. */
typedef struct calc_queue {
  calc_txn **v;
  uint32_t head, len, cap;
} calc_queue;

/* What TCP showed of one direction (first pass). */
typedef struct calc_tcp_dir {
  uint32_t next;           /* sequence number after the data seen */
  uint32_t frame;          /* last frame seen (several calls per frame) */
  uint32_t first_lf;       /* first frame that carried LF; 0 while none */
  bool seen;
  bool boundary;           /* the data seen ends at a line's end */
  bool lost;               /* bytes before the next data are unknown */
  bool midline;            /* no reassembly: the last line was cut */
  bool cut_open;           /* the last frame was cut by the capture: its
                              line may go on in the next segment, unless
                              the peer's data came in between */
  bool unseen;             /* the peer ACKed bytes up to unseen_to that
                              were never given to calc (a hole is filed) */
  uint32_t unseen_to;
} calc_tcp_dir;

/* calc_conv.judged: whether the bytes are calc (case of other protocols
 * on calc's ports). */
enum { CALC_JUDGE_OPEN = 0, CALC_JUDGE_CALC, CALC_JUDGE_OTHER };

/* Per conversation (per TCP stream). */
typedef struct calc_conv {
  address srv_addr;        /* the server's side */
  uint32_t srv_port;
  uint32_t first_frame;    /* the frame that created this state */
  uint8_t guess;           /* CALC_GUESS_*: how the server side was told */
  uint8_t side;            /* CALC_SIDE_*: whether content may revise it */
  uint8_t side_says;       /* CALC_SAYS_* of the message that settled it */
  bool side_turned;        /* the guess was turned round at side_frame */
  bool side_late;          /* ... once it stood (CALC_SIDE_STANDS): the
                              frames before side_frame keep the roles
                              they were shown with (calc_to_server) */
  uint32_t side_frame;     /* the frame whose content settled the guess */
  struct calc_side_book *side_log; /* messages filed under an open guess */
  uint8_t judged;          /* CALC_JUDGE_* */
  uint8_t seen_msg[2];     /* a message seen per direction (judging) */
  bool unsync;             /* a gap or cut: order pairing is uncertain */
  calc_tcp_dir tcp[2];     /* 0: to the server */
  calc_queue untagged, tagged;
  calc_txn *answered;      /* latest untagged request answered */
  calc_txn *answered_tags[CALC_ANSWERED_TAGS]; /* latest tagged, a ring */
  calc_txn *lost_tags[CALC_ANSWERED_TAGS]; /* latest tagged retired as not
                                              captured by length, a ring */
  uint32_t lost_next;
  uint32_t lost_left;      /* lost bytes no retired response filled */
  uint32_t answered_next;
  struct calc_early *early; /* tagged responses waiting for their request
                               (calc-pair.c), NULL while none came */
  /* TCP legacy requests, as calcd buffers them: the last one, its bytes,
   * when its last bytes came, and whether they end unfinished. */
  calc_txn *legacy;
  uint8_t *legacy_buf;
  uint32_t legacy_len, legacy_cap;
  nstime_t legacy_last;
  bool legacy_unfinished;
  /* Legacy replies (the original server): the last one's bytes, joined
   * with the rest of it when that comes in another segment. */
  calc_txn *legacy_rep;
  uint8_t *legacy_rep_buf;
  uint32_t legacy_rep_len, legacy_rep_cap;
} calc_conv;

/* calc_conv.guess: how the server side was decided. */
enum {
  CALC_GUESS_NONE = 0,     /* the SYN, or the only calc port */
  CALC_GUESS_FIRST         /* no SYN, both ports calc's (or equal, or a
                              heuristic): the first message's receiver,
                              until content shows otherwise */
};

/* calc_conv.side: a guess (CALC_GUESS_FIRST) is OPEN until a message's
 * content shows which side serves (calc_side_says), then SETTLED: turned
 * round if the content contradicted it, never revised again.  Past the
 * log's limit with nothing shown, the guess STANDS: unconfirmed, so
 * nothing is verified, until a message's content settles it (turned
 * round from that frame on, if it contradicts: calc_conv.side_late). */
enum { CALC_SIDE_KNOWN = 0, CALC_SIDE_OPEN, CALC_SIDE_STANDS,
       CALC_SIDE_SETTLED };

/* Whether content may still decide the server side. */
static inline bool calc_side_undecided(const calc_conv *cv)
{
  return cv->side == CALC_SIDE_OPEN || cv->side == CALC_SIDE_STANDS;
}

/* What a message's content says of its sender (calc_side_says). */
enum {
  CALC_SAYS_NOTHING = 0,   /* a number (a request and a reply alike),
                              empty, cut */
  CALC_SAYS_CLIENT,        /* not a calc reply: only a client sends it */
  CALC_SAYS_SERVER,        /* a calc reply no client sends: ERR, inf, nan */
  CALC_SAYS_COUNT          /* (settled by the log's limit: the guess stands) */
};

/* A message filed while the server side was an open guess: kept to be
 * filed again the other way round if the guess turns (calc_side_turn). */
typedef struct calc_side_msg {
  uint32_t frame, key, n;
  nstime_t ts;
  bool to_server, udp, whole, cut, legacy;
  const uint8_t *p;
} calc_side_msg;

/* What one parse of a request tells. */
typedef struct calc_req_view {
  calc_request rq;
  size_t shown;            /* expression bytes without blanks before a tag */
  size_t tag_end;          /* end of the tag digits */
  calc_err parse_err;      /* CALC_OK, or why the expression is refused */
  const char *parse_msg;   /* packet scope, or NULL */
  unsigned classes, ops;
  bool too_long;           /* over CALC_MAX_REQUEST_LEN, tag included: the
                              server answers too-long, without the tag */
  bool empty;              /* no bytes: the server sends no reply */
  bool parsed;             /* parse_err, parse_msg, classes, ops are set */
  bool binary;             /* bytes no calc client sends (controls, 8-bit) */
  bool unfinished;         /* a syntax error just past the end: more may
                              come (calcd's legacy rule) */
  uint32_t tree_gen;       /* parse_err CALC_OK: which parse of the view's
                              context holds its tree (calc_view_tree) */
} calc_req_view;

/* n bytes without trailing blanks (a client may pad UDP requests). */
static inline size_t calc_trim(const uint8_t *p, size_t n)
{
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
  return n;
}

/* ---- packet-calc.c ---- */

/* The context holding v's accepted parse when nothing was parsed there
 * since, handed over once (evaluating it replaces the tree), so that the
 * verification evaluates without parsing again; NULL: parse again. */
calc_ctx *calc_view_tree(const calc_req_view *v);

/* ---- calc-track.c: per file ---- */

/* Init and cleanup routines: the pool, the parts' state, TCP's prefs. */
void calc_track_init(int proto, unsigned verify_budget);
void calc_track_cleanup(void);
wmem_allocator_t *calc_track_pool(void);
int calc_track_proto(void);

/* ---- calc-conv.c ---- */

/* The conversation's state, created on first sight (see calc_conv_get);
 * heuristic: found by a heuristic dissector. */
calc_conv *calc_conv_find(packet_info *pinfo, bool heuristic);
bool calc_to_server(const calc_conv *cv, const packet_info *pinfo);
void calc_conv_reset_cache(void);

/* The server side from the content while it is a guess (first pass).
 * calc_side_says: what the n bytes at p (one message, CR/LF removed) say
 * of their sender.  calc_side_evidence: the message of this frame says
 * so, which settles the guess, turned round (calc_conv.side_turned) if
 * it was wrong.  calc_side_log: keep a message filed under the open
 * guess (not verified then); past CALC_GUESS_MAX messages or
 * CALC_GUESS_BYTES, the guess stands (CALC_SIDE_STANDS: evidence may
 * still settle it, turning only what comes after).  Both return true when
 * settling dropped the pairs made under the guess: the messages are then
 * to be filed again (calc_side_logged, in order; then calc_side_drop),
 * the other way round if turned. */
int calc_side_says(const uint8_t *p, size_t n, bool cut);
bool calc_side_evidence(calc_conv *cv, packet_info *pinfo, int says);
bool calc_side_log(calc_conv *cv, const calc_side_msg *m);
const calc_side_msg *calc_side_logged(const calc_conv *cv, uint32_t i);
void calc_side_drop(calc_conv *cv);

/* First pass, TCP: what this call's data is to the direction's stream:
 * CALC_POS_NEW (in order), CALC_POS_RESENT (seen before), or CALC_POS_GAP
 * (bytes before it were not captured; cv->tcp[dir].lost tells whether its
 * first line may be the rest of one). */
enum { CALC_POS_NEW = 0, CALC_POS_RESENT, CALC_POS_GAP };
int calc_conv_tcp_pos(calc_conv *cv, int dir, packet_info *pinfo,
                      const struct tcpinfo *ti);
/* First pass, TCP: whether this segment ACKs bytes of the other direction
 * that calc was never given (lost before the capture point, or kept from
 * dissectors by TCP: an out-of-order segment, a retransmission that
 * overlaps seen bytes and carries new ones); each such range once. */
bool calc_conv_tcp_acked_unseen(calc_conv *cv, int dir, packet_info *pinfo,
                                const struct tcpinfo *ti);

/* ---- calc-frames.c ---- */

/* A message's record: what the first pass decided, filed by frame and a
 * key, found by later passes.  Most are a transaction's request or first
 * response and cost nothing more: a 32-bit handle. */
typedef uint32_t calc_rec;

/* n zeroed, 8-aligned bytes for the whole file (transactions, records):
 * no header or rounding per allocation; freed by calc_frames_cleanup(). */
void *calc_rec_alloc(size_t n);

void calc_rec_put(const packet_info *pinfo, uint32_t key, calc_rec r);
/* false when no record was filed under key. */
bool calc_rec_get(const packet_info *pinfo, uint32_t key, calc_msg *m);
calc_rec calc_rec_of_req(calc_txn *t);
calc_rec calc_rec_of_rep(calc_txn *t);
/* A record of its own (filled by the caller). */
calc_msg *calc_rec_new(calc_txn *t, uint32_t repeats);
calc_rec calc_rec_of_msg(calc_msg *m);
void calc_frames_cleanup(void);

/* ---- calc-pair.c ---- */

/* First pass: file a request of n bytes at p (CR/LF removed); with
 * verify, compute what the core answers to it.  legacy: TCP bytes calcd
 * buffers as a legacy request, joined to the previous legacy request
 * while that one waits for more (docs/PROTOCOL.md, "Legacy mode").  cut:
 * captured cut, a placeholder that keeps the order.  piece: a line's
 * start cut at the segment's end (no reassembly): its tag is not known. */
calc_rec calc_track_request(packet_info *pinfo, calc_conv *cv,
                            const calc_req_view *v, const uint8_t *p,
                            size_t n, bool udp, bool legacy, bool verify,
                            bool cut, bool piece);

/* First pass: pair a response (parsed as ri) with its request; whole: the
 * response is complete (compare it); cut: captured cut (paired by order
 * only, never verified); legacy: an unterminated TCP reply, which may be
 * the rest of the previous one.  piece: a line cut at the segment's end
 * (no reassembly): its tag is not known. */
calc_rec calc_track_response(packet_info *pinfo, calc_conv *cv,
                             const calc_reply_info *ri, const uint8_t *p,
                             size_t n, bool udp, bool whole, bool cut,
                             bool legacy, bool piece);

/* First pass, TCP: requests the capture does not show were sent here (a
 * gap, a cut frame's uncaptured bytes, bytes TCP kept from calc): a hole
 * in the order of requests, a placeholder transaction (nreq 0) that
 * nothing displays.  A response that meets it pairs by tag or by value,
 * or answers what the capture does not show; never by order alone. */
void calc_track_hole(packet_info *pinfo, calc_conv *cv);

/* First pass, TCP: lost bytes of the reply direction (a gap, or the end
 * of a frame the capture cut) hold the responses of the oldest waiting
 * requests: retire those whose expected responses fit in them, as not
 * captured (calc_txn.reply).  start: where the lost bytes start. */
enum {
  CALC_LOST_LINE = 0,      /* at a line's start */
  CALC_LOST_HELD,          /* inside a response whose start TCP's
                              reassembly holds (the oldest waiting one's) */
  CALC_LOST_SHOWN          /* inside the response shown last, cut */
};
void calc_track_lost_replies(calc_conv *cv, uint64_t lost, int start);

/* First pass: every waiting request waits no more, marked why
 * (CALC_REPLY_SEEN_*): no "no response" is said of it. */
void calc_track_drop_waiting(calc_conv *cv, unsigned why);

/* TCP, line mode: whether an unterminated reply of n bytes at p is
 * whole anyway: the exact answer of the request it would pair with (the
 * original server answers a line without LF). */
bool calc_track_reply_is_whole(const calc_conv *cv, const uint8_t *p,
                               size_t n);

/* TCP, legacy mode: whether an unterminated reply of n bytes at p is the
 * start of the answer of the request it would pair with, too short yet:
 * the original server's reply cut in two by the network, reassembled. */
bool calc_track_reply_is_start(const calc_conv *cv, const uint8_t *p,
                               size_t n);

/* The request's expression bytes kept for Info, their number and whether
 * there were more. */
const uint8_t *calc_txn_info(const calc_txn *t, size_t *n, bool *cut);
/* The request's time, ns since the epoch; its tag (0: untagged). */
int64_t calc_txn_req_ns(const calc_txn *t);
uint32_t calc_txn_tag(const calc_txn *t);
/* The legacy request bytes joined, or NULL (not joined). */
const uint8_t *calc_txn_joined(const calc_txn *t, size_t *n);
/* Where the expected answer is kept (calc-verify.c reads it). */
const uint8_t *calc_txn_exp_bytes(const calc_txn *t);
void calc_pair_init(void);
void calc_pair_cleanup(void);

/* ---- calc-verify.c ---- */

/* The expected answer of a request, as the first pass keeps it. */
typedef struct calc_expect {
  size_t len;              /* reply text without the tag */
  uint64_t hash;           /* of the text, when too long to keep it
                              (calc_verify_kept); else 0 */
  calc_err kind, bounded;  /* its kind; UDP: the kind within the bound */
  unsigned classes;        /* operator classes of the expression */
  const char *text;        /* the text (valid until the next call) */
  bool budget;             /* not computed: the budget is spent */
} calc_expect;

/* Compute the expected answer of the n request bytes at p (view v):
 * false when the per-capture budget is spent.  whole: calc_verify_hash()
 * of those n bytes when the caller has it (UDP's retransmission check),
 * else NULL: the cache's key is the same hash when the expression is all
 * of them (no tag), so that a datagram is hashed once. */
bool calc_verify_expect(const calc_req_view *v, const char *p, size_t n,
                        bool udp, const uint64_t *whole, calc_expect *e);
uint64_t calc_verify_hash(const void *p, size_t n);
/* How a response compares with the transaction's expected answer. */
uint8_t calc_verify_verdict(const calc_txn *t, const calc_reply_info *ri);
/* Between these, the n bytes at p (a response being paired, compared with
 * many requests' answers) have the hash h: comparing them with an answer
 * kept as a hash does not hash them again.  p must not change until
 * calc_verify_reply_end(). */
void calc_verify_reply_begin(const uint8_t *p, size_t n, uint64_t h);
void calc_verify_reply_end(void);
/* Whether the n bytes at p are exactly t's expected reply text. */
bool calc_verify_is_expected(const calc_txn *t, const char *p, size_t n);
/* The expected text when kept (short answers), else NULL. */
const char *calc_txn_expected(const calc_txn *t);
/* The text again, computed from the request bytes (trees only); packet
 * scope. */
const char *calc_verify_text(packet_info *pinfo, const calc_req_view *v,
                             const char *p, size_t n);
/* Whether n reply bytes could be the start of t's expected reply (a
 * legacy reply that continues in the next segment). */
bool calc_verify_may_continue(const calc_txn *t, const calc_reply_info *ri);
/* Whether the n bytes at p, a response the capture cut, may be the start
 * of t's response (its answer, a shortened or refused one). */
bool calc_verify_may_start(const calc_txn *t, const char *p, size_t n);
/* Bytes of a transaction that keep e, and keeping it there. */
size_t calc_verify_kept(const calc_expect *e);
void calc_verify_keep(calc_txn *t, uint8_t *b, const calc_expect *e);
/* budget_millions: the evaluator's work per capture (calc.verify_budget). */
void calc_verify_init(unsigned budget_millions);
unsigned calc_verify_default_budget(void);
void calc_verify_cleanup(void);

#endif /* CALC_TRACK_H */
