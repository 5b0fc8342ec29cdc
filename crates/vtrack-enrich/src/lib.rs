//! Enrichment: finding the organisation behind an address the hot path only knows as an ISP's.
//!
//! Most companies own no AS; their offices sit in a carrier's space. Off the hot path, an address that
//! resolved to `isp`, `unknown` or an AS-only organisation is looked up in reverse DNS: a PTR name in the
//! company's own domain that leads back to the address (forward-confirmed) names the company. What is
//! found becomes a learned range that the resolver answers from memory on the next visit.
//!
//! | module | its one job |
//! | --- | --- |
//! | [`ptr_name`] | which PTR names can name an organisation (generated, dynamic, ISP's, private suffix) |
//! | [`dns`] | PTR and forward lookups through `hickory-resolver`, failures sorted by how to cache them |
//! | [`rdap`] | the registries' network records (opt-in): bootstrap, pacing, `429`/`5xx`, the registrant rule |
//! | [`reverse_dns`] | one address, check by check (what `vtrack enrich IP…` prints) |
//! | [`network`] | a network's own PTR names: access network, hoster or organisation (issue 22) |
//! | [`stage`] | the bounded, de-duplicated queue beside ingest, its caches and metrics |

pub mod dns;
pub mod network;
pub mod ptr_name;
pub mod rdap;
pub mod reverse_dns;
pub mod stage;

pub use dns::{Dns, DnsFailure};
pub use network::NetworkPtr;
pub use rdap::{Bootstrap, Rdap};
pub use reverse_dns::{investigate, worth_a_lookup, Finding, Lookups, Outcome};
pub use stage::{Enricher, Learn, StageConfig, Visits};
