//! DynamoDB: one table, partition key `userId` (the caller's `sub`), sort key `itemId`.
//!
//! Sort-key layout (prefixes cannot collide: item ids are ULIDs, which have no `#`):
//!
//! | sort key | what |
//! |---|---|
//! | `item#<ULID>` | an item; lists read `begins_with(itemId, "item#")` newest first |
//! | `profile` | the caller's profile document |
//! | `idem#<hex SHA-256 of the Idempotency-Key>` | an idempotency record, TTL on `expires_at` |
//! | `ratelimit#<Unix minute>` | the shared rate limit's counter for that clock minute ([`RateCounter`]; in `RATE_LIMIT_TABLE`, by default this table): `requests` (N), TTL on `expires_at` |
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
//!
//! ## Layout
//!
//! Read bottom-up: [`codec`] turns records into attribute maps and write conditions into
//! expression text (and back); [`classify`] says what a failed call means (transient or not,
//! outcome unknown, why a transaction was cancelled); [`deadline`](mod@deadline) budgets each call
//! against the invocation's deadline. This file holds the key layout, attribute names, timeouts
//! and the types every caller sees ([`Record`], [`WriteCondition`], [`WriteResult`], …), then the
//! operations: the [`Store`] and its DynamoDB calls, built from the three.

use std::collections::HashMap;
use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;

pub mod classify;
pub mod codec;
pub mod deadline;

pub use classify::{cancelled, is_transient, Cancelled};
use classify::{classify, uncertain, Probe};
use codec::{condition_expression, has_token, n, s};
pub use codec::{idem_attrs, idem_from, key, record_attrs, record_from};
use deadline::{budget, timeouts};
pub use deadline::{deadline, with_deadline};

pub const ITEM_PREFIX: &str = "item#";
pub const PROFILE_KEY: &str = "profile";
pub const IDEMPOTENCY_PREFIX: &str = "idem#";
pub use crate::ratelimit::COUNTER_PREFIX;

pub const PK: &str = "userId";
pub const SK: &str = "itemId";
pub const DOC: &str = "doc";
pub const VERSION: &str = "version";
pub const CREATED: &str = "created_at";
pub const UPDATED: &str = "updated_at";
pub const EXPIRES: &str = "expires_at";
pub const BODY_HASH: &str = "body_hash";
pub const RESPONSE: &str = "response";
/// A rate-limit counter's count (N).
pub const COUNT: &str = "requests";
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
/// The rate-limit counter's whole budget: one attempt (no SDK retry, so a failing counter store
/// never drains the client's retry quota the item calls rely on), within the invocation's time.
/// On failure the limit fails open ([`crate::limits`]), so this is the most a request waits for it.
pub const COUNTER_TIMEOUT: Duration = Duration::from_millis(150);

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

/// What must hold of the stored record for a write to happen, checked by DynamoDB in the same
/// call (never a read-then-write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteCondition<'a> {
    /// No check: create or overwrite (the profile's upsert without preconditions).
    Any,
    /// The record must exist (an item write without `If-Match`, or `If-Match: *`).
    Exists,
    /// The record must not exist yet (`If-None-Match: *`).
    Absent,
    /// The record must exist at one of these versions (`If-Match: "3", "4"`). Handlers answer an
    /// empty list (only weak tags) from a read, without writing; one that reaches the store
    /// matches nothing.
    Versions(&'a [u64]),
}

/// A conditional write's answer: `Err` when DynamoDB could not answer ([`StoreError`]: 503 or
/// 500), `Ok(Err(_))` when the condition refused the write ([`CondFailure`]: 404 or 412), and
/// `Ok(Ok(_))` when it happened.
pub type WriteResult<T> = Result<Result<T, CondFailure>, StoreError>;

/// Result of an idempotent create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdemOutcome {
    Created,
    /// The key was used before (and has not expired): the first request's record.
    Existing(IdemRecord),
    /// Another request with this key is being written right now.
    InFlight,
}

// ------------------------------------------------------------------------------------------------
// Operations (kept in this file: the template test (repo_suite::template) derives the role's actions from the SDK calls
// in crud/src/*.rs, and reads the key names above from here)
// ------------------------------------------------------------------------------------------------

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
    Ok(hex::encode(b))
}

/// The rate-limit counter's request: the key, the update and its values (the attributes the
/// benchmark builds too). `ADD` creates the counter at 1 and sets its TTL once.
pub fn counter_update(sub: &str, sk: &str, expires_at: u64) -> (Attrs, &'static str, Attrs) {
    (
        key(sub, sk),
        "ADD #n :one SET #exp = if_not_exists(#exp, :exp)",
        HashMap::from([
            (":one".to_owned(), n(1)),
            (":exp".to_owned(), n(expires_at)),
        ]),
    )
}

/// The count in an `UpdateItem`'s `UPDATED_NEW` attributes.
pub fn counter_from(attrs: Option<&Attrs>) -> Option<u64> {
    attrs?.get(COUNT)?.as_n().ok()?.parse().ok()
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

    /// The shared rate limit's counters in `table` (`RATE_LIMIT_TABLE`), on this store's client.
    pub fn rate_counter(&self, table: String) -> RateCounter {
        RateCounter {
            client: self.client.clone(),
            table,
        }
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

    /// Replace the document of a record if `cond` holds ([`WriteCondition::Exists`] or
    /// [`WriteCondition::Versions`] for an item). Bumps the version.
    pub async fn replace(
        &self,
        sub: &str,
        sk: &str,
        doc: &str,
        updated_at: &str,
        cond: WriteCondition<'_>,
    ) -> WriteResult<Record> {
        let mut values: Attrs = HashMap::from([
            (":doc".to_owned(), s(doc)),
            (":upd".to_owned(), s(updated_at)),
            (":one".to_owned(), n(1)),
        ]);
        let cond = condition_expression(cond, &mut values);
        self.update(
            sub,
            sk,
            "SET #doc = :doc, #upd = :upd, #ver = #ver + :one",
            cond.as_deref().unwrap_or(""),
            values,
        )
        .await
    }

    /// Write a new document over exactly version `expected` (the read-modify-write of a PATCH;
    /// a missing record fails the condition too).
    pub async fn write_version(
        &self,
        sub: &str,
        sk: &str,
        doc: &str,
        updated_at: &str,
        expected: u64,
    ) -> WriteResult<Record> {
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

    /// Create or replace the profile (an upsert when `cond` is [`WriteCondition::Any`]). When
    /// `cond` is [`WriteCondition::Absent`] (`If-None-Match: *`), a failure means it exists:
    /// [`CondFailure::VersionMismatch`].
    pub async fn put_profile(
        &self,
        sub: &str,
        doc: &str,
        now: &str,
        cond: WriteCondition<'_>,
    ) -> WriteResult<Record> {
        let mut values: Attrs = HashMap::from([
            (":doc".to_owned(), s(doc)),
            (":now".to_owned(), s(now)),
            (":one".to_owned(), n(1)),
            (":zero".to_owned(), n(0)),
        ]);
        let create_only = cond == WriteCondition::Absent;
        let cond = condition_expression(cond, &mut values);
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
            Err(_) if create_only => Err(CondFailure::VersionMismatch),
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
    ) -> WriteResult<Record> {
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

    /// Delete a record if `cond` holds (as for [`Store::replace`]).
    pub async fn delete(&self, sub: &str, sk: &str, cond: WriteCondition<'_>) -> WriteResult<()> {
        let mut values = Attrs::new();
        let mut req = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(sub, sk)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(cond) = condition_expression(cond, &mut values) {
            // DynamoDB refuses placeholder names and values an expression does not use.
            if cond.contains("#sk") {
                req = req.expression_attribute_names("#sk", SK);
            }
            if cond.contains("#ver") {
                req = req.expression_attribute_names("#ver", VERSION);
            }
            req = req.condition_expression(cond);
        }
        if !values.is_empty() {
            req = req.set_expression_attribute_values(Some(values));
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

/// The shared rate limit's counters: one item per caller per clock minute
/// (`ratelimit#<Unix minute>` in the caller's partition), bumped with one `UpdateItem`.
#[derive(Clone, Debug)]
pub struct RateCounter {
    client: Client,
    table: String,
}

impl RateCounter {
    /// Add one to the counter `sk` of `sub` (creating it, with TTL `expires_at`) and return the
    /// new count: exactly one `UpdateItem … ADD` with `ReturnValues=UPDATED_NEW`, one attempt of
    /// at most [`COUNTER_TIMEOUT`] and at most a third of the invocation's remaining time (the
    /// request's own calls follow it).
    pub async fn bump(&self, sub: &str, sk: &str, expires_at: u64) -> Result<u64, StoreError> {
        // At most a third of the invocation's time left: the request's own calls come after it.
        let time =
            budget(Duration::ZERO)?.map_or(COUNTER_TIMEOUT, |t| (t / 3).min(COUNTER_TIMEOUT));
        let (key, update, values) = counter_update(sub, sk, expires_at);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(update)
            .expression_attribute_names("#n", COUNT)
            .expression_attribute_names("#exp", EXPIRES)
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::UpdatedNew)
            .customize()
            .config_override(timeouts(time).retry_config(
                aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(1),
            ))
            .send()
            .await
            .map_err(|e| classify("UpdateItem", &e))?;
        counter_from(out.attributes.as_ref()).ok_or_else(|| {
            tracing::error!("rate-limit counter update returned no count");
            StoreError::Internal
        })
    }
}

/// The revocation table (`REVOCATION_TABLE`; layout in `revocation_keys`: `pk`, `revoked_before`,
/// `expires_at`). Both writes are idempotent (a retry after a lost reply, or a client's repeat,
/// leaves the same entry), budgeted against the invocation's deadline like every other call, and
/// a failure is a [`StoreError`] (503 with `Retry-After`), never an acknowledgement.
#[derive(Clone, Debug)]
pub struct RevocationTable {
    client: Client,
    table: String,
}

impl Store {
    /// The revocation table `table` on this store's client.
    pub fn revocation_table(&self, table: String) -> RevocationTable {
        RevocationTable {
            client: self.client.clone(),
            table,
        }
    }
}

impl RevocationTable {
    /// Revoke one session (`pk` = `jti#…`) until `expires_at`: one `PutItem`.
    pub async fn revoke_session(&self, pk: &str, expires_at: u64) -> Result<(), StoreError> {
        let probe = Probe::default();
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(revocation_keys::PK, s(pk))
            .item(revocation_keys::EXPIRES_AT, n(expires_at));
        send!(req, Duration::ZERO, probe)
            .map(|_| ())
            .map_err(|e| classify("PutItem", &e))
    }

    /// Revoke every token of an owner (`pk` = `sub#…`) issued at or before `before` (Unix
    /// seconds, millisecond precision), until `expires_at`: one `UpdateItem` that never moves a
    /// later cutoff back (its failed condition is that later cutoff: success).
    pub async fn revoke_owner(
        &self,
        pk: &str,
        before: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let probe = Probe::default();
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(revocation_keys::PK, s(pk))
            .update_expression("SET #rb = :rb, #exp = :exp")
            .condition_expression("attribute_not_exists(#rb) OR #rb <= :rb")
            .expression_attribute_names("#rb", revocation_keys::REVOKED_BEFORE)
            .expression_attribute_names("#exp", revocation_keys::EXPIRES_AT)
            .expression_attribute_values(":rb", AttributeValue::N(before.to_owned()))
            .expression_attribute_values(":exp", n(expires_at));
        match send!(req, Duration::ZERO, probe) {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify("UpdateItem", &e)),
        }
    }
}
