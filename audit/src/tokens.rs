//! The hostile-token catalogue of `gateway audit`, built from one real user's token and public
//! information only (the issuer's JWKS): nothing here knows a signing key of the deployment.
//!
//! Three kinds of case:
//! - forgeries a broken verifier would accept (`alg: none`, RS256 → HS256 with the public key as
//!   the HMAC secret, an embedded `jwk`, `jku` / `x5u` pointing elsewhere, a psychic ES256 and ES512
//!   signature, an attacker's key under the real `kid`, kid injection);
//! - the real token with its claims edited (expired, not yet valid, other issuer, other client,
//!   other `token_use`, other `sub`) and the original signature kept: a verifier that does not
//!   bind the signature to the claims, or that decodes before it verifies, accepts these;
//! - malformed and oversized tokens.
//!
//! The claim checks themselves (a *correctly signed* expired or foreign token) need a signing key,
//! which an auditor of a deployment does not have; the test suite proves them against the
//! binaries (tests/tests/authorizer_suite/e2e.rs). A correctly signed token of the wrong `token_use`
//! is in the catalogue when the user's id token is at hand (the local stack, or `--id-token-env`).

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Map, Value};

/// One hostile case: what is sent as the `Authorization` header value.
#[derive(Debug, Clone)]
pub struct Hostile {
    pub name: String,
    pub authorization: String,
    /// Statuses that count as refused (401; an oversized token may be stopped at the edge, 431).
    pub refused: &'static [u16],
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a JWT (three base64url parts with JSON header and payload)")]
    NotJwt,
    #[error("could not generate an attacker key: {0}")]
    Keygen(String),
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64_json(v: &Value) -> String {
    b64(v.to_string().as_bytes())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A JWT's parts: raw segments and decoded header and claims.
#[derive(Debug, Clone)]
pub struct Parts {
    pub h: String,
    pub p: String,
    pub sig: String,
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
}

impl Parts {
    pub fn parse(token: &str) -> Result<Parts, TokenError> {
        let v: Vec<&str> = token.split('.').collect();
        let [h, p, sig] = v[..] else {
            return Err(TokenError::NotJwt);
        };
        let obj = |s: &str| -> Result<Map<String, Value>, TokenError> {
            let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenError::NotJwt)?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(TokenError::NotJwt),
            }
        };
        Ok(Parts {
            header: obj(h)?,
            claims: obj(p)?,
            h: h.into(),
            p: p.into(),
            sig: sig.into(),
        })
    }

    pub fn kid(&self) -> String {
        self.header["kid"].as_str().unwrap_or("").to_string()
    }

    pub fn claim_str(&self, k: &str) -> String {
        self.claims
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    }
}

// ---- DER / PEM of an RSA public key from its JWK (n, e) ------------------------------------

fn der_len(n: usize) -> Vec<u8> {
    match n {
        0..=0x7f => vec![n as u8],
        0x80..=0xff => vec![0x81, n as u8],
        _ => vec![0x82, (n >> 8) as u8, n as u8],
    }
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(der_len(content.len()));
    out.extend_from_slice(content);
    out
}

fn der_uint(b: &[u8]) -> Vec<u8> {
    let b = &b[b.iter().take_while(|x| **x == 0).count()..];
    let mut v = Vec::with_capacity(b.len() + 1);
    if b.first().is_some_and(|x| x & 0x80 != 0) {
        v.push(0);
    }
    v.extend_from_slice(b);
    der(0x02, &v)
}

/// `SubjectPublicKeyInfo` PEM of an RSA key (what `openssl rsa -pubout` prints), the "secret"
/// of the classic RS256 → HS256 confusion attack.
pub fn rsa_public_pem(n: &[u8], e: &[u8]) -> String {
    let rsa = der(0x30, &[der_uint(n), der_uint(e)].concat());
    let mut bits = vec![0u8];
    bits.extend(rsa);
    let alg = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let spki = der(0x30, &[alg.to_vec(), der(0x03, &bits)].concat());
    let b = STANDARD.encode(spki);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

/// (n, e) of a DER `RSAPublicKey` (`SEQUENCE { INTEGER n, INTEGER e }`).
fn rsa_components(d: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    fn tlv(b: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        if b.first() != Some(&tag) {
            return None;
        }
        let (len, hdr) = match *b.get(1)? {
            l if l < 0x80 => (l as usize, 2),
            0x81 => (*b.get(2)? as usize, 3),
            0x82 => (((*b.get(2)? as usize) << 8) | *b.get(3)? as usize, 4),
            _ => return None,
        };
        Some((b.get(hdr..hdr + len)?, b.get(hdr + len..)?))
    }
    let (seq, _) = tlv(d, 0x30)?;
    let (n, rest) = tlv(seq, 0x02)?;
    let (e, _) = tlv(rest, 0x02)?;
    let t = |v: &[u8]| v[v.iter().take_while(|b| **b == 0).count()..].to_vec();
    Some((t(n), t(e)))
}

/// The attacker's own RSA key (generated per run; never the deployment's).
struct Attacker {
    key: RsaKeyPair,
    jwk: Value,
}

impl Attacker {
    fn new(kid: &str) -> Result<Attacker, TokenError> {
        let key = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|e| TokenError::Keygen(e.to_string()))?;
        let (n, e) = rsa_components(key.public_key().as_ref())
            .ok_or_else(|| TokenError::Keygen("public key encoding".into()))?;
        let jwk = json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64(&n), "e": b64(&e)});
        Ok(Attacker { key, jwk })
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64_json(header), b64_json(claims));
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        let _ = self.key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        );
        format!("{input}.{}", b64(&sig))
    }
}

fn hs(alg: &str, header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let a = match alg {
        "HS384" => hmac::HMAC_SHA384,
        "HS512" => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    };
    let key = hmac::Key::new(a, secret);
    format!(
        "{input}.{}",
        b64(hmac::sign(&key, input.as_bytes()).as_ref())
    )
}

/// The catalogue. `jwk` is the issuer's public key for the token's kid, when the JWKS was read;
/// `id_token` a correctly signed token of the other `token_use`; `other_sub` user B's `sub`.
pub fn catalogue(
    access: &str,
    jwk: Option<&Value>,
    id_token: Option<&str>,
    other_sub: &str,
) -> Result<Vec<Hostile>, TokenError> {
    let t = Parts::parse(access)?;
    let (h, p, sig) = (&t.h, &t.p, &t.sig);
    let kid = t.kid();
    let claims = Value::Object(t.claims.clone());
    let header = Value::Object(t.header.clone());
    let n = now();
    let hdr = |extra: Value| {
        let mut m = t.header.clone();
        if let Value::Object(x) = extra {
            for (k, v) in x {
                if v.is_null() {
                    m.remove(&k);
                } else {
                    m.insert(k, v);
                }
            }
        }
        Value::Object(m)
    };
    // The real signature over an edited header or payload.
    let edit_header = |extra: Value| format!("{}.{p}.{sig}", b64_json(&hdr(extra)));
    let edit_claims = |f: &dyn Fn(&mut Map<String, Value>)| {
        let mut c = t.claims.clone();
        f(&mut c);
        format!("{h}.{}.{sig}", b64_json(&Value::Object(c)))
    };
    let attacker = Attacker::new(&kid)?;
    let evil_jwks = "https://jwks.attacker.invalid/.well-known/jwks.json";

    const R401: &[u16] = &[401];
    let mut out: Vec<(String, String)> = vec![
        // alg none, every spelling, with and without a signature
        (
            "alg none".into(),
            format!("{}.{p}.", b64_json(&hdr(json!({"alg":"none"})))),
        ),
        (
            "alg None".into(),
            format!("{}.{p}.", b64_json(&hdr(json!({"alg":"None"})))),
        ),
        (
            "alg NONE".into(),
            format!("{}.{p}.", b64_json(&hdr(json!({"alg":"NONE"})))),
        ),
        (
            "alg nOnE".into(),
            format!("{}.{p}.", b64_json(&hdr(json!({"alg":"nOnE"})))),
        ),
        (
            "alg none keeping the signature".into(),
            edit_header(json!({"alg":"none"})),
        ),
        (
            "alg none without the last dot".into(),
            format!("{}.{p}", b64_json(&hdr(json!({"alg":"none"})))),
        ),
        ("empty signature".into(), format!("{h}.{p}.")),
        // signature tampering
        ("one signature bit flipped".into(), {
            let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap_or_default();
            if let Some(b) = raw.get_mut(10) {
                *b ^= 1;
            }
            format!("{h}.{p}.{}", b64(&raw))
        }),
        ("truncated signature".into(), {
            let raw = URL_SAFE_NO_PAD.decode(sig).unwrap_or_default();
            format!("{h}.{p}.{}", b64(&raw[..raw.len().saturating_sub(3)]))
        }),
        (
            "sub swapped to user B (signature kept)".into(),
            edit_claims(&|c| {
                c.insert("sub".into(), json!(other_sub));
            }),
        ),
        (
            "admin group added (signature kept)".into(),
            edit_claims(&|c| {
                c.insert("cognito:groups".into(), json!(["admin"]));
            }),
        ),
        // claims edited, signature kept
        (
            "expired: exp in the past (signature kept)".into(),
            edit_claims(&|c| {
                c.insert("exp".into(), json!(n - 60));
            }),
        ),
        (
            "exp far in the future (signature kept)".into(),
            edit_claims(&|c| {
                c.insert("exp".into(), json!(n + 10 * 365 * 86400));
            }),
        ),
        (
            "nbf in the future (signature kept)".into(),
            edit_claims(&|c| {
                c.insert("nbf".into(), json!(n + 3600));
            }),
        ),
        (
            "iat in the future (signature kept)".into(),
            edit_claims(&|c| {
                c.insert("iat".into(), json!(n + 3600));
            }),
        ),
        (
            "exp removed (signature kept)".into(),
            edit_claims(&|c| {
                c.remove("exp");
            }),
        ),
        (
            "wrong issuer (signature kept)".into(),
            edit_claims(&|c| {
                c.insert(
                    "iss".into(),
                    json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Attacker"),
                );
            }),
        ),
        (
            "wrong client (signature kept)".into(),
            edit_claims(&|c| {
                c.insert("client_id".into(), json!("attacker-client"));
                if c.contains_key("aud") {
                    c.insert("aud".into(), json!("attacker-client"));
                }
            }),
        ),
        (
            "wrong token_use (signature kept)".into(),
            edit_claims(&|c| {
                let other = if c.get("token_use") == Some(&json!("id")) {
                    "access"
                } else {
                    "id"
                };
                c.insert("token_use".into(), json!(other));
            }),
        ),
        // an attacker's key
        (
            "attacker key under the real kid".into(),
            attacker.sign(&header, &claims),
        ),
        (
            "embedded jwk (attacker key in the header)".into(),
            attacker.sign(&hdr(json!({"jwk": attacker.jwk})), &claims),
        ),
        (
            "embedded jwk, other kid".into(),
            attacker.sign(
                &hdr(json!({"jwk": attacker.jwk, "kid": "attacker-kid"})),
                &claims,
            ),
        ),
        (
            "jku to an attacker JWKS".into(),
            attacker.sign(&hdr(json!({"jku": evil_jwks})), &claims),
        ),
        (
            "x5u to an attacker certificate".into(),
            attacker.sign(
                &hdr(json!({"x5u": "https://x5u.attacker.invalid/cert.pem"})),
                &claims,
            ),
        ),
        (
            "x5c with an attacker chain".into(),
            attacker.sign(&hdr(json!({"x5c": ["MIIBattacker"]})), &claims),
        ),
        // psychic ES256 (CVE-2022-21449): r = s = 0
        (
            "psychic ES256 signature (r = s = 0)".into(),
            format!(
                "{}.{p}.{}",
                b64_json(&hdr(json!({"alg":"ES256"}))),
                b64(&[0u8; 64])
            ),
        ),
        (
            "psychic ES256, DER form".into(),
            format!(
                "{}.{p}.{}",
                b64_json(&hdr(json!({"alg":"ES256"}))),
                b64(&[0x30, 6, 2, 1, 0, 2, 1, 0])
            ),
        ),
        // the same against P-521 (ES512): r = s = 0 in its 132-byte form
        (
            "psychic ES512 signature (r = s = 0)".into(),
            format!(
                "{}.{p}.{}",
                b64_json(&hdr(json!({"alg":"ES512"}))),
                b64(&[0u8; 132])
            ),
        ),
        // kid injection
        (
            "kid path traversal (HS256, empty key)".into(),
            hs(
                "HS256",
                &json!({"alg":"HS256","kid":"../../../../../../dev/null"}),
                &claims,
                b"",
            ),
        ),
        (
            "kid SQL injection (HS256)".into(),
            hs(
                "HS256",
                &json!({"alg":"HS256","kid":"x' UNION SELECT 'key';--"}),
                &claims,
                b"key",
            ),
        ),
        (
            "kid command injection".into(),
            edit_header(json!({"kid": format!("{kid}|/usr/bin/touch /tmp/pwned")})),
        ),
        (
            "kid unknown".into(),
            edit_header(json!({"kid": "audit-unknown-kid"})),
        ),
        ("kid empty".into(), edit_header(json!({"kid": ""}))),
        ("kid missing".into(), edit_header(json!({"kid": null}))),
        // algorithm confusion without the key
        (
            "alg HS256 empty key".into(),
            hs("HS256", &hdr(json!({"alg":"HS256"})), &claims, b""),
        ),
        (
            "alg RS512 header (signature kept)".into(),
            edit_header(json!({"alg":"RS512"})),
        ),
        (
            "alg PS256 header (signature kept)".into(),
            edit_header(json!({"alg":"PS256"})),
        ),
        (
            "alg ES512 header (signature kept)".into(),
            edit_header(json!({"alg":"ES512"})),
        ),
        ("crit header".into(), edit_header(json!({"crit": ["exp"]}))),
        // malformed
        ("not a JWT".into(), "not-a-jwt".into()),
        ("two parts".into(), format!("{h}.{p}")),
        (
            "five parts (JWE shape)".into(),
            format!("{h}.{p}.{sig}.a.b"),
        ),
        ("padded base64".into(), format!("{h}=.{p}.{sig}")),
        (
            "header not JSON".into(),
            format!("{}.{p}.{sig}", b64(b"not json")),
        ),
        ("only dots".into(), "..".into()),
        (
            "two tokens in one header".into(),
            format!("{access},{access}"),
        ),
    ];
    if let Some(jwk) = jwk {
        let d = |k: &str| {
            URL_SAFE_NO_PAD
                .decode(jwk[k].as_str().unwrap_or(""))
                .unwrap_or_default()
        };
        let pem = rsa_public_pem(&d("n"), &d("e"));
        let h256 = hdr(json!({"alg":"HS256"}));
        out.push((
            "RS256→HS256 with the public key PEM".into(),
            hs("HS256", &h256, &claims, pem.as_bytes()),
        ));
        out.push((
            "RS256→HS256 with the PEM, no final newline".into(),
            hs("HS256", &h256, &claims, pem.trim_end().as_bytes()),
        ));
        out.push((
            "RS256→HS256 with the JWK JSON".into(),
            hs("HS256", &h256, &claims, jwk.to_string().as_bytes()),
        ));
        out.push((
            "RS256→HS384 with the public key PEM".into(),
            hs(
                "HS384",
                &hdr(json!({"alg":"HS384"})),
                &claims,
                pem.as_bytes(),
            ),
        ));
        out.push((
            "RS256→HS512 with the modulus bytes".into(),
            hs("HS512", &hdr(json!({"alg":"HS512"})), &claims, &d("n")),
        ));
    }
    let mut cases: Vec<Hostile> = out
        .into_iter()
        .map(|(name, tok)| Hostile {
            name,
            authorization: format!("Bearer {tok}"),
            refused: R401,
        })
        .collect();
    if let Some(id) = id_token {
        cases.push(Hostile {
            name: "correctly signed token of the other token_use (id token)".into(),
            authorization: format!("Bearer {id}"),
            refused: R401,
        });
    }
    cases.push(Hostile {
        name: "Bearer with no token".into(),
        authorization: "Bearer ".into(),
        refused: R401,
    });
    cases.push(Hostile {
        name: "other scheme (Basic)".into(),
        authorization: format!("Basic {}", STANDARD.encode("alice:password")),
        refused: R401,
    });
    cases.push(Hostile {
        name: "oversized token (24 KB)".into(),
        authorization: format!(
            "Bearer {}",
            edit_claims(&|c| {
                c.insert("pad".into(), json!("x".repeat(18_000)));
            })
        ),
        // API Gateway refuses it with 401 (the authorizer's size cap); the edge may stop it
        // first as an oversized header (431). Either way it is refused.
        refused: &[401, 431, 494],
    });
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> String {
        let h = b64_json(&json!({"alg":"RS256","kid":"k1"}));
        let p = b64_json(&json!({"sub":"a","iss":"https://x","exp": 2_000_000_000u64,
            "token_use":"access","client_id":"c"}));
        format!("{h}.{p}.{}", b64(&[7u8; 256]))
    }

    #[test]
    fn catalogue_is_complete_and_distinct() {
        let jwk = json!({"kty":"RSA","kid":"k1","n": b64(&[0xc1; 256]), "e": "AQAB"});
        let c = catalogue(&token(), Some(&jwk), Some("a.b.c"), "b").unwrap();
        assert!(c.len() >= 50, "{}", c.len());
        let mut names: Vec<&str> = c.iter().map(|h| h.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), c.len(), "names are unique");
        // the genuine token is never part of the catalogue
        let genuine = format!("Bearer {}", token());
        assert!(c.iter().all(|h| h.authorization != genuine));
    }

    #[test]
    fn pem_has_the_openssl_shape() {
        let pem = rsa_public_pem(&[0xc1; 256], &[1, 0, 1]);
        assert!(pem.starts_with(
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"
        ));
        assert!(pem.ends_with("AQAB\n-----END PUBLIC KEY-----\n"));
    }
}
