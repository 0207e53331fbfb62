//! The item routes: `POST /items`, `GET /items`, `GET|PUT|PATCH|DELETE /items/{id}`.
//!
//! Item JSON is the client's document plus the server-owned `id`, `version`, `created_at` and
//! `updated_at`; the owner is never echoed. Pure pieces ([`render`], [`prepare_create`]) are
//! separate from the DynamoDB calls so the handler overhead can be benchmarked without a server.

use std::time::SystemTime;

use aws_lc_rs::digest;
use http::header::{ETAG, LOCATION};
use http::StatusCode;
use serde_json::{Map, Value};

use crate::deps::Deps;
use crate::document::{self, Limits};
use crate::error::ApiError;
use crate::ids::ItemId;
use crate::precondition::{self, Precondition};
use crate::request::{self, if_match, if_none_match, ApiRequest};
use crate::response::{not_modified, ApiResponse};
use crate::store::{
    CondFailure, IdemOutcome, IdemRecord, Record, WriteCondition, IDEMPOTENCY_PREFIX, ITEM_PREFIX,
};
use crate::timefmt;

pub const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 100;
/// Longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;
/// Read-modify-write attempts of a PATCH without `If-Match` before giving up with 409.
pub const PATCH_ATTEMPTS: usize = 3;

const JSON: &[&str] = &["application/json"];
const PATCH_TYPES: &[&str] = &["application/merge-patch+json", "application/json"];

fn sk(id: ItemId) -> String {
    format!("{ITEM_PREFIX}{id}")
}

fn parse_id(raw: &str) -> Result<ItemId, ApiError> {
    ItemId::parse(raw).ok_or(ApiError::InvalidId)
}

/// Render a record as item JSON. `doc` is the canonical object text written by this service.
pub fn render(id: &str, r: &Record) -> Result<String, ApiError> {
    let inner = r
        .doc
        .strip_prefix('{')
        .and_then(|d| d.strip_suffix('}'))
        .ok_or(ApiError::Internal)?;
    let mut out = String::with_capacity(r.doc.len() + 120);
    out.push_str("{\"id\":");
    out.push_str(&Value::from(id).to_string());
    out.push_str(",\"version\":");
    out.push_str(&r.version.to_string());
    out.push_str(",\"created_at\":");
    out.push_str(&Value::from(r.created_at.as_str()).to_string());
    out.push_str(",\"updated_at\":");
    out.push_str(&Value::from(r.updated_at.as_str()).to_string());
    if !inner.trim().is_empty() {
        out.push(',');
        out.push_str(inner);
    }
    out.push('}');
    Ok(out)
}

fn item_response(status: StatusCode, id: &str, r: &Record) -> Result<ApiResponse, ApiError> {
    Ok(ApiResponse::json(status, render(id, r)?).with(ETAG, &precondition::etag(r.version)))
}

fn id_of(r: &Record) -> Result<&str, ApiError> {
    r.sk.strip_prefix(ITEM_PREFIX).ok_or(ApiError::Internal)
}

/// A validated create, ready to be written.
#[derive(Debug, Clone)]
pub struct PreparedCreate {
    pub id: ItemId,
    pub record: Record,
    pub body: String,
    pub idempotency: Option<(String, IdemRecord)>,
}

fn idempotency_key(req: &ApiRequest) -> Result<Option<&str>, ApiError> {
    let values = request::header_values(&req.headers, "idempotency-key")
        .map_err(|_| ApiError::InvalidIdempotencyKey)?;
    match values.as_slice() {
        [] => Ok(None),
        [k] if (1..=MAX_IDEMPOTENCY_KEY).contains(&k.len())
            && k.bytes().all(|c| (0x21..=0x7e).contains(&c) && c != b',') =>
        {
            Ok(Some(k))
        }
        _ => Err(ApiError::InvalidIdempotencyKey),
    }
}

/// Everything a `POST /items` does before DynamoDB: media type, body, key, id, timestamps,
/// the response body.
pub fn prepare_create(
    req: &ApiRequest,
    limits: Limits,
    id: ItemId,
    now: SystemTime,
    idempotency_ttl: u64,
) -> Result<PreparedCreate, ApiError> {
    request::require_media_type(&req.headers, JSON, "application/json")?;
    let key = idempotency_key(req)?;
    let doc = document::parse_object(request::body(req)?, limits)?;
    let doc = document::canonical(&doc, limits)?;
    let ms = timefmt::unix_millis(now);
    let ts = timefmt::rfc3339(ms);
    let record = Record {
        sk: sk(id),
        doc,
        version: 1,
        created_at: ts.clone(),
        updated_at: ts,
    };
    let body = render(&id.to_string(), &record)?;
    let idempotency = key.map(|k| {
        let idem_sk = format!(
            "{IDEMPOTENCY_PREFIX}{}",
            hex::encode(digest::digest(&digest::SHA256, k.as_bytes()).as_ref())
        );
        let body_hash =
            hex::encode(digest::digest(&digest::SHA256, record.doc.as_bytes()).as_ref());
        (
            idem_sk,
            IdemRecord {
                body_hash,
                response: body.clone(),
                expires_at: ms / 1000 + idempotency_ttl,
            },
        )
    });
    Ok(PreparedCreate {
        id,
        record,
        body,
        idempotency,
    })
}

/// The 201 for a create (fresh or replayed).
pub fn created(id: &str, version: u64, body: String) -> ApiResponse {
    ApiResponse::json(StatusCode::CREATED, body)
        .with(LOCATION, &format!("/items/{id}"))
        .with(ETAG, &precondition::etag(version))
}

pub async fn create(
    req: &ApiRequest,
    deps: &Deps,
    sub: &str,
    now: SystemTime,
) -> Result<ApiResponse, ApiError> {
    let s = &deps.settings;
    let id = deps.ids.next_id(now);
    let p = prepare_create(req, s.limits, id, now, s.idempotency_ttl_seconds)?;
    let id_text = p.id.to_string();
    match &p.idempotency {
        None => {
            deps.store.create(sub, &p.record).await?;
            Ok(created(&id_text, 1, p.body))
        }
        Some((idem_sk, idem)) => {
            let now_secs = timefmt::unix_millis(now) / 1000;
            match deps
                .store
                .create_idempotent(sub, &p.record, idem_sk, idem, now_secs)
                .await?
            {
                IdemOutcome::Created => Ok(created(&id_text, 1, p.body)),
                IdemOutcome::InFlight => Err(ApiError::IdempotencyInFlight),
                IdemOutcome::Existing(first) if first.body_hash != idem.body_hash => {
                    Err(ApiError::IdempotencyKeyReused)
                }
                IdemOutcome::Existing(first) => {
                    let v: Value =
                        serde_json::from_str(&first.response).map_err(|_| ApiError::Internal)?;
                    let first_id = v
                        .get("id")
                        .and_then(Value::as_str)
                        .ok_or(ApiError::Internal)?;
                    let version = v
                        .get("version")
                        .and_then(Value::as_u64)
                        .ok_or(ApiError::Internal)?;
                    Ok(created(first_id, version, first.response.clone()).with(
                        http::header::HeaderName::from_static("idempotent-replayed"),
                        "true",
                    ))
                }
            }
        }
    }
}

/// `limit` and `cursor` from the query: each at most once.
pub fn page_params(req: &ApiRequest) -> Result<(usize, Option<&str>), ApiError> {
    let mut limit = None;
    let mut cursor = None;
    for (k, v) in &req.query {
        match k.as_str() {
            "limit" => {
                if limit.is_some()
                    || v.is_empty()
                    || v.len() > 3
                    || !v.bytes().all(|c| c.is_ascii_digit())
                {
                    return Err(ApiError::InvalidLimit);
                }
                let n: usize = v.parse().map_err(|_| ApiError::InvalidLimit)?;
                if !(1..=MAX_PAGE).contains(&n) {
                    return Err(ApiError::InvalidLimit);
                }
                limit = Some(n);
            }
            "cursor" => {
                if cursor.is_some() {
                    return Err(ApiError::InvalidCursor);
                }
                cursor = Some(v.as_str());
            }
            _ => {}
        }
    }
    Ok((limit.unwrap_or(DEFAULT_PAGE), cursor))
}

pub async fn list(req: &ApiRequest, deps: &Deps, sub: &str) -> Result<ApiResponse, ApiError> {
    let (limit, cursor) = page_params(req)?;
    let after = match cursor {
        None => None,
        Some(c) => Some(sk(deps
            .cursors
            .decode(sub, c)
            .ok_or(ApiError::InvalidCursor)?)),
    };
    let (records, more) = deps.store.list(sub, limit, after.as_deref()).await?;
    let mut out =
        String::with_capacity(records.iter().map(|r| r.doc.len() + 120).sum::<usize>() + 40);
    out.push_str("{\"items\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&render(id_of(r)?, r)?);
    }
    out.push_str("],\"next_cursor\":");
    match records.last() {
        Some(last) if more => {
            let id = ItemId::parse(id_of(last)?).ok_or(ApiError::Internal)?;
            out.push('"');
            out.push_str(&deps.cursors.encode(sub, id));
            out.push('"');
        }
        _ => out.push_str("null"),
    }
    out.push('}');
    Ok(ApiResponse::json(StatusCode::OK, out))
}

pub async fn get(
    req: &ApiRequest,
    deps: &Deps,
    sub: &str,
    raw_id: &str,
) -> Result<ApiResponse, ApiError> {
    let id = parse_id(raw_id)?;
    let none_match = if_none_match(req)?;
    let r = deps
        .store
        .get(sub, &sk(id))
        .await?
        .ok_or(ApiError::NotFound)?;
    if let Some(resp) = not_modified(&none_match, r.version) {
        return Ok(resp);
    }
    item_response(StatusCode::OK, &id.to_string(), &r)
}

/// The condition a write of an existing item checks: it exists (no `If-Match`, or `*`), at one
/// of the listed versions otherwise. When nothing can match, answers 404 or 412 from a read,
/// without writing.
async fn condition_or_refuse<'a>(
    deps: &Deps,
    sub: &str,
    key: &str,
    pre: &'a Option<Precondition>,
) -> Result<WriteCondition<'a>, ApiError> {
    match pre {
        None | Some(Precondition::Any) => Ok(WriteCondition::Exists),
        Some(Precondition::Versions(v)) if v.is_empty() => match deps.store.get(sub, key).await? {
            None => Err(ApiError::NotFound),
            Some(_) => Err(ApiError::PreconditionFailed),
        },
        Some(Precondition::Versions(v)) => Ok(WriteCondition::Versions(v)),
    }
}

pub async fn replace(
    req: &ApiRequest,
    deps: &Deps,
    sub: &str,
    raw_id: &str,
    now: SystemTime,
) -> Result<ApiResponse, ApiError> {
    let id = parse_id(raw_id)?;
    let limits = deps.settings.limits;
    request::require_media_type(&req.headers, JSON, "application/json")?;
    let pre = if_match(req)?;
    let doc = document::canonical(
        &document::parse_object(request::body(req)?, limits)?,
        limits,
    )?;
    let key = sk(id);
    let cond = condition_or_refuse(deps, sub, &key, &pre).await?;
    let ts = timefmt::rfc3339(timefmt::unix_millis(now));
    let r = deps.store.replace(sub, &key, &doc, &ts, cond).await??;
    item_response(StatusCode::OK, &id.to_string(), &r)
}

pub async fn patch(
    req: &ApiRequest,
    deps: &Deps,
    sub: &str,
    raw_id: &str,
    now: SystemTime,
) -> Result<ApiResponse, ApiError> {
    let id = parse_id(raw_id)?;
    let limits = deps.settings.limits;
    request::require_media_type(
        &req.headers,
        PATCH_TYPES,
        "application/merge-patch+json or application/json",
    )?;
    let pre = if_match(req)?;
    let patch = document::parse_object(request::body(req)?, limits)?;
    let key = sk(id);
    let strict = matches!(pre, Some(Precondition::Versions(_)));
    for _ in 0..PATCH_ATTEMPTS {
        let current = deps.store.get(sub, &key).await?.ok_or(ApiError::NotFound)?;
        if let Some(p) = &pre {
            if !p.matches(current.version) {
                return Err(ApiError::PreconditionFailed);
            }
        }
        let mut doc: Map<String, Value> =
            serde_json::from_str(&current.doc).map_err(|_| ApiError::Internal)?;
        document::merge_patch(&mut doc, &patch);
        let doc = document::canonical(&doc, limits)?;
        let ts = timefmt::rfc3339(timefmt::unix_millis(now));
        match deps
            .store
            .write_version(sub, &key, &doc, &ts, current.version)
            .await?
        {
            Ok(r) => return item_response(StatusCode::OK, &id.to_string(), &r),
            Err(CondFailure::Missing) => return Err(ApiError::NotFound),
            Err(CondFailure::VersionMismatch) if strict => {
                return Err(ApiError::PreconditionFailed)
            }
            Err(CondFailure::VersionMismatch) => continue,
        }
    }
    Err(ApiError::WriteConflict)
}

pub async fn delete(
    req: &ApiRequest,
    deps: &Deps,
    sub: &str,
    raw_id: &str,
) -> Result<ApiResponse, ApiError> {
    let id = parse_id(raw_id)?;
    let pre = if_match(req)?;
    let key = sk(id);
    let cond = condition_or_refuse(deps, sub, &key, &pre).await?;
    deps.store.delete(sub, &key, cond).await??;
    Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue, Method};

    fn req(body: &str, headers: &[(&'static str, &str)]) -> ApiRequest {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        ApiRequest {
            method: Method::POST,
            route: Some("/items".into()),
            path: "/items".into(),
            stage: None,
            path_id: None,
            query: vec![],
            headers: h,
            body: Ok(body.as_bytes().to_vec()),
            sub: Some("u".into()),
            request_id: None,
            ..ApiRequest::new(Method::POST, "/items")
        }
    }

    const L: Limits = Limits {
        max_bytes: 1024,
        max_depth: 8,
    };

    #[test]
    fn renders_server_fields_first_and_never_the_owner() {
        let r = Record {
            sk: "item#X".into(),
            doc: r#"{"a":1,"b":"x"}"#.into(),
            version: 2,
            created_at: "c".into(),
            updated_at: "u".into(),
        };
        assert_eq!(
            render("X", &r).unwrap(),
            r#"{"id":"X","version":2,"created_at":"c","updated_at":"u","a":1,"b":"x"}"#
        );
        let empty = Record {
            doc: "{}".into(),
            ..r.clone()
        };
        let v: Value = serde_json::from_str(&render("X", &empty).unwrap()).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 4);
        assert!(render(
            "X",
            &Record {
                doc: "[]".into(),
                ..r
            }
        )
        .is_err());
    }

    #[test]
    fn prepares_a_create() {
        let id = ItemId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap();
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let p = prepare_create(
            &req(
                r#"{"b":2,"a":1}"#,
                &[
                    ("content-type", "application/json"),
                    ("idempotency-key", "k-1"),
                ],
            ),
            L,
            id,
            now,
            60,
        )
        .unwrap();
        assert_eq!(p.record.doc, r#"{"a":1,"b":2}"#);
        assert_eq!(p.record.created_at, "2023-11-14T22:13:20.123Z");
        let (sk, idem) = p.idempotency.unwrap();
        assert!(sk.starts_with("idem#") && sk.len() == 5 + 64);
        assert_eq!(idem.expires_at, 1_700_000_000 + 60);
        assert_eq!(idem.response, p.body);

        let e = |body: &str, h: &[(&'static str, &str)]| {
            prepare_create(&req(body, h), L, id, now, 60)
                .unwrap_err()
                .code()
        };
        let ct = ("content-type", "application/json");
        assert_eq!(e("{}", &[]), "unsupported_media_type");
        assert_eq!(
            e("{}", &[("content-type", "text/plain")]),
            "unsupported_media_type"
        );
        assert_eq!(e(r#"{"id":"x"}"#, &[ct]), "server_owned_field");
        assert_eq!(
            e("{}", &[ct, ("idempotency-key", "")]),
            "invalid_idempotency_key"
        );
        assert_eq!(
            e("{}", &[ct, ("idempotency-key", "a,b")]),
            "invalid_idempotency_key"
        );
        assert_eq!(
            e(
                "{}",
                &[ct, ("idempotency-key", "a"), ("idempotency-key", "b")]
            ),
            "invalid_idempotency_key"
        );
        let long = "k".repeat(256);
        assert_eq!(
            e("{}", &[ct, ("idempotency-key", &long)]),
            "invalid_idempotency_key"
        );
    }

    #[test]
    fn page_parameters() {
        let mut r = req("", &[]);
        let q = |r: &mut ApiRequest, pairs: &[(&str, &str)]| {
            r.query = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            page_params(r)
                .map(|(l, c)| (l, c.map(str::to_owned)))
                .map_err(|e| e.code())
        };
        assert_eq!(q(&mut r, &[]), Ok((20, None)));
        assert_eq!(
            q(&mut r, &[("limit", "100"), ("cursor", "c")]),
            Ok((100, Some("c".into())))
        );
        for bad in [
            "0",
            "101",
            "-1",
            "1.5",
            "",
            "abc",
            "0100",
            "99999999999999999999",
        ] {
            assert_eq!(q(&mut r, &[("limit", bad)]), Err("invalid_limit"), "{bad}");
        }
        assert_eq!(
            q(&mut r, &[("limit", "1"), ("limit", "2")]),
            Err("invalid_limit")
        );
        assert_eq!(
            q(&mut r, &[("cursor", "a"), ("cursor", "b")]),
            Err("invalid_cursor")
        );
    }
}
