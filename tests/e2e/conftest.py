"""Fixtures: the binary, a test CA and certificate, and servers started from a config.

Every server binds 127.0.0.1 port 0; the port is read from its log line
`listening kind="https" addr=...`. Each server's log is kept in its folder so tests can
grep it, and the process is stopped at teardown.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from taxii import Client  # noqa: E402

REPO = HERE.parent.parent
PASSWORD = "correct horse 7"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
LISTEN = re.compile(r'listening[^\n]*? kind="?(\w+)"? addr=(\S+)')

# Collections of the shared server: each test area works in its own.
COLLECTIONS = {
    "otx-mirror": dict(read=["esa", "reader"], write=["esa"]),
    "windows": dict(read=["esa"], write=["esa"]),
    "incremental": dict(read=["esa"], write=["esa"]),
    "paging": dict(read=["esa"], write=["esa"]),
    "content": dict(read=["esa"], write=["esa"]),
    "inbox": dict(read=["esa"], write=["esa"]),
    "bindings": dict(read=["esa"], write=["esa"]),
    "security": dict(read=["esa"], write=["esa"]),
    "subs": dict(read=["esa"], write=["esa"]),
    "cabby": dict(read=["esa"], write=["esa"]),
    "cabby-push": dict(read=["esa"], write=["esa"]),
    "v10": dict(read=["esa"], write=["esa"]),
    "empty": dict(read=["esa"], write=[]),
    "public": dict(read=["esa"], write=["esa"], anonymous_read=True),
    "secret": dict(read=["other"], write=["other"]),
}
USERS = ["esa", "reader", "other"]
PUBLIC_URL = "https://taxii.example.test:8443"


def binary_path():
    return Path(os.environ.get("TAXII_MIRROR_BIN", REPO / "target" / "debug" / "taxii-mirror"))


def run_bin(*args, input=None, timeout=120, check=True):
    r = subprocess.run([str(binary_path()), *map(str, args)], input=input, capture_output=True,
                       text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, f"taxii-mirror {args}: exit {r.returncode}\n{r.stderr}"
    return r


@pytest.fixture(scope="session")
def binary():
    path = binary_path()
    if not path.exists() and "TAXII_MIRROR_BIN" not in os.environ:
        subprocess.run(["cargo", "build", "-p", "server"], cwd=REPO, check=True)
    assert path.exists(), f"{path} missing: build it with `cargo build -p server`"
    return path


@pytest.fixture(scope="session")
def pki(binary, tmp_path_factory):
    """A private CA and a certificate for localhost/127.0.0.1 made by the product itself."""
    d = tmp_path_factory.mktemp("pki")
    run_bin("make-ca", "--dir", d)
    run_bin("make-cert", "--ca-dir", d, "--out", d / "server", "localhost", "127.0.0.1")
    for name in ("ca.crt", "ca.key", "server.crt", "server.key"):
        assert (d / name).exists(), name
    return {"dir": d, "ca": str(d / "ca.crt"), "cert": str(d / "server.crt"),
            "key": str(d / "server.key")}


@pytest.fixture(scope="session")
def password_hash(binary):
    out = run_bin("hash-password", input=PASSWORD).stdout.strip()
    assert out.startswith("$argon2id$"), out
    return out


def toml_str(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def make_config(data_dir, pki, password_hash, collections=None, users=USERS, limits=None,
                paths=None, public_url=None, http=False):
    lines = [f"data_dir = {toml_str(data_dir)}"]
    if public_url:
        lines.append(f"public_url = {toml_str(public_url)}")
    lines += ["[listen]", 'https = "127.0.0.1:0"', f"cert = {toml_str(pki['cert'])}",
              f"key = {toml_str(pki['key'])}"]
    if http:
        lines.append('http = "127.0.0.1:0"')
    lines += ["[admin]", 'listen = "127.0.0.1:0"']
    if limits:
        lines.append("[limits]")
        lines += [f"{k} = {v}" for k, v in limits.items()]
    if paths:
        lines.append("[paths]")
        lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else toml_str(v)}"
                  for k, v in paths.items()]
    for u in users:
        lines += ["[[user]]", f"name = {toml_str(u)}", f"password_hash = {toml_str(password_hash)}"]
    for name, spec in (collections or COLLECTIONS).items():
        lines += ["[[collection]]", f"name = {toml_str(name)}",
                  f"description = {toml_str('Test collection ' + name)}",
                  "read = [" + ", ".join(map(toml_str, spec.get("read", []))) + "]",
                  "write = [" + ", ".join(map(toml_str, spec.get("write", []))) + "]",
                  f"anonymous_read = {str(spec.get('anonymous_read', False)).lower()}"]
        if "import_package_size" in spec:
            lines.append(f"import_package_size = {int(spec['import_package_size'])}")
    return "\n".join(lines) + "\n"


class Server:
    """One `taxii-mirror serve` process."""

    def __init__(self, folder, config_text, ca):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config = self.folder / "config.toml"
        self.config.write_text(config_text)
        self.log_path = self.folder / "server.log"
        self.ca = ca
        self.proc = None
        self.addrs = {}

    def start(self, timeout=60):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(binary_path()), "serve", "--config", str(self.config)],
                                     stdout=self.log_file, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        text = self.config.read_text()
        needed = {"https"} | ({"http"} if "\nhttp = " in text else set()) | (
            {"admin"} if "[admin]\nlisten" in text else set())
        while not needed <= set(self.addrs):
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no listening line within {timeout}s:\n{self.log()}")
            for kind, addr in LISTEN.findall(self.log()):
                self.addrs[kind] = addr
            time.sleep(0.05)
        return self

    def log(self):
        return ANSI.sub("", self.log_path.read_text(errors="replace"))

    @property
    def port(self):
        return int(self.addrs["https"].rsplit(":", 1)[1])

    @property
    def base(self):
        return f"https://127.0.0.1:{self.port}"

    def client(self, user="esa", password=PASSWORD):
        return Client(self.base, self.ca, user, password)

    def anonymous(self):
        return Client(self.base, self.ca)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss_kb(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def terminate(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait_or_kill(self, timeout):
        """Wait for the process to end; SIGKILL it after `timeout` seconds. True if it ended alone."""
        if not self.proc:
            return True
        try:
            self.proc.wait(timeout=max(timeout, 0.1))
            ended = True
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            ended = False
        self.log_file.close()
        return ended

    def stop(self, timeout=5):
        self.terminate()
        return self.wait_or_kill(timeout)


@pytest.fixture(scope="session")
def make_server(binary, pki, password_hash, tmp_path_factory):
    """Start a server from make_config keyword arguments; all are stopped at session end."""
    started = []

    def start(name, **kw):
        folder = tmp_path_factory.mktemp(name)
        text = make_config(folder / "data", pki, password_hash, **kw)
        s = Server(folder, text, pki["ca"]).start()
        started.append(s)
        return s

    yield start
    # Stopped together: a server that ignores SIGTERM is killed after a short wait (a
    # separate test checks the graceful stop).
    for s in started:
        s.terminate()
    deadline = time.monotonic() + 5
    for s in started:
        s.wait_or_kill(deadline - time.monotonic())


@pytest.fixture(scope="session")
def server(make_server):
    """The shared server: every collection of COLLECTIONS, 500 blocks per part."""
    return make_server("main", public_url=PUBLIC_URL,
                       limits={"max_blocks_per_part": 500, "max_bytes_per_part": 8388608})


@pytest.fixture
def esa(server):
    return server.client()
