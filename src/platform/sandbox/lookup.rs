//! Lookups by id that `spherectl serve` needs to answer the public API, whose calls name an
//! object by id alone (`GET /datasphere/v2/projects/{id}`), while [`Platform::read`] reads by
//! organization.
//!
//! [`Platform::read`]: crate::platform::Platform::read

use rusqlite::OptionalExtension;

use super::{Sandbox, internal, parse_kind};
use crate::{manifest::Kind, platform::PlatformResult};

impl Sandbox {
    /// The kind and organization of an object by its id; `None` when there is no such object.
    ///
    /// # Errors
    /// When the database fails.
    pub fn locate(&self, id: &str) -> PlatformResult<Option<(Kind, String)>> {
        self.with_transaction(|tx| {
            let row: Option<(String, String)> = tx
                .query_row("SELECT kind, organization_id FROM objects WHERE id = ?1", [id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(internal)?;
            row.map(|(kind, organization)| Ok((parse_kind(&kind, id)?, organization))).transpose()
        })
    }
}
