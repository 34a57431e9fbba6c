//! The checked-in JSON Schemas in `schemas/` must match what the code generates.
//!
//! Run with `SPHERECTL_UPDATE_SCHEMAS=1 cargo test --test schemas` to rewrite them.

use std::path::Path;

fn check(file: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas").join(file);
    if std::env::var_os("SPHERECTL_UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, generated).expect("write schema");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "schemas/{file} is out of date with the Rust types; run `SPHERECTL_UPDATE_SCHEMAS=1 cargo test --test schemas` and commit the result"
    );
}

#[test]
fn manifest_schema_is_up_to_date() {
    check(
        "manifest.schema.json",
        &spherectl::schema::to_pretty(&spherectl::schema::manifest_schema()),
    );
}

#[test]
fn plan_schema_is_up_to_date() {
    check("plan.schema.json", &spherectl::schema::plan_schema().pipe_pretty());
}

#[test]
fn drift_schema_is_up_to_date() {
    check("drift.schema.json", &spherectl::schema::drift_schema().pipe_pretty());
}

trait PipePretty {
    fn pipe_pretty(&self) -> String;
}

impl PipePretty for serde_json::Value {
    fn pipe_pretty(&self) -> String {
        spherectl::schema::to_pretty(self)
    }
}
