//! Writes `fixtures/demo.mmdb`, the small MaxMind DB the demo and the tests use.
//!
//! ```sh
//! cargo run -p vtrack-resolve --example gen-fixtures
//! ```
//!
//! It is shaped like a GeoIP2 Enterprise database (`country`, `city`, `traits`) so the fixtures exercise
//! both the place and the organisation fields. Every range is a documentation or benchmarking range.

use std::path::Path;

use vtrack_testkit::mmdb::{Value, Writer};

fn place(iso: &str, country: &str, city: Option<&str>) -> Vec<(&'static str, Value)> {
    let names = |name: &str| Value::map([("en", Value::str(name))]);
    let mut fields = vec![("country", Value::map([("iso_code", Value::str(iso)), ("names", names(country))]))];
    if let Some(city) = city {
        fields.push(("city", Value::map([("names", names(city))])));
    }
    fields
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut w = Writer::new("vtrack-Demo-Enterprise");
    w.description("vtrack demo fixture: places for the documentation ranges and one organisation (Hooli)");
    let places = [
        ("198.18.0.0/15", "US", "United States", None),
        ("198.51.100.0/24", "DE", "Germany", Some("Berlin")),
        ("203.0.113.0/24", "GB", "United Kingdom", Some("London")),
        ("2001:db8::/32", "FR", "France", Some("Paris")),
    ];
    for (net, iso, country, city) in places {
        w.insert(net.parse()?, &Value::map(place(iso, country, city)));
    }
    let mut hooli = place("US", "United States", Some("Palo Alto"));
    hooli.push((
        "traits",
        Value::map([
            ("organization", Value::str("Hooli")),
            ("domain", Value::str("hooli.example")),
            ("user_type", Value::str("business")),
        ]),
    ));
    w.insert("192.0.2.0/25".parse()?, &Value::map(hooli));

    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo.mmdb");
    let mut bytes = Vec::new();
    w.write(&mut bytes)?;
    std::fs::write(&out, &bytes)?;
    println!("wrote {} ({} bytes)", out.display(), bytes.len());
    Ok(())
}
