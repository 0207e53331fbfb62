//! End-to-end and hostile-token suites for the `authorizer` binary, driven through the Lambda
//! Runtime API emulator against a real JWKS server on 127.0.0.1 with real keys.

use std::time::Duration;

use harness::jwks_server::{JwksServer, Mode};
use harness::jwt::{self, access_claims, b64, b64_json, id_claims, now, sign_hs256, TestKey};
use harness::paths;
use harness::runtime_api::{Function, Outcome};
use serde_json::{json, Value};

const CLIENT: &str = "client-abc123";
const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1";
const SUB: &str = "6f1c2d9e-1111-4a2b-9c3d-222233334444";

const REST_TOKEN: &str = include_str!("../../../authorizer/tests/fixtures/rest_token.json");
const REST_REQUEST: &str = include_str!("../../../authorizer/tests/fixtures/rest_request.json");
const HTTP_V2: &str = include_str!("../../../authorizer/tests/fixtures/http_v2.json");

struct Setup {
    jwks: JwksServer,
    key: TestKey,
    f: Function,
}

fn base_env(jwks: &JwksServer) -> Vec<(String, String)> {
    vec![
        ("ISSUER".into(), ISS.into()),
        ("JWKS_URI".into(), jwks.uri()),
        ("CLIENT_IDS".into(), format!("other-client,{CLIENT}")),
    ]
}

async fn start(env: Vec<(String, String)>) -> Function {
    let f = Function::start(&paths::bin("authorizer"), &env).await;
    if let Some(e) = f.wait_init().await {
        panic!("init failed: {e}\n{}", f.logs().join("\n"));
    }
    f
}

async fn setup(extra: &[(&str, &str)]) -> Setup {
    let key = TestKey::rsa("key-1");
    let jwks = JwksServer::start(jwt::jwks(&[&key])).await;
    let mut env = base_env(&jwks);
    for (k, v) in extra {
        env.retain(|(ek, _)| ek != k);
        env.push((k.to_string(), v.to_string()));
    }
    let f = start(env).await;
    Setup { jwks, key, f }
}

fn token_event(auth: &str) -> Value {
    let mut e: Value = serde_json::from_str(REST_TOKEN).unwrap();
    e["authorizationToken"] = json!(auth);
    e
}

fn request_event(auth: &str) -> Value {
    let mut e: Value = serde_json::from_str(REST_REQUEST).unwrap();
    e["headers"]["Authorization"] = json!(auth);
    e["multiValueHeaders"]["Authorization"] = json!([auth]);
    e
}

fn http_event(auth: &str) -> Value {
    let mut e: Value = serde_json::from_str(HTTP_V2).unwrap();
    e["headers"]["authorization"] = json!(auth);
    e["identitySource"] = json!([auth]);
    e
}

fn good(s: &Setup) -> String {
    s.key.sign(&access_claims(ISS, CLIENT, SUB), &json!({}))
}

/// The token's `iat`, as the context carries it (whole seconds, a string).
fn claim_iat(t: &str) -> String {
    use base64::Engine;
    let p = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t.split('.').nth(1).unwrap())
        .unwrap();
    let v: Value = serde_json::from_slice(&p).unwrap();
    format!("{}", v["iat"].as_f64().unwrap().floor() as i64)
}

/// REST refusal: the Lambda error whose message is exactly `Unauthorized`.
fn assert_rest_refused(o: &Outcome, what: &str) {
    assert_eq!(
        o.error_message(),
        Some("Unauthorized"),
        "{what}: expected Unauthorized, got {o:?}"
    );
}

fn assert_http_refused(o: &Outcome, what: &str) {
    assert_eq!(o.response(), &json!({"isAuthorized": false}), "{what}");
}

fn assert_allowed(o: &Outcome, what: &str) -> Value {
    let r = o.response().clone();
    assert_eq!(r["principalId"], SUB, "{what}: {r}");
    assert_eq!(r["policyDocument"]["Version"], "2012-10-17");
    assert_eq!(
        r["policyDocument"]["Statement"][0]["Effect"], "Allow",
        "{what}: {r}"
    );
    assert_eq!(
        r["policyDocument"]["Statement"][0]["Action"],
        "execute-api:Invoke"
    );
    r
}

/// Every refusal through all three event kinds; the good token through all three is allowed.
async fn assert_refused_everywhere(f: &Function, token: &str, what: &str) {
    for auth in [format!("Bearer {token}"), token.to_string()] {
        assert_rest_refused(&f.invoke(&token_event(&auth)).await, what);
        assert_rest_refused(&f.invoke(&request_event(&auth)).await, what);
        assert_http_refused(&f.invoke(&http_event(&auth)).await, what);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_access_token_allowed_in_every_event_kind() {
    let s = setup(&[]).await;
    let t = good(&s);
    assert_eq!(
        s.jwks.hits(),
        1,
        "JWKS must be fetched once during init (hydrate)"
    );

    let r = assert_allowed(
        &s.f.invoke(&token_event(&format!("Bearer {t}"))).await,
        "token",
    );
    assert_eq!(
        r["policyDocument"]["Statement"][0]["Resource"],
        json!(["arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/prod/*"])
    );
    assert_eq!(
        r["context"],
        json!({"sub": SUB, "iss": ISS, "username": "alice", "client_id": CLIENT,
               "token_use": "access", "scope": "aws.cognito.signin.user.admin", "groups": "",
               "jti": "j-1", "origin_jti": "o-1",
               "iat": claim_iat(&t)})
    );
    // the revocation keys are flat strings, empty when the claim is absent
    let mut c = access_claims(ISS, CLIENT, SUB);
    for k in ["jti", "origin_jti", "iat"] {
        c.as_object_mut().unwrap().remove(k);
    }
    let bare = s.key.sign(&c, &json!({}));
    let r = assert_allowed(&s.f.invoke(&token_event(&bare)).await, "no jti");
    for k in ["jti", "origin_jti", "iat"] {
        assert_eq!(r["context"][k], "", "{k}");
    }
    // bare JWT and odd scheme case
    assert_allowed(&s.f.invoke(&token_event(&t)).await, "bare");
    assert_allowed(
        &s.f.invoke(&request_event(&format!("bEaReR {t}"))).await,
        "request",
    );
    let r = s.f.invoke(&http_event(&format!("Bearer {t}"))).await;
    let r = r.response();
    assert_eq!(r["isAuthorized"], true);
    assert_eq!(r["context"]["sub"], SUB);
    assert_eq!(s.jwks.hits(), 1, "known kid needs no further fetch");

    // The decision does not depend on the incoming route: same policy for another method/path.
    let mut other = request_event(&format!("Bearer {t}"));
    other["methodArn"] =
        json!("arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/DELETE/items/zzz");
    let a =
        s.f.invoke(&request_event(&format!("Bearer {t}")))
            .await
            .response()
            .clone();
    let b = s.f.invoke(&other).await.response().clone();
    assert_eq!(a, b);
    assert_eq!(
        a["policyDocument"]["Statement"][0]["Resource"],
        json!(["arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/*"])
    );

    // Logs: JSON lines, one decision per invocation, never the token or its signature.
    let logs = s.f.settled_logs().await;
    let sig = t.rsplit('.').next().unwrap();
    assert!(
        logs.iter().all(|l| !l.contains(sig) && !l.contains(&t)),
        "token leaked into logs"
    );
    let decisions: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("decision").is_some())
        .collect();
    assert_eq!(decisions.len(), 7, "{logs:?}");
    assert!(decisions
        .iter()
        .all(|d| d["decision"] == "allow" && d["reason"] == "ok"));
    assert!(
        decisions[1..].iter().any(|d| d["memo"] == true),
        "repeats are served from the memo"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arn_partition_is_kept() {
    let s = setup(&[]).await;
    let t = good(&s);
    for (arn, want) in [
        (
            "arn:aws-cn:execute-api:cn-north-1:123456789012:abc/prod/GET/x",
            "arn:aws-cn:execute-api:cn-north-1:123456789012:abc/prod/*",
        ),
        (
            "arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abc/v1/POST/items",
            "arn:aws-us-gov:execute-api:us-gov-west-1:123456789012:abc/v1/*",
        ),
    ] {
        let mut e = token_event(&t);
        e["methodArn"] = json!(arn);
        let r = assert_allowed(&s.f.invoke(&e).await, arn);
        assert_eq!(
            r["policyDocument"]["Statement"][0]["Resource"],
            json!([want])
        );
    }
    // A methodArn that is not an execute-api ARN is refused, never echoed into a policy.
    let mut e = token_event(&t);
    e["methodArn"] = json!("*");
    assert_rest_refused(&s.f.invoke(&e).await, "bad methodArn");
}

/// The hostile-token suite: jwt_tool's playbook and every claim confusion.
/// The reason each hostile case is refused with (checks run in a fixed order: token form,
/// header, `alg`, `crit`, `kid`, payload structure, issuer, key, signature, claims).
fn hostile_reason(case: &str) -> &'static str {
    match case {
        "alg none" | "alg None" | "alg NONE" | "alg nOnE" | "null signature" => "bad_signature",
        "broken signature" | "signature of other payload" | "payload swapped" => "bad_signature",
        "embedded jwk" | "x5c header" | "attacker key same kid" => "bad_signature",
        "truncated signature" => "bad_signature",
        // 256 bytes are 342 characters whose last carries 2 bits: dropping it leaves 341
        // characters, a length no byte string encodes to
        "signature cut mid-character" => "malformed_token",
        "alg none + sig" | "HS256 with public PEM" | "HS256 with PEM no newline" => {
            "alg_not_allowed"
        }
        "HS256 with JWK json" | "HS384 with public PEM" | "HS256 empty key" => "alg_not_allowed",
        "kid path traversal" | "kid sql injection" | "alg missing" => "alg_not_allowed",
        "alg RS512 header" | "alg PS256 header" | "alg ES256 header" | "alg rs256 lowercase" => {
            "alg_not_allowed"
        }
        "embedded jwk other kid" | "kid command injection" | "unknown kid" => "unknown_kid",
        "kid empty" | "kid missing" | "kid huge" => "missing_kid",
        "crit header" | "crit empty" => "crit_header",
        "expired" | "exp now" => "expired",
        "missing exp" => "missing_exp",
        "nbf in future" => "not_yet_valid",
        "iat in future" | "iat 90s ahead" => "iat_in_future",
        "missing iss" | "wrong iss" | "iss trailing slash" | "iss prefix" | "iss case" => {
            "wrong_issuer"
        }
        "id token to access authorizer" | "token_use missing" | "token_use wrong case" => {
            "wrong_token_use"
        }
        "wrong client" | "client prefix" | "aud-only client" => "wrong_client",
        "missing sub" | "empty sub" => "missing_sub",
        "exp as string" | "exp null" | "exp bool" | "exp 1e400" | "nbf as string" => {
            "malformed_claims"
        }
        "iat as string" | "iss array" | "iss null" | "client array" | "sub number" => {
            "malformed_claims"
        }
        "groups not array" | "claims array" | "duplicate sub claim" | "payload not json" => {
            "malformed_claims"
        }
        "alg array" | "kid number" | "duplicate alg header" | "alg none no dot" => {
            "malformed_token"
        }
        "not a jwt" | "two parts" | "JWE five parts" | "padded base64" | "std base64 chars" => {
            "malformed_token"
        }
        "header not json" | "header json array" | "dots" | "unicode" | "nul byte" => {
            "malformed_token"
        }
        "oversized" => "token_too_large",
        "empty" => "no_token",
        "two tokens" => "multiple_tokens",
        other => panic!("hostile case {other:?} has no expected reason"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tokens_are_refused_in_every_event_kind() {
    let s = setup(&[]).await;
    let k = &s.key;
    let attacker = TestKey::rsa("key-1"); // same kid, different key
    let claims = access_claims(ISS, CLIENT, SUB);
    let t = good(&s);
    let (h, p, sig) = {
        let v: Vec<&str> = t.split('.').collect();
        (v[0].to_string(), v[1].to_string(), v[2].to_string())
    };
    let pem = k.public_pem();
    let n = now();

    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        f(&mut c);
        k.sign(&c, &json!({}))
    };

    let mut cases: Vec<(&str, String)> = vec![
        // alg none and its spellings, with and without a signature
        (
            "alg none",
            format!("{}.{p}.", b64_json(&json!({"alg":"none","kid":"key-1"}))),
        ),
        (
            "alg None",
            format!("{}.{p}.", b64_json(&json!({"alg":"None","kid":"key-1"}))),
        ),
        (
            "alg NONE",
            format!("{}.{p}.", b64_json(&json!({"alg":"NONE","kid":"key-1"}))),
        ),
        (
            "alg nOnE",
            format!("{}.{p}.", b64_json(&json!({"alg":"nOnE","kid":"key-1"}))),
        ),
        (
            "alg none + sig",
            format!(
                "{}.{p}.{sig}",
                b64_json(&json!({"alg":"none","kid":"key-1"}))
            ),
        ),
        (
            "alg none no dot",
            format!("{}.{p}", b64_json(&json!({"alg":"none"}))),
        ),
        // null and broken signatures
        ("null signature", format!("{h}.{p}.")),
        ("broken signature", {
            let mut raw =
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &sig)
                    .unwrap();
            raw[10] ^= 1;
            format!("{h}.{p}.{}", b64(&raw))
        }),
        ("truncated signature", {
            // three bytes shorter, canonically re-encoded (a cut mid-character would be a
            // non-canonical encoding, refused earlier as malformed_token)
            let raw =
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &sig)
                    .unwrap();
            format!("{h}.{p}.{}", b64(&raw[..raw.len() - 3]))
        }),
        (
            "signature cut mid-character",
            format!("{h}.{p}.{}", &sig[..sig.len() - 1]),
        ),
        ("signature of other payload", {
            let other = k.sign(&access_claims(ISS, CLIENT, "someone-else"), &json!({}));
            format!("{h}.{p}.{}", other.rsplit('.').next().unwrap())
        }),
        ("payload swapped", {
            let evil = b64_json(&access_claims(ISS, CLIENT, "admin"));
            format!("{h}.{evil}.{sig}")
        }),
        // RS256 -> HS256 key confusion with the public key as HMAC secret
        (
            "HS256 with public PEM",
            sign_hs256(
                &json!({"alg":"HS256","kid":"key-1","typ":"JWT"}),
                &claims,
                pem.as_bytes(),
            ),
        ),
        (
            "HS256 with PEM no newline",
            sign_hs256(
                &json!({"alg":"HS256","kid":"key-1"}),
                &claims,
                pem.trim_end().as_bytes(),
            ),
        ),
        (
            "HS256 with JWK json",
            sign_hs256(
                &json!({"alg":"HS256","kid":"key-1"}),
                &claims,
                k.jwk().to_string().as_bytes(),
            ),
        ),
        ("HS384 with public PEM", {
            let input = format!(
                "{}.{}",
                b64_json(&json!({"alg":"HS384","kid":"key-1"})),
                b64_json(&claims)
            );
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA384, pem.as_bytes());
            format!(
                "{input}.{}",
                b64(aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref())
            )
        }),
        // empty HMAC key
        (
            "HS256 empty key",
            sign_hs256(&json!({"alg":"HS256","kid":"key-1"}), &claims, b""),
        ),
        // embedded jwk (CVE-2018-0114): attacker's key in the header
        (
            "embedded jwk",
            attacker.sign(&claims, &json!({"jwk": attacker.jwk()})),
        ),
        (
            "embedded jwk other kid",
            TestKey::rsa("evil").sign(&claims, &json!({"jwk": TestKey::rsa("evil").jwk()})),
        ),
        (
            "x5c header",
            attacker.sign(&claims, &json!({"x5c": ["MIIB"]})),
        ),
        // kid injection
        (
            "kid path traversal",
            sign_hs256(
                &json!({"alg":"HS256","kid":"../../../../../../dev/null"}),
                &claims,
                b"",
            ),
        ),
        (
            "kid sql injection",
            sign_hs256(
                &json!({"alg":"HS256","kid":"x' UNION SELECT 'key';--"}),
                &claims,
                b"key",
            ),
        ),
        (
            "kid command injection",
            k.sign(&claims, &json!({"kid":"key-1|/usr/bin/touch /tmp/pwned"})),
        ),
        ("kid empty", k.sign(&claims, &json!({"kid":""}))),
        ("kid missing", k.sign(&claims, &json!({"kid": null}))),
        ("kid number", k.sign(&claims, &json!({"kid": 1}))),
        (
            "kid huge",
            k.sign(&claims, &json!({"kid": "k".repeat(4000)})),
        ),
        ("unknown kid", k.sign(&claims, &json!({"kid":"key-2"}))),
        // a different key claiming our kid
        ("attacker key same kid", attacker.sign(&claims, &json!({}))),
        // algorithms outside the configured set, or mismatched with the key
        ("alg RS512 header", k.sign(&claims, &json!({"alg":"RS512"}))),
        ("alg PS256 header", k.sign(&claims, &json!({"alg":"PS256"}))),
        ("alg ES256 header", k.sign(&claims, &json!({"alg":"ES256"}))),
        (
            "alg rs256 lowercase",
            k.sign(&claims, &json!({"alg":"rs256"})),
        ),
        ("alg missing", k.sign(&claims, &json!({"alg": null}))),
        ("alg array", k.sign(&claims, &json!({"alg": ["RS256"]}))),
        // crit
        (
            "crit header",
            k.sign(&claims, &json!({"crit": ["exp"], "exp": 1})),
        ),
        ("crit empty", k.sign(&claims, &json!({"crit": []}))),
        // claim confusion
        ("expired", with(&|c| c["exp"] = json!(n - 5))),
        ("exp now", with(&|c| c["exp"] = json!(n))),
        (
            "missing exp",
            with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
        (
            "exp as string",
            with(&|c| c["exp"] = json!((n + 3600).to_string())),
        ),
        ("exp null", with(&|c| c["exp"] = Value::Null)),
        ("exp bool", with(&|c| c["exp"] = json!(true))),
        ("exp 1e400", {
            let body = serde_json::to_string(&claims)
                .unwrap()
                .replace(&format!("\"exp\":{}", n + 3600), "\"exp\":1e400");
            let input = format!(
                "{}.{}",
                b64_json(&json!({"alg":"RS256","kid":"key-1"})),
                b64(body.as_bytes())
            );
            format!("{input}.{}", b64(&k.sign_raw(input.as_bytes())))
        }),
        ("nbf in future", with(&|c| c["nbf"] = json!(n + 600))),
        ("nbf as string", with(&|c| c["nbf"] = json!("0"))),
        ("iat in future", with(&|c| c["iat"] = json!(n + 3600))),
        ("iat as string", with(&|c| c["iat"] = json!("now"))),
        (
            "missing iss",
            with(&|c| {
                c.as_object_mut().unwrap().remove("iss");
            }),
        ),
        (
            "wrong iss",
            with(&|c| {
                c["iss"] = json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other")
            }),
        ),
        (
            "iss trailing slash",
            with(&|c| c["iss"] = json!(format!("{ISS}/"))),
        ),
        ("iss prefix", with(&|c| c["iss"] = json!(format!("{ISS}0")))),
        ("iss case", with(&|c| c["iss"] = json!(ISS.to_uppercase()))),
        ("iss array", with(&|c| c["iss"] = json!([ISS]))),
        ("iss null", with(&|c| c["iss"] = Value::Null)),
        (
            "id token to access authorizer",
            k.sign(&id_claims(ISS, CLIENT, SUB), &json!({})),
        ),
        (
            "token_use missing",
            with(&|c| {
                c.as_object_mut().unwrap().remove("token_use");
            }),
        ),
        (
            "token_use wrong case",
            with(&|c| c["token_use"] = json!("Access")),
        ),
        (
            "wrong client",
            with(&|c| c["client_id"] = json!("evil-client")),
        ),
        (
            "client prefix",
            with(&|c| c["client_id"] = json!(&CLIENT[..5])),
        ),
        ("client array", with(&|c| c["client_id"] = json!([CLIENT]))),
        (
            "aud-only client",
            with(&|c| {
                c.as_object_mut().unwrap().remove("client_id");
                c["aud"] = json!(CLIENT);
            }),
        ),
        (
            "missing sub",
            with(&|c| {
                c.as_object_mut().unwrap().remove("sub");
            }),
        ),
        ("empty sub", with(&|c| c["sub"] = json!(""))),
        ("sub number", with(&|c| c["sub"] = json!(42))),
        (
            "groups not array",
            with(&|c| c["cognito:groups"] = json!("admin")),
        ),
        (
            "claims array",
            k.sign_with_header(
                &json!({"alg":"RS256","kid":"key-1"}),
                &json!([claims.clone()]),
            ),
        ),
        ("duplicate sub claim", {
            let body =
                serde_json::to_string(&claims)
                    .unwrap()
                    .replacen('{', "{\"sub\":\"admin\",", 1);
            let input = format!(
                "{}.{}",
                b64_json(&json!({"alg":"RS256","kid":"key-1"})),
                b64(body.as_bytes())
            );
            format!("{input}.{}", b64(&k.sign_raw(input.as_bytes())))
        }),
        ("duplicate alg header", {
            let hdr = b64(br#"{"alg":"RS256","kid":"key-1","alg":"none"}"#);
            let input = format!("{hdr}.{p}");
            format!("{input}.{}", b64(&k.sign_raw(input.as_bytes())))
        }),
        // oversized and malformed
        ("oversized", with(&|c| c["pad"] = json!("x".repeat(20_000)))),
        ("not a jwt", "not-a-jwt".to_string()),
        ("two parts", format!("{h}.{p}")),
        ("JWE five parts", format!("{h}.{p}.{sig}.a.b")),
        ("padded base64", format!("{h}=.{p}.{sig}")),
        (
            "std base64 chars",
            format!("{h}.{p}.{}", sig.replace('-', "+").replace('_', "/")),
        ),
        ("header not json", format!("{}.{p}.{sig}", b64(b"not json"))),
        ("header json array", format!("{}.{p}.{sig}", b64(b"[]"))),
        ("payload not json", {
            let input = format!("{h}.{}", b64(b"\xff\xfe garbage"));
            format!("{input}.{}", b64(&k.sign_raw(input.as_bytes())))
        }),
        ("empty", String::new()),
        ("dots", "..".to_string()),
        ("unicode", "тест.тест.тест".to_string()),
        ("nul byte", format!("{h}.{p}.{sig}\u{0}")),
        ("two tokens", format!("{t},{t}")),
    ];
    // Signed, well-formed, but not-yet-valid by 1 s more than the iat skew
    cases.push(("iat 90s ahead", with(&|c| c["iat"] = json!(n + 90))));

    for (what, tok) in &cases {
        assert_refused_everywhere(&s.f, tok, what).await;
    }
    // Positive control with the same process: the genuine token still passes.
    assert_allowed(&s.f.invoke(&token_event(&t)).await, "control");
    assert!(!s.f.exited().await, "no panic on any input");

    // Nothing a stranger sent appears in the logs.
    let logs = s.f.settled_logs().await.join("\n");
    for (what, tok) in &cases {
        if let Some(sg) = tok.rsplit('.').next().filter(|x| x.len() > 20) {
            assert!(!logs.contains(sg), "{what}: token material in logs");
        }
    }
    assert!(!logs.contains(&sig));
    // Every refusal carries a reason code.
    let reasons: Vec<String> =
        s.f.logs()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["decision"] == "unauthorized")
            .map(|v| v["reason"].as_str().unwrap_or("").to_string())
            .collect();
    assert_eq!(reasons.len(), cases.len() * 6);
    // ... and each case its own reason, in every event kind and both forms.
    for (i, (what, _)) in cases.iter().enumerate() {
        let want = hostile_reason(what);
        for got in &reasons[i * 6..i * 6 + 6] {
            assert_eq!(got, want, "{what}: reason");
        }
    }
    for code in [
        "alg_not_allowed",
        "bad_signature",
        "unknown_kid",
        "missing_kid",
        "crit_header",
        "expired",
        "missing_exp",
        "malformed_claims",
        "not_yet_valid",
        "iat_in_future",
        "wrong_issuer",
        "wrong_token_use",
        "wrong_client",
        "missing_sub",
        "token_too_large",
        "malformed_token",
        "multiple_tokens",
        "no_token",
    ] {
        assert!(
            reasons.iter().any(|r| r == code),
            "no refusal logged with reason {code}: {reasons:?}"
        );
    }
    // The unknown-kid storm above caused at most one refresh (cooldown).
    assert!(s.jwks.hits() <= 2, "JWKS hits: {}", s.jwks.hits());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jku_and_x5u_are_never_followed() {
    let s = setup(&[]).await;
    let evil = TestKey::rsa("evil-kid");
    let evil_srv = JwksServer::start(jwt::jwks(&[&evil])).await;
    let claims = access_claims(ISS, CLIENT, SUB);
    for hdr in [
        json!({"jku": evil_srv.uri()}),
        json!({"x5u": evil_srv.uri()}),
    ] {
        let t = evil.sign(&claims, &hdr);
        assert_refused_everywhere(&s.f, &t, "jku/x5u").await;
    }
    assert_eq!(
        evil_srv.hits(),
        0,
        "the authorizer fetched an attacker-supplied URL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psychic_signature_and_symmetric_or_enc_keys() {
    // JWKS with an EC key, an `oct` key and an RSA key marked `use: enc`.
    let ec = TestKey::ec("ec-1");
    let rsa_enc = TestKey::rsa("enc-1");
    let mut enc_jwk = rsa_enc.jwk();
    enc_jwk["use"] = json!("enc");
    let secret = b"0123456789abcdef0123456789abcdef";
    let doc = json!({"keys": [ec.jwk(), enc_jwk, {"kty":"oct","kid":"hs-1","alg":"HS256","k": b64(secret)}]});
    let jwks = JwksServer::start(doc).await;
    let mut env = base_env(&jwks);
    env.push(("ALGORITHMS".into(), "RS256,ES256".into()));
    let f = start(env).await;
    let claims = access_claims(ISS, CLIENT, SUB);

    // Control: a real ES256 token verifies.
    let t = ec.sign(&claims, &json!({}));
    assert_eq!(
        f.invoke(&token_event(&t)).await.response()["principalId"],
        SUB
    );

    // CVE-2022-21449 "psychic signature": r = s = 0.
    let input = format!(
        "{}.{}",
        b64_json(&json!({"alg":"ES256","kid":"ec-1"})),
        b64_json(&claims)
    );
    assert_refused_everywhere(&f, &format!("{input}.{}", b64(&[0u8; 64])), "psychic").await;
    // DER-encoded zero signature, and the order n as r and s.
    assert_refused_everywhere(
        &f,
        &format!("{input}.{}", b64(&[0x30, 6, 2, 1, 0, 2, 1, 0])),
        "psychic der",
    )
    .await;
    // The oct key is never used, even for an HS256 token signed with it.
    let hs = sign_hs256(&json!({"alg":"HS256","kid":"hs-1"}), &claims, secret);
    assert_refused_everywhere(&f, &hs, "oct key").await;
    // An encryption key is never used for signatures.
    assert_refused_everywhere(&f, &rsa_enc.sign(&claims, &json!({})), "enc key").await;
}

/// A JWK is pinned to its `alg`: an RS256 key never verifies a PS256 token, even when PS256 is
/// an accepted algorithm and the PSS signature by that very key is genuine; a JWK without `alg`
/// may verify any accepted algorithm of its type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwk_alg_pins_the_algorithm() {
    let pinned = TestKey::rsa("pinned");
    let free = TestKey::rsa("free");
    let mut free_jwk = free.jwk();
    free_jwk.as_object_mut().unwrap().remove("alg");
    let jwks = JwksServer::start(json!({"keys": [pinned.jwk(), free_jwk]})).await;
    let mut env = base_env(&jwks);
    env.push(("ALGORITHMS".into(), "RS256,PS256".into()));
    let f = start(env).await;
    let claims = access_claims(ISS, CLIENT, SUB);
    let pss_token = |k: &TestKey| {
        let input = format!(
            "{}.{}",
            b64_json(&json!({"alg":"PS256","kid": k.kid})),
            b64_json(&claims)
        );
        format!("{input}.{}", b64(&k.sign_rsa_with(true, input.as_bytes())))
    };
    assert_refused_everywhere(&f, &pss_token(&pinned), "PS256 with an RS256-pinned key").await;
    assert_allowed(
        &f.invoke(&token_event(&pinned.sign(&claims, &json!({}))))
            .await,
        "RS256 pinned",
    );
    assert_allowed(
        &f.invoke(&token_event(&pss_token(&free))).await,
        "PS256 with alg-less JWK",
    );
    let logs = f.settled_logs().await.join("\n");
    assert!(logs.contains("\"reason\":\"key_mismatch\""), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_and_ambiguous_authorization_headers_are_refused() {
    let s = setup(&[]).await;
    let t = good(&s);
    let auth = format!("Bearer {t}");
    let mut e = request_event(&auth);
    e["multiValueHeaders"]["Authorization"] = json!([auth.clone(), auth.clone()]);
    assert_rest_refused(&s.f.invoke(&e).await, "two values");
    let mut e = request_event(&auth);
    e["multiValueHeaders"] = Value::Null;
    // two keys differing in case with different values
    let other = s
        .key
        .sign(&access_claims(ISS, CLIENT, "other-sub"), &json!({}));
    e["headers"]["authorization"] = json!(format!("Bearer {other}"));
    assert_rest_refused(&s.f.invoke(&e).await, "case-variant duplicate");
    // HTTP APIs join repeated headers with a comma
    assert_http_refused(
        &s.f.invoke(&http_event(&format!("{auth},{auth}"))).await,
        "joined",
    );
    // No header at all
    let mut e = request_event(&auth);
    e["headers"]
        .as_object_mut()
        .unwrap()
        .remove("Authorization");
    e["multiValueHeaders"]
        .as_object_mut()
        .unwrap()
        .remove("Authorization");
    assert_rest_refused(&s.f.invoke(&e).await, "missing header");
    // Unknown event shapes fail closed
    for ev in [
        json!({}),
        json!({"type": "SOMETHING"}),
        json!([1, 2]),
        json!("x"),
        json!({"type": "TOKEN"}),
    ] {
        assert_rest_refused(&s.f.invoke(&ev).await, "unknown shape");
    }
    assert!(!s.f.exited().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_verify_header_is_required_when_configured() {
    let secret = "s3cret-origin-verify-value-0001";
    let s = setup(&[(
        "ORIGIN_VERIFY_SECRET",
        &format!("old-secret-rotating-out-01,{secret}"),
    )])
    .await;
    let t = good(&s);
    let auth = format!("Bearer {t}");
    // missing
    assert_rest_refused(&s.f.invoke(&request_event(&auth)).await, "missing");
    assert_http_refused(&s.f.invoke(&http_event(&auth)).await, "missing");
    // wrong, prefix, case
    for bad in [
        "nope",
        &secret[..10],
        &secret.to_uppercase(),
        &format!("{secret} "),
    ] {
        let mut e = request_event(&auth);
        e["headers"]["X-Origin-Verify"] = json!(bad);
        assert_rest_refused(&s.f.invoke(&e).await, bad);
    }
    // TOKEN events cannot carry it
    assert_rest_refused(&s.f.invoke(&token_event(&auth)).await, "token event");
    // right (either secret during rotation)
    for good_secret in [secret, "old-secret-rotating-out-01"] {
        let mut e = request_event(&auth);
        e["headers"]["x-origin-verify"] = json!(good_secret);
        assert_allowed(&s.f.invoke(&e).await, "right secret");
        let mut e = http_event(&auth);
        e["headers"]["x-origin-verify"] = json!(good_secret);
        assert_eq!(s.f.invoke(&e).await.response()["isAuthorized"], true);
    }
    assert!(
        !s.f.settled_logs().await.join("\n").contains(secret),
        "secret logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_rules_give_explicit_denies() {
    let rules = r#"[{"route":"DELETE /items/{id}","groups_any":["admin"]},
                    {"route":"ANY /reports/*","scopes_all":["reports/read"]}]"#;
    let s = setup(&[("ROUTE_RULES", rules), ("ROUTE_DEFAULT", "allow")]).await;
    let plain = good(&s);
    let mut c = access_claims(ISS, CLIENT, SUB);
    c["cognito:groups"] = json!(["admin", "ops"]);
    c["scope"] = json!("reports/read openid");
    let admin = s.key.sign(&c, &json!({}));

    let r = assert_allowed(
        &s.f.invoke(&request_event(&format!("Bearer {plain}"))).await,
        "plain",
    );
    let st = &r["policyDocument"]["Statement"];
    assert_eq!(
        st[0]["Resource"],
        json!(["arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/*"])
    );
    assert_eq!(st[1]["Effect"], "Deny");
    // Every form API Gateway can present a denied path in: extra leading slashes too (issue 9).
    assert_eq!(
        st[1]["Resource"],
        json!([
            "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/DELETE/items/*",
            "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/DELETE//*items/*",
            "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/*/reports/*",
            "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/*//*reports/*"
        ])
    );
    let r = assert_allowed(
        &s.f.invoke(&request_event(&format!("Bearer {admin}"))).await,
        "admin",
    );
    assert_eq!(
        r["policyDocument"]["Statement"].as_array().unwrap().len(),
        1,
        "{r}"
    );
    assert_eq!(r["context"]["groups"], "admin,ops");

    // HTTP API with rules answers in IAM form
    let r = s.f.invoke(&http_event(&format!("Bearer {plain}"))).await;
    let r = r.response();
    assert_eq!(r["policyDocument"]["Statement"][1]["Effect"], "Deny", "{r}");
    assert_eq!(
        r["policyDocument"]["Statement"][0]["Resource"],
        json!(["arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/*"])
    );
    // ... and refuses bad tokens with a Deny policy (403), not isAuthorized
    let r = s.f.invoke(&http_event("Bearer x.y.z")).await;
    let r = r.response();
    assert_eq!(r["policyDocument"]["Statement"][0]["Effect"], "Deny");
    assert_eq!(
        r["policyDocument"]["Statement"][0]["Resource"],
        json!(["arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/*"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_by_default_rules_deny_everything_for_unprivileged() {
    let rules = r#"[{"route":"GET /items","groups_any":["readers"]}]"#;
    let s = setup(&[("ROUTE_RULES", rules)]).await;
    let plain = good(&s);
    // valid token, no route permitted: explicit Deny (403), not Unauthorized (401)
    let r = s.f.invoke(&token_event(&plain)).await;
    let r = r.response();
    assert_eq!(r["principalId"], SUB);
    assert_eq!(
        r["policyDocument"]["Statement"].as_array().unwrap().len(),
        1
    );
    assert_eq!(r["policyDocument"]["Statement"][0]["Effect"], "Deny");
    assert_eq!(
        r["policyDocument"]["Statement"][0]["Resource"],
        json!(["arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/prod/*"])
    );
    let mut c = access_claims(ISS, CLIENT, SUB);
    c["cognito:groups"] = json!(["readers"]);
    let reader = s.key.sign(&c, &json!({}));
    let r = assert_allowed(&s.f.invoke(&token_event(&reader)).await, "reader");
    assert_eq!(
        r["policyDocument"]["Statement"][0]["Resource"],
        json!(["arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/prod/GET/items"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_tokens_and_leeway() {
    let s = setup(&[("TOKEN_USE", "id"), ("LEEWAY_SECONDS", "120")]).await;
    let n = now();
    let id = s.key.sign(&id_claims(ISS, CLIENT, SUB), &json!({}));
    let r = assert_allowed(&s.f.invoke(&token_event(&id)).await, "id token");
    assert_eq!(r["context"]["token_use"], "id");
    assert_eq!(r["context"]["client_id"], CLIENT);
    // access token refused by an id authorizer
    assert_refused_everywhere(&s.f, &good(&s), "access to id").await;
    // Cognito id tokens carry a string aud: an array, even one containing the client, is
    // refused (as aws-jwt-verify's Cognito verifier does); a wrong aud is refused
    let mut c = id_claims(ISS, CLIENT, SUB);
    c["aud"] = json!(["x", CLIENT]);
    assert_refused_everywhere(&s.f, &s.key.sign(&c, &json!({})), "aud array").await;
    c["aud"] = json!("evil");
    assert_refused_everywhere(&s.f, &s.key.sign(&c, &json!({})), "wrong aud").await;
    // leeway: expired 60 s ago is inside 120 s; 180 s ago is not
    let mut c = id_claims(ISS, CLIENT, SUB);
    c["exp"] = json!(n - 60);
    assert_allowed(
        &s.f.invoke(&token_event(&s.key.sign(&c, &json!({})))).await,
        "in leeway",
    );
    c["exp"] = json!(n - 180);
    assert_refused_everywhere(&s.f, &s.key.sign(&c, &json!({})), "past leeway").await;
    let mut c = id_claims(ISS, CLIENT, SUB);
    c["nbf"] = json!(n + 60);
    assert_allowed(
        &s.f.invoke(&token_event(&s.key.sign(&c, &json!({})))).await,
        "nbf in leeway",
    );
    c["nbf"] = json!(n + 300);
    assert_refused_everywhere(&s.f, &s.key.sign(&c, &json!({})), "nbf past leeway").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_fails_init_with_a_clear_message() {
    let jwks = JwksServer::start(json!({"keys": []})).await;
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![("ISSUER", ISS.into()), ("JWKS_URI", jwks.uri())],
            "CLIENT_IDS",
        ),
        (vec![("CLIENT_IDS", CLIENT.into())], "USER_POOL_ID"),
        (
            vec![
                ("USER_POOL_ID", "garbage".into()),
                ("CLIENT_IDS", CLIENT.into()),
            ],
            "USER_POOL_ID",
        ),
        (
            vec![
                ("ISSUER", ISS.into()),
                ("CLIENT_IDS", CLIENT.into()),
                ("LEEWAY_SECONDS", "3600".into()),
            ],
            "LEEWAY_SECONDS",
        ),
        (
            vec![
                ("ISSUER", ISS.into()),
                ("CLIENT_IDS", CLIENT.into()),
                ("TOKEN_USE", "any".into()),
            ],
            "TOKEN_USE",
        ),
        (
            vec![
                ("ISSUER", ISS.into()),
                ("CLIENT_IDS", CLIENT.into()),
                ("JWKS_URI", "http://jwks.example.com/k".into()),
            ],
            "JWKS_URI",
        ),
    ];
    for (env, setting) in cases {
        let env: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let f = Function::start(&paths::bin("authorizer"), &env).await;
        let err = f
            .wait_init()
            .await
            .unwrap_or_else(|| panic!("{setting}: init must fail"));
        assert!(err.contains(setting), "{setting}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_and_removal() {
    let s = setup(&[("JWKS_COOLDOWN_SECONDS", "1")]).await;
    let t1 = good(&s);
    assert_allowed(&s.f.invoke(&token_event(&t1)).await, "k1");
    assert_allowed(&s.f.invoke(&token_event(&t1)).await, "k1 memo");

    // Rotate: publish k2 next to k1. A k2 token triggers one refresh and is accepted.
    let k2 = TestKey::rsa("key-2");
    s.jwks.set_doc(jwt::jwks(&[&s.key, &k2]));
    let t2 = k2.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));
    assert_allowed(&s.f.invoke(&token_event(&t2)).await, "k2 after rotation");
    assert_eq!(s.jwks.hits(), 2);
    assert_allowed(&s.f.invoke(&token_event(&t1)).await, "k1 still listed");

    // Remove k1. The next refresh (triggered by a new kid after the cooldown) drops it at once,
    // and the memoised k1 decision goes with it.
    let k3 = TestKey::rsa("key-3");
    s.jwks.set_doc(jwt::jwks(&[&k2, &k3]));
    let t3 = k3.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));
    // within the cooldown the new kid is not fetched
    assert_rest_refused(&s.f.invoke(&token_event(&t3)).await, "cooldown");
    assert_eq!(s.jwks.hits(), 2);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_allowed(&s.f.invoke(&token_event(&t3)).await, "k3 after cooldown");
    assert_eq!(s.jwks.hits(), 3);
    assert_rest_refused(
        &s.f.invoke(&token_event(&t1)).await,
        "k1 removed (memo forgotten)",
    );
    assert_allowed(&s.f.invoke(&token_event(&t2)).await, "k2 kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refetch_storm_is_bounded() {
    let s = setup(&[("JWKS_COOLDOWN_SECONDS", "30")]).await;
    let claims = access_claims(ISS, CLIENT, SUB);
    for i in 0..300 {
        let t = s.key.sign(&claims, &json!({"kid": format!("random-{i}")}));
        assert_rest_refused(&s.f.invoke(&token_event(&t)).await, "random kid");
    }
    assert!(
        s.jwks.hits() <= 2,
        "300 random kids caused {} fetches",
        s.jwks.hits()
    );
    assert_allowed(
        &s.f.invoke(&token_event(&good(&s))).await,
        "good token unaffected",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_outage_keeps_known_keys_until_max_staleness() {
    for mode in [Mode::Status(500), Mode::Garbage, Mode::Close] {
        let s = setup(&[
            ("JWKS_COOLDOWN_SECONDS", "1"),
            ("JWKS_REFRESH_SECONDS", "1"),
            ("JWKS_MAX_STALE_SECONDS", "3"),
        ])
        .await;
        s.jwks.set_mode(mode.clone());
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // Copy is older than the refresh interval and every refresh fails: distinct, fresh tokens
        // (no memo) still verify with the known key.
        for i in 0..3 {
            let t = s.key.sign(
                &access_claims(ISS, CLIENT, &format!("user-{i}")),
                &json!({}),
            );
            let r = s.f.invoke(&token_event(&t)).await;
            assert_eq!(r.response()["principalId"], format!("user-{i}"), "{mode:?}");
        }
        let hits_during = s.jwks.hits();
        assert!(
            hits_during >= 2,
            "{mode:?}: a refresh must have been attempted"
        );
        // Past the maximum staleness the authorizer fails closed, memo included.
        let t = good(&s);
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_rest_refused(&s.f.invoke(&token_event(&t)).await, "stale");
        assert_http_refused(&s.f.invoke(&http_event(&t)).await, "stale");
        // Recovery: the endpoint comes back; after the back-off the keys are trusted again.
        s.jwks.set_mode(Mode::Serve);
        let mut ok = false;
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if let Outcome::Response(_) = s.f.invoke(&token_event(&t)).await {
                ok = true;
                break;
            }
        }
        assert!(ok, "{mode:?}: did not recover after the endpoint came back");
        let logs = s.f.settled_logs().await.join("\n");
        assert!(logs.contains("jwks_fetch_failed"), "{mode:?}");
        assert!(logs.contains("\"reason\":\"jwks_stale\""), "{mode:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_hang_times_out_and_init_survives_a_dead_endpoint() {
    // Endpoint down during init: init still completes; tokens are refused until it is back.
    let key = TestKey::rsa("key-1");
    let jwks = JwksServer::start(jwt::jwks(&[&key])).await;
    jwks.set_mode(Mode::Status(503));
    let mut env = base_env(&jwks);
    env.push(("JWKS_COOLDOWN_SECONDS".into(), "1".into()));
    let f = start(env).await;
    let t = key.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));
    assert_rest_refused(&f.invoke(&token_event(&t)).await, "no keys yet");
    jwks.set_mode(Mode::Serve);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_allowed(&f.invoke(&token_event(&t)).await, "after recovery");

    // A hanging endpoint costs at most the fetch timeout (3 s), then the request is refused.
    let k2 = TestKey::rsa("key-2");
    jwks.set_mode(Mode::Hang);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = std::time::Instant::now();
    let t2 = k2.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));
    assert_rest_refused(&f.invoke(&token_event(&t2)).await, "hang");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(10),
        "{took:?}"
    );
    // known key unaffected
    assert_allowed(&f.invoke(&token_event(&t)).await, "known key during hang");
}

/// Any change to a valid token's text — one character replaced, deleted or inserted anywhere —
/// is refused (the signature covers the exact bytes; base64url decoding is canonical), and the
/// process survives all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutation_of_a_valid_token_is_refused() {
    let s = setup(&[]).await;
    let t = good(&s);
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((seed >> 33) as usize) % n
    };
    let mut tried = 0;
    for _ in 0..600 {
        let mut b = t.as_bytes().to_vec();
        let pos = next(b.len());
        match next(3) {
            0 => b[pos] = ALPHABET[next(ALPHABET.len())],
            1 => {
                b.remove(pos);
            }
            _ => b.insert(pos, ALPHABET[next(ALPHABET.len())]),
        }
        let m = String::from_utf8(b).unwrap();
        if m == t {
            continue;
        }
        tried += 1;
        assert_rest_refused(
            &s.f.invoke(&token_event(&m)).await,
            &format!("mutation at {pos}"),
        );
    }
    assert!(tried > 500);
    assert_allowed(&s.f.invoke(&token_event(&t)).await, "original still valid");
    assert!(!s.f.exited().await);
}

/// The reason codes of the decision lines logged so far, in order.
pub(crate) async fn decision_reasons(f: &Function) -> Vec<String> {
    f.settled_logs()
        .await
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v.get("decision").is_some())
        .map(|v| v["reason"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetched_jwks_without_usable_keys_fails_closed_at_once() {
    for (case, doc) in [
        ("empty keys", json!({"keys": []})),
        ("key re-marked enc", {
            let k = TestKey::rsa("key-1");
            let mut jwk = k.jwk();
            jwk["use"] = json!("enc");
            json!({ "keys": [jwk] })
        }),
    ] {
        let s = setup(&[("JWKS_REFRESH_SECONDS", "1")]).await;
        let t = good(&s);
        assert_allowed(&s.f.invoke(&token_event(&t)).await, case);
        // The issuer withdraws its key: the next refresh (the copy is older than 1 s) empties
        // the set, and the memoised decision goes with it — not 24 h of staleness.
        s.jwks.set_doc(if case == "key re-marked enc" {
            let mut jwk = s.key.jwk();
            jwk["use"] = json!("enc");
            json!({ "keys": [jwk] })
        } else {
            doc.clone()
        });
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_refused_everywhere(&s.f, &t, case).await;
        let reasons = decision_reasons(&s.f).await;
        assert!(
            reasons[1..].iter().all(|r| r == "jwks_no_usable_keys"),
            "{case}: {reasons:?}"
        );
        assert_eq!(reasons.len(), 7, "{case}");
        // Garbage is an outage, not a withdrawal: keys come back with the next good document.
        s.jwks.set_doc(jwt::jwks(&[&s.key]));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_allowed(&s.f.invoke(&token_event(&t)).await, "restored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_issuer_has_its_own_key_set() {
    const ISS_B: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_PoolB";
    let key_a = TestKey::rsa("key-a");
    let key_b = TestKey::rsa("key-b");
    let jwks_a = JwksServer::start(jwt::jwks(&[&key_a])).await;
    let jwks_b = JwksServer::start(jwt::jwks(&[&key_b])).await;
    let f = start(vec![
        ("ISSUER".into(), format!("{ISS},{ISS_B}")),
        (
            "JWKS_URI".into(),
            format!("{},{}", jwks_a.uri(), jwks_b.uri()),
        ),
        ("CLIENT_IDS".into(), CLIENT.into()),
    ])
    .await;
    assert_eq!(jwks_a.hits(), 1, "each key set hydrated at init");
    assert_eq!(jwks_b.hits(), 1, "each key set hydrated at init");
    let a = key_a.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));
    let b = key_b.sign(&access_claims(ISS_B, CLIENT, SUB), &json!({}));
    assert_allowed(&f.invoke(&token_event(&a)).await, "issuer A with A's key");
    let rb = f.invoke(&token_event(&b)).await.response().clone();
    assert_eq!(
        rb["policyDocument"]["Statement"][0]["Effect"], "Allow",
        "issuer B with B's key: {rb}"
    );
    // A key of issuer B never verifies a token claiming issuer A, and the other way round.
    let a_signed_by_b = key_b.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));
    let b_signed_by_a = key_a.sign(&access_claims(ISS_B, CLIENT, SUB), &json!({}));
    let before = decision_reasons(&f).await.len();
    assert_refused_everywhere(&f, &a_signed_by_b, "A's iss, B's key").await;
    assert_refused_everywhere(&f, &b_signed_by_a, "B's iss, A's key").await;
    let reasons = decision_reasons(&f).await;
    assert!(
        reasons[before..].iter().all(|r| r == "unknown_kid"),
        "{reasons:?}"
    );
    // An unknown kid of issuer B refreshes only B's key set.
    let a_hits = jwks_a.hits();
    assert!(jwks_b.hits() >= 2);
    assert_eq!(jwks_a.hits(), a_hits);
    assert!(!f.exited().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_over_tls_with_a_private_ca_needs_jwks_ca_file() {
    use harness::jwks_server::TestCa;
    let ca = TestCa::generate();
    let key = TestKey::rsa("key-1");
    let jwks = JwksServer::start_tls(jwt::jwks(&[&key]), &ca).await;
    assert!(jwks.uri().starts_with("https://127.0.0.1:"));
    let env = |extra: Option<String>| {
        let mut e = vec![
            ("ISSUER".to_string(), ISS.to_string()),
            ("JWKS_URI".to_string(), jwks.uri()),
            ("CLIENT_IDS".to_string(), CLIENT.to_string()),
        ];
        if let Some(path) = extra {
            e.push(("JWKS_CA_FILE".to_string(), path));
        }
        e
    };
    let token = key.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));

    // With the CA: the init-phase fetch over TLS succeeds and the token verifies.
    let f = start(env(Some(ca.ca_pem_path.display().to_string()))).await;
    assert_allowed(&f.invoke(&token_event(&token)).await, "private CA trusted");
    assert_eq!(jwks.hits(), 1, "hydrated once over TLS");

    // Without it: the certificate is not trusted (only the Mozilla roots are), the fetch fails
    // and every token is refused (jwks_unavailable) — fail closed, no fallback to plain trust.
    let f = start(env(None)).await;
    assert_refused_everywhere(&f, &token, "untrusted JWKS certificate").await;
    let reasons = decision_reasons(&f).await;
    assert!(
        reasons.iter().all(|r| r == "jwks_unavailable"),
        "{reasons:?}"
    );

    // A CA file that is missing or not PEM fails the init phase with the setting named.
    for bad in ["/nonexistent/ca.pem", "/etc/hostname"] {
        let f = Function::start(&paths::bin("authorizer"), &env(Some(bad.into()))).await;
        let msg = f.wait_init().await.expect("init must fail");
        assert!(msg.contains("JWKS_CA_FILE"), "{bad}: {msg}");
    }
}

/// Two issuers, one `sub`: the identity handed on (principalId, context `sub`) differs, so crud
/// keys their items apart; the primary issuer (and its other Cognito form) keeps the plain `sub`,
/// the other gets `iss:<16 hex>:<sub>`; `iss` is in the context and the decision log; a `sub`
/// spelling an owner id is refused (`reserved_sub`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_of_two_issuers_never_collide() {
    const ISS_GLOBAL: &str =
        "https://issuer-cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1";
    const ISS_B: &str = "https://login.example.com/tenant-b";
    let key_a = TestKey::rsa("key-a");
    let key_b = TestKey::rsa("key-b");
    let jwks_a = JwksServer::start(jwt::jwks(&[&key_a])).await;
    let jwks_b = JwksServer::start(jwt::jwks(&[&key_b])).await;
    let f = start(vec![
        ("ISSUER".into(), format!("{ISS},{ISS_B},{ISS_GLOBAL}")),
        (
            "JWKS_URI".into(),
            format!("{},{},{}", jwks_a.uri(), jwks_b.uri(), jwks_a.uri()),
        ),
        ("CLIENT_IDS".into(), CLIENT.into()),
    ])
    .await;
    let allow = |o: &Outcome, what: &str| -> Value {
        let r = o.response().clone();
        assert_eq!(
            r["policyDocument"]["Statement"][0]["Effect"], "Allow",
            "{what}: {r}"
        );
        assert_eq!(r["principalId"], r["context"]["sub"], "{what}: {r}");
        r
    };
    let a = key_a.sign(&access_claims(ISS, CLIENT, SUB), &json!({}));
    let a2 = key_a.sign(&access_claims(ISS_GLOBAL, CLIENT, SUB), &json!({}));
    let b = key_b.sign(&access_claims(ISS_B, CLIENT, SUB), &json!({}));
    let mut owner_b = String::new();
    for ev in [token_event, request_event] {
        let ra = allow(&f.invoke(&ev(&a)).await, "primary");
        let ra2 = allow(&f.invoke(&ev(&a2)).await, "primary, global form");
        let rb = allow(&f.invoke(&ev(&b)).await, "second issuer");
        assert_eq!(
            ra["principalId"], SUB,
            "the primary issuer keeps the plain sub"
        );
        assert_eq!(ra2["principalId"], SUB, "one pool, one namespace");
        assert_eq!(ra["context"]["iss"], ISS);
        assert_eq!(ra2["context"]["iss"], ISS_GLOBAL);
        assert_eq!(rb["context"]["iss"], ISS_B);
        let pb = rb["principalId"].as_str().unwrap_or_default().to_string();
        assert_ne!(pb, SUB, "same sub at another issuer is another principal");
        let tag = pb.strip_suffix(SUB).unwrap_or_default();
        assert!(
            tag.len() == 21
                && tag.starts_with("iss:")
                && tag.ends_with(':')
                && tag[4..20]
                    .bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)),
            "{pb}"
        );
        owner_b = pb;
    }
    // the decision log carries the issuer
    let logs: Vec<Value> = f
        .settled_logs()
        .await
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    let allows: Vec<&Value> = logs.iter().filter(|v| v["decision"] == "allow").collect();
    assert_eq!(allows.len(), 6);
    assert!(allows.iter().any(|v| v["iss"] == ISS_B && v["sub"] != SUB));
    assert!(allows.iter().all(|v| v["iss"].is_string()), "{allows:?}");
    let ns: Vec<&Value> = logs
        .iter()
        .filter(|v| v["event"] == "owner_namespace")
        .collect();
    assert_eq!(ns.len(), 3, "{logs:?}");
    // issuer B's admin cannot spell a primary user's owner id, nor another issuer's
    let before = decision_reasons(&f).await.len();
    for (key, iss, sub) in [
        (&key_b, ISS_B, "iss:0123456789abcdef:x".to_string()),
        (&key_a, ISS, owner_b.clone()),
    ] {
        let t = key.sign(&access_claims(iss, CLIENT, &sub), &json!({}));
        assert_refused_everywhere(&f, &t, "reserved sub").await;
    }
    let reasons = decision_reasons(&f).await;
    assert_eq!(reasons.len(), before + 12);
    assert!(
        reasons[before..].iter().all(|r| r == "reserved_sub"),
        "{reasons:?}"
    );
}

/// Issue 23: a JWK whose material stays but which the issuer narrows (adds `alg`, changes `use`
/// or `key_ops`) is a new key on the next refresh: a warm instance stops accepting what the
/// narrowed key no longer allows, memoised decisions included, as a fresh instance would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowed_jwk_takes_effect_on_warm_instances() {
    let key = TestKey::rsa("key-1");
    let mut free = key.jwk();
    free.as_object_mut().map(|o| o.remove("alg"));
    let jwks = JwksServer::start(json!({ "keys": [free.clone()] })).await;
    let mut env = base_env(&jwks);
    env.push(("ALGORITHMS".into(), "RS256,PS256".into()));
    env.push(("JWKS_REFRESH_SECONDS".into(), "1".into()));
    let f = start(env).await;
    let claims = access_claims(ISS, CLIENT, SUB);
    let input = format!(
        "{}.{}",
        b64_json(&json!({"alg":"PS256","kid": key.kid})),
        b64_json(&claims)
    );
    let pss = format!(
        "{input}.{}",
        b64(&key.sign_rsa_with(true, input.as_bytes()))
    );
    let rs = key.sign(&claims, &json!({}));
    for narrowed in [
        json!({"alg": "RS256"}),
        json!({"use": "enc"}),
        json!({"key_ops": ["encrypt"]}),
    ] {
        jwks.set_doc(json!({ "keys": [free.clone()] }));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_allowed(&f.invoke(&token_event(&pss)).await, "PS256, alg-less JWK");
        assert_allowed(&f.invoke(&token_event(&pss)).await, "PS256 again (memo)");
        let mut jwk = free.clone();
        if let (Some(o), Some(n)) = (jwk.as_object_mut(), narrowed.as_object()) {
            o.extend(n.clone());
        }
        jwks.set_doc(json!({ "keys": [jwk] }));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let before = decision_reasons(&f).await.len();
        assert_refused_everywhere(&f, &pss, &format!("PS256 after {narrowed}")).await;
        let reasons = decision_reasons(&f).await;
        let want = if narrowed["alg"].is_string() {
            // the key is still there for RS256
            assert_allowed(&f.invoke(&token_event(&rs)).await, "RS256 still allowed");
            "key_mismatch"
        } else {
            "jwks_no_usable_keys"
        };
        assert!(
            reasons[before..].len() == 6 && reasons[before..].iter().all(|r| r == want),
            "{narrowed}: {:?}",
            &reasons[before..]
        );
    }
}

/// Issue 23: the context's `groups` (names joined with ',') always reads back as the token's list:
/// a name containing ',' or an empty name refuses the token (`ambiguous_groups`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_in_the_context_parse_back_exactly() {
    let s = setup(&[]).await;
    let with_groups = |g: Value| {
        let mut c = access_claims(ISS, CLIENT, SUB);
        c["cognito:groups"] = g;
        s.key.sign(&c, &json!({}))
    };
    for groups in [
        json!([]),
        json!(["staff", "admin"]),
        json!(["d e", "a;b", "é"]),
    ] {
        let t = with_groups(groups.clone());
        let want: Vec<String> = serde_json::from_value(groups).unwrap_or_default();
        for r in [
            assert_allowed(&s.f.invoke(&token_event(&t)).await, "groups"),
            s.f.invoke(&http_event(&t)).await.response().clone(),
        ] {
            let joined = r["context"]["groups"].as_str().unwrap_or("?").to_string();
            let back: Vec<String> = if joined.is_empty() {
                Vec::new()
            } else {
                joined.split(',').map(str::to_string).collect()
            };
            assert_eq!(back, want, "{r}");
        }
    }
    let before = decision_reasons(&s.f).await.len();
    for bad in [json!(["staff,admin"]), json!(["a", ""]), json!([","])] {
        assert_refused_everywhere(&s.f, &with_groups(bad.clone()), &bad.to_string()).await;
    }
    let reasons = decision_reasons(&s.f).await;
    assert_eq!(reasons.len(), before + 18);
    assert!(
        reasons[before..].iter().all(|r| r == "ambiguous_groups"),
        "{reasons:?}"
    );
}

/// Issue 23: every weak-key class is refused at JWKS load through the real binary, logged with
/// the kid and a class code (never the key); a JWKS of weak keys only is "no usable keys"; valid
/// keys of every size and curve next to them are accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weak_jwks_keys_are_refused_by_class_and_logged_by_kid() {
    let fixture = |s: &str| -> Vec<Value> {
        serde_json::from_str::<Value>(s).unwrap()["keys"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let small = fixture(include_str!(
        "../../../authorizer/tests/fixtures/weak_rsa.json"
    ));
    let roca = fixture(include_str!(
        "../../../authorizer/tests/fixtures/roca_rsa.json"
    ));
    let real = TestKey::rsa("rsa-e");
    let ec = TestKey::ec("ec-good");
    let with = |k: &TestKey, kid: &str, member: &str, v: Value| {
        let mut j = k.jwk();
        j["kid"] = json!(kid);
        j[member] = v;
        j
    };
    let mut off_curve = ec.jwk();
    let y = off_curve["y"].as_str().unwrap_or_default().to_string();
    let mut yb = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &y)
        .unwrap_or_default();
    if let Some(last) = yb.last_mut() {
        *last ^= 1;
    }
    off_curve["y"] = json!(b64(&yb));
    off_curve["kid"] = json!("ec-off-curve");
    let mut weak = vec![
        (small[0].clone(), "rsa_too_small"),
        (small[1].clone(), "rsa_too_small"),
        (roca[0].clone(), "rsa_roca_fingerprint"),
        (with(&real, "rsa-e1", "e", json!("AQ")), "rsa_bad_exponent"),
        (
            with(&real, "rsa-e65536", "e", json!("AQAA")),
            "rsa_bad_exponent",
        ),
        (off_curve, "ec_point_not_on_curve"),
        (
            with(&ec, "ec-as-p384", "crv", json!("P-384")),
            "crv_mismatch",
        ),
    ];
    let mut ed = TestKey::ed("x").jwk();
    ed["kid"] = json!("okp-x25519");
    ed["crv"] = json!("X25519");
    weak.push((ed, "crv_mismatch"));
    let weak_keys: Vec<Value> = weak.iter().map(|(k, _)| k.clone()).collect();
    // valid keys of every size and curve next to them
    let valid = [
        TestKey::rsa_sized("rsa-3072", aws_lc_rs::rsa::KeySize::Rsa3072),
        TestKey::rsa_sized("rsa-4096", aws_lc_rs::rsa::KeySize::Rsa4096),
        TestKey::ec384("ec-p384"),
        TestKey::ec521("ec-p521"),
        TestKey::ed("ed25519"),
    ];
    let mut all = weak_keys.clone();
    all.push(real.jwk());
    all.push(ec.jwk());
    all.extend(valid.iter().map(TestKey::jwk));
    let jwks = JwksServer::start(json!({ "keys": all })).await;
    let mut env = base_env(&jwks);
    env.push(("ALGORITHMS".into(), "RS256,ES256,ES384,ES512,EdDSA".into()));
    env.push(("JWKS_REFRESH_SECONDS".into(), "1".into()));
    let f = start(env).await;

    let claims = access_claims(ISS, CLIENT, SUB);
    assert_allowed(
        &f.invoke(&token_event(&real.sign(&claims, &json!({}))))
            .await,
        "RSA",
    );
    assert_allowed(
        &f.invoke(&token_event(&ec.sign(&claims, &json!({})))).await,
        "EC",
    );
    for k in &valid {
        assert_allowed(
            &f.invoke(&token_event(&k.sign(&claims, &json!({})))).await,
            &k.kid,
        );
    }
    // the real RSA key's material under a weak exponent's kid is not a key
    let before = decision_reasons(&f).await.len();
    for kid in ["rsa-e1", "rsa-e65536", "rsa-1024", "rsa-roca"] {
        let t = real.sign(&claims, &json!({ "kid": kid }));
        assert_rest_refused(&f.invoke(&token_event(&t)).await, kid);
    }
    let t = ec.sign(&claims, &json!({"kid": "ec-as-p384", "alg": "ES384"}));
    assert_rest_refused(&f.invoke(&token_event(&t)).await, "ec-as-p384");
    let reasons = decision_reasons(&f).await;
    assert!(
        reasons[before..].iter().all(|r| r == "unknown_kid"),
        "{:?}",
        &reasons[before..]
    );

    let logs = f.settled_logs().await;
    let refused: Vec<(String, String)> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "jwk_refused")
        .map(|v| {
            (
                v["kid"].as_str().unwrap_or("").to_string(),
                v["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (k, code) in &weak {
        let kid = k["kid"].as_str().unwrap_or_default();
        assert!(
            refused.iter().any(|(rk, rc)| rk == kid && rc == code),
            "{kid} {code}: {refused:?}"
        );
    }
    // only weak keys are refused (each once per fetch)
    assert!(
        refused
            .iter()
            .all(|(rk, _)| weak.iter().any(|(k, _)| k["kid"] == rk.as_str())),
        "{refused:?}"
    );
    // never the key material
    let text = logs.join("\n");
    for (k, _) in &weak {
        for m in ["n", "x", "y"] {
            if let Some(v) = k[m].as_str() {
                assert!(!text.contains(&v[..24.min(v.len())]), "key material logged");
            }
        }
    }

    // only weak keys: no usable key at all
    jwks.set_doc(json!({ "keys": weak_keys }));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let before = decision_reasons(&f).await.len();
    assert_rest_refused(
        &f.invoke(&token_event(&real.sign(&claims, &json!({}))))
            .await,
        "weak only",
    );
    let reasons = decision_reasons(&f).await;
    assert_eq!(reasons[before..], ["jwks_no_usable_keys".to_string()]);
}
