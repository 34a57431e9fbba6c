//! Document-level checks: each document's address (names, parents), the one Organization, what
//! each project holds active at once, and the skeleton object a builder fills.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Checks what each project holds active at once, in the order the documents are read: one
/// Docker image (its environment, [`rules::check_project_environment`]). A live image that the
/// manifests do not declare does not count: activating a declared one switches the environment
/// to it. How many datasets may be active is a quota, which only the platform knows (it may be
/// raised): the planner checks it (`plan/quotas.rs`).
pub(super) fn check_active(cx: &mut Context<'_>, objects: &[Object]) {
    let mut images: HashMap<Address, Vec<&Object>> = HashMap::new();
    for object in objects {
        let Some((true, location)) = object.active else { continue };
        let Some(project) = object.address.parent() else { continue };
        if object.address.kind == Kind::DockerImage {
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
    }
}

/// No document is the Organization: a problem of the whole set, so it names no one file; it says
/// which files were read instead.
pub(super) fn no_organization(sources: &Sources) -> Problem {
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
pub(super) fn intended_address(document: &Document, kind: Kind) -> Option<Address> {
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
pub(super) fn is_under(address: &Address, invalid: &HashSet<Address>) -> bool {
    let mut current = Some(address.clone());
    while let Some(address) = current {
        if invalid.contains(&address) {
            return true;
        }
        current = address.parent();
    }
    false
}

pub(super) fn check_parent_fields(cx: &mut Context<'_>, document: &Document, kind: Kind) {
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
pub(super) fn address_of(cx: &mut Context<'_>, document: &Document, kind: Kind) -> Option<Address> {
    check_parent_fields(cx, document, kind);
    let metadata = &document.raw.metadata;
    let file = document.file;
    let name = &metadata.name;
    let name_check = match kind {
        Kind::Community => rules::check_community_name(&name.value).and_then(|()| {
            // The platform allows it, but an address (`team/project/name`) could not name it.
            if name.value.contains('/') {
                Err(rules::Violation {
                    message: format!("invalid community name `{}`", name.value),
                    help: Some("spherectl addresses projects as `community/project`, so a community it manages cannot have `/` in its name".into()),
                })
            } else {
                Ok(())
            }
        }),
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

pub(super) fn organization_of(cx: &mut Context<'_>, document: &Document) -> Option<Organization> {
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
    let sharing = spec.sharing.as_ref().and_then(|s| s.required_roles.as_ref()).map(|roles| {
        let mut sharing = SharingRoles::default();
        if let Some(project) = &roles.project {
            sharing.project = project.value;
        }
        if let Some(community) = &roles.community {
            sharing.community = community.value;
        }
        sharing
    });
    Some(Organization {
        name: metadata.name.value.clone(),
        id: spec.id.value.clone(),
        sharing,
        location: loc(file, metadata.name.span),
    })
}

pub(super) fn reject_resource_metadata(
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

pub(super) fn check_description(cx: &mut Context<'_>, file: FileId, description: &Spanned<String>) {
    if let Err(violation) = rules::check_description(&description.value) {
        cx.error(
            Problem::error("spherectl::manifest::invalid_description", violation.message)
                .at(loc(file, description.span), "too long"),
        );
    }
}

pub(super) fn empty_object(address: &Address, document: &Document) -> Object {
    Object {
        address: address.clone(),
        name: document.raw.metadata.name.value.clone(),
        location: loc(document.file, document.raw.metadata.name.span),
        labels: None,
        adopt_id: None,
        renamed_from: None,
        prevent_destroy: None,
        fields: Vec::new(),
        members: None,
        publish: Vec::new(),
        uses: Vec::new(),
        external_uses: Vec::new(),
        dependencies: Vec::new(),
        secret: None,
        active: None,
        balance: None,
    }
}
