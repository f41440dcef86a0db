//! The command-line client: talks to a running secmat server through its API.
//!
//! [`client`] is the HTTP side (server, login, CSRF, errors and exit codes); [`credential`] holds
//! the `secmat credential …` commands; [`token`] the runtime commands (`secmat token`, the
//! connectivity test).

pub mod channel;
pub mod client;
pub mod credential;
mod output;
pub mod token;

use std::io::Write as _;

use client::{Exit, Failure};

/// How read commands print their result.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// A table for people.
    #[default]
    Table,
    /// JSON for programs.
    Json,
}

/// Prints `text` on standard output; a closed pipe (`| head`) is not an error.
pub fn emit(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::new(
            Exit::Other,
            format!("cannot write to standard output: {e}"),
        )),
    }
}
