"""Deployment: the container image's build and run steps (deploy/container.sh, run here on
the host in a temporary root, as no Docker engine runs on the build machines) and the
systemd unit (checked by systemd-analyze, then the binary started the way its ExecStart
does, as its user with only CAP_NET_BIND_SERVICE)."""

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests

from builders import discovery_request
from conftest import ANSI, LISTEN, PASSWORD, REPO, make_config
from packages import pkg
from taxii import Client, count, push

USER_ID = 10001
needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="making a user and switching to it needs root")


@pytest.fixture
def root():
    """A temporary root that an unprivileged user can traverse (pytest's own tmp_path is
    private to root)."""
    d = Path(tempfile.mkdtemp(prefix="taxii-mirror-root-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def install_certs(pki, folder, owner):
    """The server certificate and a key readable by `owner` only."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)
    crt, key = folder / "server.crt", folder / "server.key"
    shutil.copy(pki["cert"], crt)
    shutil.copy(pki["key"], key)
    os.chmod(crt, 0o644)
    os.chown(key, owner, owner)
    os.chmod(key, 0o600)
    return dict(pki, cert=str(crt), key=str(key))


def wait_listening(proc, log, kinds, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        text = ANSI.sub("", log.read_text(errors="replace"))
        addrs = dict(LISTEN.findall(text))
        if kinds <= set(addrs):
            return addrs
        assert proc.poll() is None, f"exited {proc.returncode}:\n{text}"
        assert time.monotonic() < deadline, text
        time.sleep(0.05)


def proc_status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.split()
    return fields


def stop(proc, timeout):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise AssertionError(f"no stop within {timeout} s of SIGTERM")


def test_dockerfile_uses_the_script_steps():
    text = (REPO / "Dockerfile").read_text()
    assert "deploy/container.sh build /out" in text
    assert "container.sh setup /" in text
    assert re.search(r'^ENTRYPOINT \["/usr/local/lib/taxii-mirror/container.sh", "run"\]', text, re.M)
    assert re.search(r"^USER 10001:10001", text, re.M)
    assert re.search(r'^HEALTHCHECK .*\n?.*"healthcheck"', text, re.M)
    assert re.search(r'^VOLUME \["/var/lib/taxii-mirror"\]', text, re.M)
    assert re.search(r"^FROM debian:bookworm-slim", text, re.M)
    compose = (REPO / "deploy" / "compose.yaml").read_text()
    assert "taxii-mirror-data:/var/lib/taxii-mirror" in compose
    assert "./otx.toml:/etc/taxii-mirror/config.toml:ro" in compose
    otx = (REPO / "deploy" / "otx.toml").read_text()
    assert 'cert = "/etc/taxii-mirror/certs/server.crt"' in otx
    assert 'data_dir = "/var/lib/taxii-mirror"' in otx


@needs_root
def test_container_steps_build_set_up_and_run_as_the_image(pki, password_hash, root):
    script = REPO / "deploy" / "container.sh"
    # The build step, with the debug profile: the same command as the image's release
    # build (cargo build --locked), without a second optimised build of the workspace.
    env = dict(os.environ, TAXII_MIRROR_PROFILE="dev")
    r = subprocess.run([str(script), "build", str(root)], env=env, capture_output=True,
                       text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    binary = root / "usr" / "local" / "bin" / "taxii-mirror"
    assert os.access(binary, os.X_OK)

    # The user and folders, in the temporary root (twice: the step is idempotent).
    etc = root / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (etc / "gshadow").write_text("root:*::\n")
    for _ in range(2):
        r = subprocess.run([str(script), "setup", str(root)], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
    assert re.search(rf"^taxii-mirror:x:{USER_ID}:{USER_ID}:.*:/var/lib/taxii-mirror:/usr/sbin/nologin$",
                     (etc / "passwd").read_text(), re.M)
    data = root / "var" / "lib" / "taxii-mirror"
    st = os.stat(data)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (USER_ID, 0o700)
    st = os.stat(etc / "taxii-mirror")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, USER_ID, 0o750)

    # As the Dockerfile does: the script in the image, the config and certificates mounted.
    lib = root / "usr" / "local" / "lib" / "taxii-mirror"
    lib.mkdir(parents=True)
    shutil.copy(script, lib / "container.sh")
    certs = install_certs(pki, etc / "taxii-mirror" / "certs", USER_ID)
    config = etc / "taxii-mirror" / "config.toml"
    config.write_text(make_config(data, certs, password_hash,
                                  collections={"feed": dict(read=["esa"], write=["esa"])}))
    os.chown(config, 0, USER_ID)
    os.chmod(config, 0o640)

    log = root / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["setpriv", f"--reuid={USER_ID}", f"--regid={USER_ID}", "--clear-groups",
             "--bounding-set=-all", "--no-new-privs", str(lib / "container.sh"), "run"],
            env=dict(os.environ, TAXII_MIRROR_ROOT=str(root)), stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=root)
    try:
        addrs = wait_listening(proc, log, {"https", "admin"})
        # `exec`: the server itself is the process the container runtime signals.
        assert os.readlink(f"/proc/{proc.pid}/exe") == str(binary)
        assert proc_status(proc.pid)["Uid"][0] == str(USER_ID)
        # The image's HEALTHCHECK command, as the image's user.
        health = ["setpriv", f"--reuid={USER_ID}", f"--regid={USER_ID}", "--clear-groups",
                  str(binary), "healthcheck", "--data", str(data)]
        r = subprocess.run(health, capture_output=True, text=True, timeout=30)
        assert (r.returncode, r.stdout) == (0, "ok\n"), r.stderr
        r = subprocess.run(health + ["--ready"], capture_output=True, text=True, timeout=30)
        assert (r.returncode, r.stdout) == (0, "ready\n"), r.stderr

        port = int(addrs["https"].rsplit(":", 1)[1])
        client = Client(f"https://127.0.0.1:{port}", pki["ca"], "esa", PASSWORD)
        push(client, "feed", [pkg(1, "container"), pkg(2, "container")])
        assert count(client, "feed") == 2
        token = data / "admin.token"
        assert stat.S_IMODE(os.stat(token).st_mode) == 0o600
        assert os.stat(token).st_uid == USER_ID

        # `docker stop`: SIGTERM to PID 1, a clean exit well within the grace period.
        started = time.monotonic()
        assert stop(proc, 30) == 0
        assert time.monotonic() - started < 25
        r = subprocess.run(health, capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "unhealthy" in r.stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def unit_settings(text):
    """The unit's settings: {key: [values]} over every section."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")) and "=" in line:
            k, _, v = line.partition("=")
            out.setdefault(k.strip(), []).append(v.strip())
    return out


def free_privileged_port():
    for port in range(600, 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free port below 1024 on 127.0.0.1")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (Debian package systemd)")
def test_systemd_unit_is_valid_and_hardened(binary, root):
    unit = (REPO / "deploy" / "taxii-mirror.service").read_text()
    # systemd-analyze checks that ExecStart names an executable: point it at the built one.
    bindir = root / "bin"
    bindir.mkdir()
    shutil.copy(binary, bindir / "taxii-mirror")
    checked = root / "taxii-mirror.service"
    checked.write_text(unit.replace("/usr/local/bin/taxii-mirror", str(bindir / "taxii-mirror")))
    r = subprocess.run(["systemd-analyze", "verify", str(checked)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stderr
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(checked)],
                       capture_output=True, text=True, timeout=60)
    level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
    assert level, r.stdout[-2000:] + r.stderr
    assert float(level.group(1)) <= 2.0, r.stdout[-3000:]

    s = unit_settings(unit)
    assert s["User"] == ["taxii-mirror"] and s["StateDirectory"] == ["taxii-mirror"]
    assert s["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    assert s["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert s["ProtectSystem"] == ["strict"] and s["Restart"] == ["on-failure"]
    users = (REPO / "deploy" / "taxii-mirror.sysusers").read_text()
    assert re.search(r"^u taxii-mirror - .* /var/lib/taxii-mirror", users, re.M)


@needs_root
def test_binary_starts_as_the_unit_starts_it(binary, pki, password_hash, root):
    """ExecStartPre and ExecStart run as the unit's user with its umask and only
    CAP_NET_BIND_SERVICE (as AmbientCapabilities and CapabilityBoundingSet give it), on a
    port below 1024; ExecReload and the stop signal do what the unit says."""
    s = unit_settings((REPO / "deploy" / "taxii-mirror.service").read_text())
    prefix = root / "usr" / "local" / "bin"
    prefix.mkdir(parents=True)
    shutil.copy(binary, prefix / "taxii-mirror")

    def command(line):
        args = line.split()
        assert args[0] == "/usr/local/bin/taxii-mirror"
        args[0] = str(prefix / "taxii-mirror")
        return [str(config) if a == "/etc/taxii-mirror/config.toml" else a for a in args]

    # StateDirectory=taxii-mirror with StateDirectoryMode, owned by the user.
    data = root / "var" / "lib" / "taxii-mirror"
    data.mkdir(parents=True)
    os.chown(data, USER_ID, USER_ID)
    os.chmod(data, int(s["StateDirectoryMode"][0], 8))
    conf_dir = root / "etc" / "taxii-mirror"
    certs = install_certs(pki, conf_dir, USER_ID)
    port = free_privileged_port()
    config = conf_dir / "config.toml"
    config.write_text(make_config(data, certs, password_hash).replace(
        'https = "127.0.0.1:0"', f'https = "127.0.0.1:{port}"'))
    os.chmod(config, 0o644)

    caps = [cap.lower().removeprefix("cap_") for cap in s["AmbientCapabilities"][0].split()]
    as_user = ["setpriv", f"--reuid={USER_ID}", f"--regid={USER_ID}", "--clear-groups",
               "--no-new-privs"]
    with_caps = as_user + [f"--inh-caps=-all,{','.join('+' + c for c in caps)}",
                           f"--ambient-caps=-all,{','.join('+' + c for c in caps)}",
                           f"--bounding-set=-all,{','.join('+' + c for c in caps)}"]
    umask = int(s["UMask"][0], 8)

    r = subprocess.run(as_user + command(s["ExecStartPre"][0]), capture_output=True, text=True,
                       timeout=60, preexec_fn=lambda: os.umask(umask))
    assert r.returncode == 0, r.stderr

    # Without the capability the port is refused: the unit's grant is what makes it work.
    r = subprocess.run(as_user + ["--bounding-set=-all"] + command(s["ExecStart"][0]),
                       capture_output=True, text=True, timeout=60,
                       preexec_fn=lambda: os.umask(umask))
    assert r.returncode != 0 and "Permission denied" in r.stderr, r.stderr

    log = root / "unit.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(with_caps + command(s["ExecStart"][0]), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd="/",
                                preexec_fn=lambda: os.umask(umask))
    try:
        addrs = wait_listening(proc, log, {"https", "admin"})
        assert addrs["https"] == f"127.0.0.1:{port}"
        status = proc_status(proc.pid)
        assert status["Uid"][0] == str(USER_ID)
        assert int(status["CapEff"][0], 16) == 1 << 10  # CAP_NET_BIND_SERVICE only
        client = Client(f"https://127.0.0.1:{port}", pki["ca"], "esa", PASSWORD)
        assert client.post("/services/discovery", discovery_request()).http == 200
        health = requests.get(f"http://{addrs['admin']}/healthz", timeout=10)
        assert health.text == "ok\n"
        # Nothing the server wrote is readable by others.
        for f in data.rglob("*"):
            assert stat.S_IMODE(os.stat(f).st_mode) & 0o077 == 0, f

        # ExecReload=/bin/kill -HUP $MAINPID
        reload = s["ExecReload"][0].replace("$MAINPID", str(proc.pid)).split()
        subprocess.run(reload, check=True, timeout=30)
        deadline = time.monotonic() + 10
        while 'certificate reloaded trigger="SIGHUP"' not in ANSI.sub("", log.read_text()):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert proc.poll() is None

        timeout = int(s["TimeoutStopSec"][0].rstrip("s"))
        assert s["KillSignal"] == ["SIGTERM"]
        assert stop(proc, timeout) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
