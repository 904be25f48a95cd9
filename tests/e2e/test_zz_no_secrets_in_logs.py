"""Runs last (file order): every log line the servers and labs of this session wrote is
searched for the secrets the tests used: passwords (right and wrong ones), their Basic
header form, admin tokens and private key material."""

import base64
import re
from pathlib import Path

from conftest import PASSWORD, USERS

LAB_PASSWORD = "lab-test-password-1"  # test_lab.py
WRONG_PASSWORDS = ["not the password", "guess-0", "guess-1", "guess-7"]  # test_auth, test_hostile_http
PEM_BODY = re.compile(r"^[A-Za-z0-9+/=]{40,}$")


def secrets(base):
    found = {}
    for pw in [PASSWORD, LAB_PASSWORD, *WRONG_PASSWORDS]:
        found[f"password {pw!r}"] = pw
        for user in [*USERS, "nobody-here"]:
            token = base64.b64encode(f"{user}:{pw}".encode()).decode()
            found[f"Basic credentials of {user}"] = token
    for key in base.rglob("*.key"):
        lines = [line.strip() for line in key.read_text(errors="replace").splitlines()]
        body = [line for line in lines if PEM_BODY.match(line)]
        for i, line in enumerate(body):
            found[f"line {i + 1} of private key {key.name}"] = line
    for token in base.rglob("admin.token"):
        value = token.read_text().strip()
        if value:
            found[f"admin token {token}"] = value
    return found


def test_no_secret_in_any_log_line(tmp_path_factory):
    base = Path(tmp_path_factory.getbasetemp())
    logs = [p for p in base.rglob("*") if p.is_file() and p.suffix in (".log", ".err")]
    assert logs, f"no log files under {base}"
    wanted = secrets(base)
    assert any(k.startswith("line") for k in wanted), "no private key found to look for"
    leaks = []
    lines_read = 0
    for log in logs:
        for n, line in enumerate(log.read_text(errors="replace").splitlines(), 1):
            lines_read += 1
            for what, value in wanted.items():
                if value in line:
                    leaks.append(f"{log.relative_to(base)}:{n}: {what}")
    assert lines_read > 100, f"only {lines_read} log lines: the suite logged almost nothing"
    assert not leaks, "secrets in logs:\n" + "\n".join(leaks[:20])
