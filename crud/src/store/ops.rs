//! The [`Store`]: every DynamoDB call, each budgeted ([`super::deadline`](mod@super::deadline)), stamped with a write
//! token and settled after an uncertain outcome ([`super::classify`]).

use std::collections::HashMap;
use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_sdk_dynamodb::types::{
    Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;

use super::classify::{cancelled, classify, uncertain, Cancelled, Probe};
use super::codec::{
    condition_expression, has_token, idem_attrs, idem_from, key, n, record_attrs, record_from, s,
};
use super::deadline::{budget, timeouts};
use super::{
    Attrs, CondFailure, IdemOutcome, IdemRecord, Record, StoreError, WriteCondition, WriteResult,
    CHECK_RESERVE, CREATED, DOC, EXPIRES, ITEM_PREFIX, PK, PROFILE_KEY, SK, UPDATED, VERSION,
    WRITE_TOKEN,
};

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
    Ok(crate::encoding::hex(&b))
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
