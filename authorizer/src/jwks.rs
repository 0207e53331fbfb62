//! The JWKS cache: keys fetched only from the configured URI, hydrated at init, refreshed on an
//! unknown `kid` (single-flight, cooldown by `governor`, exponential back-off while the endpoint
//! fails), kept through outages up to a maximum staleness, and dropped at once when a successful
//! fetch no longer lists them (an empty key set included: then every token is refused with
//! `jwks_no_usable_keys`).
//!
//! The cache takes its [`Fetcher`] (how a document is obtained) and its [`Clock`] as parameters,
//! as aws-jwt-verify's `SimpleJwksCache` takes a fetcher and a penalty box: the rules below are
//! unit-tested in microseconds with a scripted fetcher and a manual clock; [`HttpFetcher`] is the
//! production fetcher. One cache per configured issuer: keys never serve another issuer.
//!
//! Timings (see [`JwksTimings`]):
//! - each fetch has a hard timeout (default 3 s, connect to last byte) and a body cap (256 KiB);
//! - a fetch older than `refresh_after` (default 1 h) is refreshed on the next request;
//! - an unknown `kid` triggers a refresh at most once per `cooldown` (default 10 s);
//! - after a failed fetch, no new attempt for 1 s, doubling per failure up to 5 min;
//! - known keys keep verifying while refreshes fail, until the last *successful* fetch is older
//!   than `max_stale` (default 24 h); then every token is refused (`jwks_stale`).

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::alg::Alg;
use crate::jwk::{parse_jwks, Key, KeyMap};
use crate::reason::Reason;

#[cfg(feature = "net")]
mod https;
#[cfg(feature = "net")]
pub use https::HttpFetcher;

/// JWKS cache timings (all documented in docs/authorizer.md).
#[derive(Debug, Clone, Copy)]
pub struct JwksTimings {
    /// Per-fetch timeout, connect to last body byte (`JWKS_TIMEOUT_MS`, default 3000, min 3000).
    pub timeout: Duration,
    /// Background freshness: a successful fetch older than this is refreshed on the next request
    /// (`JWKS_REFRESH_SECONDS`, default 3600).
    pub refresh_after: Duration,
    /// Maximum staleness: keys from a fetch older than this are no longer trusted when the
    /// endpoint cannot be reached; the authorizer fails closed (`JWKS_MAX_STALE_SECONDS`,
    /// default 86400).
    pub max_stale: Duration,
    /// Minimum interval between two refreshes triggered by unknown kids, enforced by `governor`
    /// (`JWKS_COOLDOWN_SECONDS`, default 10).
    pub cooldown: Duration,
    /// First back-off after a failed fetch; doubles per failure up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Largest JWKS document accepted (bytes).
    pub max_bytes: usize,
}

impl Default for JwksTimings {
    fn default() -> Self {
        JwksTimings {
            timeout: Duration::from_millis(3000),
            refresh_after: Duration::from_secs(3600),
            max_stale: Duration::from_secs(86_400),
            cooldown: Duration::from_secs(10),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            max_bytes: 256 * 1024,
        }
    }
}

/// A JWKS URI, parsed and checked once (by the configuration, for `JWKS_URI` or the URI derived
/// from `ISSUER`) and fetched as parsed: an absolute `http(s)://` URI without userinfo; `https`,
/// or plain `http` to a loopback host only (127.0.0.0/8, `::1`, `localhost`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksUri {
    text: String,
    uri: http::Uri,
}

impl JwksUri {
    /// The URI, or what is wrong with it (for the `JWKS_URI` configuration error).
    pub fn parse(text: &str) -> Result<JwksUri, String> {
        let not_a_url = || format!("not an http(s) URL: {text:?}");
        let (scheme, host) = url_scheme_host(text).ok_or_else(not_a_url)?;
        match scheme {
            "https" => {}
            "http" if is_loopback(host) => {}
            "http" => {
                return Err(
                    "plain http is only allowed for loopback hosts (127.0.0.1, ::1, localhost); use https"
                        .into(),
                )
            }
            _ => return Err(format!("unsupported scheme {scheme:?}; use https")),
        }
        let uri: http::Uri = text.parse().map_err(|_| not_a_url())?;
        Ok(JwksUri {
            text: text.to_string(),
            uri,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Display for JwksUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq<&str> for JwksUri {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

/// Scheme and host of an `scheme://host...` URL as written, or `None` when it is not one (no
/// `://`, an empty host, or userinfo, which is never needed and hides the real host).
pub(crate) fn url_scheme_host(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        return None;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority.split(':').next()?
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme, host))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Why one fetch failed (logged; never shown to callers).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid JWKS URI")]
    Uri,
    #[error("request failed: {0}")]
    Request(String),
    #[error("timed out")]
    Timeout,
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("body too large or unreadable")]
    Body,
    #[error("{0}")]
    Document(#[from] crate::jwk::JwksError),
    #[error("JWKS_CA_FILE: {0}")]
    CaFile(String),
}

/// A boxed fetch in flight.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Bytes, FetchError>> + Send + 'a>>;

/// Obtains the raw JWKS document. The cache applies the timeout and parses the body.
pub trait Fetcher: Send + Sync {
    fn fetch(&self) -> FetchFuture<'_>;
}

/// Monotonic time, injectable for tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// `governor` reads time through the cache's own clock, so the cooldown follows it too.
#[derive(Clone)]
struct GovClock(Arc<dyn Clock>);

impl governor::clock::Clock for GovClock {
    type Instant = Instant;
    fn now(&self) -> Instant {
        self.0.now()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, GovClock, NoOpMiddleware<Instant>>;

struct State {
    keys: KeyMap,
    /// Last successful fetch.
    fetched_at: Option<Instant>,
    /// No new attempt before this (back-off after failures).
    retry_at: Option<Instant>,
    failures: u32,
    /// Bumped on every successful fetch; lets a waiter see that a refresh already happened.
    generation: u64,
}

pub struct Jwks {
    fetcher: Box<dyn Fetcher>,
    clock: Arc<dyn Clock>,
    algs: Vec<Alg>,
    t: JwksTimings,
    state: RwLock<State>,
    flight: tokio::sync::Mutex<()>,
    unknown_kid_limiter: Limiter,
    fetches: AtomicU64,
}

/// A usable key, shared with the cached key set it came from (the key stays valid for the
/// caller after a refresh replaces the set).
pub type KeyRef = Arc<Key>;

impl Jwks {
    /// Build the cache (no fetch yet) from its fetcher and clock.
    pub fn new(
        fetcher: Box<dyn Fetcher>,
        clock: Arc<dyn Clock>,
        algs: Vec<Alg>,
        t: JwksTimings,
    ) -> Jwks {
        let quota = Quota::with_period(t.cooldown)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        let unknown_kid_limiter = RateLimiter::direct_with_clock(quota, GovClock(clock.clone()));
        Jwks {
            fetcher,
            clock,
            algs,
            t,
            state: RwLock::new(State {
                keys: KeyMap::default(),
                fetched_at: None,
                retry_at: None,
                failures: 0,
                generation: 0,
            }),
            flight: tokio::sync::Mutex::new(()),
            unknown_kid_limiter,
            fetches: AtomicU64::new(0),
        }
    }

    /// Number of fetch attempts so far (for logs and tests).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Number of keys currently held (whatever their age).
    pub fn key_count(&self) -> usize {
        self.state.read().map(|s| s.keys.len()).unwrap_or(0)
    }

    /// Seed the key set with keys known before any fetch (`JWKS_JSON`, parsed and vetted by the
    /// configuration), without I/O. The keys then count as fetched now: they are held to the same
    /// rules as fetched keys (refreshed on an unknown kid or once `refresh_after` has passed,
    /// replaced by the next successful fetch, refused past `max_stale` if no fetch ever
    /// succeeds). Returns the number of keys.
    pub fn seed(&self, keys: KeyMap) -> usize {
        let n = keys.len();
        if let Ok(mut s) = self.state.write() {
            s.keys = keys;
            s.fetched_at = Some(self.clock.now());
            s.retry_at = None;
            s.failures = 0;
            s.generation += 1;
        }
        n
    }

    /// Init-phase fetch. A failure is logged and not fatal: requests then try again (with
    /// back-off) and are refused (`jwks_unavailable`) until a fetch succeeds.
    pub async fn hydrate(&self) -> Result<usize, FetchError> {
        let _g = self.flight.lock().await;
        self.refresh_locked().await
    }

    /// Current key for `kid` if it is still trusted right now and no refresh is due (for memo
    /// hits: no I/O). When the copy is older than `refresh_after` and no back-off holds, this is
    /// `None`, so the caller takes the full path, which refreshes: a memoised decision never
    /// outlives the key's withdrawal by more than `refresh_after`.
    pub fn trusted(&self, kid: &str) -> Option<KeyRef> {
        let now = self.clock.now();
        let s = self.state.read().ok()?;
        let age = now.saturating_duration_since(s.fetched_at?);
        if age >= self.t.max_stale {
            return None;
        }
        let refresh_due = age >= self.t.refresh_after && s.retry_at.is_none_or(|r| now >= r);
        if refresh_due {
            return None;
        }
        s.keys.get(kid).cloned()
    }

    /// The key for `kid`, refreshing the JWKS when the kid is unknown or the copy is old.
    pub async fn key(&self, kid: &str) -> Result<KeyRef, Reason> {
        let now = self.clock.now();
        let (found, age, generation, backoff_ok) = {
            let s = self.state.read().map_err(|_| Reason::JwksUnavailable)?;
            (
                s.keys.get(kid).cloned(),
                s.fetched_at.map(|at| now.saturating_duration_since(at)),
                s.generation,
                s.retry_at.is_none_or(|r| now >= r),
            )
        };

        if let Some(k) = found {
            let age = age.unwrap_or(Duration::MAX);
            if age < self.t.refresh_after {
                return Ok(k);
            }
            // Old copy: try a refresh (subject to back-off); keep using the key meanwhile.
            if backoff_ok {
                self.refresh_if_unchanged(generation).await;
            }
            return self.lookup_trusted(kid);
        }

        // Unknown kid: refresh at most once per cooldown (or when the copy is due anyway), and
        // never during back-off.
        let due = age.is_none_or(|a| a >= self.t.refresh_after);
        if backoff_ok && (due || self.unknown_kid_limiter.check().is_ok()) {
            self.refresh_if_unchanged(generation).await;
        } else {
            // Another request may be refreshing right now: wait for it, then look again.
            let _g = self.flight.lock().await;
        }
        self.lookup_trusted(kid)
    }

    fn lookup_trusted(&self, kid: &str) -> Result<KeyRef, Reason> {
        let s = self.state.read().map_err(|_| Reason::JwksUnavailable)?;
        let Some(at) = s.fetched_at else {
            return Err(Reason::JwksUnavailable);
        };
        if self.clock.now().saturating_duration_since(at) >= self.t.max_stale {
            return Err(Reason::JwksStale);
        }
        if s.keys.is_empty() {
            return Err(Reason::JwksNoUsableKeys);
        }
        s.keys.get(kid).cloned().ok_or(Reason::UnknownKid)
    }

    /// Single-flight refresh: if another task refreshed while we waited for the lock, do nothing.
    async fn refresh_if_unchanged(&self, seen_generation: u64) {
        let _g = self.flight.lock().await;
        let (generation, backoff_ok) = match self.state.read() {
            Ok(s) => (
                s.generation,
                s.retry_at.is_none_or(|r| self.clock.now() >= r),
            ),
            Err(_) => return,
        };
        if generation != seen_generation || !backoff_ok {
            return;
        }
        let _ = self.refresh_locked().await;
    }

    /// Fetch and swap in a new key set. Caller holds `flight`.
    async fn refresh_locked(&self) -> Result<usize, FetchError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let result = match tokio::time::timeout(self.t.timeout, self.fetch()).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout),
        };
        let mut s = self
            .state
            .write()
            .map_err(|_| FetchError::Request("state lock poisoned".into()))?;
        match result {
            Ok(mut new_keys) => {
                // Keep the same Arc for unchanged keys (material, alg, use and key_ops) so memo
                // entries stay valid; replaced, narrowed or removed keys lose their Arc and, with
                // it, every memoised decision.
                for (kid, k) in new_keys.iter_mut() {
                    if let Some(old) = s.keys.get(kid) {
                        if old.unchanged(k) {
                            *k = old.clone();
                        }
                    }
                }
                let n = new_keys.len();
                let removed = s.keys.keys().filter(|k| !new_keys.contains_key(*k)).count();
                s.keys = new_keys;
                s.fetched_at = Some(self.clock.now());
                s.retry_at = None;
                s.failures = 0;
                s.generation += 1;
                if n == 0 {
                    tracing::warn!(
                        event = "jwks_no_usable_keys",
                        removed,
                        "JWKS fetched but lists no usable key; every token is refused until it does"
                    );
                } else {
                    tracing::info!(event = "jwks_refreshed", keys = n, removed, "JWKS fetched");
                }
                Ok(n)
            }
            Err(e) => {
                s.failures = s.failures.saturating_add(1);
                let exp = s.failures.saturating_sub(1).min(16);
                let backoff = self
                    .t
                    .backoff_min
                    .saturating_mul(1u32 << exp)
                    .min(self.t.backoff_max);
                s.retry_at = Some(self.clock.now() + backoff);
                tracing::warn!(
                    event = "jwks_fetch_failed",
                    error = %e,
                    failures = s.failures,
                    backoff_ms = backoff.as_millis() as u64,
                    "JWKS fetch failed; keeping the last good keys"
                );
                Err(e)
            }
        }
    }

    async fn fetch(&self) -> Result<KeyMap, FetchError> {
        let body = self.fetcher.fetch().await?;
        Ok(parse_jwks(&body, &self.algs)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use std::sync::Mutex;

    /// What the scripted fetcher answers: a body, or an HTTP status error; `None` = timeout.
    type Answer = Option<Result<String, u16>>;

    /// A fetcher answering whatever the test last set, counting calls.
    #[derive(Clone, Default)]
    struct Script(Arc<Mutex<(Answer, u64)>>);

    impl Script {
        fn set(&self, r: Result<String, u16>) {
            self.0.lock().unwrap().0 = Some(r);
        }
        fn calls(&self) -> u64 {
            self.0.lock().unwrap().1
        }
    }

    impl Fetcher for Script {
        fn fetch(&self) -> FetchFuture<'_> {
            Box::pin(async move {
                // Yield so concurrent lookups really overlap with the fetch in flight.
                tokio::task::yield_now().await;
                let mut g = self.0.lock().unwrap();
                g.1 += 1;
                match g.0.clone() {
                    Some(Ok(body)) => Ok(Bytes::from(body)),
                    Some(Err(status)) => Err(FetchError::Status(status)),
                    None => Err(FetchError::Timeout),
                }
            })
        }
    }

    struct Manual {
        base: Instant,
        ms: AtomicU64,
    }

    impl Manual {
        fn advance(&self, d: Duration) {
            self.ms.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
        }
    }

    impl Clock for Manual {
        fn now(&self) -> Instant {
            self.base + Duration::from_millis(self.ms.load(Ordering::SeqCst))
        }
    }

    fn jwk(kid: &str, extra: &str) -> String {
        let kp = Ed25519KeyPair::generate().unwrap();
        let x = URL_SAFE_NO_PAD.encode(kp.public_key().as_ref());
        format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"{kid}","x":"{x}"{extra}}}"#)
    }

    fn doc(keys: &[&str]) -> String {
        format!(r#"{{"keys":[{}]}}"#, keys.join(","))
    }

    /// The key set a seed document yields (as the configuration parses `JWKS_JSON`).
    fn seed(keys: &[&str]) -> KeyMap {
        parse_jwks(doc(keys).as_bytes(), &[Alg::EdDSA]).unwrap()
    }

    fn timings() -> JwksTimings {
        JwksTimings {
            refresh_after: Duration::from_secs(3600),
            max_stale: Duration::from_secs(86_400),
            cooldown: Duration::from_secs(10),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            ..JwksTimings::default()
        }
    }

    fn cache(script: &Script) -> (Jwks, Arc<Manual>) {
        let clock = Arc::new(Manual {
            base: Instant::now(),
            ms: AtomicU64::new(0),
        });
        let j = Jwks::new(
            Box::new(script.clone()),
            clock.clone(),
            vec![Alg::EdDSA],
            timings(),
        );
        (j, clock)
    }

    async fn reason(j: &Jwks, kid: &str) -> Option<Reason> {
        j.key(kid).await.err()
    }

    #[tokio::test]
    async fn hydrate_then_known_kids_need_no_fetch() {
        let s = Script::default();
        let k1 = jwk("k1", "");
        s.set(Ok(doc(&[&k1])));
        let (j, clock) = cache(&s);
        j.hydrate().await.unwrap();
        let calls = s.calls();
        for _ in 0..100 {
            assert!(j.key("k1").await.is_ok());
        }
        clock.advance(Duration::from_secs(3599));
        assert!(j.key("k1").await.is_ok());
        assert_eq!(s.calls(), calls);
        // older than refresh_after: the next request refreshes once
        clock.advance(Duration::from_secs(2));
        assert!(j.key("k1").await.is_ok());
        assert_eq!(s.calls(), calls + 1);
    }

    #[tokio::test]
    async fn seeded_keys_need_no_fetch_and_follow_the_fetched_rules() {
        let s = Script::default();
        let (k1, k2, k3) = (jwk("k1", ""), jwk("k2", ""), jwk("k3", ""));
        // The live JWKS no longer lists k2, and has a new k3.
        s.set(Ok(doc(&[&k1, &k3])));
        let (j, clock) = cache(&s);
        assert_eq!(j.seed(seed(&[&k1, &k2])), 2);
        for _ in 0..50 {
            assert!(j.key("k1").await.is_ok());
            assert!(j.key("k2").await.is_ok());
            assert!(j.trusted("k2").is_some(), "memo hits trust seeded keys too");
        }
        assert_eq!(s.calls(), 0, "seeded keys: no fetch");
        // An unknown kid refreshes at once (as after a fetch), and the fetched set replaces the
        // seeded one: k2 is gone.
        assert!(j.key("k3").await.is_ok());
        assert_eq!(s.calls(), 1);
        assert_eq!(reason(&j, "k2").await, Some(Reason::UnknownKid));
        assert!(j.trusted("k2").is_none());
        // Refresh after refresh_after, as for fetched keys.
        clock.advance(Duration::from_secs(3601));
        assert!(j.key("k1").await.is_ok());
        assert_eq!(s.calls(), 2);
    }

    #[tokio::test]
    async fn seeded_keys_age_out_like_fetched_ones_when_no_fetch_succeeds() {
        let s = Script::default();
        s.set(Err(503));
        let (j, clock) = cache(&s);
        j.seed(seed(&[&jwk("k1", "")]));
        clock.advance(Duration::from_secs(86_399));
        assert!(j.key("k1").await.is_ok(), "kept through the outage");
        clock.advance(Duration::from_secs(2));
        assert_eq!(reason(&j, "k1").await, Some(Reason::JwksStale));
        assert!(s.calls() >= 1);
    }

    #[tokio::test]
    async fn unknown_kids_refresh_once_per_cooldown() {
        let s = Script::default();
        s.set(Ok(doc(&[&jwk("k1", "")])));
        let (j, clock) = cache(&s);
        j.hydrate().await.unwrap();
        assert_eq!(s.calls(), 1);
        for i in 0..300 {
            assert_eq!(reason(&j, &format!("x{i}")).await, Some(Reason::UnknownKid));
        }
        assert_eq!(
            s.calls(),
            2,
            "one refresh for 300 unknown kids inside one cooldown"
        );
        clock.advance(Duration::from_secs(10));
        let k2 = jwk("k2", "");
        s.set(Ok(doc(&[&jwk("k1", ""), &k2])));
        assert!(
            j.key("k2").await.is_ok(),
            "a new key is picked up after the cooldown"
        );
        assert_eq!(s.calls(), 3);
    }

    #[tokio::test]
    async fn concurrent_unknown_kid_lookups_share_one_fetch() {
        let s = Script::default();
        s.set(Ok(doc(&[&jwk("k1", "")])));
        let (j, _clock) = cache(&s);
        let (a, b, c, d) = tokio::join!(j.key("k1"), j.key("k1"), j.key("k1"), j.key("zz"));
        assert!(a.is_ok() && b.is_ok() && c.is_ok());
        assert_eq!(d.err(), Some(Reason::UnknownKid));
        assert_eq!(s.calls(), 1, "single flight");
    }

    #[tokio::test]
    async fn failures_back_off_exponentially() {
        let s = Script::default();
        s.set(Ok(doc(&[&jwk("k1", "")])));
        let (j, clock) = cache(&s);
        j.hydrate().await.unwrap();
        s.set(Err(500));
        let mut calls = s.calls();
        // back-offs after failures 1..4: 1, 2, 4, 8 s, all shorter than the 10 s cooldown
        for _ in 0..5 {
            clock.advance(Duration::from_secs(10)); // past the cooldown and the back-off
            assert_eq!(reason(&j, "new").await, Some(Reason::UnknownKid));
            assert_eq!(s.calls(), calls + 1, "one attempt");
            calls += 1;
        }
        // after 5 failures the back-off is 16 s: past the cooldown but inside it, no fetch
        clock.advance(Duration::from_secs(10));
        assert_eq!(reason(&j, "new").await, Some(Reason::UnknownKid));
        assert_eq!(s.calls(), calls, "no fetch during back-off");
        clock.advance(Duration::from_secs(7));
        assert_eq!(reason(&j, "new").await, Some(Reason::UnknownKid));
        assert_eq!(s.calls(), calls + 1, "fetch once the back-off is over");
        // known keys kept working throughout
        assert!(j.key("k1").await.is_ok());
    }

    #[tokio::test]
    async fn outage_keeps_known_keys_until_max_staleness_then_fails_closed() {
        let s = Script::default();
        s.set(Ok(doc(&[&jwk("k1", "")])));
        let (j, clock) = cache(&s);
        j.hydrate().await.unwrap();
        s.set(Ok("<html>not a jwks</html>".into()));
        clock.advance(Duration::from_secs(86_399));
        assert!(
            j.key("k1").await.is_ok(),
            "garbage is an outage: the key is kept"
        );
        assert!(j.trusted("k1").is_some());
        clock.advance(Duration::from_secs(1));
        assert_eq!(reason(&j, "k1").await, Some(Reason::JwksStale));
        assert!(j.trusted("k1").is_none());
        // recovery
        s.set(Ok(doc(&[&jwk("k1", "")])));
        clock.advance(Duration::from_secs(600));
        assert!(j.key("k1").await.is_ok());
    }

    #[tokio::test]
    async fn a_successful_fetch_replaces_the_key_set_at_once() {
        for (case, body) in [
            ("empty set", doc(&[])),
            ("re-marked enc", doc(&[&jwk("k1", r#","use":"enc""#)])),
            (
                "oct only",
                doc(&[r#"{"kty":"oct","kid":"k1","k":"c2VjcmV0"}"#]),
            ),
        ] {
            let s = Script::default();
            s.set(Ok(doc(&[&jwk("k1", "")])));
            let (j, clock) = cache(&s);
            j.hydrate().await.unwrap();
            let before = j.key("k1").await.unwrap();
            s.set(Ok(body));
            clock.advance(Duration::from_secs(3600));
            assert_eq!(
                reason(&j, "k1").await,
                Some(Reason::JwksNoUsableKeys),
                "{case}"
            );
            assert!(j.trusted("k1").is_none(), "{case}");
            assert_eq!(j.key_count(), 0, "{case}");
            drop(before);
        }
        // a key no longer listed stops being trusted while the others stay
        let s = Script::default();
        let k2 = jwk("k2", "");
        s.set(Ok(doc(&[&jwk("k1", ""), &k2])));
        let (j, clock) = cache(&s);
        j.hydrate().await.unwrap();
        let k2_before = j.key("k2").await.unwrap();
        s.set(Ok(doc(&[&k2])));
        clock.advance(Duration::from_secs(3600));
        assert_eq!(reason(&j, "k1").await, Some(Reason::UnknownKid));
        assert!(
            Arc::ptr_eq(&j.key("k2").await.unwrap(), &k2_before),
            "unchanged key keeps its identity"
        );
    }

    /// A key whose material stays but whose `alg`, `use` or `key_ops` changes is a new key: the
    /// refresh replaces it (a memo entry it backed dies with the old `Arc`).
    #[tokio::test]
    async fn a_narrowed_jwk_is_replaced_not_kept() {
        let kp = Ed25519KeyPair::generate().unwrap();
        let x = URL_SAFE_NO_PAD.encode(kp.public_key().as_ref());
        let with = |extra: &str| {
            doc(&[&format!(
                r#"{{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"{x}"{extra}}}"#
            )])
        };
        let s = Script::default();
        s.set(Ok(with("")));
        let (j, clock) = cache(&s);
        j.hydrate().await.unwrap();
        let mut before = j.key("k1").await.unwrap();
        for (extra, kept) in [
            ("", true),
            (r#","alg":"EdDSA""#, false),
            (r#","alg":"EdDSA","use":"sig""#, false),
            (r#","alg":"EdDSA","use":"sig","key_ops":["verify"]"#, false),
            (r#","alg":"EdDSA","use":"sig","key_ops":["verify"]"#, true),
            (
                r#","alg":"EdDSA","use":"sig","key_ops":["verify","sign"]"#,
                false,
            ),
        ] {
            s.set(Ok(with(extra)));
            clock.advance(Duration::from_secs(3600));
            let after = j.key("k1").await.unwrap();
            assert_eq!(Arc::ptr_eq(&before, &after), kept, "{extra:?}");
            before = after;
        }
    }

    #[tokio::test]
    async fn trusted_yields_to_a_due_refresh_except_during_back_off() {
        let s = Script::default();
        s.set(Ok(doc(&[&jwk("k1", "")])));
        let (j, clock) = cache(&s);
        j.hydrate().await.unwrap();
        assert!(j.trusted("k1").is_some());
        assert!(j.trusted("k2").is_none());
        clock.advance(Duration::from_secs(3600));
        assert!(j.trusted("k1").is_none(), "refresh due: take the full path");
        s.set(Err(500));
        assert!(
            j.key("k1").await.is_ok(),
            "outage: the known key still verifies"
        );
        assert!(
            j.trusted("k1").is_some(),
            "during back-off the memo may serve"
        );
        clock.advance(Duration::from_secs(2));
        assert!(
            j.trusted("k1").is_none(),
            "back-off over: the next request retries"
        );
    }

    #[tokio::test]
    async fn never_fetched_is_unavailable() {
        let s = Script::default();
        s.set(Err(503));
        let (j, _clock) = cache(&s);
        assert!(j.hydrate().await.is_err());
        assert_eq!(reason(&j, "k1").await, Some(Reason::JwksUnavailable));
    }
}
