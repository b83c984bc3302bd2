/* SPDX-License-Identifier: MIT
 *
 * calc-track.c: the first pass's state for one capture file
 * (calc-track.h): its allocator, and the init and cleanup of its parts.
 */
#include "calc-track.h"

static int calc_proto = -1;
/* Everything the parts keep for the whole capture file, in an allocator
 * of its own: kept apart from the file scope, the state of TCP and the
 * other dissectors stays as compact (and as fast to walk) as without us.
 * Nothing is freed before the file closes, so the block-fast allocator.
 * Transactions and records, the bulk, are in calc-frames.c's arena. */
static wmem_allocator_t *calc_pool;

wmem_allocator_t *calc_track_pool(void)
{
  return calc_pool;
}

int calc_track_proto(void)
{
  return calc_proto;
}

void calc_track_init(int proto, unsigned verify_budget)
{
  calc_proto = proto;
  if (!calc_pool) calc_pool = wmem_allocator_new(WMEM_ALLOCATOR_BLOCK_FAST);
  calc_conv_reset_cache();
  calc_verify_init(verify_budget);
  calc_pair_init();
}

void calc_track_cleanup(void)
{
  calc_frames_cleanup();
  calc_pair_cleanup();
  calc_verify_cleanup();
  calc_conv_reset_cache();
  if (calc_pool) wmem_destroy_allocator(calc_pool);
  calc_pool = NULL;
}
