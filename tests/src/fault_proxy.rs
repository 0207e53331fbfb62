//! A fault-injecting HTTP proxy between a DynamoDB client (the `crud` binary, through
//! `AWS_ENDPOINT_URL_DYNAMODB`) and moto: it forwards every request, except those a scheduled
//! fault matches, selected by operation (`X-Amz-Target: DynamoDB_20120810.<Operation>`).
//!
//! Faults are queued with [`FaultProxy::inject`] ("the next N requests for this operation") and
//! consumed in order; requests no fault matches are forwarded untouched. The proxy counts what
//! it saw ([`FaultProxy::stats`]): requests per operation, faults applied, requests forwarded.
//!
//! The fault kinds are what a client of real DynamoDB meets in a bad week: throttling
//! (`ProvisionedThroughputExceededException`, `ThrottlingException`, HTTP 400 with the AWS JSON
//! error body), `InternalServerError` (500), a bare HTTP 503, `TransactionCanceledException` with
//! `CancellationReasons`, a connection reset (RST, nothing forwarded), a hang past the client's
//! timeout (nothing forwarded), and a lost or late reply *after* the request was forwarded (the
//! write happened; the client did not hear back).
//!
//! The inbound side is a small hand-written HTTP/1.1 reader (the SDK sends `Content-Length`
//! bodies on keep-alive connections), so a reset is a real RST (`SO_LINGER` 0); the upstream side
//! is hyper's client.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the proxy does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 400 `ProvisionedThroughputExceededException` (not forwarded).
    ThroughputExceeded,
    /// 400 `ThrottlingException` (not forwarded).
    Throttling,
    /// 500 `InternalServerError` (not forwarded).
    InternalServerError,
    /// A bare HTTP 503 with an empty body (not forwarded).
    Unavailable503,
    /// 400 `TransactionCanceledException` with these cancellation reason codes, one per item of
    /// the transaction (`"None"`, `"TransactionConflict"`, `"ConditionalCheckFailed"`, ...);
    /// not forwarded.
    TransactionCanceled(Vec<&'static str>),
    /// The connection is reset (RST) as soon as the request is read; nothing is forwarded.
    Reset,
    /// The request is held, never forwarded and never answered, for this long (then the
    /// connection is reset): a hang past the client's timeout.
    Hang(Duration),
    /// Forwarded (the write happens), then the connection is reset instead of replying.
    LoseReply,
    /// Forwarded (the write happens), and the reply is held this long before it is sent.
    DelayReply(Duration),
}

impl Fault {
    /// A short stable name (for counts and messages).
    pub fn name(&self) -> &'static str {
        match self {
            Fault::ThroughputExceeded => "throughput_exceeded",
            Fault::Throttling => "throttling",
            Fault::InternalServerError => "internal_server_error",
            Fault::Unavailable503 => "http_503",
            Fault::TransactionCanceled(_) => "transaction_canceled",
            Fault::Reset => "reset",
            Fault::Hang(_) => "hang",
            Fault::LoseReply => "lose_reply",
            Fault::DelayReply(_) => "delay_reply",
        }
    }

    /// Whether the proxy forwards the request to the server (so a write takes effect).
    pub fn forwards(&self) -> bool {
        matches!(self, Fault::LoseReply | Fault::DelayReply(_))
    }
}

/// A scheduled fault: applies to the next `times` requests for `op` (`None`: any operation).
#[derive(Debug, Clone)]
struct Rule {
    op: Option<String>,
    fault: Fault,
    times: u32,
}

/// What the proxy saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests per operation (`PutItem`, ...; `-` when there was no `X-Amz-Target`).
    pub requests: BTreeMap<String, u64>,
    /// Faults applied, by (operation, fault name).
    pub faults: BTreeMap<(String, &'static str), u64>,
    /// Requests forwarded to the server (faulted `LoseReply` / `DelayReply` ones included).
    pub forwarded: u64,
}

impl Stats {
    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }
    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }
    /// Faults of one kind, over every operation.
    pub fn faults_named(&self, name: &str) -> u64 {
        self.faults
            .iter()
            .filter(|((_, n), _)| *n == name)
            .map(|(_, c)| c)
            .sum()
    }
    /// Requests seen for one operation.
    pub fn requests_for(&self, op: &str) -> u64 {
        self.requests.get(op).copied().unwrap_or(0)
    }
}

#[derive(Default)]
struct State {
    upstream: Option<String>,
    rules: VecDeque<Rule>,
    stats: Stats,
}

/// A running proxy on 127.0.0.1; stops when dropped.
pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: JoinHandle<()>,
}

type Upstream = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

impl FaultProxy {
    /// Start a proxy; set where it forwards to with [`FaultProxy::set_upstream`] (requests before
    /// that are answered 502).
    pub async fn start() -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fault proxy");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State::default()));
        let client: Upstream = Client::builder(TokioExecutor::new()).build_http();
        let st = state.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, st.clone(), client.clone()));
            }
        });
        FaultProxy {
            addr,
            state,
            accept,
        }
    }

    /// Start a proxy forwarding to `upstream` (e.g. `http://127.0.0.1:PORT`).
    pub async fn to(upstream: &str) -> FaultProxy {
        let p = FaultProxy::start().await;
        p.set_upstream(upstream);
        p
    }

    pub fn set_upstream(&self, upstream: &str) {
        self.state.lock().unwrap().upstream = Some(upstream.trim_end_matches('/').to_owned());
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Apply `fault` to the next `times` requests for operation `op` (`"PutItem"`, ...; `None`:
    /// any operation). Rules queue up: a request takes the first rule that matches it.
    pub fn inject(&self, op: Option<&str>, fault: Fault, times: u32) {
        if times == 0 {
            return;
        }
        self.state.lock().unwrap().rules.push_back(Rule {
            op: op.map(str::to_owned),
            fault,
            times,
        });
    }

    /// Apply `fault` to every request for `op` until [`FaultProxy::clear`].
    pub fn always(&self, op: Option<&str>, fault: Fault) {
        self.inject(op, fault, u32::MAX);
    }

    /// Drop every scheduled fault not yet used.
    pub fn clear(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// Scheduled fault applications not yet used.
    pub fn pending(&self) -> u64 {
        self.state
            .lock()
            .unwrap()
            .rules
            .iter()
            .map(|r| u64::from(r.times))
            .sum()
    }

    pub fn stats(&self) -> Stats {
        self.state.lock().unwrap().stats.clone()
    }

    pub fn reset_stats(&self) {
        self.state.lock().unwrap().stats = Stats::default();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One parsed inbound request.
struct Inbound {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Read one HTTP/1.1 request (`Content-Length` body) from `buf` + the stream; `None` at EOF or on
/// anything this proxy does not speak.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(Inbound, String)> {
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    let mut len = 0usize;
    let mut target = "-".to_owned();
    for l in lines {
        let (k, v) = l.split_once(':')?;
        let (k, v) = (k.trim().to_owned(), v.trim().to_owned());
        if k.eq_ignore_ascii_case("content-length") {
            len = v.parse().ok()?;
        }
        if k.eq_ignore_ascii_case("transfer-encoding") {
            return None;
        }
        if k.eq_ignore_ascii_case("x-amz-target") {
            target = v.rsplit('.').next().unwrap_or("-").to_owned();
        }
        headers.push((k, v));
    }
    let total = head_end + 4 + len;
    while buf.len() < total {
        let mut chunk = [0u8; 65536];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end + 4..total].to_vec();
    buf.drain(..total);
    Some((
        Inbound {
            method,
            target,
            headers,
            body,
        },
        path,
    ))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Take the fault (if any) for a request to `op`, and count the request.
fn take_fault(state: &Mutex<State>, op: &str) -> (Option<Fault>, Option<String>) {
    let mut st = state.lock().unwrap();
    *st.stats.requests.entry(op.to_owned()).or_default() += 1;
    let idx = st
        .rules
        .iter()
        .position(|r| r.op.as_deref().is_none_or(|o| o == op));
    let fault = idx.map(|i| {
        let rule = &mut st.rules[i];
        let f = rule.fault.clone();
        rule.times -= 1;
        if rule.times == 0 {
            st.rules.remove(i);
        }
        f
    });
    if let Some(f) = &fault {
        *st.stats
            .faults
            .entry((op.to_owned(), f.name()))
            .or_default() += 1;
    }
    if fault.as_ref().is_none_or(Fault::forwards) {
        st.stats.forwarded += 1;
    }
    (fault, st.upstream.clone())
}

fn aws_error(status: u16, code: &str, message: &str, extra: Option<serde_json::Value>) -> Vec<u8> {
    let mut body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
        "message": message,
    });
    if let Some(serde_json::Value::Object(m)) = extra {
        for (k, v) in m {
            body[k] = v;
        }
    }
    response_bytes(
        status,
        &[("content-type", "application/x-amz-json-1.0")],
        body.to_string().as_bytes(),
    )
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn response_bytes(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("x-amzn-requestid: fault-proxy\r\n");
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Forward to the server; the reply as raw HTTP/1.1 bytes (502 when the server is unreachable).
async fn forward(client: &Upstream, upstream: Option<&str>, req: &Inbound, path: &str) -> Vec<u8> {
    let Some(base) = upstream else {
        return response_bytes(502, &[], b"no upstream");
    };
    let mut b = http::Request::builder()
        .method(req.method.as_str())
        .uri(format!("{base}{path}"));
    for (k, v) in &req.headers {
        if k.eq_ignore_ascii_case("host") || k.eq_ignore_ascii_case("connection") {
            continue;
        }
        b = b.header(k.as_str(), v.as_str());
    }
    let Ok(r) = b.body(Full::new(Bytes::from(req.body.clone()))) else {
        return response_bytes(502, &[], b"bad request");
    };
    let Ok(resp) = client.request(r).await else {
        return response_bytes(502, &[], b"upstream unreachable");
    };
    let status = resp.status().as_u16();
    let headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "content-length" | "transfer-encoding" | "connection" | "keep-alive"
            )
        })
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = match resp.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return response_bytes(502, &[], b"upstream body"),
    };
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    response_bytes(status, &refs, &body)
}

fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>, client: Upstream) {
    let mut buf = Vec::new();
    while let Some((req, path)) = read_request(&mut stream, &mut buf).await {
        let (fault, upstream) = take_fault(&state, &req.target);
        let reply = match fault {
            None => forward(&client, upstream.as_deref(), &req, &path).await,
            Some(Fault::ThroughputExceeded) => aws_error(
                400,
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
                None,
            ),
            Some(Fault::Throttling) => aws_error(400, "ThrottlingException", "Rate exceeded", None),
            Some(Fault::InternalServerError) => {
                aws_error(500, "InternalServerError", "Internal server error", None)
            }
            Some(Fault::Unavailable503) => response_bytes(503, &[], b""),
            Some(Fault::TransactionCanceled(codes)) => {
                let reasons: Vec<serde_json::Value> = codes
                    .iter()
                    .map(|c| match *c {
                        "None" => serde_json::json!({"Code": "None"}),
                        c => {
                            serde_json::json!({"Code": c, "Message": format!("{c} (fault proxy)")})
                        }
                    })
                    .collect();
                aws_error(
                    400,
                    "TransactionCanceledException",
                    &format!(
                        "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                        codes.join(", ")
                    ),
                    Some(serde_json::json!({ "CancellationReasons": reasons })),
                )
            }
            Some(Fault::Reset) => return reset(stream),
            Some(Fault::Hang(d)) => {
                // Hold the request; end early if the client gives up and closes.
                let mut sink = [0u8; 1024];
                let _ = tokio::time::timeout(d, async {
                    loop {
                        match stream.read(&mut sink).await {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        }
                    }
                })
                .await;
                return reset(stream);
            }
            Some(Fault::LoseReply) => {
                let _ = forward(&client, upstream.as_deref(), &req, &path).await;
                return reset(stream);
            }
            Some(Fault::DelayReply(d)) => {
                let reply = forward(&client, upstream.as_deref(), &req, &path).await;
                tokio::time::sleep(d).await;
                reply
            }
        };
        if stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}
