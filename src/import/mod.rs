//! `spherectl import`: manifests that describe an organization as the platform holds it.
//!
//! Takes the live state (one bulk read, as the planner's) and returns the files to write: the
//! Organization document in `organization.yaml` and one file per community with its projects and
//! their resources, every object carrying `metadata.id`. Planned against the same platform, the
//! result is empty, except the ownership labels of objects no manifest set managed yet.
//!
//! What the platform does not give back is written as a comment that says why: a community's
//! billing account (write-only), and on the public API the resources, publications and uses it
//! cannot list. Secret values are never read: each secret reads its value from a generated
//! environment variable (`SPHERECTL_SECRET_<COMMUNITY>_<PROJECT>_<NAME>`). This stage does no I/O;
//! [`write`] puts the files on disk atomically.

mod names;
pub mod write;
mod yaml;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::{
    fields,
    manifest::{Kind, model::FieldMode},
    platform::{Capabilities, LiveObject, LiveState},
    rules::{self, Role},
};

use yaml::{Entry, MapBuilder, Yaml};

/// What to import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Only these communities (all when empty).
    pub communities: Vec<String>,
    /// The manifest set to write (`metadata.name` of the Organization); by default the set that
    /// manages objects there already, or a name made from the organization id.
    pub set: Option<String>,
}

/// One file to write, relative to the output directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestFile {
    pub name: String,
    pub text: String,
}

/// A secret and the environment variable its document reads the value from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretVariable {
    pub address: String,
    pub variable: String,
}

/// The result of an import.
#[derive(Clone, Debug, Default)]
pub struct Imported {
    /// The manifest set written.
    pub set: String,
    pub files: Vec<ManifestFile>,
    pub secrets: Vec<SecretVariable>,
    /// Objects not written because another set manages them: `(address, set)`.
    pub skipped: Vec<(String, String)>,
    /// Whether the set is named after the organization id (no set managed anything there).
    pub set_from_id: bool,
    /// Objects written that no set managed yet (the first apply labels them).
    pub unmanaged: usize,
    /// Objects written (communities, projects and resources).
    pub objects: usize,
    /// What the written manifests cannot say (an unreadable field, a use of a skipped resource).
    pub warnings: Vec<String>,
}

/// Why an import cannot start: each is a usage error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// `--community` names a community the organization does not have.
    #[error("the organization has no community `{name}`")]
    UnknownCommunity { name: String, known: Vec<String> },
    /// Several manifest sets manage objects there and `--set` does not choose.
    #[error("several manifest sets manage objects in this organization: {}", .0.iter().map(|(s, n)| format!("`{s}` ({n} objects)")).collect::<Vec<_>>().join(", "))]
    SeveralSets(Vec<(String, usize)>),
    /// `--set` is not a valid manifest set name.
    #[error("invalid manifest set name `{0}`")]
    InvalidSet(String),
}

/// Builds the manifests for the live state of one organization.
///
/// # Errors
/// When the options do not fit the organization (see [`ImportError`]).
pub fn import(
    live: &LiveState,
    capabilities: Capabilities,
    options: &ImportOptions,
) -> Result<Imported, ImportError> {
    let tree = Tree::new(live);
    let selected = tree.select(&options.communities)?;
    let set = match &options.set {
        Some(set) => {
            if rules::check_label_value(set).is_err()
                || rules::check_label_key(&set.replace('.', "-")).is_err()
            {
                return Err(ImportError::InvalidSet(set.clone()));
            }
            set.clone()
        }
        None => {
            tree.default_set(&selected)?.unwrap_or_else(|| names::set_name(&live.organization_id))
        }
    };
    let set_from_id = options.set.is_none() && tree.default_set(&selected)?.is_none();
    let mut writer = Writer {
        live,
        tree: &tree,
        capabilities,
        set,
        written: BTreeSet::new(),
        secrets: HashMap::new(),
        imported: Imported::default(),
    };
    writer.choose(&selected);
    writer.warn_outside(&selected);
    writer.name_secrets();
    writer.imported.set = writer.set.clone();
    writer.imported.set_from_id = set_from_id;
    let mut file_names = names::FileNames::default();
    let organization = writer.organization_document();
    writer
        .imported
        .files
        .push(ManifestFile { name: file_names.take("organization"), text: organization });
    for community in &selected {
        if !writer.written.contains(community.id.as_str()) {
            continue;
        }
        let text = writer.community_file(community);
        writer.imported.files.push(ManifestFile { name: file_names.take(&community.name), text });
    }
    writer.imported.objects = writer.written.len();
    Ok(writer.imported)
}

/// The live objects as a tree, with each object's address path.
struct Tree<'a> {
    by_id: HashMap<&'a str, &'a LiveObject>,
    children: HashMap<&'a str, Vec<&'a LiveObject>>,
    /// Live id → `community[/project[/name]]`.
    paths: HashMap<&'a str, String>,
    communities: Vec<&'a LiveObject>,
    /// Resource id → the communities it is published to.
    publications: HashMap<&'a str, Vec<&'a str>>,
    /// Project id → the resources it uses.
    uses: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> Tree<'a> {
    fn new(live: &'a LiveState) -> Self {
        let by_id: HashMap<&str, &LiveObject> =
            live.objects.iter().map(|o| (o.id.as_str(), o)).collect();
        let mut children: HashMap<&str, Vec<&LiveObject>> = HashMap::new();
        for object in &live.objects {
            children.entry(object.parent_id.as_str()).or_default().push(object);
        }
        for list in children.values_mut() {
            list.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        }
        let communities: Vec<&LiveObject> = children
            .get(live.organization_id.as_str())
            .into_iter()
            .flatten()
            .copied()
            .filter(|o| o.kind == Kind::Community)
            .collect();
        let mut paths = HashMap::new();
        for community in &communities {
            paths.insert(community.id.as_str(), community.name.clone());
            for project in children.get(community.id.as_str()).into_iter().flatten() {
                if project.kind != Kind::Project {
                    continue;
                }
                let project_path = format!("{}/{}", community.name, project.name);
                for resource in children.get(project.id.as_str()).into_iter().flatten() {
                    if resource.kind.is_resource() {
                        paths.insert(
                            resource.id.as_str(),
                            format!("{project_path}/{}", resource.name),
                        );
                    }
                }
                paths.insert(project.id.as_str(), project_path);
            }
        }
        let mut publications: HashMap<&str, Vec<&str>> = HashMap::new();
        for (resource, community) in &live.publications {
            publications.entry(resource.as_str()).or_default().push(community.as_str());
        }
        let mut uses: HashMap<&str, Vec<&str>> = HashMap::new();
        for (project, resource) in &live.uses {
            uses.entry(project.as_str()).or_default().push(resource.as_str());
        }
        Tree { by_id, children, paths, communities, publications, uses }
    }

    fn children_of(&self, id: &str, kind: impl Fn(Kind) -> bool) -> Vec<&'a LiveObject> {
        self.children.get(id).into_iter().flatten().copied().filter(|o| kind(o.kind)).collect()
    }

    fn address(&self, object: &LiveObject) -> String {
        let path = self.paths.get(object.id.as_str()).cloned().unwrap_or_else(|| object.id.clone());
        format!("{}/{path}", object.kind)
    }

    /// The communities to import.
    fn select(&self, names: &[String]) -> Result<Vec<&'a LiveObject>, ImportError> {
        if names.is_empty() {
            return Ok(self.communities.clone());
        }
        for name in names {
            if !self.communities.iter().any(|c| &c.name == name) {
                return Err(ImportError::UnknownCommunity {
                    name: name.clone(),
                    known: self.communities.iter().map(|c| c.name.clone()).collect(),
                });
            }
        }
        Ok(self.communities.iter().copied().filter(|c| names.contains(&c.name)).collect())
    }

    /// Every object under the selected communities, the communities included.
    fn subtree(&self, selected: &[&'a LiveObject]) -> Vec<&'a LiveObject> {
        let mut objects = Vec::new();
        for community in selected {
            objects.push(*community);
            for project in self.children_of(&community.id, |k| k == Kind::Project) {
                objects.push(project);
                objects.extend(self.children_of(&project.id, Kind::is_resource));
            }
        }
        objects
    }

    /// The set that manages objects there already, if any.
    fn default_set(&self, selected: &[&'a LiveObject]) -> Result<Option<String>, ImportError> {
        let mut sets: BTreeMap<&str, usize> = BTreeMap::new();
        for object in self.subtree(selected) {
            if let Some(set) = owner(object) {
                *sets.entry(set).or_default() += 1;
            }
        }
        match sets.len() {
            0 => Ok(None),
            1 => Ok(sets.keys().next().map(|s| (*s).to_owned())),
            _ => Err(ImportError::SeveralSets(
                sets.into_iter().map(|(s, n)| (s.to_owned(), n)).collect(),
            )),
        }
    }
}

/// The manifest set that manages an object, if any.
fn owner(object: &LiveObject) -> Option<&str> {
    (object.labels.get(rules::LABEL_MANAGED_BY).map(String::as_str)
        == Some(rules::MANAGED_BY_VALUE))
    .then(|| object.labels.get(rules::LABEL_SET).map(String::as_str))
    .flatten()
}

/// Builds the documents.
struct Writer<'a> {
    live: &'a LiveState,
    tree: &'a Tree<'a>,
    capabilities: Capabilities,
    set: String,
    /// Ids of the objects written.
    written: BTreeSet<&'a str>,
    /// Secret id → its variable.
    secrets: HashMap<&'a str, String>,
    imported: Imported,
}

impl<'a> Writer<'a> {
    /// Decides which objects are written: everything selected but other sets' objects (and
    /// what lives inside them, which cannot be declared without its parent).
    fn choose(&mut self, selected: &[&'a LiveObject]) {
        for community in selected {
            if community.name.contains('/') {
                self.unaddressable(community);
            } else {
                self.keep(community, None);
            }
        }
    }

    /// A community whose name holds `/` (the platform allows it): manifests address projects as
    /// `community/project`, so neither it nor anything inside it can be written.
    fn unaddressable(&mut self, community: &'a LiveObject) {
        let address = self.tree.address(community);
        let inside = self.tree.subtree(&[community]).len() - 1;
        let mut warning = format!(
            "{address} is not written: its name holds `/`, which manifests cannot address (`community/project/name`)"
        );
        if inside > 0 {
            warning.push_str(&format!(
                ", nor the {inside} object{} inside it",
                if inside == 1 { "" } else { "s" }
            ));
        }
        let ours = self
            .tree
            .subtree(&[community])
            .iter()
            .filter(|o| owner(o) == Some(self.set.as_str()))
            .count();
        if ours > 0 {
            warning.push_str(&format!(
                "; {ours} of them the set `{}` manages, and a plan of these manifests would delete {}; rename the community",
                self.set,
                if ours == 1 { "it" } else { "them" }
            ));
        } else {
            warning.push_str("; spherectl leaves them alone");
        }
        self.imported.warnings.push(warning);
    }

    /// Records an object as written, and what is inside it; or as skipped, with everything
    /// inside it (`skipped_in`: the address and set of the other set's object it is inside).
    fn keep(&mut self, object: &'a LiveObject, skipped_in: Option<(&str, &str)>) {
        let address = self.tree.address(object);
        let foreign = owner(object).filter(|set| *set != self.set);
        let inside = match (foreign, skipped_in) {
            (Some(set), _) => {
                self.imported.skipped.push((address.clone(), set.to_owned()));
                Some((address.as_str(), set))
            }
            (None, Some((parent, set))) => {
                if owner(object) == Some(self.set.as_str()) {
                    // The set's own object, under another set's: the set's plan would delete it.
                    self.imported
                        .skipped
                        .push((address.clone(), format!("this set's, inside {parent} of `{set}`")));
                    self.imported.warnings.push(format!(
                        "{address} is managed by the set `{}`, but it is inside {parent}, which the set `{set}` manages: it cannot be written without {parent}, so a plan of these manifests would delete it; move it out, or import it with `--set {set}`",
                        self.set
                    ));
                } else {
                    self.imported
                        .skipped
                        .push((address.clone(), format!("inside a skipped object of `{set}`")));
                }
                Some((parent, set))
            }
            (None, None) => {
                if owner(object).is_none() {
                    self.imported.unmanaged += 1;
                }
                self.written.insert(&object.id);
                None
            }
        };
        let children = match object.kind {
            Kind::Community => self.tree.children_of(&object.id, |k| k == Kind::Project),
            Kind::Project => self.tree.children_of(&object.id, Kind::is_resource),
            _ => Vec::new(),
        };
        for child in children {
            self.keep(child, inside);
        }
    }

    /// Objects of the set outside the imported communities: a plan of the written manifests
    /// would delete them (the set prunes what its manifests do not declare).
    fn warn_outside(&mut self, selected: &[&'a LiveObject]) {
        let inside: BTreeSet<&str> =
            self.tree.subtree(selected).into_iter().map(|o| o.id.as_str()).collect();
        let outside: Vec<String> = self
            .live
            .objects
            .iter()
            .filter(|o| !inside.contains(o.id.as_str()) && owner(o) == Some(self.set.as_str()))
            .map(|o| self.tree.address(o))
            .collect();
        if let Some(first) = outside.first() {
            self.imported.warnings.push(format!(
                "the set `{}` also manages {} object{} outside the imported communities ({first}{}): a plan of these manifests would delete {}; import those communities too, or choose another `--set`",
                self.set,
                outside.len(),
                if outside.len() == 1 { "" } else { "s" },
                if outside.len() > 1 { ", ..." } else { "" },
                if outside.len() == 1 { "it" } else { "them" },
            ));
        }
    }

    /// Gives every written secret a variable name, unique among them.
    fn name_secrets(&mut self) {
        let mut secrets: Vec<(String, &'a str)> = self
            .written
            .iter()
            .filter_map(|id| self.tree.by_id.get(id))
            .filter(|o| o.kind == Kind::Secret)
            .map(|o| {
                (self.tree.paths.get(o.id.as_str()).cloned().unwrap_or_default(), o.id.as_str())
            })
            .collect();
        secrets.sort();
        let paths: Vec<&str> = secrets.iter().map(|(path, _)| path.as_str()).collect();
        let variables = names::secret_variables(&paths);
        for ((path, id), variable) in secrets.iter().zip(variables) {
            self.imported.secrets.push(SecretVariable {
                address: format!("Secret/{path}"),
                variable: variable.clone(),
            });
            self.secrets.insert(id, variable);
        }
    }

    fn organization_document(&mut self) -> String {
        let mut out = String::new();
        yaml::comment(
            &mut out,
            0,
            &format!(
                "Imported by `spherectl import` from organization `{}`.\nThe manifest set is `{}`: spherectl labels the objects it manages with it.",
                self.live.organization_id, self.set
            ),
        );
        if !self.imported.secrets.is_empty() {
            yaml::comment(
                &mut out,
                0,
                "Secret values are not read. Before `spherectl plan`, set these variables:",
            );
            for secret in &self.imported.secrets {
                yaml::comment(&mut out, 0, &format!("  {}  ({})", secret.variable, secret.address));
            }
        }
        let mut document = header(Kind::Organization);
        let mut metadata = MapBuilder::default();
        metadata.field("name", Yaml::text(&self.set));
        document.field("metadata", metadata.build());
        let mut spec = MapBuilder::default();
        spec.field("id", Yaml::text(&self.live.organization_id));
        if self.capabilities.organization {
            let mut roles = MapBuilder::default();
            roles.field("project", Yaml::text(self.live.sharing.project.as_str()));
            roles.field("community", Yaml::text(self.live.sharing.community.as_str()));
            let mut sharing = MapBuilder::default();
            sharing.field("requiredRoles", roles.build());
            spec.field("sharing", sharing.build());
        } else {
            spec.comment("sharing: {requiredRoles: {project: ROLE, community: ROLE}}");
            spec.comment("  not read: this platform does not expose the organization's sharing rule; left unmanaged");
        }
        document.field("spec", spec.build());
        out.push_str(&yaml::document(&document.0));
        out
    }

    fn community_file(&mut self, community: &'a LiveObject) -> String {
        let mut documents = vec![self.community_document(community)];
        for project in self.tree.children_of(&community.id, |k| k == Kind::Project) {
            if !self.written.contains(project.id.as_str()) {
                continue;
            }
            documents.push(self.project_document(project));
            for resource in self.tree.children_of(&project.id, Kind::is_resource) {
                if self.written.contains(resource.id.as_str()) {
                    documents.push(self.resource_document(resource));
                }
            }
        }
        documents.join("---\n")
    }

    fn metadata(&self, object: &LiveObject) -> Yaml {
        let mut metadata = MapBuilder::default();
        metadata.field("name", Yaml::text(&object.name));
        let path = self.tree.paths.get(object.id.as_str()).cloned().unwrap_or_default();
        match object.kind {
            Kind::Organization | Kind::Community => {}
            Kind::Project => {
                let community = path.rsplit_once('/').map(|(c, _)| c).unwrap_or_default();
                metadata.field("community", Yaml::text(community));
            }
            _ => {
                let project = path.rsplit_once('/').map(|(p, _)| p).unwrap_or_default();
                metadata.field("project", Yaml::text(project));
            }
        }
        metadata.field("id", Yaml::text(&object.id));
        let labels: Vec<Entry> = object
            .labels
            .iter()
            .filter(|(key, _)| !rules::RESERVED_LABELS.contains(&key.as_str()))
            .map(|(key, value)| Entry::Field(key.clone(), Yaml::text(value)))
            .collect();
        if !labels.is_empty() {
            metadata.field("labels", Yaml::Map(labels));
        }
        if rules::is_protected(&object.labels) {
            let mut lifecycle = MapBuilder::default();
            lifecycle.field("preventDestroy", Yaml::Bool(true));
            metadata.field("lifecycle", lifecycle.build());
        }
        metadata.build()
    }

    /// The spec's fields from the live attributes, in the field schema's order, with references
    /// written as names (same project) or `community/project/name`.
    fn fields(&mut self, object: &'a LiveObject, spec: &mut MapBuilder) {
        for field in fields::of(object.kind) {
            let Some(value) = object.attributes.get(field.path) else { continue };
            if field.mode == FieldMode::WriteOnly || value.is_null() {
                continue;
            }
            let value = field.map_references(value, &mut |id| Some(self.reference(object, id)));
            let Some(path) = field.path.strip_prefix("spec.") else { continue };
            let segments: Vec<&str> = path.split('.').collect();
            insert(&mut spec.0, &segments, json_to_yaml(&value));
        }
    }

    /// How `object` names the object with live id `id`.
    fn reference(&mut self, object: &LiveObject, id: &str) -> String {
        let Some(path) = self.tree.paths.get(id) else {
            self.imported.warnings.push(format!(
                "{} refers to `{id}`, which is not in this organization: the id is written as is and the manifests will not validate until it is replaced",
                self.tree.address(object)
            ));
            return id.to_owned();
        };
        if !self.written.contains(id) {
            let target =
                self.tree.by_id.get(id).map_or_else(|| id.to_owned(), |t| self.tree.address(t));
            self.imported.warnings.push(format!(
                "{} refers to {target}, which is not written (another set's, or outside `--community`): the manifests validate only beside a document for it",
                self.tree.address(object)
            ));
        }
        let own_project = self.tree.paths.get(object.parent_id.as_str());
        match path.rsplit_once('/') {
            Some((project, name)) if Some(&project.to_owned()) == own_project => name.to_owned(),
            _ => path.clone(),
        }
    }

    fn members(object: &LiveObject, spec: &mut MapBuilder) {
        if object.members.is_empty() {
            return;
        }
        let mut members: Vec<(&String, &Role)> = object.members.iter().collect();
        members.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let list = members
            .into_iter()
            .map(|(subject, role)| {
                let mut member = MapBuilder::default();
                member.field("subject", Yaml::text(subject));
                member.field("role", Yaml::text(role.as_str()));
                member.build()
            })
            .collect();
        spec.field("members", Yaml::List(list));
    }

    fn community_document(&mut self, community: &'a LiveObject) -> String {
        let mut document = header(Kind::Community);
        document.field("metadata", self.metadata(community));
        let mut spec = MapBuilder::default();
        self.fields(community, &mut spec);
        spec.comment("billingAccount: BILLING-ACCOUNT-ID");
        spec.comment("  write-only: the API never returns a community's billing account; it is sent only when a community is created");
        Self::members(community, &mut spec);
        document.field("spec", spec.build());
        yaml::document(&document.0)
    }

    fn project_document(&mut self, project: &'a LiveObject) -> String {
        let mut document = header(Kind::Project);
        document.field("metadata", self.metadata(project));
        let mut spec = MapBuilder::default();
        self.fields(project, &mut spec);
        if let Some(balance) = project.balance {
            spec.field("balance", Yaml::Int(balance));
        }
        Self::members(project, &mut spec);
        if self.capabilities.uses {
            self.uses(project, &mut spec);
        } else {
            spec.comment(
                "uses: not read: this platform cannot list the shared resources a project uses",
            );
        }
        if !self.capabilities.resources {
            spec.comment("Resources (datasets, secrets, Docker images, S3 connections, checkpoints, nodes, aliases):");
            spec.comment("  not read: this platform cannot list them. Adopt each one with a document that gives");
            spec.comment("  its `metadata.id`, as `spherectl plan` explains.");
        }
        document.field("spec", spec.build());
        yaml::document(&document.0)
    }

    fn uses(&mut self, project: &'a LiveObject, spec: &mut MapBuilder) {
        let mut uses = Vec::new();
        let mut used: Vec<&str> =
            self.tree.uses.get(project.id.as_str()).cloned().unwrap_or_default();
        used.sort_by_key(|id| {
            self.tree.by_id.get(id).map(|o| (o.kind, self.tree.paths.get(o.id.as_str())))
        });
        for id in used {
            let Some(resource) = self.tree.by_id.get(id) else { continue };
            let path = self.tree.paths.get(id).cloned().unwrap_or_else(|| id.to_owned());
            if self.written.contains(id) {
                let mut entry = MapBuilder::default();
                entry.field("kind", Yaml::text(resource.kind.as_str()));
                entry.field("ref", Yaml::text(path));
                uses.push(entry.build());
            } else {
                // Not written (another set's, or outside `--community`): used by its id, which
                // needs no document for it.
                spec.comment(format!(
                    "uses {}/{path} by id: not written, since the resource is another set's or outside `--community`",
                    resource.kind
                ));
                let mut entry = MapBuilder::default();
                entry.field("kind", Yaml::text(resource.kind.as_str()));
                entry.field("id", Yaml::text(id));
                uses.push(entry.build());
            }
        }
        if !uses.is_empty() {
            spec.field("uses", Yaml::List(uses));
        }
    }

    fn resource_document(&mut self, resource: &'a LiveObject) -> String {
        let mut document = header(resource.kind);
        document.field("metadata", self.metadata(resource));
        let mut spec = MapBuilder::default();
        self.fields(resource, &mut spec);
        if resource.kind == Kind::Secret {
            let variable = self.secrets.get(resource.id.as_str()).cloned().unwrap_or_default();
            spec.comment("not read: set this variable to the secret's value before planning");
            let mut value = MapBuilder::default();
            value.field("fromEnv", Yaml::text(variable));
            spec.field("value", value.build());
        }
        if resource.kind.can_activate() {
            spec.field("active", Yaml::Bool(resource.active));
        }
        self.publish(resource, &mut spec);
        document.field("spec", spec.build());
        yaml::document(&document.0)
    }

    fn publish(&mut self, resource: &'a LiveObject, spec: &mut MapBuilder) {
        let mut names = Vec::new();
        let mut ids = Vec::new();
        let tree = self.tree;
        for community in tree.publications.get(resource.id.as_str()).into_iter().flatten() {
            match tree.by_id.get(community) {
                Some(target) if self.written.contains(community) => {
                    names.push(target.name.clone());
                }
                _ => ids.push((*community).to_owned()),
            }
        }
        names.sort();
        ids.sort();
        let mut list: Vec<Yaml> = names.into_iter().map(Yaml::Text).collect();
        for id in ids {
            let mut target = MapBuilder::default();
            target.field("id", Yaml::Text(id));
            list.push(target.build());
        }
        if !list.is_empty() {
            spec.field("publish", Yaml::List(list));
        }
    }
}

/// `apiVersion` and `kind`.
fn header(kind: Kind) -> MapBuilder {
    let mut document = MapBuilder::default();
    document.field("apiVersion", Yaml::text(crate::manifest::raw::API_VERSION));
    document.field("kind", Yaml::text(kind.as_str()));
    document
}

/// Puts `value` at `segments` inside a map, creating the maps on the way.
fn insert(entries: &mut Vec<Entry>, segments: &[&str], value: Yaml) {
    match segments {
        [] => {}
        [last] => entries.push(Entry::Field((*last).to_owned(), value)),
        [first, rest @ ..] => {
            let mut map = MapBuilder(std::mem::take(entries));
            insert(map.child(first), rest, value);
            *entries = map.0;
        }
    }
}

fn json_to_yaml(value: &Value) -> Yaml {
    match value {
        Value::Null => Yaml::text(""),
        Value::Bool(b) => Yaml::Bool(*b),
        Value::Number(n) => n.as_i64().map_or_else(|| Yaml::Text(n.to_string()), Yaml::Int),
        Value::String(s) => Yaml::Text(s.clone()),
        Value::Array(items) => Yaml::List(items.iter().map(json_to_yaml).collect()),
        Value::Object(map) => {
            Yaml::Map(map.iter().map(|(k, v)| Entry::Field(k.clone(), json_to_yaml(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn object(id: &str, kind: Kind, name: &str, parent: &str, set: Option<&str>) -> LiveObject {
        let mut labels = BTreeMap::new();
        if let Some(set) = set {
            labels.insert(rules::LABEL_MANAGED_BY.to_owned(), rules::MANAGED_BY_VALUE.to_owned());
            labels.insert(rules::LABEL_SET.to_owned(), set.to_owned());
        }
        LiveObject {
            id: id.to_owned(),
            kind,
            name: name.to_owned(),
            parent_id: parent.to_owned(),
            labels,
            attributes: BTreeMap::new(),
            members: BTreeMap::new(),
            active: false,
            balance: None,
            secret_digest: None,
            version: 1,
        }
    }

    fn state() -> LiveState {
        LiveState {
            organization_id: "org".into(),
            objects: vec![
                object("c1", Kind::Community, "a", "org", Some("team")),
                object("c2", Kind::Community, "b", "org", Some("team")),
                object("p2", Kind::Project, "p", "c2", Some("team")),
                object("c3", Kind::Community, "c", "org", None),
            ],
            ..LiveState::default()
        }
    }

    #[test]
    fn a_partial_import_warns_about_what_the_set_would_delete() {
        let options = ImportOptions { communities: vec!["a".into()], set: None };
        let imported = import(&state(), Capabilities::FULL, &options).unwrap();
        assert_eq!(imported.set, "team");
        assert_eq!(imported.objects, 1);
        assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
        assert!(
            imported.warnings[0]
                .contains("manages 2 objects outside the imported communities (Community/b, ...)"),
            "{}",
            imported.warnings[0]
        );
        // The whole organization: nothing outside.
        let all = import(&state(), Capabilities::FULL, &ImportOptions::default()).unwrap();
        assert!(all.warnings.is_empty(), "{:?}", all.warnings);
        assert_eq!((all.objects, all.unmanaged), (4, 1));
    }

    #[test]
    fn other_sets_objects_are_skipped_with_their_contents() {
        let options = ImportOptions { communities: Vec::new(), set: Some("mine".into()) };
        let imported = import(&state(), Capabilities::FULL, &options).unwrap();
        assert_eq!(
            imported.skipped,
            [
                ("Community/a".to_owned(), "team".to_owned()),
                ("Community/b".to_owned(), "team".to_owned()),
                ("Project/b/p".to_owned(), "team".to_owned()),
            ]
        );
        let names: Vec<&str> = imported.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["organization.yaml", "c.yaml"]);
        // Several sets and no choice: an error naming them.
        let mut live = state();
        live.objects.push(object("c4", Kind::Community, "d", "org", Some("other")));
        let error = import(&live, Capabilities::FULL, &ImportOptions::default()).unwrap_err();
        assert_eq!(error, ImportError::SeveralSets(vec![("other".into(), 1), ("team".into(), 3)]));
    }
}
