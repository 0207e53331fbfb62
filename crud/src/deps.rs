//! [`Deps`]: everything a request needs, built once per instance (the store, the settings, the
//! cursor keys, the rate limiter, the id generator).

use crate::config::Settings;
use crate::cursor::{CursorConfigError, CursorKeys};
use crate::ids::IdGenerator;
use crate::limits::RateLimit;
use crate::store::Store;

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
        Ok(Deps {
            store,
            settings,
            cursors,
            rate_limit,
            ids: IdGenerator::default(),
        })
    }
}
