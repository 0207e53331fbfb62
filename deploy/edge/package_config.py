#!/usr/bin/env python3
"""Write the edge-config.json that goes into the Lambda@Edge package (deploy/edge/Makefile).

    package_config.py SOURCE_CONFIG OUT_CONFIG [ROLLOUT_SOURCE [CANARY_PATH]]

Without ROLLOUT_SOURCE the configuration is copied unchanged. With it (the stack's
RolloutObjectUri output, s3://<rollout bucket>/rollout.json), the packaged configuration reads the
canary weight and kill switch from that object at run time:

- canary.rollout.source = ROLLOUT_SOURCE (other canary.rollout settings of the source config, e.g.
  ttl_seconds, are kept);
- canary.origin = {"path": CANARY_PATH} (default /canary, the template's canary stage) unless the
  source config names a canary origin itself;
- canary.weight_percent must be 0 or absent (the weight is the rollout document's).

Only the configuration's structure is read; no value is ever printed (it holds secrets).
"""

import json
import sys


def fail(msg):
    sys.exit("edge config: " + msg)


def main(argv):
    if len(argv) not in (3, 4, 5):
        sys.exit(__doc__)
    src, out = argv[1], argv[2]
    rollout = argv[3] if len(argv) > 3 else ""
    canary_path = argv[4] if len(argv) > 4 and argv[4] else "/canary"
    with open(src, encoding="utf-8") as f:
        cfg = json.load(f)
    if rollout:
        if not rollout.startswith("s3://") or "/" not in rollout[len("s3://"):]:
            fail("EDGE_ROLLOUT_SOURCE must be s3://<bucket>/<key> (the RolloutObjectUri output)")
        if not isinstance(cfg, dict):
            fail("the configuration must be a JSON object")
        canary = cfg.setdefault("canary", {})
        if not isinstance(canary, dict):
            fail("canary must be an object")
        if canary.get("weight_percent", 0) != 0:
            fail("canary.weight_percent must be 0 with EDGE_ROLLOUT_SOURCE (the weight is the rollout document's)")
        settings = canary.get("rollout") or {}
        if not isinstance(settings, dict):
            fail("canary.rollout must be an object")
        settings["source"] = rollout
        canary["rollout"] = settings
        if not canary.get("origin"):
            canary["origin"] = {"path": canary_path}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv)
