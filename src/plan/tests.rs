//! Unit tests of the planner's pure parts: matching, field diff, ordering and prune, on
//! hand-built live states (no platform).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Action, Plan, PlanInput, SecretValues, plan};
use crate::{
    manifest::{self, Kind},
    platform::{LiveObject, LiveState},
    rules::{self, Role},
};

const ORG_ID: &str = "bpf00000000000000acme";

fn load(yaml: &str) -> manifest::Loaded {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {{name: acme}}\nspec: {{id: {ORG_ID}}}\n---\napiVersion: spherectl/v1\nkind: Community\nmetadata: {{name: research}}\n{yaml}"
    );
    std::fs::write(dir.path().join("org.yaml"), text).unwrap();
    manifest::load(&[dir.path().to_path_buf()]).unwrap_or_else(|f| panic!("{:?}", f.problems))
}

fn ours() -> BTreeMap<String, String> {
    BTreeMap::from([
        (rules::LABEL_MANAGED_BY.to_owned(), rules::MANAGED_BY_VALUE.to_owned()),
        (rules::LABEL_SET.to_owned(), "acme".to_owned()),
    ])
}

fn live(id: &str, kind: Kind, name: &str, parent: &str) -> LiveObject {
    let mut attributes = BTreeMap::new();
    if kind == Kind::Community {
        attributes.insert("spec.zone".to_owned(), json!(rules::DEFAULT_ZONE));
    }
    LiveObject {
        id: id.into(),
        kind,
        name: name.into(),
        parent_id: parent.into(),
        labels: ours(),
        attributes,
        members: BTreeMap::new(),
        active: false,
        balance: None,
        secret_digest: None,
        version: 1,
    }
}

fn state(objects: Vec<LiveObject>) -> LiveState {
    LiveState {
        organization_id: ORG_ID.into(),
        organization_members: BTreeMap::from([("userAccount:local-admin".to_owned(), Role::Admin)]),
        objects,
        ..LiveState::default()
    }
}

fn planned(yaml: &str, live: LiveState, allow_delete: bool) -> Plan {
    let loaded = load(yaml);
    let digest = |_: &crate::platform::SecretValue| None;
    plan(&PlanInput {
        loaded: &loaded,
        live: &live,
        secrets: &SecretValues::new(),
        digest: &digest,
        actor: "userAccount:local-admin",
        platform: "test".into(),
        allow_delete,
    })
}

fn actions(plan: &Plan) -> Vec<(Action, &str)> {
    plan.changes.iter().map(|c| (c.action, c.address.as_str())).collect()
}

const PROJECT: &str =
    "---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {name: alpha, community: research}\n";

#[test]
fn matching_by_address_plans_nothing_for_an_equal_object() {
    let live = state(vec![
        live("c1", Kind::Community, "research", ORG_ID),
        live("p1", Kind::Project, "alpha", "c1"),
    ]);
    let plan = planned(PROJECT, live, false);
    assert_eq!(actions(&plan), vec![]);
    assert!(plan.findings.is_empty(), "{:?}", plan.findings);
}

#[test]
fn matching_a_rename_keeps_the_id_and_a_reused_old_name_is_created_after_it() {
    let live = state(vec![
        live("c1", Kind::Community, "research", ORG_ID),
        live("p1", Kind::Project, "alpha", "c1"),
    ]);
    let yaml = format!(
        "{PROJECT}---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {{name: beta, community: research, renamedFrom: alpha}}\n"
    );
    let plan = planned(&yaml, live, false);
    assert_eq!(
        actions(&plan),
        vec![(Action::Update, "Project/research/beta"), (Action::Create, "Project/research/alpha")]
    );
    assert_eq!(plan.known_ids[&manifest::Address::new(Kind::Project, "research/beta")], "p1");
    assert!(plan.changes[1].depends_on.contains(&"Project/research/beta".to_owned()));
}

#[test]
fn diff_compares_durations_by_length_and_shows_only_changed_fields() {
    let mut project = live("p1", Kind::Project, "alpha", "c1");
    project.attributes.insert("spec.settings.vmInactivityTimeout".into(), json!("30m"));
    project.attributes.insert("spec.description".into(), json!("same"));
    let live = state(vec![live("c1", Kind::Community, "research", ORG_ID), project]);
    let yaml = "---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {name: alpha, community: research}\nspec: {description: same, settings: {vmInactivityTimeout: 1800s}, limits: {maxUnitsPerHour: 5}}\n";
    let plan = planned(yaml, live, false);
    assert_eq!(actions(&plan), vec![(Action::Update, "Project/research/alpha")]);
    let paths: Vec<&str> = plan.changes[0].fields.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["spec.limits.maxUnitsPerHour"]);
    assert_eq!(plan.changes[0].fields[0].after, Value::from(5));
}

#[test]
fn ordering_deletes_children_before_their_parent() {
    let live = state(vec![
        live("c1", Kind::Community, "research", ORG_ID),
        live("p1", Kind::Project, "alpha", "c1"),
        live("d1", Kind::Dataset, "events", "p1"),
        live("p2", Kind::Project, "beta", "c1"),
    ]);
    let yaml = "---\napiVersion: spherectl/v1\nkind: Project\nmetadata: {name: beta, community: research}\n";
    let plan = planned(yaml, live, true);
    let order = actions(&plan);
    let dataset =
        order.iter().position(|a| *a == (Action::Delete, "Dataset/research/alpha/events"));
    let project = order.iter().position(|a| *a == (Action::Delete, "Project/research/alpha"));
    assert!(dataset.unwrap() < project.unwrap(), "{order:?}");
    assert!(
        plan.changes[project.unwrap()].depends_on.contains(&"Dataset/research/alpha/events".into())
    );
}

#[test]
fn prune_never_deletes_other_sets_or_unmanaged_objects() {
    let mut foreign = live("p2", Kind::Project, "theirs", "c1");
    foreign.labels.insert(rules::LABEL_SET.into(), "other".into());
    let mut console = live("p3", Kind::Project, "console", "c1");
    console.labels.clear();
    let live = state(vec![live("c1", Kind::Community, "research", ORG_ID), foreign, console]);
    let plan = planned("", live, false);
    assert_eq!(actions(&plan), vec![]);
    assert_eq!(plan.unmanaged, vec!["Project/research/console", "Project/research/theirs"]);
}

#[test]
fn prune_refuses_a_protected_object() {
    let mut project = live("p1", Kind::Project, "alpha", "c1");
    project.labels.insert(rules::LABEL_PROTECT.into(), "true".into());
    let live = state(vec![live("c1", Kind::Community, "research", ORG_ID), project]);
    let plan = planned("", live, true);
    assert!(plan.is_denied());
    assert!(plan.findings.iter().any(|f| f.rule == "spherectl::plan::prevent_destroy"));
}

#[test]
fn prune_of_most_of_the_set_needs_allow_delete() {
    let live = state(vec![
        live("c1", Kind::Community, "research", ORG_ID),
        live("p1", Kind::Project, "alpha", "c1"),
        live("p2", Kind::Project, "beta", "c1"),
    ]);
    let plan = planned("", live.clone(), false);
    assert!(plan.findings.iter().any(|f| f.rule == "spherectl::plan::mass_delete"));
    let plan = planned("", live, true);
    assert!(!plan.is_denied(), "{:?}", plan.findings);
}

#[test]
fn quotas_are_checked_in_the_planned_end_state() {
    let image = |name: &str| {
        format!(
            "---\napiVersion: spherectl/v1\nkind: DockerImage\nmetadata: {{name: {name}, project: research/alpha}}\nspec: {{repository: r, tag: t, dockerfile: 'FROM x'}}\n"
        )
    };
    let yaml = format!("{PROJECT}{}{}{}", image("a"), image("b"), image("c"));
    let quotas: BTreeMap<String, Option<i64>> =
        rules::QUOTAS.iter().map(|(n, v, _)| ((*n).to_owned(), Some(*v))).collect();
    let mut live = state(vec![]);
    live.quotas = Some(quotas);
    let plan = planned(&yaml, live.clone(), false);
    assert!(!plan.is_denied(), "three images fit: {:?}", plan.findings);
    let plan = planned(&format!("{yaml}{}", image("d")), live, false);
    let finding = plan.findings.iter().find(|f| f.rule == "spherectl::rules::quota").unwrap();
    assert!(
        finding.message.contains("at most 3 Docker images per community"),
        "{}",
        finding.message
    );
    assert!(finding.message.contains("(4 after this plan in `research`)"), "{}", finding.message);
}

#[test]
fn active_datasets_count_against_the_platforms_quota_not_a_default() {
    let dataset = |name: &str| {
        format!(
            "---\napiVersion: spherectl/v1\nkind: Dataset\nmetadata: {{name: {name}, project: research/alpha}}\nspec: {{sizeGb: 1, active: true}}\n"
        )
    };
    let yaml = format!("{PROJECT}{}{}{}{}", dataset("a"), dataset("b"), dataset("c"), dataset("d"));
    let mut quotas: BTreeMap<String, Option<i64>> =
        rules::QUOTAS.iter().map(|(n, v, _)| ((*n).to_owned(), Some(*v))).collect();
    let mut live = state(vec![]);
    live.quotas = Some(quotas.clone());
    let plan = planned(&yaml, live.clone(), false);
    let finding = plan.findings.iter().find(|f| f.rule == "spherectl::rules::quota").unwrap();
    assert!(
        finding.message.contains("at most 3 active datasets per project"),
        "{}",
        finding.message
    );
    quotas.insert("active-datasets-per-project".into(), None);
    live.quotas = Some(quotas);
    assert!(!planned(&yaml, live, false).is_denied());
}
