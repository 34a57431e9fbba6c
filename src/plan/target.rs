//! Focus (`--target ADDRESS`): a plan narrowed to some objects and what they depend on.
//!
//! Takes a computed [`Plan`] and the addresses asked for; keeps the changes of the targeted
//! objects (with their publish, use, member, activate and balance sub-changes) and every change
//! they wait for, transitively, through the plan's change graph (containment parents, references,
//! the publication a use needs, the grant a publication needs, the detaching a delete needs). A
//! targeted replace also keeps the uses that re-attach the new object and the changes that
//! re-point its referrers at it, so that targeting a resource never leaves its users detached
//! or its referrers pointing at the deleted object. Edges that only order two changes when both run
//! (quota room, the acting subject's role lowered last) are not followed. Everything else is
//! dropped, and so are the findings
//! about objects outside the kept part: as with Terraform's `-target`, only the targeted part is
//! checked. Findings about the plan as a whole (no address, such as the mass-delete guard) stay.
//!
//! Pure: no I/O. The CLI checks the targets against what the manifests and the platform hold
//! ([`known_addresses`]) and prints the warning that the rest was not checked.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{Action, Change, Plan, order::change_graph};
use crate::{manifest::Model, rules};

/// What [`focus`] kept and dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Focus {
    /// The targets, as given (deduplicated, in the order given).
    pub targets: Vec<String>,
    /// Changes dropped because no target needs them.
    pub dropped_changes: usize,
    /// Findings dropped because they are about objects outside the kept part.
    pub dropped_findings: usize,
    /// Targets that no change acts on (the object is already as declared, or is not this set's).
    pub unchanged: Vec<String>,
}

/// A target that names nothing the manifests or the platform hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    pub target: String,
    /// The closest known address, when one is close enough to be meant.
    pub suggestion: Option<String>,
}

/// Every address a target may name: the declared objects, the live objects the plan knows
/// (matched, pending delete, unmanaged or another set's), the organization and every change's
/// own key (`Dataset/r/p/d#publish:analytics` targets that one change).
pub fn known_addresses(plan: &Plan, model: &Model) -> BTreeSet<String> {
    let mut known = BTreeSet::new();
    known.insert(format!("Organization/{}", model.organization.name));
    known.extend(model.objects.iter().map(|o| o.address.to_string()));
    known.extend(plan.known_ids.keys().map(ToString::to_string));
    known.extend(plan.unmanaged.iter().cloned());
    for change in &plan.changes {
        known.insert(change.object.to_string());
        known.insert(change.address.clone());
    }
    known
}

/// Narrows `plan` to the `targets` and what they depend on.
///
/// # Errors
/// The targets that name nothing in `known` (with a suggestion when one is close); the plan is
/// left unchanged then.
pub fn focus(
    plan: &mut Plan,
    targets: &[String],
    known: &BTreeSet<String>,
) -> Result<Focus, Vec<Unmatched>> {
    let mut wanted: Vec<String> = Vec::new();
    for target in targets {
        let target = target.trim().to_owned();
        if !wanted.contains(&target) {
            wanted.push(target);
        }
    }
    let unmatched: Vec<Unmatched> = wanted
        .iter()
        .filter(|t| !known.contains(t.as_str()))
        .map(|t| Unmatched { target: t.clone(), suggestion: suggest(t, known) })
        .collect();
    if !unmatched.is_empty() {
        return Err(unmatched);
    }
    let graph = change_graph(&plan.changes);
    let index: HashMap<&str, usize> =
        plan.changes.iter().enumerate().map(|(i, c)| (c.address.as_str(), i)).collect();
    let mut keep = vec![false; plan.changes.len()];
    let mut stack: Vec<usize> = Vec::new();
    let mut unchanged = Vec::new();
    for target in &wanted {
        let before = stack.len();
        stack.extend(
            plan.changes
                .iter()
                .enumerate()
                .filter(|(_, c)| c.address == *target || c.object.to_string() == *target)
                .map(|(i, _)| i),
        );
        if stack.len() == before {
            unchanged.push(target.clone());
        }
    }
    // Everything the targeted changes wait for; a kept replace also brings back the uses that
    // re-attach the new object (and, in turn, what they wait for).
    while let Some(i) = stack.pop() {
        if keep[i] {
            continue;
        }
        keep[i] = true;
        let change = &plan.changes[i];
        stack.extend(
            change
                .depends_on
                .iter()
                .filter_map(|key| index.get(key.as_str()).copied())
                .filter(|&d| !order_only(change, &plan.changes[d])),
        );
        if change.action == Action::Replace {
            stack.extend(graph.dependents(i).filter(|&d| repoints(change, &plan.changes[d])));
        }
    }
    let kept_objects: HashSet<String> = plan
        .changes
        .iter()
        .zip(&keep)
        .filter(|(_, kept)| **kept)
        .map(|(c, _)| c.object.to_string())
        .chain(wanted.iter().map(|t| object_of(t).to_owned()))
        .collect();
    let before = plan.changes.len();
    let mut position = 0;
    plan.changes.retain(|_| {
        position += 1;
        keep[position - 1]
    });
    let dropped_changes = before - plan.changes.len();
    // What a kept change waits for only when both run (see `order_only`) and is dropped: not
    // part of this plan, so not shown as a dependency.
    let kept_keys: HashSet<String> = plan.changes.iter().map(|c| c.address.clone()).collect();
    for change in &mut plan.changes {
        change.depends_on.retain(|key| kept_keys.contains(key));
    }
    plan.summary = Action::ALL.iter().map(|a| (a.as_str(), 0)).collect();
    for change in &plan.changes {
        *plan.summary.entry(change.action.as_str()).or_default() += 1;
    }
    let before = plan.findings.len();
    plan.findings.retain(|finding| match &finding.address {
        None => true,
        Some(address) => kept_objects.contains(object_of(address)),
    });
    Ok(Focus {
        targets: wanted,
        dropped_changes,
        dropped_findings: before - plan.findings.len(),
        unchanged,
    })
}

/// Drops the findings from index `from` on that are about objects outside a plan [`focus`]
/// already narrowed to `targets` (outside its changes' objects and the targets' own): findings
/// added after the narrowing, the Rego policies' (whose input holds every declared object),
/// follow the focus as the built-in ones do. Findings without an address stay. Returns how
/// many were dropped.
pub fn drop_findings_outside(plan: &mut Plan, targets: &[String], from: usize) -> usize {
    let kept_objects: HashSet<String> = plan
        .changes
        .iter()
        .map(|c| c.object.to_string())
        .chain(targets.iter().map(|t| object_of(t.trim()).to_owned()))
        .collect();
    let before = plan.findings.len();
    let mut position = 0;
    plan.findings.retain(|finding| {
        position += 1;
        position <= from
            || finding.address.as_deref().is_none_or(|a| kept_objects.contains(object_of(a)))
    });
    before - plan.findings.len()
}

/// Whether `dependent`, a change that waits for the replace `replace`, points its object at the
/// new one: a use that re-attaches it, or the update or replace of an object that references it
/// (a node that runs a replaced image, an alias that routes to a replaced node). Without it the
/// old object's users and referrers would be left detached, or pointing at a deleted object.
fn repoints(replace: &Change, dependent: &Change) -> bool {
    dependent.object != replace.object
        && matches!(dependent.action, Action::Use | Action::Update | Action::Replace)
}

/// Whether `dependent` waits for `dependency` only to run after it when both run, not because
/// it needs it: a create after the deletes of its kind in its quota scope (the room they free),
/// a dataset mounted after the unmounts in its project (the same), the acting subject's own
/// member change after every other change (they may need the role it has now). Focus does not
/// follow such an edge: a target never brings the delete of an object it does not need, nor the
/// rest of the plan. (A targeted create at a full quota is then refused by the quotas counted
/// again for the narrowed plan, `plan::recheck_quotas`: target the delete too to free the room.)
fn order_only(dependent: &Change, dependency: &Change) -> bool {
    if dependent.object == dependency.object {
        return false;
    }
    match (dependent.action, dependency.action) {
        (Action::Create, Action::Delete) => dependent.kind == dependency.kind,
        (Action::Activate, Action::Deactivate) => true,
        // A member change needs only its own object; an edge elsewhere is "last".
        (Action::AddMember | Action::RemoveMember, _) => true,
        _ => false,
    }
}

/// The object part of an address or change key (`Dataset/r/p/d#publish:x` → `Dataset/r/p/d`).
fn object_of(address: &str) -> &str {
    address.split_once('#').map_or(address, |(object, _)| object)
}

/// The known address a mistyped target most likely means: the same text in another case, an
/// address whose path is the target (the kind left out), or the nearest by edit distance (on the
/// whole address, then on the path alone, for a mistyped kind).
fn suggest(target: &str, known: &BTreeSet<String>) -> Option<String> {
    let lower = target.to_ascii_lowercase();
    if let Some(same) = known.iter().find(|k| k.to_ascii_lowercase() == lower) {
        return Some(same.clone());
    }
    let path_of = |address: &str| address.split_once('/').map_or("", |(_, path)| path).to_owned();
    let objects = known.iter().filter(|k| !k.contains('#'));
    if let Some(found) = objects.clone().find(|k| path_of(k) == target) {
        return Some(found.clone());
    }
    if let Some(near) = rules::nearest(target, known.iter().map(String::as_str)) {
        return Some(near.to_owned());
    }
    let given = path_of(target);
    if given.is_empty() {
        return None;
    }
    objects.clone().find(|k| path_of(k) == given).cloned()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{
        manifest::{self, Loaded},
        plan::{PlanInput, SecretValues, plan},
        platform::LiveState,
        rules::Role,
    };

    const ORG: &str = "apiVersion: spherectl/v1\nkind: Organization\nmetadata: {name: acme}\nspec: {id: bpf00000000000000acme}\n";

    const TWO_TEAMS: &str = "
---
apiVersion: spherectl/v1
kind: Community
metadata: {name: research}
---
apiVersion: spherectl/v1
kind: Community
metadata: {name: analytics}
spec:
  members: [{subject: \"userAccount:alice\", role: admin}]
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: models, community: research}
---
apiVersion: spherectl/v1
kind: Project
metadata: {name: reports, community: analytics}
spec:
  uses: [{kind: Dataset, ref: research/models/events}]
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {name: events, project: research/models}
spec: {sizeGb: 5, publish: [analytics]}
---
apiVersion: spherectl/v1
kind: Dataset
metadata: {name: other, project: research/models}
spec: {sizeGb: 1}
";

    fn load(yaml: &str) -> (Loaded, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("org.yaml"), format!("{ORG}{yaml}")).unwrap();
        let loaded = manifest::load(&[dir.path().to_path_buf()])
            .unwrap_or_else(|f| panic!("{:?}", f.problems));
        (loaded, dir)
    }

    fn planned(yaml: &str) -> (Plan, BTreeSet<String>) {
        planned_as(yaml, "userAccount:local-admin")
    }

    fn planned_as(yaml: &str, actor: &str) -> (Plan, BTreeSet<String>) {
        let (loaded, _dir) = load(yaml);
        let live = LiveState {
            organization_id: "bpf00000000000000acme".into(),
            organization_members: BTreeMap::from([(actor.to_owned(), Role::Admin)]),
            ..LiveState::default()
        };
        let digest = |_: &crate::platform::SecretValue| None;
        let plan = plan(&PlanInput {
            loaded: &loaded,
            live: &live,
            secrets: &SecretValues::new(),
            digest: &digest,
            actor,
            platform: "test".into(),
            allow_delete: false,
        });
        let known = known_addresses(&plan, &loaded.model);
        (plan, known)
    }

    fn addresses(plan: &Plan) -> Vec<&str> {
        let mut list: Vec<&str> = plan.changes.iter().map(|c| c.address.as_str()).collect();
        list.sort_unstable();
        list
    }

    fn targets(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn a_resource_brings_its_parents_and_nothing_else() {
        let (mut plan, known) = planned(TWO_TEAMS);
        let total = plan.changes.len();
        let focus = focus(&mut plan, &targets(&["Dataset/research/models/other"]), &known).unwrap();
        assert_eq!(
            addresses(&plan),
            ["Community/research", "Dataset/research/models/other", "Project/research/models"]
        );
        assert_eq!(focus.dropped_changes, total - 3);
        assert_eq!(plan.summary["create"], 3);
        assert!(focus.unchanged.is_empty());
    }

    #[test]
    fn a_use_brings_the_publication_and_the_grant_it_needs() {
        // Alice applies: the plan grants her `admin` in `analytics`, which publishing there needs.
        let (mut plan, known) = planned_as(TWO_TEAMS, "userAccount:alice");
        focus(&mut plan, &targets(&["Project/analytics/reports"]), &known).unwrap();
        let kept = addresses(&plan);
        for needed in [
            "Project/analytics/reports",
            "Project/analytics/reports#use:Dataset/research/models/events",
            "Dataset/research/models/events#publish:analytics",
            "Dataset/research/models/events",
            "Project/research/models",
            "Community/research",
            "Community/analytics",
            "Community/analytics#member:userAccount:alice",
        ] {
            assert!(kept.contains(&needed), "{needed} missing from {kept:?}");
        }
        assert!(!kept.contains(&"Dataset/research/models/other"), "{kept:?}");
    }

    #[test]
    fn a_targeted_object_keeps_its_own_sub_changes() {
        let (mut plan, known) = planned(TWO_TEAMS);
        focus(&mut plan, &targets(&["Community/analytics"]), &known).unwrap();
        let kept = addresses(&plan);
        assert!(kept.contains(&"Community/analytics"), "{kept:?}");
        assert!(kept.iter().any(|a| a.starts_with("Community/analytics#")), "{kept:?}");
        // Its projects are its dependents, not its dependencies.
        assert!(!kept.iter().any(|a| a.starts_with("Project/")), "{kept:?}");
    }

    #[test]
    fn a_change_key_targets_that_change() {
        let (mut plan, known) = planned(TWO_TEAMS);
        focus(&mut plan, &targets(&["Dataset/research/models/events#publish:analytics"]), &known)
            .unwrap();
        let kept = addresses(&plan);
        assert!(kept.contains(&"Dataset/research/models/events#publish:analytics"));
        assert!(!kept.contains(&"Project/analytics/reports"), "{kept:?}");
    }

    #[test]
    fn unknown_targets_are_refused_with_a_suggestion_and_the_plan_is_untouched() {
        let (mut plan, known) = planned(TWO_TEAMS);
        let total = plan.changes.len();
        let error = focus(
            &mut plan,
            &targets(&[
                "Community/reserch",
                "research",
                "community/research",
                "Projects/research/models",
                "Dataset/nowhere/at/all",
            ]),
            &known,
        )
        .unwrap_err();
        let suggestions: Vec<Option<&str>> =
            error.iter().map(|u| u.suggestion.as_deref()).collect();
        assert_eq!(
            suggestions,
            [
                Some("Community/research"),
                Some("Community/research"),
                Some("Community/research"),
                Some("Project/research/models"),
                None
            ]
        );
        assert_eq!(plan.changes.len(), total);
    }

    #[test]
    fn findings_outside_the_focus_are_dropped_and_plan_wide_ones_stay() {
        // A dataset over the per-project active quota: a finding at that project's datasets.
        let (mut plan, known) = planned(TWO_TEAMS);
        let finding = |address: Option<&str>| {
            let problem = crate::diagnostics::Problem::error("test::rule", "boom");
            super::super::Finding::new(problem, address.map(ToOwned::to_owned), None)
        };
        plan.findings = vec![
            finding(Some("Dataset/research/models/events")),
            finding(Some("Dataset/research/models/other#activate")),
            finding(None),
        ];
        let focus = focus(&mut plan, &targets(&["Dataset/research/models/other"]), &known).unwrap();
        assert_eq!(focus.dropped_findings, 1);
        let left: Vec<Option<&str>> = plan.findings.iter().map(|f| f.address.as_deref()).collect();
        assert_eq!(left, [Some("Dataset/research/models/other#activate"), None]);
    }

    #[test]
    fn findings_added_after_the_focus_follow_it_and_earlier_ones_stay() {
        let (mut plan, known) = planned(TWO_TEAMS);
        let finding = |address: Option<&str>| {
            let problem = crate::diagnostics::Problem::error("test::rule", "boom");
            super::super::Finding::new(problem, address.map(ToOwned::to_owned), None)
        };
        let wanted = targets(&["Dataset/research/models/other"]);
        focus(&mut plan, &wanted, &known).unwrap();
        // One kept by the focus (whatever its address), then the policies' findings.
        plan.findings = vec![
            finding(Some("Dataset/research/models/events")),
            finding(Some("Dataset/research/models/events")),
            finding(Some("Dataset/research/models/other")),
            finding(Some("Project/research/models")),
            finding(None),
        ];
        assert_eq!(drop_findings_outside(&mut plan, &wanted, 1), 1);
        let left: Vec<Option<&str>> = plan.findings.iter().map(|f| f.address.as_deref()).collect();
        assert_eq!(
            left,
            [
                Some("Dataset/research/models/events"),
                Some("Dataset/research/models/other"),
                Some("Project/research/models"),
                None
            ]
        );
    }

    #[test]
    fn a_known_object_without_changes_is_reported_unchanged() {
        let (mut plan, mut known) = planned(TWO_TEAMS);
        known.insert("Community/hand-made".into());
        let focus = focus(
            &mut plan,
            &targets(&["Community/hand-made", "Community/hand-made", " Community/research "]),
            &known,
        )
        .unwrap();
        assert_eq!(focus.targets, ["Community/hand-made", "Community/research"]);
        assert_eq!(focus.unchanged, ["Community/hand-made"]);
        assert_eq!(addresses(&plan), ["Community/research"]);
    }
}
