//! Input lines that must be refused, one per rejection reason: shared by the replay and
//! the Kafka dead-letter tests.

pub const GOOD_PROFILE: &str = r#"{"event_id":"e1","member_id":"m1","ts":"2026-01-01T10:00:00Z","type":"member","group_id":"g1","tutor_id":"t1","fee_tier":"399","joined_at":"2025-01-01T00:00:00Z"}"#;
pub const GOOD_ORDER: &str = r#"{"event_id":"e2","member_id":"m1","ts":"2026-01-01T11:00:00Z","type":"order","order_id":"o1","amount":"1200.00","category":"skincare"}"#;

/// (line, reason) for every refusal a message can carry, assuming [`CONFIG`], a wall
/// clock before 2030 and a watermark in January 2026.
/// The configuration the lines assume: small messages, and room for one member (m1).
pub const CONFIG: &str = "[input]\nmax_message_bytes = 400\n[state]\nmax_members = 1\n";

pub fn bad_lines() -> Vec<(String, &'static str)> {
    let big = format!(
        r#"{{"event_id":"e9","member_id":"m1","ts":"2026-01-01T12:00:00Z","type":"login","channel":"{}"}}"#,
        "x".repeat(500)
    );
    vec![
        ("this is not json".to_owned(), "undecodable"),
        (r#"{"event_id":"e3","member_id":"m1","ts":"2026-01-01T12:00:00Z","type":"refund"}"#.to_owned(), "unknown_type"),
        (r#"{"event_id":"e4","member_id":"m1","ts":"2026-01-01T12:00:00Z","type":"order","order_id":"o2","category":"home"}"#.to_owned(), "missing_field"),
        (r#"{"event_id":"e5","member_id":"m1","ts":"yesterday","type":"login"}"#.to_owned(), "invalid_field"),
        (r#"{"event_id":"e6","member_id":"m1","ts":"2026-01-01T12:00:00Z","type":"order","order_id":"o3","amount":"12.345","category":"home"}"#.to_owned(), "malformed_amount"),
        (r#"{"event_id":"e7","member_id":"m1","ts":"2026-01-01T12:00:00Z","type":"order","order_id":"o4","amount":-5,"category":"home"}"#.to_owned(), "negative_amount"),
        (big, "message_too_large"),
        (r#"{"event_id":"e8","member_id":"m1","ts":"2030-01-01T00:00:00Z","type":"login"}"#.to_owned(), "future_timestamp"),
        (r#"{"event_id":"e10","member_id":"m2","ts":"2025-06-01T00:00:00Z","type":"login"}"#.to_owned(), "beyond_retention_horizon"),
        (r#"{"event_id":"e11","member_id":"m3","ts":"2026-01-01T12:00:00Z","type":"member","group_id":"g1","tutor_id":"t1","fee_tier":"999","joined_at":"2025-01-01T00:00:00Z"}"#.to_owned(), "unknown_fee_tier"),
        (r#"{"event_id":"e13","member_id":"m4","ts":"2026-01-01T12:00:00Z","type":"login"}"#.to_owned(), "member_capacity"),
    ]
}
