//! Each kind's `spec`: the fields it manages (through the field schema) and the checks that are
//! the kind's own (bucket names, node sources, instance ranges, alias weights, secret sources).

#[allow(clippy::wildcard_imports)]
use super::*;

impl Builder<'_, '_> {
    pub(super) fn community(&mut self, spec: &raw::CommunitySpec) {
        self.push_description(spec.description.as_ref());
        let zone = spec.zone.as_ref();
        match zone {
            Some(zone) => self.push_text("spec.zone", Some(zone)),
            None => {
                let span = self.object.location.span;
                self.push("spec.zone", json!(DEFAULT_ZONE), span);
            }
        }
        self.push_text("spec.billingAccount", spec.billing_account.as_ref());
        self.members(spec.members.as_ref());
    }

    pub(super) fn project(&mut self, spec: &raw::ProjectSpec) {
        self.push_description(spec.description.as_ref());
        if let Some(settings) = &spec.settings {
            self.push_text("spec.settings.serviceAccount", settings.service_account.as_ref());
            self.push_text("spec.settings.defaultFolder", settings.default_folder.as_ref());
            self.push_text("spec.settings.subnet", settings.subnet.as_ref());
            if let Some(timeout) = &settings.stale_exec_timeout {
                self.push(
                    "spec.settings.staleExecTimeout",
                    json!(timeout.value.as_str()),
                    timeout.span,
                );
            }
            if let Some(groups) = &settings.security_groups {
                let mut sorted = groups.value.clone();
                sorted.sort();
                sorted.dedup();
                self.push("spec.settings.securityGroups", json!(sorted), groups.span);
            }
            self.push_text("spec.settings.dataProcCluster", settings.data_proc_cluster.as_ref());
            if let Some(timeout) = &settings.vm_inactivity_timeout {
                match parse_duration(&timeout.value) {
                    Some(_) => self.push_text("spec.settings.vmInactivityTimeout", Some(timeout)),
                    None => {
                        let problem = Problem::error(
                            "spherectl::manifest::invalid_duration",
                            format!("invalid duration `{}`", timeout.value),
                        )
                        .at(self.at(timeout.span), "not a duration")
                        .help("write a number and a unit: `90s`, `30m`, `2h` or `1h30m`");
                        self.cx.error(problem);
                    }
                }
            }
            self.push_text(
                "spec.settings.defaultDedicatedSpec",
                settings.default_dedicated_spec.as_ref(),
            );
            if let Some(early) = &settings.early_access {
                self.push("spec.settings.earlyAccess", json!(early.value), early.span);
            }
        }
        if let Some(limits) = &spec.limits {
            let range = (0, i64::MAX);
            self.push_int("spec.limits.maxUnitsPerHour", limits.max_units_per_hour.as_ref(), range);
            self.push_int(
                "spec.limits.maxUnitsPerExecution",
                limits.max_units_per_execution.as_ref(),
                range,
            );
        }
        if let Some(balance) = &spec.balance {
            if balance.value < 0 {
                let problem = Problem::error(
                    "spherectl::manifest::out_of_range",
                    "`spec.balance` cannot be negative",
                )
                .at(self.at(balance.span), "negative balance");
                self.cx.error(problem);
            }
            self.object.balance = Some((balance.value, self.at(balance.span)));
        }
        self.members(spec.members.as_ref());
        for (index, entry) in spec.uses.iter().flatten().enumerate() {
            let kind = entry.value.kind.as_ref();
            let kind = self.require(kind, &format!("spec.uses[{index}].kind"), entry.span);
            if let Some(id) = &entry.value.id {
                if let Some(reference) = &entry.value.reference {
                    let problem = Problem::error(
                        "spherectl::manifest::invalid_reference",
                        format!("`spec.uses[{index}]` gives both `ref` and `id`"),
                    )
                    .at(self.at(reference.span), "`ref` here")
                    .at(self.at(id.span), "`id` here")
                    .help(
                        "`ref: COMMUNITY/PROJECT/NAME` names a resource of these manifests, `id` \
                         one they do not declare; keep one",
                    );
                    self.cx.error(problem);
                } else if let Some(kind) = kind {
                    self.external_use_entry(kind, id);
                }
                continue;
            }
            let reference = entry.value.reference.as_ref();
            let reference = self.require(reference, &format!("spec.uses[{index}].ref"), entry.span);
            if let (Some(kind), Some(reference)) = (kind, reference) {
                self.use_entry(kind, reference);
            }
        }
    }

    pub(super) fn dataset(&mut self, spec: &raw::DatasetSpec) {
        self.push_description(spec.description.as_ref());
        self.push_int("spec.sizeGb", Some(&spec.size_gb), (1, 4096));
        self.push_text("spec.initCode", spec.init_code.as_ref());
        self.push_text("spec.zone", spec.zone.as_ref());
        self.push_text("spec.mountPath", spec.mount_path.as_ref());
        self.active(spec.active.as_ref());
        self.publish(&spec.publish, None);
    }

    pub(super) fn secret(&mut self, spec: &raw::SecretSpec) {
        self.push_description(spec.description.as_ref());
        let location = self.at(spec.value.span);
        match &spec.value.value {
            raw::RawSecretValue::FromEnv(name) => {
                if name.value.is_empty() {
                    let problem = Problem::error(
                        "spherectl::manifest::invalid_secret",
                        "`fromEnv` names no variable",
                    )
                    .at(self.at(name.span), "empty");
                    self.cx.error(problem);
                }
                self.object.secret =
                    Some((SecretSource::Env(name.value.clone()), self.at(name.span)));
            }
            raw::RawSecretValue::FromFile(path) => {
                let base = self
                    .cx
                    .sources
                    .get(self.file)
                    .path
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                self.object.secret =
                    Some((SecretSource::File(base.join(&path.value)), self.at(path.span)));
            }
            raw::RawSecretValue::Plaintext => {
                let problem = Problem::error(
                    "spherectl::manifest::plaintext_secret",
                    "plaintext secret values are not allowed",
                )
                .at(location, "a secret written into the manifest")
                .help("read it at plan time instead: `value: {fromEnv: VARIABLE}` or `value: {fromFile: PATH}`; and rotate this secret, since it was committed");
                self.cx.error(problem);
            }
        }
        self.publish(&spec.publish, None);
    }

    pub(super) fn docker_image(&mut self, spec: &raw::DockerImageSpec, spec_key: Span) {
        self.push_description(spec.description.as_ref());
        let repository = self.require(spec.repository.as_ref(), "spec.repository", spec_key);
        let tag = self.require(spec.tag.as_ref(), "spec.tag", spec_key);
        let dockerfile = self.require(spec.dockerfile.as_ref(), "spec.dockerfile", spec_key);
        self.push_text("spec.repository", repository);
        self.push_text("spec.tag", tag);
        self.push_text("spec.dockerfile", dockerfile);
        self.push_text("spec.buildPath", spec.build_path.as_ref());
        self.active(spec.active.as_ref());
        self.publish(&spec.publish, None);
    }

    pub(super) fn s3_connection(&mut self, spec: &raw::S3ConnectionSpec, spec_key: Span) {
        self.push_description(spec.description.as_ref());
        let endpoint = self.require(spec.endpoint.as_ref(), "spec.endpoint", spec_key);
        let bucket = self.require(spec.bucket.as_ref(), "spec.bucket", spec_key);
        let access_key_id = self.require(spec.access_key_id.as_ref(), "spec.accessKeyId", spec_key);
        let secret_key = self.require(spec.secret_key.as_ref(), "spec.secretKey", spec_key);
        self.push_text("spec.endpoint", endpoint);
        if let Some(bucket) = bucket
            && (bucket.value.contains('.') || bucket.value.is_empty())
        {
            let problem = Problem::error(
                "spherectl::manifest::invalid_bucket",
                format!("invalid bucket name `{}`", bucket.value),
            )
            .at(self.at(bucket.span), "bucket names for S3 connections contain no dots")
            .help("DataSphere mounts only buckets whose names have no `.`");
            self.cx.error(problem);
        }
        self.push_text("spec.bucket", bucket);
        self.push_text("spec.mountName", spec.mount_name.as_ref());
        self.push_text("spec.accessKeyId", access_key_id);
        if let Some(secret_key) = secret_key {
            self.reference_field("spec.secretKey.secret", Kind::Secret, &secret_key.secret);
        }
        if let Some(mode) = &spec.mode {
            self.push("spec.mode", json!(mode.value.as_str()), mode.span);
        }
        self.active(spec.active.as_ref());
        self.publish(&spec.publish, None);
    }

    pub(super) fn checkpoint(&mut self, spec: &raw::CheckpointSpec) {
        self.push_description(spec.description.as_ref());
        let pinned = spec.pinned.as_ref().is_some_and(|p| p.value);
        if let Some(p) = &spec.pinned {
            self.push("spec.pinned", json!(p.value), p.span);
        }
        self.publish(&spec.publish, Some(pinned));
    }

    pub(super) fn node(&mut self, spec: &raw::NodeSpec) {
        self.push_description(spec.description.as_ref());
        let source = &spec.source;
        match (&source.value.docker_image, &source.value.checkpoint) {
            (Some(image), None) => {
                self.reference_field("spec.source.dockerImage", Kind::DockerImage, image);
            }
            (None, Some(checkpoint)) => {
                if let Some(target) =
                    self.reference_field("spec.source.checkpoint", Kind::Checkpoint, checkpoint)
                    && let Some(RawSpec::Checkpoint(target_spec)) = self.spec_of.get(&target)
                    && !target_spec.pinned.as_ref().is_some_and(|p| p.value)
                {
                    let problem = Problem::error(
                        "spherectl::rules::unpinned_checkpoint",
                        format!("node source `{target}` is not pinned"),
                    )
                    .at(self.at(checkpoint.span), "an unpinned checkpoint")
                    .help("only pinned checkpoints can be deployed as nodes: set `spec.pinned: true` on the checkpoint");
                    self.cx.error(problem);
                }
            }
            (image, _) => {
                let label = if image.is_some() {
                    "two sources: keep one"
                } else {
                    "no source: add `dockerImage` or `checkpoint`"
                };
                let problem = Problem::error(
                    "spherectl::manifest::node_source",
                    "a node's `source` needs exactly one of `dockerImage` and `checkpoint`",
                )
                .at(self.at(source.span), label);
                self.cx.error(problem);
            }
        }
        self.push_text("spec.instanceType", spec.instance_type.as_ref());
        let instances = spec.instances.as_ref().and_then(|instances| {
            let at = instances.span;
            let min = self.require(instances.value.min.as_ref(), "spec.instances.min", at);
            let min = min.map(Spanned::to_i64);
            let max = self.require(instances.value.max.as_ref(), "spec.instances.max", at);
            let max = max.map(Spanned::to_i64);
            Some((instances, min?, max?))
        });
        if let Some((instances, min, max)) = instances {
            if min.value < 0 || max.value < 1 || min.value > max.value {
                let problem = Problem::error(
                    "spherectl::manifest::out_of_range",
                    format!("invalid instance range {}..{}", min.value, max.value),
                )
                .at(
                    self.at(instances.span),
                    "min must be at least 0 and at most max; max at least 1",
                );
                self.cx.error(problem);
            }
            self.push("spec.instances.min", json!(min.value), min.span);
            self.push("spec.instances.max", json!(max.value), max.span);
        }
        self.push_text("spec.zone", spec.zone.as_ref());
        self.push_text("spec.subnet", spec.subnet.as_ref());
        self.push_text("spec.folder", spec.folder.as_ref());
        if let Some(acl) = &spec.acl {
            self.push("spec.acl", json!(acl.value), acl.span);
        }
        if let Some(env) = &spec.env {
            let mut targets = Vec::new();
            for name in env {
                if let Some(target) = self.resolve(Kind::Secret, name, "spec.env") {
                    self.check_shared(&target, name.span, false);
                    self.depend(target.clone(), EdgeKind::Reference, name.span);
                    targets.push(Value::String(target.to_string()));
                }
            }
            let span = env.first().map_or(self.object.location.span, |e| e.span);
            self.object.fields.push(Field {
                path: "spec.env".to_owned(),
                value: Value::Array(targets),
                location: self.at(span),
            });
        }
        if let Some(endpoint) = &spec.endpoint {
            let at = endpoint.span;
            let protocol = self.require(endpoint.value.protocol.as_ref(), "spec.endpoint.type", at);
            let port = self.require(endpoint.value.port.as_ref(), "spec.endpoint.port", at);
            let port = port.map(Spanned::to_i64);
            if let Some(protocol) = protocol {
                self.push("spec.endpoint.type", json!(protocol.value.as_str()), protocol.span);
            }
            self.push_int("spec.endpoint.port", port.as_ref(), (1, 65535));
        }
        if let Some(check) = &spec.health_check {
            if let Some(protocol) = &check.protocol {
                self.push("spec.healthCheck.type", json!(protocol.value.as_str()), protocol.span);
            }
            self.push_text("spec.healthCheck.path", check.path.as_ref());
            self.push_int("spec.healthCheck.port", check.port.as_ref(), (1, 65535));
            self.push_int("spec.healthCheck.timeout", check.timeout.as_ref(), (1, 3600));
            self.push_int("spec.healthCheck.interval", check.interval.as_ref(), (1, 3600));
            self.push_int(
                "spec.healthCheck.failsThreshold",
                check.fails_threshold.as_ref(),
                (1, 100),
            );
            self.push_int(
                "spec.healthCheck.passesThreshold",
                check.passes_threshold.as_ref(),
                (1, 100),
            );
        }
        self.publish(&spec.publish, None);
    }

    pub(super) fn alias(&mut self, spec: &raw::AliasSpec) {
        self.push_description(spec.description.as_ref());
        let backends = &spec.backends;
        let mut values = Vec::new();
        let mut weights: Vec<i64> = Vec::new();
        let mut complete = true;
        for (index, backend) in backends.value.iter().enumerate() {
            let at = backend.span;
            let node = backend.value.node.as_ref();
            let node = self.require(node, &format!("spec.backends[{index}].node"), at);
            let weight = backend.value.weight.as_ref();
            let weight = self.require(weight, &format!("spec.backends[{index}].weight"), at);
            let weight = weight.map(Spanned::to_i64);
            let (Some(node), Some(weight)) = (node, weight) else {
                complete = false;
                continue;
            };
            weights.push(weight.value);
            if let Err(violation) = rules::check_alias_weight(weight.value) {
                let problem =
                    Problem::error("spherectl::manifest::alias_weights", violation.message)
                        .at(self.at(weight.span), "expected 0 to 100");
                self.cx.error(problem);
            }
            if let Some(target) = self.resolve(Kind::Node, node, "spec.backends") {
                self.check_shared(&target, node.span, false);
                self.depend(target.clone(), EdgeKind::Reference, node.span);
                values.push(json!({"node": target.to_string(), "weight": weight.value}));
            }
        }
        // A backend with a missing field is reported on its own; a sum over the rest would not
        // be the sum the user wrote.
        if complete && let Err(violation) = rules::check_alias_weights(&weights) {
            let label = if weights.is_empty() {
                "no backends".to_owned()
            } else {
                let terms: Vec<String> = weights.iter().map(i64::to_string).collect();
                match rules::alias_weight_total(&weights) {
                    Some(total) => format!("{} = {total}", terms.join(" + ")),
                    None => format!("{} overflows", terms.join(" + ")),
                }
            };
            let problem = Problem::error("spherectl::manifest::alias_weights", violation.message)
                .at(self.at(backends.span), label)
                .maybe_help(violation.help);
            self.cx.error(problem);
        }
        self.object.fields.push(Field {
            path: "spec.backends".to_owned(),
            value: Value::Array(values),
            location: self.at(backends.span),
        });
        self.push_text("spec.folder", spec.folder.as_ref());
        if let Some(acl) = &spec.acl {
            self.push("spec.acl", json!(acl.value), acl.span);
        }
        self.publish(&spec.publish, None);
    }
}
