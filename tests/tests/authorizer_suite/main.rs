//! authorizer end to end: the real `authorizer` binary under the Runtime API emulator against
//! JWKS servers, moto's Cognito and independent verifiers; one test binary, one module per topic.

mod api_stages;
mod cognito;
mod differential;
mod e2e;
mod jwks_json;
mod jwks_under_load;
mod revocation;
mod route_exhaustive;
mod route_policies;
