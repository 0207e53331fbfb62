//! What the gateway receives and sends on its HTTP port, and where the time went: the types every
//! stage of the chain shares (the bottom layer; it imports no other module of the crate).

use std::net::IpAddr;

use bytes::Bytes;

/// An HTTP request as the gateway received it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    /// Path and query, as sent (`/items?limit=2`).
    pub target: String,
    /// Header (name, value) pairs in arrival order; names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub client_ip: IpAddr,
}

impl HttpRequest {
    /// The target split into path and query string (without its `?`).
    pub fn path_and_query(&self) -> (String, String) {
        match self.target.split_once('?') {
            Some((u, q)) => (u.to_string(), q.to_string()),
            None => (self.target.clone(), String::new()),
        }
    }
}

/// What goes back to the client.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// Where the time went for one request (microseconds), for the logs and the load benchmark.
#[derive(Debug, Default, Clone, Copy)]
pub struct Timings {
    pub edge_us: u64,
    pub authorizer_us: u64,
    pub crud_us: u64,
    pub total_us: u64,
    pub auth_cache_hit: bool,
}

/// A plain-text answer of the gateway itself (a failed edge function).
pub fn plain(status: u16, msg: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: Bytes::from(msg.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            target: target.into(),
            headers: Vec::new(),
            body: Bytes::new(),
            client_ip: IpAddr::from([127, 0, 0, 1]),
        }
    }

    #[test]
    fn target_splits_at_the_first_question_mark() {
        assert_eq!(
            req("/items?limit=2&x=?").path_and_query(),
            ("/items".to_string(), "limit=2&x=?".to_string())
        );
        assert_eq!(
            req("/items").path_and_query(),
            ("/items".to_string(), String::new())
        );
        assert_eq!(req("/?").path_and_query(), ("/".to_string(), String::new()));
    }

    #[test]
    fn plain_is_text() {
        let r = plain(502, "edge function error");
        assert_eq!(r.status, 502);
        assert_eq!(
            r.headers,
            vec![("content-type".into(), "text/plain".into())]
        );
        assert_eq!(&r.body[..], b"edge function error");
    }
}
