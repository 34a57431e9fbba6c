//! The planner: desired model + live state → the changes that make the platform match.
//!
//! Pure: no I/O. Objects are matched by address (or `metadata.id`, or `metadata.renamedFrom`);
//! fields are compared by their manifest paths; ownership labels decide what may be pruned.
//! Every change carries the operation that applies it and the keys of the changes it must
//! follow, so the applier can walk the plan as a DAG.

pub mod render;
pub mod saved;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    diagnostics::{Problem, Severity},
    manifest::{
        Address, Kind, Loaded, Object,
        model::{EdgeKind, FieldMode, PublishTarget},
        span::{Location, Sources},
    },
    platform::{LiveObject, LiveState, SecretValue},
    rules::{self, Role, SharingRoles},
};

/// The plan JSON format version.
pub const FORMAT_VERSION: u32 = 1;

/// What a change does.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
    Publish,
    Unpublish,
    Use,
    Unuse,
    AddMember,
    RemoveMember,
    Activate,
    Deactivate,
    SetBalance,
}

impl Action {
    pub const ALL: [Action; 13] = [
        Action::Create,
        Action::Update,
        Action::Replace,
        Action::Delete,
        Action::Publish,
        Action::Unpublish,
        Action::Use,
        Action::Unuse,
        Action::AddMember,
        Action::RemoveMember,
        Action::Activate,
        Action::Deactivate,
        Action::SetBalance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::Publish => "publish",
            Action::Unpublish => "unpublish",
            Action::Use => "use",
            Action::Unuse => "unuse",
            Action::AddMember => "add-member",
            Action::RemoveMember => "remove-member",
            Action::Activate => "activate",
            Action::Deactivate => "deactivate",
            Action::SetBalance => "set-balance",
        }
    }

    /// Whether the action removes something.
    pub fn is_destructive(self) -> bool {
        matches!(
            self,
            Action::Delete
                | Action::Replace
                | Action::Unpublish
                | Action::Unuse
                | Action::RemoveMember
        )
    }
}

/// One field's change.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FieldChange {
    pub path: String,
    pub before: Value,
    pub after: Value,
    pub sensitive: bool,
}

/// Where in the manifests a change comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SourceRef {
    pub file: String,
    pub line: u32,
}

/// A reference to an object that may not exist yet: resolved to an id when applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Id(String),
    Address(Address),
}

/// What the applier does for a change.
#[derive(Clone, Debug)]
pub enum Operation {
    SetSharing {
        organization_id: String,
        sharing: SharingRoles,
    },
    Create {
        kind: Kind,
        parent: Target,
        name: String,
        labels: BTreeMap<String, String>,
        /// `None`: the change's own (non-sensitive) fields are the attributes, as for a plain
        /// create, whose fields list every attribute; holding them twice would double a large
        /// plan's memory.
        attributes: Option<BTreeMap<String, Value>>,
        secret: Option<Address>,
    },
    Update {
        kind: Kind,
        id: String,
        name: Option<String>,
        labels: Option<BTreeMap<String, String>>,
        set: BTreeMap<String, Value>,
        secret: Option<Address>,
    },
    /// Unpublish and detach the old object, delete it, create the new one.
    Replace {
        old_id: String,
        /// The old object is active and must be deactivated before it can be deleted.
        deactivate: bool,
        publications: Vec<String>,
        uses: Vec<String>,
        create: Box<Operation>,
    },
    Delete {
        kind: Kind,
        id: String,
    },
    AddMember {
        kind: Kind,
        object: Target,
        subject: String,
        role: Role,
    },
    RemoveMember {
        kind: Kind,
        id: String,
        subject: String,
    },
    Publish {
        kind: Kind,
        resource: Target,
        community: Target,
    },
    Unpublish {
        kind: Kind,
        resource_id: String,
        community_id: String,
    },
    Use {
        project: Target,
        kind: Kind,
        resource: Target,
    },
    Unuse {
        project_id: String,
        kind: Kind,
        resource_id: String,
    },
    SetActive {
        kind: Kind,
        resource: Target,
        active: bool,
    },
    SetBalance {
        project: Target,
        balance: i64,
    },
}

/// One planned change.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Unique within the plan: the object's address, with `#what` for sub-changes
    /// (`Dataset/r/p/d#publish:analytics`).
    pub address: String,
    pub kind: Kind,
    pub action: Action,
    pub fields: Vec<FieldChange>,
    pub depends_on: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
    /// The object the change is about.
    #[serde(skip)]
    pub object: Address,
    #[serde(skip)]
    pub operation: Operation,
}

/// A policy finding.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub message: String,
    #[serde(skip)]
    pub problem: Problem,
}

/// The plan.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub format_version: u32,
    pub platform: String,
    pub organization: String,
    pub summary: BTreeMap<&'static str, usize>,
    pub changes: Vec<Change>,
    pub findings: Vec<Finding>,
    /// Live objects under the organization that no manifest of this set manages.
    pub unmanaged: Vec<String>,
    /// Platform ids of the live objects the plan matched, by address (for the applier).
    #[serde(skip)]
    pub known_ids: HashMap<Address, String>,
    /// Versions of the live objects the plan saw (to refuse a stale saved plan).
    #[serde(skip)]
    pub versions: BTreeMap<String, i64>,
}

impl Plan {
    /// Whether the plan changes anything.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// Whether a finding denies the plan.
    pub fn is_denied(&self) -> bool {
        self.findings.iter().any(|f| f.problem.is_error())
    }
}

/// Secret values read for this plan, by secret address; never serialized.
pub type SecretValues = HashMap<Address, SecretValue>;

/// What the planner needs besides the model and the live state.
pub struct PlanInput<'a> {
    pub loaded: &'a Loaded,
    pub live: &'a LiveState,
    pub secrets: &'a SecretValues,
    /// Digest a secret value the way the platform does.
    pub digest: &'a dyn Fn(&SecretValue) -> Option<String>,
    pub actor: &'a str,
    pub platform: String,
}

struct Planner<'a> {
    input: &'a PlanInput<'a>,
    sources: &'a Sources,
    set_name: &'a str,
    organization_id: &'a str,
    /// Live objects by id.
    by_id: HashMap<&'a str, &'a LiveObject>,
    /// The address each live object is known under (its desired address when matched).
    resolved: HashMap<&'a str, Address>,
    /// Desired address → matched live object.
    matched: HashMap<Address, &'a LiveObject>,
    matched_ids: HashSet<&'a str>,
    replaced: HashSet<Address>,
    created: HashSet<Address>,
    changes: Vec<Change>,
    findings: Vec<Finding>,
    /// Resource id → ids of the communities it is published to.
    publications_of: HashMap<&'a str, Vec<&'a str>>,
    /// Project id → ids of the resources it uses.
    uses_of: HashMap<&'a str, Vec<&'a str>>,
    /// Resource id → ids of the projects that use it.
    users_of: HashMap<&'a str, Vec<&'a str>>,
    /// Parent id → live children.
    children_of: HashMap<&'a str, Vec<&'a LiveObject>>,
}

fn source_of(sources: &Sources, location: Location) -> SourceRef {
    let (file, line) = sources.file_line(location);
    SourceRef { file, line }
}

/// Plans the changes that make the live state match the model.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let model = &input.loaded.model;
    let mut planner = Planner {
        input,
        sources: &input.loaded.sources,
        set_name: &model.organization.name,
        organization_id: &model.organization.id,
        by_id: input.live.objects.iter().map(|o| (o.id.as_str(), o)).collect(),
        resolved: HashMap::new(),
        matched: HashMap::new(),
        matched_ids: HashSet::new(),
        replaced: HashSet::new(),
        created: HashSet::new(),
        changes: Vec::new(),
        findings: Vec::new(),
        publications_of: HashMap::new(),
        uses_of: HashMap::new(),
        users_of: HashMap::new(),
        children_of: HashMap::new(),
    };
    for (resource, community) in &input.live.publications {
        planner.publications_of.entry(resource).or_default().push(community);
    }
    for (project, resource) in &input.live.uses {
        planner.uses_of.entry(project).or_default().push(resource);
        planner.users_of.entry(resource).or_default().push(project);
    }
    for object in &input.live.objects {
        planner.children_of.entry(&object.parent_id).or_default().push(object);
    }
    planner.organization();
    planner.match_objects();
    for object in &model.objects {
        planner.object(object);
    }
    planner.prune();
    planner.check_publish_roles();
    planner.link();
    let mut unmanaged: Vec<String> = input
        .live
        .objects
        .iter()
        .filter(|o| !planner.matched_ids.contains(o.id.as_str()) && !planner.is_ours(o))
        .map(|o| {
            planner
                .resolved
                .get(o.id.as_str())
                .map_or_else(|| format!("{}/{}", o.kind, o.id), ToString::to_string)
        })
        .collect();
    unmanaged.sort();
    let known_ids: HashMap<Address, String> =
        planner.matched.iter().map(|(a, l)| (a.clone(), l.id.clone())).collect();
    let versions = input.live.objects.iter().map(|o| (o.id.clone(), o.version)).collect();
    let changes = order(planner.changes);
    let mut summary: BTreeMap<&'static str, usize> =
        Action::ALL.iter().map(|a| (a.as_str(), 0)).collect();
    for change in &changes {
        *summary.entry(change.action.as_str()).or_default() += 1;
    }
    let mut findings = planner.findings;
    findings.sort_by(|a, b| {
        (a.severity, &a.address, &a.message).cmp(&(b.severity, &b.address, &b.message))
    });
    Plan {
        format_version: FORMAT_VERSION,
        platform: input.platform.clone(),
        organization: model.organization.name.clone(),
        summary,
        changes,
        findings,
        unmanaged,
        known_ids,
        versions,
    }
}

/// Sorts changes topologically (dependencies first), ties broken by address.
fn order(mut changes: Vec<Change>) -> Vec<Change> {
    let sequence = sequence(&changes);
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
    changes
}

/// The topological order of `changes` (indices), ties broken by address.
fn sequence(changes: &[Change]) -> Vec<usize> {
    let index: HashMap<&str, usize> =
        changes.iter().enumerate().map(|(i, c)| (c.address.as_str(), i)).collect();
    let mut indegree = vec![0_usize; changes.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); changes.len()];
    for (i, change) in changes.iter().enumerate() {
        for dependency in &change.depends_on {
            if let Some(&j) = index.get(dependency.as_str()) {
                indegree[i] += 1;
                dependents[j].push(i);
            }
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<(&str, usize)>> = indegree
        .iter()
        .enumerate()
        .filter(|(_, d)| **d == 0)
        .map(|(i, _)| std::cmp::Reverse((changes[i].address.as_str(), i)))
        .collect();
    let mut sequence = Vec::with_capacity(changes.len());
    while let Some(std::cmp::Reverse((_, i))) = ready.pop() {
        sequence.push(i);
        for &next in &dependents[i] {
            indegree[next] -= 1;
            if indegree[next] == 0 {
                ready.push(std::cmp::Reverse((changes[next].address.as_str(), next)));
            }
        }
    }
    // A cycle among changes cannot arise from an acyclic manifest graph; keep any leftovers.
    let placed: HashSet<usize> = sequence.iter().copied().collect();
    sequence.extend((0..changes.len()).filter(|i| !placed.contains(i)));
    sequence
}

impl<'a> Planner<'a> {
    fn is_ours(&self, object: &LiveObject) -> bool {
        object.labels.get(rules::LABEL_MANAGED_BY).map(String::as_str)
            == Some(rules::MANAGED_BY_VALUE)
            && object.labels.get(rules::LABEL_SET).map(String::as_str) == Some(self.set_name)
    }

    fn finding(&mut self, problem: Problem, address: Option<&Address>) {
        self.findings.push(Finding {
            rule: problem.code,
            severity: problem.severity.as_str(),
            address: address.map(ToString::to_string),
            message: problem.message.clone(),
            problem,
        });
    }

    fn push(
        &mut self,
        object: &Address,
        suffix: Option<String>,
        action: Action,
        fields: Vec<FieldChange>,
        location: Option<Location>,
        operation: Operation,
    ) {
        let address = match suffix {
            Some(suffix) => format!("{object}#{suffix}"),
            None => object.to_string(),
        };
        self.changes.push(Change {
            address,
            kind: object.kind,
            action,
            fields,
            depends_on: Vec::new(),
            source: location.map(|l| source_of(self.sources, l)),
            object: object.clone(),
            operation,
        });
    }

    fn organization(&mut self) {
        let organization = &self.input.loaded.model.organization;
        let live = self.input.live.sharing;
        if live != organization.sharing {
            let address = Address::new(Kind::Organization, organization.name.clone());
            let mut fields = Vec::new();
            if live.project != organization.sharing.project {
                fields.push(FieldChange {
                    path: "spec.sharing.requiredRoles.project".into(),
                    before: json!(live.project.as_str()),
                    after: json!(organization.sharing.project.as_str()),
                    sensitive: false,
                });
            }
            if live.community != organization.sharing.community {
                fields.push(FieldChange {
                    path: "spec.sharing.requiredRoles.community".into(),
                    before: json!(live.community.as_str()),
                    after: json!(organization.sharing.community.as_str()),
                    sensitive: false,
                });
            }
            let operation = Operation::SetSharing {
                organization_id: organization.id.clone(),
                sharing: organization.sharing,
            };
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

    /// Matches desired objects to live ones, kind by kind, so that a renamed parent's children
    /// are found under the parent's new name.
    fn match_objects(&mut self) {
        let model = &self.input.loaded.model;
        let live = &self.input.live;
        for kind in Kind::ALL.into_iter().skip(1) {
            let mut natural: HashMap<Address, &'a LiveObject> = HashMap::new();
            for object in live.objects.iter().filter(|o| o.kind == kind) {
                let path = if kind == Kind::Community {
                    if object.parent_id != self.organization_id {
                        continue;
                    }
                    object.name.clone()
                } else {
                    match self.resolved.get(object.parent_id.as_str()) {
                        Some(parent) => format!("{}/{}", parent.path, object.name),
                        None => continue,
                    }
                };
                let address = Address::new(kind, path);
                self.resolved.insert(&object.id, address.clone());
                natural.insert(address, object);
            }
            for object in model.objects.iter().filter(|o| o.address.kind == kind) {
                let found = if let Some(id) = &object.adopt_id {
                    match self.by_id.get(id.as_str()) {
                        Some(live) if live.kind == kind => Some(*live),
                        Some(live) => {
                            let problem = Problem::error(
                                "spherectl::plan::adopt_kind",
                                format!("`metadata.id` `{id}` is a {}, not a {kind}", live.kind),
                            )
                            .at(object.location, "adopting the wrong kind of object");
                            self.finding(problem, Some(&object.address));
                            None
                        }
                        None => {
                            let problem = Problem::error(
                                "spherectl::plan::adopt_missing",
                                format!("no {kind} with id `{id}` exists on the platform"),
                            )
                            .at(object.location, "nothing to adopt")
                            .help("check the id, or remove `metadata.id` to create the object");
                            self.finding(problem, Some(&object.address));
                            None
                        }
                    }
                } else {
                    natural.get(&object.address).copied().or_else(|| {
                        let old = object.renamed_from.as_ref()?;
                        let parent = object
                            .address
                            .parent()
                            .map(|p| format!("{}/", p.path))
                            .unwrap_or_default();
                        natural.get(&Address::new(kind, format!("{parent}{old}"))).copied()
                    })
                };
                let Some(found) = found else { continue };
                if object.adopt_id.is_none() && !self.is_ours(found) {
                    let owner = found.labels.get(rules::LABEL_SET).filter(|_| {
                        found.labels.get(rules::LABEL_MANAGED_BY).map(String::as_str)
                            == Some(rules::MANAGED_BY_VALUE)
                    });
                    let message = match owner {
                        Some(owner) => format!(
                            "{} already exists and belongs to the manifest set `{owner}`",
                            object.address
                        ),
                        None => format!(
                            "{} already exists and is not managed by spherectl",
                            object.address
                        ),
                    };
                    let problem = Problem::error("spherectl::plan::not_owned", message)
                        .at(object.location, "exists already")
                        .help(format!(
                            "to manage the existing object, adopt it: `metadata.id: {}`",
                            found.id
                        ));
                    self.finding(problem, Some(&object.address));
                    self.matched_ids.insert(&found.id);
                    continue;
                }
                self.resolved.insert(&found.id, object.address.clone());
                self.matched.insert(object.address.clone(), found);
                self.matched_ids.insert(&found.id);
            }
        }
    }

    /// The address a live id is known under, for reference translation.
    fn translate_ids(&self, value: &Value) -> Value {
        match value {
            Value::String(id) => self
                .resolved
                .get(id.as_str())
                .map_or_else(|| value.clone(), |a| Value::String(a.to_string())),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.translate_ids(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        (k.clone(), if k == "node" { self.translate_ids(v) } else { v.clone() })
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn references_replaced(&self, value: &Value) -> bool {
        match value {
            Value::String(text) => Address::parse(text).is_some_and(|a| self.replaced.contains(&a)),
            Value::Array(items) => items.iter().any(|v| self.references_replaced(v)),
            Value::Object(map) => map.get("node").is_some_and(|v| self.references_replaced(v)),
            _ => false,
        }
    }

    fn desired_labels(
        &self,
        object: &Object,
        live: Option<&LiveObject>,
    ) -> BTreeMap<String, String> {
        let mut labels = match (&object.labels, live) {
            (Some(labels), _) => labels.clone(),
            (None, Some(live)) => live.labels.clone(),
            (None, None) => BTreeMap::new(),
        };
        labels.insert(rules::LABEL_MANAGED_BY.into(), rules::MANAGED_BY_VALUE.into());
        labels.insert(rules::LABEL_SET.into(), self.set_name.to_owned());
        labels
    }

    fn parent_target(&self, object: &Object) -> Target {
        match object.address.parent() {
            Some(parent) => match self.matched.get(&parent) {
                Some(live) if !self.replaced.contains(&parent) => Target::Id(live.id.clone()),
                _ => Target::Address(parent),
            },
            None => Target::Id(self.organization_id.to_owned()),
        }
    }

    fn target(&self, address: &Address) -> Target {
        match self.matched.get(address) {
            Some(live) if !self.replaced.contains(address) => Target::Id(live.id.clone()),
            _ => Target::Address(address.clone()),
        }
    }

    fn secret_changed(&mut self, object: &Object, live: Option<&LiveObject>) -> Option<bool> {
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

    fn object(&mut self, object: &Object) {
        let live = self.matched.get(&object.address).copied();
        let mut fields = Vec::new();
        let mut replace_because: Option<String> = None;
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
                if object.secret.is_some() {
                    fields.push(FieldChange {
                        path: "spec.value".into(),
                        before: Value::Null,
                        after: json!("(sensitive)"),
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
                    if field.mode == FieldMode::WriteOnly {
                        continue;
                    }
                    let before = live.attributes.get(&field.path).map_or(Value::Null, |v| {
                        if field.reference { self.translate_ids(v) } else { v.clone() }
                    });
                    let changed = before != field.value
                        || (field.reference && self.references_replaced(&field.value));
                    if changed {
                        if field.mode == FieldMode::Immutable && replace_because.is_none() {
                            replace_because = Some(field.path.clone());
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
                        before: json!("(sensitive)"),
                        after: json!("(sensitive)"),
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
        match (live, replace_because) {
            (None, _) => {
                let create = create(false);
                self.created.insert(object.address.clone());
                self.push(&object.address, None, Action::Create, fields, location, create);
            }
            (Some(live), Some(reason)) => {
                let create = create(true);
                if object.prevent_destroy {
                    let problem = Problem::error("spherectl::plan::prevent_destroy", format!("{} must be replaced, but `preventDestroy` is set", object.address))
                        .at(object.location, format!("`{reason}` cannot change in place"))
                        .help("revert the change, or remove `metadata.lifecycle.preventDestroy` to allow the replacement");
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
                    deactivate: live.active
                        && matches!(object.address.kind, Kind::Dataset | Kind::S3Connection),
                    publications,
                    uses,
                    create: Box::new(create),
                };
                self.push(&object.address, None, Action::Replace, fields, location, operation);
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
        self.uses(object, live);
    }

    fn members(&mut self, object: &Object, live: Option<&LiveObject>) {
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

    fn activation(&mut self, object: &Object, live: Option<&LiveObject>) {
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

    fn balance(&mut self, object: &Object, live: Option<&LiveObject>) {
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
    fn community_target(
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
                if let Some(community) =
                    self.by_id.get(id.as_str()).filter(|o| o.kind == Kind::Community)
                {
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
                    let zone = community
                        .attributes
                        .get("spec.zone")
                        .and_then(Value::as_str)
                        .unwrap_or(rules::DEFAULT_ZONE);
                    if zone != home_zone {
                        let problem = Problem::error("spherectl::rules::publish_zone", format!("cannot publish {} (zone `{home_zone}`) to community `{}` (zone `{zone}`)", object.address, community.name))
                            .at(location, "another zone")
                            .help("sharing works only between communities in the same availability zone");
                        self.finding(problem, Some(&object.address));
                        return None;
                    }
                    let name = self
                        .resolved
                        .get(id.as_str())
                        .map_or_else(|| community.name.clone(), |a| a.path.clone());
                    return Some((Target::Id(id.clone()), name));
                }
                let problem = if let Some((_, organization, _)) =
                    self.input.live.foreign_communities.iter().find(|(c, _, _)| c == id)
                {
                    Problem::error("spherectl::rules::cross_organization", format!("cannot publish {} to community `{id}`: it belongs to organization `{organization}`", object.address))
                        .at(location, "a community of another organization")
                        .help("resources are never shared across organizations")
                } else {
                    Problem::error("spherectl::plan::unknown_community", format!("no community with id `{id}` exists in organization `{}`", self.organization_id))
                        .at(location, "unknown community id")
                        .help("check the id; communities managed in these manifests are named, not given by id")
                };
                self.finding(problem, Some(&object.address));
                None
            }
        }
    }

    fn publications(&mut self, object: &Object, live: Option<&LiveObject>) {
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

    fn community_name(&self, community_id: &str) -> String {
        self.resolved.get(community_id).map_or_else(|| community_id.to_owned(), |a| a.path.clone())
    }

    fn unpublish(
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

    fn uses(&mut self, object: &Object, live: Option<&LiveObject>) {
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

    fn unuse(
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

    /// Deletes this set's live objects that are gone from the manifests.
    fn prune(&mut self) {
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
        for object in &doomed {
            let address = self.resolved[object.id.as_str()].clone();
            let communities =
                self.publications_of.get(object.id.as_str()).cloned().unwrap_or_default();
            // Unpublished even from a community that is deleted too: the resource goes first.
            for community in communities {
                self.unpublish(&address, object.kind, &object.id, community, None);
            }
            let users = self.users_of.get(object.id.as_str()).cloned().unwrap_or_default();
            // Users that are matched detach in their own `uses`; deleted ones below.
            for project in users {
                if !doomed_ids.contains(project) && !self.matched_ids.contains(project) {
                    let project_address = self
                        .resolved
                        .get(project)
                        .cloned()
                        .unwrap_or_else(|| Address::new(Kind::Project, project));
                    self.unuse(&project_address, project.to_owned(), &object.id, None);
                }
            }
            // A deleted project detaches what it uses first, so those resources can be unpublished.
            if object.kind == Kind::Project {
                let used = self.uses_of.get(object.id.as_str()).cloned().unwrap_or_default();
                for resource in used {
                    self.unuse(&address, object.id.clone(), resource, None);
                }
            }
            if object.active && matches!(object.kind, Kind::Dataset | Kind::S3Connection) {
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
                let what = if object.kind == Kind::Community { "projects" } else { "resources" };
                let problem = Problem::warning(
                    "spherectl::plan::destructive_delete",
                    format!("deleting {address} also deletes the {} {what} it holds", held.len()),
                );
                self.finding(problem, Some(&address));
            }
            let fields = vec![FieldChange {
                path: "metadata.name".into(),
                before: json!(object.name),
                after: Value::Null,
                sensitive: false,
            }];
            self.push(
                &address,
                None,
                Action::Delete,
                fields,
                None,
                Operation::Delete { kind: object.kind, id: object.id.clone() },
            );
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

    /// The actor's role on a community or project in the planned end state.
    fn end_role(&self, address: &Address) -> Option<Role> {
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
    fn check_publish_roles(&mut self) {
        if self.input.live.organization_members.get(self.input.actor) == Some(&Role::Admin) {
            return;
        }
        let required = self.input.loaded.model.organization.sharing;
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

    /// Computes each change's dependencies.
    fn link(&mut self) {
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
        let deleted: HashMap<&str, &Address> = self
            .changes
            .iter()
            .filter_map(|c| match &c.operation {
                Operation::Delete { id, .. } => Some((id.as_str(), &c.object)),
                _ => None,
            })
            .collect();
        let mut unuses_of: HashMap<&str, Vec<&str>> = HashMap::new();
        for other in &self.changes {
            if let Operation::Unuse { resource_id, project_id, .. } = &other.operation {
                unuses_of.entry(resource_id.as_str()).or_default().push(other.address.as_str());
                unuses_of.entry(project_id.as_str()).or_default().push(other.address.as_str());
            }
        }
        // Live objects that reference each deleted id (only computed when something is deleted).
        let mut referrers: HashMap<&str, Vec<&LiveObject>> = HashMap::new();
        if !deleted.is_empty() {
            for live in &self.input.live.objects {
                let mut ids = Vec::new();
                for value in live.attributes.values() {
                    collect_strings(value, &mut ids);
                }
                for id in ids {
                    if let Some((key, _)) = deleted.get_key_value(id.as_str())
                        && *key != live.id.as_str()
                    {
                        referrers.entry(key).or_default().push(live);
                    }
                }
            }
        }
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
                        }
                    }
                    if change.kind != Kind::Organization {
                        let organization =
                            Address::new(Kind::Organization, model.organization.name.clone());
                        depends.extend(object_change(&organization));
                    }
                    // An update that drops a reference to a deleted object comes before that delete (below).
                }
                Action::AddMember | Action::Activate | Action::Deactivate | Action::SetBalance => {
                    depends.extend(object_change(&change.object));
                }
                Action::Publish => {
                    depends.extend(object_change(&change.object));
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
                            if *action == Action::AddMember {
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
                    // Detach every user of the resource first.
                    if let Operation::Unpublish { resource_id, .. } = &change.operation {
                        for key in unuses_of.get(resource_id.as_str()).into_iter().flatten() {
                            depends.insert((*key).to_owned());
                        }
                    }
                }
                Action::Unuse | Action::RemoveMember => {}
                Action::Delete => {
                    if let Operation::Delete { id, .. } = &change.operation {
                        for (key, action) in by_object.get(&change.object).into_iter().flatten() {
                            if matches!(action, Action::Unpublish | Action::Deactivate) {
                                depends.insert(key.clone());
                            }
                        }
                        for key in unuses_of.get(id.as_str()).into_iter().flatten() {
                            depends.insert((*key).to_owned());
                        }
                        // Children go first; so do the changes of objects that reference this one.
                        for child in self.children_of.get(id.as_str()).into_iter().flatten() {
                            if let Some(address) = deleted.get(child.id.as_str()) {
                                depends.insert(address.to_string());
                            }
                        }
                        for live in referrers.get(id.as_str()).into_iter().flatten() {
                            if let Some(address) = deleted.get(live.id.as_str()) {
                                depends.insert(address.to_string());
                            } else if let Some(address) = self.resolved.get(live.id.as_str()) {
                                depends.extend(object_change(address));
                            }
                        }
                    }
                }
            }
            depends.remove(&change.address);
            links.push(depends.into_iter().filter(|k| keys.contains(k)).collect());
        }
        for (change, depends) in self.changes.iter_mut().zip(links) {
            change.depends_on = depends;
        }
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}
