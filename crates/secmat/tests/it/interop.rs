//! Interoperability with real, third-party authorization servers (`testpeers/`): oidc-provider
//! (OpenID certified) for form bodies, both client authentication methods, RFC 8707 resources,
//! custom parameters and short-lived tokens; oauth2-mock-server for JSON bodies. What arrived
//! is read from each peer's request recorder.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::harness::{Api, Server};
use crate::peers;

fn credential(name: &str, url: &str, id: &str, secret: &str, auth: &str) -> Value {
    json!({"Name": name, "TokenServiceUrl": url, "ClientId": id, "ClientSecret": secret, "ClientAuthentication": auth})
}

async fn token(api: &Api, name: &str) -> Value {
    let r = api.get(&format!("/runtime/v1/tokens/{name}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn last_request(peer: &peers::Peer) -> Value {
    peer.requests().await.pop().expect("a recorded request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_and_body_client_authentication_work_against_oidc_provider_in_strict_mode() {
    let idp = peers::oidc(&[("PEER_STRICT_AUTH", "1")]);
    let s = Server::start();
    let api = s.admin();
    api.create(&credential(
        "basic",
        &idp.token_url(),
        "basic-client",
        "basic-secret",
        "header",
    ))
    .await;
    api.create(&credential(
        "post",
        &idp.token_url(),
        "post-client",
        "post-secret",
        "body",
    ))
    .await;
    let t = token(&api, "basic").await;
    assert_eq!(
        claims(t["access_token"].as_str().unwrap())["client_id"],
        "basic-client"
    );
    let r = last_request(&idp).await;
    assert_eq!(
        (
            r["auth"].clone(),
            r["status"].clone(),
            r["grant_type"].clone()
        ),
        (json!("basic"), json!(200), json!("client_credentials"))
    );
    assert_eq!(r["headers"]["accept"], "application/json");
    assert_eq!(r["content_type"], "application/x-www-form-urlencoded");
    let t = token(&api, "post").await;
    assert_eq!(
        claims(t["access_token"].as_str().unwrap())["client_id"],
        "post-client"
    );
    let r = last_request(&idp).await;
    assert_eq!(
        (r["auth"].clone(), r["status"].clone()),
        (json!("post"), json!(200))
    );
    assert!(r["headers"].get("authorization").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_with_special_characters_is_form_encoded_before_basic_encoding() {
    let idp = peers::oidc(&[]);
    let s = Server::start();
    let api = s.admin();
    api.create(&credential(
        "special",
        &idp.token_url(),
        "special-client",
        "s3c:r%t+/=&?",
        "header",
    ))
    .await;
    api.create(&credential(
        "special-post",
        &idp.token_url(),
        "special-post-client",
        "s3c:r%t+/=&?",
        "body",
    ))
    .await;
    token(&api, "special").await;
    let r = last_request(&idp).await;
    assert_eq!(
        (
            r["auth"].clone(),
            r["client_id"].clone(),
            r["status"].clone()
        ),
        (json!("basic"), json!("special-client"), json!(200))
    );
    token(&api, "special-post").await;
    assert_eq!(last_request(&idp).await["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_resource_and_custom_parameters_arrive_where_configured() {
    let idp = peers::oidc(&[]);
    let s = Server::start();
    let api = s.admin();
    let mut c = credential(
        "full",
        &format!("{}?tenant=t0", idp.token_url()),
        "basic-client",
        "basic-secret",
        "header",
    );
    c["Scope"] = json!("api:read");
    c["Resource"] = json!("https://api.example.test/");
    c["Audience"] = json!("aud-x");
    c["CustomParameters"] = json!([
        {"Key": "company", "Value": "ACME & Co", "SendAsPartOf": "body"},
        {"Key": "X-Tenant", "Value": "t1", "SendAsPartOf": "header"},
        {"Key": "realm", "Value": "r/1", "SendAsPartOf": "url"},
    ]);
    assert_eq!(api.create(&c).await.status, 202);
    let t = token(&api, "full").await;
    let jwt = claims(t["access_token"].as_str().unwrap());
    assert_eq!(
        jwt["aud"], "https://api.example.test/",
        "RFC 8707 resource became the audience"
    );
    assert_eq!(jwt["scope"], "api:read");
    let r = last_request(&idp).await;
    assert_eq!(r["status"], 200);
    assert_eq!(r["query"], json!({"tenant": "t0", "realm": "r/1"}));
    assert_eq!(r["params"]["grant_type"], "client_credentials");
    assert_eq!(r["params"]["company"], "ACME & Co");
    assert_eq!(r["params"]["scope"], "api:read");
    assert_eq!(r["params"]["resource"], "https://api.example.test/");
    assert_eq!(r["params"]["audience"], "aud-x");
    assert_eq!(r["headers"]["x-tenant"], "t1");

    // The connectivity test decodes the same claims.
    let report = api
        .send("POST", "/runtime/v1/connectivity-tests/full", None, &[])
        .await
        .json();
    assert_eq!(report["jwt"]["aud"], "https://api.example.test/");
    assert_eq!(report["jwt"]["iss"], idp.base.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_type_in_the_url_goes_in_the_query_and_a_strict_server_says_so() {
    // RFC 6749 §4.4.2 puts grant_type in the body; SAP offers "Send as part of URL" for servers
    // that want it there. oidc-provider is strict, and its answer reaches the consumer.
    let idp = peers::oidc(&[]);
    let s = Server::start();
    let api = s.admin();
    let mut c = credential(
        "url",
        &idp.token_url(),
        "basic-client",
        "basic-secret",
        "header",
    );
    c["GrantType"] = json!("url");
    api.create(&c).await;
    let r = api.get("/runtime/v1/tokens/url").await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (502, json!("invalid_request"))
    );
    let req = last_request(&idp).await;
    assert_eq!(req["query"], json!({"grant_type": "client_credentials"}));
    assert!(req["params"].get("grant_type").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_refusals_are_passed_on() {
    let idp = peers::oidc(&[]);
    let s = Server::start();
    let api = s.admin();
    api.create(&credential(
        "wrong",
        &idp.token_url(),
        "basic-client",
        "WRONG",
        "header",
    ))
    .await;
    let mut forbidden = credential(
        "forbidden",
        &idp.token_url(),
        "basic-client",
        "basic-secret",
        "header",
    );
    forbidden["Resource"] = json!("urn:peers:forbidden");
    api.create(&forbidden).await;
    let r = api.get("/runtime/v1/tokens/wrong").await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (502, json!("invalid_client"))
    );
    assert!(!r.text.contains("WRONG"));
    let r = api.get("/runtime/v1/tokens/forbidden").await;
    assert_eq!(
        (r.status, r.json()["error"].clone()),
        (502, json!("invalid_target"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_are_accepted_by_oauth2_mock_server() {
    let idp = peers::mock(&[]);
    let s = Server::start();
    let api = s.admin();
    let mut c = credential(
        "json",
        &idp.token_url(),
        "post-client",
        "post-secret",
        "body",
    );
    c["ScopeContentType"] = json!("json");
    c["Scope"] = json!("api:read");
    api.create(&c).await;
    let t = token(&api, "json").await;
    assert_eq!(
        claims(t["access_token"].as_str().unwrap())["scope"],
        "api:read"
    );
    let r = last_request(&idp).await;
    assert_eq!(r["content_type"], "application/json");
    assert_eq!(
        r["params"],
        json!({"grant_type": "client_credentials", "client_id": "post-client", "client_secret": "post-secret", "scope": "api:read"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_lived_token_is_renewed_before_it_expires_and_every_token_handed_out_is_valid() {
    let idp = peers::oidc(&[("SHORT_TTL", "4")]);
    let rs = peers::resource_trusting(&[&idp]);
    let s = Server::start();
    let api = s.admin();
    api.create(&credential(
        "short",
        &idp.token_url(),
        "short-client",
        "short-secret",
        "header",
    ))
    .await;
    let http = reqwest::Client::new();
    let mut seen = std::collections::BTreeSet::new();
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(10) {
        let t = token(&api, "short").await;
        let access = t["access_token"].as_str().unwrap().to_owned();
        let r = http
            .get(rs.url("/api/items"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "a token handed out was rejected by the resource server"
        );
        seen.insert(access);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let requests = idp.stats().await["token_requests"].as_u64().unwrap();
    // 10 s of a 4 s token, refreshed at half its life: about 5 requests, never a loop.
    assert!(seen.len() >= 3, "renewed: {} tokens", seen.len());
    assert!(
        (3..=7).contains(&requests),
        "{requests} token requests in 10 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_cause_one_request_at_oidc_provider() {
    let idp = peers::oidc(&[]);
    let s = Server::start();
    s.admin()
        .create(&credential(
            "cold",
            &idp.token_url(),
            "basic-client",
            "basic-secret",
            "header",
        ))
        .await;
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let (client, url) = (client.clone(), format!("{}/runtime/v1/tokens/cold", s.base));
        tasks.push(tokio::spawn(async move {
            let r = client
                .get(url)
                .basic_auth("admin", Some(crate::harness::ADMIN_PASSWORD))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }));
    }
    let mut tokens = std::collections::BTreeSet::new();
    for t in tasks {
        tokens.insert(t.await.unwrap());
    }
    assert_eq!(tokens.len(), 1, "every caller got the same token");
    assert_eq!(idp.stats().await["token_requests"], 1);
}
