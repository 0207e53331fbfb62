//! A user pool, app client and signed-in user on moto's Cognito IdP (real RS256 tokens with the
//! AWS issuer form), via `scripts/local_cognito.py`.

use std::process::Command;

use serde::Deserialize;

use crate::moto::Moto;
use crate::paths::{venv_python, workspace_root};

#[derive(Debug, Clone, Deserialize)]
pub struct LocalPool {
    pub user_pool_id: String,
    pub client_id: String,
    pub issuer: String,
    pub jwks_uri: String,
    pub username: String,
    pub access_token: String,
    pub id_token: String,
    /// The sign-in's refresh token (empty when the pool gave none).
    #[serde(default)]
    pub refresh_token: String,
}

/// Create (or reuse) the pool and sign `username` in; `groups` are added to the user.
pub fn sign_in(moto: &Moto, pool_name: &str, username: &str, groups: &[&str]) -> LocalPool {
    let mut cmd = Command::new(venv_python());
    cmd.arg(workspace_root().join("scripts/local_cognito.py"))
        .args([
            "--endpoint",
            &moto.endpoint(),
            "--pool-name",
            pool_name,
            "--username",
            username,
        ]);
    for g in groups {
        cmd.args(["--group", g]);
    }
    let out = cmd.output().expect("run local_cognito.py");
    assert!(
        out.status.success(),
        "local_cognito.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("local_cognito.py JSON")
}
