//! The audit's HTTP client: HTTPS (rustls, webpki roots) or plain HTTP, only to the origins it
//! was given, with a request budget, a per-request timeout and an overall deadline. It keeps a
//! record of every response that came through the public URL (status and which security headers
//! were missing) for the security-header checks. It never records a request header or a body.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// The response headers every answer through the edge must carry (edge contract).
pub const SECURITY_HEADERS: [&str; 6] = [
    "strict-transport-security",
    "x-content-type-options",
    "x-frame-options",
    "content-security-policy",
    "referrer-policy",
    "permissions-policy",
];

/// Response bodies are read up to this size (the audit only needs small JSON answers).
const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    #[error("request budget exhausted ({0} requests)")]
    Budget(usize),
    #[error("audit deadline reached")]
    Deadline,
    #[error("refusing to send to {0}: not one of the audited origins")]
    Foreign(String),
    #[error("no answer: {0}")]
    Transport(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn headers_all(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// Which of [`SECURITY_HEADERS`] are missing.
    pub fn missing_security_headers(&self) -> Vec<&'static str> {
        SECURITY_HEADERS
            .iter()
            .copied()
            .filter(|h| !self.headers.contains_key(*h))
            .collect()
    }
}

/// One response seen through the public URL: what it was for, its status, missing headers.
#[derive(Debug, Clone)]
pub struct Seen {
    pub what: String,
    pub status: u16,
    pub missing: Vec<&'static str>,
}

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

pub struct Client {
    inner: HyperClient<Https, Full<Bytes>>,
    /// `scheme://host[:port]` of every origin the audit may talk to.
    allowed: Vec<String>,
    /// Origin of the public (CloudFront) URL: its responses are recorded in `seen`.
    public: String,
    budget: usize,
    sent: AtomicUsize,
    deadline: Instant,
    per_request: Duration,
    seen: Mutex<Vec<Seen>>,
}

pub fn origin_of(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let auth = uri.authority()?.as_str().to_ascii_lowercase();
    Some(format!("{scheme}://{auth}"))
}

impl Client {
    pub fn new(
        public: &str,
        allowed: &[String],
        budget: usize,
        total: Duration,
        per_request: Duration,
    ) -> Result<Client, String> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(per_request));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| format!("TLS setup: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let mut origins: Vec<String> = allowed.iter().filter_map(|u| origin_of(u)).collect();
        let public = origin_of(public).ok_or_else(|| format!("{public:?} is not a URL"))?;
        origins.push(public.clone());
        Ok(Client {
            inner: HyperClient::builder(TokioExecutor::new())
                .pool_max_idle_per_host(4)
                .build(https),
            allowed: origins,
            public,
            budget,
            sent: AtomicUsize::new(0),
            deadline: Instant::now() + total,
            per_request,
            seen: Mutex::new(Vec::new()),
        })
    }

    pub fn sent(&self) -> usize {
        self.sent.load(Ordering::Relaxed)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Send one request; `what` names it in the security-header record (never a header value).
    pub async fn send(
        &self,
        what: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Resp, SendError> {
        let origin = origin_of(url).unwrap_or_default();
        if !self.allowed.contains(&origin) {
            return Err(SendError::Foreign(origin));
        }
        let now = Instant::now();
        if now >= self.deadline {
            return Err(SendError::Deadline);
        }
        if self.sent.fetch_add(1, Ordering::Relaxed) >= self.budget {
            return Err(SendError::Budget(self.budget));
        }
        let mut b = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
            .map_err(|e| SendError::Transport(e.to_string()))?;
        let wait = self.per_request.min(self.deadline - now);
        let fut = async {
            let resp = self
                .inner
                .request(req)
                .await
                .map_err(|e| SendError::Transport(error_chain(&e)))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, SendError>(Resp {
                status,
                headers,
                body,
            })
        };
        let r = tokio::time::timeout(wait, fut)
            .await
            .map_err(|_| SendError::Timeout(wait))??;
        if origin == self.public {
            if let Ok(mut s) = self.seen.lock() {
                s.push(Seen {
                    what: what.to_string(),
                    status: r.status,
                    missing: r.missing_security_headers(),
                });
            }
        }
        Ok(r)
    }
}

/// The error and its sources, without any request data (hyper's errors name no header values).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
