/* SPDX-License-Identifier: MIT
 *
 * fuzz_replay: runs fuzz_eval's checks on stored inputs in a normal build,
 * so ctest (bench.fuzz_replay) keeps every seed and every reproducer the
 * fuzzer ever found passing, without clang or libFuzzer.
 *
 *   fuzz_replay [--corpus bench/eval_corpus.txt] [FILE|DIR ...]
 *
 * --corpus replays each item of the benchmark corpus (the fuzzer's seeds);
 * a FILE is one input; a DIR, each regular file in it.  A failed check
 * aborts naming the line of fuzz_eval.c; the input is named first.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eval_corpus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "fuzz_replay: %s: cannot open\n", path);
    return -1;
  }
  static uint8_t buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  fprintf(stderr, "fuzz_replay: %s\n", path);
  LLVMFuzzerTestOneInput(buf, n);
  return 1;
}

/* Replays a file, or each regular file of a directory; returns how many. */
static int replay_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "fuzz_replay: %s: not found\n", path);
    return -1;
  }
  if (!S_ISDIR(st.st_mode)) return replay_file(path);
  DIR *d = opendir(path);
  if (!d) return -1;
  int count = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
    if (e->d_name[0] == '.' || stat(sub, &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    if (replay_file(sub) < 0) {
      closedir(d);
      return -1;
    }
    count++;
  }
  closedir(d);
  return count;
}

int main(int argc, char **argv) {
  int total = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--corpus") == 0 && i + 1 < argc) {
      calc_corpus cp;
      char err[256];
      if (calc_corpus_load(argv[++i], &cp, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_replay: %s\n", err);
        return 2;
      }
      for (size_t k = 0; k < cp.n; k++) {
        fprintf(stderr, "fuzz_replay: %s line %d\n", argv[i],
                cp.items[k].line);
        LLVMFuzzerTestOneInput((const uint8_t *)cp.items[k].text,
                               cp.items[k].len);
      }
      total += (int)cp.n;
      calc_corpus_free(&cp);
      continue;
    }
    int n = replay_path(argv[i]);
    if (n < 0) return 2;
    total += n;
  }
  printf("fuzz_replay: %d inputs, all checks passed\n", total);
  return 0;
}
