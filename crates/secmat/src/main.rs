//! `secmat`: a security material service and OAuth2 client-credentials token broker.
//!
//! # Layout
//!
//! - [`serve`] starts the server: [`config`] resolves flags, environment and file; the store is
//!   opened ([`secmat_store`]); [`keyfile`] loads the master key; [`server`] routes requests.
//! - [`api`] is SAP's *Security Content* API (`/api/v1`), speaking OData V2 through [`odata`];
//!   [`auth`] and [`csrf`] guard it.
//! - [`material`] is the one write path for credentials (seal, store, evict tokens).
//! - [`tokens`] resolves a credential's name to a cached token for [`runtime`] (token API,
//!   connectivity test), [`gateway`] (the HTTP receiver adapter) and [`metrics`].
//! - [`monitor`] is the web UI (server-rendered, sessions, CSRF on forms).
//! - [`cli`] is the command-line client of the API; [`users`] administers users in the store.
//!
//! A request flows: [`server::router`] → [`api::dispatch`] (authenticate, CSRF) →
//! [`api::credentials`] (role check, validation in [`secmat_core::validate`], sealing with
//! [`secmat_core::Keyring`]) → [`secmat_store::Store`].

use std::process::ExitCode;

/// mimalloc rather than the system allocator: a request allocates and frees many small buffers,
/// and glibc's malloc cost about 6% of the gateway's time.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

mod api;
mod auth;
mod cli;
mod config;
mod csrf;
mod front;
mod gateway;
mod keyfile;
mod loops;
mod material;
mod metrics;
mod monitor;
mod odata;
mod runtime;
mod serve;
mod server;
mod shutdown;
mod state;
mod tokens;
mod users;

/// secmat — deploy OAuth2 client credentials once, under a name; get tokens for that name
/// everywhere, without ever handing out the secret.
#[derive(Parser, Debug)]
#[command(
    name = "secmat",
    version,
    after_help = "Start here:\n  secmat serve                          run the server (embedded store in ./secmat-data)\n  secmat credential create --help       deploy OAuth2 client credentials\n  secmat user add --help                let someone in\n\nEvery flag can also be set as SECMAT_<FLAG> in the environment (e.g. SECMAT_LISTEN)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server: the Security Content API on /api/v1, health on /healthz and /readyz.
    #[command(
        after_help = "Examples:\n  secmat serve\n  secmat serve --listen 0.0.0.0:8080 --data-dir /var/lib/secmat\n  secmat serve --database-url postgres://secmat@db/secmat --master-key-file /etc/secmat/master.key\n\nOn first start, secmat creates user 'admin' with every role; its password comes from\nSECMAT_ADMIN_PASSWORD or is generated and printed once."
    )]
    Serve(config::ServeArgs),
    /// Manage OAuth2 client credentials on a running server (through its API).
    Credential(cli::credential::CredentialCommand),
    /// Manage HTTP receiver channels: the gateway that calls OAuth2-protected APIs for you.
    Channel(cli::channel::ChannelCommand),
    /// Print a valid access token for a credential (for scripts: `$(secmat token NAME)`).
    #[command(after_help = cli::token::TOKEN_HELP)]
    Token(cli::token::TokenArgs),
    /// Manage users and their roles (directly in the store; works while the server is down).
    User {
        #[command(flatten)]
        store: config::StoreArgs,
        #[command(subcommand)]
        command: users::UserCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => report(serve::serve(args).await),
            Command::Credential(cmd) => cli::credential::run(cmd).await,
            Command::Token(args) => cli::token::run(args).await,
            Command::Channel(cmd) => cli::channel::run(cmd).await,
            Command::User { store, command } => report(users::run(store, command).await),
        }
    })
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
