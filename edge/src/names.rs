//! Names of the headers the edge's own modules share: the canary's signalling headers (set by
//! [`crate::canary`], stripped from viewers by [`crate::hygiene`]) and the origin-verify header's
//! default name (configured in [`crate::config`], checked in [`crate::hygiene`]). A leaf: it
//! imports nothing, so the modules that share a name never import one another for it.

/// The variant chosen at viewer-request, applied at origin-request (`stable` / `canary`).
pub const VARIANT_HEADER: &str = "x-canary-variant";
/// A tester's forced variant (honoured only with a valid tester override).
pub const FORCE_HEADER: &str = "x-canary-force";
/// The tester override's credential.
pub const TESTER_HEADER: &str = "x-canary-tester";
/// The origin-verify header's default name (`origin_verify.header`); stripped from viewers
/// whether or not origin-verify is configured.
pub const ORIGIN_VERIFY_HEADER: &str = "x-origin-verify";
