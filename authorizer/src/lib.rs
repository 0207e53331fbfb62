//! Lambda custom authorizer for Amazon Cognito (and other OIDC) JWTs.
//!
//! One module per noun: [`config`] (settings, validated once), [`json`] (strict JSON building
//! blocks), [`token`] (extraction and strict decoding), [`claims`] (strict claims and their
//! checks), [`jwk`] (keys, pre-parsed), [`jwks`] (the cache), [`verify`] (the whole verification),
//! [`policy`] (route rules and IAM policies), [`owner`] (one identity namespace per issuer), [`memo`] (recently verified tokens), [`reason`]
//! (refusal codes) and [`handler`] (the only module that knows API Gateway's event shapes).

pub mod alg;
pub mod claims;
pub mod config;
pub mod handler;
pub mod json;
pub mod jwk;
pub mod jwks;
pub mod memo;
pub mod owner;
pub mod policy;
pub mod reader;
pub mod reason;
pub mod revocation;
pub mod token;
pub mod verify;

pub use config::Config;
pub use handler::{Authorizer, Unauthorized};
pub use reason::Reason;

/// The authorizer's log format: one flat JSON object per line (an event's fields, `decision`
/// and `reason` among them, at the top level, where the template's metric filters match
/// `$.decision` and `$.reason`), no timestamp (Lambda stamps each line), INFO and above, written
/// to `writer` (`main.rs`: stdout).
#[cfg(feature = "net")]
pub fn log_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_target(false)
        .with_current_span(false)
        .with_span_list(false)
        .without_time()
        .with_max_level(tracing::Level::INFO)
        .with_writer(writer)
        .finish()
}

/// Build the authorizer from a validated configuration and hydrate its JWKS caches (the
/// init-phase fetches, one per issuer, concurrently). A failed hydrate is logged, not fatal:
/// that issuer's tokens are refused until a fetch succeeds.
#[cfg(feature = "net")]
pub async fn init(cfg: Config) -> Result<Authorizer, jwks::FetchError> {
    let extra_roots = match &cfg.jwks_ca_file {
        Some(path) => jwks::HttpFetcher::read_ca_file(path)?,
        None => Vec::new(),
    };
    for (i, iss) in cfg.issuers.iter().enumerate() {
        tracing::info!(
            event = "owner_namespace",
            issuer_index = i,
            issuer = %iss,
            tag = cfg.namespaces.tag(i).unwrap_or(""),
            "principals of this issuer are <tag><sub> (an empty tag: the plain sub)"
        );
    }
    let mut sets = Vec::with_capacity(cfg.jwks_uris.len());
    for uri in &cfg.jwks_uris {
        sets.push(jwks::Jwks::http(
            uri,
            cfg.algorithms.clone(),
            cfg.jwks,
            &extra_roots,
        )?);
    }
    // The keys (seeded, or the init-phase fetches) and the revocation set's first read overlap:
    // on AWS both are network round trips, and the first answer waits for both.
    let keys = async {
        match &cfg.jwks_seed {
            // JWKS_JSON: keys known before any fetch; no network call at init or on the first
            // request (the configuration parsed each document and found a usable key in it).
            Some(seeded) => {
                for (i, (set, keys)) in sets.iter().zip(&seeded.0).enumerate() {
                    let keys = set.seed(keys.clone());
                    tracing::info!(
                        event = "jwks_seeded",
                        issuer_index = i,
                        keys,
                        "JWKS from JWKS_JSON; no fetch at init"
                    );
                }
            }
            None => {
                let results = hydrate_all(&sets).await;
                for (i, r) in results.into_iter().enumerate() {
                    if let Err(e) = r {
                        tracing::error!(event = "jwks_hydrate_failed", issuer_index = i, error = %e, "JWKS not loaded at init; will retry on demand");
                    }
                }
            }
        }
    };
    let revocations = async {
        match &cfg.revocation {
            Some(r) => Some(start_revocations(r).await),
            None => None,
        }
    };
    let ((), revocations) = tokio::join!(keys, revocations);
    let auth = Authorizer::new(verify::Verifier::new(cfg, sets));
    Ok(match revocations {
        None => {
            tracing::warn!(
                event = "revocation_check_off",
                "REVOCATION_TABLE is not set: revoked tokens are not refused (they live until exp)"
            );
            auth
        }
        Some(r) => auth.with_revocations(r),
    })
}

/// The revocation set of `REVOCATION_TABLE`: read once now (a failure is logged; tokens are then
/// refused with `revocation_unavailable` until a read succeeds), then kept fresh by a background
/// task on the current runtime.
#[cfg(feature = "net")]
pub async fn start_revocations(
    r: &config::RevocationSettings,
) -> std::sync::Arc<revocation::Revocations> {
    let source = store_source(r).await;
    let revs = std::sync::Arc::new(revocation::Revocations::new(
        source,
        r.sync_every,
        r.max_stale,
    ));
    let entries = revs.sync().await;
    tracing::info!(
        event = "revocation_check_on",
        sync_seconds = r.sync_every.as_secs(),
        max_stale_seconds = r.max_stale.as_secs(),
        entries = entries.as_ref().ok().copied(),
        "revoked tokens are refused (reason revoked)"
    );
    tokio::spawn(revs.clone().run());
    revs
}

/// The table's reader: `aws-sdk-dynamodb` with the SDK's own endpoint, region and credentials.
#[cfg(feature = "net")]
async fn store_source(r: &config::RevocationSettings) -> Box<dyn revocation::Source> {
    use aws_config::BehaviorVersion;
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(std::time::Duration::from_millis(20)),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_millis(500))
                .operation_attempt_timeout(std::time::Duration::from_millis(800))
                .operation_timeout(revocation::SYNC_TIMEOUT)
                .build(),
        )
        .load()
        .await;
    Box::new(revocation::DynamoSource::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        r.table.clone(),
    ))
}

/// Hydrate every key set concurrently (the fetches overlap on the current-thread runtime).
#[cfg(feature = "net")]
async fn hydrate_all(sets: &[jwks::Jwks]) -> Vec<Result<usize, jwks::FetchError>> {
    use std::future::Future;
    use std::task::Poll;
    let mut pending: Vec<_> = sets.iter().map(|s| Some(Box::pin(s.hydrate()))).collect();
    let mut results: Vec<Option<Result<usize, jwks::FetchError>>> =
        sets.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (slot, out) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(f) = slot {
                if let Poll::Ready(r) = f.as_mut().poll(cx) {
                    *out = Some(r);
                    *slot = None;
                }
            }
        }
        if pending.iter().all(Option::is_none) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    results.into_iter().flatten().collect()
}
