#!/usr/bin/env bash
# Give the Lambda@Edge replicas' log groups a retention.
#
#   deploy/edge-log-retention.sh FUNCTION_NAME RETENTION_DAYS
#   e.g. deploy/edge-log-retention.sh apigw-guard-edge 30
#
# A Lambda@Edge function logs, in each region where CloudFront ran one of its replicas, to
# /aws/lambda/us-east-1.<FUNCTION_NAME>; the replica creates that group itself, without a
# retention, so it would keep logs forever. One stack cannot create log groups in every region, so
# the deploy workflow runs this after each deploy (new regions appear as traffic reaches them).
# It only sets retention on the groups that exist; it changes nothing else. Needs
# ec2:DescribeRegions, logs:DescribeLogGroups and logs:PutRetentionPolicy on those groups (the
# deploy role, deploy/deploy-role.yaml, has exactly these).
set -euo pipefail
fn=${1:?usage: $0 FUNCTION_NAME RETENTION_DAYS}
days=${2:?usage: $0 FUNCTION_NAME RETENTION_DAYS}
case "$days" in
  ''|*[!0-9]*) echo "RETENTION_DAYS must be a number of days, got '$days'" >&2; exit 2 ;;
esac
group="/aws/lambda/us-east-1.$fn"
set_count=0
for region in $(aws ec2 describe-regions --query 'Regions[].RegionName' --output text); do
  found=$(aws logs describe-log-groups --region "$region" --log-group-name-prefix "$group" \
    --query "logGroups[?logGroupName=='$group'].[retentionInDays]" --output text)
  # No line: no replica ran in this region yet. "None": the group has no retention.
  [ -n "$found" ] || continue
  [ "$found" = "$days" ] && continue
  aws logs put-retention-policy --region "$region" --log-group-name "$group" --retention-in-days "$days"
  echo "$region: $group retention $days days"
  set_count=$((set_count + 1))
done
echo "edge log retention: $set_count group(s) updated to $days days"
