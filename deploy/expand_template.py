#!/usr/bin/env python3
"""Print template.yaml as the CloudFormation JSON the SAM transform makes of it, offline.

    .venv/bin/python deploy/expand_template.py [TEMPLATE] [Name=Value ...]

Uses aws-sam-translator (the library `sam` and CloudFormation's own transform run), so the
output is what CloudFormation would deploy. Local CodeUri folders are not S3 objects yet (`sam
package` uploads them): each becomes `s3://local-code-uri/<folder>` so the translator accepts it and
tests can still see which folder a function is built from. Parameter values given as arguments
override the defaults (conditions are not evaluated: every conditional resource is in the output).

No network and no credentials: the managed policy map (the only thing the translator would
fetch) is refused, since the template names managed policies by ARN only.
"""

import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

LOCAL_BUCKET = "local-code-uri"


class NoManagedPolicyLoader:
    """The translator asks for this only to resolve managed policy *names*; we use none."""

    def load(self):
        raise SystemExit(
            "expand_template: the template refers to a managed policy by name; "
            "use its ARN (the translator would need IAM to resolve the name)"
        )


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "template.yaml")
    params = {}
    for arg in argv[1:]:
        if "=" in arg:
            k, v = arg.split("=", 1)
            params[k] = v
        else:
            path = arg
    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())

    for res in template.get("Resources", {}).values():
        if res.get("Type") == "AWS::Serverless::Function":
            props = res.setdefault("Properties", {})
            uri = props.get("CodeUri")
            if isinstance(uri, str) and not uri.startswith("s3://"):
                props["CodeUri"] = "s3://%s/%s" % (LOCAL_BUCKET, uri.strip("/"))

    out = transform(template, params, NoManagedPolicyLoader())
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
