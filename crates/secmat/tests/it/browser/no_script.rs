//! The monitor over plain HTTP, as a browser without the script (or with it off) uses it: forms,
//! CSRF, cookies, paging, sorting, filtering and failures explained in plain words.

use serde_json::json;

use crate::harness::{ADMIN_PASSWORD, Server, entity};

/// Sign-in cookies for the HTTP-level tests: (session cookie, CSRF token of its forms).
async fn http_sign_in(
    http: &reqwest::Client,
    base: &str,
    headers: &[(&str, &str)],
) -> (String, String) {
    let page = http.get(format!("{base}/ui/signin")).send().await.unwrap();
    let signin_cookie = set_cookie(&page, "secmat_signin").unwrap();
    let html = page.text().await.unwrap();
    let token = hidden(&html, "_csrf");
    let mut req = http
        .post(format!("{base}/ui/signin"))
        .header("cookie", format!("secmat_signin={signin_cookie}"))
        .form(&[
            ("user", "admin"),
            ("password", ADMIN_PASSWORD),
            ("_csrf", &token),
            ("next", "/ui/"),
        ]);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), 303);
    let raw = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("secmat_session="))
        .unwrap();
    let session = raw.split(';').next().unwrap().to_owned();
    let page = http
        .get(format!("{base}/ui/"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let csrf = hidden(&page.text().await.unwrap(), "_csrf");
    (raw, csrf)
}

fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers().get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let pair = v.split(';').next()?;
        pair.strip_prefix(&format!("{name}=")).map(str::to_owned)
    })
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Without JavaScript (plain HTTP, as a browser without the script sends it): forms work,
/// every POST needs the session's CSRF token, cookies are Secure behind HTTPS, and `GET /`
/// still hands SAP clients their CSRF token.
#[tokio::test]
async fn forms_work_without_javascript_and_every_post_needs_the_csrf_token() {
    let s = Server::start();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // `/`: browsers go to the monitor; SAP clients still fetch CSRF tokens there.
    let r = http
        .get(format!("{}/", s.base))
        .header("accept", "text/html,*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui/");
    let r = s
        .admin()
        .send(
            "GET",
            "/",
            None,
            &[("X-CSRF-Token", "Fetch"), ("Accept", "text/html")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-csrf-token").is_some_and(|t| !t.is_empty()));
    let r = http.get(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(
        r.status(),
        200,
        "non-browsers get the plain text root as before"
    );

    // Strict headers on every page.
    let r = http
        .get(format!("{}/ui/signin", s.base))
        .send()
        .await
        .unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(
        !r.text().await.unwrap().contains("<script>"),
        "no inline script"
    );

    // Behind HTTPS the session cookie is Secure.
    let (raw, _) = http_sign_in(&http, &s.base, &[("x-forwarded-proto", "https")]).await;
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Secure"] {
        assert!(raw.contains(flag), "{flag} in {raw}");
    }
    let (raw, csrf) = http_sign_in(&http, &s.base, &[]).await;
    assert!(!raw.contains("Secure"));
    let session = raw.split(';').next().unwrap().to_owned();
    let add = format!(
        "{}/ui/security-material/add/oauth2-client-credentials",
        s.base
    );

    // A POST without the CSRF token is refused with a page that says so.
    let r = http
        .post(&add)
        .header("cookie", &session)
        .form(&[("Name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("security token is missing or out of date")
    );
    // And without a session, the browser is sent to sign in.
    let r = http.post(&add).form(&[("Name", "x")]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/ui/signin?next=")
    );

    // "Add Parameter" without the script: the same form with one more row, values kept, the
    // secret not echoed.
    let form = |action: &str| {
        vec![
            ("_csrf", csrf.clone()),
            ("action", action.to_owned()),
            ("Name", "NoScript".into()),
            ("TokenServiceUrl", "https://idp.example.test/token".into()),
            ("ClientId", "c".into()),
            ("ClientSecret", "no-script-secret".into()),
            ("GrantType", "body".into()),
            ("ClientAuthentication", "body".into()),
            ("ScopeContentType", "urlencoded".into()),
            ("cp_key", "a".into()),
            ("cp_value", "1".into()),
            ("cp_part", "url".into()),
            ("cp_key", "".into()),
            ("cp_value", "".into()),
            ("cp_part", "body".into()),
        ]
    };
    let r = http
        .post(&add)
        .header("cookie", &session)
        .form(&form("add-row"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("id=\"cp-3-key\"") && !html.contains("id=\"cp-4-key\""),
        "4 rows"
    );
    assert!(html.contains("value=\"NoScript\""));
    assert!(!html.contains("no-script-secret"));
    assert!(html.contains("enter it again"));
    let r = http
        .post(&add)
        .header("cookie", &session)
        .form(&form("delete-row:0"))
        .send()
        .await
        .unwrap();
    let html = r.text().await.unwrap();
    assert!(!html.contains("value=\"a\""), "row 0 deleted");

    // Deploy without the script.
    let r = http
        .post(&add)
        .header("cookie", &session)
        .form(&form("deploy"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/ui/security-material?runtime=cloud"
    );
    let d = s
        .admin()
        .get(&format!("{}?$expand=CustomParameters", entity("NoScript")))
        .await
        .json();
    assert_eq!(
        d["d"]["CustomParameters"]["results"][0]["SendAsPartOf"],
        "url"
    );

    // A second deploy under the same name: the conflict is explained next to Name.
    let r = http
        .post(&add)
        .header("cookie", &session)
        .form(&form("deploy"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("A credential with this name already exists.")
    );
}

/// The `href` of the link marked `rel="{rel}"`, unescaped.
fn link(html: &str, rel: &str) -> Option<String> {
    let end = html.find(&format!(" rel=\"{rel}\""))?;
    let start = html[..end].rfind("href=\"")? + 6;
    Some(html[start..end].trim_end_matches('"').replace("&amp;", "&"))
}

fn row_names(html: &str) -> Vec<String> {
    html.split("<th scope=\"row\">")
        .skip(1)
        .map(|r| {
            let text = r.split("</a>").next().unwrap();
            text.rsplit('>').next().unwrap().to_owned()
        })
        .collect()
}

/// Paging (keyset forward, a stack of starting points back), sorting, filtering, an
/// unreachable provider in the connectivity test, and an ended session — over plain HTTP.
#[tokio::test]
async fn the_list_pages_sorts_and_filters_and_failures_are_explained_in_plain_words() {
    let s = Server::start();
    let api = s.admin();
    for i in 0..30 {
        let r = api
            .create(&crate::harness::credential(&format!("cred-{i:02}"), "s"))
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
    }
    let mut c = crate::harness::credential("unreachable", "s");
    c["TokenServiceUrl"] = json!("http://127.0.0.1:9/token");
    assert_eq!(api.create(&c).await.status, 202);

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (raw, csrf) = http_sign_in(&http, &s.base, &[]).await;
    let session = raw.split(';').next().unwrap().to_owned();
    let get = |path: String| {
        let (http, session, base) = (http.clone(), session.clone(), s.base.clone());
        async move {
            let r = http
                .get(format!("{base}{path}"))
                .header("cookie", session)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.text().await.unwrap()
        }
    };

    let first = get("/ui/security-material?runtime=cloud".into()).await;
    assert!(first.contains("<strong>31</strong> artifacts") && first.contains("page 1 of 2"));
    let names = row_names(&first);
    assert_eq!(names.len(), 25);
    assert_eq!(
        (names[0].as_str(), names[24].as_str()),
        ("cred-00", "cred-24")
    );
    assert!(link(&first, "prev").is_none());
    let second = get(link(&first, "next").unwrap()).await;
    assert_eq!(
        row_names(&second),
        [
            "cred-25",
            "cred-26",
            "cred-27",
            "cred-28",
            "cred-29",
            "unreachable"
        ]
    );
    assert!(second.contains("page 2 of 2") && link(&second, "next").is_none());
    let back = get(link(&second, "prev").unwrap()).await;
    assert_eq!(row_names(&back), names);

    let desc = get("/ui/security-material?runtime=cloud&sort=-name".into()).await;
    let d = row_names(&desc);
    assert_eq!(
        (d.len(), d[0].as_str(), d[24].as_str()),
        (25, "unreachable", "cred-06")
    );
    let desc2 = get(link(&desc, "next").unwrap()).await;
    assert_eq!(
        row_names(&desc2),
        [
            "cred-05", "cred-04", "cred-03", "cred-02", "cred-01", "cred-00"
        ]
    );

    let filtered = get("/ui/security-material?runtime=cloud&q=CRED-1".into()).await;
    assert_eq!(row_names(&filtered).len(), 10);
    assert!(filtered.contains("<strong>10</strong> artifacts"));
    let by_date = get("/ui/security-material?runtime=cloud&sort=-deployedOn".into()).await;
    assert!(by_date.contains("within this page only"));
    assert_eq!(
        row_names(&by_date)[0],
        "cred-24",
        "newest of the page first"
    );

    // The connectivity test says in plain words that the provider cannot be reached.
    let r = http
        .post(format!(
            "{}/ui/security-material/test?name=unreachable",
            s.base
        ))
        .header("cookie", &session)
        .form(&[("_csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Connectivity test: failed"), "{html}");
    assert!(
        html.contains("The token service could not be reached"),
        "{html}"
    );

    // An ended session sends the browser to sign in again, saying why.
    let r = http
        .get(format!("{}/ui/security-material?runtime=cloud", s.base))
        .header("cookie", "secmat_session=ended-or-forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.contains("expired=1"), "{to}");
    let page = http
        .get(format!("{}{to}", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Your session has expired. Sign in again to continue."));
}
