/* SPDX-License-Identifier: MIT
 *
 * calcd_proxy.c: the PROXY protocol in calcd (calcd_proxy.h): the option,
 * whom to trust, and what to do with a connection's first bytes.  The
 * header's rules are lib's (calc_proxy.h); this file only decides.
 */
#include <stdio.h>
#include <string.h>

#include "calc_proxy.h"
#include "calcd_log.h"
#include "calcd_proxy.h"

int calcd_proxy_option(const char *arg, calc_cidr_list *from) {
  const char *bad;
  size_t bad_len;
  if (calc_cidr_parse(arg, from, &bad, &bad_len) == 0) return 0;
  if (bad == arg && bad_len == strlen(arg) && from->n == CALC_CIDR_MAX)
    fprintf(stderr, "calcd: --proxy-protocol: at most %d networks\n",
            CALC_CIDR_MAX);
  else
    fprintf(stderr,
            "calcd: --proxy-protocol: bad network '%.*s' (a numeric "
            "address, optionally /prefix, with no host bits: "
            "127.0.0.0/8,::1/128)\n", (int)bad_len, bad);
  from->n = 0;
  return -1;
}

calcd_proxy_mode calcd_proxy_mode_for(const calc_cidr_list *from,
                                      const struct sockaddr_storage *peer) {
  if (from->n == 0) return CALCD_PROXY_OFF;
  return calc_cidr_match(from, (const struct sockaddr *)peer)
             ? CALCD_PROXY_REQUIRE : CALCD_PROXY_REFUSE;
}

int calcd_proxy_take(calcd_proxy_mode m, const char *in, size_t n,
                     calcd_proxy_final final, int verbose, int stopping,
                     struct sockaddr_storage *peer, size_t *used) {
  calc_proxy_hdr h;
  calc_proxy_err e;
  char who[CALCD_ADDR_STR], client[CALCD_ADDR_STR];
  int r = calc_proxy_parse(in, n, &h, &e);
  *used = 0;
  if (r == 0 && final == CALCD_PROXY_MORE) return 0;
  calcd_addr_str((const struct sockaddr *)peer, 1, who, sizeof who);
  if (m == CALCD_PROXY_REFUSE) {
    /* A direct client: its bytes are requests unless they are (or begin)
     * a header; a prefix that stays one (CR LF, then EOF) was a client's. */
    if ((r < 0 && e == CALC_PROXY_E_MISSING) || r == 0) return 1;
    calcd_log("tcp %s: PROXY header from a source not trusted by "
              "--proxy-protocol: closed", who);
    return -1;
  }
  if (r > 0 && !h.local && h.transport != SOCK_STREAM) {
    calcd_log("tcp %s: PROXY header for a UDP client on a TCP connection: "
              "closed", who);
    return -1;
  }
  if (r > 0) {
    if (!h.local) *peer = h.src;
    if (verbose) {
      calcd_addr_str((const struct sockaddr *)peer, 1, client, sizeof client);
      calcd_log("tcp %s: PROXY v%d from %s%s", client, h.version, who,
                h.local ? " (LOCAL: the proxy's own connection)" : "");
    }
    *used = (size_t)r;
    return 1;
  }
  if (r == 0) {
    if (final == CALCD_PROXY_TIMEOUT)
      calcd_log("tcp %s: no complete PROXY header within %d ms: closed", who,
                CALCD_PROXY_WAIT_MS);
    else if (!stopping)
      calcd_log("tcp %s: connection closed before a complete PROXY "
                "header: closed", who);
  } else if (e == CALC_PROXY_E_MISSING) {
    calcd_log("tcp %s: no PROXY header (required from --proxy-protocol "
              "sources): closed", who);
  } else {
    calcd_log("tcp %s: bad PROXY header (%s: %s): closed", who,
              calc_proxy_err_token(e), calc_proxy_err_describe(e));
  }
  return -1;
}

void calcd_proxy_describe(const calc_cidr_list *from, char *buf, size_t cap) {
  size_t k = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < from->n && k + CALC_CIDR_TEXT_MAX + 1 < cap; i++) {
    if (i) buf[k++] = ',';
    calc_cidr_format(&from->net[i], buf + k, cap - k);
    k += strlen(buf + k);
  }
}
