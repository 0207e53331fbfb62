//! # crud — every user's items private in DynamoDB
//!
//! The API behind the authorizer: `POST /items`, `GET /items?limit=&cursor=`,
//! `GET|PUT|PATCH|DELETE /items/{id}`, `GET|PUT /profile`. See `crud/README.md` for the wire
//! format, settings and error codes, and `crud/openapi.yaml` for the description.
//!
//! Layout: [`handler`] (Lambda events ⇄ [`api::ApiRequest`]/[`api::ApiResponse`]) → [`api`]
//! (identity, rate limit, routing) → [`items`] / [`profile`] (the routes) → [`store`]
//! (DynamoDB). Pure pieces: [`document`] (strict JSON bodies, merge patch), [`ids`], [`cursor`],
//! [`precondition`], [`routes`], [`identity`], [`config`], [`ratelimit`], [`timefmt`], [`error`].
//!
//! In-process use (the local gateway): build [`api::Deps`] once, then call [`api::handle`] with an
//! [`api::ApiRequest`] per request (or [`handler::handle_event`] with a Lambda event).

pub mod api;
pub mod config;
pub mod cursor;
pub mod document;
pub mod error;
pub mod handler;
pub mod identity;
pub mod ids;
pub mod items;
pub mod precondition;
pub mod profile;
pub mod ratelimit;
pub mod routes;
pub mod store;
pub mod timefmt;

pub use api::{handle, ApiRequest, ApiResponse, Deps};
pub use config::Settings;
pub use handler::{handle_event, CrudEvent, CrudResponse};
