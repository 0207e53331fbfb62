//! `gateway audit`: attack a running stack and print a scorecard.
//!
//! Targets: the local gateway (default; `.local/state.json` as written by `scripts/run.sh`, or
//! `GATEWAY_STATE` / `--state`), or a deployment: `--url <CloudFront URL> --api-url <regional API
//! URL>` with two users' access tokens in the environment (`AUDIT_TOKEN_A`, `AUDIT_TOKEN_B`;
//! optionally `AUDIT_ID_TOKEN_A`), or their credentials (`AUDIT_USER_A`, `AUDIT_PASSWORD_A`,
//! `AUDIT_USER_B`, `AUDIT_PASSWORD_B` with `--client-id` and `--region` or `--cognito-url`;
//! `USER_PASSWORD_AUTH` must be enabled on the client). Tokens are read from the environment,
//! never from the command line (the process list), and never printed.
//!
//! It sends traffic only to: the public URL, the regional API URL, the Cognito endpoint (sign-in
//! with credentials only) and the issuer's JWKS (one GET; `--jwks-url`, default
//! `<iss>/.well-known/jwks.json` of user A's token). Every request counts against `--max-requests`
//! (default 600), each waits at most 10 s, the whole run at most `--timeout-seconds` (180). What it
//! creates (user A's and B's items) it deletes, and says so in a `cleanup` line.
//!
//! Exit status: 0 when every check passed (skips allowed), 1 when any failed, 2 on a usage error.
//! The command line is [`cli`] (clap), shared by `gateway audit` and the `audit` binary.

mod checks;
pub mod cli;
mod client;
pub mod tokens;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub use client::SECURITY_HEADERS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One line of the scorecard.
#[derive(Debug, Clone)]
pub struct Check {
    pub category: &'static str,
    pub name: String,
    pub status: Status,
    /// What was observed (statuses, header names, counts; never a token or a secret).
    pub detail: String,
}

/// What to audit and how hard.
#[derive(Debug, Clone)]
pub struct Options {
    pub json: bool,
    pub state: Option<String>,
    pub url: Option<String>,
    pub api_url: Option<String>,
    pub jwks_url: Option<String>,
    pub cognito_url: Option<String>,
    pub client_id: Option<String>,
    pub region: String,
    pub user_a: String,
    pub user_b: String,
    pub allowed_origins: Vec<String>,
    pub max_requests: usize,
    pub timeout: Duration,
    pub rate_limit_requests: usize,
    pub skip: Vec<String>,
    /// `--allow-plain-http`: let the audit send tokens and passwords over plain HTTP to
    /// non-loopback hosts (refused otherwise).
    pub allow_plain_http: bool,
    /// `--probe-path`: the GET path (a genuine token → 2xx) every category but bola and mass
    /// probes, for an API other than crud's; `None`: crud's `/items`.
    pub probe_path: Option<String>,
    /// `--resource`: a collection shaped like crud's items for bola, mass and cleanup; `None`:
    /// `/items` without `--probe-path`, else those categories are skipped.
    pub resource: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            json: false,
            state: None,
            url: None,
            api_url: None,
            jwks_url: None,
            cognito_url: None,
            client_id: None,
            region: "us-east-1".into(),
            user_a: "alice".into(),
            user_b: "bob".into(),
            allowed_origins: Vec::new(),
            max_requests: 600,
            timeout: Duration::from_secs(180),
            rate_limit_requests: 300,
            skip: Vec::new(),
            allow_plain_http: false,
            probe_path: None,
            resource: None,
        }
    }
}

pub const CATEGORIES: [&str; 9] = [
    "control",
    "token",
    "bola",
    "mass",
    "cors",
    "headers",
    "bypass",
    "ratelimit",
    "revoke",
];

/// Why `url` may not carry credentials: not an `http(s)://host` URL, or plain `http` to a host
/// that is not loopback (127.0.0.0/8, `::1`, `localhost`). `None` when it may.
pub fn insecure_url(url: &str) -> Option<&'static str> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some("not an http(s) URL");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Some("userinfo in a URL is not accepted");
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Some("not an http(s) URL");
    }
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match scheme.to_ascii_lowercase().as_str() {
        "https" => None,
        "http" if loopback => None,
        "http" => Some("plain http to a host that is not loopback"),
        _ => Some("not an http(s) URL"),
    }
}

/// Why `path` cannot be probed (`--probe-path`, `--resource`): it must be an absolute path
/// (`/…`), without a query or fragment for a resource, and printable ASCII without spaces.
pub fn bad_path(path: &str, query_allowed: bool) -> Option<&'static str> {
    if !path.starts_with('/') || path.starts_with("//") {
        return Some("must be a path starting with a single /");
    }
    if !path.bytes().all(|b| b.is_ascii_graphic()) || path.contains('#') {
        return Some("must be printable ASCII without spaces or #");
    }
    if !query_allowed && path.contains('?') {
        return Some("must not carry a query (the audit adds /{id} and ?limit= to it)");
    }
    None
}

/// A user the audit acts as.
#[derive(Clone)]
pub struct User {
    pub label: &'static str,
    pub access: String,
    pub id_token: Option<String>,
    pub sub: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("label", &self.label)
            .field("sub", &self.sub)
            .finish_non_exhaustive()
    }
}

/// The resolved target.
pub struct Target {
    pub url: String,
    pub api_url: Option<String>,
    pub jwks_url: Option<String>,
    pub cognito: Option<(String, String)>,
    pub allowed_origins: Vec<String>,
    pub mode: &'static str,
}

/// The scorecard.
pub struct Report {
    pub target: String,
    pub api_url: Option<String>,
    pub checks: Vec<Check>,
    pub requests: usize,
    pub seconds: f64,
}

impl Report {
    pub fn failed(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count()
    }

    pub fn to_json(&self) -> Value {
        let count = |s: Status| self.checks.iter().filter(|c| c.status == s).count();
        json!({
            "target": {"url": self.target, "api_url": self.api_url},
            "summary": {
                "checks": self.checks.len(), "passed": count(Status::Pass),
                "failed": count(Status::Fail), "skipped": count(Status::Skip),
                "requests": self.requests, "seconds": (self.seconds * 100.0).round() / 100.0,
            },
            "checks": self.checks.iter().map(|c| json!({
                "category": c.category, "name": c.name, "status": c.status.as_str(), "detail": c.detail
            })).collect::<Vec<_>>(),
        })
    }

    pub fn to_table(&self) -> String {
        let wc = self
            .checks
            .iter()
            .map(|c| c.category.len())
            .max()
            .unwrap_or(8)
            .max(8);
        let wn = self
            .checks
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(5)
            .clamp(5, 64);
        let mut s = format!(
            "gateway audit of {}{}\n\n",
            self.target,
            self.api_url
                .as_ref()
                .map(|a| format!(" (regional API {a})"))
                .unwrap_or_default()
        );
        s.push_str(&format!(
            "{:<4}  {:<wc$}  {:<wn$}  detail\n",
            "", "category", "check"
        ));
        for c in &self.checks {
            s.push_str(&format!(
                "{:<4}  {:<wc$}  {:<wn$}  {}\n",
                c.status.as_str(),
                c.category,
                c.name,
                c.detail
            ));
        }
        let count = |st: Status| self.checks.iter().filter(|c| c.status == st).count();
        s.push_str(&format!(
            "\n{} checks: {} passed, {} failed, {} skipped; {} requests in {:.1} s\n",
            self.checks.len(),
            count(Status::Pass),
            count(Status::Fail),
            count(Status::Skip),
            self.requests,
            self.seconds
        ));
        if count(Status::Fail) > 0 {
            s.push_str("\nFAILED:\n");
            for c in self.checks.iter().filter(|c| c.status == Status::Fail) {
                s.push_str(&format!("  {} / {}: {}\n", c.category, c.name, c.detail));
            }
        }
        s
    }
}

/// (user name, password, access token, id token) of one user from the environment.
type Creds = (String, Option<String>, Option<String>, Option<String>);

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.trim().is_empty())
}

fn read_state(path: &str) -> Result<Value, String> {
    let b = std::fs::read(path)
        .map_err(|_| format!("{path} not found: start the stack with scripts/run.sh first, or audit a deployment with --url and --api-url"))?;
    serde_json::from_slice(&b).map_err(|_| format!("{path} is not JSON"))
}

/// Resolve the target, get the two users' tokens, run every check.
pub async fn run(opts: &Options) -> Result<Report, String> {
    let started = Instant::now();
    for (flag, path, query) in [
        ("--probe-path", &opts.probe_path, true),
        ("--resource", &opts.resource, false),
    ] {
        if let Some(problem) = path.as_deref().and_then(|p| bad_path(p, query)) {
            return Err(format!(
                "{flag} {:?}: {problem}",
                path.as_deref().unwrap_or_default()
            ));
        }
    }
    let mut target = match &opts.url {
        Some(url) => Target {
            url: url.trim_end_matches('/').to_string(),
            api_url: opts
                .api_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string()),
            jwks_url: opts.jwks_url.clone(),
            cognito: opts.client_id.as_ref().map(|c| {
                let url = opts.cognito_url.clone().unwrap_or_else(|| {
                    format!("https://cognito-idp.{}.amazonaws.com", opts.region)
                });
                (url, c.clone())
            }),
            allowed_origins: opts.allowed_origins.clone(),
            mode: "deployed",
        },
        None => {
            let path = opts
                .state
                .clone()
                .or_else(|| env("GATEWAY_STATE"))
                .unwrap_or_else(|| ".local/state.json".into());
            let st = read_state(&path)?;
            let s = |k: &str| st[k].as_str().map(str::to_string);
            let url = s("gateway").ok_or_else(|| format!("{path} lacks `gateway`"))?;
            let mut origins = opts.allowed_origins.clone();
            // The edge configuration run.sh writes next to the state file: its CORS allow-list
            // (for the positive control and the method/header preflights).
            let edge_cfg = std::path::Path::new(&path).with_file_name("edge-config.json");
            if origins.is_empty() {
                if let Some(list) = std::fs::read(&edge_cfg)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .and_then(|v| v["cors"]["allowed_origins"].as_array().cloned())
                {
                    origins.extend(list.iter().filter_map(|o| o.as_str().map(str::to_string)));
                }
            }
            Target {
                url: url.trim_end_matches('/').to_string(),
                api_url: opts.api_url.clone().or_else(|| s("api_url")),
                jwks_url: opts.jwks_url.clone().or_else(|| s("jwks_uri")),
                cognito: match (s("moto_endpoint"), s("client_id")) {
                    (Some(e), Some(c)) => Some((e, c)),
                    _ => None,
                },
                allowed_origins: origins,
                mode: "local",
            }
        }
    };
    // Tokens and passwords go to these hosts: never over plain HTTP off this machine unless asked.
    if !opts.allow_plain_http {
        let cognito = target.cognito.as_ref().map(|(c, _)| c.clone());
        for (what, url) in [
            ("target URL", Some(target.url.clone())),
            ("regional API URL", target.api_url.clone()),
            ("Cognito endpoint", cognito),
            ("JWKS URL", target.jwks_url.clone()),
        ] {
            if let Some(problem) = url.as_deref().and_then(insecure_url) {
                return Err(format!(
                    "{what} {url}: {problem}; the audit sends tokens and passwords there. Use https, or pass --allow-plain-http to send them in clear text anyway",
                    url = url.as_deref().unwrap_or_default()
                ));
            }
        }
    }
    let mut allowed: Vec<String> = target.api_url.iter().cloned().collect();
    if let Some((c, _)) = &target.cognito {
        allowed.push(c.clone());
    }
    // Tokens: deployed from the environment (or credentials), local from the state's passwords.
    let (a, b) = if target.mode == "local" {
        let path = opts
            .state
            .clone()
            .or_else(|| env("GATEWAY_STATE"))
            .unwrap_or_else(|| ".local/state.json".into());
        let st = read_state(&path)?;
        let pw = |u: &str| {
            st["users"][u]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{path}: no password for user {u:?}"))
        };
        (
            (
                "A",
                opts.user_a.clone(),
                Some(pw(&opts.user_a)?),
                None,
                None,
            ),
            (
                "B",
                opts.user_b.clone(),
                Some(pw(&opts.user_b)?),
                None,
                None,
            ),
        )
    } else {
        let creds = |l: &str| -> Result<Creds, String> {
            if let Some(t) = env(&format!("AUDIT_TOKEN_{l}")) {
                return Ok((
                    String::new(),
                    None,
                    Some(t),
                    env(&format!("AUDIT_ID_TOKEN_{l}")),
                ));
            }
            match (env(&format!("AUDIT_USER_{l}")), env(&format!("AUDIT_PASSWORD_{l}"))) {
                (Some(u), Some(p)) => Ok((u, Some(p), None, None)),
                _ => Err(format!(
                    "user {l}: set AUDIT_TOKEN_{l} (an access token), or AUDIT_USER_{l} and AUDIT_PASSWORD_{l} with --client-id"
                )),
            }
        };
        let (ua, pa, ta, ia) = creds("A")?;
        let (ub, pb, tb, ib) = creds("B")?;
        (("A", ua, pa, ta, ia), ("B", ub, pb, tb, ib))
    };
    // Sign-in (if needed) goes through the audit's own bounded client, so is counted too.
    let probe = client::Client::new(
        &target.url,
        &allowed,
        opts.max_requests,
        opts.timeout,
        Duration::from_secs(10),
    )?;
    // "revoke, then replay": a session of A's own (one more sign-in with A's credentials).
    let revoke_creds = match (&a.1, &a.2, &target.cognito) {
        (name, Some(p), Some(c))
            if opts.probe_path.is_none() && !opts.skip.iter().any(|s| s == "revoke") =>
        {
            Some((name.clone(), p.clone(), c.clone()))
        }
        _ => None,
    };
    let mut users = Vec::new();
    for (label, name, password, token, id_token) in [a, b] {
        let (access, idt) = match (token, password) {
            (Some(t), _) => (t, id_token),
            (None, Some(p)) => {
                let (endpoint, client_id) = target
                    .cognito
                    .clone()
                    .ok_or("credentials need --client-id (and --region or --cognito-url)")?;
                let (at, it) = checks::sign_in(&probe, &endpoint, &client_id, &name, &p)
                    .await
                    .map_err(|e| format!("user {label} ({name}): sign-in failed: {e}"))?;
                (at, Some(it))
            }
            (None, None) => return Err(format!("user {label}: no token or credentials")),
        };
        let parts =
            tokens::Parts::parse(&access).map_err(|e| format!("user {label}'s token: {e}"))?;
        users.push(User {
            label,
            sub: parts.claim_str("sub"),
            access,
            id_token: idt,
        });
    }
    let (b, a) = (users.pop().ok_or("user B")?, users.pop().ok_or("user A")?);
    if a.sub == b.sub {
        return Err("users A and B are the same principal: BOLA checks need two users".into());
    }
    if target.jwks_url.is_none() {
        let iss = tokens::Parts::parse(&a.access)
            .map(|p| p.claim_str("iss"))
            .unwrap_or_default();
        if iss.starts_with("https://") {
            target.jwks_url = Some(format!("{iss}/.well-known/jwks.json"));
        }
    }
    if let Some(j) = &target.jwks_url {
        allowed.push(j.clone());
    }
    let spent = probe.sent();
    let c = client::Client::new(
        &target.url,
        &allowed,
        opts.max_requests.saturating_sub(spent),
        opts.timeout.saturating_sub(started.elapsed()),
        Duration::from_secs(10),
    )?;
    let mut ctx = checks::Ctx::new(c, &target, a, b, opts);
    if let Some((name, password, (endpoint, client_id))) = revoke_creds {
        ctx.revoke_session = Some(
            checks::sign_in(&ctx.client, &endpoint, &client_id, &name, &password)
                .await
                .map(|(access, _)| access)
                .map_err(|e| {
                    format!("user A ({name}): sign-in for a session of its own failed: {e}")
                }),
        );
    }
    ctx.run_all().await;
    let requests = spent + ctx.client.sent().min(opts.max_requests);
    Ok(Report {
        target: target.url.clone(),
        api_url: target.api_url.clone(),
        checks: ctx.checks,
        requests,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::{bad_path, insecure_url};

    #[test]
    fn probe_paths_are_absolute_printable_paths() {
        for ok in ["/items", "/orders/1", "/v1/health?full=1"] {
            assert_eq!(bad_path(ok, true), None, "{ok}");
        }
        assert_eq!(bad_path("/items", false), None);
        for bad in [
            "items",
            "",
            "//evil.example/x",
            "/a b",
            "/a#b",
            "/\u{e9}",
            "http://x/",
        ] {
            assert!(bad_path(bad, true).is_some(), "{bad}");
        }
        assert!(bad_path("/items?limit=1", false).is_some());
    }

    #[test]
    fn credentials_go_over_https_or_to_loopback_only() {
        for ok in [
            "https://d111.cloudfront.net",
            "https://api.example.com/prod",
            "http://127.0.0.1:8080",
            "http://127.1.2.3/x",
            "http://localhost:5000/pool",
            "http://[::1]:9000/",
            "HTTPS://EXAMPLE.COM",
        ] {
            assert_eq!(insecure_url(ok), None, "{ok}");
        }
        for bad in [
            "http://example.com",
            "http://192.0.2.1:80/",
            "http://10.0.0.1",
            "http://127.0.0.1.example.com/",
            "http://localhost.example.com",
            "http://[::2]/",
            "http://127.0.0.1@example.com/",
            "ftp://127.0.0.1/",
            "example.com",
            "http:///x",
        ] {
            assert!(insecure_url(bad).is_some(), "{bad}");
        }
    }
}
