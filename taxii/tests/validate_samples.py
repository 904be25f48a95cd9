#!/usr/bin/env python3
"""Validate the sample messages written by `tests/write_samples.rs` against libtaxii's XSDs.

Usage:
    TAXII_SAMPLES_DIR=/tmp/taxii-samples cargo test -p taxii --test write_samples
    python validate_samples.py /tmp/taxii-samples

Needs libtaxii (and lxml) in the Python environment. Files named `11-*.xml` are checked
against the TAXII 1.1 schema, `10-*.xml` against 1.0. Exits non-zero if any file fails or
if no file was found.
"""
import pathlib
import sys

from libtaxii.validation import SchemaValidator


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    folder = pathlib.Path(sys.argv[1])
    validators = {
        "11": SchemaValidator(SchemaValidator.TAXII_11_SCHEMA),
        "10": SchemaValidator(SchemaValidator.TAXII_10_SCHEMA),
    }
    files = sorted(folder.glob("1[01]-*.xml"))
    if not files:
        print(f"no samples in {folder}", file=sys.stderr)
        return 1
    failed = 0
    for path in files:
        validator = validators[path.name[:2]]
        result = validator.validate_string(path.read_bytes())
        if result.valid:
            print(f"ok      {path.name}")
        else:
            failed += 1
            print(f"INVALID {path.name}")
            for error in result.error_log:
                print(f"    {error}")
    print(f"{len(files) - failed}/{len(files)} valid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
