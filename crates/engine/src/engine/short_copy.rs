//! Copies of short byte strings as two overlapping fixed-size moves instead of a `memcpy`
//! call. Member ids of a few bytes are copied for every event's lookup and every
//! warning's id, where the call cost more than the bytes.

/// Copies `src` to the start of `dst`, which must be at least as long.
#[inline(always)]
pub fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    match n {
        0 => {}
        1..=3 => {
            // First, middle and last byte: together they cover one to three bytes.
            dst[0] = src[0];
            dst[n / 2] = src[n / 2];
            dst[n - 1] = src[n - 1];
        }
        4..=7 => pair::<4>(dst, src),
        8..=15 => pair::<8>(dst, src),
        16..=32 => pair::<16>(dst, src),
        _ => dst[..n].copy_from_slice(src),
    }
}

/// The first and the last `W` bytes of `src` (`W <= len <= 2W`): together, all of it.
#[inline(always)]
fn pair<const W: usize>(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    let mut head = [0; W];
    let mut tail = [0; W];
    head.copy_from_slice(&src[..W]);
    tail.copy_from_slice(&src[n - W..]);
    dst[..W].copy_from_slice(&head);
    dst[n - W..n].copy_from_slice(&tail);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_is_copied_exactly_and_nothing_past_it() {
        let src: Vec<u8> = (1..=40).collect();
        for n in 0..=40 {
            let mut dst = [0xEE; 48];
            copy_short(&mut dst, &src[..n]);
            assert_eq!(&dst[..n], &src[..n], "length {n}");
            assert!(
                dst[n..].iter().all(|&b| b == 0xEE),
                "length {n} wrote past its end"
            );
        }
    }
}
