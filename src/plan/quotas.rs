//! Quotas in the planned end state: what `rules::check_quota` refuses at apply is refused here
//! first, so a plan does not pass and then fail half-way.
//!
//! Takes the planned creates and deletes and the platform's quotas (when it can tell them);
//! counts each quota's scope before and after the plan, and reports every scope the plan takes
//! over its limit. A scope already over its limit that the plan does not grow is left alone.

use std::collections::BTreeMap;

#[allow(clippy::wildcard_imports)]
use super::*;

/// The quota an object of this kind counts against, and its scope.
fn scope_of(address: &Address) -> Option<(&'static str, String)> {
    let community = || address.community().unwrap_or_default().to_owned();
    Some(match address.kind {
        Kind::Community => ("communities-per-organization", String::new()),
        Kind::Project => ("projects-per-community", community()),
        Kind::DockerImage => ("docker-images-per-community", community()),
        Kind::Dataset => ("datasets-per-community", community()),
        _ => return None,
    })
}

const ACTIVE_DATASETS: &str = "active-datasets-per-project";

#[derive(Default)]
struct Count {
    before: i64,
    after: i64,
    /// An object this plan adds to the scope (where the finding points).
    added: Option<Address>,
    /// An object this plan replaces in the scope: its create runs after its delete, so the
    /// scope must have room for it even when the plan does not grow the scope.
    replaced: Option<Address>,
}

impl Planner<'_> {
    pub(super) fn check_quotas(&mut self) {
        self.count_quotas(false);
    }

    /// Counts every quota's scope before and after `self.changes`. `focused`: the changes are
    /// a narrowed plan's, so a declared dataset is active as its kept activate or deactivate
    /// says, and otherwise as it is (a dataset whose activation is not kept stays as it is).
    fn count_quotas(&mut self, focused: bool) {
        let Some(quotas) = &self.input.live.quotas else { return };
        let activations: HashMap<&Address, bool> = self
            .changes
            .iter()
            .filter_map(|c| match c.action {
                Action::Activate => Some((&c.object, true)),
                Action::Deactivate => Some((&c.object, false)),
                _ => None,
            })
            .collect();
        let model = &self.input.loaded.model;
        let deleted: HashSet<&str> = self
            .changes
            .iter()
            .filter_map(|c| match &c.operation {
                Operation::Delete { id, .. } => Some(id.as_str()),
                _ => None,
            })
            .collect();
        let mut counts: BTreeMap<(&'static str, String), Count> = BTreeMap::new();
        for live in &self.input.live.objects {
            let Some(address) = self.resolved.get(live.id.as_str()) else { continue };
            let gone = deleted.contains(live.id.as_str());
            // Live addresses of matched objects are their declared ones: count the live parent.
            if let Some(key) = scope_of(address) {
                let count = counts.entry(key).or_default();
                count.before += 1;
                count.after += i64::from(!gone);
            }
            if live.kind == Kind::Dataset && live.active {
                let project = address.parent().map(|p| p.path).unwrap_or_default();
                counts.entry((ACTIVE_DATASETS, project)).or_default().before += 1;
            }
        }
        for change in &self.changes {
            let Some(key) = scope_of(&change.object) else { continue };
            match change.action {
                Action::Create => {
                    let count = counts.entry(key).or_default();
                    count.after += 1;
                    count.added.get_or_insert_with(|| change.object.clone());
                }
                Action::Replace => {
                    counts
                        .entry(key)
                        .or_default()
                        .replaced
                        .get_or_insert_with(|| change.object.clone());
                }
                _ => {}
            }
        }
        // Active datasets: declared ones as declared, the rest as they are.
        for object in model.objects.iter().filter(|o| o.address.kind == Kind::Dataset) {
            let live = self.matched.get(&object.address);
            let as_it_is = || live.is_some_and(|l| l.active);
            let active = if focused {
                activations.get(&object.address).copied().unwrap_or_else(as_it_is)
            } else {
                object.active.map_or_else(as_it_is, |(a, _)| a)
            };
            if active {
                let project = object.address.parent().map(|p| p.path).unwrap_or_default();
                let count = counts.entry((ACTIVE_DATASETS, project)).or_default();
                count.after += 1;
                if !live.is_some_and(|l| l.active) {
                    count.added.get_or_insert_with(|| object.address.clone());
                }
            }
        }
        for live in &self.input.live.objects {
            let declared = self.matched_ids.contains(live.id.as_str());
            if live.kind == Kind::Dataset
                && live.active
                && !declared
                && !deleted.contains(live.id.as_str())
                && let Some(address) = self.resolved.get(live.id.as_str())
            {
                let project = address.parent().map(|p| p.path).unwrap_or_default();
                counts.entry((ACTIVE_DATASETS, project)).or_default().after += 1;
            }
        }
        let mut problems = Vec::new();
        for ((name, scope), count) in &counts {
            let Some(limit) = quotas.get(*name).copied().flatten() else { continue };
            if count.after <= count.before && count.replaced.is_none() {
                continue;
            }
            if let Err(violation) = rules::check_quota(name, count.after, Some(limit)) {
                let Some(added) = count.added.as_ref().or(count.replaced.as_ref()) else {
                    continue;
                };
                let place = if scope.is_empty() {
                    "the organization".to_owned()
                } else {
                    format!("`{scope}`")
                };
                let mut problem = Problem::error(
                    "spherectl::rules::quota",
                    format!("{} ({} after this plan in {place})", violation.message, count.after),
                )
                .maybe_help(violation.help);
                if let Some(object) = model.get(added) {
                    problem = problem.at(object.location, "over the quota");
                }
                problems.push((problem, added.clone()));
            }
        }
        for (problem, address) in problems {
            self.finding(problem, Some(&address));
        }
    }
}

/// Checks the quotas again for `plan` once it is narrowed (`--target`): the planner counted the
/// whole plan, and its finding points at the first object a scope over its limit adds, which the
/// focus may have dropped. Counted again for the changes kept, a targeted plan is refused when
/// what it applies is over a quota (not only the whole plan), and not refused when only the
/// whole plan is. `input` is the input `plan` was made from.
pub fn recheck_quotas(input: &PlanInput<'_>, plan: &mut Plan) {
    const RULE: &str = "spherectl::rules::quota";
    let mut planner = Planner::new(input);
    planner.match_objects();
    planner.findings.clear();
    planner.changes = std::mem::take(&mut plan.changes);
    planner.count_quotas(true);
    plan.changes = std::mem::take(&mut planner.changes);
    plan.findings.retain(|f| f.rule != RULE);
    plan.findings.extend(planner.findings.into_iter().filter(|f| f.rule == RULE));
    sort_findings(&mut plan.findings);
}
