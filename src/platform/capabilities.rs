//! What a platform can read and write.
//!
//! The embedded sandbox and `spherectl serve` can do everything. The public DataSphere v2 API
//! covers communities, projects, their access bindings, unit balances, publishing (`addResource`)
//! and activation, but cannot list or create datasets, secrets, Docker images, S3 connections,
//! checkpoints, nodes or aliases, cannot list publications or uses, cannot compare secrets, has
//! no object versions and no organization sharing rule. The planner reads these flags to adopt
//! such resources by `metadata.id` and to say what it could not verify.

/// What a platform can read and write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Project resources (datasets, secrets, ...) can be listed, read, created and changed.
    pub resources: bool,
    /// Publications (resource → community) can be listed.
    pub publications: bool,
    /// Uses (project → shared resource) can be listed.
    pub uses: bool,
    /// Secret values can be compared through a keyed digest.
    pub secret_digests: bool,
    /// Objects carry versions that change with every write (saved plans detect changes).
    pub versions: bool,
    /// The organization's sharing rule and members can be read and the rule written.
    pub organization: bool,
}

impl Capabilities {
    /// Everything: the sandbox and `spherectl serve`.
    pub const FULL: Capabilities = Capabilities {
        resources: true,
        publications: true,
        uses: true,
        secret_digests: true,
        versions: true,
        organization: true,
    };

    /// The public DataSphere v2 API.
    pub const PUBLIC_API: Capabilities = Capabilities {
        resources: false,
        publications: false,
        uses: false,
        secret_digests: false,
        versions: false,
        organization: false,
    };

    /// Whether everything is readable.
    pub fn is_full(self) -> bool {
        self == Capabilities::FULL
    }

    /// What cannot be checked, in words, for `drift` and plans (empty when everything can).
    pub fn unverifiable(self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if !self.resources {
            missing.push("project resources (datasets, secrets, Docker images, S3 connections, checkpoints, nodes, aliases): adopted by `metadata.id`, their fields not read");
        }
        if !self.publications {
            missing.push("publications of resources to communities");
        }
        if !self.uses {
            missing.push("shared resources added to projects");
        }
        if !self.secret_digests {
            missing.push("secret values");
        }
        if !self.organization {
            missing.push("the organization's sharing rule and members");
        }
        missing
    }
}
