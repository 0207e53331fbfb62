//! The whole local stack for gateway tests: moto (Cognito + DynamoDB), a pool with users, the
//! items table, and the real `gateway` binary on a free port of 127.0.0.1, plus a small HTTP client.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::cognito::{sign_in, LocalPool};
use crate::moto::Moto;
use crate::paths::{bin, venv_python, workspace_root};

pub struct Stack {
    pub moto: Moto,
    pub port: u16,
    pub pool: LocalPool,
    /// Access tokens by user name.
    pub tokens: HashMap<String, String>,
    /// The environment the gateway was started with (to start another one like it).
    pub env: Vec<(String, String)>,
    child: Child,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Users created in every stack: alice and bob (no groups), carol (group `admin`).
pub const USERS: [(&str, &[&str]); 3] = [("alice", &[]), ("bob", &[]), ("carol", &["admin"])];

impl Stack {
    /// Start everything. `env` adds to / overrides the gateway's environment; `edge_config` is the
    /// edge's JSON configuration.
    pub async fn start(env: &[(&str, String)], edge_config: &Value) -> Stack {
        let moto = Moto::start();
        let mut pool = None;
        let mut tokens = HashMap::new();
        for (u, groups) in USERS {
            let p = sign_in(&moto, "gateway-pool", u, groups);
            tokens.insert(u.to_string(), p.access_token.clone());
            pool.get_or_insert(p);
        }
        let pool = pool.expect("pool");
        // the items table, and the revocation table a test may name in REVOCATION_TABLE
        for extra in [&[][..], &["--revocation"][..]] {
            let table = if extra.is_empty() {
                "items"
            } else {
                "revocations"
            };
            let out = std::process::Command::new(venv_python())
                .arg(workspace_root().join("scripts/local_table.py"))
                .args(["--endpoint", &moto.endpoint(), "--table", table])
                .args(extra)
                .output()
                .expect("local_table.py");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }

        let mut full_env: Vec<(String, String)> = vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("GATEWAY_PORT".into(), "0".into()),
            ("USER_POOL_ID".into(), pool.user_pool_id.clone()),
            ("JWKS_URI".into(), pool.jwks_uri.clone()),
            ("CLIENT_IDS".into(), pool.client_id.clone()),
            ("TABLE_NAME".into(), "items".into()),
            ("EDGE_CONFIG".into(), edge_config.to_string()),
        ];
        full_env.extend(moto.aws_env());
        full_env.extend(env.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let (child, port) = spawn_gateway(&full_env).await;
        Stack {
            moto,
            port,
            pool,
            tokens,
            env: full_env,
            child,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn token(&self, user: &str) -> &str {
        &self.tokens[user]
    }

    /// One request. `headers` are sent as given (repeated names allowed).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let mut b = http::Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:{}{path}", self.port));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        let resp = self.client.request(req).await.expect("gateway answered");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Request as `user` (Bearer token) with optional JSON body.
    pub async fn as_user(
        &self,
        user: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        let auth = format!("Bearer {}", self.token(user));
        let mut h = vec![("authorization", auth.as_str())];
        if body.is_some() {
            h.push(("content-type", "application/json"));
        }
        let b = body.map(|v| v.to_string()).unwrap_or_default();
        self.call(method, path, &h, &b).await
    }

    /// Run `gateway serve` with the stack's environment changed by `set` (a `None` value removes
    /// the variable) and wait for it to exit: (exit code, stderr).
    pub async fn run_gateway_with(&self, set: &[(&str, Option<&str>)]) -> (Option<i32>, String) {
        let mut env = self.env.clone();
        for (k, v) in set {
            env.retain(|(ek, _)| ek != k);
            if let Some(v) = v {
                env.push((k.to_string(), v.to_string()));
            }
        }
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            Command::new(bin("gateway"))
                .arg("serve")
                .env_clear()
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .output(),
        )
        .await
        .expect("gateway exits")
        .expect("run gateway");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Stop this gateway and start another on the same moto with the environment changed by
    /// `set` (a `None` value removes the variable), e.g. a second issuer.
    pub async fn restart_with(&mut self, set: &[(&str, Option<&str>)]) {
        let _ = self.child.kill().await;
        for (k, v) in set {
            self.env.retain(|(ek, _)| ek != k);
            if let Some(v) = v {
                self.env.push((k.to_string(), v.to_string()));
            }
        }
        let (child, port) = spawn_gateway(&self.env).await;
        self.child = child;
        self.port = port;
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Start `gateway serve` with exactly `env` and wait for its port.
async fn spawn_gateway(env: &[(String, String)]) -> (Child, u16) {
    let full_env = env;
    let mut cmd = Command::new(bin("gateway"));
    cmd.arg("serve")
        .env_clear()
        .envs(full_env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // STACK_GATEWAY_LOG=<file>: the gateway's log lines (authorizer decisions, crud requests)
    // appended there, for debugging a stack test.
    match std::env::var("STACK_GATEWAY_LOG").ok().and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    }) {
        Some(f) => cmd.stdout(Stdio::from(f)),
        None => cmd.stdout(Stdio::null()),
    };
    let mut child = cmd.spawn().expect("spawn gateway");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let port = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(l)) = lines.next_line().await {
            if let Some(addr) = l.strip_prefix("gateway: listening on http://") {
                return addr.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
            }
            if l.starts_with("gateway: ") {
                panic!("gateway failed to start: {l}");
            }
        }
        None
    })
    .await
    .expect("gateway start timeout")
    .expect("gateway port");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port)
}
