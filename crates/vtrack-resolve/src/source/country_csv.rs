//! Country ranges, the format of the npm package `@ip-location-db/geo-whois-asn-country` (and of the other
//! `*-country` packages of that family): `start,end,country`, no header, an ISO 3166 alpha-2 code.
//!
//! They are a geo layer like an MMDB's places: a range gives the country of every address in it, whichever
//! layer names the organisation, and the narrowest place wins (see [who wins](crate#who-wins)). A file of
//! its own rather than a fourth column of the AS ranges, because the free country data is published
//! separately and under its own licence.

use std::path::Path;

use super::csv_ranges::{parse_range, rows};
use super::{Geo, Sources};
use crate::ResolveError;

/// Reads a country range CSV: `start,end,country`.
pub(super) fn read(path: &Path, out: &mut Sources) -> Result<(), ResolveError> {
    rows(path, |line, rec| {
        if rec.len() < 3 {
            return Err(ResolveError::MissingColumns {
                path: path.into(),
                line,
                expected: "start,end,country",
                found: rec.len(),
            });
        }
        let (start, end) = parse_range(path, line, rec[0].trim(), rec[1].trim())?;
        let code = rec[2].trim();
        if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ResolveError::Csv {
                path: path.into(),
                line,
                message: format!("malformed country code {code:?}: expected two letters (ISO 3166 alpha-2)"),
            });
        }
        out.add_geo(start, end, Geo { country: code.to_ascii_uppercase(), city: String::new() });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use vtrack_model::config::ResolveConfig;

    use crate::Table;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("vtrack-country-csv-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("country.csv");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_country_range_places_an_as_range_without_naming_it() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let countries = write("places", "198.18.0.0,198.19.255.255,nl\n3fff::,3fff::ffff,DE\n");
        let cfg =
            ResolveConfig { asn_csv: vec![dir.join("asn.csv")], country_csv: vec![countries], ..Default::default() };
        let table = Table::build(&cfg).unwrap();
        let hit = table.lookup("198.18.4.4".parse().unwrap()).unwrap();
        assert_eq!(hit.info.country, "NL");
        assert!(hit.info.asn != 0, "the organisation still comes from the AS ranges: {:?}", hit.info);
        let only_place = table.lookup("3fff::1".parse().unwrap()).unwrap();
        assert_eq!((only_place.info.country.as_str(), only_place.info.company_domain.as_str()), ("DE", ""));
    }

    #[test]
    fn a_bad_code_names_the_file_and_line() {
        let path = write("bad", "1.0.0.0,1.0.0.255,AU\n1.0.1.0,1.0.3.255,China\n");
        let cfg = ResolveConfig { country_csv: vec![path], ..Default::default() };
        let err = Table::build(&cfg).unwrap_err().to_string();
        assert!(err.contains("country.csv:2") && err.contains("\"China\""), "{err}");
    }
}
