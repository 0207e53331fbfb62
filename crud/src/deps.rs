//! [`Deps`]: everything a request needs, built once per instance (the store, the settings, the
//! cursor keys, the rate limiter, the id generator).

use crate::config::Settings;
use crate::cursor::{CursorConfigError, CursorKeys};
use crate::ids::IdGenerator;
use crate::limits::RateLimit;
use crate::sessions::AfterRevocation;
use crate::store::{RevocationTable, Store};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Cursor(#[from] CursorConfigError),
}

/// Everything a request needs, built once per instance.
pub struct Deps {
    pub store: Store,
    pub settings: Settings,
    pub cursors: CursorKeys,
    pub rate_limit: RateLimit,
    pub ids: IdGenerator,
    /// `REVOCATION_TABLE`'s writer (`None`: the sessions routes answer 501).
    pub revocations: Option<RevocationTable>,
    /// What a revocation sets off (`main.rs`: API Gateway's flush and Cognito's global sign-out;
    /// the local gateway: its emulated flush); `None`: nothing.
    pub after_revocation: Option<Arc<dyn AfterRevocation>>,
}

impl Deps {
    pub fn new(store: Store, settings: Settings) -> Result<Deps, InitError> {
        let cursors = match settings.cursor_secret.as_deref() {
            Some(secret) => CursorKeys::from_secret(secret)?,
            None => {
                tracing::warn!(
                    "CURSOR_SECRET is not set: using a random per-instance cursor key; \
                     cursors will only work on the instance that issued them"
                );
                CursorKeys::random()?
            }
        };
        let rate_limit = RateLimit::new(&settings, &store);
        let revocations = settings
            .revocation_table
            .clone()
            .map(|t| store.revocation_table(t));
        Ok(Deps {
            revocations,
            after_revocation: None,
            store,
            settings,
            cursors,
            rate_limit,
            ids: IdGenerator::default(),
        })
    }

    /// Run `hooks` after every revocation.
    pub fn with_after_revocation(mut self, hooks: Arc<dyn AfterRevocation>) -> Deps {
        self.after_revocation = Some(hooks);
        self
    }
}
