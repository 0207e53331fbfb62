//! Records ⇄ DynamoDB attribute maps, and write conditions as expression text. Pure: no calls.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{
    Attrs, IdemRecord, Record, WriteCondition, BODY_HASH, CREATED, DOC, EXPIRES, PK, RESPONSE, SK,
    UPDATED, VERSION, WRITE_TOKEN,
};

pub(super) fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}
pub(super) fn n(v: u64) -> AttributeValue {
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

pub(super) fn has_token(m: &Attrs, token: &str) -> bool {
    get_s(m, WRITE_TOKEN) == Some(token)
}

/// The condition expression of `cond` (`None` for [`WriteCondition::Any`]); version values go
/// into `values` as `:v0`, `:v1`, … (placeholders only: never user text in an expression).
pub(super) fn condition_expression(cond: WriteCondition<'_>, values: &mut Attrs) -> Option<String> {
    let exists = "attribute_exists(#sk)";
    Some(match cond {
        WriteCondition::Any => return None,
        WriteCondition::Exists => exists.to_owned(),
        WriteCondition::Absent => "attribute_not_exists(#sk)".to_owned(),
        // Nothing can match: the failure then says missing or mismatched, as a read would.
        WriteCondition::Versions([]) => format!("{exists} AND attribute_not_exists(#sk)"),
        WriteCondition::Versions(vs) => {
            let mut placeholders = Vec::with_capacity(vs.len());
            for (i, v) in vs.iter().enumerate() {
                let p = format!(":v{i}");
                values.insert(p.clone(), n(*v));
                placeholders.push(p);
            }
            format!("{exists} AND #ver IN ({})", placeholders.join(", "))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{IDEMPOTENCY_PREFIX, ITEM_PREFIX, PROFILE_KEY};

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
        let c = condition_expression(WriteCondition::Versions(&[1, 2]), &mut v);
        assert_eq!(
            c.as_deref(),
            Some("attribute_exists(#sk) AND #ver IN (:v0, :v1)")
        );
        assert_eq!(v.get(":v1"), Some(&n(2)));
    }

    #[test]
    fn every_condition_has_one_expression() {
        let mut v = Attrs::new();
        let mut c = |cond| condition_expression(cond, &mut v);
        assert_eq!(c(WriteCondition::Any), None);
        assert_eq!(
            c(WriteCondition::Exists).as_deref(),
            Some("attribute_exists(#sk)")
        );
        assert_eq!(
            c(WriteCondition::Absent).as_deref(),
            Some("attribute_not_exists(#sk)")
        );
        assert_eq!(
            c(WriteCondition::Versions(&[])).as_deref(),
            Some("attribute_exists(#sk) AND attribute_not_exists(#sk)")
        );
        assert!(v.is_empty());
    }
}
