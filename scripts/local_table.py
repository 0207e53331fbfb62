"""Create (idempotently) the items table on a local DynamoDB stand-in, with the key schema of
template.yaml (userId S HASH, itemId S RANGE) and TTL on `expires_at` (idempotency records).

Usage: python scripts/local_table.py --endpoint http://127.0.0.1:PORT --table NAME
"""
import argparse
import os

import boto3


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--region", default="us-east-1")
    args = p.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    ddb = boto3.client("dynamodb", endpoint_url=args.endpoint, region_name=args.region)
    if args.table not in ddb.list_tables()["TableNames"]:
        ddb.create_table(
            TableName=args.table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "userId", "AttributeType": "S"},
                {"AttributeName": "itemId", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "userId", "KeyType": "HASH"},
                {"AttributeName": "itemId", "KeyType": "RANGE"},
            ],
        )
        ddb.update_time_to_live(
            TableName=args.table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
    print(args.table)


if __name__ == "__main__":
    main()
