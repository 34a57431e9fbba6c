//! The planner: desired model + live state → the changes that make the platform match.
//!
//! Pure: no I/O. Objects are matched by address (or `metadata.id`, or `metadata.renamedFrom`);
//! fields are compared by their manifest paths; ownership labels decide what may be pruned.
//! Every change carries the operation that applies it and the keys of the changes it must
//! follow, so the applier can walk the plan as a DAG.

pub mod capabilities;
mod diff;
pub mod doc;
pub mod drift;
pub mod markdown;
mod matching;
pub mod mermaid;
pub mod order;
mod prune;
pub use prune::{DeclaredProtection, declared_protections, refuse_declared_protections};
mod quotas;
pub use quotas::recheck_quotas;
mod relations;
pub mod render;
mod roles;
pub mod saved;
pub mod target;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    diagnostics::{Problem, Severity},
    fields,
    manifest::{
        Address, Kind, Loaded, Object,
        model::{EdgeKind, ExternalUse, FieldMode, PublishTarget},
        span::{FileId, Location, Sources},
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
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct FieldChange {
    pub path: String,
    pub before: Value,
    pub after: Value,
    pub sensitive: bool,
}

/// Where in the manifests a change comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
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
    /// A replace: the fields that force it (Terraform's "forces replacement").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replace_paths: Vec<String>,
    /// A replace or delete that destroys the data the object holds (a dataset's contents).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub destroys_data: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
    /// The object the change is about.
    #[serde(skip)]
    pub object: Address,
    #[serde(skip)]
    pub operation: Operation,
}

/// A policy finding: a built-in rule's or an organization policy's.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Finding {
    pub rule: &'static str,
    /// `deny` (the plan is refused), `warn` (shown) or `info`.
    #[schemars(regex(pattern = "^(deny|warn|info)$"))]
    pub severity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Where in the manifests the finding points.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
    #[serde(skip)]
    pub problem: Problem,
}

impl Finding {
    /// Returns the finding of a problem about `address`; its source is the problem's primary
    /// label when `sources` are given.
    pub fn new(problem: Problem, address: Option<String>, sources: Option<&Sources>) -> Self {
        Finding {
            rule: problem.code,
            severity: severity_word(problem.severity),
            address,
            message: problem.message.clone(),
            help: problem.help.clone(),
            source: sources.zip(problem.location()).map(|(s, l)| source_of(s, l)),
            problem,
        }
    }
}

/// The plan JSON's word for a severity (DESIGN §6): `deny` fails the plan, `warn` is shown.
pub fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "deny",
        Severity::Warning => "warn",
        Severity::Advice => "info",
    }
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

    /// Whether the plan changes something the platform lets it verify: writes it cannot read
    /// back (publish, use and activate on the public API, marked `spherectl::plan::unverified`)
    /// are applied on every run and are not drift.
    pub fn has_verified_changes(&self) -> bool {
        let unverified: HashSet<&str> = self
            .findings
            .iter()
            .filter(|f| f.rule == "spherectl::plan::unverified")
            .filter_map(|f| f.address.as_deref())
            .collect();
        self.changes.iter().any(|c| !unverified.contains(c.address.as_str()))
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
    /// `--allow-delete`: the user means the deletions (of most of the set, or of a community or
    /// project with contents); without it such a plan stops.
    pub allow_delete: bool,
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
    /// Old address → new address of live objects renamed by `metadata.renamedFrom`.
    renamed_away: HashMap<Address, Address>,
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
    /// Live id → the live objects that reference it (built on first use: most plans replace
    /// nothing).
    referrers: Option<HashMap<String, Vec<&'a LiveObject>>>,
    /// Address → the id of the live object known there (built on first use, after matching).
    known_at: std::cell::OnceCell<HashMap<Address, &'a str>>,
}

fn source_of(sources: &Sources, location: Location) -> SourceRef {
    let (file, line) = sources.file_line(location);
    SourceRef { file, line }
}

impl<'a> Planner<'a> {
    /// A planner with the live relations indexed, before anything is matched or planned.
    fn new(input: &'a PlanInput<'a>) -> Planner<'a> {
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
            renamed_away: HashMap::new(),
            changes: Vec::new(),
            findings: Vec::new(),
            publications_of: HashMap::new(),
            uses_of: HashMap::new(),
            users_of: HashMap::new(),
            children_of: HashMap::new(),
            referrers: None,
            known_at: std::cell::OnceCell::new(),
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
        planner
    }
}

/// The order findings are shown in: errors first, then by address and message.
fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (a.problem.severity, &a.address, &a.message).cmp(&(
            b.problem.severity,
            &b.address,
            &b.message,
        ))
    });
}

/// Plans the changes that make the live state match the model.
pub fn plan(input: &PlanInput<'_>) -> Plan {
    let model = &input.loaded.model;
    let mut planner = Planner::new(input);
    planner.organization();
    planner.match_objects();
    for object in &model.objects {
        planner.object(object);
    }
    // Uses after every object: a use of a resource this plan replaces is planned again, so one
    // apply re-attaches it.
    for object in &model.objects {
        let live = planner.matched.get(&object.address).copied();
        planner.uses(object, live);
    }
    planner.prune();
    planner.check_mass_delete();
    planner.check_quotas();
    planner.check_permissions();
    planner.check_publish_roles();
    let created: HashSet<Address> = planner.created.union(&planner.replaced).cloned().collect();
    let builtin = crate::policy::builtin::Input {
        model,
        live: input.live,
        actor: input.actor,
        matched: &planner.matched,
        created: &created,
    };
    for (problem, address) in crate::policy::builtin::check(&builtin) {
        planner.finding(problem, Some(&address));
    }
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
    let (changes, stuck) = order::order(planner.changes);
    if !stuck.is_empty() {
        let shown: Vec<&str> = stuck.iter().take(10).map(String::as_str).collect();
        let problem = Problem::error(
            "spherectl::plan::change_cycle",
            format!(
                "these changes wait for each other and cannot be ordered: {}",
                shown.join(", ")
            ),
        )
        .help("this is a bug in spherectl's planner; please report it with the manifests");
        planner.findings.push(Finding::new(problem, None, None));
    }
    let mut summary: BTreeMap<&'static str, usize> =
        Action::ALL.iter().map(|a| (a.as_str(), 0)).collect();
    for change in &changes {
        *summary.entry(change.action.as_str()).or_default() += 1;
    }
    let mut findings = planner.findings;
    sort_findings(&mut findings);
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

impl<'a> Planner<'a> {
    fn is_ours(&self, object: &LiveObject) -> bool {
        object.labels.get(rules::LABEL_MANAGED_BY).map(String::as_str)
            == Some(rules::MANAGED_BY_VALUE)
            && object.labels.get(rules::LABEL_SET).map(String::as_str) == Some(self.set_name)
    }

    /// Whether a live object is this set's: labelled with its set, or declared here.
    fn is_this_sets(&self, id: &str) -> bool {
        self.matched_ids.contains(id) || self.by_id.get(id).is_some_and(|o| self.is_ours(o))
    }

    /// How a live object is named in messages: its address when known, else kind and id.
    fn name_of(&self, id: &str) -> String {
        match (self.resolved.get(id), self.by_id.get(id)) {
            (Some(address), _) => address.to_string(),
            (None, Some(object)) => format!("{} `{id}`", object.kind),
            (None, None) => format!("`{id}`"),
        }
    }

    /// The referrer index (built on its first use, once per plan), taken out of the planner so
    /// that its user may call `&mut self` methods; the caller puts it back in `self.referrers`.
    fn take_referrers(&mut self) -> HashMap<String, Vec<&'a LiveObject>> {
        self.referrers.take().unwrap_or_else(|| prune::referrers_of(self.input.live))
    }

    /// The live objects that reference live object `id` and are not this set's.
    fn foreign_referrers(&mut self, id: &str) -> Vec<String> {
        let referrers = self.take_referrers();
        let found = referrers.get(id).map(Vec::as_slice).unwrap_or_default();
        let foreign = found
            .iter()
            .filter(|r| !self.is_this_sets(&r.id))
            .map(|r| self.name_of(&r.id))
            .collect();
        self.referrers = Some(referrers);
        foreign
    }

    /// A resource unpublished, deleted or replaced while projects that this plan does not
    /// detach still use it: the plan stops ([`rules::check_in_use`]).
    fn in_use_problem(
        &mut self,
        address: &Address,
        removal: rules::Removal<'_>,
        users: &[String],
        location: Option<Location>,
    ) {
        if let Err(violation) = rules::check_in_use(&address.to_string(), removal, users) {
            let mut problem = Problem::error("spherectl::rules::in_use", violation.message)
                .maybe_help(violation.help);
            if let Some(location) = location {
                problem = problem.at(location, "still used by other projects");
            }
            self.finding(problem, Some(address));
        }
    }

    /// A change that would touch other sets' objects: the plan stops (DESIGN §3).
    fn foreign_problem(
        &mut self,
        address: &Address,
        relation: &str,
        foreign: &[String],
        location: Option<Location>,
    ) {
        let mut problem = Problem::error(
            "spherectl::plan::foreign_objects",
            format!(
                "{address} {relation} {}, which this manifest set does not manage",
                foreign.join(", ")
            ),
        )
        .help("spherectl never changes other sets' objects: have their owners detach them first, or keep this object");
        if let Some(location) = location {
            problem = problem.at(location, "would change objects of another set");
        }
        self.finding(problem, Some(address));
    }

    fn finding(&mut self, problem: Problem, address: Option<&Address>) {
        let finding = Finding::new(problem, address.map(ToString::to_string), Some(self.sources));
        self.findings.push(finding);
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
            replace_paths: Vec::new(),
            destroys_data: false,
            source: location.map(|l| source_of(self.sources, l)),
            object: object.clone(),
            operation,
        });
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
        // Only an explicit `preventDestroy: false` lifts a recorded protection.
        let recorded = live.and_then(|l| l.labels.get(rules::LABEL_PROTECT)).cloned();
        match (object.prevent_destroy, recorded) {
            (Some(true), _) => {
                labels.insert(rules::LABEL_PROTECT.into(), "true".into());
            }
            (None, Some(value)) => {
                labels.insert(rules::LABEL_PROTECT.into(), value);
            }
            (Some(false), _) | (None, None) => {
                labels.remove(rules::LABEL_PROTECT);
            }
        }
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
}
