"""The offline lab end to end: OTX-like upstream -> mirror -> server -> ESA-like poller.

Totals are read from the fixture manifests, never hard-coded.
"""

import json
import random
import re
import signal
import subprocess
import time
import types
from pathlib import Path

import pytest
from lxml import etree

from conftest import ANSI, REPO, binary_path
from esa_poller import EsaPoller, observables, totals
from taxii import STIX_12, Client, check, from_requests

FIXTURES = REPO / "fixtures" / "otx"
UPDATE = REPO / "fixtures" / "otx-update"
PASSWORD = "lab-test-password-1"


def manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


class Lab:
    """`taxii-mirror lab` in a folder; every start gets its own stdout/stderr files."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.data = self.folder / "data"
        self.runs = 0
        self.proc = None

    def start(self):
        self.runs += 1
        self.out_path = self.folder / f"lab-{self.runs}.out"
        self.err_path = self.folder / f"lab-{self.runs}.err"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary_path()), "lab", "--data", str(self.data), "--listen", "127.0.0.1:0",
             "--password", PASSWORD, "--fixtures", str(FIXTURES)],
            stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL, cwd=self.folder)
        return self

    def err(self):
        return ANSI.sub("", self.err_path.read_text(errors="replace"))

    def out(self):
        return self.out_path.read_text(errors="replace")

    def wait_for(self, pattern, timeout, count=1):
        deadline = time.monotonic() + timeout
        while len(re.findall(pattern, self.err())) < count:
            if self.proc.poll() is not None:
                raise AssertionError(f"lab exited {self.proc.returncode} before {pattern!r}:\n{self.err()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} within {timeout}s:\n{self.err()[-3000:]}")
            time.sleep(0.05)

    def info(self):
        text = self.out()

        def field(label):
            m = re.search(rf"^\s*{label}:\s+(\S.*?)\s*$", text, re.M)
            assert m, f"lab output lacks {label}:\n{text}"
            return m.group(1)

        up = re.search(r"OTX-like upstream: (https://127\.0\.0\.1:\d+)/taxii/discovery \(API key (\S+?)[ )]", text)
        assert up, text
        return types.SimpleNamespace(port=int(field("Port")), password=field("Password"),
                                     ca=field("CA certificate"), poll_path=field("Polling Path"),
                                     collection=field("Collection Name"), user=field("User name"),
                                     upstream=up.group(1), api_key=up.group(2))

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._out.close()
        self._err.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc:
            self._out.close()
            self._err.close()


def esa_poller(info, age_days=3, segment_days=1):
    def checked(mid, r):
        check(from_requests(r, mid))
    return EsaPoller("127.0.0.1", info.port, info.poll_path, info.collection, info.user, PASSWORD,
                     info.ca, age_days=age_days, segment_days=segment_days, on_response=checked)


def ids_of(packages):
    return [p.get("id") for p in packages]


@pytest.fixture(scope="module")
def lab(binary, tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("lab")).start()
    try:
        lab.wait_for(r"lab ready", 120)
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="module")
def poller(lab):
    return esa_poller(lab.info())


@pytest.fixture(scope="module")
def seen():
    return set()


def test_lab_prints_what_an_esa_administrator_types(lab):
    info = lab.info()
    assert info.password == PASSWORD and info.user == "esa" and info.collection == "otx"
    assert info.poll_path == "/services/poll"
    assert Path(info.ca).is_file() and info.port > 0
    assert info.api_key == "lab-otx-key"


def test_backfill_receives_exactly_the_fixture_totals(poller, seen):
    m = manifest(FIXTURES)
    packages = poller.run()
    ids = ids_of(packages)
    assert len(ids) == len(set(ids)) == m["pulses"], f"{len(ids)} blocks, {len(set(ids))} distinct"
    assert dict(totals(packages)) == m["observables"]
    seen.update(ids)


def test_cabby_polls_every_pulse(lab, tmp_path):
    """cabby receives every pulse, and exactly the fixture's totals per indicator type."""
    from test_cabby import cabby, polled
    info = lab.info()
    out, err = cabby("taxii-poll", "--path", f"https://127.0.0.1:{info.port}{info.poll_path}",
                     "-c", info.collection, "--dest-dir", str(tmp_path),
                     server=types.SimpleNamespace(ca=info.ca),
                     user=info.user, password=PASSWORD)
    m = manifest(FIXTURES)
    files = sorted(p for p in tmp_path.iterdir() if p.is_file())
    assert len(files) == m["pulses"], (out[-500:], err[-500:])
    packages = [etree.fromstring(f.read_bytes()) for f in files]
    assert len(set(ids_of(packages))) == m["pulses"]
    assert dict(totals(packages)) == m["observables"]


def test_second_incremental_poll_gets_nothing_new(poller):
    assert poller.run() == []


@pytest.fixture(scope="module")
def update_pushed(lab):
    """The update set pushed by inbox to the upstream's collection."""
    from builders import content_block, inbox_message
    info = lab.info()
    files = sorted((UPDATE / "stix").glob("*.xml"))
    assert len(files) == manifest(UPDATE)["pulses"]
    upstream = Client(info.upstream, info.ca, info.api_key, "otx")
    blocks = [content_block(f.read_text(encoding="utf-8"), STIX_12) for f in files]
    check(upstream.post("/services/inbox", inbox_message(blocks, ["user_AlienVault"])),
          expect="Status_Message:SUCCESS")
    return time.monotonic()


def test_poll_now_runs_the_mirror_at_once(lab, update_pushed):
    try:
        r = subprocess.run([str(binary_path()), "poll-now", "otx", "--data", str(lab.data / "mirror")],
                           capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"poll-now did not return within 30 s; output: {e.stdout!r} {e.stderr!r}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "triggered" in r.stdout


def test_new_upstream_pulses_arrive_once(lab, poller, seen, update_pushed):
    # Poll the way ESA does, once per interval, until the mirror has run (poll-now, or
    # its own 60 s interval if poll-now failed).
    m = manifest(UPDATE)
    packages = []
    deadline = update_pushed + 150
    while len(packages) < m["pulses"] and time.monotonic() < deadline:
        packages += poller.run()
        if len(packages) < m["pulses"]:
            time.sleep(2)
    ids = ids_of(packages)
    assert len(ids) == len(set(ids)) == m["pulses"], f"{len(ids)} received"
    assert not set(ids) & seen, "pulses served again"
    assert dict(totals(packages)) == m["observables"]
    assert poller.run() == [], "the same pulses came twice"


def test_sigkill_during_backfill_loses_and_duplicates_nothing(binary, tmp_path):
    """Kill the lab while the mirror is storing what the upstream sent, a few times, at
    random short delays; after a restart the collection must hold every pulse once."""
    lab = Lab(tmp_path / "killed")
    rng = random.Random()
    delays = [round(rng.uniform(0.0, 0.1), 3) for _ in range(3)]
    landed = []
    served = r'served poll user="lab-otx-key"[^\n]*blocks=[1-9]'
    try:
        for delay in delays:
            lab.start()
            lab.wait_for(f"({served})|(lab ready)", 90)
            if re.search(served, lab.err()) and "lab ready" not in lab.err():
                time.sleep(delay)
            landed.append("lab ready" not in lab.err())
            lab.kill9()
        lab.start()
        lab.wait_for(r"lab ready", 120)
        m = manifest(FIXTURES)
        packages = esa_poller(lab.info()).run()
        ids = ids_of(packages)
        assert len(ids) == len(set(ids)) == m["pulses"], (delays, landed)
        assert dict(totals(packages)) == m["observables"], (delays, landed)
    finally:
        lab.stop()
    assert any(landed), f"no kill landed before the first mirror run ended (delays {delays})"


def test_poller_resolves_idrefs():
    pkg = etree.fromstring(b"""<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1"
      xmlns:indicator="http://stix.mitre.org/Indicator-2" xmlns:cybox="http://cybox.mitre.org/cybox-2"
      xmlns:DomainNameObj="http://cybox.mitre.org/objects#DomainNameObject-1"
      xmlns:AddressObj="http://cybox.mitre.org/objects#AddressObject-2"
      xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="p" version="1.2">
      <stix:Observables cybox_major_version="2" cybox_minor_version="1">
        <cybox:Observable id="o1"><cybox:Object><cybox:Properties xsi:type="DomainNameObj:DomainNameObjectType">
          <DomainNameObj:Value>a.example.test</DomainNameObj:Value></cybox:Properties></cybox:Object></cybox:Observable>
        <cybox:Observable id="o2"><cybox:Object idref="obj3"/></cybox:Observable>
        <cybox:Observable id="o3"><cybox:Object id="obj3"><cybox:Properties xsi:type="AddressObj:AddressObjectType"
          category="ipv4-addr"><AddressObj:Address_Value>192.0.2.1</AddressObj:Address_Value></cybox:Properties>
          </cybox:Object></cybox:Observable>
      </stix:Observables>
      <stix:Indicators>
        <stix:Indicator id="i1" xsi:type="indicator:IndicatorType"><indicator:Observable idref="o1"/></stix:Indicator>
        <stix:Indicator id="i2" xsi:type="indicator:IndicatorType"><indicator:Observable idref="o2"/></stix:Indicator>
      </stix:Indicators></stix:STIX_Package>""")
    assert dict(observables(pkg)) == {"domain": 1, "ipv4": 1}
