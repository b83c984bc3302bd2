/* SPDX-License-Identifier: MIT
 *
 * calc_route.h: the assignment's split, end to end (docs/CLIENTS.md,
 * "Split evaluation").  An expression is parsed by the core; each maximal
 * part that uses operators of one class only goes to the server of that
 * class (+ - to the addsub server, * / // % ** to the muldiv server), its
 * answer is written back into the expression exactly, and this repeats
 * until the whole is evaluated.  The final reply is the one a server of
 * every operator would send.
 */
#ifndef CALC_ROUTE_H
#define CALC_ROUTE_H

#include <stddef.h>

#include "calc_net.h"

typedef struct calc_route calc_route;

/* A router over the two role servers' connections (which it does not
 * own).  verbose: print each hop to stderr.  NULL when out of memory. */
calc_route *calc_route_new(calc_net_conn *addsub, calc_net_conn *muldiv,
                           int verbose);
void calc_route_free(calc_route *r);

/* Evaluate m->req[0..m->req_len) (no tag, no line end) across the
 * servers.  Fills m's reply (a result or "ERR <kind>: <message>"), kind
 * and flags and sets done.  Returns 0, or -1 when a server could not be
 * reached or broke the protocol: every hop's result must be a single
 * number within the digit limit before it is spliced into the next hop
 * (calc_route_error() says why, the offending bytes escaped). */
int calc_route_eval(calc_route *r, calc_net_msg *m);

const char *calc_route_error(const calc_route *r);

#endif /* CALC_ROUTE_H */
