#!/usr/bin/env python3
"""Fetch a user pool's JWKS and write the `JwksJson` parameter file for `sam deploy`.

    python3 deploy/jwks_param.py JWKS_URL CURRENT_VALUE OUT_FILE [Name=Value ...]

JWKS_URL      the pool's JWKS, https://cognito-idp.<region>.amazonaws.com/<pool>/.well-known/jwks.json
              (plain http only for a loopback host, as the authorizer's own JWKS_URI rule)
CURRENT_VALUE the stack's JwksJson parameter as deployed ("" or "None" when unset)
OUT_FILE      the parameter file to write, e.g. jwks-params.yaml: {"JwksJson": "<minified JWKS>",
              Name: Value, ...} (JSON, which is YAML), for `sam deploy --parameter-overrides
              file://OUT_FILE`; SAM reads .yaml/.yml/.toml parameter files, and a file keeps the
              document's quotes and commas intact, which a Key=Value override string would not

Prints `changed` or `unchanged` (then OUT_FILE is not written) and exits 0; exits 1 when the
document cannot be fetched or is not a JWKS with at least one key. Keys are public: nothing
secret is read or written. docs/deploy.md, "Keys at cold start (JwksJson)".
"""

import json
import sys
import urllib.parse
import urllib.request

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def fail(msg):
    sys.stderr.write("jwks_param: " + msg + "\n")
    sys.exit(1)


def minified(doc):
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    url, current, out = argv[1], argv[2], argv[3]
    extra = {}
    for a in argv[4:]:
        k, _, v = a.partition("=")
        if not k or not _:
            fail(f"expected Name=Value, got {a!r}")
        extra[k] = v
    u = urllib.parse.urlsplit(url)
    if u.scheme != "https" and not (u.scheme == "http" and u.hostname in LOOPBACK):
        fail("the JWKS URL must be https (plain http only for a loopback host)")
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = r.read(256 * 1024 + 1)
    except Exception as e:  # noqa: BLE001 (any fetch failure ends the step)
        fail(f"cannot fetch the JWKS: {type(e).__name__}")
    if len(body) > 256 * 1024:
        fail("the JWKS is larger than 256 KiB")
    try:
        doc = json.loads(body)
    except ValueError:
        fail("the JWKS is not JSON")
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list) or not doc["keys"]:
        fail("not a JWKS with keys")
    new = minified(doc)
    try:
        same = current not in ("", "None") and minified(json.loads(current)) == new
    except ValueError:
        same = False
    if same:
        print("unchanged")
        return
    params = {"JwksJson": new}
    params.update(extra)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(params, f)
    print("changed")


if __name__ == "__main__":
    main(sys.argv)
