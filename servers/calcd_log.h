/* SPDX-License-Identifier: MIT
 *
 * calcd_log.h: calcd's log on stderr, one write per line ("calcd: ...").
 * Used by every layer; calls nothing above it.
 */
#ifndef CALCD_LOG_H
#define CALCD_LOG_H

#include <stddef.h>
#include <sys/socket.h>

#define CALCD_LOG_EXPR_MAX 80 /* -v: request bytes shown per line */
#define CALCD_ADDR_STR     64 /* "[v6addr]:port" */

void calcd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* -v: one line "<proto> <peer> "<request>" -> "<reply>"". */
void calcd_log_request(const char *proto, const struct sockaddr *peer,
                       const char *req, size_t n, const char *reply,
                       size_t m);

/* "127.0.0.1:4000" or "[::1]:4000" (port omitted when with_port is 0). */
void calcd_addr_str(const struct sockaddr *sa, int with_port, char *buf,
                    size_t cap);

#endif /* CALCD_LOG_H */
