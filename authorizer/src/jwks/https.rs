//! The production [`Fetcher`]: HTTPS GETs of the JWKS URI (feature `net`; the fuzz workspace
//! builds the authorizer without it, with no network client at all).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::{FetchError, FetchFuture, Fetcher, Jwks, JwksTimings, JwksUri, SystemClock};
use crate::alg::Alg;

type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;

/// GETs the JWKS URI over HTTPS (plain HTTP only for loopback, checked by the configuration),
/// with the body capped at `max_bytes`.
/// One HTTP/1.1 connection per fetch (a fetch is rare: init, unknown kids, hourly), so no pooled
/// client: hyper's pooled client would also link its HTTP/2 half, which the workspace's features
/// enable, into the bootstrap.
pub struct HttpFetcher {
    uri: http::Uri,
    connector: HttpsConnector,
    max_bytes: usize,
}

impl HttpFetcher {
    /// Fails only on an unusable URI or TLS setup. The trust anchors are the Mozilla roots
    /// (webpki-roots) plus `extra_roots` (`JWKS_CA_FILE`: an identity provider behind a private
    /// CA); the OS store is never read.
    pub fn new(
        uri: &JwksUri,
        t: &JwksTimings,
        extra_roots: &[CertificateDer<'static>],
    ) -> Result<HttpFetcher, FetchError> {
        let uri = uri.uri.clone();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(t.timeout));
        http.set_nodelay(true);
        let mut roots =
            rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for cert in extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| FetchError::CaFile(format!("not a usable CA certificate: {e}")))?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::Request(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(HttpFetcher {
            uri,
            connector: https,
            max_bytes: t.max_bytes,
        })
    }

    /// The certificates of a PEM file (`JWKS_CA_FILE`), read once at init.
    pub fn read_ca_file(path: &str) -> Result<Vec<CertificateDer<'static>>, FetchError> {
        let pem = std::fs::read(path)
            .map_err(|e| FetchError::CaFile(format!("cannot read {path:?}: {e}")))?;
        let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
        let certs = certs
            .map_err(|e| FetchError::CaFile(format!("{path:?}: not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(FetchError::CaFile(format!("{path:?} holds no certificate")));
        }
        Ok(certs)
    }

    async fn get(&self) -> Result<Bytes, FetchError> {
        use tower_service::Service;
        let request_err = |e: &dyn std::fmt::Display| FetchError::Request(e.to_string());
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|e| request_err(&e))?;
        let io = connector
            .call(self.uri.clone())
            .await
            .map_err(|e| request_err(&e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(io)
            .await
            .map_err(|e| request_err(&e))?;
        // The connection is driven beside the request and dropped with it.
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let result = async {
            let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
            let host = self.uri.authority().map_or("", |a| a.as_str());
            let req = http::Request::get(path)
                .header(http::header::HOST, host)
                .header(http::header::ACCEPT, "application/json")
                .body(Full::new(Bytes::new()))
                .map_err(|_| FetchError::Uri)?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| request_err(&e))?;
            if resp.status() != http::StatusCode::OK {
                return Err(FetchError::Status(resp.status().as_u16()));
            }
            Ok(Limited::new(resp.into_body(), self.max_bytes)
                .collect()
                .await
                .map_err(|_| FetchError::Body)?
                .to_bytes())
        }
        .await;
        driver.abort();
        result
    }
}

impl Fetcher for HttpFetcher {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(self.get())
    }
}

impl Jwks {
    /// The production cache for one issuer: HTTPS fetches of `uri`, the system clock.
    pub fn http(
        uri: &JwksUri,
        algs: Vec<Alg>,
        t: JwksTimings,
        extra_roots: &[CertificateDer<'static>],
    ) -> Result<Jwks, FetchError> {
        let fetcher = HttpFetcher::new(uri, &t, extra_roots)?;
        Ok(Jwks::new(Box::new(fetcher), Arc::new(SystemClock), algs, t))
    }
}
