//! A Poptrie: the longest-prefix-match structure lookups run on.
//!
//! After Asai and Ohara, "Poptrie: A Compressed Trie with Population Count for Fast and Scalable Software IP
//! Routing Table Lookup" (SIGCOMM 2015). The top `S` bits of an address index a direct array; each entry is
//! a leaf or a node. A node covers the next bits (its stride) with two bitmaps: `vector` marks which of its
//! children are nodes, `leafvec` marks where a new run of equal leaves starts, so a child is found by
//! counting set bits (`popcnt`) below its index and equal neighbouring leaves are stored once.
//!
//! Two departures from the paper, each measured on the real AS data:
//!
//! - A node's leaves are stored right after it, in one `u32` array:
//!   `[vector, leafvec, leaves…, child node offsets…]`, each node starting on a 16-byte boundary. A lookup
//!   that goes below the direct array then takes one cache miss for the node and its leaf instead of two.
//!   Children are written before their parent, so every child offset is smaller than its parent's, which
//!   makes a loaded snapshot easy to check for cycles.
//! - The stride is a parameter: `W` 64-bit words per bitmap, `6 + log2(W)` bits. IPv4 uses 6-bit nodes
//!   below an 18-bit direct array (`/24`s sit one node down); IPv6 uses 8-bit nodes below a 16-bit direct
//!   array, so its common boundaries (`/32`, `/48`) fall on node edges and a `/48` is four nodes deep
//!   instead of six.
//!
//! A leaf is a `u32`: the record index in the high 24 bits and the length of the widest CIDR block around
//! the address with that record in the low 8 bits, so a lookup yields the matched prefix without a further
//! read. Leaf 0 means "no record". In the direct array, a low byte of `0xFF` marks a node offset instead.
//!
//! Keys are handled left-aligned in 128 bits while building, so IPv4 and IPv6 share the builder.

use crate::compile::{block_len, Segment};

/// Marks a direct entry that holds a node offset (`offset << 8 | NODE`); no prefix length is 255.
pub(crate) const NODE: u32 = 0xFF;

/// The compiled trie of one address family, with nodes of `64 × W` children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Poptrie<const W: usize> {
    /// Address width: 32 or 128.
    pub bits: u32,
    /// Bits indexed by the direct array.
    pub direct_bits: u32,
    pub direct: Vec<u32>,
    /// Nodes with their leaves and child offsets (see the module docs).
    pub heap: Vec<u32>,
}

/// The IPv4 trie: 6-bit nodes.
pub(crate) type Trie4 = Poptrie<1>;
/// The IPv6 trie: 8-bit nodes.
pub(crate) type Trie6 = Poptrie<4>;

/// Direct-array width for IPv4: 18 bits puts /24s one node below (18 + 6), as the paper suggests.
pub(crate) const V4_DIRECT_BITS: u32 = 18;
/// Direct-array width for IPv6: 16 + 14 × 8 = 128, with node edges at /24, /32, /40, /48.
pub(crate) const V6_DIRECT_BITS: u32 = 16;

/// Packs a record index and a prefix length into a leaf.
pub(crate) fn leaf(rec: u32, len: u8) -> u32 {
    (rec << 8) | u32::from(len)
}

/// Set bits of `map` below child `idx` (`inclusive`: up to and including it).
#[inline(always)]
fn rank<const W: usize>(map: &[u64; W], idx: u32, inclusive: bool) -> u32 {
    let (w, b) = ((idx / 64) as usize, idx % 64);
    let at = if inclusive { u64::MAX >> (63 - b) } else { (1u64 << b) - 1 };
    let mut n = 0;
    for (k, word) in map.iter().enumerate() {
        let mask = if k < w {
            u64::MAX
        } else if k == w {
            at
        } else {
            0
        };
        n += (word & mask).count_ones();
    }
    n
}

#[inline(always)]
fn has<const W: usize>(map: &[u64; W], idx: u32) -> bool {
    (map[(idx / 64) as usize] >> (idx % 64)) & 1 != 0
}

fn total<const W: usize>(map: &[u64; W]) -> usize {
    map.iter().map(|w| w.count_ones() as usize).sum()
}

impl<const W: usize> Poptrie<W> {
    /// Bits per node level.
    pub const STRIDE: u32 = 6 + W.trailing_zeros();
    /// Children per node.
    pub const CHILDREN: u32 = 64 * W as u32;
    /// Words of the per-word counts after the bitmaps: for each bitmap, the set bits before each of its
    /// words (`u16`s), so a rank is one `popcnt` however wide the node. None for one-word bitmaps.
    const COUNTS: usize = if W > 1 { W } else { 0 };
    /// Words of a node header: the two bitmaps and their counts.
    pub const HEADER: usize = 4 * W + Self::COUNTS;

    /// Word `w` of bitmap `map` (0: `vector`, 1: `leafvec`) of the node at `o`.
    #[inline(always)]
    fn word(&self, o: usize, map: usize, w: usize) -> u64 {
        let i = o + 2 * (map * W + w);
        u64::from(self.heap[i]) | (u64::from(self.heap[i + 1]) << 32)
    }

    /// Set bits of bitmap `map` before its word `w`.
    #[inline(always)]
    fn before(&self, o: usize, map: usize, w: usize) -> u32 {
        if W == 1 {
            return 0;
        }
        let i = o + 4 * W + map * (W / 2) + w / 2;
        (self.heap[i] >> (16 * (w % 2))) & 0xFFFF
    }

    /// Set bits of bitmap `map` below child `idx` (`inclusive`: up to and including it).
    #[inline(always)]
    fn rank_at(&self, o: usize, map: usize, idx: u32, inclusive: bool) -> u32 {
        let (w, b) = ((idx / 64) as usize, idx % 64);
        let mask = if inclusive { u64::MAX >> (63 - b) } else { (1u64 << b) - 1 };
        self.before(o, map, w) + (self.word(o, map, w) & mask).count_ones()
    }

    /// All set bits of bitmap `map`.
    #[inline(always)]
    fn total_at(&self, o: usize, map: usize) -> u32 {
        self.before(o, map, W - 1) + self.word(o, map, W - 1).count_ones()
    }

    /// The two bitmaps of the node at `o`.
    #[inline(always)]
    pub fn header(&self, o: usize) -> ([u64; W], [u64; W]) {
        let h = &self.heap[o..o + Self::HEADER];
        let word = |i: usize| u64::from(h[2 * i]) | (u64::from(h[2 * i + 1]) << 32);
        (std::array::from_fn(word), std::array::from_fn(|i| word(W + i)))
    }

    /// Compiles disjoint sorted segments of a `bits`-bit family. `progress` is told about each direct
    /// slot handled (there are `2^direct_bits`).
    pub fn build(segments: &[Segment], bits: u32, direct_bits: u32, progress: &mut dyn FnMut(u64)) -> Self {
        let shift = 128 - bits;
        let low = if shift == 0 { 0 } else { u128::MAX >> bits };
        let segs = segments.iter().map(|s| (s.start << shift, (s.end << shift) | low, s.rec)).collect();
        let mut b = Builder::<W> { segs, heap: Vec::new() };
        let slots = 1usize << direct_bits;
        let host = u128::MAX >> direct_bits;
        let mut direct = vec![0u32; slots];
        let mut cursor = 0usize;
        for (slot, entry) in direct.iter_mut().enumerate() {
            let lo = (slot as u128) << (128 - direct_bits);
            *entry = match b.child(&mut cursor, lo, lo | host) {
                Child::Leaf(v) => v,
                Child::Node => (b.node(lo, direct_bits, cursor) << 8) | NODE,
            };
            if slot % 4096 == 4095 {
                progress(4096);
            }
        }
        Poptrie { bits, direct_bits, direct, heap: b.heap }
    }

    /// The leaf below the node at offset `o`, entered at `depth` bits; `idx_at(depth)` is the child
    /// index of the address at that depth.
    #[inline(always)]
    fn descend(&self, mut o: usize, mut depth: u32, idx_at: impl Fn(u32) -> u32, max_depth: u32) -> u32 {
        loop {
            let idx = idx_at(depth);
            if (self.word(o, 0, (idx / 64) as usize) >> (idx % 64)) & 1 == 0 {
                let i = self.rank_at(o, 1, idx, true) as usize;
                return self.heap[o + Self::HEADER + i - 1];
            }
            let k = o + Self::HEADER + self.total_at(o, 1) as usize + self.rank_at(o, 0, idx, false) as usize;
            o = self.heap[k] as usize;
            depth += Self::STRIDE;
            if depth >= max_depth {
                return 0;
            }
        }
    }

    /// The disjoint sorted segments the trie holds (natural, not left-aligned, addresses), adjacent
    /// equal records merged: the inverse of [`Poptrie::build`].
    pub fn segments(&self) -> Vec<Segment> {
        let mut out: Vec<Segment> = Vec::new();
        let slot_size_log = self.bits - self.direct_bits;
        for (slot, &d) in self.direct.iter().enumerate() {
            let lo = (slot as u128) << slot_size_log;
            if d & 0xFF != NODE {
                push_merged(&mut out, lo, lo + ((1u128 << slot_size_log) - 1), d >> 8);
            } else {
                self.walk((d >> 8) as usize, lo, self.direct_bits, &mut out);
            }
        }
        out
    }

    fn walk(&self, o: usize, prefix: u128, depth: u32, out: &mut Vec<Segment>) {
        if o + Self::HEADER > self.heap.len() {
            return;
        }
        let (vector, leafvec) = self.header(o);
        let child_bits = depth + Self::STRIDE;
        // Past the address width (IPv4's last level), only children whose padding bits are 0 are real.
        let pad = child_bits.saturating_sub(self.bits);
        for c in 0..Self::CHILDREN {
            if c & ((1 << pad) - 1) != 0 {
                continue;
            }
            let lo = prefix + (u128::from(c >> pad) << (self.bits + pad - child_bits));
            if has(&vector, c) {
                let k = o + Self::HEADER + total(&leafvec) + rank(&vector, c, false) as usize;
                if let Some(&child) = self.heap.get(k) {
                    self.walk(child as usize, lo, child_bits, out);
                }
            } else {
                let i = rank(&leafvec, c, true) as usize;
                let v = self.heap.get(o + Self::HEADER + i.max(1) - 1).copied().unwrap_or(0);
                let size_log = self.bits + pad - child_bits;
                push_merged(out, lo, lo + ((1u128 << size_log) - 1), v >> 8);
            }
        }
    }

    /// Checks that every offset a lookup can follow stays inside the heap and points at a well-formed
    /// node, and that children come before their parents (no cycles), so a lookup on a loaded snapshot
    /// cannot panic or loop.
    pub fn check(&self) -> Result<(), String> {
        let bad = |what: &str| Err(format!("{}-bit trie: {what}", self.bits));
        let mut seen = vec![false; self.heap.len() / 4 + 1];
        let nodes = self.direct.iter().filter(|&&d| d & 0xFF == NODE);
        let mut stack: Vec<usize> = nodes.map(|&d| (d >> 8) as usize).collect();
        while let Some(o) = stack.pop() {
            if o % 4 != 0 || o + Self::HEADER > self.heap.len() {
                return bad("a node offset out of range");
            }
            if std::mem::replace(&mut seen[o / 4], true) {
                continue;
            }
            let (vector, leafvec) = self.header(o);
            let counts_ok = (0..W).all(|w| {
                let want = |m: &[u64; W]| m[..w].iter().map(|x| x.count_ones()).sum::<u32>();
                self.before(o, 0, w) == want(&vector) && self.before(o, 1, w) == want(&leafvec)
            });
            if !counts_ok {
                return bad("a node whose bit counts do not match its bitmaps");
            }
            if vector.iter().zip(&leafvec).any(|(v, l)| v & l != 0) {
                return bad("a leaf run starting on a node child");
            }
            if let Some(first_leaf) = (0..Self::CHILDREN).find(|&c| !has(&vector, c)) {
                if !has(&leafvec, first_leaf) {
                    return bad("a node whose first leaf starts no run");
                }
            }
            let children = o + Self::HEADER + total(&leafvec);
            let end = children + total(&vector);
            if end > self.heap.len() {
                return bad("a node running past the end of the heap");
            }
            for &child in &self.heap[children..end] {
                if child as usize >= o {
                    return bad("a child node not before its parent");
                }
                stack.push(child as usize);
            }
        }
        Ok(())
    }

    /// Bytes of the direct array and the node heap.
    pub fn memory_bytes(&self) -> usize {
        (self.direct.len() + self.heap.len()) * 4
    }

    /// Number of nodes (for the table's shape).
    pub fn nodes(&self) -> usize {
        let mut n = 0;
        let nodes = self.direct.iter().filter(|&&d| d & 0xFF == NODE);
        let mut stack: Vec<usize> = nodes.map(|&d| (d >> 8) as usize).collect();
        while let Some(o) = stack.pop() {
            n += 1;
            let (vector, leafvec) = self.header(o);
            let first = o + Self::HEADER + total(&leafvec);
            stack.extend(self.heap[first..first + total(&vector)].iter().map(|&c| c as usize));
        }
        n
    }
}

impl Trie4 {
    /// The leaf for an IPv4 address.
    #[inline(always)]
    pub fn lookup_v4(&self, ip: u32) -> u32 {
        let d = self.direct[(ip >> (32 - V4_DIRECT_BITS)) as usize];
        if d & 0xFF != NODE {
            return d;
        }
        self.below_direct_v4(ip, d)
    }

    /// The walk below a direct entry, out of line: most addresses end at the direct array, and keeping
    /// this loop out of the caller's keeps the caller's loop small (measured: steadier and faster).
    #[inline(never)]
    fn below_direct_v4(&self, ip: u32, d: u32) -> u32 {
        let key = u64::from(ip) << 32;
        self.descend((d >> 8) as usize, V4_DIRECT_BITS, |depth| ((key << depth) >> (64 - Self::STRIDE)) as u32, 64)
    }
}

impl Trie6 {
    /// The leaf for an IPv6 address.
    #[inline]
    pub fn lookup_v6(&self, ip: u128) -> u32 {
        let d = self.direct[(ip >> (128 - V6_DIRECT_BITS)) as usize];
        if d & 0xFF != NODE {
            return d;
        }
        self.descend((d >> 8) as usize, V6_DIRECT_BITS, |depth| ((ip << depth) >> (128 - Self::STRIDE)) as u32, 128)
    }
}

/// Builds a trie in `bits`-bit address space, left-aligned in 128 bits.
struct Builder<const W: usize> {
    /// Segments left-aligned: `start << shift`, `end << shift | low ones`.
    segs: Vec<(u128, u128, u32)>,
    heap: Vec<u32>,
}

enum Child {
    Leaf(u32),
    Node,
}

impl<const W: usize> Builder<W> {
    /// What covers the aligned block `[lo, hi]`: one leaf, or a mix that needs a node. `i` is a cursor
    /// into the segments, moved forward only (children are visited in address order).
    fn child(&self, i: &mut usize, lo: u128, hi: u128) -> Child {
        while self.segs.get(*i).is_some_and(|s| s.1 < lo) {
            *i += 1;
        }
        match self.segs.get(*i) {
            None => Child::Leaf(0),
            Some(&(s, _, _)) if s > hi => Child::Leaf(0),
            Some(&(s, e, rec)) if s <= lo && e >= hi => Child::Leaf(leaf(rec, block_len(lo, s, e, 128))),
            Some(_) => Child::Node,
        }
    }

    /// Writes the node covering the block of `prefix` (left-aligned) at `depth` bits, after its children;
    /// returns its offset.
    fn node(&mut self, prefix: u128, depth: u32, mut cursor: usize) -> u32 {
        let stride = Poptrie::<W>::STRIDE;
        let child_host = if depth + stride >= 128 { 0 } else { u128::MAX >> (depth + stride) };
        let (mut vector, mut leafvec) = ([0u64; W], [0u64; W]);
        let mut last_leaf = None;
        let mut leaves = Vec::new();
        let mut children = Vec::new();
        for c in 0..Poptrie::<W>::CHILDREN {
            let lo = prefix | (u128::from(c) << (128 - depth - stride));
            let (word, bit) = ((c / 64) as usize, 1u64 << (c % 64));
            match self.child(&mut cursor, lo, lo | child_host) {
                Child::Node => {
                    vector[word] |= bit;
                    children.push(self.node(lo, depth + stride, cursor));
                }
                Child::Leaf(v) => {
                    if last_leaf != Some(v) {
                        leafvec[word] |= bit;
                        leaves.push(v);
                        last_leaf = Some(v);
                    }
                }
            }
        }
        while !self.heap.len().is_multiple_of(4) {
            self.heap.push(0);
        }
        let at = self.heap.len() as u32;
        for w in vector.iter().chain(&leafvec) {
            self.heap.extend_from_slice(&[*w as u32, (*w >> 32) as u32]);
        }
        if W > 1 {
            for map in [&vector, &leafvec] {
                let mut before = [0u32; W];
                for k in 1..W {
                    before[k] = before[k - 1] + map[k - 1].count_ones();
                }
                self.heap.extend(before.chunks(2).map(|p| p[0] | (p.get(1).copied().unwrap_or(0) << 16)));
            }
        }
        self.heap.extend_from_slice(&leaves);
        self.heap.extend_from_slice(&children);
        at
    }
}

fn push_merged(out: &mut Vec<Segment>, start: u128, end: u128, rec: u32) {
    if rec == 0 {
        return;
    }
    match out.last_mut() {
        Some(last) if last.rec == rec && last.end.checked_add(1) == Some(start) => last.end = end,
        _ => out.push(Segment { start, end, rec }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start: u128, end: u128, rec: u32) -> Segment {
        Segment { start, end, rec }
    }

    fn check_v4(segs: &[Segment]) {
        let t = Trie4::build(segs, 32, V4_DIRECT_BITS, &mut |_| {});
        for s in segs {
            for ip in [s.start, s.end, (s.start + s.end) / 2] {
                let l = t.lookup_v4(ip as u32);
                assert_eq!(l >> 8, s.rec, "{ip:#x}");
                assert_eq!(l as u8, block_len(ip, s.start, s.end, 32), "{ip:#x}");
            }
            if s.start > 0 && !segs.iter().any(|o| o.end == s.start - 1) {
                assert_eq!(t.lookup_v4((s.start - 1) as u32), 0);
            }
        }
        assert_eq!(t.segments(), segs);
    }

    #[test]
    fn ipv4_segments_of_every_size_round_trip() {
        check_v4(&[seg(0, 0, 1), seg(5, 5, 2), seg(0x0A00_0000, 0x0AFF_FFFF, 3), seg(0xC633_6400, 0xC633_643F, 4)]);
        check_v4(&[
            seg(0xC633_6401, 0xC633_6402, 1),
            seg(0xC633_6403, 0xC633_6403, 2),
            seg(0xFFFF_FFFE, 0xFFFF_FFFF, 3),
        ]);
        check_v4(&[seg(0, 0xFFFF_FFFF, 7)]);
        check_v4(&[]);
    }

    #[test]
    fn ipv6_segments_round_trip() {
        let segs = [
            seg(0, 0, 1),
            seg(0x2001_0db8 << 96, (0x2001_0db8 << 96) | ((1 << 96) - 1), 2),
            seg(u128::MAX - 3, u128::MAX - 1, 3),
            seg(u128::MAX, u128::MAX, 4),
        ];
        let t = Trie6::build(&segs, 128, V6_DIRECT_BITS, &mut |_| {});
        assert_eq!(t.check(), Ok(()));
        for s in &segs {
            for ip in [s.start, s.end] {
                assert_eq!(t.lookup_v6(ip) >> 8, s.rec, "{ip:#x}");
                assert_eq!(t.lookup_v6(ip) as u8, block_len(ip, s.start, s.end, 128));
            }
        }
        assert_eq!(t.lookup_v6(1), 0);
        assert_eq!(t.lookup_v6(u128::MAX - 4), 0);
        assert_eq!(t.segments(), segs);
    }
}
