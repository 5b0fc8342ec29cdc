//! The MaxMind DB layer: organisations and places from any MMDB file.
//!
//! Every network of the file is read once, at build time, so lookups never decode MMDB records. Fields
//! understood, at the top level or under `traits` (GeoIP2 Enterprise):
//!
//! | what | fields, first present wins |
//! | --- | --- |
//! | organisation | `organization`, `organisation`, `company_name`, `company`, `isp`, `autonomous_system_organization` |
//! | AS number | `autonomous_system_number` |
//! | account key | `company_domain`, `domain`, kept as below; else `as<N>` or the name key ([`crate::account_key`]) |
//! | class | `network_class` (vtrack's own names), `user_type` (Enterprise), else the name rules |
//! | country | `country.iso_code`, else `registered_country.iso_code` |
//! | city | `city.names.en` |
//!
//! An ISP or Enterprise database names organisations inside their ISP's space: "La Presse" on Cogent's
//! AS174, "Bevtec" on Bredband2's. The record's `isp` and `autonomous_system_organization` tell the
//! network's **operator** (the organisation is one of them, or the record names nothing else) from a
//! **customer** of it, and:
//!
//! - the key of a customer is never its carrier's `as<N>`: `as<N>` is kept for the organisation that is
//!   the record's AS organisation (its ISP when the record names none), every other one gets its domain or
//!   its name key (`org:la-presse`), also when the record has no AS number;
//! - a customer without a class of its own is classed by its own name (`classify(name, 0)`), not by the
//!   carrier's well-known AS number;
//! - `domain` is the domain of the address's PTR name, usually the ISP's. It is reduced to its registrable
//!   domain ([`account_key::registrable_domain`]), and is no key at all when it is not one (`in-addr.arpa`,
//!   a bare public suffix) or sits under a private public suffix (`*.amazonaws.com`, dynamic DNS). For a
//!   customer it is also no key when it is named after the ISP or AS organisation (`bredband2.com` for
//!   "Bredband2 AB") or when [`SHARED_DOMAIN_ORGS`] or more differently named organisations of the file
//!   share it, unless it is named after the customer itself.
//!
//! The file's organisations are therefore keyed once all of it is read, when those counts are known.
//!
//! `id_confidence` is the layer's 70, 80 ([`DOMAIN_CONFIDENCE`]) for an organisation keyed by its own
//! domain, and the AS layer's 50 for a record that names nothing but its AS (GeoLite2-ASN).
//!
//! So GeoLite2/GeoIP2 City and Country give places, ASN and ISP give organisations, Enterprise gives both.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

use ipnetwork::IpNetwork;
use serde::Deserialize;
use vtrack_model::{IdSource, NetworkClass};

use super::csv_ranges::last_address;
use super::{Geo, Org, Source, Sources};
use crate::{account_key, classify, ResolveError};

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
    /// The organisation these fields describe, if they name one or give an AS number.
    fn describe(&self) -> Option<Named> {
        let asn = self.autonomous_system_number.unwrap_or(0);
        let org_name =
            [self.organization, self.organisation, self.company_name, self.company].into_iter().find_map(nonempty);
        let isp = nonempty(self.isp);
        let as_org = nonempty(self.autonomous_system_organization);
        let name = org_name.or(isp).or(as_org).or((asn != 0).then_some(""))?;
        // The network's operator: the record names nothing but its ISP or AS, or the organisation is one of them.
        let operator =
            org_name.is_none() || [isp, as_org].into_iter().flatten().any(|o| account_key::same_org(name, o));
        // Runs its AS: the organisation is the AS organisation (the ISP when the record names no AS organisation).
        let runs_its_as = match as_org.or(isp) {
            Some(o) => account_key::same_org(name, o),
            None => org_name.is_none(),
        };
        // A company's own domain first, then the record's domain (usually its PTR name's).
        let domain = nonempty(self.company_domain)
            .and_then(account_key::registrable_domain)
            .or_else(|| nonempty(self.domain).and_then(account_key::registrable_domain));
        let domain_of_isp = domain.as_deref().is_some_and(|d| {
            !operator
                && !account_key::domain_names(d, name)
                && [isp, as_org].into_iter().flatten().any(|o| account_key::domain_names(d, o))
        });
        let own_class = nonempty(self.network_class)
            .and_then(|c| NetworkClass::from_str(c).ok())
            .or_else(|| nonempty(self.user_type).and_then(classify::from_user_type));
        let only_as = org_name.is_none() && isp.is_none();
        Some(Named { name: name.to_string(), asn, domain, operator, runs_its_as, only_as, domain_of_isp, own_class })
    }
}

/// A domain used by at least this many organisations (distinct [`account_key::name_words`]) of one MMDB
/// file is an ISP's or a hoster's PTR domain, not the account key of any of the customers it names. A
/// company with a few differently named branches sharing its domain stays below it.
pub(crate) const SHARED_DOMAIN_ORGS: usize = 5;

/// The `id_confidence` of an MMDB organisation keyed by its own domain (an Enterprise or ISP database's
/// organisation with a registrable domain that is not its ISP's): above the layer's 70, since the database
/// named the organisation and its domain agrees. An organisation without one keeps the layer's 70; a record
/// that names nothing but its AS (GeoLite2-ASN) says no more than the AS layer does, so gets its 50.
pub(crate) const DOMAIN_CONFIDENCE: u8 = 80;

/// An organisation as one MMDB record names it, before the whole file is read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Named {
    name: String,
    asn: u32,
    /// The registrable domain of the record's `company_domain` or `domain`, when it is one.
    domain: Option<String>,
    /// The organisation runs the network it sits in: its name is the record's ISP or AS organisation, or
    /// the record names nothing else. Otherwise it is a customer of that network.
    operator: bool,
    /// The organisation is its AS's own: keyed `as<N>` when it has no domain.
    runs_its_as: bool,
    /// The record names nothing but the AS (`autonomous_system_*` only, as in GeoLite2-ASN).
    only_as: bool,
    /// The domain is named after the ISP or AS organisation of a customer: the ISP's, not the customer's.
    domain_of_isp: bool,
    own_class: Option<NetworkClass>,
}

/// The organisations of one MMDB file and their networks, held until the file is read, when how many
/// organisations share each domain is known.
#[derive(Default)]
struct FileOrgs {
    named: Vec<Named>,
    index: HashMap<Named, u32>,
    ranges: Vec<(IpAddr, IpAddr, u32)>,
}

impl FileOrgs {
    fn add(&mut self, start: IpAddr, end: IpAddr, named: Named) {
        let id = match self.index.get(&named) {
            Some(&id) => id,
            None => {
                let id = self.named.len() as u32;
                self.named.push(named.clone());
                self.index.insert(named, id);
                id
            }
        };
        self.ranges.push((start, end, id));
    }

    /// Decides every organisation's key and class and adds its networks to `out`, in file order.
    fn finish(self, out: &mut Sources) {
        let mut users: HashMap<&str, HashSet<Vec<String>>> = HashMap::new();
        for n in &self.named {
            if let Some(d) = &n.domain {
                users.entry(d).or_default().insert(account_key::name_words(&n.name));
            }
        }
        let orgs: Vec<Org> =
            self.named
                .iter()
                .map(|n| {
                    let shared = |d: &str| users.get(d).map_or(0, HashSet::len) >= SHARED_DOMAIN_ORGS;
                    let domain = n.domain.as_deref().filter(|d| {
                        n.operator || account_key::domain_names(d, &n.name) || !(n.domain_of_isp || shared(d))
                    });
                    // A customer is classed by its own name: the carrier's AS number says what the carrier is.
                    let (class, class_confidence) = match n.own_class {
                        Some(class) => (class, 90),
                        None => classify::by_name(&n.name, if n.operator { n.asn } else { 0 }),
                    };
                    let confidence = if n.only_as {
                        IdSource::Asn.default_confidence()
                    } else if domain.is_some() {
                        DOMAIN_CONFIDENCE
                    } else {
                        IdSource::Mmdb.default_confidence()
                    };
                    Org {
                        name: n.name.clone(),
                        domain: account_key::account_key(&n.name, n.asn, n.runs_its_as, domain),
                        asn: n.asn,
                        class,
                        source: Source::Mmdb,
                        confidence,
                        class_confidence,
                    }
                })
                .collect();
        for (start, end, id) in self.ranges {
            if let Some(org) = orgs.get(id as usize) {
                out.add_org(start, end, org.clone());
            }
        }
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
    let mut file_orgs = FileOrgs::default();
    for item in networks {
        let item = item.map_err(|e| err(e.to_string()))?;
        let net: IpNetwork = item.network().map_err(|e| err(e.to_string()))?;
        let record = |e: maxminddb::MaxMindDbError| err(format!("record for {net}: {e}"));
        let top: OrgFields = item.decode().map_err(record)?.unwrap_or_default();
        let geo: GeoFields = item.decode().map_err(record)?.unwrap_or_default();
        let (start, end): (IpAddr, IpAddr) = (net.network(), last_address(net));
        if let Some(named) = top.describe().or_else(|| geo.traits.as_ref().and_then(OrgFields::describe)) {
            file_orgs.add(start, end, named);
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
    file_orgs.finish(out);
    tracing::debug!(path = %path.display(), orgs, places, "MaxMind DB read");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use vtrack_model::config::ResolveConfig;
    use vtrack_model::NetworkClass;

    use super::SHARED_DOMAIN_ORGS;
    use crate::Table;
    use vtrack_testkit::mmdb::{Value, Writer};

    /// A table of one hand-built MMDB: `(network, fields)` with string fields, or `asn` as a number.
    fn table(tag: &str, networks: &[(&str, &[(&str, &str)])]) -> Table {
        let mut w = Writer::new("Test-ISP");
        for (net, fields) in networks {
            let map = fields.iter().map(|&(k, v)| {
                let value = match k {
                    "autonomous_system_number" => Value::U32(v.parse().expect("an AS number")),
                    _ => Value::str(v),
                };
                (k, value)
            });
            w.insert(net.parse().expect("a network"), &Value::map(map));
        }
        let dir = std::env::temp_dir().join(format!("vtrack-mmdb-keys-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("test.mmdb");
        let mut bytes = Vec::new();
        w.write(&mut bytes).expect("write mmdb");
        std::fs::write(&path, bytes).expect("write mmdb");
        let table = Table::build(&ResolveConfig { mmdb: vec![path], ..Default::default() }).expect("builds");
        let _ = std::fs::remove_dir_all(&dir);
        table
    }

    fn key(t: &Table, ip: &str) -> (String, NetworkClass) {
        let hit = t.lookup(ip.parse::<IpAddr>().expect("an address")).expect("a known address");
        (hit.info.company_domain.clone(), hit.info.network_class)
    }

    const TELEKOM: [(&str, &str); 3] = [
        ("isp", "Deutsche Telekom AG"),
        ("autonomous_system_organization", "Deutsche Telekom AG"),
        ("autonomous_system_number", "3320"),
    ];

    #[test]
    fn a_carriers_customers_are_keyed_and_classed_by_their_own_name() {
        let customer = [&[("organization", "Bäckerei Schmidt GmbH")][..], &TELEKOM].concat();
        let carrier = [&[("organization", "Deutsche Telekom")][..], &TELEKOM].concat();
        let only_isp = [("isp", "Tiny Net"), ("autonomous_system_number", "64500")];
        let t = table(
            "customers",
            &[
                ("10.0.0.0/24", &customer),
                ("10.0.1.0/24", &carrier),
                ("10.0.2.0/24", &[("autonomous_system_number", "64501")]),
                ("10.0.3.0/24", &[("organization", "Lariat Software"), ("isp", "Century Link")]),
                ("10.0.4.0/24", &only_isp),
            ],
        );
        assert_eq!(key(&t, "10.0.0.1"), ("org:bäckerei-schmidt".into(), NetworkClass::Business));
        assert_eq!(key(&t, "10.0.1.1"), ("as3320".into(), NetworkClass::Isp), "the carrier itself");
        assert_eq!(key(&t, "10.0.2.1").0, "as64501", "nothing but an AS number");
        assert_eq!(key(&t, "10.0.3.1").0, "org:lariat-software", "named without an AS number");
        assert_eq!(key(&t, "10.0.4.1").0, "as64500", "the ISP is the AS organisation when none is named");
    }

    #[test]
    fn an_isps_domain_is_not_its_customers_key() {
        let customer = |name, domain| {
            [&[("organization", name), ("domain", domain)][..], &TELEKOM[..2], &[("autonomous_system_number", "3320")]]
                .concat()
        };
        let nets: Vec<(String, Vec<(&str, &str)>)> = vec![
            ("10.1.0.0/24".into(), customer("Bevtec", "telekom.de")),
            ("10.1.1.0/24".into(), customer("Stonehouse", "in-addr.arpa")),
            ("10.1.2.0/24".into(), customer("Rented", "host-1.compute.amazonaws.com")),
            ("10.1.3.0/24".into(), customer("Bare", "co.uk")),
            ("10.1.4.0/24".into(), customer("Acme", "mail.acme.co.uk")),
            ("10.1.5.0/24".into(), customer("Deutsche Telekom AG", "telekom.de")),
        ];
        let refs: Vec<(&str, &[(&str, &str)])> = nets.iter().map(|(n, f)| (n.as_str(), f.as_slice())).collect();
        let t = table("isp-domain", &refs);
        assert_eq!(key(&t, "10.1.0.1").0, "org:bevtec", "named after the ISP");
        assert_eq!(key(&t, "10.1.1.1").0, "org:stonehouse", "not a registrable domain");
        assert_eq!(key(&t, "10.1.2.1").0, "org:rented", "under a private public suffix");
        assert_eq!(key(&t, "10.1.3.1").0, "org:bare", "a bare public suffix");
        assert_eq!(key(&t, "10.1.4.1").0, "acme.co.uk", "a host reduced to its registrable domain");
        assert_eq!(key(&t, "10.1.5.1").0, "telekom.de", "the ISP's own domain is the ISP's key");
    }

    #[test]
    fn a_domain_many_organisations_share_is_a_ptr_domain() {
        let names = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"];
        let build = |count: usize| {
            let mut nets: Vec<(String, Vec<(&str, &str)>)> = names[..count]
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("10.2.{i}.0/24"), vec![("organization", *n), ("domain", "ptr-net.example")]))
                .collect();
            // Named after the domain: its own, however many share it.
            nets.push(("10.2.100.0/24".into(), vec![("organization", "PTR Net"), ("domain", "ptr-net.example")]));
            let refs: Vec<(&str, &[(&str, &str)])> = nets.iter().map(|(n, f)| (n.as_str(), f.as_slice())).collect();
            table(&format!("shared-{count}"), &refs)
        };
        let below = build(SHARED_DOMAIN_ORGS - 2);
        assert_eq!(key(&below, "10.2.0.1").0, "ptr-net.example", "a few names: branches of one company");
        let shared = build(SHARED_DOMAIN_ORGS);
        assert_eq!(key(&shared, "10.2.0.1").0, "org:alpha");
        assert_eq!(key(&shared, "10.2.1.1").0, "org:bravo");
        assert_eq!(key(&shared, "10.2.100.1").0, "ptr-net.example");
    }
}
