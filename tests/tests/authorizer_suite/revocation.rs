//! The authorizer's synced revocation set, through the real `authorizer` binary under the Runtime
//! API emulator, with its revocation table in moto behind the fault proxy: exact reason codes
//! (`revoked`, `revocation_unavailable`), memo hits included, store faults and an outage (the last
//! set in force up to `REVOCATION_MAX_STALE_SECONDS`, then fail closed, then recovery), entries
//! past their TTL, and no store call on the request path.

use std::time::{Duration, Instant};

use harness::dynamo;
use harness::fault_proxy::{Fault, FaultProxy};
use harness::jwks_server::JwksServer;
use harness::jwt::{self, access_claims, now, TestKey};
use harness::moto::Moto;
use harness::paths;
use harness::runtime_api::{Function, Outcome};
use serde_json::{json, Value};

const CLIENT: &str = "client-abc123";
const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1";
const SUB: &str = "6f1c2d9e-1111-4a2b-9c3d-222233334444";
const TABLE: &str = "revocations";
const SYNC: u64 = 1;
const MAX_STALE: u64 = 3;

const REST_TOKEN: &str = include_str!("../../../authorizer/tests/fixtures/rest_token.json");

struct Setup {
    _moto: Moto,
    _jwks: JwksServer,
    proxy: FaultProxy,
    ddb: aws_sdk_dynamodb::Client,
    key: TestKey,
    f: Function,
}

async fn setup() -> Setup {
    let moto = Moto::start();
    let ddb = dynamo::client(&moto);
    dynamo::create_revocation_table(&ddb, TABLE).await;
    let proxy = FaultProxy::to(&moto.endpoint()).await;
    let key = TestKey::rsa("key-1");
    let jwks = JwksServer::start(jwt::jwks(&[&key])).await;
    let mut env: Vec<(String, String)> = moto
        .aws_env()
        .into_iter()
        .filter(|(k, _)| k != "AWS_ENDPOINT_URL")
        .collect();
    env.extend([
        ("AWS_ENDPOINT_URL".into(), proxy.endpoint()),
        ("ISSUER".into(), ISS.into()),
        ("JWKS_URI".into(), jwks.uri()),
        ("CLIENT_IDS".into(), CLIENT.into()),
        ("REVOCATION_TABLE".into(), TABLE.into()),
        ("REVOCATION_SYNC_SECONDS".into(), SYNC.to_string()),
        ("REVOCATION_MAX_STALE_SECONDS".into(), MAX_STALE.to_string()),
    ]);
    let f = Function::start(&paths::bin("authorizer"), &env).await;
    if let Some(e) = f.wait_init().await {
        panic!("init failed: {e}\n{}", f.logs().join("\n"));
    }
    Setup {
        _moto: moto,
        _jwks: jwks,
        proxy,
        ddb,
        key,
        f,
    }
}

fn token(s: &Setup, jti: &str, origin: &str, sub: &str, exp_in: i64) -> String {
    let mut c = access_claims(ISS, CLIENT, sub);
    c["jti"] = json!(jti);
    c["origin_jti"] = json!(origin);
    c["exp"] = json!(now() + exp_in);
    s.key.sign(&c, &json!({}))
}

fn event(t: &str) -> Value {
    let mut e: Value = serde_json::from_str(REST_TOKEN).unwrap();
    e["authorizationToken"] = json!(format!("Bearer {t}"));
    e
}

fn allowed(o: &Outcome) -> bool {
    o.error_message().is_none()
        && o.response()["policyDocument"]["Statement"][0]["Effect"] == "Allow"
}

/// The reason of the last decision line.
async fn last_reason(f: &Function) -> String {
    crate::e2e::decision_reasons(f)
        .await
        .pop()
        .unwrap_or_default()
}

async fn invoke(s: &Setup, t: &str) -> (bool, String) {
    let o = s.f.invoke(&event(t)).await;
    let ok = allowed(&o);
    if !ok {
        assert_eq!(o.error_message(), Some("Unauthorized"), "{o:?}");
    }
    (ok, last_reason(&s.f).await)
}

/// Poll `t` until it is refused; the time it took.
async fn until_refused(s: &Setup, t: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (ok, _) = invoke(s, t).await;
        if !ok {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "still allowed after {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_session_is_refused_memo_hits_included_with_no_store_call_per_request() {
    let s = setup().await;
    let revoked = token(&s, "j-a", "o-a", SUB, 3600);
    let sibling = token(&s, "j-b", "o-a", SUB, 3600); // same refresh token (origin_jti)
    let other = token(&s, "j-c", "o-c", SUB, 3600);
    for t in [&revoked, &sibling, &other] {
        assert_eq!(invoke(&s, t).await, (true, "ok".into()));
    }
    // memoised now
    let o = s.f.invoke(&event(&revoked)).await;
    assert!(allowed(&o));
    let memo_hit =
        s.f.settled_logs()
            .await
            .iter()
            .rev()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v.get("decision").is_some())
            .map(|v| v["memo"] == true);
    assert_eq!(memo_hit, Some(true));

    // no store call on the request path: 300 decisions, at most the background syncs
    let scans = s.proxy.stats().requests_for("Scan");
    let started = Instant::now();
    for _ in 0..300 {
        assert!(allowed(&s.f.invoke(&event(&other)).await));
    }
    let took = started.elapsed().as_secs_f64();
    let more = s.proxy.stats().requests_for("Scan") - scans;
    assert!(
        more as f64 <= took / SYNC as f64 + 1.0,
        "{more} Scans for 300 decisions in {took:.2} s"
    );

    dynamo::put_session_revocation(&s.ddb, TABLE, ISS, "o-a", now() as u64 + 3600).await;
    let took = until_refused(&s, &revoked, Duration::from_secs(SYNC + 2)).await;
    assert_eq!(last_reason(&s.f).await, "revoked", "after {took:?}");
    // a memo hit of the revoked token, and its sibling of the same session
    assert_eq!(invoke(&s, &revoked).await, (false, "revoked".into()));
    assert_eq!(invoke(&s, &sibling).await, (false, "revoked".into()));
    // another session of the same user is not
    assert_eq!(invoke(&s, &other).await, (true, "ok".into()));
    // a jti revocation (a token without origin_jti is revoked by its jti)
    dynamo::put_session_revocation(&s.ddb, TABLE, ISS, "j-c", now() as u64 + 3600).await;
    until_refused(&s, &other, Duration::from_secs(SYNC + 2)).await;
    assert_eq!(last_reason(&s.f).await, "revoked");
    // the same jti from another issuer is not this one: keys carry the issuer
    let logs = s.f.settled_logs().await.join("\n");
    assert!(
        !logs.contains("o-a") && !logs.contains("j-c"),
        "a jti in the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_faults_keep_the_last_set_then_fail_closed_then_recover() {
    let s = setup().await;
    let revoked = token(&s, "j-r", "o-r", SUB, 3600);
    let fine = token(&s, "j-f", "o-f", SUB, 3600);
    dynamo::put_session_revocation(&s.ddb, TABLE, ISS, "o-r", now() as u64 + 3600).await;
    until_refused(&s, &revoked, Duration::from_secs(SYNC + 2)).await;

    for (what, fault) in [
        ("5xx", Fault::InternalServerError),
        ("throttling", Fault::Throttling),
        ("outage", Fault::Reset),
        ("hang", Fault::Hang(Duration::from_secs(5))),
    ] {
        s.proxy.always(Some("Scan"), fault);
        let faulty = Instant::now();
        // the last set stays in force: never an Allow for the revoked token
        let mut fresh_allows = 0;
        while faulty.elapsed() < Duration::from_millis(MAX_STALE * 1000 - 1200) {
            assert_eq!(
                invoke(&s, &revoked).await,
                (false, "revoked".into()),
                "{what}: the revoked token while the set is fresh enough"
            );
            let (ok, reason) = invoke(&s, &fine).await;
            if ok {
                fresh_allows += 1;
            } else {
                assert_eq!(reason, "revocation_unavailable", "{what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(fresh_allows > 0, "{what}: the last set served");
        // past the limit: fail closed, for every token
        tokio::time::sleep(Duration::from_millis(2500)).await;
        for t in [&fine, &revoked] {
            let (ok, reason) = invoke(&s, t).await;
            assert!(!ok, "{what}: past REVOCATION_MAX_STALE_SECONDS");
            assert!(
                reason == "revocation_unavailable" || reason == "revoked",
                "{what}: {reason}"
            );
        }
        assert_eq!(
            invoke(&s, &fine).await,
            (false, "revocation_unavailable".into()),
            "{what}"
        );
        // the store returns: recovery within a sync
        s.proxy.clear();
        let started = Instant::now();
        loop {
            if invoke(&s, &fine).await.0 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(SYNC + 3),
                "{what}: no recovery"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            invoke(&s, &revoked).await,
            (false, "revoked".into()),
            "{what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_entry_leaves_its_expired_token_refused_by_exp() {
    let s = setup().await;
    // crud's entry outlives the token only by its TTL setting; here both end in 3 s
    let t = token(&s, "j-e", "o-e", SUB, 3);
    assert!(invoke(&s, &t).await.0);
    dynamo::put_session_revocation(&s.ddb, TABLE, ISS, "o-e", now() as u64 + 3).await;
    until_refused(&s, &t, Duration::from_secs(SYNC + 2)).await;
    assert_eq!(last_reason(&s.f).await, "revoked");
    tokio::time::sleep(Duration::from_secs(4)).await;
    // the entry is past its expires_at (ignored even before DynamoDB's TTL deletes it)...
    assert_eq!(invoke(&s, &t).await, (false, "expired".into()));
    // ...and an unrevoked token of the user works
    let t2 = token(&s, "j-n", "o-n", SUB, 3600);
    assert_eq!(invoke(&s, &t2).await, (true, "ok".into()));
}
