//! The builder of one object: metadata (labels, id, renames, protection, `dependsOn`), members,
//! and the field pushes every kind uses. What a field is (mode, references) comes from the
//! field schema (`crate::fields`).

#[allow(clippy::wildcard_imports)]
use super::*;

pub(super) struct Builder<'a, 'b> {
    pub(super) cx: &'a mut Context<'b>,
    pub(super) file: FileId,
    pub(super) address: &'a Address,
    pub(super) seen: &'a HashMap<Address, Location>,
    pub(super) invalid: &'a HashSet<Address>,
    pub(super) zones: &'a HashMap<String, String>,
    pub(super) spec_of: &'a HashMap<&'a Address, &'a RawSpec>,
    pub(super) object: Object,
}

impl Builder<'_, '_> {
    pub(super) fn at(&self, span: Span) -> Location {
        loc(self.file, span)
    }

    /// Adds a managed field. How it behaves (mode, references) is the field schema's
    /// (`crate::fields`), never decided here.
    pub(super) fn push(&mut self, path: &str, value: Value, span: Span) {
        debug_assert!(
            fields::lookup(self.address.kind, path).is_some(),
            "{} {path} is not in the field schema",
            self.address.kind
        );
        self.object.fields.push(Field { path: path.to_owned(), value, location: self.at(span) });
    }

    pub(super) fn push_text(&mut self, path: &str, value: Option<&Spanned<String>>) {
        if let Some(value) = value {
            self.push(path, Value::String(value.value.clone()), value.span);
        }
    }

    pub(super) fn push_int(&mut self, path: &str, value: Option<&Spanned<i64>>, range: (i64, i64)) {
        if let Some(value) = value {
            if value.value < range.0 || value.value > range.1 {
                let problem = Problem::error(
                    "spherectl::manifest::out_of_range",
                    format!("`{path}` is {}, outside {}..={}", value.value, range.0, range.1),
                )
                .at(self.at(value.span), "out of range");
                self.cx.error(problem);
            }
            self.push(path, json!(value.value), value.span);
        }
    }

    pub(super) fn push_description(&mut self, description: Option<&Spanned<String>>) {
        if let Some(description) = description {
            check_description(self.cx, self.file, description);
        }
        self.push_text("spec.description", description);
    }

    pub(super) fn depend(&mut self, target: Address, kind: EdgeKind, span: Span) {
        let location = self.at(span);
        self.object.dependencies.push(Dependency { target, kind, location });
    }

    pub(super) fn build(&mut self, document: &Document) {
        let metadata = &document.raw.metadata;
        if let Some(parent) = self.address.parent() {
            let span = metadata
                .community
                .as_ref()
                .or(metadata.project.as_ref())
                .map_or(metadata.name.span, |s| s.span);
            self.depend(parent, EdgeKind::Contains, span);
        }
        self.metadata(metadata);
        let kind = self.address.kind;
        match &document.raw.spec {
            None => match kind {
                Kind::Community | Kind::Project | Kind::Checkpoint => {}
                _ => {
                    let problem = Problem::error(
                        "spherectl::manifest::missing_field",
                        "missing field `spec`",
                    )
                    .at(self.at(document.raw.kind.span), format!("this {kind} has no spec"));
                    self.cx.error(problem);
                }
            },
            Some(RawSpec::Community(spec)) => self.community(spec),
            Some(RawSpec::Project(spec)) => self.project(spec),
            Some(RawSpec::Dataset(spec)) => self.dataset(spec),
            Some(RawSpec::Secret(spec)) => self.secret(spec),
            Some(RawSpec::DockerImage(spec)) => self.docker_image(spec, document.raw.spec_key),
            Some(RawSpec::S3Connection(spec)) => {
                self.s3_connection(spec, document.raw.spec_key);
            }
            Some(RawSpec::Checkpoint(spec)) => self.checkpoint(spec),
            Some(RawSpec::Node(spec)) => self.node(spec),
            Some(RawSpec::Alias(spec)) => self.alias(spec),
            Some(RawSpec::Organization(_)) => {}
        }
    }

    pub(super) fn metadata(&mut self, metadata: &RawMetadata) {
        if let Some(labels) = &metadata.labels {
            let mut map = BTreeMap::new();
            if labels.value.len() > rules::MAX_USER_LABELS {
                let problem = Problem::error(
                    "spherectl::manifest::invalid_label",
                    format!(
                        "{} labels, more than the {} allowed",
                        labels.value.len(),
                        rules::MAX_USER_LABELS
                    ),
                )
                .at(self.at(labels.span), "too many labels")
                .help(format!(
                    "the platform allows {} labels per object, and spherectl sets {} of its own ({})",
                    rules::MAX_LABELS,
                    rules::RESERVED_LABELS.len(),
                    rules::RESERVED_LABELS.join(", ")
                ));
                self.cx.error(problem);
            }
            // In the order written, not the map's order, so that problems read top to bottom.
            let mut entries: Vec<_> = labels.value.iter().collect();
            entries.sort_by_key(|(key, _)| key.span.offset);
            for (key, value) in entries {
                if let Err(violation) = rules::check_label_key(&key.value) {
                    let problem =
                        Problem::error("spherectl::manifest::invalid_label", violation.message)
                            .at(self.at(key.span), "invalid key")
                            .maybe_help(violation.help);
                    self.cx.error(problem);
                } else if rules::is_reserved_label(&key.value) {
                    let problem = Problem::error(
                        "spherectl::manifest::reserved_label",
                        format!("label `{}` is reserved", key.value),
                    )
                    .at(self.at(key.span), "set by spherectl itself")
                    .help("spherectl labels the objects it manages with `managed-by`, `spherectl-set` and `spherectl-protect`; remove this label");
                    self.cx.error(problem);
                }
                if let Err(violation) = rules::check_label_value(&value.value) {
                    let problem =
                        Problem::error("spherectl::manifest::invalid_label", violation.message)
                            .at(self.at(value.span), "invalid value")
                            .maybe_help(violation.help);
                    self.cx.error(problem);
                }
                map.insert(key.value.clone(), value.value.clone());
            }
            self.object.labels = Some(map);
        }
        if let Some(id) = &metadata.id {
            if id.value.trim().is_empty() || id.value.len() > 50 {
                let problem = Problem::error(
                    "spherectl::manifest::invalid_id",
                    format!("invalid id `{}`", id.value),
                )
                .at(self.at(id.span), "1 to 50 characters");
                self.cx.error(problem);
            }
            self.object.adopt_id = Some(id.value.clone());
        }
        if let Some(old) = &metadata.renamed_from {
            if old.value == self.object.name {
                let problem = Problem::error(
                    "spherectl::manifest::invalid_rename",
                    "`renamedFrom` is the current name",
                )
                .at(self.at(old.span), "same as `metadata.name`")
                .help("remove `renamedFrom` once the rename is applied");
                self.cx.error(problem);
            }
            self.object.renamed_from = Some(old.value.clone());
        }
        if let Some(lifecycle) = &metadata.lifecycle {
            self.object.prevent_destroy = lifecycle.prevent_destroy.as_ref().map(|p| p.value);
        }
        for entry in metadata.depends_on.iter().flatten() {
            match Address::parse(&entry.value) {
                Some(target) if self.seen.contains_key(&target) => {
                    self.depend(target, EdgeKind::DependsOn, entry.span);
                }
                Some(target) if is_under(&target, self.invalid) => {}
                Some(target) => {
                    let hint = rules::nearest(
                        &target.path,
                        self.seen.keys().filter(|a| a.kind == target.kind).map(|a| a.path.as_str()),
                    );
                    let problem = Problem::error(
                        "spherectl::manifest::dangling_reference",
                        format!("`{target}` is not declared in these manifests"),
                    )
                    .at(self.at(entry.span), "no such object")
                    .maybe_help(hint.map(|h| format!("did you mean `{}/{h}`?", target.kind)));
                    self.cx.error(problem);
                }
                None => {
                    let problem = Problem::error(
                        "spherectl::manifest::invalid_reference",
                        format!("`{}` is not an address", entry.value),
                    )
                    .at(self.at(entry.span), "expected KIND/PATH")
                    .help("addresses look like `Community/research`, `Project/research/fraud` or `Secret/research/fraud/db-password`");
                    self.cx.error(problem);
                }
            }
        }
    }

    pub(super) fn members(&mut self, members: Option<&Spanned<Vec<Spanned<RawMember>>>>) {
        let Some(members) = members else { return };
        let mut list: Vec<Member> = Vec::new();
        for (index, member) in members.value.iter().enumerate() {
            let at = member.span;
            let subject = member.value.subject.as_ref();
            let subject = self.require(subject, &format!("spec.members[{index}].subject"), at);
            let role = member.value.role.as_ref();
            let role = self.require(role, &format!("spec.members[{index}].role"), at);
            let (Some(subject), Some(role)) = (subject, role) else { continue };
            if let Err(violation) = rules::check_subject(&subject.value) {
                let problem =
                    Problem::error("spherectl::manifest::invalid_subject", violation.message)
                        .at(self.at(subject.span), "invalid subject")
                        .maybe_help(violation.help);
                self.cx.error(problem);
                continue;
            }
            if let Some(first) = list.iter().find(|m| m.subject == subject.value) {
                let problem = Problem::error(
                    "spherectl::manifest::duplicate_member",
                    format!("`{}` is listed twice", subject.value),
                )
                .at(self.at(subject.span), "listed again here")
                .at(first.location, "first listed here")
                .help(
                    "a subject holds one role per object; the higher role includes the lower ones",
                );
                self.cx.error(problem);
                continue;
            }
            list.push(Member {
                subject: subject.value.clone(),
                role: role.value,
                location: self.at(subject.span),
            });
        }
        self.object.members = Some(list);
    }

    pub(super) fn active(&mut self, active: Option<&Spanned<bool>>) {
        if let Some(active) = active {
            self.object.active = Some((active.value, self.at(active.span)));
        }
    }

    /// Reports a required field that is absent (every one of them, not just the first).
    ///
    /// `path` is the field's path in the document (`spec.members[0].role`); `at` is where the
    /// mapping that lacks it is.
    pub(super) fn require<'s, T>(
        &mut self,
        value: Option<&'s T>,
        path: &str,
        at: Span,
    ) -> Option<&'s T> {
        if value.is_none() {
            let field = path.rsplit('.').next().unwrap_or(path);
            let problem = Problem::error(
                "spherectl::manifest::missing_field",
                format!("missing field `{field}`"),
            )
            .at(self.at(at), format!("`{path}` is required"));
            self.cx.error(problem);
        }
        value
    }
}
