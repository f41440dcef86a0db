//! The HTTP side of the command-line client: where the server is, who the user is, HTTP Basic,
//! the CSRF token dance of SAP's API (fetch, send, refetch once on `403 Required`), and turning
//! every failure into an exit code and a message the user can act on ([`Failure`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;
use zeroize::Zeroizing;

use crate::csrf::HEADER as CSRF_HEADER;

/// Where the server is when neither `--server` nor `SECMAT_SERVER` says.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
/// The environment variable the password comes from (it is never a command-line argument).
pub const PASSWORD_ENV: &str = "SECMAT_PASSWORD";

/// How to reach and log in to the server. Global: accepted before or after the subcommand.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Connection")]
pub struct ClientArgs {
    /// Base URL of the secmat server (the API is below /api/v1).
    #[arg(long, global = true, env = "SECMAT_SERVER", default_value = DEFAULT_SERVER, value_name = "URL")]
    pub server: String,
    /// User to log in as (HTTP Basic). Needs the role CredentialsEdit to create, edit or delete,
    /// and MonitoringDataRead to list or show.
    #[arg(
        long,
        global = true,
        env = "SECMAT_USER",
        default_value = "admin",
        value_name = "USER"
    )]
    pub user: String,
    /// Read the user's password from this file (its first line). Without it, the password is
    /// taken from the environment variable SECMAT_PASSWORD. It is never a command-line argument
    /// (those show up in `ps` and in the shell's history).
    #[arg(long, global = true, env = "SECMAT_PASSWORD_FILE", value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// The exit codes of `secmat credential` (documented in its `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Anything else: server errors, unreadable files, unexpected answers.
    Other = 1,
    /// Wrong or missing flags (clap uses 2 as well).
    Usage = 2,
    /// `404`: no credential with that name.
    NotFound = 3,
    /// `401`/`403`: wrong user or password, or a missing role.
    Auth = 4,
    /// `409`: the name is taken, or the credential changed meanwhile.
    Conflict = 5,
    /// `400`/`413`/`415`: the server rejected the input; each field error is reported.
    Invalid = 6,
    /// The server could not be reached at all.
    Unreachable = 7,
    /// The authorization server refused, failed, or did not answer (502, 503, 504 of the
    /// runtime API).
    Provider = 8,
}

/// A command that failed: its exit code and the lines to print (each gets an `error: ` prefix).
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// One message per line.
    pub lines: Vec<String>,
}

impl Failure {
    /// A failure with one message.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            lines: vec![message.into()],
        }
    }

    /// Prints the messages on standard error and returns the exit code.
    pub fn report(&self) -> ExitCode {
        for line in &self.lines {
            eprintln!("error: {line}");
        }
        ExitCode::from(self.exit as u8)
    }
}

/// The API's error envelope, read leniently.
struct ServerError {
    message: String,
    details: Vec<(String, String)>,
}

impl ServerError {
    fn parse(status: StatusCode, body: &Value) -> Self {
        // The runtime API answers RFC 6749-style: {"error": "code", "error_description": "…"}.
        if let Some(code) = body["error"].as_str() {
            let message = match body["error_description"].as_str() {
                Some(d) if !d.is_empty() => format!("{d} ({code})"),
                _ => code.to_owned(),
            };
            return Self {
                message,
                details: Vec::new(),
            };
        }
        let error = &body["error"];
        let message = error["message"]["value"]
            .as_str()
            .or_else(|| error["message"].as_str())
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("the server answered {status}"));
        let details = error["innererror"]["errordetails"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|d| {
                        let message = d["message"].as_str()?;
                        Some((
                            d["target"].as_str().unwrap_or("").to_owned(),
                            message.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self { message, details }
    }
}

/// The command-line flag that sets an API field, for error messages (`TokenServiceUrl` →
/// `--token-url`, `CustomParameters[1].Key` → `--param #2`).
fn flag_for(field: &str) -> Option<String> {
    let flag = match field {
        "Name" => "NAME",
        "Description" => "--description",
        "TokenServiceUrl" => "--token-url",
        "ClientId" => "--client-id",
        "ClientSecret" => "--client-secret-file/--client-secret-stdin",
        "ClientAuthentication" => "--auth",
        "Scope" => "--scope",
        "ScopeContentType" => "--content-type",
        "Resource" => "--resource",
        "Audience" => "--audience",
        "GrantType" => "--grant-type",
        "CustomParameters" => "--param",
        other => {
            let index = other
                .strip_prefix("CustomParameters[")?
                .split(']')
                .next()?
                .parse::<usize>()
                .ok()?;
            return Some(format!("--param #{}", index + 1));
        }
    };
    Some(flag.to_owned())
}

/// A logged-in connection to one secmat server.
pub struct Client {
    http: reqwest::Client,
    /// `scheme://host[:port][/prefix]`, without a trailing slash.
    base: String,
    user: String,
    password: Zeroizing<String>,
    csrf: Option<String>,
}

impl Client {
    /// Checks the flags, reads the password and prepares the HTTP client (no request yet).
    pub fn new(args: &ClientArgs) -> Result<Self, Failure> {
        let base = parse_server(&args.server)?;
        let password = match &args.password_file {
            Some(path) => crate::users::read_secret(false, Some(path), "password")
                .map_err(|e| Failure::new(Exit::Auth, format!("{e:#}")))?
                .unwrap_or_default(),
            None => Zeroizing::new(std::env::var(PASSWORD_ENV).unwrap_or_default()),
        };
        if password.is_empty() {
            return Err(Failure::new(
                Exit::Auth,
                format!(
                    "no password for user '{}': set {PASSWORD_ENV} or pass --password-file FILE",
                    args.user
                ),
            ));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("secmat-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                Failure::new(Exit::Other, format!("cannot set up the HTTP client: {e}"))
            })?;
        Ok(Self {
            http,
            base,
            user: args.user.clone(),
            password,
            csrf: None,
        })
    }

    /// `{server}/api/v1/{path}`; `path` may carry a query.
    pub fn api_url(&self, path: &str) -> Result<Url, Failure> {
        Url::parse(&format!("{}/api/v1/{path}", self.base)).map_err(|e| {
            Failure::new(
                Exit::Other,
                format!("cannot build the URL for '{path}': {e}"),
            )
        })
    }

    /// The URL of the next page from a `__next` link. It is only followed as is when it points
    /// at the server we were told to use; otherwise (a proxy rewrote the host, or a hostile
    /// answer) only its query is kept, so the password never goes anywhere else.
    pub fn next_url(&self, current: &Url, next: &str) -> Result<Url, Failure> {
        let next = current.join(next).map_err(|e| {
            Failure::new(
                Exit::Other,
                format!("the server sent an invalid __next link: {e}"),
            )
        })?;
        let ours = self.api_url("")?;
        if next.origin() == ours.origin() {
            return Ok(next);
        }
        let mut rebased = current.clone();
        rebased.set_query(next.query());
        Ok(rebased)
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&[u8]>,
        csrf: Option<&str>,
    ) -> Result<reqwest::Response, Failure> {
        let mut req = self
            .http
            .request(method, url)
            .basic_auth(&self.user, Some(self.password.as_str()))
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(token) = csrf {
            req = req.header(CSRF_HEADER, token);
        }
        if let Some(bytes) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(bytes.to_vec());
        }
        req.send().await.map_err(|e| self.transport_failure(&e))
    }

    fn transport_failure(&self, e: &reqwest::Error) -> Failure {
        let mut cause: &dyn std::error::Error = e;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        if e.is_connect() || e.is_timeout() {
            let why = if e.is_timeout() {
                "timed out".to_owned()
            } else {
                cause.to_string()
            };
            return Failure::new(
                Exit::Unreachable,
                format!(
                    "cannot reach secmat at {}: is `secmat serve` running? set --server or SECMAT_SERVER ({why})",
                    self.base
                ),
            );
        }
        Failure::new(
            Exit::Other,
            format!("the request to {} failed: {cause}", self.base),
        )
    }

    /// Turns an unsuccessful answer into a failure with the server's own words.
    async fn failure(&self, res: reqwest::Response) -> Failure {
        let status = res.status();
        let location = res
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let err = ServerError::parse(status, &body);
        match status.as_u16() {
            401 => Failure::new(
                Exit::Auth,
                format!(
                    "the server did not accept user '{}': {} Check SECMAT_USER / SECMAT_PASSWORD (or --user / --password-file).",
                    self.user, err.message
                ),
            ),
            403 => Failure::new(Exit::Auth, format!("permission denied: {}", err.message)),
            404 => Failure::new(Exit::NotFound, err.message),
            502..=504 if body["error"].is_string() => Failure::new(Exit::Provider, err.message),
            409 => Failure::new(Exit::Conflict, err.message),
            400 | 413 | 415 => {
                let lines = if err.details.is_empty() {
                    vec![err.message]
                } else {
                    err.details
                        .into_iter()
                        .map(
                            |(field, message)| match (field.is_empty(), flag_for(&field)) {
                                (true, _) => message,
                                (false, Some(flag)) => format!("{field} ({flag}): {message}"),
                                (false, None) => format!("{field}: {message}"),
                            },
                        )
                        .collect()
                };
                Failure {
                    exit: Exit::Invalid,
                    lines,
                }
            }
            300..=399 => Failure::new(
                Exit::Other,
                format!(
                    "the server answered {status}{}; set --server to the address secmat really serves on",
                    location
                        .map(|l| format!(" and redirects to {l}"))
                        .unwrap_or_default()
                ),
            ),
            _ => Failure::new(
                Exit::Other,
                format!("the server answered {status}: {}", err.message),
            ),
        }
    }

    /// `{server}/runtime/v1/{segments…}`, each segment percent-encoded (names may hold `/`).
    pub fn runtime_url(&self, segments: &[&str]) -> Result<Url, Failure> {
        let mut url = Url::parse(&format!("{}/runtime/v1/", self.base))
            .map_err(|e| Failure::new(Exit::Other, format!("cannot build the URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| Failure::new(Exit::Other, "cannot build the URL"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// A runtime API call (no CSRF token: these endpoints are for machines) and its JSON body.
    pub async fn runtime(&self, method: Method, url: Url) -> Result<Value, Failure> {
        let res = self.send(method, url, None, None).await?;
        if !res.status().is_success() {
            return Err(self.failure(res).await);
        }
        res.json()
            .await
            .map_err(|_| Failure::new(Exit::Other, "the server did not answer with JSON"))
    }

    /// `GET url` and its JSON body.
    pub async fn get_json(&self, url: Url) -> Result<Value, Failure> {
        let res = self.send(Method::GET, url, None, None).await?;
        if !res.status().is_success() {
            return Err(self.failure(res).await);
        }
        res.json().await.map_err(|_| {
            Failure::new(
                Exit::Other,
                format!(
                    "the server at {} did not answer with JSON: is --server pointing at secmat?",
                    self.base
                ),
            )
        })
    }

    /// A fresh CSRF token, fetched at the service root (`None` if the server hands out none).
    async fn fetch_csrf(&self) -> Result<Option<String>, Failure> {
        let url = self.api_url("")?;
        let res = self
            .http
            .get(url)
            .basic_auth(&self.user, Some(self.password.as_str()))
            .header(CSRF_HEADER, "Fetch")
            .send()
            .await
            .map_err(|e| self.transport_failure(&e))?;
        if !res.status().is_success() {
            return Err(self.failure(res).await);
        }
        Ok(res
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }

    /// A modifying request (`POST`, `PUT`, `DELETE`) to `{server}/api/v1/{path}` with a CSRF
    /// token; when the server answers `403` with `X-CSRF-Token: Required`, fetches a new token
    /// and tries once more.
    pub async fn write(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(), Failure> {
        let url = self.api_url(path)?;
        let mut retried = false;
        loop {
            if self.csrf.is_none() {
                self.csrf = self.fetch_csrf().await?;
            }
            let res = self
                .send(method.clone(), url.clone(), body, self.csrf.as_deref())
                .await?;
            let csrf_required = res.status() == StatusCode::FORBIDDEN
                && res
                    .headers()
                    .get(CSRF_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.eq_ignore_ascii_case("required"));
            if csrf_required && !retried {
                retried = true;
                self.csrf = None;
                continue;
            }
            if res.status().is_success() {
                return Ok(());
            }
            return Err(self.failure(res).await);
        }
    }
}

/// Checks `--server`: an `http(s)://` URL with a host and nothing after its path.
fn parse_server(raw: &str) -> Result<String, Failure> {
    let usage = |why: &str| {
        Failure::new(
            Exit::Usage,
            format!("--server '{raw}' {why} (e.g. {DEFAULT_SERVER})"),
        )
    };
    let url = Url::parse(raw.trim()).map_err(|e| usage(&format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(usage("must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(usage("must name a host"));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(usage(
            "must be a plain base URL, without user, query or fragment",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_checked_and_normalised() {
        assert_eq!(
            parse_server("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            parse_server("https://h.example/secmat/").unwrap(),
            "https://h.example/secmat"
        );
        for bad in [
            "127.0.0.1:8080",
            "ftp://h",
            "http://u:p@h",
            "http://h/?x=1",
            "nonsense",
        ] {
            assert_eq!(parse_server(bad).unwrap_err().exit, Exit::Usage, "{bad}");
        }
    }

    #[test]
    fn field_errors_name_their_flags() {
        assert_eq!(flag_for("TokenServiceUrl").as_deref(), Some("--token-url"));
        assert_eq!(
            flag_for("CustomParameters[0].Key").as_deref(),
            Some("--param #1")
        );
        assert_eq!(
            flag_for("CustomParameters[11]").as_deref(),
            Some("--param #12")
        );
        assert_eq!(flag_for("Unknown"), None);
    }

    #[test]
    fn server_errors_are_read_leniently() {
        let body = serde_json::json!({"error": {"code": "Bad Request", "message": {"lang": "en", "value": "a. b."},
            "innererror": {"errordetails": [{"target": "Name", "message": "a."}, {"target": "ClientId", "message": "b."}]}}});
        let e = ServerError::parse(StatusCode::BAD_REQUEST, &body);
        assert_eq!(e.message, "a. b.");
        assert_eq!(
            e.details,
            vec![
                ("Name".to_owned(), "a.".to_owned()),
                ("ClientId".to_owned(), "b.".to_owned())
            ]
        );
        let e = ServerError::parse(StatusCode::BAD_GATEWAY, &Value::Null);
        assert_eq!(e.message, "the server answered 502 Bad Gateway");
    }
}
