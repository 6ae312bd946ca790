//! Allocator settings for a process that holds millions of long-lived records.
//!
//! glibc's malloc raises its mmap threshold every time a large block is freed, so later
//! large blocks (the member index as it doubles, drained timer buckets, order pages) come
//! from the heap instead of their own mappings, and the memory they leave behind when
//! freed stays with the process: 14 bytes per member at 1 M members. A fixed threshold
//! (glibc's initial 128 KiB) keeps every large block in a mapping of its own, returned to
//! the system when it is freed.

/// Fixes glibc's mmap threshold; call once at start, before the state grows. Elsewhere
/// (musl, other systems) nothing to do.
pub fn tune_for_long_lived_state() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is called before any
        // thread of ours allocates concurrently, and a refused value (return 0) leaves
        // the default in place.
        let _ = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
    }
}
