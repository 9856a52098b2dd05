//! The pieces of the `mailcore-server` reference server, kept in a library so that tests and
//! other binaries can call them directly.

pub mod api;
pub mod config;
pub mod inspect;
pub mod provision;
pub mod serve;
pub mod tls;
