#!/usr/bin/env python3
"""Give the Lambda@Edge replicas' log groups a retention.

    .venv/bin/python deploy/edge_log_retention.py FUNCTION_NAME RETENTION_DAYS
    e.g. .venv/bin/python deploy/edge_log_retention.py apigw-guard-edge 30

A Lambda@Edge function logs, in each region where CloudFront ran one of its replicas, to
/aws/lambda/us-east-1.<FUNCTION_NAME>; the replica creates that group itself, without a retention,
so it would keep its logs forever. One stack cannot create log groups in every region, so the
deploy workflow runs this after each deploy (new regions appear as traffic reaches them). It sets
the retention of the groups that exist and changes nothing else. AWS access through boto3 (the
AWS SDK for Python, in the project's venv), with its usual credentials, region and endpoint
settings (AWS_ENDPOINT_URL lets the tests point it at moto). Needs ec2:DescribeRegions,
logs:DescribeLogGroups and logs:PutRetentionPolicy on those groups: the deploy role
(deploy/deploy-role.yaml) has exactly these. Prints one line per group it changed and a summary.
"""

import sys

import boto3

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
VALID_DAYS = {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
              2557, 2922, 3288, 3653}


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    fn, raw = argv[1], argv[2]
    if not raw.isdigit() or int(raw) not in VALID_DAYS:
        sys.stderr.write(f"edge_log_retention: RETENTION_DAYS must be one of {sorted(VALID_DAYS)}\n")
        sys.exit(2)
    days = int(raw)
    group = f"/aws/lambda/us-east-1.{fn}"
    regions = [r["RegionName"] for r in boto3.client("ec2", region_name="us-east-1").describe_regions()["Regions"]]
    changed = 0
    for region in sorted(regions):
        logs = boto3.client("logs", region_name=region)
        for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=group):
            for g in page["logGroups"]:
                if g["logGroupName"] != group or g.get("retentionInDays") == days:
                    continue
                logs.put_retention_policy(logGroupName=group, retentionInDays=days)
                print(f"{region}: {group} retention {days} days")
                changed += 1
    print(f"edge log retention: {changed} group(s) set to {days} days in {len(regions)} region(s)")


if __name__ == "__main__":
    main(sys.argv)
