//! The two CSV layers: the customer's own ranges and AS-level ranges.
//!
//! - Customer ranges: `cidr,name,domain[,class]`. The class column, when present and not empty,
//!   overrides the [classification rules](crate::classify).
//! - AS ranges, the format of the npm package `@ip-location-db/asn`: `start,end,asn,org`, no header,
//!   IPv4 and IPv6 rows in one file or two, organisation names quoted when they hold commas or quotes
//!   (`"LLC ""SPUTNIK"""`).
//!
//! Both may start with a header line, and may have `#` comment lines. Fields are trimmed.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ipnetwork::IpNetwork;
use vtrack_model::NetworkClass;

use super::{Org, Source, Sources};
use crate::ResolveError;

/// Counts lines up to a byte offset, moving forward only (records come in file order).
struct Lines<'a> {
    data: &'a [u8],
    at: usize,
    line: u64,
}

impl Lines<'_> {
    /// The 1-based line of the record the CSV reader places at `offset`. The reader places a record after
    /// blank or comment lines at the start of those lines, so they are skipped first.
    fn at(&mut self, offset: u64) -> u64 {
        let mut offset = (offset as usize).min(self.data.len());
        loop {
            let rest = &self.data[offset..];
            let skip = match rest.first() {
                Some(b'\n') => 1,
                Some(b'\r') if rest.get(1) == Some(&b'\n') => 2,
                Some(b'#') => rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |p| p + 1),
                _ => break,
            };
            offset += skip;
        }
        if offset > self.at {
            self.line += self.data[self.at..offset].iter().filter(|&&b| b == b'\n').count() as u64;
            self.at = offset;
        }
        self.line
    }
}

/// Iterates the rows of a CSV file with their line numbers, skipping a header line, blank lines and
/// `#` comments. Fields are not trimmed here: a name split by an unquoted comma is put back together as
/// written.
pub(super) fn rows(
    path: &Path,
    mut each: impl FnMut(u64, &csv::StringRecord) -> Result<(), ResolveError>,
) -> Result<(), ResolveError> {
    let data = std::fs::read(path).map_err(|e| ResolveError::io(path, e))?;
    let mut lines = Lines { data: &data, at: 0, line: 1 };
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).comment(Some(b'#')).from_reader(&data[..]);
    let mut record = csv::StringRecord::new();
    let mut first = true;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.at(p.byte()));
                return Err(csv_error(path, line, e));
            }
        }
        let line = record.position().map_or(0, |p| lines.at(p.byte()));
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if std::mem::take(&mut first) && is_header(&record) {
            continue;
        }
        each(line, &record)?;
    }
}

fn csv_error(path: &Path, line: u64, e: csv::Error) -> ResolveError {
    match e.into_kind() {
        csv::ErrorKind::Io(source) => ResolveError::Io { path: path.to_path_buf(), source },
        kind => ResolveError::Csv { path: path.to_path_buf(), line, message: csv_kind_message(kind) },
    }
}

fn csv_kind_message(kind: csv::ErrorKind) -> String {
    match kind {
        csv::ErrorKind::Utf8 { err, .. } => format!("not UTF-8: {err}"),
        other => format!("{other:?}"),
    }
}

/// A first row whose first field is a word (`cidr`, `start`, `ip_start`), not an address.
fn is_header(record: &csv::StringRecord) -> bool {
    record.get(0).map(str::trim).is_some_and(|f| {
        !f.is_empty()
            && f.chars().all(|c| c.is_ascii_alphabetic() || c == '_' || c == ' ')
            && IpAddr::from_str(f).is_err()
    })
}

/// Reads a customer CSV: `cidr,name,domain[,class]`.
pub(super) fn read_companies(path: &Path, out: &mut Sources) -> Result<(), ResolveError> {
    rows(path, |line, rec| {
        if rec.len() < 3 {
            return Err(ResolveError::MissingColumns {
                path: path.into(),
                line,
                expected: "cidr,name,domain[,class]",
                found: rec.len(),
            });
        }
        let net = parse_cidr(path, line, rec[0].trim())?;
        let name = rec[1].trim();
        if name.is_empty() {
            return Err(ResolveError::EmptyName { path: path.into(), line });
        }
        // The customer's own domain, as written; a row without one is keyed by its name.
        let domain = crate::account_key::account_key(name, 0, false, Some(rec[2].trim()));
        let (class, class_confidence) = match rec.get(3).map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => {
                let class = NetworkClass::from_str(c).map_err(|source| ResolveError::UnknownClass {
                    path: path.into(),
                    line,
                    source,
                })?;
                (class, 100)
            }
            None => crate::classify::by_name(name, 0),
        };
        let confidence = Source::Companies.id_source().default_confidence();
        let source = Source::Companies;
        let org = Org { name: name.to_string(), domain, asn: 0, class, source, confidence, class_confidence };
        out.add_org(net.network(), last_address(net), org);
        Ok(())
    })
}

/// Reads an AS range CSV: `start,end,asn,org`.
pub(super) fn read_asn(path: &Path, out: &mut Sources) -> Result<(), ResolveError> {
    let mut org = String::new();
    rows(path, |line, rec| {
        if rec.len() < 3 {
            return Err(ResolveError::MissingColumns {
                path: path.into(),
                line,
                expected: "start,end,asn,org",
                found: rec.len(),
            });
        }
        let (start, end) = parse_range(path, line, rec[0].trim(), rec[1].trim())?;
        let asn_text = rec[2].trim();
        let digits = asn_text.strip_prefix("AS").or_else(|| asn_text.strip_prefix("as")).unwrap_or(asn_text);
        let asn = u32::from_str(digits).map_err(|_| ResolveError::MalformedAsn {
            path: path.into(),
            line,
            value: asn_text.to_string(),
        })?;
        // An unquoted comma in the name splits it over more columns: put it back together.
        org.clear();
        for (i, part) in rec.iter().skip(3).enumerate() {
            if i > 0 {
                org.push(',');
            }
            org.push_str(part);
        }
        out.add_asn_org(start, end, org.trim(), asn, Source::Asn);
        Ok(())
    })
}

fn parse_cidr(path: &Path, line: u64, text: &str) -> Result<IpNetwork, ResolveError> {
    let bad = |reason: String| ResolveError::MalformedCidr {
        path: PathBuf::from(path),
        line,
        value: text.to_string(),
        reason,
    };
    let net = IpNetwork::from_str(text).map_err(|e| bad(e.to_string()))?;
    if net.ip() != net.network() {
        return Err(bad(format!("host bits are set; the network is {}/{}", net.network(), net.prefix())));
    }
    Ok(net)
}

pub(super) fn parse_range(path: &Path, line: u64, start: &str, end: &str) -> Result<(IpAddr, IpAddr), ResolveError> {
    let addr = |text: &str| {
        IpAddr::from_str(text).map_err(|_| ResolveError::MalformedAddress {
            path: path.into(),
            line,
            value: text.to_string(),
        })
    };
    let (s, e) = (addr(start)?, addr(end)?);
    let ordered = match (s, e) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a <= b,
        (IpAddr::V6(a), IpAddr::V6(b)) => a <= b,
        _ => {
            return Err(ResolveError::MixedFamilies { path: path.into(), line, start: start.into(), end: end.into() });
        }
    };
    if !ordered {
        return Err(ResolveError::StartAfterEnd { path: path.into(), line, start: start.into(), end: end.into() });
    }
    Ok((s, e))
}

/// The last address of a network (its broadcast address for IPv4).
pub(crate) fn last_address(net: IpNetwork) -> IpAddr {
    match net {
        IpNetwork::V4(n) => IpAddr::V4(n.broadcast()),
        IpNetwork::V6(n) => {
            let host = u128::MAX.checked_shr(u32::from(n.prefix())).unwrap_or(0);
            IpAddr::V6((u128::from(n.network()) | host).into())
        }
    }
}
