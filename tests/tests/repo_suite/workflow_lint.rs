//! The deploy pipeline (.github/workflows/deploy.yml): linted offline by actionlint
//! (scripts/lint-workflows.sh), and it does what deploy/README.md says: the README's test command,
//! `sam build --beta-features`, `sam deploy` with OIDC credentials (no stored keys), then
//! `gateway audit` against the new stack.

use std::process::Command;

use harness::paths::workspace_root;

#[test]
fn deploy_workflow_passes_actionlint() {
    let out = Command::new(workspace_root().join("scripts/lint-workflows.sh"))
        .output()
        .expect("run scripts/lint-workflows.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "actionlint:\n{text}");
    assert!(text.contains("0 finding(s)"), "{text}");
}

#[test]
fn deploy_workflow_tests_builds_deploys_with_oidc_and_audits() {
    let w = std::fs::read_to_string(workspace_root().join(".github/workflows/deploy.yml"))
        .expect("deploy.yml");
    let pos = |s: &str| {
        w.find(s)
            .unwrap_or_else(|| panic!("deploy.yml lacks {s:?}"))
    };
    // Order: tests, build, deploy, audit.
    let steps = [
        "run: bash .ci/run",
        "sam build --beta-features",
        "sam deploy --no-confirm-changeset",
        "gateway audit --url",
    ];
    for pair in steps.windows(2) {
        assert!(
            pos(pair[0]) < pos(pair[1]),
            "{} before {}",
            pair[0],
            pair[1]
        );
    }
    assert!(w.contains("needs: test"), "deploy only after the tests");
    // The edge build reads the canary weight from the stack's rollout object: the
    // RolloutObjectUri output, read before `sam build` and handed to it as EDGE_ROLLOUT_SOURCE
    // (deploy/edge/Makefile).
    let output = pos("OutputKey=='RolloutObjectUri'");
    let source = pos("EDGE_ROLLOUT_SOURCE: ${{ steps.rollout.outputs.uri }}");
    assert!(output < source && source < pos("sam build --beta-features"));
    assert!(w.contains("id: rollout"));
    // Short-lived federated credentials: the OIDC token permission and the role, never keys.
    assert!(w.contains("id-token: write"));
    assert!(w.contains("aws-actions/configure-aws-credentials@v4"));
    assert!(w.contains("role-to-assume:"));
    for forbidden in [
        "aws-access-key-id",
        "aws-secret-access-key",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        assert!(
            !w.contains(forbidden),
            "stored AWS keys ({forbidden}) in the workflow"
        );
    }
    // The audit gets its users from secrets, through the environment, never the command line.
    assert!(w.contains("AUDIT_PASSWORD_A: ${{ secrets.AUDIT_PASSWORD_A }}"));
    assert!(!w.contains("--token-a"));
    // The role is documented.
    let readme =
        std::fs::read_to_string(workspace_root().join("deploy/README.md")).expect("README");
    assert!(
        readme.contains("token.actions.githubusercontent.com"),
        "deploy/README.md documents the OIDC role"
    );
}
