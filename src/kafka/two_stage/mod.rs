//! `churnwatch run` with `kafka.topology = "two_stage"`: the scale-out of README "Scaling
//! out". Stage 1, keyed by member: a task per input partition, its own engine, all member
//! warnings, and its members' contributions published to the contributions topic keyed by
//! group. Stage 2, keyed by group: a task per contributions partition, its groups'
//! figures and all group warnings, released in the order `replay --partitions N` releases
//! them. Tasks run on `kafka.threads` worker threads per instance ([`worker`]), each a
//! member of the consumer group; the group's own assignment spreads them over every
//! thread of every instance, and Kafka transactions make both stages exactly once.

mod directory;
mod layout;
mod queries;
mod tasks;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tracing::{error, info};

use super::{Observers, RunStats, Shutdown};
use crate::config::{Config, DeliveryGuarantee, GroupProtocol, KafkaTimeMode};
use crate::engine::TimeMode;
use worker::Shared;

/// How often the main thread looks at the workers and answers queries.
const WATCH_EVERY: Duration = Duration::from_millis(50);

/// Runs the two stages until `shutdown`; the totals of every worker.
pub fn run(config: &Config, shutdown: Shutdown, observers: Observers) -> anyhow::Result<RunStats> {
    let k = &config.kafka;
    if k.delivery == DeliveryGuarantee::AtLeastOnce {
        bail!(
            "kafka.topology = \"two_stage\" is exactly once only: the contributions between \
             the stages are committed with the input offsets in Kafka transactions; set \
             kafka.delivery to \"exactly_once\" or \"auto\""
        );
    }
    if k.group_protocol == GroupProtocol::Classic && k.inputs.len() > 1 {
        bail!(
            "kafka.group_protocol = \"classic\" takes one input topic under two stages: its \
             cooperative-sticky assignor may give partition p of two input topics to two \
             workers, and a member's events must meet in one task; use \"consumer\" \
             (KIP-848, Kafka 4.0 or later), whose range assignor keeps them together"
        );
    }
    let layout = layout::prepare(k)?;
    let threads = if k.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        k.threads
    };
    info!(
        member_tasks = layout.sources,
        group_tasks = layout.group_partitions,
        contributions = %layout.contributions,
        threads,
        group_protocol = ?k.group_protocol,
        "two stages"
    );
    let shared = Arc::new(Shared {
        config: config.clone(),
        settings: config.engine(),
        mode: match k.time_mode {
            KafkaTimeMode::Live => TimeMode::Live,
            KafkaTimeMode::EventTime => TimeMode::Replay,
        },
        layout,
        metrics: observers.metrics.clone(),
        caught_up: (0..threads).map(|_| AtomicBool::new(false)).collect(),
        live: observers.live.clone(),
        holders: worker::Holders::default(),
    });
    let handles = (0..threads)
        .map(|t| {
            let shared = shared.clone();
            let shutdown = shutdown.clone();
            std::thread::Builder::new()
                .name(format!("churnwatch-worker-{t}"))
                .spawn(move || {
                    let result = worker::run(shared, t, shutdown.clone());
                    // One worker down takes the instance down: its tasks are rebuilt
                    // elsewhere from what was committed, or here after a restart.
                    shutdown.request();
                    result
                })
                .context("starting a worker thread")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut directory = match (&observers.queries, &observers.http_url) {
        (Some(_), Some(url)) => Some(directory::Directory::open(
            k,
            &shared.layout.directory,
            crate::kafka::clients::instance_name(k),
            url.clone(),
        )?),
        (Some(_), None) => {
            info!(
                "http is bound to a wildcard address and http.advertised_url is not set: \
                 other instances do not forward queries here"
            );
            None
        }
        (None, _) => None,
    };
    while !handles.iter().all(|h| h.is_finished()) {
        let ready = shared.caught_up.iter().any(|c| c.load(Ordering::Relaxed));
        observers.health.set_ready(ready);
        if let Some(directory) = &mut directory {
            let (members, groups) = shared.holders.tasks();
            directory.claim(members, groups);
            directory.refresh();
        }
        if let Some(inbox) = &observers.queries {
            inbox.serve_with(64, |query| {
                queries::answer(&shared, directory.as_ref(), query)
            });
        }
        std::thread::sleep(WATCH_EVERY);
    }
    if let Some(directory) = &mut directory {
        // Claims nothing any more: asked meanwhile, the others answer 503, not a stale
        // forward.
        directory.claim(Vec::new(), Vec::new());
        directory.flush();
    }
    observers.health.set_ready(false);
    let mut total = RunStats::default();
    let mut failure = None;
    for h in handles {
        match h.join() {
            Ok(Ok(stats)) => total.absorb(stats),
            Ok(Err(e)) => {
                error!(error = %format!("{e:#}"), "a worker stopped");
                failure.get_or_insert(e);
            }
            Err(_) => {
                failure.get_or_insert(anyhow::anyhow!("a worker thread panicked"));
            }
        }
    }
    info!(stats = ?total, "stopped");
    match failure {
        Some(e) => Err(e),
        None => Ok(total),
    }
}
