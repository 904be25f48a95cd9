"""The real cabby command-line tools against the server, over HTTPS with Basic auth.

cabby prints errors as log lines and may still exit 0, so every run is also checked for
`ERROR` in its output. REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE are removed from its
environment: when set, they replace the --ca-cert given.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from builders import poll_request
from conftest import ANSI, PASSWORD
from packages import package_id, pkg
from taxii import check, count, poll_all, push

BIN = Path(sys.executable).parent
N = 1100  # three parts of at most 500


def cabby(tool, *args, server, user="esa", password=PASSWORD, ok=True, timeout=180):
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    cmd = [str(BIN / tool), *map(str, args), "--ca-cert", server.ca]
    if user is not None:
        cmd += ["--username", user, "--password", password]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    out, err = r.stdout, ANSI.sub("", r.stderr)
    if ok:
        assert r.returncode == 0 and "ERROR" not in err and "Traceback" not in err, (
            f"{tool} failed (exit {r.returncode}):\n{err[-3000:]}")
    return out, err


def polled(err):
    m = re.search(r"(\d+) blocks polled", err)
    assert m, err[-2000:]
    return int(m.group(1))


@pytest.fixture(scope="module")
def loaded(server):
    esa = server.client()
    push(esa, "cabby", [pkg(n, "cab") for n in range(1, N + 1)])
    return esa


def test_discovery(server):
    out, _ = cabby("taxii-discovery", "--path", server.base + "/services/discovery", server=server)
    for kind in ("DISCOVERY", "COLLECTION_MANAGEMENT", "POLL", "INBOX"):
        assert kind in out, out
    assert "https://taxii.example.test:8443/services/poll" in out


def test_collections(server):
    out, _ = cabby("taxii-collections", "--path", server.base + "/services/collection-management",
                   server=server)
    for name in ("otx-mirror", "cabby", "cabby-push", "public"):
        assert re.search(rf"Collection Name: {re.escape(name)}\s*$", out, re.M), out[:2000]
    assert "secret" not in out


def test_poll_gets_every_block_across_parts(server, loaded):
    out, err = cabby("taxii-poll", "--path", server.base + "/services/poll", "-c", "cabby", server=server)
    assert polled(err) == N
    assert out.count("<stix:STIX_Package") == N
    assert package_id(N, "cab") in out and package_id(1, "cab") in out


def test_poll_with_begin_and_end(server, loaded):
    blocks = poll_all(loaded, "cabby").blocks
    begin, end = blocks[99].label_text, blocks[199].label_text
    out, err = cabby("taxii-poll", "--path", server.base + "/services/poll", "-c", "cabby",
                     "--begin", begin, "--end", end, server=server)
    assert polled(err) == 100
    assert package_id(101, "cab") in out and package_id(200, "cab") in out
    assert package_id(100, "cab") not in out and package_id(201, "cab") not in out


def test_poll_count_only(server, loaded):
    _, err = cabby("taxii-poll", "--path", server.base + "/services/poll", "-c", "cabby",
                   "--count-only", server=server)
    assert f"Content blocks count: {N}, is partial: False" in err, err[-1000:]


def test_poll_taxii10(server, loaded):
    out, err = cabby("taxii-poll", "-t", "1.0", "--path", server.base + "/services/poll", "-c", "cabby",
                     server=server)
    assert polled(err) == N


def test_push_with_111_binding(server, tmp_path):
    esa = server.client()
    f = tmp_path / "pkg.xml"
    f.write_text(pkg(1, "cabpush"))
    before = count(esa, "cabby-push")
    _, err = cabby("taxii-push", "--path", server.base + "/services/inbox", "-f", f,
                   "--dest", "cabby-push", "--binding", "urn:stix.mitre.org:xml:1.1.1", server=server)
    assert "Content block successfully pushed" in err
    assert count(esa, "cabby-push") == before + 1
    r = check(esa.post("/services/poll", poll_request("cabby-push")), expect="Poll_Response")
    got = [b for b in r.blocks() if b.package_id() == package_id(1, "cabpush")]
    assert len(got) == 1 and got[0].binding == "urn:stix.mitre.org:xml:1.1.1"
    out, err = cabby("taxii-poll", "--path", server.base + "/services/poll", "-c", "cabby-push",
                     server=server)
    assert polled(err) == before + 1 and "bad-cabpush1.example.test" in out


def test_push_without_right_is_an_error(server, tmp_path):
    f = tmp_path / "pkg.xml"
    f.write_text(pkg(2, "cabpush"))
    _, err = cabby("taxii-push", "--path", server.base + "/services/inbox", "-f", f,
                   "--dest", "otx-mirror", server=server, user="reader", ok=False)
    assert "ERROR" in err


def test_wrong_password_is_unauthorized(server):
    _, err = cabby("taxii-poll", "--path", server.base + "/services/poll", "-c", "cabby",
                   server=server, password="wrong", ok=False)
    assert "UNAUTHORIZED" in err, err[-1000:]


def test_subscription_subscribe_and_status(server, loaded):
    path = server.base + "/services/collection-management"
    out, _ = cabby("taxii-subscription", "--path", path, "-c", "cabby", "-a", "subscribe", server=server)
    m = re.search(r"Subscription ID: (\S+)", out)
    assert m and "ACTIVE" in out, out
    sid = m.group(1)
    out, _ = cabby("taxii-subscription", "--path", path, "-c", "cabby", "-a", "status", "-s", sid,
                   server=server)
    assert sid in out and "ACTIVE" in out
    out, _ = cabby("taxii-subscription", "--path", path, "-c", "cabby", "-a", "pause", "-s", sid,
                   server=server)
    assert "PAUSED" in out
    out, _ = cabby("taxii-subscription", "--path", path, "-c", "cabby", "-a", "resume", "-s", sid,
                   server=server)
    assert "ACTIVE" in out
    _, err = cabby("taxii-poll", "--path", server.base + "/services/poll", "-c", "cabby", "-s", sid,
                   server=server)
    assert polled(err) == N
    out, _ = cabby("taxii-subscription", "--path", path, "-c", "cabby", "-a", "unsubscribe", "-s", sid,
                   server=server)
    assert "UNSUBSCRIBED" in out


def test_poll_through_discovery(make_server):
    s = make_server("cabby-discovery", collections={"d": dict(read=["esa"], write=["esa"])})
    push(s.client(), "d", [pkg(n, "disc") for n in range(1, 4)])
    _, err = cabby("taxii-poll", "--host", "127.0.0.1", "--port", s.port, "--https",
                   "--discovery", "/services/discovery", "-c", "d", server=s)
    assert polled(err) == 3
    out, _ = cabby("taxii-collections", "--host", "127.0.0.1", "--port", s.port, "--https",
                   "--discovery", "/services/discovery", server=s)
    assert "Collection Name: d" in out


def test_push_of_a_12_package_labelled_111_is_served_converted(server, tmp_path):
    # cabby labels every push STIX 1.1.1; a package that says version 1.2 is stored as 1.2,
    # so a client asking only for 1.1.1 gets it converted, never 1.2 under a 1.1.1 label.
    esa = server.client()
    f = tmp_path / "pkg12.xml"
    f.write_text(pkg(7, "cab12", version="1.2"))
    _, err = cabby("taxii-push", "--path", server.base + "/services/inbox", "-f", f,
                   "--dest", "cabby-push", "--binding", "urn:stix.mitre.org:xml:1.1.1", server=server)
    assert "Content block successfully pushed" in err
    r = check(esa.post("/services/poll", poll_request("cabby-push")), expect="Poll_Response")
    got = [b for b in r.blocks() if b.package_id() == package_id(7, "cab12")]
    assert len(got) == 1 and got[0].binding == "urn:stix.mitre.org:xml:1.2"
    only_111 = poll_request("cabby-push", bindings=["urn:stix.mitre.org:xml:1.1.1"])
    r = check(esa.post("/services/poll", only_111), expect="Poll_Response")
    got = [b for b in r.blocks() if b.package_id() == package_id(7, "cab12")]
    assert len(got) == 1 and got[0].binding == "urn:stix.mitre.org:xml:1.1.1"
    assert got[0].child().get("version") == "1.1.1"
