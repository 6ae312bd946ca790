//! `churnwatch run`: the Kafka pipeline as a process. Logging, signals and the exit
//! summary live here; the pipeline itself is `crate::kafka`.

use std::io::IsTerminal;
use std::thread;

use tracing::{error, info};
use tracing_subscriber::EnvFilter;

use crate::config::Config;
use crate::kafka::{self, RunStats, Shutdown};

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
    spawn_signal_watcher(shutdown.clone())?;
    kafka::run(config, shutdown)
}

/// Counts SIGINT and SIGTERM into `shutdown` from a small runtime of its own, so the
/// pipeline thread never blocks on signal handling.
fn spawn_signal_watcher(shutdown: Shutdown) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                let mut term =
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
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
