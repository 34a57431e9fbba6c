//! `plan --target` and `apply --target` (issue 10): only the targeted objects and what they
//! depend on are planned and applied, with a warning; unknown targets are errors; a saved
//! targeted plan applies exactly itself.

use std::collections::BTreeSet;

use serde_json::Value;
use spherectl::{manifest::Kind, platform::Platform};

use super::{Case, SHARED, actions, support::made_by_hand};

const QUICKSTART_ORG: &str = "bpf00000000quickstart";
const DATASET: &str = "Dataset/research/fraud-detection/transactions";
const PROJECT: &str = "Project/research/fraud-detection";

/// The `kind/name` of every live object under the organization.
fn live_names(case: &Case, organization: &str) -> BTreeSet<String> {
    let live = case.sandbox().read(organization).unwrap();
    live.objects.iter().map(|o| format!("{}/{}", o.kind, o.name)).collect()
}

fn addresses(plan: &Value) -> BTreeSet<String> {
    actions(plan).into_iter().map(|(_, address)| address).collect()
}

fn json(run: &super::Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr))
}

#[test]
fn focus_a_target_plans_only_it_and_what_it_depends_on() {
    let case = Case::example("quickstart");
    let run = case.run(&["plan", ".", "--target", DATASET, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = json(&run);
    let expected: BTreeSet<String> = [
        "Community/research",
        PROJECT,
        DATASET,
        "Dataset/research/fraud-detection/transactions#activate",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(addresses(&plan), expected, "{plan:#}");
    assert_eq!(plan["summary"]["create"], 3);
    assert!(run.stderr.contains("warning: resource targeting is in effect"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("`{DATASET}`")), "{}", run.stderr);
    assert!(run.stderr.contains("was not planned or checked"), "{}", run.stderr);
    // `--detailed-exitcode` speaks of the targeted part.
    let detailed = case.run(&["plan", ".", "--target", DATASET, "--detailed-exitcode"]);
    assert_eq!(detailed.code, 2, "{}", detailed.stderr);
    // Without a target: no warning.
    let whole = case.run(&["plan", "."]);
    assert!(!whole.stderr.contains("targeting"), "{}", whole.stderr);
}

#[test]
fn focus_a_targeted_apply_leaves_the_rest_for_the_next_plan() {
    let case = Case::example("quickstart");
    let apply = case.run(&["apply", ".", "--target", PROJECT, "--yes"]);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    assert!(apply.stderr.contains("resource targeting is in effect"), "{}", apply.stderr);
    assert!(apply.stderr.contains("the applied changes may be incomplete"), "{}", apply.stderr);
    assert_eq!(
        live_names(&case, QUICKSTART_ORG),
        BTreeSet::from(["Community/research".to_owned(), "Project/fraud-detection".to_owned()])
    );
    // The project's own sub-changes came with it: its member and its balance.
    let live = case.sandbox().read(QUICKSTART_ORG).unwrap();
    let project = live.objects.iter().find(|o| o.name == "fraud-detection").unwrap();
    assert!(project.members.contains_key("serviceAccount:ci"), "{:?}", project.members);
    assert_eq!(project.balance, Some(1000));
    // The full plan shows what was left: the resources and the community's members (the
    // community's own sub-changes: the project needs the community, not its members).
    let plan = case.plan_json();
    let rest = addresses(&plan);
    assert!(rest.contains(DATASET), "{rest:?}");
    assert!(rest.contains("Community/research#member:userAccount:alice"), "{rest:?}");
    assert!(!rest.iter().any(|a| a.starts_with(PROJECT)), "{rest:?}");
    assert!(!rest.contains("Community/research"), "{rest:?}");
    super::applied(&case);
    super::converged(&case);
}

#[test]
fn focus_an_unknown_target_is_an_error_with_a_suggestion() {
    let case = Case::example("quickstart");
    for (target, suggestion) in [
        ("Community/reserch", "Community/research"),
        ("research", "Community/research"),
        ("project/research/fraud-detection", PROJECT),
        ("Datasets/research/fraud-detection/transactions", DATASET),
    ] {
        let run = case.run(&["plan", ".", "--target", target]);
        assert_eq!(run.code, 1, "{target}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains(&format!("`--target {target}` matches nothing")),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains(&format!("did you mean `{suggestion}`?")),
            "{target}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "no plan is printed: {}", run.stdout);
    }
    let run = case.run(&["apply", ".", "--target", "Node/x/y/z", "--yes"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("a target is an address KIND/PATH"), "{}", run.stderr);
    // Nothing was applied.
    assert!(case.plan_json()["summary"]["create"].as_u64() > Some(5));
    // An empty target is a usage error.
    assert_eq!(case.run(&["plan", ".", "--target", ""]).code, 64);
}

#[test]
fn focus_a_saved_targeted_plan_applies_exactly_itself() {
    let case = Case::example("quickstart");
    let saved = case.run(&["plan", ".", "--target", DATASET, "--out", "plan.json"]);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(case.path().join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(file["saved"]["targets"], serde_json::json!([DATASET]));
    assert_eq!(file["changes"].as_array().unwrap().len(), 4);
    // The saved plan decides the manifests and the targets: giving them again is a usage error.
    for extra in [&["."][..], &["--target", PROJECT]] {
        let mut args = vec!["apply", "--plan", "plan.json", "--yes"];
        args.extend(extra);
        let run = case.run(&args);
        assert_eq!(run.code, 64, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("cannot be given with `--plan`"), "{}", run.stderr);
    }
    assert!(live_names(&case, QUICKSTART_ORG).is_empty(), "a refused apply applied something");
    let apply = case.run(&["apply", "--plan", "plan.json", "--yes"]);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    // The rest of the set is neither applied nor reported as "changes since the plan".
    assert!(!apply.stderr.contains("not in the saved plan"), "{}", apply.stderr);
    assert!(apply.stderr.contains("targeting is in effect"), "{}", apply.stderr);
    assert_eq!(
        live_names(&case, QUICKSTART_ORG),
        BTreeSet::from([
            "Community/research".to_owned(),
            "Project/fraud-detection".to_owned(),
            "Dataset/transactions".to_owned()
        ])
    );
}

#[test]
fn focus_a_removed_document_targets_its_delete_and_findings_outside_do_not_block() {
    let protected = SHARED.replace(
        "metadata: {name: events, project: research/models}",
        "metadata: {name: events, project: research/models, lifecycle: {preventDestroy: true}}",
    );
    let case = Case::files(&[("org.yaml", &protected)]);
    super::applied(&case);
    // Remove the protected dataset and the secret's use, and change a description.
    let text = SHARED
        .replace(
            "---\napiVersion: spherectl/v1\nkind: Dataset\nmetadata: {name: events, project: research/models}\nspec: {sizeGb: 5}\n",
            "",
        )
        .replace("spec:\n  uses: [{kind: Secret, ref: research/models/token}]\n", "")
        .replace(
            "metadata: {name: models, community: research}\n",
            "metadata: {name: models, community: research}\nspec: {description: Models}\n",
        );
    assert!(!text.contains("name: events"));
    std::fs::write(case.path().join("org.yaml"), text).unwrap();
    // The whole plan is refused: the dataset is protected.
    let whole = case.run(&["plan", "."]);
    assert_eq!(whole.code, 1, "{}{}", whole.stdout, whole.stderr);
    assert!(whole.stderr.contains("spherectl::plan::prevent_destroy"), "{}", whole.stderr);
    // Targeting the unuse (a live relation pending removal) plans it alone; the protection is
    // outside the focus and does not block it.
    let unuse = "Project/analytics/reports#use:Secret/research/models/token";
    let run = case.run(&["plan", ".", "--target", "Project/analytics/reports", "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(addresses(&json(&run)), BTreeSet::from([unuse.to_owned()]));
    assert!(!run.stderr.contains("prevent_destroy"), "{}", run.stderr);
    // Targeting the deleted dataset targets its delete, and its protection blocks it.
    let run = case.run(&["plan", ".", "--target", "Dataset/research/models/events"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("- delete Dataset/research/models/events"), "{}", run.stdout);
    assert!(!run.stdout.contains("update Project/research/models"), "{}", run.stdout);
    assert!(run.stderr.contains("spherectl::plan::prevent_destroy"), "{}", run.stderr);
    // The targeted apply of the project's change goes through; the dataset stays.
    let apply = case.run(&["apply", ".", "--target", "Project/research/models", "--yes"]);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    let live = case.sandbox().read("bpf00000000000000acme").unwrap();
    assert!(live.objects.iter().any(|o| o.name == "events"), "the protected dataset is gone");
    let models = live.objects.iter().find(|o| o.name == "models").unwrap();
    assert_eq!(models.attributes.get("spec.description"), Some(&Value::from("Models")));
}

#[test]
fn focus_an_object_with_nothing_to_change_is_noted() {
    let case = Case::applied_example("quickstart");
    let run = case.run(&["plan", ".", "--target", PROJECT, "--detailed-exitcode"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&format!("note: `{PROJECT}` has no changes")), "{}", run.stderr);
    assert!(run.stdout.contains("No changes"), "{}", run.stdout);
    // An object of no set is known (no error), and left alone.
    let sandbox = case.sandbox();
    made_by_hand(&sandbox, Kind::Community, QUICKSTART_ORG, "hand-made");
    drop(sandbox);
    let run = case.run(&["apply", ".", "--target", "Community/hand-made", "--yes"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("`Community/hand-made` is not managed by this manifest set"),
        "{}",
        run.stderr
    );
    assert!(live_names(&case, QUICKSTART_ORG).contains("Community/hand-made"));
}

#[test]
fn focus_a_targeted_replace_reattaches_its_users() {
    let text = format!(
        "{}---
apiVersion: spherectl/v1
kind: Community
metadata: {{name: analytics}}
---
apiVersion: spherectl/v1
kind: Project
metadata: {{name: models, community: research}}
---
apiVersion: spherectl/v1
kind: Project
metadata: {{name: reports, community: analytics}}
spec:
  uses: [{{kind: Dataset, ref: research/models/events}}]
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {{name: events, project: research/models}}
spec: {{sizeGb: 5, publish: [analytics]}}
",
        super::ORG
    );
    let case = Case::files(&[("org.yaml", &text)]);
    super::applied(&case);
    // A new size replaces the dataset; its users are the dependents of that replace.
    case.edit("org.yaml", "sizeGb: 5", "sizeGb: 6");
    let target = "Dataset/research/models/events";
    let run = case.run(&["plan", ".", "--target", target, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        addresses(&json(&run)),
        BTreeSet::from([
            target.to_owned(),
            format!("{target}#publish:analytics"),
            format!("Project/analytics/reports#use:{target}"),
        ])
    );
    let apply = case.run(&["apply", ".", "--target", target, "--yes"]);
    assert_eq!(apply.code, 0, "{}{}", apply.stdout, apply.stderr);
    // Nothing is left detached: the whole plan is empty.
    super::converged(&case);
}
