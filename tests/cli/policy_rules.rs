//! Issue 9: one fixture per built-in rule, failing and passing, under
//! `tests/fixtures/policy/<rule>/{before,fail,pass}/`, and `spherectl policy test`.
//!
//! A rule that needs live state has a `before/` set, applied first by the organization admin to
//! a sandbox in a temporary directory; some also set the sandbox up through the platform API
//! (another organization, a project made in the console, a quota). Then `fail/` must be refused
//! with the rule's id (its diagnostics, without colour, are the snapshot) and `pass/` accepted.
//! Ids the sandbox makes up are written `NAME_ID` in the fixtures and shown so in snapshots.

use std::path::Path;

use spherectl::{
    manifest::Kind,
    platform::{CreateRequest, Platform, sandbox::Sandbox},
    rules::SharingRoles,
};

use crate::{Output, assert_cli_snapshot, spherectl};

const ORG_ID: &str = "bpf00000000000000acme";

/// How a fixture runs.
struct Fixture {
    rule: &'static str,
    /// `validate` (static rules) or `plan`.
    command: &'static str,
    actor: Option<&'static str>,
    /// Prepares the sandbox after `before/` is applied; returns `(placeholder, id)` pairs.
    setup: fn(&Sandbox) -> Vec<(&'static str, String)>,
}

fn no_setup(_: &Sandbox) -> Vec<(&'static str, String)> {
    Vec::new()
}

fn community_in(sandbox: &Sandbox, organization: &str, name: &str, zone: &str) -> String {
    let attributes = [("spec.zone".to_owned(), serde_json::Value::from(zone))].into();
    sandbox
        .create(&CreateRequest {
            kind: Kind::Community,
            parent_id: organization.into(),
            name: name.into(),
            labels: Default::default(),
            attributes,
            secret: None,
        })
        .unwrap()
}

/// Communities not managed by the fixture: `near` (same zone), `far` (another zone), and
/// `partner` in another organization.
fn communities(sandbox: &Sandbox) -> Vec<(&'static str, String)> {
    let other = "bpf0000000000000other";
    sandbox.set_sharing(other, SharingRoles::default()).unwrap();
    vec![
        ("NEAR_ID", community_in(sandbox, ORG_ID, "near", "ru-central1-a")),
        ("FAR_ID", community_in(sandbox, ORG_ID, "far", "ru-central1-b")),
        ("PARTNER_ID", community_in(sandbox, other, "partner", "ru-central1-a")),
    ]
}

/// A project made in the console (no set label) in `analytics` that uses `events`.
fn console_user(sandbox: &Sandbox) -> Vec<(&'static str, String)> {
    let live = sandbox.read(ORG_ID).unwrap();
    let find = |kind: Kind, name: &str| {
        live.objects.iter().find(|o| o.kind == kind && o.name == name).unwrap().id.clone()
    };
    let project = sandbox
        .create(&CreateRequest {
            kind: Kind::Project,
            parent_id: find(Kind::Community, "analytics"),
            name: "console".into(),
            labels: Default::default(),
            attributes: Default::default(),
            secret: None,
        })
        .unwrap();
    sandbox.use_resource(&project, Kind::Dataset, &find(Kind::Dataset, "events")).unwrap();
    Vec::new()
}

fn one_project_per_community(sandbox: &Sandbox) -> Vec<(&'static str, String)> {
    sandbox.set_quotas(&[("projects-per-community".into(), Some(1))]).unwrap();
    Vec::new()
}

fn copy_manifests(from: &Path, to: &Path, ids: &[(&str, String)]) {
    for entry in std::fs::read_dir(to).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            std::fs::remove_file(path).unwrap();
        }
    }
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (placeholder, id) in ids {
            text = text.replace(placeholder, id);
        }
        std::fs::write(to.join(path.file_name().unwrap()), text).unwrap();
    }
}

/// Runs `spherectl ARGS` in `dir` as `actor`, with the ids shown as their placeholders.
fn run_in(dir: &Path, args: &[&str], actor: Option<&str>, ids: &[(&str, String)]) -> Output {
    let run = spherectl(args.iter().copied()).in_temp(dir);
    let mut command = run.command();
    if let Some(actor) = actor {
        command.env("SPHERECTL_ACTOR", actor);
    }
    let output = command.output().unwrap();
    let mut output = run.collect(output.status.code(), &output.stdout, &output.stderr);
    for (placeholder, id) in ids {
        output.stdout = output.stdout.replace(id.as_str(), placeholder);
        output.stderr = output.stderr.replace(id.as_str(), placeholder);
    }
    output
}

/// Runs one fixture: `before` (if any), the setup, then `fail` (snapshotted) and `pass`.
fn check(name: &str, fixture: &Fixture) -> Output {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy").join(name);
    let dir = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    if source.join("before").is_dir() {
        copy_manifests(&source.join("before"), dir.path(), &[]);
        let apply = run_in(dir.path(), &["apply", ".", "--yes"], None, &[]);
        assert_eq!(apply.code, Some(0), "{name}: before: {}", apply.stderr);
        let sandbox =
            Sandbox::open(&dir.path().join(".spherectl/sandbox.db"), "userAccount:local-admin")
                .unwrap();
        ids = (fixture.setup)(&sandbox);
    }
    copy_manifests(&source.join("fail"), dir.path(), &ids);
    let failed = run_in(dir.path(), &[fixture.command, "."], fixture.actor, &ids);
    assert_eq!(failed.code, Some(1), "{name}: fail: {}{}", failed.stdout, failed.stderr);
    assert!(failed.stderr.contains(fixture.rule), "{name}: {}", failed.stderr);
    copy_manifests(&source.join("pass"), dir.path(), &ids);
    let passed = run_in(dir.path(), &[fixture.command, "."], fixture.actor, &ids);
    assert_eq!(passed.code, Some(0), "{name}: pass: {}{}", passed.stdout, passed.stderr);
    assert!(!passed.stderr.contains(fixture.rule), "{name}: {}", passed.stderr);
    failed
}

macro_rules! fixtures {
    ($($name:ident: $rule:literal, $command:literal, $actor:expr, $setup:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let fixture = Fixture { rule: $rule, command: $command, actor: $actor, setup: $setup };
                let failed = check(stringify!($name), &fixture);
                insta::with_settings!({description => format!("spherectl {} . ({})", $command, $rule), omit_expression => true}, {
                    insta::assert_snapshot!(failed.stderr);
                });
            }
        )*
        /// Every fixture directory has a test.
        #[test]
        fn every_policy_fixture_has_a_test() {
            let named = [$(stringify!($name)),*];
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy");
            for entry in std::fs::read_dir(dir).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                assert!(named.contains(&name.as_str()), "no test for fixture `{name}`");
            }
        }
    };
}

fixtures! {
    cross_organization: "spherectl::rules::cross_organization", "plan", None, communities;
    publish_zone: "spherectl::rules::publish_zone", "plan", None, communities;
    publish_zone_declared: "spherectl::rules::publish_zone", "validate", None, no_setup;
    publish_roles: "spherectl::rules::publish_roles", "plan", Some("userAccount:bob"), no_setup;
    permission: "spherectl::rules::permission", "plan", Some("userAccount:mallory"), no_setup;
    lockout: "spherectl::rules::lockout", "plan", Some("userAccount:alice"), no_setup;
    in_use: "spherectl::rules::in_use", "plan", None, console_user;
    quota: "spherectl::rules::quota", "plan", None, one_project_per_community;
    use_unpublished: "spherectl::rules::use_unpublished", "validate", None, no_setup;
    unpinned_checkpoint: "spherectl::rules::unpinned_checkpoint", "validate", None, no_setup;
    one_environment: "spherectl::rules::one_environment", "validate", None, no_setup;
}

// ---------------------------------------------------------------------------------------------
// `spherectl policy test`

/// The example's policies pass their own tests.
#[test]
fn the_multi_team_policies_pass_their_tests() {
    let output = spherectl(["policy", "test", "examples/multi-team/policies"]).output();
    assert_eq!(output.code, Some(0), "{}{}", output.stdout, output.stderr);
    assert!(output.stdout.contains("PASS data.spherectl.secrets_test."), "{}", output.stdout);
    assert!(output.stdout.contains("PASS data.spherectl.prod_test."), "{}", output.stdout);
    assert!(output.stdout.contains("PASS data.spherectl.admins_test."), "{}", output.stdout);
    assert!(output.stdout.contains(", 0 failed, "), "{}", output.stdout);
    assert!(!output.stdout.contains("FAIL"), "{}", output.stdout);
}

fn policy_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join("policies").join(name), text).unwrap();
    }
    dir
}

const POLICY: &str = "package acme.deletes

import rego.v1

deny contains msg if {
\tsome change in input.changes
\tchange.action == \"delete\"
\tmsg := sprintf(\"%s: no deletes\", [change.address])
}
";

#[test]
fn policy_test_reports_pass_and_fail_and_exits_1_on_a_failure() {
    let tests = "package acme.deletes_test

import rego.v1

import data.acme.deletes

test_a_delete_is_denied if {
\tdeletes.deny == {\"Project/r/p: no deletes\"} with input as {\"changes\": [{\"address\": \"Project/r/p\", \"action\": \"delete\"}]}
}

test_this_one_is_wrong if {
\tcount(deletes.deny) == 1 with input as {\"changes\": []}
}
";
    let dir = policy_dir(&[("deletes.rego", POLICY), ("deletes_test.rego", tests)]);
    // The default directory is `policies`.
    let output = assert_cli_snapshot!(spherectl(["policy", "test"]).in_temp(dir.path()));
    assert_eq!(output.code, Some(1));
    let passing = tests.split("test_this_one_is_wrong").next().unwrap();
    std::fs::write(dir.path().join("policies/deletes_test.rego"), passing).unwrap();
    let output = spherectl(["policy", "test", "policies"]).in_temp(dir.path()).output();
    assert_eq!(output.code, Some(0), "{}{}", output.stdout, output.stderr);
    assert!(output.stdout.contains("ok: 1 passed, 0 failed"), "{}", output.stdout);
}

#[test]
fn policy_test_names_the_line_of_a_broken_file() {
    let dir = policy_dir(&[
        ("deletes.rego", POLICY),
        ("broken_test.rego", "package x\n\ntest_x if {\n\t1 ==\n}\n"),
    ]);
    let output = assert_cli_snapshot!(spherectl(["policy", "test"]).in_temp(dir.path()));
    assert_eq!(output.code, Some(1));
    assert!(output.stderr.contains("policies/broken_test.rego:5:"), "{}", output.stderr);
}

#[test]
fn policy_test_without_tests_or_directory_fails() {
    let dir = policy_dir(&[("deletes.rego", POLICY)]);
    let output = spherectl(["policy", "test"]).in_temp(dir.path()).output();
    assert_eq!(output.code, Some(1), "{}{}", output.stdout, output.stderr);
    assert!(output.stderr.contains("no `test_*` rules"), "{}", output.stderr);
    let output = spherectl(["policy", "test", "nowhere"]).in_temp(dir.path()).output();
    assert_eq!(output.code, Some(64), "{}", output.stderr);
}
