//! The policy stage (DESIGN §6): rules over the planned end state and the live state.
//!
//! Two kinds of rules:
//! - **built-in** ([`builtin`]): the platform's rules of publishing and access, each with an id,
//!   a severity, a message, help and the YAML span it is about. Their logic lives in
//!   [`crate::rules`], which the sandbox platform enforces too, so that a rule cannot pass at plan
//!   time and fail at apply.
//! - **organization policies in Rego** ([`rego`]): `deny` and `warn` rules of `*.rego` files,
//!   evaluated in-process with `regorus` over the plan JSON plus the actor and a summary of the
//!   live organization; their `test_*` rules run with `spherectl policy test`.
//!
//! Pure apart from reading the policy files: no platform access.

pub mod builtin;
pub mod input;
pub mod rego;

pub use rego::{PolicyFinding, evaluate, policy_files};
