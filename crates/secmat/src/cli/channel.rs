//! `secmat channel …`: the HTTP receiver adapter's channels, through the API
//! (`/api/v1/HttpReceiverChannels`). A channel forwards `/gateway/NAME/PATH` to
//! `ADDRESS/PATH` with a bearer token of its credential.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::OutputFormat;
use super::client::{Client, ClientArgs, Failure};
use crate::api::channels::ENTITY_SET;
use crate::odata::key_path;

const CHANNEL_HELP: &str = "\
A channel lets any HTTP client call an OAuth2-protected API without knowing OAuth2:

  secmat channel create sf --address https://api.successfactors.example/odata/v2 --credential SuccessFactors
  curl -u robot:\"$PW\" http://127.0.0.1:8080/gateway/sf/User?\\$top=5

secmat adds `Authorization: Bearer <token>` from the shared token cache, removes the caller's
own credentials, and after a 401 from the API evicts the token and retries once. With
--credential '${header.X-Credential}' the caller names the credential per request in that header.
The caller needs the role AccessTokenRead; managing channels needs CredentialsEdit.

Exit codes as for `secmat credential` (see `secmat credential --help`).";

/// `secmat channel`
#[derive(Args, Debug)]
#[command(after_help = CHANNEL_HELP)]
pub struct ChannelCommand {
    #[command(flatten)]
    client: ClientArgs,
    #[command(subcommand)]
    action: Action,
}

#[derive(Args, Debug)]
struct ChannelFields {
    /// Where requests go: an absolute http(s) URL, e.g. https://api.example.com/v2.
    #[arg(long, value_name = "URL")]
    address: String,
    /// A deployed credential's name, or '${header.NAME}' to read it from a request header.
    #[arg(long, value_name = "NAME")]
    credential: String,
    /// Milliseconds to wait for the token and for the receiver's answer [default: 60000].
    #[arg(long, value_name = "MS")]
    timeout: Option<u64>,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Create a channel.
    Create {
        /// Channel name (letters, digits, - . _ ~): the gateway URL is /gateway/NAME/….
        name: String,
        #[command(flatten)]
        fields: ChannelFields,
    },
    /// Replace a channel's address, credential and timeout.
    Edit {
        /// Channel name.
        name: String,
        #[command(flatten)]
        fields: ChannelFields,
    },
    /// List channels.
    List {
        /// table for people, json for programs.
        #[arg(long, value_enum, default_value = "table")]
        output: OutputFormat,
    },
    /// Show one channel.
    Show {
        /// Channel name.
        name: String,
        /// table for people, json for programs.
        #[arg(long, value_enum, default_value = "table")]
        output: OutputFormat,
    },
    /// Delete a channel.
    Delete {
        /// Channel name.
        name: String,
    },
}

fn body(name: &str, f: &ChannelFields) -> Vec<u8> {
    let mut v = json!({"Name": name, "Address": f.address, "CredentialName": f.credential});
    if let Some(t) = f.timeout {
        v["Timeout"] = json!(t);
    }
    v.to_string().into_bytes()
}

fn table(rows: &[Value]) -> String {
    let cell = |r: &Value, c: &str| match &r[c] {
        Value::String(s) => super::output::clean(s),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let cols = ["Name", "Address", "CredentialName", "Timeout", "ModifiedBy"];
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cols.iter().map(|c| cell(r, c)).collect())
        .collect();
    super::output::table(
        &[
            "NAME",
            "ADDRESS",
            "CREDENTIAL",
            "TIMEOUT (MS)",
            "MODIFIED BY",
        ],
        &rows,
        "",
    )
}

async fn execute(cmd: ChannelCommand) -> Result<(), Failure> {
    let mut client = Client::new(&cmd.client)?;
    let out = match cmd.action {
        Action::Create { name, fields } => {
            client
                .write(Method::POST, ENTITY_SET, Some(&body(&name, &fields)))
                .await?;
            format!(
                "channel '{name}' created: /gateway/{name}/… → {}\n",
                fields.address
            )
        }
        Action::Edit { name, fields } => {
            client
                .write(
                    Method::PUT,
                    &key_path(ENTITY_SET, &name),
                    Some(&body(&name, &fields)),
                )
                .await?;
            format!("channel '{name}' saved\n")
        }
        Action::Delete { name } => {
            client
                .write(Method::DELETE, &key_path(ENTITY_SET, &name), None)
                .await?;
            format!("channel '{name}' deleted\n")
        }
        Action::List { output } => {
            let mut url = client.api_url(ENTITY_SET)?;
            let mut rows = Vec::new();
            loop {
                let page = client.get_json(url.clone()).await?;
                rows.extend(page["d"]["results"].as_array().cloned().unwrap_or_default());
                match page["d"]["__next"].as_str() {
                    Some(next) => url = client.next_url(&url, next)?,
                    None => break,
                }
            }
            match output {
                OutputFormat::Json => format!(
                    "{}\n",
                    serde_json::to_string_pretty(&rows).unwrap_or_default()
                ),
                OutputFormat::Table => table(&rows),
            }
        }
        Action::Show { name, output } => {
            let v = client
                .get_json(client.api_url(&key_path(ENTITY_SET, &name))?)
                .await?;
            match output {
                OutputFormat::Json => format!(
                    "{}\n",
                    serde_json::to_string_pretty(&v["d"]).unwrap_or_default()
                ),
                OutputFormat::Table => table(&[v["d"].clone()]),
            }
        }
    };
    super::emit(&out)
}

/// Runs a `secmat channel` command.
pub async fn run(cmd: ChannelCommand) -> ExitCode {
    match execute(cmd).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(),
    }
}
