//! Ordering: each change's dependencies, and the topological order of the plan.
//!
//! Takes the planned changes; fills `depends_on` (containment, references, permission edges,
//! use after publish, deletes in reverse, creates after same-scope deletes) and sorts the plan
//! dependencies first, ties broken by address.

#[allow(clippy::wildcard_imports)]
use super::*;
use crate::graph::changes::ChangeGraph;

impl Planner<'_> {
    /// Computes each change's dependencies.
    pub(super) fn link(&mut self) {
        let detach_first = self.detach_before_replace();
        // Live objects that reference each deleted id (the index is built only when something
        // is deleted, and then shared with prune and the replace checks).
        let referrers =
            self.changes.iter().any(|c| c.action == Action::Delete).then(|| self.take_referrers());
        let keys: HashSet<String> = self.changes.iter().map(|c| c.address.clone()).collect();
        let mut by_object: HashMap<Address, Vec<(String, Action)>> = HashMap::new();
        for change in &self.changes {
            by_object
                .entry(change.object.clone())
                .or_default()
                .push((change.address.clone(), change.action));
        }
        let model = &self.input.loaded.model;
        // Live parent/child and reference relations among deleted objects.
        // Deleted live id → the key of its delete.
        let deleted: HashMap<&str, &str> = self
            .changes
            .iter()
            .filter_map(|c| match &c.operation {
                Operation::Delete { id, .. } => Some((id.as_str(), c.address.as_str())),
                _ => None,
            })
            .collect();
        // Live id → the keys of the changes that unpublish or deactivate it.
        let mut released: HashMap<&str, Vec<&str>> = HashMap::new();
        for change in &self.changes {
            let id = match &change.operation {
                Operation::Unpublish { resource_id, .. } => resource_id.as_str(),
                Operation::SetActive { resource: Target::Id(id), active: false, .. } => id.as_str(),
                _ => continue,
            };
            released.entry(id).or_default().push(change.address.as_str());
        }
        // The acting subject's own role changes that lower it.
        let downgrades: HashSet<String> = self
            .changes
            .iter()
            .filter(|c| match &c.operation {
                Operation::AddMember { subject, role, .. } if subject == self.input.actor => self
                    .matched
                    .get(&c.object)
                    .and_then(|live| live.members.get(subject))
                    .is_some_and(|current| current > role),
                _ => false,
            })
            .map(|c| c.address.clone())
            .collect();
        // Community or project → the plan's grants of roles to the acting subject there.
        let mut grants: HashMap<Address, Vec<String>> = HashMap::new();
        for change in &self.changes {
            if let Operation::AddMember { subject, .. } = &change.operation
                && subject == self.input.actor
                && !downgrades.contains(&change.address)
            {
                grants.entry(change.object.clone()).or_default().push(change.address.clone());
            }
        }
        // Project → the dataset deactivations in it.
        let mut unmounts: HashMap<Address, Vec<String>> = HashMap::new();
        for change in &self.changes {
            if change.action == Action::Deactivate
                && change.kind == Kind::Dataset
                && let Some(project) = change.object.parent()
            {
                unmounts.entry(project).or_default().push(change.address.clone());
            }
        }
        let mut deletes_at: HashMap<Address, Vec<String>> = HashMap::new();
        for change in self.changes.iter().filter(|c| c.action == Action::Delete) {
            deletes_at.entry(change.object.clone()).or_default().push(change.address.clone());
        }
        let mut unuses_of: HashMap<&str, Vec<&str>> = HashMap::new();
        for other in &self.changes {
            if let Operation::Unuse { resource_id, project_id, .. } = &other.operation {
                unuses_of.entry(resource_id.as_str()).or_default().push(other.address.as_str());
                unuses_of.entry(project_id.as_str()).or_default().push(other.address.as_str());
            }
        }
        // Live objects that reference each deleted id (only computed when something is deleted).
        let referrers = referrers.as_ref();
        // The organization's sharing rule decides which roles a publication needs.
        let sharing =
            Some(Address::new(Kind::Organization, model.organization.name.clone()).to_string())
                .filter(|key| keys.contains(key));
        let mut links: Vec<Vec<String>> = Vec::with_capacity(self.changes.len());
        for change in &self.changes {
            let mut depends: BTreeSet<String> = BTreeSet::new();
            let object_change = |address: &Address| -> Option<String> {
                by_object
                    .get(address)?
                    .iter()
                    .find(|(_, a)| matches!(a, Action::Create | Action::Replace | Action::Update))
                    .map(|(k, _)| k.clone())
            };
            match change.action {
                Action::Create | Action::Replace | Action::Update => {
                    if let Some(object) = model.get(&change.object) {
                        for dependency in &object.dependencies {
                            if matches!(dependency.kind, EdgeKind::Uses | EdgeKind::Publish) {
                                continue;
                            }
                            depends.extend(object_change(&dependency.target));
                            // A reference to another project's resource needs its project's
                            // use of it first (the platform checks it: `rules::check_shared_reference`).
                            if let Some(project) = change.object.parent()
                                && dependency.target.parent().as_ref() != Some(&project)
                                && dependency.kind == EdgeKind::Reference
                            {
                                let key = format!("{project}#use:{}", dependency.target);
                                if keys.contains(&key) {
                                    depends.insert(key);
                                }
                            }
                        }
                    }
                    // An object that takes the name of a renamed one (a new object, or the next
                    // rename of a chain) waits for that rename; one that takes the name of a
                    // deleted one waits for the delete.
                    if let Some(renamed) = self.renamed_away.get(&change.object)
                        && *renamed != change.object
                    {
                        depends.extend(object_change(renamed));
                    }
                    for key in deletes_at.get(&change.object).into_iter().flatten() {
                        if *key != change.address {
                            depends.insert(key.clone());
                        }
                    }
                    if change.kind != Kind::Organization {
                        let organization =
                            Address::new(Kind::Organization, model.organization.name.clone());
                        depends.extend(object_change(&organization));
                    }
                    // An update that drops a reference to a deleted object comes before that delete (below).
                }
                Action::AddMember if downgrades.contains(&change.address) => {
                    // The acting subject lowers its own role last, like a removal: every other
                    // change may need the role it has now.
                    depends.extend(
                        self.changes
                            .iter()
                            .filter(|c| {
                                c.action != Action::RemoveMember && !downgrades.contains(&c.address)
                            })
                            .map(|c| c.address.clone()),
                    );
                }
                Action::Activate if change.kind == Kind::Dataset => {
                    depends.extend(object_change(&change.object));
                    // Mounting waits for the unmounts in the same project: swapping the active
                    // dataset at the project's quota works the first time.
                    if let Some(project) = change.object.parent() {
                        depends.extend(unmounts.get(&project).into_iter().flatten().cloned());
                    }
                }
                Action::AddMember | Action::Activate | Action::Deactivate | Action::SetBalance => {
                    depends.extend(object_change(&change.object));
                }
                Action::Publish => {
                    depends.extend(object_change(&change.object));
                    depends.extend(sharing.clone());
                    if let Operation::Publish { community: Target::Address(community), .. } =
                        &change.operation
                    {
                        depends.extend(object_change(community));
                    }
                    // Permission edges: the memberships that grant the actor its roles.
                    let mut scopes = vec![];
                    if let Operation::Publish { community: Target::Address(community), .. } =
                        &change.operation
                    {
                        scopes.push(community.clone());
                    }
                    if let Some(project) = change.object.parent() {
                        scopes.extend(project.parent());
                        scopes.push(project);
                    }
                    for scope in scopes {
                        for (key, action) in by_object.get(&scope).into_iter().flatten() {
                            if *action == Action::AddMember && !downgrades.contains(key) {
                                depends.insert(key.clone());
                            }
                        }
                    }
                }
                Action::Use => {
                    depends.extend(object_change(&change.object));
                    let resource = match &change.operation {
                        Operation::Use { resource: Target::Address(a), .. } => Some(a.clone()),
                        Operation::Use { resource: Target::Id(id), .. } => {
                            self.resolved.get(id.as_str()).cloned()
                        }
                        _ => None,
                    };
                    if let Some(resource) = resource {
                        depends.extend(object_change(&resource));
                        let community = change.object.community().unwrap_or_default();
                        let key = format!("{resource}#publish:{community}");
                        if keys.contains(&key) {
                            depends.insert(key);
                        }
                    }
                }
                Action::Unpublish => {
                    depends.extend(sharing.clone());
                    // Detach every user of the resource first.
                    if let Operation::Unpublish { resource_id, .. } = &change.operation {
                        for key in unuses_of.get(resource_id.as_str()).into_iter().flatten() {
                            depends.insert((*key).to_owned());
                        }
                    }
                }
                Action::Unuse => {}
                Action::RemoveMember => {
                    // After the object exists as declared and after the members it gains: the
                    // object is never left without the members that replace the removed ones.
                    depends.extend(object_change(&change.object));
                    for (key, action) in by_object.get(&change.object).into_iter().flatten() {
                        if *action == Action::AddMember {
                            depends.insert(key.clone());
                        }
                    }
                    // The acting subject gives up its own role last: every other change may need it.
                    if let Operation::RemoveMember { subject, .. } = &change.operation
                        && subject == self.input.actor
                    {
                        depends.extend(
                            self.changes
                                .iter()
                                .filter(|c| c.action != Action::RemoveMember)
                                .map(|c| c.address.clone()),
                        );
                    }
                }
                Action::Delete => {
                    if let Operation::Delete { id, .. } = &change.operation {
                        for key in released.get(id.as_str()).into_iter().flatten() {
                            depends.insert((*key).to_owned());
                        }
                        for key in unuses_of.get(id.as_str()).into_iter().flatten() {
                            depends.insert((*key).to_owned());
                        }
                        // Children go first; so do the changes of objects that reference this one.
                        for child in self.children_of.get(id.as_str()).into_iter().flatten() {
                            if let Some(key) = deleted.get(child.id.as_str()) {
                                depends.insert((*key).to_owned());
                            }
                        }
                        for live in referrers.and_then(|r| r.get(id.as_str())).into_iter().flatten()
                        {
                            if let Some(key) = deleted.get(live.id.as_str()) {
                                depends.insert((*key).to_owned());
                            } else if let Some(address) = self.resolved.get(live.id.as_str()) {
                                depends.extend(object_change(address));
                            }
                        }
                    }
                }
            }
            // The roles the plan grants the acting subject on a community or project come
            // before every change inside it (the planner checked roles in that order).
            if !matches!(change.action, Action::AddMember | Action::RemoveMember) {
                let mut scope = change.object.parent();
                while let Some(address) = scope {
                    depends.extend(grants.get(&address).into_iter().flatten().cloned());
                    scope = address.parent();
                }
            }
            depends.remove(&change.address);
            links.push(depends.into_iter().filter(|k| keys.contains(k)).collect());
        }
        for (i, (change, mut depends)) in self.changes.iter_mut().zip(links).enumerate() {
            if let Some(unuses) = detach_first.get(&i) {
                depends.extend(unuses.iter().cloned());
                depends.sort();
                depends.dedup();
            }
            change.depends_on = depends;
        }
        self.link_creates_after_deletes();
    }

    /// A replace detaches the old object's users itself, except those that a change of their
    /// own detaches (a project being deleted unuses what it used): the replace waits for those
    /// changes instead of detaching the project a second time, perhaps after it is gone.
    fn detach_before_replace(&mut self) -> HashMap<usize, Vec<String>> {
        let mut unuses: HashMap<(String, String), String> = HashMap::new();
        for change in &self.changes {
            if let Operation::Unuse { project_id, resource_id, .. } = &change.operation {
                unuses.insert((project_id.clone(), resource_id.clone()), change.address.clone());
            }
        }
        let mut waits: HashMap<usize, Vec<String>> = HashMap::new();
        if unuses.is_empty() {
            return waits;
        }
        for (i, change) in self.changes.iter_mut().enumerate() {
            if let Operation::Replace { old_id, uses, .. } = &mut change.operation {
                uses.retain(|project| match unuses.get(&(project.clone(), old_id.clone())) {
                    Some(key) => {
                        waits.entry(i).or_default().push(key.clone());
                        false
                    }
                    None => true,
                });
            }
        }
        waits
    }

    /// A create waits for the deletes of the same kind in the same quota scope (a community's
    /// images, an organization's communities), so swapping an object at its quota works the first
    /// time. The edge is added only where it cannot close a cycle (the delete does not already
    /// wait for the create, e.g. through a node that moves from the old image to the new one).
    pub(super) fn link_creates_after_deletes(&mut self) {
        let scope = |address: &Address| match address.kind {
            Kind::Organization | Kind::Community => String::new(),
            _ => address.community().unwrap_or_default().to_owned(),
        };
        let mut deletes: HashMap<(Kind, String), Vec<usize>> = HashMap::new();
        for (i, change) in self.changes.iter().enumerate() {
            if change.action == Action::Delete {
                deletes.entry((change.kind, scope(&change.object))).or_default().push(i);
            }
        }
        if deletes.is_empty() {
            return;
        }
        let mut graph = change_graph(&self.changes);
        let mut seen = Vec::new();
        let mut mark = 0;
        for i in 0..self.changes.len() {
            if self.changes[i].action != Action::Create {
                continue;
            }
            let key = (self.changes[i].kind, scope(&self.changes[i].object));
            let Some(candidates) = deletes.get(&key) else { continue };
            // One walk per create: the deletes that already wait for it cannot come before it.
            mark += 1;
            graph.mark_waiting_for(i, &mut seen, mark);
            for &d in candidates {
                if seen[d] != mark {
                    graph.add_dependency(i, d);
                    let delete = self.changes[d].address.clone();
                    self.changes[i].depends_on.push(delete);
                }
            }
            self.changes[i].depends_on.sort();
            self.changes[i].depends_on.dedup();
        }
    }
}

/// The graph of the changes' `depends_on`: the one source of ordering truth, shared with the
/// applier.
pub fn change_graph(changes: &[Change]) -> ChangeGraph {
    let keys: Vec<&str> = changes.iter().map(|c| c.address.as_str()).collect();
    let depends: Vec<&[String]> = changes.iter().map(|c| c.depends_on.as_slice()).collect();
    ChangeGraph::new(&keys, &depends)
}

/// Sorts changes topologically (dependencies first), ties broken by address. `Err` carries the
/// addresses of changes caught in a cycle (left at the end, in address order).
pub(super) fn order(mut changes: Vec<Change>) -> (Vec<Change>, Vec<String>) {
    let keys: Vec<&str> = changes.iter().map(|c| c.address.as_str()).collect();
    let (sequence, stuck) = match change_graph(&changes).order(&keys) {
        Ok(sequence) => (sequence, Vec::new()),
        Err(stuck) => {
            let mut sequence: Vec<usize> = Vec::with_capacity(changes.len());
            let blocked: HashSet<usize> = stuck.iter().copied().collect();
            // Place what can be placed; the rest keeps address order at the end.
            let others: Vec<usize> = (0..changes.len()).filter(|i| !blocked.contains(i)).collect();
            sequence.extend(others);
            sequence.extend(stuck.iter().copied());
            let names = stuck.iter().map(|&i| changes[i].address.clone()).collect();
            (sequence, names)
        }
    };
    // Move each change to its place in the vector itself: a second vector of every change would
    // double the plan's largest allocation for a moment.
    let mut position = vec![0_usize; changes.len()];
    for (place, &i) in sequence.iter().enumerate() {
        position[i] = place;
    }
    for i in 0..changes.len() {
        while position[i] != i {
            let j = position[i];
            changes.swap(i, j);
            position.swap(i, j);
        }
    }
    (changes, stuck)
}
