//! Request hygiene at viewer-request: size caps, control characters, client-sent internal
//! headers, and the origin-verify secret header.

use crate::config::{
    check_header_name, is_clean_value, is_token, ConfigError, HygieneConfig, LimitsConfig,
    OriginVerifyConfig,
};
use crate::event::{Headers, Request};
use crate::headers;

/// Request headers a client must never set: the edge's own signalling headers and headers that
/// origins commonly treat as an authenticated identity.
pub const BUILTIN_STRIP: [&str; 14] = [
    crate::names::VARIANT_HEADER,
    crate::names::FORCE_HEADER,
    crate::names::TESTER_HEADER,
    "x-amzn-oidc-identity",
    "x-amzn-oidc-accesstoken",
    "x-amzn-oidc-data",
    "x-apigateway-event",
    "x-apigateway-context",
    "x-user-id",
    "x-user-sub",
    "x-authenticated-user",
    "x-forwarded-user",
    "x-remote-user",
    "remote-user",
];

pub use crate::names::ORIGIN_VERIFY_HEADER;

/// Request headers CloudFront does not let a viewer-request function remove or change.
const READ_ONLY_REQUEST: [&str; 4] = ["host", "content-length", "transfer-encoding", "via"];

/// Why a request was refused before anything else looked at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UriTooLong,
    HeadersTooLarge,
    InvalidHeader,
    InvalidUri,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::UriTooLong => 414,
            Refusal::HeadersTooLarge => 431,
            Refusal::InvalidHeader | Refusal::InvalidUri => 400,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Refusal::UriTooLong => "uri_too_long",
            Refusal::HeadersTooLarge => "headers_too_large",
            Refusal::InvalidHeader => "invalid_header",
            Refusal::InvalidUri => "invalid_uri",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Hygiene {
    max_uri: usize,
    max_value: usize,
    max_total: usize,
    strip: Vec<String>,
    verify: Option<OriginVerify>,
}

#[derive(Clone)]
struct OriginVerify {
    name: String,
    key: String,
    value: String,
}

impl std::fmt::Debug for OriginVerify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginVerify")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Hygiene {
    pub fn new(
        limits: &LimitsConfig,
        hygiene: &HygieneConfig,
        verify: Option<&OriginVerifyConfig>,
    ) -> Result<Hygiene, ConfigError> {
        for (name, v) in [
            ("max_uri_bytes", limits.max_uri_bytes),
            ("max_header_value_bytes", limits.max_header_value_bytes),
            ("max_total_header_bytes", limits.max_total_header_bytes),
        ] {
            if v == 0 {
                return Err(ConfigError::ZeroLimit(name));
            }
        }
        let mut strip: Vec<String> = BUILTIN_STRIP.iter().map(|s| s.to_string()).collect();
        for h in &hygiene.strip_headers {
            check_header_name("hygiene.strip_headers", h)?;
            let lower = h.to_ascii_lowercase();
            if READ_ONLY_REQUEST.contains(&lower.as_str()) {
                return Err(ConfigError::ReadOnlyHeader {
                    field: "hygiene.strip_headers",
                    name: lower,
                });
            }
            strip.push(lower);
        }
        let verify = match verify {
            None => None,
            Some(v) => {
                check_header_name("origin_verify.header", &v.header)?;
                crate::config::check_keys(
                    "origin_verify",
                    &[crate::config::KeyConfig {
                        id: v.key_id.clone(),
                        secret: v.secret.clone(),
                    }],
                )?;
                if !is_clean_value(&v.secret) || v.secret.trim() != v.secret {
                    return Err(ConfigError::InvalidHeaderValue {
                        field: "origin_verify.secret".into(),
                    });
                }
                if v.secret.contains(',') {
                    return Err(ConfigError::CommaInOriginVerifySecret);
                }
                let name = v.header.to_ascii_lowercase();
                strip.push(name.clone());
                Some(OriginVerify {
                    name,
                    key: v.header.clone(),
                    value: format!("{}:{}", v.key_id, v.secret),
                })
            }
        };
        if verify.is_none() {
            strip.push(ORIGIN_VERIFY_HEADER.into());
        }
        Ok(Hygiene {
            max_uri: limits.max_uri_bytes,
            max_value: limits.max_header_value_bytes,
            max_total: limits.max_total_header_bytes,
            strip,
            verify,
        })
    }

    /// Size and character checks, cheapest first.
    pub fn check(&self, r: &Request) -> Result<(), Refusal> {
        let uri_len = r.uri.len()
            + if r.querystring.is_empty() {
                0
            } else {
                1 + r.querystring.len()
            };
        if uri_len > self.max_uri {
            return Err(Refusal::UriTooLong);
        }
        let mut total = 0usize;
        for (name, entries) in &r.headers {
            for h in entries {
                if h.value.len() > self.max_value {
                    return Err(Refusal::HeadersTooLarge);
                }
                total += name.len() + h.value.len() + 4;
            }
        }
        if total > self.max_total {
            return Err(Refusal::HeadersTooLarge);
        }
        if !is_clean_value(&r.uri) || !is_clean_value(&r.querystring) || r.uri.contains(['\t', ' '])
        {
            return Err(Refusal::InvalidUri);
        }
        for (name, entries) in &r.headers {
            if !is_token(name) || entries.iter().any(|h| !is_clean_value(&h.value)) {
                return Err(Refusal::InvalidHeader);
            }
        }
        Ok(())
    }

    /// Drop every client-sent header an internal part trusts.
    pub fn strip(&self, h: &mut Headers) {
        for name in &self.strip {
            h.remove(name.as_str());
        }
    }

    /// Add the origin-verify header (when configured).
    pub fn add_origin_verify(&self, h: &mut Headers) {
        if let Some(v) = &self.verify {
            headers::set(h, &v.name, &v.key, v.value.as_str());
        }
    }
}
