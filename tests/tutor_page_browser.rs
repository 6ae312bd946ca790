//! The tutor page `/tutors/{id}` of a running `churnwatch run`, rendered by headless
//! Chromium (Debian's `chromium` package; `CHROMIUM` names another binary). The DOM the
//! browser built must hold the groups and the at-risk list in urgency order with their
//! actions, and the screenshot must show the bars at the hand-derived lengths: 25 %
//! activity = 75 px of the failing colour, the 36 % benchmark marker 108 px from the
//! bar's start.

mod http_support;
mod kafka_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use http_support::*;
use kafka_support::*;

fn chromium() -> String {
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&binary).exists(),
        "no Chromium at {binary}: install Debian's chromium package (scripts/test.sh \
         does) or set CHROMIUM"
    );
    binary
}

/// Runs headless Chromium on `url` with `mode` (`--dump-dom` or `--screenshot=…`);
/// returns stdout.
fn browse(url: &str, mode: &str, profile: &Path) -> String {
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--window-size=1400,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(mode)
        .arg(url)
        .output()
        .expect("running chromium");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// RGB pixels of a PNG file, with its width.
fn pixels(path: &Path) -> (usize, Vec<[u8; 3]>) {
    let file = std::fs::File::open(path).expect("opening the screenshot");
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a sane PNG size")];
    let info = reader.next_frame(&mut buf).expect("a PNG frame");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let px = buf[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width as usize, px)
}

/// Count and horizontal extent (min x, max x) of the pixels of exactly `colour`.
fn extent(width: usize, px: &[[u8; 3]], colour: [u8; 3]) -> (usize, usize, usize) {
    let xs: Vec<usize> = px
        .iter()
        .enumerate()
        .filter(|(_, p)| **p == colour)
        .map(|(i, _)| i % width)
        .collect();
    let min = xs.iter().copied().min().unwrap_or(0);
    let max = xs.iter().copied().max().unwrap_or(0);
    (xs.len(), min, max)
}

#[test]
fn the_tutor_page_renders_in_headless_chromium() {
    let browser = chromium();
    let OnScenario { cw, base, .. } = start_on_scenario("page", &[], None);
    let url = format!("{base}/tutors/{TUTOR}");
    let dir: PathBuf = std::env::temp_dir().join(unique("chromium"));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    eprintln!("browser: {browser}");

    // What the browser built.
    let dom = browse(&url, "--dump-dom", &dir.join("profile-dom"));
    assert!(dom.contains(r#"<span id="tutor-id">t-h</span>"#), "{dom}");
    assert!(dom.contains(&format!("<time id=\"as-of\">{WATERMARK}</time>")));
    let row = dom
        .split("<tr class=\"group\"")
        .nth(1)
        .expect("a group row");
    assert!(row.contains(r#"data-group="g-h""#), "{row}");
    assert!(row.contains(r#"data-activity="25.00""#), "{row}");
    assert!(row.contains(r#"data-benchmark="36.00""#), "{row}");
    assert!(row.contains("3 / 12"), "{row}");
    assert!(row.contains(">failing<"), "{row}");
    assert!(row.contains("needs 2 more active members"), "{row}");
    assert!(row.contains("¥1100.00"), "{row}");
    assert!(row.contains(">excellent<"), "{row}");
    assert!(dom.contains("(5 of 5)"));
    let order: Vec<&str> = dom
        .split("data-member=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert_eq!(order, AT_RISK_ORDER, "at-risk rows in urgency order");
    let first = dom
        .split("data-member=\"m-h06\"")
        .nth(1)
        .and_then(|s| s.split("</tr>").next())
        .expect("m-h06's row");
    assert!(first.contains("important_maintain"), "{first}");
    assert!(first.contains("2026-04-09 00:00 UTC"), "{first}");
    assert!(
        first.contains("personal check-in; look for an unresolved after-sales issue"),
        "{first}"
    );

    // What the browser drew.
    let shot = dir.join("tutor.png");
    browse(
        &url,
        &format!("--screenshot={}", shot.display()),
        &dir.join("profile-shot"),
    );
    let (width, px) = pixels(&shot);
    let failing = [0xd3, 0x2f, 0x2f];
    let marker = [0x6a, 0x1b, 0x9a];
    let (fill_px, fill_left, fill_right) = extent(width, &px, failing);
    let (marker_px, marker_left, marker_right) = extent(width, &px, marker);
    assert_eq!(
        fill_right - fill_left + 1,
        75,
        "25 % activity is 75 px of bar"
    );
    assert_eq!(
        fill_px,
        75 * 14,
        "one 75 × 14 px failing bar, nothing else red"
    );
    assert_eq!(marker_right - marker_left + 1, 2, "a 2 px benchmark marker");
    assert_eq!(marker_px, 2 * 20);
    assert_eq!(
        marker_left - fill_left,
        108,
        "the 36 % benchmark sits 108 px into the bar"
    );
    drop(cw);
    let _ = std::fs::remove_dir_all(&dir);
}
