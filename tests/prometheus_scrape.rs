//! A real Prometheus server (Debian's `prometheus` package; `PROMETHEUS` names another
//! binary) scraping a running `churnwatch run` every second: the series it stores move
//! as events are processed. The figures come from `http_support::scenario`, then three
//! first orders on top.

mod http_support;
mod kafka_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http_support::*;
use kafka_support::*;

struct Prometheus {
    child: Child,
    base: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

fn start_prometheus(target: &str, dir: &Path) -> Prometheus {
    let binary = std::env::var("PROMETHEUS").unwrap_or_else(|_| "/usr/bin/prometheus".to_owned());
    assert!(
        Path::new(&binary).exists(),
        "no Prometheus at {binary}: install Debian's prometheus package (scripts/test.sh \
         does) or set PROMETHEUS"
    );
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: churnwatch\n    static_configs:\n      \
             - targets: ['{target}']\n"
        ),
    )
    .expect("writing prometheus.yml");
    let port = free_port();
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("a log file");
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting prometheus");
    let base = format!("http://127.0.0.1:{port}");
    let p = Prometheus { child, base };
    wait_for("Prometheus to be ready", Duration::from_secs(60), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .and_then(|_| (get(&format!("{}/-/ready", p.base), None).status == 200).then_some(()))
    });
    p
}

fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of a PromQL expression with a single result, as Prometheus stores it now.
fn query(p: &Prometheus, expr: &str) -> Option<f64> {
    let reply = get(
        &format!("{}/api/v1/query?query={}", p.base, encode(expr)),
        None,
    );
    if reply.status != 200 {
        return None;
    }
    let json = reply.json();
    json["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
}

fn wait_for_value(p: &Prometheus, expr: &str, expected: f64) {
    let mut last = None;
    let found = (0..600).any(|_| {
        last = query(p, expr);
        if last == Some(expected) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
        false
    });
    assert!(
        found,
        "{expr}: Prometheus has {last:?}, expected {expected}"
    );
}

#[test]
fn prometheus_scrapes_metrics_that_move_with_the_input() {
    let OnScenario {
        mut cw,
        base: _,
        input,
        ..
    } = start_on_scenario("prom", &["http.metrics_interval=200ms".to_owned()], None);
    let target = cw.http_address();
    let dir = std::env::temp_dir().join(unique("prometheus"));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let prom = start_prometheus(&target, &dir);

    wait_for_value(&prom, "up{job=\"churnwatch\"}", 1.0);
    wait_for_value(&prom, "sum(churnwatch_events_consumed_total)", 19.0);
    wait_for_value(
        &prom,
        "churnwatch_events_consumed_total{type=\"order\"}",
        6.0,
    );
    wait_for_value(&prom, "churnwatch_members_tracked", 12.0);
    wait_for_value(
        &prom,
        "churnwatch_members_by_segment{segment=\"general_retain\"}",
        6.0,
    );
    wait_for_value(
        &prom,
        "churnwatch_groups_by_activity_grade{grade=\"failing\"}",
        1.0,
    );
    wait_for_value(&prom, "churnwatch_ready", 1.0);
    // librdkafka's statistics (every 5 s): one assigned partition, all of it committed.
    wait_for_value(&prom, "count(churnwatch_consumer_lag_messages)", 1.0);
    wait_for_value(&prom, "sum(churnwatch_consumer_lag_messages)", 0.0);
    let upgrades_before = query(
        &prom,
        "sum(churnwatch_warnings_total{kind=\"SEGMENT_UPGRADE\"})",
    )
    .unwrap_or(0.0);

    // Three members who never ordered place a first order: three upgrades out of
    // general_retain, and three more active members (6 of 12 = 50 %, benchmark 36 %:
    // excellent).
    let t = 1_772_323_200_000i64 + 40 * 86_400_000 + 10 * 60_000;
    let more: Vec<Record> = ["m-h07", "m-h08", "m-h09"]
        .iter()
        .map(|m| {
            Record::new(
                m,
                format!(
                    r#"{{"event_id":"o2-{m}","member_id":"{m}","ts":{t},"type":"order","order_id":"o2-{m}","amount":"80.00","category":"fresh_food"}}"#
                ),
            )
        })
        .collect();
    produce(&input, &more);
    wait_for_value(&prom, "sum(churnwatch_events_consumed_total)", 22.0);
    wait_for_value(
        &prom,
        "churnwatch_members_by_segment{segment=\"general_retain\"}",
        3.0,
    );
    wait_for_value(
        &prom,
        "sum(churnwatch_warnings_total{kind=\"SEGMENT_UPGRADE\"})",
        upgrades_before + 3.0,
    );
    wait_for_value(
        &prom,
        "churnwatch_groups_by_activity_grade{grade=\"excellent\"}",
        1.0,
    );
    assert!(cw.is_running(), "{}", cw.log_text());
    drop(prom);
    drop(cw);
    let _ = std::fs::remove_dir_all(&dir);
}
