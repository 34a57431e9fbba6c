//! `spherectl serve`: the sandbox behind the DataSphere v2 REST API.
//!
//! Takes HTTP requests on the public API's methods and paths ([`routes::ROUTES`]) plus
//! documented extension endpoints under [`wire::EXTENSION_PREFIX`], and answers them from the
//! embedded sandbox, as the subject that the request's bearer token maps to. Mutations answer
//! 200 with an Operation (polled at `/operations/{id}`); errors carry a `google.rpc.Status`.
//!
//! Concurrency: the sandbox is blocking (rusqlite), so every call runs on tokio's blocking pool
//! under one lock. Calls are serialized, each sandbox write is one transaction, and a mutation's
//! idempotency check, its write and the operation that records it happen under that same lock,
//! so two requests with one `Idempotency-Key` never both write.
//!
//! For tests and pipelines, `--latency` delays every answer, `--fault-rate` answers a share of
//! requests 429 or 503 (with `Retry-After`; a mutation's 503 comes after its write half the
//! time, the answer lost), and `--operation-delay` reports operations done only after a delay
//! (their write has happened already).

mod access;
mod extension;
mod lease;
mod operations;
mod public;
pub mod routes;

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use serde_json::Value;

use crate::platform::{
    ErrorKind, PlatformError, PlatformResult,
    http::wire::{self, normalize_names},
    sandbox::Sandbox,
};

use operations::Operations;

/// What `spherectl serve` was asked to do.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The sandbox database.
    pub db: PathBuf,
    /// `(token, subject)` pairs.
    pub tokens: Vec<(String, String)>,
    /// Added to every answer.
    pub latency: Duration,
    /// The share of requests answered 429 or 503.
    pub fault_rate: f64,
    /// How long an operation reports `done: false`.
    pub operation_delay: Duration,
    /// Answer only the public API's paths (404 for the extension), as the real service does.
    pub public_only: bool,
    /// Print one line per request to stderr: method, path and query, status.
    pub access_log: bool,
    /// Let every token read everything, as a reader of the sandbox file can (for tests that
    /// compare `serve` with the embedded sandbox); by default reads are role-checked.
    pub unchecked_reads: bool,
}

/// Shared server state.
pub struct Server {
    options: ServeOptions,
    tokens: HashMap<String, String>,
    /// One sandbox handle per subject (the sandbox acts as one subject per handle).
    sandboxes: Mutex<HashMap<String, Arc<Sandbox>>>,
    /// Serializes every sandbox call.
    lock: Mutex<()>,
    operations: Mutex<Operations>,
    random: Mutex<u64>,
    /// Apply leases by organization (`lease`).
    leases: lease::Leases,
}

/// One request as the handlers see it.
pub(crate) struct Call {
    pub(crate) method: String,
    /// The endpoint and its parameters (a trailing slash or an escape does not change it).
    pub(crate) path: String,
    pub(crate) subject: String,
    pub(crate) params: Vec<String>,
    pub(crate) query: HashMap<String, String>,
    /// The JSON body with lowerCamelCase names (`{}` when empty).
    pub(crate) body: Value,
    pub(crate) idempotency_key: Option<String>,
    /// `x-spherectl-if-unchanged`: update or delete only if the object is as the client's plan
    /// saw it (checked in the write's transaction).
    pub(crate) if_unchanged: Option<crate::platform::Seen>,
}

impl Call {
    pub(crate) fn param(&self, index: usize) -> &str {
        self.params.get(index).map_or("", String::as_str)
    }

    pub(crate) fn text(&self, key: &str) -> String {
        wire::text(&self.body, key)
    }
}

/// An HTTP answer: a status and a JSON body.
pub(crate) struct Reply {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
}

impl Reply {
    pub(crate) fn ok(body: Value) -> Reply {
        Reply { status: StatusCode::OK, body, retry_after: None }
    }

    /// A `google.rpc.Status` answer with the HTTP status of its gRPC code.
    pub(crate) fn status(http: u16, code: i32, message: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: wire::status_json(code, message),
            retry_after: None,
        }
    }

    pub(crate) fn error(error: &PlatformError) -> Reply {
        let (code, http) = wire::error_code(error.kind);
        Reply::status(http, code, &error.message)
    }

    pub(crate) fn invalid(message: &str) -> Reply {
        Reply::status(400, 3, message)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl Server {
    /// Creates the server state; the database is opened on first use.
    pub fn new(options: ServeOptions) -> Arc<Server> {
        let tokens = options.tokens.iter().cloned().collect();
        let seed = {
            let mut bytes = [0u8; 8];
            let _ = getrandom::fill(&mut bytes);
            u64::from_le_bytes(bytes) | 1
        };
        let leases = lease::Leases::new(options.db.clone());
        Arc::new(Server {
            options,
            tokens,
            sandboxes: Mutex::new(HashMap::new()),
            lock: Mutex::new(()),
            operations: Mutex::new(Operations::default()),
            random: Mutex::new(seed),
            leases,
        })
    }

    /// A number in `[0, 1)` (xorshift; faults need no better).
    fn random(&self) -> f64 {
        let mut state = self.random.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    /// What `subject` may read of an organization.
    pub(crate) fn readable(
        &self,
        state: &crate::platform::LiveState,
        subject: &str,
    ) -> access::Readable {
        access::Readable::new(state, subject, self.options.unchecked_reads)
    }

    fn sandbox(&self, subject: &str) -> PlatformResult<Arc<Sandbox>> {
        let mut sandboxes =
            self.sandboxes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(sandbox) = sandboxes.get(subject) {
            return Ok(Arc::clone(sandbox));
        }
        let sandbox = Arc::new(Sandbox::open(&self.options.db, subject)?);
        sandboxes.insert(subject.to_owned(), Arc::clone(&sandbox));
        Ok(sandbox)
    }

    /// Runs `f` on the sandbox as `subject`, on the blocking pool, under the server's lock.
    pub(crate) async fn call<T: Send + 'static>(
        self: &Arc<Self>,
        subject: &str,
        f: impl FnOnce(&Server, &Sandbox) -> PlatformResult<T> + Send + 'static,
    ) -> PlatformResult<T> {
        let server = Arc::clone(self);
        let subject = subject.to_owned();
        tokio::task::spawn_blocking(move || {
            let _guard = server.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let sandbox = server.sandbox(&subject)?;
            f(&server, &sandbox)
        })
        .await
        .map_err(|error| PlatformError::new(ErrorKind::Internal, format!("server task: {error}")))?
    }
}

/// The router: every request goes through [`dispatch`], which matches [`routes::ROUTES`].
pub fn app(server: Arc<Server>) -> Router {
    Router::new().fallback(answer).with_state(server)
}

/// Every answer carries an `x-request-id`, as the real gateway's do, for error messages.
async fn answer(
    State(server): State<Arc<Server>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = format!("{:016x}", (server.random() * (u64::MAX as f64)) as u64);
    let line = server.options.access_log.then(|| format!("{method} {uri}"));
    let mut response =
        dispatch(Arc::clone(&server), method, uri, headers, body).await.into_response();
    if let Some(line) = line {
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "{line} {}", response.status().as_u16());
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Serves until SIGTERM or Ctrl-C; `on_bound` is told the bound address first.
///
/// # Errors
/// When the address cannot be bound or the server fails.
pub async fn serve(
    server: Arc<Server>,
    listen: &str,
    on_bound: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    serve_until(server, listen, on_bound, shutdown_signal()).await
}

/// Serves until `shutdown` completes (then finishes the requests in flight).
///
/// # Errors
/// When the address cannot be bound or the server fails.
pub async fn serve_until(
    server: Arc<Server>,
    listen: &str,
    on_bound: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    on_bound(listener.local_addr()?);
    axum::serve(listener, app(server)).with_graceful_shutdown(shutdown).await
}

/// Completes when stdin reaches its end (`serve --stop-with-stdin`): a supervisor, or a test
/// harness, that holds the pipe stops the server by closing it or by dying.
pub async fn stdin_closed() {
    let (closed, wait) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin().lock();
        while let Ok(read) = std::io::Read::read(&mut stdin, &mut sink) {
            if read == 0 {
                break;
            }
        }
        let _ = closed.send(());
    });
    let _ = wait.await;
}

/// Completes on SIGTERM or Ctrl-C. The handlers are installed when this is called (inside the
/// runtime), not when the future is first polled: a signal that arrives as soon as the server
/// says it is listening is never the default action (termination without a graceful stop).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |stream: Option<tokio::signal::unix::Signal>| async move {
                match stream {
                    Some(mut stream) => {
                        stream.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(terminate) => {},
                () = wait(interrupt) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn parse_query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |text: &str| routes::percent_decode(&text.replace('+', " "));
            (wire::camel_case(&decode(key)), decode(value))
        })
        .collect()
}

async fn dispatch(
    server: Arc<Server>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    if !server.options.latency.is_zero() {
        tokio::time::sleep(server.options.latency).await;
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
        .map(str::trim);
    let Some(subject) = token.and_then(|token| server.tokens.get(token)).cloned() else {
        let message = if token.is_some() {
            "the bearer token is not valid"
        } else {
            "the request has no bearer token: send `Authorization: Bearer <token>`"
        };
        return Reply::status(401, 16, message);
    };
    // An injected fault: 429 before anything happens, or 503; a mutation's 503 comes after the
    // write half the time (the answer is lost, as on a real network), which a client survives
    // only by retrying with the same `Idempotency-Key`.
    let mut lose_answer = false;
    if server.options.fault_rate > 0.0 && server.random() < server.options.fault_rate {
        if server.random() < 0.5 {
            return Reply {
                retry_after: Some(1),
                ..Reply::status(429, 8, "too many requests (injected by --fault-rate)")
            };
        }
        if method == Method::GET || server.random() < 0.5 {
            return unavailable();
        }
        lose_answer = true;
    }
    let matched = match routes::find(method.as_str(), uri.path()) {
        Ok(matched) => matched,
        Err(true) => return Reply::status(405, 12, "method not allowed on this path"),
        Err(false) => {
            return Reply::status(404, 5, &format!("no endpoint `{} {}`", method, uri.path()));
        }
    };
    if server.options.public_only && matched.pattern.starts_with(wire::EXTENSION_PREFIX) {
        return Reply::status(404, 5, &format!("no endpoint `{} {}`", method, uri.path()));
    }
    // A JSON body is read whatever its Content-Type, as the real gateway does.
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(serde_json::Map::new())
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(value) => normalize_names(&value),
            Err(error) => return Reply::invalid(&format!("the body is not JSON: {error}")),
        }
    };
    let if_unchanged = match headers.get(crate::platform::lock::IF_UNCHANGED_HEADER).map(|value| {
        value.to_str().map_err(|e| e.to_string()).and_then(crate::platform::Seen::from_header)
    }) {
        None => None,
        Some(Ok(seen)) => Some(seen),
        Some(Err(message)) => return Reply::invalid(&message),
    };
    let call = Call {
        method: method.as_str().to_owned(),
        path: format!("{} {:?}", matched.pattern, matched.params),
        subject,
        params: matched.params,
        query: parse_query(&uri),
        body,
        idempotency_key: headers
            .get("idempotency-key")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
        if_unchanged,
    };
    // A retried mutation gets the operation its first try started, whatever became of the
    // objects it names since (a retried delete's object is gone).
    if method != Method::GET
        && let Some(reply) = server.replay(&call)
    {
        return if lose_answer { unavailable() } else { reply };
    }
    let reply = match public::handle(&server, matched.pattern, &call).await {
        Some(reply) => reply,
        None => match extension::handle(&server, matched.pattern, &call).await {
            Some(reply) => reply,
            None => Reply::status(
                501,
                12,
                &format!("`{} {}` is not implemented", method, matched.pattern),
            ),
        },
    };
    if lose_answer { unavailable() } else { reply }
}

fn unavailable() -> Reply {
    Reply {
        retry_after: Some(0),
        ..Reply::status(503, 14, "service unavailable (injected by --fault-rate)")
    }
}

/// One page of a list: `pageSize` (default 100, at most 1000) items after `pageToken`.
///
/// Items are ordered by `key` (an id, or another key unique in the list), and a page token is
/// the key of the last item of the previous page: a write between two pages (a delete before
/// the token, a create) never makes a later page skip or repeat an item, as an offset would.
pub(crate) fn page(
    mut items: Vec<Value>,
    call: &Call,
    key: impl Fn(&Value) -> String,
) -> Result<(Vec<Value>, String), Reply> {
    let size = match call.query.get("pageSize").map(|s| s.parse::<usize>()) {
        None => 100,
        Some(Ok(0)) => 100,
        Some(Ok(size)) => size.min(1000),
        Some(Err(_)) => return Err(Reply::invalid("`pageSize` must be a number")),
    };
    items.sort_by_cached_key(|item| key(item));
    let start = match call.query.get("pageToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => items.partition_point(|item| key(item).as_str() <= token.as_str()),
    };
    let end = start.saturating_add(size).min(items.len());
    let next = if end < items.len() && end > start { key(&items[end - 1]) } else { String::new() };
    Ok((items.into_iter().skip(start).take(end.saturating_sub(start)).collect(), next))
}

/// The key of a list item that has an `id`.
pub(crate) fn by_id(item: &Value) -> String {
    wire::text(item, "id")
}
