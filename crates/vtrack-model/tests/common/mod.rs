//! What the config tests share: the keys the config accepts, read from the config structs themselves.
//!
//! Every section is `#[serde(deny_unknown_fields)]`, and serde's error for an unknown key names every field
//! the struct has ("unknown field `x`, expected one of `a`, `b`, …"). So each section (a table, and an array
//! of tables) is offered a key no struct has, and its fields are read from the answer, recursively. A field
//! added to any config struct therefore shows up here without a list kept by hand.
#![allow(dead_code)]

use std::collections::BTreeSet;
use toml::{Table, Value};
use vtrack_model::Config;

/// A key no config struct has.
const PROBE: &str = "__not_a_config_key__";

/// Sections that are maps with keys of the user's choosing (stage and topic names), not structs.
pub const MAPS: [&str; 3] = ["scoring.stages", "scoring.topics", "scoring.event_weights"];

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

/// Every dotted key the config accepts, each section's own name too, read from the config structs.
pub fn config_keys() -> BTreeSet<String> {
    let top = fields_at(&[]).expect("Config refuses unknown keys");
    let mut keys = BTreeSet::new();
    accepted_keys(&mut Vec::new(), "", &top, &mut keys);
    keys
}
