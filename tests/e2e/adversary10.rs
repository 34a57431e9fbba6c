//! Features used together, as a new user adopting spherectl would: import an organization built
//! by hand, add the example Rego policies, then plan, `--target`, destroy, re-import.
//!
//! Every command names its platform (see `import::spherectl`): the case's sandbox database, or
//! with `SPHERECTL_E2E_OVER_HTTP=1` a `spherectl serve` of it.

use std::{collections::BTreeMap, path::Path};

use serde_json::{Value, json};
use spherectl::{
    manifest::Kind,
    platform::{Platform, UpdateRequest},
};

use crate::{
    Case, Run,
    import::{ACME, create, hand_made, import, secret_env, spherectl, written},
    support::id_of,
};

/// The environment that gives the hand-made organization's one secret its variable.
fn env_of(run: &Run) -> Vec<(String, String)> {
    let values =
        BTreeMap::from([("Secret/research/models/token".to_owned(), crate::SECRET.to_owned())]);
    secret_env(run, &values)
}

/// Copies the multi-team example's policies (and their tests) into `imported/policies`.
fn with_example_policies(case: &Case) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/multi-team/policies");
    let to = case.path().join("imported/policies");
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Every live object of the organization as `Kind/name` with its set label, its members and
/// its publications: what an apply may have changed.
fn live_summary(case: &Case) -> Vec<String> {
    let live = case.sandbox().read(ACME).unwrap();
    let mut out: Vec<String> = live
        .objects
        .iter()
        .map(|o| {
            format!(
                "{}/{} set={:?} members={:?}",
                o.kind,
                o.name,
                o.labels.get("spherectl-set"),
                o.members
            )
        })
        .collect();
    out.extend(live.publications.iter().map(|p| format!("{p:?}")));
    out.extend(live.uses.iter().map(|u| format!("{u:?}")));
    out.sort();
    out
}

fn set_of(case: &Case, name: &str) -> Option<String> {
    let live = case.sandbox().read(ACME).unwrap();
    live.objects.iter().find(|o| o.name == name).unwrap().labels.get("spherectl-set").cloned()
}

fn plan_json_of(case: &Case, args: &[&str], env: &[(String, String)]) -> Value {
    let mut all = vec!["plan", "imported", "--format", "json"];
    all.extend(args);
    let run = spherectl(case, &all, env);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

fn only_label_updates(plan: &Value) -> Vec<String> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| {
            assert_eq!(change["action"], "update", "{change:#}");
            let paths: Vec<&str> = change["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["path"].as_str().unwrap())
                .collect();
            assert_eq!(
                paths,
                ["metadata.labels.managed-by", "metadata.labels.spherectl-set"],
                "{change:#}"
            );
            change["address"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The example policies deny what was built by hand (a secret published to another community,
/// a project nobody administers): the plan says what to change, at the object's line; apply
/// refuses it whole; `validate` parses the policies and `policy test` passes on them.
#[test]
fn adversary10_policies_deny_an_imported_organization_and_nothing_is_applied() {
    let case = Case::files(&[]);
    drop(hand_made(&case));
    let env = env_of(&import(&case, ACME, &[]));
    with_example_policies(&case);
    let validate = spherectl(&case, &["validate", "imported"], &env);
    assert_eq!(validate.code, 0, "{}", validate.stderr);
    assert!(validate.stderr.contains("6 policy files parsed"), "{}", validate.stderr);
    let tests = spherectl(&case, &["policy", "test", "imported/policies"], &env);
    assert_eq!(tests.code, 0, "{}{}", tests.stdout, tests.stderr);
    assert!(tests.stdout.contains("0 failed"), "{}", tests.stdout);

    let plan = spherectl(&case, &["plan", "imported"], &env);
    assert_eq!(plan.code, 1, "{}{}", plan.stdout, plan.stderr);
    assert!(
        plan.stderr.contains(
            "Secret/research/models/token is published to `analytics`: secrets are never published outside their own community `research`"
        ),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("imported/research.yaml:"), "{}", plan.stderr);
    assert!(
        plan.stderr.contains("add a person or team with `role: admin` to the project"),
        "{}",
        plan.stderr
    );
    let before = live_summary(&case);
    let apply = spherectl(&case, &["apply", "imported", "--yes"], &env);
    assert_eq!(apply.code, 1, "{}{}", apply.stdout, apply.stderr);
    assert!(apply.stderr.contains("nothing applied"), "{}", apply.stderr);
    assert_eq!(live_summary(&case), before, "a denied apply changes nothing");
}

/// `--target` on an imported object plans and applies its labels (and its parent's) alone, and
/// the example policies' findings about objects outside the focus do not block it (README,
/// "Focus: --target": findings follow the focus; Rego policies too), while a finding about a
/// targeted object still does.
#[test]
fn adversary10_target_on_an_imported_object_changes_only_its_labels_despite_policies_elsewhere() {
    let case = Case::files(&[]);
    drop(hand_made(&case));
    let env = env_of(&import(&case, ACME, &[]));
    with_example_policies(&case);
    let target = ["--target", "Project/research/models"];
    let plan = plan_json_of(&case, &target, &env);
    let mut addresses = only_label_updates(&plan);
    addresses.sort();
    assert_eq!(addresses, ["Community/research", "Project/research/models"]);
    let mut apply = vec!["apply", "imported", "--yes"];
    apply.extend(target);
    let before = live_summary(&case);
    let run = spherectl(&case, &apply, &env);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for name in ["research", "models"] {
        assert_eq!(set_of(&case, name).as_deref(), Some(ACME), "{name}");
    }
    for name in ["analytics", "reports", "token", "events"] {
        assert_eq!(set_of(&case, name), None, "{name} is outside the focus");
    }
    // Nothing but the two objects' labels changed.
    let after = live_summary(&case);
    let changed: Vec<&String> = after.iter().filter(|l| !before.contains(l)).collect();
    assert_eq!(changed.len(), 2, "{changed:#?}");
    // The secret itself is what the policy is about: targeting it is denied, and nothing applied.
    let secret = ["apply", "imported", "--yes", "--target", "Secret/research/models/token"];
    let denied = spherectl(&case, &secret, &env);
    assert_eq!(denied.code, 1, "{}{}", denied.stdout, denied.stderr);
    assert!(denied.stderr.contains("secrets are never published outside"), "{}", denied.stderr);
    assert_eq!(set_of(&case, "token"), None);
    // And the whole plan is still denied.
    assert_eq!(spherectl(&case, &["plan", "imported"], &env).code, 1);
}

/// Right after the import nothing carries the set's label: destroy deletes nothing. Once
/// applied, the objects are the set's: destroy is refused by the protection the import read
/// from `spherectl-protect`, and deletes them once it is lifted.
#[test]
fn adversary10_destroy_after_import_spares_unclaimed_objects_and_honours_imported_protection() {
    let case = Case::files(&[]);
    let sandbox = hand_made(&case);
    create(
        &sandbox,
        Kind::Community,
        ACME,
        "vault",
        &[("spherectl-protect", "true")],
        json!({"spec.zone": "ru-central1-a"}),
    );
    drop(sandbox);
    let env = env_of(&import(&case, ACME, &[]));
    let files = written(&case);
    assert!(files["vault.yaml"].contains("preventDestroy: true"), "{}", files["vault.yaml"]);
    let before = live_summary(&case);
    let destroy = spherectl(&case, &["destroy", "imported", "--yes"], &env);
    assert_eq!(destroy.code, 0, "{}{}", destroy.stdout, destroy.stderr);
    assert!(destroy.stdout.contains("Nothing to destroy"), "{}", destroy.stdout);
    // Targeted at an object the import wrote, not yet claimed: left alone too.
    for target in ["Community/analytics", "Secret/research/models/token"] {
        let run = spherectl(&case, &["destroy", "imported", "--yes", "--target", target], &env);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("is not managed by this manifest set"), "{}", run.stderr);
    }
    assert_eq!(live_summary(&case), before);

    let apply = spherectl(&case, &["apply", "imported", "--yes"], &env);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    let refused = spherectl(&case, &["destroy", "imported", "--yes"], &env);
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains("Community/vault"), "{}", refused.stderr);
    assert_eq!(case.sandbox().read(ACME).unwrap().objects.len(), 7, "nothing destroyed");

    case.edit("imported/vault.yaml", "preventDestroy: true", "preventDestroy: false");
    let lifted = spherectl(&case, &["apply", "imported", "--yes"], &env);
    assert_eq!(lifted.code, 0, "{}{}", lifted.stdout, lifted.stderr);
    let destroyed = spherectl(&case, &["destroy", "imported", "--yes"], &env);
    assert_eq!(destroyed.code, 0, "{}{}", destroyed.stdout, destroyed.stderr);
    assert!(case.sandbox().read(ACME).unwrap().objects.is_empty());
}

/// A community renamed in the console: the manifests of the first import plan the rename back
/// through `metadata.id` (no delete and create), and a re-import plans clean.
#[test]
fn adversary10_a_community_renamed_by_hand_plans_a_rename_by_id() {
    let case = Case::files(&[]);
    drop(hand_made(&case));
    let env = env_of(&import(&case, ACME, &[]));
    assert_eq!(spherectl(&case, &["apply", "imported", "--yes"], &env).code, 0);
    let sandbox = case.sandbox();
    let analytics = id_of(&sandbox.read(ACME).unwrap(), Kind::Community, "analytics");
    let rename = UpdateRequest { name: Some("analysts".into()), ..Default::default() };
    sandbox.update(Kind::Community, &analytics, &rename).unwrap();
    let plan = plan_json_of(&case, &[], &env);
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{plan:#}");
    assert_eq!(changes[0]["action"], "update");
    assert_eq!(
        changes[0]["fields"],
        json!([{"path": "metadata.name", "before": "analysts", "after": "analytics", "sensitive": false}])
    );
    let again = import(&case, ACME, &["--force"]);
    assert!(written(&case).contains_key("analysts.yaml"));
    let clean = spherectl(&case, &["plan", "imported", "--detailed-exitcode"], &env_of(&again));
    assert_eq!(clean.code, 0, "{}{}", clean.stdout, clean.stderr);
    assert_eq!(id_of(&case.sandbox().read(ACME).unwrap(), Kind::Community, "analysts"), analytics);
}

/// `--set` naming another set than the one that manages objects there: that set's objects are
/// skipped, and applying the new set's manifests never relabels them.
#[test]
fn adversary10_import_under_another_set_name_does_not_steal_the_existing_sets_objects() {
    let case = Case::files(&[]);
    drop(hand_made(&case));
    let env = env_of(&import(&case, ACME, &[]));
    let target = ["apply", "imported", "--yes", "--target", "Project/research/models"];
    assert_eq!(spherectl(&case, &target, &env).code, 0);
    let run = import(&case, ACME, &["--force", "--set", "newcomers"]);
    assert!(run.stderr.contains("Community/research  (bpf0000000000000acme)"), "{}", run.stderr);
    let files = written(&case);
    assert!(!files.contains_key("research.yaml"), "{files:#?}");
    let plan = plan_json_of(&case, &[], &env_of(&run));
    let unmanaged: Vec<&str> =
        plan["unmanaged"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    assert!(unmanaged.contains(&"Community/research"), "{unmanaged:?}");
    for change in plan["changes"].as_array().unwrap() {
        let address = change["address"].as_str().unwrap();
        assert!(address.contains("analytics"), "only analytics' objects change: {change:#}");
    }
    let apply = spherectl(&case, &["apply", "imported", "--yes"], &env_of(&run));
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    assert_eq!(set_of(&case, "research").as_deref(), Some(ACME));
    assert_eq!(set_of(&case, "models").as_deref(), Some(ACME));
    assert_eq!(set_of(&case, "analytics").as_deref(), Some("newcomers"));
    assert_eq!(set_of(&case, "token"), None);
}

/// The importing actor is not among a community's members (alice administers `research` only;
/// the organization admin is in no member list): the imported member lists are planned as they
/// are, so the first apply changes no member and locks nobody out.
#[test]
fn adversary10_first_apply_of_imported_members_changes_no_member() {
    let case = Case::files(&[]);
    drop(hand_made(&case));
    let env = env_of(&import(&case, ACME, &[]));
    let before = live_summary(&case);
    let mut alice = env.clone();
    alice.push(("SPHERECTL_ACTOR".into(), "userAccount:alice".into()));
    let target = ["apply", "imported", "--yes", "--target", "Project/research/models"];
    let run = spherectl(&case, &target, &alice);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let apply = spherectl(&case, &["apply", "imported", "--yes"], &env);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    let live = case.sandbox().read(ACME).unwrap();
    for object in &live.objects {
        let old =
            before.iter().find(|l| l.starts_with(&format!("{}/{} ", object.kind, object.name)));
        assert!(
            old.unwrap().ends_with(&format!("members={:?}", object.members)),
            "{old:?} vs {:?}",
            object.members
        );
    }
    let research = id_of(&live, Kind::Community, "research");
    let alice_role = live
        .objects
        .iter()
        .find(|o| o.id == research)
        .unwrap()
        .members
        .get("userAccount:alice")
        .copied();
    assert_eq!(alice_role, Some(spherectl::rules::Role::Admin));
}
