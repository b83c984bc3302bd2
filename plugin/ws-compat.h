/* SPDX-License-Identifier: MIT
 *
 * ws-compat.h: the one place where the plugin meets differences between
 * the Wireshark APIs it builds against (4.0, 4.2, 4.4, 4.6, and master's
 * plugin registration).  The dissector uses the names below and no #if of
 * its own; docs/DISSECTOR.md "Supported Wireshark versions" says which
 * versions are tested where.
 *
 * Keys: WIRESHARK_VERSION_MAJOR/MINOR (ws_version.h) for API changes that
 * have no macro of their own; WS_PLUGIN_DESC_DISSECTOR (wsutil/plugins.h,
 * 4.4 and later) for plugin_describe(); WIRESHARK_PLUGIN_REGISTER_EPAN
 * (master) for the module-based registration.
 *
 *   change                               4.0       4.2       4.4, 4.6
 *   prefs_register_bool_preference var   gboolean* gboolean* bool*
 *   heur_dissector_t returns             gboolean  gboolean  bool
 *   tvb_find_uint8                       (guint8)  (guint8)  yes; old name
 *                                                            deprecated
 *   format_text string argument          guchar*   char*     char*
 *   plugin_describe()                    no        no        yes
 *
 * 4.0, 4.4 and 4.6 are compiled and tested (tests/compat/run).  The 4.2
 * column was checked against Ubuntu 24.04's 4.2.2 headers, and the plugin
 * compiled there with -Werror (GCC 13, clang 18), by hand: no runner suite
 * (docs/DISSECTOR.md, "Supported Wireshark versions").
 */
#ifndef CALC_WS_COMPAT_H
#define CALC_WS_COMPAT_H

#include <stdbool.h>
#include <stdint.h>

#include <ws_symbol_export.h>
#include <ws_version.h>
#include <epan/packet.h>
#include <epan/strutil.h>

#define CALC_WS_AT_LEAST(major, minor)                                       \
  (WIRESHARK_VERSION_MAJOR > (major) ||                                      \
   (WIRESHARK_VERSION_MAJOR == (major) && WIRESHARK_VERSION_MINOR >= (minor)))

#if CALC_WS_AT_LEAST(4, 4) && defined(__has_include)
#if __has_include(<wsutil/plugins.h>)
#include <wsutil/plugins.h>
#endif
#endif

/* The variable behind a boolean preference, and what a heuristic
 * dissector returns: GLib's gboolean before 4.4, C99 bool since. */
#if CALC_WS_AT_LEAST(4, 4)
typedef bool calc_ws_pref_bool;
typedef bool calc_ws_heur_result;
#else
typedef gboolean calc_ws_pref_bool;
typedef gboolean calc_ws_heur_result;
#endif

/* tvb_find_uint8() under its 4.4 name (the guint8 name is deprecated
 * there); before 4.4 only the old name exists. */
#if !CALC_WS_AT_LEAST(4, 4)
#define tvb_find_uint8(tvb, offset, maxlength, needle)                       \
  tvb_find_guint8((tvb), (offset), (maxlength), (needle))
#endif

/* format_text() of n packet bytes: its string argument is const guchar *
 * in 4.0 and const char * since; a const void * converts to either. */
static inline char *calc_ws_format_text(wmem_allocator_t *scope,
                                        const uint8_t *p, size_t n)
{
  return format_text(scope, (const void *)p, n);
}

/* The plugin's entry points, from one line in plugin.c:
 *   CALC_WS_PLUGIN(version string, WS_PLUGIN_DESC_* flags, blurb, fn)
 * where fn (static void fn(void)) registers the dissector and its taps.
 * Before master's module API these are the four symbols every release
 * looks for (plugin_version, plugin_want_major/minor, plugin_register),
 * and plugin_describe() where the headers have it, so that About >
 * Plugins and `tshark -G plugins` show the plugin's type.  The flags are
 * not evaluated where they do not exist (4.0, 4.2). */
#ifdef WIRESHARK_PLUGIN_REGISTER_EPAN
#define CALC_WS_PLUGIN(version_, flags_, blurb_, register_)                  \
  static struct ws_module calc_ws_module_ = {                               \
    .flags = (flags_),                                                       \
    .version = (version_),                                                   \
    .spdx_id = "MIT",                                                        \
    .home_url = "",                                                          \
    .blurb = (blurb_),                                                       \
    .register_cb = &register_,                                               \
  };                                                                         \
  WIRESHARK_PLUGIN_REGISTER_EPAN(&calc_ws_module_, 0)
#else
#ifdef WS_PLUGIN_DESC_DISSECTOR
#define CALC_WS_DESCRIBE_(flags_)                                            \
  WS_DLL_PUBLIC uint32_t plugin_describe(void);                              \
  uint32_t plugin_describe(void) { return (uint32_t)(flags_); }
#else
#define CALC_WS_DESCRIBE_(flags_)
#endif
#define CALC_WS_PLUGIN(version_, flags_, blurb_, register_)                  \
  WS_DLL_PUBLIC_DEF const char plugin_version[] = version_;                  \
  WS_DLL_PUBLIC_DEF const int plugin_want_major = WIRESHARK_VERSION_MAJOR;   \
  WS_DLL_PUBLIC_DEF const int plugin_want_minor = WIRESHARK_VERSION_MINOR;   \
  WS_DLL_PUBLIC void plugin_register(void);                                  \
  void plugin_register(void) { register_(); }                                \
  CALC_WS_DESCRIBE_(flags_)
#endif

#endif /* CALC_WS_COMPAT_H */
