//! The JWKS cache: keys fetched only from the configured URI, hydrated at init, refreshed on an
//! unknown `kid` (single-flight, cooldown by `governor`, exponential back-off while the endpoint
//! fails), kept through outages up to a maximum staleness, and dropped at once when a successful
//! fetch no longer lists them.
//!
//! Timings (see [`crate::config::JwksTimings`]):
//! - each fetch has a hard timeout (default 3 s, connect to last byte) and a body cap (256 KiB);
//! - a fetch older than `refresh_after` (default 1 h) is refreshed on the next request;
//! - an unknown `kid` triggers a refresh at most once per `cooldown` (default 10 s);
//! - after a failed fetch, no new attempt for 1 s, doubling per failure up to 5 min;
//! - known keys keep verifying while refreshes fail, until the last *successful* fetch is older
//!   than `max_stale` (default 24 h); then every token is refused (`jwks_stale`).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::{Alg, JwksTimings};
use crate::jwk::{parse_jwks, Key, KeyMap};
use crate::reason::Reason;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

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
}

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
    uri: http::Uri,
    client: HttpsClient,
    algs: Vec<Alg>,
    t: JwksTimings,
    state: RwLock<State>,
    flight: tokio::sync::Mutex<()>,
    unknown_kid_limiter: DefaultDirectRateLimiter,
    fetches: AtomicU64,
}

/// A usable key, with the JWKS generation it came from.
pub type KeyRef = Arc<Key>;

impl Jwks {
    /// Build the cache (no network yet). Fails only on an unusable URI or TLS setup.
    pub fn new(uri: &str, algs: Vec<Alg>, t: JwksTimings) -> Result<Jwks, FetchError> {
        let uri: http::Uri = uri.parse().map_err(|_| FetchError::Uri)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(t.timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| FetchError::Request(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https);
        let per = t.cooldown;
        let quota = Quota::with_period(per)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        Ok(Jwks {
            uri,
            client,
            algs,
            t,
            state: RwLock::new(State {
                keys: KeyMap::new(),
                fetched_at: None,
                retry_at: None,
                failures: 0,
                generation: 0,
            }),
            flight: tokio::sync::Mutex::new(()),
            unknown_kid_limiter: RateLimiter::direct(quota),
            fetches: AtomicU64::new(0),
        })
    }

    /// Number of fetch attempts so far (for logs and tests).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Number of keys currently held (whatever their age).
    pub fn key_count(&self) -> usize {
        self.state.read().map(|s| s.keys.len()).unwrap_or(0)
    }

    /// Init-phase fetch. A failure is logged and not fatal: requests then try again (with
    /// back-off) and are refused (`jwks_unavailable`) until a fetch succeeds.
    pub async fn hydrate(&self) -> Result<usize, FetchError> {
        let _g = self.flight.lock().await;
        self.refresh_locked().await
    }

    /// Current key for `kid` if it is still trusted right now (for memo hits: no I/O).
    pub fn trusted(&self, kid: &str, now: Instant) -> Option<KeyRef> {
        let s = self.state.read().ok()?;
        let fresh = s
            .fetched_at
            .is_some_and(|at| now.saturating_duration_since(at) < self.t.max_stale);
        if !fresh {
            return None;
        }
        s.keys.get(kid).cloned()
    }

    /// The key for `kid`, refreshing the JWKS when the kid is unknown or the copy is old.
    pub async fn key(&self, kid: &str) -> Result<KeyRef, Reason> {
        let now = Instant::now();
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

        // Unknown kid: refresh at most once per cooldown, and never during back-off.
        if backoff_ok && self.unknown_kid_limiter.check().is_ok() {
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
        if Instant::now().saturating_duration_since(at) >= self.t.max_stale {
            return Err(Reason::JwksStale);
        }
        s.keys.get(kid).cloned().ok_or(Reason::UnknownKid)
    }

    /// Single-flight refresh: if another task refreshed while we waited for the lock, do nothing.
    async fn refresh_if_unchanged(&self, seen_generation: u64) {
        let _g = self.flight.lock().await;
        let (generation, backoff_ok) = match self.state.read() {
            Ok(s) => (s.generation, s.retry_at.is_none_or(|r| Instant::now() >= r)),
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
                // Keep the same Arc for unchanged keys so memo entries stay valid; replaced or
                // removed keys lose their Arc and, with it, every memoised decision.
                for (kid, k) in new_keys.iter_mut() {
                    if let Some(old) = s.keys.get(kid) {
                        if old.same_material(k) {
                            *k = old.clone();
                        }
                    }
                }
                let n = new_keys.len();
                let removed = s.keys.keys().filter(|k| !new_keys.contains_key(*k)).count();
                s.keys = new_keys;
                s.fetched_at = Some(Instant::now());
                s.retry_at = None;
                s.failures = 0;
                s.generation += 1;
                tracing::info!(event = "jwks_refreshed", keys = n, removed, "JWKS fetched");
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
                s.retry_at = Some(Instant::now() + backoff);
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
        let req = http::Request::get(self.uri.clone())
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|_| FetchError::Uri)?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| FetchError::Request(e.to_string()))?;
        if resp.status() != http::StatusCode::OK {
            return Err(FetchError::Status(resp.status().as_u16()));
        }
        let body = Limited::new(resp.into_body(), self.t.max_bytes)
            .collect()
            .await
            .map_err(|_| FetchError::Body)?
            .to_bytes();
        Ok(parse_jwks(&body, &self.algs)?)
    }
}
