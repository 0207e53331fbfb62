//! A real HTTP JWKS endpoint on 127.0.0.1 whose document can be swapped (key rotation) and which
//! can be told to fail (HTTP 500, garbage, a hang past the client's timeout, connection close).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

/// How the server answers.
#[derive(Clone, Debug)]
pub enum Mode {
    Serve,
    Status(u16),
    Garbage,
    Hang,
    Close,
}

struct State {
    doc: Value,
    mode: Mode,
}

pub struct JwksServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
    hits: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    pub async fn start(doc: Value) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind jwks");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            doc,
            mode: Mode::Serve,
        }));
        let hits = Arc::new(AtomicU64::new(0));
        let (st, h) = (state.clone(), hits.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let (st, h) = (st.clone(), h.clone());
                tokio::spawn(async move {
                    let mode = st.lock().unwrap().mode.clone();
                    if matches!(mode, Mode::Close) {
                        h.fetch_add(1, Ordering::SeqCst);
                        drop(stream);
                        return;
                    }
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (st, h) = (st.clone(), h.clone());
                        async move {
                            let close = matches!(st.lock().unwrap().mode, Mode::Close);
                            if close {
                                // Abort the (possibly pooled, keep-alive) connection mid-request.
                                h.fetch_add(1, Ordering::SeqCst);
                                return Err(std::io::Error::other("connection dropped"));
                            }
                            Ok::<_, std::io::Error>(answer(req, &st, &h).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        JwksServer {
            port,
            state,
            hits,
            task,
        }
    }

    /// URL of the JWKS document.
    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}/.well-known/jwks.json", self.port)
    }

    pub fn set_doc(&self, doc: Value) {
        self.state.lock().unwrap().doc = doc;
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Requests received so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    req: Request<Incoming>,
    st: &Mutex<State>,
    hits: &AtomicU64,
) -> Response<Full<Bytes>> {
    hits.fetch_add(1, Ordering::SeqCst);
    let (mode, doc) = {
        let s = st.lock().unwrap();
        (s.mode.clone(), s.doc.clone())
    };
    let resp = |status: u16, body: Vec<u8>| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .expect("response")
    };
    if req.uri().path() != "/.well-known/jwks.json" {
        return resp(404, b"{}".to_vec());
    }
    match mode {
        Mode::Serve | Mode::Close => resp(200, serde_json::to_vec(&doc).expect("json")),
        Mode::Status(s) => resp(s, b"{\"message\":\"down\"}".to_vec()),
        Mode::Garbage => resp(200, b"<html>definitely not a jwks".to_vec()),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            resp(200, serde_json::to_vec(&doc).expect("json"))
        }
    }
}
