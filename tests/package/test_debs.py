# SPDX-License-Identifier: MIT
"""The Debian packages as a user gets them.  From a copy of the source
tree (which stays clean): dpkg-buildpackage -us -uc -b, lintian (no error;
every warning fixed or overridden with its reason in debian/), then the
three packages installed on this machine with dpkg: /usr/sbin/calcd starts
and the installed calc-cli gets 225 for 15*15 over UDP and TCP, the
installed units verify, a normal user's tshark decodes a checked-in
capture with the globally installed plugin, and dpkg --purge leaves
nothing behind.  Where tests/compat/run can make a fresh root of this
release, the same again in it, installed with apt (so the packages'
dependencies alone must bring in what they need).

SKIPPED, with the reason: inside a compatibility root (CALC_COMPAT_ROOT),
without the packaging tools, when not root, or when any of the packages is
already installed here (this test never touches a user's install).  ctest
runs it alone (RUN_SERIAL): while it runs, the plugin is in the global
folder."""

import os
import re
import shutil
import signal
import fcntl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["calcd", "calc-clients", "wireshark-plugin-calc"]
CAPTURE = REPO / "captures" / "udp-session.pcapng"
TOOLS = ["dpkg-buildpackage", "dh", "lintian", "fakeroot", "cmake", "dpkg"]
# What a purge must leave as it was (paths, not contents).
WATCHED = ["/etc", "/usr", "/lib/systemd", "/var/lib/systemd"]


def skip_reason():
    if os.environ.get("CALC_COMPAT_ROOT"):
        return ("inside a compatibility root (CALC_COMPAT_ROOT): the "
                "packages are built and tested on the host")
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        return "missing %s (Debian: debhelper lintian fakeroot)" % " ".join(
            missing)
    return None


def installed(pkg):
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                       capture_output=True, text=True)
    return "install ok installed" in p.stdout or "config-files" in p.stdout


def source_files():
    """The tree as a fresh clone has it: tracked files and new ones not
    ignored (no build output)."""
    if (REPO / ".git").exists() and shutil.which("git"):
        out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-co",
                              "--exclude-standard", "-z"], check=True,
                             capture_output=True).stdout
        return [f for f in out.decode().split("\0")
                if f and (REPO / f).is_file()]
    return [str(p.relative_to(REPO)) for p in REPO.rglob("*")
            if p.is_file() and not p.relative_to(REPO).parts[0].startswith(
                ("build", ".git"))]


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    why = skip_reason()
    if why:
        pytest.skip(why)
    prebuilt = os.environ.get("CALC_TEST_DEBS")  # a folder of built .debs
    if prebuilt:
        top = Path(prebuilt)
        return top, {d.name.split("_")[0]: d for d in top.glob("*.deb")}
    top = tmp_path_factory.mktemp("debs")
    src = top / "calcd-0.1.0"
    for f in source_files():
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / f, src / f)
    p = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b", "-j2"],
                       cwd=src, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, (p.stdout + p.stderr)[-6000:]
    found = {d.name.split("_")[0]: d for d in top.glob("*.deb")}
    for pkg in PACKAGES:
        assert pkg in found, sorted(found)
    return top, found


def contents(deb):
    out = subprocess.run(["dpkg-deb", "-c", str(deb)], check=True,
                         capture_output=True, text=True).stdout
    return {l.split()[-1].lstrip(".") for l in out.splitlines()
            if not l.startswith("d")}


def field(deb, name):
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_source_tree_stays_clean(debs):
    """dpkg-buildpackage ran in a copy: nothing new here."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                          "--ignored", "--", "debian"], capture_output=True,
                         text=True).stdout
    assert out == ""


def test_package_contents(debs):
    _, d = debs
    calcd = contents(d["calcd"])
    assert "/usr/sbin/calcd" in calcd
    units = {p.rsplit("/", 1)[1] for p in calcd if "/systemd/system/" in p}
    assert units == {"calcd.service", "calcd@.service", "calcd.socket"}
    assert {"/usr/share/man/man8/calcd.8.gz",
            "/usr/share/man/man7/calc.7.gz",
            "/usr/share/doc/calcd/copyright",
            "/usr/share/doc/calcd/PROTOCOL.md.gz",
            "/usr/share/doc/calcd/captures/udp-session.pcapng"} <= calcd
    clients = contents(d["calc-clients"])
    for prog in ("calc-cli", "calc-eval", "calc-bench"):
        assert "/usr/bin/" + prog in clients
        assert "/usr/share/man/man1/%s.1.gz" % prog in clients
    assert "/usr/bin/calc" not in clients  # Debian's calc owns it
    folders = subprocess.run(["tshark", "-G", "folders"], capture_output=True,
                             text=True).stdout
    glob = re.search(r"^Global Plugins:\s*(\S+)", folders, re.M).group(1)
    plugin = contents(d["wireshark-plugin-calc"])
    assert glob + "/epan/calc.so" in plugin


def test_plugin_depends_on_the_wireshark_abi_it_was_built_for(debs):
    _, d = debs
    dev = subprocess.run(["dpkg-query", "-W", "-f=${Version}",
                          "libwireshark-dev"], capture_output=True,
                         text=True).stdout
    major, minor = re.match(r"(?:\d+:)?(\d+)\.(\d+)", dev).groups()
    soname = subprocess.run(
        "objdump -p $(ls /usr/lib/*/libwireshark.so | head -1) | "
        "sed -n 's/^ *SONAME *libwireshark.so.//p'", shell=True,
        capture_output=True, text=True).stdout.strip()
    deps = field(d["wireshark-plugin-calc"], "Depends")
    lib = "libwireshark" + soname
    assert "%s (>= %s.%s)" % (lib, major, minor) in deps, deps
    assert "%s (<< %s.%d~)" % (lib, major, int(minor) + 1) in deps, deps


def test_lintian(debs):
    top, _ = debs
    changes = next(top.glob("*.changes"))
    p = subprocess.run(["lintian", "--fail-on", "error,warning",
                        str(changes)], capture_output=True, text=True,
                       timeout=600)
    tags = [l for l in p.stdout.splitlines() if re.match(r"^[EW]: ", l)]
    assert not tags, "\n".join(tags)
    assert p.returncode == 0, p.stdout + p.stderr


def snapshot():
    out = subprocess.run(["find", *WATCHED, "-xdev"], capture_output=True,
                         text=True).stdout
    return set(out.splitlines())


def as_user(cmd, home, **kw):
    """cmd as nobody, with its own HOME: a normal user, no personal
    plugins, no WIRESHARK_PLUGIN_DIR."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WIRESHARK")}
    env.update(HOME=str(home), LC_ALL="C.UTF-8")
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                           "--clear-groups", *cmd], env=env,
                          capture_output=True, text=True, **kw)


def run_installed_calcd():
    p = subprocess.Popen(["/usr/sbin/calcd", "--port", "0"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    m = re.search(r", port (\d+) udp\+tcp", line)
    if not m:
        p.kill()
        pytest.fail("installed calcd did not start: %r" % line)
    return p, int(m.group(1))


@pytest.fixture
def user_dir():
    """A folder nobody can read (pytest's own tmp_path is root's only)."""
    d = Path(tempfile.mkdtemp(prefix="calc-pkgtest-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def host_lock():
    """One install-and-purge on this machine at a time, whichever checkout
    runs it (ctest's RUN_SERIAL holds within one run only)."""
    with open("/run/lock/calc-package-test.lock", "w") as f:
        end = time.monotonic() + 900
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > end:
                    pytest.skip("another package test held this machine "
                                "for 15 minutes")
                time.sleep(2)
        yield


def test_install_run_and_purge(debs, user_dir, host_lock):
    _, d = debs
    if os.geteuid() != 0:
        pytest.skip("installing packages needs root")
    already = [p for p in PACKAGES if installed(p)]
    if already:
        pytest.skip("already installed here, left alone: " + " ".join(already))
    before = snapshot()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        p = subprocess.run(["dpkg", "-i", *[str(d[k]) for k in PACKAGES]],
                           capture_output=True, text=True, env=env,
                           timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr

        # the server and the client, as installed
        calcd, port = run_installed_calcd()
        try:
            for proto in ("--tcp", "--udp"):
                r = subprocess.run(["/usr/bin/calc-cli", proto, "--server",
                                    "127.0.0.1:%d" % port, "15*15"],
                                   capture_output=True, text=True, timeout=30)
                assert (r.returncode, r.stdout) == (0, "225\n"), r.stderr
            r = subprocess.run(["/usr/bin/calc-eval", "2**-1"],
                               capture_output=True, text=True, timeout=30)
            assert r.stdout == "0.5\n"
            calcd.send_signal(signal.SIGHUP)
            time.sleep(0.1)
            assert calcd.poll() is None
        finally:
            calcd.send_signal(signal.SIGTERM)
            assert calcd.wait(5) == 0

        # the installed units, against the installed calcd
        if shutil.which("systemd-analyze"):
            unitdir = next(u for u in ("/lib/systemd/system",
                                       "/usr/lib/systemd/system")
                           if os.path.exists(u + "/calcd.service"))
            v = subprocess.run(["systemd-analyze", "verify", "--man=no",
                                "calcd.service", "calcd.socket",
                                "calcd@addsub.service"], cwd=unitdir,
                               capture_output=True, text=True, timeout=60)
            assert v.returncode == 0 and v.stdout + v.stderr == "", \
                v.stdout + v.stderr

        # the man pages, as man finds them
        for page in ("calcd", "calc-cli", "calc-eval", "calc-bench"):
            m = subprocess.run(["man", "-w", page], capture_output=True,
                               text=True)
            assert m.returncode == 0 and "/usr/share/man/" in m.stdout, page

        # a normal user's tshark, with the plugin from the global folder
        home = user_dir / "home"
        home.mkdir()
        os.chown(home, 65534, 65534)
        cap = user_dir / CAPTURE.name
        shutil.copy(CAPTURE, cap)
        os.chmod(cap, 0o644)
        plugins = as_user(["tshark", "-G", "plugins"], home, timeout=120)
        assert re.search(r"^calc\.so\s.*\s/usr/lib/\S+/wireshark/plugins/"
                         r"\d+\.\d+/epan/calc\.so$", plugins.stdout,
                         re.M), plugins.stdout
        t = as_user(["tshark", "-r", str(cap)], home, timeout=120)
        assert t.returncode == 0, t.stderr
        assert "CALC" in t.stdout
        assert "Request 15*15" in t.stdout
        assert re.search(r"Response 225 (#\d+ )?\(15\*15\)", t.stdout), \
            t.stdout
    finally:
        p = subprocess.run(["dpkg", "--purge", *PACKAGES], capture_output=True,
                           text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    for pkg in PACKAGES:
        assert not installed(pkg), pkg
    after = snapshot()
    assert sorted(after - before) == [], "left behind"
    assert sorted(before - after) == [], "removed"


COMPAT_RUN = REPO / "tests" / "compat" / "run"

# Run inside the fresh root (no python there): apt brings the packages'
# dependencies in; the packages are purged and installed again so that the
# purge is compared with a root that has the dependencies only.
ROOT_SCRIPT = r"""
set -u
export DEBIAN_FRONTEND=noninteractive
pkgs="calcd calc-clients wireshark-plugin-calc"
snap() { find /etc /usr /lib/systemd /var/lib/systemd -xdev 2>/dev/null | sort; }
apt-get update -qq >/dev/null || { echo "apt-update-failed"; exit 1; }
apt-get install -y -qq --no-install-recommends tshark /root/calc-debs/*.deb \
  >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; echo "apt-install-failed"; exit 1; }
dpkg --purge $pkgs >/dev/null
snap >/tmp/before
dpkg -i /root/calc-debs/*.deb >/dev/null || { echo "dpkg-i-failed"; exit 1; }
/usr/sbin/calcd --port 0 2>/tmp/calcd.log & pid=$!
for i in $(seq 100); do grep -q 'udp+tcp' /tmp/calcd.log && break; sleep 0.05; done
port=$(sed -n 's/.*, port \([0-9]*\) udp+tcp.*/\1/p' /tmp/calcd.log)
echo "tcp=$(/usr/bin/calc-cli --server 127.0.0.1:$port '15*15')"
echo "udp=$(/usr/bin/calc-cli --udp --server 127.0.0.1:$port '15*15')"
kill -TERM $pid; wait $pid; echo "calcd-exit=$?"
mkdir -p /tmp/user; cp /root/calc-debs/capture.pcapng /tmp/user/
chown -R 65534:65534 /tmp/user
echo "tshark:"
setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp/user \
  tshark -r /tmp/user/capture.pcapng 2>&1
dpkg --purge $pkgs >/dev/null || echo "purge-failed"
rm -rf /tmp/user /tmp/calcd.log
snap >/tmp/after
echo "left-behind:"; comm -13 /tmp/before /tmp/after
echo "removed:"; comm -23 /tmp/before /tmp/after
echo "end"
"""


def this_release():
    text = Path("/etc/os-release").read_text()
    m = re.search(r"^VERSION_CODENAME=(\w+)", text, re.M)
    return m.group(1) if m else ""


def test_fresh_root(debs):
    """The packages in a fresh root of this release (tests/compat/run
    --make-root), installed with apt as a user would."""
    _, d = debs
    if not COMPAT_RUN.exists():
        pytest.skip("tests/compat/run is not in this tree: no fresh root")
    if os.geteuid() != 0:
        pytest.skip("a fresh root needs root")
    suite = this_release()
    root = Path(tempfile.mkdtemp(prefix="calc-pkgroot-", dir="/var/tmp"))
    try:
        p = subprocess.run([str(COMPAT_RUN), "--make-root", suite, str(root)],
                           capture_output=True, text=True, timeout=1200)
        out = p.stdout + p.stderr
        if p.returncode == 77:  # the runner says why it cannot
            pytest.skip("no fresh %s root: %s" % (suite, out.strip()))
        assert p.returncode == 0, "--make-root %s: %s" % (suite, out[-3000:])
        debdir = root / "root" / "calc-debs"
        debdir.mkdir(parents=True)
        for pkg in PACKAGES:
            shutil.copy(d[pkg], debdir)
        shutil.copy(CAPTURE, debdir / "capture.pcapng")
        p = subprocess.run([str(COMPAT_RUN), "--exec", str(root),
                            ROOT_SCRIPT], capture_output=True, text=True,
                           timeout=1200)
        out = p.stdout
        assert out.rstrip().endswith("end"), (out + p.stderr)[-4000:]
        assert "tcp=225\n" in out and "udp=225\n" in out, out[-3000:]
        assert "calcd-exit=0\n" in out
        shown = out.split("tshark:\n", 1)[1].split("left-behind:\n", 1)[0]
        assert re.search(r"Response 225 (#\d+ )?\(15\*15\)", shown), shown
        assert "purge-failed" not in out
        left = out.split("left-behind:\n", 1)[1].split("removed:\n", 1)[0]
        gone = out.split("removed:\n", 1)[1].split("end", 1)[0]
        assert left.strip() == "", "left behind:\n" + left
        assert gone.strip() == "", "removed:\n" + gone
    finally:
        subprocess.run([str(COMPAT_RUN), "--remove-root", str(root)],
                       capture_output=True, timeout=600)
        shutil.rmtree(root, ignore_errors=True)
