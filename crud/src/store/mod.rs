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
//!
//! ## Layout
//!
//! Read bottom-up: this file holds the key layout, attribute names, timeouts and the types every
//! caller sees ([`Record`], [`WriteCondition`], [`WriteResult`], …); [`codec`] turns records into
//! attribute maps and conditions into expression text (and back); [`classify`] says what a failed
//! call means (transient or not, outcome unknown, why a transaction was cancelled); [`deadline`](mod@deadline)
//! budgets each call against the invocation's deadline; [`ops`] is the [`Store`] and its
//! DynamoDB calls, built from the three.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;

pub mod classify;
pub mod codec;
pub mod deadline;
pub mod ops;

pub use classify::{cancelled, is_transient, Cancelled};
pub use codec::{idem_attrs, idem_from, key, record_attrs, record_from};
pub use deadline::{deadline, with_deadline};
pub use ops::Store;

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
