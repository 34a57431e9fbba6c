//! Regression tests for the core loop's safety defects (issue 7): each is named after the defect
//! and drives the real binary against the embedded sandbox.

use serde_json::Value;

use crate::{Case, actions};

const ORG: &str = "apiVersion: spherectl/v1
kind: Organization
metadata: {name: acme}
spec: {id: bpf00000000000000acme}
---
apiVersion: spherectl/v1
kind: Community
metadata: {name: research}
";

fn project(name: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: {name}, community: research{extra}}}\n"
    )
}

fn applied(case: &Case) {
    let apply = case.run(&["apply", ".", "--yes"]);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
}

fn live_objects(case: &Case) -> Vec<spherectl::platform::LiveObject> {
    use spherectl::platform::Platform as _;
    case.sandbox().read("bpf00000000000000acme").unwrap().objects
}

#[test]
fn user_text_that_looks_like_an_address_is_never_rewritten_into_an_id() {
    let text = format!(
        "{ORG}---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: alpha, community: research}}\nspec: {{description: \"Community/research\"}}\n"
    );
    let case = Case::files(&[("org.yaml", &text)]);
    applied(&case);
    let project = live_objects(&case).into_iter().find(|o| o.name == "alpha").unwrap();
    assert_eq!(project.attributes["spec.description"], Value::from("Community/research"));
    let again = case.run(&["plan", ".", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

#[test]
fn a_duration_written_another_way_is_no_drift() {
    let with = |timeout: &str| {
        format!(
            "{ORG}---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: alpha, community: research}}\nspec: {{settings: {{vmInactivityTimeout: {timeout}}}}}\n"
        )
    };
    let case = Case::files(&[("org.yaml", &with("30m"))]);
    applied(&case);
    std::fs::write(case.path().join("org.yaml"), with("1800s")).unwrap();
    let plan = case.plan_json();
    assert!(actions(&plan).is_empty(), "{plan:#}");
    std::fs::write(case.path().join("org.yaml"), with("31m")).unwrap();
    let plan = case.plan_json();
    assert_eq!(actions(&plan), vec![("update".into(), "Project/research/alpha".into())]);
}

#[allow(dead_code)]
fn unused() -> String {
    project("x", "")
}
