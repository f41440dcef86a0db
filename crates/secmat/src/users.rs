//! `secmat user …`: local administration of the users who may call the API. These commands open
//! the store directly (like a database's own admin tool), so they work before any user exists
//! and while the server is down. A running server notices changes within a few seconds
//! (`auth::USERS_POLL`) and drops cached authentications.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::{Args, Subcommand};
use secmat_store::UserRecord;
use zeroize::Zeroizing;

use crate::auth::{Role, hash_password};
use crate::config::{Config, StoreArgs};

/// `secmat user` subcommands.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user (or replace one with the same name).
    ///
    /// Without --password-stdin or --password-file a strong password is generated and printed.
    #[command(
        after_help = "Example:\n  secmat user add deployer --role CredentialsEdit --role MonitoringDataRead\n  printf '%s' \"$PW\" | secmat user add robot --role AccessTokenRead --password-stdin"
    )]
    Add {
        /// User name.
        name: String,
        /// A role to grant (repeat for several): MonitoringDataRead, CredentialsEdit,
        /// CredentialsRead, AccessTokenRead.
        #[arg(long = "role", value_name = "ROLE", required = true, value_parser = parse_role)]
        roles: Vec<Role>,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// List users and their roles.
    List {
        /// Print JSON instead of a table.
        #[arg(long, value_enum, default_value = "table")]
        output: crate::cli::OutputFormat,
    },
    /// Remove a user.
    Remove {
        /// User name.
        name: String,
    },
    /// Set a new password for a user.
    Passwd {
        /// User name.
        name: String,
        #[command(flatten)]
        password: PasswordSource,
    },
}

/// Where a password comes from. Never a command-line argument: it would be visible in `ps` and
/// the shell's history.
#[derive(Args, Debug)]
pub struct PasswordSource {
    /// Read the password from standard input (the first line).
    #[arg(long, conflicts_with = "password_file")]
    password_stdin: bool,
    /// Read the password from this file (the first line).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| {
        format!(
            "unknown role '{s}'; roles are {}",
            Role::ALL.map(Role::as_str).join(", ")
        )
    })
}

/// A random password: 24 bytes from the OS, base64url (32 characters).
pub fn generate_password() -> anyhow::Result<Zeroizing<String>> {
    let mut raw = Zeroizing::new([0u8; 24]);
    getrandom::getrandom(raw.as_mut())?;
    Ok(Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.as_ref()),
    ))
}

/// Reads a secret value: the first line of standard input or of a file, without its line end.
pub fn read_secret(
    stdin: bool,
    file: Option<&std::path::Path>,
    what: &str,
) -> anyhow::Result<Option<Zeroizing<String>>> {
    let mut text = Zeroizing::new(String::new());
    if stdin {
        std::io::stdin()
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read the {what} from standard input"))?;
    } else if let Some(path) = file {
        *text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} from {}", path.display()))?;
    } else {
        return Ok(None);
    }
    let first = Zeroizing::new(text.lines().next().unwrap_or("").to_owned());
    if first.is_empty() {
        bail!("the {what} is empty");
    }
    Ok(Some(first))
}

impl PasswordSource {
    fn read(&self) -> anyhow::Result<(Zeroizing<String>, bool)> {
        match read_secret(
            self.password_stdin,
            self.password_file.as_deref(),
            "password",
        )? {
            Some(p) => Ok((p, false)),
            None => Ok((generate_password()?, true)),
        }
    }
}

/// Runs a `secmat user` command against the store `store` names.
pub async fn run(store_args: StoreArgs, cmd: UserCommand) -> anyhow::Result<()> {
    let config = Config::from_store(store_args)?;
    let store = secmat_store::open(&config.database_url)
        .await
        .with_context(|| format!("cannot open the store at {}", config.store_label()))?;
    match cmd {
        UserCommand::Add {
            name,
            roles,
            password,
        } => {
            if name.trim().is_empty() || name.contains(':') || name.trim() != name {
                bail!("user names must not be empty, contain ':' or begin or end with white space");
            }
            let (pw, generated) = password.read()?;
            let roles = roles.iter().map(|r| r.as_str().to_owned()).collect();
            store
                .put_user(&UserRecord {
                    name: name.clone(),
                    password_hash: hash_password(&pw)?,
                    roles,
                })
                .await?;
            println!("user '{name}' saved");
            if generated {
                println!("generated password (shown only this once): {}", pw.as_str());
            }
        }
        UserCommand::List { output } => {
            let users = store.list_users().await?;
            match output {
                crate::cli::OutputFormat::Json => {
                    let list: Vec<_> = users
                        .iter()
                        .map(|u| serde_json::json!({"name": u.name, "roles": u.roles}))
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&list)?);
                }
                crate::cli::OutputFormat::Table => {
                    let width = users
                        .iter()
                        .map(|u| u.name.chars().count())
                        .max()
                        .unwrap_or(4)
                        .max(4);
                    println!("{:<width$}  ROLES", "NAME");
                    for u in users {
                        println!("{:<width$}  {}", u.name, u.roles.join(", "));
                    }
                }
            }
        }
        UserCommand::Remove { name } => {
            if !store.delete_user(&name).await? {
                bail!("there is no user '{name}' (see: secmat user list)");
            }
            println!("user '{name}' removed");
        }
        UserCommand::Passwd { name, password } => {
            let mut user = store
                .get_user(&name)
                .await?
                .with_context(|| format!("there is no user '{name}' (see: secmat user list)"))?;
            let (pw, generated) = password.read()?;
            user.password_hash = hash_password(&pw)?;
            store.put_user(&user).await?;
            println!("password of '{name}' changed");
            if generated {
                println!("generated password (shown only this once): {}", pw.as_str());
            }
        }
    }
    Ok(())
}
