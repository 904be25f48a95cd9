"""TLS 1.2 and 1.3 only, with modern suites: older protocol versions and weak suites are
refused by the server (an alert from it, not a client-side refusal), and what a modern
client gets is forward secret and authenticated encryption."""

import socket
import ssl

import pytest

MODERN_12 = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
             "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-AES128-GCM-SHA256",
             "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"}
MODERN_13 = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
WEAK_12 = ("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA:"
           "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:AES128-SHA:AES256-SHA:"
           "AES128-SHA256:AES128-GCM-SHA256:AES256-GCM-SHA384:DES-CBC3-SHA:"
           "ECDHE-RSA-DES-CBC3-SHA:@SECLEVEL=0")


def context(lowest, highest, ciphers=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = lowest
    ctx.maximum_version = highest
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def handshake(server, ctx):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.version(), tls.cipher()[0]


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_old_protocol_versions_are_refused_by_the_server(server, version):
    v = getattr(ssl.TLSVersion, version)
    ctx = context(v, v, "ALL:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError) as e:
        handshake(server, ctx)
    # The server's alert, not the local library declining to try.
    assert "ALERT" in str(e.value).upper(), e.value
    assert server.alive()


def test_weak_tls12_suites_are_refused_by_the_server(server):
    ctx = context(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, WEAK_12)
    with pytest.raises(ssl.SSLError) as e:
        handshake(server, ctx)
    assert "ALERT" in str(e.value).upper() or "HANDSHAKE" in str(e.value).upper(), e.value


def test_modern_tls12_and_tls13_are_served(server):
    version, cipher = handshake(server, context(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2,
                                                "ALL:@SECLEVEL=0"))
    assert version == "TLSv1.2" and cipher in MODERN_12, (version, cipher)
    version, cipher = handshake(server, context(ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3))
    assert version == "TLSv1.3" and cipher in MODERN_13, (version, cipher)
    # A client offering everything gets TLS 1.3.
    version, _ = handshake(server, context(ssl.TLSVersion.TLSv1, ssl.TLSVersion.MAXIMUM_SUPPORTED,
                                           "ALL:@SECLEVEL=0"))
    assert version == "TLSv1.3"
