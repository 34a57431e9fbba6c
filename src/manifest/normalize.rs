//! Raw documents → validated [`Model`], collecting every problem rather than stopping at the first.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::Path,
};

use serde_json::{Value, json};

use super::{
    model::{
        Address, Dependency, EdgeKind, Field, Kind, Member, Model, Object, Organization,
        Publication, PublishTarget, SecretSource,
    },
    raw::{self, API_VERSION, RawDocument, RawMember, RawMetadata, RawSpec},
    span::{FileId, Location, Sources, Span, Spanned},
};
use crate::{
    diagnostics::Problem,
    fields,
    rules::{self, DEFAULT_ZONE, SharingRoles},
};

/// A raw document and the file it came from.
pub struct Document {
    pub file: FileId,
    pub raw: RawDocument,
}

struct Context<'a> {
    sources: &'a Sources,
    problems: Vec<Problem>,
}

impl Context<'_> {
    fn error(&mut self, problem: Problem) {
        self.problems.push(problem);
    }
}

fn loc(file: FileId, span: Span) -> Location {
    Location { file, span }
}

/// Where an object is declared, before its spec is read.
struct Declared<'a> {
    document: &'a Document,
    address: Address,
}

/// Turns raw documents into the model, or returns every problem found.
pub fn normalize(documents: &[Document], sources: &Sources) -> Result<Model, Vec<Problem>> {
    let mut cx = Context { sources, problems: Vec::new() };

    // Pass 1: kinds, api versions, addresses, the one Organization, duplicate names.
    let mut organizations = Vec::new();
    let mut declared: Vec<Declared<'_>> = Vec::new();
    let mut seen: HashMap<Address, Location> = HashMap::new();
    // Objects whose own name or address is invalid (already reported).
    let mut invalid: HashSet<Address> = HashSet::new();
    for document in documents {
        let raw = &document.raw;
        let file = document.file;
        if raw.api_version.value != API_VERSION {
            cx.error(
                Problem::error(
                    "spherectl::manifest::api_version",
                    format!("unsupported apiVersion `{}`", raw.api_version.value),
                )
                .at(loc(file, raw.api_version.span), "not a version this release reads")
                .help(format!("use `apiVersion: {API_VERSION}`")),
            );
            continue;
        }
        let Some(kind) = Kind::parse(&raw.kind.value) else { continue };
        if kind == Kind::Organization {
            organizations.push(document);
            check_parent_fields(&mut cx, document, kind);
            continue;
        }
        let Some(address) = address_of(&mut cx, document, kind) else {
            // Reported once, here: objects under it or naming it are not reported again.
            invalid.extend(intended_address(document, kind));
            continue;
        };
        let here = loc(file, raw.metadata.name.span);
        if let Some(first) = seen.get(&address) {
            let parent = address.parent().map_or_else(String::new, |p| format!(" in `{p}`"));
            cx.error(
                Problem::error(
                    "spherectl::manifest::duplicate_name",
                    format!("duplicate {kind} `{}`{parent}", address.name()),
                )
                .at(here, "declared again here")
                .at(*first, "first declared here")
                .help("names are unique per kind within their parent; rename one of the two"),
            );
            continue;
        }
        seen.insert(address.clone(), here);
        declared.push(Declared { document, address });
    }

    let organization = match organizations.as_slice() {
        [] => {
            cx.error(no_organization(sources));
            None
        }
        [only] => organization_of(&mut cx, only),
        [first, rest @ ..] => {
            for other in rest {
                cx.error(
                    Problem::error(
                        "spherectl::manifest::multiple_organizations",
                        "more than one `Organization` document",
                    )
                    .at(loc(other.file, other.raw.kind.span), "another Organization here")
                    .at(loc(first.file, first.raw.kind.span), "the first one is here")
                    .help("a manifest set describes exactly one organization"),
                );
            }
            organization_of(&mut cx, first)
        }
    };

    // Community zones are needed to check publications; parents must exist.
    let mut zones: HashMap<String, String> = HashMap::new();
    let mut spec_of: HashMap<&Address, &RawSpec> = HashMap::new();
    for item in &declared {
        if let Some(spec) = &item.document.raw.spec {
            spec_of.insert(&item.address, spec);
        }
        if item.address.kind == Kind::Community {
            let zone = match &item.document.raw.spec {
                Some(RawSpec::Community(spec)) => spec.zone.as_ref().map(|z| z.value.clone()),
                _ => None,
            };
            zones
                .insert(item.address.path.clone(), zone.unwrap_or_else(|| DEFAULT_ZONE.to_owned()));
        }
    }

    // Pass 2: build each object.
    let mut objects = Vec::with_capacity(declared.len());
    for item in &declared {
        if let Some(parent) = item.address.parent()
            && !seen.contains_key(&parent)
        {
            if is_under(&parent, &invalid) {
                continue;
            }
            let raw = &item.document.raw.metadata;
            let span = if parent.kind == Kind::Community { &raw.community } else { &raw.project };
            let span = span.as_ref().map_or(raw.name.span, |s| s.span);
            let hint = rules::nearest(
                &parent.path,
                seen.keys().filter(|a| a.kind == parent.kind).map(|a| a.path.as_str()),
            );
            cx.error(
                Problem::error(
                    "spherectl::manifest::unknown_parent",
                    format!("{} `{}` is not declared in these manifests", parent.kind, parent.path),
                )
                .at(
                    loc(item.document.file, span),
                    format!("no such {}", parent.kind.as_str().to_lowercase()),
                )
                .help(hint.map_or_else(
                    || format!("declare the {} or correct the name", parent.kind),
                    |h| format!("did you mean `{h}`?"),
                )),
            );
            continue;
        }
        let mut builder = Builder {
            cx: &mut cx,
            file: item.document.file,
            address: &item.address,
            seen: &seen,
            invalid: &invalid,
            zones: &zones,
            spec_of: &spec_of,
            object: empty_object(&item.address, item.document),
        };
        builder.build(item.document);
        let object = builder.object;
        objects.push(object);
    }
    check_active(&mut cx, &objects);

    let organization = organization.filter(|_| cx.problems.iter().all(|p| !p.is_error()));
    match organization {
        Some(organization) => {
            objects.sort_by(|a, b| a.address.cmp(&b.address));
            Ok(Model { organization, objects })
        }
        None => Err(cx.problems),
    }
}

/// Checks what each project holds active at once, in the order the documents are read: one
/// Docker image (its environment, [`rules::check_project_environment`]) and at most the default
/// quota of active datasets. A live image that the manifests do not declare does not count:
/// activating a declared one switches the environment to it.
fn check_active(cx: &mut Context<'_>, objects: &[Object]) {
    let mut images: HashMap<Address, Vec<&Object>> = HashMap::new();
    let mut datasets: HashMap<Address, usize> = HashMap::new();
    for object in objects {
        let Some((true, location)) = object.active else { continue };
        let Some(project) = object.address.parent() else { continue };
        match object.address.kind {
            Kind::DockerImage => {
                let active = images.entry(project.clone()).or_default();
                active.push(object);
                let names: Vec<String> = active.iter().map(|o| o.address.to_string()).collect();
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                if let Err(violation) = rules::check_project_environment(&project.path, &names) {
                    let first = active[0].active.map_or(active[0].location, |(_, at)| at);
                    cx.error(
                        Problem::error("spherectl::rules::one_environment", violation.message)
                            .at(location, "a second active image in this project")
                            .at(first, "the project's active image")
                            .maybe_help(violation.help),
                    );
                    active.pop();
                }
            }
            Kind::Dataset => {
                const QUOTA: &str = "active-datasets-per-project";
                let count = datasets.entry(project.clone()).or_default();
                *count += 1;
                let count_after = i64::try_from(*count).unwrap_or(i64::MAX);
                if let Err(violation) =
                    rules::check_quota(QUOTA, count_after, rules::default_quota(QUOTA))
                {
                    cx.error(
                        Problem::error("spherectl::rules::active_datasets", violation.message)
                            .at(location, format!("active dataset number {count} of project `{}`", project.path))
                            .help("a project can have at most this many datasets active at once: set `active: false` on the others"),
                    );
                    *count -= 1;
                }
            }
            _ => {}
        }
    }
}

/// No document is the Organization: a problem of the whole set, so it names no one file; it says
/// which files were read instead.
fn no_organization(sources: &Sources) -> Problem {
    const SHOWN: usize = 5;
    let count = sources.len();
    let names: Vec<String> = (0..count.min(SHOWN))
        .map(|i| format!("`{}`", sources.get(FileId(i as u32)).name))
        .collect();
    let read = match count {
        0 => "no manifest file was read".to_owned(),
        1 => format!("read 1 file: {}", names[0]),
        n if n <= SHOWN => format!("read {n} files: {}", names.join(", ")),
        n => format!("read {n} files: {}, and {} more", names.join(", "), n - SHOWN),
    };
    Problem::error(
        "spherectl::manifest::no_organization",
        format!("no `Organization` document in these manifests ({read})"),
    )
    .help(
        "a manifest set needs exactly one document with `kind: Organization`, `metadata.name` \
         and `spec.id` (the platform's organization id); add it, or include the file that holds \
         it in the paths given",
    )
}

/// The address a document would have if its name and parent were valid.
fn intended_address(document: &Document, kind: Kind) -> Option<Address> {
    let metadata = &document.raw.metadata;
    let name = &metadata.name.value;
    let path = match kind {
        Kind::Organization => return None,
        Kind::Community => name.clone(),
        Kind::Project => format!("{}/{name}", metadata.community.as_ref()?.value),
        _ => format!("{}/{name}", metadata.project.as_ref()?.value),
    };
    Some(Address::new(kind, path))
}

/// Whether an address, or one of its parents, is among `invalid`: a problem about it would
/// only repeat the one already reported about the invalid object.
fn is_under(address: &Address, invalid: &HashSet<Address>) -> bool {
    let mut current = Some(address.clone());
    while let Some(address) = current {
        if invalid.contains(&address) {
            return true;
        }
        current = address.parent();
    }
    false
}

fn check_parent_fields(cx: &mut Context<'_>, document: &Document, kind: Kind) {
    let metadata = &document.raw.metadata;
    let (allowed_community, allowed_project) = match kind {
        Kind::Organization | Kind::Community => (false, false),
        Kind::Project => (true, false),
        _ => (false, true),
    };
    if !allowed_community && let Some(community) = &metadata.community {
        cx.error(
            Problem::error(
                "spherectl::manifest::misplaced_field",
                format!("`metadata.community` does not apply to a {kind}"),
            )
            .at(loc(document.file, community.span), "not allowed here")
            .help(if kind.is_resource() {
                "a resource names its project as `metadata.project: COMMUNITY/PROJECT`"
            } else {
                "remove it"
            }),
        );
    }
    if !allowed_project && let Some(project) = &metadata.project {
        cx.error(
            Problem::error(
                "spherectl::manifest::misplaced_field",
                format!("`metadata.project` does not apply to a {kind}"),
            )
            .at(loc(document.file, project.span), "not allowed here")
            .help(if kind == Kind::Project {
                "a project names its community as `metadata.community`"
            } else {
                "remove it"
            }),
        );
    }
}

/// Computes an object's address from its metadata, checking its name.
fn address_of(cx: &mut Context<'_>, document: &Document, kind: Kind) -> Option<Address> {
    check_parent_fields(cx, document, kind);
    let metadata = &document.raw.metadata;
    let file = document.file;
    let name = &metadata.name;
    let name_check = match kind {
        Kind::Community => rules::check_community_name(&name.value),
        Kind::Project => rules::check_project_name(&name.value),
        _ => rules::check_resource_name(kind.as_str(), &name.value),
    };
    if let Err(violation) = name_check {
        cx.error(
            Problem::error("spherectl::manifest::invalid_name", violation.message)
                .at(loc(file, name.span), "invalid name")
                .maybe_help(violation.help),
        );
        return None;
    }
    match kind {
        Kind::Organization => None,
        Kind::Community => Some(Address::new(kind, name.value.clone())),
        Kind::Project => {
            let Some(community) = &metadata.community else {
                cx.error(
                    Problem::error(
                        "spherectl::manifest::missing_parent",
                        format!("project `{}` names no community", name.value),
                    )
                    .at(loc(file, name.span), "in which community?")
                    .help("add `metadata.community: COMMUNITY-NAME`"),
                );
                return None;
            };
            Some(Address::new(kind, format!("{}/{}", community.value, name.value)))
        }
        _ => {
            let Some(project) = &metadata.project else {
                cx.error(
                    Problem::error(
                        "spherectl::manifest::missing_parent",
                        format!("{kind} `{}` names no project", name.value),
                    )
                    .at(loc(file, name.span), "in which project?")
                    .help("add `metadata.project: COMMUNITY/PROJECT`"),
                );
                return None;
            };
            let parts: Vec<&str> = project.value.split('/').collect();
            if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
                cx.error(
                    Problem::error(
                        "spherectl::manifest::invalid_reference",
                        format!(
                            "`metadata.project` must be `COMMUNITY/PROJECT`, not `{}`",
                            project.value
                        ),
                    )
                    .at(loc(file, project.span), "expected COMMUNITY/PROJECT"),
                );
                return None;
            }
            Some(Address::new(kind, format!("{}/{}", project.value, name.value)))
        }
    }
}

fn organization_of(cx: &mut Context<'_>, document: &Document) -> Option<Organization> {
    let file = document.file;
    let metadata = &document.raw.metadata;
    reject_resource_metadata(cx, file, metadata, Kind::Organization);
    let Some(RawSpec::Organization(spec)) = &document.raw.spec else {
        cx.error(
            Problem::error("spherectl::manifest::missing_field", "missing field `spec`")
                .at(loc(file, document.raw.kind.span), "this Organization has no spec")
                .help("add `spec: {id: ORGANIZATION-ID}`"),
        );
        return None;
    };
    if rules::check_label_key(&metadata.name.value.replace('.', "-")).is_err()
        || rules::check_label_value(&metadata.name.value).is_err()
    {
        cx.error(
            Problem::error(
                "spherectl::manifest::invalid_name",
                format!("invalid organization manifest name `{}`", metadata.name.value),
            )
            .at(loc(file, metadata.name.span), "used as the `spherectl-set` label value")
            .help("the name is stored in a label: use lowercase letters, digits, `-` and `_`"),
        );
    }
    if spec.id.value.trim().is_empty() || spec.id.value.len() > 50 {
        cx.error(
            Problem::error("spherectl::manifest::invalid_id", "invalid organization id")
                .at(loc(file, spec.id.span), "1 to 50 characters"),
        );
    }
    if let Some(description) = &spec.description {
        check_description(cx, file, description);
    }
    let mut sharing = SharingRoles::default();
    if let Some(roles) = spec.sharing.as_ref().and_then(|s| s.required_roles.as_ref()) {
        if let Some(project) = &roles.project {
            sharing.project = project.value;
        }
        if let Some(community) = &roles.community {
            sharing.community = community.value;
        }
    }
    Some(Organization {
        name: metadata.name.value.clone(),
        id: spec.id.value.clone(),
        sharing,
        location: loc(file, metadata.name.span),
    })
}

fn reject_resource_metadata(
    cx: &mut Context<'_>,
    file: FileId,
    metadata: &RawMetadata,
    kind: Kind,
) {
    let fields: [(&str, Option<Span>); 4] = [
        ("id", metadata.id.as_ref().map(|s| s.span)),
        ("dependsOn", metadata.depends_on.as_ref().and_then(|d| d.first()).map(|s| s.span)),
        ("renamedFrom", metadata.renamed_from.as_ref().map(|s| s.span)),
        ("labels", metadata.labels.as_ref().map(|s| s.span)),
    ];
    for (field, span) in fields {
        if let Some(span) = span {
            cx.error(
                Problem::error(
                    "spherectl::manifest::misplaced_field",
                    format!("`metadata.{field}` does not apply to an {kind}"),
                )
                .at(loc(file, span), "not allowed here")
                .help(
                    "the organization exists already: it is referenced by `spec.id`, never managed",
                ),
            );
        }
    }
}

fn check_description(cx: &mut Context<'_>, file: FileId, description: &Spanned<String>) {
    if let Err(violation) = rules::check_description(&description.value) {
        cx.error(
            Problem::error("spherectl::manifest::invalid_description", violation.message)
                .at(loc(file, description.span), "too long"),
        );
    }
}

fn empty_object(address: &Address, document: &Document) -> Object {
    Object {
        address: address.clone(),
        name: document.raw.metadata.name.value.clone(),
        location: loc(document.file, document.raw.metadata.name.span),
        labels: None,
        adopt_id: None,
        renamed_from: None,
        prevent_destroy: false,
        fields: Vec::new(),
        members: None,
        publish: Vec::new(),
        uses: Vec::new(),
        dependencies: Vec::new(),
        secret: None,
        active: None,
        balance: None,
    }
}

struct Builder<'a, 'b> {
    cx: &'a mut Context<'b>,
    file: FileId,
    address: &'a Address,
    seen: &'a HashMap<Address, Location>,
    invalid: &'a HashSet<Address>,
    zones: &'a HashMap<String, String>,
    spec_of: &'a HashMap<&'a Address, &'a RawSpec>,
    object: Object,
}

impl Builder<'_, '_> {
    fn at(&self, span: Span) -> Location {
        loc(self.file, span)
    }

    /// Adds a managed field. How it behaves (mode, references) is the field schema's
    /// (`crate::fields`), never decided here.
    fn push(&mut self, path: &str, value: Value, span: Span) {
        debug_assert!(
            fields::lookup(self.address.kind, path).is_some(),
            "{} {path} is not in the field schema",
            self.address.kind
        );
        self.object.fields.push(Field { path: path.to_owned(), value, location: self.at(span) });
    }

    fn push_text(&mut self, path: &str, value: Option<&Spanned<String>>) {
        if let Some(value) = value {
            self.push(path, Value::String(value.value.clone()), value.span);
        }
    }

    fn push_int(&mut self, path: &str, value: Option<&Spanned<i64>>, range: (i64, i64)) {
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

    fn push_description(&mut self, description: Option<&Spanned<String>>) {
        if let Some(description) = description {
            check_description(self.cx, self.file, description);
        }
        self.push_text("spec.description", description);
    }

    fn depend(&mut self, target: Address, kind: EdgeKind, span: Span) {
        let location = self.at(span);
        self.object.dependencies.push(Dependency { target, kind, location });
    }

    fn build(&mut self, document: &Document) {
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
                Kind::Community | Kind::Project => {}
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

    fn metadata(&mut self, metadata: &RawMetadata) {
        if let Some(labels) = &metadata.labels {
            let mut map = BTreeMap::new();
            if labels.value.len() > rules::MAX_LABELS {
                let problem = Problem::error(
                    "spherectl::manifest::invalid_label",
                    format!(
                        "{} labels, more than the {} allowed",
                        labels.value.len(),
                        rules::MAX_LABELS
                    ),
                )
                .at(self.at(labels.span), "too many labels");
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
            self.object.prevent_destroy =
                lifecycle.prevent_destroy.as_ref().is_some_and(|p| p.value);
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

    fn members(&mut self, members: Option<&Spanned<Vec<Spanned<RawMember>>>>) {
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

    fn community(&mut self, spec: &raw::CommunitySpec) {
        self.push_description(spec.description.as_ref());
        let zone = spec.zone.as_ref();
        match zone {
            Some(zone) => self.push_text("spec.zone", Some(zone)),
            None => {
                let span = self.object.location.span;
                self.push("spec.zone", json!(DEFAULT_ZONE), span);
            }
        }
        self.push_text("spec.billingAccount", spec.billing_account.as_ref());
        self.members(spec.members.as_ref());
    }

    fn project(&mut self, spec: &raw::ProjectSpec) {
        self.push_description(spec.description.as_ref());
        if let Some(settings) = &spec.settings {
            self.push_text("spec.settings.serviceAccount", settings.service_account.as_ref());
            self.push_text("spec.settings.defaultFolder", settings.default_folder.as_ref());
            self.push_text("spec.settings.subnet", settings.subnet.as_ref());
            if let Some(timeout) = &settings.stale_exec_timeout {
                self.push(
                    "spec.settings.staleExecTimeout",
                    json!(timeout.value.as_str()),
                    timeout.span,
                );
            }
            if let Some(groups) = &settings.security_groups {
                let mut sorted = groups.value.clone();
                sorted.sort();
                sorted.dedup();
                self.push("spec.settings.securityGroups", json!(sorted), groups.span);
            }
            self.push_text("spec.settings.dataProcCluster", settings.data_proc_cluster.as_ref());
            if let Some(timeout) = &settings.vm_inactivity_timeout {
                match parse_duration(&timeout.value) {
                    Some(_) => self.push_text("spec.settings.vmInactivityTimeout", Some(timeout)),
                    None => {
                        let problem = Problem::error(
                            "spherectl::manifest::invalid_duration",
                            format!("invalid duration `{}`", timeout.value),
                        )
                        .at(self.at(timeout.span), "not a duration")
                        .help("write a number and a unit: `90s`, `30m`, `2h` or `1h30m`");
                        self.cx.error(problem);
                    }
                }
            }
            self.push_text(
                "spec.settings.defaultDedicatedSpec",
                settings.default_dedicated_spec.as_ref(),
            );
            if let Some(early) = &settings.early_access {
                self.push("spec.settings.earlyAccess", json!(early.value), early.span);
            }
        }
        if let Some(limits) = &spec.limits {
            let range = (0, i64::MAX);
            self.push_int("spec.limits.maxUnitsPerHour", limits.max_units_per_hour.as_ref(), range);
            self.push_int(
                "spec.limits.maxUnitsPerExecution",
                limits.max_units_per_execution.as_ref(),
                range,
            );
        }
        if let Some(balance) = &spec.balance {
            if balance.value < 0 {
                let problem = Problem::error(
                    "spherectl::manifest::out_of_range",
                    "`spec.balance` cannot be negative",
                )
                .at(self.at(balance.span), "negative balance");
                self.cx.error(problem);
            }
            self.object.balance = Some((balance.value, self.at(balance.span)));
        }
        self.members(spec.members.as_ref());
        for (index, entry) in spec.uses.iter().flatten().enumerate() {
            let kind = entry.value.kind.as_ref();
            let kind = self.require(kind, &format!("spec.uses[{index}].kind"), entry.span);
            let reference = entry.value.reference.as_ref();
            let reference = self.require(reference, &format!("spec.uses[{index}].ref"), entry.span);
            if let (Some(kind), Some(reference)) = (kind, reference) {
                self.use_entry(kind, reference);
            }
        }
    }

    fn use_entry(&mut self, kind_name: &Spanned<String>, reference: &Spanned<String>) {
        let Some(kind) = Kind::parse(&kind_name.value).filter(|k| k.is_resource()) else {
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
            return;
        };
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

    /// Resolves a reference by name (same project) or `community/project/name`.
    fn resolve(&mut self, kind: Kind, reference: &Spanned<String>, field: &str) -> Option<Address> {
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
    fn check_shared(&mut self, target: &Address, span: Span, is_use: bool) {
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

    fn reference_field(
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

    fn active(&mut self, active: Option<&Spanned<bool>>) {
        if let Some(active) = active {
            self.object.active = Some((active.value, self.at(active.span)));
        }
    }

    fn publish(&mut self, publish: &raw::RawPublish, pinned: Option<bool>) {
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

    fn dataset(&mut self, spec: &raw::DatasetSpec) {
        self.push_description(spec.description.as_ref());
        self.push_int("spec.sizeGb", Some(&spec.size_gb), (1, 4096));
        self.push_text("spec.initCode", spec.init_code.as_ref());
        self.push_text("spec.zone", spec.zone.as_ref());
        self.push_text("spec.mountPath", spec.mount_path.as_ref());
        self.active(spec.active.as_ref());
        self.publish(&spec.publish, None);
    }

    fn secret(&mut self, spec: &raw::SecretSpec) {
        self.push_description(spec.description.as_ref());
        let location = self.at(spec.value.span);
        match &spec.value.value {
            raw::RawSecretValue::FromEnv(name) => {
                if name.value.is_empty() {
                    let problem = Problem::error(
                        "spherectl::manifest::invalid_secret",
                        "`fromEnv` names no variable",
                    )
                    .at(self.at(name.span), "empty");
                    self.cx.error(problem);
                }
                self.object.secret =
                    Some((SecretSource::Env(name.value.clone()), self.at(name.span)));
            }
            raw::RawSecretValue::FromFile(path) => {
                let base = self
                    .cx
                    .sources
                    .get(self.file)
                    .path
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                self.object.secret =
                    Some((SecretSource::File(base.join(&path.value)), self.at(path.span)));
            }
            raw::RawSecretValue::Plaintext => {
                let problem = Problem::error(
                    "spherectl::manifest::plaintext_secret",
                    "plaintext secret values are not allowed",
                )
                .at(location, "a secret written into the manifest")
                .help("read it at plan time instead: `value: {fromEnv: VARIABLE}` or `value: {fromFile: PATH}`; and rotate this secret, since it was committed");
                self.cx.error(problem);
            }
        }
        self.publish(&spec.publish, None);
    }

    /// Reports a required field that is absent (every one of them, not just the first).
    ///
    /// `path` is the field's path in the document (`spec.members[0].role`); `at` is where the
    /// mapping that lacks it is.
    fn require<'s, T>(&mut self, value: Option<&'s T>, path: &str, at: Span) -> Option<&'s T> {
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

    fn docker_image(&mut self, spec: &raw::DockerImageSpec, spec_key: Span) {
        self.push_description(spec.description.as_ref());
        let repository = self.require(spec.repository.as_ref(), "spec.repository", spec_key);
        let tag = self.require(spec.tag.as_ref(), "spec.tag", spec_key);
        let dockerfile = self.require(spec.dockerfile.as_ref(), "spec.dockerfile", spec_key);
        self.push_text("spec.repository", repository);
        self.push_text("spec.tag", tag);
        self.push_text("spec.dockerfile", dockerfile);
        self.push_text("spec.buildPath", spec.build_path.as_ref());
        self.active(spec.active.as_ref());
        self.publish(&spec.publish, None);
    }

    fn s3_connection(&mut self, spec: &raw::S3ConnectionSpec, spec_key: Span) {
        self.push_description(spec.description.as_ref());
        let endpoint = self.require(spec.endpoint.as_ref(), "spec.endpoint", spec_key);
        let bucket = self.require(spec.bucket.as_ref(), "spec.bucket", spec_key);
        let access_key_id = self.require(spec.access_key_id.as_ref(), "spec.accessKeyId", spec_key);
        let secret_key = self.require(spec.secret_key.as_ref(), "spec.secretKey", spec_key);
        self.push_text("spec.endpoint", endpoint);
        if let Some(bucket) = bucket
            && (bucket.value.contains('.') || bucket.value.is_empty())
        {
            let problem = Problem::error(
                "spherectl::manifest::invalid_bucket",
                format!("invalid bucket name `{}`", bucket.value),
            )
            .at(self.at(bucket.span), "bucket names for S3 connections contain no dots")
            .help("DataSphere mounts only buckets whose names have no `.`");
            self.cx.error(problem);
        }
        self.push_text("spec.bucket", bucket);
        self.push_text("spec.mountName", spec.mount_name.as_ref());
        self.push_text("spec.accessKeyId", access_key_id);
        if let Some(secret_key) = secret_key {
            self.reference_field("spec.secretKey.secret", Kind::Secret, &secret_key.secret);
        }
        if let Some(mode) = &spec.mode {
            self.push("spec.mode", json!(mode.value.as_str()), mode.span);
        }
        self.active(spec.active.as_ref());
        self.publish(&spec.publish, None);
    }

    fn checkpoint(&mut self, spec: &raw::CheckpointSpec) {
        self.push_description(spec.description.as_ref());
        let pinned = spec.pinned.as_ref().is_some_and(|p| p.value);
        if let Some(p) = &spec.pinned {
            self.push("spec.pinned", json!(p.value), p.span);
        }
        self.publish(&spec.publish, Some(pinned));
    }

    fn node(&mut self, spec: &raw::NodeSpec) {
        self.push_description(spec.description.as_ref());
        let source = &spec.source;
        match (&source.value.docker_image, &source.value.checkpoint) {
            (Some(image), None) => {
                self.reference_field("spec.source.dockerImage", Kind::DockerImage, image);
            }
            (None, Some(checkpoint)) => {
                if let Some(target) =
                    self.reference_field("spec.source.checkpoint", Kind::Checkpoint, checkpoint)
                    && let Some(RawSpec::Checkpoint(target_spec)) = self.spec_of.get(&target)
                    && !target_spec.pinned.as_ref().is_some_and(|p| p.value)
                {
                    let problem = Problem::error(
                        "spherectl::rules::unpinned_checkpoint",
                        format!("node source `{target}` is not pinned"),
                    )
                    .at(self.at(checkpoint.span), "an unpinned checkpoint")
                    .help("only pinned checkpoints can be deployed as nodes: set `spec.pinned: true` on the checkpoint");
                    self.cx.error(problem);
                }
            }
            (image, _) => {
                let label = if image.is_some() {
                    "two sources: keep one"
                } else {
                    "no source: add `dockerImage` or `checkpoint`"
                };
                let problem = Problem::error(
                    "spherectl::manifest::node_source",
                    "a node's `source` needs exactly one of `dockerImage` and `checkpoint`",
                )
                .at(self.at(source.span), label);
                self.cx.error(problem);
            }
        }
        self.push_text("spec.instanceType", spec.instance_type.as_ref());
        let instances = spec.instances.as_ref().and_then(|instances| {
            let at = instances.span;
            let min = self.require(instances.value.min.as_ref(), "spec.instances.min", at);
            let min = min.map(Spanned::to_i64);
            let max = self.require(instances.value.max.as_ref(), "spec.instances.max", at);
            let max = max.map(Spanned::to_i64);
            Some((instances, min?, max?))
        });
        if let Some((instances, min, max)) = instances {
            if min.value < 0 || max.value < 1 || min.value > max.value {
                let problem = Problem::error(
                    "spherectl::manifest::out_of_range",
                    format!("invalid instance range {}..{}", min.value, max.value),
                )
                .at(
                    self.at(instances.span),
                    "min must be at least 0 and at most max; max at least 1",
                );
                self.cx.error(problem);
            }
            self.push("spec.instances.min", json!(min.value), min.span);
            self.push("spec.instances.max", json!(max.value), max.span);
        }
        self.push_text("spec.zone", spec.zone.as_ref());
        self.push_text("spec.subnet", spec.subnet.as_ref());
        self.push_text("spec.folder", spec.folder.as_ref());
        if let Some(acl) = &spec.acl {
            self.push("spec.acl", json!(acl.value), acl.span);
        }
        if let Some(env) = &spec.env {
            let mut targets = Vec::new();
            for name in env {
                if let Some(target) = self.resolve(Kind::Secret, name, "spec.env") {
                    self.check_shared(&target, name.span, false);
                    self.depend(target.clone(), EdgeKind::Reference, name.span);
                    targets.push(Value::String(target.to_string()));
                }
            }
            let span = env.first().map_or(self.object.location.span, |e| e.span);
            self.object.fields.push(Field {
                path: "spec.env".to_owned(),
                value: Value::Array(targets),
                location: self.at(span),
            });
        }
        if let Some(endpoint) = &spec.endpoint {
            let at = endpoint.span;
            let protocol = self.require(endpoint.value.protocol.as_ref(), "spec.endpoint.type", at);
            let port = self.require(endpoint.value.port.as_ref(), "spec.endpoint.port", at);
            let port = port.map(Spanned::to_i64);
            if let Some(protocol) = protocol {
                self.push("spec.endpoint.type", json!(protocol.value.as_str()), protocol.span);
            }
            self.push_int("spec.endpoint.port", port.as_ref(), (1, 65535));
        }
        if let Some(check) = &spec.health_check {
            if let Some(protocol) = &check.protocol {
                self.push("spec.healthCheck.type", json!(protocol.value.as_str()), protocol.span);
            }
            self.push_text("spec.healthCheck.path", check.path.as_ref());
            self.push_int("spec.healthCheck.port", check.port.as_ref(), (1, 65535));
            self.push_int("spec.healthCheck.timeout", check.timeout.as_ref(), (1, 3600));
            self.push_int("spec.healthCheck.interval", check.interval.as_ref(), (1, 3600));
            self.push_int(
                "spec.healthCheck.failsThreshold",
                check.fails_threshold.as_ref(),
                (1, 100),
            );
            self.push_int(
                "spec.healthCheck.passesThreshold",
                check.passes_threshold.as_ref(),
                (1, 100),
            );
        }
        self.publish(&spec.publish, None);
    }

    fn alias(&mut self, spec: &raw::AliasSpec) {
        self.push_description(spec.description.as_ref());
        let backends = &spec.backends;
        let mut values = Vec::new();
        let mut weights: Vec<i64> = Vec::new();
        let mut complete = true;
        for (index, backend) in backends.value.iter().enumerate() {
            let at = backend.span;
            let node = backend.value.node.as_ref();
            let node = self.require(node, &format!("spec.backends[{index}].node"), at);
            let weight = backend.value.weight.as_ref();
            let weight = self.require(weight, &format!("spec.backends[{index}].weight"), at);
            let weight = weight.map(Spanned::to_i64);
            let (Some(node), Some(weight)) = (node, weight) else {
                complete = false;
                continue;
            };
            weights.push(weight.value);
            if let Err(violation) = rules::check_alias_weight(weight.value) {
                let problem =
                    Problem::error("spherectl::manifest::alias_weights", violation.message)
                        .at(self.at(weight.span), "expected 0 to 100");
                self.cx.error(problem);
            }
            if let Some(target) = self.resolve(Kind::Node, node, "spec.backends") {
                self.check_shared(&target, node.span, false);
                self.depend(target.clone(), EdgeKind::Reference, node.span);
                values.push(json!({"node": target.to_string(), "weight": weight.value}));
            }
        }
        // A backend with a missing field is reported on its own; a sum over the rest would not
        // be the sum the user wrote.
        if complete && let Err(violation) = rules::check_alias_weights(&weights) {
            let label = if weights.is_empty() {
                "no backends".to_owned()
            } else {
                let terms: Vec<String> = weights.iter().map(i64::to_string).collect();
                match rules::alias_weight_total(&weights) {
                    Some(total) => format!("{} = {total}", terms.join(" + ")),
                    None => format!("{} overflows", terms.join(" + ")),
                }
            };
            let problem = Problem::error("spherectl::manifest::alias_weights", violation.message)
                .at(self.at(backends.span), label)
                .maybe_help(violation.help);
            self.cx.error(problem);
        }
        self.object.fields.push(Field {
            path: "spec.backends".to_owned(),
            value: Value::Array(values),
            location: self.at(backends.span),
        });
        self.push_text("spec.folder", spec.folder.as_ref());
        if let Some(acl) = &spec.acl {
            self.push("spec.acl", json!(acl.value), acl.span);
        }
        self.publish(&spec.publish, None);
    }
}

fn publish_of(spec: &RawSpec) -> &raw::RawPublish {
    const NONE: &raw::RawPublish = &None;
    match spec {
        RawSpec::Dataset(s) => &s.publish,
        RawSpec::Secret(s) => &s.publish,
        RawSpec::DockerImage(s) => &s.publish,
        RawSpec::S3Connection(s) => &s.publish,
        RawSpec::Checkpoint(s) => &s.publish,
        RawSpec::Node(s) => &s.publish,
        RawSpec::Alias(s) => &s.publish,
        RawSpec::Organization(_) | RawSpec::Community(_) | RawSpec::Project(_) => NONE,
    }
}

/// Parses a duration such as `90s`, `30m`, `2h`, `1h30m` into seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut any = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
        } else {
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                _ => return None,
            };
            let value: u64 = number.parse().ok()?;
            total = total.checked_add(value.checked_mul(unit)?)?;
            number.clear();
            any = true;
        }
    }
    (number.is_empty() && any).then_some(total)
}
