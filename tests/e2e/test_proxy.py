"""Large poll responses through a reverse proxy with a 1 MiB buffer (nginx from Debian):
every part arrives whole and well-formed, the union is exact, nothing is cut short with a
200 status. nginx is fetched by ./run-tests (NGINX_BIN)."""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PASSWORD
from taxii import Client, check, poll_all, push
from test_mirror_kill import package

BLOCKS = 1200


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def nginx_bin():
    path = os.environ.get("NGINX_BIN")
    assert path and Path(path).is_file(), (
        "NGINX_BIN must name an nginx binary: ./run-tests fetches Debian's nginx for this test")
    return path


def start_nginx(nginx_bin, folder, upstream_port):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tmp").mkdir(exist_ok=True)
    port = free_port()
    conf = folder / "nginx.conf"
    conf.write_text(f"""
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {folder}/tmp/body;
    proxy_temp_path {folder}/tmp/proxy;
    fastcgi_temp_path {folder}/tmp/fastcgi;
    uwsgi_temp_path {folder}/tmp/uwsgi;
    scgi_temp_path {folder}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 64m;
        location / {{
            proxy_pass https://127.0.0.1:{upstream_port};
            proxy_http_version 1.1;
            proxy_buffering on;
            proxy_buffer_size 1m;
            proxy_buffers 2 1m;
            proxy_busy_buffers_size 1m;
            proxy_max_temp_file_size 0;
        }}
    }}
}}
""")
    proc = subprocess.Popen([nginx_bin, "-c", str(conf), "-p", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            assert proc.poll() is None, (folder / "error.log").read_text(errors="replace")
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)


@pytest.mark.parametrize("part_blocks", [500, 5000])
def test_large_polls_pass_whole_through_a_buffering_proxy(make_server, nginx_bin, tmp_path,
                                                          part_blocks):
    server = make_server(f"proxied-{part_blocks}",
                         collections={"big": dict(read=["esa"], write=["esa"])},
                         limits={"max_blocks_per_part": part_blocks,
                                 "max_bytes_per_part": 67108864})
    direct = server.client()
    for start in range(0, BLOCKS, 400):
        push(direct, "big", [package(n) for n in range(start, start + 400)])
    proc, port = start_nginx(nginx_bin, tmp_path / "nginx", server.port)
    try:
        proxied = Client(f"http://127.0.0.1:{port}", None, "esa", PASSWORD)
        # The server answers for the transport it sees (TLS from the proxy).
        from builders import poll_request
        first = check(proxied.post("/services/poll", poll_request("big")), expect="Poll_Response")
        assert first.record_count[0] == BLOCKS
        result = poll_all(proxied, "big")
        assert len(result.parts) == -(-BLOCKS // part_blocks)
        assert sorted(result.ids) == sorted(f"test:Package-kill-{n:04d}" for n in range(BLOCKS))
        if part_blocks > BLOCKS:
            assert len(result.parts[0].raw) > 1024 * 1024, "the single part must exceed the buffer"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
