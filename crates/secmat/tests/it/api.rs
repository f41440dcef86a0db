//! The Security Content API (`/api/v1`), end to end: SAP's shapes, status codes, CSRF, roles.

use serde_json::{Value, json};

use crate::harness::{Server, credential, entity};

const SET: &str = "/api/v1/OAuth2ClientCredentials";

#[tokio::test]
async fn created_credential_reads_back_in_odata_v2_shape_without_its_secret() {
    let s = Server::start();
    let api = s.admin();
    let r = api.create(&credential("SuccessFactors", "sf-secret")).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.text, "");
    assert!(
        r.header("location")
            .unwrap()
            .ends_with("/api/v1/OAuth2ClientCredentials('SuccessFactors')")
    );

    let r = api
        .get(&format!(
            "{}?$expand=CustomParameters",
            entity("SuccessFactors")
        ))
        .await;
    assert_eq!(r.status, 200);
    let d = &r.json()["d"];
    assert_eq!(d["Name"], "SuccessFactors");
    assert_eq!(d["Description"], "for tests");
    assert_eq!(d["TokenServiceUrl"], "https://idp.example.test/oauth/token");
    assert_eq!(d["ClientId"], "client-1");
    assert_eq!(d["ClientSecret"], Value::Null);
    assert_eq!(d["ClientAuthentication"], "header");
    assert_eq!(d["Scope"], "api:read");
    assert_eq!(d["ScopeContentType"], "urlencoded");
    assert_eq!(d["Resource"], "https://api.example.test/");
    assert_eq!(d["Audience"], "aud-1");
    assert_eq!(d["GrantType"], "body");
    assert_eq!(
        d["__metadata"]["type"],
        "com.sap.hci.api.OAuth2ClientCredential"
    );
    let desc = &d["SecurityArtifactDescriptor"];
    assert_eq!(desc["Type"], "CREDENTIALS");
    assert_eq!(desc["DeployedBy"], "admin");
    assert_eq!(desc["Status"], "DEPLOYED");
    let on = desc["DeployedOn"].as_str().unwrap();
    assert!(on.starts_with("/Date(") && on.ends_with(")/"), "{on}");
    let params = d["CustomParameters"]["results"].as_array().unwrap();
    assert_eq!(params.len(), 2);
    assert_eq!(
        params[1],
        json!({"__metadata": {"type": "com.sap.hci.api.CustomParameter"}, "Key": "realm", "Value": "r1", "SendAsPartOf": "url"})
    );
    assert!(!r.text.contains("sf-secret"));

    // Without $expand the navigation property is deferred, as OData V2 does it.
    let r = api.get(&entity("SuccessFactors")).await;
    assert!(
        r.json()["d"]["CustomParameters"]["__deferred"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("/CustomParameters")
    );
    let r = api
        .get(&format!("{}/CustomParameters", entity("SuccessFactors")))
        .await;
    assert_eq!(r.json()["d"]["results"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn collection_lists_with_expand_top_skip_inlinecount_and_server_paging() {
    let s = Server::start();
    let api = s.admin();
    for n in ["c", "a", "b", "B", "d"] {
        assert_eq!(api.create(&credential(n, "x")).await.status, 202);
    }
    let r = api.get(&format!("{SET}?$format=json")).await;
    let names: Vec<_> = r.json()["d"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        ["B", "a", "b", "c", "d"],
        "ordered by name, case-sensitive"
    );
    assert!(r.json()["d"].get("__next").is_none());

    let r = api
        .get(&format!(
            "{SET}?$top=2&$skip=1&$inlinecount=allpages&$expand=CustomParameters"
        ))
        .await;
    let d = &r.json()["d"];
    assert_eq!(d["__count"], "5");
    let names: Vec<_> = d["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert!(d["results"][0]["CustomParameters"]["results"].is_array());

    let r = api.get(&format!("{SET}?$skiptoken=b")).await;
    let names: Vec<_> = r.json()["d"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["c", "d"]);

    assert_eq!(api.get(&format!("{SET}?$top=x")).await.status, 400);
    assert_eq!(api.get(&format!("{SET}?$format=xml")).await.status, 400);
    assert_eq!(api.get(&format!("{SET}?$expand=Nope")).await.status, 400);
    assert_eq!(
        api.get(&format!("{SET}?$filter=Name%20eq%20'a'"))
            .await
            .status,
        501
    );
}

#[tokio::test]
async fn key_literals_with_spaces_quotes_slashes_and_non_ascii_work_for_every_operation() {
    let s = Server::start();
    let api = s.admin();
    for name in [
        "with space",
        "it's",
        "a/b\\c",
        "ünïcødé €",
        "a')b",
        "100%",
        "q?x=1&y#z",
    ] {
        assert_eq!(
            api.create(&credential(name, "x")).await.status,
            202,
            "create {name}"
        );
        let r = api.get(&entity(name)).await;
        assert_eq!(r.status, 200, "get {name}: {}", r.text);
        assert_eq!(r.json()["d"]["Name"], name);
        let mut body = credential(name, "y");
        body["Description"] = json!("edited");
        assert_eq!(
            api.write("PUT", &entity(name), Some(&body)).await.status,
            202,
            "put {name}"
        );
        assert_eq!(
            api.get(&entity(name)).await.json()["d"]["Description"],
            "edited"
        );
        assert_eq!(
            api.write("DELETE", &entity(name), None).await.status,
            202,
            "delete {name}"
        );
        assert_eq!(api.get(&entity(name)).await.status, 404);
    }
    // The OData form `(Name='…')` addresses the same entity.
    api.create(&credential("x y", "s")).await;
    assert_eq!(
        api.get("/api/v1/OAuth2ClientCredentials(Name='x%20y')")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn writes_answer_with_sap_status_codes_and_messages() {
    let s = Server::start();
    let api = s.admin();
    assert_eq!(api.create(&credential("dup", "s")).await.status, 202);
    let r = api.create(&credential("dup", "s")).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["error"]["code"], "Conflict");
    assert_eq!(
        r.error_message(),
        "Entity with the specified name already exist."
    );

    // PUT: full replace, secret required, key must match.
    let mut no_secret = credential("dup", "s");
    no_secret.as_object_mut().unwrap().remove("ClientSecret");
    let r = api.write("PUT", &entity("dup"), Some(&no_secret)).await;
    assert_eq!(r.status, 400);
    assert!(r.error_message().contains("ClientSecret"), "{}", r.text);
    let r = api
        .write("PUT", &entity("dup"), Some(&credential("other", "s")))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error_message(),
        "Entity key specified in URI does not match to name from payload."
    );
    let r = api
        .write("PUT", &entity("missing"), Some(&credential("missing", "s")))
        .await;
    assert_eq!(r.status, 404);
    let r = api.write("DELETE", &entity("missing"), None).await;
    assert_eq!(r.status, 404);

    // A PUT without optional fields clears them (full replace), and without CustomParameters
    // deletes them, as on SAP.
    let minimal =
        json!({"TokenServiceUrl": "http://idp/t", "ClientId": "c2", "ClientSecret": "s2"});
    assert_eq!(
        api.write("PUT", &entity("dup"), Some(&minimal))
            .await
            .status,
        202
    );
    let d = api
        .get(&format!("{}?$expand=CustomParameters", entity("dup")))
        .await
        .json()["d"]
        .clone();
    assert_eq!(
        (
            d["Description"].clone(),
            d["Scope"].clone(),
            d["ClientAuthentication"].clone()
        ),
        (Value::Null, Value::Null, json!("body"))
    );
    assert_eq!(d["CustomParameters"]["results"], json!([]));

    assert_eq!(
        api.write("PATCH", &entity("dup"), Some(&minimal))
            .await
            .status,
        405
    );
    assert_eq!(
        api.write("POST", &entity("dup"), Some(&minimal))
            .await
            .status,
        405
    );
    assert_eq!(api.get("/api/v1/UserCredentials").await.status, 404);
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_naming_the_field_and_changes_nothing() {
    let s = Server::start();
    let api = s.admin();
    let mut bad = credential("bad", "s");
    bad["CustomParameters"] = json!([
        {"Key": "client_secret", "Value": "v", "SendAsPartOf": "body"},
        {"Key": "a", "Value": "1", "SendAsPartOf": "url"},
        {"Key": "a", "Value": "1", "SendAsPartOf": "URL"},
    ]);
    bad["TokenServiceUrl"] = json!("ftp://x/y");
    let r = api.create(&bad).await;
    assert_eq!(r.status, 400);
    let targets: Vec<_> = r.json()["error"]["innererror"]["errordetails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        targets,
        [
            "TokenServiceUrl",
            "CustomParameters[0].Key",
            "CustomParameters[2]"
        ]
    );
    assert_eq!(
        api.get(&entity("bad")).await.status,
        404,
        "nothing was stored"
    );

    let token = api.csrf().await;
    let r = api
        .send(
            "POST",
            SET,
            None,
            &[
                ("X-CSRF-Token", &token),
                ("Content-Type", "application/json"),
            ],
        )
        .await;
    assert_eq!(r.status, 400, "empty body");
    let r = reqwest::Client::new()
        .post(format!("{}{SET}", s.base))
        .basic_auth("admin", Some(crate::harness::ADMIN_PASSWORD))
        .header("X-CSRF-Token", &token)
        .header("Content-Type", "application/json")
        .body("{\"Name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not valid JSON"));
    let r = reqwest::Client::new()
        .post(format!("{}{SET}", s.base))
        .basic_auth("admin", Some(crate::harness::ADMIN_PASSWORD))
        .header("X-CSRF-Token", &token)
        .header("Content-Type", "application/xml")
        .body("<x/>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    // Over 1 MiB: 413, in the OData error envelope.
    let mut huge = credential("huge", "s");
    huge["Description"] = json!("x".repeat(1024 * 1024 + 1));
    let r = api.create(&huge).await;
    assert_eq!(r.status, 413);
    assert!(r.error_message().contains("1 MiB"));
    assert_eq!(r.header("connection").as_deref(), Some("close"));
    assert_eq!(s.admin().get(&entity("huge")).await.status, 404);
}

#[tokio::test]
async fn csrf_token_is_fetched_at_the_service_root_or_host_root_and_required_for_writes() {
    let s = Server::start();
    let api = s.admin();
    let root = api
        .send("GET", "/", None, &[("X-CSRF-Token", "Fetch")])
        .await;
    assert_eq!(root.status, 200);
    let token = root.header("x-csrf-token").unwrap();
    assert_eq!(
        api.send(
            "POST",
            SET,
            Some(&credential("a", "s")),
            &[("X-CSRF-Token", &token)]
        )
        .await
        .status,
        202
    );
    // Any authenticated GET with the header hands out a token, lower-case spelling included.
    let r = api
        .send("GET", SET, None, &[("x-csrf-token", "fetch")])
        .await;
    assert!(r.header("x-csrf-token").is_some_and(|t| t.len() > 20));

    for (method, path) in [
        ("POST", SET.to_owned()),
        ("PUT", entity("a")),
        ("DELETE", entity("a")),
    ] {
        for token in [None, Some("Fetch"), Some("forged-token")] {
            let headers: Vec<(&str, &str)> =
                token.map(|t| vec![("X-CSRF-Token", t)]).unwrap_or_default();
            let r = api
                .send(method, &path, Some(&credential("a", "s")), &headers)
                .await;
            assert_eq!(r.status, 403, "{method} {path} with {token:?}");
            assert_eq!(r.header("x-csrf-token").as_deref(), Some("Required"));
        }
    }
    // A token is bound to the user it was issued to.
    let other = s.add_user("editor", &["CredentialsEdit"]);
    let r = other
        .send("DELETE", &entity("a"), None, &[("X-CSRF-Token", &token)])
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-csrf-token").as_deref(), Some("Required"));
    // Without authentication, no token is handed out.
    let r = s
        .anonymous()
        .send("GET", "/", None, &[("X-CSRF-Token", "Fetch")])
        .await;
    assert_eq!(r.status, 401);
    assert!(r.header("x-csrf-token").is_none());
}

/// Every endpoint of the API, with the role it needs.
fn endpoints() -> Vec<(&'static str, String, Option<Value>, Option<&'static str>)> {
    vec![
        ("GET", "/api/v1/".into(), None, None),
        ("GET", SET.into(), None, Some("MonitoringDataRead")),
        ("GET", entity("existing"), None, Some("MonitoringDataRead")),
        (
            "GET",
            format!("{}/CustomParameters", entity("existing")),
            None,
            Some("MonitoringDataRead"),
        ),
        (
            "POST",
            SET.into(),
            Some(credential("new", "s")),
            Some("CredentialsEdit"),
        ),
        (
            "PUT",
            entity("existing"),
            Some(credential("existing", "s")),
            Some("CredentialsEdit"),
        ),
        ("DELETE", entity("existing"), None, Some("CredentialsEdit")),
    ]
}

#[tokio::test]
async fn every_endpoint_answers_401_without_or_with_wrong_credentials() {
    let s = Server::start();
    s.admin().create(&credential("existing", "s")).await;
    for (method, path, body, _) in endpoints() {
        for (who, api) in [
            ("anonymous", s.anonymous()),
            ("wrong password", s.client("admin", "wrong-password")),
            ("unknown user", s.client("nobody", "x")),
        ] {
            let r = api.send(method, &path, body.as_ref(), &[]).await;
            assert_eq!(r.status, 401, "{who}: {method} {path}");
            assert!(
                r.header("www-authenticate").unwrap().starts_with("Basic"),
                "{who}: {method} {path}"
            );
            assert_eq!(r.json()["error"]["code"], "Unauthorized");
        }
    }
    let r = s
        .anonymous()
        .send("GET", SET, None, &[("Authorization", "Bearer abc")])
        .await;
    assert_eq!(r.status, 401);
    let r = s
        .anonymous()
        .send("GET", SET, None, &[("Authorization", "Basic !!!")])
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        s.admin().get(&entity("existing")).await.status,
        200,
        "nothing was changed"
    );
}

#[tokio::test]
async fn every_endpoint_answers_403_without_its_role() {
    let s = Server::start();
    s.admin().create(&credential("existing", "s")).await;
    let all = [
        "MonitoringDataRead",
        "CredentialsEdit",
        "CredentialsRead",
        "AccessTokenRead",
    ];
    for (method, path, body, role) in endpoints() {
        let Some(role) = role else { continue };
        let others: Vec<&str> = all.iter().copied().filter(|r| *r != role).collect();
        let name = format!("no-{}", role.to_lowercase());
        let api = s.add_user(&name, &others);
        let r = api.write(method, &path, body.as_ref()).await;
        assert_eq!(r.status, 403, "{method} {path} without {role}: {}", r.text);
        assert!(r.error_message().contains(role), "{}", r.text);
        assert_eq!(r.json()["error"]["code"], "Forbidden");
        // And with only that role it is allowed (2xx, or 404 after the delete test removed it).
        let allowed = s.add_user(&format!("only-{}", role.to_lowercase()), &[role]);
        let r = allowed.write(method, &path, body.as_ref()).await;
        assert!(
            r.status < 300,
            "{method} {path} with {role}: {} {}",
            r.status,
            r.text
        );
        if method == "DELETE" {
            s.admin().create(&credential("existing", "s")).await;
        }
    }
}

#[tokio::test]
async fn service_document_lists_the_entity_sets_and_health_endpoints_answer() {
    let s = Server::start();
    let r = s.admin().get("/api/v1").await;
    assert_eq!(
        r.json(),
        json!({"d": {"EntitySets": ["OAuth2ClientCredentials", "HttpReceiverChannels"]}})
    );
    assert_eq!(s.anonymous().get("/healthz").await.status, 200);
    assert_eq!(s.anonymous().get("/readyz").await.status, 200);
}
