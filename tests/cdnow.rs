//! The churn-probability fit and predictions against Python's `lifetimes` on the CDNOW
//! sample (issue 16): `scripts/cdnow-check.sh` installs lifetimes from PyPI on first use
//! and checks the published BG/NBD estimates, every customer's history, P(alive) and
//! expected purchases (to 1e-9), for both models. Fails, never skips, when it cannot run.

use std::process::Command;

#[test]
fn fit_and_predictions_match_lifetimes_on_the_cdnow_sample() {
    let output = Command::new("scripts/cdnow-check.sh")
        .arg(env!("CARGO_BIN_EXE_churnwatch"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("scripts/cdnow-check.sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "cdnow-check failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // Every check printed passed, and the ones that matter were made.
    assert!(!stdout.contains("FAIL"), "{stdout}");
    for check in [
        "bg-nbd alpha: churnwatch",
        "bg-nbd: P(alive) within 1e-09",
        "mbg-nbd: expected purchases in 30 days within 1e-09",
    ] {
        assert!(stdout.contains(check), "no {check:?} in:\n{stdout}");
    }
}
