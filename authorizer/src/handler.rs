//! The Lambda-facing part: event shapes in, authorizer responses out.
//!
//! The event kind is read from its shape: REST `TOKEN` (`authorizationToken`), REST `REQUEST`
//! (`headers`/`multiValueHeaders`), HTTP API payload 2.0 (`version: "2.0"`). Refusals follow what
//! API Gateway understands: REST → the error `Unauthorized` (401); HTTP API → `isAuthorized: false`
//! or a Deny policy (403). A valid principal denied by route rules gets an explicit Deny (403).

use std::borrow::Cow;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::claims::Principal;
use crate::config::HttpApiResponse;
use crate::memo::{self, Entry, Memo};
use crate::policy::{Access, ApiPrefix, PolicyDocument};
use crate::reason::Reason;
use crate::revocation::{Revocations, TokenKeys};
use crate::token;
use crate::verify::Verifier;

/// The header CloudFront adds to every origin request with the origin-verify secret (checked
/// against `ORIGIN_VERIFY_SECRET` when that is set); any case of the name is read.
pub const ORIGIN_VERIFY_HEADER: &str = "x-origin-verify";

/// The `decision` of a decision log line: a principal allowed (some routes at least), a valid
/// principal denied every route (`reason` = `route_denied`), a refused request (`reason` = a
/// [`Reason`] code). The template's alarms filter on these values.
pub const DECISION_ALLOW: &str = "allow";
pub const DECISION_DENY: &str = "deny";
pub const DECISION_UNAUTHORIZED: &str = "unauthorized";
/// Every `decision` value the authorizer logs.
pub const DECISIONS: [&str; 3] = [DECISION_ALLOW, DECISION_DENY, DECISION_UNAUTHORIZED];

/// The error API Gateway turns into a 401 (REST APIs). Its message is exactly `Unauthorized`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unauthorized;

impl std::fmt::Display for Unauthorized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unauthorized")
    }
}

impl std::error::Error for Unauthorized {}

#[cfg(feature = "net")]
impl From<Unauthorized> for lambda_runtime::Diagnostic {
    fn from(_: Unauthorized) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "Unauthorized".into(),
            error_message: "Unauthorized".into(),
        }
    }
}

/// The only two headers the authorizer reads, gathered from `headers` or `multiValueHeaders`
/// without building a map of all the others: every value under any case of the name is kept, so
/// duplicates can be refused rather than "first wins".
#[derive(Default)]
struct Selected<'a> {
    authorization: Vec<Cow<'a, str>>,
    origin_verify: Vec<Cow<'a, str>>,
    /// Some name had several values in `multiValueHeaders`.
    repeated_authorization: bool,
    repeated_origin_verify: bool,
}

/// A string borrowed from the event when it has no escapes (serde's plain `Cow` always copies).
struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl std::ops::Deref for CowStr<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// `headers` (`{name: value|null}`) or `multiValueHeaders` (`{name: [values]|null}`).
struct HeaderSelection<'a, const MULTI: bool>(Selected<'a>);

impl<'de: 'a, 'a, const MULTI: bool> Deserialize<'de> for HeaderSelection<'a, MULTI> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const M: bool>;
        impl<'de, const M: bool> serde::de::Visitor<'de> for V<M> {
            type Value = HeaderSelection<'de, M>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a header map or null")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(HeaderSelection(Selected::default()))
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(HeaderSelection(Selected::default()))
            }
            fn visit_some<D: serde::Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Self::Value, D::Error> {
                d.deserialize_map(self)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut sel = Selected::default();
                while let Some(CowStr(key)) = map.next_key::<CowStr<'de>>()? {
                    let (target, repeated) = if key.eq_ignore_ascii_case("authorization") {
                        (&mut sel.authorization, &mut sel.repeated_authorization)
                    } else if key.eq_ignore_ascii_case(ORIGIN_VERIFY_HEADER) {
                        (&mut sel.origin_verify, &mut sel.repeated_origin_verify)
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        continue;
                    };
                    if M {
                        let vals: Option<Vec<CowStr<'de>>> = map.next_value()?;
                        let vals = vals.unwrap_or_default();
                        *repeated |= vals.len() > 1;
                        target.extend(vals.into_iter().map(|c| c.0));
                    } else if let Some(v) = map.next_value::<Option<CowStr<'de>>>()? {
                        target.push(v.0);
                    }
                }
                Ok(HeaderSelection(sel))
            }
        }
        d.deserialize_option(V::<MULTI>)
    }
}

/// The subset of the three authorizer event shapes that is read. Strings borrow from the event
/// where they carry no escapes.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(default, borrow)]
    version: Option<CowStr<'a>>,
    #[serde(default, rename = "type", borrow)]
    kind: Option<CowStr<'a>>,
    #[serde(default, rename = "authorizationToken", borrow)]
    authorization_token: Option<CowStr<'a>>,
    #[serde(default, rename = "methodArn", borrow)]
    method_arn: Option<CowStr<'a>>,
    #[serde(default, rename = "routeArn", borrow)]
    route_arn: Option<CowStr<'a>>,
    #[serde(default, borrow)]
    headers: Option<HeaderSelection<'a, false>>,
    #[serde(default, rename = "multiValueHeaders", borrow)]
    multi_value_headers: Option<HeaderSelection<'a, true>>,
    #[serde(default, rename = "requestContext")]
    request_context: Option<RequestContext<'a>>,
}

#[derive(Deserialize)]
struct RequestContext<'a> {
    #[serde(default, rename = "requestId", borrow)]
    request_id: Option<CowStr<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    RestToken,
    RestRequest,
    HttpV2,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::RestToken => "rest_token",
            Kind::RestRequest => "rest_request",
            Kind::HttpV2 => "http_v2",
        }
    }
}

/// Context passed to the integration: flat strings only, empty when a claim is absent. `sub` is
/// the owner id (the plain `sub` for the primary issuer, see `owner`); `iss` the token's issuer;
/// `jti`, `origin_jti` and `iat` (whole seconds) say what a revocation of this token names, so
/// crud never parses a token.
#[derive(Serialize)]
struct Context<'a> {
    sub: &'a str,
    iss: &'a str,
    username: &'a str,
    client_id: &'a str,
    token_use: &'a str,
    scope: &'a str,
    groups: String,
    jti: &'a str,
    origin_jti: &'a str,
    iat: String,
}

impl<'a> Context<'a> {
    fn of(p: &'a Principal, iss: &'a str) -> Context<'a> {
        Context {
            sub: p.sub(),
            iss,
            username: p.username(),
            client_id: p.client_id(),
            token_use: p.token_use(),
            scope: p.scope(),
            groups: p.groups.join(","),
            jti: p.jti(),
            origin_jti: p.origin_jti(),
            iat: p
                .iat
                .map(|i| format!("{}", i.floor() as i64))
                .unwrap_or_default(),
        }
    }
}

#[derive(Serialize)]
struct IamResponse<'a> {
    #[serde(rename = "principalId")]
    principal_id: &'a str,
    #[serde(rename = "policyDocument")]
    policy_document: PolicyDocument,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<Context<'a>>,
}

#[derive(Serialize)]
struct SimpleResponse<'a> {
    #[serde(rename = "isAuthorized")]
    is_authorized: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<Context<'a>>,
}

/// The authorizer: verifier, memo, revocation set and response settings, built once at init.
pub struct Authorizer {
    verifier: Verifier,
    memo: Memo,
    revocations: Option<std::sync::Arc<Revocations>>,
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

fn epoch_seconds(now: SystemTime) -> f64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Authorizer {
    pub fn new(verifier: Verifier) -> Authorizer {
        let cap = verifier.config().memo_capacity;
        Authorizer {
            verifier,
            memo: Memo::new(cap),
            revocations: None,
        }
    }

    /// Check every decision against this synced revocation set.
    pub fn with_revocations(mut self, r: std::sync::Arc<Revocations>) -> Authorizer {
        self.revocations = Some(r);
        self
    }

    pub fn revocations(&self) -> Option<&std::sync::Arc<Revocations>> {
        self.revocations.as_ref()
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    pub fn memo_len(&self) -> usize {
        self.memo.len()
    }

    /// Handle one raw event. `Ok` is the response JSON; `Err` is the REST refusal.
    pub async fn handle(&self, event: &str, now: SystemTime) -> Result<String, Unauthorized> {
        let started = Instant::now();
        let Ok(ev) = serde_json::from_str::<Event>(event) else {
            log_refusal(None, Reason::UnsupportedEvent, None, started);
            return Err(Unauthorized);
        };
        let kind = if ev.version.as_deref() == Some("2.0") {
            Kind::HttpV2
        } else if ev.kind.as_deref() == Some("TOKEN") {
            Kind::RestToken
        } else if ev.kind.as_deref() == Some("REQUEST") {
            Kind::RestRequest
        } else {
            log_refusal(None, Reason::UnsupportedEvent, None, started);
            return Err(Unauthorized);
        };
        let request_id = ev
            .request_context
            .as_ref()
            .and_then(|c| c.request_id.as_deref());
        let arn = match kind {
            Kind::HttpV2 => ev.route_arn.as_deref(),
            _ => ev.method_arn.as_deref(),
        };
        let prefix = arn.and_then(ApiPrefix::parse);

        match self.decide(&ev, kind, epoch_seconds(now)).await {
            Ok((entry, memo_hit)) => {
                let p = &entry.principal;
                let Some(prefix) = prefix else {
                    log_refusal(Some(kind), Reason::UnsupportedEvent, request_id, started);
                    return self.refuse(kind, None);
                };
                let denied_all = entry.access.denies_all();
                let iss = self
                    .verifier
                    .config()
                    .issuers
                    .get(entry.issuer)
                    .map_or("", String::as_str);
                tracing::info!(
                    decision = if denied_all { DECISION_DENY } else { DECISION_ALLOW },
                    reason = if denied_all { Reason::RouteDenied.code() } else { "ok" },
                    kind = kind.name(),
                    sub = %p.sub(),
                    iss = %iss,
                    client_id = %p.client_id(),
                    memo = memo_hit,
                    request_id = request_id.unwrap_or(""),
                    elapsed_us = started.elapsed().as_micros() as u64,
                );
                let out = if kind == Kind::HttpV2
                    && self.verifier.config().http_api_response == HttpApiResponse::Simple
                {
                    serde_json::to_string(&SimpleResponse {
                        is_authorized: !denied_all,
                        context: Some(Context::of(p, iss)),
                    })
                } else {
                    serde_json::to_string(&IamResponse {
                        principal_id: p.sub(),
                        policy_document: match self.verifier.config().api_stages.as_slice() {
                            [] => PolicyDocument::new(&prefix, &entry.access),
                            stages => PolicyDocument::for_prefixes(
                                &prefix.and_stages(stages),
                                &entry.access,
                            ),
                        },
                        context: Some(Context::of(p, iss)),
                    })
                };
                out.map_err(|_| Unauthorized)
            }
            Err(reason) => {
                log_refusal(Some(kind), reason, request_id, started);
                self.refuse(kind, prefix.as_ref())
            }
        }
    }

    fn refuse(&self, kind: Kind, prefix: Option<&ApiPrefix>) -> Result<String, Unauthorized> {
        match kind {
            Kind::RestToken | Kind::RestRequest => Err(Unauthorized),
            Kind::HttpV2 => match (self.verifier.config().http_api_response, prefix) {
                (HttpApiResponse::Iam, Some(prefix)) => serde_json::to_string(&IamResponse {
                    principal_id: "unauthorized",
                    policy_document: PolicyDocument::deny_all(prefix),
                    context: None,
                })
                .map_err(|_| Unauthorized),
                _ => Ok(r#"{"isAuthorized":false}"#.to_string()),
            },
        }
    }

    async fn decide(
        &self,
        ev: &Event<'_>,
        kind: Kind,
        now: f64,
    ) -> Result<(std::sync::Arc<Entry>, bool), Reason> {
        let cfg = self.verifier.config();
        let raw = match kind {
            Kind::RestToken => ev.authorization_token.as_deref().ok_or(Reason::NoToken)?,
            Kind::RestRequest | Kind::HttpV2 => single_header(ev, Wanted::Authorization)?,
        };
        if !cfg.origin_verify_secrets.is_empty() {
            let got = match kind {
                Kind::RestToken => None,
                _ => single_header(ev, Wanted::OriginVerify).ok(),
            };
            let ok = got.is_some_and(|g| {
                cfg.origin_verify_secrets
                    .iter()
                    .fold(false, |acc, s| ct_eq(g.as_bytes(), s.as_bytes()) | acc)
            });
            if !ok {
                return Err(Reason::OriginVerifyFailed);
            }
        }
        let token = token::extract(raw, cfg.max_token_bytes)?;
        let h = memo::hash(token);
        if let Some(e) = self.memo.get(&h, now, |e| {
            self.verifier
                .jwks(e.issuer)
                .and_then(|j| j.trusted(&e.key.kid))
                .is_some_and(|k| memo::same_key(&k, &e.key))
        }) {
            self.check_revocation(&e, now).await?;
            return Ok((e, true));
        }
        let v = self.verifier.verify(token, now).await?;
        let access = Access::compute(&cfg.route_rules, cfg.route_default, &v.principal);
        let valid_until = v.principal.exp as f64 + cfg.leeway_seconds as f64;
        let iss = cfg.issuers.get(v.issuer).map_or("", String::as_str);
        let entry = Entry {
            // hashed once per verified token, and only when revocations are checked
            revocation: self
                .revocations
                .as_ref()
                .map(|_| TokenKeys::of(&v.principal, iss)),
            principal: v.principal,
            access,
            issuer: v.issuer,
            key: v.key,
            valid_until,
        };
        let entry = self.memo.insert(h, entry, now);
        self.check_revocation(&entry, now).await?;
        Ok((entry, false))
    }
}

impl Authorizer {
    /// The revocation check (none without `REVOCATION_TABLE`): a memo hit is checked like a
    /// fresh verification, so a memoised token is refused once its session is revoked.
    async fn check_revocation(&self, e: &Entry, now: f64) -> Result<(), Reason> {
        match (&self.revocations, &e.revocation) {
            (Some(r), Some(keys)) => r.check(keys, now).await,
            // an entry memoised without keys cannot be checked: never trusted then
            (Some(_), None) => Err(Reason::RevocationUnavailable),
            (None, _) => Ok(()),
        }
    }
}

#[derive(Clone, Copy)]
enum Wanted {
    Authorization,
    OriginVerify,
}

/// The one value of a header (any case of its name). Several values — repeated keys differing in
/// case, or several entries in `multiValueHeaders` — are refused, never "first wins".
fn single_header<'e>(ev: &'e Event<'_>, which: Wanted) -> Result<&'e str, Reason> {
    let mut found: Option<&str> = None;
    for sel in [
        ev.headers.as_ref().map(|h| &h.0),
        ev.multi_value_headers.as_ref().map(|h| &h.0),
    ]
    .into_iter()
    .flatten()
    {
        let (vals, repeated) = match which {
            Wanted::Authorization => (&sel.authorization, sel.repeated_authorization),
            Wanted::OriginVerify => (&sel.origin_verify, sel.repeated_origin_verify),
        };
        if repeated {
            return Err(Reason::MultipleTokens);
        }
        for v in vals {
            if found.is_some_and(|f| f != v.as_ref()) {
                return Err(Reason::MultipleTokens);
            }
            found = Some(v.as_ref());
        }
    }
    found.ok_or(Reason::NoToken)
}

fn log_refusal(kind: Option<Kind>, reason: Reason, request_id: Option<&str>, started: Instant) {
    tracing::info!(
        decision = DECISION_UNAUTHORIZED,
        reason = reason.code(),
        kind = kind.map(Kind::name).unwrap_or("unknown"),
        request_id = request_id.unwrap_or(""),
        elapsed_us = started.elapsed().as_micros() as u64,
    );
}
