/* SPDX-License-Identifier: MIT
 *
 * calc_proxy.h: the PROXY protocol, versions 1 and 2 (HAProxy's
 * "proxy-protocol.txt"), as a load balancer puts it in front of a TCP
 * connection to tell the server who the real client is.
 *
 * I/O-free: the caller feeds the bytes received so far (from the start of
 * the connection) and gets either "need more", the header's length with
 * the addresses it carries, or why it is not a header calcd accepts.  The
 * caller consumes the header's bytes; what follows is the calc stream.
 *
 * Accepted: v1 "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n" and
 * "PROXY UNKNOWN...\r\n"; v2 LOCAL (any family: the connection's own
 * addresses stand) and v2 PROXY with family UNSPEC (no addresses) or INET /
 * INET6 over STREAM or DGRAM.  v2 TLVs are checked to fit and skipped.
 * Everything else is rejected: another version, command, family (AF_UNIX
 * included: it names no client a network server could apply rules to) or
 * transport, a short address block, an over-long header.
 */
#ifndef CALC_PROXY_H
#define CALC_PROXY_H

#include <stddef.h>
#include <sys/socket.h>

/* v1: the longest line, "\r\n" included (the specification's 107: a
 * TCP6 line with two full-length IPv6 addresses and ports). */
#define CALC_PROXY_V1_MAX 107
/* v2: the fixed part (12-byte signature, version/command, family,
 * 16-bit length), and the longest whole header accepted.  The format
 * allows 16 + 65535 bytes; real balancers send the address block and a
 * few short TLVs, so a longer header is refused rather than buffered. */
#define CALC_PROXY_V2_FIXED 16
#define CALC_PROXY_V2_MAX   (CALC_PROXY_V2_FIXED + 1024)
/* Enough bytes for any accepted header. */
#define CALC_PROXY_MAX CALC_PROXY_V2_MAX

/* Why a connection's first bytes are not an accepted header.
 * X(name, token, description): the token goes into logs. */
#define CALC_PROXY_ERR_MAP(X)                                                 \
  X(MISSING,     "missing",     "no PROXY protocol header")                   \
  X(V1_TOO_LONG, "v1-too-long", "v1 header without CRLF in 107 bytes")        \
  X(V1_SYNTAX,   "v1-syntax",   "v1 header is not PROXY <family> <src> "      \
                                "<dst> <sport> <dport> CRLF")                 \
  X(V1_FAMILY,   "v1-family",   "v1 family is not TCP4, TCP6 or UNKNOWN")     \
  X(V1_ADDRESS,  "v1-address",  "v1 address is not numeric in its family")    \
  X(V1_PORT,     "v1-port",     "v1 port is not a decimal 0..65535")          \
  X(V2_VERSION,  "v2-version",  "v2 signature with a version other than 2")   \
  X(V2_COMMAND,  "v2-command",  "v2 command is neither LOCAL nor PROXY")      \
  X(V2_FAMILY,   "v2-family",   "v2 family or transport unknown or "          \
                                "unsupported (UNIX)")                         \
  X(V2_LENGTH,   "v2-length",   "v2 address block shorter than its family")   \
  X(V2_TOO_LONG, "v2-too-long", "v2 header longer than CALC_PROXY_V2_MAX")    \
  X(V2_TLV,      "v2-tlv",      "v2 TLV runs past the end of the header")

typedef enum calc_proxy_err {
  CALC_PROXY_OK = 0,
#define CALC_PROXY_ENUM_(name, token, desc) CALC_PROXY_E_##name,
  CALC_PROXY_ERR_MAP(CALC_PROXY_ENUM_)
#undef CALC_PROXY_ENUM_
  CALC_PROXY_E_COUNT_
} calc_proxy_err;

/* The log token and description of e; NULL for CALC_PROXY_OK and values
 * outside the table. */
const char *calc_proxy_err_token(calc_proxy_err e);
const char *calc_proxy_err_describe(calc_proxy_err e);

typedef struct calc_proxy_hdr {
  int version;   /* 1 or 2 */
  int local;     /* 1: no client address (v2 LOCAL, v2 UNSPEC, v1
                    UNKNOWN): the connection's own addresses stand */
  int transport; /* SOCK_STREAM or SOCK_DGRAM (v1: SOCK_STREAM); 0 when
                    local */
  struct sockaddr_storage src, dst; /* AF_INET/AF_INET6 with ports; family
                                       AF_UNSPEC when local */
} calc_proxy_hdr;

/* Parse the n bytes at p, the first bytes of a connection.  Returns the
 * header's length (> 0) with *h filled, 0 when more bytes are needed to
 * decide (never once n >= CALC_PROXY_MAX), or -1 with *err set.  An error
 * is reported as soon as the bytes so far cannot start an accepted header,
 * so a caller that feeds every byte learns it early. */
int calc_proxy_parse(const void *p, size_t n, calc_proxy_hdr *h,
                     calc_proxy_err *err);

#endif /* CALC_PROXY_H */
