//! Real keys and real signatures for tests: RSA-2048, P-256, Ed25519 key pairs generated with
//! aws-lc-rs, their JWKs, and tokens signed with any header and claims (including the forged
//! ones the hostile suites need: HS256 with a public key as secret, `alg: none`, ...).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    ECDSA_P521_SHA512_FIXED_SIGNING,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64_json(v: &Value) -> String {
    b64(serde_json::to_string(v).expect("json").as_bytes())
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// `n` and `e` (big-endian, no leading zero) of a DER `RSAPublicKey` (RFC 8017 A.1.1:
/// `SEQUENCE { INTEGER n, INTEGER e }`). Read here rather than through aws-lc-rs's `ring-io`
/// feature, which would otherwise be unified into the authorizer in a workspace build.
pub fn rsa_public_components(der: &[u8]) -> (&[u8], &[u8]) {
    fn tlv(b: &[u8], tag: u8) -> (&[u8], &[u8]) {
        assert_eq!(b[0], tag, "DER tag");
        let (len, hdr) = match b[1] {
            l if l < 0x80 => (l as usize, 2),
            0x81 => (b[2] as usize, 3),
            0x82 => (((b[2] as usize) << 8) | b[3] as usize, 4),
            other => panic!("unsupported DER length {other:#x}"),
        };
        (&b[hdr..hdr + len], &b[hdr + len..])
    }
    let (seq, _) = tlv(der, 0x30);
    let (n, rest) = tlv(seq, 0x02);
    let (e, _) = tlv(rest, 0x02);
    let trim = |v: &[u8]| -> usize { v.iter().take_while(|b| **b == 0).count() };
    (&n[trim(n)..], &e[trim(e)..])
}

pub enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A key pair with a kid, able to publish its JWK and sign tokens.
pub struct TestKey {
    pub kid: String,
    pub signer: Signer,
}

impl TestKey {
    pub fn rsa(kid: &str) -> TestKey {
        TestKey {
            kid: kid.into(),
            signer: Signer::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa keygen")),
        }
    }
    /// An RSA key of another size (3072, 4096 bits: valid keys the vetting must accept).
    pub fn rsa_sized(kid: &str, size: KeySize) -> TestKey {
        TestKey {
            kid: kid.into(),
            signer: Signer::Rsa(RsaKeyPair::generate(size).expect("rsa keygen")),
        }
    }
    /// A P-384 key (ES384).
    pub fn ec384(kid: &str) -> TestKey {
        TestKey {
            kid: kid.into(),
            signer: Signer::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING)
                    .expect("ec keygen"),
            ),
        }
    }
    pub fn ec(kid: &str) -> TestKey {
        TestKey {
            kid: kid.into(),
            signer: Signer::Ec(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("ec keygen"),
            ),
        }
    }
    /// A P-521 key (ES512: SHA-512, a 132-byte `r‖s` signature).
    pub fn ec521(kid: &str) -> TestKey {
        TestKey {
            kid: kid.into(),
            signer: Signer::Ec(
                EcdsaKeyPair::generate(&ECDSA_P521_SHA512_FIXED_SIGNING).expect("ec keygen"),
            ),
        }
    }
    pub fn ed(kid: &str) -> TestKey {
        TestKey {
            kid: kid.into(),
            signer: Signer::Ed(Ed25519KeyPair::generate().expect("ed keygen")),
        }
    }

    /// The public JWK, with `alg` and `use: sig` as Cognito publishes them.
    pub fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Rsa(k) => {
                let (n, e) = rsa_public_components(k.public_key().as_ref());
                json!({
                    "kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig",
                    "n": b64(n),
                    "e": b64(e),
                })
            }
            Signer::Ec(k) => {
                let p = k.public_key().as_ref();
                let len = (p.len() - 1) / 2;
                let (alg, crv) = match len {
                    66 => ("ES512", "P-521"),
                    48 => ("ES384", "P-384"),
                    _ => ("ES256", "P-256"),
                };
                json!({"kty": "EC", "kid": self.kid, "alg": alg, "use": "sig", "crv": crv,
                       "x": b64(&p[1..1 + len]), "y": b64(&p[1 + len..])})
            }
            Signer::Ed(k) => json!({"kty": "OKP", "kid": self.kid, "alg": "EdDSA", "use": "sig",
                                    "crv": "Ed25519", "x": b64(k.public_key().as_ref())}),
        }
    }

    /// PEM of the public key (SubjectPublicKeyInfo): what RS→HS confusion attacks use as secret.
    pub fn public_pem(&self) -> String {
        let der: Vec<u8> = match &self.signer {
            Signer::Rsa(k) => k.public_key().as_der().expect("der").as_ref().to_vec(),
            Signer::Ec(k) => k.public_key().as_der().expect("der").as_ref().to_vec(),
            Signer::Ed(k) => k.public_key().as_der().expect("der").as_ref().to_vec(),
        };
        let b = STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).expect("ascii"));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    pub fn default_alg(&self) -> &'static str {
        match &self.signer {
            Signer::Rsa(_) => "RS256",
            Signer::Ec(k) => match k.public_key().as_ref().len() {
                133 => "ES512",
                97 => "ES384",
                _ => "ES256",
            },
            Signer::Ed(_) => "EdDSA",
        }
    }

    /// Raw signature over `input` with this key's own algorithm.
    pub fn sign_raw(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, input, &mut sig)
                    .expect("sign");
                sig
            }
            Signer::Ec(k) => k.sign(&rng, input).expect("sign").as_ref().to_vec(),
            Signer::Ed(k) => k.sign(input).as_ref().to_vec(),
        }
    }

    /// RSA-PSS / PKCS#1 signature with SHA-256 over `input` (RSA keys only): for key-pinning tests.
    pub fn sign_rsa_with(&self, pss: bool, input: &[u8]) -> Vec<u8> {
        let Signer::Rsa(k) = &self.signer else {
            panic!("sign_rsa_with needs an RSA key")
        };
        let rng = SystemRandom::new();
        let mut sig = vec![0u8; k.public_modulus_len()];
        let alg: &'static dyn signature::RsaEncoding = if pss {
            &signature::RSA_PSS_SHA256
        } else {
            &signature::RSA_PKCS1_SHA256
        };
        k.sign(alg, &rng, input, &mut sig).expect("sign");
        sig
    }

    /// Sign `claims` with header `{alg, kid, typ}` merged with `extra_header`.
    pub fn sign(&self, claims: &Value, extra_header: &Value) -> String {
        let mut header = json!({"alg": self.default_alg(), "kid": self.kid, "typ": "JWT"});
        if let (Some(h), Some(x)) = (header.as_object_mut(), extra_header.as_object()) {
            for (k, v) in x {
                if v.is_null() {
                    h.remove(k);
                } else {
                    h.insert(k.clone(), v.clone());
                }
            }
        }
        self.sign_with_header(&header, claims)
    }

    /// Sign exactly this header and these claims.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64_json(header), b64_json(claims));
        let sig = self.sign_raw(input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }
}

/// HS256 over `header.claims` with `secret` (forgeries: the verifier must never accept these).
pub fn sign_hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// A JWKS document holding these keys' public JWKs.
pub fn jwks(keys: &[&TestKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

/// Cognito-shaped access-token claims, valid for an hour from now.
pub fn access_claims(iss: &str, client_id: &str, sub: &str) -> Value {
    let now = now();
    json!({
        "sub": sub, "iss": iss, "client_id": client_id, "origin_jti": "o-1",
        "event_id": "e-1", "token_use": "access", "scope": "aws.cognito.signin.user.admin",
        "auth_time": now, "exp": now + 3600, "iat": now, "jti": "j-1", "username": "alice",
    })
}

/// `n` distinct access tokens of `iss` for `client_id` (subs `user-00000`…, jtis `jti-0`…),
/// signed by `key`: the benchmarks' token set.
pub fn distinct_access_tokens(key: &TestKey, iss: &str, client_id: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut c = access_claims(iss, client_id, &format!("user-{i:05}"));
            c["jti"] = json!(format!("jti-{i}"));
            key.sign(&c, &json!({}))
        })
        .collect()
}

/// Cognito-shaped id-token claims, valid for an hour from now.
pub fn id_claims(iss: &str, client_id: &str, sub: &str) -> Value {
    let now = now();
    json!({
        "sub": sub, "iss": iss, "aud": client_id, "token_use": "id", "auth_time": now,
        "exp": now + 3600, "iat": now, "cognito:username": "alice", "email": "alice@example.com",
    })
}
