//! `secmat credential …`: create, edit, list, show and delete OAuth2 client credentials on a
//! running server, through its Security Content API (the same API SAP's clients use).
//!
//! The server is authoritative for every rule (reserved keys, lengths, URLs, …): this client only
//! parses its own flags, sends the credential, and prints the server's field errors, each
//! prefixed by the field it names. Client secrets are read from a file or standard input (never
//! an argument), held in [`Zeroizing`] buffers and never printed.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::PossibleValuesParser;
use clap::{Args, Subcommand};
use reqwest::Method;
use secmat_core::artifact::{ClientAuthentication, GrantType, ScopeContentType, SendAsPartOf};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::OutputFormat;
use super::client::{Client, ClientArgs, Exit, Failure};
use super::output::{clean, odata_date, table, text};
use crate::api::credentials::ENTITY_SET;
use crate::odata::key_path;

/// What `list` and `show` call the artifact type.
const TYPE_LABEL: &str = "OAuth2 Client Credentials";

const CREDENTIAL_HELP: &str = "\
Connection flags work before or after the subcommand. The password comes from SECMAT_PASSWORD
or --password-file, never from a command-line argument.

Examples:
  export SECMAT_SERVER=https://secmat.example.com SECMAT_USER=deployer
  read -rs SECMAT_PASSWORD && export SECMAT_PASSWORD
  secmat credential list
  secmat credential create --help

Exit codes:
  0  success
  1  other error (server error, unreadable file, unexpected answer)
  2  usage error (a flag is wrong or missing)
  3  not found: there is no credential with that name
  4  authentication or authorization failed: no or a wrong password for the user (check
     SECMAT_USER / SECMAT_PASSWORD / --password-file), or a role is missing (the message names it)
  5  conflict: a credential with that name already exists (use `secmat credential edit`), or it
     was changed by someone else meanwhile
  6  invalid input: the server rejected fields; each error is printed as `Field (--flag): why`
  7  the server is unreachable (is `secmat serve` running? is --server right?)
Errors are printed on standard error, each line starting with `error: `.";

const CREATE_HELP: &str = "\
Examples:
  printf '%s' \"$SECRET\" | secmat credential create my-api \\
      --token-url https://idp.example.com/oauth/token --client-id my-client --client-secret-stdin

  secmat credential create 'S/4 Prod' --description 'S/4HANA production' \\
      --token-url https://s4.example.com/sap/bc/sec/oauth2/token --client-id c1 \\
      --client-secret-file ./secret.txt --auth header --scope 'API_READ API_WRITE' \\
      --param tenant=t1@header --param realm=r1@url

The credential is deployed at once; consumers then get tokens for its name.";

const EDIT_LONG: &str = "\
Change deployed credentials, keeping every field you do not mention.

secmat reads the credential first and sends it back with your changes. Fields you do not give
keep their current values, custom parameters included; --param replaces all custom parameters
with the ones given, --clear-params removes them all. Give an empty value (--scope '') to clear
an optional text field.

As on SAP, every edit must send the client secret again (the server never reveals the stored
one): give --client-secret-file or --client-secret-stdin. An edit with only the secret rotates
the secret.";

const EDIT_HELP: &str = "\
Examples:
  secmat credential edit my-api --client-secret-file ./new-secret.txt            rotate the secret
  printf '%s' \"$SECRET\" | secmat credential edit my-api --client-secret-stdin --scope 'read write'
  secmat credential edit my-api --client-secret-file s.txt --param tenant=t2@header
  secmat credential edit my-api --client-secret-file s.txt --clear-params";

/// `secmat credential`: the connection flags (global: accepted before or after the subcommand)
/// and the subcommand.
#[derive(Args, Debug)]
#[command(after_help = CREDENTIAL_HELP)]
pub struct CredentialCommand {
    #[command(flatten)]
    client: ClientArgs,
    // Boxed: the flags of `create` and `edit` are big, and `main`'s command enum should stay small.
    #[command(subcommand)]
    action: Box<Action>,
}

#[derive(Subcommand, Debug)]
enum Action {
    /// Deploy new OAuth2 client credentials under a name.
    #[command(after_help = CREATE_HELP)]
    Create(CreateArgs),
    /// Change deployed credentials (fields not given are kept; the secret must be given again).
    #[command(long_about = EDIT_LONG, after_help = EDIT_HELP)]
    Edit(EditArgs),
    /// List the deployed credentials: name, type, status, who deployed them and when.
    #[command(
        after_help = "Examples:\n  secmat credential list\n  secmat credential list --output json | jq -r '.[].Name'"
    )]
    List {
        /// table for people, json (the API's entities, custom parameters included) for programs.
        #[arg(long, value_enum, default_value = "table")]
        output: OutputFormat,
    },
    /// Show one credential with every field and its custom parameters (never the secret).
    #[command(
        after_help = "Examples:\n  secmat credential show my-api\n  secmat credential show 'S/4 Prod' --output json"
    )]
    Show {
        /// The credential's name.
        name: String,
        /// table for people, json (the API's entity) for programs.
        #[arg(long, value_enum, default_value = "table")]
        output: OutputFormat,
    },
    /// Connectivity test: one fresh token request (bypassing the cache) with its outcome.
    #[command(after_help = super::token::TEST_HELP)]
    Test(super::token::TestArgs),
    /// Delete a credential: consumers can no longer get tokens for its name.
    #[command(after_help = "Example:\n  secmat credential delete my-api")]
    Delete {
        /// The credential's name.
        name: String,
    },
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// The credential's name: the alias consumers ask tokens for (unique, case-sensitive).
    name: String,
    /// Token Service URL: the authorization server's token endpoint (http:// or https://).
    #[arg(long, value_name = "URL")]
    token_url: String,
    /// Client ID: the client's id at the authorization server.
    #[arg(long, value_name = "ID")]
    client_id: String,
    #[command(flatten)]
    secret: SecretArgs,
    #[command(flatten)]
    fields: OptionalFields,
}

#[derive(Args, Debug)]
struct EditArgs {
    /// The name of the credential to change.
    name: String,
    /// New Token Service URL.
    #[arg(long, value_name = "URL")]
    token_url: Option<String>,
    /// New Client ID.
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    #[command(flatten)]
    secret: SecretArgs,
    #[command(flatten)]
    fields: OptionalFields,
    /// Remove every custom parameter.
    #[arg(long, conflicts_with = "params")]
    clear_params: bool,
}

/// Where the client secret comes from: never a command-line argument (it would show in `ps` and
/// in the shell's history). One of the two is required, on create and on every edit.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct SecretArgs {
    /// Read the Client Secret from this file (its first line).
    #[arg(long, value_name = "FILE")]
    client_secret_file: Option<PathBuf>,
    /// Read the Client Secret from standard input (its first line), e.g.
    /// printf '%s' "$SECRET" | secmat credential …
    #[arg(long)]
    client_secret_stdin: bool,
}

#[derive(Args, Debug)]
struct OptionalFields {
    /// Description: free text for people.
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// Client Authentication: body sends client_id and client_secret as body parameters (the
    /// default); header sends them as HTTP Basic (RFC 6749 §2.3.1).
    #[arg(long = "auth", value_name = "HOW", ignore_case = true,
          value_parser = PossibleValuesParser::new(ClientAuthentication::NAMES.iter().copied()))]
    auth: Option<String>,
    /// Scope: space-separated scopes to ask for; sent only when set.
    #[arg(long, value_name = "SCOPES")]
    scope: Option<String>,
    /// Content Type of the token request: urlencoded (application/x-www-form-urlencoded, the
    /// default) or json (application/json).
    #[arg(long, value_name = "TYPE", ignore_case = true,
          value_parser = PossibleValuesParser::new(ScopeContentType::NAMES.iter().copied()))]
    content_type: Option<String>,
    /// Resource (RFC 8707) to ask a token for; sent only when set.
    #[arg(long, value_name = "URI")]
    resource: Option<String>,
    /// Audience to ask a token for (Auth0 and others); sent only when set.
    #[arg(long, value_name = "AUDIENCE")]
    audience: Option<String>,
    /// Grant Type: where grant_type=client_credentials goes: body (the default) or url (the
    /// Token Service URL's query).
    #[arg(long, value_name = "WHERE", ignore_case = true,
          value_parser = PossibleValuesParser::new(GrantType::NAMES.iter().copied()))]
    grant_type: Option<String>,
    /// A custom parameter sent with every token request, as KEY=VALUE@PART where PART is body,
    /// header or url (repeat for several, at most 20). The value may contain '=' and '@': the
    /// KEY ends at the first '=', the PART starts after the last '@'. Keys client_id,
    /// client_secret and grant_type are reserved.
    #[arg(long = "param", value_name = "KEY=VALUE@PART", value_parser = parse_param)]
    params: Vec<Param>,
}

/// One custom parameter, as the API writes it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Param {
    key: String,
    value: String,
    send_as_part_of: String,
}

/// `KEY=VALUE@PART`: the PART after the last `@`, the KEY before the first `=`.
fn parse_param(s: &str) -> Result<Param, String> {
    let parts = SendAsPartOf::NAMES.join(", ");
    let (pair, part) = s.rsplit_once('@').ok_or_else(|| {
        format!("expected KEY=VALUE@PART, but there is no '@PART' (PART is one of: {parts})")
    })?;
    let (key, value) = pair.split_once('=').ok_or_else(|| {
        "expected KEY=VALUE@PART, but there is no '=' between KEY and VALUE".to_owned()
    })?;
    let part = SendAsPartOf::parse(part.trim()).ok_or_else(|| {
        format!(
            "'{part}' after the last '@' is not a place to send a parameter; use one of: {parts}"
        )
    })?;
    Ok(Param {
        key: key.to_owned(),
        value: value.to_owned(),
        send_as_part_of: part.as_str().to_owned(),
    })
}

/// A credential as the API returns it (read leniently: every field optional).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Entity {
    name: Option<String>,
    description: Option<String>,
    token_service_url: Option<String>,
    client_id: Option<String>,
    client_authentication: Option<String>,
    scope: Option<String>,
    scope_content_type: Option<String>,
    resource: Option<String>,
    audience: Option<String>,
    grant_type: Option<String>,
    security_artifact_descriptor: Descriptor,
    /// `None` when the server did not expand them.
    #[serde(deserialize_with = "expanded_params")]
    custom_parameters: Option<Vec<Param>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Descriptor {
    deployed_by: Option<String>,
    deployed_on: Option<String>,
    status: Option<String>,
}

/// `{"results": [...]}` (OData V2) or a plain array; `None` for `{"__deferred": …}`.
fn expanded_params<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Param>>, D::Error> {
    let list = match Value::deserialize(d)? {
        Value::Object(mut m) => m.remove("results"),
        v @ Value::Array(_) => Some(v),
        _ => None,
    };
    list.map(|l| serde_json::from_value(l).map_err(serde::de::Error::custom))
        .transpose()
}

/// The body of `POST` and `PUT`; borrows everything, so the secret is not copied.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Payload<'a> {
    name: &'a str,
    description: Option<&'a str>,
    token_service_url: Option<&'a str>,
    client_id: Option<&'a str>,
    client_secret: &'a str,
    client_authentication: Option<&'a str>,
    scope: Option<&'a str>,
    scope_content_type: Option<&'a str>,
    resource: Option<&'a str>,
    audience: Option<&'a str>,
    grant_type: Option<&'a str>,
    custom_parameters: &'a [Param],
}

impl OptionalFields {
    /// Overwrites the fields given on the command line; the params only when some were given.
    fn apply(self, e: &mut Entity) {
        let set = |slot: &mut Option<String>, v: Option<String>| {
            if v.is_some() {
                *slot = v;
            }
        };
        set(&mut e.description, self.description);
        set(
            &mut e.client_authentication,
            self.auth.map(|s| s.to_ascii_lowercase()),
        );
        set(&mut e.scope, self.scope);
        set(
            &mut e.scope_content_type,
            self.content_type.map(|s| s.to_ascii_lowercase()),
        );
        set(&mut e.resource, self.resource);
        set(&mut e.audience, self.audience);
        set(
            &mut e.grant_type,
            self.grant_type.map(|s| s.to_ascii_lowercase()),
        );
        if !self.params.is_empty() {
            e.custom_parameters = Some(self.params);
        }
    }
}

/// The JSON body for `e` with `secret`, in a buffer that is wiped when dropped.
fn payload(name: &str, e: &Entity, secret: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let p = Payload {
        name,
        description: e.description.as_deref(),
        token_service_url: e.token_service_url.as_deref(),
        client_id: e.client_id.as_deref(),
        client_secret: secret,
        client_authentication: e.client_authentication.as_deref(),
        scope: e.scope.as_deref(),
        scope_content_type: e.scope_content_type.as_deref(),
        resource: e.resource.as_deref(),
        audience: e.audience.as_deref(),
        grant_type: e.grant_type.as_deref(),
        custom_parameters: e.custom_parameters.as_deref().unwrap_or(&[]),
    };
    // Room for everything up front (JSON escaping takes at most 6 bytes per byte), so that
    // growing the buffer never leaves a copy of the secret behind in freed memory.
    let texts = [
        &e.description,
        &e.token_service_url,
        &e.client_id,
        &e.client_authentication,
        &e.scope,
        &e.scope_content_type,
        &e.resource,
        &e.audience,
        &e.grant_type,
    ];
    let text_bytes: usize = texts
        .iter()
        .filter_map(|t| t.as_ref())
        .map(String::len)
        .sum::<usize>()
        + p.custom_parameters
            .iter()
            .map(|c| c.key.len() + c.value.len() + c.send_as_part_of.len() + 64)
            .sum::<usize>()
        + name.len()
        + secret.len();
    let mut buf = Zeroizing::new(Vec::with_capacity(1024 + 6 * text_bytes));
    serde_json::to_writer(&mut *buf, &p)
        .map_err(|e| Failure::new(Exit::Other, format!("cannot encode the credential: {e}")))?;
    Ok(buf)
}

fn read_client_secret(s: &SecretArgs) -> Result<Zeroizing<String>, Failure> {
    if s.client_secret_stdin && std::io::stdin().is_terminal() {
        eprintln!("Client secret (then Enter and Ctrl-D; piping it in keeps it off the screen):");
    }
    match crate::users::read_secret(
        s.client_secret_stdin,
        s.client_secret_file.as_deref(),
        "client secret",
    ) {
        Ok(Some(secret)) => Ok(secret),
        Ok(None) => Err(Failure::new(
            Exit::Usage,
            "the client secret is required: give --client-secret-file FILE or --client-secret-stdin",
        )),
        Err(e) => {
            let exit = if e.downcast_ref::<std::io::Error>().is_some() {
                Exit::Other
            } else {
                Exit::Invalid
            };
            Err(Failure::new(exit, format!("{e:#}")))
        }
    }
}

/// `OAuth2ClientCredentials('NAME')`, key escaped.
fn entity_path(name: &str) -> String {
    key_path(ENTITY_SET, name)
}

/// Rewrites a `404` into a message naming the credential.
fn not_found(name: &str) -> impl FnOnce(Failure) -> Failure + '_ {
    move |f| match f.exit {
        Exit::NotFound => Failure::new(
            Exit::NotFound,
            format!(
                "there is no credential named '{}' (see: secmat credential list)",
                clean(name)
            ),
        ),
        _ => f,
    }
}

/// Reads one credential with its custom parameters: the API's JSON entity.
async fn fetch(client: &Client, name: &str) -> Result<Value, Failure> {
    let url = client.api_url(&format!("{}?$expand=CustomParameters", entity_path(name)))?;
    let mut v = client.get_json(url).await.map_err(not_found(name))?;
    match v.get_mut("d").map(Value::take) {
        Some(d @ Value::Object(_)) => Ok(d),
        _ => Err(unexpected()),
    }
}

fn unexpected() -> Failure {
    Failure::new(
        Exit::Other,
        "the server's answer is not an OData entity: is --server pointing at secmat?",
    )
}

fn typed(v: &Value) -> Result<Entity, Failure> {
    Entity::deserialize(v)
        .map_err(|e| Failure::new(Exit::Other, format!("cannot read the server's answer: {e}")))
}

async fn create(client: &mut Client, a: CreateArgs) -> Result<String, Failure> {
    let secret = read_client_secret(&a.secret)?;
    let mut e = Entity {
        token_service_url: Some(a.token_url),
        client_id: Some(a.client_id),
        custom_parameters: Some(Vec::new()),
        ..Entity::default()
    };
    a.fields.apply(&mut e);
    let body = payload(&a.name, &e, &secret)?;
    drop(secret);
    client.write(Method::POST, ENTITY_SET, Some(&body)).await.map_err(|f| match f.exit {
        Exit::Conflict => Failure::new(
            Exit::Conflict,
            format!(
                "a credential named '{}' already exists; use `secmat credential edit` to change it",
                clean(&a.name)
            ),
        ),
        _ => f,
    })?;
    Ok(format!(
        "credential '{}' created and deployed\n",
        clean(&a.name)
    ))
}

async fn edit(client: &mut Client, a: EditArgs) -> Result<String, Failure> {
    let secret = read_client_secret(&a.secret)?;
    let mut e = typed(&fetch(client, &a.name).await?)?;
    if a.token_url.is_some() {
        e.token_service_url = a.token_url;
    }
    if a.client_id.is_some() {
        e.client_id = a.client_id;
    }
    a.fields.apply(&mut e);
    if a.clear_params {
        e.custom_parameters = Some(Vec::new());
    }
    if e.custom_parameters.is_none() {
        return Err(Failure::new(
            Exit::Other,
            "the server did not return the current custom parameters, so an edit would lose them; give --param or --clear-params",
        ));
    }
    let body = payload(&a.name, &e, &secret)?;
    drop(secret);
    client
        .write(Method::PUT, &entity_path(&a.name), Some(&body))
        .await
        .map_err(not_found(&a.name))?;
    Ok(format!(
        "credential '{}' updated and deployed\n",
        clean(&a.name)
    ))
}

async fn delete(client: &mut Client, name: &str) -> Result<String, Failure> {
    client
        .write(Method::DELETE, &entity_path(name), None)
        .await
        .map_err(not_found(name))?;
    Ok(format!("credential '{}' deleted\n", clean(name)))
}

/// Every credential, following the server's `__next` links page by page.
async fn list_all(client: &Client) -> Result<Vec<Value>, Failure> {
    let mut url = client.api_url(&format!("{ENTITY_SET}?$expand=CustomParameters"))?;
    let mut all = Vec::new();
    loop {
        let mut page = client.get_json(url.clone()).await?;
        let d = page.get_mut("d").map(Value::take).ok_or_else(unexpected)?;
        let (results, next) = match d {
            Value::Array(items) => (items, None),
            Value::Object(mut m) => {
                let next = m.get("__next").and_then(Value::as_str).map(str::to_owned);
                match m.remove("results") {
                    Some(Value::Array(items)) => (items, next),
                    _ => return Err(unexpected()),
                }
            }
            _ => return Err(unexpected()),
        };
        all.extend(results);
        match next {
            Some(next) => {
                let next = client.next_url(&url, &next)?;
                if next == url {
                    return Err(Failure::new(
                        Exit::Other,
                        "the server's __next link points at the same page again",
                    ));
                }
                url = next;
            }
            None => return Ok(all),
        }
    }
}

fn json_text(v: &Value) -> Result<String, Failure> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| Failure::new(Exit::Other, format!("cannot print JSON: {e}")))
}

async fn list(client: &Client, output: OutputFormat) -> Result<String, Failure> {
    let all = list_all(client).await?;
    if output == OutputFormat::Json {
        return json_text(&Value::Array(all));
    }
    if all.is_empty() {
        return Ok(
            "No credentials yet; deploy one with `secmat credential create` (see --help).\n"
                .to_owned(),
        );
    }
    let mut rows = Vec::with_capacity(all.len());
    for v in &all {
        let e = typed(v)?;
        let d = &e.security_artifact_descriptor;
        rows.push(vec![
            text(&e.name),
            TYPE_LABEL.to_owned(),
            text(&d.status),
            text(&d.deployed_by),
            d.deployed_on
                .as_deref()
                .map(odata_date)
                .unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    Ok(table(
        &["NAME", "TYPE", "STATUS", "DEPLOYED BY", "DEPLOYED ON (UTC)"],
        &rows,
        "",
    ))
}

async fn show(client: &Client, name: &str, output: OutputFormat) -> Result<String, Failure> {
    let v = fetch(client, name).await?;
    if output == OutputFormat::Json {
        return json_text(&v);
    }
    let e = typed(&v)?;
    let d = &e.security_artifact_descriptor;
    let described =
        |v: &Option<String>, describe: fn(&str) -> Option<&'static str>| match v.as_deref() {
            Some(s) => match describe(s) {
                Some(what) => format!("{} ({what})", clean(s)),
                None => clean(s),
            },
            None => "-".to_owned(),
        };
    let fields = [
        ("Name", text(&e.name)),
        ("Type", TYPE_LABEL.to_owned()),
        ("Description", text(&e.description)),
        ("Token Service URL", text(&e.token_service_url)),
        ("Client ID", text(&e.client_id)),
        ("Client Secret", "(hidden)".to_owned()),
        (
            "Client Authentication",
            described(&e.client_authentication, |s| match s {
                "body" => Some("Send as Body Parameter"),
                "header" => Some("Send as Request Header"),
                _ => None,
            }),
        ),
        ("Scope", text(&e.scope)),
        (
            "Content Type",
            described(&e.scope_content_type, |s| match s {
                "urlencoded" => Some("application/x-www-form-urlencoded"),
                "json" => Some("application/json"),
                _ => None,
            }),
        ),
        ("Resource", text(&e.resource)),
        ("Audience", text(&e.audience)),
        (
            "Grant Type",
            described(&e.grant_type, |s| match s {
                "body" => Some("in the request body"),
                "url" => Some("in the Token Service URL"),
                _ => None,
            }),
        ),
        ("Status", text(&d.status)),
        ("Deployed By", text(&d.deployed_by)),
        (
            "Deployed On",
            d.deployed_on
                .as_deref()
                .map(|s| odata_date(s) + " UTC")
                .unwrap_or_else(|| "-".to_owned()),
        ),
    ];
    let width = fields
        .iter()
        .map(|(label, _)| label.len())
        .max()
        .unwrap_or(0)
        + 1;
    let mut out = String::new();
    for (label, value) in fields {
        out += &format!("{:<width$} {value}\n", format!("{label}:"));
    }
    match e.custom_parameters.as_deref() {
        Some([]) => out += "Custom Parameters: none\n",
        Some(params) => {
            out += "Custom Parameters:\n";
            let rows: Vec<Vec<String>> = params
                .iter()
                .map(|p| vec![clean(&p.key), clean(&p.value), clean(&p.send_as_part_of)])
                .collect();
            out += &table(&["KEY", "VALUE", "SEND AS PART OF"], &rows, "  ");
        }
        None => out += "Custom Parameters: (not returned by the server)\n",
    }
    Ok(out)
}

async fn execute(cmd: CredentialCommand) -> Result<(), Failure> {
    let mut client = Client::new(&cmd.client)?;
    let out = match *cmd.action {
        Action::Create(a) => create(&mut client, a).await?,
        Action::Edit(a) => edit(&mut client, a).await?,
        Action::List { output } => list(&client, output).await?,
        Action::Show { name, output } => show(&client, &name, output).await?,
        Action::Delete { name } => delete(&mut client, &name).await?,
        Action::Test(a) => super::token::test(&client, a).await?,
    };
    super::emit(&out)
}

/// Runs a `secmat credential` command; failures are printed on standard error.
pub async fn run(cmd: CredentialCommand) -> ExitCode {
    match execute(cmd).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_split_at_the_first_equals_and_the_last_at() {
        let p = parse_param("x-mail=a=b@c.example@HEADER").unwrap();
        assert_eq!(
            (p.key.as_str(), p.value.as_str(), p.send_as_part_of.as_str()),
            ("x-mail", "a=b@c.example", "header")
        );
        let p = parse_param("k=@url").unwrap();
        assert_eq!(
            (p.key.as_str(), p.value.as_str(), p.send_as_part_of.as_str()),
            ("k", "", "url")
        );
        assert!(parse_param("k=v").unwrap_err().contains("'@PART'"));
        assert!(parse_param("kv@body").unwrap_err().contains("'='"));
        assert!(parse_param("k=v@query").unwrap_err().contains("'query'"));
    }

    #[test]
    fn entities_read_expanded_plain_or_deferred_parameters() {
        let e: Entity = serde_json::from_value(serde_json::json!({"Name": "a",
            "CustomParameters": {"results": [{"__metadata": {}, "Key": "k", "Value": "v", "SendAsPartOf": "url"}]}}))
        .unwrap();
        assert_eq!(e.custom_parameters.unwrap()[0].key, "k");
        let e: Entity = serde_json::from_value(
            serde_json::json!({"CustomParameters": {"__deferred": {"uri": "x"}}}),
        )
        .unwrap();
        assert!(e.custom_parameters.is_none());
        let e: Entity = serde_json::from_value(serde_json::json!({"Description": null})).unwrap();
        assert!(e.description.is_none() && e.custom_parameters.is_none());
    }

    #[test]
    fn tables_align_and_values_are_cleaned() {
        let t = table(&["A", "BB"], &[vec!["xyz".into(), "1".into()]], "");
        assert_eq!(t, "A    BB\nxyz  1\n");
        assert_eq!(clean("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
    }

    #[test]
    fn the_payload_uses_the_api_field_names() {
        let e = Entity {
            token_service_url: Some("https://t".into()),
            client_id: Some("c".into()),
            custom_parameters: Some(vec![Param {
                key: "k".into(),
                value: "v".into(),
                send_as_part_of: "body".into(),
            }]),
            ..Entity::default()
        };
        let body = payload("n", &e, "s").unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["Name"], "n");
        assert_eq!(v["TokenServiceUrl"], "https://t");
        assert_eq!(v["ClientId"], "c");
        assert_eq!(v["ClientSecret"], "s");
        assert_eq!(v["Scope"], Value::Null);
        assert_eq!(v["CustomParameters"][0]["SendAsPartOf"], "body");
    }
}
