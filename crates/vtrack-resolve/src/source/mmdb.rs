//! The MaxMind DB layer: organisations and places from any MMDB file.
//!
//! Every network of the file is read once, at build time, so lookups never decode MMDB records. Fields
//! understood, at the top level or under `traits` (GeoIP2 Enterprise):
//!
//! | what | fields, first present wins |
//! | --- | --- |
//! | organisation | `organization`, `organisation`, `company_name`, `company`, `isp`, `autonomous_system_organization` |
//! | AS number | `autonomous_system_number` |
//! | domain | `domain`, `company_domain` (else `as<N>` when the AS number is known) |
//! | class | `network_class` (vtrack's own names), `user_type` (Enterprise), else the name rules |
//! | country | `country.iso_code`, else `registered_country.iso_code` |
//! | city | `city.names.en` |
//!
//! So GeoLite2/GeoIP2 City and Country give places, ASN and ISP give organisations, Enterprise gives both.

use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use ipnetwork::IpNetwork;
use serde::Deserialize;
use vtrack_model::NetworkClass;

use super::csv_ranges::last_address;
use super::{Geo, Org, Source, Sources};
use crate::classify;
use crate::ResolveError;

#[derive(Deserialize, Default)]
struct OrgFields<'a> {
    #[serde(borrow, default)]
    organization: Option<&'a str>,
    #[serde(borrow, default)]
    organisation: Option<&'a str>,
    #[serde(borrow, default)]
    company_name: Option<&'a str>,
    #[serde(borrow, default)]
    company: Option<&'a str>,
    #[serde(borrow, default)]
    isp: Option<&'a str>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    domain: Option<&'a str>,
    #[serde(borrow, default)]
    company_domain: Option<&'a str>,
    #[serde(borrow, default)]
    network_class: Option<&'a str>,
    #[serde(borrow, default)]
    user_type: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Country<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct City<'a> {
    #[serde(borrow, default)]
    names: Names<'a>,
}

#[derive(Deserialize, Default)]
struct GeoFields<'a> {
    #[serde(borrow, default)]
    country: Option<Country<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<Country<'a>>,
    #[serde(borrow, default)]
    city: Option<City<'a>>,
    #[serde(borrow, default)]
    traits: Option<OrgFields<'a>>,
}

fn nonempty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

impl OrgFields<'_> {
    fn name(&self) -> Option<&str> {
        [
            self.organization,
            self.organisation,
            self.company_name,
            self.company,
            self.isp,
            self.autonomous_system_organization,
        ]
        .into_iter()
        .find_map(nonempty)
    }

    /// Adds the organisation these fields describe, if they name one or give an AS number, for the range
    /// `start..=end`; returns whether they did.
    fn add(&self, out: &mut Sources, start: IpAddr, end: IpAddr) -> bool {
        let asn = self.autonomous_system_number.unwrap_or(0);
        let Some(name) = self.name().or((asn != 0).then_some("")) else { return false };
        let domain = nonempty(self.domain).or(nonempty(self.company_domain));
        let own = nonempty(self.network_class)
            .and_then(|c| NetworkClass::from_str(c).ok())
            .or_else(|| nonempty(self.user_type).and_then(classify::from_user_type));
        if domain.is_none() && own.is_none() {
            // Known by name and AS number only, like an AS range: classified once per organisation.
            out.add_asn_org(start, end, name, asn, Source::Mmdb);
        } else {
            let org = Org {
                name: name.to_string(),
                domain: match domain {
                    Some(d) => d.to_ascii_lowercase(),
                    None if asn != 0 => format!("as{asn}"),
                    None => String::new(),
                },
                asn,
                class: own.unwrap_or_else(|| classify::classify(name, asn)),
                source: Source::Mmdb,
            };
            out.add_org(start, end, org);
        }
        true
    }
}

/// Reads every network of an MMDB file into `out`.
pub(super) fn read(path: &Path, out: &mut Sources) -> Result<(), ResolveError> {
    let err = |message: String| ResolveError::Mmdb { path: path.to_path_buf(), message };
    let reader = maxminddb::Reader::open_readfile(path).map_err(|e| match e {
        maxminddb::MaxMindDbError::Io(source) => ResolveError::io(path, source),
        other => err(other.to_string()),
    })?;
    let networks = reader.networks(maxminddb::WithinOptions::default()).map_err(|e| err(e.to_string()))?;
    let (mut orgs, mut places) = (0usize, 0usize);
    for item in networks {
        let item = item.map_err(|e| err(e.to_string()))?;
        let net: IpNetwork = item.network().map_err(|e| err(e.to_string()))?;
        let record = |e: maxminddb::MaxMindDbError| err(format!("record for {net}: {e}"));
        let top: OrgFields = item.decode().map_err(record)?.unwrap_or_default();
        let geo: GeoFields = item.decode().map_err(record)?.unwrap_or_default();
        let (start, end): (IpAddr, IpAddr) = (net.network(), last_address(net));
        if top.add(out, start, end) || geo.traits.as_ref().is_some_and(|t| t.add(out, start, end)) {
            orgs += 1;
        }
        let country = geo
            .country
            .as_ref()
            .and_then(|c| nonempty(c.iso_code))
            .or_else(|| geo.registered_country.as_ref().and_then(|c| nonempty(c.iso_code)));
        let city = geo.city.as_ref().and_then(|c| nonempty(c.names.en));
        if country.is_some() || city.is_some() {
            let place = Geo { country: country.unwrap_or("").to_string(), city: city.unwrap_or("").to_string() };
            out.add_geo(start, end, place);
            places += 1;
        }
    }
    tracing::debug!(path = %path.display(), orgs, places, "MaxMind DB read");
    Ok(())
}
