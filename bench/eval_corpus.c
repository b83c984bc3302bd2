/* SPDX-License-Identifier: MIT
 * eval_corpus.c: the benchmark corpus reader (format in eval_corpus.h). */
#define _GNU_SOURCE /* getline */
#include "eval_corpus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Decode the escapes of s[0..n) in place; returns the new length or -1. */
static long unescape(char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '\\') {
      s[k++] = s[i];
      continue;
    }
    if (++i >= n) return -1;
    switch (s[i]) {
    case '\\': s[k++] = '\\'; break;
    case 'n': s[k++] = '\n'; break;
    case 'r': s[k++] = '\r'; break;
    case 't': s[k++] = '\t'; break;
    case 'x': {
      int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
      int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return -1;
      s[k++] = (char)(hi * 16 + lo);
      i += 2;
      break;
    }
    default: return -1;
    }
  }
  s[k] = '\0';
  return (long)k;
}

/* Whether line[0..n) is a "[category]" header: a name of [a-z0-9_-]. */
static int is_header(const char *s, size_t n) {
  if (n < 3 || s[0] != '[' || s[n - 1] != ']') return 0;
  for (size_t i = 1; i + 1 < n; i++)
    if (!s[i] || !strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", s[i]))
      return 0;
  return 1;
}

/* The corpus' copy of category name s[0..n), added when new. */
static const char *intern_cat(calc_corpus *c, const char *s, size_t n) {
  for (size_t i = 0; i < c->ncats; i++)
    if (strlen(c->cats[i]) == n && memcmp(c->cats[i], s, n) == 0)
      return c->cats[i];
  char **grown = realloc(c->cats, (c->ncats + 1) * sizeof *grown);
  if (!grown) return NULL;
  c->cats = grown;
  return c->cats[c->ncats++] = strndup(s, n);
}

int calc_corpus_load(const char *path, calc_corpus *c, char *err,
                     size_t errcap) {
  memset(c, 0, sizeof *c);
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errcap, "%s: cannot open", path);
    return -1;
  }
  char *line = NULL, *nopy = NULL;
  size_t cap = 0, alloc = 0;
  ssize_t len;
  int lineno = 0, rc = -1;
  const char *cat = NULL;
  while ((len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
    if (len == 0 || line[0] == '#') continue;
    if (is_header(line, (size_t)len)) {
      if (!(cat = intern_cat(c, line + 1, (size_t)len - 2))) goto oom;
      continue;
    }
    if (strncmp(line, "!nopy ", 6) == 0) {
      free(nopy);
      if (!(nopy = strdup(line + 6))) goto oom;
      continue;
    }
    if (!cat) {
      snprintf(err, errcap, "%s:%d: item before any [category]", path, lineno);
      goto out;
    }
    long n = unescape(line, (size_t)len);
    if (n < 0) {
      snprintf(err, errcap, "%s:%d: bad escape", path, lineno);
      goto out;
    }
    if (c->n == alloc) {
      alloc = alloc ? 2 * alloc : 64;
      calc_corpus_item *grown = realloc(c->items, alloc * sizeof *grown);
      if (!grown) goto oom;
      c->items = grown;
    }
    calc_corpus_item *it = &c->items[c->n];
    if (!(it->text = malloc((size_t)n + 1))) goto oom;
    memcpy(it->text, line, (size_t)n + 1);
    it->len = (size_t)n;
    it->category = cat;
    it->nopy = nopy;
    it->line = lineno;
    nopy = NULL;
    c->n++;
  }
  rc = 0;
  goto out;
oom:
  snprintf(err, errcap, "%s:%d: out of memory", path, lineno);
out:
  free(line);
  free(nopy);
  fclose(f);
  if (rc) calc_corpus_free(c);
  return rc;
}

void calc_corpus_free(calc_corpus *c) {
  for (size_t i = 0; i < c->n; i++) {
    free(c->items[i].text);
    free(c->items[i].nopy);
  }
  for (size_t i = 0; i < c->ncats; i++) free(c->cats[i]);
  free(c->items);
  free(c->cats);
  memset(c, 0, sizeof *c);
}
