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
