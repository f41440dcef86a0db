//! Configuration, built in one place: command-line flags win over `SECMAT_*` environment
//! variables (clap reads both), which win over the TOML file (`--config`), which wins over the
//! defaults. The file rejects unknown keys, so a typo is an error, not a silently ignored setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::Deserialize;

/// Where the store is: shared by `serve` and the commands that open the store directly.
#[derive(Args, Debug, Clone, Default)]
pub struct StoreArgs {
    /// TOML configuration file (keys: the long names of `serve`'s flags with `_` for `-`, e.g.
    /// listen, data_dir, database_url, token_timeout).
    #[arg(long, env = "SECMAT_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Directory for the embedded database and the generated master key [default: ./secmat-data].
    #[arg(long, env = "SECMAT_DATA_DIR", value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Use this database instead of the embedded one: postgres://USER:PASSWORD@HOST/DB
    /// (or sqlite://PATH) [default: sqlite://DATA_DIR/secmat.db].
    #[arg(
        long,
        env = "SECMAT_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,
}

/// Flags of `secmat serve`.
#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "SECMAT_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Log format [default: text].
    #[arg(long, env = "SECMAT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `secmat=debug,info` [default: info].
    #[arg(long, env = "SECMAT_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Master key file (base64 keys, one per line, the first one active)
    /// [default: DATA_DIR/master.key, generated on first start].
    #[arg(long, env = "SECMAT_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Threads serving HTTP, one event loop each; connections fill the first loop that keeps up
    /// [default: one per core].
    #[arg(long, env = "SECMAT_THREADS", value_name = "N")]
    pub threads: Option<usize>,
    /// Seconds a token request may take in all, retries included [default: 60].
    #[arg(long, env = "SECMAT_TOKEN_TIMEOUT", value_name = "SECS")]
    pub token_timeout: Option<u64>,
    /// Seconds to connect to a token endpoint [default: 10].
    #[arg(long, env = "SECMAT_TOKEN_CONNECT_TIMEOUT", value_name = "SECS")]
    pub token_connect_timeout: Option<u64>,
    /// Lifetime assumed for tokens whose response has no expires_in [default: 300].
    #[arg(long, env = "SECMAT_TOKEN_DEFAULT_LIFETIME", value_name = "SECS")]
    pub token_default_lifetime: Option<u64>,
    /// Extra CA certificates (PEM) trusted for token endpoints, e.g. a private PKI's root.
    #[arg(long, env = "SECMAT_CA_FILE", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

/// How log lines look.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The TOML file's shape.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    log_format: Option<LogFormat>,
    log_level: Option<String>,
    master_key_file: Option<PathBuf>,
    threads: Option<usize>,
    token_timeout: Option<u64>,
    token_connect_timeout: Option<u64>,
    token_default_lifetime: Option<u64>,
    ca_file: Option<PathBuf>,
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database URL (may contain a password: never log it whole; see [`Config::store_label`]).
    pub database_url: String,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// Master key file, and whether the user named it (then it must exist).
    pub master_key_file: PathBuf,
    /// Whether `master_key_file` was configured rather than defaulted.
    pub master_key_configured: bool,
    /// HTTP threads.
    pub threads: usize,
    /// Total time for a token request, retries included.
    pub token_timeout: Duration,
    /// Connect timeout for token endpoints.
    pub token_connect_timeout: Duration,
    /// Lifetime assumed when `expires_in` is missing.
    pub token_default_lifetime: Duration,
    /// Extra CA bundle for token endpoints.
    pub ca_file: Option<PathBuf>,
}

impl Config {
    /// Resolves `serve` flags (already merged with the environment by clap) over the file.
    pub fn from_serve(args: ServeArgs) -> anyhow::Result<Self> {
        let file = read_file(args.store.config.as_deref())?;
        let data_dir = args
            .store
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("secmat-data"));
        let database_url = args
            .store
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("secmat.db").display()));
        let configured_key = args.master_key_file.or(file.master_key_file);
        Ok(Self {
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            master_key_configured: configured_key.is_some(),
            master_key_file: configured_key.unwrap_or_else(|| data_dir.join("master.key")),
            data_dir,
            database_url,
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            log_level: args
                .log_level
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
            threads: match args.threads.or(file.threads) {
                Some(0) => anyhow::bail!("threads must be at least 1"),
                Some(n) => n,
                None => std::thread::available_parallelism().map_or(1, usize::from),
            },
            token_timeout: seconds(
                "token_timeout",
                args.token_timeout.or(file.token_timeout),
                60,
            )?,
            token_connect_timeout: seconds(
                "token_connect_timeout",
                args.token_connect_timeout.or(file.token_connect_timeout),
                10,
            )?,
            token_default_lifetime: seconds(
                "token_default_lifetime",
                args.token_default_lifetime.or(file.token_default_lifetime),
                300,
            )?,
            ca_file: args.ca_file.or(file.ca_file),
        })
    }

    /// Resolves only the store location (for commands that open the store directly).
    pub fn from_store(args: StoreArgs) -> anyhow::Result<Self> {
        Self::from_serve(ServeArgs {
            store: args,
            ..ServeArgs::default()
        })
    }

    /// The store for messages: backend and location, without credentials.
    pub fn store_label(&self) -> String {
        match self.database_url.split_once("://") {
            Some((scheme, rest)) => {
                format!("{scheme}://{}", rest.rsplit('@').next().unwrap_or(rest))
            }
            None => "(unrecognised database URL)".into(),
        }
    }
}

fn seconds(name: &str, v: Option<u64>, default: u64) -> anyhow::Result<Duration> {
    match v.unwrap_or(default) {
        0 => anyhow::bail!("{name} must be at least 1 second"),
        n => Ok(Duration::from_secs(n)),
    }
}

fn read_file(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secmat.toml");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn defaults_apply_without_flags_or_file() {
        let c = Config::from_serve(ServeArgs::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://secmat-data/secmat.db");
        assert_eq!(c.master_key_file, PathBuf::from("secmat-data/master.key"));
        assert!(!c.master_key_configured);
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let (_d, p) = file(
            "listen = \"0.0.0.0:9000\"\ndata_dir = \"/var/lib/secmat\"\nlog_format = \"json\"\n",
        );
        let mut args = ServeArgs {
            listen: Some("127.0.0.1:1".parse().unwrap()),
            ..Default::default()
        };
        args.store.config = Some(p);
        let c = Config::from_serve(args).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:1");
        assert_eq!(c.database_url, "sqlite:///var/lib/secmat/secmat.db");
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn unknown_keys_in_the_file_are_rejected_by_name() {
        let (_d, p) = file("listen_addr = \"0.0.0.0:9000\"\n");
        let err = format!(
            "{:#}",
            Config::from_store(StoreArgs {
                config: Some(p),
                ..Default::default()
            })
            .unwrap_err()
        );
        assert!(err.contains("listen_addr"), "{err}");
    }

    #[test]
    fn store_label_hides_the_password() {
        let c = Config::from_store(StoreArgs {
            database_url: Some("postgres://u:hunter2@db:5432/x".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.store_label(), "postgres://db:5432/x");
    }
}
