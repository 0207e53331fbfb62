//! The authorizer's JWKS cache under a slow and flapping JWKS endpoint, at scale: 1,000
//! concurrent lookups (known and unknown kids) while the real HTTP endpoint hangs → at most one
//! fetch in flight, known keys keep verifying, nobody waits longer than the fetch timeout; then
//! the endpoint recovers and hangs again, with the same guarantees.
//!
//! Driven from outside the crate through its public API: `Jwks::new` with the production
//! `HttpFetcher` (wrapped to count fetches in flight) against `harness::jwks_server`, and a
//! manual clock to make a refresh due without waiting an hour.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authorizer::alg::Alg;
use authorizer::jwks::{Clock, FetchFuture, Fetcher, HttpFetcher, Jwks, JwksTimings, JwksUri};
use authorizer::Reason;
use harness::jwks_server::{JwksServer, Mode};
use harness::jwt::TestKey;
use serde_json::json;

/// The production fetcher, counting fetches in flight (and the most at once).
struct Counting {
    inner: HttpFetcher,
    in_flight: Arc<AtomicU64>,
    max_in_flight: Arc<AtomicU64>,
}

impl Fetcher for Counting {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            struct Done<'a>(&'a AtomicU64);
            impl Drop for Done<'_> {
                fn drop(&mut self) {
                    self.0.fetch_sub(1, Ordering::SeqCst);
                }
            }
            let _done = Done(&self.in_flight);
            self.inner.fetch().await
        })
    }
}

/// Real time plus a manual offset.
struct Skewed {
    offset_ms: AtomicU64,
}

impl Clock for Skewed {
    fn now(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

const N: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hanging_jwks_endpoint_has_one_fetch_in_flight_and_known_keys_keep_working() {
    let key = TestKey::rsa("k1");
    let server = JwksServer::start(json!({ "keys": [key.jwk()] })).await;
    let t = JwksTimings {
        timeout: Duration::from_millis(400),
        refresh_after: Duration::from_secs(3600),
        backoff_min: Duration::from_secs(1),
        ..JwksTimings::default()
    };
    let max_in_flight = Arc::new(AtomicU64::new(0));
    let fetcher = Counting {
        inner: HttpFetcher::new(
            &JwksUri::parse(&server.uri()).expect("a loopback URI"),
            &t,
            &[],
        )
        .expect("fetcher"),
        in_flight: Arc::new(AtomicU64::new(0)),
        max_in_flight: max_in_flight.clone(),
    };
    let clock = Arc::new(Skewed {
        offset_ms: AtomicU64::new(0),
    });
    let jwks = Arc::new(Jwks::new(
        Box::new(fetcher),
        clock.clone(),
        vec![Alg::RS256],
        t,
    ));
    assert_eq!(jwks.hydrate().await.expect("hydrate"), 1);

    let mut fetches = jwks.fetch_count();
    for round in 0..3u64 {
        // The endpoint hangs and the copy is due for a refresh (and an unknown kid asks for one).
        server.set_mode(Mode::Hang);
        clock
            .offset_ms
            .fetch_add(3_700_000 + round * 600_000, Ordering::SeqCst);
        let hits_before = server.hits();
        let started = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..N {
            let jwks = jwks.clone();
            set.spawn(async move {
                let kid = if i % 4 == 3 { "unknown" } else { "k1" };
                let t0 = Instant::now();
                let r = jwks.key(kid).await;
                (kid, r.map(|_| ()), t0.elapsed())
            });
        }
        let mut worst = Duration::ZERO;
        let (mut known_ok, mut unknown_refused) = (0, 0);
        while let Some(r) = set.join_next().await {
            let (kid, r, waited) = r.expect("task");
            worst = worst.max(waited);
            match (kid, r) {
                ("k1", Ok(())) => known_ok += 1,
                ("unknown", Err(Reason::UnknownKid)) => unknown_refused += 1,
                other => panic!("round {round}: unexpected {other:?}"),
            }
        }
        let total = started.elapsed();
        eprintln!(
            "round {round}: {N} concurrent lookups while the JWKS hangs: {known_ok} known ok, \
             {unknown_refused} unknown refused, worst wait {worst:?}, all done in {total:?}, \
             fetches {} (max in flight {}), endpoint hits {}",
            jwks.fetch_count() - fetches,
            max_in_flight.load(Ordering::SeqCst),
            server.hits() - hits_before
        );
        assert_eq!(known_ok, N - N / 4, "known keys keep verifying");
        assert_eq!(unknown_refused, N / 4);
        assert_eq!(
            max_in_flight.load(Ordering::SeqCst),
            1,
            "one fetch in flight"
        );
        assert_eq!(
            jwks.fetch_count() - fetches,
            1,
            "one fetch for the whole storm"
        );
        assert!(server.hits() - hits_before <= 1);
        assert!(
            worst < t.timeout + Duration::from_millis(300),
            "no lookup waits (much) longer than the fetch timeout: {worst:?}"
        );

        // The endpoint recovers: after the back-off one refresh succeeds.
        server.set_mode(Mode::Serve);
        clock.offset_ms.fetch_add(120_000, Ordering::SeqCst);
        jwks.key("k1").await.expect("known key after recovery");
        fetches = jwks.fetch_count();
        assert_eq!(jwks.key_count(), 1);
    }
}
