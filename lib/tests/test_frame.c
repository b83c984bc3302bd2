/* SPDX-License-Identifier: MIT
 *
 * test_frame.c: the TCP framer (calc_frame.h) against calcd's rules of
 * docs/PROTOCOL.md ("TCP", "Limits").  Each row of the table is a byte
 * stream and the messages it must give; every row is fed whole and split
 * in two at every byte, and consumed both ways a caller may (dropping the
 * bytes from its buffer, or advancing over bytes it does not own).  The
 * legacy quiet-time rule has its own table of timed events.
 *
 * Under a slow runner (CALC_TEST_TIME_SCALE > 1: valgrind) the rows of
 * thousands of bytes are split at every byte near their ends and the
 * limits and at every 61st byte between, which is enough to check memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "calc_frame.h"
#include "calc_test.h"

#define MAXMSG 6

typedef struct want {
  calc_frame_kind kind;
  const char *text; /* the message bytes; NULL: not checked (too long) */
  size_t len;       /* with text NULL and len > 0: the length to check */
} want;

typedef struct row {
  const char *name;
  calc_frame_dir dir;
  /* the stream: prefix, then `fill` bytes 'x' repeated `nfill` times,
   * then suffix */
  const char *prefix, *suffix;
  size_t nfill;
  int eof;          /* the stream ends (the peer's EOF) */
  uint64_t wait;    /* ms after the last byte before the last look */
  want w[MAXMSG];
} row;

#define K(kind, text) {CALC_FRAME_##kind, text, 0}
#define KL(kind, n) {CALC_FRAME_##kind, NULL, n}

static const row rows[] = {
  /* lines, line ends, empty lines */
  {"one line", CALC_FRAME_REQUESTS, "15*15\n", "", 0, 0, 0, {K(LINE, "15*15")}},
  {"crlf", CALC_FRAME_REQUESTS, "15*15\r\n", "", 0, 0, 0, {K(LINE, "15*15")}},
  {"many crs", CALC_FRAME_REQUESTS, "1+1\r\r\r\n", "", 0, 0, 0,
   {K(LINE, "1+1")}},
  {"inner cr kept", CALC_FRAME_REQUESTS, "1\r+1\n", "", 0, 0, 0,
   {K(LINE, "1\r+1")}},
  {"empty lines", CALC_FRAME_REQUESTS, "\n\r\n1\n", "", 0, 0, 0,
   {K(EMPTY, ""), K(EMPTY, ""), K(LINE, "1")}},
  {"pipelined", CALC_FRAME_REQUESTS, "15*15\n30+30 #2\n1/0\n", "", 0, 0, 0,
   {K(LINE, "15*15"), K(LINE, "30+30 #2"), K(LINE, "1/0")}},
  {"unterminated, no eof", CALC_FRAME_REQUESTS, "1\n2", "", 0, 0, 1000,
   {K(LINE, "1")}},
  {"final line at eof", CALC_FRAME_REQUESTS, "1\n2\n3", "", 0, 1, 0,
   {K(LINE, "1"), K(LINE, "2"), K(FINAL, "3")}},
  {"final cr at eof", CALC_FRAME_REQUESTS, "1\n\r", "", 0, 1, 0,
   {K(LINE, "1"), K(EMPTY, "")}},
  {"nul and high bytes", CALC_FRAME_REQUESTS, "1\0002\xff\n", "", 0, 0, 0,
   {{CALC_FRAME_LINE, "1\0002\xff", 4}}},
  /* legacy: quiet time, EOF, the first LF */
  {"legacy quiet", CALC_FRAME_REQUESTS, "30+30", "", 0, 0, 20,
   {K(LEGACY, "30+30")}},
  {"legacy not yet quiet", CALC_FRAME_REQUESTS, "30+30", "", 0, 0, 19, {}},
  {"legacy unfinished waits", CALC_FRAME_REQUESTS, "2*", "", 0, 0, 249, {}},
  {"legacy unfinished at 250", CALC_FRAME_REQUESTS, "(1+", "", 0, 0, 250,
   {K(LEGACY, "(1+")}},
  {"legacy eof", CALC_FRAME_REQUESTS, "2*", "", 0, 1, 0, {K(LEGACY, "2*")}},
  {"legacy crlf removed", CALC_FRAME_REQUESTS, "7\r", "", 0, 0, 20,
   {K(LEGACY, "7")}},
  {"legacy only cr", CALC_FRAME_REQUESTS, "\r\r", "", 0, 0, 20,
   {K(EMPTY, "")}},
  {"first lf joins legacy bytes", CALC_FRAME_REQUESTS, "2*3\n4\n", "", 0, 0,
   0, {K(LINE, "2*3"), K(LINE, "4")}},
  {"line mode does not time out", CALC_FRAME_REQUESTS, "1\n2*", "", 0, 0,
   5000, {K(LINE, "1")}},
  /* the length rule: 4096 bytes and a CR before the LF */
  {"4096 then lf", CALC_FRAME_REQUESTS, "", "\n", 4096, 0, 0,
   {KL(LINE, 4096)}},
  {"4096 then crlf", CALC_FRAME_REQUESTS, "", "\r\n", 4096, 0, 0,
   {KL(LINE, 4096)}},
  {"4097 then lf", CALC_FRAME_REQUESTS, "", "\n1\n", 4097, 0, 0,
   {KL(TOO_LONG, 4097), K(LINE, "1")}},
  {"4096 then cr cr lf", CALC_FRAME_REQUESTS, "", "\r\r\n1\n", 4096, 0, 0,
   {K(TOO_LONG, NULL), K(LINE, "1")}},
  {"4095 tagged line", CALC_FRAME_REQUESTS, "", " #7\n", 4093, 0, 0,
   {KL(LINE, 4096)}},
  {"4098 held, no lf", CALC_FRAME_REQUESTS, "", "", 4098, 0, 0,
   {K(TOO_LONG, NULL)}},
  {"cut line, rest skipped", CALC_FRAME_REQUESTS, "", "yy\n1\n", 4100, 0, 0,
   {K(TOO_LONG, NULL), K(LINE, "1")}},
  {"4097 legacy at eof", CALC_FRAME_REQUESTS, "", "", 4097, 1, 0,
   {KL(TOO_LONG, 4097)}},
  {"4096 and cr, legacy quiet", CALC_FRAME_REQUESTS, "", "\r", 4096, 0, 20,
   {KL(LEGACY, 4096)}},
  {"4097 legacy quiet", CALC_FRAME_REQUESTS, "", "", 4097, 0, 20,
   {KL(TOO_LONG, 4097)}},
  /* replies */
  {"replies", CALC_FRAME_REPLIES, "225\n60 #2\r\nERR busy: x\n", "", 0, 0, 0,
   {K(LINE, "225"), K(LINE, "60 #2"), K(LINE, "ERR busy: x")}},
  {"reply without lf waits", CALC_FRAME_REPLIES, "225", "", 0, 0, 5000, {}},
  {"reply without lf at eof", CALC_FRAME_REPLIES, "225", "", 0, 1, 0,
   {K(LEGACY, "225")}},
  {"longest reply", CALC_FRAME_REPLIES, "", "\r\n", CALC_ANSWER_MAX, 0, 0,
   {KL(LINE, CALC_ANSWER_MAX)}},
  {"reply too long", CALC_FRAME_REPLIES, "", "\n", CALC_ANSWER_MAX + 1, 0, 0,
   {K(TOO_LONG, NULL)}},
};

typedef struct got {
  calc_frame_kind kind;
  char *text;
  size_t len;
} got;

static char *stream_of(const row *r, size_t *n) {
  size_t a = strlen(r->prefix), b = strlen(r->suffix);
  if (strcmp(r->name, "nul and high bytes") == 0) a = 5;
  char *s = malloc(a + r->nfill + b + 1);
  memcpy(s, r->prefix, a);
  memset(s + a, 'x', r->nfill);
  memcpy(s + a + r->nfill, r->suffix, b);
  *n = a + r->nfill + b;
  return s;
}

/* Take every message the framer gives now; too-long messages absorb the
 * rest of their line (where the cut falls depends on the reads). */
static size_t drain(calc_frame *f, calc_ctx *ctx, char *buf, size_t *len,
                    size_t *off, int by_offset, uint64_t now, got *g,
                    size_t *ng) {
  size_t consumed = 0;
  calc_frame_msg m;
  while (calc_frame_next(f, ctx, buf + *off, *len - *off, now, &m) !=
         CALC_FRAME_NONE) {
    g_assert_cmpuint(m.end, >, 0);
    g_assert_cmpuint(m.end, <=, *len - *off);
    g_assert_cmpuint(m.len, <=, m.end);
    if (m.kind == CALC_FRAME_REST) {
      g_assert_cmpuint(*ng, >, 0);
      g_assert_cmpint(g[*ng - 1].kind, ==, CALC_FRAME_TOO_LONG);
    } else if (*ng < MAXMSG + 1) {
      g[*ng].kind = m.kind;
      g[*ng].len = m.len;
      g[*ng].text = g_memdup2(buf + *off, m.len);
      ++*ng;
    }
    consumed += m.end;
    if (by_offset) {
      *off += m.end;
    } else { /* drop the message, as calcd does */
      memmove(buf, buf + m.end, *len - m.end);
      *len -= m.end;
    }
  }
  return consumed;
}

/* Feed row r in two pieces, split at k, all at time 0; then wait. */
static void run(const row *r, calc_ctx *ctx, size_t k, int by_offset) {
  size_t n;
  char *s = stream_of(r, &n);
  char *buf = malloc(n + 1);
  size_t len = 0, off = 0, ng = 0, consumed = 0;
  got g[MAXMSG + 1];
  calc_frame f;
  calc_frame_init(&f, r->dir);
  size_t cuts[2] = {k, n};
  size_t at = 0;
  for (int piece = 0; piece < 2; piece++) {
    size_t add = cuts[piece] - at;
    memcpy(buf + len, s + at, add);
    len += add;
    at += add;
    calc_frame_fed(&f, add, 0);
    consumed += drain(&f, ctx, buf, &len, &off, by_offset, 0, g, &ng);
  }
  if (r->eof) calc_frame_eof(&f);
  consumed += drain(&f, ctx, buf, &len, &off, by_offset, r->wait, g, &ng);

  size_t nw = 0;
  while (nw < MAXMSG && r->w[nw].kind != CALC_FRAME_NONE) nw++;
  if (ng != nw) {
    FAIL("%s (split at %zu, %s): %zu messages, want %zu", r->name, k,
         by_offset ? "offsets" : "memmove", ng, nw);
  } else {
    for (size_t i = 0; i < nw; i++) {
      const want *w = &r->w[i];
      size_t wl = w->text ? (w->len ? w->len : strlen(w->text)) : w->len;
      if (g[i].kind != w->kind ||
          (w->text && (g[i].len != wl || memcmp(g[i].text, w->text, wl))) ||
          (!w->text && wl && g[i].len != wl))
        FAIL("%s (split at %zu): message %zu is kind %d len %zu, want kind "
             "%d len %zu", r->name, k, i, g[i].kind, g[i].len, w->kind, wl);
    }
  }
  /* At EOF every byte was a message. */
  if (r->eof && consumed != n)
    FAIL("%s (split at %zu): %zu of %zu bytes consumed at EOF", r->name, k,
         consumed, n);
  for (size_t i = 0; i < ng; i++) g_free(g[i].text);
  free(buf);
  free(s);
}

/* Whether to split a row of n bytes at k (always, unless slow). */
static int split_here(size_t k, size_t n, int slow) {
  if (!slow || n < 256 || k < 8 || k + 8 > n || k % 61 == 0) return 1;
  static const size_t edges[] = {CALC_MAX_REQUEST_LEN, CALC_ANSWER_MAX};
  for (size_t e = 0; e < G_N_ELEMENTS(edges); e++)
    if (k + 4 >= edges[e] && k <= edges[e] + 4) return 1;
  return 0;
}

static void test_rows(void) {
  const char *scale = g_getenv("CALC_TEST_TIME_SCALE");
  int slow = scale && atoi(scale) > 1;
  calc_ctx *ctx = calc_ctx_new(NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    size_t n;
    free(stream_of(&rows[i], &n));
    for (size_t k = 0; k <= n; k++) {
      if (!split_here(k, n, slow)) continue;
      run(&rows[i], ctx, k, 0);
      run(&rows[i], ctx, k, 1);
    }
  }
  calc_ctx_free(ctx);
}

/* ---- legacy timing ---------------------------------------------------- */

typedef struct event {
  uint64_t t;          /* ms */
  const char *bytes;   /* fed at t (NULL: none) */
  int eof;
  calc_frame_kind want;
  const char *text;    /* the message wanted at t (want != NONE) */
  uint64_t due;        /* calc_frame_due() wanted after it (0: unchecked) */
} event;

#define END {0, NULL, 0, CALC_FRAME_NONE, NULL, 0}

static const struct {
  const char *name;
  event ev[8];
} timed[] = {
  {"quiet after 20 ms",
   {{0, "30+30", 0, CALC_FRAME_NONE, NULL, 20},
    {19, NULL, 0, CALC_FRAME_NONE, NULL, 20},
    {20, NULL, 0, CALC_FRAME_LEGACY, "30+30", UINT64_MAX}, END}},
  {"each byte restarts the quiet time",
   {{0, "30", 0, CALC_FRAME_NONE, NULL, 20},
    {15, "+3", 0, CALC_FRAME_NONE, NULL, 35},
    {30, "0", 0, CALC_FRAME_NONE, NULL, 50},
    {49, NULL, 0, CALC_FRAME_NONE, NULL, 0},
    {50, NULL, 0, CALC_FRAME_LEGACY, "30+30", 0}, END}},
  {"unfinished waits 250 ms, then more bytes",
   {{0, "2*", 0, CALC_FRAME_NONE, NULL, 20},
    {20, NULL, 0, CALC_FRAME_NONE, NULL, 250},
    {100, "5", 0, CALC_FRAME_NONE, NULL, 120},
    {120, NULL, 0, CALC_FRAME_LEGACY, "2*5", UINT64_MAX}, END}},
  {"unfinished answered at 250 ms",
   {{0, "-", 0, CALC_FRAME_NONE, NULL, 20},
    {249, NULL, 0, CALC_FRAME_NONE, NULL, 250},
    {250, NULL, 0, CALC_FRAME_LEGACY, "-", 0}, END}},
  {"a syntax error is not unfinished",
   {{0, "2*)", 0, CALC_FRAME_NONE, NULL, 20},
    {20, NULL, 0, CALC_FRAME_LEGACY, "2*)", 0}, END}},
  {"an unfinished tagged request",
   {{0, "2* #5", 0, CALC_FRAME_NONE, NULL, 0},
    {20, NULL, 0, CALC_FRAME_NONE, NULL, 250},
    {250, NULL, 0, CALC_FRAME_LEGACY, "2* #5", 0}, END}},
  {"eof ends a legacy request at once",
   {{0, "7*7", 1, CALC_FRAME_LEGACY, "7*7", UINT64_MAX}, END}},
  {"two legacy requests",
   {{0, "1+1", 0, CALC_FRAME_NONE, NULL, 0},
    {20, NULL, 0, CALC_FRAME_LEGACY, "1+1", UINT64_MAX},
    {500, "2+2", 0, CALC_FRAME_NONE, NULL, 520},
    {520, NULL, 0, CALC_FRAME_LEGACY, "2+2", 0}, END}},
  {"the first lf ends legacy mode",
   {{0, "2*", 0, CALC_FRAME_NONE, NULL, 0},
    {10, "3\n4", 0, CALC_FRAME_LINE, "2*3", UINT64_MAX},
    {5000, NULL, 0, CALC_FRAME_NONE, NULL, UINT64_MAX},
    {5001, NULL, 1, CALC_FRAME_FINAL, "4", 0}, END}},
};

static void test_timed(void) {
  calc_ctx *ctx = calc_ctx_new(NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(timed); i++) {
    char buf[256];
    size_t len = 0;
    calc_frame f;
    calc_frame_init(&f, CALC_FRAME_REQUESTS);
    for (const event *e = timed[i].ev; e->bytes || e->eof || e->t || e->due;
         e++) {
      if (e->bytes) {
        size_t n = strlen(e->bytes);
        memcpy(buf + len, e->bytes, n);
        len += n;
        calc_frame_fed(&f, n, e->t);
      }
      if (e->eof) calc_frame_eof(&f);
      calc_frame_msg m;
      calc_frame_kind k = calc_frame_next(&f, ctx, buf, len, e->t, &m);
      if (k != e->want ||
          (e->text && (m.len != strlen(e->text) ||
                       memcmp(buf, e->text, m.len) != 0)))
        FAIL("%s at %llu ms: kind %d (len %zu), want %d", timed[i].name,
             (unsigned long long)e->t, k, m.len, e->want);
      if (k != CALC_FRAME_NONE) {
        memmove(buf, buf + m.end, len - m.end);
        len -= m.end;
      }
      if (e->due && calc_frame_due(&f, len) != e->due)
        FAIL("%s at %llu ms: due %llu, want %llu", timed[i].name,
             (unsigned long long)e->t,
             (unsigned long long)calc_frame_due(&f, len),
             (unsigned long long)e->due);
    }
  }
  calc_ctx_free(ctx);
}

/* Without a core to parse with, nothing is unfinished. */
static void test_no_ctx(void) {
  calc_frame f;
  calc_frame_msg m;
  calc_frame_init(&f, CALC_FRAME_REQUESTS);
  calc_frame_fed(&f, 2, 0);
  g_assert_cmpint(calc_frame_next(&f, NULL, "2*", 2, 20, &m), ==,
                  CALC_FRAME_LEGACY);
}

/* A tightened limit moves the cut. */
static void test_set_max(void) {
  calc_frame f;
  calc_frame_msg m;
  calc_frame_init(&f, CALC_FRAME_REQUESTS);
  calc_frame_set_max(&f, 4);
  calc_frame_fed(&f, 10, 0);
  g_assert_cmpint(calc_frame_next(&f, NULL, "1234\r\n", 6, 0, &m), ==,
                  CALC_FRAME_LINE);
  g_assert_cmpint(calc_frame_next(&f, NULL, "12345\n", 6, 0, &m), ==,
                  CALC_FRAME_TOO_LONG);
  g_assert_cmpuint(m.end, ==, 6);
  g_assert_true(calc_frame_is_line(&f));
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_set_nonfatal_assertions();
  g_test_add_func("/frame/rows", test_rows);
  g_test_add_func("/frame/timed", test_timed);
  g_test_add_func("/frame/no-ctx", test_no_ctx);
  g_test_add_func("/frame/set-max", test_set_max);
  return g_test_run();
}
