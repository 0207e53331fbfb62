//! The audit's command line (clap): `gateway audit` and the standalone `audit` binary take the
//! same arguments ([`AuditArgs`] → [`crate::Options`]) and exit with the same status.

use std::time::Duration;

use clap::Args;

/// Attack a running stack and print a scorecard.
///
/// The target is the local stack (`.local/state.json` as `scripts/run.sh` writes it, or
/// `GATEWAY_STATE` / `--state`), or a deployment: `--url` and `--api-url`, with two users' access
/// tokens or credentials in the environment (never on the command line):
///   AUDIT_TOKEN_A, AUDIT_TOKEN_B          access tokens of two users (AUDIT_ID_TOKEN_A: an id token)
///   AUDIT_USER_A, AUDIT_PASSWORD_A,       or their credentials, signed in with USER_PASSWORD_AUTH
///   AUDIT_USER_B, AUDIT_PASSWORD_B        (with --client-id and --region, or --cognito-url)
///
/// Every URL (target, regional API, Cognito endpoint, JWKS) must be https, or http to a loopback
/// host (127.0.0.0/8, ::1, localhost); --allow-plain-http lifts that and sends tokens and
/// passwords in clear text to the hosts given. What the audit creates it deletes.
///
/// Exit status: 0 every check passed (skips allowed), 1 a check failed, 2 a usage error or a
/// target that could not be audited.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct AuditArgs {
    /// Print the scorecard as JSON
    #[arg(long)]
    pub json: bool,
    /// The local stack's state file [default: $GATEWAY_STATE, else .local/state.json]
    #[arg(long, value_name = "FILE")]
    pub state: Option<String>,
    /// A deployment's public (CloudFront) URL
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The deployment's regional API URL (origin-bypass checks)
    #[arg(long, value_name = "URL")]
    pub api_url: Option<String>,
    /// The issuer's JWKS [default: <iss>/.well-known/jwks.json of user A's token]
    #[arg(long, value_name = "URL")]
    pub jwks_url: Option<String>,
    /// The Cognito endpoint to sign in at [default: https://cognito-idp.<region>.amazonaws.com]
    #[arg(long, value_name = "URL")]
    pub cognito_url: Option<String>,
    /// The app client to sign in with (USER_PASSWORD_AUTH enabled)
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// The user pool's region
    #[arg(long, value_name = "REGION", default_value = "us-east-1")]
    pub region: String,
    /// User A's name (local stack)
    #[arg(long, value_name = "NAME", default_value = "alice")]
    pub user_a: String,
    /// User B's name (local stack)
    #[arg(long, value_name = "NAME", default_value = "bob")]
    pub user_b: String,
    /// An origin the CORS allow-list holds (repeatable) [default: the local edge config's]
    #[arg(long, value_name = "ORIGIN")]
    pub allowed_origin: Vec<String>,
    /// At most this many requests in all
    #[arg(long, value_name = "N", default_value = "600", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: u64,
    /// At most this long in all
    #[arg(long, value_name = "S", default_value = "180", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_seconds: u64,
    /// Requests the rate-limit check may send
    #[arg(long, value_name = "N", default_value = "300", value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_limit_requests: u64,
    /// Skip a category of checks (repeatable)
    #[arg(long, value_name = "CATEGORY", value_parser = clap::builder::PossibleValuesParser::new(crate::CATEGORIES))]
    pub skip: Vec<String>,
    /// Audit an API other than crud's: the path (GET; a genuine token gets a 2xx) the token,
    /// cors, bypass, headers and ratelimit checks probe instead of /items. The crud-only
    /// categories are then skipped, each with a line saying why: bola and mass (unless
    /// --resource is given) and revoke (crud's DELETE /sessions/current)
    #[arg(long, value_name = "PATH")]
    pub probe_path: Option<String>,
    /// A collection shaped like crud's items (POST PATH creates, GET/PUT/DELETE PATH/{id},
    /// per-user) for the bola and mass checks [default: /items without --probe-path]
    #[arg(long, value_name = "PATH")]
    pub resource: Option<String>,
    /// Let tokens and passwords travel over plain http to hosts that are not loopback
    #[arg(long)]
    pub allow_plain_http: bool,
    /// Refused: tokens are read from the environment, never from the command line
    #[arg(long, hide = true, value_name = "TOKEN")]
    pub token_a: Option<String>,
    /// Refused: tokens are read from the environment, never from the command line
    #[arg(long, hide = true, value_name = "TOKEN")]
    pub token_b: Option<String>,
}

impl AuditArgs {
    pub fn into_options(self) -> Result<crate::Options, String> {
        if self.token_a.is_some() || self.token_b.is_some() {
            let flag = if self.token_a.is_some() {
                "--token-a"
            } else {
                "--token-b"
            };
            return Err(format!(
                "{flag}: tokens are read from the environment (AUDIT_TOKEN_A, AUDIT_TOKEN_B), never from the command line"
            ));
        }
        Ok(crate::Options {
            json: self.json,
            state: self.state,
            url: self.url,
            api_url: self.api_url,
            jwks_url: self.jwks_url,
            cognito_url: self.cognito_url,
            client_id: self.client_id,
            region: self.region,
            user_a: self.user_a,
            user_b: self.user_b,
            allowed_origins: self.allowed_origin,
            max_requests: self.max_requests as usize,
            timeout: Duration::from_secs(self.timeout_seconds),
            rate_limit_requests: self.rate_limit_requests as usize,
            skip: self.skip,
            allow_plain_http: self.allow_plain_http,
            probe_path: self.probe_path,
            resource: self.resource,
        })
    }
}

/// Run the audit and print the scorecard; the exit status. `prog` starts every error line.
pub async fn run(args: AuditArgs, prog: &str) -> i32 {
    let opts = match args.into_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{prog}: {e}");
            return 2;
        }
    };
    match crate::run(&opts).await {
        Ok(report) => {
            if opts.json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_table());
            }
            if report.failed() > 0 {
                1
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("{prog}: {e}");
            2
        }
    }
}

/// A clap error as one line naming the help to read: `<reason>; try '<command> --help'`, where
/// `<command>` is the usage line's command, else `command` (the subcommand path the arguments
/// named; clap's value errors print no usage).
pub fn one_line(e: &clap::Error, command: &str) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines();
    let mut reason = lines
        .next()
        .unwrap_or("")
        .trim_start_matches("error: ")
        .trim()
        .to_string();
    // "the following required arguments were not provided:" names them on the next lines.
    if reason.ends_with(':') {
        for l in lines.take_while(|l| !l.trim().is_empty()) {
            reason.push(' ');
            reason.push_str(l.trim());
        }
    }
    let usage = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(|u| {
            u.split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| command.to_string());
    format!("{reason}; try '{usage} --help'")
}

/// The subcommand path the arguments name (`gateway rollout set` for `rollout set --weight x`).
pub fn command_path(cmd: &clap::Command, args: &[String]) -> String {
    let mut path = vec![cmd.get_name().to_string()];
    let mut at = cmd;
    for a in args {
        match at.find_subcommand(a) {
            Some(sub) => {
                path.push(sub.get_name().to_string());
                at = sub;
            }
            None => break,
        }
    }
    path.join(" ")
}
