//! The client's part of an item: a JSON object, parsed strictly.
//!
//! Rules (each failure has its own [`BodyError`] and stable code):
//! - at most `max_bytes` bytes (checked before parsing, and again on the canonical form after a
//!   merge patch), valid UTF-8 (`invalid_json`), syntactically valid JSON (`invalid_json`);
//! - a JSON object at the top (`not_an_object`), nested at most `max_depth` containers deep
//!   (`too_deep`), with no member name repeated within one object (`duplicate_key`: parsers
//!   disagree on which duplicate wins, so we refuse rather than guess);
//! - numbers: integer literals must fit in 64 bits (`i64`/`u64`) and other numbers must be finite
//!   IEEE-754 doubles (`number_out_of_range`), so what we store is what the client meant;
//! - member names (at every level) are 1..=255 bytes with no control characters
//!   (`invalid_attribute_name`);
//! - top-level names owned by the server ([`SERVER_OWNED`]) are refused with
//!   `server_owned_field`, never silently dropped (OWASP API3 mass assignment).
//!
//! The document is stored as its canonical JSON text (members sorted by name), so user data never
//! becomes part of a DynamoDB expression and round-trips exactly.

use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Top-level member names only the server may set.
pub const SERVER_OWNED: &[&str] = &[
    "id",
    "version",
    "created_at",
    "updated_at",
    "owner",
    "userId",
    "itemId",
];

/// Longest accepted member name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("body is marked base64-encoded but is not valid base64")]
    InvalidEncoding,
    #[error("body must be a JSON object")]
    NotAnObject,
    #[error("member {0:?} appears twice in one object")]
    DuplicateKey(String),
    #[error("JSON nesting deeper than {0}")]
    TooDeep(usize),
    #[error("a number is outside the range that can be stored exactly")]
    NumberOutOfRange,
    #[error("member name {0:?} is empty, longer than 255 bytes, or has control characters")]
    InvalidAttributeName(String),
    #[error("{0:?} is set by the server and cannot be written")]
    ServerOwnedField(String),
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
}

impl BodyError {
    pub fn code(&self) -> &'static str {
        match self {
            BodyError::InvalidJson(_) => "invalid_json",
            BodyError::InvalidEncoding => "invalid_body_encoding",
            BodyError::NotAnObject => "not_an_object",
            BodyError::DuplicateKey(_) => "duplicate_key",
            BodyError::TooDeep(_) => "too_deep",
            BodyError::NumberOutOfRange => "number_out_of_range",
            BodyError::InvalidAttributeName(_) => "invalid_attribute_name",
            BodyError::ServerOwnedField(_) => "server_owned_field",
            BodyError::TooLarge(_) => "body_too_large",
        }
    }

    /// One of each variant (for table-completeness tests).
    pub fn samples() -> Vec<BodyError> {
        vec![
            BodyError::InvalidJson(String::new()),
            BodyError::InvalidEncoding,
            BodyError::NotAnObject,
            BodyError::DuplicateKey(String::new()),
            BodyError::TooDeep(1),
            BodyError::NumberOutOfRange,
            BodyError::InvalidAttributeName(String::new()),
            BodyError::ServerOwnedField(String::new()),
            BodyError::TooLarge(1),
        ]
    }
}

/// Shorten user-controlled text before echoing it in an error detail.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(64).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Parse a request body into a validated client document.
pub fn parse_object(body: &[u8], limits: Limits) -> Result<Map<String, Value>, BodyError> {
    if body.len() > limits.max_bytes {
        return Err(BodyError::TooLarge(limits.max_bytes));
    }
    let text = std::str::from_utf8(body).map_err(|_| BodyError::InvalidJson("not UTF-8".into()))?;
    if text.trim().is_empty() {
        return Err(BodyError::InvalidJson("empty body".into()));
    }
    let ctx = Ctx {
        max_depth: limits.max_depth,
        failure: Cell::new(None),
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = ValueSeed {
        depth: 0,
        ctx: &ctx,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|_| v));
    let value = match parsed {
        Ok(v) => v,
        Err(e) => {
            if let Some(f) = ctx.failure.take() {
                return Err(f);
            }
            let msg = e.to_string();
            if msg.starts_with("number out of range") {
                return Err(BodyError::NumberOutOfRange);
            }
            return Err(BodyError::InvalidJson(format!(
                "line {} column {}",
                e.line(),
                e.column()
            )));
        }
    };
    let Value::Object(map) = value else {
        return Err(BodyError::NotAnObject);
    };
    check_integer_literals(text)?;
    if let Some(k) = map.keys().find(|k| SERVER_OWNED.contains(&k.as_str())) {
        return Err(BodyError::ServerOwnedField(k.clone()));
    }
    Ok(map)
}

/// Canonical JSON text of a document (members sorted by name), checked against the size cap.
pub fn canonical(doc: &Map<String, Value>, limits: Limits) -> Result<String, BodyError> {
    let s =
        serde_json::to_string(doc).map_err(|_| BodyError::InvalidJson("unserialisable".into()))?;
    if s.len() > limits.max_bytes {
        return Err(BodyError::TooLarge(limits.max_bytes));
    }
    Ok(s)
}

/// RFC 7396 JSON Merge Patch applied to an object document.
pub fn merge_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (k, v) in patch {
        if v.is_null() {
            target.remove(k);
            continue;
        }
        match (target.get_mut(k), v) {
            (Some(Value::Object(t)), Value::Object(p)) => merge_patch(t, p),
            (_, Value::Object(p)) => {
                let mut fresh = Map::new();
                merge_patch(&mut fresh, p);
                target.insert(k.clone(), Value::Object(fresh));
            }
            (_, other) => {
                target.insert(k.clone(), other.clone());
            }
        }
    }
}

fn valid_name(k: &str) -> bool {
    !k.is_empty() && k.len() <= MAX_NAME_BYTES && !k.chars().any(char::is_control)
}

/// Integer literals (no fraction, no exponent) that do not fit in 64 bits were rounded to a double
/// by the parser: refuse them instead of storing another number than the client sent.
fn check_integer_literals(text: &str) -> Result<(), BodyError> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => {
                in_str = true;
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let tok = &text[start..i];
                let integral = !tok.bytes().any(|c| matches!(c, b'.' | b'e' | b'E'));
                if integral && tok.parse::<i64>().is_err() && tok.parse::<u64>().is_err() {
                    return Err(BodyError::NumberOutOfRange);
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

struct Ctx {
    max_depth: usize,
    failure: Cell<Option<BodyError>>,
}

impl Ctx {
    fn fail<E: serde::de::Error>(&self, e: BodyError) -> E {
        let msg = e.to_string();
        // Keep the first failure: it is the one the parser stopped on.
        let prev = self.failure.take();
        self.failure.set(Some(prev.unwrap_or(e)));
        E::custom(msg)
    }
}

struct ValueSeed<'a> {
    depth: usize,
    ctx: &'a Ctx,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| self.ctx.fail(BodyError::NumberOutOfRange))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let depth = self.depth + 1;
        if depth > self.ctx.max_depth {
            return Err(self.ctx.fail(BodyError::TooDeep(self.ctx.max_depth)));
        }
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(ValueSeed {
            depth,
            ctx: self.ctx,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let depth = self.depth + 1;
        if depth > self.ctx.max_depth {
            return Err(self.ctx.fail(BodyError::TooDeep(self.ctx.max_depth)));
        }
        let mut out = Map::new();
        while let Some(k) = access.next_key::<String>()? {
            if !valid_name(&k) {
                return Err(self.ctx.fail(BodyError::InvalidAttributeName(clip(&k))));
            }
            if out.contains_key(&k) {
                return Err(self.ctx.fail(BodyError::DuplicateKey(clip(&k))));
            }
            let v = access.next_value_seed(ValueSeed {
                depth,
                ctx: self.ctx,
            })?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const L: Limits = Limits {
        max_bytes: 1024,
        max_depth: 4,
    };

    fn code(body: &str) -> &'static str {
        match parse_object(body.as_bytes(), L) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn accepts_plain_objects() {
        let m = parse_object(br#"{"b":1,"a":{"x":[1,2.5,"s",null,true]}}"#, L).unwrap();
        assert_eq!(
            canonical(&m, L).unwrap(),
            r#"{"a":{"x":[1,2.5,"s",null,true]},"b":1}"#
        );
        assert_eq!(
            code(r#"{"n": 18446744073709551615, "m": -9223372036854775808}"#),
            "ok"
        );
        assert_eq!(
            code(r#"{"s":"1e999 is text","e":"\"99999999999999999999999\""}"#),
            "ok"
        );
    }

    #[test]
    fn refuses_hostile_forms() {
        assert_eq!(code(""), "invalid_json");
        assert_eq!(code("{"), "invalid_json");
        assert_eq!(code(r#"{"a":1} trailing"#), "invalid_json");
        assert_eq!(code("[1]"), "not_an_object");
        assert_eq!(code("\"x\""), "not_an_object");
        assert_eq!(code("null"), "not_an_object");
        assert_eq!(code(r#"{"a":1,"a":2}"#), "duplicate_key");
        assert_eq!(code(r#"{"o":{"a":1,"a":1}}"#), "duplicate_key");
        assert_eq!(code(r#"{"a":[[[[1]]]]}"#), "too_deep");
        assert_eq!(code(r#"{"a":[[[1]]]}"#), "ok");
        assert_eq!(code(r#"{"n":1e400}"#), "number_out_of_range");
        assert_eq!(code(r#"{"n":-1e400}"#), "number_out_of_range");
        assert_eq!(
            code(r#"{"n":123456789012345678901234567890}"#),
            "number_out_of_range"
        );
        assert_eq!(code(r#"{"n":18446744073709551616}"#), "number_out_of_range");
        assert_eq!(code(r#"{"":1}"#), "invalid_attribute_name");
        assert_eq!(code(r#"{"a\u0000b":1}"#), "invalid_attribute_name");
        assert_eq!(code(r#"{"x":{"\u001f":1}}"#), "invalid_attribute_name");
        assert_eq!(
            code(&format!(r#"{{"{}":1}}"#, "k".repeat(256))),
            "invalid_attribute_name"
        );
        assert_eq!(code(r#"{"s":"\ud800"}"#), "invalid_json");
        assert_eq!(code("{\"s\":\"raw\u{1}control\"}"), "invalid_json");
        assert_eq!(
            parse_object(b"{\"a\":\"\xff\"}", L).unwrap_err().code(),
            "invalid_json"
        );
        assert_eq!(
            code(&format!(r#"{{"a":"{}"}}"#, "x".repeat(2000))),
            "body_too_large"
        );
        for f in SERVER_OWNED {
            assert_eq!(
                code(&format!(r#"{{"{f}":"x"}}"#)),
                "server_owned_field",
                "{f}"
            );
        }
        // Nested names equal to server-owned ones are just data.
        assert_eq!(code(r#"{"meta":{"id":1,"owner":"me"}}"#), "ok");
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion_blowup() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        let e = parse_object(
            deep.as_bytes(),
            Limits {
                max_bytes: 1 << 20,
                max_depth: 32,
            },
        )
        .unwrap_err();
        assert_eq!(e.code(), "too_deep");
    }

    #[test]
    fn merge_patch_follows_rfc7396_examples() {
        // RFC 7396 appendix A (object cases).
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (t, p, want) in cases {
            let mut t = t.as_object().unwrap().clone();
            merge_patch(&mut t, p.as_object().unwrap());
            assert_eq!(Value::Object(t), want);
        }
    }
}
