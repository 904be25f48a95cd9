"""Deterministic, plausible STIX 1.2 packages of about 4 KB, each one unique.

Every package is a complete STIX_Package element with all namespaces declared on its
root (so it can be stored and served as is), an OTX-like header and a handful of
indicators (IPv4 addresses, domains, URLs and file hashes from documentation ranges).
The same (seed, index) always gives the same bytes, so the benchmark can load exactly
the same content into every server it compares.
"""

import hashlib
import random

NS = (
    'xmlns:stix="http://stix.mitre.org/stix-1" '
    'xmlns:stixCommon="http://stix.mitre.org/common-1" '
    'xmlns:stixVocabs="http://stix.mitre.org/default_vocabularies-1" '
    'xmlns:indicator="http://stix.mitre.org/Indicator-2" '
    'xmlns:cybox="http://cybox.mitre.org/cybox-2" '
    'xmlns:cyboxCommon="http://cybox.mitre.org/common-2" '
    'xmlns:AddressObj="http://cybox.mitre.org/objects#AddressObject-2" '
    'xmlns:DomainNameObj="http://cybox.mitre.org/objects#DomainNameObject-1" '
    'xmlns:URIObj="http://cybox.mitre.org/objects#URIObject-2" '
    'xmlns:FileObj="http://cybox.mitre.org/objects#FileObject-2" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:bench="https://bench.example.test"'
)

FAMILIES = ["Lumma Stealer", "AsyncRAT", "Qakbot", "Emotet", "RedLine", "Cobalt Strike",
            "IcedID", "SocGholish", "Remcos", "AgentTesla", "DarkGate", "Pikabot"]
SECTORS = ["finance", "healthcare", "energy", "government", "retail", "telecom"]
TLDS = ["example", "test", "example.test"]

STIX_12 = "urn:stix.mitre.org:xml:1.2"


def _uid(seed, index, kind, n):
    h = hashlib.md5(f"{seed}:{index}:{kind}:{n}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _observable(rng, seed, index, n):
    kind = rng.randrange(4)
    oid = _uid(seed, index, "obj", n)
    if kind == 0:
        net = rng.choice(["192.0.2", "198.51.100", "203.0.113"])
        value = f"{net}.{rng.randrange(1, 255)}"
        title = f"IPv4 - {value}"
        props = ('<cybox:Properties xsi:type="AddressObj:AddressObjectType" category="ipv4-addr">'
                 f'<AddressObj:Address_Value condition="Equals">{value}</AddressObj:Address_Value>'
                 '</cybox:Properties>')
    elif kind == 1:
        value = f"c2-{index}-{n}.{rng.choice(['cdn', 'api', 'update', 'login'])}.{rng.choice(TLDS)}"
        title = f"domain - {value}"
        props = ('<cybox:Properties xsi:type="DomainNameObj:DomainNameObjectType" type="FQDN">'
                 f'<DomainNameObj:Value condition="Equals">{value}</DomainNameObj:Value>'
                 '</cybox:Properties>')
    elif kind == 2:
        value = (f"https://dl-{index}.{rng.choice(TLDS)}/{rng.choice(['gate', 'panel', 'load'])}"
                 f"/{rng.getrandbits(40):010x}.php?id={n}")
        title = f"URL - {value}"
        props = ('<cybox:Properties xsi:type="URIObj:URIObjectType" type="URL">'
                 f'<URIObj:Value condition="Equals">{value.replace("&", "&amp;")}</URIObj:Value>'
                 '</cybox:Properties>')
    else:
        value = hashlib.sha256(f"{seed}:{index}:file:{n}".encode()).hexdigest()
        title = f"FileHash-SHA256 - {value}"
        props = ('<cybox:Properties xsi:type="FileObj:FileObjectType"><FileObj:Hashes>'
                 '<cyboxCommon:Hash><cyboxCommon:Type xsi:type="cyboxVocabs:HashNameVocab-1.0">SHA256'
                 '</cyboxCommon:Type><cyboxCommon:Simple_Hash_Value condition="Equals">'
                 f'{value}</cyboxCommon:Simple_Hash_Value></cyboxCommon:Hash></FileObj:Hashes>'
                 '</cybox:Properties>')
    return (
        f'\n    <stix:Indicator id="bench:indicator-{_uid(seed, index, "ind", n)}" '
        f'timestamp="2025-{1 + index % 12:02d}-{1 + index % 28:02d}T{index % 24:02d}:00:00Z" '
        'xsi:type="indicator:IndicatorType">'
        f'\n      <indicator:Title>{title}</indicator:Title>'
        f'\n      <indicator:Observable id="bench:Observable-{_uid(seed, index, "obs", n)}">'
        f'\n        <cybox:Object id="bench:Object-{oid}">{props}</cybox:Object>'
        '\n      </indicator:Observable>'
        '\n    </stix:Indicator>'
    )


def package(seed, index, target=4400):
    """The STIX package number `index` as a str, about `target` bytes long."""
    rng = random.Random(seed * 1_000_003 + index)
    family = rng.choice(FAMILIES)
    sector = rng.choice(SECTORS)
    pid = _uid(seed, index, "pkg", 0)
    head = (
        f'<stix:STIX_Package {NS} id="bench:Package-{pid}" version="1.2" '
        f'timestamp="2025-{1 + index % 12:02d}-{1 + index % 28:02d}T{index % 24:02d}:{index % 60:02d}:00Z">'
        '\n  <stix:STIX_Header>'
        f'\n    <stix:Title>{family} campaign against {sector} #{index}</stix:Title>'
        '\n    <stix:Package_Intent xsi:type="stixVocabs:PackageIntentVocab-1.0">Indicators</stix:Package_Intent>'
        f'\n    <stix:Description>Infrastructure and payloads of {family} seen in {sector} '
        f'networks; report {index} of the benchmark set. Block the listed addresses, '
        'domains and URLs at the perimeter and hunt for the hashes.</stix:Description>'
        '\n    <stix:Information_Source><stixCommon:Identity><stixCommon:Name>taxii-mirror bench'
        '</stixCommon:Name></stixCommon:Identity></stix:Information_Source>'
        '\n  </stix:STIX_Header>'
        '\n  <stix:Indicators>'
    )
    tail = '\n  </stix:Indicators>\n</stix:STIX_Package>'
    parts = [head]
    size = len(head) + len(tail)
    n = 0
    while True:
        obs = _observable(rng, seed, index, n)
        if size + len(obs) > target and n > 0:
            break
        parts.append(obs)
        size += len(obs)
        n += 1
    parts.append(tail)
    return "".join(parts)
