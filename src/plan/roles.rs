//! Publish roles: whether the acting subject will hold the roles each publication needs, in
//! the planned end state (memberships this plan adds or removes included).

#[allow(clippy::wildcard_imports)]
use super::*;

impl Planner<'_> {
    /// Checks that the actor will hold the roles each publication needs.
    pub(super) fn check_publish_roles(&mut self) {
        if self.input.live.organization_members.get(self.input.actor) == Some(&Role::Admin) {
            return;
        }
        let required =
            self.input.loaded.model.organization.sharing.unwrap_or(self.input.live.sharing);
        let mut problems = Vec::new();
        for change in self.changes.iter().filter(|c| c.action == Action::Publish) {
            let Operation::Publish { community, .. } = &change.operation else { continue };
            let Some(project) = change.object.parent() else { continue };
            let (community_role, community_name) = match community {
                Target::Address(address) => (self.role_during(address), address.path.clone()),
                Target::Id(id) => match self.resolved.get(id.as_str()) {
                    Some(address) => (self.role_during(address), address.path.clone()),
                    None => (
                        self.by_id
                            .get(id.as_str())
                            .and_then(|c| c.members.get(self.input.actor).copied()),
                        id.clone(),
                    ),
                },
            };
            if let Err(violation) = rules::check_publish_roles(
                self.input.actor,
                &change.object.to_string(),
                &community_name,
                self.role_during(&project),
                community_role,
                required,
            ) {
                let location = self.input.loaded.model.get(&change.object).and_then(|o| o.publish.iter().find(|p| p.target.to_string() == community_name || matches!(&p.target, PublishTarget::Id(id) if *id == community_name)).map(|p| p.location));
                let mut problem =
                    Problem::error("spherectl::rules::publish_roles", violation.message)
                        .maybe_help(violation.help);
                if let Some(location) = location {
                    problem = problem.at(location, "not allowed to publish here");
                }
                problems.push((problem, change.object.clone()));
            }
        }
        for (problem, address) in problems {
            self.finding(problem, Some(&address));
        }
    }
}

impl Planner<'_> {
    /// The actor's role on a community or project while the plan runs: what it holds on the
    /// platform now, and `admin` on a community this plan creates (the platform makes the
    /// creator of a community its admin; the create runs before anything inside it).
    ///
    /// Grants the plan makes to the actor cannot raise it further: granting a role on an object
    /// needs `admin` on it already (`rules::needed_role`), which is every role. The actor's own
    /// removals and downgrades are ordered last (`order`), after every change that may need
    /// the role; the lockout rule (`policy::builtin`) refuses those that would strand it.
    /// Objects the plan deletes count with the roles they have now.
    pub(super) fn role_during(&self, address: &Address) -> Option<Role> {
        let actor = self.input.actor;
        let own = |address: &Address| -> Option<Role> {
            self.live_at(address).and_then(|live| live.members.get(actor).copied())
        };
        let organization = self.input.live.organization_members.get(actor).copied();
        let role = match address.kind {
            Kind::Organization => return organization,
            Kind::Community if self.created.contains(address) => Some(Role::Admin),
            Kind::Community => own(address),
            Kind::Project => own(address).max(address.parent().and_then(|c| self.role_during(&c))),
            _ => address.parent().and_then(|project| self.role_during(&project)),
        };
        if organization == Some(Role::Admin) { Some(Role::Admin) } else { role }
    }

    /// The live object known under an address: the one matched to a document, or the one found
    /// there (an object this plan deletes).
    fn live_at(&self, address: &Address) -> Option<&LiveObject> {
        if let Some(live) = self.matched.get(address) {
            return Some(live);
        }
        let index = self
            .known_at
            .get_or_init(|| self.resolved.iter().map(|(id, known)| (known.clone(), *id)).collect());
        index.get(address).and_then(|id| self.by_id.get(id).copied())
    }

    /// Checks that the actor holds the role every change needs ([`rules::needed_role`], the
    /// table the platform enforces), so a plan the platform would refuse half-way stops before
    /// anything is applied. Publications are checked by [`Self::check_publish_roles`].
    pub(super) fn check_permissions(&mut self) {
        let actor = self.input.actor;
        if !self.input.live.organization_members_known
            || self.input.live.organization_members.get(actor) == Some(&Role::Admin)
        {
            return;
        }
        let organization = Address::new(Kind::Organization, self.set_name.to_owned());
        // (where, needed) → the changes that need it, reported once.
        let mut missing: BTreeMap<(Address, Role), (Vec<String>, &'static str)> = BTreeMap::new();
        for change in &self.changes {
            let act = match change.action {
                Action::Create | Action::Replace => rules::Act::Create,
                Action::Update if change.kind == Kind::Organization => rules::Act::SetSharing,
                Action::Update => rules::Act::Update,
                Action::Delete => rules::Act::Delete,
                Action::AddMember | Action::RemoveMember => rules::Act::Members,
                Action::Use | Action::Unuse => rules::Act::Use,
                Action::Activate | Action::Deactivate => rules::Act::Activate,
                Action::SetBalance => rules::Act::SetBalance,
                Action::Unpublish => rules::Act::Unpublish,
                Action::Publish => continue,
            };
            let (scope, mut needed, what) = rules::needed_role(act, change.kind);
            if act == rules::Act::Unpublish {
                // The organization's sharing rule says which project role unpublishing takes.
                needed = self
                    .input
                    .loaded
                    .model
                    .organization
                    .sharing
                    .unwrap_or(self.input.live.sharing)
                    .project;
            }
            let at = match scope {
                rules::Scope::Organization => organization.clone(),
                rules::Scope::Parent => match change.object.parent() {
                    Some(parent) => parent,
                    None => organization.clone(),
                },
                rules::Scope::Object => change.object.clone(),
            };
            let have = if at.kind == Kind::Organization {
                self.input.live.organization_members.get(actor).copied()
            } else {
                self.role_during(&at)
            };
            if have < Some(needed) {
                missing
                    .entry((at, needed))
                    .or_insert_with(|| (Vec::new(), what))
                    .0
                    .push(change.address.clone());
            }
        }
        for ((at, needed), (changes, what)) in missing {
            let have = if at.kind == Kind::Organization {
                self.input.live.organization_members.get(actor).copied()
            } else {
                self.role_during(&at)
            };
            let has = have.map_or_else(|| "no role".to_owned(), |r| format!("`{r}`"));
            let place = if at.kind == Kind::Organization {
                format!("organization `{}`", self.organization_id)
            } else {
                at.to_string()
            };
            let first = changes[0].clone();
            let more = if changes.len() > 1 {
                format!(" (and {} more change(s))", changes.len() - 1)
            } else {
                String::new()
            };
            let mut problem = Problem::error(
                "spherectl::rules::permission",
                format!("`{actor}` needs `{needed}` on {place} to {what} and has {has}: {first}{more}"),
            )
            .help("grant the role in that object's `spec.members` (or its community's), or run as a subject that holds it (`SPHERECTL_ACTOR` on the sandbox)");
            let object = self.changes.iter().find(|c| c.address == first).map(|c| c.object.clone());
            if let Some(location) =
                object.as_ref().and_then(|o| self.input.loaded.model.get(o)).map(|o| o.location)
            {
                problem = problem.at(location, "needs a role the actor does not hold");
            }
            self.finding(problem, object.as_ref());
        }
    }
}
