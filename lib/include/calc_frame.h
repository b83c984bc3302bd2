/* SPDX-License-Identifier: MIT
 *
 * calc_frame.h: the one TCP framer (docs/PROTOCOL.md, "TCP"), I/O-free and
 * incremental.  calcd's connections, the dissector's reassembly, calc's
 * reply reader and calc-bench all drive it.
 *
 * The framer holds no bytes.  The caller keeps the stream's unconsumed
 * bytes contiguous (its own buffer, or bytes it does not own, such as a
 * Wireshark tvb) and asks for the message at their start:
 *
 *   calc_frame f;
 *   calc_frame_init(&f, CALC_FRAME_REQUESTS);
 *   ...bytes arrive: append them to buf, then
 *   calc_frame_fed(&f, added, now_ms);
 *   calc_frame_msg m;
 *   while (calc_frame_next(&f, ctx, buf, len, now_ms, &m) != CALC_FRAME_NONE) {
 *     ...the message is buf[0..m.len) (line end removed);
 *     drop m.end bytes from the front of buf (or advance an offset)
 *   }
 *   calc_frame_due(&f) says when to call again without new bytes (legacy).
 *
 * CALC_FRAME_NONE means "need more bytes" (or, for held legacy bytes,
 * more time).  The state is a small plain struct: it may be copied (the
 * dissector keeps one per direction and copies it per segment).
 *
 * The rules, for requests (calcd's, which the dissector follows):
 * - a connection starts in legacy mode; the first LF switches it to line
 *   mode for good, and every byte before that LF is the first line;
 * - a line ends at LF; trailing CR (and LF) bytes are removed; a line with
 *   nothing left is CALC_FRAME_EMPTY (no reply);
 * - more than max_line (CALC_REQUEST_LINE_MAX) bytes before the LF, held or
 *   in a line, or a message of more than max_msg (CALC_MAX_REQUEST_LEN)
 *   bytes once CR/LF are removed, is CALC_FRAME_TOO_LONG: the server
 *   answers calc_reply_too_long() and closes; the framer then returns the
 *   rest of a cut line, up to its LF, as CALC_FRAME_REST;
 * - legacy bytes (no LF yet) are one CALC_FRAME_LEGACY message once
 *   CALC_LEGACY_QUIET_MS have passed since the last byte, or
 *   CALC_LEGACY_INCOMPLETE_MS while they are an unfinished expression
 *   (calc_request_unfinished()), or at EOF;
 * - at EOF, line mode: the bytes after the last LF are CALC_FRAME_FINAL.
 * Replies (CALC_FRAME_REPLIES) are lines of at most CALC_ANSWER_MAX bytes
 * and a CR; no timing applies (a reply without LF ends only at EOF).
 */
#ifndef CALC_FRAME_H
#define CALC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "calc_proto.h"

typedef enum calc_frame_dir {
  CALC_FRAME_REQUESTS = 0, /* client to server: legacy rules apply */
  CALC_FRAME_REPLIES,      /* server to client: lines */
} calc_frame_dir;

typedef enum calc_frame_kind {
  CALC_FRAME_NONE = 0,  /* no message yet: need more bytes (or time) */
  CALC_FRAME_LINE,      /* a line: buf[0..len), end is after its LF */
  CALC_FRAME_EMPTY,     /* a line (or legacy bytes) of only CR/LF */
  CALC_FRAME_LEGACY,    /* legacy bytes, quiet long enough (or EOF) */
  CALC_FRAME_FINAL,     /* line mode: bytes after the last LF, at EOF */
  CALC_FRAME_TOO_LONG,  /* over the length rule: len is what was held
                           (capped at max_line + 1); the stream is cut */
  CALC_FRAME_REST,      /* the rest of a line cut as too long, up to and
                           including its LF (end): not a message */
} calc_frame_kind;

enum {
  CALC_FRAME_F_LINE = 1u << 0,  /* has sent LF: line mode for good */
  CALC_FRAME_F_EOF = 1u << 1,   /* no more bytes will come */
  CALC_FRAME_F_CUT = 1u << 2,   /* skipping the rest of an over-long line */
};

typedef struct calc_frame {
  unsigned flags;     /* CALC_FRAME_F_* */
  calc_frame_dir dir;
  size_t max_line;    /* bytes allowed before LF */
  size_t max_msg;     /* bytes allowed in a message, CR/LF removed */
  size_t scanned;     /* bytes at the start already searched for LF */
  uint64_t last_in;   /* ms: when the last byte came (legacy timing) */
  int unfinished;     /* held legacy bytes unfinished: -1 not yet known */
} calc_frame;

typedef struct calc_frame_msg {
  calc_frame_kind kind;
  size_t len;   /* message bytes at buf[0..len), CR/LF removed */
  size_t end;   /* bytes to consume: the message and its line end */
} calc_frame_msg;

/* A framer at the start of a stream in direction dir, with the default
 * limits (for requests: CALC_REQUEST_LINE_MAX, CALC_MAX_REQUEST_LEN). */
void calc_frame_init(calc_frame *f, calc_frame_dir dir);

/* Tighten the message limit (a server's calc_ctx_limits()->max_len);
 * max_line follows it (one CR more). */
void calc_frame_set_max(calc_frame *f, size_t max_msg);

/* `added` bytes were appended to the held bytes at time now (ms, any
 * monotonic clock; only differences count). */
void calc_frame_fed(calc_frame *f, size_t added, uint64_t now);

/* No more bytes will come (the peer's EOF). */
void calc_frame_eof(calc_frame *f);

/* The message at the start of buf[0..len), the unconsumed bytes (they
 * begin where the last message's end was).  Fills *m and returns its kind;
 * CALC_FRAME_NONE leaves everything held.  now: ms, for legacy timing; ctx
 * (may be NULL: then no expression counts as unfinished) is used to parse
 * held legacy bytes once they are quiet. */
calc_frame_kind calc_frame_next(calc_frame *f, calc_ctx *ctx, const char *buf,
                                size_t len, uint64_t now, calc_frame_msg *m);

/* When held legacy bytes will be a message without more bytes: the ms time
 * to call calc_frame_next() again, or UINT64_MAX when no time will (line
 * mode, nothing held, or replies).  len: the bytes held. */
uint64_t calc_frame_due(const calc_frame *f, size_t len);

/* Line mode (the stream has sent LF)? */
static inline int calc_frame_is_line(const calc_frame *f) {
  return (f->flags & CALC_FRAME_F_LINE) != 0;
}

#endif /* CALC_FRAME_H */
