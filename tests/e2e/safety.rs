//! Regression tests for the core loop's safety defects (issue 7): each is named after the defect
//! and drives the real binary against the embedded sandbox.

use serde_json::Value;

use crate::{Case, ORG, actions, applied, support::made_by_hand};

fn project(name: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: {name}, community: research{extra}}}\n"
    )
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

fn image(name: &str) -> String {
    format!(
        "---\napiVersion: spherectl/v1\nkind: DockerImage\nmetadata: {{name: {name}, project: research/alpha}}\nspec: {{repository: cr/{name}, tag: v1, dockerfile: \"FROM python:3.12\"}}\n"
    )
}

#[test]
fn swapping_an_image_at_the_community_quota_applies_the_first_time() {
    let base = format!("{ORG}{}", project("alpha", ""));
    let with = |names: &[&str]| {
        let mut text = base.clone();
        for name in names {
            text.push_str(&image(name));
        }
        text
    };
    let case = Case::files(&[("org.yaml", &with(&["a", "b", "c"]))]);
    applied(&case);
    std::fs::write(case.path().join("org.yaml"), with(&["a", "b", "d"])).unwrap();
    let plan = case.plan_json();
    let create = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "DockerImage/research/alpha/d")
        .unwrap();
    assert!(
        create["dependsOn"]
            .as_array()
            .unwrap()
            .contains(&Value::from("DockerImage/research/alpha/c")),
        "{create:#}"
    );
    applied(&case);
    assert_eq!(case.run(&["plan", ".", "--detailed-exitcode"]).code, 0);
}

#[test]
fn publications_wait_for_the_sharing_rule_and_the_actor_leaves_last() {
    let text = org_then!("spec:
  members: [{subject: 'userAccount:local-admin', role: admin}, {subject: 'userAccount:bob', role: admin}]
---
apiVersion: spherectl/v1
kind: Community
metadata: {name: analytics}
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: alpha, community: research}
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {name: events, project: research/alpha}
spec: {sizeGb: 5}
");
    let case = Case::files(&[("org.yaml", text)]);
    applied(&case);
    let changed = text
        .replace(
            "spec: {id: bpf00000000000000acme}",
            "spec: {id: bpf00000000000000acme, sharing: {requiredRoles: {project: editor, community: developer}}}",
        )
        .replace("spec: {sizeGb: 5}", "spec: {sizeGb: 5, publish: [analytics]}")
        .replace("{subject: 'userAccount:local-admin', role: admin}, ", "");
    std::fs::write(case.path().join("org.yaml"), changed).unwrap();
    let plan = case.plan_json();
    let changes = plan["changes"].as_array().unwrap();
    let find = |address: &str| {
        changes
            .iter()
            .find(|c| c["address"] == address)
            .unwrap_or_else(|| panic!("{address}: {plan:#}"))
    };
    let publish = find("Dataset/research/alpha/events#publish:analytics");
    assert!(publish["dependsOn"].as_array().unwrap().contains(&Value::from("Organization/acme")));
    let leave = find("Community/research#member:userAccount:local-admin");
    assert_eq!(leave["action"], "remove-member");
    for other in changes.iter().filter(|c| c["action"] != "remove-member") {
        assert!(leave["dependsOn"].as_array().unwrap().contains(&other["address"]), "{leave:#}");
    }
}

fn id_of(case: &Case, name: &str) -> String {
    live_objects(case).into_iter().find(|o| o.name == name).unwrap().id
}

#[test]
fn two_documents_claiming_one_live_object_is_an_error_naming_both() {
    let case = Case::files(&[(
        "org.yaml",
        &format!("{ORG}{}{}", project("alpha", ""), project("beta", "")),
    )]);
    applied(&case);
    let alpha = id_of(&case, "alpha");
    let claimed =
        format!("{ORG}{}{}", project("alpha", ""), project("beta", &format!(", id: {alpha}")));
    std::fs::write(case.path().join("org.yaml"), claimed).unwrap();
    let run = case.run(&["plan", "."]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("claimed_twice"), "{}", run.stderr);
    assert!(
        run.stderr.contains("Project/research/alpha")
            && run.stderr.contains("Project/research/beta"),
        "{}",
        run.stderr
    );
    let apply = case.run(&["apply", ".", "--yes"]);
    assert_eq!(apply.code, 1);
    assert_eq!(id_of(&case, "alpha"), alpha, "nothing was renamed");
}

#[test]
fn adopting_an_object_under_another_parent_is_an_error() {
    let text = format!(
        "{ORG}---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {{name: analytics}}\n{}",
        project("alpha", "")
    );
    let case = Case::files(&[("org.yaml", &text)]);
    applied(&case);
    let alpha = id_of(&case, "alpha");
    let moved = text.replace(
        "metadata: {name: alpha, community: research}",
        &format!("metadata: {{name: alpha, community: analytics, id: {alpha}}}"),
    );
    std::fs::write(case.path().join("org.yaml"), moved).unwrap();
    let run = case.run(&["plan", "."]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("adopt_parent"), "{}", run.stderr);
}

#[test]
fn a_rename_and_a_new_object_with_the_old_name_converge_in_one_apply() {
    let case = Case::files(&[("org.yaml", &format!("{ORG}{}", project("alpha", "")))]);
    applied(&case);
    let alpha = id_of(&case, "alpha");
    let text = format!("{ORG}{}{}", project("beta", ", renamedFrom: alpha"), project("alpha", ""));
    std::fs::write(case.path().join("org.yaml"), text).unwrap();
    let plan = case.plan_json();
    let list = actions(&plan);
    assert!(list.contains(&("update".into(), "Project/research/beta".into())), "{list:?}");
    assert!(list.contains(&("create".into(), "Project/research/alpha".into())), "{list:?}");
    applied(&case);
    assert_eq!(id_of(&case, "beta"), alpha, "the original keeps its id and becomes beta");
    assert_ne!(id_of(&case, "alpha"), alpha);
    let again = case.run(&["plan", ".", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

#[test]
fn prevent_destroy_outlives_its_document() {
    let protected = format!(
        "{ORG}---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: alpha, community: research, lifecycle: {{preventDestroy: true}}}}\n"
    );
    let case = Case::files(&[("org.yaml", &protected)]);
    applied(&case);
    let live = live_objects(&case).into_iter().find(|o| o.name == "alpha").unwrap();
    assert_eq!(live.labels.get("spherectl-protect").map(String::as_str), Some("true"));
    // Deleting the document does not delete the project.
    std::fs::write(case.path().join("org.yaml"), ORG).unwrap();
    let run = case.run(&["apply", ".", "--yes"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("protected"), "{}", run.stderr);
    assert!(live_objects(&case).iter().any(|o| o.name == "alpha"));
    // Lifting the protection is an explicit, applied step; then the delete goes through.
    std::fs::write(case.path().join("org.yaml"), protected.replace("true", "false")).unwrap();
    applied(&case);
    std::fs::write(case.path().join("org.yaml"), ORG).unwrap();
    applied(&case);
    assert!(!live_objects(&case).iter().any(|o| o.name == "alpha"));
}

const SHARED: &str = "---
apiVersion: spherectl/v1
kind: Secret
metadata: {name: token, project: research/alpha}
spec: {value: {fromEnv: APP_TOKEN}, publish: [research]}
---
apiVersion: spherectl/v1
kind: DockerImage
metadata: {name: env, project: research/alpha}
spec: {repository: cr/env, tag: v1, dockerfile: 'FROM python:3.12', publish: [research]}
";

/// This set shares a secret and an image in `research`; a project made in the console (not
/// managed by any set) uses both, and a console node runs the image.
fn shared_with_the_console() -> Case {
    use spherectl::{
        manifest::Kind,
        platform::{CreateRequest, Platform as _},
    };
    let case = Case::files(&[("org.yaml", &format!("{ORG}{}{SHARED}", project("alpha", "")))]);
    applied(&case);
    let objects = live_objects(&case);
    let id = |name: &str| objects.iter().find(|o| o.name == name).unwrap().id.clone();
    let sandbox = case.sandbox();
    let console = made_by_hand(&sandbox, Kind::Project, &id("research"), "console");
    sandbox.use_resource(&console, Kind::Secret, &id("token")).unwrap();
    sandbox.use_resource(&console, Kind::DockerImage, &id("env")).unwrap();
    let mut attributes = std::collections::BTreeMap::new();
    attributes.insert("spec.source.dockerImage".to_owned(), Value::from(id("env")));
    sandbox
        .create(&CreateRequest {
            kind: Kind::Node,
            parent_id: console,
            name: "web".into(),
            labels: Default::default(),
            attributes,
            secret: None,
        })
        .unwrap();
    case
}

#[test]
fn a_replace_never_detaches_another_sets_project() {
    let case = shared_with_the_console();
    case.edit("org.yaml", "FROM python:3.12", "FROM python:3.13");
    let run = case.run(&["apply", ".", "--yes"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("foreign_objects"), "{}", run.stderr);
    assert!(run.stderr.contains("Project/research/console"), "{}", run.stderr);
    let live = live_objects(&case);
    assert!(live.iter().any(|o| o.name == "env"), "the image was not replaced");
}

#[test]
fn a_prune_never_detaches_another_sets_project() {
    let case = shared_with_the_console();
    std::fs::write(case.path().join("org.yaml"), format!("{ORG}{}", project("alpha", ""))).unwrap();
    let run = case.run(&["plan", "."]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("is used by Project/research/console"), "{}", run.stderr);
    assert!(run.stderr.contains("is referenced by Node/research/console/web"), "{}", run.stderr);
    assert!(!run.stdout.contains("unuse"), "{}", run.stdout);
}

#[test]
fn replacing_a_used_resource_converges_in_one_apply() {
    let case = Case::applied_example("multi-team");
    case.edit("platform/base-images.yaml", "lightgbm==4.5.0", "lightgbm==4.5.1");
    let plan = case.plan_json();
    let list = actions(&plan);
    assert!(
        list.contains(&("replace".into(), "DockerImage/platform/base-images/python-ml".into()))
    );
    for user in ["research/fraud-detection", "analytics/forecasting"] {
        let key = format!("Project/{user}#use:DockerImage/platform/base-images/python-ml");
        assert!(list.contains(&("use".into(), key.clone())), "{key} in {list:?}");
    }
    applied(&case);
    let again = case.run(&["plan", ".", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

#[test]
fn a_replace_names_the_field_that_forces_it_and_marks_destroyed_data() {
    let text = format!(
        "{ORG}{}---\napiVersion: spherectl/v1\nkind: Dataset\nmetadata: {{name: events, project: research/alpha}}\nspec: {{sizeGb: 5, initCode: 'print(1)', description: old}}\n",
        project("alpha", "")
    );
    let case = Case::files(&[("org.yaml", &text)]);
    applied(&case);
    case.edit("org.yaml", "print(1)", "print(2)");
    let run = case.run(&["plan", "."]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("-/+ replace Dataset/research/alpha/events  (destroys its data)"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("spec.initCode: \"print(1)\" → \"print(2)\"  # forces replacement"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 of them destroys data"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("spec.description"),
        "unchanged fields are not shown: {}",
        run.stdout
    );
    let plan = case.plan_json();
    let change = &plan["changes"][0];
    assert_eq!(change["replacePaths"], serde_json::json!(["spec.initCode"]));
    assert_eq!(change["destroysData"], true);
}

#[test]
fn a_partial_path_does_not_delete_the_rest_of_the_set() {
    let case = Case::applied_example("multi-team");
    let run = case.run(&["plan", "organization.yaml"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("mass_delete"), "{}", run.stderr);
    assert!(run.stderr.contains("read 1 manifest file: organization.yaml"), "{}", run.stderr);
    assert!(run.stderr.contains("--allow-delete"), "{}", run.stderr);
    let apply = case.run(&["apply", "organization.yaml", "--yes"]);
    assert_eq!(apply.code, 1);
    assert_eq!(case.run(&["plan", ".", "--detailed-exitcode"]).code, 0, "nothing was deleted");
    // `--allow-delete` lifts the guard, never a protection (multi-team protects its warehouse).
    let allowed = case.run(&["plan", "organization.yaml", "--allow-delete"]);
    assert!(!allowed.stderr.contains("mass_delete"), "{}", allowed.stderr);
    assert!(allowed.stderr.contains("prevent_destroy"), "{}", allowed.stderr);
}

#[test]
fn deleting_a_project_with_resources_needs_allow_delete() {
    let text = format!("{ORG}{}{SHARED}{}", project("alpha", ""), project("beta", ""));
    let case = Case::files(&[("org.yaml", &text)]);
    applied(&case);
    std::fs::write(
        case.path().join("org.yaml"),
        format!("{ORG}{}{}", project("beta", ""), project("gamma", "")),
    )
    .unwrap();
    let run = case.run(&["apply", ".", "--yes"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("also deletes the 2 resources it holds"), "{}", run.stderr);
    let run = case.run(&["apply", ".", "--yes", "--allow-delete"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

/// Found by the convergence property: a node that a deleted project used is replaced (its image
/// changed) in the same plan; the replace must not detach the project after it is gone.
#[test]
fn replacing_a_resource_whose_user_is_deleted_in_the_same_plan_converges() {
    let text = format!(
        "{ORG}{}---
apiVersion: spherectl/v1
kind: DockerImage
metadata: {{name: image, project: research/alpha}}
spec: {{repository: app, tag: '1', dockerfile: 'FROM python:3.10'}}
---
apiVersion: spherectl/v1
kind: Node
metadata: {{name: node, project: research/alpha}}
spec: {{source: {{dockerImage: image}}, publish: [research]}}
{}",
        project("alpha", ""),
        "---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {name: beta, community: research}\nspec:\n  uses: [{kind: Node, ref: research/alpha/node}]\n"
    );
    let case = Case::files(&[("org.yaml", &text)]);
    applied(&case);
    let (kept, _) = text
        .split_once("---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {name: beta")
        .unwrap();
    std::fs::write(case.path().join("org.yaml"), kept.replace("tag: '1'", "tag: '2'")).unwrap();
    let plan = case.run(&["plan", ".", "--allow-delete", "--format", "json"]);
    let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
    let replace = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "Node/research/alpha/node")
        .unwrap();
    assert!(
        replace["dependsOn"]
            .as_array()
            .unwrap()
            .contains(&Value::from("Project/research/beta#use:Node/research/alpha/node")),
        "{replace:#}"
    );
    let run = case.run(&["apply", ".", "--yes", "--allow-delete"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let again = case.run(&["plan", ".", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
}

#[test]
fn removing_the_lifecycle_key_keeps_the_protection_only_false_lifts_it() {
    let protected = format!(
        "{ORG}---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: alpha, community: research, lifecycle: {{preventDestroy: true}}}}\n"
    );
    let case = Case::files(&[("org.yaml", &protected)]);
    applied(&case);
    // The key is gone, the document stays: nothing to change, the protection stays.
    std::fs::write(case.path().join("org.yaml"), format!("{ORG}{}", project("alpha", ""))).unwrap();
    let again = case.run(&["plan", ".", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    std::fs::write(case.path().join("org.yaml"), ORG).unwrap();
    let run = case.run(&["plan", "."]);
    assert_eq!(run.code, 1, "still protected: {}{}", run.stdout, run.stderr);
}

#[test]
fn a_sandbox_quota_usage_error_or_listing_creates_nothing() {
    let case = Case::files(&[("org.yaml", ORG)]);
    let platform = format!("sandbox:{}", case.path().join("q/s.db").display());
    for args in [&["sandbox", "quota", "bogus=1"][..], &["sandbox", "quota", "foo"]] {
        let run = case.run(&[&["--platform", &platform][..], args].concat());
        assert_eq!(run.code, 64, "{args:?}: {}", run.stderr);
    }
    let list = case.run(&["--platform", &platform, "sandbox", "quota"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.contains("docker-images-per-community=3"), "{}", list.stdout);
    assert!(!case.path().join("q").exists(), "nothing was created");
}

#[test]
fn a_checkpoint_needs_no_spec_as_the_readme_says() {
    let text = format!(
        "{ORG}{}---\napiVersion: spherectl/v1\nkind: Checkpoint\nmetadata: {{name: ck, project: research/alpha}}\n",
        project("alpha", "")
    );
    let case = Case::files(&[("org.yaml", &text)]);
    applied(&case);
    assert_eq!(case.run(&["plan", ".", "--detailed-exitcode"]).code, 0);
}

#[test]
fn deleting_a_project_with_one_resource_says_resource_in_the_singular() {
    let image = "---\napiVersion: spherectl/v1\nkind: DockerImage\nmetadata: {name: env, project: research/alpha}\nspec: {repository: cr/env, tag: v1, dockerfile: 'FROM python:3.12'}\n";
    let text = format!("{ORG}{}{image}", project("alpha", ""));
    let case = Case::files(&[("org.yaml", &text)]);
    applied(&case);
    std::fs::write(case.path().join("org.yaml"), format!("{ORG}{}", project("beta", ""))).unwrap();
    let run = case.run(&["plan", "."]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("also deletes the 1 resource it holds"), "{}", run.stderr);
}
