//! Adversarial review of the policy stage (issue 9): Rego results of any shape, a policy that
//! runs too long, linked policy files, and saved plans checked again against their policies.

use spherectl::platform::Platform;

use crate::{Case, ORG, applied};

/// `research` with one project and a dataset: what the policies below look at.
const SET: &str = "---
apiVersion: spherectl/v1
kind: Project
metadata: {name: models, community: research}
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {name: events, project: research/models}
spec: {sizeGb: 5}
";

fn with_policy(policy: &str) -> Case {
    let case = Case::files(&[("org.yaml", &format!("{ORG}{SET}"))]);
    std::fs::create_dir(case.path().join("policies")).unwrap();
    std::fs::write(case.path().join("policies").join("p.rego"), policy).unwrap();
    case
}

/// A `deny` whose results are not strings or objects (a number, `null`) still denies: a policy
/// that yields something is never read as "nothing denied".
#[test]
fn a_deny_of_any_value_denies() {
    for result in ["42", "null", "[\"nested\"]"] {
        let case = with_policy(&format!(
            "package acme\n\nimport rego.v1\n\ndeny contains {result} if count(input.changes) > 0\n"
        ));
        let plan = case.run(&["plan", "."]);
        assert_eq!(plan.code, 1, "{result}: {}{}", plan.stdout, plan.stderr);
        assert!(plan.stderr.contains("spherectl::policy::deny"), "{result}: {}", plan.stderr);
        let apply = case.run(&["apply", ".", "--yes"]);
        assert_eq!(apply.code, 1, "{result}: {}", apply.stderr);
        assert!(apply.stderr.contains("nothing applied"), "{}", apply.stderr);
    }
}

/// A partial object rule, `deny[address] := msg`: with no entry it denies nothing (it used to
/// deny every plan with the message `{}`); each entry denies, about the object its key names.
#[test]
fn a_partial_object_deny_denies_per_entry_and_not_when_empty() {
    let case = with_policy(
        r#"package acme

import rego.v1

deny[change.address] := "no datasets here" if {
    some change in input.changes
    change.kind == "Dataset"
    input.actor == "userAccount:nobody"
}
"#,
    );
    let plan = case.run(&["plan", "."]);
    assert_eq!(plan.code, 0, "{}{}", plan.stdout, plan.stderr);
    assert!(!plan.stderr.contains("{}"), "{}", plan.stderr);
    applied(&case);

    std::fs::write(
        case.path().join("policies").join("p.rego"),
        "package acme\n\nimport rego.v1\n\ndeny[change.address] := \"no datasets here\" if {\n    some change in input.changes\n    change.kind == \"Dataset\"\n}\n",
    )
    .unwrap();
    case.edit("org.yaml", "sizeGb: 5", "sizeGb: 5, description: more");
    let run = case.run(&["plan", ".", "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let finding = &plan["findings"][0];
    assert_eq!(finding["rule"], "spherectl::policy::deny", "{plan:#}");
    assert_eq!(finding["address"], "Dataset/research/models/events", "{plan:#}");
    assert!(finding["message"].as_str().unwrap().contains("no datasets here"), "{plan:#}");
    assert_eq!(finding["source"]["file"], "org.yaml", "{plan:#}");
}

/// A policy that would run for minutes (a comprehension over nine million pairs) is stopped at
/// the time limit, which the error names; the plan fails, it does not hang.
#[test]
fn a_policy_that_runs_too_long_is_stopped() {
    let mut case = with_policy(
        "package acme\n\nimport rego.v1\n\ndeny contains \"slow\" if {\n    count([1 | some i in numbers.range(1, 3000); some j in numbers.range(1, 3000)]) < 0\n}\n",
    );
    case.env.push(("SPHERECTL_POLICY_TIMEOUT".into(), "1".into()));
    let started = std::time::Instant::now();
    let plan = case.run(&["plan", "."]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stderr.contains("the policy rule `data.acme.deny` failed: it ran longer than the 1 s"),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("SPHERECTL_POLICY_TIMEOUT"), "{}", plan.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "{:?}", started.elapsed());
    case.env.retain(|(name, _)| name != "SPHERECTL_POLICY_TIMEOUT");
    case.env.push(("SPHERECTL_POLICY_TIMEOUT".into(), "soon".into()));
    let bad = case.run(&["plan", "."]);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("is not a positive number of seconds"), "{}", bad.stderr);
}

/// A policy file that is a symbolic link (a policy shared between repositories) is evaluated,
/// as a linked manifest is read; it used to be skipped without a word. A linked directory is
/// searched, and a link loop ends.
#[cfg(unix)]
#[test]
fn a_linked_policy_is_evaluated_and_a_link_loop_ends() {
    let case = Case::files(&[("org.yaml", &format!("{ORG}{SET}"))]);
    let shared = tempfile::tempdir().unwrap();
    std::fs::write(
        shared.path().join("shared.rego"),
        "package shared\n\nimport rego.v1\n\ndeny contains \"the shared policy says no\" if count(input.changes) > 0\n",
    )
    .unwrap();
    let policies = case.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::os::unix::fs::symlink(policies.as_path(), policies.join("loop")).unwrap();
    std::os::unix::fs::symlink(shared.path().join("shared.rego"), policies.join("shared.rego"))
        .unwrap();
    let plan = case.run(&["plan", "."]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("the shared policy says no"), "{}", plan.stderr);

    std::fs::remove_file(policies.join("shared.rego")).unwrap();
    std::os::unix::fs::symlink(shared.path(), policies.join("common")).unwrap();
    let plan = case.run(&["plan", "."]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("the shared policy says no"), "{}", plan.stderr);
    let validate = case.run(&["validate", "."]);
    assert!(validate.stderr.contains("1 policy file parsed"), "{}", validate.stderr);

    // A link to nothing is an error naming it, not a policy left out.
    std::fs::remove_file(policies.join("common")).unwrap();
    std::os::unix::fs::symlink(shared.path().join("gone.rego"), policies.join("gone.rego"))
        .unwrap();
    let plan = case.run(&["plan", "."]);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("gone.rego"), "{}", plan.stderr);
}

/// `plan --policy DIR --out FILE`, then `apply --plan FILE` without `--policy`: apply checks the
/// plan against DIR's policies again, as they are then. It used to look for `policies/` beside
/// the manifests only, so a policy changed to deny since was never run.
#[test]
fn a_saved_plan_is_checked_again_against_its_policy_directory() {
    let case = Case::files(&[("org.yaml", &format!("{ORG}{SET}"))]);
    let dir = case.path().join("org-policies");
    std::fs::create_dir(&dir).unwrap();
    let policy = dir.join("p.rego");
    std::fs::write(
        &policy,
        "package acme\n\nimport rego.v1\n\nwarn contains \"looked at\" if true\n",
    )
    .unwrap();
    let file = case.path().join("plan.json");
    let (dir_arg, file_arg) = (dir.to_str().unwrap(), file.to_str().unwrap());
    let saved = case.run(&["plan", "--policy", dir_arg, ".", "--out", file_arg]);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    assert!(saved.stderr.contains("looked at"), "{}", saved.stderr);

    std::fs::write(
        &policy,
        "package acme\n\nimport rego.v1\n\ndeny contains \"no datasets any more\" if {\n    some change in input.changes\n    change.kind == \"Dataset\"\n}\n",
    )
    .unwrap();
    let apply = case.run(&["apply", "--plan", file_arg, "--yes"]);
    assert_eq!(apply.code, 1, "{}{}", apply.stdout, apply.stderr);
    assert!(apply.stderr.contains("no datasets any more"), "{}", apply.stderr);
    assert!(apply.stderr.contains("nothing applied"), "{}", apply.stderr);
    assert!(case.sandbox().read("bpf00000000000000acme").unwrap().objects.is_empty());

    // The policy directory gone: refused, not applied unchecked.
    std::fs::remove_dir_all(&dir).unwrap();
    let apply = case.run(&["apply", "--plan", file_arg, "--yes"]);
    assert_eq!(apply.code, 64, "{}{}", apply.stdout, apply.stderr);
    assert!(apply.stderr.contains("org-policies"), "{}", apply.stderr);
}

/// `SPHERECTL_ACTOR` that is not a subject (`alice`, a stray space or line break) is a usage
/// error naming the format; it used to plan as a subject without any role, and every finding
/// read "has no role".
#[test]
fn an_actor_that_is_not_a_subject_is_a_usage_error() {
    let case = Case::files(&[("org.yaml", &format!("{ORG}{SET}"))]);
    for actor in
        ["alice", "userAccount:alice ", " userAccount:alice", "userAccount:a\nb", "userAccount:"]
    {
        let plan = case.run_as(&["plan", "."], Some(actor));
        assert_eq!(plan.code, 64, "{actor:?}: {}{}", plan.stdout, plan.stderr);
        assert!(plan.stderr.contains("is not a subject"), "{actor:?}: {}", plan.stderr);
        assert!(plan.stderr.contains("TYPE:ID"), "{}", plan.stderr);
        assert!(!plan.stderr.contains("has no role"), "{}", plan.stderr);
    }
    let plan = case.run_as(&["plan", "."], Some("userAccount:alice"));
    assert_eq!(plan.code, 1, "{}", plan.stderr);
    assert!(plan.stderr.contains("has no role"), "{}", plan.stderr);
}
