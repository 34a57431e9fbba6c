//! Who may read what on `spherectl serve`, as on the real platform: a subject with any role on
//! the organization reads all of it; anyone else reads the communities and projects they hold a
//! role in (a community role counts for its projects) and what is inside them. Writes are
//! checked by the sandbox itself.
//!
//! An object the caller cannot see is answered as one that does not exist: 404 `NOT_FOUND`
//! with one message ([`not_visible`]), for reads and for writes that name it, and a list under a
//! community or project the caller cannot see is empty, as under one that does not exist. The
//! single-object checks use the sandbox's `locate_visible`, the lists [`Readable`]: the two
//! apply the same rule.

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

/// The 403 of a read of an organization the subject holds no role on (every organization id
/// answers it alike: the sandbox creates an organization the first time its id is used).
pub(crate) fn denied(subject: &str, kind: Kind, id: &str) -> Reply {
    let what = kind.as_str().to_lowercase();
    Reply::error(&PlatformError::new(
        ErrorKind::PermissionDenied,
        format!(
            "permission denied: `{subject}` needs `viewer` on {what} `{id}` to read it and has no role"
        ),
    ))
}

/// The answer about an object that does not exist **or** that the subject cannot see: one 404
/// (`NOT_FOUND`) with one message for both, so that no answer tells a caller whether an id it
/// may not see exists. `kinds` are the kinds the request names (by its path or its body).
pub(crate) fn not_visible(subject: &str, kinds: &[Kind], id: &str, unchecked: bool) -> Reply {
    let what = kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(" or ");
    let message = if unchecked {
        format!("{what} `{id}` not found")
    } else {
        format!(
            "{what} `{id}` not found, or `{subject}` holds no role that lets it see it (`viewer` or more on it, its community or its organization)"
        )
    };
    Reply::error(&PlatformError::new(ErrorKind::NotFound, message))
}
