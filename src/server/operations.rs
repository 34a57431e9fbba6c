//! Long-running operations: every mutation answers with one, polled at `/operations/{id}`.
//!
//! The write happens when the request is handled; the operation reports `done: false` until
//! `--operation-delay` has passed, so clients exercise their polling. The same `Idempotency-Key`
//! from the same subject with the same request returns the same operation without writing
//! again; the key reused for another request (method, path or body) is refused, never answered
//! with the first request's operation. An operation is visible only to the subject that
//! started it.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Instant, SystemTime},
};

use serde_json::{Map, Value, json};

use super::{Call, Reply, Server};
use crate::platform::{ErrorKind, PlatformError, PlatformResult, http::wire, sandbox::Sandbox};

struct Record {
    /// The finished operation (`done: true`, with its response or error).
    finished: Value,
    done_at: Instant,
}

/// Every operation the server started (kept in memory, for the server's lifetime).
#[derive(Default)]
pub(crate) struct Operations {
    by_id: HashMap<String, Record>,
    /// (subject, key) → (operation id, a digest of the request it was used for).
    by_key: HashMap<(String, String), (String, String)>,
    counter: u64,
}

impl Operations {
    /// The operation as a poll sees it now.
    pub(crate) fn view(&self, id: &str) -> Option<Value> {
        let record = self.by_id.get(id)?;
        if Instant::now() >= record.done_at {
            return Some(record.finished.clone());
        }
        let mut pending = record.finished.clone();
        if let Value::Object(map) = &mut pending {
            map.insert("done".into(), Value::Bool(false));
            map.remove("response");
            map.remove("error");
        }
        Some(pending)
    }
}

/// `2026-11-29T14:42:43Z`.
pub(crate) fn timestamp(time: SystemTime) -> String {
    let [year, month, day, hour, minute, second] = crate::platform::lock::utc_parts(time);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// What a mutation's write returns: the `@type` and fields of the operation's response
/// (`None`: `google.protobuf.Empty`).
pub(crate) type Response = Option<(&'static str, Value)>;

/// A digest of a request, never the request: a secret's create carries its value.
fn request_digest(call: &Call) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{} {} {}", call.method, call.path, call.body));
    digest.iter().map(|b| format!("{b:02x}")).collect::<String>()
}

impl Server {
    /// The operation a retried mutation started already: the same `Idempotency-Key` from the
    /// same subject with the same request. Answered before the request is looked at, so that a
    /// retried `DELETE` whose first answer was lost gets its operation, not a 404 for the object
    /// it deleted (a key reused for another request is left to [`Server::mutate`] to refuse).
    pub(crate) fn replay(&self, call: &Call) -> Option<Reply> {
        let key = (call.subject.clone(), call.idempotency_key.clone()?);
        let operations = self.operations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (id, first) = operations.by_key.get(&key)?;
        if *first != request_digest(call) {
            return None;
        }
        operations.view(id).map(Reply::ok)
    }

    /// Runs a mutation and answers with its Operation.
    ///
    /// A permission or not-found error answers 403 / 404 at once, as the gateway checks them
    /// before starting an operation; any other error of the write is the operation's `error`.
    pub(crate) async fn mutate(
        self: &Arc<Server>,
        call: &Call,
        metadata: (&'static str, Value),
        write: impl FnOnce(&Sandbox) -> PlatformResult<Response> + Send + 'static,
    ) -> Reply {
        let key = call.idempotency_key.clone().map(|key| (call.subject.clone(), key));
        let request = request_digest(call);
        let subject = call.subject.clone();
        let result = self
            .call(&call.subject, move |server, sandbox| {
                let mut operations =
                    server.operations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(key) = &key
                    && let Some((id, first)) = operations.by_key.get(key)
                    && let Some(existing) = operations.view(id)
                {
                    if *first != request {
                        return Err(PlatformError::new(
                            ErrorKind::Conflict,
                            format!(
                                "the Idempotency-Key `{}` was used for another request; use a new key for each request",
                                key.1
                            ),
                        ));
                    }
                    return Ok(existing);
                }
                let outcome = match write(sandbox) {
                    Err(error)
                        if matches!(
                            error.kind,
                            ErrorKind::PermissionDenied | ErrorKind::NotFound
                        ) =>
                    {
                        return Err(error);
                    }
                    outcome => outcome,
                };
                operations.counter += 1;
                let id = format!(
                    "spherectl{:012}{:04x}",
                    operations.counter,
                    std::process::id() & 0xffff
                );
                let now = timestamp(SystemTime::now());
                let mut finished = Map::new();
                finished.insert("id".into(), Value::from(id.clone()));
                finished
                    .insert("description".into(), Value::from(metadata.0.replace("Metadata", "")));
                finished.insert("createdAt".into(), Value::from(now.clone()));
                finished.insert("createdBy".into(), Value::from(subject));
                finished.insert("modifiedAt".into(), Value::from(now));
                finished.insert("done".into(), Value::Bool(true));
                // A create's metadata names the new object (known only now): polls and replays
                // of the operation say it too.
                let mut fields = metadata.1;
                let created = match &outcome {
                    Ok(Some((_, message))) => message.get("id").cloned(),
                    _ => None,
                };
                if let (Some(created), Some(fields)) = (created, fields.as_object_mut()) {
                    for value in fields.values_mut() {
                        if value.as_str() == Some("") {
                            *value = created.clone();
                        }
                    }
                }
                finished.insert(
                    "metadata".into(),
                    wire::any(&format!("yandex.cloud.datasphere.v2.{}", metadata.0), fields),
                );
                match outcome {
                    Ok(Some((type_name, message))) => {
                        finished.insert("response".into(), wire::any(type_name, message));
                    }
                    Ok(None) => {
                        finished.insert(
                            "response".into(),
                            wire::any("google.protobuf.Empty", json!({})),
                        );
                    }
                    Err(error) => {
                        let (code, _) = wire::error_code(error.kind);
                        finished.insert("error".into(), wire::status_json(code, &error.message));
                    }
                }
                let done_at = Instant::now() + server.options.operation_delay;
                operations
                    .by_id
                    .insert(id.clone(), Record { finished: Value::Object(finished), done_at });
                if let Some(key) = key {
                    operations.by_key.insert(key, (id.clone(), request));
                }
                Ok(operations.view(&id).unwrap_or_default())
            })
            .await;
        match result {
            Ok(operation) => Reply::ok(operation),
            Err(error) => Reply::error(&error),
        }
    }

    /// `GET /operations/{id}`: only the subject that started it sees an operation (its
    /// response may carry what others may not read, such as a secret's digest).
    pub(crate) fn operation(&self, id: &str, subject: &str) -> Reply {
        let operations = self.operations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match operations.view(id) {
            Some(operation)
                if operation.get("createdBy").and_then(Value::as_str) == Some(subject) =>
            {
                Reply::ok(operation)
            }
            _ => Reply::status(404, 5, &format!("operation `{id}` not found")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let time = UNIX_EPOCH + Duration::from_secs(1_795_963_363);
        assert_eq!(timestamp(time), "2026-11-29T14:42:43Z");
    }
}
