/* SPDX-License-Identifier: MIT
 *
 * calc-frames.c: the record of each message (calc-track.h), filed by the
 * first pass under its frame and a key, found by the later passes: one
 * word per frame, most of them a pointer to a transaction.
 */
#include <string.h>

#include "calc-track.h"

/* A calc_rec is a pointer with its kind in the low bits (the pointers are
 * at least 8-aligned). */
#define CALC_REC_MSG 0u   /* a calc_msg of its own */
#define CALC_REC_REQ 1u   /* a calc_txn's request */
#define CALC_REC_REP 2u   /* a calc_txn's first response */
#define CALC_REC_SET 3u   /* the records of a frame with several: a set */
#define CALC_REC_KIND(r) ((unsigned)((r) & 3u))
#define CALC_REC_PTR(r) ((void *)((r) & ~(calc_rec)3u))
/* The key of the first message of the first call in a frame, the only one
 * most frames have: filed without a set. */
#define CALC_KEY_FIRST (1u << 24)

typedef struct calc_rec_set {
  uint32_t n, cap;
  struct {
    uint32_t key;
    calc_rec rec;
  } e[];
} calc_rec_set;

/* The records by frame number: one word per frame (a pointer, or 0). */
static calc_rec *calc_frames;
static uint32_t calc_frames_len;

calc_msg *calc_rec_new(calc_txn *t, uint32_t repeats)
{
  calc_msg *m = wmem_new0(calc_track_pool(), calc_msg);
  m->txn = t;
  m->repeats = repeats;
  return m;
}

calc_rec calc_rec_of_msg(calc_msg *m)
{
  return (calc_rec)m | CALC_REC_MSG;
}

calc_rec calc_rec_of_req(calc_txn *t)
{
  return (calc_rec)t | CALC_REC_REQ;
}

calc_rec calc_rec_of_rep(calc_txn *t)
{
  return (calc_rec)t | CALC_REC_REP;
}

void calc_rec_put(const packet_info *pinfo, uint32_t key, calc_rec r)
{
  uint32_t f = pinfo->num;
  if (f >= calc_frames_len) {
    uint32_t len = MAX(f + 1, calc_frames_len * 2);
    calc_frames = (calc_rec *)g_realloc(calc_frames, len * sizeof *calc_frames);
    memset(calc_frames + calc_frames_len, 0,
           (len - calc_frames_len) * sizeof *calc_frames);
    calc_frames_len = len;
  }
  calc_rec slot = calc_frames[f];
  if (!slot && key == CALC_KEY_FIRST) {
    calc_frames[f] = r;
    return;
  }
  calc_rec_set *s = NULL;
  if (slot && CALC_REC_KIND(slot) == CALC_REC_SET) {
    s = (calc_rec_set *)CALC_REC_PTR(slot);
  } else {
    s = (calc_rec_set *)wmem_alloc(calc_track_pool(),
                                   sizeof *s + 4 * sizeof s->e[0]);
    s->n = 0;
    s->cap = 4;
    if (slot) {
      s->e[0].key = CALC_KEY_FIRST;
      s->e[0].rec = slot;
      s->n = 1;
    }
  }
  if (s->n == s->cap) {
    s->cap *= 2;
    s = (calc_rec_set *)wmem_realloc(calc_track_pool(), s,
                                     sizeof *s + s->cap * sizeof s->e[0]);
  }
  s->e[s->n].key = key;
  s->e[s->n].rec = r;
  s->n++;
  calc_frames[f] = (calc_rec)s | CALC_REC_SET;
}

bool calc_rec_get(const packet_info *pinfo, uint32_t key, calc_msg *m)
{
  uint32_t f = pinfo->num;
  calc_rec r = f < calc_frames_len ? calc_frames[f] : 0;
  if (r && CALC_REC_KIND(r) == CALC_REC_SET) {
    const calc_rec_set *s = (const calc_rec_set *)CALC_REC_PTR(r);
    r = 0;
    for (uint32_t i = 0; i < s->n; i++)
      if (s->e[i].key == key) r = s->e[i].rec;
  } else if (key != CALC_KEY_FIRST) {
    r = 0;
  }
  if (!r) return false;
  calc_txn *t = (calc_txn *)CALC_REC_PTR(r);
  memset(m, 0, sizeof *m);
  switch (CALC_REC_KIND(r)) {
  case CALC_REC_REQ:
    m->txn = t;
    m->tag_reused = (t->flags & CALC_TXN_TAG_REUSED) != 0;
    m->cut = (t->flags & CALC_TXN_CUT) != 0;
    break;
  case CALC_REC_REP:
    m->txn = t;
    m->verdict = t->verdict;
    m->uncertain = (t->flags & CALC_TXN_UNCERTAIN) != 0;
    break;
  default:
    *m = *(const calc_msg *)CALC_REC_PTR(r);
  }
  return true;
}

void calc_frames_cleanup(void)
{
  g_free(calc_frames);
  calc_frames = NULL;
  calc_frames_len = 0;
}
