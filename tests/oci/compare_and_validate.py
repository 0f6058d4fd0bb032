#!/usr/bin/python3
"""Checks one OCI config.json round trip: the outputs are the input, and all are schema-valid.

    compare_and_validate.py --schema-dir DIR --name NAME INPUT OUTPUT [OUTPUT...]

Each OUTPUT (what `oci_tool roundtrip` wrote for INPUT) must parse as strict JSON (no
duplicate keys, no NaN/Infinity) and be the same document as INPUT: deep equality with key
order ignored, where a number equals only a number of the same kind and value (an integer is
compared as an exact integer; 1, 1.0 and true are three different values).

INPUT and each OUTPUT are validated against DIR/config-schema.json (Draft 4, `$ref`s to the
sibling files of DIR resolved locally). An INPUT that is not schema-valid is reported, with the
reasons, but is not an error; the round trip must still be exact. If INPUT is valid, each
OUTPUT must be too.

Prints one summary line, "NAME: ...", and exits 0 when every requirement holds, 1 otherwise.
Needs Debian's python3-jsonschema (run it with /usr/bin/python3).
"""

import argparse
import decimal
import json
import os
import pathlib
import sys

try:
    import jsonschema
except ImportError:
    sys.exit("compare_and_validate: python module 'jsonschema' missing: "
             "apt-get install python3-jsonschema, and run this with /usr/bin/python3")


class Float:
    """A JSON number with a fraction or exponent, kept as its exact decimal value."""

    def __init__(self, text):
        self.text = text
        self.value = decimal.Decimal(text)

    def __eq__(self, other):
        return isinstance(other, Float) and self.value == other.value

    def __repr__(self):
        return self.text


def _no_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError("duplicate key %r" % key)
        obj[key] = value
    return obj


def _no_constants(name):
    raise ValueError("not JSON: %s" % name)


def load_strict(path):
    """The document at `path`; integers as int, other numbers as Float."""
    with open(path, "rb") as f:
        data = f.read()
    text = data.decode("utf-8")  # JSON is UTF-8; anything else is an error
    return json.loads(text, object_pairs_hook=_no_duplicates, parse_int=int,
                      parse_float=Float, parse_constant=_no_constants), text


def first_difference(a, b, path="$"):
    """None if `a` and `b` are the same JSON value, else a description of the first difference."""
    if type(a) is not type(b):
        return "%s: %s %r != %s %r" % (path, type(a).__name__, a, type(b).__name__, b)
    if isinstance(a, dict):
        missing = [k for k in a if k not in b]
        if missing:
            return "%s: member %r missing from output" % (path, missing[0])
        extra = [k for k in b if k not in a]
        if extra:
            return "%s: member %r added by output (value %r)" % (path, extra[0], b[extra[0]])
        for k in a:
            d = first_difference(a[k], b[k], "%s.%s" % (path, k))
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return "%s: array of %d elements became %d" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    if a != b:
        return "%s: %r != %r" % (path, a, b)
    return None


def plain(v):
    """`v` with Float turned into a number jsonschema understands."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, Float):
        return float(v.value)
    return v


def make_validator(schema_dir):
    schema_dir = pathlib.Path(schema_dir).resolve()
    path = schema_dir / "config-schema.json"
    if not path.is_file():
        sys.exit("compare_and_validate: no %s (Debian package golang-github-opencontainers-"
                 "specs-dev)" % path)
    with open(path) as f:
        schema = json.load(f)
    jsonschema.Draft4Validator.check_schema(schema)
    resolver = jsonschema.RefResolver(base_uri=schema_dir.as_uri() + "/", referrer=schema)
    return jsonschema.Draft4Validator(schema, resolver=resolver)


def schema_errors(validator, doc):
    errors = sorted(validator.iter_errors(plain(doc)), key=lambda e: list(e.absolute_path))
    return ["$%s: %s" % ("".join("[%d]" % p if isinstance(p, int) else ".%s" % p
                                 for p in e.absolute_path), e.message) for e in errors]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--schema-dir", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("input")
    ap.add_argument("outputs", nargs="+")
    args = ap.parse_args()

    validator = make_validator(args.schema_dir)
    failures = []
    notes = []

    try:
        want, _ = load_strict(args.input)
    except (ValueError, UnicodeDecodeError) as e:
        print("%s: FAIL: input %s is not JSON: %s" % (args.name, args.input, e))
        return 1

    input_errors = schema_errors(validator, want)
    input_valid = not input_errors
    if not input_valid:
        notes.append("input NOT schema-valid (%d errors; round trip still checked):\n    %s"
                     % (len(input_errors), "\n    ".join(input_errors)))

    for out in args.outputs:
        label = os.path.basename(out)
        try:
            got, _ = load_strict(out)
        except (ValueError, UnicodeDecodeError) as e:
            failures.append("%s does not parse: %s" % (label, e))
            continue
        diff = first_difference(want, got)
        if diff:
            failures.append("%s differs from the input: %s" % (label, diff))
        if input_valid:
            errors = schema_errors(validator, got)
            if errors:
                failures.append("%s NOT schema-valid:\n    %s" % (label, "\n    ".join(errors)))

    if failures:
        print("%s: FAIL:\n  %s" % (args.name, "\n  ".join(failures + notes)))
        return 1
    print("%s: roundtrip identical (%d outputs), %s" % (
        args.name, len(args.outputs),
        "schema valid" if input_valid else notes[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
