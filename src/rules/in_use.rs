//! The in-use rule: a resource that other projects use is unpublished or deleted only after
//! those uses are gone.

use super::Violation;

/// What would take a used resource away from its users.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal<'a> {
    /// Unpublishing it from a community (its projects lose it).
    Unpublish { community: &'a str },
    /// Deleting it.
    Delete,
    /// Replacing it (a delete, then a create).
    Replace,
}

/// Checks that no project still uses `resource` when it is unpublished, deleted or replaced;
/// `users` are the projects that would keep using it (those whose uses the same plan does not
/// remove first), as messages show them (`spherectl::rules::in_use`).
///
/// ## What it does
/// Refuses to take a shared resource away from the projects that use it: of another manifest
/// set, or made in the console. This set's own uses are removed by the same plan, first.
///
/// ## Why is this bad?
/// The users' notebooks and nodes break, and spherectl never changes another set's objects, so
/// it cannot detach them itself.
///
/// ## Example
/// ```yaml
/// spec: {sizeGb: 5, publish: []}    # was [analytics], where another team's project uses it
/// ```
/// Use instead: have that project drop it from its `spec.uses` (and apply), then unpublish.
///
/// # Errors
/// When some project still uses it: names them and what to do.
pub fn check_in_use(
    resource: &str,
    removal: Removal<'_>,
    users: &[String],
) -> Result<(), Violation> {
    if users.is_empty() {
        return Ok(());
    }
    let what = match removal {
        Removal::Unpublish { community } => format!("unpublish {resource} from `{community}`"),
        Removal::Delete => format!("delete {resource}"),
        Removal::Replace => format!("replace {resource}"),
    };
    Err(Violation::new(format!("cannot {what}: it is used by {}", users.join(", "))).help(
        "a shared resource goes only after every project that uses it has dropped it: remove it \
         from those projects' `spec.uses` first (the same plan does that for this set's \
         projects, ordered first; another set's or an unmanaged project is detached by its \
         owner), or keep it",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_used_resource_is_refused_and_its_users_are_named() {
        assert!(check_in_use("Dataset/a/p/d", Removal::Delete, &[]).is_ok());
        let users = ["Project/b/q".to_owned(), "Project `x`".to_owned()];
        let violation =
            check_in_use("Dataset/a/p/d", Removal::Unpublish { community: "b" }, &users)
                .unwrap_err();
        assert_eq!(
            violation.message,
            "cannot unpublish Dataset/a/p/d from `b`: it is used by Project/b/q, Project `x`"
        );
        assert!(violation.help.unwrap().contains("spec.uses"));
    }
}
