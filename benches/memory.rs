//! Bytes of resident memory per member (SPEC §9: ≤ 200 bytes per member; 10 M members in
//! ≤ 2 GB RSS).
//!
//! `cargo bench --bench memory [-- COUNTS...]` (default 1000000 10000000). Each member
//! gets what a typical generated member has: a profile in one of 100-member groups,
//! three orders within 90 days and a login. RSS is read from /proc before and after.
//! Then two years pass without an event, every member goes dormant (SPEC §4: held as a
//! compact remainder), and what the dormant store holds per member is printed: the hot
//! slots they leave are kept for the members who come next, so RSS does not fall.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[path = "support/population.rs"]
mod population;

/// Counts live heap bytes, so fragmentation (RSS − live) can be told from real use.
struct Counting;

static LIVE: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: forwarding the caller's layout to the system allocator unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as u64, Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this same layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    // Forwarded rather than left to the default (allocate, copy, free): the system
    // allocator grows large blocks in place or by remapping, and RSS must reflect that.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc`, passed on to the system allocator.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_add(new_size as u64, Relaxed);
            LIVE.fetch_sub(layout.size() as u64, Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn measure(n: u32) -> (u64, u64, usize) {
    let before = rss_bytes();
    let live_before = LIVE.load(Relaxed);
    let engine = population::typical_engine(n);
    let after = rss_bytes();
    let live = LIVE.load(Relaxed).saturating_sub(live_before);
    let members = engine.members().count();
    let estimate = engine.memory_estimate();
    let per = |b: usize| b as f64 / members as f64;
    println!(
        "  engine's own estimate per member: slots {:.0}, member heap {:.0}, ids {:.0}, index {:.0}, timers {:.0}, groups {:.0}, query roster {:.0} = {:.0} bytes",
        per(estimate.member_slots),
        per(estimate.member_heap),
        per(estimate.ids),
        per(estimate.index),
        per(estimate.timers),
        per(estimate.groups),
        per(estimate.roster),
        per(estimate.total())
    );
    let mut engine = std::hint::black_box(engine);
    let live_hot = LIVE.load(Relaxed);
    // A day at a time: the warnings of two years of 10 M members would not fit at once.
    let mut out = Vec::new();
    for day in 1..=730 {
        engine.advance_to(
            population::T0 + churnwatch::model::Span::days(day),
            &mut out,
        );
        out.clear();
    }
    drop(out);
    let dormant = engine.dormant_count();
    let store = engine.memory_estimate().dormant;
    let growth = LIVE.load(Relaxed).saturating_sub(live_hot);
    println!(
        "  after two silent years: {dormant} dormant members, the dormant store {:.1} bytes per member (engine's estimate: 60-byte entries and the index); live heap grew {:.1} bytes per member while they moved",
        store as f64 / dormant.max(1) as f64,
        growth as f64 / dormant.max(1) as f64
    );
    std::hint::black_box(&engine);
    (after.saturating_sub(before), live, members)
}

fn main() {
    // As the churnwatch binary does at start.
    churnwatch::alloc::tune_for_long_lived_state();
    let counts = population::counts_from_args();
    for n in counts {
        let (rss, live, members) = measure(n);
        println!(
            "{members} members: RSS growth {:.0} MB = {:.0} bytes per member; live heap {:.0} bytes per member",
            rss as f64 / 1e6,
            rss as f64 / members as f64,
            live as f64 / members as f64
        );
    }
}
