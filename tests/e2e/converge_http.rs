//! The convergence property of `converge.rs` over HTTP: the same generated manifest sets, applied
//! through the http platform to an in-process `spherectl serve` (one per case), converge to an
//! empty plan. Every kind, field, publication and use goes through the wire format both ways.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, OnceLock},
};

use proptest::prelude::*;
use spherectl::{
    apply::{self, ApplyOptions},
    manifest,
    plan::{self, PlanInput, SecretValues},
    platform::{Platform, SecretValue, http::HttpPlatform, sandbox::Sandbox},
    server::{self, ServeOptions},
};

use super::converge::{Tally, check_case, org_strategy};

const TOKEN: &str = "converge-token";

/// The servers of this test: their URL and what stops them, by database.
type Servers = Mutex<HashMap<PathBuf, (String, tokio::sync::oneshot::Sender<()>)>>;

fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(Mutex::default)
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    })
}

/// The URL of the server of `db`, started on first use.
fn server_for(db: &Path) -> String {
    let mut servers = servers().lock().unwrap();
    if let Some((url, _)) = servers.get(db) {
        return url.clone();
    }
    let sandbox = Sandbox::open(db, "userAccount:local-admin").unwrap();
    sandbox.set_quotas(&[("projects-per-community".into(), None)]).unwrap();
    drop(sandbox);
    let server = server::Server::new(ServeOptions {
        db: db.to_path_buf(),
        tokens: vec![(TOKEN.into(), "userAccount:local-admin".into())],
        latency: std::time::Duration::ZERO,
        fault_rate: 0.0,
        operation_delay: std::time::Duration::ZERO,
        public_only: false,
        access_log: false,
        unchecked_reads: false,
    });
    let (bound, address) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    runtime().spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        let _ = server::serve_until(
            server,
            "127.0.0.1:0",
            |address| {
                let _ = bound.send(address);
            },
            shutdown,
        )
        .await;
    });
    let url =
        format!("http://{}", address.recv_timeout(std::time::Duration::from_secs(20)).unwrap());
    servers.insert(db.to_path_buf(), (url.clone(), stop));
    url
}

fn apply_text_http(
    dir: &Path,
    db: &Path,
    text: &str,
    secrets: &[(String, Vec<u8>)],
) -> Result<plan::Plan, String> {
    std::fs::write(dir.join("org.yaml"), text).unwrap();
    let loaded = manifest::load(&[dir.to_path_buf()]).map_err(|f| format!("{:?}", f.problems))?;
    let url = server_for(db);
    let platform = HttpPlatform::connect(&url, TOKEN.into(), "userAccount:local-admin").unwrap();
    let values: SecretValues = secrets
        .iter()
        .map(|(address, value)| {
            (manifest::Address::parse(address).unwrap(), SecretValue::new(value.clone()))
        })
        .collect();
    let make_plan = |platform: &HttpPlatform| {
        let mut live = platform.read(&loaded.model.organization.id).unwrap();
        let capabilities = platform.capabilities();
        plan::capabilities::complete_live(&mut live, &loaded, capabilities);
        let digest = |value: &SecretValue| platform.secret_digest(value);
        let mut plan = plan::plan(&PlanInput {
            loaded: &loaded,
            live: &live,
            secrets: &values,
            digest: &digest,
            actor: platform.actor(),
            platform: platform.describe(),
            allow_delete: true,
        });
        plan::capabilities::annotate(&mut plan, &loaded, capabilities);
        plan
    };
    let first = make_plan(&platform);
    if first.is_denied() {
        return Err(format!("denied: {:?}", first.findings));
    }
    let options = ApplyOptions { parallelism: 4, interrupted: Arc::new(false.into()) };
    let outcome = apply::apply(&first, &platform, &values, &options, &|_| {});
    if !outcome.is_success() {
        return Err(format!(
            "apply failed: {:?}",
            outcome.results.iter().filter(|(_, s)| *s != apply::Status::Done).collect::<Vec<_>>()
        ));
    }
    Ok(make_plan(&platform))
}

#[test]
fn after_apply_over_http_the_next_plan_is_empty() {
    use std::sync::atomic::Ordering::Relaxed;
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(12);
    let config = ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let tally = Tally::default();
    let result = runner.run(&(org_strategy(), org_strategy()), |(prior, target)| {
        check_case(&prior, &target, &tally, apply_text_http)
    });
    for (_, (_, stop)) in servers().lock().unwrap().drain() {
        let _ = stop.send(());
    }
    if let Err(error) = result {
        panic!("{error}");
    }
    let (applied, rejected) = (tally.applied.load(Relaxed), tally.rejected.load(Relaxed));
    assert!(
        applied * 4 >= (applied + rejected) * 3,
        "most generated cases must apply: {applied} applied, {rejected} rejected"
    );
}
