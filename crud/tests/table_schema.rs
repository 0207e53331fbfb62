//! `crud/table.json` is the items table's one schema (template.yaml, scripts/local_table.py and
//! the test harness follow it): it must name the key and TTL attributes crud's store uses.

use crud::store::{EXPIRES, PK, SK};
use serde_json::{json, Value};

#[test]
fn the_table_schema_names_the_attributes_the_store_uses() {
    let schema: Value =
        serde_json::from_str(include_str!("../table.json")).expect("crud/table.json is JSON");
    assert_eq!(
        schema["KeySchema"],
        json!([
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"}
        ])
    );
    assert_eq!(
        schema["AttributeDefinitions"],
        json!([
            {"AttributeName": PK, "AttributeType": "S"},
            {"AttributeName": SK, "AttributeType": "S"}
        ])
    );
    assert_eq!(
        schema["TimeToLiveSpecification"],
        json!({"AttributeName": EXPIRES, "Enabled": true})
    );
}
