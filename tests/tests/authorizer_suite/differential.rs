//! Differential tests: the real `authorizer` binary (through the Runtime API emulator) against two
//! independent verifiers, aws-jwt-verify 5.2.1 (Node, `tests/node`) and the `jsonwebtoken` crate,
//! on thousands of well-signed mutations of Cognito-shaped access and id tokens
//! (`harness::differential`).
//!
//! Rules:
//! - we never allow a token aws-jwt-verify refuses; we never allow a token jsonwebtoken refuses
//!   unless the mutation is in a documented `LAXER_THAN_JSONWEBTOKEN` class;
//! - every token we refuse that an oracle allows falls in a documented `STRICTER_CLASSES` class;
//! - a single mutation with one obvious reason (the contract's) is refused with that reason code,
//!   whatever the oracles say (e.g. duplicated members they accept, last one winning).
//!
//! `DIFFERENTIAL_SEED` (default fixed, printed) picks the random combinations;
//! `DIFFERENTIAL_TOKENS` (default 3000) is the number of tokens per token use;
//! `DIFFERENTIAL_AUTHORIZER_BIN` runs another authorizer binary instead of the workspace's.

use std::collections::BTreeMap;
use std::time::Instant;

use harness::differential::{
    self, Case, Rng, Target, Use, LAXER_THAN_JSONWEBTOKEN, STRICTER_CLASSES,
};
use harness::jwks_server::JwksServer;
use harness::jwt::{self, TestKey};
use harness::paths;
use harness::runtime_api::{Function, Outcome};
use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

const POOL: &str = "us-east-1_TestPool1";
const CLIENT: &str = "diffclient0123456789abcde";
const KID: &str = "diff-key-1";
const REST_REQUEST: &str = include_str!("../../../authorizer/tests/fixtures/rest_request.json");
const DEFAULT_SEED: u64 = 0x0008_d1ff_5eed;

fn issuer() -> String {
    format!("https://cognito-idp.us-east-1.amazonaws.com/{POOL}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ours {
    Allow,
    Refuse(String),
}

/// One oracle's verdict: `Ok` or the error it gave.
type Verdict = Result<(), String>;

/// jsonwebtoken, strictly configured: RS256 only, key by kid from the same JWKS, leeway 0, exp and
/// nbf validated, exp/iss/sub required, the issuer set; id tokens: aud required and set to the
/// client. What jsonwebtoken has no notion of (Cognito's token_use, an access token's client_id) is
/// checked here, as a user of the crate would.
fn jsonwebtoken_verdict(token: &str, jwks: &JwkSet, u: Use) -> Verdict {
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("header: {e}"))?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or("kid not in the JWKS")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key: {e}"))?;
    let mut v = Validation::new(Algorithm::RS256);
    v.leeway = 0;
    v.reject_tokens_expiring_in_less_than = 0;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_issuer(&[issuer()]);
    match u {
        Use::Access => {
            v.set_required_spec_claims(&["exp", "iss", "sub"]);
            v.validate_aud = false;
        }
        Use::Id => {
            v.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
            v.set_audience(&[CLIENT]);
        }
    }
    let data =
        jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| format!("decode: {e:?}"))?;
    let c = &data.claims;
    if c.get("token_use").and_then(Value::as_str) != Some(u.name()) {
        return Err("token_use".into());
    }
    if u == Use::Access && c.get("client_id").and_then(Value::as_str) != Some(CLIENT) {
        return Err("client_id".into());
    }
    Ok(())
}

/// aws-jwt-verify's verdicts on `tokens`, from one Node process.
fn aws_jwt_verify_verdicts(jwks: &Value, u: Use, tokens: &[String]) -> Vec<Verdict> {
    let root = paths::workspace_root();
    let script = root.join("tests/node/aws-jwt-verify-oracle.mjs");
    assert!(
        root.join("tests/node/node_modules/aws-jwt-verify").exists(),
        "aws-jwt-verify missing: run scripts/setup.sh (scripts/test.sh does)"
    );
    let input = std::env::temp_dir().join(format!(
        "authorizer-differential-{}-{}.json",
        std::process::id(),
        u.name()
    ));
    std::fs::write(
        &input,
        serde_json::to_vec(&json!({
            "userPoolId": POOL, "clientId": CLIENT, "jwks": jwks,
            "sets": [{"tokenUse": u.name(), "tokens": tokens}],
        }))
        .unwrap(),
    )
    .unwrap();
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(&input)
        .output()
        .expect("run node (Node.js is needed for the aws-jwt-verify oracle)");
    let _ = std::fs::remove_file(&input);
    assert!(
        out.status.success(),
        "aws-jwt-verify oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("oracle output");
    let set = v["sets"][0].as_array().expect("verdicts").clone();
    assert_eq!(set.len(), tokens.len());
    set.into_iter()
        .map(|r| {
            if r["ok"] == true {
                Ok(())
            } else {
                Err(r["error"].as_str().unwrap_or("?").to_string())
            }
        })
        .collect()
}

/// Our verdicts: every token through the real binary as a REST REQUEST event, the decision and
/// reason read from its JSON log line (matched by request id).
async fn our_verdicts(jwks: &JwksServer, u: Use, cases: &[Case]) -> Vec<Ours> {
    let env = vec![
        ("ISSUER".to_string(), issuer()),
        ("JWKS_URI".to_string(), jwks.uri()),
        ("CLIENT_IDS".to_string(), CLIENT.to_string()),
        ("TOKEN_USE".to_string(), u.name().to_string()),
    ];
    // DIFFERENTIAL_AUTHORIZER_BIN: judge another build (e.g. an older commit's) with the same tokens.
    let bin = std::env::var_os("DIFFERENTIAL_AUTHORIZER_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| paths::bin("authorizer"));
    let f = Function::start(&bin, &env).await;
    if let Some(e) = f.wait_init().await {
        panic!("init failed: {e}\n{}", f.logs().join("\n"));
    }
    let base: Value = serde_json::from_str(REST_REQUEST).unwrap();
    let mut outcomes = Vec::with_capacity(cases.len());
    for (i, c) in cases.iter().enumerate() {
        let mut e = base.clone();
        let auth = format!("Bearer {}", c.token);
        e["headers"]["Authorization"] = json!(auth);
        e["multiValueHeaders"]["Authorization"] = json!([auth]);
        e["requestContext"]["requestId"] = json!(format!("diff-{i}"));
        outcomes.push(f.invoke(&e).await);
    }
    let logs = f.settled_logs().await;
    assert!(!f.exited().await, "the authorizer process died");
    let mut reasons: BTreeMap<String, (String, String)> = BTreeMap::new();
    for l in &logs {
        let Ok(v) = serde_json::from_str::<Value>(l) else {
            continue;
        };
        let (Some(d), Some(id)) = (v["decision"].as_str(), v["request_id"].as_str()) else {
            continue;
        };
        reasons.insert(
            id.to_string(),
            (
                d.to_string(),
                v["reason"].as_str().unwrap_or("").to_string(),
            ),
        );
    }
    outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let (decision, reason) = reasons
                .get(&format!("diff-{i}"))
                .cloned()
                .unwrap_or_else(|| panic!("no decision logged for token {i}"));
            match o {
                Outcome::Response(r) => {
                    let allowed = r["policyDocument"]["Statement"][0]["Effect"] == "Allow";
                    assert!(
                        allowed && decision == "allow" && reason == "ok",
                        "token {i}: response {r} vs log {decision}/{reason}"
                    );
                    Ours::Allow
                }
                Outcome::Error { error_message, .. } => {
                    assert_eq!(error_message, "Unauthorized", "token {i}");
                    assert_eq!(decision, "unauthorized", "token {i}");
                    Ours::Refuse(reason)
                }
            }
        })
        .collect()
}

#[derive(Default)]
struct Report {
    compared: usize,
    agreements: usize,
    /// (oracle, class) -> (count, example)
    stricter: BTreeMap<(&'static str, &'static str), (usize, String)>,
    laxer: BTreeMap<&'static str, (usize, String)>,
    /// failure kind + mutation names -> (count, example)
    failures: BTreeMap<String, (usize, String)>,
}

impl Report {
    fn fail(&mut self, what: String, example: String) {
        let e = self.failures.entry(what).or_insert((0, example));
        e.0 += 1;
    }
}

async fn run(u: Use) {
    let seed = std::env::var("DIFFERENTIAL_SEED")
        .ok()
        .and_then(|s| {
            s.strip_prefix("0x")
                .map(|h| u64::from_str_radix(h, 16).ok())
                .unwrap_or_else(|| s.parse().ok())
        })
        .unwrap_or(DEFAULT_SEED);
    let n: usize = std::env::var("DIFFERENTIAL_TOKENS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    println!(
        "differential TOKEN_USE={}: seed {seed:#x} (DIFFERENTIAL_SEED), {n} tokens",
        u.name()
    );
    let started = Instant::now();
    let key = TestKey::rsa(KID);
    let jwks_doc = jwt::jwks(&[&key]);
    let jwks = JwksServer::start(jwks_doc.clone()).await;
    let target = Target {
        iss: issuer(),
        client: CLIENT.to_string(),
        kid: KID.to_string(),
        token_use: u,
        t0: jwt::now(),
    };
    for m in differential::mutations(&target) {
        if let Some(c) = m.class {
            assert!(
                STRICTER_CLASSES.iter().any(|(n, _)| *n == c),
                "{}: class {c} not listed",
                m.name
            );
        }
        if let Some(c) = m.laxer {
            assert!(
                LAXER_THAN_JSONWEBTOKEN.iter().any(|(n, _)| *n == c),
                "{}: laxer class {c} not listed",
                m.name
            );
        }
    }
    let mut rng = Rng::new(seed ^ (u as u64));
    let cases = differential::generate(&target, &key, n, &mut rng);
    let tokens: Vec<String> = cases.iter().map(|c| c.token.clone()).collect();
    let generated = started.elapsed();

    let ours = our_verdicts(&jwks, u, &cases).await;
    let ours_time = started.elapsed() - generated;
    let aws = aws_jwt_verify_verdicts(&jwks_doc, u, &tokens);
    let set: JwkSet = serde_json::from_value(jwks_doc.clone()).unwrap();
    let jwt: Vec<Verdict> = tokens
        .iter()
        .map(|t| jsonwebtoken_verdict(t, &set, u))
        .collect();

    let mut r = Report::default();
    for (i, c) in cases.iter().enumerate() {
        r.compared += 1;
        let names = if c.names.is_empty() {
            "baseline".to_string()
        } else {
            c.names.join(" + ")
        };
        let example = format!(
            "#{i} ours={:?} aws-jwt-verify={:?} jsonwebtoken={:?} {}",
            ours[i],
            aws[i],
            jwt[i],
            c.describe()
        );
        if c.names.is_empty() {
            assert!(
                ours[i] == Ours::Allow && aws[i].is_ok() && jwt[i].is_ok(),
                "the unmutated token must pass everywhere: {example}"
            );
        }
        let agree = (ours[i] == Ours::Allow) == aws[i].is_ok()
            && (ours[i] == Ours::Allow) == jwt[i].is_ok();
        if agree {
            r.agreements += 1;
        }
        match &ours[i] {
            Ours::Allow => {
                if let Some(want) = c.expect {
                    r.fail(
                        format!("ALLOWED, the contract refuses ({want}): [{names}]"),
                        example.clone(),
                    );
                }
                if aws[i].is_err() {
                    r.fail(
                        format!("ALLOWED but aws-jwt-verify refuses: [{names}]"),
                        example.clone(),
                    );
                }
                if jwt[i].is_err() {
                    match c.laxer.first() {
                        Some(l) => {
                            let e = r.laxer.entry(l).or_insert((0, example.clone()));
                            e.0 += 1;
                        }
                        None => r.fail(
                            format!("ALLOWED but jsonwebtoken refuses: [{names}]"),
                            example.clone(),
                        ),
                    }
                }
            }
            Ours::Refuse(reason) => {
                if let Some(want) = c.expect {
                    if reason != want {
                        r.fail(
                            format!("reason {reason} instead of {want}: [{names}]"),
                            example.clone(),
                        );
                    }
                }
                for (oracle, v) in [("aws-jwt-verify", &aws[i]), ("jsonwebtoken", &jwt[i])] {
                    if v.is_ok() {
                        match c.classes.first() {
                            Some(class) => {
                                let e = r
                                    .stricter
                                    .entry((oracle, class))
                                    .or_insert((0, example.clone()));
                                e.0 += 1;
                            }
                            None => r.fail(
                                format!(
                                    "refused ({reason}) but {oracle} allows, no documented class: [{names}]"
                                ),
                                example.clone(),
                            ),
                        }
                    }
                }
            }
        }
    }

    println!(
        "TOKEN_USE={}: {} tokens compared, {} agreements (all three verdicts equal), {} disagreements; \
         generated in {:.1?}, authorizer {:.1?}, total {:.1?}",
        u.name(),
        r.compared,
        r.agreements,
        r.compared - r.agreements,
        generated,
        ours_time,
        started.elapsed()
    );
    for ((oracle, class), (count, ex)) in &r.stricter {
        println!("  stricter than {oracle:14} {class:22} {count:5}  e.g. {ex}");
    }
    for (class, (count, ex)) in &r.laxer {
        println!("  laxer than jsonwebtoken    {class:22} {count:5}  e.g. {ex}");
    }
    let mut total = 0;
    for (what, (count, ex)) in &r.failures {
        total += count;
        println!("FAIL ×{count}: {what}\n    e.g. {ex}");
    }
    assert!(
        r.failures.is_empty(),
        "{total} failing tokens in {} groups (seed {seed:#x}); see the FAIL lines above",
        r.failures.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential_access_tokens() {
    run(Use::Access).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential_id_tokens() {
    run(Use::Id).await;
}

/// Issue 23: ES512 (P-521) end to end. A token signed by an independent signer (Node's crypto,
/// `tests/node/es512-sign.mjs`) and one signed with aws-lc verify through the real binary; the
/// same tokens mutated (signature bits, lengths, `r`/`s` order, algorithm, claims) are refused,
/// each exactly as aws-jwt-verify decides and with the expected reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es512_tokens_verify_and_their_mutations_are_refused_like_aws_jwt_verify() {
    use harness::jwt::{b64, b64_json};
    let root = paths::workspace_root();
    let sub = "6f1c2d9e-1111-4a2b-9c3d-222233334444";
    let claims = jwt::access_claims(&issuer(), CLIENT, sub);
    let out = std::process::Command::new("node")
        .arg(root.join("tests/node/es512-sign.mjs"))
        .arg(json!({"kid": "node-p521", "claims": claims}).to_string())
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signed: Value = serde_json::from_slice(&out.stdout).expect("signer output");
    assert_eq!(signed["sigBytes"], 132, "r||s of P-521");
    assert_eq!(signed["jwk"]["crv"], "P-521");
    let node_token = signed["token"].as_str().unwrap_or_default().to_string();
    let key = TestKey::ec521("lc-p521");
    let doc = json!({"keys": [signed["jwk"].clone(), key.jwk()]});
    let server = JwksServer::start(doc.clone()).await;
    let f = Function::start(
        &paths::bin("authorizer"),
        &[
            ("ISSUER".to_string(), issuer()),
            ("JWKS_URI".to_string(), server.uri()),
            ("CLIENT_IDS".to_string(), CLIENT.to_string()),
            ("ALGORITHMS".to_string(), "ES256,ES384,ES512".to_string()),
        ],
    )
    .await;
    if let Some(e) = f.wait_init().await {
        panic!("init failed: {e}\n{}", f.logs().join("\n"));
    }

    let (input, sig) = node_token.rsplit_once('.').unwrap_or_default();
    let sig_bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig)
        .unwrap_or_default();
    let with_sig = |s: &[u8]| format!("{input}.{}", b64(s));
    let flipped = {
        let mut s = sig_bytes.clone();
        s[100] ^= 0x01;
        s
    };
    let swapped = [&sig_bytes[66..], &sig_bytes[..66]].concat();
    let mut long = sig_bytes.clone();
    long.push(0);
    let lc_sign = |header: Value, c: &Value| {
        let input = format!("{}.{}", b64_json(&header), b64_json(c));
        format!("{input}.{}", b64(&key.sign_raw(input.as_bytes())))
    };
    let mut expired = claims.clone();
    expired["exp"] = json!(jwt::now() - 10);
    let mut other_sub = claims.clone();
    other_sub["sub"] = json!("someone-else");
    // (what, token, our reason when refused; None = allowed)
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("node-signed ES512", node_token.clone(), None),
        ("aws-lc-signed ES512", key.sign(&claims, &json!({})), None),
        (
            "a signature bit flipped",
            with_sig(&flipped),
            Some("bad_signature"),
        ),
        ("r and s swapped", with_sig(&swapped), Some("bad_signature")),
        (
            "131-byte signature",
            with_sig(&sig_bytes[..131]),
            Some("bad_signature"),
        ),
        ("133-byte signature", with_sig(&long), Some("bad_signature")),
        (
            "all-zero signature",
            with_sig(&[0; 132]),
            Some("bad_signature"),
        ),
        ("empty signature", with_sig(&[]), Some("bad_signature")),
        (
            "claims changed, signature kept",
            format!(
                "{}.{}.{sig}",
                input.split('.').next().unwrap_or_default(),
                b64_json(&other_sub)
            ),
            Some("bad_signature"),
        ),
        (
            "header says ES256, P-521 key",
            lc_sign(json!({"alg": "ES256", "kid": "lc-p521"}), &claims),
            Some("key_mismatch"),
        ),
        (
            "header says ES384, P-521 key",
            lc_sign(json!({"alg": "ES384", "kid": "lc-p521"}), &claims),
            Some("key_mismatch"),
        ),
        (
            "expired",
            lc_sign(json!({"alg": "ES512", "kid": "lc-p521"}), &expired),
            Some("expired"),
        ),
        (
            "node's key under the aws-lc kid",
            format!(
                "{}.{}.{sig}",
                b64_json(&json!({"alg": "ES512", "kid": "lc-p521", "typ": "JWT"})),
                input.split('.').nth(1).unwrap_or_default()
            ),
            Some("bad_signature"),
        ),
    ];
    let tokens: Vec<String> = cases.iter().map(|(_, t, _)| t.clone()).collect();
    let theirs = aws_jwt_verify_verdicts(&doc, Use::Access, &tokens);
    let mut ours = Vec::new();
    for t in &tokens {
        let mut e: Value = serde_json::from_str(REST_REQUEST).unwrap();
        e["headers"]["Authorization"] = json!(format!("Bearer {t}"));
        e["multiValueHeaders"]["Authorization"] = json!([format!("Bearer {t}")]);
        ours.push(f.invoke(&e).await);
    }
    let reasons: Vec<String> = f
        .settled_logs()
        .await
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("decision").is_some())
        .map(|v| v["reason"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(reasons.len(), cases.len());
    for (i, (what, _, want)) in cases.iter().enumerate() {
        let allowed = matches!(&ours[i], Outcome::Response(r)
            if r["policyDocument"]["Statement"][0]["Effect"] == "Allow");
        assert_eq!(
            allowed,
            theirs[i].is_ok(),
            "{what}: ours {:?} / {}, aws-jwt-verify {:?}",
            ours[i],
            reasons[i],
            theirs[i]
        );
        match want {
            None => assert!(allowed && reasons[i] == "ok", "{what}: {}", reasons[i]),
            Some(r) => assert_eq!(reasons[i], *r, "{what}"),
        }
    }
}
