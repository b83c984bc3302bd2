/* SPDX-License-Identifier: MIT
 *
 * plugin.c: the four symbols Wireshark 4.0 looks for in a plugin.  The
 * dissector and its stats tree register from here; everything else in the
 * module (the calc core included) stays hidden.
 */
#include <ws_symbol_export.h>
#include <ws_version.h>
#include <epan/proto.h>
#include <epan/tap.h>

#include "packet-calc.h"

#include "calc_version.h"

WS_DLL_PUBLIC_DEF const gchar plugin_version[] = CALC_VERSION;
WS_DLL_PUBLIC_DEF const int plugin_want_major = WIRESHARK_VERSION_MAJOR;
WS_DLL_PUBLIC_DEF const int plugin_want_minor = WIRESHARK_VERSION_MINOR;

WS_DLL_PUBLIC void plugin_register(void);

void plugin_register(void)
{
  static proto_plugin calc_proto = {proto_register_calc,
                                    proto_reg_handoff_calc};
  static tap_plugin calc_tap = {calc_stats_tree_register};

  proto_register_plugin(&calc_proto);
  tap_register_plugin(&calc_tap);
}
