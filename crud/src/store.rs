//! DynamoDB: one table, partition key `userId` (the caller's `sub`), sort key `itemId`.
//!
//! Sort-key layout (prefixes cannot collide: item ids are ULIDs, which have no `#`):
//!
//! | sort key | what |
//! |---|---|
//! | `item#<ULID>` | an item; lists read `begins_with(itemId, "item#")` newest first |
//! | `profile` | the caller's profile document |
//! | `idem#<hex SHA-256 of the Idempotency-Key>` | an idempotency record, TTL on `expires_at` |
//!
//! Lists exclude the other kinds by the *key condition*, so pages are always full and cursors
//! stay valid. Attributes: `doc` (S, canonical JSON of the client's document), `version` (N),
//! `created_at` / `updated_at` (S, RFC 3339); idempotency records add `body_hash` (S), `response`
//! (S, the JSON answered the first time) and `expires_at` (N, Unix seconds; the table's TTL
//! attribute — expired records are also ignored before TTL deletes them).
//!
//! Every operation names the caller's partition in its key, and every write is conditional
//! (`attribute_exists` / `attribute_not_exists` / `version`), so another user's item is
//! indistinguishable from a missing one by construction, with no read-then-write. Expressions use
//! fixed text with `#name` / `:value` placeholders only; user data is only ever a value.
//!
//! ## Under faults
//!
//! Every call is budgeted against the invocation's deadline ([`with_deadline`]): its operation
//! timeout is what is left of the Lambda's remaining time, minus [`RESPONSE_RESERVE`] (and, for a
//! write, [`CHECK_RESERVE`] for the read that settles an uncertain outcome); with too little time
//! left no call starts and the answer is [`StoreError::Unavailable`] (503).
//!
//! Every write stamps the record with a fresh per-call write token (attribute `write_token`,
//! never rendered) and asks for the old item on a failed condition
//! (`ReturnValuesOnConditionCheckFailure=ALL_OLD`). When a reply is lost after DynamoDB applied
//! the write, the SDK's retry meets this call's own write: a failed condition whose old item
//! carries our token is our success, not a 412 / 404 / 500. Writes that would apply twice
//! (`PUT` without `If-Match`, the profile upsert) are guarded by `write_token <> :ours`, so a
//! retry never bumps the version twice. A write that fails after an attempt whose outcome is
//! unknown (no reply, a timeout, a 5xx) is settled by a consistent read: our token on the item
//! means it happened. A delete cannot leave a token: a failed `attribute_exists` after an uncertain
//! attempt, or the item absent on the settling read, means it is gone (204).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;

pub const ITEM_PREFIX: &str = "item#";
pub const PROFILE_KEY: &str = "profile";
pub const IDEMPOTENCY_PREFIX: &str = "idem#";

pub const PK: &str = "userId";
pub const SK: &str = "itemId";
pub const DOC: &str = "doc";
pub const VERSION: &str = "version";
pub const CREATED: &str = "created_at";
pub const UPDATED: &str = "updated_at";
pub const EXPIRES: &str = "expires_at";
pub const BODY_HASH: &str = "body_hash";
pub const RESPONSE: &str = "response";
/// The per-call write token (see "Under faults" above); never rendered to clients.
pub const WRITE_TOKEN: &str = "write_token";

/// SDK timeouts (`main.rs` configures the client with them; a deadline only ever shortens them).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(8);
/// Kept free before the deadline for rendering and sending the answer: no call runs into it.
pub const RESPONSE_RESERVE: Duration = Duration::from_millis(100);
/// Kept back from a write's own call for the read that settles an uncertain outcome.
pub const CHECK_RESERVE: Duration = Duration::from_millis(300);
/// The shortest call worth starting.
const MIN_CALL: Duration = Duration::from_millis(20);

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Run `f` (one request) with `deadline` as the limit every DynamoDB call in it is budgeted
/// against (`None`: only the SDK's own timeouts).
pub async fn with_deadline<F: Future>(deadline: Option<Instant>, f: F) -> F::Output {
    match deadline {
        Some(d) => DEADLINE.scope(d, f).await,
        None => f.await,
    }
}

/// The current request's deadline, if any.
pub fn deadline() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// The operation timeout for a call starting now, keeping `keep` back for what follows it
/// (`None`: no deadline; `Err`: too little time left to start one).
fn budget(keep: Duration) -> Result<Option<Duration>, StoreError> {
    let Some(d) = deadline() else {
        return Ok(None);
    };
    let left = d
        .saturating_duration_since(Instant::now())
        .saturating_sub(RESPONSE_RESERVE);
    // Keep back at most a third of what is left: the call itself comes first.
    let call = left.saturating_sub(keep.min(left / 3));
    if call < MIN_CALL {
        tracing::warn!("invocation deadline too close for a dynamodb call");
        return Err(StoreError::Unavailable);
    }
    Ok(Some(call.min(OPERATION_TIMEOUT)))
}

/// A per-call config override holding the budgeted timeouts.
fn timeouts(op: Duration) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::default().timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(op))
            .operation_attempt_timeout(ATTEMPT_TIMEOUT.min(op))
            .operation_timeout(op)
            .build(),
    )
}

/// Records, per call, whether any attempt's outcome is unknown: no reply (reset, timeout,
/// cancelled) or a 5xx (the write may have been applied).
#[derive(Debug, Clone, Default)]
struct Probe(Arc<ProbeState>);

#[derive(Debug, Default)]
struct ProbeState {
    attempts: AtomicU32,
    uncertain: AtomicBool,
}

impl Probe {
    fn uncertain(&self) -> bool {
        self.0.uncertain.load(Ordering::Relaxed)
    }
    fn attempts(&self) -> u32 {
        self.0.attempts.load(Ordering::Relaxed)
    }
}

impl Intercept for Probe {
    fn name(&self) -> &'static str {
        "WriteOutcomeProbe"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.attempts.fetch_add(1, Ordering::Relaxed);
        let unknown = context
            .response()
            .is_none_or(|r| r.status().as_u16() >= 500);
        if unknown {
            self.0.uncertain.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Send a fluent request with the budgeted timeouts and `probe` attached.
macro_rules! send {
    ($req:expr, $keep:expr, $probe:expr) => {{
        let mut op = $req.customize().interceptor($probe.clone());
        if let Some(t) = budget($keep)? {
            op = op.config_override(timeouts(t));
        }
        op.send().await
    }};
}

/// A fresh write token: 128 random bits, hex.
fn new_token() -> Result<String, StoreError> {
    let mut b = [0u8; 16];
    SystemRandom::new().fill(&mut b).map_err(|_| {
        tracing::error!("no randomness for a write token");
        StoreError::Internal
    })?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn has_token(m: &Attrs, token: &str) -> bool {
    get_s(m, WRITE_TOKEN) == Some(token)
}

/// Whether a failed call's final error leaves its outcome unknown.
fn uncertain<E>(e: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> bool {
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => se.raw().status().as_u16() >= 500,
        _ => false,
    }
}

pub type Attrs = HashMap<String, AttributeValue>;

/// A stored item or profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub sk: String,
    pub doc: String,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

/// A remembered idempotent POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdemRecord {
    pub body_hash: String,
    pub response: String,
    pub expires_at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Throttling, timeouts, 5xx: worth retrying later (503).
    #[error("dynamodb unavailable")]
    Unavailable,
    /// Anything else (misconfiguration, unexpected data): 500, details only in the log.
    #[error("dynamodb internal error")]
    Internal,
}

/// Why a conditional write did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CondFailure {
    /// No such item in the caller's partition.
    Missing,
    /// The item exists but its version did not match.
    VersionMismatch,
}

/// Result of an idempotent create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdemOutcome {
    Created,
    /// The key was used before (and has not expired): the first request's record.
    Existing(IdemRecord),
    /// Another request with this key is being written right now.
    InFlight,
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}
fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn key(sub: &str, sk: &str) -> Attrs {
    HashMap::from([(PK.to_owned(), s(sub)), (SK.to_owned(), s(sk))])
}

/// The full attribute map of a new record.
pub fn record_attrs(sub: &str, r: &Record) -> Attrs {
    let mut m = key(sub, &r.sk);
    m.insert(DOC.to_owned(), s(&r.doc));
    m.insert(VERSION.to_owned(), n(r.version));
    m.insert(CREATED.to_owned(), s(&r.created_at));
    m.insert(UPDATED.to_owned(), s(&r.updated_at));
    m
}

pub fn idem_attrs(sub: &str, sk: &str, r: &IdemRecord, created_at: &str) -> Attrs {
    let mut m = key(sub, sk);
    m.insert(BODY_HASH.to_owned(), s(&r.body_hash));
    m.insert(RESPONSE.to_owned(), s(&r.response));
    m.insert(EXPIRES.to_owned(), n(r.expires_at));
    m.insert(CREATED.to_owned(), s(created_at));
    m
}

fn get_s<'a>(m: &'a Attrs, k: &str) -> Option<&'a str> {
    m.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}
fn get_n(m: &Attrs, k: &str) -> Option<u64> {
    m.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// A record from its attribute map (`None` if it is not one of ours).
pub fn record_from(m: &Attrs) -> Option<Record> {
    Some(Record {
        sk: get_s(m, SK)?.to_owned(),
        doc: get_s(m, DOC)?.to_owned(),
        version: get_n(m, VERSION)?,
        created_at: get_s(m, CREATED)?.to_owned(),
        updated_at: get_s(m, UPDATED)?.to_owned(),
    })
}

pub fn idem_from(m: &Attrs) -> Option<IdemRecord> {
    Some(IdemRecord {
        body_hash: get_s(m, BODY_HASH)?.to_owned(),
        response: get_s(m, RESPONSE)?.to_owned(),
        expires_at: get_n(m, EXPIRES)?,
    })
}

const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
    "TransactionInProgressException",
    "TransactionConflictException",
];

/// Whether a DynamoDB service error (AWS error code, HTTP status) is worth retrying later.
pub fn is_transient(code: Option<&str>, http_status: u16) -> bool {
    code.is_some_and(|c| TRANSIENT_CODES.contains(&c)) || http_status >= 500
}

/// What a cancelled idempotent-create transaction means, from its cancellation reason codes
/// (index 0: the idempotency record's put, 1: the item's put).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// Another transaction on the same record is running: the first request is in flight.
    InFlight,
    /// The key's record exists: replay or refuse, depending on the body.
    KeyExists,
    /// Throttled inside the transaction.
    Throttled,
    /// Anything else.
    Other,
}

pub fn cancelled(codes: &[Option<&str>]) -> Cancelled {
    if codes.contains(&Some("TransactionConflict")) {
        Cancelled::InFlight
    } else if codes.first().copied().flatten() == Some("ConditionalCheckFailed") {
        Cancelled::KeyExists
    } else if codes
        .iter()
        .any(|c| matches!(c, Some("ThrottlingError" | "ProvisionedThroughputExceeded")))
    {
        Cancelled::Throttled
    } else {
        Cancelled::Other
    }
}

fn classify<E: ProvideErrorMetadata>(
    op: &'static str,
    e: &SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError {
    let code = e.code();
    let transient = match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => is_transient(code, se.raw().status().as_u16()),
        _ => false,
    };
    // The code and kind only: SDK messages can echo request data.
    tracing::warn!(
        op,
        code = code.unwrap_or("-"),
        transient,
        "dynamodb call failed"
    );
    if transient {
        StoreError::Unavailable
    } else {
        StoreError::Internal
    }
}

fn version_condition(base: &str, versions: Option<&[u64]>, values: &mut Attrs) -> String {
    match versions {
        None => base.to_owned(),
        // An empty list: only existence is checked (`If-Match: *`).
        Some([]) => base.to_owned(),
        Some(vs) => {
            let mut placeholders = Vec::with_capacity(vs.len());
            for (i, v) in vs.iter().enumerate() {
                let p = format!(":v{i}");
                values.insert(p.clone(), n(*v));
                placeholders.push(p);
            }
            format!("{base} AND #ver IN ({})", placeholders.join(", "))
        }
    }
}

/// The DynamoDB side. Cheap to clone (the SDK client is an `Arc`).
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: String) -> Store {
        Store { client, table }
    }

    async fn get_attrs(&self, sub: &str, sk: &str) -> Result<Option<Attrs>, StoreError> {
        let req = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(sub, sk)))
            .consistent_read(true);
        let out =
            send!(req, Duration::ZERO, Probe::default()).map_err(|e| classify("GetItem", &e))?;
        Ok(out.item)
    }

    pub async fn get(&self, sub: &str, sk: &str) -> Result<Option<Record>, StoreError> {
        match self.get_attrs(sub, sk).await? {
            None => Ok(None),
            Some(m) => record_from(&m).map(Some).ok_or_else(|| {
                tracing::error!("stored record has an unexpected shape");
                StoreError::Internal
            }),
        }
    }

    /// After a write failed with `err`: when an attempt may have reached DynamoDB (`uncertain`),
    /// read `sk` back; our token on it means the write happened (its attributes are returned).
    async fn settle(
        &self,
        op: &'static str,
        sub: &str,
        sk: &str,
        token: &str,
        uncertain: bool,
        err: StoreError,
    ) -> Result<Attrs, StoreError> {
        if !uncertain {
            return Err(err);
        }
        match self.get_attrs(sub, sk).await {
            Ok(Some(m)) if has_token(&m, token) => {
                tracing::info!(op, "write confirmed by a read after an uncertain failure");
                Ok(m)
            }
            Ok(_) => Err(err),
            Err(_) => Err(StoreError::Unavailable),
        }
    }

    /// Create a record that must not exist yet.
    pub async fn create(&self, sub: &str, r: &Record) -> Result<(), StoreError> {
        let token = new_token()?;
        let mut item = record_attrs(sub, r);
        item.insert(WRITE_TOKEN.to_owned(), s(&token));
        let probe = Probe::default();
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#sk)")
            .expression_attribute_names("#sk", SK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let e = match send!(req, CHECK_RESERVE, probe) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if let Some(
            aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c),
        ) = e.as_service_error()
        {
            let old = match c.item() {
                Some(m) => Some(m.clone()),
                None => self.get_attrs(sub, &r.sk).await?,
            };
            if old.as_ref().is_some_and(|m| has_token(m, &token)) {
                tracing::info!(
                    op = "PutItem",
                    attempts = probe.attempts(),
                    "write confirmed: a retry met this call's own write"
                );
                return Ok(());
            }
            tracing::error!("item id collision");
            return Err(StoreError::Internal);
        }
        let err = classify("PutItem", &e);
        self.settle(
            "PutItem",
            sub,
            &r.sk,
            &token,
            probe.uncertain() || uncertain(&e),
            err,
        )
        .await
        .map(|_| ())
    }

    /// Create `r` and remember it under the idempotency record `idem_sk` in one transaction, so a
    /// crash can never leave an item without its record (or the reverse).
    pub async fn create_idempotent(
        &self,
        sub: &str,
        r: &Record,
        idem_sk: &str,
        idem: &IdemRecord,
        now_secs: u64,
    ) -> Result<IdemOutcome, StoreError> {
        let token = new_token()?;
        let mut idem_item = idem_attrs(sub, idem_sk, idem, &r.created_at);
        idem_item.insert(WRITE_TOKEN.to_owned(), s(&token));
        let mut item = record_attrs(sub, r);
        item.insert(WRITE_TOKEN.to_owned(), s(&token));
        let idem_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(idem_item))
            .condition_expression("attribute_not_exists(#sk) OR #exp < :now")
            .expression_attribute_names("#sk", SK)
            .expression_attribute_names("#exp", EXPIRES)
            .expression_attribute_values(":now", n(now_secs))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|_| StoreError::Internal)?;
        let item_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#sk)")
            .expression_attribute_names("#sk", SK)
            .build()
            .map_err(|_| StoreError::Internal)?;
        let probe = Probe::default();
        // The SDK fills in `ClientRequestToken`, so on DynamoDB a retried transaction is a no-op
        // success; where it is not honoured, the retry meets our own record (token below).
        let req = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(idem_put).build())
            .transact_items(TransactWriteItem::builder().put(item_put).build());
        let err = match send!(req, CHECK_RESERVE, probe) {
            Ok(_) => return Ok(IdemOutcome::Created),
            Err(e) => e,
        };
        let reasons = match err.as_service_error() {
            Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(tc)) => {
                tc.cancellation_reasons().to_vec()
            }
            _ => {
                let e = classify("TransactWriteItems", &err);
                return self
                    .settle(
                        "TransactWriteItems",
                        sub,
                        idem_sk,
                        &token,
                        probe.uncertain() || uncertain(&err),
                        e,
                    )
                    .await
                    .map(|_| IdemOutcome::Created);
            }
        };
        let codes: Vec<Option<&str>> = reasons.iter().map(|r| r.code()).collect();
        match cancelled(&codes) {
            Cancelled::InFlight => {
                tracing::info!(reasons = ?codes, "idempotent create: transaction conflict");
                Ok(IdemOutcome::InFlight)
            }
            Cancelled::KeyExists => {
                let existing = match reasons.first().and_then(|r| r.item()) {
                    Some(m) => Some(m.clone()),
                    None => self.get_attrs(sub, idem_sk).await?,
                };
                if existing.as_ref().is_some_and(|m| has_token(m, &token)) {
                    tracing::info!(
                        op = "TransactWriteItems",
                        attempts = probe.attempts(),
                        "write confirmed: a retry met this call's own write"
                    );
                    return Ok(IdemOutcome::Created);
                }
                Ok(match existing.as_ref().and_then(idem_from) {
                    Some(rec) if rec.expires_at >= now_secs => IdemOutcome::Existing(rec),
                    // Expired between our write and our read, or half-visible: let the client retry.
                    _ => IdemOutcome::InFlight,
                })
            }
            Cancelled::Throttled => {
                tracing::warn!("idempotent create throttled");
                Err(StoreError::Unavailable)
            }
            Cancelled::Other => {
                tracing::warn!(reasons = ?codes, "idempotent create cancelled");
                Err(StoreError::Internal)
            }
        }
    }

    /// The remembered idempotent POST under `idem_sk`, unless expired.
    pub async fn get_idem(
        &self,
        sub: &str,
        idem_sk: &str,
        now_secs: u64,
    ) -> Result<Option<IdemRecord>, StoreError> {
        Ok(self
            .get_attrs(sub, idem_sk)
            .await?
            .as_ref()
            .and_then(idem_from)
            .filter(|r| r.expires_at >= now_secs))
    }

    /// Replace the document of an existing record; `versions`: the versions `If-Match` allows
    /// (`None`: any). Bumps the version.
    pub async fn replace(
        &self,
        sub: &str,
        sk: &str,
        doc: &str,
        updated_at: &str,
        versions: Option<&[u64]>,
    ) -> Result<Result<Record, CondFailure>, StoreError> {
        let mut values: Attrs = HashMap::from([
            (":doc".to_owned(), s(doc)),
            (":upd".to_owned(), s(updated_at)),
            (":one".to_owned(), n(1)),
        ]);
        let cond = version_condition("attribute_exists(#sk)", versions, &mut values);
        self.update(
            sub,
            sk,
            "SET #doc = :doc, #upd = :upd, #ver = #ver + :one",
            &cond,
            values,
        )
        .await
    }

    /// Write a new document over exactly `expected` (read-modify-write of a PATCH).
    pub async fn write_version(
        &self,
        sub: &str,
        sk: &str,
        doc: &str,
        updated_at: &str,
        expected: u64,
    ) -> Result<Result<Record, CondFailure>, StoreError> {
        let values: Attrs = HashMap::from([
            (":doc".to_owned(), s(doc)),
            (":upd".to_owned(), s(updated_at)),
            (":old".to_owned(), n(expected)),
            (":new".to_owned(), n(expected.saturating_add(1))),
        ]);
        self.update(
            sub,
            sk,
            "SET #doc = :doc, #upd = :upd, #ver = :new",
            "#ver = :old",
            values,
        )
        .await
    }

    /// Create or replace the profile (upsert); `versions` as for [`Store::replace`], and
    /// `must_not_exist` for `If-None-Match: *`.
    pub async fn put_profile(
        &self,
        sub: &str,
        doc: &str,
        now: &str,
        versions: Option<&[u64]>,
        must_not_exist: bool,
    ) -> Result<Result<Record, CondFailure>, StoreError> {
        let mut values: Attrs = HashMap::from([
            (":doc".to_owned(), s(doc)),
            (":now".to_owned(), s(now)),
            (":one".to_owned(), n(1)),
            (":zero".to_owned(), n(0)),
        ]);
        let cond = if must_not_exist {
            Some("attribute_not_exists(#sk)".to_owned())
        } else {
            versions.map(|_| version_condition("attribute_exists(#sk)", versions, &mut values))
        };
        let expr = "SET #doc = :doc, #upd = :now, #crt = if_not_exists(#crt, :now), #ver = if_not_exists(#ver, :zero) + :one";
        let res = self
            .update(
                sub,
                PROFILE_KEY,
                expr,
                cond.as_deref().unwrap_or(""),
                values,
            )
            .await?;
        Ok(match res {
            // For `If-None-Match: *` a failure means it exists.
            Err(_) if must_not_exist => Err(CondFailure::VersionMismatch),
            other => other,
        })
    }

    /// A conditional `UpdateItem` (`condition` may be empty) that stamps this call's write token
    /// and never applies twice: a retry that meets our own write is our success.
    async fn update(
        &self,
        sub: &str,
        sk: &str,
        update: &str,
        condition: &str,
        mut values: Attrs,
    ) -> Result<Result<Record, CondFailure>, StoreError> {
        let token = new_token()?;
        let mut names = HashMap::from([
            ("#doc".to_owned(), DOC.to_owned()),
            ("#upd".to_owned(), UPDATED.to_owned()),
            ("#ver".to_owned(), VERSION.to_owned()),
            ("#wt".to_owned(), WRITE_TOKEN.to_owned()),
        ]);
        if update.contains("#crt") {
            names.insert("#crt".to_owned(), CREATED.to_owned());
        }
        // DynamoDB refuses placeholder names an expression does not use.
        if condition.contains("#sk") {
            names.insert("#sk".to_owned(), SK.to_owned());
        }
        values.insert(":wt".to_owned(), s(&token));
        let update = format!("{update}, #wt = :wt");
        let guard = "(attribute_not_exists(#wt) OR #wt <> :wt)";
        let condition = if condition.is_empty() {
            guard.to_owned()
        } else {
            format!("({condition}) AND {guard}")
        };
        let probe = Probe::default();
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(sub, sk)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let attrs = match send!(req, CHECK_RESERVE, probe) {
            Ok(out) => out.attributes,
            Err(e) => {
                if let Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c)) =
                    e.as_service_error()
                {
                    let old = match c.item() {
                        Some(m) => Some(m.clone()),
                        None => self.get_attrs(sub, sk).await?,
                    };
                    match old {
                        Some(m) if has_token(&m, &token) => {
                            tracing::info!(
                                op = "UpdateItem",
                                attempts = probe.attempts(),
                                "write confirmed: a retry met this call's own write"
                            );
                            Some(m)
                        }
                        Some(_) => return Ok(Err(CondFailure::VersionMismatch)),
                        None => return Ok(Err(CondFailure::Missing)),
                    }
                } else {
                    let err = classify("UpdateItem", &e);
                    Some(
                        self.settle(
                            "UpdateItem",
                            sub,
                            sk,
                            &token,
                            probe.uncertain() || uncertain(&e),
                            err,
                        )
                        .await?,
                    )
                }
            }
        };
        match attrs.as_ref().and_then(record_from) {
            Some(r) => Ok(Ok(r)),
            None => {
                tracing::error!("UpdateItem returned no usable attributes");
                Err(StoreError::Internal)
            }
        }
    }

    /// Delete an existing record (`versions` as for [`Store::replace`]).
    pub async fn delete(
        &self,
        sub: &str,
        sk: &str,
        versions: Option<&[u64]>,
    ) -> Result<Result<(), CondFailure>, StoreError> {
        let mut values = Attrs::new();
        let cond = version_condition("attribute_exists(#sk)", versions, &mut values);
        let mut req = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(sub, sk)))
            .condition_expression(cond)
            .expression_attribute_names("#sk", SK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if versions.is_some() {
            req = req
                .expression_attribute_names("#ver", VERSION)
                .set_expression_attribute_values(Some(values));
        }
        let probe = Probe::default();
        let e = match send!(req, CHECK_RESERVE, probe) {
            Ok(_) => return Ok(Ok(())),
            Err(e) => e,
        };
        if let Some(aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(c)) =
            e.as_service_error()
        {
            let old = match c.item() {
                Some(m) => Some(m.clone()),
                None => self.get_attrs(sub, sk).await?,
            };
            return Ok(match old {
                Some(_) => Err(CondFailure::VersionMismatch),
                // Gone after an attempt that may have deleted it: that was us.
                None if probe.uncertain() => {
                    tracing::info!(
                        op = "DeleteItem",
                        attempts = probe.attempts(),
                        "delete confirmed: a retry found the item gone"
                    );
                    Ok(())
                }
                None => Err(CondFailure::Missing),
            });
        }
        let err = classify("DeleteItem", &e);
        if probe.uncertain() || uncertain(&e) {
            if let Ok(None) = self.get_attrs(sub, sk).await {
                tracing::info!(
                    op = "DeleteItem",
                    "delete confirmed by a read after an uncertain failure"
                );
                return Ok(Ok(()));
            }
        }
        Err(err)
    }

    /// Up to `limit` items, newest first, strictly older than `after` (an item sort key);
    /// the flag says whether more may follow.
    pub async fn list(
        &self,
        sub: &str,
        limit: usize,
        after: Option<&str>,
    ) -> Result<(Vec<Record>, bool), StoreError> {
        let fetch = i32::try_from(limit + 1).unwrap_or(i32::MAX);
        let req = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(sub))
            .expression_attribute_values(":prefix", s(ITEM_PREFIX))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(fetch)
            .set_exclusive_start_key(after.map(|sk| key(sub, sk)));
        let out =
            send!(req, Duration::ZERO, Probe::default()).map_err(|e| classify("Query", &e))?;
        let more_in_table = out.last_evaluated_key.is_some();
        let mut records = Vec::with_capacity(limit);
        for m in out.items.unwrap_or_default() {
            match record_from(&m) {
                Some(r) if r.sk.starts_with(ITEM_PREFIX) => records.push(r),
                _ => {
                    tracing::error!("listed record has an unexpected shape");
                    return Err(StoreError::Internal);
                }
            }
        }
        let more = records.len() > limit || more_in_table;
        records.truncate(limit);
        let more = more && !records.is_empty();
        Ok((records, more))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_attributes() {
        let r = Record {
            sk: "item#01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            doc: "{}".into(),
            version: 3,
            created_at: "2024-01-01T00:00:00.000Z".into(),
            updated_at: "2024-01-02T00:00:00.000Z".into(),
        };
        let m = record_attrs("sub-1", &r);
        assert_eq!(m.get(PK), Some(&s("sub-1")));
        assert_eq!(record_from(&m), Some(r));
        let i = IdemRecord {
            body_hash: "h".into(),
            response: "{}".into(),
            expires_at: 9,
        };
        assert_eq!(idem_from(&idem_attrs("u", "idem#x", &i, "t")), Some(i));
    }

    #[test]
    fn prefixes_never_collide_with_item_ids() {
        // Item ids are ULIDs (Crockford base32): they cannot contain '#', so no item sort key can
        // equal the profile key or start like an idempotency record.
        assert!(!PROFILE_KEY.starts_with(ITEM_PREFIX));
        assert!(!IDEMPOTENCY_PREFIX.starts_with(ITEM_PREFIX));
        assert!(!ITEM_PREFIX.starts_with(IDEMPOTENCY_PREFIX));
    }

    #[test]
    fn version_conditions_use_placeholders_only() {
        let mut v = Attrs::new();
        let c = version_condition("attribute_exists(#sk)", Some(&[1, 2]), &mut v);
        assert_eq!(c, "attribute_exists(#sk) AND #ver IN (:v0, :v1)");
        assert_eq!(v.get(":v1"), Some(&n(2)));
    }

    #[test]
    fn failures_are_classified() {
        assert!(is_transient(
            Some("ProvisionedThroughputExceededException"),
            400
        ));
        assert!(is_transient(Some("ThrottlingException"), 400));
        assert!(is_transient(Some("RequestLimitExceeded"), 400));
        assert!(is_transient(None, 503));
        assert!(!is_transient(Some("ValidationException"), 400));
        assert!(!is_transient(Some("ResourceNotFoundException"), 400));
        assert!(!is_transient(Some("ConditionalCheckFailedException"), 400));

        assert_eq!(
            cancelled(&[Some("None"), Some("TransactionConflict")]),
            Cancelled::InFlight
        );
        assert_eq!(
            cancelled(&[Some("TransactionConflict"), Some("None")]),
            Cancelled::InFlight
        );
        assert_eq!(
            cancelled(&[Some("ConditionalCheckFailed"), Some("None")]),
            Cancelled::KeyExists
        );
        assert_eq!(
            cancelled(&[Some("None"), Some("ThrottlingError")]),
            Cancelled::Throttled
        );
        // The item's own condition failing (an id collision) is not a replay.
        assert_eq!(
            cancelled(&[Some("None"), Some("ConditionalCheckFailed")]),
            Cancelled::Other
        );
        assert_eq!(
            cancelled(&[Some("ValidationError"), None]),
            Cancelled::Other
        );
        assert_eq!(cancelled(&[]), Cancelled::Other);
    }
}
