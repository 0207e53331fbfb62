//! `DELETE /sessions/current`, `DELETE /sessions`, `DELETE /users/{sub}/sessions` through the real
//! `crud` binary against moto (and the fault proxy): what is written to the revocation table
//! (hashed keys, TTL), bad input, idempotency, store faults (503 with `Retry-After`, nothing
//! acknowledged that was not written), and the stage's authorizer-cache flush as a SigV4-signed
//! `FlushStageAuthorizersCache` call made before and after the propagation wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use harness::crud_fn::*;
use harness::dynamo;
use harness::fault_proxy::{Fault, FaultProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1";
const TABLE: &str = "revocations";
const TTL: u64 = 7200;

fn unix() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn start(extra: Vec<(&'static str, String)>) -> Crud {
    let mut env = vec![
        ("REVOCATION_TABLE", TABLE.to_string()),
        ("REVOCATION_TTL_SECONDS", TTL.to_string()),
        ("AUTHORIZER_CACHE_FLUSH", "off".to_string()),
    ];
    for (k, v) in extra {
        env.retain(|(ek, _)| *ek != k);
        env.push((k, v));
    }
    let c = Crud::start_with(Options {
        env,
        ..Options::default()
    })
    .await;
    dynamo::create_revocation_table(&c.ddb, TABLE).await;
    c
}

async fn entries(c: &Crud) -> HashMap<String, HashMap<String, AttributeValue>> {
    dynamo::scan_all(&c.ddb, TABLE)
        .await
        .into_iter()
        .map(|i| (i["pk"].as_s().unwrap().clone(), i))
        .collect()
}

fn num(i: &HashMap<String, AttributeValue>, k: &str) -> f64 {
    i[k].as_n().unwrap().parse().unwrap()
}

fn current(sub: &str) -> Req {
    Req::delete("/sessions/current", sub)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_are_hashed_entries_with_a_ttl_and_bad_input_changes_nothing() {
    let c = start(vec![]).await;
    let t0 = unix();
    // origin_jti first (Cognito: the whole refresh-token session)
    let r = c
        .call(
            &current("alice")
                .context("iss", ISS)
                .context("jti", "jti-secret-1")
                .context("origin_jti", "origin-secret-1")
                .context("iat", &t0.to_string()),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let pk = revocation_keys::jti_pk(&revocation_keys::jti_key(ISS, "origin-secret-1"));
    let e = entries(&c).await;
    assert_eq!(e.len(), 1);
    let exp = num(&e[&pk], "expires_at") as u64;
    assert!((t0 + TTL..=unix() + TTL).contains(&exp), "{exp}");
    // idempotent: the same entry again
    let again = c
        .call(
            &current("alice")
                .context("iss", ISS)
                .context("jti", "jti-secret-2")
                .context("origin_jti", "origin-secret-1"),
        )
        .await;
    assert_eq!(again.status, 204);
    assert_eq!(entries(&c).await.len(), 1);
    // a token with a jti only (an id token, another OIDC issuer): its jti
    let r = c
        .call(
            &current("alice")
                .context("iss", ISS)
                .context("jti", "jti-only"),
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(entries(&c)
        .await
        .contains_key(&revocation_keys::jti_pk(&revocation_keys::jti_key(
            ISS, "jti-only"
        ))));
    // neither: 400 not_revocable, nothing written (also without the issuer)
    let before = entries(&c).await.len();
    for req in [
        current("alice").context("iss", ISS),
        current("alice")
            .context("iss", ISS)
            .context("jti", "")
            .context("origin_jti", ""),
        current("alice").context("jti", "j"),
    ] {
        c.call(&req).await.expect_err(400, "not_revocable");
    }
    assert_eq!(entries(&c).await.len(), before);

    // DELETE /sessions: the caller's cutoff, now
    let t1 = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert_eq!(c.call(&Req::delete("/sessions", "alice")).await.status, 204);
    let pk = revocation_keys::sub_pk(&revocation_keys::sub_key("alice"));
    let e = entries(&c).await;
    let cut = num(&e[&pk], "revoked_before");
    assert!(cut >= t1.floor() && cut <= t1 + 1.0, "{cut} vs {t1}");
    assert!(num(&e[&pk], "expires_at") as u64 >= t0 + TTL);
    // a later one moves the cutoff forward, never back
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(c.call(&Req::delete("/sessions", "alice")).await.status, 204);
    let cut2 = num(&entries(&c).await[&pk], "revoked_before");
    assert!(cut2 > cut, "{cut2} > {cut}");

    // DELETE /users/{sub}/sessions: any well-formed sub (unknown ones too: no oracle)
    let r = c
        .call(&Req::delete("/users/no-such-user/sessions", "carol"))
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert!(entries(&c)
        .await
        .contains_key(&revocation_keys::sub_pk(&revocation_keys::sub_key(
            "no-such-user"
        ))));
    let before = entries(&c).await.len();
    let long = "x".repeat(277);
    for bad in ["a\u{1}b", long.as_str()] {
        let mut req = Req::delete("/users/x/sessions", "carol");
        req.template = Some("/users/{sub}/sessions".into());
        let mut ev_req = req.clone();
        ev_req.path = format!("/users/{bad}/sessions");
        c.call(&ev_req).await.expect_err(400, "invalid_id");
    }
    assert_eq!(entries(&c).await.len(), before, "nothing written");
    // other methods on the routes
    c.call(&Req::get("/sessions", "alice"))
        .await
        .expect_err(405, "method_not_allowed");

    // nothing that names a token in the logs: only hashed keys
    let logs = c.fns[0].settled_logs().await.join("\n");
    for secret in ["jti-secret-1", "origin-secret-1", "jti-only"] {
        assert!(!logs.contains(secret), "{secret} logged");
    }
    assert!(logs.contains("\"event\":\"revoked\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_revocation_table_the_routes_say_so() {
    let c = Crud::start_with(Options {
        env: vec![("AUTHORIZER_CACHE_FLUSH", "off".into())],
        ..Options::default()
    })
    .await;
    c.call(&current("alice").context("iss", ISS).context("jti", "j"))
        .await
        .expect_err(501, "revocation_not_configured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_faults_answer_503_with_retry_after_and_a_retry_writes_once() {
    let proxy = FaultProxy::start().await;
    let c = start(vec![("AWS_ENDPOINT_URL_DYNAMODB", proxy.endpoint())]).await;
    proxy.set_upstream(&c.moto.endpoint());
    let req = current("alice")
        .context("iss", ISS)
        .context("origin_jti", "o-1");
    for (fault, op, r) in [
        (Fault::InternalServerError, "PutItem", req.clone()),
        (Fault::Throttling, "PutItem", req.clone()),
        (Fault::Reset, "PutItem", req.clone()),
        (
            Fault::InternalServerError,
            "UpdateItem",
            Req::delete("/sessions", "alice"),
        ),
        (
            Fault::Hang(Duration::from_secs(4)),
            "UpdateItem",
            Req::delete("/sessions", "alice"),
        ),
    ] {
        proxy.always(Some(op), fault.clone());
        let started = Instant::now();
        let resp = c.call(&r).await;
        resp.expect_err(503, "service_unavailable");
        assert_eq!(resp.header("retry-after"), Some("1"), "{fault:?}");
        assert!(
            started.elapsed() < Duration::from_secs(11),
            "{fault:?}: within the deadline"
        );
        proxy.clear();
        assert!(entries(&c).await.is_empty(), "{fault:?}: nothing written");
    }
    // a lost reply after the write: the SDK's retry meets the same entry; 204, one entry
    proxy.inject(Some("PutItem"), Fault::LoseReply, 1);
    assert_eq!(c.call(&req).await.status, 204);
    proxy.inject(Some("UpdateItem"), Fault::LoseReply, 1);
    assert_eq!(c.call(&Req::delete("/sessions", "alice")).await.status, 204);
    assert_eq!(entries(&c).await.len(), 2);
}

/// One request the recorder saw: when, its request line, its headers (lower-case names).
type Seen = (Instant, String, HashMap<String, String>);

/// A stand-in for API Gateway's control plane: records each request's line and headers and
/// answers `status`.
struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    status: Arc<Mutex<u16>>,
}

async fn recorder() -> Recorder {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let status = Arc::new(Mutex::new(202u16));
    let (s2, st2) = (seen.clone(), status.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else {
                break;
            };
            let (seen, status) = (s2.clone(), st2.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let mut chunk = [0u8; 4096];
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        buf.drain(..end + 4);
                        let mut lines = head.lines();
                        let line = lines.next().unwrap_or_default().to_string();
                        let headers = lines
                            .filter_map(|l| l.split_once(':'))
                            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                            .collect();
                        seen.lock().unwrap().push((Instant::now(), line, headers));
                        let st = *status.lock().unwrap();
                        let resp = format!("HTTP/1.1 {st} X\r\ncontent-length: 0\r\n\r\n");
                        if sock.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    Recorder { port, seen, status }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_flushes_the_stage_cache_with_a_signed_call_before_and_after_the_wait() {
    let api = recorder().await;
    let c = start(vec![
        ("AUTHORIZER_CACHE_FLUSH", "on".into()),
        ("REVOCATION_SYNC_SECONDS", "1".into()),
        (
            "AWS_ENDPOINT_URL_API_GATEWAY",
            format!("http://127.0.0.1:{}", api.port),
        ),
    ])
    .await;
    let req = current("alice")
        .context("iss", ISS)
        .context("origin_jti", "o-1");
    let started = Instant::now();
    let r = c.call(&req).await;
    let took = started.elapsed();
    assert_eq!(r.status, 204, "{:?}", r.body);
    let seen = api.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (_, line, h) in &seen {
        assert_eq!(
            line, "DELETE /restapis/abc123/stages/prod/cache/authorizers HTTP/1.1",
            "the request's own API and stage"
        );
        let auth = &h["authorization"];
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=testing/")
                && auth.contains("/us-east-1/apigateway/aws4_request"),
            "{auth}"
        );
        assert!(h.contains_key("x-amz-date"));
    }
    // the second flush once every authorizer has synced (REVOCATION_SYNC_SECONDS + 2 s)
    let gap = seen[1].0 - seen[0].0;
    assert!(gap >= Duration::from_millis(2900), "{gap:?}");
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(5),
        "{took:?}"
    );

    // API Gateway refusing the flush: 503 (the client's retry is idempotent)
    *api.status.lock().unwrap() = 403;
    let r = c.call(&req).await;
    r.expect_err(503, "service_unavailable");
    assert_eq!(r.header("retry-after"), Some("1"));
}
