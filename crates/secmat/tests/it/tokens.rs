//! The token API, the `secmat token` CLI, the connectivity test and the metrics, end to end.

use serde_json::{Value, json};

use crate::fake_idp::{FakeIdp, Reply};
use crate::harness::{Server, entity};

fn credential_for(name: &str, token_url: &str, secret: &str) -> Value {
    json!({
        "Name": name, "TokenServiceUrl": token_url, "ClientId": "client-1", "ClientSecret": secret,
        "ClientAuthentication": "header",
    })
}

fn token_path(name: &str) -> String {
    let enc: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("/runtime/v1/tokens/{enc}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the fake IdP runs while the CLI blocks
async fn the_token_api_hands_out_one_cached_token_to_every_caller() {
    let idp = FakeIdp::tokens(3600).await;
    let s = Server::start();
    let api = s.admin();
    assert_eq!(
        api.create(&credential_for("it's a/b ü", &idp.token_url, "sec"))
            .await
            .status,
        202
    );
    let r = api.get(&token_path("it's a/b ü")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(body["access_token"], "tok-1");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["credential"], "it's a/b ü");
    let expires_in = body["expires_in"].as_u64().unwrap();
    assert!((3590..=3600).contains(&expires_in), "{expires_in}");
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    for _ in 0..20 {
        assert_eq!(
            api.get(&token_path("it's a/b ü")).await.json()["access_token"],
            "tok-1"
        );
    }
    // The CLI shares the same cache entry.
    let out = s.cli(&["token", "it's a/b ü"], "");
    assert_eq!(out.stdout, "tok-1\n", "{}", out.stderr);
    let out = s.cli(&["token", "it's a/b ü", "--output", "json"], "");
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap()["access_token"],
        "tok-1"
    );
    assert_eq!(idp.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the fake IdP runs while the CLI blocks
async fn a_thousand_concurrent_callers_of_a_cold_credential_cause_one_token_request() {
    let idp = FakeIdp::tokens(3600).await;
    let s = Server::start();
    s.admin()
        .create(&credential_for("cold", &idp.token_url, "sec"))
        .await;
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let (client, url) = (client.clone(), format!("{}{}", s.base, token_path("cold")));
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
    for t in tasks {
        assert_eq!(t.await.unwrap(), "tok-1");
    }
    assert_eq!(idp.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the fake IdP runs while the CLI blocks
async fn editing_or_deleting_a_credential_evicts_its_token_at_once() {
    let idp = FakeIdp::tokens(3600).await;
    let s = Server::start();
    let api = s.admin();
    api.create(&credential_for("c", &idp.token_url, "old"))
        .await;
    assert_eq!(
        api.get(&token_path("c")).await.json()["access_token"],
        "tok-1"
    );
    assert_eq!(
        api.write(
            "PUT",
            &entity("c"),
            Some(&credential_for("c", &idp.token_url, "new"))
        )
        .await
        .status,
        202
    );
    assert_eq!(
        api.get(&token_path("c")).await.json()["access_token"],
        "tok-2",
        "new secret, new token"
    );
    let last = idp
        .seen
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .0
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(last, format!("Basic {}", base64_encode("client-1:new")));
    assert_eq!(api.write("DELETE", &entity("c"), None).await.status, 202);
    assert_eq!(api.get(&token_path("c")).await.status, 404);
    api.create(&credential_for("c", &idp.token_url, "again"))
        .await;
    assert_eq!(
        api.get(&token_path("c")).await.json()["access_token"],
        "tok-3"
    );
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the fake IdP runs while the CLI blocks
async fn provider_refusals_come_back_as_502_with_the_providers_error_and_are_not_repeated() {
    let idp = FakeIdp::scripted(|_| Reply::Error(401, "invalid_client")).await;
    let s = Server::start();
    let api = s.admin();
    api.create(&credential_for("wrong", &idp.token_url, "bad-secret-value"))
        .await;
    let r = api.get(&token_path("wrong")).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["error"], "invalid_client");
    assert_eq!(
        r.json()["error_description"],
        "invalid_client from the fake"
    );
    assert_eq!(r.json()["provider_status"], 401);
    assert!(!r.text.contains("bad-secret-value"));
    for _ in 0..10 {
        assert_eq!(api.get(&token_path("wrong")).await.status, 502);
    }
    assert_eq!(idp.calls(), 1, "the refusal is remembered for a while");
    let out = s.cli(&["token", "wrong"], "");
    assert_eq!(out.code, 8);
    assert!(out.stderr.contains("invalid_client"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the fake IdP runs while the CLI blocks
async fn unknown_names_get_404_and_a_silent_provider_504() {
    let idp = FakeIdp::scripted(|_| Reply::Hang).await;
    let s = Server::start_with(&["--token-timeout", "1"], &[]);
    let api = s.admin();
    assert_eq!(api.get(&token_path("nope")).await.status, 404);
    assert_eq!(s.cli(&["token", "nope"], "").code, 3);
    api.create(&credential_for("slow", &idp.token_url, "s"))
        .await;
    let r = api.get(&token_path("slow")).await;
    assert_eq!(r.status, 504, "{}", r.text);
    assert_eq!(r.json()["error"], "provider_timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the fake IdP runs while the CLI blocks
async fn an_unreachable_provider_is_503_and_an_error_page_502_with_a_short_excerpt() {
    let s = Server::start();
    let api = s.admin();
    api.create(&credential_for("down", "http://127.0.0.1:9/token", "s"))
        .await;
    let r = api.get(&token_path("down")).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.json()["error"], "provider_unreachable");
    let idp =
        FakeIdp::scripted(|_| Reply::Page(403, "<html><body>Forbidden by WAF</body></html>")).await;
    api.create(&credential_for("waf", &idp.token_url, "s"))
        .await;
    let r = api.get(&token_path("waf")).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["error"], "bad_token_response");
    assert!(
        r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("Forbidden by WAF"),
        "{}",
        r.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the fake IdP runs while the CLI blocks
async fn the_token_api_needs_access_token_read() {
    let idp = FakeIdp::tokens(3600).await;
    let s = Server::start();
    s.admin()
        .create(&credential_for("c", &idp.token_url, "s"))
        .await;
    let r = s.anonymous().get(&token_path("c")).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    let r = s.client("admin", "wrong").get(&token_path("c")).await;
    assert_eq!(r.status, 401);
    let others = s.add_user(
        "reader",
        &["MonitoringDataRead", "CredentialsEdit", "CredentialsRead"],
    );
    let r = others.get(&token_path("c")).await;
    assert_eq!(r.status, 403);
    assert!(
        r.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("AccessTokenRead")
    );
    let consumer = s.add_user("consumer", &["AccessTokenRead"]);
    assert_eq!(consumer.get(&token_path("c")).await.status, 200);
    assert_eq!(idp.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the fake IdP runs while the CLI blocks
async fn the_connectivity_test_bypasses_the_cache_and_needs_credentials_read() {
    let idp = FakeIdp::tokens(600).await;
    let s = Server::start();
    let api = s.admin();
    api.create(&credential_for("c", &idp.token_url, "s")).await;
    api.get(&token_path("c")).await;
    let path = "/runtime/v1/connectivity-tests/c";
    let r = api.send("POST", path, None, &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(
        (
            v["ok"].clone(),
            v["status"].clone(),
            v["expires_in"].clone(),
            v["token_type"].clone()
        ),
        (json!(true), json!(200), json!(600), json!("Bearer"))
    );
    assert!(v["latency_ms"].as_f64().is_some());
    assert!(v.get("access_token").is_none(), "no token unless asked");
    assert_eq!(v["jwt"], Value::Null, "opaque token");
    assert_eq!(idp.calls(), 2, "a fresh request");
    assert_eq!(
        api.get(&token_path("c")).await.json()["access_token"],
        "tok-1",
        "the cache was not touched"
    );
    let r = api
        .send("POST", &format!("{path}?show_token=true"), None, &[])
        .await;
    assert_eq!(r.json()["access_token"], "tok-3");

    let no_role = s.add_user("tokens-only", &["AccessTokenRead", "MonitoringDataRead"]);
    assert_eq!(no_role.send("POST", path, None, &[]).await.status, 403);
    assert_eq!(
        s.anonymous().send("POST", path, None, &[]).await.status,
        401
    );

    let out = s.cli(&["credential", "test", "c"], "");
    assert!(out.ok(), "{}", out.stderr);
    assert!(
        out.stdout.contains("token issued") && out.stdout.contains("600 s"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("tok-"),
        "the token is not printed without --show-token"
    );
    let out = s.cli(&["credential", "test", "c", "--show-token"], "");
    assert!(out.stdout.contains("Access token: tok-"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)] // the fake IdP runs while the CLI blocks
async fn metrics_show_per_credential_counters_and_expiry() {
    let idp = FakeIdp::tokens(3600).await;
    let s = Server::start();
    let api = s.admin();
    api.create(&credential_for("m\"x", &idp.token_url, "s"))
        .await;
    for _ in 0..3 {
        api.get(&token_path("m\"x")).await;
    }
    let text = s.anonymous().get("/metrics").await.text;
    assert!(
        text.contains("secmat_token_cache_hits_total{credential=\"m\\\"x\"} 2"),
        "{text}"
    );
    assert!(text.contains("secmat_token_cache_misses_total{credential=\"m\\\"x\"} 1"));
    assert!(text.contains("secmat_token_requests_total{credential=\"m\\\"x\",outcome=\"ok\"} 1"));
    assert!(text.contains("secmat_token_request_duration_seconds_count{credential=\"m\\\"x\"} 1"));
    let gauge = text
        .lines()
        .find(|l| l.starts_with("secmat_token_expires_in_seconds{"))
        .unwrap();
    let secs: f64 = gauge.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((3500.0..=3600.0).contains(&secs), "{gauge}");
    assert!(text.contains("# TYPE secmat_token_request_duration_seconds histogram"));
}
