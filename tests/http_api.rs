//! The HTTP edge of `churnwatch run`, against a real broker: every endpoint, 404 for
//! unknown ids, 401 without the token when one is set, and a query answered while the
//! engine works through a burst. The figures are the hand-derived ones of
//! `http_support::scenario`.

mod http_support;
mod kafka_support;

use http_support::*;
use kafka_support::*;

#[test]
fn every_endpoint_answers_from_the_live_state() {
    let OnScenario { cw, base, .. } = start_on_scenario("http-endpoints", &[], None);

    let health = get(&format!("{base}/healthz"), None);
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let ready = get(&format!("{base}/readyz"), None);
    assert_eq!(ready.status, 200, "{}", ready.body);

    // A member who fell: m-h06, important_value → important_maintain at T+39d+1ms.
    let m = get(&format!("{base}/v1/members/m-h06"), None);
    assert_eq!(m.status, 200);
    assert!(
        m.content_type.starts_with("application/json"),
        "{}",
        m.content_type
    );
    let m = m.json();
    assert_eq!(m["member_id"], "m-h06");
    assert_eq!(m["group_id"], GROUP);
    assert_eq!(m["tutor_id"], TUTOR);
    assert_eq!(m["fee_tier"], "199");
    assert_eq!(m["tenure_month"], 13);
    assert_eq!(m["segment"], "important_maintain");
    assert_eq!(m["stage"], "growth");
    assert_eq!(m["fell_at"], "2026-04-09T00:00:00.001Z");
    assert_eq!(m["figures"]["recency_days"], 8);
    assert_eq!(m["figures"]["m30"], "1500.00");
    assert_eq!(m["figures"]["f30"], 1);
    assert_eq!(m["figures"]["lifetime_orders"], 1);
    assert_eq!(m["as_of"], WATERMARK);
    // Next change: R > 14 d at T+46d+1ms (important_maintain → general_value).
    assert_eq!(m["next_wake"], "2026-04-16T00:00:00.001Z");
    assert_eq!(
        m["action"],
        "personal check-in; look for an unresolved after-sales issue"
    );

    // A member who never fell has no fall instant.
    let m5 = get(&format!("{base}/v1/members/m-h05"), None).json();
    assert_eq!(m5["segment"], "important_development");
    assert!(m5["fell_at"].is_null());

    let g = get(&format!("{base}/v1/groups/{GROUP}"), None);
    assert_eq!(g.status, 200);
    let g = g.json();
    assert_eq!(g["tutor_id"], TUTOR);
    assert_eq!(g["members"], 12);
    assert_eq!(g["active"], 3);
    assert_eq!(g["activity"].as_f64(), Some(25.0));
    assert_eq!(g["benchmark"].as_f64(), Some(36.0));
    assert_eq!(g["activity_grade"], "failing");
    assert_eq!(g["members_needed"], 2);
    assert_eq!(g["output_per_active"], "1100.00");
    assert_eq!(g["output_grade"], "excellent");
    assert_eq!(g["revenue_30d"]["skincare"], "1200.00");
    assert_eq!(g["revenue_30d"]["home"], "0.00");

    let board = get(&format!("{base}/v1/tutors/{TUTOR}/at-risk"), None).json();
    let ids: Vec<&str> = board["at_risk"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["member_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, AT_RISK_ORDER);
    assert_eq!(board["at_risk_total"], 5);
    assert_eq!(board["at_risk"][1]["segment"], "general_maintain");
    assert_eq!(board["at_risk"][1]["fell_at"], "2026-04-05T00:00:00.001Z");
    assert_eq!(board["at_risk"][4]["fell_at"], "2026-04-04T00:00:00.001Z");
    assert_eq!(board["groups"][0]["group_id"], GROUP);
    let limited = get(&format!("{base}/v1/tutors/{TUTOR}/at-risk?limit=2"), None).json();
    assert_eq!(limited["at_risk"].as_array().map(Vec::len), Some(2));
    assert_eq!(limited["at_risk_total"], 5);

    for (path, what) in [
        ("/v1/members/nobody", "member"),
        ("/v1/groups/nowhere", "group"),
        ("/v1/tutors/nobody/at-risk", "tutor"),
        ("/tutors/nobody", "tutor"),
    ] {
        let r = get(&format!("{base}{path}"), None);
        assert_eq!(r.status, 404, "{path}");
        assert!(
            r.json()["error"].as_str().is_some_and(|e| e.contains(what)),
            "{path}: {}",
            r.body
        );
    }
    assert_eq!(get(&format!("{base}/v2/anything"), None).status, 404);

    let page = get(&format!("{base}/tutors/{TUTOR}"), None);
    assert_eq!(page.status, 200);
    assert!(page.content_type.starts_with("text/html"));

    let metrics = get(&format!("{base}/metrics"), None);
    assert_eq!(metrics.status, 200);
    assert!(metrics.content_type.starts_with("text/plain"));
    // 12 profiles, 6 orders, 1 login.
    assert_eq!(
        metric_sum(&metrics.body, "churnwatch_events_consumed_total"),
        19.0
    );
    assert!(metric_sum(&metrics.body, "churnwatch_warnings_total") > 0.0);
    assert_eq!(
        metric_sum(&metrics.body, "churnwatch_partitions_assigned"),
        1.0
    );
    assert_eq!(metric_sum(&metrics.body, "churnwatch_ready"), 1.0);
    drop(cw);
}

#[test]
fn a_token_guards_queries_and_pages_but_not_metrics_or_probes() {
    let token = "s3cret-token";
    let OnScenario { cw, base, .. } =
        start_on_scenario("http-token", &[format!("http.token={token}")], Some(token));
    for path in [
        "/v1/members/m-h06".to_owned(),
        format!("/v1/groups/{GROUP}"),
        format!("/v1/tutors/{TUTOR}/at-risk"),
        format!("/tutors/{TUTOR}"),
        // Unknown ids too: without the token nothing tells what exists.
        "/v1/members/nobody".to_owned(),
    ] {
        let url = format!("{base}{path}");
        let none = get(&url, None);
        assert_eq!(none.status, 401, "{path} without a token");
        assert_eq!(
            none.www_authenticate.as_deref(),
            Some("Bearer realm=\"churnwatch\""),
            "{path}"
        );
        assert_eq!(get(&url, Some("wrong")).status, 401, "{path}, wrong token");
        let expected = if path.contains("nobody") { 404 } else { 200 };
        assert_eq!(
            get(&url, Some(token)).status,
            expected,
            "{path}, right token"
        );
    }
    for open in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(get(&format!("{base}{open}"), None).status, 200, "{open}");
    }
    // The token never appears in the start-up configuration line.
    assert!(
        !cw.log_text().contains(token),
        "the token leaked into the log"
    );
    drop(cw);
}

#[test]
fn a_query_during_a_burst_is_answered_from_the_moving_state() {
    require_broker();
    let input = unique("http-burst-in");
    create_topic(&input, 1);
    let lines = workload(10_000, 120, 7);
    let total = lines.len() as f64;
    produce(&input, &json_records(&lines));
    let sets = settings(
        &unique("http-burst-group"),
        &input,
        "json",
        &unique("http-burst-warnings"),
        &unique("http-burst-dlq"),
    );
    let mut cw = Churnwatch::start(&sets, None, &unique("http-burst"));
    let base = format!("http://{}", cw.http_address());

    // Query a member as fast as answers come, noting how far the input was before and
    // after each: an answer given between two counts below the total came mid-burst.
    let consumed = || {
        metric_sum(
            &get(&format!("{base}/metrics"), None).body,
            "churnwatch_events_consumed_total",
        )
    };
    let mut mid_burst_answers = Vec::new();
    let mut last = 0.0;
    while last < total {
        let before = consumed();
        let reply = get(&format!("{base}/v1/members/m0000001"), None);
        let after = consumed();
        if reply.status == 200 && before > 0.0 && after < total {
            mid_burst_answers.push(reply.json()["as_of"].as_str().map(str::to_owned));
        }
        assert!(
            reply.status == 200 || reply.status == 404,
            "status {} mid-burst: {}",
            reply.status,
            reply.body
        );
        last = after;
        assert!(cw.is_running(), "churnwatch exited: {}", cw.log_text());
    }
    assert!(
        mid_burst_answers.len() >= 2,
        "fewer than two answers while the burst was in flight ({} events)",
        total
    );
    mid_burst_answers.dedup();
    assert!(
        mid_burst_answers.len() >= 2,
        "the answers did not move with the state: {mid_burst_answers:?}"
    );
    drop(cw);
}

#[test]
fn the_tutor_page_shows_times_on_the_clock_the_tutor_directory_gives_her() {
    // The notifier's directory file, named by http.tutor_directory: t-h works in Berlin,
    // where 2026-04-10T00:00Z is 02:00 summer time; anyone else is on the default.
    let dir = std::env::temp_dir().join(unique("tutor-directory"));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let file = dir.join("tutors.toml");
    std::fs::write(
        &file,
        format!(
            r#"page_url = "http://127.0.0.1/tutors"
fallback = "lead"

[defaults]
time_zone = "Asia/Tokyo"

[channels.lead]
kind = "slack"
url_env = "SLACK_URL_LEAD"

[tutors.{TUTOR}]
name = "Anna"
time_zone = "Europe/Berlin"
channels = ["lead"]
"#
        ),
    )
    .expect("writing the directory");
    let OnScenario { cw, base, .. } = start_on_scenario(
        "http-zones",
        &[format!("http.tutor_directory={}", file.display())],
        None,
    );
    let page = get(&format!("{base}/tutors/{TUTOR}"), None);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&format!(
            r#"<time id="as-of" datetime="{WATERMARK}">2026-04-10 02:00 CEST</time>"#
        )),
        "{}",
        page.body
    );
    // m-h06 fell at 2026-04-09T00:00:00.001Z.
    assert!(page.body.contains(">2026-04-09 02:00 CEST</time>"));
    assert!(page.body.contains(r#"data-time-zone="Europe/Berlin""#));
    assert!(!page.body.contains(" UTC</time>"));
    drop(cw);

    // A directory that cannot be read stops `run` at start, naming the file.
    let missing = dir.join("missing.toml");
    let mut sets = connection_settings(
        &unique("http-zones-group"),
        "unused-in",
        "json",
        "unused-warnings",
        "unused-dlq",
    );
    sets.push(format!("http.tutor_directory={}", missing.display()));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_churnwatch"))
        .args(sets.iter().flat_map(|s| ["--set", s.as_str()]))
        .arg("run")
        .output()
        .expect("running churnwatch run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing.toml"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
