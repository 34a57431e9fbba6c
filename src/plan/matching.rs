//! Identity: which live object each declared object is.
//!
//! Takes the model and the live state; fills the planner's `matched` (address → live object),
//! `resolved` (live id → the address it is known under) and `matched_ids`, and reports claims
//! that cannot hold. A live object is matched by at most one document. Claims, strongest first:
//! `metadata.id` (adopt), `metadata.renamedFrom` (of a document whose own name matches nothing
//! live), then the address itself. A document whose address names a live object that another
//! document renames away is a new object, created after the rename.

use std::collections::{HashMap, HashSet};

use super::Planner;
use crate::{
    diagnostics::Problem,
    manifest::{Address, Kind, Object},
    platform::LiveObject,
    rules,
};

/// How a document claims a live object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Claim {
    Adopt,
    Rename,
    Address,
}

impl Claim {
    fn describe(self) -> &'static str {
        match self {
            Claim::Adopt => "`metadata.id`",
            Claim::Rename => "`metadata.renamedFrom`",
            Claim::Address => "its name",
        }
    }
}

impl<'a> Planner<'a> {
    /// Matches desired objects to live ones, kind by kind, so that a renamed parent's children
    /// are found under the parent's new name.
    pub(super) fn match_objects(&mut self) {
        let model = &self.input.loaded.model;
        let live = &self.input.live;
        for kind in Kind::ALL.into_iter().skip(1) {
            let mut natural: HashMap<Address, &'a LiveObject> = HashMap::new();
            for object in live.objects.iter().filter(|o| o.kind == kind) {
                let path = if kind == Kind::Community {
                    if object.parent_id != self.organization_id {
                        continue;
                    }
                    object.name.clone()
                } else {
                    match self.resolved.get(object.parent_id.as_str()) {
                        Some(parent) => format!("{}/{}", parent.path, object.name),
                        None => continue,
                    }
                };
                let address = Address::new(kind, path);
                self.resolved.insert(&object.id, address.clone());
                natural.insert(address, object);
            }
            let declared: Vec<&'a Object> =
                model.objects.iter().filter(|o| o.address.kind == kind).collect();
            // Live id → the document that claimed it, and how.
            let mut claims: HashMap<&'a str, (&'a Object, Claim)> = HashMap::new();
            for object in &declared {
                if let Some(found) = self.adopted(object, kind) {
                    // An adoption under another name vacates the object's current address, as a
                    // rename does: whatever takes that name waits for it.
                    let current = self.resolved.get(found.id.as_str()).cloned();
                    if self.claim(&mut claims, object, found, Claim::Adopt)
                        && let Some(current) = current
                        && current != object.address
                    {
                        self.renamed_away.insert(current, object.address.clone());
                    }
                }
            }
            // Renames, to a fixed point: a document may take its `renamedFrom` object when its
            // own name is free, or is being vacated by another rename (a chain `b renamedFrom a`,
            // `c renamedFrom b` renames b to c and then a to b).
            let mut vacated: HashSet<&'a str> = claims.keys().copied().collect();
            loop {
                let mut progress = false;
                for object in &declared {
                    if object.adopt_id.is_some() || self.matched.contains_key(&object.address) {
                        continue;
                    }
                    let Some(old) = &object.renamed_from else { continue };
                    if let Some(holder) = natural.get(&object.address)
                        && !vacated.contains(holder.id.as_str())
                    {
                        continue;
                    }
                    let old_address = sibling(&object.address, old);
                    let Some(found) = natural.get(&old_address).copied() else { continue };
                    if claims.contains_key(found.id.as_str()) {
                        continue;
                    }
                    if self.claim(&mut claims, object, found, Claim::Rename) {
                        self.renamed_away.insert(old_address, object.address.clone());
                        vacated.insert(&found.id);
                        progress = true;
                    }
                }
                if !progress {
                    break;
                }
            }
            self.refuse_rename_cycles(&declared, &natural);
            for object in &declared {
                if object.adopt_id.is_some() {
                    continue;
                }
                let Some(found) = natural.get(&object.address).copied() else { continue };
                if self.matched.contains_key(&object.address) {
                    continue;
                }
                // Renamed away by another document: this one is a new object with the old name.
                if !matches!(claims.get(found.id.as_str()), Some((_, Claim::Rename))) {
                    self.claim(&mut claims, object, found, Claim::Address);
                }
            }
            self.report_unused_renames(&declared, &natural, &claims);
        }
    }

    /// Renames that go round in a circle (`a renamedFrom: b` and `b renamedFrom: a`, both live)
    /// cannot be done in place: each name is taken until the other is free. They are refused,
    /// never read as "keep both" (which would swap the documents' contents).
    fn refuse_rename_cycles(
        &mut self,
        declared: &[&'a Object],
        natural: &HashMap<Address, &'a LiveObject>,
    ) {
        let by_address: HashMap<&Address, &'a Object> =
            declared.iter().map(|o| (&o.address, *o)).collect();
        let mut reported: HashSet<&Address> = HashSet::new();
        for start in declared {
            // Only documents whose own name is live and that no rename matched.
            if reported.contains(&start.address)
                || self.matched.contains_key(&start.address)
                || !natural.contains_key(&start.address)
            {
                continue;
            }
            let mut cycle = vec![*start];
            let mut current = *start;
            while let Some(old) = &current.renamed_from {
                let old_address = sibling(&current.address, old);
                if !natural.contains_key(&old_address) {
                    break;
                }
                let Some(next) = by_address.get(&old_address).copied() else { break };
                if next.address == start.address {
                    let names: Vec<String> = cycle
                        .iter()
                        .map(|o| {
                            format!(
                                "`{}` (renamedFrom `{}`)",
                                o.name,
                                o.renamed_from.as_deref().unwrap_or_default()
                            )
                        })
                        .collect();
                    let mut problem = Problem::error(
                        "spherectl::plan::rename_cycle",
                        format!("these renames go round in a circle: {}", names.join(", ")),
                    )
                    .help("names cannot be swapped in place: rename one object to a temporary name and apply, then finish the renames");
                    for object in &cycle {
                        problem = problem.at(object.location, "part of the circle");
                    }
                    self.finding(problem, Some(&start.address));
                    reported.extend(cycle.iter().map(|o| &o.address));
                    break;
                }
                if cycle.iter().any(|o| o.address == next.address) || cycle.len() > declared.len() {
                    break;
                }
                cycle.push(next);
                current = next;
            }
        }
    }

    /// A `renamedFrom` whose old object is live but that no rename took, because the document's
    /// own name is live too. If the old object is declared by no document, this plan would delete
    /// the very object the user means to rename: an error. If it is declared (a rename applied
    /// earlier, with a new object under the old name since), it is most likely a leftover: advice.
    fn report_unused_renames(
        &mut self,
        declared: &[&'a Object],
        natural: &HashMap<Address, &'a LiveObject>,
        claims: &HashMap<&'a str, (&'a Object, Claim)>,
    ) {
        let addresses: HashSet<&Address> = declared.iter().map(|o| &o.address).collect();
        for object in declared {
            let Some(old) = &object.renamed_from else { continue };
            if object.adopt_id.is_some() || !natural.contains_key(&object.address) {
                continue;
            }
            if matches!(self.matched.get(&object.address), Some(live) if claims.get(live.id.as_str()).is_some_and(|(_, how)| *how == Claim::Rename))
            {
                continue;
            }
            let old_address = sibling(&object.address, old);
            let Some(old_live) = natural.get(&old_address) else { continue };
            if claims.contains_key(old_live.id.as_str()) && addresses.contains(&old_address) {
                let problem = Problem {
                    severity: crate::diagnostics::Severity::Advice,
                    ..Problem::error(
                        "spherectl::plan::rename_ignored",
                        format!(
                            "`renamedFrom: {old}` on {} is ignored: both `{}` and `{old}` exist and `{old}` is declared too",
                            object.address, object.name
                        ),
                    )
                }
                .at(object.location, "renamedFrom ignored")
                .help("if this rename was applied earlier, remove `renamedFrom`; names cannot be swapped in place");
                self.finding(problem, Some(&object.address));
            } else if !claims.contains_key(old_live.id.as_str()) {
                let problem = Problem::error(
                    "spherectl::plan::rename_blocked",
                    format!(
                        "{} cannot be renamed from `{old}`: `{}` exists already, so this plan would delete `{old}` (the object to keep)",
                        object.address, object.name
                    ),
                )
                .at(object.location, "the new name is taken")
                .help(format!(
                    "delete or rename the existing `{}` first (apply without this rename), or remove `renamedFrom` if `{old}` should go",
                    object.name
                ));
                self.finding(problem, Some(&object.address));
            }
        }
    }

    /// The live object a document adopts by `metadata.id`, checked for kind and parent.
    fn adopted(&mut self, object: &'a Object, kind: Kind) -> Option<&'a LiveObject> {
        let id = object.adopt_id.as_ref()?;
        let Some(live) = self.by_id.get(id.as_str()).copied() else {
            let problem = Problem::error(
                "spherectl::plan::adopt_missing",
                format!("no {kind} with id `{id}` exists on the platform"),
            )
            .at(object.location, "nothing to adopt")
            .help("check the id, or remove `metadata.id` to create the object");
            self.finding(problem, Some(&object.address));
            return None;
        };
        if live.kind != kind {
            let problem = Problem::error(
                "spherectl::plan::adopt_kind",
                format!("`metadata.id` `{id}` is a {}, not a {kind}", live.kind),
            )
            .at(object.location, "adopting the wrong kind of object");
            self.finding(problem, Some(&object.address));
            return None;
        }
        // Another set's object is never taken over silently: its own plans would then fight
        // over it (each relabelling it as its own).
        if let Some(owner) = live.labels.get(rules::LABEL_SET).filter(|owner| {
            live.labels.get(rules::LABEL_MANAGED_BY).map(String::as_str)
                == Some(rules::MANAGED_BY_VALUE)
                && owner.as_str() != self.set_name
        }) {
            let problem = Problem::error(
                "spherectl::plan::adopt_foreign",
                format!("{} adopts `{id}`, which belongs to the manifest set `{owner}`", object.address),
            )
            .at(object.location, "another set's object")
            .help(format!(
                "to hand it over, the set `{owner}` must let go first: remove its `{}` label on the platform (without deleting the object), then adopt it here",
                rules::LABEL_SET
            ));
            self.finding(problem, Some(&object.address));
            return None;
        }
        let expected_parent = match object.address.parent() {
            Some(parent) => self.matched.get(&parent).map(|p| p.id.as_str()),
            None => Some(self.organization_id),
        };
        if expected_parent != Some(live.parent_id.as_str()) {
            let actual = self
                .resolved
                .get(live.parent_id.as_str())
                .map_or_else(|| format!("`{}`", live.parent_id), |a| a.to_string());
            let declared = object.address.parent().map_or_else(
                || format!("organization `{}`", self.organization_id),
                |p| p.to_string(),
            );
            let problem = Problem::error(
                "spherectl::plan::adopt_parent",
                format!(
                    "{} adopts `{id}`, which lives in {actual}, not in {declared}",
                    object.address
                ),
            )
            .at(object.location, "adopted from another parent")
            .help(
                "declare the object under the parent it lives in; spherectl does not move objects",
            );
            self.finding(problem, Some(&object.address));
            return None;
        }
        Some(live)
    }

    /// Records `object`'s claim on `found`; a second claim on one live object is an error naming
    /// both documents. Returns whether the claim holds.
    fn claim(
        &mut self,
        claims: &mut HashMap<&'a str, (&'a Object, Claim)>,
        object: &'a Object,
        found: &'a LiveObject,
        how: Claim,
    ) -> bool {
        if let Some((first, first_how)) = claims.get(found.id.as_str()).copied() {
            let (file, line) = self.sources.file_line(first.location);
            let problem = Problem::error(
                "spherectl::plan::claimed_twice",
                format!(
                    "{} and {} both claim the live object `{}`",
                    first.address, object.address, found.id
                ),
            )
            .at(object.location, format!("claims it by {}", how.describe()))
            .at(first.location, format!("already claimed here by {}", first_how.describe()))
            .help(format!(
                "a live object is managed by one document; keep the claim in {file}:{line} or this one, not both"
            ));
            self.finding(problem, Some(&object.address));
            return false;
        }
        if how != Claim::Adopt && !self.is_ours(found) {
            let owner = found.labels.get(rules::LABEL_SET).filter(|_| {
                found.labels.get(rules::LABEL_MANAGED_BY).map(String::as_str)
                    == Some(rules::MANAGED_BY_VALUE)
            });
            let message = match owner {
                Some(owner) => format!(
                    "{} already exists and belongs to the manifest set `{owner}`",
                    object.address
                ),
                None => {
                    format!("{} already exists and is not managed by spherectl", object.address)
                }
            };
            let help = match owner {
                Some(owner) => format!(
                    "it is managed by the set `{owner}`: rename this one, or have `{owner}` let go of it (remove its `{}` label on the platform) and then adopt it with `metadata.id: {}`",
                    rules::LABEL_SET,
                    found.id
                ),
                None => {
                    format!("to manage the existing object, adopt it: `metadata.id: {}`", found.id)
                }
            };
            let problem = Problem::error("spherectl::plan::not_owned", message)
                .at(object.location, "exists already")
                .help(help);
            self.finding(problem, Some(&object.address));
            self.matched_ids.insert(&found.id);
            claims.insert(&found.id, (object, how));
            return false;
        }
        claims.insert(&found.id, (object, how));
        self.resolved.insert(&found.id, object.address.clone());
        self.matched.insert(object.address.clone(), found);
        self.matched_ids.insert(&found.id);
        true
    }
}

/// The address of `name` under the same parent as `address`.
fn sibling(address: &Address, name: &str) -> Address {
    let parent = address.parent().map(|p| format!("{}/", p.path)).unwrap_or_default();
    Address::new(address.kind, format!("{parent}{name}"))
}
