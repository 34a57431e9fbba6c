//! Field diff: one declared object against its matched live object.
//!
//! Takes an [`Object`] and the live object it matched (if any); pushes its create, update or
//! replace (with field-level before/after, compared through the field schema in `crate::fields`),
//! then its members, activation, balance and publications. Also the organization's sharing rule.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Planner<'_> {
    pub(super) fn organization(&mut self) {
        let organization = &self.input.loaded.model.organization;
        let live = self.input.live.sharing;
        // Not given in the manifests: the platform's rule is not this set's to change.
        let Some(sharing) = organization.sharing else { return };
        if live != sharing {
            let address = Address::new(Kind::Organization, organization.name.clone());
            let mut fields = Vec::new();
            if live.project != sharing.project {
                fields.push(FieldChange {
                    path: "spec.sharing.requiredRoles.project".into(),
                    before: json!(live.project.as_str()),
                    after: json!(sharing.project.as_str()),
                    sensitive: false,
                });
            }
            if live.community != sharing.community {
                fields.push(FieldChange {
                    path: "spec.sharing.requiredRoles.community".into(),
                    before: json!(live.community.as_str()),
                    after: json!(sharing.community.as_str()),
                    sensitive: false,
                });
            }
            let operation =
                Operation::SetSharing { organization_id: organization.id.clone(), sharing };
            self.push(
                &address,
                None,
                Action::Update,
                fields,
                Some(organization.location),
                operation,
            );
        }
    }

    /// A live reference field with ids replaced by the addresses they are known under.
    pub(super) fn translate_ids(&self, spec: &fields::FieldSpec, value: &Value) -> Value {
        spec.map_references(value, &mut |id| self.resolved.get(id).map(ToString::to_string))
    }

    /// Whether a desired reference field names an object that this plan replaces.
    pub(super) fn references_replaced(&self, spec: &fields::FieldSpec, value: &Value) -> bool {
        spec.referenced(value)
            .into_iter()
            .any(|text| Address::parse(text).is_some_and(|a| self.replaced.contains(&a)))
    }

    pub(super) fn secret_changed(
        &mut self,
        object: &Object,
        live: Option<&LiveObject>,
    ) -> Option<bool> {
        let (_, location) = object.secret.as_ref()?;
        let Some(value) = self.input.secrets.get(&object.address) else {
            let problem = Problem::error(
                "spherectl::plan::secret_unavailable",
                format!("the value of {} cannot be read", object.address),
            )
            .at(*location, "not set")
            .help("set the environment variable or create the file before planning");
            self.finding(problem, Some(&object.address));
            return None;
        };
        let Some(live) = live else { return Some(true) };
        Some(match ((self.input.digest)(value), &live.secret_digest) {
            (Some(desired), Some(current)) => desired != *current,
            // The platform cannot compare secrets: never report a change it cannot see.
            _ => false,
        })
    }

    pub(super) fn object(&mut self, object: &Object) {
        let live = self.matched.get(&object.address).copied();
        let mut fields = Vec::new();
        let mut replace_paths: Vec<String> = Vec::new();
        let mut set = BTreeMap::new();
        let secret_changed = self.secret_changed(object, live);
        match live {
            None => {
                for field in &object.fields {
                    fields.push(FieldChange {
                        path: field.path.clone(),
                        before: Value::Null,
                        after: field.value.clone(),
                        sensitive: false,
                    });
                }
                // The labels the new object gets, as an update lists them; spherectl's ownership
                // labels, which every object it creates carries, are left out as noise.
                for (key, value) in self.desired_labels(object, None) {
                    if key == rules::LABEL_MANAGED_BY || key == rules::LABEL_SET {
                        continue;
                    }
                    fields.push(FieldChange {
                        path: format!("metadata.labels.{key}"),
                        before: Value::Null,
                        after: json!(value),
                        sensitive: false,
                    });
                }
                // Sensitive: no value, not even a placeholder a consumer could take for one.
                if object.secret.is_some() {
                    fields.push(FieldChange {
                        path: "spec.value".into(),
                        before: Value::Null,
                        after: Value::Null,
                        sensitive: true,
                    });
                }
            }
            Some(live) => {
                if live.name != object.name {
                    fields.push(FieldChange {
                        path: "metadata.name".into(),
                        before: json!(live.name),
                        after: json!(object.name),
                        sensitive: false,
                    });
                }
                for field in &object.fields {
                    let spec = fields::lookup(object.address.kind, &field.path);
                    let mode = spec.map_or(FieldMode::Mutable, |s| s.mode);
                    if mode == FieldMode::WriteOnly {
                        continue;
                    }
                    let before = match (live.attributes.get(&field.path), spec) {
                        (Some(value), Some(spec)) => self.translate_ids(spec, value),
                        (Some(value), None) => value.clone(),
                        (None, _) => Value::Null,
                    };
                    let changed = match spec {
                        Some(spec) => {
                            !spec.same(&before, &field.value)
                                || self.references_replaced(spec, &field.value)
                        }
                        None => before != field.value,
                    };
                    if changed {
                        if mode == FieldMode::Immutable {
                            replace_paths.push(field.path.clone());
                        }
                        fields.push(FieldChange {
                            path: field.path.clone(),
                            before,
                            after: field.value.clone(),
                            sensitive: false,
                        });
                        set.insert(field.path.clone(), field.value.clone());
                    }
                }
                let labels = self.desired_labels(object, Some(live));
                let keys: BTreeSet<&String> = labels.keys().chain(live.labels.keys()).collect();
                for key in keys {
                    let (before, after) = (live.labels.get(key), labels.get(key));
                    if before != after {
                        fields.push(FieldChange {
                            path: format!("metadata.labels.{key}"),
                            before: before.map_or(Value::Null, |v| json!(v)),
                            after: after.map_or(Value::Null, |v| json!(v)),
                            sensitive: false,
                        });
                    }
                }
                if secret_changed == Some(true) {
                    fields.push(FieldChange {
                        path: "spec.value".into(),
                        before: Value::Null,
                        after: Value::Null,
                        sensitive: true,
                    });
                }
            }
        }
        // Built only for a create or a replace: most objects of a large plan are unchanged.
        let create = |with_attributes: bool| Operation::Create {
            kind: object.address.kind,
            parent: self.parent_target(object),
            name: object.name.clone(),
            labels: self.desired_labels(object, None),
            attributes: with_attributes
                .then(|| object.fields.iter().map(|f| (f.path.clone(), f.value.clone())).collect()),
            secret: object.secret.as_ref().map(|_| object.address.clone()),
        };
        let location = Some(object.location);
        let mut fresh = live.is_none();
        match (live, replace_paths.first().cloned()) {
            (None, _) => {
                let create = create(false);
                self.created.insert(object.address.clone());
                self.push(&object.address, None, Action::Create, fields, location, create);
            }
            (Some(live), Some(reason)) => {
                let create = create(true);
                if object.prevent_destroy == Some(true) || rules::is_protected(&live.labels) {
                    let problem = Problem::error("spherectl::plan::prevent_destroy", format!("{} must be replaced, but `preventDestroy` is set", object.address))
                        .at(object.location, format!("`{reason}` cannot change in place"))
                        .help("revert the change; to allow the replacement, first apply `metadata.lifecycle: {preventDestroy: false}` on its own, then make the change");
                    self.finding(problem, Some(&object.address));
                }
                if object.address.kind == Kind::Community
                    && self.children_of.contains_key(live.id.as_str())
                {
                    let problem = Problem::error("spherectl::plan::community_replace", format!("{} cannot change `{reason}`: it holds projects", object.address))
                        .at(object.location, "replacing it would delete its projects")
                        .help("a community's zone cannot change; create a new community and move the projects instead");
                    self.finding(problem, Some(&object.address));
                }
                let foreign: Vec<String> = self
                    .users_of
                    .get(live.id.as_str())
                    .into_iter()
                    .flatten()
                    .filter(|p| !self.is_this_sets(p))
                    .map(|p| self.name_of(p))
                    .collect();
                if !foreign.is_empty() {
                    let address = object.address.clone();
                    let removal = rules::Removal::Replace;
                    self.in_use_problem(&address, removal, &foreign, Some(object.location));
                }
                let foreign = self.foreign_referrers(&live.id);
                if !foreign.is_empty() {
                    self.foreign_problem(
                        &object.address,
                        "must be replaced, which would delete it under",
                        &foreign,
                        Some(object.location),
                    );
                }
                self.replaced.insert(object.address.clone());
                fresh = true;
                let publications = self
                    .publications_of
                    .get(live.id.as_str())
                    .into_iter()
                    .flatten()
                    .map(|c| (*c).to_owned())
                    .collect();
                let uses = self
                    .users_of
                    .get(live.id.as_str())
                    .into_iter()
                    .flatten()
                    .map(|p| (*p).to_owned())
                    .collect();
                let operation = Operation::Replace {
                    old_id: live.id.clone(),
                    deactivate: live.active && rules::deactivate_before_delete(object.address.kind),
                    publications,
                    uses,
                    create: Box::new(create),
                };
                self.push(&object.address, None, Action::Replace, fields, location, operation);
                if let Some(change) = self.changes.last_mut() {
                    change.destroys_data = replace_paths.iter().any(|path| {
                        fields::lookup(object.address.kind, path).is_some_and(|f| f.destroys_data)
                    });
                    change.replace_paths = replace_paths;
                }
            }
            (Some(live), None) => {
                if !fields.is_empty() {
                    let name = (live.name != object.name).then(|| object.name.clone());
                    let labels =
                        Some(self.desired_labels(object, Some(live))).filter(|l| *l != live.labels);
                    let secret = (secret_changed == Some(true)).then(|| object.address.clone());
                    let operation = Operation::Update {
                        kind: object.address.kind,
                        id: live.id.clone(),
                        name,
                        labels,
                        set,
                        secret,
                    };
                    self.push(&object.address, None, Action::Update, fields, location, operation);
                }
            }
        }
        self.members(object, live.filter(|_| !fresh));
        self.activation(object, live.filter(|_| !fresh));
        self.balance(object, live.filter(|_| !fresh));
        self.publications(object, live.filter(|_| !fresh));
    }
}
