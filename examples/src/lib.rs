//! The pieces of the `mailcore-server` reference server, kept in a library so that tests and
//! other binaries can call them directly.

pub mod inspect;
