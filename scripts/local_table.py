"""Create (idempotently) the items table on a local DynamoDB stand-in, with the schema of
crud/table.json (the one source: userId S HASH, itemId S RANGE, TTL on `expires_at`; template.yaml's
ItemsTable is tested against it), on-demand billing.

Usage: python scripts/local_table.py --endpoint http://127.0.0.1:PORT --table NAME [--revocation]

--revocation: the revocation table instead (revocation-keys/table.json: pk S HASH, TTL on
`expires_at`; template.yaml's RevocationTable is tested against it).
"""
import argparse
import json
import os
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "crud" / "table.json"
REVOCATION_SCHEMA = ROOT / "revocation-keys" / "table.json"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--revocation", action="store_true")
    args = p.parse_args()
    schema = json.loads((REVOCATION_SCHEMA if args.revocation else SCHEMA).read_text())
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    ddb = boto3.client("dynamodb", endpoint_url=args.endpoint, region_name=args.region)
    if args.table not in ddb.list_tables()["TableNames"]:
        ddb.create_table(
            TableName=args.table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=schema["AttributeDefinitions"],
            KeySchema=schema["KeySchema"],
        )
        ddb.update_time_to_live(
            TableName=args.table,
            TimeToLiveSpecification=schema["TimeToLiveSpecification"],
        )
    print(args.table)


if __name__ == "__main__":
    main()
