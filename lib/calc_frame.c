/* SPDX-License-Identifier: MIT
 * calc_frame.c: the TCP framer of calc_frame.h (docs/PROTOCOL.md, "TCP"). */
#include "calc_frame.h"

#include <string.h>

void calc_frame_init(calc_frame *f, calc_frame_dir dir) {
  memset(f, 0, sizeof *f);
  f->dir = dir;
  f->unfinished = -1;
  calc_frame_set_max(f, dir == CALC_FRAME_REPLIES ? CALC_ANSWER_MAX
                                                  : CALC_MAX_REQUEST_LEN);
}

void calc_frame_set_max(calc_frame *f, size_t max_msg) {
  f->max_msg = max_msg;
  f->max_line = max_msg + 1; /* and a CR */
}

void calc_frame_fed(calc_frame *f, size_t added, uint64_t now) {
  if (added == 0) return;
  f->last_in = now;
  f->unfinished = -1;
}

void calc_frame_eof(calc_frame *f) { f->flags |= CALC_FRAME_F_EOF; }

/* Fill *m; the next message starts after it. */
static calc_frame_kind put(calc_frame *f, calc_frame_msg *m,
                           calc_frame_kind kind, size_t len, size_t end) {
  m->kind = kind;
  m->len = len;
  m->end = end;
  f->scanned = 0;
  f->unfinished = -1;
  return kind;
}

/* A message of the `held` bytes at buf, ending at `end`: too long, empty,
 * or of kind `kind`. */
static calc_frame_kind whole(calc_frame *f, calc_frame_msg *m, const char *buf,
                             size_t held, size_t end, calc_frame_kind kind) {
  size_t n = calc_strip_eol(buf, held);
  if (held > f->max_line || n > f->max_msg)
    return put(f, m, CALC_FRAME_TOO_LONG, n, end);
  return put(f, m, n == 0 ? CALC_FRAME_EMPTY : kind, n, end);
}

calc_frame_kind calc_frame_next(calc_frame *f, calc_ctx *ctx, const char *buf,
                                size_t len, uint64_t now, calc_frame_msg *m) {
  m->kind = CALC_FRAME_NONE;
  m->len = m->end = 0;
  if (len == 0) return CALC_FRAME_NONE;
  if (f->scanned > len) f->scanned = 0; /* the caller restarted */
  const char *lf = memchr(buf + f->scanned, '\n', len - f->scanned);

  if (f->flags & CALC_FRAME_F_CUT) { /* the rest of an over-long line */
    if (lf) f->flags &= ~CALC_FRAME_F_CUT;
    size_t end = lf ? (size_t)(lf - buf) + 1 : len;
    return put(f, m, CALC_FRAME_REST, end, end);
  }
  if (lf) { /* a line; the first makes the stream a line stream */
    size_t held = (size_t)(lf - buf);
    f->flags |= CALC_FRAME_F_LINE;
    return whole(f, m, buf, held, held + 1, CALC_FRAME_LINE);
  }
  f->scanned = len;

  /* No LF held. */
  if (len > f->max_line) { /* cut: the server stops reading here */
    f->flags |= CALC_FRAME_F_CUT;
    return put(f, m, CALC_FRAME_TOO_LONG, calc_strip_eol(buf, len), len);
  }
  if (f->flags & CALC_FRAME_F_EOF)
    return whole(f, m, buf, len, len,
                 f->flags & CALC_FRAME_F_LINE ? CALC_FRAME_FINAL
                                              : CALC_FRAME_LEGACY);
  if (f->dir == CALC_FRAME_REPLIES || (f->flags & CALC_FRAME_F_LINE))
    return CALC_FRAME_NONE;

  /* Legacy: quiet long enough? */
  if (now < f->last_in + CALC_LEGACY_QUIET_MS) return CALC_FRAME_NONE;
  if (f->unfinished < 0)
    f->unfinished = ctx ? calc_request_unfinished(ctx, buf, len) : 0;
  if (f->unfinished && now < f->last_in + CALC_LEGACY_INCOMPLETE_MS)
    return CALC_FRAME_NONE;
  return whole(f, m, buf, len, len, CALC_FRAME_LEGACY);
}

uint64_t calc_frame_due(const calc_frame *f, size_t len) {
  if (len == 0) return UINT64_MAX;
  if (f->flags & (CALC_FRAME_F_EOF | CALC_FRAME_F_CUT)) return 0;
  if (len > f->max_line) return 0;
  if (f->dir == CALC_FRAME_REPLIES || (f->flags & CALC_FRAME_F_LINE))
    return UINT64_MAX;
  return f->last_in + (f->unfinished == 1 ? CALC_LEGACY_INCOMPLETE_MS
                                          : CALC_LEGACY_QUIET_MS);
}
