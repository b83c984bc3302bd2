/* SPDX-License-Identifier: MIT
 *
 * calc-frames.c: the record of each message (calc-track.h), filed by the
 * first pass under its frame and a key, found by the later passes; and
 * the arena that holds the transactions and records: 4 bytes per frame,
 * most of them the handle of a transaction, and no allocator header or
 * rounding per transaction (issue #10: the state per pair).
 */
#include <string.h>

#include "calc-track.h"

/* A calc_rec is a 32-bit handle: an arena unit (8 bytes) with its kind in
 * the low bits; for a set, the set's index.  0: no record. */
#define CALC_REC_MSG 0u   /* a calc_msg of its own */
#define CALC_REC_REQ 1u   /* a calc_txn's request */
#define CALC_REC_REP 2u   /* a calc_txn's first response */
#define CALC_REC_SET 3u   /* the records of a frame with several: a set */
#define CALC_REC_KIND(r) ((unsigned)((r) & 3u))
#define CALC_REC_UNIT(r) ((r) >> 2)
/* The key of the first message of the first call in a frame, the only one
 * most frames have: filed without a set. */
#define CALC_KEY_FIRST (1u << 24)

/* The arena: chunks of CALC_ARENA_UNITS units of 8 bytes, never freed
 * before the file closes.  30 bits of units: 8 GiB of state. */
#define CALC_ARENA_SHIFT 17
#define CALC_ARENA_UNITS (1u << CALC_ARENA_SHIFT)
#define CALC_ARENA_MAX_CHUNKS (1u << (30 - CALC_ARENA_SHIFT))
/* Frames per page of the frame table (allocated as frames come). */
#define CALC_PAGE_SHIFT 16
#define CALC_PAGE_LEN (1u << CALC_PAGE_SHIFT)

typedef struct calc_rec_set {
  uint32_t n, cap;
  struct {
    uint32_t key;
    calc_rec rec;
  } e[];
} calc_rec_set;

typedef struct calc_chunk {
  uint64_t *base;
  uint32_t index;          /* its number: units index * CALC_ARENA_UNITS.. */
} calc_chunk;

static uint64_t **calc_chunks;      /* by index */
static calc_chunk *calc_by_addr;    /* the same, sorted by address */
static uint32_t calc_nchunks, calc_chunks_cap, calc_used; /* units used in
                                                              the last */
static calc_rec **calc_pages;       /* the frame table, by page */
static uint32_t calc_npages;
static GPtrArray *calc_sets;

static int calc_chunk_cmp(const void *a, const void *b)
{
  uintptr_t x = (uintptr_t)((const calc_chunk *)a)->base;
  uintptr_t y = (uintptr_t)((const calc_chunk *)b)->base;
  return x < y ? -1 : x > y;
}

void *calc_rec_alloc(size_t n)
{
  uint32_t units = (uint32_t)((n + 7) / 8);
  if (units == 0) units = 1;
  if (!calc_nchunks || calc_used + units > CALC_ARENA_UNITS) {
    /* Full: from the pool, without a handle (calc_unit_of): the message
     * is tracked on the first pass, and shown untracked on later ones. */
    if (calc_nchunks == CALC_ARENA_MAX_CHUNKS)
      return wmem_alloc0(calc_track_pool(), n);
    if (calc_nchunks == calc_chunks_cap) {
      calc_chunks_cap = calc_chunks_cap ? calc_chunks_cap * 2 : 16;
      calc_chunks = g_renew(uint64_t *, calc_chunks, calc_chunks_cap);
      calc_by_addr = g_renew(calc_chunk, calc_by_addr, calc_chunks_cap);
    }
    uint64_t *c = g_new0(uint64_t, CALC_ARENA_UNITS);
    calc_chunks[calc_nchunks] = c;
    calc_by_addr[calc_nchunks].base = c;
    calc_by_addr[calc_nchunks].index = calc_nchunks;
    calc_nchunks++;
    qsort(calc_by_addr, calc_nchunks, sizeof *calc_by_addr, calc_chunk_cmp);
    /* Unit 0 of chunk 0 is never handed out: handle 0 is "none". */
    calc_used = calc_nchunks == 1 ? 1 : 0;
  }
  void *p = calc_chunks[calc_nchunks - 1] + calc_used;
  calc_used += units;
  return p; /* zeroed: chunks are */
}

/* The arena unit of p, an address calc_rec_alloc() returned; 0 when it
 * is not in the arena (full). */
static uint32_t calc_unit_of(const void *p)
{
  uint32_t lo = 0, hi = calc_nchunks;
  uintptr_t a = (uintptr_t)p;
  while (hi - lo > 1) {
    uint32_t mid = (lo + hi) / 2;
    if ((uintptr_t)calc_by_addr[mid].base <= a) lo = mid;
    else hi = mid;
  }
  const calc_chunk *c = &calc_by_addr[lo];
  uintptr_t b = (uintptr_t)c->base;
  if (!calc_nchunks || a < b || a >= b + CALC_ARENA_UNITS * sizeof *c->base)
    return 0;
  return c->index << CALC_ARENA_SHIFT | (uint32_t)((a - b) / sizeof *c->base);
}

/* A handle of kind k to p; 0 (none) when p has no unit. */
static calc_rec calc_handle(const void *p, unsigned k)
{
  uint32_t u = calc_unit_of(p);
  return u ? u << 2 | k : 0;
}

static void *calc_unit_ptr(uint32_t unit)
{
  return calc_chunks[unit >> CALC_ARENA_SHIFT] + (unit & (CALC_ARENA_UNITS - 1));
}

calc_msg *calc_rec_new(calc_txn *t, uint32_t repeats)
{
  calc_msg *m = (calc_msg *)calc_rec_alloc(sizeof *m);
  m->txn = t;
  m->repeats = repeats;
  return m;
}

calc_rec calc_rec_of_msg(calc_msg *m)
{
  return calc_handle(m, CALC_REC_MSG);
}

calc_rec calc_rec_of_req(calc_txn *t)
{
  return calc_handle(t, CALC_REC_REQ);
}

calc_rec calc_rec_of_rep(calc_txn *t)
{
  return calc_handle(t, CALC_REC_REP);
}

static calc_rec *calc_slot(uint32_t f, bool make)
{
  uint32_t pg = f >> CALC_PAGE_SHIFT;
  if (pg >= calc_npages) {
    if (!make) return NULL;
    uint32_t n = MAX(pg + 1, calc_npages * 2);
    calc_pages = g_renew(calc_rec *, calc_pages, n);
    memset(calc_pages + calc_npages, 0, (n - calc_npages) * sizeof *calc_pages);
    calc_npages = n;
  }
  if (!calc_pages[pg]) {
    if (!make) return NULL;
    calc_pages[pg] = g_new0(calc_rec, CALC_PAGE_LEN);
  }
  return &calc_pages[pg][f & (CALC_PAGE_LEN - 1)];
}

void calc_rec_put(const packet_info *pinfo, uint32_t key, calc_rec r)
{
  calc_rec *slot = calc_slot(pinfo->num, true);
  if (!*slot && key == CALC_KEY_FIRST) {
    *slot = r;
    return;
  }
  calc_rec_set *s = NULL;
  uint32_t at = 0;
  if (*slot && CALC_REC_KIND(*slot) == CALC_REC_SET) {
    at = CALC_REC_UNIT(*slot);
    s = (calc_rec_set *)g_ptr_array_index(calc_sets, at);
  } else {
    s = (calc_rec_set *)wmem_alloc(calc_track_pool(),
                                   sizeof *s + 4 * sizeof s->e[0]);
    s->n = 0;
    s->cap = 4;
    if (*slot) {
      s->e[0].key = CALC_KEY_FIRST;
      s->e[0].rec = *slot;
      s->n = 1;
    }
    if (!calc_sets) calc_sets = g_ptr_array_new();
    at = calc_sets->len;
    g_ptr_array_add(calc_sets, s);
  }
  if (s->n == s->cap) {
    s->cap *= 2;
    s = (calc_rec_set *)wmem_realloc(calc_track_pool(), s,
                                     sizeof *s + s->cap * sizeof s->e[0]);
    g_ptr_array_index(calc_sets, at) = s;
  }
  s->e[s->n].key = key;
  s->e[s->n].rec = r;
  s->n++;
  *slot = at << 2 | CALC_REC_SET;
}

bool calc_rec_get(const packet_info *pinfo, uint32_t key, calc_msg *m)
{
  const calc_rec *slot = calc_slot(pinfo->num, false);
  calc_rec r = slot ? *slot : 0;
  if (r && CALC_REC_KIND(r) == CALC_REC_SET) {
    const calc_rec_set *s =
        (const calc_rec_set *)g_ptr_array_index(calc_sets, CALC_REC_UNIT(r));
    r = 0;
    for (uint32_t i = 0; i < s->n; i++)
      if (s->e[i].key == key) r = s->e[i].rec;
  } else if (key != CALC_KEY_FIRST) {
    r = 0;
  }
  if (!r) return false;
  calc_txn *t = (calc_txn *)calc_unit_ptr(CALC_REC_UNIT(r));
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
    *m = *(const calc_msg *)(void *)t;
  }
  return true;
}

void calc_frames_cleanup(void)
{
  for (uint32_t i = 0; i < calc_npages; i++) g_free(calc_pages[i]);
  g_free(calc_pages);
  calc_pages = NULL;
  calc_npages = 0;
  for (uint32_t i = 0; i < calc_nchunks; i++) g_free(calc_chunks[i]);
  g_free(calc_chunks);
  g_free(calc_by_addr);
  calc_chunks = NULL;
  calc_by_addr = NULL;
  calc_nchunks = calc_chunks_cap = calc_used = 0;
  if (calc_sets) g_ptr_array_free(calc_sets, TRUE);
  calc_sets = NULL;
}
