/* SPDX-License-Identifier: MIT
 *
 * calc-proxyhdr.c: the PROXY protocol header (v1 or v2) that a load
 * balancer puts before a client's calc lines (calcd --proxy-protocol,
 * docs/SCALING.md), shown by calc from lib's own parse (calc_proxy.h):
 * what is shown is what calcd reads, and the calc lines after it are
 * calc's on every Wireshark version.
 *
 * Why not Wireshark's "proxy" dissector: from 4.4 on, its heuristic makes
 * itself the conversation's dissector and hands the later segments to the
 * ports of the proxied connection (the client's), with that connection's
 * addresses as the conversation's endpoints; calc then met its own stream
 * in another conversation, mid-line ("Rest of a line").  4.0's only showed
 * the header.  Showing the header here depends on no version's behaviour.
 */
#include <string.h>
#include <netinet/in.h>

#include <epan/packet.h>
#include <epan/to_str.h>
#include <wsutil/utf8_entities.h>

#include "calc_proxy.h"
#include "calc-proxyhdr.h"

/* calc.proxy.transport: the proxied connection's, as the header says. */
enum { CALC_PROXY_STREAM = 1, CALC_PROXY_DGRAM = 2 };
static const value_string calc_proxy_transport_vals[] = {
  {CALC_PROXY_STREAM, "stream (TCP)"},
  {CALC_PROXY_DGRAM, "datagram (UDP)"},
  {0, NULL}};

static int proto_calc_ = -1;
static int hf_version = -1;
static int hf_local = -1;
static int hf_transport = -1;
static int hf_src_ipv4 = -1;
static int hf_dst_ipv4 = -1;
static int hf_src_ipv6 = -1;
static int hf_dst_ipv6 = -1;
static int hf_srcport = -1;
static int hf_dstport = -1;
static int hf_length = -1;
static gint ett_proxy = -1;

/* An address of the header as Wireshark's address (for its text) and
 * its port; false when it is not INET or INET6. */
static bool calc_proxy_addr(const struct sockaddr_storage *ss, address *a,
                            uint16_t *port)
{
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
    set_address(a, AT_IPv4, 4, &s->sin_addr);
    *port = g_ntohs(s->sin_port);
    return true;
  }
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
    set_address(a, AT_IPv6, 16, &s->sin6_addr);
    *port = g_ntohs(s->sin6_port);
    return true;
  }
  return false;
}

/* "192.0.2.1:40000", "[2001:db8::1]:40000". */
static const char *calc_proxy_end_text(packet_info *pinfo, const address *a,
                                       uint16_t port)
{
  bool v6 = a->type == AT_IPv6;
  return wmem_strdup_printf(pinfo->pool, "%s%s%s:%u", v6 ? "[" : "",
                            address_to_str(pinfo->pool, a), v6 ? "]" : "",
                            port);
}

/* One end's address and port, over the whole header (v1 spells them in
 * text, v2 in binary: the header is where they come from). */
static void calc_proxy_add_end(proto_tree *st, tvbuff_t *tvb, int n,
                               const address *a, uint16_t port, bool src)
{
  if (a->type == AT_IPv4) {
    uint32_t v4;
    memcpy(&v4, a->data, 4);
    proto_tree_add_ipv4(st, src ? hf_src_ipv4 : hf_dst_ipv4, tvb, 0, n, v4);
  } else {
    ws_in6_addr v6;
    memcpy(&v6, a->data, sizeof v6);
    proto_tree_add_ipv6(st, src ? hf_src_ipv6 : hf_dst_ipv6, tvb, 0, n, &v6);
  }
  proto_tree_add_uint(st, src ? hf_srcport : hf_dstport, tvb, 0, n, port);
}

int calc_proxyhdr_dissect(tvbuff_t *tvb, packet_info *pinfo,
                          proto_tree *tree)
{
  int len = (int)tvb_captured_length(tvb);
  if (len == 0) return 0;
  calc_proxy_hdr h;
  calc_proxy_err e;
  int n = calc_proxy_parse(tvb_get_ptr(tvb, 0, len), (size_t)len, &h, &e);
  if (n == 0 && pinfo->can_desegment &&
      tvb_reported_length(tvb) == (guint)len) {
    pinfo->desegment_offset = 0;
    pinfo->desegment_len = DESEGMENT_ONE_MORE_SEGMENT;
    return -1;
  }
  if (n <= 0) return 0;

  address src = ADDRESS_INIT_NONE, dst = ADDRESS_INIT_NONE;
  uint16_t sport = 0, dport = 0;
  bool named = !h.local && calc_proxy_addr(&h.src, &src, &sport) &&
               calc_proxy_addr(&h.dst, &dst, &dport);
  const char *who = named
    ? wmem_strdup_printf(pinfo->pool, "%s " UTF8_RIGHTWARDS_ARROW " %s",
                         calc_proxy_end_text(pinfo, &src, sport),
                         calc_proxy_end_text(pinfo, &dst, dport))
    : "no client address";

  col_set_str(pinfo->cinfo, COL_PROTOCOL, "CALC");
  col_add_fstr(pinfo->cinfo, COL_INFO, "PROXY v%d %s", h.version, who);
  if (tvb_reported_length(tvb) > (guint)n) {
    /* calc's messages after it append to Info, not replace it. */
    col_append_str(pinfo->cinfo, COL_INFO, " | ");
    col_set_fence(pinfo->cinfo, COL_INFO);
  }

  proto_item *ti = proto_tree_add_item(tree, proto_calc_, tvb, 0, n, ENC_NA);
  proto_item_append_text(ti, ", PROXY v%d header: %s", h.version, who);
  proto_tree *st = proto_item_add_subtree(ti, ett_proxy);
  proto_tree_add_uint(st, hf_version, tvb, 0, n, (uint32_t)h.version);
  proto_tree_add_boolean(st, hf_local, tvb, 0, n, named ? 0 : 1);
  if (named) {
    proto_tree_add_uint(st, hf_transport, tvb, 0, n,
                        h.transport == SOCK_DGRAM ? CALC_PROXY_DGRAM
                                                  : CALC_PROXY_STREAM);
    calc_proxy_add_end(st, tvb, n, &src, sport, true);
    calc_proxy_add_end(st, tvb, n, &dst, dport, false);
  }
  proto_tree_add_uint(st, hf_length, tvb, 0, n, (uint32_t)n);
  return n;
}

void calc_proxyhdr_register(int proto)
{
  static hf_register_info hf[] = {
    {&hf_version, {"PROXY version", "calc.proxy.version", FT_UINT8,
      BASE_DEC, NULL, 0x0,
      "Version of the PROXY protocol header opening the stream (1: text, "
      "2: binary)", HFILL}},
    {&hf_local, {"No client address", "calc.proxy.local", FT_BOOLEAN,
      BASE_NONE, NULL, 0x0,
      "True: the header names no client (v2 LOCAL or UNSPEC, v1 UNKNOWN, "
      "e.g. a balancer's health check); the connection's own addresses "
      "stand", HFILL}},
    {&hf_transport, {"Client transport", "calc.proxy.transport", FT_UINT8,
      BASE_DEC, VALS(calc_proxy_transport_vals), 0x0,
      "Transport of the client's connection to the balancer", HFILL}},
    {&hf_src_ipv4, {"Client address", "calc.proxy.src.ipv4", FT_IPv4,
      BASE_NONE, NULL, 0x0, "The client the balancer speaks for", HFILL}},
    {&hf_dst_ipv4, {"Balancer address", "calc.proxy.dst.ipv4", FT_IPv4,
      BASE_NONE, NULL, 0x0, "The address the client connected to", HFILL}},
    {&hf_src_ipv6, {"Client address", "calc.proxy.src.ipv6", FT_IPv6,
      BASE_NONE, NULL, 0x0, "The client the balancer speaks for", HFILL}},
    {&hf_dst_ipv6, {"Balancer address", "calc.proxy.dst.ipv6", FT_IPv6,
      BASE_NONE, NULL, 0x0, "The address the client connected to", HFILL}},
    {&hf_srcport, {"Client port", "calc.proxy.srcport", FT_UINT16,
      BASE_DEC, NULL, 0x0, NULL, HFILL}},
    {&hf_dstport, {"Balancer port", "calc.proxy.dstport", FT_UINT16,
      BASE_DEC, NULL, 0x0, NULL, HFILL}},
    {&hf_length, {"Header length", "calc.proxy.length", FT_UINT16,
      BASE_DEC, NULL, 0x0,
      "Bytes of the PROXY header; calc's lines start after them", HFILL}},
  };
  static gint *ett[] = {&ett_proxy};
  proto_calc_ = proto;
  proto_register_field_array(proto, hf, array_length(hf));
  proto_register_subtree_array(ett, array_length(ett));
}
