//! Apply leases of `spherectl serve`: one apply at a time per organization, across clients.
//!
//! `GET /capabilities` says that the server grants leases; `POST
//! /organizations/{id}:acquireLock` takes the organization's lease for a time to live, or answers
//! who holds it; `:renewLock` extends it; `:releaseLock` ends it. A lease whose holder stops
//! renewing it (a client that was killed) expires after its time to live, so no lease outlives
//! its client for long. The client names the lease (`leaseId`), so a retried acquire (an answer
//! lost on the network) finds its own lease instead of waiting for itself. Leases live in the
//! server's memory: a restarted server has none.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use super::{Call, Reply};
use crate::platform::{Holder, sandbox::lock::FileLock};

/// The longest time to live a lease may ask for, and the default.
const MAX_TTL_SECONDS: u64 = 600;
const DEFAULT_TTL_SECONDS: u64 = 30;

/// Bounds on what a client may store in a lease.
const MAX_LEASE_ID: usize = 128;
const MAX_HOLDER_BYTES: usize = 4096;

struct Lease {
    id: String,
    /// The holder as the client described it, with the subject of its token.
    holder: Value,
    expires: Instant,
}

/// The leases by organization id, and the database's lock file while any is held.
#[derive(Default)]
struct State {
    by_organization: HashMap<String, Lease>,
    /// The lock file that an embedded apply on the same database takes (`PATH.lock`): held while
    /// any lease is, so that `serve`'s clients and embedded applies exclude each other.
    file: Option<FileLock>,
    /// Whether a thread drops expired leases (and then the lock file) on time.
    reaper: bool,
}

impl State {
    /// Drops expired leases, then the lock file when no lease is left.
    fn purge(&mut self) {
        let now = Instant::now();
        self.by_organization.retain(|_, lease| lease.expires > now);
        if self.by_organization.is_empty() {
            self.file = None;
        }
    }
}

/// The leases of one server.
#[derive(Default)]
pub(crate) struct Leases {
    state: Arc<Mutex<State>>,
    /// The database whose lock file the leases hold (none in unit tests).
    db: Option<PathBuf>,
}

/// `GET /capabilities`: what this server offers beyond the public API.
pub(crate) fn capabilities() -> Reply {
    Reply::ok(json!({
        "locks": {"maxTtlSeconds": MAX_TTL_SECONDS.to_string(), "defaultTtlSeconds": DEFAULT_TTL_SECONDS.to_string()},
    }))
}

fn ttl(call: &Call) -> Result<Duration, Reply> {
    let seconds = match call.body.get("ttlSeconds") {
        None | Some(Value::Null) => DEFAULT_TTL_SECONDS,
        Some(value) => crate::platform::http::wire::int64(value)
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| (1..=MAX_TTL_SECONDS).contains(s))
            .ok_or_else(|| {
                Reply::invalid(&format!("`ttlSeconds` must be 1 to {MAX_TTL_SECONDS}"))
            })?,
    };
    Ok(Duration::from_secs(seconds))
}

fn lease_id(call: &Call) -> Result<String, Reply> {
    let id = call.text("leaseId");
    if id.is_empty() || id.len() > MAX_LEASE_ID {
        return Err(Reply::invalid(&format!("`leaseId` must be 1 to {MAX_LEASE_ID} characters")));
    }
    Ok(id)
}

impl Leases {
    /// The leases of a server of the database at `db`.
    pub(crate) fn new(db: PathBuf) -> Leases {
        Leases { state: Arc::default(), db: Some(db) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Expired leases are dropped before anything looks at them.
        state.purge();
        f(&mut state)
    }

    /// Takes the database's lock file for a first lease, and starts the thread that drops
    /// expired leases (a killed client's) and then the file, without waiting for another call.
    /// `Err(reply)`: an embedded apply holds the file.
    fn hold_file(&self, state: &mut State, holder: &Value) -> Result<(), Reply> {
        let Some(db) = &self.db else { return Ok(()) };
        let named = Holder::from_json(holder).unwrap_or_default();
        if let Some(file) = &mut state.file {
            file.name(&named);
            return Ok(());
        }
        match crate::platform::sandbox::lock::try_hold(db, &named) {
            Ok(Ok(file)) => state.file = Some(file),
            // An apply on the embedded sandbox holds it (`null`: it has not named itself yet).
            Ok(Err(other)) => {
                return Err(Reply::ok(json!({
                    "acquired": false,
                    "holder": other.map_or(Value::Null, |h| h.to_json()),
                })));
            }
            Err(error) => return Err(Reply::status(500, 13, &error.message)),
        }
        if !state.reaper {
            state.reaper = true;
            let shared = Arc::clone(&self.state);
            std::thread::spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(250));
                    let mut state =
                        shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    state.purge();
                    if state.file.is_none() {
                        state.reaper = false;
                        return;
                    }
                }
            });
        }
        Ok(())
    }

    /// `:acquireLock`: `{acquired: true, leaseId}` or `{acquired: false, holder,
    /// expiresInSeconds}`.
    pub(crate) fn acquire(&self, call: &Call) -> Reply {
        let organization_id = call.param(0).to_owned();
        let (id, ttl) = match (lease_id(call), ttl(call)) {
            (Ok(id), Ok(ttl)) => (id, ttl),
            (Err(reply), _) | (_, Err(reply)) => return reply,
        };
        let mut holder = call.body.get("holder").cloned().unwrap_or_else(|| json!({}));
        if !holder.is_object() || holder.to_string().len() > MAX_HOLDER_BYTES {
            return Reply::invalid(&format!(
                "`holder` must be an object of at most {MAX_HOLDER_BYTES} bytes"
            ));
        }
        holder["subject"] = Value::from(call.subject.clone());
        self.with(|state| match state.by_organization.get_mut(&organization_id) {
            Some(lease) if lease.id != id => Reply::ok(json!({
                "acquired": false,
                "holder": lease.holder,
                "expiresInSeconds": lease.expires.saturating_duration_since(Instant::now()).as_secs().to_string(),
            })),
            // Free, or this client's own lease (a retried request): taken (again), with the
            // database's lock file (which an embedded apply may hold).
            _ => {
                if let Err(reply) = self.hold_file(state, &holder) {
                    return reply;
                }
                state.by_organization.insert(
                    organization_id.clone(),
                    Lease { id: id.clone(), holder, expires: Instant::now() + ttl },
                );
                Reply::ok(json!({"acquired": true, "leaseId": id, "ttlSeconds": ttl.as_secs().to_string()}))
            }
        })
    }

    /// `:renewLock`: extends a held lease; 409 when it is not held any more.
    pub(crate) fn renew(&self, call: &Call) -> Reply {
        let organization_id = call.param(0).to_owned();
        let (id, ttl) = match (lease_id(call), ttl(call)) {
            (Ok(id), Ok(ttl)) => (id, ttl),
            (Err(reply), _) | (_, Err(reply)) => return reply,
        };
        self.with(|state| match state.by_organization.get_mut(&organization_id) {
            Some(lease) if lease.id == id => {
                lease.expires = Instant::now() + ttl;
                Reply::ok(json!({"leaseId": id, "ttlSeconds": ttl.as_secs().to_string()}))
            }
            _ => Reply::status(
                409,
                10,
                &format!("lease `{id}` on organization `{organization_id}` is not held: it expired or was released"),
            ),
        })
    }

    /// `:releaseLock`: ends a lease (done when it is not held any more).
    pub(crate) fn release(&self, call: &Call) -> Reply {
        let organization_id = call.param(0).to_owned();
        let id = match lease_id(call) {
            Ok(id) => id,
            Err(reply) => return reply,
        };
        self.with(|state| {
            if state.by_organization.get(&organization_id).is_some_and(|lease| lease.id == id) {
                state.by_organization.remove(&organization_id);
                state.purge();
            }
        });
        Reply::ok(json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(subject: &str, body: Value) -> Call {
        Call {
            method: "POST".into(),
            path: String::new(),
            subject: subject.into(),
            params: vec!["org1".into()],
            query: HashMap::new(),
            body,
            idempotency_key: None,
            if_unchanged: None,
        }
    }

    fn acquired(reply: &Reply) -> bool {
        reply.body["acquired"] == Value::Bool(true)
    }

    #[test]
    fn one_lease_per_organization_retried_renewed_released_and_expired() {
        let leases = Leases::default();
        let first = json!({"leaseId": "a", "ttlSeconds": "60", "holder": {"pid": 1, "host": "h1"}});
        assert!(acquired(&leases.acquire(&call("userAccount:ci", first.clone()))));
        // A retried acquire (its answer lost) finds its own lease.
        assert!(acquired(&leases.acquire(&call("userAccount:ci", first))));
        let second = json!({"leaseId": "b", "ttlSeconds": "1", "holder": {"pid": 2, "host": "h2"}});
        let refused = leases.acquire(&call("userAccount:bob", second.clone()));
        assert!(!acquired(&refused));
        assert_eq!(refused.body["holder"]["pid"], json!(1));
        assert_eq!(refused.body["holder"]["subject"], json!("userAccount:ci"));
        // Another lease can neither renew nor release it.
        assert_eq!(leases.renew(&call("userAccount:bob", json!({"leaseId": "b"}))).status, 409);
        leases.release(&call("userAccount:bob", json!({"leaseId": "b"})));
        assert!(!acquired(&leases.acquire(&call("userAccount:bob", second.clone()))));
        assert_eq!(leases.renew(&call("userAccount:ci", json!({"leaseId": "a"}))).status, 200);
        leases.release(&call("userAccount:ci", json!({"leaseId": "a"})));
        assert!(acquired(&leases.acquire(&call("userAccount:bob", second))));
        // Not renewed: it expires, and another client takes the organization.
        std::thread::sleep(Duration::from_millis(1100));
        let third = json!({"leaseId": "c", "holder": {"pid": 3, "host": "h3"}});
        assert!(acquired(&leases.acquire(&call("userAccount:ci", third))));
    }

    #[test]
    fn bad_requests_are_refused() {
        let leases = Leases::default();
        assert_eq!(leases.acquire(&call("s", json!({"holder": {}}))).status, 400);
        let long = "x".repeat(MAX_LEASE_ID + 1);
        assert_eq!(leases.acquire(&call("s", json!({"leaseId": long}))).status, 400);
        assert_eq!(
            leases.acquire(&call("s", json!({"leaseId": "a", "ttlSeconds": "0"}))).status,
            400
        );
        assert_eq!(
            leases.acquire(&call("s", json!({"leaseId": "a", "ttlSeconds": "601"}))).status,
            400
        );
        assert_eq!(leases.acquire(&call("s", json!({"leaseId": "a", "holder": "me"}))).status, 400);
    }
}
