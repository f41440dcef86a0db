//! `HttpReceiverChannels`: the HTTP adapter's channels, with the same OData conventions, CSRF
//! and roles as the credentials (reads `MonitoringDataRead`, writes `CredentialsEdit`). Writes
//! answer `202` without a body, like the credentials'.
//!
//! A channel with a fixed `CredentialName` is only accepted when that credential exists; a
//! `${header.NAME}` channel is checked per request.

use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secmat_core::FieldError;
use secmat_core::channel::{ChannelDraft, ChannelSpec, CredentialRef};
use secmat_store::{ChannelRecord, ListQuery};
use serde_json::{Value, json};

use super::{Call, not_allowed};
use crate::auth::Role;
use crate::odata::{ApiError, MAX_PAGE, QueryOptions, ResourcePath, date, key_path};
use crate::state::AppState;

/// The entity set's name.
pub const ENTITY_SET: &str = "HttpReceiverChannels";
const ENTITY_TYPE: &str = "secmat.HttpReceiverChannel";

/// Routes one request on the entity set.
pub async fn handle(
    state: &AppState,
    call: &Call,
    method: Method,
    resource: ResourcePath,
    query: Option<&str>,
    body: Option<Option<Value>>,
) -> Result<Response, ApiError> {
    match (method, resource) {
        (Method::GET | Method::HEAD, ResourcePath::Collection(_)) => list(state, call, query).await,
        (Method::GET | Method::HEAD, ResourcePath::Entity(_, name)) => {
            call.require(Role::MonitoringDataRead, "read HTTP receiver channels")?;
            QueryOptions::parse(query)?;
            let rec = find(state, &name).await?;
            Ok(axum::Json(json!({"d": entity_json(call, &rec)})).into_response())
        }
        (Method::POST, ResourcePath::Collection(_)) => {
            write(state, call, None, body.flatten()).await
        }
        (Method::PUT, ResourcePath::Entity(_, name)) => {
            write(state, call, Some(&name), body.flatten()).await
        }
        (Method::DELETE, ResourcePath::Entity(_, name)) => {
            call.require(Role::CredentialsEdit, "delete HTTP receiver channels")?;
            if !state.store.delete_channel(&name).await? {
                return Err(not_found(&name));
            }
            state.gateway.forget(&name);
            tracing::info!(channel = %name, user = %call.principal.name, "channel deleted");
            Ok(StatusCode::ACCEPTED.into_response())
        }
        (_, ResourcePath::Navigation(_, _, nav)) => Err(ApiError::NotFound(format!(
            "Resource not found for the segment '{nav}'."
        ))),
        (m, ResourcePath::Collection(_)) => {
            Err(not_allowed(&m, "HttpReceiverChannels (use GET or POST)"))
        }
        (m, ResourcePath::Entity(..)) => Err(not_allowed(
            &m,
            "an HttpReceiverChannel (use GET, PUT or DELETE)",
        )),
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::NotFound(format!("HTTP receiver channel '{name}' does not exist."))
}

async fn find(state: &AppState, name: &str) -> Result<ChannelRecord, ApiError> {
    state
        .store
        .get_channel(name)
        .await?
        .ok_or_else(|| not_found(name))
}

async fn list(state: &AppState, call: &Call, query: Option<&str>) -> Result<Response, ApiError> {
    call.require(Role::MonitoringDataRead, "read HTTP receiver channels")?;
    let o = QueryOptions::parse(query)?;
    let page = o.top.unwrap_or(MAX_PAGE).min(MAX_PAGE);
    let q = ListQuery {
        after: o.skiptoken.clone(),
        offset: o.skip,
        limit: page.saturating_add(1),
        name_contains: None,
    };
    let mut records = state.store.list_channels(&q).await?;
    let more = records.len() > page as usize;
    records.truncate(page as usize);
    let mut d =
        json!({"results": records.iter().map(|r| entity_json(call, r)).collect::<Vec<_>>()});
    if o.inline_count {
        d["__count"] = Value::String(state.store.count_channels(None).await?.to_string());
    }
    if more
        && o.top.is_none_or(|t| t > page)
        && let Some(last) = records.last()
    {
        let token: String =
            url::form_urlencoded::byte_serialize(last.spec.name.as_bytes()).collect();
        d["__next"] = Value::String(format!(
            "{}/{ENTITY_SET}?$skiptoken={token}",
            call.service_root
        ));
    }
    Ok(axum::Json(json!({"d": d})).into_response())
}

async fn write(
    state: &AppState,
    call: &Call,
    key: Option<&str>,
    body: Option<Value>,
) -> Result<Response, ApiError> {
    call.require(
        Role::CredentialsEdit,
        "create or edit HTTP receiver channels",
    )?;
    let body = body.ok_or_else(|| {
        ApiError::BadRequest("The request body is empty; send the channel as a JSON object.".into())
    })?;
    let mut draft = ChannelDraft::from_json(body).map_err(ApiError::Validation)?;
    if let Some(key) = key {
        match draft.name.as_deref() {
            Some(n) if n != key => {
                return Err(ApiError::BadRequest(
                    "Entity key specified in URI does not match to name from payload.".into(),
                ));
            }
            _ => draft.name = Some(key.to_owned()),
        }
    }
    let current = match key {
        Some(k) => Some(find(state, k).await?),
        None => None,
    };
    let spec = draft.validate().map_err(ApiError::Validation)?;
    check_credential(state, &spec).await?;
    let name = spec.name.clone();
    let record = ChannelRecord {
        spec,
        version: current.as_ref().map_or(1, |c| c.version + 1),
        modified_by: call.principal.name.clone(),
        modified_on: state.clock.now_millis(),
    };
    match current {
        Some(_) => state.store.update_channel(&record).await?,
        None => state.store.create_channel(&record).await?,
    }
    state.gateway.forget(&name);
    tracing::info!(channel = %name, user = %call.principal.name, "channel saved");
    let location = format!("{}/{}", call.service_root, key_path(ENTITY_SET, &name));
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)]).into_response())
}

async fn check_credential(state: &AppState, spec: &ChannelSpec) -> Result<(), ApiError> {
    if let CredentialRef::Fixed(name) = spec.credential()
        && state.store.get_credential(name).await?.is_none()
    {
        return Err(ApiError::Validation(vec![FieldError {
            field: "CredentialName".into(),
            message: format!(
                "OAuth2 client credentials '{name}' do not exist: deploy them first, or use ${{header.NAME}} to choose per request."
            ),
        }]));
    }
    Ok(())
}

/// One channel in OData V2 verbose JSON.
pub fn entity_json(call: &Call, rec: &ChannelRecord) -> Value {
    let uri = format!(
        "{}/{}",
        call.service_root,
        key_path(ENTITY_SET, &rec.spec.name)
    );
    json!({
        "__metadata": {"id": uri, "uri": uri, "type": ENTITY_TYPE},
        "Name": rec.spec.name,
        "Address": rec.spec.address,
        "CredentialName": rec.spec.credential_name,
        "Timeout": rec.spec.timeout_ms,
        "ModifiedBy": rec.modified_by,
        "ModifiedOn": date(rec.modified_on),
    })
}
