//! Test harness shared by the workspace's end-to-end suites.
//!
//! Everything here drives real things: the real function binaries (through [`runtime_api`], a
//! small Lambda Runtime API emulator), moto in server mode ([`moto`]), and real HTTP servers on
//! 127.0.0.1. Nothing here mocks our own code.

pub mod bench;
pub mod cognito;
pub mod crud_fn;
pub mod differential;
pub mod dynamo;
pub mod edge_fn;
pub mod fault_proxy;
pub mod jwks_server;
pub mod jwt;
pub mod moto;
pub mod paths;
pub mod runtime_api;
pub mod stack;
