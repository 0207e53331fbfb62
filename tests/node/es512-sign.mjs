// An ES512 (P-521) signer independent of the authorizer's aws-lc: Node's own crypto
// (tests/tests/authorizer_suite/differential.rs, es512 test).
//
// Usage: node tests/node/es512-sign.mjs '{"kid": "...", "claims": {...}}'
// Output (stdout, one JSON document): {"jwk": {public JWK, kid, alg ES512, use sig},
//                                      "token": "<header>.<payload>.<132-byte r||s>", "sigBytes": 132}
import { generateKeyPairSync, sign } from "node:crypto";

const { kid, claims } = JSON.parse(process.argv[2]);
const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-521" });
const jwk = { ...publicKey.export({ format: "jwk" }), kid, alg: "ES512", use: "sig" };
const b64 = (b) => Buffer.from(b).toString("base64url");
const input = `${b64(JSON.stringify({ alg: "ES512", kid, typ: "JWT" }))}.${b64(JSON.stringify(claims))}`;
const sig = sign("sha512", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" });
process.stdout.write(JSON.stringify({ jwk, token: `${input}.${b64(sig)}`, sigBytes: sig.length }));
