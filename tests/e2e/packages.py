"""Small STIX 1.x packages used as content in the tests.

`pkg(n)` is the minimal one-indicator, one-domain package; a `tag` keeps the packages of
different tests distinct, since the server stores identical content only once.
"""

NAMESPACES = (
    'xmlns:stix="http://stix.mitre.org/stix-1" '
    'xmlns:indicator="http://stix.mitre.org/Indicator-2" '
    'xmlns:cybox="http://cybox.mitre.org/cybox-2" '
    'xmlns:DomainNameObj="http://cybox.mitre.org/objects#DomainNameObject-1" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:test="http://example.test/ns"'
)


def package_id(n, tag=""):
    return f"test:Package-{tag}{n:04d}"


def pkg(n, tag="", version="1.1.1", title=None):
    """A STIX package with one indicator whose observable is domain bad-<tag><n>.example.test."""
    header = ""
    if title is not None:
        header = f"<stix:STIX_Header><stix:Title>{title}</stix:Title></stix:STIX_Header>"
    return (
        f'<stix:STIX_Package {NAMESPACES} id="{package_id(n, tag)}" version="{version}" '
        f'timestamp="2024-01-01T00:00:00Z">{header}'
        "<stix:Indicators>"
        f'<stix:Indicator xsi:type="indicator:IndicatorType" id="test:indicator-{tag}{n:04d}">'
        f'<indicator:Observable id="test:Observable-{tag}{n:04d}">'
        "<cybox:Object>"
        '<cybox:Properties xsi:type="DomainNameObj:DomainNameObjectType" type="FQDN">'
        f"<DomainNameObj:Value>bad-{tag}{n}.example.test</DomainNameObj:Value>"
        "</cybox:Properties></cybox:Object></indicator:Observable></stix:Indicator>"
        "</stix:Indicators></stix:STIX_Package>"
    )


def pkg_with_cdata(tag=""):
    """A package whose title carries a CDATA section and 3-byte UTF-8 characters."""
    return (
        f'<stix:STIX_Package {NAMESPACES} id="{package_id(1, tag)}" version="1.1.1" '
        'timestamp="2024-01-01T00:00:00Z">\n'
        "  <stix:STIX_Header>\n"
        "    <stix:Title><![CDATA[a <raw> & \"quoted\" title]]> \u20ac \u65e5\u672c</stix:Title>\n"
        "  </stix:STIX_Header>\n"
        "</stix:STIX_Package>"
    )


def pkg_with_description(n, text, tag=""):
    """A package whose header description holds `text` (escaped by the caller if needed)."""
    return (
        f'<stix:STIX_Package {NAMESPACES} id="{package_id(n, tag)}" version="1.2" '
        'timestamp="2024-01-01T00:00:00Z">'
        f"<stix:STIX_Header><stix:Description>{text}</stix:Description></stix:STIX_Header>"
        "</stix:STIX_Package>"
    )
