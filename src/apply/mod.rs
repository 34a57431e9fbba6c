//! The applier: walks a plan's changes as a DAG with bounded concurrency.
//!
//! # Guarantees
//! A change starts as soon as every change it depends on has succeeded, not level by level. A
//! failed change skips exactly its (transitive) dependents; independent branches finish. After an
//! interrupt nothing new starts; what is in flight finishes. Each platform write is atomic, so
//! re-running plan and apply after any failure converges.
//!
//! Each update, delete and replace first re-checks the object it changes against what the plan
//! saw ([`Seen`]): its version, when the platform has versions and no other change of this apply
//! writes the same object (this apply's own writes would move it), and the values the change
//! replaces. An object changed by another writer since the plan stops that change with a
//! conflict (`changed since the plan was made: re-run plan`) instead of being overwritten. On the
//! sandbox and on `spherectl serve` the check and the write are one transaction; on the public
//! API the check is a read just before the write.

pub mod interrupt;
pub mod progress;

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use serde_json::Value;

use crate::{
    fields,
    manifest::{Address, Kind},
    plan::{Change, Operation, Plan, SecretValues, Target},
    platform::{
        CreateRequest, ErrorKind, Platform, PlatformError, PlatformResult, Seen, UpdateRequest,
    },
};

/// How to apply.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Changes in flight at once.
    pub parallelism: usize,
    /// Set from outside (Ctrl-C): start nothing new.
    pub interrupted: Arc<AtomicBool>,
}

/// Why a change that an interrupt kept from starting was skipped.
pub const INTERRUPTED: &str = "interrupted";

/// What happened to one change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Done,
    Failed(String),
    /// Not started because a dependency failed (named) or the run was interrupted.
    Skipped(String),
}

/// The result of an apply.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// `(change address, status)` in completion order.
    pub results: Vec<(String, Status)>,
    /// `(change address, note)` of changes done with something to say, such as a delete whose
    /// object another writer had already deleted ([`ALREADY_DELETED`]).
    pub notes: Vec<(String, String)>,
}

/// The note of a delete whose object was gone when it ran: done, as Terraform counts it.
pub const ALREADY_DELETED: &str = "already deleted (by another writer since the plan)";

impl Outcome {
    pub fn done(&self) -> usize {
        self.results.iter().filter(|(_, s)| *s == Status::Done).count()
    }
    pub fn failed(&self) -> Vec<(&str, &str)> {
        self.results
            .iter()
            .filter_map(|(a, s)| match s {
                Status::Failed(m) => Some((a.as_str(), m.as_str())),
                _ => None,
            })
            .collect()
    }
    pub fn skipped(&self) -> Vec<(&str, &str)> {
        self.results
            .iter()
            .filter_map(|(a, s)| match s {
                Status::Skipped(m) => Some((a.as_str(), m.as_str())),
                _ => None,
            })
            .collect()
    }
    pub fn is_success(&self) -> bool {
        self.results.iter().all(|(_, s)| *s == Status::Done)
    }
}

/// A progress event, for the CLI to show.
pub enum Event<'a> {
    Started(&'a Change),
    Finished(&'a Change, &'a Status),
}

struct State {
    waiting_on: Vec<usize>,
    ready: VecDeque<usize>,
    in_flight: usize,
    finished: usize,
    status: Vec<Option<Status>>,
    results: Vec<(String, Status)>,
    notes: Vec<(String, String)>,
}

/// Applies a plan.
pub fn apply(
    plan: &Plan,
    platform: &dyn Platform,
    secrets: &SecretValues,
    options: &ApplyOptions,
    progress: &(dyn Fn(Event<'_>) + Sync),
) -> Outcome {
    let changes = &plan.changes;
    // The same graph the planner ordered the plan by.
    let graph = crate::plan::order::change_graph(changes);
    let dependents: Vec<Vec<usize>> =
        (0..changes.len()).map(|i| graph.dependents(i).collect()).collect();
    let waiting_on: Vec<usize> = (0..changes.len()).map(|i| graph.dependency_count(i)).collect();
    let ready = (0..changes.len()).filter(|i| waiting_on[*i] == 0).collect();
    let state = Mutex::new(State {
        waiting_on,
        ready,
        in_flight: 0,
        finished: 0,
        status: vec![None; changes.len()],
        results: Vec::new(),
        notes: Vec::new(),
    });
    let wake = Condvar::new();
    let ids: Mutex<HashMap<Address, String>> = Mutex::new(plan.known_ids.clone());
    let checks = Checks::new(plan, platform.capabilities().versions);
    let workers = options.parallelism.max(1).min(changes.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let next = {
                        let mut guard = state.lock().expect("apply state lock");
                        loop {
                            if guard.finished == changes.len() {
                                break None;
                            }
                            if options.interrupted.load(Ordering::SeqCst) {
                                // Start nothing new; the last worker out marks the rest skipped.
                                if guard.in_flight == 0 {
                                    for (i, change) in changes.iter().enumerate() {
                                        if guard.status[i].is_none() {
                                            let status = Status::Skipped(INTERRUPTED.into());
                                            guard.status[i] = Some(status.clone());
                                            guard.results.push((change.address.clone(), status));
                                            guard.finished += 1;
                                        }
                                    }
                                    wake.notify_all();
                                }
                                break None;
                            }
                            if let Some(i) = guard.ready.pop_front() {
                                guard.in_flight += 1;
                                break Some(i);
                            }
                            if guard.in_flight == 0 {
                                // Nothing runs and nothing is ready: the rest is blocked.
                                break None;
                            }
                            guard = wake.wait(guard).expect("apply state lock");
                        }
                    };
                    let Some(i) = next else { break };
                    let change = &changes[i];
                    progress(Event::Started(change));
                    if let Some(delay) = test_write_delay() {
                        std::thread::sleep(delay);
                    }
                    let (status, note) = match execute(change, platform, secrets, &ids, &checks) {
                        Ok(note) => (Status::Done, note),
                        Err(error) => (Status::Failed(error.message), None),
                    };
                    progress(Event::Finished(change, &status));
                    let mut guard = state.lock().expect("apply state lock");
                    if let Some(note) = note {
                        guard.notes.push((change.address.clone(), note.to_owned()));
                    }
                    guard.in_flight -= 1;
                    guard.finished += 1;
                    guard.results.push((change.address.clone(), status.clone()));
                    guard.status[i] = Some(status.clone());
                    if status == Status::Done {
                        for &d in &dependents[i] {
                            guard.waiting_on[d] -= 1;
                            if guard.waiting_on[d] == 0 && guard.status[d].is_none() {
                                guard.ready.push_back(d);
                            }
                        }
                    } else {
                        // Skip every transitive dependent.
                        let mut stack = dependents[i].clone();
                        while let Some(d) = stack.pop() {
                            if guard.status[d].is_none() {
                                let skipped = Status::Skipped(format!(
                                    "depends on `{}`, which failed",
                                    change.address
                                ));
                                guard.status[d] = Some(skipped.clone());
                                guard.results.push((changes[d].address.clone(), skipped));
                                guard.finished += 1;
                                stack.extend(dependents[d].iter().copied());
                            }
                        }
                    }
                    wake.notify_all();
                }
            });
        }
    });
    let mut state = state.into_inner().expect("apply state lock");
    // Every change gets a recorded status: one that was never reached (its dependencies never
    // finished, which a well-formed plan cannot produce) is reported, never counted as done.
    for (i, change) in changes.iter().enumerate() {
        if state.status[i].is_none() {
            let status = Status::Skipped("blocked: its dependencies never finished".into());
            state.status[i] = Some(status.clone());
            state.results.push((change.address.clone(), status));
        }
    }
    Outcome { results: state.results, notes: state.notes }
}

/// A delay before every change, from the hidden `SPHERECTL_TEST_WRITE_DELAY_MS`: tests make an
/// apply slow, deterministically, on any platform, to run another apply (or a signal, or a
/// foreign write) while it is half-way. The delay comes before the change's re-check and write.
fn test_write_delay() -> Option<std::time::Duration> {
    static DELAY: std::sync::OnceLock<Option<std::time::Duration>> = std::sync::OnceLock::new();
    *DELAY.get_or_init(|| {
        std::env::var("SPHERECTL_TEST_WRITE_DELAY_MS")
            .ok()
            .and_then(|text| text.parse().ok())
            .filter(|millis| *millis > 0)
            .map(std::time::Duration::from_millis)
    })
}

fn resolve(target: &Target, ids: &Mutex<HashMap<Address, String>>) -> PlatformResult<String> {
    match target {
        Target::Id(id) => Ok(id.clone()),
        Target::Address(address) => {
            ids.lock().expect("id map lock").get(address).cloned().ok_or_else(|| {
                PlatformError::new(
                    ErrorKind::NotFound,
                    format!("`{address}` has no platform id yet"),
                )
            })
        }
    }
}

/// Replaces the addresses in a field's references with platform ids. Only the positions the
/// field schema names as references are touched: user text is never rewritten, whatever it
/// looks like.
fn to_ids(kind: Kind, path: &str, value: &Value, ids: &HashMap<Address, String>) -> Value {
    match fields::lookup(kind, path) {
        Some(spec) => spec.map_references(value, &mut |text| {
            Address::parse(text).and_then(|address| ids.get(&address)).cloned()
        }),
        None => value.clone(),
    }
}

fn secret_of(
    address: Option<&Address>,
    secrets: &SecretValues,
) -> PlatformResult<Option<crate::platform::SecretValue>> {
    match address {
        None => Ok(None),
        Some(address) => secrets.get(address).cloned().map(Some).ok_or_else(|| {
            PlatformError::new(
                ErrorKind::Rejected,
                format!("the value of `{address}` is not available"),
            )
        }),
    }
}

/// What the re-checks of updates and deletes compare with: the versions the plan saw (when the
/// platform has versions) and which objects more than one change of the plan writes.
struct Checks<'a> {
    versions: Option<&'a BTreeMap<String, i64>>,
    shared: HashSet<&'a str>,
    /// The ids the plan saw: a reference's value before this apply (which may replace the
    /// referenced object, giving it a new id).
    known_ids: &'a HashMap<Address, String>,
}

impl<'a> Checks<'a> {
    fn new(plan: &'a Plan, versions: bool) -> Checks<'a> {
        let mut count: HashMap<&str, usize> = HashMap::new();
        for change in &plan.changes {
            for id in written_ids(&change.operation) {
                *count.entry(id).or_default() += 1;
            }
        }
        Checks {
            versions: versions.then_some(&plan.versions),
            shared: count.into_iter().filter(|(_, n)| *n > 1).map(|(id, _)| id).collect(),
            known_ids: &plan.known_ids,
        }
    }

    /// What the plan saw of object `id` that `change` updates or deletes.
    fn seen(&self, change: &Change, kind: Kind, id: &str) -> Seen {
        let version = if self.shared.contains(id) {
            None
        } else {
            self.versions.and_then(|versions| versions.get(id).copied())
        };
        let fields = change
            .fields
            .iter()
            .filter(|f| !f.sensitive && f.path != "spec.members")
            .map(|f| (f.path.clone(), to_ids(kind, &f.path, &f.before, self.known_ids)))
            .collect();
        Seen { version, fields }
    }
}

/// The ids of the existing objects an operation writes.
fn written_ids(operation: &Operation) -> Vec<&str> {
    fn id(target: &Target) -> Option<&str> {
        match target {
            Target::Id(id) => Some(id.as_str()),
            Target::Address(_) => None,
        }
    }
    match operation {
        Operation::Update { id, .. }
        | Operation::Delete { id, .. }
        | Operation::RemoveMember { id, .. } => vec![id.as_str()],
        // Its removals from projects bump those projects.
        Operation::Replace { old_id, uses, .. } => {
            std::iter::once(old_id.as_str()).chain(uses.iter().map(String::as_str)).collect()
        }
        Operation::AddMember { object, .. } => id(object).into_iter().collect(),
        Operation::Publish { resource, .. } | Operation::SetActive { resource, .. } => {
            id(resource).into_iter().collect()
        }
        Operation::Unpublish { resource_id, .. } => vec![resource_id.as_str()],
        Operation::Unuse { project_id, resource_id, .. } => {
            vec![project_id.as_str(), resource_id.as_str()]
        }
        Operation::Use { resource, project, .. } => {
            id(resource).into_iter().chain(id(project)).collect()
        }
        Operation::SetBalance { project, .. } => id(project).into_iter().collect(),
        Operation::Create { .. } | Operation::SetSharing { .. } => Vec::new(),
    }
}

/// Runs one change: a note when it is done with something to say ([`ALREADY_DELETED`]).
fn execute(
    change: &Change,
    platform: &dyn Platform,
    secrets: &SecretValues,
    ids: &Mutex<HashMap<Address, String>>,
    checks: &Checks<'_>,
) -> PlatformResult<Option<&'static str>> {
    match &change.operation {
        // A delete whose object is gone has nothing left to do (it cannot have been changed:
        // ids are never reused).
        Operation::Delete { kind, id } => {
            match platform.delete_unchanged(*kind, id, &checks.seen(change, *kind, id)) {
                Ok(()) => Ok(None),
                Err(error) if error.kind == ErrorKind::NotFound => Ok(Some(ALREADY_DELETED)),
                Err(error) => Err(error),
            }
        }
        // An object to update or replace that is gone was changed since the plan.
        _ => write(change, platform, secrets, ids, checks).map(|()| None).map_err(|error| {
            if error.kind == ErrorKind::NotFound
                && matches!(change.operation, Operation::Update { .. } | Operation::Replace { .. })
            {
                crate::platform::lock::conflict(&error.message)
            } else {
                error
            }
        }),
    }
}

fn write(
    change: &Change,
    platform: &dyn Platform,
    secrets: &SecretValues,
    ids: &Mutex<HashMap<Address, String>>,
    checks: &Checks<'_>,
) -> PlatformResult<()> {
    match &change.operation {
        Operation::SetSharing { organization_id, sharing } => {
            platform.set_sharing(organization_id, *sharing)
        }
        Operation::Create { .. } => create(&change.operation, change, platform, secrets, ids),
        Operation::Replace { old_id, deactivate, publications, uses, create: operation } => {
            let kind = change.kind;
            platform.check_unchanged(kind, old_id, &checks.seen(change, kind, old_id))?;
            for project in uses {
                platform.unuse_resource(project, kind, old_id)?;
            }
            for community in publications {
                platform.unpublish(kind, old_id, community)?;
            }
            if *deactivate {
                platform.set_active(kind, old_id, false)?;
            }
            platform.delete(kind, old_id)?;
            create(operation, change, platform, secrets, ids)
        }
        Operation::Update { kind, id, name, labels, set, secret } => {
            let set = {
                let ids = ids.lock().expect("id map lock");
                set.iter().map(|(k, v)| (k.clone(), to_ids(*kind, k, v, &ids))).collect()
            };
            let request = UpdateRequest {
                name: name.clone(),
                labels: labels.clone(),
                set,
                clear: Vec::new(),
                secret: secret_of(secret.as_ref(), secrets)?,
            };
            platform.update_unchanged(*kind, id, &request, &checks.seen(change, *kind, id))
        }
        Operation::Delete { kind, id } => {
            platform.delete_unchanged(*kind, id, &checks.seen(change, *kind, id))
        }
        Operation::AddMember { kind, object, subject, role } => {
            platform.add_member(*kind, &resolve(object, ids)?, subject, *role)
        }
        Operation::RemoveMember { kind, id, subject } => platform.remove_member(*kind, id, subject),
        Operation::Publish { kind, resource, community } => {
            platform.publish(*kind, &resolve(resource, ids)?, &resolve(community, ids)?)
        }
        Operation::Unpublish { kind, resource_id, community_id } => {
            platform.unpublish(*kind, resource_id, community_id)
        }
        Operation::Use { project, kind, resource } => {
            platform.use_resource(&resolve(project, ids)?, *kind, &resolve(resource, ids)?)
        }
        Operation::Unuse { project_id, kind, resource_id } => {
            platform.unuse_resource(project_id, *kind, resource_id)
        }
        Operation::SetActive { kind, resource, active } => {
            platform.set_active(*kind, &resolve(resource, ids)?, *active)
        }
        Operation::SetBalance { project, balance } => {
            platform.set_balance(&resolve(project, ids)?, *balance)
        }
    }
}

fn create(
    operation: &Operation,
    change: &Change,
    platform: &dyn Platform,
    secrets: &SecretValues,
    ids: &Mutex<HashMap<Address, String>>,
) -> PlatformResult<()> {
    let Operation::Create { kind, parent, name, labels, attributes, secret } = operation else {
        return Err(PlatformError::new(ErrorKind::Internal, "not a create operation"));
    };
    let parent_id = resolve(parent, ids)?;
    let attributes = {
        let ids = ids.lock().expect("id map lock");
        match attributes {
            Some(attributes) => {
                attributes.iter().map(|(k, v)| (k.clone(), to_ids(*kind, k, v, &ids))).collect()
            }
            // A create's fields also show its labels and (sensitive) value: the attributes are
            // the fields the field schema knows.
            None => change
                .fields
                .iter()
                .filter(|f| !f.sensitive && fields::lookup(*kind, &f.path).is_some())
                .map(|f| (f.path.clone(), to_ids(*kind, &f.path, &f.after, &ids)))
                .collect(),
        }
    };
    let request = CreateRequest {
        kind: *kind,
        parent_id,
        name: name.clone(),
        labels: labels.clone(),
        attributes,
        secret: secret_of(secret.as_ref(), secrets)?,
    };
    let id = platform.create(&request)?;
    ids.lock().expect("id map lock").insert(change.object.clone(), id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{
        manifest::Kind,
        plan::{Action, Plan},
        platform::{LiveState, SecretValue},
        rules::{Role, SharingRoles},
    };

    /// A platform that fails every call: the tests below must never reach it.
    struct Unreachable;

    fn never<T>() -> PlatformResult<T> {
        Err(PlatformError::new(ErrorKind::Internal, "the platform was called"))
    }

    impl Platform for Unreachable {
        fn describe(&self) -> String {
            "unreachable".into()
        }
        fn actor(&self) -> &str {
            "userAccount:nobody"
        }
        fn read(&self, _: &str) -> PlatformResult<LiveState> {
            never()
        }
        fn secret_digest(&self, _: &SecretValue) -> Option<String> {
            None
        }
        fn set_sharing(&self, _: &str, _: SharingRoles) -> PlatformResult<()> {
            never()
        }
        fn create(&self, _: &CreateRequest) -> PlatformResult<String> {
            never()
        }
        fn update(&self, _: Kind, _: &str, _: &UpdateRequest) -> PlatformResult<()> {
            never()
        }
        fn delete(&self, _: Kind, _: &str) -> PlatformResult<()> {
            never()
        }
        fn add_member(&self, _: Kind, _: &str, _: &str, _: Role) -> PlatformResult<()> {
            never()
        }
        fn remove_member(&self, _: Kind, _: &str, _: &str) -> PlatformResult<()> {
            never()
        }
        fn publish(&self, _: Kind, _: &str, _: &str) -> PlatformResult<()> {
            never()
        }
        fn unpublish(&self, _: Kind, _: &str, _: &str) -> PlatformResult<()> {
            never()
        }
        fn use_resource(&self, _: &str, _: Kind, _: &str) -> PlatformResult<()> {
            never()
        }
        fn unuse_resource(&self, _: &str, _: Kind, _: &str) -> PlatformResult<()> {
            never()
        }
        fn set_active(&self, _: Kind, _: &str, _: bool) -> PlatformResult<()> {
            never()
        }
        fn set_balance(&self, _: &str, _: i64) -> PlatformResult<()> {
            never()
        }
    }

    fn delete(address: &str, depends_on: &str) -> Change {
        let object = Address::parse(address).unwrap();
        Change {
            address: address.into(),
            kind: object.kind,
            action: Action::Delete,
            fields: Vec::new(),
            depends_on: vec![depends_on.into()],
            replace_paths: Vec::new(),
            destroys_data: false,
            source: None,
            object,
            operation: Operation::Delete { kind: Kind::Community, id: "x".into() },
        }
    }

    #[test]
    fn changes_that_can_never_start_are_reported_as_blocked_not_done() {
        let plan = Plan {
            format_version: 1,
            platform: "test".into(),
            organization: "acme".into(),
            summary: BTreeMap::new(),
            changes: vec![
                delete("Community/a", "Community/b"),
                delete("Community/b", "Community/a"),
            ],
            findings: Vec::new(),
            unmanaged: Vec::new(),
            known_ids: HashMap::new(),
            versions: BTreeMap::new(),
        };
        let options =
            ApplyOptions { parallelism: 4, interrupted: Arc::new(AtomicBool::new(false)) };
        let outcome = apply(&plan, &Unreachable, &SecretValues::new(), &options, &|_| {});
        assert!(!outcome.is_success());
        assert_eq!(outcome.results.len(), 2);
        assert_eq!(outcome.skipped().len(), 2);
        assert!(outcome.skipped().iter().all(|(_, why)| why.starts_with("blocked")));
    }
}
