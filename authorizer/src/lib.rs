//! Lambda custom authorizer for Amazon Cognito (and other OIDC) JWTs.
//!
//! One module per noun: [`config`] (settings, validated once), [`token`] (extraction and strict
//! decoding), [`jwk`] (keys, pre-parsed), [`jwks`] (the cache), [`verify`] (signature and claims),
//! [`policy`] (route rules and IAM policies), [`memo`] (recently verified tokens), [`reason`]
//! (refusal codes) and [`handler`] (the only module that knows API Gateway's event shapes).

pub mod config;
pub mod handler;
pub mod jwk;
pub mod jwks;
pub mod memo;
pub mod policy;
pub mod reason;
pub mod token;
pub mod verify;

pub use config::Config;
pub use handler::{Authorizer, Unauthorized};
pub use reason::Reason;

/// Build the authorizer from a validated configuration and hydrate its JWKS cache (the init-phase
/// fetch). A failed hydrate is logged, not fatal: requests are refused until a fetch succeeds.
pub async fn init(cfg: Config) -> Result<Authorizer, jwks::FetchError> {
    let jwks = jwks::Jwks::new(&cfg.jwks_uri, cfg.algorithms.clone(), cfg.jwks)?;
    if let Err(e) = jwks.hydrate().await {
        tracing::error!(event = "jwks_hydrate_failed", error = %e, "JWKS not loaded at init; will retry on demand");
    }
    Ok(Authorizer::new(verify::Verifier::new(cfg, jwks)))
}
