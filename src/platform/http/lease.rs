//! The apply lock over HTTP: a lease from `spherectl serve` (see `crate::server` and
//! `schemas/openapi.yaml`), taken only when the server's `/capabilities` offers `locks`. The real
//! DataSphere API has no such endpoint (404): there the apply goes without a lock, and each
//! write's re-check is the only guard.
//!
//! # Guarantees
//! While the [`ApplyLock`] lives, a thread renews the lease every third of its time to live;
//! dropping the lock stops that thread and releases the lease. A client that dies stops renewing,
//! and the server drops its lease when the time to live runs out.

use std::{
    sync::{Arc, mpsc},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use reqwest::Method;
use serde_json::{Value, json};

use super::{Inner, transport::uuid4, wire};
use crate::platform::{
    ErrorKind, PlatformResult,
    lock::{ApplyLock, Holder, LockRequest, timed_out},
};

/// The lease's time to live: 30 s, or the hidden `SPHERECTL_TEST_LEASE_TTL_SECS` (tests of
/// expiry).
fn time_to_live() -> u64 {
    std::env::var("SPHERECTL_TEST_LEASE_TTL_SECS")
        .ok()
        .and_then(|text| text.parse().ok())
        .filter(|seconds| (1..=600).contains(seconds))
        .unwrap_or(30)
}

/// Renews the lease until told to stop (the sender dropped), then releases it.
struct Held {
    stop: Option<mpsc::Sender<()>>,
    renewer: Option<JoinHandle<()>>,
    /// Releases the lease when an interrupt stops the process at once (before the apply
    /// writes: at its confirmation prompt, while it reads), instead of leaving it held for its
    /// time to live.
    exit_hook: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        crate::apply::interrupt::remove_exit_hook(self.exit_hook);
        drop(self.stop.take());
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.join();
        }
    }
}

fn lock_path(organization_id: &str, verb: &str) -> String {
    format!("{}/organizations/{organization_id}:{verb}", wire::EXTENSION_PREFIX)
}

/// Takes the organization's lease, waiting up to the request's timeout; no lock when the server
/// offers none.
pub(super) fn acquire(
    inner: &Arc<Inner>,
    runtime: &tokio::runtime::Handle,
    request: &LockRequest<'_>,
) -> PlatformResult<ApplyLock> {
    let transport = &inner.transport;
    let capabilities = match runtime
        .block_on(transport.get(&format!("{}/capabilities", wire::EXTENSION_PREFIX)))
    {
        Ok(answer) => answer,
        // The real service (or an older `serve`): no leases.
        Err(error) if matches!(error.kind, ErrorKind::NotFound | ErrorKind::Rejected) => {
            return Ok(ApplyLock::none());
        }
        Err(error) => return Err(error),
    };
    if capabilities.get("locks").is_none_or(Value::is_null) {
        return Ok(ApplyLock::none());
    }
    let ttl = time_to_live();
    let lease_id = uuid4();
    let url = format!("{}{}", transport.base, lock_path(request.organization_id, "acquireLock"));
    let body = json!({"leaseId": lease_id, "ttlSeconds": ttl.to_string(), "holder": request.holder.to_json()});
    let what = format!("lease on organization `{}` at {}", request.organization_id, transport.base);
    let started = Instant::now();
    let mut announced: Option<Holder> = None;
    loop {
        let answer =
            runtime.block_on(transport.send(Method::POST, &url, &[], Some(&body), None))?;
        if answer.get("acquired").and_then(Value::as_bool) == Some(true) {
            let (stop, stopped) = mpsc::channel::<()>();
            let exit_hook = {
                let inner = Arc::clone(inner);
                let runtime = runtime.clone();
                let url = format!(
                    "{}{}",
                    transport.base,
                    lock_path(request.organization_id, "releaseLock")
                );
                let body = json!({"leaseId": lease_id, "ttlSeconds": ttl.to_string()});
                crate::apply::interrupt::add_exit_hook(Box::new(move || {
                    let _ = runtime.block_on(async {
                        let send = inner.transport.send(Method::POST, &url, &[], Some(&body), None);
                        tokio::time::timeout(Duration::from_secs(3), send).await
                    });
                }))
            };
            let inner = Arc::clone(inner);
            let runtime = runtime.clone();
            let organization_id = request.organization_id.to_owned();
            let renewer = std::thread::spawn(move || {
                renew_until_stopped(&inner, &runtime, &organization_id, &lease_id, ttl, &stopped);
            });
            return Ok(ApplyLock::held(
                Box::new(Held { stop: Some(stop), renewer: Some(renewer), exit_hook }),
                what,
            ));
        }
        let holder = answer.get("holder").and_then(Holder::from_json);
        if let Some(holder) = &holder
            && announced.as_ref() != Some(holder)
            && !request.timeout.is_zero()
        {
            (request.waiting)(holder);
            announced = Some(holder.clone());
        }
        let waited = started.elapsed();
        if waited >= request.timeout {
            return Err(crate::platform::PlatformError::new(
                ErrorKind::Unavailable,
                timed_out(&what, request.timeout, holder.as_ref()),
            ));
        }
        std::thread::sleep((request.timeout - waited).min(Duration::from_millis(250)));
    }
}

fn renew_until_stopped(
    inner: &Inner,
    runtime: &tokio::runtime::Handle,
    organization_id: &str,
    lease_id: &str,
    ttl: u64,
    stopped: &mpsc::Receiver<()>,
) {
    let transport = &inner.transport;
    let every = Duration::from_millis(ttl * 1000 / 3);
    let body = json!({"leaseId": lease_id, "ttlSeconds": ttl.to_string()});
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
        let url = format!("{}{}", transport.base, lock_path(organization_id, "renewLock"));
        // A lost lease (the server restarted) is not fatal: each write is re-checked anyway.
        let _ = runtime.block_on(transport.send(Method::POST, &url, &[], Some(&body), None));
    }
    let url = format!("{}{}", transport.base, lock_path(organization_id, "releaseLock"));
    let _ = runtime.block_on(transport.send(Method::POST, &url, &[], Some(&body), None));
}
