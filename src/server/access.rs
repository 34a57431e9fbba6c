//! Who may read what on `spherectl serve`, as on the real platform: a subject with any role on
//! the organization reads all of it; anyone else reads the communities and projects they hold a
//! role in (a community role counts for its projects) and what is inside them. Writes are
//! checked by the sandbox itself.

use std::collections::HashSet;

use crate::{
    manifest::Kind,
    platform::{ErrorKind, LiveObject, LiveState, PlatformError},
};

use super::Reply;

/// The objects of one organization that one subject may read.
pub(crate) struct Readable {
    /// A member of the organization (any role on it), or `serve --unchecked-reads`.
    all: bool,
    /// Communities and projects the subject holds a role in, and the projects of those
    /// communities.
    scopes: HashSet<String>,
}

impl Readable {
    pub(crate) fn new(state: &LiveState, subject: &str, unchecked: bool) -> Readable {
        let all = unchecked || state.organization_members.contains_key(subject);
        let mut scopes = HashSet::new();
        if !all {
            let holds = |o: &LiveObject| o.members.contains_key(subject);
            for object in state.objects.iter().filter(|o| o.kind == Kind::Community) {
                if holds(object) {
                    scopes.insert(object.id.clone());
                }
            }
            let projects: Vec<String> = state
                .objects
                .iter()
                .filter(|o| o.kind == Kind::Project)
                .filter(|o| holds(o) || scopes.contains(&o.parent_id))
                .map(|o| o.id.clone())
                .collect();
            scopes.extend(projects);
        }
        Readable { all, scopes }
    }

    /// Whether the subject is a member of the organization (or reads are unchecked).
    pub(crate) fn organization(&self) -> bool {
        self.all
    }

    /// Whether the subject holds a role anywhere in the organization (it may then take the
    /// organization's apply lease).
    pub(crate) fn any(&self) -> bool {
        self.all || !self.scopes.is_empty()
    }

    /// A community, a project, or a resource (by its project).
    pub(crate) fn object(&self, object: &LiveObject) -> bool {
        self.all
            || if object.kind.is_resource() {
                self.scopes.contains(&object.parent_id)
            } else {
                self.scopes.contains(&object.id)
            }
    }

    /// A community or project by id.
    pub(crate) fn scope(&self, id: &str) -> bool {
        self.all || self.scopes.contains(id)
    }
}

/// The 403 of a read: names the subject, the role needed and the object.
pub(crate) fn denied(subject: &str, kind: Kind, id: &str) -> Reply {
    let what = kind.as_str().to_lowercase();
    Reply::error(&PlatformError::new(
        ErrorKind::PermissionDenied,
        format!(
            "permission denied: `{subject}` needs `viewer` on {what} `{id}` to read it and has no role"
        ),
    ))
}
