//! The checks of `gateway audit`, in the order they run: positive controls, the hostile-token
//! catalogue, CORS probes, origin bypass, BOLA between two users, mass assignment, cleanup, rate
//! limits, then security headers over every response seen through the public URL.

use serde_json::json;

use super::client::{Client, Resp, SendError};
use super::tokens;
use super::{Check, Options, Status, Target, User};

/// crud's server-owned members (crud::document::SERVER_OWNED), each refused in a body.
const SERVER_OWNED: [(&str, &str); 7] = [
    ("id", "\"audit-chosen-id\""),
    ("version", "999"),
    ("created_at", "\"2000-01-01T00:00:00Z\""),
    ("updated_at", "\"2000-01-01T00:00:00Z\""),
    ("owner", "B"),
    ("userId", "B"),
    ("itemId", "\"audit-chosen-id\""),
];

/// (check name, method, headers, body) of an origin-bypass probe.
type Probe<'a> = (String, &'a str, Vec<(&'a str, &'a str)>, Option<&'a str>);
/// (check name, method, path, headers, body) of a BOLA probe.
type BolaProbe<'a> = (
    String,
    &'a str,
    String,
    Vec<(&'a str, &'a str)>,
    Option<String>,
);

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    let _ = aws_lc_rs::rand::fill(&mut b);
    hex::encode(b)
}

/// `USER_PASSWORD_AUTH` against a Cognito endpoint (AWS or the local stand-in), through the
/// audit's bounded client: (access token, id token).
pub async fn sign_in(
    c: &Client,
    endpoint: &str,
    client_id: &str,
    user: &str,
    password: &str,
) -> Result<(String, String), String> {
    let body = json!({
        "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id,
        "AuthParameters": {"USERNAME": user, "PASSWORD": password}
    })
    .to_string();
    let url = format!("{}/", endpoint.trim_end_matches('/'));
    let r = c
        .send(
            "sign-in",
            "POST",
            &url,
            &[
                ("content-type", "application/x-amz-json-1.1"),
                (
                    "x-amz-target",
                    "AWSCognitoIdentityProviderService.InitiateAuth",
                ),
            ],
            Some(&body),
        )
        .await
        .map_err(|e| e.to_string())?;
    let v = r.json();
    if r.status != 200 {
        return Err(format!(
            "{} {}",
            r.status,
            v["__type"].as_str().unwrap_or("refused")
        ));
    }
    match (
        v["AuthenticationResult"]["AccessToken"].as_str(),
        v["AuthenticationResult"]["IdToken"].as_str(),
    ) {
        (Some(a), Some(i)) => Ok((a.to_string(), i.to_string())),
        _ => Err("no AuthenticationResult".into()),
    }
}

/// The path probed when `--probe-path` and `--resource` are not given: crud's item collection.
pub const DEFAULT_PATH: &str = "/items";

pub struct Ctx {
    pub client: Client,
    pub checks: Vec<Check>,
    url: String,
    api_url: Option<String>,
    jwks_url: Option<String>,
    allowed_origins: Vec<String>,
    /// The GET path every category but bola/mass probes (`--probe-path`, default `/items`).
    probe: String,
    /// crud's item collection (or one shaped like it) for bola, mass and cleanup (`--resource`;
    /// `None`: those categories are skipped).
    resource: Option<String>,
    /// crud's `DELETE /sessions/current` exists (no `--probe-path`): "revoke, then replay" runs.
    crud_sessions: bool,
    a: User,
    b: User,
    skip: Vec<String>,
    rate_limit_requests: usize,
    /// Items the audit created: (owner is A?, id).
    created: Vec<(bool, String)>,
    /// A session of user A's own, signed in for "revoke, then replay" (`None`: no credentials,
    /// only a token given: that category is skipped, the audit never revokes a session it did
    /// not create).
    pub revoke_session: Option<Result<String, String>>,
}

fn has_cors_grant(r: &Resp, origin: &str) -> bool {
    let acao = r.headers_all("access-control-allow-origin");
    acao.iter()
        .any(|v| v == "*" || v.eq_ignore_ascii_case(origin) || v.contains(origin))
}

fn any_cors_header(r: &Resp) -> Option<String> {
    r.headers
        .keys()
        .map(|k| k.as_str())
        .find(|k| k.starts_with("access-control-allow-"))
        .map(str::to_string)
}

fn err(e: &SendError) -> String {
    format!("no answer: {e}")
}

impl Ctx {
    pub fn new(client: Client, t: &Target, a: User, b: User, o: &Options) -> Ctx {
        Ctx {
            client,
            checks: Vec::new(),
            url: t.url.clone(),
            api_url: t.api_url.clone(),
            jwks_url: t.jwks_url.clone(),
            allowed_origins: t.allowed_origins.clone(),
            probe: o
                .probe_path
                .clone()
                .unwrap_or_else(|| DEFAULT_PATH.to_string()),
            resource: match (&o.resource, &o.probe_path) {
                (Some(r), _) => Some(r.clone()),
                (None, None) => Some(DEFAULT_PATH.to_string()),
                (None, Some(_)) => None,
            },
            crud_sessions: o.probe_path.is_none(),
            a,
            b,
            skip: o.skip.clone(),
            rate_limit_requests: o.rate_limit_requests,
            created: Vec::new(),
            revoke_session: None,
        }
    }

    fn push(&mut self, category: &'static str, name: impl Into<String>, ok: bool, detail: String) {
        self.checks.push(Check {
            category,
            name: name.into(),
            status: if ok { Status::Pass } else { Status::Fail },
            detail,
        });
    }

    fn skip(&mut self, category: &'static str, name: impl Into<String>, detail: impl Into<String>) {
        self.checks.push(Check {
            category,
            name: name.into(),
            status: Status::Skip,
            detail: detail.into(),
        });
    }

    fn on(&self, category: &str) -> bool {
        !self.skip.iter().any(|s| s == category)
    }

    fn user(&self, is_a: bool) -> &User {
        if is_a {
            &self.a
        } else {
            &self.b
        }
    }

    /// A request through the public URL, as user A (`Some(true)`), B (`Some(false)`) or nobody.
    async fn call(
        &self,
        what: &str,
        method: &str,
        path: &str,
        user: Option<bool>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Resp, SendError> {
        let auth = user.map(|u| format!("Bearer {}", self.user(u).access));
        let mut h: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &auth {
            h.push(("authorization", a));
        }
        if body.is_some() && !headers.iter().any(|(k, _)| *k == "content-type") {
            h.push(("content-type", "application/json"));
        }
        h.extend_from_slice(headers);
        let url = format!("{}{path}", self.url);
        self.client.send(what, method, &url, &h, body).await
    }

    pub async fn run_all(&mut self) {
        self.control().await;
        if self.on("token") {
            self.tokens().await;
        }
        if self.on("cors") {
            self.cors().await;
        }
        if self.on("bypass") {
            self.bypass().await;
        }
        if self.on("bola") || self.on("mass") {
            self.bola_and_mass().await;
        }
        if self.on("revoke") {
            self.revoke_then_replay().await;
        }
        if self.on("headers") {
            // One 4xx of each origin: a crud 404 for an unknown route.
            let _ = self
                .call(
                    "GET unknown route as A",
                    "GET",
                    "/audit-no-such-route",
                    Some(true),
                    &[],
                    None,
                )
                .await;
        }
        self.cleanup().await;
        if self.on("ratelimit") {
            self.rate_limit().await;
        }
        if self.on("headers") {
            self.security_headers();
        }
    }

    // ---- positive controls ---------------------------------------------------------------

    async fn control(&mut self) {
        for is_a in [true, false] {
            let label = self.user(is_a).label;
            let r = self
                .call(
                    &format!("GET {} as {label}", self.probe),
                    "GET",
                    &self.probe,
                    Some(is_a),
                    &[],
                    None,
                )
                .await;
            let (ok, detail) = match &r {
                // crud's list must be a list; another API's probe path only has to answer 2xx.
                Ok(r) => (
                    if self.crud_sessions {
                        r.status == 200 && r.json()["items"].is_array()
                    } else {
                        (200..300).contains(&r.status)
                    },
                    format!(
                        "{} (a genuine token must work, or every refusal below proves nothing)",
                        r.status
                    ),
                ),
                Err(e) => (false, err(e)),
            };
            self.push(
                "control",
                format!("user {label}'s token is accepted"),
                ok,
                detail,
            );
        }
    }

    // ---- revoke, then replay ---------------------------------------------------------------

    /// Sign-out that signs out: a session of the audit's own (user A signed in once more) is
    /// revoked with `DELETE /sessions/current`, then its token is replayed: it must be refused
    /// (401) from the 204 on, on every route, while A's other session keeps working.
    async fn revoke_then_replay(&mut self) {
        const CAT: &str = "revoke";
        if !self.crud_sessions {
            self.skip(
                CAT,
                "revoke, then replay",
                "crud's DELETE /sessions/current is not part of this API (--probe-path given)",
            );
            return;
        }
        let token = match self.revoke_session.clone() {
            None => {
                self.skip(
                    CAT,
                    "revoke, then replay",
                    "needs user A's credentials: the audit only revokes a session it signed in itself",
                );
                return;
            }
            Some(Err(e)) => {
                self.push(CAT, "a session of the audit's own", false, e);
                return;
            }
            Some(Ok(t)) => t,
        };
        let auth = format!("Bearer {token}");
        let h = [("authorization", auth.as_str())];
        let items = format!("{}{}", self.url, self.probe);
        let current = format!("{}/sessions/current", self.url);
        let status = |r: &Result<Resp, SendError>| match r {
            Ok(r) => format!("{}", r.status),
            Err(e) => err(e),
        };
        let r = self
            .client
            .send(
                &format!("GET {} (the audit's session)", self.probe),
                "GET",
                &items,
                &h,
                None,
            )
            .await;
        let ok = matches!(&r, Ok(r) if r.status == 200);
        let d = status(&r);
        self.push(CAT, "the audit's own session works before sign-out", ok, d);
        if !ok {
            return;
        }
        let started = std::time::Instant::now();
        let r = self
            .client
            .send("DELETE /sessions/current", "DELETE", &current, &h, None)
            .await;
        let ok = matches!(&r, Ok(r) if r.status == 204);
        let d = format!(
            "{} after {} ms (204 expected: the session is revoked)",
            status(&r),
            started.elapsed().as_millis()
        );
        self.push(
            CAT,
            "sign-out (DELETE /sessions/current) answers 204",
            ok,
            d,
        );
        if !ok {
            return;
        }
        for (n, (what, method, url)) in [
            (format!("GET {}", self.probe), "GET", &items),
            (
                format!("GET {} again (cached answers too)", self.probe),
                "GET",
                &items,
            ),
            (
                "DELETE /sessions/current again".to_string(),
                "DELETE",
                &current,
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let r = self
                .client
                .send(&format!("replay: {what}"), method, url, &h, None)
                .await;
            let ok = matches!(&r, Ok(r) if r.status == 401);
            let d = format!("{} (401 expected)", status(&r));
            self.push(
                CAT,
                format!("the revoked token is refused: {what} (replay {})", n + 1),
                ok,
                d,
            );
        }
        let r = self
            .call(
                &format!("GET {} as A", self.probe),
                "GET",
                &self.probe,
                Some(true),
                &[],
                None,
            )
            .await;
        let ok = matches!(&r, Ok(r) if r.status == 200);
        let d = format!("{} (only the audit's own session was revoked)", status(&r));
        self.push(CAT, "user A's other session still works", ok, d);
    }

    // ---- hostile tokens ------------------------------------------------------------------

    async fn tokens(&mut self) {
        let kid = tokens::Parts::parse(&self.a.access)
            .map(|p| p.kid())
            .unwrap_or_default();
        let mut jwk = None;
        let mut jwks_note = String::from("no JWKS URL");
        if let Some(u) = self.jwks_url.clone() {
            match self.client.send("JWKS", "GET", &u, &[], None).await {
                Ok(r) if r.status == 200 => {
                    jwk = r.json()["keys"]
                        .as_array()
                        .and_then(|ks| ks.iter().find(|k| k["kid"] == kid.as_str()).cloned());
                    if jwk.is_none() {
                        jwks_note = "the JWKS lists no key with the token's kid".into();
                    }
                }
                Ok(r) => jwks_note = format!("JWKS answered {}", r.status),
                Err(e) => jwks_note = err(&e),
            }
        }
        let cases = match tokens::catalogue(
            &self.a.access,
            jwk.as_ref(),
            self.a.id_token.as_deref(),
            &self.b.sub,
        ) {
            Ok(c) => c,
            Err(e) => {
                self.push("token", "hostile-token catalogue", false, e.to_string());
                return;
            }
        };
        if jwk.is_none() {
            self.skip(
                "token",
                "RS256→HS256 with the issuer's public key",
                format!("needs the public key: {jwks_note}"),
            );
        }
        for h in cases {
            let r = self
                .call(
                    &format!("GET {} with a hostile token", self.probe),
                    "GET",
                    &self.probe,
                    None,
                    &[("authorization", &h.authorization)],
                    None,
                )
                .await;
            let (ok, detail) = match &r {
                Ok(r) => {
                    let refused = h.refused.contains(&r.status) && !r.json()["items"].is_array();
                    let want = h
                        .refused
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(" or ");
                    if refused {
                        (true, r.status.to_string())
                    } else {
                        (
                            false,
                            format!("{} (want {want}): token ACCEPTED or mishandled", r.status),
                        )
                    }
                }
                Err(e) => (false, err(e)),
            };
            self.push("token", h.name, ok, detail);
        }
        let r = self
            .call(
                &format!("GET {} without a token", self.probe),
                "GET",
                &self.probe,
                None,
                &[],
                None,
            )
            .await;
        let (ok, d) = match &r {
            Ok(r) => (r.status == 401, r.status.to_string()),
            Err(e) => (false, err(e)),
        };
        self.push("token", "no Authorization header", ok, d);
    }

    // ---- CORS ----------------------------------------------------------------------------

    fn hostile_origins(&self) -> Vec<String> {
        let mut v = vec!["https://evil.example".to_string(), "null".to_string()];
        if let Some(o) = super::client::origin_of(&self.url) {
            v.push(format!("{o}.evil.example"));
        }
        if let Some(a) = self.allowed_origins.first() {
            v.push(format!("{a}.evil.example"));
            if let Some((scheme, rest)) = a.split_once("://") {
                let other = if scheme == "https" { "http" } else { "https" };
                v.push(format!("{other}://{rest}"));
                v.push(format!("{scheme}://evil-{rest}"));
                v.push(format!("{scheme}://{rest}:1"));
            }
        }
        v.retain(|o| !self.allowed_origins.contains(o));
        v.dedup();
        v
    }

    async fn cors(&mut self) {
        let mut vary_missing = Vec::new();
        let mut vary_seen = 0;
        for o in self.hostile_origins() {
            // A simple (non-preflighted) request from the hostile origin, with a real token.
            match self
                .call(
                    &format!("GET {} from a hostile origin", self.probe),
                    "GET",
                    &self.probe,
                    Some(true),
                    &[("origin", &o)],
                    None,
                )
                .await
            {
                Ok(r) => {
                    vary_seen += 1;
                    let vary = r.headers_all("vary").join(",").to_ascii_lowercase();
                    if !vary.contains("origin") {
                        vary_missing.push(r.status);
                    }
                    let grant = has_cors_grant(&r, &o);
                    self.push(
                        "cors",
                        format!("GET from origin {o}: no grant"),
                        !grant,
                        if grant {
                            format!(
                                "{}: Access-Control-Allow-Origin grants it ({})",
                                r.status,
                                r.headers_all("access-control-allow-origin").join(",")
                            )
                        } else {
                            format!("{}, no Access-Control-Allow-Origin for it", r.status)
                        },
                    );
                }
                Err(e) => self.push(
                    "cors",
                    format!("GET from origin {o}: no grant"),
                    false,
                    err(&e),
                ),
            }
            self.preflight(
                &format!("preflight from origin {o}: refused"),
                &[&o],
                "GET",
                None,
            )
            .await;
        }
        if vary_seen > 0 {
            self.push(
                "cors",
                "Vary: Origin on cross-origin answers",
                vary_missing.is_empty(),
                if vary_missing.is_empty() {
                    format!("{vary_seen} answers, all with Vary: Origin")
                } else {
                    format!("missing on {} of {vary_seen} answers", vary_missing.len())
                },
            );
        }
        // Several Origin headers.
        let allowed = self.allowed_origins.first().cloned();
        let first = allowed
            .clone()
            .unwrap_or_else(|| "https://app.audit.example".into());
        self.preflight(
            "preflight with two Origin headers: refused",
            &[&first, "https://evil.example"],
            "GET",
            None,
        )
        .await;
        match self
            .call(
                "GET with two Origin headers",
                "GET",
                &self.probe,
                Some(true),
                &[("origin", &first), ("origin", "https://evil.example")],
                None,
            )
            .await
        {
            Ok(r) => {
                let g = has_cors_grant(&r, "https://evil.example") || has_cors_grant(&r, &first);
                self.push(
                    "cors",
                    "GET with two Origin headers: no grant",
                    !g,
                    format!("{}{}", r.status, if g { ": granted" } else { "" }),
                );
            }
            Err(e) => self.push(
                "cors",
                "GET with two Origin headers: no grant",
                false,
                err(&e),
            ),
        }
        let Some(allowed) = allowed else {
            self.skip(
                "cors",
                "preflights for methods and headers not allowed",
                "no allowed origin known (pass --allowed-origin)",
            );
            return;
        };
        // Positive control: the allowed origin is granted (so the refusals above mean something),
        // never with `*` and credentials together.
        match self
            .client
            .send(
                "preflight from the allowed origin",
                "OPTIONS",
                &format!("{}{}", self.url, self.probe),
                &[
                    ("origin", &allowed),
                    ("access-control-request-method", "POST"),
                    (
                        "access-control-request-headers",
                        "authorization,content-type",
                    ),
                ],
                None,
            )
            .await
        {
            Ok(r) => {
                let acao = r.header("access-control-allow-origin").unwrap_or("");
                let creds = r.header("access-control-allow-credentials") == Some("true");
                let ok =
                    (200..300).contains(&r.status) && acao == allowed && !(acao == "*" && creds);
                self.push(
                    "cors",
                    format!("preflight from allowed origin {allowed}: granted exactly"),
                    ok,
                    format!("{}, Access-Control-Allow-Origin {acao:?}", r.status),
                );
            }
            Err(e) => self.push("cors", "preflight from the allowed origin", false, err(&e)),
        }
        self.preflight(
            "preflight for a method not allowed (PROPFIND): refused",
            &[&allowed],
            "PROPFIND",
            None,
        )
        .await;
        self.preflight(
            "preflight for a header not allowed: refused",
            &[&allowed],
            "GET",
            Some("x-audit-not-allowed"),
        )
        .await;
    }

    async fn preflight(&mut self, name: &str, origins: &[&str], method: &str, hdr: Option<&str>) {
        let mut h: Vec<(&str, &str)> = origins.iter().map(|o| ("origin", *o)).collect();
        h.push(("access-control-request-method", method));
        if let Some(x) = hdr {
            h.push(("access-control-request-headers", x));
        }
        let url = format!("{}{}", self.url, self.probe);
        match self.client.send(name, "OPTIONS", &url, &h, None).await {
            Ok(r) => {
                let cors = any_cors_header(&r);
                let ok = r.status >= 400 && cors.is_none();
                self.push(
                    "cors",
                    name,
                    ok,
                    match cors {
                        Some(c) => format!("{} with {c}", r.status),
                        None => format!("{} without CORS headers", r.status),
                    },
                );
            }
            Err(e) => self.push("cors", name, false, err(&e)),
        }
    }

    // ---- origin bypass -------------------------------------------------------------------

    async fn bypass(&mut self) {
        let Some(api) = self.api_url.clone() else {
            self.skip(
                "bypass",
                "regional API called around CloudFront",
                "no regional API URL (pass --api-url; the local state's api_url)",
            );
            return;
        };
        let auth = format!("Bearer {}", self.a.access);
        let p = self.probe.clone();
        // (name, method, headers, body) and the path: GETs of the probe path, and a write to
        // crud's collection (`--resource`) when there is one.
        let mut probes: Vec<(Probe, String)> = vec![
            (
                (
                    format!("GET {p} with a valid token, no origin-verify header: refused"),
                    "GET",
                    vec![("authorization", auth.as_str())],
                    None,
                ),
                p.clone(),
            ),
            (
                (
                    format!("GET {p} with a forged origin-verify header: refused"),
                    "GET",
                    vec![
                        ("authorization", auth.as_str()),
                        (
                            "x-origin-verify",
                            "v1:forged-by-gateway-audit-0123456789abcdef",
                        ),
                    ],
                    None,
                ),
                p.clone(),
            ),
            (
                (
                    format!("GET {p} without any credentials: refused"),
                    "GET",
                    vec![],
                    None,
                ),
                p.clone(),
            ),
        ];
        if let Some(r) = self.resource.clone() {
            probes.push((
                (
                    format!("POST {r} with a valid token, no origin-verify header: refused"),
                    "POST",
                    vec![
                        ("authorization", auth.as_str()),
                        ("content-type", "application/json"),
                    ],
                    Some(r#"{"title":"gateway-audit bypass probe"}"#),
                ),
                r,
            ));
        }
        for ((name, method, headers, body), path) in probes {
            let r = self
                .client
                .send(&name, method, &format!("{api}{path}"), &headers, body)
                .await;
            match r {
                Ok(r) => {
                    let ok = r.status == 401 || r.status == 403;
                    if (200..300).contains(&r.status) {
                        if let Some(id) = r.json()["id"].as_str() {
                            self.created.push((true, id.to_string()));
                        }
                    }
                    self.push(
                        "bypass",
                        name,
                        ok,
                        if ok {
                            r.status.to_string()
                        } else {
                            format!("{}: the API answers without CloudFront", r.status)
                        },
                    );
                }
                Err(e) => self.push("bypass", name, false, err(&e)),
            }
        }
    }

    // ---- BOLA and mass assignment --------------------------------------------------------

    async fn create(
        &mut self,
        is_a: bool,
        body: &str,
        idem: Option<&str>,
    ) -> Result<Resp, SendError> {
        let mut h = vec![];
        if let Some(k) = idem {
            h.push(("idempotency-key", k));
        }
        let label = self.user(is_a).label;
        let resource = self.resource.clone().unwrap_or_default();
        let r = self
            .call(
                &format!("POST {resource} as {label}"),
                "POST",
                &resource,
                Some(is_a),
                &h,
                Some(body),
            )
            .await?;
        if (200..300).contains(&r.status) {
            if let Some(id) = r.json()["id"].as_str() {
                self.created.push((is_a, id.to_string()));
            }
        }
        Ok(r)
    }

    async fn bola_and_mass(&mut self) {
        let Some(resource) = self.resource.clone() else {
            for cat in ["bola", "mass"] {
                if self.on(cat) {
                    self.skip(
                        cat,
                        "per-user items: another user's, server-owned fields",
                        "no --resource: give a collection shaped like crud's (POST <path>, GET/PUT/DELETE <path>/{id})",
                    );
                }
            }
            return;
        };
        let canary = format!("gateway-audit-{}", random_hex(8));
        let idem = format!("gateway-audit-{}", random_hex(12));
        let body = json!({"title": "gateway-audit item", "canary": canary}).to_string();
        let mut ids = Vec::new();
        for k in [Some(idem.as_str()), None] {
            match self.create(true, &body, k).await {
                Ok(r) if r.status == 201 => {
                    ids.push(r.json()["id"].as_str().unwrap_or_default().to_string())
                }
                Ok(r) => {
                    let s = r.status;
                    self.push(
                        "bola",
                        "setup: user A creates two items",
                        false,
                        format!("{s}"),
                    );
                    return;
                }
                Err(e) => {
                    self.push("bola", "setup: user A creates two items", false, err(&e));
                    return;
                }
            }
        }
        let (id1, id2) = (ids[0].clone(), ids[1].clone());
        let leaks = |r: &Resp| {
            let t = r.body_text();
            t.contains(&canary) || t.contains(&id1) || t.contains(&id2)
        };
        if self.on("bola") {
            let cursor = match self
                .call(
                    &format!("GET {resource}?limit=1 as A"),
                    "GET",
                    &format!("{resource}?limit=1"),
                    Some(true),
                    &[],
                    None,
                )
                .await
            {
                Ok(r) => r.json()["next_cursor"].as_str().map(str::to_string),
                Err(_) => None,
            };
            let p1 = format!("{resource}/{id1}");
            let probes: Vec<BolaProbe> = vec![
                ("B reads A's item".into(), "GET", p1.clone(), vec![], None),
                (
                    "B replaces A's item (PUT)".into(),
                    "PUT",
                    p1.clone(),
                    vec![],
                    Some(r#"{"title":"pwned by B"}"#.into()),
                ),
                (
                    "B patches A's item".into(),
                    "PATCH",
                    p1.clone(),
                    vec![("content-type", "application/merge-patch+json")],
                    Some(r#"{"title":"pwned by B"}"#.into()),
                ),
                (
                    "B deletes A's item".into(),
                    "DELETE",
                    p1.clone(),
                    vec![],
                    None,
                ),
                (
                    "B reads A's item with a trailing slash".into(),
                    "GET",
                    format!("{p1}/"),
                    vec![],
                    None,
                ),
                (
                    "B reads A's item with a doubled slash".into(),
                    "GET",
                    format!("/{p1}"),
                    vec![],
                    None,
                ),
            ];
            for (name, method, path, h, b) in probes {
                match self
                    .call(&name, method, &path, Some(false), &h, b.as_deref())
                    .await
                {
                    Ok(r) => {
                        let ok = r.status == 404 && !leaks(&r);
                        self.push(
                            "bola",
                            format!("{name}: 404"),
                            ok,
                            format!(
                                "{}{}",
                                r.status,
                                if leaks(&r) {
                                    ", A's data in the answer"
                                } else {
                                    ""
                                }
                            ),
                        );
                    }
                    Err(e) => self.push("bola", format!("{name}: 404"), false, err(&e)),
                }
            }
            match self
                .call(
                    &format!("GET {resource} as B"),
                    "GET",
                    &resource,
                    Some(false),
                    &[],
                    None,
                )
                .await
            {
                Ok(r) => self.push(
                    "bola",
                    "B's list holds nothing of A's",
                    r.status == 200 && !leaks(&r),
                    format!(
                        "{}{}",
                        r.status,
                        if leaks(&r) { ", A's items listed" } else { "" }
                    ),
                ),
                Err(e) => self.push("bola", "B's list holds nothing of A's", false, err(&e)),
            }
            match cursor {
                Some(c) => {
                    let path = format!("{resource}?limit=1&cursor={}", pct(&c));
                    match self
                        .call(
                            &format!("GET {resource} with A's cursor as B"),
                            "GET",
                            &path,
                            Some(false),
                            &[],
                            None,
                        )
                        .await
                    {
                        Ok(r) => self.push(
                            "bola",
                            "B replays A's list cursor: nothing of A's",
                            !leaks(&r) && r.status != 500,
                            format!(
                                "{}{}",
                                r.status,
                                if leaks(&r) { ", A's items listed" } else { "" }
                            ),
                        ),
                        Err(e) => self.push("bola", "B replays A's list cursor", false, err(&e)),
                    }
                }
                None => self.skip(
                    "bola",
                    "B replays A's list cursor",
                    "A's list gave no cursor",
                ),
            }
            // Same key, same body (so B's own new item carries the canary too): what must not
            // come back is one of A's items.
            match self.create(false, &body, Some(&idem)).await {
                Ok(r) => {
                    let t = r.body_text();
                    let a_id = t.contains(&id1) || t.contains(&id2);
                    let ok = !a_id && r.status != 500;
                    self.push(
                        "bola",
                        "B replays A's Idempotency-Key: nothing of A's",
                        ok,
                        format!(
                            "{}{}",
                            r.status,
                            if a_id {
                                ", A's item returned"
                            } else {
                                ", B's own answer"
                            }
                        ),
                    );
                }
                Err(e) => self.push("bola", "B replays A's Idempotency-Key", false, err(&e)),
            }
            match self
                .call("GET A's item as A", "GET", &p1, Some(true), &[], None)
                .await
            {
                Ok(r) => {
                    let v = r.json();
                    let ok = r.status == 200 && v["version"] == 1 && v["canary"] == canary.as_str();
                    self.push(
                        "bola",
                        "A's item unchanged after B's attempts",
                        ok,
                        format!("{}, version {}", r.status, v["version"]),
                    );
                }
                Err(e) => self.push(
                    "bola",
                    "A's item unchanged after B's attempts",
                    false,
                    err(&e),
                ),
            }
        }
        if self.on("mass") {
            for (field, value) in SERVER_OWNED {
                let value = if value == "B" {
                    format!("\"{}\"", self.b.sub)
                } else {
                    value.to_string()
                };
                let body =
                    format!(r#"{{"title":"gateway-audit mass assignment","{field}":{value}}}"#);
                match self.create(true, &body, None).await {
                    Ok(r) => self.push(
                        "mass",
                        format!("POST with server-owned `{field}`: 400"),
                        r.status == 400,
                        r.status.to_string(),
                    ),
                    Err(e) => self.push(
                        "mass",
                        format!("POST with server-owned `{field}`"),
                        false,
                        err(&e),
                    ),
                }
            }
            let p2 = format!("{resource}/{id2}");
            let owner = format!(r#"{{"title":"x","userId":"{}"}}"#, self.b.sub);
            let patch_owner = format!(r#"{{"owner":"{}"}}"#, self.b.sub);
            let probes: [(&str, &str, &str, &str); 3] = [
                (
                    "PUT with server-owned `userId`: 400",
                    "PUT",
                    "application/json",
                    owner.as_str(),
                ),
                (
                    "PATCH with server-owned `version`: 400",
                    "PATCH",
                    "application/merge-patch+json",
                    r#"{"version":999}"#,
                ),
                (
                    "PATCH with server-owned `owner`: 400",
                    "PATCH",
                    "application/merge-patch+json",
                    patch_owner.as_str(),
                ),
            ];
            for (name, method, ct, b) in probes {
                match self
                    .call(
                        name,
                        method,
                        &p2,
                        Some(true),
                        &[("content-type", ct)],
                        Some(b),
                    )
                    .await
                {
                    Ok(r) => self.push("mass", name, r.status == 400, r.status.to_string()),
                    Err(e) => self.push("mass", name, false, err(&e)),
                }
            }
            match self
                .call("GET A's item as A", "GET", &p2, Some(true), &[], None)
                .await
            {
                Ok(r) => {
                    let v = r.json();
                    let ok = r.status == 200
                        && v["version"] == 1
                        && v.get("owner").is_none()
                        && v.get("userId").is_none();
                    self.push(
                        "mass",
                        "the item is unchanged and names no owner",
                        ok,
                        format!("{}, version {}", r.status, v["version"]),
                    );
                }
                Err(e) => self.push("mass", "the item is unchanged", false, err(&e)),
            }
        }
    }

    async fn cleanup(&mut self) {
        if self.created.is_empty() {
            return;
        }
        let created = std::mem::take(&mut self.created);
        let resource = self.resource.clone().unwrap_or_else(|| self.probe.clone());
        let mut left = Vec::new();
        for (is_a, id) in &created {
            let path = format!("{resource}/{id}");
            let _ = self
                .call("DELETE own item", "DELETE", &path, Some(*is_a), &[], None)
                .await;
            match self
                .call("GET deleted item", "GET", &path, Some(*is_a), &[], None)
                .await
            {
                Ok(r) if r.status == 404 => {}
                _ => left.push(id.clone()),
            }
        }
        self.push(
            "cleanup",
            "every item the audit created is deleted",
            left.is_empty(),
            if left.is_empty() {
                format!("{} created, {} deleted", created.len(), created.len())
            } else {
                format!(
                    "{} created, {} left: {}",
                    created.len(),
                    left.len(),
                    left.join(" ")
                )
            },
        );
    }

    // ---- rate limits ---------------------------------------------------------------------

    async fn rate_limit(&mut self) {
        let mut hit = None;
        let mut sent = 0;
        let mut error = None;
        for _ in 0..self.rate_limit_requests {
            sent += 1;
            match self
                .call(
                    &format!("GET {} as B (rate limit)", self.probe),
                    "GET",
                    &self.probe,
                    Some(false),
                    &[],
                    None,
                )
                .await
            {
                Ok(r) if r.status == 429 => {
                    hit = Some(r);
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    error = Some(err(&e));
                    break;
                }
            }
        }
        let name = format!(
            "429 within {} requests of one caller",
            self.rate_limit_requests
        );
        match hit {
            Some(r) => {
                self.push(
                    "ratelimit",
                    name,
                    true,
                    format!("429 after {sent} requests"),
                );
                let ra = r.header("retry-after").unwrap_or("");
                let ok = ra.trim().parse::<u64>().is_ok() || ra.ends_with(" GMT");
                self.push(
                    "ratelimit",
                    "429 carries Retry-After",
                    ok,
                    if ra.is_empty() {
                        "no Retry-After".into()
                    } else {
                        format!("Retry-After: {ra}")
                    },
                );
            }
            None => {
                self.push(
                    "ratelimit",
                    name,
                    false,
                    error.unwrap_or_else(|| format!("no 429 in {sent} requests")),
                );
                self.push(
                    "ratelimit",
                    "429 carries Retry-After",
                    false,
                    "no 429 seen".into(),
                );
            }
        }
    }

    // ---- security headers ----------------------------------------------------------------

    fn security_headers(&mut self) {
        let seen = self.client.seen();
        for (class, lo, hi) in [("2xx", 200, 300), ("4xx", 400, 500), ("5xx", 500, 600)] {
            let name = format!("security headers on every {class} answer");
            let of: Vec<_> = seen
                .iter()
                .filter(|s| (lo..hi).contains(&s.status))
                .collect();
            if of.is_empty() {
                self.skip(
                    "headers",
                    name,
                    format!("no {class} answer seen (the audit cannot provoke one from outside)"),
                );
                continue;
            }
            let bad: Vec<_> = of.iter().filter(|s| !s.missing.is_empty()).collect();
            let detail = match bad.first() {
                None => format!(
                    "{} answers, each with all {}",
                    of.len(),
                    super::SECURITY_HEADERS.len()
                ),
                Some(b) => {
                    let mut missing: Vec<&str> =
                        bad.iter().flat_map(|s| s.missing.iter().copied()).collect();
                    missing.sort();
                    missing.dedup();
                    format!(
                        "{} of {} answers lack {} (e.g. {} → {})",
                        bad.len(),
                        of.len(),
                        missing.join(", "),
                        b.what,
                        b.status
                    )
                }
            };
            self.push("headers", name, bad.is_empty(), detail);
        }
    }
}

/// Percent-encode a query value.
fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pct_encodes_cursor_characters() {
        assert_eq!(pct("a+b/c=="), "a%2Bb%2Fc%3D%3D");
    }
}
