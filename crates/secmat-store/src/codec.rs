//! How a [`CredentialRecord`], a [`ChannelRecord`] and a [`UserRecord`] map to columns, shared
//! by both backends so that they store exactly the same text in exactly the same columns.

use secmat_core::channel::ChannelSpec;
use secmat_core::{
    ClientAuthentication, CredentialSpec, CustomParameter, GrantType, ScopeContentType, Sealed,
};
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::{ChannelRecord, CredentialRecord, ListQuery, StoreError, UserRecord};

/// The `credentials` columns in the order the `INSERT` statements bind them.
pub(crate) const CREDENTIAL_COLUMNS: &str = "name, id, version, description, token_service_url, \
    client_id, client_authentication, scope, scope_content_type, resource, audience, grant_type, \
    custom_parameters, sealed_secret, status, deployed_by, deployed_on";

/// The `channels` columns in the order the `INSERT` statements bind them.
pub(crate) const CHANNEL_COLUMNS: &str =
    "name, address, credential_name, timeout_ms, version, modified_by, modified_on";

/// The `meta` counters bumped in the same transaction as every write of one kind of entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Generation {
    /// `users_generation` (schema version 1).
    Users,
    /// `credentials_generation` (schema version 2).
    Credentials,
    /// `channels_generation` (schema version 2).
    Channels,
}

impl Generation {
    /// The counter's key in `meta`.
    pub(crate) const fn key(self) -> &'static str {
        match self {
            Generation::Users => "users_generation",
            Generation::Credentials => "credentials_generation",
            Generation::Channels => "channels_generation",
        }
    }

    /// The statement that increments this counter (a constant, so each is prepared once).
    pub(crate) const fn bump_sql(self) -> &'static str {
        match self {
            Generation::Users => "UPDATE meta SET value = value + 1 WHERE key = 'users_generation'",
            Generation::Credentials => {
                "UPDATE meta SET value = value + 1 WHERE key = 'credentials_generation'"
            }
            Generation::Channels => {
                "UPDATE meta SET value = value + 1 WHERE key = 'channels_generation'"
            }
        }
    }

    /// The statement that reads this counter.
    pub(crate) const fn read_sql(self) -> &'static str {
        match self {
            Generation::Users => "SELECT value FROM meta WHERE key = 'users_generation'",
            Generation::Credentials => {
                "SELECT value FROM meta WHERE key = 'credentials_generation'"
            }
            Generation::Channels => "SELECT value FROM meta WHERE key = 'channels_generation'",
        }
    }
}

/// A table listed by [`list_sql`]: its name and the columns a page reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Listed {
    /// The table; its primary key is `name`.
    pub table: &'static str,
    /// The columns a page reads.
    pub columns: &'static str,
}

/// `list_credentials` reads whole credential rows.
pub(crate) const CREDENTIALS: Listed = Listed {
    table: "credentials",
    columns: CREDENTIAL_COLUMNS,
};

/// `list_channels` reads whole channel rows.
pub(crate) const CHANNELS: Listed = Listed {
    table: "channels",
    columns: CHANNEL_COLUMNS,
};

/// The list statement for `q` on `what`, with `$n` placeholders (both drivers accept them).
///
/// Binds, in order: `after` (if set), `name_contains` (if set), the limit, and the offset (if not
/// zero). `contains(n)` is the backend's "name contains placeholder `$n`" condition.
///
/// Only the conditions in use go into the statement (at most eight variants, each prepared once
/// per connection): an `$1 IS NULL OR name > $1` form can stop the planner from using the
/// primary-key range, and a keyset page would then scan from the first name.
///
/// A non-zero offset is applied in a sub-query that selects names only: it skips through the
/// narrow name index instead of reading (and on PostgreSQL, fetching from the heap) every
/// skipped row, then the page is read from the name it found on.
pub(crate) fn list_sql(what: Listed, q: &ListQuery, contains: fn(usize) -> String) -> String {
    let Listed { table, columns } = what;
    let mut n = 0;
    let mut filter = String::new();
    if q.after.is_some() {
        n += 1;
        filter.push_str(&format!(" AND name > ${n}"));
    }
    if q.name_contains.is_some() {
        n += 1;
        filter.push_str(&format!(" AND {}", contains(n)));
    }
    let (limit, offset) = (n + 1, n + 2);
    let mut sql = format!("SELECT {columns} FROM {table} WHERE 1 = 1{filter}");
    if q.offset > 0 {
        sql.push_str(&format!(
            " AND name >= (SELECT name FROM {table} WHERE 1 = 1{filter} \
             ORDER BY name LIMIT 1 OFFSET ${offset})"
        ));
    }
    sql.push_str(&format!(" ORDER BY name LIMIT ${limit}"));
    sql
}

/// Custom parameters as the JSON text stored in `credentials.custom_parameters`.
pub(crate) fn custom_parameters_json(params: &[CustomParameter]) -> Result<String, StoreError> {
    // Serializing plain strings and unit enums cannot fail; map the error anyway rather than
    // unwrap, so that a future field type that can fail surfaces as an error, not a panic.
    serde_json::to_string(params)
        .map_err(|e| StoreError::Database(format!("cannot encode custom parameters: {e}")))
}

/// Roles as the JSON text stored in `users.roles`.
pub(crate) fn roles_json(roles: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(roles)
        .map_err(|e| StoreError::Database(format!("cannot encode roles: {e}")))
}

/// Reads one column, naming it in the error (a decode failure means a corrupt or foreign row).
fn col<'r, R, T>(row: &'r R, name: &'static str) -> Result<T, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

/// Parses an enum column through the type's own wire-name parser.
fn wire<T>(text: &str, column: &str, parse: fn(&str) -> Option<T>) -> Result<T, StoreError> {
    parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("column {column}: unknown value '{text}'")))
}

/// A credential row (all of [`CREDENTIAL_COLUMNS`]) as a record.
pub(crate) fn credential_from_row<'r, R>(row: &'r R) -> Result<CredentialRecord, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    let name: String = col(row, "name")?;
    let params: String = col(row, "custom_parameters")?;
    let custom_parameters: Vec<CustomParameter> = serde_json::from_str(&params)
        .map_err(|e| StoreError::Corrupt(format!("custom parameters of '{name}': {e}")))?;
    let client_authentication: String = col(row, "client_authentication")?;
    let scope_content_type: String = col(row, "scope_content_type")?;
    let grant_type: String = col(row, "grant_type")?;
    let spec = CredentialSpec {
        description: col(row, "description")?,
        token_service_url: col(row, "token_service_url")?,
        client_id: col(row, "client_id")?,
        client_authentication: wire(
            &client_authentication,
            "client_authentication",
            ClientAuthentication::parse,
        )?,
        scope: col(row, "scope")?,
        scope_content_type: wire(
            &scope_content_type,
            "scope_content_type",
            ScopeContentType::parse,
        )?,
        resource: col(row, "resource")?,
        audience: col(row, "audience")?,
        grant_type: wire(&grant_type, "grant_type", GrantType::parse)?,
        custom_parameters,
        name,
    };
    Ok(CredentialRecord {
        id: col(row, "id")?,
        version: col(row, "version")?,
        spec,
        sealed_secret: Sealed(col(row, "sealed_secret")?),
        status: col(row, "status")?,
        deployed_by: col(row, "deployed_by")?,
        deployed_on: col(row, "deployed_on")?,
    })
}

/// Channel timeouts are stored as `BIGINT`; a timeout beyond `i64::MAX` milliseconds cannot be.
pub(crate) fn timeout_column(spec: &ChannelSpec) -> Result<i64, StoreError> {
    i64::try_from(spec.timeout_ms).map_err(|_| {
        StoreError::Database(format!(
            "timeout of channel '{}' is too large to store: {} ms",
            spec.name, spec.timeout_ms
        ))
    })
}

/// A channel row (all of [`CHANNEL_COLUMNS`]) as a record.
pub(crate) fn channel_from_row<'r, R>(row: &'r R) -> Result<ChannelRecord, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let name: String = col(row, "name")?;
    let timeout: i64 = col(row, "timeout_ms")?;
    let timeout_ms = u64::try_from(timeout)
        .map_err(|_| StoreError::Corrupt(format!("timeout of channel '{name}': {timeout} ms")))?;
    Ok(ChannelRecord {
        spec: ChannelSpec {
            address: col(row, "address")?,
            credential_name: col(row, "credential_name")?,
            timeout_ms,
            name,
        },
        version: col(row, "version")?,
        modified_by: col(row, "modified_by")?,
        modified_on: col(row, "modified_on")?,
    })
}

/// A `users` row (`name, password_hash, roles`) as a record.
pub(crate) fn user_from_row<'r, R>(row: &'r R) -> Result<UserRecord, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
{
    let name: String = col(row, "name")?;
    let roles: String = col(row, "roles")?;
    let roles = serde_json::from_str(&roles)
        .map_err(|e| StoreError::Corrupt(format!("roles of user '{name}': {e}")))?;
    Ok(UserRecord {
        name,
        password_hash: col(row, "password_hash")?,
        roles,
    })
}

/// Whether a database error is a unique-constraint violation (a duplicate name or id).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Clamps an offset to what SQL's `OFFSET` accepts (a signed 64-bit integer).
pub(crate) fn sql_offset(offset: u64) -> i64 {
    i64::try_from(offset).unwrap_or(i64::MAX)
}
