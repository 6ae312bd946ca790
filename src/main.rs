//! The `churnwatch` command. Thin: parses arguments and hands over to `churnwatch::cli`.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};

use churnwatch::cli::{self, demo, fit, notify, replay, state_out, summary};
use churnwatch::config::Config;
use churnwatch::generate::{self, GenerateOptions};
use churnwatch::model::EventTime;

#[derive(Parser)]
#[command(
    name = "churnwatch",
    version,
    about = "Real-time member-retention engine: RFM segments, group benchmarks, churn warnings"
)]
struct Cli {
    /// TOML configuration file; every key defaults to SPEC.md (see churnwatch.example.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Override one configuration key: `--set kafka.brokers=host:9092` (repeatable; after
    /// the file and the CHURNWATCH_… environment variables).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    sets: Vec<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay a JSON-lines event file through the engine; warnings as JSON lines on stdout.
    Replay {
        /// Events, one JSON object per line ("-" for stdin).
        file: PathBuf,
        /// After the last event, move the watermark to this instant (RFC 3339 or epoch ms).
        #[arg(long, value_parser = cli::parse_instant)]
        until: Option<EventTime>,
        /// Write the final state of every member and group here as JSON lines.
        #[arg(long)]
        state_out: Option<PathBuf>,
        /// Write refused lines here (JSON lines with reason, detail and the raw line).
        #[arg(long)]
        dead_letter: Option<PathBuf>,
        /// Write warnings here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// The wall clock for the future-timestamp check (default: now).
        #[arg(long, value_parser = cli::parse_instant)]
        now: Option<EventTime>,
        /// Run the two stages of a scaled-out deployment: each member's events on the
        /// partition `input.partitioner` gives her id among N, one member stage per
        /// partition, one group stage. The warnings any deployment on N input partitions
        /// must give; with 1, the same bytes as without the flag.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
        partitions: Option<u32>,
        /// With --partitions: threads to run the member stages on (default: the cores).
        /// The output is the same for any number.
        #[arg(long, value_name = "N", requires = "partitions")]
        threads: Option<usize>,
    },
    /// Fit the churn-probability model (BG/NBD or MBG/NBD) to an event file: every
    /// member's purchase history at the calibration end, by maximum likelihood; writes
    /// the parameter file that `churn_risk.model_file` names.
    Fit {
        /// Events, one JSON object per line ("-" for stdin).
        file: PathBuf,
        /// The end of the calibration window (RFC 3339 or epoch ms): later events are
        /// read but not used.
        #[arg(long, value_parser = cli::parse_instant)]
        calibration_end: EventTime,
        /// `mbg-nbd` (a member may drop out after her first purchase; the default) or
        /// `bg-nbd` (only after a repeat purchase).
        #[arg(long, default_value = "mbg-nbd", value_parser = parse_model)]
        model: churnwatch::btyd::Model,
        /// Also fit each fee tier with at least --min-tier-members members on its own.
        #[arg(long)]
        per_tier: bool,
        #[arg(long, default_value_t = 500)]
        min_tier_members: usize,
        /// Write the parameter file here (default stdout).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Write every member's P(alive) and expected purchases at the calibration end
        /// here, as JSON lines.
        #[arg(long)]
        predictions: Option<PathBuf>,
        /// The horizon of the expected purchases in --predictions (e.g. 30d).
        #[arg(long, default_value = "30d", value_parser = churnwatch::model::Span::parse)]
        horizon: churnwatch::model::Span,
        /// The wall clock for the future-timestamp check (default: now).
        #[arg(long, value_parser = cli::parse_instant)]
        now: Option<EventTime>,
    },
    /// Write a seeded synthetic workload as JSON lines.
    Generate {
        #[arg(long, default_value_t = GenerateOptions::default().seed)]
        seed: u64,
        #[arg(long, default_value_t = GenerateOptions::default().members)]
        members: u32,
        #[arg(long, default_value_t = GenerateOptions::default().days)]
        days: u32,
        /// First day of the workload (RFC 3339 or epoch ms).
        #[arg(long, value_parser = cli::parse_instant)]
        start: Option<EventTime>,
        /// Output file (default stdout).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Stream the generator through the engine and print live alerts.
    Demo(demo::DemoArgs),
    /// Tutor alerts: deliver the warnings topic's alerts to each tutor's channels (its own
    /// consumer group, `[notify]` in the configuration); with --input and --dry-run,
    /// print the messages each tutor would get from a file of warnings instead.
    Notify {
        /// The tutor directory (TOML: tutors, channels, fallback; see README); default
        /// `notify.directory`.
        #[arg(long)]
        directory: Option<PathBuf>,
        /// Warnings as JSON lines ("-" for stdin).
        #[arg(long)]
        input: Option<PathBuf>,
        /// Print the messages instead of sending them.
        #[arg(long)]
        dry_run: bool,
        /// Log lines as text or as JSON objects.
        #[arg(long, value_enum, default_value = "text")]
        log_format: cli::run::LogFormat,
    },
    /// Consume the input topics, produce warnings and dead letters (Kafka in, Kafka out).
    Run {
        /// Log lines as text or as JSON objects.
        #[arg(long, value_enum, default_value = "text")]
        log_format: cli::run::LogFormat,
    },
}

fn main() -> ExitCode {
    churnwatch::alloc::tune_for_long_lived_state();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("churnwatch: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn create(path: &PathBuf) -> anyhow::Result<BufWriter<File>> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

/// An event file, or stdin for "-".
fn open_input(file: &PathBuf) -> anyhow::Result<Box<dyn io::BufRead>> {
    Ok(if file.as_os_str() == "-" {
        Box::new(BufReader::with_capacity(1 << 20, io::stdin().lock()))
    } else {
        let f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
        Box::new(BufReader::with_capacity(1 << 20, f))
    })
}

fn parse_model(text: &str) -> Result<churnwatch::btyd::Model, String> {
    use churnwatch::btyd::Model;
    match text {
        "bg-nbd" | "bg_nbd" | "bg" => Ok(Model::BgNbd),
        "mbg-nbd" | "mbg_nbd" | "mbg" => Ok(Model::MbgNbd),
        other => Err(format!("unknown model {other:?}: bg-nbd or mbg-nbd")),
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load_with(cli.config.as_deref(), std::env::vars(), &cli.sets)?;
    match cli.command {
        Command::Replay {
            file,
            until,
            state_out: state_path,
            dead_letter,
            output,
            now,
            partitions,
            threads,
        } => {
            let input = open_input(&file)?;
            let mut warnings: Box<dyn Write> = match &output {
                Some(path) => Box::new(create(path)?),
                None => Box::new(BufWriter::with_capacity(1 << 20, io::stdout().lock())),
            };
            let mut dead_letters = dead_letter.as_ref().map(create).transpose()?;
            let options = replay::ReplayOptions {
                until,
                wall: now.unwrap_or_else(churnwatch::clock::wall_clock),
                ignore_after: None,
                threads: threads
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            };
            let started = Instant::now();
            let dead_letters_out = dead_letters.as_mut().map(|d| d as &mut dyn Write);
            let report = match partitions {
                None => {
                    let (engine, counts) =
                        replay::replay(&config, input, &mut warnings, dead_letters_out, &options)?;
                    let elapsed = started.elapsed();
                    if let Some(path) = &state_path {
                        let mut out = create(path)?;
                        state_out::write(&engine, &mut out)?;
                        out.flush()?;
                    }
                    summary::render(&engine, &counts, elapsed)
                }
                Some(n) => {
                    let (two, counts) = replay::replay_partitioned(
                        &config,
                        n,
                        input,
                        &mut warnings,
                        dead_letters_out,
                        &options,
                    )?;
                    let elapsed = started.elapsed();
                    if let Some(path) = &state_path {
                        let mut out = create(path)?;
                        state_out::write_partitioned(&two, &mut out)?;
                        out.flush()?;
                    }
                    let partitioner = config.input.partitioner.name();
                    summary::render_partitioned(&two, partitioner, &counts, elapsed)
                }
            };
            if let Some(mut dl) = dead_letters {
                dl.flush()?;
            }
            eprint!("{report}");
            Ok(())
        }
        Command::Fit {
            file,
            calibration_end,
            model,
            per_tier,
            min_tier_members,
            output,
            predictions,
            horizon,
            now,
        } => {
            let input = open_input(&file)?;
            let options = fit::FitOptions {
                calibration_end,
                model,
                per_tier,
                min_tier_members,
                wall: now.unwrap_or_else(churnwatch::clock::wall_clock),
            };
            let started = Instant::now();
            let (model_file, engine, counts) = fit::fit(&config, input, &options)?;
            let text = model_file.to_toml();
            match &output {
                Some(path) => std::fs::write(path, &text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => io::stdout().write_all(text.as_bytes())?,
            }
            if let Some(path) = predictions {
                let mut out = create(&path)?;
                fit::write_predictions(&engine, &model_file, calibration_end, horizon, &mut out)?;
                out.flush()?;
            }
            eprint!("{}", summary::render(&engine, &counts, started.elapsed()));
            eprintln!(
                "  fitted {} ({} members): r {:.6}, alpha {:.6} days, a {:.6}, b {:.6}",
                model_file.version,
                model_file.population.members,
                model_file.population.r,
                model_file.population.alpha_days,
                model_file.population.a,
                model_file.population.b,
            );
            Ok(())
        }
        Command::Generate {
            seed,
            members,
            days,
            start,
            output,
        } => {
            let defaults = GenerateOptions::default();
            let options = GenerateOptions {
                seed,
                members,
                days,
                start: start.unwrap_or(defaults.start),
                ..defaults
            };
            let stats = match output {
                Some(path) => {
                    let mut out = create(&path)?;
                    let stats = generate::write_jsonl(&options, &mut out)?;
                    out.flush()?;
                    stats
                }
                None => {
                    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
                    let stats = generate::write_jsonl(&options, &mut out)?;
                    out.flush()?;
                    stats
                }
            };
            eprintln!("{stats:?}");
            Ok(())
        }
        Command::Demo(args) => demo::run(&config, &args),
        Command::Notify {
            directory,
            input,
            dry_run,
            log_format,
        } => {
            let input = match (input, dry_run) {
                (Some(input), true) => input,
                (None, false) => {
                    cli::run::init_logging(log_format);
                    return churnwatch::notify::service::run(&config, directory);
                }
                (Some(_), false) => anyhow::bail!(
                    "--input is for a dry run (--dry-run); without it, notify reads the \
                     warnings topic"
                ),
                (None, true) => {
                    anyhow::bail!("a dry run reads a file of warnings: --input FILE (or -)")
                }
            };
            let directory = directory
                .or_else(|| {
                    (!config.notify.directory.is_empty())
                        .then(|| PathBuf::from(&config.notify.directory))
                })
                .context("no tutor directory: give --directory FILE or notify.directory")?;
            let dir = churnwatch::notify::Directory::load(&directory)?;
            let input: Box<dyn io::BufRead> = if input.as_os_str() == "-" {
                Box::new(BufReader::new(io::stdin().lock()))
            } else {
                let f =
                    File::open(&input).with_context(|| format!("opening {}", input.display()))?;
                Box::new(BufReader::with_capacity(1 << 20, f))
            };
            let mut out = BufWriter::new(io::stdout().lock());
            let (seen, policy, outbox) = notify::dry_run(&dir, input, &mut out)?;
            out.flush()?;
            for (line, why) in &seen.refused {
                eprintln!("line {line}: {why}");
            }
            let c = &policy.counts;
            eprintln!(
                "notify dry run: {} lines, {} refused; {} warnings offered: {} not for tutors \
                 (contact cap), {} repeated, {} at once, {} held in quiet hours ({} dropped: \
                 the member recovered), {} in digests, {} to the fallback desk, {} tutor \
                 departures; {} merged at a rate limit; {} messages",
                seen.lines,
                seen.refused.len(),
                c.offered,
                c.not_notified,
                c.repeated,
                c.immediate,
                c.held,
                c.dropped_recovered,
                c.digested,
                c.fallback,
                c.tutor_left,
                outbox.merged,
                seen.payloads
            );
            Ok(())
        }
        Command::Run { log_format } => {
            cli::run::init_logging(log_format);
            cli::run::run(&config).map(|_| ())
        }
    }
}
