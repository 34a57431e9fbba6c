//! One HTTP call with retries, and long-running operations polled until done.
//!
//! Retries: 429 (honouring `Retry-After`), 500, 502, 503, 504 and connection errors, with
//! jittered exponential backoff, up to [`Transport::attempts`] tries. A mutation carries one
//! `Idempotency-Key` through all its tries, so a retried write whose first answer was lost
//! returns the same operation instead of writing twice. Errors name the method, the path, the
//! status, the request id and a short body; never the token.

use std::{fmt, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::platform::{ErrorKind, PlatformError, PlatformResult};

use super::wire;

/// A bearer token: its `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct Token(String);

impl Token {
    pub(crate) fn new(token: String) -> Token {
        Token(token)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// The HTTP side of the platform: a client, its hosts and its retry policy.
#[derive(Debug)]
pub(crate) struct Transport {
    client: reqwest::Client,
    /// `https://datasphere.api.cloud.yandex.net` (no trailing slash).
    pub(crate) base: String,
    /// Where operations are polled.
    pub(crate) operations_base: String,
    token: Token,
    /// Tries per call.
    pub(crate) attempts: u32,
    /// The longest wait for an operation.
    pub(crate) operation_timeout: Duration,
    /// Items received by [`Transport::list`] so far (progress of a long read).
    pub(crate) items_read: std::sync::atomic::AtomicUsize,
}

/// The real service's API host, whose operations live on another host.
pub(crate) const PUBLIC_HOST: &str = "https://datasphere.api.cloud.yandex.net";
const PUBLIC_OPERATIONS_HOST: &str = "https://operation.api.cloud.yandex.net";

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// A random UUIDv4 (`Idempotency-Key`).
pub(crate) fn uuid4() -> String {
    let mut bytes = [0u8; 16];
    let _ = getrandom::fill(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// A jittered exponential backoff: between half and all of `base × 2^attempt`, capped.
pub(crate) fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let full = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
    let half = full / 2;
    let jitter = u64::try_from(half.as_millis()).unwrap_or(u64::MAX).max(1);
    half + Duration::from_millis(random_u64() % jitter)
}

fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.trim().to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text[..end].trim())
}

impl Transport {
    /// A transport for `base`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub(crate) fn new(base: &str, token: Token) -> PlatformResult<Transport> {
        let base = base.trim_end_matches('/').to_owned();
        let operations_base =
            if base == PUBLIC_HOST { PUBLIC_OPERATIONS_HOST.to_owned() } else { base.clone() };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("spherectl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PlatformError::new(ErrorKind::Internal, format!("HTTP client: {e}")))?;
        let seconds = |name: &str, default: u64| {
            std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
        };
        Ok(Transport {
            client,
            base,
            operations_base,
            token,
            attempts: u32::try_from(seconds("SPHERECTL_HTTP_ATTEMPTS", 10)).unwrap_or(10).max(1),
            operation_timeout: Duration::from_secs(seconds("SPHERECTL_OPERATION_TIMEOUT", 600)),
            items_read: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Sends one call (retrying) and returns its JSON answer.
    ///
    /// # Errors
    /// The platform's error for a 4xx or 5xx answer (after retries), or `Unavailable` when the
    /// server cannot be reached.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> PlatformResult<Value> {
        self.send_with_headers(method, url, query, body, idempotency_key, &[]).await
    }

    /// [`Transport::send`] with extra headers.
    ///
    /// # Errors
    /// As [`Transport::send`].
    pub(crate) async fn send_with_headers(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        idempotency_key: Option<&str>,
        headers: &[(&str, String)],
    ) -> PlatformResult<Value> {
        let path = url.strip_prefix(&self.base).unwrap_or(url);
        let path = path.strip_prefix(&self.operations_base).unwrap_or(path);
        // A body that carries a secret: an answer that echoes it must not show it.
        let secrets = wire::secret_texts(body);
        let mut attempt = 0;
        loop {
            let mut request = self
                .client
                .request(method.clone(), url)
                .query(query)
                .bearer_auth(&self.token.0)
                .header("accept", "application/json");
            if let Some(key) = idempotency_key {
                request = request.header("idempotency-key", key);
            }
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let (retry, wait, error) = match request.send().await {
                Err(error) => {
                    let error = PlatformError::new(
                        ErrorKind::Unavailable,
                        format!("{method} {path}: cannot reach the platform: {}", describe(&error)),
                    );
                    (true, None, error)
                }
                Ok(response) => {
                    let status = response.status();
                    let request_id = ["x-request-id", "x-server-request-id"]
                        .iter()
                        .find_map(|name| response.headers().get(*name))
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned);
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|value| value.to_str().ok())
                        .and_then(|value| value.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = response.text().await.unwrap_or_default();
                    if status.is_success() {
                        return if text.trim().is_empty() {
                            Ok(Value::Object(serde_json::Map::new()))
                        } else {
                            serde_json::from_str(&text).map_err(|e| {
                                PlatformError::new(
                                    ErrorKind::Internal,
                                    format!(
                                        "{method} {path}: the answer is not JSON ({e}): {}",
                                        truncate(&redact(&text, &secrets), 200)
                                    ),
                                )
                            })
                        };
                    }
                    let retry = matches!(
                        status,
                        StatusCode::TOO_MANY_REQUESTS
                            | StatusCode::INTERNAL_SERVER_ERROR
                            | StatusCode::BAD_GATEWAY
                            | StatusCode::SERVICE_UNAVAILABLE
                            | StatusCode::GATEWAY_TIMEOUT
                    );
                    let text = redact(&text, &secrets);
                    (retry, retry_after, http_error(&method, path, status, request_id, &text))
                }
            };
            attempt += 1;
            if !retry || attempt >= self.attempts {
                return Err(error);
            }
            let delay = backoff(attempt - 1, Duration::from_millis(100), Duration::from_secs(5));
            tokio::time::sleep(wait.map_or(delay, |wait| wait.max(delay / 4))).await;
        }
    }

    /// Sends a mutation with a fresh `Idempotency-Key` and waits for its operation; returns the
    /// operation's `response`.
    ///
    /// # Errors
    /// The call's error, the operation's `error`, or `Unavailable` when the operation is not done
    /// within [`Transport::operation_timeout`].
    pub(crate) async fn mutate(
        &self,
        method: Method,
        path: &str,
        body: &Value,
    ) -> PlatformResult<Value> {
        self.mutate_with_headers(method, path, body, &[]).await
    }

    /// [`Transport::mutate`] with extra headers on the mutation's request.
    ///
    /// # Errors
    /// As [`Transport::mutate`].
    pub(crate) async fn mutate_with_headers(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        headers: &[(&str, String)],
    ) -> PlatformResult<Value> {
        let key = uuid4();
        let url = format!("{}{path}", self.base);
        let mut operation = self
            .send_with_headers(method.clone(), &url, &[], Some(body), Some(&key), headers)
            .await?;
        let started = tokio::time::Instant::now();
        let mut polls = 0;
        loop {
            if operation.get("done").and_then(Value::as_bool) == Some(true) {
                if let Some(error) = operation.get("error").and_then(wire::parse_status) {
                    // The platform's reason first: it is what the user acts on.
                    let id = wire::text(&operation, "id");
                    let message = redact(&error.message, &wire::secret_texts(Some(body)));
                    return Err(PlatformError::new(
                        error.kind,
                        format!("{message} (operation `{id}` of {method} {path})"),
                    ));
                }
                return Ok(operation.get("response").cloned().unwrap_or(Value::Null));
            }
            let Some(id) = operation.get("id").and_then(Value::as_str).map(str::to_owned) else {
                // Not an operation (a synchronous answer): the answer is the response.
                return Ok(operation);
            };
            if started.elapsed() >= self.operation_timeout {
                return Err(PlatformError::new(
                    ErrorKind::Unavailable,
                    format!(
                        "{method} {path}: operation `{id}` not done after {}s; it may still finish: run plan again later",
                        self.operation_timeout.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(backoff(polls, Duration::from_millis(50), Duration::from_secs(2)))
                .await;
            polls += 1;
            let url = format!("{}/operations/{id}", self.operations_base);
            operation = self.send(Method::GET, &url, &[], None, None).await?;
        }
    }

    /// Every item of a paginated list (`pageSize` 1000, following `nextPageToken`).
    ///
    /// # Errors
    /// The first failed page's error.
    pub(crate) async fn list(
        &self,
        path: &str,
        query: &[(&str, String)],
        key: &str,
    ) -> PlatformResult<Vec<Value>> {
        let url = format!("{}{path}", self.base);
        let mut items = Vec::new();
        let mut token = String::new();
        // A gateway that answers a token it gave before would page forever: stop instead.
        let mut seen = std::collections::HashSet::new();
        loop {
            let mut page_query = query.to_vec();
            page_query.push(("pageSize", "1000".to_owned()));
            if !token.is_empty() {
                page_query.push(("pageToken", token.clone()));
            }
            let page = self.send(Method::GET, &url, &page_query, None, None).await?;
            let page = wire::normalize_names(&page);
            if let Some(found) = page.get(key).and_then(Value::as_array) {
                self.items_read.fetch_add(found.len(), std::sync::atomic::Ordering::Relaxed);
                items.extend(found.iter().cloned());
            }
            token = wire::text(&page, "nextPageToken");
            if token.is_empty() {
                return Ok(items);
            }
            if !seen.insert(token.clone()) {
                return Err(PlatformError::new(
                    ErrorKind::Internal,
                    format!(
                        "GET {path}: the platform answered the page token `{token}` a second time; stopping instead of reading the same pages forever"
                    ),
                ));
            }
        }
    }

    /// A GET of one message.
    ///
    /// # Errors
    /// The call's error.
    pub(crate) async fn get(&self, path: &str) -> PlatformResult<Value> {
        let url = format!("{}{path}", self.base);
        self.send(Method::GET, &url, &[], None, None).await.map(|v| wire::normalize_names(&v))
    }
}

/// `text` with every one of `secrets` (see [`wire::secret_texts`]) replaced by `***`. Before any
/// truncation, so that no prefix of a secret survives either.
fn redact(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), "***");
        }
    }
    text
}

/// A transport error by its causes (the method and path are said already; the URL and its
/// headers, never the token, are left out).
fn describe(error: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    match causes.last() {
        Some(root) if error.is_timeout() => format!("timed out ({root})"),
        Some(root) => root.clone(),
        None if error.is_timeout() => "timed out".to_owned(),
        None => error.to_string(),
    }
}

fn http_error(
    method: &Method,
    path: &str,
    status: StatusCode,
    request_id: Option<String>,
    body: &str,
) -> PlatformError {
    let parsed: Option<PlatformError> =
        serde_json::from_str::<Value>(body).ok().as_ref().and_then(wire::parse_status);
    let kind = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ErrorKind::PermissionDenied,
        StatusCode::NOT_FOUND | StatusCode::NOT_IMPLEMENTED => ErrorKind::NotFound,
        StatusCode::CONFLICT => ErrorKind::Conflict,
        StatusCode::TOO_MANY_REQUESTS => ErrorKind::Unavailable,
        status if status.is_server_error() => ErrorKind::Unavailable,
        _ => parsed.as_ref().map_or(ErrorKind::Rejected, |e| e.kind),
    };
    let detail = match &parsed {
        Some(error) if !error.message.is_empty() => truncate(&error.message, 512),
        _ => truncate(body, 512),
    };
    let request = request_id.map(|id| format!(", request id `{id}`")).unwrap_or_default();
    let mut message = format!("{method} {path}: {status}{request}: {detail}");
    if status == StatusCode::UNAUTHORIZED {
        message.push_str(
            "\n  help: check `SPHERECTL_TOKEN` (or `YC_IAM_TOKEN`): IAM tokens expire after some hours",
        );
    }
    PlatformError::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        for attempt in 0..20 {
            let delay = backoff(attempt, Duration::from_millis(100), Duration::from_secs(5));
            let full = Duration::from_millis(100).saturating_mul(1 << attempt.min(16));
            let full = full.min(Duration::from_secs(5));
            assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
        }
        let key = uuid4();
        assert_eq!(key.len(), 36);
        assert_eq!(&key[14..15], "4");
    }

    #[test]
    fn the_real_service_polls_operations_on_its_operation_host() {
        let token = || Token::new("t".into());
        let real = Transport::new("https://datasphere.api.cloud.yandex.net/", token()).unwrap();
        assert_eq!(real.base, "https://datasphere.api.cloud.yandex.net");
        assert_eq!(real.operations_base, "https://operation.api.cloud.yandex.net");
        let serve = Transport::new("http://127.0.0.1:8080", token()).unwrap();
        assert_eq!(serve.operations_base, "http://127.0.0.1:8080");
    }

    #[test]
    fn an_error_that_echoes_a_secret_shows_no_part_of_it() {
        let body = serde_json::json!({"name": "token", "content": "aHVudGVyMi1zZWNyZXQtdmFsdWU="});
        let secrets = wire::secret_texts(Some(&body));
        // The echo straddles the 512-byte cut: masked first, so no prefix of it is left either.
        let echoed = format!("{}{body}", "x".repeat(480));
        let text = redact(&echoed, &secrets);
        let error = http_error(&Method::POST, "/p", StatusCode::BAD_REQUEST, None, &text);
        assert!(!error.message.contains("aHVud"), "{}", error.message);
        assert!(error.message.contains("\"name\":\"token\""), "{}", error.message);
        let decoded = redact("value `hunter2-secret-value` refused", &secrets);
        assert_eq!(decoded, "value `***` refused");
        assert!(wire::secret_texts(Some(&serde_json::json!({"name": "x"}))).is_empty());
    }

    #[test]
    fn errors_name_the_call_and_never_the_token() {
        let token = Token::new("t1.secret".into());
        assert_eq!(format!("{token:?}"), "Token(***)");
        let error = http_error(
            &Method::GET,
            "/datasphere/v2/communities",
            StatusCode::UNAUTHORIZED,
            Some("r-1".into()),
            r#"{"code":16,"message":"the bearer token is not valid"}"#,
        );
        assert_eq!(error.kind, ErrorKind::PermissionDenied);
        assert!(error.message.starts_with(
            "GET /datasphere/v2/communities: 401 Unauthorized, request id `r-1`: the bearer token is not valid"
        ));
        assert!(!error.message.contains("t1.secret"));
    }
}
