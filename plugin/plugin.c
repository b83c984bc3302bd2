/* SPDX-License-Identifier: MIT
 *
 * plugin.c: the plugin's entry points.  The dissector and its stats tree
 * register from here; everything else in the module (the calc core
 * included) stays hidden.  Which symbols Wireshark looks for depends on
 * its version: ws-compat.h writes them.
 */
#include <epan/proto.h>
#include <epan/tap.h>

#include "packet-calc.h"
#include "ws-compat.h"

#include "calc_version.h"

static void calc_plugin_register(void)
{
  static proto_plugin calc_proto = {proto_register_calc,
                                    proto_reg_handoff_calc};
  static tap_plugin calc_tap = {calc_stats_tree_register};

  proto_register_plugin(&calc_proto);
  tap_register_plugin(&calc_tap);
}

CALC_WS_PLUGIN(CALC_VERSION,
               WS_PLUGIN_DESC_DISSECTOR | WS_PLUGIN_DESC_TAP_LISTENER,
               "Calculator protocol (calc) over UDP and TCP",
               calc_plugin_register)
