// aws-jwt-verify verifySync on the tokens bench_verify wrote (same tokens, same JWKS), one core.
// Usage: node bench/jwt-verify.mjs <out-dir>/tokens.json [seconds]
import { readFileSync } from "node:fs";
import { CognitoJwtVerifier } from "aws-jwt-verify";

const [file, secsArg] = process.argv.slice(2);
const { userPoolId, clientId, jwks, tokens } = JSON.parse(readFileSync(file, "utf8"));
const secs = Number(secsArg ?? 3);
const verifier = CognitoJwtVerifier.create({ userPoolId, tokenUse: "access", clientId });
verifier.cacheJwks(jwks);
for (const t of tokens.slice(0, 200)) verifier.verifySync(t);
let n = 0;
const start = process.hrtime.bigint();
const deadline = start + BigInt(Math.round(secs * 1e9));
for (;;) {
  for (const t of tokens) {
    verifier.verifySync(t);
    n++;
  }
  if (process.hrtime.bigint() >= deadline) break;
}
const el = Number(process.hrtime.bigint() - start) / 1e9;
console.log(JSON.stringify({ impl: "aws-jwt-verify verifySync", verifies: n, seconds: el, verifies_per_sec: n / el }));
