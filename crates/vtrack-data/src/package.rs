//! The two packages an update fetches, what each must contain, whom its licence asks to credit, and how
//! its CSVs come out of the tarball.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::DataError;

/// What a package's CSVs are to the resolver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `start,end,asn,org`: the AS layer (`asn_csv`).
    Asn,
    /// `start,end,country`: places only (`country_csv`).
    Country,
}

/// Someone a licence asks to be credited, with the link it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credit {
    /// The link text, as the licence words it where it does (DB-IP's "IP Geolocation by DB-IP").
    pub text: &'static str,
    pub url: &'static str,
}

/// An npm package of free IP data.
#[derive(Debug, Clone, Copy)]
pub struct Package {
    pub name: &'static str,
    pub kind: Kind,
    /// The CSVs used, IPv4 then IPv6, as named inside the package.
    pub files: [&'static str; 2],
    /// Rows each file must have at least: about a quarter of what the real data held in 2026 (412k and 103k
    /// AS ranges, 334k and 216k country ranges), so a truncated or placeholder release is refused while
    /// real growth and shrinkage pass.
    pub min_rows: [usize; 2],
    /// The licence, in words (the package's `license` field only points at its files).
    pub licence: &'static str,
    pub credits: &'static [Credit],
}

const ROUTEVIEWS: Credit = Credit { text: "RouteViews", url: "https://www.routeviews.org/" };
const DBIP: Credit = Credit { text: "IP Geolocation by DB-IP", url: "https://db-ip.com" };
const NRO: Credit = Credit { text: "NRO", url: "https://www.nro.net/" };

/// The AS ranges: RouteViews and the RIRs' data merged with DB-IP's IP to ASN Lite, CC BY 4.0.
pub const ASN: Package = Package {
    name: "@ip-location-db/asn",
    kind: Kind::Asn,
    files: ["asn-ipv4.csv", "asn-ipv6.csv"],
    min_rows: [100_000, 25_000],
    licence: "CC BY 4.0",
    credits: &[ROUTEVIEWS, DBIP, NRO],
};

/// Countries from RIR whois, geofeeds and AS data. The npm `license` field says CC0-1.0; the package also
/// ships the NRO's CC BY 4.0 notice for the RIR statistics it is built from, so the NRO is credited.
pub const COUNTRY: Package = Package {
    name: "@ip-location-db/geo-whois-asn-country",
    kind: Kind::Country,
    files: ["geo-whois-asn-country-ipv4.csv", "geo-whois-asn-country-ipv6.csv"],
    min_rows: [80_000, 50_000],
    licence: "CC0 1.0, with the NRO's statistics under CC BY 4.0",
    credits: &[NRO],
};

/// Every package an update fetches, in layer order.
pub const PACKAGES: [Package; 2] = [ASN, COUNTRY];

/// The largest a single file in a tarball may be once unpacked (the largest real one is 24 MB), so that
/// a corrupt or hostile archive cannot fill the disk.
const FILE_LIMIT: u64 = 512 * 1024 * 1024;
/// Licence and notice files are a few hundred bytes.
const NOTICE_LIMIT: u64 = 64 * 1024;

/// A package's files on disk, with their row counts, and its licence notices.
#[derive(Debug)]
pub struct Extracted {
    pub csvs: Vec<(PathBuf, usize)>,
    /// File name → text of each `*LICENSE*`, `*LICENCE*` and `MODIFICATIONS` file in the package.
    pub notices: Vec<(String, String)>,
}

/// Unpacks the package's CSVs from its `.tgz` into `dir`, counting rows, and keeps its licence notices.
/// Nothing but those files is written, whatever paths the archive holds.
pub fn extract(package: &Package, tgz: &[u8], dir: &Path) -> Result<Extracted, DataError> {
    let bad = |reason: String| DataError::Archive { package: package.name.into(), reason };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    let mut csvs: Vec<Option<(PathBuf, usize)>> = vec![None; package.files.len()];
    let mut notices = Vec::new();
    let entries = archive.entries().map_err(|e| bad(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        // npm packs everything under `package/`; match on the file name below it only.
        let Some(name) = path.strip_prefix("package").ok().and_then(|p| p.to_str()).map(str::to_string) else {
            continue;
        };
        if let Some(i) = package.files.iter().position(|f| *f == name) {
            let size = entry.header().size().map_err(|e| bad(e.to_string()))?;
            if size > FILE_LIMIT {
                return Err(bad(format!("{name} is {size} bytes, over the limit of {FILE_LIMIT}")));
            }
            let target = dir.join(&name);
            let rows = copy_counting(&mut entry, &target).map_err(|e| match e {
                CopyError::Read(e) => bad(format!("{name}: {e}")),
                CopyError::Write(e) => DataError::io(&target, e),
            })?;
            csvs[i] = Some((target, rows));
        } else if !name.contains('/')
            && (name.contains("LICENSE") || name.contains("LICENCE") || name == "MODIFICATIONS")
        {
            let mut text = String::new();
            entry.by_ref().take(NOTICE_LIMIT).read_to_string(&mut text).map_err(|e| bad(format!("{name}: {e}")))?;
            notices.push((name, text.trim().to_string()));
        }
    }
    let mut found = Vec::with_capacity(csvs.len());
    for (slot, name) in csvs.into_iter().zip(package.files) {
        found.push(slot.ok_or_else(|| bad(format!("no package/{name} in it")))?);
    }
    notices.sort();
    Ok(Extracted { csvs: found, notices })
}

enum CopyError {
    Read(std::io::Error),
    Write(std::io::Error),
}

/// Copies an entry to `target` and counts its non-empty lines.
fn copy_counting(from: &mut impl Read, target: &Path) -> Result<usize, CopyError> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(target).map_err(CopyError::Write)?);
    let mut buf = vec![0u8; 256 * 1024];
    let (mut rows, mut line_has_data) = (0usize, false);
    loop {
        let n = from.read(&mut buf).map_err(CopyError::Read)?;
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            if b == b'\n' {
                rows += usize::from(line_has_data);
                line_has_data = false;
            } else if b != b'\r' {
                line_has_data = true;
            }
        }
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
    }
    out.flush().map_err(CopyError::Write)?;
    Ok(rows + usize::from(line_has_data))
}
