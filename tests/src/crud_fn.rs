//! Shared by the crud suites: moto + items table + N real `crud` processes under the Runtime API
//! emulator, and requests built from real API Gateway event fixtures (REST 1.0 and HTTP API 2.0).

use std::collections::HashMap;

use crate::dynamo;
use crate::moto::Moto;
use crate::runtime_api::{Function, Outcome};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use base64::Engine;
use serde_json::{json, Value};

pub const REST_FIXTURE: &str = include_str!("../../crud/tests/fixtures/apigw-rest-get-item.json");
pub const HTTP_FIXTURE: &str = include_str!("../../crud/tests/fixtures/apigw-http-post-items.json");

/// A fixed 32-byte cursor key (base64) shared by every instance of one test, as a deployment with
/// `CURSOR_SECRET` would.
pub const CURSOR_SECRET: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

pub const ALICE: &str = "5f3c1e2a-8b7d-4c6e-9f01-23456789abcd";
pub const BOB: &str = "9a8b7c6d-1e2f-4a3b-8c9d-0e1f2a3b4c5d";

pub struct Crud {
    pub fns: Vec<Function>,
    pub ddb: Client,
    pub table: String,
    pub moto: Moto,
}

pub struct Options {
    pub instances: usize,
    pub single_threaded: bool,
    pub env: Vec<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            instances: 1,
            single_threaded: false,
            env: vec![],
        }
    }
}

impl Crud {
    pub async fn start() -> Crud {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(o: Options) -> Crud {
        let moto = if o.single_threaded {
            Moto::start_single_threaded()
        } else {
            Moto::start()
        };
        let ddb = dynamo::client(&moto);
        let table = "items".to_string();
        dynamo::create_items_table(&ddb, &table).await;
        // The per-caller limit out of the way, and per instance (no counter write): the suites
        // about other topics compare whole partitions and count DynamoDB calls per operation.
        // crud_suite::rate_limit sets RATE_LIMIT_SCOPE=deployment (crud's default) itself.
        let mut extra: Vec<(&str, &str)> = vec![
            ("CURSOR_SECRET", CURSOR_SECRET),
            ("RATE_LIMIT_PER_MINUTE", "100000"),
            ("RATE_LIMIT_SCOPE", "instance"),
        ];
        for (k, v) in &o.env {
            extra.retain(|(ek, _)| ek != k);
            extra.push((k, v.as_str()));
        }
        let env = dynamo::crud_env(&moto, &table, &extra);
        let bin = crate::paths::bin("crud");
        let mut fns = Vec::new();
        for _ in 0..o.instances {
            let f = Function::start(&bin, &env).await;
            assert_eq!(
                f.wait_init().await,
                None,
                "crud init failed; logs:\n{}",
                f.logs().join("\n")
            );
            fns.push(f);
        }
        Crud {
            fns,
            ddb,
            table,
            moto,
        }
    }

    pub async fn call(&self, r: &Req) -> Resp {
        self.call_on(0, r).await
    }

    pub async fn call_on(&self, i: usize, r: &Req) -> Resp {
        let f = &self.fns[i % self.fns.len()];
        match f.invoke(&r.event()).await {
            Outcome::Response(v) => Resp::from_lambda(&v),
            Outcome::Error {
                error_type,
                error_message,
            } => {
                panic!(
                    "crud returned a Lambda error {error_type}: {error_message}; logs:\n{}",
                    f.logs().join("\n")
                )
            }
        }
    }

    /// Everything stored in one user's partition, as (sort key, attributes), sorted by key.
    pub async fn stored(&self, user: &str) -> Vec<(String, HashMap<String, AttributeValue>)> {
        let mut v: Vec<_> = dynamo::partition(&self.ddb, &self.table, user)
            .await
            .into_iter()
            .map(|m| {
                (
                    m.get("itemId")
                        .and_then(|a| a.as_s().ok())
                        .cloned()
                        .unwrap_or_default(),
                    m,
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Create an item as `user`; returns its JSON.
    pub async fn create(&self, user: &str, body: Value) -> Value {
        let r = self.call(&Req::post("/items", user, &body)).await;
        assert_eq!(r.status, 201, "create: {}", r.body);
        r.json
    }
}

#[derive(Clone, Debug)]
pub enum Body {
    None,
    Text(String),
    /// Raw bytes, sent base64-encoded with `isBase64Encoded: true`.
    Bytes(Vec<u8>),
    /// Literal text sent with `isBase64Encoded: true` (to test invalid base64).
    RawBase64(String),
}

#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    /// Resource / route-key template; derived from `path` when `None`.
    pub template: Option<String>,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub sub: Option<String>,
    /// HTTP API payload 2.0 instead of REST 1.0.
    pub v2: bool,
    /// Stage prefix in the raw path (HTTP API named stages put it there).
    pub stage: Option<String>,
    /// More authorizer context (`iss`, `jti`, `origin_jti`, `iat`, ...).
    pub context: Vec<(String, String)>,
}

impl Req {
    pub fn new(method: &str, path: &str, sub: &str) -> Req {
        Req {
            method: method.into(),
            path: path.into(),
            template: None,
            query: vec![],
            headers: vec![],
            body: Body::None,
            sub: Some(sub.into()),
            v2: false,
            stage: None,
            context: vec![],
        }
    }

    /// Add an authorizer context entry.
    pub fn context(mut self, k: &str, v: &str) -> Req {
        self.context.push((k.into(), v.into()));
        self
    }
    pub fn get(path: &str, sub: &str) -> Req {
        Req::new("GET", path, sub)
    }
    pub fn delete(path: &str, sub: &str) -> Req {
        Req::new("DELETE", path, sub)
    }
    pub fn post(path: &str, sub: &str, body: &Value) -> Req {
        Req::new("POST", path, sub).json(body)
    }
    pub fn put(path: &str, sub: &str, body: &Value) -> Req {
        Req::new("PUT", path, sub).json(body)
    }
    pub fn patch(path: &str, sub: &str, body: &Value) -> Req {
        Req::new("PATCH", path, sub)
            .header("content-type", "application/merge-patch+json")
            .text(&body.to_string())
    }
    pub fn json(self, body: &Value) -> Req {
        self.header("content-type", "application/json")
            .text(&body.to_string())
    }
    pub fn text(mut self, body: &str) -> Req {
        self.body = Body::Text(body.into());
        self
    }
    pub fn bytes(mut self, body: &[u8]) -> Req {
        self.body = Body::Bytes(body.to_vec());
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Req {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn without_header(mut self, k: &str) -> Req {
        self.headers.retain(|(hk, _)| !hk.eq_ignore_ascii_case(k));
        self
    }
    pub fn query(mut self, k: &str, v: &str) -> Req {
        self.query.push((k.into(), v.into()));
        self
    }
    pub fn v2(mut self) -> Req {
        self.v2 = true;
        self
    }
    pub fn no_identity(mut self) -> Req {
        self.sub = None;
        self
    }

    fn derived_template(&self) -> (String, Option<String>) {
        let segs: Vec<&str> = self.path.split('/').filter(|s| !s.is_empty()).collect();
        match segs.as_slice() {
            ["items"] => ("/items".into(), None),
            ["items", id] => ("/items/{id}".into(), Some((*id).to_string())),
            ["profile"] => ("/profile".into(), None),
            ["sessions"] => ("/sessions".into(), None),
            ["sessions", "current"] => ("/sessions/current".into(), None),
            ["users", sub, "sessions"] => {
                ("/users/{sub}/sessions".into(), Some((*sub).to_string()))
            }
            _ => ("/{proxy+}".into(), None),
        }
    }

    fn body_fields(&self) -> (Value, bool) {
        let b64 = base64::engine::general_purpose::STANDARD;
        match &self.body {
            Body::None => (Value::Null, false),
            Body::Text(t) => (Value::String(t.clone()), false),
            Body::Bytes(b) => (Value::String(b64.encode(b)), true),
            Body::RawBase64(t) => (Value::String(t.clone()), true),
        }
    }

    /// The Lambda event API Gateway would send.
    pub fn event(&self) -> Value {
        let (derived, id) = self.derived_template();
        let template = self.template.clone().unwrap_or(derived);
        let path_params = match &id {
            Some(id) if template == "/items/{id}" => json!({ "id": id }),
            Some(sub) if template == "/users/{sub}/sessions" => json!({ "sub": sub }),
            _ => Value::Null,
        };
        let (body, is_b64) = self.body_fields();
        if self.v2 {
            let mut ev: Value = serde_json::from_str(HTTP_FIXTURE).expect("fixture");
            let mut headers = serde_json::Map::new();
            headers.insert(
                "host".into(),
                "r3pmxmplak.execute-api.us-east-1.amazonaws.com".into(),
            );
            for (k, v) in &self.headers {
                let k = k.to_ascii_lowercase();
                // HTTP API joins repeated headers with commas.
                let joined = match headers.get(&k).and_then(Value::as_str) {
                    Some(prev) => format!("{prev},{v}"),
                    None => v.clone(),
                };
                headers.insert(k, joined.into());
            }
            let raw_query = self
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                .collect::<Vec<_>>()
                .join("&");
            let mut qsp = serde_json::Map::new();
            for (k, v) in &self.query {
                let joined = match qsp.get(k).and_then(Value::as_str) {
                    Some(prev) => format!("{prev},{v}"),
                    None => v.clone(),
                };
                qsp.insert(k.clone(), joined.into());
            }
            let route_key = if template.starts_with('$') {
                template.clone()
            } else {
                format!("{} {}", self.method, template)
            };
            let raw_path = match &self.stage {
                Some(s) => format!("/{s}{}", self.path),
                None => self.path.clone(),
            };
            ev["routeKey"] = route_key.clone().into();
            ev["rawPath"] = raw_path.clone().into();
            ev["rawQueryString"] = raw_query.into();
            ev["queryStringParameters"] = if qsp.is_empty() {
                Value::Null
            } else {
                Value::Object(qsp)
            };
            ev["headers"] = Value::Object(headers);
            ev["pathParameters"] = path_params;
            ev["body"] = body;
            ev["isBase64Encoded"] = is_b64.into();
            ev["requestContext"]["routeKey"] = route_key.into();
            ev["requestContext"]["http"]["method"] = self.method.clone().into();
            ev["requestContext"]["http"]["path"] = raw_path.into();
            ev["requestContext"]["stage"] = self.stage.clone().unwrap_or("$default".into()).into();
            for (k, v) in &self.context {
                ev["requestContext"]["authorizer"]["lambda"][k] = v.clone().into();
            }
            match &self.sub {
                Some(s) => ev["requestContext"]["authorizer"]["lambda"]["sub"] = s.clone().into(),
                None => {
                    if let Some(o) = ev["requestContext"]["authorizer"]["lambda"].as_object_mut() {
                        o.remove("sub");
                    }
                }
            }
            ev
        } else {
            let mut ev: Value = serde_json::from_str(REST_FIXTURE).expect("fixture");
            let mut single = serde_json::Map::new();
            let mut multi = serde_json::Map::new();
            single.insert(
                "Host".into(),
                "abc123.execute-api.us-east-1.amazonaws.com".into(),
            );
            multi.insert(
                "Host".into(),
                json!(["abc123.execute-api.us-east-1.amazonaws.com"]),
            );
            for (k, v) in &self.headers {
                single.insert(k.clone(), v.clone().into());
                if let Some(a) = multi
                    .entry(k.clone())
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                {
                    a.push(v.clone().into());
                }
            }
            let mut qs = serde_json::Map::new();
            let mut mqs = serde_json::Map::new();
            for (k, v) in &self.query {
                qs.insert(k.clone(), v.clone().into());
                if let Some(a) = mqs
                    .entry(k.clone())
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                {
                    a.push(v.clone().into());
                }
            }
            let stage = self.stage.clone().unwrap_or("prod".into());
            ev["resource"] = template.clone().into();
            ev["path"] = self.path.clone().into();
            ev["httpMethod"] = self.method.clone().into();
            ev["headers"] = Value::Object(single);
            ev["multiValueHeaders"] = Value::Object(multi);
            ev["queryStringParameters"] = if qs.is_empty() {
                Value::Null
            } else {
                Value::Object(qs)
            };
            ev["multiValueQueryStringParameters"] = if mqs.is_empty() {
                Value::Null
            } else {
                Value::Object(mqs)
            };
            ev["pathParameters"] = path_params;
            ev["body"] = body;
            ev["isBase64Encoded"] = is_b64.into();
            ev["requestContext"]["resourcePath"] = template.into();
            ev["requestContext"]["httpMethod"] = self.method.clone().into();
            ev["requestContext"]["path"] = format!("/{stage}{}", self.path).into();
            ev["requestContext"]["stage"] = stage.into();
            let auth = ev["requestContext"]["authorizer"]
                .as_object_mut()
                .expect("authorizer");
            for (k, v) in &self.context {
                auth.insert(k.clone(), v.clone().into());
            }
            match &self.sub {
                Some(s) => {
                    auth.insert("sub".into(), s.clone().into());
                    auth.insert("principalId".into(), s.clone().into());
                }
                None => {
                    auth.remove("sub");
                }
            }
            ev
        }
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Clone, Debug)]
pub struct Resp {
    pub status: u16,
    /// Lower-case header names, every value.
    pub headers: HashMap<String, Vec<String>>,
    pub body: String,
    /// The body as JSON (`Null` when empty or not JSON).
    pub json: Value,
}

impl Resp {
    pub fn from_lambda(v: &Value) -> Resp {
        let status = v["statusCode"].as_u64().expect("statusCode") as u16;
        let mut headers: HashMap<String, Vec<String>> = HashMap::new();
        if let Some(m) = v["multiValueHeaders"].as_object().filter(|m| !m.is_empty()) {
            for (k, vals) in m {
                for x in vals.as_array().into_iter().flatten() {
                    headers
                        .entry(k.to_ascii_lowercase())
                        .or_default()
                        .push(x.as_str().unwrap_or_default().into());
                }
            }
        } else if let Some(m) = v["headers"].as_object() {
            for (k, x) in m {
                headers
                    .entry(k.to_ascii_lowercase())
                    .or_default()
                    .push(x.as_str().unwrap_or_default().into());
            }
        }
        assert_ne!(v["isBase64Encoded"], true, "crud never sends binary bodies");
        let body = v["body"].as_str().unwrap_or_default().to_string();
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            json,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// The problem document's `code` (asserting it is a well-formed problem document).
    pub fn code(&self) -> &str {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{} {}",
            self.status,
            self.body
        );
        assert_eq!(
            self.json["status"].as_u64(),
            Some(u64::from(self.status)),
            "{}",
            self.body
        );
        self.json["code"].as_str().expect("problem code")
    }

    /// Assert an error status and code.
    pub fn expect_err(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "body: {}",
            self.body
        );
    }
}

/// The item JSON without its volatile server fields, for before/after comparisons.
pub fn client_part(item: &Value) -> Value {
    let mut m = item.as_object().cloned().unwrap_or_default();
    for k in ["id", "version", "created_at", "updated_at"] {
        m.remove(k);
    }
    Value::Object(m)
}
