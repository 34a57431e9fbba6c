//! Publish roles: whether the acting subject will hold the roles each publication needs, in
//! the planned end state (memberships this plan adds or removes included).

#[allow(clippy::wildcard_imports)]
use super::*;

impl Planner<'_> {
    /// The actor's role on a community or project in the planned end state.
    pub(super) fn end_role(&self, address: &Address) -> Option<Role> {
        let actor = self.input.actor;
        let own = |address: &Address| -> Option<Role> {
            match self.input.loaded.model.get(address).and_then(|o| o.members.as_ref()) {
                Some(members) => members.iter().find(|m| m.subject == actor).map(|m| m.role),
                None => self.matched.get(address).and_then(|l| l.members.get(actor).copied()),
            }
        };
        match address.kind {
            Kind::Project => own(address).max(address.parent().and_then(|c| own(&c))),
            _ => own(address),
        }
    }

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
                Target::Address(address) => (self.end_role(address), address.path.clone()),
                Target::Id(id) => match self.resolved.get(id.as_str()) {
                    Some(address) => (self.end_role(address), address.path.clone()),
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
                self.end_role(&project),
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
    /// The actor's role on a community or project while the plan runs: what it holds now, or
    /// what the plan grants it (grants run before the changes that need them; the actor's own
    /// removals and downgrades run last).
    fn role_during(&self, address: &Address) -> Option<Role> {
        let actor = self.input.actor;
        let own = |address: &Address| -> Option<Role> {
            let live = self.matched.get(address).and_then(|l| l.members.get(actor).copied());
            let declared =
                self.input.loaded.model.get(address).and_then(|o| o.members.as_ref()).and_then(
                    |members| members.iter().find(|m| m.subject == actor).map(|m| m.role),
                );
            live.max(declared)
        };
        match address.kind {
            Kind::Organization => self.input.live.organization_members.get(actor).copied(),
            Kind::Community => own(address),
            Kind::Project => own(address).max(address.parent().and_then(|c| own(&c))),
            _ => address.parent().and_then(|project| self.role_during(&project)),
        }
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
                Action::Publish | Action::Unpublish => continue,
            };
            let (scope, needed, what) = rules::needed_role(act, change.kind);
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
