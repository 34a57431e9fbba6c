//! Prune: this set's live objects that are gone from the manifests.
//!
//! Takes the matched state; pushes deletes (with the unpublish, unuse and deactivate each needs
//! first) and the findings that stop a dangerous one: protected objects, other sets' users or
//! referrers, contents deleted with their parent, and most of the set deleted at once.

#[allow(clippy::wildcard_imports)]
use super::*;

impl Planner<'_> {
    /// Deletes this set's live objects that are gone from the manifests.
    pub(super) fn prune(&mut self) {
        let live = self.input.live;
        let doomed: Vec<&LiveObject> = live
            .objects
            .iter()
            .filter(|o| {
                !self.matched_ids.contains(o.id.as_str())
                    && self.is_ours(o)
                    && self.resolved.contains_key(o.id.as_str())
            })
            .collect();
        let doomed_ids: HashSet<&str> = doomed.iter().map(|o| o.id.as_str()).collect();
        let referrers = if doomed.is_empty() { None } else { Some(self.take_referrers()) };
        for object in &doomed {
            let address = self.resolved[object.id.as_str()].clone();
            if rules::is_protected(&object.labels) {
                let problem = Problem::error(
                    "spherectl::plan::prevent_destroy",
                    format!("{address} is protected (`preventDestroy`) and cannot be deleted"),
                )
                .help("the protection is recorded on the object (label `spherectl-protect`): restore its document with `metadata.lifecycle: {preventDestroy: false}` and apply, then delete it");
                self.finding(problem, Some(&address));
            }
            let communities =
                self.publications_of.get(object.id.as_str()).cloned().unwrap_or_default();
            // Unpublished even from a community that is deleted too: the resource goes first.
            for community in communities {
                self.unpublish(&address, object.kind, &object.id, community, None);
            }
            let users = self.users_of.get(object.id.as_str()).cloned().unwrap_or_default();
            // Users that are matched detach in their own `uses`; deleted ones below. Other sets'
            // projects are never detached: the delete stops instead.
            let foreign: Vec<String> = users
                .iter()
                .filter(|p| !doomed_ids.contains(**p) && !self.is_this_sets(p))
                .map(|p| self.name_of(p))
                .collect();
            if !foreign.is_empty() {
                self.in_use_problem(&address, rules::Removal::Delete, &foreign, None);
            }
            // A community's deletion drops what other sets published into it.
            if object.kind == Kind::Community {
                let foreign: Vec<String> = live
                    .publications
                    .iter()
                    .filter(|(resource, community)| {
                        *community == object.id
                            && !doomed_ids.contains(resource.as_str())
                            && !self.is_this_sets(resource)
                    })
                    .map(|(resource, _)| self.name_of(resource))
                    .collect();
                if !foreign.is_empty() {
                    self.foreign_problem(
                        &address,
                        "has resources published into it by",
                        &foreign,
                        None,
                    );
                }
            }
            let foreign: Vec<String> = referrers
                .as_ref()
                .and_then(|r| r.get(object.id.as_str()))
                .into_iter()
                .flatten()
                .filter(|r| !doomed_ids.contains(r.id.as_str()) && !self.is_this_sets(&r.id))
                .map(|r| self.name_of(&r.id))
                .collect();
            if !foreign.is_empty() {
                self.foreign_problem(&address, "is referenced by", &foreign, None);
            }
            // A deleted project detaches what it uses first, so those resources can be unpublished.
            if object.kind == Kind::Project {
                let used = self.uses_of.get(object.id.as_str()).cloned().unwrap_or_default();
                for resource in used {
                    self.unuse(&address, object.id.clone(), resource, None);
                }
            }
            if object.active && rules::deactivate_before_delete(object.kind) {
                let field = FieldChange {
                    path: "spec.active".into(),
                    before: json!(true),
                    after: json!(false),
                    sensitive: false,
                };
                let operation = Operation::SetActive {
                    kind: object.kind,
                    resource: Target::Id(object.id.clone()),
                    active: false,
                };
                self.push(
                    &address,
                    Some("deactivate".into()),
                    Action::Deactivate,
                    vec![field],
                    None,
                    operation,
                );
            }
            let held: Vec<&LiveObject> =
                live.objects.iter().filter(|o| o.parent_id == object.id).collect();
            let foreign = held.iter().filter(|o| !doomed_ids.contains(o.id.as_str())).count();
            if foreign > 0 {
                let problem = Problem::error("spherectl::plan::delete_blocked", format!("cannot delete {address}: it holds {foreign} object(s) this manifest set does not manage"))
                    .help("delete or adopt those objects first");
                self.finding(problem, Some(&address));
            } else if !held.is_empty() && matches!(object.kind, Kind::Community | Kind::Project) {
                let what = match (object.kind, held.len()) {
                    (Kind::Community, 1) => "project",
                    (Kind::Community, _) => "projects",
                    (_, 1) => "resource",
                    _ => "resources",
                };
                let message =
                    format!("deleting {address} also deletes the {} {what} it holds", held.len());
                let problem = if self.input.allow_delete {
                    Problem::warning("spherectl::plan::destructive_delete", message)
                } else {
                    Problem::error("spherectl::plan::destructive_delete", message).help(format!(
                        "{}; if you mean to delete it, run again with `--allow-delete`",
                        self.files_read()
                    ))
                };
                self.finding(problem, Some(&address));
            }
            let fields = vec![FieldChange {
                path: "metadata.name".into(),
                before: json!(object.name),
                after: Value::Null,
                sensitive: false,
            }];
            // A declared document took this address (it adopts or renames another object into
            // it): the delete gets a key of its own, and that change waits for it.
            let suffix = self
                .input
                .loaded
                .model
                .get(&address)
                .is_some()
                .then(|| format!("delete:{}", object.id));
            self.push(
                &address,
                suffix,
                Action::Delete,
                fields,
                None,
                Operation::Delete { kind: object.kind, id: object.id.clone() },
            );
            if let Some(change) = self.changes.last_mut() {
                // A dataset's contents, a project's notebooks, a community's projects.
                change.destroys_data =
                    matches!(object.kind, Kind::Dataset | Kind::Project | Kind::Community);
            }
        }
        if referrers.is_some() {
            self.referrers = referrers;
        }
        // A delete and a create of the same kind under the same parent: maybe a rename.
        let creates: Vec<Address> = self
            .changes
            .iter()
            .filter(|c| c.action == Action::Create)
            .map(|c| c.object.clone())
            .collect();
        for object in &doomed {
            let address = &self.resolved[object.id.as_str()];
            if let Some(created) =
                creates.iter().find(|c| c.kind == address.kind && c.parent() == address.parent())
            {
                let location = self.input.loaded.model.get(created).map(|o| o.location);
                let mut problem = Problem {
                    severity: Severity::Advice,
                    ..Problem::error("spherectl::plan::maybe_rename", format!("{address} is deleted and {created} created: is this a rename?"))
                }
                .help(format!("to rename in place and keep its data, add `metadata.renamedFrom: {}` to {created}", address.name()));
                if let Some(location) = location {
                    problem = problem.at(location, "created here");
                }
                self.finding(problem, Some(created));
            }
        }
    }

    /// Which manifest files this plan read, for messages about deletions.
    pub(super) fn files_read(&self) -> String {
        let sources = self.sources;
        let names: Vec<String> =
            (0..sources.len()).map(|i| sources.get(FileId(i as u32)).name.clone()).collect();
        let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
        let more =
            if names.len() > 5 { format!(" and {} more", names.len() - 5) } else { String::new() };
        format!(
            "this plan read {} manifest file{}: {}{more}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            shown.join(", ")
        )
    }

    /// Stops a plan that deletes most of this set's live objects unless `--allow-delete` says
    /// so: a partial path (one file of the set) must not read as "delete everything else".
    pub(super) fn check_mass_delete(&mut self) {
        if self.input.allow_delete {
            return;
        }
        let deletes = self.changes.iter().filter(|c| c.action == Action::Delete).count();
        let ours = self.input.live.objects.iter().filter(|o| self.is_ours(o)).count();
        if deletes == 0 || deletes * 2 <= ours {
            return;
        }
        let problem = Problem::error(
            "spherectl::plan::mass_delete",
            format!(
                "this plan deletes {deletes} of the {ours} objects of the manifest set `{}`",
                self.set_name
            ),
        )
        .help(format!(
            "{}; if some manifests are missing, give the whole manifest directory; if you mean to delete them, run again with `--allow-delete`",
            self.files_read()
        ));
        self.finding(problem, None);
    }
}

/// Live id → the live objects that reference it (through the reference fields of the schema).
pub(super) fn referrers_of(live: &LiveState) -> HashMap<String, Vec<&LiveObject>> {
    let mut referrers: HashMap<String, Vec<&LiveObject>> = HashMap::new();
    for object in &live.objects {
        for (path, value) in &object.attributes {
            let Some(spec) = fields::lookup(object.kind, path) else { continue };
            for id in spec.referenced(value) {
                if id != object.id {
                    referrers.entry(id.to_owned()).or_default().push(object);
                }
            }
        }
    }
    referrers
}

/// A document's own `preventDestroy: true`, and the live object it names.
#[derive(Clone, Debug)]
pub struct DeclaredProtection {
    /// The live object's id.
    pub id: String,
    /// The document's address (it may rename the object).
    pub declared: Address,
    /// Where the document names the object.
    pub location: Location,
}

/// The documents of `loaded` that declare `preventDestroy: true`, with the live objects they
/// name, as `full` (a plan of those documents against the live state) matched them: by
/// address, `renamedFrom` or `metadata.id`.
///
/// `destroy` plans without the documents, so its prune sees only the protections the platform
/// records (label `spherectl-protect`); these are the ones the documents declare, perhaps not
/// applied yet, for [`refuse_declared_protections`].
pub fn declared_protections(loaded: &Loaded, full: &Plan) -> Vec<DeclaredProtection> {
    loaded
        .model
        .objects
        .iter()
        .filter(|o| o.prevent_destroy == Some(true))
        .filter_map(|o| {
            Some(DeclaredProtection {
                id: full.known_ids.get(&o.address)?.clone(),
                declared: o.address.clone(),
                location: o.location,
            })
        })
        .collect()
}

/// Refuses each delete of `plan` that removes an object a document protects: the protection
/// the manifests declare holds as the one the platform records does (as Terraform's
/// `prevent_destroy` in the configuration refuses `terraform destroy`). A delete already refused
/// for its recorded protection is not reported twice.
pub fn refuse_declared_protections(
    plan: &mut Plan,
    protections: &[DeclaredProtection],
    sources: &Sources,
) {
    for change in &plan.changes {
        let Operation::Delete { id, .. } = &change.operation else { continue };
        let Some(protection) = protections.iter().find(|p| p.id == *id) else { continue };
        let address = change.object.to_string();
        if plan.findings.iter().any(|f| {
            f.rule == "spherectl::plan::prevent_destroy" && f.address.as_deref() == Some(&address)
        }) {
            continue;
        }
        let named = if protection.declared == change.object {
            String::new()
        } else {
            format!(", as {}", protection.declared)
        };
        let problem = Problem::error(
            "spherectl::plan::prevent_destroy",
            format!(
                "{address} is protected (`preventDestroy: true` in its document{named}) and cannot be deleted"
            ),
        )
        .at(protection.location, "protected here")
        .help("to delete it, set `metadata.lifecycle: {preventDestroy: false}` in its document and apply first");
        plan.findings.push(Finding::new(problem, Some(address), Some(sources)));
    }
}
