//! IP address → company, network class and place, for every beacon ingest receives.
//!
//! The sources are layered, most specific layer first:
//!
//! 1. the customer's own ranges (`--companies`, CSV `cidr,name,domain[,class]`),
//! 2. MaxMind-format databases (`--mmdb`: City, ASN, ISP, Enterprise, or any with an organisation field),
//! 3. AS-level ranges (`--asn-csv`, CSV `start,end,asn,org` as in the npm package `@ip-location-db/asn`).
//!
//! Country ranges (`--country-csv`, CSV `start,end,country` as in `@ip-location-db/geo-whois-asn-country`)
//! give places only, like an MMDB's City data. `vtrack data update` fetches the free AS and country data
//! and compiles them into a snapshot.
//!
//! They are read once and compiled into an immutable [`Table`]: overlaps resolved (see [who
//! wins](crate#who-wins)), every distinct answer interned once, and the address space laid out as a Poptrie
//! (a direct array plus popcount-compressed multibit nodes), so a lookup is a few array reads with no
//! allocation, lock or decoding. [`Resolver`] holds the live table and swaps in a rebuilt one atomically on
//! reload; [`Table::write_snapshot`] (`vtrack build-db`) saves a compiled table that loads in milliseconds.
//!
//! | module | its one job |
//! | --- | --- |
//! | `source` | read each source file into ranges, with file and line in every error |
//! | [`account_key`] | the account key rule every source calls; `rekey` for the stores' migration |
//! | [`classify`] | the network class rules for organisations whose source does not say |
//! | [`as_profile`] | an AS's footprint in the AS data (ranges, addresses), the rules' signal beyond names |
//! | [`learned`] | the learned layer: networks enrichment found, answered from memory above the IP databases |
//! | [`eval`] | scores those rules on a hand-labelled set of real ASes (`vtrack classify --eval`) |
//! | `compile` | resolve overlaps into disjoint segments, intern the answers |
//! | `poptrie` | the lookup structure |
//! | `table`, `resolver` | the public API: [`Table`], [`Answer`], [`Hit`], [`Resolver`] |
//! | `snapshot` | the `vtrack build-db` file format, checked on load |
//!
//! # Who wins
//!
//! - The organisation comes from the highest layer that knows the address, even when a lower layer has a
//!   narrower range: the customer knows their own accounts best.
//! - Networks enrichment learned ([`learned`], reverse DNS) answer below the customer's ranges and above the
//!   MMDB and AS layers ([`Resolver::company`]), keeping the table's AS number and place.
//! - Within a layer the narrowest range wins, whatever the file order; among equally narrow ranges, the
//!   first read (config order, then line order).
//! - The place (country, city) comes from the narrowest MMDB network or country range that has one,
//!   whichever layer gave the organisation.
//! - `company_domain`, the account key, names the organisation ([`account_key`]): its domain when a
//!   trustworthy one is known (the customer CSV's; an MMDB domain that is a registrable, non-private domain and
//!   not its ISP's), `as<N>` only for the organisation that runs AS N itself, else its name key
//!   (`org:la-presse`), never the AS number of a network it is a customer of.
//! - A customer an MMDB names inside its carrier's space is classed by its own name, not the carrier's AS.
//! - The network class is the source's own (the customer CSV's 4th column, an MMDB's `network_class` or
//!   `user_type`), else [`classify::classify`]'s documented rules; for the AS-range layer, an AS whose
//!   name says nothing is classed by its footprint in that layer ([`as_profile`]).
//!
//! ```
//! use vtrack_model::config::ResolveConfig;
//! use vtrack_resolve::Table;
//!
//! let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
//! let cfg = ResolveConfig {
//!     companies: vec![fixtures.join("companies.csv")],
//!     asn_csv: vec![fixtures.join("asn.csv")],
//!     ..Default::default()
//! };
//! let table = Table::build(&cfg)?;
//! let hit = table.lookup("198.51.100.70".parse()?).expect("a known range");
//! assert_eq!(hit.info.company_domain, "globex.example");
//! assert_eq!(hit.prefix.to_string(), "198.51.100.64/27");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Performance
//!
//! On the real `@ip-location-db/asn` data (412k IPv4 and 103k IPv6 ranges) a random IPv4
//! [`Table::resolve`] takes about 9 ns on one core of a 2.6 GHz Xeon, about 16× less than `maxminddb`
//! decoding the same record and over 5× less than the `prefix-trie` crate; the IPv4 trie is smaller than the
//! plain prefix list.
//! `benches/` measures it (`cargo bench -p vtrack-benches`, or `cargo run --release -p vtrack-benches
//! --example compare` for a side-by-side table).

pub mod account_key;
pub mod as_profile;
pub mod class_model;
pub mod class_train;
pub mod classify;
mod compile;
mod error;
pub mod eval;
pub mod learned;
mod poptrie;
#[cfg(test)]
mod reference;
mod resolver;
mod snapshot;
mod source;
mod table;

pub use error::ResolveError;
pub use learned::LearnedLayer;
pub use resolver::Resolver;
pub use source::{Source, Sources};
pub use table::{Answer, Hit, Table};
