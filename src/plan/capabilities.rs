//! Planning within what the platform can read and write ([`Capabilities`], issue 8).
//!
//! On the public DataSphere API, project resources cannot be listed, created or read back, and
//! publications, uses and activation cannot be read. The planner then works like this:
//! - a resource with `metadata.id` is **adopted**: [`complete_live`] puts it in the live state as
//!   the manifest declares it (its fields cannot be read, so they are not diffed), inactive and
//!   unpublished, so that its activation, publishing and uses are planned;
//! - those writes cannot be verified: [`annotate`] marks each with a warning finding
//!   (`spherectl::plan::unverified`); they are idempotent on the platform, so applying them
//!   again is harmless, and they are planned again on every run;
//! - a resource without `metadata.id` is a plan error that says why (`cannot_create`);
//! - [`unverifiable_note`] lists what `plan` and `drift` could not check, instead of calling it
//!   clean.
//!
//! Everything here is a no-op on a platform with [`Capabilities::FULL`] (the sandbox, `serve`).

use std::collections::BTreeMap;

use super::{Action, Finding, Plan};
use crate::{
    diagnostics::Problem,
    fields,
    manifest::{Address, Loaded, model::FieldMode},
    platform::{Capabilities, LiveObject, LiveState},
    rules,
};

/// Adds the adopted resources that the platform cannot list to `live`, as declared.
pub fn complete_live(live: &mut LiveState, loaded: &Loaded, capabilities: Capabilities) {
    if capabilities.resources {
        return;
    }
    let model = &loaded.model;
    let adopted_id = |address: &str| {
        model
            .objects
            .iter()
            .find(|o| o.address.to_string() == address)
            .and_then(|o| o.adopt_id.clone())
    };
    let mut added = Vec::new();
    for object in model.objects.iter().filter(|o| o.address.kind.is_resource()) {
        let Some(id) = &object.adopt_id else { continue };
        if live.objects.iter().any(|o| &o.id == id) {
            continue;
        }
        let Some(project) = object.address.parent().and_then(|p| live_id(live, loaded, &p)) else {
            continue;
        };
        let kind = object.address.kind;
        let mut attributes = BTreeMap::new();
        for field in &object.fields {
            let value = match fields::lookup(kind, &field.path) {
                Some(spec) if spec.mode == FieldMode::WriteOnly => continue,
                Some(spec) => spec.map_references(&field.value, &mut |address| adopted_id(address)),
                None => field.value.clone(),
            };
            attributes.insert(field.path.clone(), value);
        }
        let mut labels = object.labels.clone().unwrap_or_default();
        labels.insert(rules::LABEL_MANAGED_BY.into(), rules::MANAGED_BY_VALUE.into());
        labels.insert(rules::LABEL_SET.into(), model.organization.name.clone());
        if object.prevent_destroy == Some(true) {
            labels.insert(rules::LABEL_PROTECT.into(), "true".into());
        }
        added.push(LiveObject {
            id: id.clone(),
            kind,
            name: object.name.clone(),
            parent_id: project,
            labels,
            attributes,
            members: BTreeMap::new(),
            active: false,
            balance: None,
            secret_digest: None,
            version: 0,
        });
    }
    live.objects.extend(added);
}

/// The live id of a community or project of the manifests: adopted, or found by name.
fn live_id(live: &LiveState, loaded: &Loaded, address: &Address) -> Option<String> {
    if let Some(id) =
        loaded.model.objects.iter().find(|o| &o.address == address).and_then(|o| o.adopt_id.clone())
    {
        return Some(id);
    }
    let parent_id = match address.parent() {
        Some(parent) => live_id(live, loaded, &parent)?,
        None => live.organization_id.clone(),
    };
    live.objects
        .iter()
        .find(|o| o.kind == address.kind && o.parent_id == parent_id && o.name == address.name())
        .map(|o| o.id.clone())
}

/// Adds the findings of a platform that cannot read everything: an error for each resource it
/// can neither create nor list, a warning for each write it cannot verify.
pub fn annotate(plan: &mut Plan, loaded: &Loaded, capabilities: Capabilities) {
    if capabilities.resources {
        return;
    }
    // A resource used by id (`spec.uses`) cannot be looked up where resources cannot be listed:
    // its use is planned, and applied as an unverified write (below).
    plan.findings.retain(|f| f.rule != "spherectl::rules::use_unknown");
    let mut findings = Vec::new();
    for object in loaded.model.objects.iter().filter(|o| o.address.kind.is_resource()) {
        if object.adopt_id.is_some() {
            continue;
        }
        let kind = object.address.kind;
        let problem = Problem::error(
            "spherectl::plan::cannot_create",
            format!(
                "{}: `{}` can neither create nor list a {kind}: the public DataSphere API has no such calls",
                object.address, plan.platform
            ),
        )
        .at(object.location, "no `metadata.id`")
        .help(format!(
            "create the {kind} in DataSphere, then adopt it with `metadata.id: <its id>`; spherectl then manages its publishing and activation"
        ));
        findings.push(finding(problem, &object.address.to_string()));
    }
    for change in &plan.changes {
        let unverifiable = match change.action {
            Action::Publish => !capabilities.publications,
            Action::Use => !capabilities.uses,
            Action::Activate => change.object.kind.is_resource(),
            _ => false,
        };
        if !unverifiable {
            continue;
        }
        let problem = Problem::warning(
            "spherectl::plan::unverified",
            format!(
                "{}: `{}` cannot read this back, so it is applied on every run (the call is idempotent)",
                change.address, plan.platform
            ),
        );
        findings.push(finding(problem, &change.address));
    }
    plan.findings.extend(findings);
}

fn finding(problem: Problem, address: &str) -> Finding {
    Finding::new(problem, Some(address.to_owned()), None)
}

/// What the platform could not check, as a note for `plan` and `drift`; `None` when it can
/// check everything.
pub fn unverifiable_note(platform: &str, capabilities: Capabilities) -> Option<String> {
    let missing = capabilities.unverifiable();
    if missing.is_empty() {
        return None;
    }
    let mut note = format!("note: `{platform}` cannot read everything; not checked:\n");
    for item in missing {
        note.push_str(&format!("  - {item}\n"));
    }
    Some(note)
}
