//! `attribution.json`, written beside the snapshot: which package versions the snapshot was compiled from,
//! under which licences, and whom to credit. The dashboard's footer and `vtrack data update` read it; the
//! CC BY 4.0 licences of RouteViews, DB-IP and the NRO ask for the credit wherever the data is used.

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::package::Package;
use crate::DataError;

/// What a snapshot was compiled from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// When the snapshot was compiled, UTC (`2026-12-01 01:40:52`).
    pub updated_at: String,
    /// The same, Unix ms: when `[resolve] auto_update` next runs is counted from it.
    pub updated_at_ms: i64,
    pub registry: String,
    /// Ranges read from the CSVs.
    pub ranges: usize,
    pub packages: Vec<PackageAttribution>,
}

/// One package a snapshot was compiled from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageAttribution {
    pub name: String,
    pub version: String,
    /// The registry's `sha512-…` of the tarball, checked on download.
    pub integrity: String,
    /// The package's own `license` field, as published.
    pub license_field: String,
    /// The licence in words.
    pub licence: String,
    /// Link text and URL of everyone the licence asks to credit.
    pub credits: Vec<(String, String)>,
    /// The licence and notice files the package ships, by file name.
    pub notices: Vec<(String, String)>,
}

impl PackageAttribution {
    pub(crate) fn new(package: &Package, release: &crate::Release, notices: Vec<(String, String)>) -> Self {
        PackageAttribution {
            name: release.name.clone(),
            version: release.version.clone(),
            integrity: release.integrity.clone(),
            license_field: release.license.clone(),
            licence: package.licence.to_string(),
            credits: package.credits.iter().map(|c| (c.text.to_string(), c.url.to_string())).collect(),
            notices,
        }
    }
}

impl Attribution {
    /// Reads the attribution file; `None` when there is none (no update has succeeded yet).
    pub fn read(path: &Path) -> Result<Option<Attribution>, DataError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(DataError::io(path, e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| DataError::Attribution { path: path.to_path_buf(), reason: e.to_string() })
    }

    /// One line of text: who to credit, under which licence, and the versions.
    pub fn text(&self) -> String {
        let versions: Vec<String> = self.packages.iter().map(|p| format!("{} {}", p.name, p.version)).collect();
        format!(
            "IP data by {}, licensed CC BY 4.0, via ip-location-db ({})",
            join(&self.credit_list().iter().map(|(t, _)| t.clone()).collect::<Vec<_>>()),
            versions.join(", ")
        )
    }

    /// The credit as an HTML fragment with the links the licences ask for (DB-IP's own wording among them),
    /// escaped: for the dashboard's footer.
    pub fn footer_html(&self) -> String {
        let links: Vec<String> = self
            .credit_list()
            .iter()
            .map(|(text, url)| format!("<a href=\"{}\">{}</a>", escape(url), escape(text)))
            .collect();
        let versions: Vec<String> =
            self.packages.iter().map(|p| format!("{} {}", escape(&p.name), escape(&p.version))).collect();
        format!(
            "IP data by {}, licensed <a href=\"https://creativecommons.org/licenses/by/4.0/\">CC BY 4.0</a>, \
             via <a href=\"https://github.com/sapics/ip-location-db\">ip-location-db</a> ({}, updated {})",
            join(&links),
            versions.join(", "),
            escape(self.updated_at.get(..10).unwrap_or(&self.updated_at)),
        )
    }

    /// Every credit once, in package order.
    fn credit_list(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for c in self.packages.iter().flat_map(|p| &p.credits) {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
        out
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_footer_credits_everyone_once_with_their_links_and_escapes() {
        let release = |name: &str| crate::Release {
            name: name.into(),
            version: "2.3.<b>".into(),
            tarball: String::new(),
            integrity: String::new(),
            license: String::new(),
        };
        let a = Attribution {
            updated_at: "2026-12-01T01:40:52.000Z".into(),
            updated_at_ms: 0,
            registry: String::new(),
            ranges: 0,
            packages: vec![
                PackageAttribution::new(&crate::package::ASN, &release("@ip-location-db/asn"), Vec::new()),
                PackageAttribution::new(&crate::package::COUNTRY, &release("@ip-location-db/x"), Vec::new()),
            ],
        };
        let html = a.footer_html();
        assert_eq!(html.matches("https://www.nro.net/").count(), 1, "{html}");
        assert!(html.contains("<a href=\"https://db-ip.com\">IP Geolocation by DB-IP</a>"), "{html}");
        assert!(html.contains("RouteViews") && html.contains("2.3.&lt;b&gt;") && html.contains("2026-12-01"));
        assert!(a.text().starts_with("IP data by RouteViews, IP Geolocation by DB-IP and NRO, licensed CC BY 4.0"));
    }
}
