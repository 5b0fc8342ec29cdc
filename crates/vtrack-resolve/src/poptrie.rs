//! A Poptrie: the longest-prefix-match structure lookups run on.
//!
//! After Asai and Ohara, "Poptrie: A Compressed Trie with Population Count for Fast and Scalable Software IP
//! Routing Table Lookup" (SIGCOMM 2015). The top `S` bits of an address index a direct array; each entry is
//! a leaf or a node. A node covers the next 6 bits with two 64-bit maps: `vector` marks which of its 64
//! children are nodes, `leafvec` marks where a new run of equal leaves starts. Children nodes and leaves are
//! stored contiguously, so a child is found by counting set bits (`popcnt`) below its index: no pointers,
//! and equal neighbouring leaves are stored once.
//!
//! A leaf is a `u32`: the record index in the high 24 bits and the length of the widest CIDR block around
//! the address with that record in the low 8 bits, so a lookup yields the matched prefix without a further
//! read. Leaf 0 means "no record". In the direct array, a low byte of `0xFF` marks a node index instead.
//!
//! Keys are handled left-aligned in 128 bits while building, so IPv4 and IPv6 share the builder.

use crate::compile::{block_len, Segment};

/// Marks a direct entry that holds a node index (`index << 8 | NODE`); no prefix length is 255.
const NODE: u32 = 0xFF;
/// Bits per node level.
const STRIDE: u32 = 6;

/// One internal node: 64 children, 6 bits of the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub(crate) struct Node {
    /// Bit `i` set: child `i` is a node, at `nodes[base1 + popcnt(vector below i)]`.
    pub vector: u64,
    /// Bit `i` set: child `i` is a leaf that starts a new run; a leaf child is at
    /// `leaves[base0 + popcnt(leafvec up to i) - 1]`.
    pub leafvec: u64,
    pub base0: u32,
    pub base1: u32,
}

/// The compiled trie of one address family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Poptrie {
    /// Address width: 32 or 128.
    pub bits: u32,
    /// Bits indexed by the direct array.
    pub direct_bits: u32,
    pub direct: Vec<u32>,
    pub nodes: Vec<Node>,
    pub leaves: Vec<u32>,
}

/// Direct-array width for IPv4: 18 bits puts /24s one node below (18 + 6), as the paper suggests.
pub(crate) const V4_DIRECT_BITS: u32 = 18;
/// Direct-array width for IPv6: 14 + 19 × 6 = 128, so node levels end exactly at the last bit.
pub(crate) const V6_DIRECT_BITS: u32 = 14;

/// Packs a record index and a prefix length into a leaf.
pub(crate) fn leaf(rec: u32, len: u8) -> u32 {
    (rec << 8) | u32::from(len)
}

/// Builds a trie in `bits`-bit address space, left-aligned in 128 bits.
struct Builder {
    /// Segments left-aligned: `start << shift`, `end << shift | low ones`.
    segs: Vec<(u128, u128, u32)>,
    nodes: Vec<Node>,
    leaves: Vec<u32>,
}

enum Child {
    Leaf(u32),
    Node,
}

impl Builder {
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

    /// Fills node `at`, which covers the block of `prefix` (left-aligned) at `depth` bits.
    fn fill(&mut self, at: usize, prefix: u128, depth: u32, mut cursor: usize) {
        let child_host = u128::MAX >> (depth + STRIDE).min(127);
        let child_host = if depth + STRIDE >= 128 { 0 } else { child_host };
        let mut kinds = [(0u128, false, 0u32); 64];
        let (mut vector, mut leafvec) = (0u64, 0u64);
        let mut last_leaf = None;
        let mut leaves = Vec::new();
        for (c, kind) in kinds.iter_mut().enumerate() {
            let lo = prefix | ((c as u128) << (128 - depth - STRIDE));
            let hi = lo | child_host;
            match self.child(&mut cursor, lo, hi) {
                Child::Node => {
                    vector |= 1 << c;
                    *kind = (lo, true, cursor as u32);
                }
                Child::Leaf(v) => {
                    if last_leaf != Some(v) {
                        leafvec |= 1 << c;
                        leaves.push(v);
                        last_leaf = Some(v);
                    }
                }
            }
        }
        let base0 = self.leaves.len() as u32;
        self.leaves.extend_from_slice(&leaves);
        let base1 = self.nodes.len() as u32;
        self.nodes.resize(self.nodes.len() + vector.count_ones() as usize, Node::default());
        self.nodes[at] = Node { vector, leafvec, base0, base1 };
        let children = kinds.iter().filter(|k| k.1);
        for (k, &(lo, _, cursor)) in (base1 as usize..).zip(children) {
            self.fill(k, lo, depth + STRIDE, cursor as usize);
        }
    }
}

impl Poptrie {
    /// Compiles disjoint sorted segments of a `bits`-bit family. `progress` is told about each direct
    /// slot handled (there are `2^direct_bits`).
    pub fn build(segments: &[Segment], bits: u32, direct_bits: u32, progress: &mut dyn FnMut(u64)) -> Poptrie {
        let shift = 128 - bits;
        let low = if shift == 0 { 0 } else { u128::MAX >> bits };
        let segs = segments.iter().map(|s| (s.start << shift, (s.end << shift) | low, s.rec)).collect();
        let mut b = Builder { segs, nodes: Vec::new(), leaves: Vec::new() };
        let slots = 1usize << direct_bits;
        let host = u128::MAX >> direct_bits;
        let mut direct = vec![0u32; slots];
        let mut cursor = 0usize;
        for (slot, entry) in direct.iter_mut().enumerate() {
            let lo = (slot as u128) << (128 - direct_bits);
            *entry = match b.child(&mut cursor, lo, lo | host) {
                Child::Leaf(v) => v,
                Child::Node => {
                    b.nodes.push(Node::default());
                    let at = b.nodes.len() - 1;
                    b.fill(at, lo, direct_bits, cursor);
                    ((at as u32) << 8) | NODE
                }
            };
            if slot % 4096 == 4095 {
                progress(4096);
            }
        }
        Poptrie { bits, direct_bits, direct, nodes: b.nodes, leaves: b.leaves }
    }

    /// The leaf for an IPv4 address (`bits == 32`).
    #[inline]
    pub fn lookup_v4(&self, ip: u32) -> u32 {
        let d = self.direct[(ip >> (32 - V4_DIRECT_BITS)) as usize];
        if d & 0xFF != NODE {
            return d;
        }
        let key = u64::from(ip) << 32;
        let mut node = &self.nodes[(d >> 8) as usize];
        let mut depth = V4_DIRECT_BITS;
        loop {
            let idx = (key << depth) >> (64 - STRIDE);
            let bit = 1u64 << idx;
            if node.vector & bit == 0 {
                let i = node.base0 + (node.leafvec & (bit | (bit - 1))).count_ones() - 1;
                return self.leaves[i as usize];
            }
            node = &self.nodes[(node.base1 + (node.vector & (bit - 1)).count_ones()) as usize];
            depth += STRIDE;
            if depth >= 64 {
                return 0;
            }
        }
    }

    /// The leaf for an IPv6 address (`bits == 128`).
    #[inline]
    pub fn lookup_v6(&self, ip: u128) -> u32 {
        let d = self.direct[(ip >> (128 - V6_DIRECT_BITS)) as usize];
        if d & 0xFF != NODE {
            return d;
        }
        let mut node = &self.nodes[(d >> 8) as usize];
        let mut depth = V6_DIRECT_BITS;
        loop {
            let idx = (ip << depth) >> (128 - STRIDE);
            let bit = 1u64 << idx;
            if node.vector & bit == 0 {
                let i = node.base0 + (node.leafvec & (bit | (bit - 1))).count_ones() - 1;
                return self.leaves[i as usize];
            }
            node = &self.nodes[(node.base1 + (node.vector & (bit - 1)).count_ones()) as usize];
            depth += STRIDE;
            if depth >= 128 {
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

    fn walk(&self, at: usize, prefix: u128, depth: u32, out: &mut Vec<Segment>) {
        let Some(node) = self.nodes.get(at) else { return };
        let child_bits = depth + STRIDE;
        // Past the address width (IPv4's last level), only children whose padding bits are 0 are real.
        let pad = child_bits.saturating_sub(self.bits);
        for c in 0u32..64 {
            if c & ((1 << pad) - 1) != 0 {
                continue;
            }
            let lo = prefix + (u128::from(c >> pad) << (self.bits + pad - child_bits));
            let bit = 1u64 << c;
            if node.vector & bit != 0 {
                let i = node.base1 + (node.vector & (bit - 1)).count_ones();
                self.walk(i as usize, lo, child_bits, out);
            } else {
                let i = node.base0 + (node.leafvec & (bit | (bit - 1))).count_ones();
                let v = i.checked_sub(1).and_then(|i| self.leaves.get(i as usize)).map_or(0, |&v| v);
                let size_log = self.bits + pad - child_bits;
                push_merged(out, lo, lo + ((1u128 << size_log) - 1), v >> 8);
            }
        }
    }

    /// Bytes of the direct array, nodes and leaves.
    pub fn memory_bytes(&self) -> usize {
        self.direct.len() * 4 + self.nodes.len() * std::mem::size_of::<Node>() + self.leaves.len() * 4
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
        let t = Poptrie::build(segs, 32, V4_DIRECT_BITS, &mut |_| {});
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
        let t = Poptrie::build(&segs, 128, V6_DIRECT_BITS, &mut |_| {});
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
