//! Revoked sessions (`REVOCATION_TABLE`): a synced copy of the revocation set, checked on every
//! decision — a fresh verification and a memo hit alike — with no store call on the request path.
//!
//! - **Sync.** The whole table is read (a paginated, strongly consistent `Scan` of `pk`,
//!   `revoked_before`, `expires_at`; layout in `revocation_keys`) at init and then once per
//!   `REVOCATION_SYNC_SECONDS` by a background task. A successful read replaces the set.
//! - **Freshness.** A decision uses the set while it is younger than `REVOCATION_SYNC_SECONDS` +
//!   [`GRACE`]. An older set (a Lambda instance thawed after a pause: its background task did not
//!   run while frozen) is refreshed first, once for all the requests waiting on it, within
//!   [`SYNC_TIMEOUT`]; so a revocation written at `T` is in force for every decision from
//!   `T + REVOCATION_SYNC_SECONDS + GRACE + SYNC_TIMEOUT` on, on every warm instance.
//! - **Store unreachable.** A failed read (logged `revocation_sync_failed`, retried at most once
//!   per [`RETRY_AFTER_FAILURE`]) leaves the last set in force until it is
//!   `REVOCATION_MAX_STALE_SECONDS` old; after that, and before the first successful read, every
//!   token is refused with `revocation_unavailable` (fail closed: nothing is trusted because the
//!   store failed).
//! - **Bounded.** At most [`MAX_ENTRIES`] live entries; a table holding more is a failed read
//!   (`revocation_set_too_large`), never a partial set. Entries past `expires_at` are dropped
//!   when read (DynamoDB's TTL deletes lazily); the memory is about 40 bytes per entry.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

// tokio's clock (the std one underneath; pausable in tests)
use tokio::time::Instant;

pub use revocation_keys::Key;
use revocation_keys::{jti_key, sub_key, Entry as Stored};

use crate::claims::Principal;
use crate::reason::Reason;

/// A set older than `REVOCATION_SYNC_SECONDS` by more than this is refreshed before it decides.
pub const GRACE: Duration = Duration::from_secs(1);
/// One sync's whole time (every page); past it the sync has failed.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(1);
/// After a failed sync, the next attempt waits at least this long.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// The most live entries held (about 4 MB).
pub const MAX_ENTRIES: usize = 100_000;

/// One stored row, as read: its `pk`, `revoked_before` and `expires_at` (numbers, when present).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub pk: String,
    pub revoked_before: Option<f64>,
    pub expires_at: Option<f64>,
}

/// Why a sync failed (the message is logged; no key or token in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("revocation store: {0}")]
    Store(String),
    #[error("revocation table holds more than {MAX_ENTRIES} live entries")]
    TooLarge,
    #[error("revocation sync took longer than {SYNC_TIMEOUT:?}")]
    Timeout,
}

/// The `event` of a failed sync's log line (the template's sync-failure alarm counts them).
pub const SYNC_FAILURE_EVENTS: [&str; 2] = ["revocation_sync_failed", "revocation_set_too_large"];

impl SyncError {
    fn event(&self) -> &'static str {
        match self {
            SyncError::TooLarge => SYNC_FAILURE_EVENTS[1],
            _ => SYNC_FAILURE_EVENTS[0],
        }
    }
}

pub type ScanFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<Row>, SyncError>> + Send + 'a>>;

/// Where the rows come from: the DynamoDB table ([`DynamoSource`]), or a test's own.
pub trait Source: Send + Sync {
    /// Every row of the table. `limit`: more rows than this may be refused as `TooLarge`.
    fn scan(&self, limit: usize) -> ScanFuture<'_>;
}

/// What a token's revocation is checked against: hashed once, when it is verified.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenKeys {
    jti: Option<Key>,
    origin_jti: Option<Key>,
    sub: Key,
    iat: Option<f64>,
}

impl TokenKeys {
    pub fn of(p: &Principal, iss: &str) -> TokenKeys {
        let k = |s: &str| (!s.is_empty()).then(|| jti_key(iss, s));
        TokenKeys {
            jti: k(p.jti()),
            origin_jti: k(p.origin_jti()),
            sub: sub_key(p.sub()),
            iat: p.iat,
        }
    }
}

/// One synced copy of the table.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// session key → `expires_at`
    sessions: HashMap<Key, f64>,
    /// owner key → (`revoked_before`, `expires_at`)
    owners: HashMap<Key, (f64, f64)>,
}

impl Snapshot {
    /// The live entries of `rows` at `now` (Unix seconds). Rows of another shape are skipped.
    pub fn from_rows(rows: Vec<Row>, now: f64) -> Result<Snapshot, SyncError> {
        let mut s = Snapshot::default();
        for r in rows {
            let Some(exp) = r.expires_at.filter(|e| *e > now) else {
                continue;
            };
            match Stored::parse(&r.pk) {
                Some(Stored::Jti(k)) => {
                    s.sessions.insert(k, exp);
                }
                Some(Stored::Sub(k)) => {
                    let Some(before) = r.revoked_before else {
                        continue;
                    };
                    let e = s.owners.entry(k).or_insert((before, exp));
                    e.0 = e.0.max(before);
                    e.1 = e.1.max(exp);
                }
                None => continue,
            }
            if s.len() > MAX_ENTRIES {
                return Err(SyncError::TooLarge);
            }
        }
        Ok(s)
    }

    pub fn len(&self) -> usize {
        self.sessions.len() + self.owners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Is a token with these keys revoked at `now`?
    pub fn revoked(&self, t: &TokenKeys, now: f64) -> bool {
        let session = |k: &Option<Key>| {
            k.as_ref()
                .and_then(|k| self.sessions.get(k))
                .is_some_and(|exp| *exp > now)
        };
        if session(&t.origin_jti) || session(&t.jti) {
            return true;
        }
        match self.owners.get(&t.sub) {
            // A token without `iat` cannot show it came after the cutoff.
            Some((before, exp)) if *exp > now => t.iat.is_none_or(|iat| iat <= *before),
            _ => false,
        }
    }
}

struct State {
    set: Arc<Snapshot>,
    synced_at: Option<Instant>,
    failed_at: Option<Instant>,
}

/// The synced revocation set of one instance.
pub struct Revocations {
    source: Box<dyn Source>,
    sync_every: Duration,
    max_stale: Duration,
    state: RwLock<State>,
    /// One sync at a time; requests due for one wait on it.
    flight: tokio::sync::Mutex<()>,
    syncs: std::sync::atomic::AtomicU64,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Revocations {
    pub fn new(source: Box<dyn Source>, sync_every: Duration, max_stale: Duration) -> Revocations {
        Revocations {
            source,
            sync_every,
            max_stale,
            state: RwLock::new(State {
                set: Arc::new(Snapshot::default()),
                synced_at: None,
                failed_at: None,
            }),
            flight: tokio::sync::Mutex::new(()),
            syncs: 0.into(),
        }
    }

    /// Store reads made so far (successful or not).
    pub fn syncs(&self) -> u64 {
        self.syncs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Entries in the current set.
    pub fn len(&self) -> usize {
        self.read().set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn age(&self, now: Instant) -> Option<Duration> {
        self.read()
            .synced_at
            .map(|t| now.saturating_duration_since(t))
    }

    /// Read the table now (one sync; concurrent callers share it). `Ok(entries)`.
    pub async fn sync(&self) -> Result<usize, SyncError> {
        let _g = self.flight.lock().await;
        self.sync_locked().await
    }

    async fn sync_locked(&self) -> Result<usize, SyncError> {
        self.syncs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        let rows = match tokio::time::timeout(SYNC_TIMEOUT, self.source.scan(MAX_ENTRIES)).await {
            Ok(r) => r,
            Err(_) => Err(SyncError::Timeout),
        };
        let result = rows.and_then(|r| Snapshot::from_rows(r, unix_now()));
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(set) => {
                let n = set.len();
                st.set = Arc::new(set);
                st.synced_at = Some(started);
                st.failed_at = None;
                tracing::debug!(event = "revocation_synced", entries = n);
                Ok(n)
            }
            Err(e) => {
                st.failed_at = Some(Instant::now());
                let age = st.synced_at.map(|t| t.elapsed().as_secs());
                tracing::warn!(
                    event = e.event(),
                    error = %e,
                    set_age_seconds = age,
                    "revocation set not refreshed; the last one stays in force up to REVOCATION_MAX_STALE_SECONDS"
                );
                Err(e)
            }
        }
    }

    /// Refresh the set when it is past its freshness (a request waits for that one sync).
    async fn refresh_if_due(&self) {
        let due = |s: &Self| {
            let st = s.read();
            let now = Instant::now();
            let stale = st
                .synced_at
                .is_none_or(|t| now.saturating_duration_since(t) >= s.sync_every + GRACE);
            let backing_off = st
                .failed_at
                .is_some_and(|t| now.saturating_duration_since(t) < RETRY_AFTER_FAILURE);
            stale && !backing_off
        };
        if !due(self) {
            return;
        }
        let _g = self.flight.lock().await;
        // Another caller may have synced (or failed) while this one waited.
        if due(self) {
            let _ = self.sync_locked().await;
        }
    }

    /// The background refresher: one sync per `REVOCATION_SYNC_SECONDS` (skipped when a request
    /// just did one), for as long as the runtime runs.
    pub async fn run(self: Arc<Self>) {
        loop {
            let wait = match self.age(Instant::now()) {
                Some(age) => self.sync_every.saturating_sub(age),
                None => RETRY_AFTER_FAILURE,
            };
            tokio::time::sleep(wait.max(Duration::from_millis(50))).await;
            let _g = self.flight.lock().await;
            let fresh = self
                .age(Instant::now())
                .is_some_and(|a| a < self.sync_every);
            let backing_off = self
                .read()
                .failed_at
                .is_some_and(|t| t.elapsed() < RETRY_AFTER_FAILURE);
            if !fresh && !backing_off {
                let _ = self.sync_locked().await;
            }
        }
    }

    /// `Ok` when a token with `keys` may pass: the set is usable and does not revoke it.
    pub async fn check(&self, keys: &TokenKeys, now: f64) -> Result<(), Reason> {
        self.refresh_if_due().await;
        let (set, age) = {
            let st = self.read();
            (st.set.clone(), st.synced_at.map(|t| t.elapsed()))
        };
        match age {
            Some(a) if a <= self.max_stale => {
                if set.revoked(keys, now) {
                    Err(Reason::Revoked)
                } else {
                    Ok(())
                }
            }
            _ => Err(Reason::RevocationUnavailable),
        }
    }
}

/// The DynamoDB table as a [`Source`] (`aws-sdk-dynamodb`; the endpoint, region and credentials
/// from the SDK's own settings).
#[cfg(feature = "net")]
pub struct DynamoSource {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

#[cfg(feature = "net")]
impl DynamoSource {
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> DynamoSource {
        DynamoSource { client, table }
    }
}

#[cfg(feature = "net")]
fn num(v: Option<&aws_sdk_dynamodb::types::AttributeValue>) -> Option<f64> {
    v?.as_n()
        .ok()?
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
}

#[cfg(feature = "net")]
impl Source for DynamoSource {
    fn scan(&self, limit: usize) -> ScanFuture<'_> {
        Box::pin(async move {
            let mut rows = Vec::new();
            let mut start = None;
            loop {
                let out = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .consistent_read(true)
                    .projection_expression("#pk, #rb, #exp")
                    .expression_attribute_names("#pk", revocation_keys::PK)
                    .expression_attribute_names("#rb", revocation_keys::REVOKED_BEFORE)
                    .expression_attribute_names("#exp", revocation_keys::EXPIRES_AT)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| {
                        SyncError::Store(match e.as_service_error() {
                            Some(s) => s.meta().code().unwrap_or("service error").to_string(),
                            None => "no answer".to_string(),
                        })
                    })?;
                for item in out.items() {
                    let Some(pk) = item.get(revocation_keys::PK).and_then(|v| v.as_s().ok()) else {
                        continue;
                    };
                    rows.push(Row {
                        pk: pk.clone(),
                        revoked_before: num(item.get(revocation_keys::REVOKED_BEFORE)),
                        expires_at: num(item.get(revocation_keys::EXPIRES_AT)),
                    });
                    if rows.len() > limit.saturating_mul(2) {
                        return Err(SyncError::TooLarge);
                    }
                }
                match out.last_evaluated_key {
                    Some(k) if !k.is_empty() => start = Some(k),
                    _ => return Ok(rows),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::Fields;
    use revocation_keys::{jti_pk, sub_pk};

    fn p(sub: &str, jti: &str, origin: &str, iat: Option<f64>) -> Principal {
        Principal::new(Fields {
            sub: sub.into(),
            token_use: "access".into(),
            jti: jti.into(),
            origin_jti: origin.into(),
            iat,
            ..Fields::default()
        })
    }

    fn row(pk: String, before: Option<f64>, exp: f64) -> Row {
        Row {
            pk,
            revoked_before: before,
            expires_at: Some(exp),
        }
    }

    #[test]
    fn sessions_and_owners_are_revoked_until_their_entries_expire() {
        let iss = "https://iss";
        let rows = vec![
            row(jti_pk(&jti_key(iss, "o1")), None, 200.0),
            row(sub_pk(&sub_key("bob")), Some(100.0), 300.0),
            row(jti_pk(&jti_key(iss, "dead")), None, 50.0),
            row("other".into(), None, 500.0),
        ];
        let s = Snapshot::from_rows(rows, 60.0).unwrap();
        assert_eq!(
            s.len(),
            2,
            "the expired row and the foreign one are dropped"
        );
        let k = |pr: &Principal| TokenKeys::of(pr, iss);
        assert!(
            s.revoked(&k(&p("a", "j", "o1", Some(1.0))), 60.0),
            "by origin_jti"
        );
        assert!(s.revoked(&k(&p("a", "o1", "", Some(1.0))), 60.0), "by jti");
        assert!(
            !s.revoked(&k(&p("a", "o1", "", Some(1.0))), 200.0),
            "expired entry"
        );
        assert!(
            !s.revoked(
                &TokenKeys::of(&p("a", "o1", "", None), "https://other"),
                60.0
            ),
            "another issuer's jti"
        );
        assert!(!s.revoked(&k(&p("a", "dead", "", None)), 60.0));
        assert!(
            s.revoked(&k(&p("bob", "x", "y", Some(100.0))), 60.0),
            "iat at the cutoff"
        );
        assert!(s.revoked(&k(&p("bob", "x", "y", None)), 60.0), "no iat");
        assert!(
            !s.revoked(&k(&p("bob", "x", "y", Some(100.5))), 60.0),
            "newer sign-in"
        );
        assert!(
            !s.revoked(&k(&p("carol", "x", "y", Some(1.0))), 60.0),
            "another user"
        );
    }

    #[test]
    fn the_set_is_bounded() {
        let rows = (0..=MAX_ENTRIES)
            .map(|i| row(jti_pk(&jti_key("i", &i.to_string())), None, 10.0))
            .collect();
        assert_eq!(
            Snapshot::from_rows(rows, 0.0).unwrap_err(),
            SyncError::TooLarge
        );
    }

    struct Scripted(std::sync::Mutex<Vec<Result<Vec<Row>, SyncError>>>);

    impl Source for Scripted {
        fn scan(&self, _: usize) -> ScanFuture<'_> {
            let next = self.0.lock().unwrap().remove(0);
            Box::pin(async move { next })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stale_sets_stay_in_force_until_the_limit_then_fail_closed() {
        let iss = "https://iss";
        let revoked = vec![row(jti_pk(&jti_key(iss, "j")), None, 4e9)];
        let r = Revocations::new(
            Box::new(Scripted(std::sync::Mutex::new(vec![
                Err(SyncError::Store("x".into())),
                Ok(revoked.clone()),
                Err(SyncError::Store("x".into())),
                Err(SyncError::Store("x".into())),
                Err(SyncError::Store("x".into())),
                Ok(vec![]),
            ]))),
            Duration::from_secs(5),
            Duration::from_secs(8),
        );
        let t = TokenKeys::of(&p("a", "j", "", Some(1.0)), iss);
        let other = TokenKeys::of(&p("a", "k", "", Some(1.0)), iss);
        // never synced, store failing: closed
        assert_eq!(
            r.check(&other, 1.0).await,
            Err(Reason::RevocationUnavailable)
        );
        tokio::time::advance(RETRY_AFTER_FAILURE).await;
        assert_eq!(r.check(&t, 1.0).await, Err(Reason::Revoked));
        assert_eq!(r.check(&other, 1.0).await, Ok(()));
        assert_eq!(r.syncs(), 2, "fresh: no read");
        // due (6 s), the store fails: the last set stays in force
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(r.check(&t, 1.0).await, Err(Reason::Revoked));
        assert_eq!(r.check(&other, 1.0).await, Ok(()));
        assert_eq!(r.syncs(), 3, "one failed read, then back-off");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(r.check(&other, 1.0).await, Ok(()), "8 s: at the limit");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            r.check(&other, 1.0).await,
            Err(Reason::RevocationUnavailable),
            "past the limit"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(r.check(&t, 1.0).await, Ok(()), "recovered: the new set");
    }
}
