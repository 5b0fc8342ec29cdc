//! `docs/vtrack.example.toml` is the configuration reference: it loads with the real parser and checks, and
//! it holds every key the config accepts.
//!
//! The accepted keys are read from the config structs themselves (`common::config_keys`), not from a list
//! kept by hand, so a field added to any config struct fails the test until the example holds it.

mod common;

use common::{config_keys, MAPS};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use toml::{Table, Value};
use vtrack_model::Config;

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/vtrack.example.toml")
}

/// Every dotted key the example file sets; an array of tables contributes the keys of all its elements.
fn example_keys(prefix: &str, table: &Table, out: &mut BTreeSet<String>) {
    for (key, value) in table {
        let dotted = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        out.insert(dotted.clone());
        if MAPS.contains(&dotted.as_str()) {
            continue;
        }
        match value {
            Value::Table(t) => example_keys(&dotted, t, out),
            Value::Array(items) => {
                for item in items {
                    if let Value::Table(t) = item {
                        example_keys(&dotted, t, out);
                    }
                }
            }
            _ => {}
        }
    }
}

#[test]
fn the_example_config_loads_with_the_real_parser_and_checks() {
    let config = Config::load(&example_path()).unwrap_or_else(|e| panic!("docs/vtrack.example.toml: {e}"));
    assert!(config.kafka.is_some() && config.clickhouse.is_some(), "the example shows every section");
}

#[test]
fn the_example_config_holds_every_key_the_config_accepts() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let example: Table = toml::from_str(&text).unwrap();
    let mut in_example = BTreeSet::new();
    example_keys("", &example, &mut in_example);
    let accepted = config_keys();
    let missing: Vec<_> = accepted.difference(&in_example).collect();
    assert!(
        missing.is_empty(),
        "docs/vtrack.example.toml lacks these config keys; add each with a comment and an example value: {missing:?}"
    );
    // The other way round the loader already refuses unknown keys; this says which.
    let unknown: Vec<_> = in_example.difference(&accepted).collect();
    assert!(unknown.is_empty(), "docs/vtrack.example.toml sets keys the config does not have: {unknown:?}");
}

/// The mechanism itself: it finds the nested sections (arrays of tables, inline tables, optional sections),
/// and a section that silently accepted unknown keys would hide its fields, so every table the example
/// holds must be either a known map or a struct that refuses them.
#[test]
fn the_accepted_keys_are_read_from_the_structs() {
    let keys = config_keys();
    for key in [
        "server.listen",
        "sites.timezone",
        "scoring.pages.weight",
        "alerts.webhooks.max_attempts",
        "dashboard.users.role",
        "limits.sign_in_failures.burst",
        "kafka.delivery_timeout",
        "owners.secret",
        "assign.domains_file",
        "sla.escalation.timeout",
        "digest.hour",
    ] {
        assert!(keys.contains(key), "{key} not found among {keys:?}");
    }
    let text = std::fs::read_to_string(example_path()).unwrap();
    let example: Table = toml::from_str(&text).unwrap();
    fn tables(prefix: &str, table: &Table, out: &mut Vec<String>) {
        for (key, value) in table {
            let dotted = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            let inner: Vec<&Table> = match value {
                Value::Table(t) => vec![t],
                Value::Array(items) => items.iter().filter_map(Value::as_table).collect(),
                _ => continue,
            };
            if !inner.is_empty() {
                out.push(dotted.clone());
            }
            if !MAPS.contains(&dotted.as_str()) {
                for t in inner {
                    tables(&dotted, t, out);
                }
            }
        }
    }
    let mut sections = Vec::new();
    tables("", &example, &mut sections);
    for section in sections {
        let has_fields = keys.iter().any(|k| k.starts_with(&format!("{section}.")));
        assert!(
            has_fields || MAPS.contains(&section.as_str()),
            "[{section}] takes any key: give its struct #[serde(deny_unknown_fields)] (or list it in MAPS)"
        );
    }
}
