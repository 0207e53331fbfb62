//! Where the workspace, its binaries and its tools live.

use std::path::PathBuf;

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the workspace")
        .to_path_buf()
}

/// Path of a workspace binary built by the same `cargo` invocation profile as the running test
/// (`target/<profile>/<name>`). The README's test command builds every binary first
/// (`cargo build --workspace --bins`); a missing binary fails the test with that hint.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // Tests live in target/<profile>/deps/, bench binaries in target/<profile>/.
    let mut profile_dir = exe.parent().expect("exe dir");
    if profile_dir.ends_with("deps") {
        profile_dir = profile_dir.parent().expect("profile dir");
    }
    let p = profile_dir.join(name);
    assert!(
        p.exists(),
        "binary {} not found: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        p.display()
    );
    p
}

/// The project's venv python (created by `scripts/setup.sh`).
pub fn venv_python() -> PathBuf {
    let p = workspace_root().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} missing: run scripts/setup.sh (scripts/test.sh does)",
        p.display()
    );
    p
}
