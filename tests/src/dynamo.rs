//! DynamoDB tables on moto for the crud suites: the same key schema as `template.yaml`
//! (`userId` S partition key, `itemId` S sort key, on-demand billing, TTL on `expires_at`).

use std::collections::HashMap;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use crate::moto::Moto;

/// The TTL attribute of idempotency records (documented in crud/README.md).
pub const TTL_ATTRIBUTE: &str = "expires_at";

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

/// Create the items table `name` (as template.yaml declares it) and enable its TTL.
pub async fn create_items_table(client: &Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("userId")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attr"),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("itemId")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attr"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("userId")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("itemId")
                .key_type(KeyType::Range)
                .build()
                .expect("key"),
        )
        .send()
        .await
        .expect("create table");
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL_ATTRIBUTE)
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("enable ttl");
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
