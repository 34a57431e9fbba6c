//! Adversarial tests, third round: the CLI's contracts (exit codes, stdout carrying only data,
//! the plan JSON of every action and of a saved plan) and manifests as real repositories hold
//! them (CRLF, a byte-order mark, unicode, `.yml`, nested directories, comment-only files,
//! empty documents, every field of DESIGN §2). A test marked `#[ignore = "defect: ..."]`
//! reproduces a defect that is not fixed yet.

use serde_json::Value;

use crate::{Case, ORG, applied, converged};

fn write(case: &Case, name: &str, text: &[u8]) {
    let path = case.path().join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Exit codes

/// `spherectl` alone, or `spherectl sandbox` with no subcommand, is a usage error (64): a
/// script that forgot the command must not read it as success.
#[test]
fn a_missing_subcommand_is_a_usage_error() {
    let case = Case::files(&[("org.yaml", ORG)]);
    for args in [&[][..], &["sandbox"][..]] {
        let run = case.run(args);
        assert_eq!(run.code, 64, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: help of a usage error goes to stderr");
        assert!(run.stderr.contains("Usage"), "{}", run.stderr);
    }
    // Asking for help is not an error.
    assert_eq!(case.run(&["--help"]).code, 0);
    assert_eq!(case.run(&["sandbox", "--help"]).code, 0);
}

// ---------------------------------------------------------------------------------------------
// Manifests as repositories hold them

/// Everything DESIGN §2 shows, spread the way a real repository spreads it: a `.yml` file in a
/// nested directory, a file written on Windows (CRLF, byte-order mark) with unicode text, a
/// file of comments only, an empty document between two others, quoted keys, anchors and
/// aliases, flow and block style. It validates, plans, applies and converges.
#[test]
fn a_real_world_repository_validates_applies_and_converges() {
    let case = Case::files(&[]);
    write(
        &case,
        "org.yml",
        b"# The organization\napiVersion: spherectl/v1\nkind: Organization\nmetadata: {name: acme}\nspec:\n  id: bpf00000000000000acme\n  sharing: {requiredRoles: {project: admin, community: admin}}   # the default\n",
    );
    write(&case, "teams/README.yaml", b"# Team manifests live below.\n# (nothing here yet)\n");
    write(
        &case,
        "teams/communities.yaml",
        "\u{feff}apiVersion: spherectl/v1\r\nkind: Community\r\nmetadata:\r\n  name: research\r\n  labels: {team: research}\r\nspec:\r\n  description: \"Исследования — ML 🚀\"\r\n  zone: ru-central1-a\r\n  billingAccount: dn2000000000000bill\r\n  members:\r\n    - {subject: \"userAccount:alice\", role: admin}\r\n---\r\n---\r\napiVersion: spherectl/v1\r\nkind: Community\r\nmetadata: {name: analytics}\r\nspec:\r\n"
            .as_bytes(),
    );
    write(
        &case,
        "teams/ml/deep/project.yaml",
        br#"apiVersion: spherectl/v1
kind: Project
metadata: {name: fraud-detection, community: research, labels: &labels {team: research}}
spec:
  description: Fraud models
  settings: {serviceAccount: aje00000000000000sa, defaultFolder: b1g000000000folder,
             subnet: e9b0000000000subnet, staleExecTimeout: three-hours,   # one-hour | three-hours | no-timeout
             securityGroups: [enp00000000000000sg], dataProcCluster: c9q0000000000dproc,
             vmInactivityTimeout: 30m, defaultDedicatedSpec: c1.4}
  limits: {maxUnitsPerHour: 100, maxUnitsPerExecution: 10}
  balance: 1000
  members: [{subject: "serviceAccount:ci", role: admin}]
---
"apiVersion": 'spherectl/v1'
"kind": "Project"
metadata:
  "name": reporting
  community: analytics
  dependsOn: [Project/research/fraud-detection]
spec:
  settings:
    staleExecTimeout: no-timeout
  uses:
    - {kind: Alias, ref: research/fraud-detection/scoring}
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: nlp, community: research}
spec:
  settings: {staleExecTimeout: one-hour}
"#,
    );
    write(
        &case,
        "teams/ml/resources.yml",
        r#"apiVersion: spherectl/v1
kind: Secret
metadata: {name: db-password, project: research/fraud-detection}
spec:
  value: {fromEnv: APP_TOKEN}
---
apiVersion: spherectl/v1
kind: DockerImage
metadata: {name: py, project: research/fraud-detection}
spec:
  repository: cr.yandex/acme/py
  tag: "1.0"
  dockerfile: |
    FROM python:3.11
    RUN pip install numpy
  active: true
---
apiVersion: spherectl/v1
kind: Node
metadata:
  name: scorer
  project: research/fraud-detection
  dependsOn: [Secret/research/fraud-detection/db-password]
spec:
  source: {dockerImage: py}
  instanceType: c1.4
  instances: {min: 1, max: 3}
  zone: ru-central1-a
  subnet: e9b0000000000subnet
  folder: b1g000000000folder
  acl: [b1g000000000folder]
  env: [db-password]
  endpoint: {type: grpc, port: 9000}
  healthCheck: {type: http, path: /health, port: 8080, timeout: 5, interval: 10, failsThreshold: 3, passesThreshold: 1}
---
apiVersion: spherectl/v1
kind: Alias
metadata: {name: scoring, project: research/fraud-detection}
spec:
  backends: [{node: scorer, weight: 100}]
  folder: &folder b1g000000000folder
  acl: [*folder]
  publish: [analytics]
---
apiVersion: spherectl/v1
kind: S3Connection
metadata: {name: raw, project: research/fraud-detection}
spec:
  endpoint: https://storage.yandexcloud.net/
  bucket: raw
  mountName: raw
  accessKeyId: YCAJE0000000000000001
  secretKey: {secret: db-password}
  mode: read-only
  active: true
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {name: ds, project: research/fraud-detection, lifecycle: {preventDestroy: true}}
spec:
  sizeGb: 10
  zone: ru-central1-a
  mountPath: /home/jupyter/mnt/datasets/ds
  initCode: "print(1)"
  active: true
  publish: [analytics]
---
apiVersion: spherectl/v1
kind: Checkpoint
metadata: {name: ck, project: research/fraud-detection}
spec: {description: "модель v1", pinned: true, publish: [analytics]}
"#
        .as_bytes(),
    );
    let validate = case.run(&["validate"]);
    assert_eq!(validate.code, 0, "{}", validate.stderr);
    let plan = case.run(&["plan", "--format", "json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let settings = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "Project/research/fraud-detection")
        .unwrap();
    let paths: Vec<&str> =
        settings["fields"].as_array().unwrap().iter().filter_map(|f| f["path"].as_str()).collect();
    for path in
        ["spec.settings.subnet", "spec.settings.dataProcCluster", "spec.settings.securityGroups"]
    {
        assert!(paths.iter().any(|p| p.starts_with(path)), "{path} not in {paths:?}");
    }
    applied(&case);
    converged(&case);
}

/// The `file:line:col` header counts characters, as editors and compilers do: a byte-order
/// mark is no column, and each Cyrillic letter before the error is one column, not two.
#[test]
fn an_error_column_counts_characters_not_bytes() {
    let case = Case::files(&[("org.yaml", ORG)]);
    write(
        &case,
        "bom.yaml",
        "\u{feff}apiVersion: spherectl/v2\nkind: Community\nmetadata: {name: other}\n".as_bytes(),
    );
    write(
        &case,
        "ru.yaml",
        "apiVersion: spherectl/v1\nkind: Community\nmetadata: {name: третья}\nspec: {description: \"Исследования\", zonee: x}\n"
            .as_bytes(),
    );
    // A line long enough to be shown clipped still names its column in the whole line.
    let long = format!(
        "apiVersion: spherectl/v1\nkind: Community\nmetadata: {{name: fourth}}\nspec: {{description: \"{}\", zonee: x}}\n",
        "é".repeat(300)
    );
    write(&case, "long.yaml", long.as_bytes());
    let run = case.run(&["validate"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("[long.yaml:4:325]"), "{}", run.stderr);
    assert!(run.stderr.contains("[bom.yaml:1:13]"), "{}", run.stderr);
    assert!(run.stderr.contains("[ru.yaml:4:37]"), "{}", run.stderr);
}

/// `spec:` with nothing after it is an empty spec, as `settings:` or `labels:` with nothing
/// after them are empty: a community needs no spec at all.
#[test]
fn a_spec_with_nothing_after_it_is_an_empty_spec() {
    let case = Case::files(&[(
        "org.yaml",
        &format!(
            "{ORG}---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {{name: empty}}\nspec:\n---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: p, community: empty}}\nspec:\n  settings:\n  limits:\n"
        ),
    )]);
    let run = case.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // A kind whose spec has required fields still says what is missing.
    write(
        &case,
        "ds.yaml",
        b"apiVersion: spherectl/v1\nkind: Dataset\nmetadata: {name: d, project: empty/p}\nspec:\n",
    );
    let run = case.run(&["validate"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("missing field `spec`"), "{}", run.stderr);
    assert!(run.stderr.contains("[ds.yaml:2:7]"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// Plan JSON

/// Keys DESIGN §7 fixes at the top of the plan JSON (and `schemas/plan.schema.json` requires).
const PLAN_KEYS: [&str; 5] = ["formatVersion", "platform", "summary", "changes", "findings"];

/// The README's loop saves the plan as `plan.json` (`plan --out plan.json`): that file is the
/// plan JSON, readable by what reads `plan --format json` (a review bot, a policy check), with
/// what `apply --plan` needs beside it; today the plan is nested under a `plan` key.
#[test]
fn a_saved_plan_file_is_plan_json() {
    let case = Case::example("quickstart");
    let run = case.run(&["plan", ".", "--out", "plan.json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(case.path().join("plan.json")).unwrap())
            .unwrap();
    let printed = case.plan_json();
    for key in PLAN_KEYS {
        assert!(saved.get(key).is_some(), "saved plan has no top-level `{key}`");
    }
    assert_eq!(saved["changes"], printed["changes"]);
    assert_eq!(saved["summary"], printed["summary"]);
}

/// A secret's field is `sensitive: true` with no value: `before` and `after` are null, not a
/// placeholder string a consumer would take for the value (or diff as a change of it).
#[test]
fn a_sensitive_field_carries_no_value() {
    let case = Case::example("quickstart");
    let plan = case.plan_json();
    let mut seen = 0;
    for change in plan["changes"].as_array().unwrap() {
        for field in change["fields"].as_array().unwrap() {
            if field["sensitive"] == true {
                seen += 1;
                assert!(
                    field["before"].is_null() && field["after"].is_null(),
                    "{}: {field}",
                    change["address"]
                );
            }
        }
    }
    assert!(seen > 0, "the quickstart creates secrets: some field must be sensitive");
}

/// A create lists every field it sets, labels included (`metadata.labels.team`, as an update
/// does): a reviewer must see the labels a new object gets, since labels drive cost reports
/// and policies.
#[test]
fn a_create_shows_its_labels() {
    let case = Case::example("quickstart");
    let plan = case.plan_json();
    let community = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "Community/research" && c["action"] == "create")
        .unwrap();
    let team = community["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "metadata.labels.team")
        .unwrap_or_else(|| panic!("no metadata.labels.team in {}", community["fields"]));
    assert!(team["before"].is_null());
    assert_eq!(team["after"], "research");
}

/// A document that cannot be read (here a community with an unknown role) leaves its children
/// without a parent, but their own mistakes are still theirs: the alias's weights and the
/// plaintext secret are reported in the same run, not after the first fix.
#[test]
fn a_broken_parent_does_not_hide_its_childrens_own_mistakes() {
    let case = Case::files(&[(
        "org.yaml",
        org_then!(
            "spec:
  members: [{subject: \"userAccount:alice\", role: owner}]
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: p, community: research}
---
apiVersion: spherectl/v1
kind: Alias
metadata: {name: a, project: research/p}
spec: {backends: [{node: n, weight: 90}]}
---
apiVersion: spherectl/v1
kind: Secret
metadata: {name: s, project: research/p}
spec: {value: plaintext-password}
"
        ),
    )]);
    let run = case.run(&["validate"]);
    assert_eq!(run.code, 1);
    for expected in [
        "unknown value `owner`",
        "[org.yaml:10:50]",
        "weights sum to 90",
        "[org.yaml:19:18]",
        "plaintext secret values are not allowed",
        "[org.yaml:24:15]",
    ] {
        assert!(run.stderr.contains(expected), "no {expected} in {}", run.stderr);
    }
    assert!(!run.stderr.contains("plaintext-password"), "{}", run.stderr);
}

/// `serve --listen` with no `HOST:PORT` (or a port past 65535) is a bad flag value: exit 64,
/// as every other bad flag value, not 1 as a port already in use.
#[test]
fn a_listen_address_that_is_no_host_and_port_is_a_usage_error() {
    let case = Case::files(&[("org.yaml", ORG)]);
    for listen in ["notanaddr", "127.0.0.1:99999", "localhost:http-port"] {
        let run = case.run(&["serve", "--listen", listen, "--token", "t=userAccount:local-admin"]);
        assert_eq!(run.code, 64, "{listen}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{listen}: {}", run.stdout);
        assert!(run.stderr.contains("HOST:PORT"), "{}", run.stderr);
    }
}

/// An object whose name is invalid is reported once, and its document is still checked: its
/// labels and spec have their own mistakes, reported in the same run, while nothing that only
/// follows from the bad name (its resources' parent, references to it) is reported again.
#[test]
fn an_invalid_name_does_not_hide_the_documents_other_mistakes() {
    let case = Case::files(&[(
        "org.yaml",
        &format!(
            "{ORG}---
apiVersion: spherectl/v1
kind: Community
metadata: {{name: c, labels: {{Bad: x}}}}
---
apiVersion: spherectl/v1
kind: Project
metadata: {{name: Bad_P, community: research}}
spec: {{balance: -5}}
---
apiVersion: spherectl/v1
kind: Alias
metadata: {{name: al, project: research/Bad_P}}
spec: {{backends: [{{node: n, weight: 90}}], publish: [research]}}
---
apiVersion: spherectl/v1
kind: Project
metadata: {{name: ok, community: research}}
spec:
  uses: [{{kind: Alias, ref: research/Bad_P/al}}]
"
        ),
    )]);
    let run = case.run(&["validate"]);
    assert_eq!(run.code, 1);
    for expected in [
        "invalid community name `c`",
        "invalid label key `Bad`",
        "invalid project name `Bad_P`",
        "`spec.balance` cannot be negative",
        "weights sum to 90",
    ] {
        assert!(run.stderr.contains(expected), "no {expected} in {}", run.stderr);
    }
    assert!(run.stderr.contains("5 errors"), "{}", run.stderr);
}

// ---------------------------------------------------------------------------------------------
// Policy (DESIGN §6)

/// Organization policies in Rego (`policies/` beside the manifests, or `--policy DIR`) run on
/// every plan over the plan JSON: a `deny` fails the plan (exit 1, a finding in the JSON), a
/// `warn` is shown. Today `--policy` is parsed and then ignored, and no `.rego` file is read:
/// a policy a team relies on silently never runs.
#[test]
fn a_rego_deny_fails_the_plan() {
    let case = Case::files(&[("org.yaml", ORG)]);
    let policy = r#"package spherectl

import rego.v1

deny contains msg if {
    some change in input.changes
    change.kind == "Community"
    change.action == "create"
    msg := sprintf("%s: communities are created by the platform team", [change.address])
}
"#;
    write(&case, "policies/communities.rego", policy.as_bytes());
    let run = case.run(&["plan", "--format", "json"]);
    assert_eq!(run.code, 1, "a deny must fail the plan: {}", run.stderr);
    let plan: Value = serde_json::from_str(&run.stdout).unwrap();
    let findings = plan["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["message"]
            .as_str()
            .is_some_and(|m| m.contains("communities are created by the platform team"))),
        "{findings:?}"
    );
    // The same policy from another directory, named by --policy.
    std::fs::rename(case.path().join("policies"), case.path().join("rules")).unwrap();
    let run = case.run(&["plan", "--policy", "rules"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
}

/// A file reached twice (`validate . org.yaml`, `./org.yaml` beside `org.yaml`, a link to a
/// file of the set) is one file: it must not be reported as a duplicate of itself.
#[test]
fn a_file_reached_twice_is_read_once() {
    let case = Case::example("quickstart");
    for args in [
        &["validate", ".", "organization.yaml"][..],
        &["validate", "./organization.yaml", "organization.yaml", "project.yaml", "resources.yaml"]
            [..],
    ] {
        let run = case.run(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("organization.yaml", case.path().join("link.yaml")).unwrap();
        let run = case.run(&["validate"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let plan = case.run(&["plan", ".", "organization.yaml", "--format", "json"]);
        assert_eq!(plan.code, 0, "{}", plan.stderr);
        serde_json::from_str::<Value>(&plan.stdout).unwrap();
    }
}
