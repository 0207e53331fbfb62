//! Security response headers. Applied at origin-response (every origin status, cached with the
//! object), at viewer-response (idempotent) and to every response the edge generates, because
//! CloudFront runs viewer-response neither for origin statuses >= 400 nor for responses generated
//! at viewer-request. The edge's values win over the origin's: one policy for the whole API.

use crate::config::{check_header_name, is_clean_value, ConfigError, SecurityHeadersConfig};
use crate::event::Headers;
use crate::headers;

/// Response headers CloudFront does not let a response function remove or change.
const READ_ONLY_RESPONSE: [&str; 5] = [
    "content-encoding",
    "content-length",
    "transfer-encoding",
    "warning",
    "via",
];

#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    set: Vec<(&'static str, &'static str, String)>,
    remove: Vec<String>,
}

impl SecurityHeaders {
    pub fn new(c: &SecurityHeadersConfig) -> Result<SecurityHeaders, ConfigError> {
        let mut set = Vec::new();
        for (name, key, value) in [
            (
                "strict-transport-security",
                "Strict-Transport-Security",
                &c.strict_transport_security,
            ),
            (
                "content-security-policy",
                "Content-Security-Policy",
                &c.content_security_policy,
            ),
            (
                "x-content-type-options",
                "X-Content-Type-Options",
                &c.x_content_type_options,
            ),
            ("x-frame-options", "X-Frame-Options", &c.x_frame_options),
            ("referrer-policy", "Referrer-Policy", &c.referrer_policy),
            (
                "permissions-policy",
                "Permissions-Policy",
                &c.permissions_policy,
            ),
        ] {
            if let Some(v) = value {
                if !is_clean_value(v) {
                    return Err(ConfigError::InvalidHeaderValue {
                        field: format!("security_headers.{}", name.replace('-', "_")),
                    });
                }
                set.push((name, key, v.clone()));
            }
        }
        let mut remove = Vec::new();
        for r in &c.remove {
            check_header_name("security_headers.remove", r)?;
            let lower = r.to_ascii_lowercase();
            if READ_ONLY_RESPONSE.contains(&lower.as_str()) {
                return Err(ConfigError::ReadOnlyHeader {
                    field: "security_headers.remove",
                    name: lower,
                });
            }
            remove.push(lower);
        }
        Ok(SecurityHeaders { set, remove })
    }

    pub fn apply(&self, h: &mut Headers) {
        for name in &self.remove {
            h.remove(name.as_str());
        }
        for (name, key, value) in &self.set {
            headers::set(h, name, key, value.as_str());
        }
    }
}
