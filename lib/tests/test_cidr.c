/* SPDX-License-Identifier: MIT
 *
 * test_cidr.c: network lists (calc_cidr.h): what parses, what is refused
 * and where, and which addresses match.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "calc_cidr.h"
#include "calc_test.h"

static const struct {
  const char *text;
  const char *canon; /* the networks formatted, ","-joined */
} good[] = {
  {"127.0.0.0/8,::1/128", "127.0.0.0/8,::1/128"},
  {"127.0.0.1", "127.0.0.1/32"},
  {"::1", "::1/128"},
  {" 10.0.0.0/8 , 192.168.0.0/16 ", "10.0.0.0/8,192.168.0.0/16"},
  {"0.0.0.0/0", "0.0.0.0/0"},
  {"::/0", "::/0"},
  {"fd00::/8", "fd00::/8"},
  {"10.1.2.128/25", "10.1.2.128/25"},
  {"2001:db8::/32,2001:db8:1::/48", "2001:db8::/32,2001:db8:1::/48"},
};

static const struct {
  const char *text;
  const char *bad; /* the part reported */
} bad[] = {
  {"", ""},
  {",", ""},
  {"127.0.0.0/8,", ""},
  {"127.0.0.1/8", "127.0.0.1/8"},   /* host bits set */
  {"127.0.0.0/33", "127.0.0.0/33"},
  {"::1/129", "::1/129"},
  {"127.0.0.0/", "127.0.0.0/"},
  {"127.0.0.0/08", "127.0.0.0/08"},
  {"127.0.0.0/-8", "127.0.0.0/-8"},
  {"127.0.0.0/8/8", "127.0.0.0/8/8"},
  {"localhost", "localhost"},
  {"10.0.0.0/8,bogus,::1", "bogus"},
  {"1.2.3", "1.2.3"},
  {"1.2.3.4 5.6.7.8", "1.2.3.4 5.6.7.8"},
  {"[::1]", "[::1]"},
};

static void test_good(void) {
  for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
    calc_cidr_list l;
    const char *b = NULL;
    size_t bl = 0;
    if (calc_cidr_parse(good[i].text, &l, &b, &bl) < 0) {
      FAIL("'%s' refused at '%.*s'", good[i].text, (int)bl, b);
      continue;
    }
    char out[CALC_CIDR_MAX * CALC_CIDR_TEXT_MAX] = "";
    for (size_t k = 0; k < l.n; k++) {
      char one[CALC_CIDR_TEXT_MAX];
      calc_cidr_format(&l.net[k], one, sizeof one);
      if (k) strcat(out, ",");
      strcat(out, one);
    }
    if (strcmp(out, good[i].canon) != 0)
      FAIL("'%s' parsed as '%s', want '%s'", good[i].text, out,
           good[i].canon);
  }
}

static void test_bad(void) {
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    calc_cidr_list l;
    const char *b = NULL;
    size_t bl = 0;
    if (calc_cidr_parse(bad[i].text, &l, &b, &bl) == 0) {
      FAIL("'%s' accepted", bad[i].text);
      continue;
    }
    if (bl != strlen(bad[i].bad) || memcmp(b, bad[i].bad, bl) != 0)
      FAIL("'%s': reported '%.*s', want '%s'", bad[i].text, (int)bl, b,
           bad[i].bad);
  }
}

/* CALC_CIDR_MAX networks parse; one more is refused as a whole list. */
static void test_count_limit(void) {
  char text[CALC_CIDR_MAX * 20 + 32] = "";
  for (int i = 0; i <= CALC_CIDR_MAX; i++) {
    calc_cidr_list l;
    const char *b;
    size_t bl;
    char one[24];
    snprintf(one, sizeof one, "%s10.0.%d.0/24", i ? "," : "", i);
    strcat(text, one);
    int r = calc_cidr_parse(text, &l, &b, &bl);
    if (i < CALC_CIDR_MAX) {
      g_assert_cmpint(r, ==, 0);
      g_assert_cmpuint(l.n, ==, (size_t)i + 1);
    } else {
      g_assert_cmpint(r, ==, -1);
      g_assert_true(b == text);
    }
  }
  /* One network's text at and past CALC_CIDR_TEXT_MAX - 1 bytes. */
  char pad[CALC_CIDR_TEXT_MAX + 2];
  calc_cidr_list l;
  const char *b;
  size_t bl;
  memset(pad, ' ', sizeof pad);
  memcpy(pad, "::1", 3);
  pad[CALC_CIDR_TEXT_MAX - 1] = '\0'; /* blanks are trimmed: accepted */
  g_assert_cmpint(calc_cidr_parse(pad, &l, &b, &bl), ==, 0);
  memset(pad, '0', sizeof pad);
  memcpy(pad, "0:0:0:0:0:0:0:", 14); /* a long, still valid spelling */
  pad[CALC_CIDR_TEXT_MAX - 1] = '\0';
  g_assert_cmpint(calc_cidr_parse(pad, &l, &b, &bl), ==, -1);
}

static struct sockaddr_storage addr(const char *s) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (inet_pton(AF_INET, s, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
    ss.ss_family = AF_INET;
  else if (inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)&ss)->sin6_addr))
    ss.ss_family = AF_INET6;
  else
    g_assert_not_reached();
  return ss;
}

static void test_match(void) {
  static const struct {
    const char *list, *addr;
    int in;
  } m[] = {
    {"127.0.0.0/8,::1/128", "127.0.0.1", 1},
    {"127.0.0.0/8,::1/128", "127.255.255.254", 1},
    {"127.0.0.0/8,::1/128", "128.0.0.1", 0},
    {"127.0.0.0/8,::1/128", "::1", 1},
    {"127.0.0.0/8,::1/128", "::2", 0},
    {"127.0.0.0/8,::1/128", "::ffff:127.0.0.9", 1}, /* v4-mapped */
    {"127.0.0.0/8,::1/128", "::ffff:10.0.0.9", 0},
    {"127.0.0.2", "127.0.0.2", 1},
    {"127.0.0.2", "127.0.0.3", 0},
    {"10.1.2.128/25", "10.1.2.128", 1},
    {"10.1.2.128/25", "10.1.2.255", 1},
    {"10.1.2.128/25", "10.1.2.127", 0},
    {"10.1.2.128/25", "10.1.3.128", 0},
    {"0.0.0.0/0", "203.0.113.7", 1},
    {"0.0.0.0/0", "2001:db8::1", 0}, /* families apart */
    {"::/0", "2001:db8::1", 1},
    {"::/0", "127.0.0.1", 0},
    {"2001:db8::/33", "2001:db8:7fff::1", 1},
    {"2001:db8::/33", "2001:db8:8000::1", 0},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(m); i++) {
    calc_cidr_list l;
    const char *b;
    size_t bl;
    g_assert_cmpint(calc_cidr_parse(m[i].list, &l, &b, &bl), ==, 0);
    struct sockaddr_storage ss = addr(m[i].addr);
    if (calc_cidr_match(&l, (struct sockaddr *)&ss) != m[i].in)
      FAIL("%s in %s: want %d", m[i].addr, m[i].list, m[i].in);
  }
  struct sockaddr_storage un = {.ss_family = AF_UNIX};
  calc_cidr_list l;
  const char *b;
  size_t bl;
  g_assert_cmpint(calc_cidr_parse("0.0.0.0/0,::/0", &l, &b, &bl), ==, 0);
  g_assert_cmpint(calc_cidr_match(&l, (struct sockaddr *)&un), ==, 0);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_set_nonfatal_assertions();
  g_test_add_func("/cidr/good", test_good);
  g_test_add_func("/cidr/bad", test_bad);
  g_test_add_func("/cidr/count-limit", test_count_limit);
  g_test_add_func("/cidr/match", test_match);
  return g_test_run();
}
