//! The lockout rule: a plan must not take away the acting subject's own admin role on a
//! community or project that the set still manages, nor leave one without any admin.

use super::{Role, Violation};

/// What a plan does to the admins of one community or project.
#[derive(Clone, Debug)]
pub struct AdminChange<'a> {
    /// The object, as messages show it (`Community/research`).
    pub object: &'a str,
    /// The acting subject.
    pub actor: &'a str,
    /// Whether the actor is an admin of the organization (who may always recover access).
    pub organization_admin: bool,
    /// The actor's effective role on the object before the plan (a project counts its
    /// community's role).
    pub actor_before: Option<Role>,
    /// The same after the plan.
    pub actor_after: Option<Role>,
    /// Whether the object is created by this plan (the platform makes its creator an admin).
    pub created: bool,
    /// Admins of the object before and after the plan (a project counts its community's).
    pub admins_before: usize,
    pub admins_after: usize,
}

/// A broken lockout rule and whether it denies the plan (an organization admin gets a warning
/// where anyone else is denied: it can always grant itself access again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lockout {
    pub violation: Violation,
    pub deny: bool,
}

/// Checks that the plan leaves the actor an admin of an object it was an admin of, and leaves
/// the object with an admin (`spherectl::rules::lockout`).
///
/// ## What it does
/// Compares the admins of a community or project before and after a plan: the actor's own
/// effective role (a project counts its community's), and whether anyone is left as admin.
///
/// ## Why is this bad?
/// The actor's own removals run last, but once applied nobody in the pipeline can manage the
/// object or undo the change; a community without admins needs an organization admin to recover.
///
/// ## Example
/// ```yaml
/// members: [{subject: "userAccount:grace", role: admin}]   # run as userAccount:alice
/// ```
/// Use instead:
/// ```yaml
/// members: [{subject: "userAccount:grace", role: admin}, {subject: "userAccount:alice", role: admin}]
/// ```
///
/// Returns every way the change locks someone out (empty when it does not).
pub fn check_lockout(change: &AdminChange<'_>) -> Vec<Lockout> {
    let mut found = Vec::new();
    let AdminChange { object, actor, organization_admin, actor_before, actor_after, .. } = *change;
    let show = |role: Option<Role>| role.map_or_else(|| "no role".to_owned(), |r| format!("`{r}`"));
    if !organization_admin && actor_before == Some(Role::Admin) && actor_after < Some(Role::Admin) {
        let message = if change.created {
            format!(
                "creating {object} makes `{actor}` its admin, and its `spec.members` leaves \
                 `{actor}` {}: the next plan would take the actor's own admin role away",
                show(actor_after)
            )
        } else {
            format!(
                "this plan takes `{actor}`'s own admin role on {object} away (it would have {}), \
                 and this set still manages {object}",
                show(actor_after)
            )
        };
        found.push(Lockout {
            violation: Violation::new(message).help(format!(
                "the acting subject would lose the right to manage {object} half-way: keep \
                 `{{subject: \"{actor}\", role: admin}}` in its `spec.members`, or run the \
                 change as an organization admin"
            )),
            deny: true,
        });
    }
    if change.admins_before > 0 && change.admins_after == 0 {
        found.push(Lockout {
            violation: Violation::new(format!("this plan leaves {object} without any admin")).help(
                format!(
                    "nobody but an organization admin could manage {object} or its members \
                     afterwards: keep at least one member with `role: admin`"
                ),
            ),
            deny: !organization_admin,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change() -> AdminChange<'static> {
        AdminChange {
            object: "Community/research",
            actor: "userAccount:alice",
            organization_admin: false,
            actor_before: Some(Role::Admin),
            actor_after: Some(Role::Admin),
            created: false,
            admins_before: 1,
            admins_after: 1,
        }
    }

    #[test]
    fn keeping_the_role_passes() {
        assert!(check_lockout(&change()).is_empty());
    }

    #[test]
    fn a_downgrade_of_the_actor_is_denied_unless_it_is_an_organization_admin() {
        let mut downgrade = change();
        downgrade.actor_after = Some(Role::Editor);
        let found = check_lockout(&downgrade);
        assert_eq!(found.len(), 1);
        assert!(found[0].deny && found[0].violation.message.contains("`editor`"), "{found:?}");
        downgrade.organization_admin = true;
        assert!(check_lockout(&downgrade).is_empty());
    }

    #[test]
    fn the_last_admin_gone_is_denied_and_only_a_warning_for_an_organization_admin() {
        let mut none = change();
        none.actor_before = None;
        none.actor_after = None;
        none.admins_after = 0;
        assert!(check_lockout(&none)[0].deny);
        none.organization_admin = true;
        let found = check_lockout(&none);
        assert!(!found[0].deny && found[0].violation.message.contains("without any admin"));
        // An object that never had an admin is not made worse.
        none.admins_before = 0;
        assert!(check_lockout(&none).is_empty());
    }
}
