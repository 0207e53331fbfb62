//! # crud — every user's items private in DynamoDB
//!
//! The API behind the authorizer: `POST /items`, `GET /items?limit=&cursor=`,
//! `GET|PUT|PATCH|DELETE /items/{id}`, `GET|PUT /profile`. See `docs/crud-api.md` for the wire
//! format, settings and error codes, and `crud/openapi.json` for the description.
//!
//! ## Layout, bottom-up
//!
//! Every `use crate::…` points down this list; no two modules import each other.
//!
//! 1. Pure pieces: [`encoding`] (percent-decoding, query strings), [`timefmt`], [`ids`],
//!    [`document`] (strict JSON bodies, merge patch), [`precondition`] (`If-Match` /
//!    `If-None-Match`), [`routes`], [`config`], [`cursor`], [`ratelimit`], [`metrics`] (the
//!    per-variant EMF line `main.rs` writes per invocation).
//! 2. [`store`]: DynamoDB (key layout and types; `codec`, `classify`, `deadline`, `ops`).
//! 3. [`error`] (every failure, its status and code), [`identity`], [`limits`] (the per-caller
//!    limit: [`ratelimit`]'s decisions on [`store`]'s shared counter, failing open).
//! 4. The shared HTTP types: [`request`] ([`ApiRequest`] and the headers routes read),
//!    [`response`] ([`ApiResponse`]), and [`deps`] ([`Deps`], built once per instance).
//! 5. The routes' handlers: [`items`], then [`profile`] (which renders through [`items`]).
//! 6. Dispatch: [`api`] (identity, rate limit, routing, the deadline), and the Lambda adapter
//!    [`handler`] (Lambda events ⇄ [`ApiRequest`] / [`ApiResponse`]) on top.
//!
//! In-process use (the local gateway): build [`Deps`] once, then call [`handle`] with an
//! [`ApiRequest`] per request (or [`handle_event`] with a Lambda event).

pub mod api;
pub mod aws_hooks;
pub mod config;
pub mod cursor;
pub mod deps;
pub mod document;
pub mod encoding;
pub mod error;
pub mod handler;
pub mod identity;
pub mod ids;
pub mod items;
pub mod limits;
pub mod metrics;
pub mod precondition;
pub mod profile;
pub mod ratelimit;
pub mod request;
pub mod response;
pub mod routes;
pub mod sessions;
pub mod store;
pub mod timefmt;

pub use api::{handle, handle_until};
pub use config::Settings;
pub use deps::{Deps, InitError};
pub use handler::{handle_event, CrudEvent, CrudResponse};
pub use request::ApiRequest;
pub use response::ApiResponse;

/// crud's log format: one JSON object per line with the event's fields under `fields` (the
/// template's metric filters match `$.fields.status` and `$.fields.code` of the `request` line),
/// no timestamp (Lambda stamps each line), written to `writer` (`main.rs`: stdout). `level`
/// applies to this project's crates only; every other crate is held at `warn` and above whatever
/// the level: at DEBUG and TRACE the runtime logs each raw event (its headers, the caller's
/// token, cookies, the body) and the AWS SDK each DynamoDB request and response with the items
/// in them.
pub fn log_subscriber<W>(
    level: tracing_subscriber::filter::LevelFilter,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    let own = ["crud", "secret_source", "lambda_init_error"];
    let filter = Targets::new()
        .with_default(level.min(LevelFilter::WARN))
        .with_targets(own.map(|t| (t, level)));
    tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_writer(writer)
        .finish()
        .with(filter)
}
