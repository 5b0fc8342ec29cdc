//! A small writer for the MaxMind DB format (version 2), enough for fixtures and benchmarks.
//!
//! vtrack reads MMDB files with the `maxminddb` crate; this writer exists so the project can make its own
//! test databases (`fixtures/demo.mmdb`) and build an MMDB from the real AS data to benchmark against,
//! without shipping third-party databases. It writes an IPv6 tree (IPv4 networks live at `::/96`, with the
//! `::ffff:0:0/96` alias), 24-bit records (32-bit when the database is too large for them), and
//! de-duplicates identical data records.
//!
//! ```
//! use vtrack_testkit::mmdb::{Value, Writer};
//! let mut w = Writer::new("Demo-ASN");
//! w.insert("192.0.2.0/24".parse().unwrap(), &Value::map([("autonomous_system_number", Value::U32(64496))]));
//! let mut bytes = Vec::new();
//! w.write(&mut bytes).unwrap();
//! let reader = maxminddb::Reader::from_source(bytes).unwrap();
//! assert!(reader.lookup("192.0.2.7".parse().unwrap()).unwrap().has_data());
//! ```

use std::collections::HashMap;
use std::io::{self, Write};

use ipnetwork::IpNetwork;

/// A value in the data section.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Double(f64),
    U16(u16),
    U32(u32),
    U64(u64),
    Bool(bool),
    Array(Vec<Value>),
    /// Keys in the order given.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// A map from `(key, value)` pairs.
    pub fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::String(s.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Child {
    Empty,
    Node(u32),
    Data(u32),
}

/// Builds an MMDB file in memory. Later inserts override earlier ones where they overlap.
#[derive(Debug)]
pub struct Writer {
    database_type: String,
    description: String,
    nodes: Vec<[Child; 2]>,
    data: Vec<u8>,
    offsets: HashMap<Vec<u8>, u32>,
}

const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

impl Writer {
    /// An empty database whose metadata says `database_type` (e.g. `GeoIP2-City`, `GeoLite2-ASN`).
    pub fn new(database_type: &str) -> Writer {
        Writer {
            database_type: database_type.to_string(),
            description: format!("{database_type} written by vtrack-resolve"),
            nodes: vec![[Child::Empty; 2]],
            data: Vec::new(),
            offsets: HashMap::new(),
        }
    }

    /// Sets the English description in the metadata.
    pub fn description(&mut self, text: &str) -> &mut Self {
        self.description = text.to_string();
        self
    }

    /// Maps every address of `net` to `value`, replacing what earlier inserts gave those addresses.
    pub fn insert(&mut self, net: IpNetwork, value: &Value) {
        let offset = self.store(value);
        let (key, len) = match net {
            IpNetwork::V4(n) => (u128::from(u32::from(n.network())), 96 + u32::from(n.prefix())),
            IpNetwork::V6(n) => (u128::from(n.network()), u32::from(n.prefix())),
        };
        if len == 0 {
            self.nodes[0] = [Child::Data(offset); 2];
            return;
        }
        let mut node = 0usize;
        for depth in 0..len - 1 {
            let bit = ((key >> (127 - depth)) & 1) as usize;
            node = match self.nodes[node][bit] {
                Child::Node(n) => n as usize,
                inherited => {
                    let fill = if matches!(inherited, Child::Data(_)) { inherited } else { Child::Empty };
                    self.nodes.push([fill; 2]);
                    let n = self.nodes.len() - 1;
                    self.nodes[node][bit] = Child::Node(n as u32);
                    n
                }
            };
        }
        let bit = ((key >> (127 - (len - 1))) & 1) as usize;
        self.nodes[node][bit] = Child::Data(offset);
    }

    fn store(&mut self, value: &Value) -> u32 {
        let mut bytes = Vec::new();
        encode(value, &mut bytes);
        if let Some(&off) = self.offsets.get(&bytes) {
            return off;
        }
        let off = self.data.len() as u32;
        self.data.extend_from_slice(&bytes);
        self.offsets.insert(bytes, off);
        off
    }

    /// Writes the database: search tree, data section, metadata.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut nodes = self.nodes.clone();
        let alias = alias_path(&mut nodes);
        let order = reachable(&nodes);
        let node_count = order.len() as u32;
        let mut index = vec![u32::MAX; nodes.len()];
        for (new, &old) in order.iter().enumerate() {
            index[old as usize] = new as u32;
        }
        let record = |c: Child| -> u32 {
            match c {
                Child::Empty => node_count,
                Child::Node(n) => index[n as usize],
                Child::Data(off) => node_count + 16 + off,
            }
        };
        // 24-bit records, as MaxMind's own databases use, when every record value fits; else 32-bit.
        let largest = u64::from(node_count) + 16 + self.data.len() as u64;
        let record_bytes: usize = if largest < 1 << 24 { 3 } else { 4 };
        let mut tree = Vec::with_capacity(order.len() * 2 * record_bytes);
        for &old in &order {
            let mut children = nodes[old as usize];
            if let Some((parent, target)) = alias {
                if old == parent {
                    children[1] = target;
                }
            }
            for child in children {
                tree.extend_from_slice(&record(child).to_be_bytes()[4 - record_bytes..]);
            }
        }
        out.write_all(&tree)?;
        out.write_all(&[0u8; 16])?;
        out.write_all(&self.data)?;
        out.write_all(METADATA_MARKER)?;
        let epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let meta = Value::map([
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(epoch)),
            ("database_type", Value::String(self.database_type.clone())),
            ("description", Value::map([("en", Value::String(self.description.clone()))])),
            ("ip_version", Value::U16(6)),
            ("languages", Value::Array(vec![Value::str("en")])),
            ("node_count", Value::U32(node_count)),
            ("record_size", Value::U16(8 * record_bytes as u16)),
        ]);
        let mut bytes = Vec::new();
        encode(&meta, &mut bytes);
        out.write_all(&bytes)
    }
}

/// Makes the path to `::ffff:0:0/95` (80 zero bits, 15 one bits) so that its right child can alias the IPv4
/// subtree (what 96 zero bits lead to), as MaxMind's own databases do. Returns `(that node, IPv4 subtree)`,
/// or `None` when there is no IPv4 data or an IPv6 network already covers the alias.
fn alias_path(nodes: &mut Vec<[Child; 2]>) -> Option<(u32, Child)> {
    let mut ipv4 = Child::Node(0);
    for _ in 0..96 {
        ipv4 = match ipv4 {
            Child::Node(n) => nodes[n as usize][0],
            other => other,
        };
    }
    if ipv4 == Child::Empty {
        return None;
    }
    let mut node = 0usize;
    for depth in 0..95u32 {
        let bit = usize::from(depth >= 80);
        node = match nodes[node][bit] {
            Child::Node(n) => n as usize,
            Child::Data(_) => return None,
            Child::Empty => {
                nodes.push([Child::Empty; 2]);
                let n = nodes.len() - 1;
                nodes[node][bit] = Child::Node(n as u32);
                n
            }
        };
    }
    (nodes[node][1] == Child::Empty).then_some((node as u32, ipv4))
}

/// Nodes reachable from the root in depth-first order; subtrees replaced by later inserts are dropped.
fn reachable(nodes: &[[Child; 2]]) -> Vec<u32> {
    let mut order = Vec::new();
    let mut stack = vec![0u32];
    while let Some(n) = stack.pop() {
        order.push(n);
        for c in nodes[n as usize].iter().rev() {
            if let Child::Node(m) = *c {
                stack.push(m);
            }
        }
    }
    order
}

fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    let (marker, extra): (u8, &[u8]) = match size {
        0..=28 => (size as u8, &[]),
        29..=284 => (29, &[(size - 29) as u8]),
        285..=65_820 => (30, &((size - 285) as u16).to_be_bytes()),
        _ => (31, &((size - 65_821) as u32).to_be_bytes()[1..]),
    };
    if kind <= 7 {
        out.push((kind << 5) | marker);
    } else {
        out.push(marker);
        out.push(kind - 7);
    }
    out.extend_from_slice(extra);
}

fn uint(out: &mut Vec<u8>, kind: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    control(out, kind, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::String(s) => {
            control(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Double(d) => {
            control(out, 3, 8);
            out.extend_from_slice(&d.to_be_bytes());
        }
        Value::U16(n) => uint(out, 5, u64::from(*n)),
        Value::U32(n) => uint(out, 6, u64::from(*n)),
        Value::U64(n) => uint(out, 9, *n),
        Value::Bool(b) => control(out, 14, usize::from(*b)),
        Value::Array(items) => {
            control(out, 11, items.len());
            for item in items {
                encode(item, out);
            }
        }
        Value::Map(pairs) => {
            control(out, 7, pairs.len());
            for (k, item) in pairs {
                control(out, 2, k.len());
                out.extend_from_slice(k.as_bytes());
                encode(item, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Rec<'a> {
        n: u32,
        #[serde(borrow)]
        s: &'a str,
    }

    fn rec(n: u32, s: &str) -> Value {
        Value::map([("n", Value::U32(n)), ("s", Value::str(s))])
    }

    #[test]
    fn round_trips_through_maxminddb_with_overrides_and_aliases() {
        let mut w = Writer::new("Test");
        w.insert("10.0.0.0/8".parse().unwrap(), &rec(1, "ten"));
        w.insert("10.1.0.0/16".parse().unwrap(), &rec(2, &"long ".repeat(100)));
        w.insert("2001:db8::/32".parse().unwrap(), &rec(3, "doc"));
        w.insert("2001:db8:1::/48".parse().unwrap(), &rec(70_000, "nested"));
        let mut bytes = Vec::new();
        w.write(&mut bytes).unwrap();
        let r = maxminddb::Reader::from_source(bytes).unwrap();
        r.verify().unwrap();
        let get = |ip: &str| -> Option<(u32, String, String)> {
            let res = r.lookup(ip.parse::<IpAddr>().unwrap()).unwrap();
            let net = res.network().unwrap().to_string();
            res.decode::<Rec>().unwrap().map(|x| (x.n, x.s.to_string(), net))
        };
        assert_eq!(get("10.2.3.4"), Some((1, "ten".into(), "10.2.0.0/15".into())));
        assert_eq!(get("10.1.255.255").map(|x| x.0), Some(2));
        assert_eq!(get("::ffff:10.9.9.9").map(|x| x.0), Some(1));
        assert_eq!(get("2001:db8:1::5").map(|x| x.0), Some(70_000));
        assert_eq!(get("2001:db8:2::5").map(|x| x.0), Some(3));
        assert_eq!(get("11.0.0.1"), None);
        assert_eq!(r.metadata().database_type, "Test");
        let networks = r.networks(Default::default()).unwrap().count();
        assert!(networks >= 4, "{networks}");
    }

    #[test]
    fn identical_records_are_stored_once() {
        let mut w = Writer::new("Test");
        for i in 0..100u32 {
            w.insert(format!("10.0.{i}.0/24").parse().unwrap(), &rec(1, "same"));
        }
        assert_eq!(w.data.len(), {
            let mut b = Vec::new();
            encode(&rec(1, "same"), &mut b);
            b.len()
        });
    }
}
