/* SPDX-License-Identifier: MIT
 *
 * calcd_addr.c: the per-address table (calcd_addr.h).
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "calcd_addr.h"

int calcd_addrs_init(calcd_addrs *A, unsigned max_conn) {
  size_t slots = 16;
  while (slots < 2 * (size_t)max_conn + 2) slots <<= 1; /* load <= 1/2 */
  A->tab = calloc(slots, sizeof *A->tab);
  A->mask = slots - 1;
  if (getrandom(&A->seed, sizeof A->seed, GRND_NONBLOCK) !=
      (ssize_t)sizeof A->seed)
    A->seed = (uint64_t)(uintptr_t)A ^ 0x9e3779b97f4a7c15ull;
  return A->tab ? 0 : -1;
}

void calcd_addrs_free(calcd_addrs *A) {
  free(A->tab);
  A->tab = NULL;
}

static void key_of(const struct sockaddr *sa, uint8_t key[16]) {
  memset(key, 0, 16);
  if (sa->sa_family == AF_INET6) {
    memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
  } else if (sa->sa_family == AF_INET) {
    key[10] = key[11] = 0xff; /* ::ffff:a.b.c.d */
    memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
  }
}

static uint64_t mix(uint64_t x) { /* splitmix64's finaliser */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static size_t home(const calcd_addrs *A, const uint8_t key[16]) {
  uint64_t a, b;
  memcpy(&a, key, 8);
  memcpy(&b, key + 8, 8);
  return (size_t)mix(mix(a ^ A->seed) ^ b) & A->mask;
}

/* The slot holding key, or the free slot where it would go. */
static size_t find(const calcd_addrs *A, const uint8_t key[16]) {
  size_t i = home(A, key);
  while (A->tab[i].count && memcmp(A->tab[i].key, key, 16))
    i = (i + 1) & A->mask;
  return i;
}

int calcd_addr_take(calcd_addrs *A, const struct sockaddr *sa,
                    unsigned limit) {
  uint8_t key[16];
  key_of(sa, key);
  calcd_addr_ent *e = &A->tab[find(A, key)];
  if (e->count >= limit) return 0;
  if (e->count == 0) {
    memcpy(e->key, key, 16);
    e->logged = 0;
  }
  e->count++;
  return 1;
}

void calcd_addr_put(calcd_addrs *A, const struct sockaddr *sa) {
  uint8_t key[16];
  key_of(sa, key);
  size_t i = find(A, key);
  if (A->tab[i].count == 0 || --A->tab[i].count) return;
  /* Backward-shift deletion: pull later entries of the probe run into
   * the hole unless that would move one before its home slot. */
  for (size_t j = (i + 1) & A->mask; A->tab[j].count; j = (j + 1) & A->mask) {
    size_t h = home(A, A->tab[j].key);
    if (((j - h) & A->mask) >= ((j - i) & A->mask)) {
      A->tab[i] = A->tab[j];
      A->tab[j].count = 0;
      i = j;
    }
  }
}

int calcd_addr_first(calcd_addrs *A, const struct sockaddr *sa,
                     unsigned bit) {
  uint8_t key[16];
  key_of(sa, key);
  calcd_addr_ent *e = &A->tab[find(A, key)];
  if (e->count == 0) return 1; /* not counted: nothing to remember by */
  if (e->logged & bit) return 0;
  e->logged |= bit;
  return 1;
}
