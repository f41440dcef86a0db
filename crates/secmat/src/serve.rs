//! `secmat serve`: resolve the configuration, open the store, load (or create) the master key,
//! create the first user, and run the server until SIGTERM or SIGINT.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use secmat_core::SystemClock;
use secmat_store::{Store, UserRecord};

use crate::auth::{Role, hash_password};
use crate::config::{Config, LogFormat, ServeArgs};
use crate::loops::{self, LoopGauge};
use crate::state::{AppState, TokenSettings};
use crate::{front, keyfile, server, shutdown};
use secmat_core::CacheConfig;
use secmat_core::http::HttpConfig;

/// Runs the server.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_serve(args)?;
    init_logging(&config)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let store = secmat_store::open(&config.database_url)
        .await
        .with_context(|| format!("cannot open the store at {}", config.store_label()))?;
    let keyring = Arc::new(master_key(&config, store.as_ref()).await?);
    bootstrap_admin(store.as_ref()).await?;

    let state = Arc::new(
        AppState::new(
            store.clone(),
            keyring.clone(),
            Arc::new(SystemClock),
            token_settings(&config)?,
        )
        .await?,
    );
    let listener = server::bind(config.listen).with_context(|| {
        format!(
            "cannot listen on {} (is another process using it? choose another with --listen)",
            config.listen
        )
    })?;
    let addr = listener.local_addr()?;
    tracing::info!(
        address = %addr,
        data_dir = %config.data_dir.display(),
        store = %config.store_label(),
        master_key_id = %keyring.active_key_id(),
        threads = config.threads,
        "secmat listening on {addr}"
    );

    let (trigger, signal) = shutdown::channel();
    tokio::spawn(state.auth.clone().watch_users(signal.clone()));
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing requests in flight");
        trigger.trigger();
    });
    // One event loop per thread; loop 0 accepts and packs connections onto the loops (see
    // `loops`). The main thread only waits.
    let app = server::App::new(state.clone());
    let stop = signal.clone();
    let handler: loops::Handler = Arc::new(move |stream, peer| {
        Box::pin(front::serve_connection(
            stream,
            peer,
            app.clone(),
            stop.clone(),
        ))
    });
    let gauges: Vec<Arc<LoopGauge>> = (0..config.threads).map(|_| Arc::default()).collect();
    let mut peers = vec![loops::own(gauges[0].clone())];
    let mut threads = Vec::new();
    for (i, gauge) in gauges.iter().enumerate().skip(1) {
        let (peer, inbox) = loops::peer(gauge.clone());
        peers.push(peer);
        let (handler, counted) = (handler.clone(), gauge.clone());
        threads.push(event_loop(i, gauge.clone(), async move {
            loops::run_loop(inbox, handler, counted).await;
            Ok(())
        })?);
    }
    let listener = listener.into_std()?;
    threads.push(event_loop(0, gauges[0].clone(), async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loops::accept(listener, peers, handler, signal).await;
        Ok(())
    })?);
    let joined = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("an HTTP thread panicked")))
            })
            .collect::<anyhow::Result<Vec<()>>>()
    })
    .await?;
    joined?;
    tracing::info!("secmat stopped");
    Ok(())
}

/// Starts event loop `i` on its own thread: a single-threaded runtime whose park hooks feed
/// `gauge`, running `main` to its end.
fn event_loop(
    i: usize,
    gauge: Arc<LoopGauge>,
    main: impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<()>>> {
    let (parked, unparked) = (gauge.clone(), gauge);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(move || parked.parked())
        .on_thread_unpark(move || unparked.unparked())
        .build()?;
    rt.spawn(loops::timer_anchor());
    Ok(std::thread::Builder::new()
        .name(format!("secmat-http-{i}"))
        .spawn(move || rt.block_on(main))?)
}

fn token_settings(config: &Config) -> anyhow::Result<TokenSettings> {
    let extra_ca_pem = match &config.ca_file {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("cannot read the CA bundle {}", path.display()))?,
        ),
        None => None,
    };
    Ok(TokenSettings {
        http: HttpConfig {
            connect_timeout: config.token_connect_timeout,
            timeout: config.token_timeout,
            extra_ca_pem,
        },
        cache: CacheConfig {
            default_lifetime: config.token_default_lifetime,
            fetch_deadline: config.token_timeout,
            ..CacheConfig::default()
        },
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level).with_context(|| {
        format!(
            "invalid log filter '{}' (try 'info' or 'secmat=debug,info')",
            config.log_level
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let result = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}

/// Loads the master key, or creates it on first start. Refuses to create a new key for a store
/// that already holds sealed secrets: they could never be opened again.
async fn master_key(config: &Config, store: &dyn Store) -> anyhow::Result<secmat_core::Keyring> {
    if let Some(ring) = keyfile::load(&config.master_key_file)? {
        return Ok(ring);
    }
    if config.master_key_configured {
        bail!(
            "master key file {} does not exist (SECMAT_MASTER_KEY_FILE / master_key_file)",
            config.master_key_file.display()
        );
    }
    let existing = store.count_credentials(None).await?;
    if existing > 0 {
        bail!(
            "the store holds {existing} credentials but the master key file {} is missing; restore it, or point SECMAT_MASTER_KEY_FILE at it",
            config.master_key_file.display()
        );
    }
    let ring = keyfile::create(&config.master_key_file)?;
    tracing::info!(file = %config.master_key_file.display(), key_id = %ring.active_key_id(), "generated a new master key (mode 0600); back it up separately from the database");
    Ok(ring)
}

/// On first start (no users at all), creates `admin` with every role. The password comes from
/// `SECMAT_ADMIN_PASSWORD`, or is generated and printed once to standard error, outside the log.
async fn bootstrap_admin(store: &dyn Store) -> anyhow::Result<()> {
    if !store.list_users().await?.is_empty() {
        return Ok(());
    }
    let (password, generated) = match std::env::var("SECMAT_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (zeroize::Zeroizing::new(p), false),
        _ => (crate::users::generate_password()?, true),
    };
    let user = UserRecord {
        name: "admin".into(),
        password_hash: hash_password(&password)?,
        roles: Role::ALL.iter().map(|r| r.as_str().to_owned()).collect(),
    };
    store.put_user(&user).await?;
    if generated {
        eprintln!(
            "\nCreated user 'admin' with every role. Its password, shown only this once:\n\n    {}\n\nChange it with: secmat user passwd admin\n",
            password.as_str()
        );
    } else {
        tracing::info!(
            "created user 'admin' with every role (password from SECMAT_ADMIN_PASSWORD)"
        );
    }
    Ok(())
}
