//! The web monitor in a real browser (headless Chromium over WebDriver, see `webdriver.rs`),
//! following the seed's procedure literally: sign in, *Monitor → Integrations and APIs*, select
//! the runtime, the *Security Material* tile, *Add → OAuth2 Client Credentials*, every attribute
//! and two custom parameters, *Deploy* — then edit, the custom parameter rules, the connectivity
//! test, delete and sign out. axe-core checks the main pages for accessibility; screenshots land
//! in `target/screenshots/` (and, with `SECMAT_UPDATE_DOCS_SCREENSHOTS=1` or when missing, in
//! `docs/` for the README).
//!
//! Each test starts its own server and its own chromedriver, so they run in parallel with
//! everything else. Without Chromium they fail, naming the script that installs it.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fake_idp::FakeIdp;
use crate::harness::{ADMIN_PASSWORD, Server, entity};
use crate::webdriver::Browser;

mod no_script;

const NAME: &str = "SuccessFactors Prod";
const SECRET: &str = "browser-client-secret-8f3a";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("screenshots")
}

async fn shot(b: &Browser, name: &str) -> PathBuf {
    let path = screenshot_dir().join(format!("{name}.png"));
    b.screenshot(&path).await;
    path
}

/// Copies a screenshot into `docs/` for the README, when asked to or when it is not there yet
/// (so that ordinary test runs leave the committed images alone).
fn publish(shot: &PathBuf, doc_name: &str) {
    let target = workspace().join("docs").join(doc_name);
    if std::env::var_os("SECMAT_UPDATE_DOCS_SCREENSHOTS").is_some() || !target.exists() {
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(shot, &target).unwrap();
    }
}

/// Polls `condition` (a script returning a boolean) for up to 30 s (CI machines are busy).
async fn wait_until(b: &Browser, condition: &str, what: &str) {
    for _ in 0..600 {
        if b.exec(condition, json!([])).await == Value::Bool(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what} (at {})", b.url().await);
}

/// Marks the page, runs `action` (which navigates) and waits for the next page to load.
async fn navigating<F: std::future::Future<Output = ()>>(b: &Browser, action: F) {
    b.exec(
        "document.documentElement.dataset.stale = '1'; return true;",
        json!([]),
    )
    .await;
    action.await;
    wait_until(
        b,
        "return document.readyState === 'complete' && document.documentElement.dataset.stale !== '1';",
        "the next page",
    )
    .await;
}

async fn click_to(b: &Browser, css: &str) {
    navigating(b, b.click_css(css)).await;
}

/// Submits the credential form the way a browser without the script would: the server's checks
/// alone decide.
async fn submit_without_script(b: &Browser) {
    navigating(b, async {
        b.exec(
            "HTMLFormElement.prototype.submit.call(document.getElementById('credential-form')); return true;",
            json!([]),
        )
        .await;
    })
    .await;
}

/// Fails, naming the culprits, when the page is wider than the window.
async fn assert_no_horizontal_overflow(b: &Browser, page: &str) {
    let v = b
        .exec(
            "const w = window.innerWidth;
             const wide = Array.from(document.querySelectorAll('body *'))
               .filter(e => e.getBoundingClientRect().right > w + 0.5)
               .slice(0, 8)
               .map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
             return {fits: document.documentElement.scrollWidth <= w, width: w,
                     scroll: document.documentElement.scrollWidth, wide};",
            json!([]),
        )
        .await;
    assert_eq!(
        v["fits"], true,
        "the {page} page overflows horizontally: {v}"
    );
}

/// The text of the list row whose name is `name` (empty when there is none).
async fn row_text(b: &Browser, name: &str) -> String {
    b.exec(
        "const row = Array.from(document.querySelectorAll('#material-table tbody tr'))
           .find(r => r.querySelector('th').textContent.trim() === arguments[0]);
         return row ? row.innerText : '';",
        json!([name]),
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_owned()
}

async fn page_text(b: &Browser) -> String {
    b.text_of("body").await
}

/// Runs axe-core on the page; fails on serious or critical violations.
async fn axe(b: &Browser, page: &str) {
    let path = workspace().join("testpeers/node_modules/axe-core/axe.min.js");
    let source = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run scripts/services.sh's ensure_test_peers (npm ci --prefix testpeers)",
            path.display()
        )
    });
    b.exec(&format!("{source}\n;return typeof window.axe;"), json!([]))
        .await;
    let result = b
        .exec_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']})
               .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))))
               .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));",
            json!([]),
        )
        .await;
    let violations = result.as_array().cloned().unwrap_or_default();
    let (bad, minor): (Vec<Value>, Vec<Value>) = violations
        .into_iter()
        .partition(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")));
    if !minor.is_empty() {
        eprintln!("axe on {page}: minor findings: {}", Value::Array(minor));
    }
    assert!(
        bad.is_empty(),
        "axe-core found serious or critical accessibility violations on the {page} page: {:#}",
        Value::Array(bad)
    );
}

async fn sign_in(b: &Browser, base: &str, user: &str, password: &str) {
    b.goto(&format!("{base}/ui/signin")).await;
    b.fill("#user", user).await;
    b.fill("#password", password).await;
    click_to(b, "form[action='/ui/signin'] button[type=submit]").await;
}

/// The seed's procedure, step by step, and everything around it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_procedure_deploys_edits_tests_and_deletes_oauth2_client_credentials_in_a_browser() {
    let s = Server::start();
    let idp = FakeIdp::tokens(3600).await;
    // Some neighbours in the list, deployed by someone else (and for the README's screenshot).
    let deployer = s.add_user("deployer", &["CredentialsEdit"]);
    for (name, url) in [
        (
            "Azure Graph API",
            "https://login.microsoftonline.com/tenant/oauth2/v2.0/token",
        ),
        ("Auth0 Billing", "https://billing.eu.auth0.com/oauth/token"),
        (
            "Okta Reporting",
            "https://acme.okta.com/oauth2/default/v1/token",
        ),
        (
            "Keycloak Internal",
            "https://sso.internal.example/realms/main/protocol/openid-connect/token",
        ),
    ] {
        let mut c = crate::harness::credential(name, "neighbour-secret");
        c["TokenServiceUrl"] = json!(url);
        assert_eq!(deployer.create(&c).await.status, 202);
    }
    let b = Browser::start().await;

    // A browser asking for `/` lands on the monitor, which asks it to sign in first.
    b.goto(&format!("{}/", s.base)).await;
    assert!(
        b.url().await.contains("/ui/signin?next=%2Fui%2F"),
        "{}",
        b.url().await
    );
    assert_eq!(b.text_of("h1").await, "Sign in");
    axe(&b, "sign-in").await;
    shot(&b, "signin").await;

    // Wrong credentials: the form again, saying nothing about which part was wrong.
    b.fill("#user", "admin").await;
    b.fill("#password", "not-the-password").await;
    click_to(&b, "form[action='/ui/signin'] button[type=submit]").await;
    assert_eq!(
        b.text_of("#signin-error").await,
        "Wrong user name or password."
    );
    assert_eq!(b.value_of("#user").await, "admin");
    assert_eq!(b.value_of("#password").await, "");

    b.fill("#password", ADMIN_PASSWORD).await;
    click_to(&b, "form[action='/ui/signin'] button[type=submit]").await;
    assert!(b.url().await.ends_with("/ui/"), "{}", b.url().await);

    // The session cookie: HttpOnly, SameSite=Strict, Path=/ui, not Secure over plain http.
    let cookie = b.cookie("secmat_session").await;
    assert_eq!(cookie["httpOnly"], true, "{cookie}");
    assert_eq!(cookie["sameSite"], "Strict", "{cookie}");
    assert_eq!(cookie["path"], "/ui", "{cookie}");
    assert_eq!(cookie["secure"], false, "{cookie}");
    assert_eq!(
        cookie["value"].as_str().unwrap().len(),
        43,
        "256 random bits"
    );
    assert_eq!(
        b.exec("return document.cookie;", json!([])).await,
        "",
        "scripts cannot read the session cookie"
    );

    // 1. Monitor > Integrations and APIs.
    let nav = b.text_of("nav.side").await;
    // (The group label is upper case on screen.)
    assert!(
        nav.to_lowercase()
            .contains("monitor\nintegrations and apis"),
        "{nav}"
    );
    click_to(&b, "nav.side a[href^='/ui/monitor/integrations']").await;
    assert_eq!(b.text_of("h1").await, "Integrations and APIs");

    // 2. Select the target runtime.
    b.select("#runtime", "cloud").await;
    click_to(&b, "form.filter-bar button[type=submit]").await;
    assert!(b.url().await.contains("runtime=cloud"));
    assert_eq!(b.value_of("#runtime").await, "cloud");
    assert!(page_text(&b).await.contains("Manage Security"));
    assert_eq!(b.text_of(".tile .tile-count").await, "4");
    axe(&b, "Integrations and APIs").await;
    shot(&b, "monitor").await;

    // 3. The Security Material tile in the Manage Security section.
    click_to(&b, "a.tile").await;
    assert_eq!(b.text_of("h1").await, "Security Material");
    assert!(b.url().await.contains("runtime=cloud"));

    // 4. Add. 5. Type: OAuth2 Client Credentials.
    b.click_css("#add-menu summary").await;
    assert_eq!(b.text_of("#add-oauth2").await, "OAuth2 Client Credentials");
    click_to(&b, "#add-oauth2").await;
    assert_eq!(b.text_of("h1").await, "Add OAuth2 Client Credentials");
    for label in [
        "Name",
        "Description",
        "Token Service URL",
        "Grant Type",
        "Client ID",
        "Client Secret",
        "Client Authentication",
        "Scope",
        "Content Type",
        "Resource",
        "Audience",
        "Custom Parameters",
        "Key",
        "Value",
        "Send as Part of",
    ] {
        assert!(
            page_text(&b).await.contains(label),
            "the form shows {label}"
        );
    }
    // Defaults for new credentials.
    assert_eq!(b.value_of("#f-GrantType").await, "body");
    assert_eq!(b.value_of("#f-ClientAuthentication").await, "body");
    assert_eq!(b.value_of("#f-ScopeContentType").await, "urlencoded");

    // Deploying the empty form without the script: the server names every problem next to
    // its field, and the page passes axe with its errors.
    submit_without_script(&b).await;
    assert!(b.exists("#error-summary").await);
    for (field, words) in [
        ("f-Name", "Name cannot be empty"),
        ("f-TokenServiceUrl", "Token Service URL cannot be empty"),
        ("f-ClientId", "Client ID cannot be empty"),
        ("f-ClientSecret", "Client Secret cannot be empty"),
    ] {
        let error = b.text_of(&format!("#{field}-error")).await;
        assert!(error.contains(words), "{field}: {error}");
        let input = b.find(&format!("#{field}")).await;
        assert_eq!(
            b.attribute(&input, "aria-invalid").await.as_deref(),
            Some("true")
        );
        let described = b.attribute(&input, "aria-describedby").await.unwrap();
        assert!(described.contains(&format!("{field}-error")), "{described}");
    }
    axe(&b, "add form with errors").await;
    shot(&b, "add-errors").await;

    // 6. Every attribute, and two custom parameters (on a fresh form, as the seed has it).
    b.goto(&format!("{}/ui/security-material?runtime=cloud", s.base))
        .await;
    b.click_css("#add-menu summary").await;
    click_to(&b, "#add-oauth2").await;
    b.fill("#f-Name", NAME).await;
    b.fill(
        "#f-Description",
        "SuccessFactors OData API, production tenant",
    )
    .await;
    b.fill(
        "#f-TokenServiceUrl",
        "https://api.successfactors.example/oauth/token",
    )
    .await;
    b.select("#f-GrantType", "url").await;
    b.fill("#f-ClientId", "sf-client").await;
    b.fill("#f-ClientSecret", SECRET).await;
    b.select("#f-ClientAuthentication", "header").await;
    b.fill("#f-Scope", "api:read api:write").await;
    b.select("#f-ScopeContentType", "json").await;
    b.fill("#f-Resource", "https://api.successfactors.example/")
        .await;
    b.fill("#f-Audience", "sf-audience").await;
    b.fill("#cp-0-key", "company_id").await;
    b.fill("#cp-0-value", "ACME").await;
    b.select("#cp-0-part", "body").await;
    b.fill("#cp-1-key", "X-Tenant").await;
    b.fill("#cp-1-value", "t-42").await;
    b.select("#cp-1-part", "header").await;
    assert_eq!(
        b.text_of("#f-Name-error").await,
        "",
        "the client check clears the error"
    );
    b.exec(
        "window.scrollTo(0, 0); document.activeElement.blur(); return true;",
        json!([]),
    )
    .await;
    let add_shot = shot(&b, "add").await;
    publish(&add_shot, "screenshot-add.png");
    // The connectivity test below needs a token service that answers.
    b.fill("#f-TokenServiceUrl", &idp.token_url).await;

    // 7. Deploy: back to the list, where it is Deployed.
    click_to(&b, "#deploy").await;
    assert!(
        b.url()
            .await
            .contains("/ui/security-material?runtime=cloud"),
        "{}",
        b.url().await
    );
    let message = b.text_of(".message.success").await;
    assert!(
        message.contains(NAME) && message.contains("deployed"),
        "{message}"
    );
    let row = row_text(&b, NAME).await;
    for part in [
        NAME,
        "OAuth2 Client Credentials",
        "Deployed",
        "admin",
        "UTC",
    ] {
        assert!(row.contains(part), "{part} in {row}");
    }
    // Keyboard: the first Tab reaches the skip link, which leads to the main content.
    b.press("\u{E004}").await;
    let focused = b
        .exec("return document.activeElement.className;", json!([]))
        .await;
    assert_eq!(focused, "skip-link");
    b.press("\u{E007}").await;
    let focused = b.exec("return document.activeElement.id;", json!([])).await;
    assert_eq!(focused, "main");
    axe(&b, "Security Material list").await;
    let list_shot = shot(&b, "list").await;
    publish(&list_shot, "screenshot-list.png");

    // Every field was stored as entered (through the API).
    let r = s
        .admin()
        .get(&format!("{}?$expand=CustomParameters", entity(NAME)))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = &r.json()["d"];
    assert_eq!(d["Name"], NAME);
    assert_eq!(
        d["Description"],
        "SuccessFactors OData API, production tenant"
    );
    assert_eq!(d["TokenServiceUrl"], idp.token_url.as_str());
    assert_eq!(d["GrantType"], "url");
    assert_eq!(d["ClientId"], "sf-client");
    assert_eq!(d["ClientSecret"], Value::Null);
    assert_eq!(d["ClientAuthentication"], "header");
    assert_eq!(d["Scope"], "api:read api:write");
    assert_eq!(d["ScopeContentType"], "json");
    assert_eq!(d["Resource"], "https://api.successfactors.example/");
    assert_eq!(d["Audience"], "sf-audience");
    assert_eq!(d["SecurityArtifactDescriptor"]["Status"], "DEPLOYED");
    assert_eq!(d["SecurityArtifactDescriptor"]["DeployedBy"], "admin");
    let params: Vec<(String, String, String)> = d["CustomParameters"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["Key"].as_str().unwrap().to_owned(),
                p["Value"].as_str().unwrap().to_owned(),
                p["SendAsPartOf"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        params,
        vec![
            ("company_id".into(), "ACME".into(), "body".into()),
            ("X-Tenant".into(), "t-42".into(), "header".into()),
        ]
    );

    // The detail page and the connectivity test: status, latency, lifetime, token type;
    // never the token or the secret.
    click_to(
        &b,
        "#material-table a[href='/ui/security-material/view?name=SuccessFactors+Prod']",
    )
    .await;
    assert_eq!(b.text_of("h1").await, NAME);
    click_to(&b, "#connectivity-test").await;
    let result = b.text_of("#test-result").await;
    for part in ["success", "200", "3600 seconds (1 h)", "Bearer", "opaque"] {
        assert!(result.contains(part), "{part} in {result}");
    }
    let body = page_text(&b).await;
    assert!(!body.contains("tok-1") && !body.contains(SECRET), "{body}");
    assert_eq!(idp.calls(), 1);
    shot(&b, "connectivity-test").await;

    // Edit: everything is prefilled but the secret, and the form says it must be re-entered.
    click_to(&b, "a[href^='/ui/security-material/edit']").await;
    assert_eq!(b.text_of("h1").await, format!("Edit {NAME}"));
    assert!(
        b.text_of("#secret-notice").await.contains(
            "Every time you edit an OAuth2 Client Credentials artifact, you must re-enter the Client Secret."
        )
    );
    let name_input = b.find("#f-Name").await;
    assert!(b.attribute(&name_input, "readonly").await.is_some());
    assert_eq!(b.value_of("#f-Name").await, NAME);
    assert_eq!(b.value_of("#f-ClientId").await, "sf-client");
    assert_eq!(b.value_of("#f-ClientSecret").await, "");
    assert_eq!(b.value_of("#f-GrantType").await, "url");
    assert_eq!(b.value_of("#f-ScopeContentType").await, "json");
    assert_eq!(b.value_of("#cp-1-key").await, "X-Tenant");
    assert_eq!(b.value_of("#cp-1-part").await, "header");
    axe(&b, "edit form").await;
    shot(&b, "edit").await;

    // Deploy without the secret: the script stops it and says why, next to Client Secret …
    b.click_css("#deploy").await;
    assert!(b.url().await.contains("/ui/security-material/edit"));
    let error = b.text_of("#f-ClientSecret-error").await;
    assert!(error.contains("Client Secret cannot be empty"), "{error}");
    // … and so does the server, which is what counts.
    submit_without_script(&b).await;
    let error = b.text_of("#f-ClientSecret-error").await;
    assert!(
        error.contains("Client Secret cannot be empty") && error.contains("every edit"),
        "{error}"
    );
    assert_eq!(
        b.value_of("#f-ClientId").await,
        "sf-client",
        "values are kept"
    );
    assert_eq!(b.value_of("#cp-0-key").await, "company_id");

    // Edit properly.
    b.fill("#f-ClientSecret", "a-new-secret").await;
    b.fill("#f-Description", "Production tenant (rotated)")
        .await;
    click_to(&b, "#deploy").await;
    assert!(
        b.text_of(".message.success")
            .await
            .contains("edited and deployed")
    );
    let r = s.admin().get(&entity(NAME)).await;
    assert_eq!(r.json()["d"]["Description"], "Production tenant (rotated)");

    // The custom parameter rules, in the browser as the user types.
    b.goto(&format!(
        "{}/ui/security-material/add/oauth2-client-credentials",
        s.base
    ))
    .await;
    b.fill("#cp-0-key", "Client_ID").await;
    b.fill("#cp-0-value", "x").await;
    let e = b.text_of("#cp-0-key-error").await;
    assert!(
        e.contains("cannot be \"client_id\", \"client_secret\" or \"grant_type\""),
        "{e}"
    );
    b.fill("#cp-0-key", "k").await;
    assert_eq!(b.text_of("#cp-0-key-error").await, "");
    b.fill("#cp-1-key", "k").await;
    b.fill("#cp-1-value", "x").await;
    let e = b.text_of("#cp-1-error").await;
    assert!(
        e.contains("duplicate combinations of Key, Value and Send as Part of"),
        "{e}"
    );
    b.fill("#cp-2-key", "   ").await;
    b.fill("#cp-2-value", "v").await;
    let e = b.text_of("#cp-2-key-error").await;
    assert!(
        e.contains("cannot be empty or consist only of white space"),
        "{e}"
    );
    b.fill("#cp-1-value", &"y".repeat(1025)).await;
    let e = b.text_of("#cp-1-value-error").await;
    assert!(
        e.contains("longer than the maximum of 1024 characters"),
        "{e}"
    );
    for _ in 0..17 {
        b.click_css("#cp-add").await;
    }
    assert_eq!(b.find_all("#cp-rows tr.param-row").await.len(), 20);
    assert_eq!(b.text_of("#f-CustomParameters-error").await, "");
    b.click_css("#cp-add").await;
    assert_eq!(b.find_all("#cp-rows tr.param-row").await.len(), 20);
    let e = b.text_of("#f-CustomParameters-error").await;
    assert!(e.contains("maximum of 20"), "{e}");
    // Deleting a row renumbers the rest.
    b.click_css("#cp-19 [data-delete-row]").await;
    assert_eq!(b.find_all("#cp-rows tr.param-row").await.len(), 19);
    assert_eq!(b.text_of("#f-CustomParameters-error").await, "");

    // The same rules from the server, each message next to its cell.
    b.fill("#cp-0-key", "grant_type").await;
    b.fill("#cp-1-value", "x").await;
    b.fill("#cp-3-key", "long").await;
    b.fill("#cp-3-value", &"z".repeat(1025)).await;
    submit_without_script(&b).await;
    for (slot, words) in [
        (
            "cp-0-key-error",
            "cannot be \"client_id\", \"client_secret\" or \"grant_type\"",
        ),
        (
            "cp-2-key-error",
            "cannot be empty or consist only of white space",
        ),
        (
            "cp-3-value-error",
            "longer than the maximum of 1024 characters",
        ),
    ] {
        let e = b.text_of(&format!("#{slot}")).await;
        assert!(e.contains(words), "{slot}: {e}");
    }
    b.fill("#cp-0-key", "k").await;
    b.fill("#cp-2-key", "k").await;
    b.fill("#cp-2-value", "x").await;
    submit_without_script(&b).await;
    let e = b.text_of("#cp-1-error").await;
    assert!(e.contains("duplicate combinations"), "{e}");
    // More than 20 rows, which the script does not let one add, are refused by the server.
    b.exec(
        "const body = document.getElementById('cp-rows');
         const t = document.getElementById('cp-template');
         while (body.children.length < 21) body.appendChild(t.content.querySelector('tr').cloneNode(true));
         Array.from(body.children).forEach((row, i) => {
           row.querySelector('[name=cp_key]').value = 'key' + i;
           row.querySelector('[name=cp_value]').value = 'value' + i;
         });
         return true;",
        json!([]),
    )
    .await;
    submit_without_script(&b).await;
    let e = b.text_of("#f-CustomParameters-error").await;
    assert!(
        e.contains("maximum of 20 custom parameters (21 given)"),
        "{e}"
    );

    // At phone width the form and the list fit the screen.
    b.set_viewport(390, 844).await;
    b.goto(&format!(
        "{}/ui/security-material/add/oauth2-client-credentials",
        s.base
    ))
    .await;
    assert_no_horizontal_overflow(&b, "add form").await;
    shot(&b, "add-phone").await;
    b.goto(&format!("{}/ui/security-material?runtime=cloud", s.base))
        .await;
    assert_no_horizontal_overflow(&b, "list").await;
    shot(&b, "list-phone").await;
    b.set_viewport(1280, 900).await;

    // Delete, after confirming.
    b.goto(&format!("{}/ui/security-material?runtime=cloud", s.base))
        .await;
    click_to(
        &b,
        "#material-table a[href='/ui/security-material/delete?name=SuccessFactors+Prod']",
    )
    .await;
    assert!(page_text(&b).await.contains("Do you really want to delete"));
    shot(&b, "delete").await;
    click_to(&b, "#confirm-delete").await;
    assert!(b.text_of(".message.success").await.contains("deleted"));
    assert_eq!(row_text(&b, NAME).await, "", "gone from the list");
    assert!(
        b.text_of("#material-table")
            .await
            .contains("Okta Reporting")
    );
    assert_eq!(s.admin().get(&entity(NAME)).await.status, 404);

    // Sign out: the session is gone.
    click_to(&b, "form[action='/ui/signout'] button").await;
    assert!(page_text(&b).await.contains("You have signed out."));
    b.goto(&format!("{}/ui/security-material?runtime=cloud", s.base))
        .await;
    assert!(
        b.url().await.contains("/ui/signin?next="),
        "{}",
        b.url().await
    );

    // The server log never saw the secrets.
    let logs = s.logs();
    assert!(!logs.contains(SECRET) && !logs.contains("a-new-secret"));
}

/// Roles decide what the monitor shows and allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_see_only_what_their_roles_allow_and_get_403_for_the_rest() {
    let s = Server::start();
    s.admin()
        .create(&crate::harness::credential("Visible", "s"))
        .await;
    s.add_user("viewer", &["MonitoringDataRead"]);
    s.add_user("robot", &["AccessTokenRead"]);
    let b = Browser::start().await;

    // Signing in returns to the page that was asked for.
    b.goto(&format!("{}/ui/security-material?runtime=cloud", s.base))
        .await;
    assert!(b.url().await.contains("/ui/signin?next="));
    b.fill("#user", "viewer").await;
    b.fill("#password", "viewer-pw").await;
    click_to(&b, "form[action='/ui/signin'] button[type=submit]").await;
    assert!(
        b.url()
            .await
            .contains("/ui/security-material?runtime=cloud"),
        "{}",
        b.url().await
    );
    assert!(b.text_of("#material-table").await.contains("Visible"));
    assert!(
        !b.exists("#add-menu").await,
        "no Add without CredentialsEdit"
    );
    assert!(!b.exists("a[href^='/ui/security-material/edit']").await);
    assert!(!b.exists("a[href^='/ui/security-material/delete']").await);
    click_to(&b, "#material-table tbody th a").await;
    assert!(
        !b.exists("#connectivity-test").await,
        "no test without CredentialsRead"
    );

    b.goto(&format!(
        "{}/ui/security-material/add/oauth2-client-credentials",
        s.base
    ))
    .await;
    assert_eq!(b.text_of("h1").await, "Not allowed");
    assert!(page_text(&b).await.contains("CredentialsEdit"));
    let status = b
        .exec_async(
            "const done = arguments[arguments.length - 1];
             Promise.all(['/ui/security-material/add/oauth2-client-credentials',
                          '/ui/security-material/edit?name=Visible',
                          '/ui/security-material/delete?name=Visible']
               .map(u => fetch(u).then(r => r.status))).then(done);",
            json!([]),
        )
        .await;
    assert_eq!(status, json!([403, 403, 403]));
    axe(&b, "403").await;

    // A user with no monitor role sees no Monitor entry and is refused its pages.
    click_to(&b, "form[action='/ui/signout'] button").await;
    sign_in(&b, &s.base, "robot", "robot-pw").await;
    assert!(
        !b.exists("nav.side a[href^='/ui/monitor/integrations']")
            .await
    );
    assert!(
        page_text(&b)
            .await
            .contains("no role that the monitor uses")
    );
    b.goto(&format!("{}/ui/monitor/integrations?runtime=cloud", s.base))
        .await;
    assert_eq!(b.text_of("h1").await, "Not allowed");
}
