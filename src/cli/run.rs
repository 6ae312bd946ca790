//! `churnwatch run`: the Kafka pipeline as a process. Logging, signals and the exit
//! summary live here; the pipeline itself is `crate::kafka`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::thread;

use tracing::{error, info};
use tracing_subscriber::EnvFilter;

use crate::alerts_feed::AlertFeed;
use crate::config::Config;
use crate::health::Health;
use crate::http;
use crate::kafka::{self, Observers, RunStats, Shutdown};
use crate::metrics::Metrics;
use crate::query;

/// Queries waiting for the engine at most; more are refused with 503.
const QUERY_BACKLOG: usize = 256;

/// Log output: human-readable lines, or one JSON object per line for log shippers.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the process-wide log subscriber (stderr). `RUST_LOG` selects levels; the
/// default is `info`.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a person at a terminal, never into files or log shippers.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // A second initialisation (tests) keeps the first subscriber; not an error.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs the pipeline until SIGINT or SIGTERM, then drains, commits and returns.
pub fn run(config: &Config) -> anyhow::Result<RunStats> {
    info!(config = %config.redacted_toml(), "starting churnwatch run");
    let shutdown = Shutdown::default();
    let (server, observers) = observers(config, Health::default())?;
    spawn_edge(shutdown.clone(), server)?;
    kafka::run(config, shutdown, observers)
}

/// The metrics, the health flag and, when HTTP is on, the bound server with the query
/// inbox that the engine's owner serves and the live alert feed it streams from.
pub fn observers(
    config: &Config,
    health: Health,
) -> anyhow::Result<(Option<http::Server>, Observers)> {
    let metrics = Arc::new(Metrics::new());
    if !config.http.enabled {
        let observers = Observers {
            metrics,
            health,
            queries: None,
            live: None,
            http_url: None,
        };
        return Ok((None, observers));
    }
    let (client, inbox) = query::channel(QUERY_BACKLOG);
    let feed = Arc::new(AlertFeed::new());
    let server = http::bind(
        &config.http,
        metrics.clone(),
        health.clone(),
        client,
        feed.clone(),
    )?;
    let address = server.local_addr()?;
    info!(
        address = %address,
        "http: serving /metrics, /healthz, /readyz, /v1 and /tutors"
    );
    let http_url = match &config.http.advertised_url {
        Some(url) => Some(url.trim_end_matches('/').to_owned()),
        None if address.ip().is_unspecified() => None,
        None => Some(format!("http://{address}")),
    };
    let observers = Observers {
        metrics,
        health,
        queries: Some(inbox),
        live: Some(feed),
        http_url,
    };
    Ok((Some(server), observers))
}

/// A small runtime of its own for the edges that wait on the outside world: it counts
/// SIGINT and SIGTERM into `shutdown` and serves HTTP, so the pipeline thread never
/// blocks on either.
pub fn spawn_edge(shutdown: Shutdown, server: Option<http::Server>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    thread::Builder::new().name("edge".into()).spawn(move || {
        runtime.block_on(async move {
            if let Some(server) = server {
                tokio::spawn(async move {
                    if let Err(e) = server.serve().await {
                        error!(error = %e, "the HTTP server stopped");
                    }
                });
            }
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        error!(error = %e, "cannot watch SIGTERM");
                        return;
                    }
                };
            loop {
                tokio::select! {
                    r = tokio::signal::ctrl_c() => if r.is_err() { return },
                    _ = term.recv() => {}
                }
                info!("signal received: stopping (a second signal stops at once)");
                shutdown.request();
            }
        });
    })?;
    Ok(())
}
