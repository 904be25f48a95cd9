"""The command line around the server: check-config, certificates, start and stop."""

import subprocess
import time

from builders import discovery_request
from conftest import Server, make_config, run_bin


def test_check_config_accepts_a_good_file_and_refuses_a_bad_one(pki, password_hash, tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(make_config(tmp_path / "data", pki, password_hash))
    assert run_bin("check-config", good).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(make_config(tmp_path / "data", pki, password_hash) + "\nbogus_key = 1\n")
    r = run_bin("check-config", bad, check=False)
    assert r.returncode == 64 and "bogus_key" in r.stderr
    secret = tmp_path / "secret.toml"
    secret.write_text(make_config(tmp_path / "data", pki, "plain-text-password"))
    r = run_bin("check-config", secret, check=False)
    assert r.returncode == 64 and "plain-text-password" not in r.stderr


def test_check_config_refuses_empty_names_with_file_and_line(pki, password_hash, tmp_path):
    text = make_config(tmp_path / "data", pki, password_hash,
                       collections={"a": dict(read=["esa"]), "b": dict(read=["esa"])})
    source = ('[[source]]\nname = "up"\nkind = "taxii11"\ncollection = "a"\n'
              'poll_url = "https://127.0.0.1:9/poll"\nupstream_collection = "x"\n')
    cases = [
        ('name = "b"', 'name = ""', "collection.name: must not be empty"),
        ('name = "b"', 'name = "  "', "collection.name: must not be empty"),
        ('name = "reader"', 'name = ""', "user.name: must not be empty"),
        ('read = ["esa"]', 'read = [""]', 'collection "b": read: an entry is empty'),
        ('name = "up"', 'name = ""', "source.name: must not be empty"),
        ('collection = "a"', 'collection = ""', 'source "up": collection: must not be empty'),
        ('upstream_collection = "x"', 'upstream_collection = " "',
         'source "up": upstream_collection: must not be empty'),
    ]
    for n, (old, new, said) in enumerate(cases):
        whole = text + source
        at = whole.rindex(old)
        bad_text = whole[:at] + new + whole[at + len(old):]
        line = bad_text[:at].count("\n") + 1
        bad = tmp_path / f"blank-{n}.toml"
        bad.write_text(bad_text)
        r = run_bin("check-config", bad, check=False)
        assert r.returncode == 64, (new, r.stderr)
        assert r.stderr.strip() == f"{bad}: line {line}: {said}", (new, r.stderr)
        r = run_bin("serve", "--config", bad, check=False, timeout=30)
        assert r.returncode == 64 and f"line {line}: {said}" in r.stderr, (new, r.stderr)


def test_serve_refuses_a_bad_config_with_exit_64(pki, password_hash, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(make_config(tmp_path / "data", pki, password_hash).replace("[listen]", "[listen]\nnope = 1"))
    r = run_bin("serve", "--config", bad, check=False, timeout=30)
    assert r.returncode == 64


def test_certificate_is_valid_for_localhost_and_127_0_0_1_only(server):
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=server.ca)

    def handshake(name):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            with ctx.wrap_socket(sock, server_hostname=name) as tls:
                return tls.version()

    assert handshake("localhost")
    assert handshake("127.0.0.1")
    try:
        handshake("other.example.test")
    except ssl.SSLCertVerificationError:
        pass
    else:
        raise AssertionError("certificate accepted for a name it was not made for")


def test_sigterm_stops_the_server_gracefully(pki, password_hash, tmp_path):
    s = Server(tmp_path / "srv", make_config(tmp_path / "data", pki, password_hash), pki["ca"]).start()
    try:
        c = s.client()
        assert c.post("/services/discovery", discovery_request()).http == 200
        c.session.close()
        started = time.monotonic()
        ended = s.stop(timeout=15)
        took = time.monotonic() - started
        assert ended, "the server did not stop within 15 s of SIGTERM"
        assert s.proc.returncode == 0, s.proc.returncode
        assert took < 15
        assert "stopped" in s.log()
    finally:
        if s.alive():
            s.proc.kill()


def test_data_survives_a_restart(pki, password_hash, tmp_path):
    from packages import pkg
    from taxii import count, push
    text = make_config(tmp_path / "data", pki, password_hash)
    s = Server(tmp_path / "one", text, pki["ca"]).start()
    try:
        push(s.client(), "inbox", [pkg(n, "restart") for n in range(1, 4)])
    finally:
        s.stop()
    s2 = Server(tmp_path / "two", text, pki["ca"]).start()
    try:
        assert count(s2.client(), "inbox") == 3
    finally:
        s2.stop()


def test_log_lines_for_served_and_refused_requests(server):
    import re
    from builders import poll_request
    from conftest import PASSWORD
    from packages import pkg
    from taxii import Client, check, push
    esa = server.client()
    push(esa, "otx-mirror", [pkg(n, "log") for n in range(1, 3)])
    check(esa.post("/services/poll", poll_request("otx-mirror")), expect="Poll_Response")
    check(Client(server.base, server.ca, "esa", "wrong-password-for-log").post(
        "/services/poll", poll_request("otx-mirror")), expect="Status_Message:UNAUTHORIZED")
    time.sleep(0.3)
    log = server.log()
    served = [line for line in log.splitlines() if "INFO" in line and 'user="esa"' in line
              and "otx-mirror" in line and re.search(r"\bblocks=\d+", line)]
    assert served, "no info line for a served poll"
    assert all(re.search(r"\bbytes=\d+", line) and re.search(r"\bms=\d+", line) for line in served)
    assert any("WARN" in line and "login" in line.lower() for line in log.splitlines()), \
        "no warning for a refused login"
    assert PASSWORD not in log and "wrong-password-for-log" not in log, "a password was logged"


def test_a_new_data_folder_is_private_without_a_warning(pki, password_hash, tmp_path):
    data = tmp_path / "new" / "data"
    s = Server(tmp_path / "srv", make_config(data, pki, password_hash), pki["ca"]).start()
    try:
        assert (data.stat().st_mode & 0o777) == 0o700
        assert "narrowed" not in s.log() and " WARN " not in s.log(), s.log()
    finally:
        s.stop()
