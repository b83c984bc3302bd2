/* SPDX-License-Identifier: MIT
 *
 * test_proto.c: the protocol rules (calc_proto.h): request tags, line ends,
 * the UDP amplification bound, calc_answer() for each role and bound, and
 * reply parsing.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "calc_proto.h"
#include "calc_test.h"


/* ---- roles ----------------------------------------------------------------- */

static void test_roles(void) {
  static const struct {
    calc_role r;
    const char *name;
    unsigned classes;
    uint16_t port;
  } rows[] = {
    {CALC_ROLE_ALL, "all", CALC_CLASS_ADDSUB | CALC_CLASS_MULDIV, 4000},
    {CALC_ROLE_ADDSUB, "addsub", CALC_CLASS_ADDSUB, 4001},
    {CALC_ROLE_MULDIV, "muldiv", CALC_CLASS_MULDIV, 4002},
  };
  g_assert_cmpuint(G_N_ELEMENTS(rows), ==, CALC_ROLE_COUNT_);
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    g_assert_cmpstr(calc_role_name(rows[i].r), ==, rows[i].name);
    g_assert_cmpint(calc_role_parse(rows[i].name), ==, (int)rows[i].r);
    g_assert_cmpuint(calc_role_classes(rows[i].r), ==, rows[i].classes);
    g_assert_cmpuint(calc_role_port(rows[i].r), ==, rows[i].port);
  }
  g_assert_cmpint(calc_role_parse("ALL"), ==, -1);
  g_assert_cmpint(calc_role_parse(""), ==, -1);
  g_assert_cmpint(calc_role_parse("add"), ==, -1);
  g_assert_null(calc_role_name(CALC_ROLE_COUNT_));
  g_assert_cmpuint(calc_role_classes(CALC_ROLE_COUNT_), ==, 0);
  g_assert_cmpuint(calc_role_port(CALC_ROLE_COUNT_), ==, 0);
}

/* ---- requests -------------------------------------------------------------- */

static const struct {
  const char *in;
  size_t len;
  const char *expr; /* expected expression bytes */
  int has_tag;
  uint32_t tag;
} splits[] = {
  {S("1+2"), "1+2", 0, 0},
  {S("1+2 #7"), "1+2 ", 1, 7},
  {S("1+2#7"), "1+2", 1, 7},
  {S("1+2 #7  \t"), "1+2 ", 1, 7},
  {S("1+2 #0"), "1+2 ", 1, 0},
  {S("1 #123456789"), "1 ", 1, 123456789},
  {S("1 #999999999"), "1 ", 1, 999999999},
  {S("1 #1234567890"), "1 #1234567890", 0, 0}, /* 10 digits: no tag */
  {S("1 #007"), "1 ", 1, 7},
  {S("1 ##5"), "1 #", 1, 5},
  {S("#5"), "", 1, 5},
  {S("1+2 #"), "1+2 #", 0, 0},
  {S("1+2 #x"), "1+2 #x", 0, 0},
  {S("1+2 # 5"), "1+2 # 5", 0, 0},
  {S("1+2 #5x"), "1+2 #5x", 0, 0},
  {S("1+2 #-5"), "1+2 #-5", 0, 0},
  {S("12345"), "12345", 0, 0},
  {S(""), "", 0, 0},
  {S("1\t#5\t"), "1\t", 1, 5},
  /* blanks are Python's: space, tab, form feed (calc_is_blank) */
  {S("1+2 #7\f"), "1+2 ", 1, 7},
  {S("1+2\f#7 \f\t"), "1+2\f", 1, 7},
  {S("1+2 #7\v"), "1+2 #7\v", 0, 0},
  {S("1+2 #7\r"), "1+2 #7\r", 0, 0},
};

static void test_request_split(void) {
  for (size_t i = 0; i < G_N_ELEMENTS(splits); i++) {
    calc_request r;
    memset(&r, 0xa5, sizeof r);
    calc_request_split(splits[i].in, splits[i].len, &r);
    if (r.expr != splits[i].in || r.expr_len != strlen(splits[i].expr) ||
        memcmp(r.expr, splits[i].expr, r.expr_len) != 0 ||
        r.has_tag != splits[i].has_tag ||
        (r.has_tag && r.tag != splits[i].tag))
      FAIL("split '%s': expr '%.*s' tag %d:%u, want '%s' %d:%u",
                         splits[i].in, (int)r.expr_len, r.expr, r.has_tag,
                         (unsigned)r.tag, splits[i].expr, splits[i].has_tag,
                         (unsigned)splits[i].tag);
  }
}

static void test_strip_eol(void) {
  static const struct { const char *in; size_t len; size_t want; } rows[] = {
    {S("1"), 1},      {S("1\n"), 1},    {S("1\r\n"), 1}, {S("1\r"), 1},
    {S("1\n\n"), 1},  {S("1\r\n\r\n"), 1}, {S("1 \n"), 2},
    {S("1\n2\n"), 3}, {S("\n"), 0},     {S(""), 0},      {S("\r\n1"), 3},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++)
    g_assert_cmpuint(calc_strip_eol(rows[i].in, rows[i].len), ==,
                     rows[i].want);
}

static void test_udp_bound(void) {
  static const struct { size_t n, want; } rows[] = {
    {0, 32}, {1, 32}, {10, 32}, /* 3n <= 32: the floor */
    {11, 33}, {12, 36}, {100, 300}, {4096, 12288},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++)
    g_assert_cmpuint(calc_udp_bound(rows[i].n), ==, rows[i].want);
  g_assert_cmpuint(CALC_UDP_AMP_FACTOR, ==, 3);
  g_assert_cmpuint(CALC_UDP_AMP_MIN, ==, 32);
}

/* ---- answers --------------------------------------------------------------- */

#define TCP 0    /* bound SIZE_MAX */
#define UDP 1    /* bound calc_udp_bound(request length) */

typedef struct answer_case {
  calc_role role;
  int udp;
  const char *in;
  const char *want;     /* exact reply, or NULL: check kind and frags */
  calc_err kind;
  const char *frag[4];  /* when want is NULL: parts the reply contains */
} answer_case;

static const answer_case answers[] = {
  /* Every role; tags echoed on results and errors. */
  {CALC_ROLE_ALL, TCP, "1+2*3", "7", CALC_OK, {0}},
  {CALC_ROLE_ALL, TCP, "1+2 #7", "3 #7", CALC_OK, {0}},
  {CALC_ROLE_ALL, TCP, "15*15#123456789", "225 #123456789", CALC_OK, {0}},
  {CALC_ROLE_ALL, TCP, "1/0 #9", "ERR zero-division: division by zero #9",
   CALC_E_ZERO_DIV, {0}},
  {CALC_ROLE_ALL, TCP, "#5", "ERR syntax: empty expression #5", CALC_E_SYNTAX,
   {0}},
  {CALC_ROLE_ALL, TCP, "1 #007", "1 #7", CALC_OK, {0}},
  {CALC_ROLE_ALL, TCP, "1 # note", "1", CALC_OK, {0}},
  {CALC_ROLE_ADDSUB, TCP, "1+2-3", "0", CALC_OK, {0}},
  {CALC_ROLE_ADDSUB, TCP, "-1", "-1", CALC_OK, {0}},
  {CALC_ROLE_ADDSUB, TCP, "--1+-2 #3", "-1 #3", CALC_OK, {0}},
  {CALC_ROLE_MULDIV, TCP, "-2*3", "-6", CALC_OK, {0}},
  {CALC_ROLE_MULDIV, TCP, "2**-1", "0.5", CALC_OK, {0}},
  {CALC_ROLE_MULDIV, TCP, "7//2%2", "1", CALC_OK, {0}},
  {CALC_ROLE_MULDIV, TCP, "+7", "7", CALC_OK, {0}},
  /* Refusals name the operator and the server (role, port) that serves it. */
  {CALC_ROLE_ADDSUB, TCP, "2*3", NULL, CALC_E_UNSUPPORTED,
   {"ERR unsupported: ", "'*'", "muldiv", "4002"}},
  {CALC_ROLE_ADDSUB, TCP, "2**3", NULL, CALC_E_UNSUPPORTED,
   {"'**'", "muldiv", "4002"}},
  {CALC_ROLE_ADDSUB, TCP, "1+2*3/4 #8", NULL, CALC_E_UNSUPPORTED,
   {"'*'", "muldiv", "4002", " #8"}},
  {CALC_ROLE_ADDSUB, TCP, "1/0", NULL, CALC_E_UNSUPPORTED, /* not evaluated */
   {"'/'", "muldiv"}},
  {CALC_ROLE_MULDIV, TCP, "1+2", NULL, CALC_E_UNSUPPORTED,
   {"ERR unsupported: ", "'+'", "addsub", "4001"}},
  {CALC_ROLE_MULDIV, TCP, "6-2*3", NULL, CALC_E_UNSUPPORTED,
   {"'-'", "addsub", "4001"}},
  {CALC_ROLE_MULDIV, TCP, "1+2*3", NULL, CALC_E_UNSUPPORTED,
   {"addsub", "4001"}},
  /* Syntax before role: a bad request is a syntax error in every role. */
  {CALC_ROLE_ADDSUB, TCP, "2*", NULL, CALC_E_SYNTAX, {"ERR syntax: "}},
  {CALC_ROLE_MULDIV, TCP, "1+", NULL, CALC_E_SYNTAX, {"ERR syntax: "}},
  {CALC_ROLE_MULDIV, TCP, "2^10", NULL, CALC_E_UNSUPPORTED, {"**"}},
  /* UDP: a reply never exceeds max(3n, 32) bytes. */
  {CALC_ROLE_ALL, UDP, "2**103", "10141204801825835211973625643008", CALC_OK,
   {0}},                                          /* 32 bytes: at the bound */
  {CALC_ROLE_ALL, UDP, "2**107", "ERR too-large: use TCP", CALC_E_TOO_LARGE,
   {0}},                                          /* 33 bytes: past */
  {CALC_ROLE_ALL, UDP, "9**99", "ERR too-large: use TCP", CALC_E_TOO_LARGE,
   {0}},
  {CALC_ROLE_ALL, UDP, "2**200 #1", "ERR too-large: use TCP #1",
   CALC_E_TOO_LARGE, {0}},
  {CALC_ROLE_ALL, UDP, "1/0", "ERR zero-division", CALC_E_ZERO_DIV, {0}},
  {CALC_ROLE_ALL, UDP, "1/0        ", "ERR zero-division", CALC_E_ZERO_DIV,
   {0}},                                          /* 11 bytes: 33 < 35 */
  {CALC_ROLE_ALL, UDP, "1/0         ", "ERR zero-division: division by zero",
   CALC_E_ZERO_DIV, {0}},                         /* 12 bytes: 36 >= 35 */
  {CALC_ROLE_ALL, UDP, "1/0 #123456789", "ERR zero-division #123456789",
   CALC_E_ZERO_DIV, {0}},
  {CALC_ROLE_ALL, UDP, "#123456789", "ERR syntax #123456789", CALC_E_SYNTAX,
   {0}},
  {CALC_ROLE_ALL, UDP, "9#123456789", "9 #123456789", CALC_OK, {0}},
  {CALC_ROLE_ADDSUB, UDP, "2*3", "ERR unsupported", CALC_E_UNSUPPORTED, {0}},
  {CALC_ROLE_ALL, UDP, "1.5", "1.5", CALC_OK, {0}},
  {CALC_ROLE_ALL, UDP, "2**-1074", "5e-324", CALC_OK, {0}},
  /* TCP has no bound. */
  {CALC_ROLE_ALL, TCP, "2**107", "162259276829213363391578010288128", CALC_OK,
   {0}},
};

static void test_answer(void) {
  calc_ctx *c = calc_ctx_new(NULL);
  char out[CALC_ANSWER_MAX];
  for (size_t i = 0; i < G_N_ELEMENTS(answers); i++) {
    const answer_case *a = &answers[i];
    size_t n = strlen(a->in);
    size_t bound = a->udp ? calc_udp_bound(n) : SIZE_MAX;
    calc_err kind = (calc_err)-1;
    memset(out, 'X', sizeof out);
    size_t len = calc_answer(c, a->role, a->in, n, bound, out, sizeof out,
                             &kind);
    const char *role = calc_role_name(a->role);
    if (len >= sizeof out || out[len] != '\0') {
      FAIL("[%s] %s: reply not NUL-terminated at %zu", role,
                         a->in, len);
      continue;
    }
    if (len != strlen(out)) FAIL("%s: length %zu", a->in, len);
    if (kind != a->kind)
      FAIL("[%s] %s: kind %s, want %s (%s)", role, a->in,
                         kind ? calc_err_token(kind) : "ok",
                         a->kind ? calc_err_token(a->kind) : "ok", out);
    if (a->want && strcmp(out, a->want) != 0)
      FAIL("[%s] %s: got '%s', want '%s'", role, a->in, out,
                         a->want);
    for (size_t k = 0; !a->want && k < G_N_ELEMENTS(a->frag) && a->frag[k];
         k++)
      if (!strstr(out, a->frag[k]))
        FAIL("[%s] %s: '%s' lacks '%s'", role, a->in, out,
                           a->frag[k]);
    if (len > bound)
      FAIL("[%s] %s: %zu bytes > bound %zu", role, a->in, len,
                         bound);
  }
  calc_ctx_free(c);
}

/* The request length limit through calc_answer, with and without a tag,
 * and the largest reply (4300 digits and a 9-digit tag) within
 * CALC_ANSWER_MAX. */
static void test_answer_limits(void) {
  calc_ctx *c = calc_ctx_new(NULL);
  char out[CALC_ANSWER_MAX];
  calc_err kind;
  size_t len;
  /* The rule: the whole request counts, tag included; over the limit it is
   * answered too-long without the tag (docs/PROTOCOL.md, "Limits"). */
  static const struct {
    size_t n;        /* request bytes */
    const char *tag; /* appended, counted in n */
    const char *want;
  } rows[] = {
    {4095, "", "2048"},
    {4096, "", "2048"},
    {4097, "", "ERR too-long: request longer than 4096 bytes"},
    {4095, " #5", "2046 #5"},
    {4096, " #5", "2047 #5"},
    {4097, " #5", "ERR too-long: request longer than 4096 bytes"},
    {4097, " #123456789", "ERR too-long: request longer than 4096 bytes"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    GString *req = g_string_new("1");
    size_t t = strlen(rows[i].tag);
    while (req->len + 2 <= rows[i].n - t) g_string_append(req, "+1");
    if (req->len < rows[i].n - t) g_string_append(req, " ");
    g_string_append(req, rows[i].tag);
    g_assert_cmpuint(req->len, ==, rows[i].n);
    calc_answer_info ai;
    len = calc_answer_info_of(c, CALC_ROLE_ALL, req->str, req->len, SIZE_MAX,
                              out, sizeof out, &ai);
    g_assert_cmpuint(len, ==, ai.len);
    if (strncmp(out, rows[i].want, strlen(rows[i].want)) != 0)
      FAIL("%zu bytes with tag '%s': '%s', want '%s'", rows[i].n,
           rows[i].tag, out, rows[i].want);
    int over = rows[i].n > CALC_MAX_REQUEST_LEN;
    g_assert_cmpint(!!(ai.flags & CALC_REPLY_TOO_LONG), ==, over);
    g_assert_cmpint(ai.kind == CALC_E_TOO_LONG, ==, over);
    g_assert_cmpint(!!(ai.flags & CALC_REPLY_TAGGED), ==, !over && t > 0);
    g_assert_cmpuint(ai.body_len, ==, ai.len - (!over && t ? t : 0));
    /* calc_answer() says the same */
    calc_err kind;
    char out2[CALC_ANSWER_MAX];
    g_assert_cmpuint(calc_answer(c, CALC_ROLE_ALL, req->str, req->len,
                                 SIZE_MAX, out2, sizeof out2, &kind), ==, len);
    g_assert_cmpint(kind, ==, ai.kind);
    g_assert_cmpstr(out2, ==, out);
    /* and the UDP bound of an over-long request never shortens it */
    calc_answer_info_of(c, CALC_ROLE_ALL, req->str, req->len,
                        calc_udp_bound(req->len), out2, sizeof out2, &ai);
    g_assert_cmpstr(out2, ==, out);
    g_string_free(req, TRUE);
  }

  len = calc_answer(c, CALC_ROLE_ALL, S("-(10**4300-1) #999999999"), SIZE_MAX,
                    out, sizeof out, &kind);
  g_assert_cmpint(kind, ==, CALC_OK);
  g_assert_cmpuint(len, ==, 1 + 4300 + 11);
  g_assert_cmpuint(len, <, sizeof out);
  g_assert_true(g_str_has_suffix(out, "9999 #999999999"));
  g_assert_true(g_str_has_prefix(out, "-9999"));
  calc_ctx_free(c);
}

/* Whatever the request, a UDP reply fits max(3n, 32) and a TCP reply fits
 * CALC_ANSWER_MAX; every reply parses back with the same kind and tag. */
static void test_answer_bounds(void) {
  static const char *const exprs[] = {
    "1", "15*15", "2**100", "2**4000", "10**4299", "1/3", "1e16", "-0.0",
    "1/0", "1//0", "2**1024/1", "(-8)**(1/3)", "10**4300", "9**9**9**9",
    "007", "1+", "abc", "2^10", "", "((((1", "1.5j", "1e309-1e309",
    "__import__('os').system('id')", "-2**2", "2**-1", "0x_ff",
  };
  static const char *const tags[] = {"", " #1", "#123456789", " #0"};
  calc_ctx *c = calc_ctx_new(NULL);
  char out[CALC_ANSWER_MAX], req[256];
  for (size_t r = 0; r < CALC_ROLE_COUNT_; r++)
    for (size_t i = 0; i < G_N_ELEMENTS(exprs); i++)
      for (size_t t = 0; t < G_N_ELEMENTS(tags); t++)
        for (int udp = 0; udp < 2; udp++) {
          int n = g_snprintf(req, sizeof req, "%s%s", exprs[i], tags[t]);
          size_t bound = udp ? calc_udp_bound((size_t)n) : SIZE_MAX;
          calc_err kind;
          size_t len = calc_answer(c, (calc_role)r, req, (size_t)n, bound, out,
                                   sizeof out, &kind);
          if (len > bound || len >= sizeof out)
            FAIL("[%zu,%d] %s: %zu bytes > %zu", r, udp, req,
                               len, bound);
          calc_reply_info info;
          if (calc_reply_parse(out, len, &info) != 0 ||
              info.is_error != (kind != CALC_OK) ||
              (kind != CALC_OK && info.kind != kind) ||
              info.has_tag != (t > 0))
            FAIL("[%zu,%d] %s: reply '%s' does not parse back",
                               r, udp, req, out);
          if (out[0] == 'E' && kind == CALC_OK)
            FAIL("%s: a result starts with 'E': %s", req, out);
          /* the unbounded answer, shortened, tells the same kind */
          calc_answer_info ai;
          char whole[CALC_ANSWER_MAX + 1];
          calc_answer_info_of(c, (calc_role)r, req, (size_t)n, SIZE_MAX,
                              whole, sizeof whole, &ai);
          if (calc_answer_bounded_kind(&ai, bound) != kind)
            FAIL("[%zu,%d] %s: bounded kind %d, want %d", r, udp, req,
                 calc_answer_bounded_kind(&ai, bound), kind);
        }
  calc_ctx_free(c);
}

/* ---- replies --------------------------------------------------------------- */

typedef struct reply_case {
  const char *in;
  size_t len;
  int ret;
  int is_error;
  calc_err kind;
  const char *token;
  const char *body;
  int has_tag;
  uint32_t tag;
} reply_case;

static const reply_case replies[] = {
  {S("225"), 0, 0, CALC_OK, NULL, "225", 0, 0},
  {S("225 #7"), 0, 0, CALC_OK, NULL, "225", 1, 7},
  {S("-0.0"), 0, 0, CALC_OK, NULL, "-0.0", 0, 0},
  {S("1e+16 #123456789"), 0, 0, CALC_OK, NULL, "1e+16", 1, 123456789},
  {S("-inf"), 0, 0, CALC_OK, NULL, "-inf", 0, 0},
  {S("nan"), 0, 0, CALC_OK, NULL, "nan", 0, 0},
  {S("1.5e-07"), 0, 0, CALC_OK, NULL, "1.5e-07", 0, 0},
  {S("ERR syntax: empty expression"), 0, 1, CALC_E_SYNTAX, "syntax",
   "empty expression", 0, 0},
  {S("ERR zero-division: division by zero #9"), 0, 1, CALC_E_ZERO_DIV,
   "zero-division", "division by zero", 1, 9},
  {S("ERR zero-division"), 0, 1, CALC_E_ZERO_DIV, "zero-division", "", 0, 0},
  {S("ERR too-large: use TCP #3"), 0, 1, CALC_E_TOO_LARGE, "too-large",
   "use TCP", 1, 3},
  {S("ERR syntax #123456789"), 0, 1, CALC_E_SYNTAX, "syntax", "", 1,
   123456789},
  {S("ERR unsupported: a '#' inside"), 0, 1, CALC_E_UNSUPPORTED,
   "unsupported", "a '#' inside", 0, 0},
  {S("ERR bogus: x"), -1, 1, CALC_OK, "bogus", "x", 0, 0},
  {S("ERR "), -1, 1, CALC_OK, "", "", 0, 0},
  {S(""), -1, 0, CALC_OK, NULL, "", 0, 0},
  {S("hello"), -1, 0, CALC_OK, NULL, "hello", 0, 0},
  {S("225#7"), -1, 0, CALC_OK, NULL, "225#7", 0, 0},
  {S("22 5"), -1, 0, CALC_OK, NULL, "22 5", 0, 0},
  {S("ERROR"), -1, 0, CALC_OK, NULL, "ERROR", 0, 0},
};

static void test_reply_parse(void) {
  for (size_t i = 0; i < G_N_ELEMENTS(replies); i++) {
    const reply_case *w = &replies[i];
    calc_reply_info r;
    int ret = calc_reply_parse(w->in, w->len, &r);
    int ok = ret == w->ret && r.is_error == w->is_error && r.kind == w->kind &&
             r.has_tag == w->has_tag && (!r.has_tag || r.tag == w->tag) &&
             r.body_len == strlen(w->body) &&
             memcmp(r.body, w->body, r.body_len) == 0;
    if (w->token)
      ok = ok && r.token_len == strlen(w->token) &&
           memcmp(r.token, w->token, r.token_len) == 0;
    if (!ok)
      FAIL("parse '%s': ret %d err %d kind %d tag %d:%u "
                         "body '%.*s'", w->in, ret, r.is_error, r.kind,
                         r.has_tag, (unsigned)r.tag, (int)r.body_len,
                         r.body ? r.body : "");
  }
  /* Every kind of the error table round-trips through a reply line. */
  for (int e = 1; e < CALC_E_COUNT_; e++) {
    char *line = g_strdup_printf("ERR %s: message #12", calc_err_token(e));
    calc_reply_info r;
    g_assert_cmpint(calc_reply_parse(line, strlen(line), &r), ==, 0);
    g_assert_cmpint(r.kind, ==, e);
    g_assert_true(r.is_error && r.has_tag && r.tag == 12);
    g_free(line);
  }
}

/* ---- the wire's other bytes --------------------------------------------- */

static void test_tag_format_cut(void) {
  char out[4];
  g_assert_cmpuint(calc_tag_format(out, sizeof out, 12345), ==, 3);
  g_assert_cmpstr(out, ==, " #1");
  g_assert_cmpuint(calc_tag_format(out, 1, 5), ==, 0);
  g_assert_cmpstr(out, ==, "");
}

static void test_tag_format(void) {
  static const struct {
    uint32_t tag;
    const char *want;
  } rows[] = {{0, " #0"}, {7, " #7"}, {10, " #10"}, {100000000, " #100000000"},
              {999999999, " #999999999"}};
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    char out[CALC_TAG_TEXT_MAX + 1];
    g_assert_cmpuint(calc_tag_format(out, sizeof out, rows[i].tag), ==,
                     strlen(rows[i].want));
    g_assert_cmpstr(out, ==, rows[i].want);
    /* the one parse reads back the one format */
    char req[32];
    snprintf(req, sizeof req, "1+1%s", out);
    calc_request rq;
    calc_request_split(req, strlen(req), &rq);
    g_assert_true(rq.has_tag);
    g_assert_cmpuint(rq.tag, ==, rows[i].tag);
    calc_reply_info ri;
    snprintf(req, sizeof req, "2%s", out);
    g_assert_cmpint(calc_reply_parse(req, strlen(req), &ri), ==, 0);
    g_assert_true(ri.has_tag);
    g_assert_cmpuint(ri.tag, ==, rows[i].tag);
    g_assert_cmpuint(ri.text_len, ==, 1);
  }
}

static void test_fixed_replies(void) {
  char out[128];
  g_assert_cmpuint(calc_reply_too_long(out, sizeof out, 4096), ==, 44);
  g_assert_cmpstr(out, ==, "ERR too-long: request longer than 4096 bytes");
  calc_reply_busy(out, sizeof out, "server at its connection limit (%u)", 7u);
  g_assert_cmpstr(out, ==, "ERR busy: server at its connection limit (7)");
  calc_reply_busy(out, sizeof out, "server stopping");
  g_assert_cmpstr(out, ==, "ERR busy: server stopping");
  /* cut to fit, NUL-terminated */
  g_assert_cmpuint(calc_reply_too_long(out, 8, 4096), ==, 7);
  g_assert_cmpstr(out, ==, "ERR too");
}

static void test_unfinished(void) {
  static const struct {
    const char *in;
    int want;
  } rows[] = {
    {"2*", 1}, {"(1+", 1}, {"-", 1}, {"2* #5", 1}, {"2*\r\n", 1},
    {"((", 1}, {"2*3", 0}, {"2*)", 0}, {"", 0}, {"1+", 1}, {"1 +  ", 1},
    {"abc", 0}, {"1e", 0},
  };
  calc_ctx *c = calc_ctx_new(NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++)
    if (calc_request_unfinished(c, rows[i].in, strlen(rows[i].in)) !=
        rows[i].want)
      FAIL("unfinished('%s') != %d", rows[i].in, rows[i].want);
  calc_ctx_free(c);
}

/* Flags a client or the dissector reads from reply bytes, and the same
 * flags calc_answer_info_of() reports for the reply it wrote. */
static void test_reply_flags(void) {
  static const struct {
    calc_role role;
    const char *req;
    size_t bound;
    unsigned want;
  } rows[] = {
    {CALC_ROLE_ALL, "1+1", SIZE_MAX, 0},
    {CALC_ROLE_ALL, "1+1 #3", SIZE_MAX, CALC_REPLY_TAGGED},
    {CALC_ROLE_ALL, "2**200", 32, CALC_REPLY_CUT},
    {CALC_ROLE_ALL, "2**200 #7", 32, CALC_REPLY_CUT | CALC_REPLY_TAGGED},
    {CALC_ROLE_ALL, "1/0", 32, CALC_REPLY_CUT},
    {CALC_ROLE_ALL, "1/0", SIZE_MAX, 0},
    {CALC_ROLE_ADDSUB, "2*3 #4", SIZE_MAX, CALC_REPLY_ROLE | CALC_REPLY_TAGGED},
    {CALC_ROLE_MULDIV, "1-1", SIZE_MAX, CALC_REPLY_ROLE},
    {CALC_ROLE_ADDSUB, "2*3", 32, CALC_REPLY_CUT},
    {CALC_ROLE_ALL, "10**4300", SIZE_MAX, CALC_REPLY_DIGITS},
    {CALC_ROLE_ALL, "2**70000", SIZE_MAX, 0}, /* too-large: bits, not digits */
    {CALC_ROLE_ALL, "abc", SIZE_MAX, 0},
  };
  calc_ctx *c = calc_ctx_new(NULL);
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    char out[CALC_ANSWER_MAX];
    calc_answer_info ai;
    size_t n = calc_answer_info_of(c, rows[i].role, rows[i].req,
                                   strlen(rows[i].req), rows[i].bound, out,
                                   sizeof out, &ai);
    if (ai.flags != rows[i].want)
      FAIL("'%s': answer flags %#x, want %#x ('%s')", rows[i].req, ai.flags,
           rows[i].want, out);
    calc_reply_info ri;
    g_assert_cmpint(calc_reply_parse(out, n, &ri), ==, 0);
    g_assert_true(ri.strict);
    if (ri.flags != rows[i].want)
      FAIL("'%s': reply flags %#x, want %#x ('%s')", rows[i].req, ri.flags,
           rows[i].want, out);
    g_assert_cmpuint(ri.text_len, ==, ai.body_len);
  }
  calc_ctx_free(c);
}

/* The reply grammar a client accepts (calc_reply_info.strict). */
static void test_reply_grammar(void) {
  static const struct {
    const char *in;
    size_t len;
    int strict;
  } rows[] = {
    {S("225"), 1}, {S("-4"), 1}, {S("0"), 1}, {S("225 #7"), 1},
    {S("0.5"), 1}, {S("-0.0"), 1}, {S("1e+16"), 1}, {S("1.5e-05"), 1},
    {S("5e-324"), 1}, {S("1.7976931348623157e+308"), 1}, {S("123.0"), 1},
    {S("inf"), 1}, {S("-inf"), 1}, {S("nan"), 1}, {S("nan #3"), 1},
    {S("ERR zero-division: division by zero"), 1},
    {S("ERR zero-division"), 1}, {S("ERR too-large: use TCP #7"), 1},
    /* not replies */
    {S(""), 0}, {S("-0"), 0}, {S("007"), 0}, {S("+5"), 0}, {S("8+1"), 0},
    {S("1e16"), 0}, {S("1."), 0}, {S(".5"), 0}, {S("-nan"), 0},
    {S("infinity"), 0}, {S("1e+1234"), 0}, {S("12e+16"), 0},
    {S("225 "), 0}, {S(" 225"), 0}, {S("225 #"), 0},
    {S("\x1b]0;PWNED\x07\x1b[2J225\x00\xff #12"), 0},
    {S("225\x00"), 0}, {S("ERR bogus: x"), 0}, {S("ERR syntax:"), 0},
    {S("ERR syntax: \x1b[2J"), 0}, {S("ERR syntax:x"), 0},
    {S("ERR"), 0}, {S("ERR "), 0}, {S("err syntax: x"), 0},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(rows); i++) {
    calc_reply_info ri;
    calc_reply_parse(rows[i].in, rows[i].len, &ri);
    if (ri.strict != rows[i].strict) {
      char e[128];
      FAIL("'%s': strict %d, want %d",
           calc_escape(rows[i].in, rows[i].len, e, sizeof e), ri.strict,
           rows[i].strict);
    }
  }
  /* the digit limit */
  GString *big = g_string_new("");
  for (int i = 0; i < CALC_MAX_DIGITS; i++) g_string_append_c(big, '9');
  g_assert_true(calc_reply_is_number(big->str, big->len, CALC_MAX_DIGITS));
  g_string_append_c(big, '9');
  g_assert_false(calc_reply_is_number(big->str, big->len, CALC_MAX_DIGITS));
  g_string_prepend_c(big, '-');
  g_assert_false(calc_reply_is_number(big->str, big->len, CALC_MAX_DIGITS));
  g_string_free(big, TRUE);
}

static void test_escape(void) {
  char out[64];
  g_assert_cmpstr(calc_escape(S("225"), out, sizeof out), ==, "225");
  g_assert_cmpstr(calc_escape(S("\x1b]0;P\x07\\ \x00\xff"), out, sizeof out),
                  ==, "\\x1b]0;P\\x07\\\\ \\x00\\xff");
  g_assert_cmpstr(calc_escape(S("0123456789abcdefghij"), out, 16), ==,
                  "01234567...");
  g_assert_cmpuint(strlen(calc_escape(S("\x1b\x1b\x1b\x1b\x1b\x1b"), out, 20)),
                   <, 20);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_set_nonfatal_assertions();
  g_test_add_func("/proto/roles", test_roles);
  g_test_add_func("/proto/request-split", test_request_split);
  g_test_add_func("/proto/strip-eol", test_strip_eol);
  g_test_add_func("/proto/udp-bound", test_udp_bound);
  g_test_add_func("/proto/answer", test_answer);
  g_test_add_func("/proto/answer-limits", test_answer_limits);
  g_test_add_func("/proto/answer-bounds", test_answer_bounds);
  g_test_add_func("/proto/reply-parse", test_reply_parse);
  g_test_add_func("/proto/tag-format", test_tag_format);
  g_test_add_func("/proto/tag-format-cut", test_tag_format_cut);
  g_test_add_func("/proto/fixed-replies", test_fixed_replies);
  g_test_add_func("/proto/unfinished", test_unfinished);
  g_test_add_func("/proto/reply-flags", test_reply_flags);
  g_test_add_func("/proto/reply-grammar", test_reply_grammar);
  g_test_add_func("/proto/escape", test_escape);
  return g_test_run();
}
