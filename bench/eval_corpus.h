/* SPDX-License-Identifier: MIT
 *
 * eval_corpus.h: reads bench/eval_corpus.txt, the fixed corpus of the
 * expression benchmark and the fuzzer's seeds.  Format (one item a line):
 *
 *   # comment            blank lines and lines starting with '#' are skipped
 *   [category]           the items below belong to `category` ([a-z0-9_-])
 *   !nopy <reason>       the next item is not run on the Python side
 *   <expression>         the bytes of one request, with escapes
 *                        \\ \n \r \t \xHH (any other '\' is an error)
 *
 * bench/eval_bench_py.py reads the same format; keep the two in step.
 */
#ifndef EVAL_CORPUS_H
#define EVAL_CORPUS_H

#include <stddef.h>

typedef struct calc_corpus_item {
  const char *category; /* owned by the corpus */
  char *text;           /* decoded bytes, NUL-terminated (may hold NULs) */
  size_t len;
  char *nopy;           /* why Python's side skips it, or NULL */
  int line;             /* 1-based line in the file */
} calc_corpus_item;

typedef struct calc_corpus {
  calc_corpus_item *items;
  size_t n;
  char **cats;          /* category names, in order of first use */
  size_t ncats;
} calc_corpus;

/* Load the corpus at path.  Returns 0, or -1 with a message in err. */
int calc_corpus_load(const char *path, calc_corpus *c, char *err,
                     size_t errcap);
void calc_corpus_free(calc_corpus *c);

#endif /* EVAL_CORPUS_H */
