//! CORS, modelled on tower-http's `CorsLayer`: typed, restrictive by default, pure functions that
//! compute headers, and invalid combinations refused at construction.
//!
//! - Origins come from an exact allow-list: the `Origin` value must equal an entry byte for byte
//!   (scheme, host and port; browsers send them lowercase and without a default port). No
//!   suffix, prefix or pattern matching; `null` only when listed literally. `*` (any origin) is
//!   only possible without credentials.
//! - The edge is the only CORS authority: `Access-Control-*` headers the origin sent are removed
//!   and recomputed, so a cached response never carries another visitor's origin.
//! - `Vary: Origin` is appended to every response (never overwriting an existing `Vary`).

use crate::config::{check_header_name, ConfigError, CorsConfig};
use crate::event::Headers;
use crate::headers;

/// Response headers the edge owns and recomputes.
const OWNED: [&str; 6] = [
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-expose-headers",
    "access-control-max-age",
];

#[derive(Debug, Clone)]
enum Origins {
    Any,
    List(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Cors {
    origins: Origins,
    credentials: bool,
    methods: Vec<String>,
    methods_joined: String,
    headers: Vec<String>,
    headers_joined: String,
    expose_joined: String,
    max_age: Option<String>,
}

/// What the request's `Origin` header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOrigin<'a> {
    None,
    One(&'a str),
    /// Several `Origin` headers, or one value listing several origins: never allowed.
    Several,
}

pub fn request_origin(h: &Headers) -> RequestOrigin<'_> {
    match h.get("origin").map(Vec::as_slice) {
        None | Some([]) => RequestOrigin::None,
        Some([one]) if !one.value.contains(',') && !one.value.trim().contains(' ') => {
            RequestOrigin::One(one.value.as_str())
        }
        Some(_) => RequestOrigin::Several,
    }
}

/// Why a preflight was refused (log reason codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreflightRefusal {
    Origin,
    SeveralOrigins,
    Method,
    Header,
}

impl PreflightRefusal {
    pub fn code(self) -> &'static str {
        match self {
            PreflightRefusal::Origin => "cors_origin_not_allowed",
            PreflightRefusal::SeveralOrigins => "cors_several_origins",
            PreflightRefusal::Method => "cors_method_not_allowed",
            PreflightRefusal::Header => "cors_header_not_allowed",
        }
    }
}

impl Cors {
    pub fn new(c: &CorsConfig) -> Result<Cors, ConfigError> {
        let any = c.allowed_origins.iter().any(|o| o == "*");
        let origins = if any {
            if c.allow_credentials {
                return Err(ConfigError::CredentialsWithWildcard);
            }
            if c.allowed_origins.len() > 1 {
                return Err(ConfigError::InvalidCorsEntry {
                    field: "allowed_origins",
                    value: "*".into(),
                    reason: "\"*\" allows every origin; list either \"*\" alone or exact origins",
                });
            }
            Origins::Any
        } else {
            for o in &c.allowed_origins {
                validate_origin(o)?;
            }
            Origins::List(c.allowed_origins.clone())
        };
        for m in &c.allowed_methods {
            if m == "*" {
                return Err(ConfigError::InvalidCorsEntry {
                    field: "allowed_methods",
                    value: m.clone(),
                    reason: "list the methods explicitly",
                });
            }
            check_header_name("cors.allowed_methods", m)?;
        }
        let mut hdrs = Vec::new();
        for (field, list) in [
            ("allowed_headers", &c.allowed_headers),
            ("expose_headers", &c.expose_headers),
        ] {
            for h in list {
                if h == "*" {
                    return Err(ConfigError::InvalidCorsEntry {
                        field,
                        value: h.clone(),
                        reason: "list the header names explicitly",
                    });
                }
                check_header_name("cors header list", h)?;
            }
        }
        for h in &c.allowed_headers {
            hdrs.push(h.to_ascii_lowercase());
        }
        Ok(Cors {
            origins,
            credentials: c.allow_credentials,
            methods: c.allowed_methods.clone(),
            methods_joined: c.allowed_methods.join(", "),
            headers_joined: hdrs.join(", "),
            headers: hdrs,
            expose_joined: c
                .expose_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join(", "),
            max_age: c.max_age_seconds.map(|s| s.to_string()),
        })
    }

    pub fn is_allowed(&self, origin: &str) -> bool {
        match &self.origins {
            Origins::Any => true,
            Origins::List(l) => l.iter().any(|o| o == origin),
        }
    }

    /// Whether the request is a CORS preflight: `OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method` (any other `OPTIONS` goes to the origin).
    pub fn is_preflight(method: &str, h: &Headers) -> bool {
        method == "OPTIONS"
            && headers::count(h, "origin") > 0
            && headers::count(h, "access-control-request-method") > 0
    }

    /// Decide a preflight. `Ok(headers)` are the CORS headers of the 204.
    pub fn preflight(&self, h: &Headers) -> Result<Headers, PreflightRefusal> {
        let origin = match request_origin(h) {
            RequestOrigin::One(o) => o,
            RequestOrigin::Several => return Err(PreflightRefusal::SeveralOrigins),
            RequestOrigin::None => return Err(PreflightRefusal::Origin),
        };
        if !self.is_allowed(origin) {
            return Err(PreflightRefusal::Origin);
        }
        let method =
            headers::single(h, "access-control-request-method").ok_or(PreflightRefusal::Method)?;
        if !self.methods.iter().any(|m| m == method) {
            return Err(PreflightRefusal::Method);
        }
        for requested in headers::values(h, "access-control-request-headers")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            if !self
                .headers
                .iter()
                .any(|a| a.eq_ignore_ascii_case(requested))
            {
                return Err(PreflightRefusal::Header);
            }
        }
        let mut out = Headers::new();
        self.allow_origin(&mut out, origin);
        headers::set(
            &mut out,
            "access-control-allow-methods",
            "Access-Control-Allow-Methods",
            &*self.methods_joined,
        );
        if !self.headers_joined.is_empty() {
            headers::set(
                &mut out,
                "access-control-allow-headers",
                "Access-Control-Allow-Headers",
                &*self.headers_joined,
            );
        }
        if let Some(age) = &self.max_age {
            headers::set(
                &mut out,
                "access-control-max-age",
                "Access-Control-Max-Age",
                &**age,
            );
        }
        headers::set(
            &mut out,
            "vary",
            "Vary",
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        );
        Ok(out)
    }

    /// Headers of an actual (non-preflight) response: drop the origin's CORS headers, allow the
    /// request's origin if listed, and append `Vary: Origin`.
    pub fn apply(&self, request: &Headers, response: &mut Headers) {
        for name in OWNED {
            response.remove(name);
        }
        if let RequestOrigin::One(origin) = request_origin(request) {
            if self.is_allowed(origin) {
                self.allow_origin(response, origin);
                if !self.expose_joined.is_empty() {
                    headers::set(
                        response,
                        "access-control-expose-headers",
                        "Access-Control-Expose-Headers",
                        &*self.expose_joined,
                    );
                }
            }
        }
        headers::vary_append(response, "Origin");
    }

    fn allow_origin(&self, out: &mut Headers, origin: &str) {
        let value = match self.origins {
            Origins::Any => "*",
            Origins::List(_) => origin,
        };
        headers::set(
            out,
            "access-control-allow-origin",
            "Access-Control-Allow-Origin",
            value,
        );
        if self.credentials {
            headers::set(
                out,
                "access-control-allow-credentials",
                "Access-Control-Allow-Credentials",
                "true",
            );
        }
    }
}

/// An allow-list entry must be a serialized origin exactly as browsers send it.
fn validate_origin(o: &str) -> Result<(), ConfigError> {
    let err = |reason| {
        Err(ConfigError::InvalidOrigin {
            origin: o.to_string(),
            reason,
        })
    };
    if o == "null" {
        return Ok(()); // opaque origins (sandboxed iframes, file:) only when listed on purpose
    }
    let Some((scheme, rest)) = o.split_once("://") else {
        return err("missing scheme");
    };
    if scheme != "https" && scheme != "http" {
        return err("scheme must be https or http, in lowercase");
    }
    if rest.is_empty() {
        return err("missing host");
    }
    if rest.contains('/') {
        return err("an origin has no path (not even a trailing slash)");
    }
    if rest.contains('@') || rest.contains('?') || rest.contains('#') || rest.contains('*') {
        return err("an origin has no user info, query, fragment or pattern");
    }
    if rest.bytes().any(|b| b.is_ascii_uppercase()) {
        return err("browsers send the host in lowercase");
    }
    let (host, port) = if rest.starts_with('[') {
        // IPv6 literal: [addr] or [addr]:port
        let Some(end) = rest.find(']') else {
            return err("invalid host");
        };
        match &rest[end + 1..] {
            "" => (&rest[..=end], None),
            p => match p.strip_prefix(':') {
                Some(p) => (&rest[..=end], Some(p)),
                None => return err("invalid host"),
            },
        }
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    let port = match port {
        None => None,
        Some(p)
            if !p.is_empty() && !p.starts_with('0') && p.bytes().all(|b| b.is_ascii_digit()) =>
        {
            match p.parse::<u16>() {
                Ok(n) => Some(n),
                Err(_) => return err("invalid port"),
            }
        }
        Some(_) => return err("invalid port"),
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'))
    {
        return err("invalid host");
    }
    if matches!((scheme, port), ("https", Some(443)) | ("http", Some(80))) {
        return err("browsers omit the default port; remove it");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(origins: &[&str], creds: bool) -> CorsConfig {
        CorsConfig {
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allow_credentials: creds,
            ..CorsConfig::default()
        }
    }

    #[test]
    fn wildcard_with_credentials_is_refused_with_the_fix() {
        let e = Cors::new(&cfg(&["*"], true)).unwrap_err();
        assert_eq!(e, ConfigError::CredentialsWithWildcard);
        assert!(e.to_string().contains("list the exact origins"));
        assert!(Cors::new(&cfg(&["*"], false)).is_ok());
    }

    #[test]
    fn malformed_allow_list_entries_are_refused() {
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://*.example.com",
            "HTTPS://app.example.com",
            "https://App.Example.com",
            "https://app.example.com:443",
            "http://app.example.com:80",
            "https://app.example.com:99999",
            "ftp://app.example.com",
            "https://user@app.example.com",
            "https://",
        ] {
            assert!(Cors::new(&cfg(&[bad], false)).is_err(), "{bad} accepted");
        }
        for good in [
            "https://app.example.com",
            "http://localhost:3000",
            "https://app.example.com:8443",
            "null",
            "http://[::1]:8080",
        ] {
            assert!(Cors::new(&cfg(&[good], false)).is_ok(), "{good} refused");
        }
    }

    #[test]
    fn exact_match_only() {
        let c = Cors::new(&cfg(&["https://app.example.com"], true)).unwrap();
        assert!(c.is_allowed("https://app.example.com"));
        for hostile in [
            "https://evil.com",
            "https://app.example.com.evil.com",
            "https://evilapp.example.com",
            "http://app.example.com",
            "https://app.example.com:8443",
            "null",
            "HTTPS://APP.EXAMPLE.COM",
            "https://app.example.com/",
            "https://app.example.co",
            "",
        ] {
            assert!(!c.is_allowed(hostile), "{hostile} allowed");
        }
    }
}
