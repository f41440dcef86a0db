//! `OAuth2ClientCredentials`: list, read, create (with deep-inserted `CustomParameters`), replace
//! and delete, in SAP's shapes and status codes (writes answer `202 Accepted` without a body, as
//! SAP's do; read the entity back to see it).

use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secmat_core::artifact::ARTIFACT_TYPE;
use secmat_core::{CredentialDraft, NewCredential};
use secmat_store::{CredentialRecord, ListQuery};
use serde_json::{Value, json};

use super::{Call, not_allowed};
use crate::auth::Role;
use crate::material;
use crate::odata::{ApiError, MAX_PAGE, QueryOptions, ResourcePath, date, key_path};
use crate::state::AppState;

/// The entity set's name.
pub const ENTITY_SET: &str = "OAuth2ClientCredentials";
const ENTITY_TYPE: &str = "com.sap.hci.api.OAuth2ClientCredential";
const NAV: &str = "CustomParameters";

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
        (Method::GET | Method::HEAD, ResourcePath::Entity(_, name)) => get(state, call, &name, query).await,
        (Method::GET | Method::HEAD, ResourcePath::Navigation(_, name, nav)) if nav == NAV => {
            call.require(Role::MonitoringDataRead, "read security material")?;
            let rec = find(state, &name).await?;
            Ok(axum::Json(json!({"d": {"results": custom_parameters_json(&rec)}})).into_response())
        }
        (_, ResourcePath::Navigation(_, _, nav)) if nav == NAV => Err(ApiError::MethodNotAllowed(
            "Custom parameters are written with their credential (POST or PUT on OAuth2ClientCredentials), not on their own.".into(),
        )),
        (_, ResourcePath::Navigation(_, _, nav)) => {
            Err(ApiError::NotFound(format!("Resource not found for the segment '{nav}'.")))
        }
        (Method::POST, ResourcePath::Collection(_)) => create(state, call, body.flatten()).await,
        (Method::PUT, ResourcePath::Entity(_, name)) => replace(state, call, &name, body.flatten()).await,
        (Method::DELETE, ResourcePath::Entity(_, name)) => delete(state, call, &name).await,
        (m, ResourcePath::Collection(_)) => Err(not_allowed(&m, "OAuth2ClientCredentials (use GET or POST)")),
        (m, ResourcePath::Entity(..)) => Err(not_allowed(&m, "an OAuth2ClientCredential (use GET, PUT or DELETE)")),
    }
}

async fn find(state: &AppState, name: &str) -> Result<CredentialRecord, ApiError> {
    state.store.get_credential(name).await?.ok_or_else(|| {
        ApiError::NotFound(format!("OAuth2 client credentials '{name}' do not exist."))
    })
}

async fn list(state: &AppState, call: &Call, query: Option<&str>) -> Result<Response, ApiError> {
    call.require(Role::MonitoringDataRead, "read security material")?;
    let o = QueryOptions::parse(query)?;
    let wanted = o.top.unwrap_or(u32::MAX);
    let page = wanted.min(MAX_PAGE);
    let q = ListQuery {
        after: o.skiptoken.clone(),
        offset: o.skip,
        // One more than the page tells whether there is a next page.
        limit: page.saturating_add(1),
        name_contains: None,
    };
    let mut records = state.store.list_credentials(&q).await?;
    let more = records.len() > page as usize;
    records.truncate(page as usize);
    let results: Vec<Value> = records
        .iter()
        .map(|r| entity_json(call, r, o.expand_custom_parameters))
        .collect();
    let mut d = json!({ "results": results });
    if o.inline_count {
        d["__count"] = Value::String(state.store.count_credentials(None).await?.to_string());
    }
    if more
        && wanted > page
        && let Some(last) = records.last()
    {
        d["__next"] = Value::String(next_link(call, &o, &last.spec.name, wanted - page));
    }
    Ok(axum::Json(json!({ "d": d })).into_response())
}

/// The `__next` link of server-driven paging: the same request continuing after `last`.
fn next_link(call: &Call, o: &QueryOptions, last: &str, remaining: u32) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if o.expand_custom_parameters {
        q.append_pair("$expand", NAV);
    }
    if o.top.is_some() {
        q.append_pair("$top", &remaining.to_string());
    }
    if o.inline_count {
        q.append_pair("$inlinecount", "allpages");
    }
    q.append_pair("$skiptoken", last);
    format!("{}/{ENTITY_SET}?{}", call.service_root, q.finish())
}

async fn get(
    state: &AppState,
    call: &Call,
    name: &str,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    call.require(Role::MonitoringDataRead, "read security material")?;
    let o = QueryOptions::parse(query)?;
    let rec = find(state, name).await?;
    Ok(
        axum::Json(json!({ "d": entity_json(call, &rec, o.expand_custom_parameters) }))
            .into_response(),
    )
}

fn draft_from(body: Option<Value>) -> Result<CredentialDraft, ApiError> {
    let body = body.ok_or_else(|| {
        ApiError::BadRequest(
            "The request body is empty; send the credential as a JSON object.".into(),
        )
    })?;
    CredentialDraft::from_json(body).map_err(ApiError::Validation)
}

fn validate(draft: CredentialDraft) -> Result<NewCredential, ApiError> {
    draft.validate().map_err(ApiError::Validation)
}

fn accepted(call: &Call, name: &str) -> Response {
    let location = format!("{}/{}", call.service_root, key_path(ENTITY_SET, name));
    (StatusCode::ACCEPTED, [(header::LOCATION, location)]).into_response()
}

async fn create(state: &AppState, call: &Call, body: Option<Value>) -> Result<Response, ApiError> {
    call.require(Role::CredentialsEdit, "create security material")?;
    let new = validate(draft_from(body)?)?;
    let name = new.spec.name.clone();
    material::create(state, &call.principal.name, new).await?;
    Ok(accepted(call, &name))
}

async fn replace(
    state: &AppState,
    call: &Call,
    name: &str,
    body: Option<Value>,
) -> Result<Response, ApiError> {
    call.require(Role::CredentialsEdit, "edit security material")?;
    let mut draft = draft_from(body)?;
    match draft.name.as_deref() {
        Some(n) if n != name => {
            return Err(ApiError::BadRequest(
                "Entity key specified in URI does not match to name from payload.".into(),
            ));
        }
        _ => draft.name = Some(name.to_owned()),
    }
    // 404 before 400, as SAP answers a PUT on an unknown name.
    find(state, name).await?;
    material::replace(state, &call.principal.name, validate(draft)?).await?;
    Ok(accepted(call, name))
}

async fn delete(state: &AppState, call: &Call, name: &str) -> Result<Response, ApiError> {
    call.require(Role::CredentialsEdit, "delete security material")?;
    material::delete(state, &call.principal.name, name).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

fn custom_parameters_json(rec: &CredentialRecord) -> Vec<Value> {
    rec.spec
        .custom_parameters
        .iter()
        .map(|p| {
            json!({
                "__metadata": {"type": "com.sap.hci.api.CustomParameter"},
                "Key": p.key, "Value": p.value, "SendAsPartOf": p.send_as_part_of.as_str(),
            })
        })
        .collect()
}

/// One credential in OData V2 verbose JSON. `ClientSecret` is always `null`.
pub fn entity_json(call: &Call, rec: &CredentialRecord, expand: bool) -> Value {
    let s = &rec.spec;
    let uri = format!("{}/{}", call.service_root, key_path(ENTITY_SET, &s.name));
    let params = if expand {
        json!({ "results": custom_parameters_json(rec) })
    } else {
        json!({ "__deferred": { "uri": format!("{uri}/{NAV}") } })
    };
    json!({
        "__metadata": { "id": uri, "uri": uri, "type": ENTITY_TYPE },
        "Name": s.name,
        "Description": s.description,
        "TokenServiceUrl": s.token_service_url,
        "ClientId": s.client_id,
        "ClientSecret": Value::Null,
        "ClientAuthentication": s.client_authentication.as_str(),
        "Scope": s.scope,
        "ScopeContentType": s.scope_content_type.as_str(),
        "Resource": s.resource,
        "Audience": s.audience,
        "GrantType": s.grant_type.as_str(),
        "SecurityArtifactDescriptor": {
            "__metadata": { "type": "com.sap.hci.api.SecurityArtifactDescriptor" },
            "Type": ARTIFACT_TYPE,
            "DeployedBy": rec.deployed_by,
            "DeployedOn": date(rec.deployed_on),
            "Status": rec.status,
        },
        NAV: params,
    })
}
