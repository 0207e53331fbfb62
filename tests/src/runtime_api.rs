//! A small Lambda Runtime API emulator: starts a real function binary as a child process with
//! `AWS_LAMBDA_RUNTIME_API` pointing here, and feeds it events one at a time, as Lambda does.
//!
//! Implements the endpoints `lambda_runtime` uses: `GET /2018-06-01/runtime/invocation/next`,
//! `POST .../invocation/{id}/response`, `POST .../invocation/{id}/error`, `POST .../init/error`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, Mutex as AsyncMutex};

/// What the function answered for one invocation.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `POST /response`: the body as JSON (or `Value::String` of the raw text if not JSON).
    Response(Value),
    /// `POST /error`: the error document Lambda would surface (`errorType`, `errorMessage`).
    Error {
        error_type: String,
        error_message: String,
    },
}

impl Outcome {
    pub fn response(&self) -> &Value {
        match self {
            Outcome::Response(v) => v,
            Outcome::Error { error_message, .. } => {
                panic!("expected a response, got error {error_message:?}")
            }
        }
    }
    pub fn error_message(&self) -> Option<&str> {
        match self {
            Outcome::Error { error_message, .. } => Some(error_message),
            _ => None,
        }
    }
}

struct Pending {
    id: String,
    body: Bytes,
    reply: oneshot::Sender<Outcome>,
}

struct Shared {
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<String>>,
    /// The invocation timeout the `lambda-runtime-deadline-ms` header announces (the
    /// function's `Timeout`), in milliseconds.
    timeout_ms: std::sync::atomic::AtomicU64,
    /// The `lambda-runtime-invoked-function-arn` of later invocations (an alias qualifier
    /// names the variant crud's metrics report).
    invoked_arn: Mutex<String>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            waiting: Mutex::default(),
            init_error: Mutex::default(),
            timeout_ms: std::sync::atomic::AtomicU64::new(30_000),
            invoked_arn: Mutex::new(
                "arn:aws:lambda:us-east-1:123456789012:function:test-function".into(),
            ),
        }
    }
}

/// A running function under the emulator. Dropping it kills the process.
pub struct Function {
    queue: mpsc::UnboundedSender<Pending>,
    shared: Arc<Shared>,
    child: AsyncMutex<Child>,
    logs: Arc<Mutex<Vec<String>>>,
    seq: std::sync::atomic::AtomicU64,
    pub addr: SocketAddr,
    /// Wall time from spawning the process to the first `GET /next` (the init phase).
    pub init_time: Arc<Mutex<Option<Duration>>>,
}

impl Function {
    /// Start `bin` with `env` (plus the standard Lambda variables) under a fresh emulator.
    pub async fn start(bin: &Path, env: &[(String, String)]) -> Function {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind runtime api");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = mpsc::unbounded_channel::<Pending>();
        let rx = Arc::new(AsyncMutex::new(rx));
        let shared = Arc::new(Shared::default());
        let init_time = Arc::new(Mutex::new(None));
        let started = Instant::now();

        {
            let shared = shared.clone();
            let init_time = init_time.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        break;
                    };
                    let rx = rx.clone();
                    let shared = shared.clone();
                    let init_time = init_time.clone();
                    tokio::spawn(async move {
                        let svc = service_fn(move |req| {
                            handle(req, rx.clone(), shared.clone(), init_time.clone(), started)
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        }

        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "test-function")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/test-function")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test-stream")
            .env("AWS_REGION", "us-east-1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let logs = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = logs.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    logs.lock().unwrap().push(l);
                }
            });
        }
        Function {
            queue: tx,
            shared,
            child: AsyncMutex::new(child),
            logs,
            seq: Default::default(),
            addr,
            init_time,
        }
    }

    /// Send one event and wait (up to 30 s) for the function's answer.
    pub async fn invoke(&self, event: &Value) -> Outcome {
        self.invoke_bytes(Bytes::from(serde_json::to_vec(event).expect("event json")))
            .await
    }

    pub async fn invoke_bytes(&self, body: Bytes) -> Outcome {
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = format!("req-{n:08}");
        let (reply, rx) = oneshot::channel();
        self.queue
            .send(Pending { id, body, reply })
            .expect("emulator alive");
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(o)) => o,
            Ok(Err(_)) => panic!("invocation dropped; logs:\n{}", self.logs().join("\n")),
            Err(_) => panic!(
                "function did not answer within 30 s (init error: {:?}); logs:\n{}",
                self.init_error(),
                self.logs().join("\n")
            ),
        }
    }

    /// Wait until the function either asks for its first event or reports an init error; returns
    /// the init error, if any, or `None` when init succeeded.
    pub async fn wait_init(&self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(e) = self.init_error() {
                return Some(e);
            }
            if self.init_time.lock().unwrap().is_some() {
                return None;
            }
            if let Ok(Some(status)) = self.child.lock().await.try_wait() {
                // Give the log readers a moment, then report the exit.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Some(
                    self.init_error()
                        .unwrap_or_else(|| format!("process exited: {status}")),
                );
            }
            assert!(Instant::now() < deadline, "init did not finish within 30 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The invocation timeout announced to later invocations through
    /// `lambda-runtime-deadline-ms` (default 30 s), as the function's `Timeout` would be.
    pub fn set_timeout(&self, timeout: Duration) {
        self.shared.timeout_ms.store(
            u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    /// The invoked function ARN announced to later invocations (default: the unqualified
    /// `…:function:test-function`), e.g. with an alias qualifier `…:test-function:canary`.
    pub fn set_invoked_arn(&self, arn: &str) {
        *self.shared.invoked_arn.lock().unwrap() = arn.to_string();
    }

    pub fn init_error(&self) -> Option<String> {
        self.shared.init_error.lock().unwrap().clone()
    }

    /// Every line the process wrote to stdout or stderr so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Every line so far, after the output has been quiet for 50 ms (log lines are read from the
    /// process's pipes asynchronously, so a line written just before a response may lag it).
    pub async fn settled_logs(&self) -> Vec<String> {
        let mut n = usize::MAX;
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.logs.lock().unwrap().len();
            if now == n {
                break;
            }
            n = now;
        }
        self.logs()
    }

    /// Peak resident set size of the process so far (VmHWM), in KiB.
    pub async fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.lock().await.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }

    /// Has the process exited?
    pub async fn exited(&self) -> bool {
        matches!(self.child.lock().await.try_wait(), Ok(Some(_)))
    }

    /// Whether the process exits within 5 s: a function reports its init error and then exits,
    /// and on a loaded machine the exit can trail the report.
    pub async fn exits_soon(&self) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            if self.exited().await {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

type Body = Full<Bytes>;

fn reply(status: StatusCode, body: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("response")
}

async fn handle(
    req: Request<Incoming>,
    rx: Arc<AsyncMutex<mpsc::UnboundedReceiver<Pending>>>,
    shared: Arc<Shared>,
    init_time: Arc<Mutex<Option<Duration>>>,
    started: Instant,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    const BASE: &str = "/2018-06-01/runtime";
    if method == Method::GET && path == format!("{BASE}/invocation/next") {
        {
            let mut t = init_time.lock().unwrap();
            if t.is_none() {
                *t = Some(started.elapsed());
            }
        }
        let next = rx.lock().await.recv().await;
        let Some(p) = next else {
            return Ok(reply(StatusCode::GONE, "shutdown"));
        };
        shared.waiting.lock().unwrap().insert(p.id.clone(), p.reply);
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis()
            + u128::from(shared.timeout_ms.load(std::sync::atomic::Ordering::SeqCst));
        let arn = shared.invoked_arn.lock().unwrap().clone();
        let resp = Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("lambda-runtime-aws-request-id", &p.id)
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header("lambda-runtime-invoked-function-arn", arn)
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000;Sampled=0",
            )
            .body(Full::new(p.body))
            .expect("response");
        return Ok(resp);
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if method == Method::POST && path == format!("{BASE}/init/error") {
        let msg = error_message(&body);
        *shared.init_error.lock().unwrap() = Some(msg);
        return Ok(reply(StatusCode::ACCEPTED, "{}"));
    }
    if method == Method::POST {
        if let Some(rest) = path.strip_prefix(&format!("{BASE}/invocation/")) {
            let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
            let waiter = shared.waiting.lock().unwrap().remove(id);
            let Some(waiter) = waiter else {
                return Ok(reply(
                    StatusCode::BAD_REQUEST,
                    "{\"errorMessage\":\"unknown request id\"}",
                ));
            };
            let outcome = match kind {
                "response" => {
                    Outcome::Response(serde_json::from_slice(&body).unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(&body).into_owned())
                    }))
                }
                "error" => {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    Outcome::Error {
                        error_type: v["errorType"].as_str().unwrap_or_default().to_string(),
                        error_message: v["errorMessage"].as_str().unwrap_or_default().to_string(),
                    }
                }
                _ => return Ok(reply(StatusCode::NOT_FOUND, "{}")),
            };
            let _ = waiter.send(outcome);
            return Ok(reply(StatusCode::ACCEPTED, "{}"));
        }
    }
    Ok(reply(StatusCode::NOT_FOUND, "{}"))
}

fn error_message(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    v["errorMessage"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}
