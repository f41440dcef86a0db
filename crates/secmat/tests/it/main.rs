//! End-to-end tests against the real `secmat` binary: each test starts its own server on a free
//! port with its own data directory, and talks HTTP to it (or runs the CLI against it).
//!
//! One test binary for the crate (every extra `tests/*.rs` would be another binary to link).

// Test code: unwrap, panics and blocking sleeps in helpers are fine here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

mod api;
mod browser;
mod cli;
mod fake_idp;
mod gateway;
mod harness;
mod interop;
mod peers;
mod server;
mod tokens;
mod webdriver;
