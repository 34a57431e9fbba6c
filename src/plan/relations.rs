//! Relations of an object: members, activation, balance, publications and uses.
//!
//! Takes a declared object and its live counterpart; pushes add/remove-member,
//! activate/deactivate, set-balance, publish/unpublish and use/unuse changes.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Planner<'_> {
    pub(super) fn members(&mut self, object: &Object, live: Option<&LiveObject>) {
        let Some(members) = &object.members else { return };
        let empty = BTreeMap::new();
        let current = live.map_or(&empty, |l| &l.members);
        for member in members {
            let before = current.get(&member.subject);
            if before != Some(&member.role) {
                let field = FieldChange {
                    path: "spec.members".into(),
                    before: before.map_or(
                        Value::Null,
                        |r| json!({"subject": member.subject, "role": r.as_str()}),
                    ),
                    after: json!({"subject": member.subject, "role": member.role.as_str()}),
                    sensitive: false,
                };
                let operation = Operation::AddMember {
                    kind: object.address.kind,
                    object: self.target(&object.address),
                    subject: member.subject.clone(),
                    role: member.role,
                };
                self.push(
                    &object.address,
                    Some(format!("member:{}", member.subject)),
                    Action::AddMember,
                    vec![field],
                    Some(member.location),
                    operation,
                );
            }
        }
        if let Some(live) = live {
            for (subject, role) in &live.members {
                if !members.iter().any(|m| &m.subject == subject) {
                    let field = FieldChange {
                        path: "spec.members".into(),
                        before: json!({"subject": subject, "role": role.as_str()}),
                        after: Value::Null,
                        sensitive: false,
                    };
                    let operation = Operation::RemoveMember {
                        kind: object.address.kind,
                        id: live.id.clone(),
                        subject: subject.clone(),
                    };
                    self.push(
                        &object.address,
                        Some(format!("member:{subject}")),
                        Action::RemoveMember,
                        vec![field],
                        Some(object.location),
                        operation,
                    );
                }
            }
        }
    }

    pub(super) fn activation(&mut self, object: &Object, live: Option<&LiveObject>) {
        let Some((active, location)) = object.active else { return };
        let current = live.is_some_and(|l| l.active);
        if active != current {
            let action = if active { Action::Activate } else { Action::Deactivate };
            let field = FieldChange {
                path: "spec.active".into(),
                before: json!(current),
                after: json!(active),
                sensitive: false,
            };
            let operation = Operation::SetActive {
                kind: object.address.kind,
                resource: self.target(&object.address),
                active,
            };
            self.push(
                &object.address,
                Some(action.as_str().to_owned()),
                action,
                vec![field],
                Some(location),
                operation,
            );
        }
    }

    pub(super) fn balance(&mut self, object: &Object, live: Option<&LiveObject>) {
        let Some((balance, location)) = object.balance else { return };
        let current = live.and_then(|l| l.balance);
        if current != Some(balance) {
            let field = FieldChange {
                path: "spec.balance".into(),
                before: current.map_or(Value::Null, |b| json!(b)),
                after: json!(balance),
                sensitive: false,
            };
            let operation =
                Operation::SetBalance { project: self.target(&object.address), balance };
            self.push(
                &object.address,
                Some("balance".into()),
                Action::SetBalance,
                vec![field],
                Some(location),
                operation,
            );
        }
    }

    /// The community a publish target names: its address if managed here, else its id.
    pub(super) fn community_target(
        &mut self,
        object: &Object,
        target: &PublishTarget,
        location: Location,
    ) -> Option<(Target, String)> {
        match target {
            PublishTarget::Community(name) => {
                let address = Address::new(Kind::Community, name.clone());
                Some((self.target(&address), name.clone()))
            }
            PublishTarget::Id(id) => {
                let home = object.address.community().unwrap_or_default();
                let home_zone = self
                    .input
                    .loaded
                    .model
                    .get(&Address::new(Kind::Community, home))
                    .and_then(|c| c.field("spec.zone"))
                    .and_then(|f| f.value.as_str())
                    .unwrap_or(rules::DEFAULT_ZONE)
                    .to_owned();
                // Where the platform says the community is: this organization, or another one.
                let ours = self.by_id.get(id.as_str()).filter(|o| o.kind == Kind::Community);
                let known = match ours {
                    Some(community) => Some((
                        self.organization_id.to_owned(),
                        community
                            .attributes
                            .get("spec.zone")
                            .and_then(Value::as_str)
                            .unwrap_or(rules::DEFAULT_ZONE)
                            .to_owned(),
                        community.name.clone(),
                    )),
                    None => {
                        self.input.live.foreign_communities.iter().find(|(c, _, _)| c == id).map(
                            |(_, organization, zone)| {
                                (organization.clone(), zone.clone(), id.clone())
                            },
                        )
                    }
                };
                let Some((organization, zone, name)) = known else {
                    // Not in this organization as the actor reads it, nor a community of another
                    // organization that the actor can see: it does not exist, or the actor may
                    // not see it. The platform answers both alike, and so does the reason (the
                    // sandbox refuses the same publish with it).
                    let violation = rules::community_not_visible(
                        self.input.actor,
                        &object.address.to_string(),
                        id,
                        self.organization_id,
                    );
                    let problem =
                        Problem::error("spherectl::rules::cross_organization", violation.message)
                            .at(location, "no such community visible in this organization")
                            .maybe_help(violation.help);
                    self.finding(problem, Some(&object.address));
                    return None;
                };
                // The platform's own rule (the sandbox refuses the same publish with the same
                // reason if it is ever forced past the plan).
                let context = rules::PublishContext {
                    resource: &object.address.to_string(),
                    resource_kind: object.address.kind.as_str(),
                    resource_organization: self.organization_id,
                    resource_zone: &home_zone,
                    target_community: &name,
                    target_organization: &organization,
                    target_zone: &zone,
                    pinned: None,
                };
                if let Err(violation) = rules::check_publish(&context) {
                    let (code, label) = if organization == self.organization_id {
                        ("spherectl::rules::publish_zone", "another zone".to_owned())
                    } else {
                        (
                            "spherectl::rules::cross_organization",
                            format!("a community of organization `{organization}`"),
                        )
                    };
                    let problem = Problem::error(code, violation.message)
                        .at(location, label)
                        .maybe_help(violation.help);
                    self.finding(problem, Some(&object.address));
                    return None;
                }
                let name = self.resolved.get(id.as_str()).map_or(name, |a| a.path.clone());
                Some((Target::Id(id.clone()), name))
            }
        }
    }

    pub(super) fn publications(&mut self, object: &Object, live: Option<&LiveObject>) {
        if !object.address.kind.is_resource() {
            return;
        }
        let mut desired_ids = HashSet::new();
        for publication in &object.publish {
            let Some((community, name)) =
                self.community_target(object, &publication.target, publication.location)
            else {
                continue;
            };
            if let Target::Id(id) = &community {
                desired_ids.insert(id.clone());
                if let Some(live) = live
                    && self
                        .publications_of
                        .get(live.id.as_str())
                        .is_some_and(|c| c.contains(&id.as_str()))
                {
                    continue;
                }
            }
            let field = FieldChange {
                path: "spec.publish".into(),
                before: Value::Null,
                after: json!(name),
                sensitive: false,
            };
            let operation = Operation::Publish {
                kind: object.address.kind,
                resource: self.target(&object.address),
                community,
            };
            self.push(
                &object.address,
                Some(format!("publish:{name}")),
                Action::Publish,
                vec![field],
                Some(publication.location),
                operation,
            );
        }
        if let Some(live) = live {
            let stale: Vec<String> = self
                .publications_of
                .get(live.id.as_str())
                .into_iter()
                .flatten()
                .filter(|c| !desired_ids.contains(**c))
                .map(|c| (*c).to_owned())
                .collect();
            for community_id in stale {
                // A project of that community that uses the resource loses it: if the project
                // is another set's, the plan stops instead (this set's projects detach in their
                // own `uses`).
                let foreign: Vec<String> = self
                    .users_of
                    .get(live.id.as_str())
                    .into_iter()
                    .flatten()
                    .filter(|p| {
                        self.by_id.get(**p).is_some_and(|project| project.parent_id == community_id)
                            && !self.is_this_sets(p)
                    })
                    .map(|p| self.name_of(p))
                    .collect();
                let community = self.name_of(&community_id);
                let community = community.strip_prefix("Community/").unwrap_or(&community);
                self.in_use_problem(
                    &object.address,
                    rules::Removal::Unpublish { community },
                    &foreign,
                    Some(object.location),
                );
                self.unpublish(
                    &object.address,
                    object.address.kind,
                    &live.id,
                    &community_id,
                    Some(object.location),
                );
            }
        }
    }

    pub(super) fn community_name(&self, community_id: &str) -> String {
        self.resolved.get(community_id).map_or_else(|| community_id.to_owned(), |a| a.path.clone())
    }

    pub(super) fn unpublish(
        &mut self,
        address: &Address,
        kind: Kind,
        resource_id: &str,
        community_id: &str,
        location: Option<Location>,
    ) {
        let name = self.community_name(community_id);
        let field = FieldChange {
            path: "spec.publish".into(),
            before: json!(name),
            after: Value::Null,
            sensitive: false,
        };
        let operation = Operation::Unpublish {
            kind,
            resource_id: resource_id.to_owned(),
            community_id: community_id.to_owned(),
        };
        self.push(
            address,
            Some(format!("publish:{name}")),
            Action::Unpublish,
            vec![field],
            location,
            operation,
        );
    }

    pub(super) fn uses(&mut self, object: &Object, live: Option<&LiveObject>) {
        if object.address.kind != Kind::Project {
            return;
        }
        let live_uses: Vec<&str> =
            live.and_then(|l| self.uses_of.get(l.id.as_str())).cloned().unwrap_or_default();
        let mut kept = HashSet::new();
        for used in &object.uses {
            let current = self
                .matched
                .get(&used.target)
                .filter(|_| !self.replaced.contains(&used.target))
                .map(|l| l.id.as_str());
            if let Some(id) = current
                && live_uses.contains(&id)
            {
                kept.insert(id);
                continue;
            }
            let field = FieldChange {
                path: "spec.uses".into(),
                before: Value::Null,
                after: json!(used.target.to_string()),
                sensitive: false,
            };
            let operation = Operation::Use {
                project: self.target(&object.address),
                kind: used.target.kind,
                resource: self.target(&used.target),
            };
            self.push(
                &object.address,
                Some(format!("use:{}", used.target)),
                Action::Use,
                vec![field],
                Some(used.location),
                operation,
            );
        }
        for used in &object.external_uses {
            if let Some(id) = self.external_use(object, used, &live_uses) {
                kept.insert(id);
            }
        }
        if let Some(live) = live {
            for resource_id in live_uses {
                if kept.contains(resource_id) {
                    continue;
                }
                // A replaced resource's old uses go with it.
                if self
                    .by_id
                    .get(resource_id)
                    .and_then(|r| self.resolved.get(r.id.as_str()))
                    .is_some_and(|a| self.replaced.contains(a))
                {
                    continue;
                }
                self.unuse(&object.address, live.id.clone(), resource_id, Some(object.location));
            }
        }
    }

    /// Plans a `spec.uses` entry by id (a resource these manifests do not declare): nothing when
    /// the project uses it already (its id is returned: the use is kept), else a use, after
    /// checking that the resource exists, is of the kind given, is not this set's own (that one
    /// is named by `ref`) and is published to the project's community. Where the platform cannot
    /// list resources, an unknown id is an error that `capabilities::annotate` lifts.
    fn external_use<'l>(
        &mut self,
        object: &Object,
        used: &ExternalUse,
        live_uses: &[&'l str],
    ) -> Option<&'l str> {
        let id = used.id.as_str();
        let kept = live_uses.iter().find(|u| **u == id).copied();
        let problem = match self.by_id.get(id).copied() {
            None => Some((
                "spherectl::rules::use_unknown",
                format!(
                    "project `{}` uses {} `{id}`, which is not in organization `{}` as `{}` reads it",
                    object.address.path, used.kind, self.organization_id, self.input.actor
                ),
                "no such resource".to_owned(),
                format!(
                    "give the id of a {} published to community `{}`, or `ref: COMMUNITY/PROJECT/NAME` for one of these manifests",
                    used.kind,
                    object.address.community().unwrap_or_default()
                ),
            )),
            Some(resource) if resource.kind != used.kind => Some((
                "spherectl::manifest::wrong_kind_reference",
                format!(
                    "`spec.uses` entry `{id}` says {}, but `{}` is a {}",
                    used.kind,
                    self.name_of(id),
                    resource.kind
                ),
                format!("a {}, not a {}", resource.kind, used.kind),
                format!("write `kind: {}`", resource.kind),
            )),
            Some(resource) if self.matched_ids.contains(id) => {
                let name = self.name_of(id);
                let path = name.split_once('/').map_or(name.as_str(), |(_, p)| p).to_owned();
                Some((
                    "spherectl::manifest::invalid_reference",
                    format!("`{id}` is {name}, which these manifests declare: name it by `ref`"),
                    "declared in these manifests".to_owned(),
                    format!("write `{{kind: {}, ref: {path}}}`", resource.kind),
                ))
            }
            Some(_) if kept.is_some() => return kept,
            Some(resource) => {
                let community = object.address.community().unwrap_or_default().to_owned();
                let community_id = self
                    .matched
                    .get(&Address::new(Kind::Community, community.clone()))
                    .filter(|c| {
                        !self.replaced.contains(&Address::new(Kind::Community, community.clone()))
                            && c.kind == Kind::Community
                    })
                    .map(|c| c.id.as_str());
                let published = community_id.is_some_and(|c| {
                    self.publications_of.get(id).is_some_and(|list| list.contains(&c))
                });
                let name = self.name_of(id);
                let path = name.split_once('/').map_or(name.as_str(), |(_, p)| p).to_owned();
                let reference = rules::SharedReference {
                    resource: &name,
                    resource_kind: resource.kind.as_str(),
                    resource_path: &path,
                    project: &object.address.path,
                    community: &community,
                    published,
                    used: true,
                };
                match rules::check_shared_reference(&reference) {
                    Ok(()) => None,
                    Err(violation) => Some((
                        "spherectl::rules::use_unpublished",
                        violation.message,
                        "not shared with this project's community".to_owned(),
                        format!(
                            "a resource of another set is used once its owner publishes it to community `{community}`{}",
                            community_id.map_or_else(String::new, |c| format!(
                                " (`publish: [{{id: {c}}}]`)"
                            ))
                        ),
                    )),
                }
            }
        };
        if let Some((code, message, label, help)) = problem {
            let problem = Problem::error(code, message).at(used.location, label).help(help);
            self.finding(problem, Some(&object.address));
            if code != "spherectl::rules::use_unknown" {
                return None;
            }
        }
        let name = match self.resolved.get(id) {
            Some(address) => address.to_string(),
            None => format!("{}/{id}", used.kind),
        };
        let field = FieldChange {
            path: "spec.uses".into(),
            before: Value::Null,
            after: json!(name),
            sensitive: false,
        };
        let operation = Operation::Use {
            project: self.target(&object.address),
            kind: used.kind,
            resource: Target::Id(id.to_owned()),
        };
        self.push(
            &object.address,
            Some(format!("use:{name}")),
            Action::Use,
            vec![field],
            Some(used.location),
            operation,
        );
        None
    }

    pub(super) fn unuse(
        &mut self,
        project: &Address,
        project_id: String,
        resource_id: &str,
        location: Option<Location>,
    ) {
        let Some(resource) = self.by_id.get(resource_id).copied() else { return };
        let name = self
            .resolved
            .get(resource_id)
            .map_or_else(|| format!("{}/{}", resource.kind, resource_id), ToString::to_string);
        let field = FieldChange {
            path: "spec.uses".into(),
            before: json!(name),
            after: Value::Null,
            sensitive: false,
        };
        let operation = Operation::Unuse {
            project_id,
            kind: resource.kind,
            resource_id: resource_id.to_owned(),
        };
        self.push(
            project,
            Some(format!("use:{name}")),
            Action::Unuse,
            vec![field],
            location,
            operation,
        );
    }
}
