//! Runtime commands: `secmat token NAME` prints a valid access token (so that shell scripts can
//! do `curl -H "Authorization: Bearer $(secmat token NAME)" …`), and `secmat credential test
//! NAME` runs the connectivity test.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;
use reqwest::Method;
use serde_json::Value;

use super::OutputFormat;
use super::client::{Client, ClientArgs, Failure};

/// Help text of `secmat token`.
pub const TOKEN_HELP: &str = "\
The token comes from the server's shared cache: every consumer of the same credential gets the
same token until it is renewed, and the client secret never leaves the server. The user needs
the role AccessTokenRead.

Examples:
  curl -H \"Authorization: Bearer $(secmat token SuccessFactors)\" https://api.example.com/odata/v2/User
  secmat token SuccessFactors --output json     # token, token_type, expires_in, expires_at

Exit codes: 0 success; 3 no credential with that name; 4 authentication or role missing;
7 server unreachable; 8 the authorization server refused (e.g. invalid_client), failed or did
not answer in time (the message quotes its error).";

/// Help text of `secmat credential test`.
pub const TEST_HELP: &str = "\
Sends one fresh token request for the credential, bypassing (and not touching) the cache, and
reports the HTTP status, the latency, the token type and lifetime, and for JWTs the decoded
(not verified) iss, aud, scope and exp claims. The token itself is printed only with
--show-token. The user needs the role CredentialsRead.

Examples:
  secmat credential test SuccessFactors
  secmat credential test SuccessFactors --output json | jq .jwt.aud

Exit code 0 when a token was issued, 8 when the authorization server refused or failed.";

/// `secmat token`
#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(flatten)]
    client: ClientArgs,
    /// The credential's name.
    name: String,
    /// `table` prints the token alone (for `$(…)`); `json` the whole answer.
    #[arg(long, value_enum, default_value = "table")]
    output: OutputFormat,
}

/// `secmat credential test`
#[derive(Args, Debug)]
pub struct TestArgs {
    /// The credential's name.
    name: String,
    /// Also print the access token.
    #[arg(long)]
    show_token: bool,
    /// table for people, json for programs.
    #[arg(long, value_enum, default_value = "table")]
    output: OutputFormat,
}

/// Runs `secmat token`.
pub async fn run(args: TokenArgs) -> ExitCode {
    let result = async {
        let client = Client::new(&args.client)?;
        let answer = client
            .runtime(Method::GET, client.runtime_url(&["tokens", &args.name])?)
            .await?;
        let out = match args.output {
            OutputFormat::Json => format!(
                "{}\n",
                serde_json::to_string_pretty(&answer).unwrap_or_default()
            ),
            OutputFormat::Table => {
                format!("{}\n", answer["access_token"].as_str().unwrap_or_default())
            }
        };
        super::emit(&out)
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report(),
    }
}

/// Runs `secmat credential test`; returns what to print, or a failure when no token was issued.
pub async fn test(client: &Client, args: TestArgs) -> Result<String, Failure> {
    let mut url = client.runtime_url(&["connectivity-tests", &args.name])?;
    if args.show_token {
        url.set_query(Some("show_token=true"));
    }
    let report = client.runtime(Method::POST, url).await?;
    let out = match args.output {
        OutputFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        OutputFormat::Table => render(&report),
    };
    if report["ok"] == Value::Bool(true) {
        Ok(out)
    } else {
        super::emit(&out)?;
        Err(Failure::new(
            super::client::Exit::Provider,
            "the connectivity test failed: no token was issued",
        ))
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.chars().filter(|c| !c.is_control()).collect(),
        other => other.to_string(),
    }
}

fn render(r: &Value) -> String {
    let mut out = String::new();
    let ok = r["ok"] == Value::Bool(true);
    let _ = writeln!(out, "Credential:   {}", text(&r["credential"]));
    let _ = writeln!(
        out,
        "Result:       {}",
        if ok { "token issued" } else { "FAILED" }
    );
    let _ = writeln!(out, "HTTP status:  {}", text(&r["status"]));
    let _ = writeln!(out, "Latency:      {} ms", text(&r["latency_ms"]));
    if ok {
        let _ = writeln!(out, "Token type:   {}", text(&r["token_type"]));
        let lifetime = r["expires_in"].as_u64().map_or_else(
            || "not stated (default lifetime applies)".into(),
            |s| format!("{s} s"),
        );
        let _ = writeln!(out, "Lifetime:     {lifetime}");
        let _ = writeln!(out, "Scope:        {}", text(&r["scope"]));
        match &r["jwt"] {
            Value::Object(c) => {
                let _ = writeln!(out, "JWT iss:      {}", text(&c["iss"]));
                let _ = writeln!(out, "JWT aud:      {}", text(&c["aud"]));
                let _ = writeln!(out, "JWT scope:    {}", text(&c["scope"]));
                let _ = writeln!(
                    out,
                    "JWT exp:      {} ({})",
                    text(&c["exp"]),
                    text(&c["exp_at"])
                );
            }
            _ => {
                let _ = writeln!(out, "JWT:          no (opaque token)");
            }
        }
        if let Some(t) = r["access_token"].as_str() {
            let _ = writeln!(out, "Access token: {t}");
        }
    } else {
        let _ = writeln!(out, "Error:        {}", text(&r["error"]));
        let _ = writeln!(out, "Description:  {}", text(&r["error_description"]));
    }
    out
}
