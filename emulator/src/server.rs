//! The HTTP server: hyper on 127.0.0.1, one [`Gateway::handle`] per request, one JSON log line
//! per request (method, path, status, where the time went; never a header value or a body).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::pipeline::{Gateway, HttpRequest};

/// Bodies larger than this are cut off before the gateway sees them (API Gateway's own limit is
/// enforced by the pipeline, below this).
const READ_LIMIT: usize = 11 * 1024 * 1024;

pub async fn serve(
    listener: TcpListener,
    gw: Arc<Gateway>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    serve_as(listener, gw, shutdown, false).await
}

/// Serve the regional API endpoint (API Gateway without CloudFront in front; see
/// [`Gateway::handle_regional`]).
pub async fn serve_regional(
    listener: TcpListener,
    gw: Arc<Gateway>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    serve_as(listener, gw, shutdown, true).await
}

async fn serve_as(
    listener: TcpListener,
    gw: Arc<Gateway>,
    shutdown: impl std::future::Future<Output = ()>,
    regional: bool,
) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => break,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let gw = gw.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let gw = gw.clone();
                async move { Ok::<_, Infallible>(one(req, peer, &gw, regional).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .max_buf_size(64 * 1024)
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn one(
    req: http::Request<Incoming>,
    peer: SocketAddr,
    gw: &Gateway,
    regional: bool,
) -> http::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, READ_LIMIT).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return http::Response::builder()
                .status(413)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(
                    br#"{"message":"Request Too Long"}"#,
                )))
                .unwrap_or_default();
        }
    };
    let mut headers = Vec::with_capacity(parts.headers.len());
    for (k, v) in &parts.headers {
        // Header values that are not visible ASCII/UTF-8 are passed on lossily; the edge refuses
        // control characters.
        headers.push((
            k.as_str().to_string(),
            String::from_utf8_lossy(v.as_bytes()).into_owned(),
        ));
    }
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let path = parts.uri.path().to_string();
    let method = parts.method.as_str().to_string();
    let req = HttpRequest {
        method: method.clone(),
        target,
        headers,
        body,
        client_ip: peer.ip(),
    };
    let (resp, t) = if regional {
        gw.handle_regional(req).await
    } else {
        gw.handle(req).await
    };
    tracing::info!(
        regional,
        method = %method,
        path = %path,
        status = resp.status,
        total_us = t.total_us,
        edge_us = t.edge_us,
        authorizer_us = t.authorizer_us,
        auth_cache_hit = t.auth_cache_hit,
        crud_us = t.crud_us,
    );
    let mut b = http::Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            b = b.header(name, value);
        }
    }
    b.body(Full::new(resp.body)).unwrap_or_else(|_| {
        let mut r = http::Response::new(Full::new(Bytes::from_static(b"bad gateway")));
        *r.status_mut() = http::StatusCode::BAD_GATEWAY;
        r
    })
}
