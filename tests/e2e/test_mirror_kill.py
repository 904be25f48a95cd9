"""The mirror killed with SIGKILL at random points of a long back-fill loses and duplicates
nothing: an upstream (our own server) holds blocks spread over many back-fill windows, a
second server mirrors it with a taxii11 source and is killed several times mid-run."""

import random
import re
import time

from conftest import PASSWORD, Server, make_config, run_bin, toml_str
from taxii import poll_all, push

BLOCKS = 60
WINDOW_SECS = 0.2


def package(n):
    return (
        '<stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1" '
        'xmlns:indicator="http://stix.mitre.org/Indicator-2" '
        'xmlns:cybox="http://cybox.mitre.org/cybox-2" '
        'xmlns:DomainNameObj="http://cybox.mitre.org/objects#DomainNameObject-1" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:test="http://example.test/ns" '
        f'id="test:Package-kill-{n:04d}" version="1.1.1" timestamp="2024-01-01T00:00:00Z">'
        '<stix:Indicators><stix:Indicator xsi:type="indicator:IndicatorType" '
        f'id="test:indicator-kill-{n:04d}"><indicator:Observable id="test:Observable-kill-{n:04d}">'
        '<cybox:Object><cybox:Properties xsi:type="DomainNameObj:DomainNameObjectType" type="FQDN">'
        f'<DomainNameObj:Value>bad-{n}.example.test</DomainNameObj:Value>'
        '</cybox:Properties></cybox:Object></indicator:Observable></stix:Indicator>'
        '</stix:Indicators></stix:STIX_Package>'
    )


def mirror_config(folder, pki, password_hash, upstream):
    text = make_config(folder / "data", pki, password_hash,
                       collections={"copy": dict(read=["esa"], write=[])})
    day = 86400.0
    text += "\n".join([
        "[[source]]",
        'name = "up"',
        'kind = "taxii11"',
        'collection = "copy"',
        f"poll_url = {toml_str(upstream.base + '/services/poll')}",
        'upstream_collection = "feed"',
        'username = "esa"',
        'password_env = "KILL_TEST_UPSTREAM_PASSWORD"',
        f"ca_file = {toml_str(pki['ca'])}",
        f"backfill_days = {15 / day}",
        f"window_days = {WINDOW_SECS / day}",
        "interval_secs = 3600",
        "backoff_initial_secs = 0.05",
        "backoff_max_secs = 0.5",
        f"min_window_secs = {WINDOW_SECS}",
    ]) + "\n"
    return text


def test_sigkill_at_random_points_of_a_long_backfill(make_server, pki, password_hash,
                                                     tmp_path, monkeypatch):
    upstream = make_server("upstream", collections={"feed": dict(read=["esa"], write=["esa"])})
    esa = upstream.client()
    # Spread the blocks over many back-fill windows.
    for n in range(BLOCKS):
        push(esa, "feed", [package(n)])
        time.sleep(0.05)

    monkeypatch.setenv("KILL_TEST_UPSTREAM_PASSWORD", PASSWORD)
    folder = tmp_path / "mirror"
    mirror = Server(folder, mirror_config(folder, pki, password_hash, upstream), pki["ca"])
    rng = random.Random()
    served = re.compile(r'served poll user="esa" collection="feed"[^\n]*blocks=[1-9]')
    # Each run is killed after the upstream has served it a random number of non-empty
    # windows, so every kill lands in the middle of the back-fill's data.
    plan = [rng.randint(1, 12) for _ in range(4)]
    seen = []
    for i, windows in enumerate(plan):
        # A fresh log per run, so the ports read are this run's.
        mirror.addrs, mirror.log_path = {}, folder / f"run-{i}.log"
        before = len(served.findall(upstream.log()))
        mirror.start()
        deadline = time.monotonic() + 30
        while (len(served.findall(upstream.log())) - before < windows
               and "observables were fetched" not in mirror.log()
               and time.monotonic() < deadline):
            time.sleep(0.005)
        mirror.proc.kill()
        mirror.wait_or_kill(10)
        seen.append(len(served.findall(upstream.log())) - before)

    mirror.addrs, mirror.log_path = {}, folder / "final.log"
    mirror.start()
    try:
        deadline = time.monotonic() + 90
        while "observables were fetched from the source: up" not in mirror.log():
            assert time.monotonic() < deadline, mirror.log()[-3000:]
            time.sleep(0.2)
        result = poll_all(mirror.client(), "copy")
        ids = result.ids
        assert len(ids) == BLOCKS, (plan, seen, len(ids))
        assert sorted(ids) == [f"test:Package-kill-{n:04d}" for n in range(BLOCKS)], (plan, seen)
    finally:
        mirror.stop()
    # The store the kills landed in is consistent, not only its poll output.
    r = run_bin("verify", "--deep", folder / "data", check=False)
    assert r.returncode == 0 and r.stdout.strip().endswith(": consistent"), r.stdout + r.stderr
    assert any(n > 0 for n in seen), f"no kill landed after a non-empty window ({plan}, {seen})"
