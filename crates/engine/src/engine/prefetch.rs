//! Cache hints: start loading memory the engine is about to need, so that independent
//! cache misses overlap instead of each stalling in turn. Hints only: they never change
//! a result, whatever the address.

/// Asks the CPU to start loading the cache line holding `at`.
#[inline(always)]
pub fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch only warms the cache; it reads nothing into the program and never
    // faults, even for an invalid address. (`unsafe` for compilers where the intrinsic is
    // still an `unsafe fn`.)
    #[allow(unused_unsafe)]
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Prefetches every cache line `value` occupies.
#[inline(always)]
pub fn prefetch_value<T>(value: &T) {
    let start = std::ptr::from_ref(value).cast::<u8>();
    let size = size_of::<T>();
    let mut offset = 0;
    while offset < size {
        prefetch(start.wrapping_add(offset));
        offset += 64;
    }
    if size > 0 {
        prefetch(start.wrapping_add(size - 1));
    }
}
