//! Lookups by id that `spherectl serve` needs to answer the public API, whose calls name an
//! object by id alone (`GET /datasphere/v2/projects/{id}`), while [`Platform::read`] reads by
//! organization.
//!
//! [`Platform::read`]: crate::platform::Platform::read

use rusqlite::OptionalExtension;

use super::{Sandbox, checks::can_see, internal, parse_kind, store::load};
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

    /// The kind and organization of an object that the sandbox's actor can see (any role on its
    /// organization, or on its community or project: see `checks::can_see`); `None` when there
    /// is no such object **or** the actor cannot see it. `spherectl serve` answers both alike,
    /// so that a caller cannot tell whether an id it may not see exists.
    ///
    /// # Errors
    /// When the database fails.
    pub fn locate_visible(&self, id: &str) -> PlatformResult<Option<(Kind, String)>> {
        self.with_transaction(|tx| match load(tx, id)? {
            Some(row) if can_see(tx, &self.actor, id, &row)? => {
                Ok(Some((row.kind, row.organization_id)))
            }
            _ => Ok(None),
        })
    }
}
