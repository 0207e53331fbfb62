// aws-jwt-verify 5.2.1 as a test oracle (tests/tests/authorizer_suite/differential.rs).
//
// Usage: node tests/node/aws-jwt-verify-oracle.mjs <input.json>
// Input:  {"userPoolId": "...", "clientId": "...", "jwks": {...},
//          "sets": [{"tokenUse": "access"|"id", "tokens": ["...", ...]}, ...]}
// Output (stdout, one JSON document): {"sets": [[{"ok": true} | {"ok": false, "error": "Name: msg"}, ...], ...]}
//
// Each set gets its own CognitoJwtVerifier (userPoolId, tokenUse, clientId), its JWKS loaded with
// cacheJwks (no network), and every token goes through verifySync: the verifier's strict defaults,
// nothing relaxed.
import { readFileSync } from "node:fs";
import { CognitoJwtVerifier } from "aws-jwt-verify";

const [file] = process.argv.slice(2);
const { userPoolId, clientId, jwks, sets } = JSON.parse(readFileSync(file, "utf8"));

const out = [];
for (const { tokenUse, tokens } of sets) {
  const verifier = CognitoJwtVerifier.create({ userPoolId, tokenUse, clientId });
  verifier.cacheJwks(jwks);
  out.push(
    tokens.map((t) => {
      try {
        verifier.verifySync(t);
        return { ok: true };
      } catch (e) {
        const name = e && e.name ? e.name : "Error";
        // Messages may quote claims with lone surrogates: keep the output valid UTF-8 JSON.
        const msg = (e && e.message ? String(e.message) : String(e)).slice(0, 200).toWellFormed();
        return { ok: false, error: `${name}: ${msg}` };
      }
    }),
  );
}
process.stdout.write(JSON.stringify({ sets: out }));
