//! `docs/vtrack.example.toml` is the configuration reference: it loads with the real parser and checks, and
//! it holds every key the config accepts.
//!
//! The accepted keys are read from the config structs themselves, not from a list kept by hand: every
//! section is `#[serde(deny_unknown_fields)]`, and serde's error for an unknown key names every field the
//! struct has ("unknown field `x`, expected one of `a`, `b`, …"). So the test offers each section (a table,
//! and an array of tables) a key no struct has, and reads the section's fields from the answer, recursively.
//! A field added to any config struct therefore shows up here, and the test fails until the example holds it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use toml::{Table, Value};
use vtrack_model::Config;

/// A key no config struct has.
const PROBE: &str = "__not_a_config_key__";

/// Sections that are maps with keys of the user's choosing (stage and topic names), not structs.
const MAPS: [&str; 2] = ["scoring.stages", "scoring.topics"];

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/vtrack.example.toml")
}

/// One step of a path into the config: a table, or the (only) element of an array of tables.
#[derive(Clone)]
enum Step {
    Table(String),
    Array(String),
}

/// A document with the probe key at `path`, built as TOML values, so arrays of tables nest as they would in
/// a file.
fn probe_document(path: &[Step]) -> Value {
    let mut inner = Table::new();
    inner.insert(PROBE.into(), Value::Integer(0));
    let mut value = Value::Table(inner);
    for step in path.iter().rev() {
        let (key, wrapped) = match step {
            Step::Table(k) => (k, value),
            Step::Array(k) => (k, Value::Array(vec![value])),
        };
        let mut t = Table::new();
        t.insert(key.clone(), wrapped);
        value = Value::Table(t);
    }
    value
}

/// The fields of the struct at `path`, or `None` when nothing there is a struct refusing unknown keys (a
/// plain value, a list of plain values, or a map).
fn fields_at(path: &[Step]) -> Option<BTreeSet<String>> {
    let err = match probe_document(path).try_into::<Config>() {
        Ok(_) => return None,
        Err(e) => e.to_string(),
    };
    let marker = format!("unknown field `{PROBE}`");
    let at = err.find(&marker)?;
    // serde's wording: ", there are no fields", ", expected `a`", ", expected `a` or `b`",
    // ", expected one of `a`, `b`, `c`"; the list ends the line.
    let rest = err[at + marker.len()..].lines().next().unwrap_or_default();
    if rest.starts_with(", there are no fields") {
        return Some(BTreeSet::new());
    }
    let list = rest.strip_prefix(", expected ").unwrap_or_else(|| panic!("unexpected serde wording: {err}"));
    Some(list.split('`').skip(1).step_by(2).map(str::to_string).collect())
}

/// Every dotted key the config accepts below `path`, whose struct has `fields`; each section's own name too.
/// A field is a section when the probe finds a struct under it, as a table or as an array of tables.
fn accepted_keys(path: &mut Vec<Step>, prefix: &str, fields: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    for field in fields {
        let dotted = if prefix.is_empty() { field.clone() } else { format!("{prefix}.{field}") };
        out.insert(dotted.clone());
        if MAPS.contains(&dotted.as_str()) {
            continue;
        }
        for step in [Step::Table(field.clone()), Step::Array(field.clone())] {
            path.push(step);
            if let Some(inner) = fields_at(path) {
                accepted_keys(path, &dotted, &inner, out);
                path.pop();
                break;
            }
            path.pop();
        }
    }
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

fn config_keys() -> BTreeSet<String> {
    let top = fields_at(&[]).expect("Config refuses unknown keys");
    let mut keys = BTreeSet::new();
    accepted_keys(&mut Vec::new(), "", &top, &mut keys);
    keys
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
