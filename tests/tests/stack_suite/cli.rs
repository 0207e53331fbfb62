//! The `gateway` command line (issue 21): generated help for every command listing its settings
//! and their environment variables, `--version`, shell completions, and usage errors as one line
//! with exit status 2. Also the audit's own binary (`audit`), which takes the same arguments.

use std::process::{Command, Output};

use harness::paths::bin;

/// `gateway ARGS…` with an empty environment (help shows the values of set variables).
fn gateway(args: &[&str]) -> Output {
    Command::new(bin("gateway"))
        .args(args)
        .env_clear()
        .output()
        .expect("run gateway")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn help(args: &[&str]) -> String {
    let o = gateway(args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn gateway_help_lists_every_command() {
    for args in [&["--help"][..], &["help"], &["-h"]] {
        let h = help(args);
        assert!(h.contains("Usage: gateway [COMMAND]"), "{h}");
        for cmd in ["serve", "token", "rollout", "audit", "completions", "help"] {
            assert!(
                h.lines().any(|l| l.trim_start().starts_with(cmd)),
                "{cmd} missing: {h}"
            );
        }
    }
}

#[test]
fn every_command_has_generated_help_with_its_settings_and_environment_variables() {
    let serve = help(&["serve", "--help"]);
    for want in [
        "Usage: gateway serve [OPTIONS]",
        "--port <PORT>",
        "[env: GATEWAY_PORT=]",
        "[default: 3000]",
        "[env: GATEWAY_API_PORT=]",
        "[env: GATEWAY_AUTH_CACHE_TTL_SECONDS=]",
        "[env: GATEWAY_THROTTLE_RATE=]",
        "[env: GATEWAY_THROTTLE_BURST=]",
        "[env: API_ROUTES=]",
        "[env: EDGE_CONFIG_FILE=]",
        "[env: GATEWAY_HEALTH_FILE=]",
        "CLIENT_IDS",
        "TABLE_NAME",
    ] {
        assert!(
            serve.contains(want),
            "serve --help lacks {want:?}:\n{serve}"
        );
    }

    let audit = help(&["audit", "--help"]);
    for want in [
        "Usage: gateway audit [OPTIONS]",
        "--url <URL>",
        "--api-url <URL>",
        "--client-id <ID>",
        "--skip <CATEGORY>",
        "[possible values: control, token, bola, mass, cors, headers, bypass, ratelimit, revoke]",
        "--max-requests <N>",
        "[default: 600]",
        "--allow-plain-http",
        "AUDIT_TOKEN_A",
        "AUDIT_PASSWORD_B",
        "Exit status: 0",
    ] {
        assert!(
            audit.contains(want),
            "audit --help lacks {want:?}:\n{audit}"
        );
    }
    // The refused token flags are not advertised.
    assert!(!audit.contains("--token-a"), "{audit}");

    let ramp = help(&["rollout", "ramp", "--help"]);
    for want in [
        "Usage: gateway rollout ramp [OPTIONS]",
        "--steps <W,W,…>",
        "[default: 1,5,25,50,100]",
        "--bake-seconds <S>",
        "--max-error-rate <R>",
        "[default: 0.01]",
        "--min-requests <N>",
        "--s3-uri <s3://BUCKET/KEY>",
        "[env: ROLLOUT_S3_URI=]",
        "[env: ROLLOUT_METRICS_NAMESPACE=]",
        "[env: GATEWAY_STATE=]",
    ] {
        assert!(
            ramp.contains(want),
            "rollout ramp --help lacks {want:?}:\n{ramp}"
        );
    }

    let rollout = help(&["rollout", "--help"]);
    for want in ["status", "set", "ramp", "AWS_PROFILE", "Exit status: 0"] {
        assert!(
            rollout.contains(want),
            "rollout --help lacks {want:?}:\n{rollout}"
        );
    }
    let set = help(&["rollout", "set", "--help"]);
    assert!(
        set.contains("--weight <N>") && set.contains("--kill"),
        "{set}"
    );
    let token = help(&["token", "--help"]);
    for want in [
        "--user <NAME>",
        "[default: alice]",
        "--id",
        "[env: GATEWAY_STATE=]",
    ] {
        assert!(
            token.contains(want),
            "token --help lacks {want:?}:\n{token}"
        );
    }
}

#[test]
fn version_and_completions() {
    let v = help(&["--version"]);
    assert_eq!(v.trim(), format!("gateway {}", env!("CARGO_PKG_VERSION")));
    let v = help(&["rollout", "--version"]);
    assert!(v.starts_with("gateway-rollout "), "{v}");
    let bash = help(&["completions", "bash"]);
    assert!(
        bash.contains("_gateway()") && bash.contains("rollout"),
        "{bash}"
    );
    let zsh = help(&["completions", "zsh"]);
    assert!(zsh.contains("#compdef gateway"), "{zsh}");
}

#[test]
fn a_bad_flag_or_command_exits_2_with_a_one_line_reason() {
    for (args, want) in [
        (
            &["rollout", "ramp", "--bogus"][..],
            "gateway: unexpected argument '--bogus' found; try 'gateway rollout ramp --help'",
        ),
        (
            &["frobnicate"],
            "gateway: unrecognized subcommand 'frobnicate'; try 'gateway --help'",
        ),
        (
            &["rollout", "set", "--weight", "abc"],
            "gateway: invalid value 'abc' for '--weight <N>': invalid digit found in string; try 'gateway rollout set --help'",
        ),
        (
            &["rollout", "set"],
            "gateway: the following required arguments were not provided: --weight <N>; try 'gateway rollout set --help'",
        ),
        (
            &["audit", "--skip", "everything"],
            "gateway: invalid value 'everything' for '--skip <CATEGORY>'; try 'gateway audit --help'",
        ),
        (
            &["audit", "--max-requests", "0"],
            "gateway: invalid value '0' for '--max-requests <N>': 0 is not in 1..18446744073709551615; try 'gateway audit --help'",
        ),
    ] {
        let o = gateway(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}: {}", stdout(&o));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
        assert_eq!(err.trim(), want, "{args:?}");
    }
    // Tokens never go on the command line (the process list): refused, not parsed.
    let o = gateway(&["audit", "--token-a", "eyJhbGciOi"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        "gateway audit: --token-a: tokens are read from the environment (AUDIT_TOKEN_A, AUDIT_TOKEN_B), never from the command line"
    );
}

/// The audit's own binary (the `audit` crate, built without crud or the emulator) takes the same
/// arguments.
#[test]
fn the_audit_runs_on_its_own() {
    let o = Command::new(bin("audit"))
        .arg("--help")
        .env_clear()
        .output()
        .expect("run audit");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let h = stdout(&o);
    assert!(
        h.contains("Usage: audit [OPTIONS]") && h.contains("--api-url <URL>"),
        "{h}"
    );
    let o = Command::new(bin("audit"))
        .arg("--bogus")
        .env_clear()
        .output()
        .expect("run audit");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        "audit: unexpected argument '--bogus' found; try 'audit --help'"
    );
    // No target: the local state file is missing, a usage error (2) naming what to do.
    let dir = std::env::temp_dir().join(format!("audit-alone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let o = Command::new(bin("audit"))
        .current_dir(&dir)
        .env_clear()
        .output()
        .expect("run audit");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not found: start the stack with scripts/run.sh first"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
