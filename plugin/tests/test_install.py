# SPDX-License-Identifier: MIT
"""The documented installs, run against throw-away folders: the personal
install (plugin/install-plugin.sh --user, with HOME pointing at a temporary
folder) and the global one (cmake --install --component calc-plugin, with
DESTDIR, under Wireshark's prefix and under another).  Nothing is left
installed."""

import os
import subprocess

from conftest import C4, S4, Capture

HERE = os.path.dirname(os.path.abspath(__file__))
INSTALL = os.path.join(os.path.dirname(HERE), "install-plugin.sh")


def test_user_install_shows_a_session(tshark, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    cap = Capture()
    cap.udp(C4, S4, b"15*15")
    cap.udp(S4, C4, b"225")
    pcap = str(tmp_path / "session.pcap")
    cap.write(pcap)
    env = dict(tshark.env, HOME=str(home))
    env.pop("WIRESHARK_PLUGIN_DIR", None)
    p = subprocess.run([INSTALL, "--user", "--plugin", tshark.plugin,
                        "--show", pcap], capture_output=True, text=True,
                       env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    dest = home / ".local/lib/wireshark/plugins" / \
        env["CALC_WS_VERSION"] / "epan/calc.so"
    assert p.stdout.splitlines()[0] == "installed %s" % dest
    assert dest.is_file()
    assert "Request 15*15" in p.stdout
    assert "Response 225 (15*15)" in p.stdout
    p = subprocess.run([INSTALL, "--user", "--uninstall"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert not dest.exists()


def global_plugins():
    folders = subprocess.run(["tshark", "-G", "folders"], capture_output=True,
                             text=True, check=True).stdout
    return [l.split("\t")[-1] for l in folders.splitlines()
            if l.startswith("Global Plugins:")][0]


def install_plugin(tmp_path, *args):
    build = os.environ.get("CALC_BUILD_DIR")
    assert build, "CALC_BUILD_DIR must name the build folder (run via ctest)"
    env = dict(os.environ, DESTDIR=str(tmp_path))
    p = subprocess.run(["cmake", "--install", build, "--component",
                        "calc-plugin", *args], capture_output=True, text=True,
                       env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    found = [os.path.join(d, f) for d, _, files in os.walk(tmp_path)
             for f in files]
    return found, p.stdout


def test_global_install_rule(tmp_path):
    """With Wireshark's prefix (/usr for Debian's), the plugin lands in
    the global folder tshark reports, and nothing else is installed."""
    glob = global_plugins()
    prefix = glob[:glob.index("/lib/")]
    found, out = install_plugin(tmp_path, "--prefix", prefix)
    assert found == [str(tmp_path) + glob + "/epan/calc.so"]
    assert "loads global plugins" not in out


def test_install_honours_prefix(tmp_path):
    """Under another prefix: the same relative folder under it, and the
    install says where Wireshark looks instead."""
    glob = global_plugins()
    rel = glob[glob.index("/lib/") + 1:]
    found, out = install_plugin(tmp_path, "--prefix", "/opt/calc")
    assert found == [str(tmp_path) + "/opt/calc/" + rel + "/epan/calc.so"]
    assert "loads global plugins from %s/epan only" % glob in out


def test_plugin_built_for_another_version_is_refused(tshark, tmp_path):
    """A calc.so built for another Wireshark (as its calc-plugin.conf
    says) is not installed: Wireshark would refuse to load it."""
    home = tmp_path / "home"
    home.mkdir()
    other = tmp_path / "other"
    other.mkdir()
    (other / "calc.so").write_bytes(open(tshark.plugin, "rb").read())
    (other / "calc-plugin.conf").write_text(
        "wireshark_version=3.6\nglobal_dir=/nonexistent/plugins/3.6/epan\n")
    env = dict(tshark.env, HOME=str(home))
    env.pop("WIRESHARK_PLUGIN_DIR", None)
    for mode in ("--user", "--global"):
        p = subprocess.run([INSTALL, mode, "--plugin", str(other / "calc.so")],
                           capture_output=True, text=True, env=env,
                           timeout=60)
        assert p.returncode == 1
        assert "was built for Wireshark 3.6, but this machine's tshark is " \
            "%s" % env["CALC_WS_VERSION"] in p.stderr
        assert "rm -rf build && scripts/dev.sh build" in p.stderr
    assert not any(f for _, _, f in os.walk(home))
