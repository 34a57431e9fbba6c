//! The built-in rules: their registry (ids, severities, what they check and where) and the
//! checks of the planned end state that no single planner step owns (lockout).
//!
//! The planner calls [`check`] once the changes are known; the other built-in rules run in the
//! planner steps that compute what they need (`plan::relations`, `plan::roles`, `plan::prune`,
//! `plan::quotas`) or in validation, all over the shared rule code of [`crate::rules`].

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::{
    diagnostics::Problem,
    manifest::{Address, Kind, Model},
    platform::{LiveObject, LiveState},
    rules::{self, Role},
};

/// When a built-in rule runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// `validate`, `plan`, `apply`: needs only the manifests.
    Static,
    /// `plan`, `drift`, `apply`: needs the live state.
    Plan,
}

/// One built-in rule.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub id: &'static str,
    /// `deny` or `warn` (plan JSON severity words).
    pub severity: &'static str,
    pub stage: Stage,
    /// What it checks.
    pub summary: &'static str,
}

/// Every built-in rule of publishing and access, for documentation and tests.
pub const RULES: &[Rule] = &[
    Rule {
        id: "spherectl::rules::cross_organization",
        severity: "deny",
        stage: Stage::Plan,
        summary: "publish only to communities of the resource's own organization (a community given by id is looked up on the platform)",
    },
    Rule {
        id: "spherectl::rules::publish_zone",
        severity: "deny",
        stage: Stage::Static,
        summary: "publish only to communities in the resource's availability zone (a community given by id is checked at plan time)",
    },
    Rule {
        id: "spherectl::rules::unpinned_checkpoint",
        severity: "deny",
        stage: Stage::Static,
        summary: "only pinned checkpoints are published or deployed",
    },
    Rule {
        id: "spherectl::rules::use_unpublished",
        severity: "deny",
        stage: Stage::Static,
        summary: "a project uses only resources published to its community",
    },
    Rule {
        id: "spherectl::rules::publish_roles",
        severity: "deny",
        stage: Stage::Plan,
        summary: "the actor holds the sharing roles where each publication runs (a community it creates in the plan counts)",
    },
    Rule {
        id: "spherectl::rules::permission",
        severity: "deny",
        stage: Stage::Plan,
        summary: "the actor holds the role every other change needs",
    },
    Rule {
        id: "spherectl::rules::lockout",
        severity: "deny",
        stage: Stage::Plan,
        summary: "no change takes the actor's own admin role away on an object the set still manages, or leaves a community or project without an admin (an organization admin gets a warning)",
    },
    Rule {
        id: "spherectl::rules::in_use",
        severity: "deny",
        stage: Stage::Plan,
        summary: "a resource other projects use is unpublished or deleted only after those uses are removed in the same plan",
    },
    Rule {
        id: "spherectl::rules::one_environment",
        severity: "deny",
        stage: Stage::Static,
        summary: "one active Docker image per project",
    },
    Rule {
        id: "spherectl::rules::quota",
        severity: "deny",
        stage: Stage::Plan,
        summary: "the plan stays within the organization's quotas",
    },
];

/// What the built-in checks of the end state read.
pub struct Input<'a> {
    pub model: &'a Model,
    pub live: &'a LiveState,
    pub actor: &'a str,
    /// The live object each declared address is matched to.
    pub matched: &'a HashMap<Address, &'a LiveObject>,
    /// Declared objects this plan creates (or replaces).
    pub created: &'a HashSet<Address>,
}

/// Checks the rules of the planned end state; returns each problem with the object it is about.
pub fn check(input: &Input<'_>) -> Vec<(Problem, Address)> {
    lockout(input)
}

type Members = BTreeMap<String, Role>;

/// The lockout rule over every declared community and project whose admins change.
fn lockout(input: &Input<'_>) -> Vec<(Problem, Address)> {
    let actor = input.actor;
    let organization_admin = input.live.organization_members.get(actor) == Some(&Role::Admin);
    let before = |address: &Address| -> Members {
        if input.created.contains(address) {
            // The platform makes the creator of a community its admin (an organization admin
            // needs no binding and gets none).
            if address.kind == Kind::Community && !organization_admin {
                return Members::from([(actor.to_owned(), Role::Admin)]);
            }
            return Members::new();
        }
        input.matched.get(address).map(|live| live.members.clone()).unwrap_or_default()
    };
    let after = |address: &Address| -> Members {
        match input.model.get(address).and_then(|o| o.members.as_ref()) {
            Some(members) => members.iter().map(|m| (m.subject.clone(), m.role)).collect(),
            None => before(address),
        }
    };
    let admins = |own: &Members, community: Option<&Members>| -> HashSet<String> {
        own.iter()
            .chain(community.into_iter().flatten())
            .filter(|(_, role)| **role == Role::Admin)
            .map(|(subject, _)| subject.clone())
            .collect()
    };
    let mut found = Vec::new();
    for object in &input.model.objects {
        let address = &object.address;
        if !matches!(address.kind, Kind::Community | Kind::Project) || object.members.is_none() {
            continue;
        }
        let (own_before, own_after) = (before(address), after(address));
        if own_before == own_after {
            continue;
        }
        let community = address.parent().filter(|_| address.kind == Kind::Project);
        let (community_before, community_after) =
            (community.as_ref().map(&before), community.as_ref().map(&after));
        let role = |own: &Members, community: Option<&Members>| {
            own.get(actor).copied().max(community.and_then(|c| c.get(actor).copied()))
        };
        let shown = address.to_string();
        let change = rules::AdminChange {
            object: &shown,
            actor,
            organization_admin,
            actor_before: role(&own_before, community_before.as_ref()),
            actor_after: role(&own_after, community_after.as_ref()),
            created: input.created.contains(address),
            admins_before: admins(&own_before, community_before.as_ref()).len(),
            admins_after: admins(&own_after, community_after.as_ref()).len(),
        };
        for lockout in rules::check_lockout(&change) {
            let rules::Lockout { violation, deny } = lockout;
            let mut problem = if deny {
                Problem::error("spherectl::rules::lockout", violation.message)
            } else {
                Problem::warning("spherectl::rules::lockout", violation.message)
            }
            .maybe_help(violation.help);
            let own_entry = object.members.iter().flatten().find(|m| m.subject == actor);
            problem = match own_entry {
                Some(member) => problem.at(member.location, "the actor's own role"),
                None => problem.at(object.location, "its `spec.members` changes"),
            };
            found.push((problem, address.clone()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every built-in rule has a failing and a passing fixture (`tests/cli/policy_rules.rs`).
    #[test]
    fn every_rule_has_fixtures() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policy");
        for rule in RULES {
            let name = rule.id.rsplit("::").next().unwrap();
            for part in ["fail", "pass"] {
                assert!(
                    root.join(name).join(part).is_dir(),
                    "no `{part}` fixture for `{}`",
                    rule.id
                );
            }
            assert!(matches!(rule.severity, "deny" | "warn"), "{}", rule.id);
        }
    }
}
