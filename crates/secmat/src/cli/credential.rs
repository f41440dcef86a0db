//! `secmat credential …` (being written).

use std::process::ExitCode;

/// `secmat credential` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum CredentialCommand {
    /// List credentials.
    List,
}

/// Runs a credential command.
pub async fn run(_cmd: CredentialCommand) -> ExitCode {
    ExitCode::FAILURE
}
