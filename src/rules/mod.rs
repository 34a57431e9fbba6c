//! The platform's rules, in one place.
//!
//! The same functions serve the manifest validator (which reports a broken rule at its line in the
//! YAML), the planner (which reports it before anything is applied) and the sandbox platform
//! (which rejects a request the real platform would reject, with the platform's reason).
//! Everything here is pure: no I/O, no platform state beyond what the caller passes in.

use std::fmt;

mod in_use;
mod lockout;

pub use in_use::{Removal, check_in_use};
pub use lockout::{AdminChange, Lockout, check_lockout};

pub use crate::manifest::raw::Role;

/// The zone a community gets when the manifest names none.
pub const DEFAULT_ZONE: &str = "ru-central1-a";
/// The label every object created by spherectl carries.
pub const LABEL_MANAGED_BY: &str = "managed-by";
/// Value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "spherectl";
/// The label naming the manifest set (the Organization manifest's name) that owns an object.
pub const LABEL_SET: &str = "spherectl-set";
/// The label that records `metadata.lifecycle.preventDestroy` on the platform, so the protection
/// outlives its document.
pub const LABEL_PROTECT: &str = "spherectl-protect";
/// The labels spherectl sets itself; manifests cannot set them.
pub const RESERVED_LABELS: [&str; 3] = [LABEL_MANAGED_BY, LABEL_SET, LABEL_PROTECT];

/// Whether a label key is set by spherectl itself.
pub fn is_reserved_label(key: &str) -> bool {
    RESERVED_LABELS.contains(&key)
}

/// Whether a live object's labels say it is protected from deletion.
pub fn is_protected(labels: &std::collections::BTreeMap<String, String>) -> bool {
    labels.get(LABEL_PROTECT).is_some_and(|v| v == "true")
}
/// Labels at most per object.
pub const MAX_LABELS: usize = 64;
/// Labels at most that a manifest may give an object: spherectl sets its own beside them.
pub const MAX_USER_LABELS: usize = MAX_LABELS - RESERVED_LABELS.len();
/// Description length limit (characters).
pub const MAX_DESCRIPTION: usize = 256;

/// A broken platform rule: the reason, as the platform (or a reviewer) would state it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub message: String,
    pub help: Option<String>,
}

impl Violation {
    fn new(message: impl Into<String>) -> Self {
        Violation { message: message.into(), help: None }
    }
    fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Checks a project name: `[a-z]([-a-z0-9]{0,61}[a-z0-9])?`.
pub fn check_project_name(name: &str) -> Result<(), Violation> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[bytes.len() - 1] != b'-';
    if ok {
        Ok(())
    } else {
        Err(Violation::new(format!("invalid project name `{name}`")).help(
            "project names are 1-63 characters of lowercase letters, digits and hyphens, \
             start with a letter and do not end with a hyphen",
        ))
    }
}

fn is_community_edge_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '\u{0401}' | '\u{0451}' | '\u{0410}'..='\u{044f}')
}

/// Checks a community name: 3-63 characters, a Latin or Cyrillic letter or digit at both ends,
/// no whitespace.
pub fn check_community_name(name: &str) -> Result<(), Violation> {
    let count = name.chars().count();
    let ok = (3..=63).contains(&count)
        && name.chars().next().is_some_and(is_community_edge_char)
        && name.chars().last().is_some_and(is_community_edge_char)
        && !name.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(Violation::new(format!("invalid community name `{name}`")).help(
            "community names are 3-63 characters without whitespace, with a letter or digit \
             at both ends",
        ))
    }
}

/// Checks the name of a project resource (dataset, secret, image, ...): 1-63 characters of
/// letters, digits, `-` and `_`, starting with a letter and ending with a letter or digit.
pub fn check_resource_name(kind: &str, name: &str) -> Result<(), Violation> {
    let bytes = name.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphabetic()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        && bytes[bytes.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(Violation::new(format!("invalid {kind} name `{name}`")).help(
            "resource names are 1-63 characters of letters, digits, `-` and `_`, start with a \
             letter and end with a letter or digit",
        ))
    }
}

/// Checks a label key: `[a-z][-_0-9a-z]*`, at most 63 characters.
pub fn check_label_key(key: &str) -> Result<(), Violation> {
    let bytes = key.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Violation::new(format!("invalid label key `{key}`")).help(
            "label keys are 1-63 characters of lowercase letters, digits, `-` and `_`, starting \
             with a letter (no `/` or `.`)",
        ))
    }
}

/// Checks a label value: `[-_0-9a-z]*`, at most 63 characters.
pub fn check_label_value(value: &str) -> Result<(), Violation> {
    let ok = value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Violation::new(format!("invalid label value `{value}`")).help(
            "label values are at most 63 characters of lowercase letters, digits, `-` and `_`",
        ))
    }
}

/// Checks a description's length.
pub fn check_description(text: &str) -> Result<(), Violation> {
    let count = text.chars().count();
    if count <= MAX_DESCRIPTION {
        Ok(())
    } else {
        Err(Violation::new(format!(
            "description is {count} characters long, more than the {MAX_DESCRIPTION} allowed"
        )))
    }
}

/// The subject types an access binding may name.
pub const SUBJECT_TYPES: &[&str] =
    &["userAccount", "serviceAccount", "federatedUser", "group", "system"];

/// Checks a subject of the form `TYPE:ID`.
pub fn check_subject(subject: &str) -> Result<(), Violation> {
    match subject.split_once(':') {
        Some((kind, id))
            if SUBJECT_TYPES.contains(&kind)
                && !id.is_empty()
                && id.len() <= 100
                && !id.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(())
        }
        _ => Err(Violation::new(format!("invalid subject `{subject}`")).help(format!(
            "a subject is `TYPE:ID`, without spaces, where TYPE is one of {}",
            SUBJECT_TYPES.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// The platform role id for a community role.
pub fn community_role_id(role: Role) -> String {
    format!("datasphere.communities.{role}")
}

/// The platform role id for a project role.
pub fn project_role_id(role: Role) -> String {
    format!("datasphere.community-projects.{role}")
}

/// Parses a platform role id (`datasphere.communities.admin`, ...) back into a role.
pub fn parse_role_id(role_id: &str) -> Option<Role> {
    let name = role_id
        .strip_prefix("datasphere.communities.")
        .or_else(|| role_id.strip_prefix("datasphere.community-projects."))?;
    Role::parse(name)
}

/// The roles an actor needs to publish a resource into a community.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharingRoles {
    /// Needed on the resource's project.
    pub project: Role,
    /// Needed in the target community.
    pub community: Role,
}

impl Default for SharingRoles {
    /// The seed documents' rule: Admin on the project and Admin in the target community.
    fn default() -> Self {
        SharingRoles { project: Role::Admin, community: Role::Admin }
    }
}

/// What is known about a publication: where the resource lives and where it goes.
#[derive(Clone, Debug)]
pub struct PublishContext<'a> {
    pub resource: &'a str,
    pub resource_kind: &'a str,
    pub resource_organization: &'a str,
    pub resource_zone: &'a str,
    pub target_community: &'a str,
    pub target_organization: &'a str,
    pub target_zone: &'a str,
    /// Checkpoints only: whether it is pinned.
    pub pinned: Option<bool>,
}

/// Checks the platform's rules for publishing a resource into a community, except roles.
pub fn check_publish(context: &PublishContext<'_>) -> Result<(), Violation> {
    if context.resource_organization != context.target_organization {
        return Err(Violation::new(format!(
            "cannot publish `{}` to community `{}`: it belongs to another organization",
            context.resource, context.target_community
        ))
        .help("resources are never shared across organizations"));
    }
    if context.resource_zone != context.target_zone {
        return Err(Violation::new(format!(
            "cannot publish `{}` (zone `{}`) to community `{}` (zone `{}`)",
            context.resource, context.resource_zone, context.target_community, context.target_zone
        ))
        .help("sharing works only between communities in the same availability zone"));
    }
    if context.pinned == Some(false) {
        return Err(Violation::new(format!(
            "cannot publish checkpoint `{}`: only pinned checkpoints can be published",
            context.resource
        ))
        .help("set `spec.pinned: true`"));
    }
    Ok(())
}

/// The reason a publish into a community given by id is refused when the actor cannot see that
/// community: there is no such community, or it is in an organization (this one or another)
/// where the actor holds no role and it holds none on the community. One reason for both, so
/// that neither the plan nor the platform tells whether a community that the actor may not see
/// exists. The planner gives it when the community is in none of the live state it read; the
/// sandbox, when its actor cannot see the community.
pub fn community_not_visible(
    actor: &str,
    resource: &str,
    community_id: &str,
    organization: &str,
) -> Violation {
    Violation::new(format!(
        "cannot publish `{resource}` to community `{community_id}`: it is not a community of organization `{organization}`, or `{actor}` has no access to it"
    ))
    .help("check the id: resources are published only into communities of their own organization, and a community is visible only to subjects with a role in it or in its organization")
}

/// Checks that an actor holds the roles publishing needs.
pub fn check_publish_roles(
    actor: &str,
    resource: &str,
    target_community: &str,
    project_role: Option<Role>,
    community_role: Option<Role>,
    required: SharingRoles,
) -> Result<(), Violation> {
    let show = |role: Option<Role>| role.map_or_else(|| "no role".to_owned(), |r| format!("`{r}`"));
    if project_role < Some(required.project) {
        return Err(Violation::new(format!(
            "`{actor}` cannot publish `{resource}`: it needs `{}` on the resource's project and has {}",
            required.project,
            show(project_role)
        ))
        .help("grant the role in the project's `spec.members` (or its community's)"));
    }
    if community_role < Some(required.community) {
        return Err(Violation::new(format!(
            "`{actor}` cannot publish `{resource}` to `{target_community}`: it needs `{}` in that community and has {}",
            required.community,
            show(community_role)
        ))
        .help("grant the role in the target community's `spec.members`"));
    }
    Ok(())
}

/// Default quotas of a community / organization / project.
pub const QUOTAS: &[(&str, i64, &str)] = &[
    ("projects-per-community", 10, "projects per community"),
    ("communities-per-organization", 100, "communities per organization"),
    ("docker-images-per-community", 3, "Docker images per community"),
    ("datasets-per-community", 10, "datasets per community"),
    ("active-datasets-per-project", 3, "active datasets per project"),
];

/// What a call does, for the roles it needs ([`needed_role`]). Publishing needs the
/// organization's sharing roles ([`check_publish_roles`]) and is not here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    SetSharing,
    Create,
    Update,
    Delete,
    /// Add, change or remove a member.
    Members,
    /// Add a shared resource into a project, or remove it.
    Use,
    /// Activate or deactivate a resource in its project.
    Activate,
    SetBalance,
    /// Remove a resource from a community: the sharing rule's project role on its project (the
    /// role returned here is the default rule's; callers use the organization's).
    Unpublish,
}

/// Where the role an [`Act`] needs is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Organization,
    /// The object's parent (the community of a new project, the project of a resource).
    Parent,
    /// The object itself (the project, for `Use` and `SetBalance`).
    Object,
}

/// The role an act on an object of `kind` needs, where, and how messages describe it. Roles are
/// inherited downwards: organization admin is admin everywhere, a community role holds in its
/// projects, a project role for its resources.
pub fn needed_role(act: Act, kind: crate::manifest::Kind) -> (Scope, Role, &'static str) {
    use crate::manifest::Kind;
    let resource = kind.is_resource();
    match act {
        Act::SetSharing => {
            (Scope::Organization, Role::Admin, "change the organization's sharing rule")
        }
        Act::Create => match kind {
            Kind::Organization | Kind::Community => {
                (Scope::Organization, Role::Editor, "create communities in the organization")
            }
            Kind::Project => (Scope::Parent, Role::Developer, "create projects in the community"),
            _ => (Scope::Parent, Role::Developer, "create resources in the project"),
        },
        Act::Update if resource => (Scope::Object, Role::Developer, "change resources"),
        Act::Update => (Scope::Object, Role::Editor, "change it"),
        Act::Delete if resource => (Scope::Object, Role::Developer, "delete resources"),
        Act::Delete => (Scope::Object, Role::Editor, "delete it"),
        Act::Members => (Scope::Object, Role::Admin, "manage its members"),
        Act::Use => (Scope::Object, Role::Developer, "add or remove shared resources"),
        Act::Activate => (Scope::Parent, Role::Developer, "activate resources in the project"),
        Act::SetBalance => (Scope::Object, Role::Editor, "set the project's balance"),
        Act::Unpublish => {
            (Scope::Parent, SharingRoles::default().project, "unpublish its resources")
        }
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

/// Whether an active resource of this kind must be deactivated before it can be deleted (a
/// mounted dataset or S3 connection; an image is only the project's environment).
pub fn deactivate_before_delete(kind: crate::manifest::Kind) -> bool {
    matches!(kind, crate::manifest::Kind::Dataset | crate::manifest::Kind::S3Connection)
}

/// What the platform knows about an object it is asked to delete.
#[derive(Clone, Debug)]
pub struct DeleteContext<'a> {
    pub kind: crate::manifest::Kind,
    pub name: &'a str,
    /// Projects of a community, resources of a project.
    pub children: i64,
    /// Communities a resource is published to.
    pub publications: i64,
    /// Projects that use a resource.
    pub users: i64,
    pub active: bool,
}

/// The platform's preconditions for a delete: nothing inside, not published, not used by
/// another project, not mounted. The planner orders the changes that meet them.
///
/// # Errors
/// The first precondition that does not hold, with what to do first.
pub fn check_delete(context: &DeleteContext<'_>) -> Result<(), Violation> {
    let DeleteContext { kind, name, children, publications, users, active } = *context;
    let refuse = |message: String| Err(Violation { message, help: None });
    if children > 0 {
        let what = if kind == crate::manifest::Kind::Community { "projects" } else { "resources" };
        return refuse(format!("{kind} `{name}` still holds {children} {what}; delete them first"));
    }
    if publications > 0 {
        return refuse(format!("{kind} `{name}` is published to a community; unpublish it first"));
    }
    if users > 0 {
        return refuse(format!("{kind} `{name}` is used by another project; detach it first"));
    }
    if active && deactivate_before_delete(kind) {
        return refuse(format!("{kind} `{name}` is active; deactivate it first"));
    }
    Ok(())
}

/// Returns the default value of a quota, if the name is known.
pub fn default_quota(name: &str) -> Option<i64> {
    QUOTAS.iter().find(|(n, _, _)| *n == name).map(|(_, v, _)| *v)
}

/// Checks a count against a quota limit (`None` = unlimited).
pub fn check_quota(name: &str, count_after: i64, limit: Option<i64>) -> Result<(), Violation> {
    match limit {
        Some(limit) if count_after > limit => {
            let what = QUOTAS.iter().find(|(n, _, _)| *n == name).map_or(name, |(_, _, w)| *w);
            Err(Violation::new(format!("quota exceeded: at most {limit} {what}"))
                .help(format!("raise it with `spherectl sandbox quota {name}=N` on the sandbox, or ask for a quota increase")))
        }
        _ => Ok(()),
    }
}

/// Checks that a project has at most one Docker image active: `active` lists the project's active
/// images (addresses or names) in the order they are declared.
///
/// An active image is the project's environment, and activating one deactivates the others (as
/// the sandbox does). Two images declared `active: true` in one project would therefore take
/// turns: each apply activates the one that the last apply deactivated, and never converges.
pub fn check_project_environment(project: &str, active: &[&str]) -> Result<(), Violation> {
    match active {
        [first, second, ..] => Err(Violation::new(format!(
            "project `{project}` activates two Docker images, `{first}` and `{second}`"
        ))
        .help(
            "an active image is the project's environment and a project has one: activating \
             an image deactivates the others, so both would flip-flop on every apply; keep \
             `active: true` on one image only",
        )),
        _ => Ok(()),
    }
}

/// What is known about a reference from a project (or a resource in it) to a resource of
/// another project: a `spec.uses` entry, a node's `source` or `env`, an alias's backend, an S3
/// connection's `secretKey`.
#[derive(Clone, Debug)]
pub struct SharedReference<'a> {
    /// The referenced resource, as messages show it.
    pub resource: &'a str,
    /// Its kind (`DockerImage`, ...), for the `uses` entry to suggest.
    pub resource_kind: &'a str,
    /// Its full path, `COMMUNITY/PROJECT/NAME`, for the `uses` entry to suggest.
    pub resource_path: &'a str,
    /// The referring project.
    pub project: &'a str,
    /// The referring project's community.
    pub community: &'a str,
    /// Whether the resource is published to `community`.
    pub published: bool,
    /// Whether `project` uses the resource (always true for a `spec.uses` entry itself).
    pub used: bool,
}

/// Checks that a project may reach a resource of another project: the resource must be published
/// to the project's community and used by the project. References within one project need
/// neither; callers check only references that cross projects.
pub fn check_shared_reference(reference: &SharedReference<'_>) -> Result<(), Violation> {
    let SharedReference { resource, resource_kind, resource_path, project, community, .. } =
        *reference;
    let publish = format!("`publish: [{community}]` to `{resource}`");
    let uses =
        format!("`uses: [{{kind: {resource_kind}, ref: {resource_path}}}]` to project `{project}`");
    let why = "a project reaches a resource of another project only when the resource is \
               published to the project's community and the project lists it in `spec.uses`";
    match (reference.published, reference.used) {
        (true, true) => Ok(()),
        (false, true) => {
            Err(Violation::new(format!("`{resource}` is not published to community `{community}`"))
                .help(format!("{why}: add {publish}")))
        }
        (true, false) => {
            Err(Violation::new(format!("project `{project}` does not use `{resource}`"))
                .help(format!("{why}: add {uses}")))
        }
        (false, false) => Err(Violation::new(format!(
            "`{resource}` is neither published to community `{community}` nor used by project \
             `{project}`"
        ))
        .help(format!("{why}: add {publish}, and {uses}"))),
    }
}

/// Checks one alias backend's weight: a percentage.
pub fn check_alias_weight(weight: i64) -> Result<(), Violation> {
    if (0..=100).contains(&weight) {
        Ok(())
    } else {
        Err(Violation::new(format!("weight {weight} is not a percentage")))
    }
}

/// Returns the sum of an alias's backend weights, or `None` when it overflows.
///
/// Weights come from users: the sum is checked, so that huge weights are an error, never a panic
/// (debug builds) or a sum that wraps around to 100 (release builds).
pub fn alias_weight_total(weights: &[i64]) -> Option<i64> {
    weights.iter().try_fold(0_i64, |sum, weight| sum.checked_add(*weight))
}

/// Checks that an alias has backends and that their weights add up to 100 (see
/// [`alias_weight_total`]).
pub fn check_alias_weights(weights: &[i64]) -> Result<(), Violation> {
    if weights.is_empty() {
        return Err(Violation::new("an alias needs at least one backend"));
    }
    match alias_weight_total(weights) {
        Some(100) => Ok(()),
        Some(total) => {
            Err(Violation::new(format!("alias backend weights sum to {total}, not 100"))
                .help("weights are percentages of traffic: make them add up to 100"))
        }
        None => Err(Violation::new("alias backend weights do not sum to 100: their sum overflows")
            .help("weights are percentages of traffic: make them add up to 100")),
    }
}

/// Returns the name among `candidates` closest to `given`, if one is close enough to be a typo.
pub fn nearest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = edit_distance(&given.to_ascii_lowercase(), &candidate.to_ascii_lowercase());
        let threshold = (candidate.len().max(given.len()) / 3).max(1);
        if distance <= threshold && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current[j + 1] = (previous[j] + cost).min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_follow_the_api_pattern() {
        assert!(check_project_name("fraud-detection").is_ok());
        assert!(check_project_name("a").is_ok());
        for bad in ["", "Fraud", "1abc", "abc-", "a_b", &"a".repeat(64)] {
            assert!(check_project_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn community_names_allow_cyrillic_and_forbid_spaces() {
        assert!(check_community_name("research").is_ok());
        assert!(check_community_name("Команда-1").is_ok());
        for bad in ["ab", "a b c", "-abc", "abc_", &"a".repeat(64)] {
            assert!(check_community_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_forbid_slashes_and_dots() {
        assert!(check_label_key("team").is_ok());
        assert!(check_label_key("app.kubernetes.io/name").is_err());
        assert!(check_label_value("").is_ok());
        assert!(check_label_value("Prod").is_err());
    }

    #[test]
    fn publishing_never_crosses_organizations_or_zones() {
        let mut context = PublishContext {
            resource: "Dataset/a/p/d",
            resource_kind: "Dataset",
            resource_organization: "org1",
            resource_zone: "ru-central1-a",
            target_community: "b",
            target_organization: "org1",
            target_zone: "ru-central1-a",
            pinned: None,
        };
        assert!(check_publish(&context).is_ok());
        context.target_organization = "org2";
        assert!(check_publish(&context).unwrap_err().message.contains("another organization"));
        context.target_organization = "org1";
        context.target_zone = "ru-central1-b";
        assert!(check_publish(&context).unwrap_err().message.contains("zone"));
    }

    #[test]
    fn publish_roles_are_ordered() {
        let required = SharingRoles { project: Role::Editor, community: Role::Developer };
        assert!(
            check_publish_roles("u", "r", "c", Some(Role::Admin), Some(Role::Developer), required)
                .is_ok()
        );
        assert!(
            check_publish_roles("u", "r", "c", Some(Role::Developer), Some(Role::Admin), required)
                .is_err()
        );
        assert!(check_publish_roles("u", "r", "c", Some(Role::Admin), None, required).is_err());
    }

    #[test]
    fn one_environment_per_project() {
        assert!(check_project_environment("r/p", &[]).is_ok());
        assert!(check_project_environment("r/p", &["a"]).is_ok());
        let violation = check_project_environment("r/p", &["a", "b"]).unwrap_err();
        assert!(violation.message.contains("`a` and `b`"), "{violation}");
    }

    #[test]
    fn shared_references_need_publishing_and_use() {
        let mut reference = SharedReference {
            resource: "DockerImage/a/w/env",
            resource_kind: "DockerImage",
            resource_path: "a/w/env",
            project: "r/p",
            community: "r",
            published: true,
            used: true,
        };
        assert!(check_shared_reference(&reference).is_ok());
        reference.used = false;
        let help = check_shared_reference(&reference).unwrap_err().help.unwrap();
        assert!(help.contains("uses: [{kind: DockerImage, ref: a/w/env}]"), "{help}");
        assert!(!help.contains("publish:"), "{help}");
        reference.published = false;
        let help = check_shared_reference(&reference).unwrap_err().help.unwrap();
        assert!(help.contains("publish: [r]") && help.contains("uses:"), "{help}");
    }

    #[test]
    fn alias_weights_never_overflow() {
        assert!(check_alias_weights(&[90, 10]).is_ok());
        assert!(check_alias_weights(&[]).is_err());
        assert!(check_alias_weights(&[80, 10]).unwrap_err().message.contains("sum to 90"));
        assert!(check_alias_weights(&[i64::MAX, 1]).unwrap_err().message.contains("overflows"));
        // Wrapping arithmetic would make this 100.
        assert!(check_alias_weights(&[i64::MAX, i64::MAX, 102]).is_err());
        assert!(check_alias_weights(&[i64::MIN, -1]).is_err());
        assert!(check_alias_weight(101).is_err() && check_alias_weight(-1).is_err());
    }

    #[test]
    fn nearest_finds_typos() {
        assert_eq!(nearest("sizeGB", ["sizeGb", "zone"]), Some("sizeGb"));
        assert_eq!(nearest("descrption", ["description", "members"]), Some("description"));
        assert_eq!(nearest("xyz", ["description"]), None);
    }
}
