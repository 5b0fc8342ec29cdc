//! The OpenAPI document kept true: every operation it lists is called on a real `vtrack serve` with traffic,
//! an owner and a status, and each answer is checked against the document's schema (required properties,
//! types, nullability, enums, recursively). API.md and the document list the same endpoints, and a path
//! neither lists is 404, so an endpoint added without its description fails here. The tracker's beacon
//! (`/v1/…`, README's "The beacon API") is posted its example and must describe every field the server reads.

use crate::common;

use common::{api, start_site, view, Server, BROWSER_UA, TOKEN};
use serde_json::Value;
use std::collections::BTreeSet;

fn spec() -> Value {
    let path = common::repo_root().join("crates/vtrack-api/assets/openapi.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).expect("openapi.json is JSON")
}

/// `$ref` to `#/components/schemas/…`, resolved.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").expect("a local schema reference");
            resolve(spec, &spec["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The ways `value` breaks `schema`, each with where (`at`).
fn violations(spec: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    let nullable = schema["nullable"].as_bool().unwrap_or(false)
        || resolve(spec, &schema["allOf"][0])["nullable"].as_bool().unwrap_or(false);
    if value.is_null() {
        if !nullable {
            out.push(format!("{at}: null, and the schema does not allow it"));
        }
        return;
    }
    if let Some(all) = schema["allOf"].as_array() {
        for s in all {
            violations(spec, s, value, at, out);
        }
        return;
    }
    let ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some(other) => panic!("{at}: schema type {other} not checked here"),
        None => true,
    };
    if !ok {
        out.push(format!("{at}: {value} is not {}", schema["type"]));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            out.push(format!("{at}: {value} is not one of {}", schema["enum"]));
        }
    }
    if let Some(required) = schema["required"].as_array() {
        for key in required.iter().filter_map(Value::as_str) {
            if value.get(key).is_none() {
                out.push(format!("{at}: no `{key}`"));
            }
        }
    }
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), value.as_object()) {
        for (key, sub) in props {
            if let Some(v) = obj.get(key) {
                violations(spec, sub, v, &format!("{at}.{key}"), out);
            }
        }
    }
    if let (Some(extra), Some(obj)) = (schema.get("additionalProperties").filter(|s| s.is_object()), value.as_object())
    {
        for (key, v) in obj {
            violations(spec, extra, v, &format!("{at}.{key}"), out);
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            violations(spec, items, v, &format!("{at}[{i}]"), out);
        }
    }
}

fn start(dir: &std::path::Path) -> Server {
    start_site(
        dir,
        "[[owners]]\nname = \"ana\"\n[[owners]]\nname = \"bo\"\n[[assign]]\nteam = [\"ana\"]\n\
         [sla]\nhot_followup = \"24h\"\n\
         [[sites]]\nkey = \"example-site\"\nsecrets = [\"example-site-secret-0123456789\"]\n",
    )
}

/// Every `## METHOD /api/…` heading of API.md, as (method, path).
fn documented() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(common::repo_root().join("crates/vtrack-api/API.md")).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("## "))
        .filter_map(|l| l.split_once(' '))
        .filter(|(m, p)| (*m == "GET" || *m == "POST") && p.starts_with("/api/"))
        .map(|(m, p)| (m.to_lowercase(), p.trim().to_string()))
        .collect()
}

#[test]
fn every_operation_of_the_document_answers_as_it_describes() {
    let spec = spec();
    assert!(spec["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let operations: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
        .filter(|(_, path)| !path.starts_with("/v1/"))
        .collect();
    assert_eq!(operations, documented(), "API.md and openapi.json list the same endpoints");

    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    // Acme turns hot from a campaign (an alert, sessions, pages); Globex is a cold account.
    view(&s, "198.51.100.10", "alex", "a1", "/pricing?utm_source=linkedin&utm_medium=paid&utm_campaign=launch");
    view(&s, "198.51.100.10", "alex", "a2", "/demo");
    view(&s, "198.51.100.11", "sam", "a3", "/demo");
    view(&s, "198.51.100.70", "gia", "g1", "/blog/post");
    s.wait_for("SELECT count(*) AS n FROM alerts", |r| r[0]["n"] == 1);
    s.wait_for("SELECT count(*) AS n FROM accounts", |r| r[0]["n"] == 2);

    let served = api(&s, TOKEN, "GET", "/api/openapi.json", "");
    assert_eq!(served.status, 200);
    assert_eq!(served.json(), spec, "the server answers the document in the repo");

    // The writes first, so that the reads below see a status and an owner change.
    let mut checked = 0;
    for method in ["post", "get"] {
        for (m, template) in operations.iter().filter(|(m, _)| m == method) {
            let path = template.replace("{domain}", "acme-robotics.example");
            let op = &spec["paths"][template][m];
            let body = op["requestBody"]["content"]["application/json"]["example"].to_string();
            let body = if m == "post" { body.as_str() } else { "" };
            let r = api(&s, TOKEN, &m.to_uppercase(), &path, body);
            assert_eq!(r.status, 200, "{} {path}: {}", m.to_uppercase(), r.body);
            let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
            let mut wrong = Vec::new();
            violations(&spec, schema, &r.json(), &format!("{} {path}", m.to_uppercase()), &mut wrong);
            assert!(wrong.is_empty(), "answers that break the document:\n{}", wrong.join("\n"));
            checked += 1;
        }
    }
    assert_eq!(checked, operations.len());

    // The beacon: its example (for the site `start` adds) is accepted as described, and its schema names
    // every field the server reads.
    let beacon = &spec["paths"]["/v1/events"]["post"];
    let example = &beacon["requestBody"]["content"]["text/plain"]["example"];
    let fields = &spec["components"]["schemas"]["Beacon"];
    let mut wrong = Vec::new();
    violations(&spec, fields, example, "the beacon example", &mut wrong);
    let r = s.request("POST", "/v1/events", &[("user-agent", BROWSER_UA)], example.to_string().as_bytes()).unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    violations(
        &spec,
        &beacon["responses"]["202"]["content"]["application/json"]["schema"],
        &r.json(),
        "202",
        &mut wrong,
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let every_field = vtrack_model::Beacon {
        ts: Some(1),
        eng_ms: Some(1),
        email: Some(String::new()),
        props: Some(serde_json::json!({})),
        auto: Some(0),
        ..Default::default()
    };
    let read: BTreeSet<String> =
        serde_json::to_value(every_field).unwrap().as_object().unwrap().keys().cloned().collect();
    let described: BTreeSet<String> = fields["properties"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(described, read, "openapi.json's Beacon and vtrack_model::Beacon name the same fields");

    // The server-side API: its example is accepted with the site's secret and refused without, and its
    // schema names every field the server reads.
    let server = &spec["paths"]["/v1/server/events"]["post"];
    let example = &server["requestBody"]["content"]["application/json"]["example"];
    let fields = &spec["components"]["schemas"]["ServerEvent"];
    violations(&spec, fields, example, "the server event example", &mut wrong);
    let auth = [("authorization", "Bearer example-site-secret-0123456789")];
    let r = s.request("POST", "/v1/server/events", &auth, example.to_string().as_bytes()).unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
    violations(
        &spec,
        &server["responses"]["202"]["content"]["application/json"]["schema"],
        &r.json(),
        "202",
        &mut wrong,
    );
    let refused = s.request("POST", "/v1/server/events", &[], example.to_string().as_bytes()).unwrap();
    assert_eq!(refused.status, 401);
    violations(
        &spec,
        &server["responses"]["401"]["content"]["application/json"]["schema"],
        &refused.json(),
        "401",
        &mut wrong,
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let every_field = vtrack_model::event::ServerEvent {
        ts: Some(1),
        email: Some(String::new()),
        props: Some(serde_json::json!({})),
        ip: Some(String::new()),
        ..Default::default()
    };
    let read: BTreeSet<String> =
        serde_json::to_value(every_field).unwrap().as_object().unwrap().keys().cloned().collect();
    let described: BTreeSet<String> = fields["properties"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(described, read, "openapi.json's ServerEvent and vtrack_model's name the same fields");

    // The answers above were not vacuous: the detail carries the status, the owner change and the alert.
    let detail = api(&s, TOKEN, "GET", "/api/accounts/acme-robotics.example", "").json();
    assert_eq!(detail["status"]["status"], "contacted");
    assert_eq!(detail["owner_history"][0]["owner"], "bo");
    assert_eq!(detail["alerts"][0]["kind"], "became_hot");
    // A path neither lists does not exist.
    assert_eq!(api(&s, TOKEN, "GET", "/api/undocumented", "").status, 404);
    // The checker itself catches a missing property and a wrong type.
    let list = &spec["components"]["schemas"]["AccountList"];
    let mut wrong = Vec::new();
    violations(&spec, list, &serde_json::json!({"site": "s1", "total": "2", "stages": []}), "x", &mut wrong);
    assert_eq!(wrong.len(), 2, "{wrong:?}");
}
