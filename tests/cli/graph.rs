//! `spherectl graph`: the quickstart's dependency graph in each format, on stdout.

use crate::{assert_cli_snapshot, spherectl};

fn graph(format: &str) -> crate::Run {
    spherectl(["graph", "examples/quickstart", "--format", format])
}

#[test]
fn quickstart_dot() {
    let output = assert_cli_snapshot!(graph("dot"));
    assert_eq!(output.code, Some(0));
}

#[test]
fn quickstart_mermaid() {
    let output = assert_cli_snapshot!(graph("mermaid"));
    assert_eq!(output.code, Some(0));
}

#[test]
fn quickstart_json() {
    let output = assert_cli_snapshot!(graph("json"));
    assert_eq!(output.code, Some(0));
    let json: serde_json::Value =
        serde_json::from_str(&output.stdout).expect("graph --format json prints JSON");
    assert!(json["nodes"].is_array() && json["edges"].is_array());
}

/// The graph of invalid manifests is not printed: the diagnostics are, and it exits 1.
#[test]
fn invalid_manifests() {
    let output = assert_cli_snapshot!(spherectl([
        "graph",
        "tests/fixtures/validate/dependency_cycle",
        "--format",
        "mermaid"
    ]));
    assert_eq!(output.code, Some(1));
    assert!(output.stdout.is_empty());
}
