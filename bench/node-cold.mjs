// Node.js cold-start reference: process start, import aws-jwt-verify, cache the JWKS and verify
// one token (what a Node.js authorizer does on its first invocation). Timed from outside.
import { readFileSync } from "node:fs";
import { CognitoJwtVerifier } from "aws-jwt-verify";

const { userPoolId, clientId, jwks, tokens } = JSON.parse(readFileSync(process.argv[2], "utf8"));
const verifier = CognitoJwtVerifier.create({ userPoolId, tokenUse: "access", clientId });
verifier.cacheJwks(jwks);
verifier.verifySync(tokens[0]);
