/* SPDX-License-Identifier: MIT
 *
 * calc_bench_expect.h: calc-bench's requests and expected replies.  Every
 * request carries a 9-digit tag (so every request of an expression, and
 * its reply, has one size and one expected reply); each reply is parsed
 * with lib's calc_reply_parse() and checked byte for byte against the
 * reply expected: given with the expression, or what calc_answer_info_of()
 * says a server of the role answers.
 */
#ifndef CALC_BENCH_EXPECT_H
#define CALC_BENCH_EXPECT_H

#include <stddef.h>
#include <stdint.h>

#include "calc_bench_opts.h"
#include "calc_proto.h"

/* " #" and 9 digits: what the tag adds to every request and reply. */
#define BENCH_TAG_LEN CALC_TAG_TEXT_MAX
/* Tags are 100000000 + seq % BENCH_TAG_SPAN: always 9 digits. */
#define BENCH_TAG_SPAN 900000000u
/* Longest request frame: the longest expression, its tag and LF. */
#define BENCH_FRAME_MAX (CALC_MAX_REQUEST_LEN + 1)

/* Compute the expected reply of each expression that has none. */
int bench_expect_compute(bench_opts *o);

/* Frame request seq of expression e into p (BENCH_FRAME_MAX bytes):
 * "<expr> #<tag>" and, over TCP, LF.  Returns its length. */
size_t bench_frame(const bench_opts *o, const bench_expr *e, uint64_t seq,
                   char *p);

/* A reply p[0..n) (line end removed) parsed into *ri; the sequence number
 * (mod BENCH_TAG_SPAN) its tag says, or -1 when it has no tag of ours. */
int64_t bench_reply_seq(const char *p, size_t n, calc_reply_info *ri);

/* Whether the parsed reply is the one expected for e; *why says how it
 * differs when it is not. */
int bench_expect_match(const bench_expr *e, const calc_reply_info *ri,
                       const char *p, const char **why);

/* Print a wrong reply (escaped), at most BENCH_SHOW_WRONG per *shown
 * counter; e may be NULL (no request to pair it with). */
#define BENCH_SHOW_WRONG 5
void bench_show_wrong(unsigned *shown, const bench_expr *e, const char *p,
                      size_t n, const char *why);

#endif /* CALC_BENCH_EXPECT_H */
