//! `vtrack resolve`: looks IP addresses up the way ingest does, one JSON object per address.
//!
//! For debugging the sources: which company, class and place an address gets, from which layer, and the
//! prefix that answer covers.
//!
//! ```sh
//! vtrack resolve --companies fixtures/companies.csv --asn-csv fixtures/asn.csv 198.51.100.70 2001:db8::1
//! vtrack resolve --db table.bin < ips.txt
//! vtrack resolve --data-dir ./vtrack-data 73.0.0.1     # the data `vtrack data update` fetched
//! ```

use std::io::{BufRead, Write};
use std::net::IpAddr;

use anyhow::{bail, Context};
use vtrack_model::event::CompanyInfo;
use vtrack_resolve::Table;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lookup: crate::cmd::sources::LookupArgs,
    /// Addresses to look up; without any, one per line is read from standard input.
    #[arg(value_name = "IP")]
    pub ips: Vec<String>,
}

fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The JSON line for one input, fields in the documented order (`ip, prefix, company_name, ...`).
fn answer(table: &Table, input: &str) -> (String, bool) {
    let Ok(ip) = input.parse::<IpAddr>() else {
        return (format!("{{\"ip\":{},\"error\":\"not an IPv4 or IPv6 address\"}}", quoted(input)), false);
    };
    let hit = table.lookup(ip);
    let empty = CompanyInfo::default();
    let info = hit.as_ref().map_or(&empty, |h| h.info);
    let line = format!(
        "{{\"ip\":{},\"prefix\":{},\"company_name\":{},\"company_domain\":{},\"asn\":{},\"network_class\":{},\"country\":{},\"city\":{},\"source\":{}}}",
        quoted(input),
        hit.as_ref().map_or("null".to_string(), |h| quoted(&h.prefix.to_string())),
        quoted(&info.company_name),
        quoted(&info.company_domain),
        info.asn,
        quoted(info.network_class.as_str()),
        quoted(&info.country),
        quoted(&info.city),
        hit.as_ref().map_or("null".to_string(), |h| quoted(h.source.as_str())),
    );
    (line, true)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Some(cfg) = args.lookup.to_config()? else {
        bail!(
            "nothing to resolve against: give --db FILE, --data-dir DIR (after `vtrack data update`) or at least one \
             of --companies, --mmdb, --asn-csv, --country-csv"
        );
    };
    let table = Table::build(&cfg)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut bad = 0usize;
    let mut emit = |input: &str, out: &mut std::io::StdoutLock<'_>| -> anyhow::Result<()> {
        let (value, ok) = answer(&table, input);
        bad += usize::from(!ok);
        writeln!(out, "{value}").context("cannot write to standard output")?;
        Ok(())
    };
    if args.ips.is_empty() {
        for line in std::io::stdin().lock().lines() {
            let line = line.context("cannot read standard input")?;
            let input = line.trim();
            if !input.is_empty() {
                emit(input, &mut out)?;
                out.flush().context("cannot write to standard output")?;
            }
        }
    } else {
        for input in &args.ips {
            emit(input.trim(), &mut out)?;
        }
    }
    if bad > 0 {
        bail!("{bad} input(s) were not IP addresses");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtrack_model::config::ResolveConfig;

    fn fixtures() -> Table {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let cfg = ResolveConfig {
            companies: vec![dir.join("companies.csv")],
            mmdb: vec![dir.join("demo.mmdb")],
            asn_csv: vec![dir.join("asn.csv")],
            ..Default::default()
        };
        Table::build(&cfg).expect("fixtures build")
    }

    #[test]
    fn one_json_object_per_address_with_the_documented_fields_in_order() {
        let table = fixtures();
        let (line, ok) = answer(&table, "::ffff:198.51.100.70");
        assert!(ok);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["prefix"], "198.51.100.64/27");
        assert_eq!(v["company_domain"], "globex.example");
        assert_eq!(v["network_class"], "business");
        assert_eq!(
            (v["country"].as_str(), v["city"].as_str(), v["source"].as_str()),
            (Some("DE"), Some("Berlin"), Some("companies"))
        );
        let keys =
            ["ip", "prefix", "company_name", "company_domain", "asn", "network_class", "country", "city", "source"];
        let positions: Vec<usize> = keys.iter().map(|k| line.find(&format!("\"{k}\":")).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{line}");
    }

    #[test]
    fn misses_and_bad_input() {
        let table = fixtures();
        let (line, ok) = answer(&table, "10.0.0.1");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(ok && v["prefix"].is_null() && v["source"].is_null());
        assert_eq!(v["network_class"], "unknown");
        let (line, ok) = answer(&table, "300.1.1.1\"");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(!ok);
        assert_eq!(v["ip"], "300.1.1.1\"");
    }
}
