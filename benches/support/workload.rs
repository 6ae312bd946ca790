//! The generator's default workload at `CHURNWATCH_BENCH_MEMBERS` members (default
//! 100 000), decoded up front: the input of the benches that time the engine alone.

use churnwatch::decode::JsonDecoder;
use churnwatch::generate::{GenerateOptions, Workload};
use churnwatch::model::Event;

pub fn members() -> u32 {
    std::env::var("CHURNWATCH_BENCH_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

pub fn decoded_events(members: u32) -> Vec<Event> {
    let options = GenerateOptions {
        members,
        ..GenerateOptions::default()
    };
    let decoder = JsonDecoder::new(1 << 16);
    let mut workload = Workload::new(&options);
    let mut line = Vec::new();
    let mut events = Vec::new();
    while workload.next_into(&mut line).is_some() {
        if let Ok(event) = decoder.decode(&line) {
            events.push(event);
        }
    }
    events
}
