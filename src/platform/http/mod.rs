//! The DataSphere v2 HTTP platform.

pub mod wire;
