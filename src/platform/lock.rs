//! Apply locks: one apply at a time per organization, where the platform can tell.
//!
//! The embedded sandbox locks a file beside its database (`sandbox::lock`); `spherectl serve`
//! grants a lease through an extension endpoint (`http::lease`); the public DataSphere API has no
//! lock, and there each write's re-check ([`Seen`]) is the only guard. A [`Holder`] says who
//! holds a lock, so that a waiting apply can say whom it waits for.
//!
//! # Guarantees
//! A lock is held until its [`ApplyLock`] is dropped, or its process dies: the operating system
//! releases a file lock, and a lease that is not renewed expires after its time to live.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime},
};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who holds (or asks for) an apply lock.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// When it took the lock, as `YYYY-MM-DD HH:MM:SS UTC`.
    pub started: String,
    /// Its command line, shortened.
    #[serde(default)]
    pub command: String,
    /// The subject it acts as, when a server says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// The longest command line a holder records.
const MAX_COMMAND: usize = 200;

impl Holder {
    /// This process, now.
    pub fn current() -> Holder {
        let mut command: String = std::env::args()
            .enumerate()
            .map(|(i, arg)| {
                // The program by its file name: a path says nothing to another user.
                if i == 0 {
                    std::path::Path::new(&arg)
                        .file_name()
                        .map_or(arg.clone(), |n| n.to_string_lossy().into_owned())
                } else {
                    arg
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        if command.chars().count() > MAX_COMMAND {
            command = command.chars().take(MAX_COMMAND).collect::<String>() + "…";
        }
        Holder {
            pid: std::process::id(),
            host: host_name(),
            started: utc_text(SystemTime::now()),
            command,
            subject: None,
        }
    }

    /// `pid 123 on host `ci-4` since 2026-01-02 10:00:00 UTC, running `spherectl apply --yes``.
    ///
    /// The holder comes from another process (a lock file, another client's lease): control
    /// characters in it are shown escaped (`\u{1b}`), never sent raw to a terminal.
    pub fn describe(&self) -> String {
        let mut text = format!("pid {} on host `{}`", self.pid, printable(&self.host));
        if let Some(subject) = &self.subject {
            text.push_str(&format!(" as `{}`", printable(subject)));
        }
        if !self.started.is_empty() {
            text.push_str(&format!(" since {}", printable(&self.started)));
        }
        if !self.command.is_empty() {
            text.push_str(&format!(", running `{}`", printable(&self.command)));
        }
        text
    }

    /// The holder as JSON (for a lock file or a lease request).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// A holder from JSON; `None` when it is not one (a lock file being written).
    pub fn from_json(value: &Value) -> Option<Holder> {
        serde_json::from_value(value.clone()).ok().filter(|h: &Holder| h.pid != 0)
    }
}

/// `text` with its control characters escaped (`\u{1b}`, `\n`).
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

/// The machine's name, for lock holders (`unknown` when it cannot be read).
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|name| !name.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a time.
pub(crate) fn utc_text(time: SystemTime) -> String {
    let [year, month, day, hour, minute, second] = utc_parts(time);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02} UTC")
}

/// Year, month, day, hour, minute and second (UTC) of a time; days to civil date by Howard
/// Hinnant's algorithm. Times before 1970 read as 1970-01-01 00:00:00.
pub(crate) fn utc_parts(time: SystemTime) -> [i64; 6] {
    let seconds = time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let rest = i64::try_from(seconds % 86_400).unwrap_or(0);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    [year, month, day, rest / 3600, rest % 3600 / 60, rest % 60]
}

/// How to wait for a lock.
pub struct LockRequest<'a> {
    pub organization_id: &'a str,
    pub holder: &'a Holder,
    /// How long to wait for another holder (zero: fail at once).
    pub timeout: Duration,
    /// Told who holds the lock when the request has to wait (again when the holder changes).
    pub waiting: &'a (dyn Fn(&Holder) + Sync),
}

/// What guards an apply: the lock it holds (released on drop), or none.
pub struct ApplyLock {
    /// Releases the lock when dropped.
    guard: Option<Box<dyn Send>>,
    /// What the lock is, for messages: `lock file `…``, `lease on …`.
    pub what: String,
}

impl ApplyLock {
    /// No lock: the platform has none (each write is re-checked).
    pub fn none() -> ApplyLock {
        ApplyLock { guard: None, what: String::new() }
    }

    /// A held lock, released when `guard` drops.
    pub fn held(guard: Box<dyn Send>, what: String) -> ApplyLock {
        ApplyLock { guard: Some(guard), what }
    }

    /// Whether a lock is held.
    pub fn is_held(&self) -> bool {
        self.guard.is_some()
    }
}

impl std::fmt::Debug for ApplyLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyLock")
            .field("held", &self.is_held())
            .field("what", &self.what)
            .finish()
    }
}

/// The message of a lock that was not free within the timeout.
pub fn timed_out(what: &str, timeout: Duration, holder: Option<&Holder>) -> String {
    let by = holder.map_or_else(|| "another process".to_owned(), Holder::describe);
    format!(
        "timed out after {} waiting for the {what}: it is held by {by}",
        crate::platform::lock::duration_text(timeout)
    )
}

/// A duration as `--lock-timeout` takes it: `90s`, `5m`, `1h`, `500ms`.
pub fn duration_text(duration: Duration) -> String {
    let millis = duration.as_millis();
    if !millis.is_multiple_of(1000) {
        format!("{millis}ms")
    } else if millis == 0 {
        "0s".to_owned()
    } else {
        let seconds = duration.as_secs();
        if seconds.is_multiple_of(3600) {
            format!("{}h", seconds / 3600)
        } else if seconds.is_multiple_of(60) {
            format!("{}m", seconds / 60)
        } else {
            format!("{seconds}s")
        }
    }
}

/// Parses a duration: a number and a unit (`ms`, `s`, `m`, `h`); a bare `0` is zero.
///
/// # Errors
/// A message when the text is not such a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad =
        || format!("`{text}` is not a duration: use a number and a unit, such as `30s`, `5m`");
    let number: u64 = number.parse().map_err(|_| bad())?;
    let millis = match unit {
        "ms" => Some(number),
        "s" => number.checked_mul(1000),
        "m" => number.checked_mul(60_000),
        "h" => number.checked_mul(3_600_000),
        _ => return Err(bad()),
    };
    millis.map(Duration::from_millis).ok_or_else(bad)
}

/// What the plan saw of the object that an update or delete changes: the write stops with a
/// conflict when the object is no longer so (another writer changed it since the plan).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Seen {
    /// The object's version, when the platform has versions and no other change of this apply
    /// writes the object (its own writes would move the version).
    pub version: Option<i64>,
    /// Field values as the plan saw them, by manifest path (`metadata.name`,
    /// `metadata.labels.team`, `spec.description`), references as platform ids; `null` for an
    /// absent field.
    pub fields: BTreeMap<String, Value>,
}

impl Seen {
    /// Compares with the object as it is now; the message of a conflict when it changed.
    pub fn differs(
        &self,
        version: Option<i64>,
        name: &str,
        labels: &BTreeMap<String, String>,
        attributes: &BTreeMap<String, Value>,
    ) -> Option<String> {
        if let (Some(seen), Some(now)) = (self.version, version)
            && seen != now
        {
            return Some(format!("its version is {now}, the plan saw {seen}"));
        }
        for (path, seen) in &self.fields {
            let now = if path == "metadata.name" {
                Value::from(name)
            } else if let Some(key) = path.strip_prefix("metadata.labels.") {
                labels.get(key).map_or(Value::Null, |v| Value::from(v.clone()))
            } else {
                attributes.get(path).cloned().unwrap_or(Value::Null)
            };
            if now != *seen {
                return Some(format!("`{path}` is {now}, the plan saw {seen}"));
            }
        }
        None
    }
}

/// The header in which a client asks `spherectl serve` to make a write conditional: the
/// [`Seen`] as base64 of its JSON. The server checks it and writes in one transaction.
pub const IF_UNCHANGED_HEADER: &str = "x-spherectl-if-unchanged";

/// The longest [`IF_UNCHANGED_HEADER`] a client sends (larger expectations, such as long
/// Dockerfiles, are checked by a read just before the write instead).
pub const MAX_IF_UNCHANGED_HEADER: usize = 8 * 1024;

impl Seen {
    /// The value of [`IF_UNCHANGED_HEADER`]; `None` when it would be too long.
    pub fn to_header(&self) -> Option<String> {
        use base64::Engine;
        let json = serde_json::to_vec(self).ok()?;
        let text = base64::engine::general_purpose::STANDARD.encode(json);
        (text.len() <= MAX_IF_UNCHANGED_HEADER).then_some(text)
    }

    /// Reads [`IF_UNCHANGED_HEADER`].
    ///
    /// # Errors
    /// A message when it is not base64 of a [`Seen`]'s JSON.
    pub fn from_header(text: &str) -> Result<Seen, String> {
        use base64::Engine;
        let bad = |e: &dyn std::fmt::Display| {
            format!("`{IF_UNCHANGED_HEADER}` is not base64 of the JSON of what the plan saw: {e}")
        };
        let json =
            base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|e| bad(&e))?;
        serde_json::from_slice(&json).map_err(|e| bad(&e))
    }
}

/// The error of a write whose object changed since the plan.
pub fn conflict(detail: &str) -> crate::platform::PlatformError {
    crate::platform::PlatformError::new(
        crate::platform::ErrorKind::Conflict,
        format!("changed since the plan was made ({detail}): re-run plan"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("99999999999999999h").is_err());
        assert_eq!(duration_text(Duration::from_secs(300)), "5m");
        assert_eq!(duration_text(Duration::from_millis(1500)), "1500ms");
        assert_eq!(duration_text(Duration::from_secs(1)), "1s");
    }

    #[test]
    fn utc_text_is_a_calendar_date() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(utc_text(time), "2024-02-29 12:34:56 UTC");
        assert_eq!(utc_text(SystemTime::UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn what_the_plan_saw_travels_in_a_header() {
        let mut seen = Seen { version: Some(7), fields: BTreeMap::new() };
        seen.fields.insert("metadata.labels.team".into(), Value::from("ünïcode"));
        let header = seen.to_header().unwrap();
        assert!(header.is_ascii());
        assert_eq!(Seen::from_header(&header), Ok(seen.clone()));
        assert!(Seen::from_header("not base64!").is_err());
        seen.fields
            .insert("spec.dockerfile".into(), Value::from("x".repeat(MAX_IF_UNCHANGED_HEADER)));
        assert_eq!(seen.to_header(), None);
    }

    #[test]
    fn a_changed_field_or_version_is_a_conflict() {
        let mut seen = Seen { version: Some(3), fields: BTreeMap::new() };
        seen.fields.insert("metadata.labels.team".into(), Value::from("a"));
        seen.fields.insert("spec.description".into(), Value::Null);
        let mut labels = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
        let attributes = BTreeMap::new();
        assert_eq!(seen.differs(Some(3), "x", &labels, &attributes), None);
        assert!(seen.differs(Some(4), "x", &labels, &attributes).unwrap().contains("version"));
        assert_eq!(seen.differs(None, "x", &labels, &attributes), None);
        labels.insert("team".into(), "b".into());
        assert!(seen.differs(Some(3), "x", &labels, &attributes).unwrap().contains("team"));
    }
}
