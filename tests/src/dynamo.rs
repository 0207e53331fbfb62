//! DynamoDB tables on moto for the crud suites, with the schema of `crud/table.json` (the one
//! source, which `template.yaml` and `scripts/local_table.py` follow too: `userId` S partition
//! key, `itemId` S sort key, TTL on `expires_at`), on-demand billing.

use std::collections::HashMap;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use crate::moto::Moto;

/// The TTL attribute of idempotency records (documented in docs/crud-api.md); `crud/table.json`'s
/// (checked by [`schema`]'s test).
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// `crud/table.json`: the items table's key schema and TTL, in CreateTable's property names.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableSchema {
    pub attribute_definitions: Vec<AttributeDef>,
    pub key_schema: Vec<KeyDef>,
    pub time_to_live_specification: TtlDef,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyDef {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlDef {
    pub attribute_name: String,
    pub enabled: bool,
}

/// The items table's schema, from `crud/table.json` (compiled in).
pub fn schema() -> TableSchema {
    serde_json::from_str(include_str!("../../crud/table.json")).expect("crud/table.json")
}

/// An SDK client talking to `moto` with dummy credentials.
pub fn client(moto: &Moto) -> Client {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(moto.endpoint())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .build();
    Client::from_conf(conf)
}

/// Create the items table `name` with `crud/table.json`'s schema and enable its TTL.
pub async fn create_items_table(client: &Client, name: &str) {
    let schema = schema();
    let mut create = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for a in &schema.attribute_definitions {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .expect("attr"),
        );
    }
    for k in &schema.key_schema {
        create = create.key_schema(
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .expect("key"),
        );
    }
    create.send().await.expect("create table");
    let ttl = &schema.time_to_live_specification;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(ttl.enabled)
                .attribute_name(&ttl.attribute_name)
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("enable ttl");
}

/// Create the revocation table `name` (`revocation-keys/table.json`: `pk` S, TTL on `expires_at`).
pub async fn create_revocation_table(client: &Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(revocation_keys::PK)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attr"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(revocation_keys::PK)
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("create revocation table");
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(revocation_keys::EXPIRES_AT)
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("enable ttl");
}

/// Write a session revocation (`iss`, `origin_jti` or `jti`) as crud writes it.
pub async fn put_session_revocation(
    client: &Client,
    table: &str,
    iss: &str,
    jti: &str,
    expires_at: u64,
) {
    client
        .put_item()
        .table_name(table)
        .item(
            revocation_keys::PK,
            AttributeValue::S(revocation_keys::jti_pk(&revocation_keys::jti_key(iss, jti))),
        )
        .item(
            revocation_keys::EXPIRES_AT,
            AttributeValue::N(expires_at.to_string()),
        )
        .send()
        .await
        .expect("put revocation");
}

/// Every stored record of one user (all sort keys: items, profile, idempotency records).
pub async fn partition(
    client: &Client,
    table: &str,
    user: &str,
) -> Vec<HashMap<String, AttributeValue>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .query()
            .table_name(table)
            .key_condition_expression("userId = :u")
            .expression_attribute_values(":u", AttributeValue::S(user.to_owned()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("query partition");
        out.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return out;
        }
    }
}

/// Every record in the table.
pub async fn scan_all(client: &Client, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        out.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return out;
        }
    }
}

/// Environment for a `crud` binary using table `table` on `moto`, plus `extra` settings.
pub fn crud_env(moto: &Moto, table: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = moto.aws_env();
    env.push(("TABLE_NAME".into(), table.into()));
    for (k, v) in extra {
        env.push(((*k).into(), (*v).into()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_file_is_the_table_the_suites_create() {
        let s = schema();
        let keys: Vec<(&str, &str)> = s
            .key_schema
            .iter()
            .map(|k| (k.attribute_name.as_str(), k.key_type.as_str()))
            .collect();
        assert_eq!(keys, [("userId", "HASH"), ("itemId", "RANGE")]);
        assert!(s
            .attribute_definitions
            .iter()
            .all(|a| a.attribute_type == "S"));
        assert_eq!(s.time_to_live_specification.attribute_name, TTL_ATTRIBUTE);
        assert!(s.time_to_live_specification.enabled);
        // every string the SDK is given is one it knows
        for k in &s.key_schema {
            assert!(KeyType::values().contains(&k.key_type.as_str()));
        }
        for a in &s.attribute_definitions {
            assert!(ScalarAttributeType::values().contains(&a.attribute_type.as_str()));
        }
    }
}
