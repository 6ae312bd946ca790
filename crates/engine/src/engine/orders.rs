//! Orders as the state holds them: one order packed in 16 bytes ([`OrderRec`]), and the
//! order lists of every member in one pool of 64 KiB pages instead of one heap
//! allocation each.
//!
//! A member's list costs an 8-byte [`OrderList`] in her record instead of a 16-byte boxed
//! slice, and no allocator header or rounding: a three-order list is 48 bytes, where
//! `malloc` took 64 and the box 16 more (10 M members, SPEC §9: ≤ 2 GB).
//!
//! Lists live in blocks of a size class (1 to 8 orders exactly, then four classes per
//! doubling up to a page). A page holds blocks of one class; a page whose blocks are all
//! free goes back to a common stock, so a population whose lists grow from one order to
//! three does not leave the one-order pages stranded. Lists longer than a page (a member
//! with over 4 096 orders within the horizon) get a vector of their own.
use serde::{Deserialize, Serialize};

use crate::model::{Category, EventTime, Fen};

/// One order of the retention horizon in 16 bytes: enough for both windows, the group's
/// revenue by category and duplicate detection. Packed because every member holds a few
/// and 10 M members must fit in about 2 GB:
/// - `time_cat`: milliseconds since 2000-01-01 (42 bits, to 2139) and the category
///   (4 bits), with the top 18 bits of the order-id hash;
/// - `amount_key`: the amount in fen (32 bits) and 32 more bits of the hash.
///
/// A 50-bit order-id hash takes about 10^14 orders of one member to confuse two.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRec {
    time_cat: u64,
    amount_key: u64,
}

/// Instants an order can carry: 2000-01-01T00:00:00Z up to 2^42 ms later (year 2139).
pub const ORDER_EPOCH: EventTime = EventTime(946_684_800_000);
const TIME_BITS: u32 = 42;
/// The largest amount an order can carry: 42 949 672.95 yuan.
pub const MAX_ORDER_AMOUNT: Fen = Fen(u32::MAX as i64);

impl OrderRec {
    /// Whether an order at `at` of `amount` fits the packed form; the engine refuses
    /// others with a reason before they reach the state.
    pub fn fits(at: EventTime, amount: Fen) -> bool {
        let offset = at.as_millis() - ORDER_EPOCH.as_millis();
        (0..(1i64 << TIME_BITS)).contains(&offset) && (0..=MAX_ORDER_AMOUNT.0).contains(&amount.0)
    }

    /// Callers check [`OrderRec::fits`] first; out-of-range parts are clamped, never wrapped.
    pub fn new(at: EventTime, order_key: u64, category: Category, amount: Fen) -> OrderRec {
        let offset =
            (at.as_millis() - ORDER_EPOCH.as_millis()).clamp(0, (1i64 << TIME_BITS) - 1) as u64;
        let fen = amount.0.clamp(0, MAX_ORDER_AMOUNT.0) as u64;
        let key = Self::key_of(order_key);
        OrderRec {
            time_cat: offset << 22 | (category.index() as u64) << 18 | key >> 32,
            amount_key: fen << 32 | (key & 0xFFFF_FFFF),
        }
    }

    pub fn at(&self) -> EventTime {
        EventTime(ORDER_EPOCH.as_millis() + (self.time_cat >> 22) as i64)
    }

    pub fn amount(&self) -> Fen {
        Fen((self.amount_key >> 32) as i64)
    }

    pub fn category(&self) -> Category {
        Category::ALL[((self.time_cat >> 18) & 0xF) as usize % Category::COUNT]
    }

    /// The stored 50-bit order-id hash: compare with [`OrderRec::key_of`].
    pub fn key(&self) -> u64 {
        (self.time_cat & 0x3_FFFF) << 32 | (self.amount_key & 0xFFFF_FFFF)
    }

    /// The part of an order-id hash that is stored.
    pub fn key_of(order_key: u64) -> u64 {
        order_key & ((1u64 << 50) - 1)
    }

    /// A free block of the order pool: holds the next free block's number.
    const fn linking(next: u16) -> OrderRec {
        OrderRec {
            time_cat: next as u64,
            amount_key: 0,
        }
    }

    /// The next free block's number, in a record made by [`OrderRec::linking`].
    fn link(&self) -> u16 {
        self.time_cat as u16
    }
}

const PAGE_BITS: u32 = 12;
/// Orders per page.
const PAGE: usize = 1 << PAGE_BITS;
const NONE: u32 = u32::MAX;
/// Exact classes for the common short lists, then four per doubling.
const EXACT: usize = 8;

/// One member's orders: where they are in the pool and how many. The storage is owned by
/// the [`OrderPool`]; only the pool's methods may change it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderList {
    /// The first order's index in the pool (page, offset), or the large-list slot.
    start: u32,
    len: u32,
}

impl OrderList {
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn is_large(&self) -> bool {
        self.len() > PAGE
    }
}

/// The size class for a list of `len` orders, `1 ..= PAGE`.
fn class_of(len: usize) -> usize {
    if len <= EXACT {
        return len - 1;
    }
    // Capacities m · 2^(g+1) for m in 5..=8: 10, 12, 14, 16, 20, 24, 28, 32, 40, …
    let g = (usize::BITS - (len - 1).leading_zeros()) as usize - 4;
    let m = len.div_ceil(1 << (g + 1));
    EXACT + 4 * g + (m - 5)
}

/// Orders a block of `class` holds.
fn capacity(class: usize) -> usize {
    if class < EXACT {
        return class + 1;
    }
    let k = class - EXACT;
    (5 + k % 4) << (k / 4 + 1)
}

const CLASSES: usize = EXACT + 4 * (PAGE_BITS as usize - 3);

#[derive(Clone, Debug, Serialize, Deserialize)]
struct PageMeta {
    class: u8,
    /// Blocks handed out and not freed.
    used: u16,
    /// Blocks ever handed out from this page since it took its class (`bump` onwards are
    /// untouched).
    bump: u16,
    /// First free block below `bump`; each free block's first record links to the next.
    free: u16,
    /// Neighbours in the class's list of pages with room.
    prev: u32,
    next: u32,
    has_room: bool,
}

const NO_BLOCK: u16 = u16::MAX;

impl PageMeta {
    fn fresh(class: usize) -> PageMeta {
        PageMeta {
            class: class as u8,
            used: 0,
            bump: 0,
            free: NO_BLOCK,
            prev: NONE,
            next: NONE,
            has_room: false,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrderPool {
    pages: Vec<Box<[OrderRec]>>,
    meta: Vec<PageMeta>,
    /// Per class, the first page with a free block.
    #[serde(with = "super::fixed_array")]
    with_room: [u32; CLASSES],
    /// Pages with no block in use, ready for any class.
    spare: Vec<u32>,
    /// Lists longer than a page, and the free slots among them.
    large: Vec<Vec<OrderRec>>,
    large_free: Vec<u32>,
}

impl Default for OrderPool {
    fn default() -> Self {
        OrderPool {
            pages: Vec::new(),
            meta: Vec::new(),
            with_room: [NONE; CLASSES],
            spare: Vec::new(),
            large: Vec::new(),
            large_free: Vec::new(),
        }
    }
}

impl OrderPool {
    pub fn get(&self, list: OrderList) -> &[OrderRec] {
        if list.is_empty() {
            &[]
        } else if list.is_large() {
            &self.large[list.start as usize]
        } else {
            let (page, offset) = split(list.start);
            &self.pages[page][offset..offset + list.len()]
        }
    }

    /// Inserts `rec` at position `pos` of the list (`pos <= len`).
    pub fn insert(&mut self, list: &mut OrderList, pos: usize, rec: OrderRec) {
        let len = list.len();
        let new_len = len + 1;
        if list.is_large() {
            self.large[list.start as usize].insert(pos, rec);
        } else if new_len > PAGE {
            let mut orders = Vec::with_capacity(new_len);
            orders.extend_from_slice(self.get(*list));
            orders.insert(pos, rec);
            self.free(*list);
            list.start = self.put_large(orders);
        } else if len > 0 && class_of(len) == class_of(new_len) {
            let (page, offset) = split(list.start);
            let block = &mut self.pages[page][offset..offset + new_len];
            block.copy_within(pos..len, pos + 1);
            block[pos] = rec;
        } else {
            let start = self.alloc(class_of(new_len));
            let (page, offset) = split(start);
            if len > 0 {
                let (old_page, old_offset) = split(list.start);
                let (src, dst) = two_pages(&mut self.pages, old_page, page);
                let old = &src[old_offset..old_offset + len];
                let new = &mut dst[offset..offset + new_len];
                new[..pos].copy_from_slice(&old[..pos]);
                new[pos + 1..].copy_from_slice(&old[pos..]);
                self.free(*list);
            }
            self.pages[page][offset + pos] = rec;
            list.start = start;
        }
        list.len = u32::try_from(new_len).unwrap_or_else(|_| panic!("over 2^32 orders"));
    }

    /// Drops the first `n` orders of the list (`n <= len`).
    pub fn remove_front(&mut self, list: &mut OrderList, n: usize) {
        let len = list.len();
        let new_len = len - n;
        if n == 0 {
            return;
        }
        if new_len == 0 {
            self.free(*list);
            *list = OrderList::default();
            return;
        }
        if list.is_large() {
            let orders = &mut self.large[list.start as usize];
            orders.drain(..n);
            if new_len <= PAGE {
                let orders = std::mem::take(orders);
                let start = self.alloc(class_of(new_len));
                let (page, offset) = split(start);
                self.pages[page][offset..offset + new_len].copy_from_slice(&orders);
                self.large_free.push(list.start);
                list.start = start;
            }
        } else if class_of(len) == class_of(new_len) {
            let (page, offset) = split(list.start);
            self.pages[page].copy_within(offset + n..offset + len, offset);
        } else {
            let start = self.alloc(class_of(new_len));
            let (page, offset) = split(start);
            let (old_page, old_offset) = split(list.start);
            let (src, dst) = two_pages(&mut self.pages, old_page, page);
            dst[offset..offset + new_len].copy_from_slice(&src[old_offset + n..old_offset + len]);
            self.free(*list);
            list.start = start;
        }
        list.len = new_len as u32;
    }

    /// Bytes held: every page (in use or spare), page bookkeeping and large lists.
    pub fn heap_bytes(&self) -> usize {
        self.pages.len() * (PAGE * size_of::<OrderRec>() + size_of::<Box<[OrderRec]>>())
            + self.meta.capacity() * size_of::<PageMeta>()
            + self.spare.capacity() * size_of::<u32>()
            + self
                .large
                .iter()
                .map(|l| l.capacity() * size_of::<OrderRec>() + size_of::<Vec<OrderRec>>())
                .sum::<usize>()
    }

    fn put_large(&mut self, orders: Vec<OrderRec>) -> u32 {
        if let Some(slot) = self.large_free.pop() {
            self.large[slot as usize] = orders;
            slot
        } else {
            self.large.push(orders);
            u32::try_from(self.large.len() - 1).unwrap_or_else(|_| panic!("over 2^32 lists"))
        }
    }

    /// A block of `class`, from a page of that class with room, else a spare or new page.
    fn alloc(&mut self, class: usize) -> u32 {
        let page = match self.with_room[class] {
            NONE => self.take_page(class),
            page => page,
        };
        let cap = capacity(class);
        let blocks = PAGE / cap;
        let meta = &mut self.meta[page as usize];
        let block = if meta.free != NO_BLOCK {
            let block = meta.free;
            meta.free = self.pages[page as usize][usize::from(block) * cap].link();
            block
        } else {
            meta.bump += 1;
            meta.bump - 1
        };
        meta.used += 1;
        if meta.free == NO_BLOCK && usize::from(meta.bump) == blocks {
            self.unlink(page);
        }
        page << PAGE_BITS | (u32::from(block) * cap as u32)
    }

    fn free(&mut self, list: OrderList) {
        if list.is_empty() {
            return;
        }
        if list.is_large() {
            self.large[list.start as usize] = Vec::new();
            self.large_free.push(list.start);
            return;
        }
        let (page, offset) = split(list.start);
        let meta = &mut self.meta[page];
        let class = usize::from(meta.class);
        let block = (offset / capacity(class)) as u16;
        self.pages[page][offset] = OrderRec::linking(meta.free);
        meta.free = block;
        meta.used -= 1;
        let page = page as u32;
        if meta.used == 0 {
            if meta.has_room {
                self.unlink(page);
            }
            self.spare.push(page);
        } else if !meta.has_room {
            self.link(page, class);
        }
    }

    /// A page for `class` with room, linked into the class's list.
    fn take_page(&mut self, class: usize) -> u32 {
        let page = match self.spare.pop() {
            Some(page) => page,
            None => {
                let page = u32::try_from(self.pages.len())
                    .ok()
                    .filter(|p| *p < 1 << (32 - PAGE_BITS))
                    .unwrap_or_else(|| panic!("order pool over 2^32 orders"));
                self.pages
                    .push(vec![OrderRec::linking(NO_BLOCK); PAGE].into_boxed_slice());
                self.meta.push(PageMeta::fresh(class));
                page
            }
        };
        self.meta[page as usize] = PageMeta::fresh(class);
        self.link(page, class);
        page
    }

    fn link(&mut self, page: u32, class: usize) {
        let head = self.with_room[class];
        if head != NONE {
            self.meta[head as usize].prev = page;
        }
        let meta = &mut self.meta[page as usize];
        meta.prev = NONE;
        meta.next = head;
        meta.has_room = true;
        self.with_room[class] = page;
    }

    fn unlink(&mut self, page: u32) {
        let meta = &mut self.meta[page as usize];
        let (prev, next, class) = (meta.prev, meta.next, usize::from(meta.class));
        meta.has_room = false;
        meta.prev = NONE;
        meta.next = NONE;
        if prev == NONE {
            self.with_room[class] = next;
        } else {
            self.meta[prev as usize].next = next;
        }
        if next != NONE {
            self.meta[next as usize].prev = prev;
        }
    }
}

fn split(start: u32) -> (usize, usize) {
    ((start >> PAGE_BITS) as usize, (start as usize) & (PAGE - 1))
}

/// Page `src` to read and page `dst` to write. They always differ: a list moves only to
/// another class, and a page holds blocks of one class while any is in use.
fn two_pages(
    pages: &mut [Box<[OrderRec]>],
    src: usize,
    dst: usize,
) -> (&[OrderRec], &mut [OrderRec]) {
    assert_ne!(src, dst, "a list moves to a page of another class");
    if src < dst {
        let (low, high) = pages.split_at_mut(dst);
        (&low[src], &mut high[0])
    } else {
        let (low, high) = pages.split_at_mut(src);
        (&high[0], &mut low[dst])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Span;

    #[test]
    fn classes_are_exact_to_eight_then_at_most_a_quarter_slack() {
        for len in 1..=PAGE {
            let class = class_of(len);
            assert!(class < CLASSES, "len {len}");
            let cap = capacity(class);
            assert!(cap >= len, "len {len} cap {cap}");
            assert!(class == 0 || capacity(class - 1) < len, "len {len}");
            if len <= EXACT {
                assert_eq!(cap, len);
            } else {
                assert!(cap * 4 <= len * 5 + 4, "len {len} cap {cap}");
            }
        }
        assert_eq!(capacity(class_of(PAGE)), PAGE);
    }

    fn rec(n: u64) -> OrderRec {
        use crate::model::{Category, EventTime, Fen};
        OrderRec::new(
            EventTime::from_millis(1_767_225_600_000 + n as i64),
            n,
            Category::Home,
            Fen(n as i64),
        )
    }

    /// Many lists growing and shrinking at random, checked against plain vectors,
    /// including lists crossing the page size both ways.
    #[test]
    fn lists_hold_exactly_what_a_vector_would() {
        let mut pool = OrderPool::default();
        let mut lists = vec![OrderList::default(); 64];
        let mut model: Vec<Vec<OrderRec>> = vec![Vec::new(); 64];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut longest = 0;
        for step in 0..200_000u64 {
            // Every other step is list 0, which grows past a page and back in long runs.
            let i = if step % 2 == 0 { 0 } else { next(lists.len()) };
            let len = model[i].len();
            let grow = if i == 0 {
                step % 40_000 < 24_000
            } else {
                next(10) < 6
            };
            if grow {
                let pos = next(len + 1);
                pool.insert(&mut lists[i], pos, rec(step));
                model[i].insert(pos, rec(step));
            } else {
                let most = if i == 0 { 40 } else { 4 };
                let n = next(len + 1).min(next(most));
                pool.remove_front(&mut lists[i], n);
                model[i].drain(..n);
            }
            assert_eq!(pool.get(lists[i]), &model[i][..], "list {i} at step {step}");
            longest = longest.max(model[0].len());
        }
        assert!(longest > PAGE + 1000, "list 0 reached {longest} orders");
        for (list, expected) in lists.iter().zip(&model) {
            assert_eq!(pool.get(*list), &expected[..]);
        }
    }

    /// Lists that all move from one class to the next leave whole pages free, and those
    /// pages serve the next class: the pool does not keep a page per class ever used.
    #[test]
    fn pages_emptied_by_one_class_serve_another() {
        let mut pool = OrderPool::default();
        let mut lists = vec![OrderList::default(); 3 * PAGE];
        for round in 0..3u64 {
            for list in &mut lists {
                pool.insert(list, list.len(), rec(round));
            }
        }
        // Three orders each: three pages' worth of orders, plus at most one partly used
        // page per class on the way.
        assert!(pool.pages.len() <= 3 * 3 + 3, "{} pages", pool.pages.len());
        for list in &mut lists {
            pool.remove_front(list, 3);
        }
        assert_eq!(pool.spare.len(), pool.pages.len());
    }

    #[test]
    fn an_order_record_keeps_every_part_exactly_in_16_bytes() {
        assert_eq!(std::mem::size_of::<OrderRec>(), 16);
        let at = EventTime::parse_rfc3339("2026-11-23T11:06:40.123Z").unwrap();
        for (key, category, amount) in [
            (u64::MAX, Category::Other, MAX_ORDER_AMOUNT),
            (0, Category::ApparelBags, Fen::ZERO),
            (0x0123_4567_89AB_CDEF, Category::MotherBaby, Fen(123_456)),
        ] {
            assert!(OrderRec::fits(at, amount));
            let rec = OrderRec::new(at, key, category, amount);
            assert_eq!(
                (rec.at(), rec.category(), rec.amount(), rec.key()),
                (at, category, amount, OrderRec::key_of(key))
            );
        }
        let last = EventTime(ORDER_EPOCH.as_millis() + (1i64 << TIME_BITS) - 1);
        assert_eq!(OrderRec::new(last, 7, Category::Home, Fen(1)).at(), last);
    }

    #[test]
    fn orders_outside_the_packed_range_do_not_fit() {
        let at = EventTime::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        assert!(!OrderRec::fits(at, Fen(MAX_ORDER_AMOUNT.0 + 1)));
        assert!(!OrderRec::fits(ORDER_EPOCH - Span::MILLI, Fen(1)));
        assert!(!OrderRec::fits(
            EventTime(ORDER_EPOCH.as_millis() + (1i64 << TIME_BITS)),
            Fen(1)
        ));
    }
}
