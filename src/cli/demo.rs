//! `churnwatch demo`: the generator streamed through the engine at a watchable pace, with
//! each warning printed as a readable, coloured line, and the HTTP server of `run`
//! (metrics, queries, tutor pages with their live alerts) over the live state. No broker,
//! no setup.

use std::io::{self, IsTerminal, Write};
use std::thread;
use std::time::{Duration, Instant};

use crate::cli::run::{observers, spawn_edge};
use crate::clock::wall_clock;
use crate::config::Config;
use crate::decode::JsonDecoder;
use crate::engine::{Engine, Figures, Severity, TimeMode, Warning};
use crate::generate::{GenerateOptions, Workload};
use crate::health::Health;
use crate::kafka::Shutdown;
use crate::model::GroupId;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value_t = 2_000)]
    pub members: u32,
    #[arg(long, default_value_t = 120)]
    pub days: u32,
    /// Events per second of real time; 0 for as fast as possible.
    #[arg(long, default_value_t = 5_000)]
    pub rate: u64,
    /// Print every warning, not only those a tutor would be alerted to (`notify: true`,
    /// severity WARNING or CRITICAL).
    #[arg(long)]
    pub all: bool,
    /// Stop after this many warnings (0 = no limit).
    #[arg(long, default_value_t = 0)]
    pub max_warnings: u64,
    /// Colour: auto (when stdout is a terminal), always or never.
    #[arg(long, default_value = "auto")]
    pub color: String,
    /// Keep serving HTTP over the final state after the stream ends, until Ctrl-C.
    #[arg(long)]
    pub linger: bool,
    /// Leave out the notifier (tutor alerts pushed to a local receiver).
    #[arg(long)]
    pub no_notify: bool,
}

/// Events between two looks at the clock, the query inbox and the metrics.
const CHECK_EVERY: u64 = 1_000;

struct Palette {
    on: bool,
}

impl Palette {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

fn render(w: &Warning, p: &Palette) -> String {
    let severity = match w.severity {
        Severity::Critical => p.paint("1;31", "CRITICAL"),
        Severity::Warning => p.paint("33", "WARNING "),
        Severity::Notice => p.paint("36", "NOTICE  "),
    };
    let when = w.event_time.to_rfc3339();
    let when = when.get(..16).unwrap_or(&when).replace('T', " ");
    let subject = match (&w.member_id, &w.group_id, &w.tutor_id) {
        (Some(m), g, t) => format!(
            "member {m} ({} / tutor {})",
            g.as_ref().map_or("no group", |g| g.as_str()),
            t.as_ref().map_or("-", |t| t.as_str())
        ),
        (None, Some(g), t) => format!(
            "group {g} (tutor {})",
            t.as_ref().map_or("-", |t| t.as_str())
        ),
        _ => String::new(),
    };
    let change = match (w.from, w.to) {
        (Some(f), Some(t)) => format!("{} → {}", f.name(), t.name()),
        (None, Some(t)) => format!("in {}", t.name()),
        _ => String::new(),
    };
    let figures = match &w.figures {
        Figures::Member(f) => format!(
            "R={} M30={} F90={}",
            f.recency_days.map_or("-".to_owned(), |d| format!("{d}d")),
            f.m30,
            f.f90
        ),
        Figures::Group(f) => format!(
            "active {}/{} = {}.{:02}% vs {}.{:02}%, {} per active",
            f.active,
            f.members,
            f.activity_bp / 100,
            f.activity_bp % 100,
            f.benchmark_bp / 100,
            f.benchmark_bp % 100,
            f.output_per_active
        ),
    };
    let muted = if w.notify {
        String::new()
    } else {
        p.paint("2", " (capped: CRM only)")
    };
    format!(
        "{when}  {severity}  {:<25} {subject}  {change}  {figures}{muted}\n                    {} {}",
        p.paint("1", w.kind.name()),
        p.paint("2", "→"),
        w.action
    )
}

pub fn run(config: &Config, args: &DemoArgs) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let palette = Palette {
        on: match args.color.as_str() {
            "always" => true,
            "never" => false,
            _ => stdout.is_terminal(),
        },
    };
    let options = GenerateOptions {
        seed: args.seed,
        members: args.members,
        days: args.days,
        ..GenerateOptions::default()
    };
    let decoder = JsonDecoder::new(config.input.max_message_bytes);
    let mut engine = Engine::new(&config.engine(), TimeMode::Replay);
    let health = Health::default();
    // Nothing to restore: the state is whatever the stream has built so far.
    health.set_ready(true);
    let shutdown = Shutdown::default();
    let (server, edges) = observers(config, health)?;
    let address = server.as_ref().map(|s| s.local_addr()).transpose()?;
    spawn_edge(shutdown.clone(), server)?;
    let counters = edges.metrics.topic("demo");
    let observe_every = Duration::from_millis(
        u64::try_from(config.http.metrics_interval.as_millis()).unwrap_or(5_000),
    );
    let mut last_observed = Instant::now();
    let mut out = Vec::new();
    let mut shown = 0u64;
    let started = Instant::now();
    let mut events = 0u64;
    let mut lock = stdout.lock();
    writeln!(
        lock,
        "churnwatch demo: {} members over {} days (seed {}), {} events/s; Ctrl-C to stop\n",
        args.members,
        args.days,
        args.seed,
        if args.rate == 0 {
            "max".to_owned()
        } else {
            args.rate.to_string()
        }
    )?;
    if let Some(address) = address {
        writeln!(
            lock,
            "HTTP on http://{address}: /metrics, /v1/members/{{id}}, /v1/groups/{{id}}, \
             /v1/tutors/{{id}}/at-risk, tutor pages /tutors/{{id}} (tutors t001, t002, …)\n"
        )?;
    }
    let page_url = address.map_or("http://127.0.0.1:9180/tutors".to_owned(), |a| {
        format!("http://{a}/tutors")
    });
    let notifier = if args.no_notify {
        None
    } else {
        let n = super::demo_notify::DemoNotifier::start(&page_url)?;
        writeln!(
            lock,
            "Notifier: each tutor's alerts pushed to a local webhook receiver on {} \
             (Standard Webhooks signature checked; quiet hours 22:00-08:00 and the 09:00 \
             digest on the stream's own clock); lines starting ⤷\n",
            n.receiver
        )?;
        Some(n)
    };
    let mut last_event_time = None;
    for (_, line) in Workload::new(&options) {
        events += 1;
        // The generator's clock is the demo's wall clock: it runs through simulated days.
        match decoder.decode(line.as_bytes()) {
            Ok(event) => {
                last_event_time = Some(event.ts);
                match engine.process(0, &event, event.ts, &mut out) {
                    Ok(()) => counters.consumed(event.body.type_index()),
                    Err(r) => counters.rejected(r.reason),
                }
            }
            Err(r) => counters.rejected(r.reason),
        }
        for w in out.drain(..) {
            edges.metrics.warning(&w);
            if let Some(n) = &notifier {
                n.offer(&w);
            }
            // No broker, no transaction: an alert is live as it is emitted.
            if let Some(feed) = &edges.live {
                feed.publish_warning(&w);
            }
            let tutor_alert = w.notify && w.severity >= Severity::Warning;
            if !(args.all || tutor_alert) {
                continue;
            }
            shown += 1;
            writeln!(lock, "{}", render(&w, &palette))?;
        }
        if let Some(n) = &notifier {
            for line in n.reports() {
                writeln!(lock, "{line}")?;
            }
        }
        if args.max_warnings > 0 && shown >= args.max_warnings || shutdown.requested() {
            break;
        }
        if events % CHECK_EVERY == 0 {
            if let Some(inbox) = &edges.queries {
                inbox.serve(Some(&engine), 64);
            }
            if last_observed.elapsed() >= observe_every {
                last_observed = Instant::now();
                edges.metrics.observe_engine(&engine, wall_clock());
            }
        }
        if args.rate > 0 && events % CHECK_EVERY == 0 {
            let due = Duration::from_secs_f64(events as f64 / args.rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                lock.flush()?;
                thread::sleep(wait);
            }
        }
    }
    if let Some(n) = notifier {
        for line in n.finish(Duration::from_secs(30)) {
            writeln!(lock, "{line}")?;
        }
    }
    let stats = engine.stats();
    writeln!(
        lock,
        "\n{} events, {} warnings shown ({} in all, {} capped), event time reached {}",
        events,
        shown,
        stats.total_warnings(),
        stats.capped,
        last_event_time.map_or("-".to_owned(), |t| t.to_rfc3339())
    )?;
    edges.metrics.observe_engine(&engine, wall_clock());
    if let (true, Some(address), false) = (args.linger, address, shutdown.requested()) {
        // The generator's first group always exists; its tutor may be a successor.
        let tutor = engine
            .group(&GroupId::new("g0001"))
            .and_then(|g| g.tutor)
            .and_then(|t| engine.tutor_id(t))
            .map_or("t001".to_owned(), |t| t.to_string());
        writeln!(
            lock,
            "serving the final state over HTTP, e.g. http://{address}/tutors/{tutor}; \
             Ctrl-C to stop"
        )?;
        lock.flush()?;
        while !shutdown.requested() {
            if let Some(inbox) = &edges.queries {
                inbox.serve(Some(&engine), 64);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}
