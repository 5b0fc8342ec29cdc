//! Client addresses for the generated visitors.
//!
//! Ingest resolves every request's address, so where the addresses come from decides how much of the
//! resolver a run exercises: the fixture ranges hit the demo's few organisations, the real AS ranges spread
//! lookups over the whole table like real traffic does.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use rand::Rng;

use crate::LoadgenError;

/// The ranges of `fixtures/asn.csv` and `fixtures/companies.csv`, so that a run without `--asn-csv` still
/// produces visitors that the demo configuration resolves to companies, universities, ISPs and clouds.
const FIXTURE_RANGES: &[(Ipv4Addr, Ipv4Addr)] = &[
    (Ipv4Addr::new(198, 51, 100, 0), Ipv4Addr::new(198, 51, 100, 255)),
    (Ipv4Addr::new(203, 0, 113, 0), Ipv4Addr::new(203, 0, 113, 255)),
    (Ipv4Addr::new(198, 18, 0, 0), Ipv4Addr::new(198, 19, 255, 255)),
    (Ipv4Addr::new(192, 0, 2, 0), Ipv4Addr::new(192, 0, 2, 255)),
];

/// Inclusive IPv4 ranges to draw client addresses from.
#[derive(Debug, Clone)]
pub(crate) struct IpRanges {
    ranges: Vec<(u32, u32)>,
}

impl IpRanges {
    pub(crate) fn fixtures() -> IpRanges {
        IpRanges { ranges: FIXTURE_RANGES.iter().map(|&(s, e)| (u32::from(s), u32::from(e))).collect() }
    }

    /// Reads an `@ip-location-db/asn` CSV (`start,end,asn,org`). IPv6 rows are skipped, since the generator
    /// sends IPv4 addresses only; so is a header line.
    pub(crate) fn load(path: &Path) -> Result<IpRanges, LoadgenError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| LoadgenError::AsnCsv { path: path.to_path_buf(), source })?;
        IpRanges::parse(&text).map_err(|(line, reason)| LoadgenError::AsnCsvLine {
            path: path.to_path_buf(),
            line,
            reason,
        })
    }

    /// The CSV's ranges; on a bad row, its 1-based line number and what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<IpRanges, (usize, String)> {
        let mut ranges = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let mut fields = line.split(',');
            let start = fields.next().unwrap_or("").trim();
            let end = fields.next().unwrap_or("").trim();
            if start.parse::<Ipv6Addr>().is_ok() {
                continue;
            }
            let (s, e) = match (start.parse::<Ipv4Addr>(), end.parse::<Ipv4Addr>()) {
                (Ok(s), Ok(e)) => (u32::from(s), u32::from(e)),
                // The package has no header, but a hand-made file may.
                (Err(_), _) if i == 0 => continue,
                _ => return Err((i + 1, format!("expected `start,end,asn,org` with IP addresses, got {line:?}"))),
            };
            if e < s {
                return Err((i + 1, format!("the range ends before it starts: {line:?}")));
            }
            ranges.push((s, e));
        }
        if ranges.is_empty() {
            return Err((0, "no IPv4 ranges in it".into()));
        }
        Ok(IpRanges { ranges })
    }

    /// A range chosen uniformly, then an address uniformly inside it: weighting by size would make nearly
    /// every visitor come from a few huge ISP blocks, while one pick per range spreads them over as many
    /// networks as the data has.
    pub(crate) fn draw(&self, rng: &mut impl Rng) -> Ipv4Addr {
        let (s, e) = self.ranges[rng.random_range(0..self.ranges.len())];
        Ipv4Addr::from(rng.random_range(s..=e))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ranges.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn reads_the_package_format_and_skips_ipv6_and_a_header() {
        let csv = "start,end,asn,org\n1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n\
                   2001:db8::,2001:db8::ffff,64500,Example\n1.0.4.0,1.0.7.255,38803,Gtelecom Pty Ltd\n";
        let r = IpRanges::parse(csv).expect("valid CSV");
        assert_eq!(r.len(), 2);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..100 {
            let ip = r.draw(&mut rng).octets();
            assert!(ip[..3] == [1, 0, 0] || (ip[..2] == [1, 0] && (4..=7).contains(&ip[2])), "{ip:?}");
        }
    }

    #[test]
    fn bad_rows_name_their_line() {
        assert_eq!(IpRanges::parse("1.0.0.0,1.0.0.255,1,A\nnot,an,ip,row\n").map(|_| ()).unwrap_err().0, 2);
        assert_eq!(IpRanges::parse("1.0.0.9,1.0.0.1,1,A\n").map(|_| ()).unwrap_err().0, 1);
        assert!(IpRanges::parse("").is_err());
    }

    #[test]
    fn fixture_addresses_stay_in_the_fixture_ranges() {
        let r = IpRanges::fixtures();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            let ip = u32::from(r.draw(&mut rng));
            assert!(FIXTURE_RANGES.iter().any(|&(s, e)| (u32::from(s)..=u32::from(e)).contains(&ip)));
        }
    }
}
