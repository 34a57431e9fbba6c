//! References between documents: resolving names and `c/p/n` paths to addresses of the right
//! kind (with did-you-mean), the sharing rule for references to another project's resources,
//! `spec.uses` entries and `spec.publish` targets.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Builder<'_, '_> {
    pub(super) fn use_entry(&mut self, kind_name: &Spanned<String>, reference: &Spanned<String>) {
        let Some(kind) = self.resource_kind(kind_name) else { return };
        if reference.value.split('/').count() != 3 {
            let problem = Problem::error(
                "spherectl::manifest::invalid_reference",
                format!("`uses` needs `COMMUNITY/PROJECT/NAME`, not `{}`", reference.value),
            )
            .at(self.at(reference.span), "expected COMMUNITY/PROJECT/NAME")
            .help("a project uses resources of other projects, named by their full path");
            self.cx.error(problem);
            return;
        }
        let Some(target) = self.resolve(kind, reference, "spec.uses") else { return };
        if target.parent().as_ref() == Some(self.address) {
            let problem = Problem::error(
                "spherectl::manifest::invalid_reference",
                format!("project `{}` uses its own resource `{}`", self.address.path, target),
            )
            .at(self.at(reference.span), "already part of this project")
            .help("`uses` is for resources published by other projects; remove this entry");
            self.cx.error(problem);
            return;
        }
        self.check_shared(&target, reference.span, true);
        let location = self.at(reference.span);
        if let Some(first) = self.object.uses.iter().find(|u| u.target == target) {
            let problem = Problem::error(
                "spherectl::manifest::duplicate_use",
                format!("`{target}` is used twice"),
            )
            .at(location, "listed again here")
            .at(first.location, "first listed here");
            self.cx.error(problem);
            return;
        }
        self.object.uses.push(Dependency {
            target: target.clone(),
            kind: EdgeKind::Uses,
            location,
        });
        self.depend(target, EdgeKind::Uses, reference.span);
    }

    /// A `spec.uses` entry by platform id: a resource these manifests do not declare. Whether it
    /// exists, and is published to this project's community, is the plan's to check.
    pub(super) fn external_use_entry(&mut self, kind_name: &Spanned<String>, id: &Spanned<String>) {
        let Some(kind) = self.resource_kind(kind_name) else { return };
        let location = self.at(id.span);
        if id.value.trim().is_empty() || id.value.chars().any(char::is_whitespace) {
            let problem = Problem::error(
                "spherectl::manifest::invalid_reference",
                format!("`uses` needs a platform id, not `{}`", id.value),
            )
            .at(location, "not a platform id");
            self.cx.error(problem);
            return;
        }
        if let Some(first) = self.object.external_uses.iter().find(|u| u.id == id.value) {
            let problem = Problem::error(
                "spherectl::manifest::duplicate_use",
                format!("`{}` is used twice", id.value),
            )
            .at(location, "listed again here")
            .at(first.location, "first listed here");
            self.cx.error(problem);
            return;
        }
        self.object.external_uses.push(ExternalUse { kind, id: id.value.clone(), location });
    }

    /// The resource kind `kind_name` names; an error (with did-you-mean) when it names none.
    fn resource_kind(&mut self, kind_name: &Spanned<String>) -> Option<Kind> {
        let kind = Kind::parse(&kind_name.value).filter(|k| k.is_resource());
        if kind.is_none() {
            let names: Vec<&str> = Kind::RESOURCES.iter().map(|k| k.as_str()).collect();
            let problem = Problem::error(
                "spherectl::manifest::unknown_kind",
                format!("unknown resource kind `{}`", kind_name.value),
            )
            .at(self.at(kind_name.span), "not a resource kind")
            .help(match rules::nearest(&kind_name.value, names.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("expected one of {}", names.join(", ")),
            });
            self.cx.error(problem);
        }
        kind
    }

    /// Resolves a reference by name (same project) or `community/project/name`.
    pub(super) fn resolve(
        &mut self,
        kind: Kind,
        reference: &Spanned<String>,
        field: &str,
    ) -> Option<Address> {
        let text = &reference.value;
        let parts: Vec<&str> = text.split('/').collect();
        let project = self
            .address
            .parent()
            .filter(|p| p.kind == Kind::Project)
            .unwrap_or_else(|| self.address.clone());
        let path = match parts.as_slice() {
            [name] if !name.is_empty() => format!("{}/{name}", project.path),
            [c, p, n] if !c.is_empty() && !p.is_empty() && !n.is_empty() => text.clone(),
            _ => {
                let problem = Problem::error(
                    "spherectl::manifest::invalid_reference",
                    format!("invalid reference `{text}` in `{field}`"),
                )
                .at(self.at(reference.span), "expected NAME or COMMUNITY/PROJECT/NAME");
                self.cx.error(problem);
                return None;
            }
        };
        let target = Address::new(kind, path);
        if self.seen.contains_key(&target) {
            return Some(target);
        }
        if is_under(&target, self.invalid) {
            return None;
        }
        // Name the kind it really is, when the name exists under another kind.
        let other_kind = Kind::RESOURCES
            .into_iter()
            .map(|k| Address::new(k, target.path.clone()))
            .find(|a| self.seen.contains_key(a));
        let problem = match other_kind {
            Some(other) => Problem::error(
                "spherectl::manifest::wrong_kind_reference",
                format!("`{field}` needs a {kind}, but `{text}` is a {}", other.kind),
            )
            .at(self.at(reference.span), format!("a {}, not a {kind}", other.kind)),
            None => {
                let hint = rules::nearest(
                    &target.path,
                    self.seen.keys().filter(|a| a.kind == kind).map(|a| a.path.as_str()),
                )
                .map(|near| {
                    let near_address = Address::new(kind, near);
                    if near_address.parent() == self.address.parent()
                        || near_address.parent().as_ref() == Some(self.address)
                    {
                        format!("did you mean `{}`?", near_address.name())
                    } else {
                        format!("did you mean `{near}`?")
                    }
                });
                let help = hint.unwrap_or_else(|| match parts.as_slice() {
                    // A full path: say which part is missing.
                    [community, project, name] => {
                        let project = Address::new(Kind::Project, format!("{community}/{project}"));
                        if self.seen.contains_key(&project) {
                            format!("project `{}` declares no {kind} named `{name}`", project.path)
                        } else {
                            format!("there is no project `{}` in these manifests", project.path)
                        }
                    }
                    _ => "references by name resolve within the same project; use \
                          COMMUNITY/PROJECT/NAME for another project"
                        .to_owned(),
                });
                Problem::error(
                    "spherectl::manifest::dangling_reference",
                    format!("{kind} `{text}` is not declared in these manifests"),
                )
                .at(self.at(reference.span), format!("no such {}", kind.as_str().to_lowercase()))
                .help(help)
            }
        };
        self.cx.error(problem);
        None
    }

    /// Checks a reference to a resource of another project ([`rules::check_shared_reference`]):
    /// the resource must be published to this project's community and listed in this project's
    /// `spec.uses`; `is_use` says the reference is that `spec.uses` entry. References within the
    /// project are free, and so are resources whose spec was not read (already an error).
    pub(super) fn check_shared(&mut self, target: &Address, span: Span, is_use: bool) {
        let project = match self.address.kind {
            Kind::Project => self.address.clone(),
            _ => match self.address.parent() {
                Some(project) => project,
                None => return,
            },
        };
        if target.parent().as_ref() == Some(&project) {
            return;
        }
        let Some(spec) = self.spec_of.get(target) else { return };
        let community = project.community().unwrap_or_default();
        let published = publish_of(spec)
            .iter()
            .flatten()
            .any(|t| matches!(&t.value, raw::RawPublishTarget::Name(name) if name == community));
        let used = is_use
            || match self.spec_of.get(&project) {
                Some(RawSpec::Project(spec)) => spec.uses.iter().flatten().any(|entry| {
                    entry.kind.as_ref().and_then(|k| Kind::parse(&k.value)) == Some(target.kind)
                        && entry.reference.as_ref().is_some_and(|r| r.value == target.path)
                }),
                _ => false,
            };
        let reference = rules::SharedReference {
            resource: &target.to_string(),
            resource_kind: target.kind.as_str(),
            resource_path: &target.path,
            project: &project.path,
            community,
            published,
            used,
        };
        let Err(violation) = rules::check_shared_reference(&reference) else { return };
        let (code, label) = match (published, used) {
            (false, true) if is_use => {
                ("spherectl::rules::use_unpublished", "not shared with this project's community")
            }
            (false, true) => (
                "spherectl::rules::unshared_reference",
                "not published to this project's community",
            ),
            (true, _) => {
                ("spherectl::rules::unshared_reference", "not in this project's `spec.uses`")
            }
            (false, false) => (
                "spherectl::rules::unshared_reference",
                "neither published to this project's community nor in its `spec.uses`",
            ),
        };
        let problem = Problem::error(code, violation.message)
            .at(self.at(span), label)
            .maybe_help(violation.help);
        self.cx.error(problem);
    }

    pub(super) fn reference_field(
        &mut self,
        path: &str,
        kind: Kind,
        reference: &Spanned<String>,
    ) -> Option<Address> {
        let target = self.resolve(kind, reference, path)?;
        self.check_shared(&target, reference.span, false);
        self.push(path, Value::String(target.to_string()), reference.span);
        self.depend(target.clone(), EdgeKind::Reference, reference.span);
        Some(target)
    }

    pub(super) fn publish(&mut self, publish: &raw::RawPublish, pinned: Option<bool>) {
        let own_community = self.address.community().unwrap_or_default().to_owned();
        let own_zone =
            self.zones.get(&own_community).cloned().unwrap_or_else(|| DEFAULT_ZONE.to_owned());
        for target in publish.iter().flatten() {
            let location = self.at(target.span);
            let target = match &target.value {
                raw::RawPublishTarget::Name(name) => {
                    let address = Address::new(Kind::Community, name.clone());
                    if !self.seen.contains_key(&address) {
                        if is_under(&address, self.invalid) {
                            continue;
                        }
                        let hint = rules::nearest(
                            name,
                            self.seen
                                .keys()
                                .filter(|a| a.kind == Kind::Community)
                                .map(|a| a.path.as_str()),
                        );
                        let problem = Problem::error(
                            "spherectl::manifest::dangling_reference",
                            format!("community `{name}` is not declared in these manifests"),
                        )
                        .at(location, "no such community")
                        .help(match hint {
                            Some(near) => format!("did you mean `{near}`?"),
                            None => "to publish to a community managed elsewhere, write `{id: COMMUNITY-ID}`".to_owned(),
                        });
                        self.cx.error(problem);
                        continue;
                    }
                    let zone = self.zones.get(name).map_or(DEFAULT_ZONE, String::as_str);
                    let context = rules::PublishContext {
                        resource: &self.address.to_string(),
                        resource_kind: self.address.kind.as_str(),
                        resource_organization: "",
                        resource_zone: &own_zone,
                        target_community: name,
                        target_organization: "",
                        target_zone: zone,
                        pinned,
                    };
                    if let Err(violation) = rules::check_publish(&context) {
                        let code = if pinned == Some(false) {
                            "spherectl::rules::unpinned_checkpoint"
                        } else {
                            "spherectl::rules::publish_zone"
                        };
                        let problem = Problem::error(code, violation.message)
                            .at(location, "cannot publish here")
                            .maybe_help(violation.help);
                        self.cx.error(problem);
                        continue;
                    }
                    self.depend(address, EdgeKind::Publish, target.span);
                    PublishTarget::Community(name.clone())
                }
                raw::RawPublishTarget::Id { id } => {
                    if pinned == Some(false) {
                        let problem = Problem::error(
                            "spherectl::rules::unpinned_checkpoint",
                            format!("cannot publish checkpoint `{}`: only pinned checkpoints can be published", self.address),
                        )
                        .at(location, "cannot publish")
                        .help("set `spec.pinned: true`");
                        self.cx.error(problem);
                        continue;
                    }
                    PublishTarget::Id(id.clone())
                }
            };
            if self.object.publish.iter().any(|p| p.target == target) {
                let problem = Problem::error(
                    "spherectl::manifest::duplicate_publish",
                    format!("`{target}` is listed twice in `spec.publish`"),
                )
                .at(location, "listed again here");
                self.cx.error(problem);
                continue;
            }
            self.object.publish.push(Publication { target, location });
        }
    }
}
