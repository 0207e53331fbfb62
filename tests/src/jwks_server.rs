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
    /// Serve the document after this delay (an endpoint far away: the bench's 100 ms).
    Delay(Duration),
}

struct State {
    doc: Value,
    mode: Mode,
}

pub struct JwksServer {
    pub port: u16,
    tls: bool,
    state: Arc<Mutex<State>>,
    hits: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// A private CA and a server certificate for 127.0.0.1 signed by it (PEM), made with the
/// `openssl` command line (Debian's `openssl`, on every machine of this kind).
pub struct TestCa {
    pub dir: std::path::PathBuf,
    pub ca_pem_path: std::path::PathBuf,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl TestCa {
    pub fn generate() -> TestCa {
        let dir = std::env::temp_dir().join(format!(
            "apigw-guard-ca-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).expect("ca dir");
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("openssl (Debian package openssl) must be installed");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=apigw-guard test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]);
        run(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("ext");
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        TestCa {
            ca_pem_path: dir.join("ca.pem"),
            cert_pem: std::fs::read(dir.join("server.pem")).expect("server.pem"),
            key_pem: std::fs::read(dir.join("server.key")).expect("server.key"),
            dir,
        }
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl JwksServer {
    pub async fn start(doc: Value) -> JwksServer {
        Self::start_with(doc, None).await
    }

    /// The same server behind TLS with `ca`'s server certificate for 127.0.0.1.
    pub async fn start_tls(doc: Value, ca: &TestCa) -> JwksServer {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&ca.cert_pem)
            .collect::<Result<_, _>>()
            .expect("server cert");
        let key = PrivateKeyDer::from_pem_slice(&ca.key_pem).expect("server key");
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
        Self::start_with(doc, Some(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))).await
    }

    async fn start_with(doc: Value, tls: Option<tokio_rustls::TlsAcceptor>) -> JwksServer {
        let is_tls = tls.is_some();
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
                let (st, h, tls) = (st.clone(), h.clone(), tls.clone());
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
                    let http = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                });
            }
        });
        JwksServer {
            port,
            tls: is_tls,
            state,
            hits,
            task,
        }
    }

    /// URL of the JWKS document.
    pub fn uri(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/.well-known/jwks.json", self.port)
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
        Mode::Delay(d) => {
            tokio::time::sleep(d).await;
            resp(200, serde_json::to_vec(&doc).expect("json"))
        }
        Mode::Status(s) => resp(s, b"{\"message\":\"down\"}".to_vec()),
        Mode::Garbage => resp(200, b"<html>definitely not a jwks".to_vec()),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            resp(200, serde_json::to_vec(&doc).expect("json"))
        }
    }
}
