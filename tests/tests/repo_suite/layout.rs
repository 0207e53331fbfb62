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
