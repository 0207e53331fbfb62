"""Create (or reuse) a Cognito user pool, app client and user on a local moto server and print
JSON with their ids, the issuer, the JWKS URL, and fresh tokens for the user.

Usage: python scripts/local_cognito.py --endpoint http://127.0.0.1:PORT \
           [--pool-name NAME] [--username alice] [--password ...] [--group admin]

Idempotent: a pool, client or user with the given name is reused. moto issues real RS256 tokens
with the AWS issuer form; its JWKS is served at <endpoint>/<poolId>/.well-known/jwks.json.
"""
import argparse
import json
import os

import boto3


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--pool-name", default="apigw-guard-local")
    p.add_argument("--client-name", default="apigw-guard-local-client")
    p.add_argument("--username", default="alice")
    p.add_argument("--password", default="Passw0rd!Local")
    p.add_argument("--group", action="append", default=[])
    p.add_argument("--tokens-only", action="store_true", help="only sign in; pool must exist")
    args = p.parse_args()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    idp = boto3.client("cognito-idp", endpoint_url=args.endpoint, region_name=args.region)

    pool_id = next(
        (x["Id"] for x in idp.list_user_pools(MaxResults=60)["UserPools"] if x["Name"] == args.pool_name),
        None,
    )
    if pool_id is None:
        pool_id = idp.create_user_pool(
            PoolName=args.pool_name,
            Policies={"PasswordPolicy": {"MinimumLength": 12, "RequireUppercase": True,
                                         "RequireLowercase": True, "RequireNumbers": True,
                                         "RequireSymbols": True}},
        )["UserPool"]["Id"]
    client_id = next(
        (c["ClientId"] for c in idp.list_user_pool_clients(UserPoolId=pool_id, MaxResults=60)["UserPoolClients"]
         if c["ClientName"] == args.client_name),
        None,
    )
    if client_id is None:
        client_id = idp.create_user_pool_client(
            UserPoolId=pool_id, ClientName=args.client_name,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]["ClientId"]

    try:
        idp.admin_get_user(UserPoolId=pool_id, Username=args.username)
    except idp.exceptions.UserNotFoundException:
        idp.admin_create_user(UserPoolId=pool_id, Username=args.username,
                              TemporaryPassword=args.password, MessageAction="SUPPRESS")
        idp.admin_set_user_password(UserPoolId=pool_id, Username=args.username,
                                    Password=args.password, Permanent=True)
    for g in args.group:
        try:
            idp.create_group(UserPoolId=pool_id, GroupName=g)
        except idp.exceptions.GroupExistsException:
            pass
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username=args.username, GroupName=g)

    auth = idp.initiate_auth(
        ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": args.username, "PASSWORD": args.password},
    )["AuthenticationResult"]
    region = pool_id.split("_")[0]
    print(json.dumps({
        "user_pool_id": pool_id,
        "client_id": client_id,
        "issuer": f"https://cognito-idp.{region}.amazonaws.com/{pool_id}",
        "jwks_uri": f"{args.endpoint}/{pool_id}/.well-known/jwks.json",
        "username": args.username,
        "access_token": auth["AccessToken"],
        "id_token": auth["IdToken"],
        "refresh_token": auth.get("RefreshToken", ""),
    }))


if __name__ == "__main__":
    main()
