//! `std::time`, under the name `web_time` (see Cargo.toml for why).
pub use std::time::*;
