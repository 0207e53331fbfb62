//! The deployment-wide per-caller limit (`RATE_LIMIT_SCOPE=deployment`, crud's default): four
//! real `crud` instances under the Runtime API emulator share one counter per caller per clock
//! minute in one (single-threaded) moto, through the project's fault proxy, which counts the
//! DynamoDB requests per operation and injects the counter store's failures.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crud::ratelimit::{unix_ms, Window};
use harness::crud_fn::*;
use harness::fault_proxy::{Fault, FaultProxy};
use serde_json::json;
use tokio::task::JoinSet;

const INSTANCES: usize = 4;
const LIMIT: usize = 20;

struct Shared {
    c: Arc<Crud>,
    proxy: FaultProxy,
}

async fn start(extra: Vec<(&'static str, String)>) -> Shared {
    let proxy = FaultProxy::start().await;
    let mut env = vec![
        ("AWS_ENDPOINT_URL_DYNAMODB", proxy.endpoint()),
        ("RATE_LIMIT_PER_MINUTE", LIMIT.to_string()),
        ("RATE_LIMIT_SCOPE", "deployment".into()),
    ];
    env.extend(extra);
    let c = Crud::start_with(Options {
        instances: INSTANCES,
        single_threaded: true,
        env,
    })
    .await;
    proxy.set_upstream(&c.moto.endpoint());
    Shared {
        c: Arc::new(c),
        proxy,
    }
}

/// Wait until at least `secs` seconds are left in the current clock minute, so a burst of
/// requests falls within one minute (the limit's window).
async fn with_time_left_in_the_minute(secs: u64) {
    let w = Window::at(unix_ms(SystemTime::now()));
    if w.retry_after_secs < secs {
        tokio::time::sleep(Duration::from_secs(w.retry_after_secs) + Duration::from_millis(100))
            .await;
    }
}

struct Answer {
    resp: Resp,
    /// The windows at the request's start and at its answer (the same unless it straddled a
    /// second boundary).
    sent: Window,
    answered: Window,
}

/// Every request at once, request `i` on instance `i % INSTANCES`.
async fn burst(c: &Arc<Crud>, reqs: Vec<Req>) -> Vec<Answer> {
    let mut set = JoinSet::new();
    for (i, r) in reqs.into_iter().enumerate() {
        let c = c.clone();
        set.spawn(async move {
            let sent = Window::at(unix_ms(SystemTime::now()));
            let resp = c.call_on(i, &r).await;
            let answered = Window::at(unix_ms(SystemTime::now()));
            (
                i,
                Answer {
                    resp,
                    sent,
                    answered,
                },
            )
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.expect("task"));
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, a)| a).collect()
}

fn statuses(answers: &[Answer]) -> Vec<u16> {
    answers.iter().map(|a| a.resp.status).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_callers_requests_over_four_instances_pass_the_limit_once_per_minute() {
    let s = start(vec![]).await;
    with_time_left_in_the_minute(40).await;
    let minute = Window::at(unix_ms(SystemTime::now())).minute;
    // One item first (it counts too), then 3 × the limit at once over the four instances.
    let item = s.c.create(ALICE, json!({"title": "milk"})).await;
    s.proxy.reset_stats();
    let reqs = (0..3 * LIMIT).map(|_| Req::get("/items", ALICE)).collect();
    let answers = burst(&s.c, reqs).await;
    for a in &answers {
        assert_eq!(
            (a.sent.minute, a.answered.minute),
            (minute, minute),
            "the burst must fall within one clock minute"
        );
    }
    let ok = answers.iter().filter(|a| a.resp.status == 200).count() + 1;
    println!(
        "limit {LIMIT}, {} requests over {INSTANCES} instances: {ok} passed; statuses {:?}",
        3 * LIMIT + 1,
        statuses(&answers)
    );
    assert!(
        (LIMIT..=LIMIT + LIMIT / 10).contains(&ok),
        "{ok} passed: {:?}",
        statuses(&answers)
    );
    // DynamoDB's ADD is atomic: exactly the limit.
    assert_eq!(ok, LIMIT, "{:?}", statuses(&answers));
    let mut retry_afters = Vec::new();
    for a in &answers {
        match a.resp.status {
            200 => {
                // The counter never shows in a list.
                let ids: Vec<&str> = a.resp.json["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|i| i["id"].as_str().expect("id"))
                    .collect();
                assert_eq!(ids, [item["id"].as_str().unwrap()], "{}", a.resp.body);
            }
            _ => {
                a.resp.expect_err(429, "rate_limited");
                let ra: u64 = a
                    .resp
                    .header("retry-after")
                    .expect("Retry-After")
                    .parse()
                    .unwrap();
                // Seconds until the window frees: the next clock minute.
                assert!(
                    (a.answered.retry_after_secs..=a.sent.retry_after_secs).contains(&ra),
                    "Retry-After {ra}, expected {}..={}",
                    a.answered.retry_after_secs,
                    a.sent.retry_after_secs
                );
                retry_afters.push(ra);
            }
        }
    }
    println!("Retry-After values: {retry_afters:?}");
    // At most one DynamoDB write per request: one counter UpdateItem (none once an instance
    // remembers the caller as refused this minute), the Query of the requests that pass.
    let stats = s.proxy.stats();
    println!("DynamoDB requests during the burst: {:?}", stats.requests);
    let updates = stats.requests_for("UpdateItem") as usize;
    assert!(
        (LIMIT..=answers.len()).contains(&updates),
        "{updates} UpdateItem for {} requests",
        answers.len()
    );
    assert!(
        updates <= LIMIT - 1 + INSTANCES,
        "a refused caller is remembered per instance (one refused write each at most): {updates} counter writes"
    );
    assert_eq!(stats.requests_for("Query") as usize, ok - 1);
    assert_eq!(
        stats.total_requests() as usize,
        updates + ok - 1,
        "{:?}",
        stats.requests
    );
    // The counter: in the caller's partition, keyed by the minute, with the table's TTL.
    let stored = s.c.stored(ALICE).await;
    let keys: Vec<&str> = stored.iter().map(|(k, _)| k.as_str()).collect();
    let counter_key = format!("ratelimit#{minute}");
    assert_eq!(
        keys,
        [
            format!("item#{}", item["id"].as_str().unwrap()).as_str(),
            counter_key.as_str()
        ]
    );
    let counter = &stored[1].1;
    assert_eq!(
        counter["requests"]
            .as_n()
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        updates + 1,
        "every counter write counted (the create's too)"
    );
    assert_eq!(
        counter["expires_at"].as_n().unwrap(),
        &((minute + 2) * 60).to_string()
    );

    // A second caller is unaffected: the whole limit, over every instance.
    let reqs = (0..LIMIT).map(|_| Req::get("/items", BOB)).collect();
    let bob = burst(&s.c, reqs).await;
    assert_eq!(statuses(&bob), vec![200; LIMIT]);
    assert!(bob.iter().all(|a| a.resp.json["items"] == json!([])));
}

/// The counter store failing (5xx, throttling, hangs past the counter's short timeout, a missing
/// counter table) fails open: every request is served, each logs the reason code and sets the
/// fail-open metric; nothing else about the request changes.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_counter_store_fails_open_with_a_log_line_and_a_metric() {
    let s = start(vec![]).await;
    for (fault, name) in [
        (Fault::InternalServerError, "5xx"),
        (Fault::Throttling, "throttling"),
        (Fault::Hang(Duration::from_secs(3)), "hang"),
    ] {
        s.proxy.clear();
        s.proxy.always(Some("UpdateItem"), fault);
        with_time_left_in_the_minute(30).await;
        let logs_before: Vec<usize> = s.c.fns.iter().map(|f| f.logs().len()).collect();
        let started = std::time::Instant::now();
        let reqs = (0..2 * LIMIT).map(|_| Req::get("/items", ALICE)).collect();
        let answers = burst(&s.c, reqs).await;
        let took = started.elapsed();
        assert_eq!(
            statuses(&answers),
            vec![200; 2 * LIMIT],
            "{name}: fail open"
        );
        // The counter's single short attempt: a hang costs each request at most ~150 ms.
        assert!(
            took < Duration::from_secs(10),
            "{name}: {} requests took {took:?}",
            2 * LIMIT
        );
        let mut fail_open_lines = 0;
        let mut metric_ones = 0;
        for (f, before) in s.c.fns.iter().zip(&logs_before) {
            for l in &f.settled_logs().await[*before..] {
                if l.contains("\"reason\":\"rate_limit_store_unavailable\"") {
                    fail_open_lines += 1;
                    assert!(l.contains("\"level\":\"WARN\""), "{l}");
                    assert!(!l.contains(ALICE), "no caller in the line: {l}");
                }
                if l.starts_with("{\"_aws\"") {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    assert_eq!(v["Crud5xx"], 0, "{l}");
                    metric_ones += v["CrudRateLimitFailOpen"].as_u64().expect("metric");
                }
            }
        }
        println!(
            "{name}: {} requests served in {took:?}, {fail_open_lines} fail-open lines",
            2 * LIMIT
        );
        assert_eq!(fail_open_lines, 2 * LIMIT, "{name}: one line per request");
        assert_eq!(metric_ones, 2 * LIMIT as u64, "{name}: the EMF metric");
    }

    // The store back: the limit holds again (the same minute's counter never saw the failures).
    s.proxy.clear();
    with_time_left_in_the_minute(30).await;
    let reqs = (0..2 * LIMIT).map(|_| Req::get("/items", BOB)).collect();
    let answers = burst(&s.c, reqs).await;
    let ok = answers.iter().filter(|a| a.resp.status == 200).count();
    assert_eq!(ok, LIMIT, "{:?}", statuses(&answers));
}

/// A hanging counter store under a short invocation timeout (the Runtime API's deadline): the
/// counter gets at most a third of the time left, the request's own call the rest, and every
/// answer is a 200 well before the deadline.
#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_counter_store_leaves_the_request_its_time_before_the_deadline() {
    let s = start(vec![]).await;
    let timeout = Duration::from_millis(450);
    for f in &s.c.fns {
        f.set_timeout(timeout);
    }
    s.proxy
        .always(Some("UpdateItem"), Fault::Hang(Duration::from_secs(3)));
    for i in 0..8 {
        let started = std::time::Instant::now();
        let r = s.c.call_on(i, &Req::get("/items", ALICE)).await;
        let took = started.elapsed();
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            took < timeout,
            "answered after {took:?}, deadline {timeout:?}"
        );
    }
    let stats = s.proxy.stats();
    assert_eq!(stats.requests_for("UpdateItem"), 8);
    assert_eq!(stats.requests_for("Query"), 8);
}

/// A counter table that does not exist (a misconfigured `RATE_LIMIT_TABLE`) fails open too, with
/// its own reason code; items are unaffected.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_counter_table_fails_open_with_its_own_reason() {
    let s = start(vec![("RATE_LIMIT_TABLE", "no-such-table".into())]).await;
    let reqs = (0..LIMIT + 5).map(|_| Req::get("/items", ALICE)).collect();
    let answers = burst(&s.c, reqs).await;
    assert_eq!(statuses(&answers), vec![200; LIMIT + 5]);
    let mut lines = 0;
    for f in &s.c.fns {
        lines += f
            .settled_logs()
            .await
            .iter()
            .filter(|l| l.contains("\"reason\":\"rate_limit_store_error\""))
            .count();
    }
    assert_eq!(lines, LIMIT + 5);
}

/// `RATE_LIMIT_SCOPE=instance` turns the shared limit off: no counter write, and each instance
/// allows the limit on its own (four instances: up to 4 × the limit).
#[tokio::test(flavor = "multi_thread")]
async fn the_instance_scope_makes_no_counter_write_and_limits_per_instance() {
    let s = start(vec![("RATE_LIMIT_SCOPE", "instance".into())]).await;
    let reqs = (0..2 * LIMIT).map(|_| Req::get("/items", ALICE)).collect();
    let answers = burst(&s.c, reqs).await;
    assert_eq!(statuses(&answers), vec![200; 2 * LIMIT]);
    let stats = s.proxy.stats();
    assert_eq!(stats.requests_for("UpdateItem"), 0, "{:?}", stats.requests);
    assert!(s.c.stored(ALICE).await.is_empty());
}
