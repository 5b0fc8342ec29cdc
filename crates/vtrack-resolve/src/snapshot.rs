//! Snapshots: a compiled table on disk, written by `vtrack build-db` and loaded in milliseconds.
//!
//! Loading the sources means parsing half a million CSV rows and resolving their overlaps; a snapshot skips
//! all of that. It holds the records and the tries' arrays as they are in memory, little-endian:
//!
//! ```text
//! "VTRACKDB" version:u32 body_len:u64 checksum:u64 (FNV-1a of the body)
//! body: records:u32 { source:u8 class:u8 asn:u32 id_source:u8 id_confidence:u8 class_confidence:u8
//!                     name domain country city (u32 length + UTF-8 each) }
//!       IPv4 trie, IPv6 trie: bits:u32 direct_bits:u32 direct_len:u32 heap_len:u32 direct[u32] heap[u32]
//!       footprints (version 5): count:u32 { asn:u32 v4_addresses:u64 v4_ranges:u32 v6_ranges:u32
//!                               v6_widest:u8 countries:u16 country:[u8;2] siblings:u32 }
//! ```
//!
//! A version 4 file (without footprints) still loads: its AS classes stand, but are not decided again with
//! a network's evidence until the snapshot is rebuilt (`vtrack data update` or `vtrack build-db`).
//!
//! It is read with one read and checked (checksum, then every index against its array), so a damaged or
//! foreign file is refused with a reason instead of answering wrongly. It is written to a temporary file and
//! renamed, so a server watching it never loads half a file.

use std::io::Write;
use std::path::Path;

use vtrack_model::event::CompanyInfo;
use vtrack_model::{IdSource, NetworkClass};

use crate::as_profile::{AsProfile, AsProfiles};
use crate::compile::Record;
use crate::poptrie::{Poptrie, V4_DIRECT_BITS, V6_DIRECT_BITS};
use crate::table::MAX_RECORDS;
use crate::{ResolveError, Source, Table};
use std::collections::HashMap;

const MAGIC: &[u8; 8] = b"VTRACKDB";
const VERSION: u32 = 5;
/// The oldest version still read: the same layout without footprints.
const OLDEST: u32 = 4;
const FILE_HEADER: usize = 8 + 4 + 8 + 8;

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

const SOURCES: [Source; 3] = [Source::Companies, Source::Mmdb, Source::Asn];

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_trie<const W: usize>(out: &mut Vec<u8>, t: &Poptrie<W>) {
    for n in [t.bits, t.direct_bits, t.direct.len() as u32, t.heap.len() as u32] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    for w in t.direct.iter().chain(&t.heap) {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

/// The snapshot's bytes.
pub(crate) fn encode(table: &Table) -> Vec<u8> {
    let mut body = Vec::with_capacity(table.memory_bytes());
    body.extend_from_slice(&(table.records.len() as u32).to_le_bytes());
    for r in &table.records {
        body.push(SOURCES.iter().position(|s| *s == r.source).unwrap_or(0) as u8);
        body.push(NetworkClass::ALL.iter().position(|c| *c == r.info.network_class).unwrap_or(5) as u8);
        body.extend_from_slice(&r.info.asn.to_le_bytes());
        body.push(IdSource::ALL.iter().position(|s| *s == r.info.id_source).unwrap_or(0) as u8);
        body.push(r.info.id_confidence);
        body.push(r.info.class_confidence);
        for s in [&r.info.company_name, &r.info.company_domain, &r.info.country, &r.info.city] {
            put_str(&mut body, s);
        }
    }
    put_trie(&mut body, &table.v4);
    put_trie(&mut body, &table.v6);
    let mut profiles: Vec<(&u32, &AsProfile)> = table.profiles_ref().collect();
    profiles.sort_by_key(|(asn, _)| **asn);
    body.extend_from_slice(&(profiles.len() as u32).to_le_bytes());
    for (asn, p) in profiles {
        body.extend_from_slice(&asn.to_le_bytes());
        body.extend_from_slice(&p.v4_addresses.to_le_bytes());
        body.extend_from_slice(&p.v4_ranges.to_le_bytes());
        body.extend_from_slice(&p.v6_ranges.to_le_bytes());
        body.push(p.v6_widest);
        body.extend_from_slice(&p.countries.to_le_bytes());
        body.extend_from_slice(&p.country);
        body.extend_from_slice(&p.siblings.to_le_bytes());
    }
    let mut out = Vec::with_capacity(FILE_HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&fnv1a(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Writes the snapshot next to `path` and renames it into place.
pub(crate) fn write(table: &Table, path: &Path) -> Result<(), ResolveError> {
    let bytes = encode(table);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(&bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| ResolveError::io(path, e))
}

/// A cursor over the body that fails, instead of panicking, when the data runs out.
struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len()).ok_or("truncated")?;
        let s = &self.data[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let lo = u64::from(self.u32()?);
        let hi = u64::from(self.u32()?);
        Ok(lo | (hi << 32))
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "a string is not UTF-8".to_string())
    }

    fn u32s(&mut self, n: usize) -> Result<Vec<u32>, String> {
        let bytes = self.take(n.checked_mul(4).ok_or("truncated")?)?;
        Ok(bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }
}

fn read_trie<const W: usize>(c: &mut Cursor<'_>, bits: u32, direct_bits: u32) -> Result<Poptrie<W>, String> {
    let (b, db, nd, nh) = (c.u32()?, c.u32()?, c.u32()? as usize, c.u32()? as usize);
    if (b, db) != (bits, direct_bits) || nd != 1 << direct_bits {
        return Err(format!("a {b}-bit trie with {db} direct bits; this build expects {bits} and {direct_bits}"));
    }
    let direct = c.u32s(nd)?;
    let heap = c.u32s(nh)?;
    let trie = Poptrie { bits, direct_bits, direct, heap };
    trie.check()?;
    Ok(trie)
}

fn decode(data: &[u8]) -> Result<Table, String> {
    if data.len() < FILE_HEADER || &data[..8] != MAGIC {
        return Err("not a vtrack snapshot (build one with `vtrack build-db`)".into());
    }
    let mut c = Cursor { data, at: 8 };
    let version = c.u32()?;
    if !(OLDEST..=VERSION).contains(&version) {
        return Err(format!(
            "format version {version}; this build reads versions {OLDEST} to {VERSION}: rebuild it with `vtrack build-db`"
        ));
    }
    let (len, sum) = (c.u64()?, c.u64()?);
    let body = &data[FILE_HEADER..];
    if body.len() as u64 != len {
        return Err(format!("{} body bytes, the header says {len}: truncated or appended to", body.len()));
    }
    if fnv1a(body) != sum {
        return Err("checksum mismatch: the file is damaged".into());
    }
    let mut c = Cursor { data: body, at: 0 };
    let n = c.u32()? as usize;
    if n == 0 || n > MAX_RECORDS {
        return Err(format!("{n} records"));
    }
    let mut records = Vec::with_capacity(n);
    for _ in 0..n {
        let source = *SOURCES.get(usize::from(c.u8()?)).ok_or("unknown source")?;
        let network_class = *NetworkClass::ALL.get(usize::from(c.u8()?)).ok_or("unknown network class")?;
        let asn = c.u32()?;
        let id_source = *IdSource::ALL.get(usize::from(c.u8()?)).ok_or("unknown identification source")?;
        let id_confidence = c.u8()?.min(100);
        let class_confidence = c.u8()?.min(100);
        let (company_name, company_domain, country, city) = (c.string()?, c.string()?, c.string()?, c.string()?);
        records.push(Record {
            info: CompanyInfo {
                company_name,
                company_domain,
                asn,
                network_class,
                country,
                city,
                id_source,
                id_confidence,
                class_confidence,
            },
            source,
        });
    }
    let v4 = read_trie(&mut c, 32, V4_DIRECT_BITS)?;
    let v6 = read_trie(&mut c, 128, V6_DIRECT_BITS)?;
    let mut profiles = HashMap::new();
    if version >= 5 {
        let n = c.u32()? as usize;
        for _ in 0..n {
            let asn = c.u32()?;
            let p = AsProfile {
                v4_addresses: c.u64()?,
                v4_ranges: c.u32()?,
                v6_ranges: c.u32()?,
                v6_widest: c.u8()?,
                countries: c.u16()?,
                country: [c.u8()?, c.u8()?],
                siblings: c.u32()?,
            };
            profiles.insert(asn, p);
        }
    }
    if c.at != body.len() {
        return Err("trailing bytes".into());
    }
    Ok(Table::new(records, v4, v6, &AsProfiles::from_map(profiles)))
}

/// Reads and checks a snapshot.
pub(crate) fn read(path: &Path) -> Result<Table, ResolveError> {
    let data = std::fs::read(path).map_err(|e| ResolveError::io(path, e))?;
    decode(&data).map_err(|reason| ResolveError::Snapshot { path: path.to_path_buf(), reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poptrie::NODE;

    fn fixture_table() -> Table {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let cfg = vtrack_model::config::ResolveConfig {
            companies: vec![dir.join("companies.csv")],
            mmdb: vec![dir.join("demo.mmdb")],
            asn_csv: vec![dir.join("asn.csv")],
            ..Default::default()
        };
        Table::build(&cfg).unwrap()
    }

    #[test]
    fn round_trip_is_identical() {
        let t = fixture_table();
        let back = decode(&encode(&t)).unwrap();
        assert_eq!(back.records, t.records);
        assert_eq!(back.v4, t.v4);
        assert_eq!(back.v6, t.v6);
        assert_eq!(back.networks, t.networks, "the AS organisations with their footprints");
        assert!(t.as_network(64506).and_then(|n| n.profile).is_some(), "the fixtures' ASes have footprints");
    }

    #[test]
    fn damage_is_refused_with_a_reason() {
        let bytes = encode(&fixture_table());
        assert!(decode(b"PK\x03\x04 a zip file").unwrap_err().contains("not a vtrack snapshot"));
        assert!(decode(&bytes[..bytes.len() - 3]).unwrap_err().contains("truncated"));
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(decode(&flipped).unwrap_err().contains("checksum"));
        let mut version = bytes.clone();
        version[8] = 99;
        assert!(decode(&version).unwrap_err().contains("version 99"));
    }

    #[test]
    fn out_of_range_indexes_are_refused_even_with_a_valid_checksum() {
        let good = fixture_table();
        let slot = good.v4.direct.iter().position(|d| d & 0xFF == NODE).expect("the fixtures need a node");
        let mut t = fixture_table();
        t.v4.direct[slot] = (1_000_000 << 8) | NODE;
        assert!(decode(&encode(&t)).unwrap_err().contains("out of range"));
        let mut t = fixture_table();
        let o = (t.v4.direct[slot] >> 8) as usize;
        t.v4.heap[o] |= 1; // child 0 becomes a node, overlapping leaf run 0
        assert!(decode(&encode(&t)).unwrap_err().contains("leaf run"));
        let mut t = fixture_table();
        let o = (t.v4.direct[slot] >> 8) as usize;
        t.v4.heap[o + 2] &= !1; // no run starts at child 0
        t.v4.heap[o] &= !1;
        assert!(decode(&encode(&t)).unwrap_err().contains("first leaf"));
    }
}
