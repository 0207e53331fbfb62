//! The layout shows the architecture (issue 21): the audit is a crate of its own that builds
//! without crud or the local emulator; the edge's modules import one another without a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use harness::paths::workspace_root;

/// The packages in `cargo tree -p <pkg> -e normal` (the normal dependency tree, every target).
fn dependency_tree(pkg: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args([
            "tree",
            "--offline",
            "--locked",
            "-p",
            pkg,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {pkg}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn the_audit_builds_without_crud_the_emulator_or_the_functions() {
    let tree = dependency_tree("audit");
    assert!(tree.contains("audit"), "{tree:?}");
    for absent in [
        "crud",
        "emulator",
        "authorizer",
        "edge",
        "gateway",
        "rollout",
        "aws-sdk-dynamodb",
    ] {
        assert!(
            !tree.contains(absent),
            "the audit's dependency tree holds {absent}: {tree:?}"
        );
    }
}

#[test]
fn the_rollout_driver_does_not_link_the_emulator() {
    let tree = dependency_tree("rollout");
    for absent in ["emulator", "gateway", "audit", "authorizer"] {
        assert!(
            !tree.contains(absent),
            "the rollout driver's dependency tree holds {absent}: {tree:?}"
        );
    }
    // Its AWS calls go through the SDK.
    for present in ["aws-config", "aws-sdk-s3", "aws-sdk-cloudwatch"] {
        assert!(tree.contains(present), "{present} missing: {tree:?}");
    }
}

/// `crate::<module>` references of each module file of `edge/src` (comments left out).
fn edge_module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let dir = workspace_root().join("edge/src");
    let mut modules = BTreeSet::new();
    for e in std::fs::read_dir(&dir).expect("edge/src") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        if let Some(m) = name.strip_suffix(".rs") {
            if !matches!(m, "lib" | "main") {
                modules.insert(m.to_string());
            }
        }
    }
    let mut graph = BTreeMap::new();
    for m in &modules {
        let text = std::fs::read_to_string(dir.join(format!("{m}.rs"))).expect("module");
        // The module's own code, not its unit tests (which may use the crate root freely).
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let mut uses = BTreeSet::new();
        for line in code.lines() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            for (i, _) in line.match_indices("crate::") {
                let rest = &line[i + "crate::".len()..];
                let target: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if modules.contains(&target) && target != *m {
                    uses.insert(target);
                }
            }
        }
        graph.insert(m.clone(), uses);
    }
    graph
}

#[test]
fn the_edge_modules_import_one_another_without_a_cycle() {
    let graph = edge_module_graph();
    assert!(graph.contains_key("canary") && graph.contains_key("names"));
    assert!(graph["names"].is_empty(), "names is a leaf: {graph:?}");
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == m) {
            panic!(
                "import cycle among the edge's modules: {} -> {m}",
                path[at..].join(" -> ")
            );
        }
        path.push(m.to_string());
        for next in &graph[m] {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}

/// Every AWS call goes through the AWS SDK for Rust (issue 21): no SigV4, credential or request
/// signing code of the project's own. The one place that signs a request itself is
/// `secret-source` (one init-time `GetSecretValue` / `GetParameter`), and it does so with the
/// SDK's own signer (`aws-sigv4`) and `aws-config`'s credentials, as DESIGN.md allows; every
/// other crate uses the SDK's clients (crud's revocation hooks: `aws-sdk-apigateway`,
/// `aws-sdk-cognitoidentityprovider`; the rollout driver: `aws-sdk-s3`, `aws-sdk-cloudwatch`).
#[test]
fn aws_requests_are_signed_only_by_the_sdk() {
    let root = workspace_root();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    let members: Vec<String> = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("members")
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert!(members.len() >= 10, "{members:?}");
    // What signing or credential code of one's own would have to name.
    let markers = [
        "aws4-hmac-sha256",
        "aws4_request",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_sigv4",
    ];
    let mut found = Vec::new();
    for m in members
        .iter()
        .filter(|m| *m != "tests" && *m != "secret-source")
    {
        // the SDK's signer reaches crud and the rollout driver through the SDK clients; no
        // crate but secret-source names it itself
        let own = std::fs::read_to_string(root.join(m).join("Cargo.toml")).expect("manifest");
        assert!(
            !own.lines().any(|l| l.trim_start().starts_with("aws-sigv4")),
            "{m} depends on aws-sigv4 itself"
        );
        let mut stack = vec![root.join(m).join("src")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).expect("src dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let text = std::fs::read_to_string(&p).expect("source").to_lowercase();
                    for k in markers {
                        if text.contains(k) {
                            found.push(format!("{}: {k}", p.display()));
                        }
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "signing code of our own: {found:?}");
    // crud's two revocation hooks go through the SDK's clients.
    let crud = dependency_tree("crud");
    for present in [
        "aws-config",
        "aws-sdk-dynamodb",
        "aws-sdk-apigateway",
        "aws-sdk-cognitoidentityprovider",
    ] {
        assert!(crud.contains(present), "{present} missing: {crud:?}");
    }
}
