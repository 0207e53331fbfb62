//! `gateway`: the local API and its tools, behind one command line (clap).
//!
//! - `gateway [serve]`: the local API on 127.0.0.1 (the `emulator` crate: edge → authorizer →
//!   crud, in process), configured from the same environment settings as the Lambdas.
//! - `gateway token`: sign in against the local Cognito stand-in and print a token.
//! - `gateway rollout status | set | ramp`: drive the canary of the local stack or, with
//!   `--s3-uri`, of a deployed one (the `rollout` crate).
//! - `gateway audit`: attack a running stack and print a scorecard (the `audit` crate).
//! - `gateway completions SHELL`: a shell completion script.
//!
//! Every error is one line on stderr starting with `gateway: `; exit status 2 for a usage or
//! configuration error (or a target that could not be reached), 1 for a check that failed
//! (`audit` findings, `rollout ramp` rolled back), 0 otherwise.

mod cli_rollout;
mod serve;

use clap::{CommandFactory, Parser, Subcommand};
use serde_json::Value;

pub fn fail(msg: &str) -> ! {
    eprintln!("gateway: {msg}");
    std::process::exit(2);
}

/// The local API (CloudFront + API Gateway in front of the edge, authorizer and crud functions,
/// on 127.0.0.1) and its tools: tokens, canary rollout, security audit.
///
/// Without a command, `gateway` serves the local API (`gateway serve`).
#[derive(Debug, Parser)]
#[command(name = "gateway", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    Serve(serve::ServeArgs),
    Token(TokenArgs),
    Rollout(cli_rollout::RolloutArgs),
    Audit(audit::cli::AuditArgs),
    /// Print a completion script for a shell (e.g. `gateway completions bash > /etc/bash_completion.d/gateway`)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Sign in against the local Cognito stand-in (moto, from the state file scripts/run.sh writes)
/// and print an access token (or, with --id, an id token).
#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// The user to sign in as (the demo users: alice, bob, carol)
    #[arg(long, value_name = "NAME", default_value = "alice")]
    user: String,
    /// The user's password [default: the demo user's, from the state file]
    #[arg(long, value_name = "PW")]
    password: Option<String>,
    /// Print the id token instead of the access token
    #[arg(long)]
    id: bool,
    /// The local stack's state file
    #[arg(
        long,
        env = "GATEWAY_STATE",
        value_name = "FILE",
        default_value = ".local/state.json"
    )]
    state: String,
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    std::process::exit(0);
                }
                _ => {
                    let args: Vec<String> = std::env::args().skip(1).collect();
                    let path = audit::cli::command_path(&Cli::command(), &args);
                    fail(&audit::cli::one_line(&e, &path))
                }
            }
        }
    };
    let command =
        cli.command
            .unwrap_or_else(|| match Cli::parse_from(["gateway", "serve"]).command {
                Some(c) => c,
                None => fail("no command"),
            });
    let rt = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| fail(&format!("tokio runtime: {e}")))
    };
    match command {
        Command::Serve(args) => rt().block_on(serve::serve(args)),
        Command::Token(args) => rt().block_on(token(args)),
        Command::Rollout(args) => cli_rollout::run(args),
        Command::Audit(args) => {
            std::process::exit(rt().block_on(audit::cli::run(args, "gateway audit")))
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "gateway",
                &mut std::io::stdout(),
            );
        }
    }
}

async fn token(args: TokenArgs) {
    let state_path = args.state;
    let state: Value = std::fs::read(&state_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| {
            fail(&format!(
                "{state_path} not found: start the stack with scripts/run.sh first"
            ))
        });
    let user = args.user;
    let password = args
        .password
        .or_else(|| state["users"][&user].as_str().map(str::to_string))
        .unwrap_or_else(|| fail(&format!("no password for user {user:?}: pass --password")));
    let (Some(endpoint), Some(client)) =
        (state["moto_endpoint"].as_str(), state["client_id"].as_str())
    else {
        fail(&format!("{state_path} lacks moto_endpoint/client_id"));
    };
    match emulator::token::sign_in(endpoint, client, &user, &password).await {
        Ok((access, idt)) => println!("{}", if args.id { idt } else { access }),
        Err(e) => fail(&e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
