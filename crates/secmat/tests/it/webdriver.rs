//! A tiny W3C WebDriver client (over reqwest) driving Debian's headless Chromium through its own
//! `chromedriver`: each [`Browser`] starts a chromedriver on a free port with a fresh profile, so
//! browser tests run in parallel with each other and with every other test.
//!
//! Chromium and chromedriver come from Debian (`scripts/services.sh`'s `ensure_browser`); when
//! they are missing the test fails and says so — it does not skip.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// The browser binary the tests drive.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Its WebDriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// W3C's key for element references in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A reference to an element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

/// A headless Chromium session; ends the session and stops chromedriver when dropped.
pub struct Browser {
    http: reqwest::Client,
    driver: String,
    session: String,
    child: Option<Child>,
    log: PathBuf,
    _profile: tempfile::TempDir,
}

/// A free port on 127.0.0.1 (the listener is dropped at once: the port is free for the driver).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().unwrap().port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a 1280×900 viewport.
    pub async fn start() -> Self {
        for (what, path) in [("Chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)] {
            assert!(
                Path::new(path).exists(),
                "{what} is missing ({path}): the browser tests need Debian's chromium and chromium-driver. \
                 Install them with: bash -c '. scripts/services.sh && ensure_browser' (scripts/test.sh and CI do this)"
            );
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let log = profile.path().join("chromedriver.log");
        // A port picked just before use can be taken in between; try a few.
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn chromedriver");
            let driver = format!("http://127.0.0.1:{port}");
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap();
            if !wait_ready(&http, &driver, &mut child).await {
                let _ = child.kill();
                let _ = child.wait();
                last_error = format!("chromedriver did not start on port {port}");
                continue;
            }
            let mut b = Browser {
                http,
                driver,
                session: String::new(),
                child: Some(child),
                log: log.clone(),
                _profile: profile,
            };
            b.new_session().await;
            b.set_viewport(1280, 900).await;
            return b;
        }
        panic!("{last_error}");
    }

    async fn new_session(&mut self) {
        let data_dir = self._profile.path().join("chromium");
        let caps = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "pageLoadStrategy": "normal",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        format!("--user-data-dir={}", data_dir.display()),
                        "--window-size=1280,900",
                    ],
                },
            }}
        });
        let v = self.raw("POST", "/session", Some(caps)).await;
        self.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_owned();
        self.cmd(
            "POST",
            "/timeouts",
            json!({"implicit": 3000, "pageLoad": 30000, "script": 30000}),
        )
        .await;
    }

    async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(m, format!("{}{path}", self.driver));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = res.status();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            panic!(
                "WebDriver {method} {path} failed ({status}): {} {}\n(chromedriver log: {})",
                v["value"]["error"],
                v["value"]["message"],
                self.log.display()
            );
        }
        v["value"].clone()
    }

    /// Sends a command to this session.
    pub async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let body = if method == "GET" { None } else { Some(body) };
        self.raw(method, &format!("/session/{}{path}", self.session), body)
            .await
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url })).await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.cmd("GET", "/url", Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The first element matching `css` (waits up to 3 s for it to appear).
    pub async fn find(&self, css: &str) -> Element {
        let v = self
            .cmd(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        Element(v[ELEMENT_KEY].as_str().unwrap_or_default().to_owned())
    }

    /// Every element matching `css`.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self
            .cmd(
                "POST",
                "/elements",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|e| Element(e[ELEMENT_KEY].as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether an element matching `css` is on the page now (no waiting).
    pub async fn exists(&self, css: &str) -> bool {
        self.exec(
            "return document.querySelector(arguments[0]) !== null;",
            json!([css]),
        )
        .await
            == Value::Bool(true)
    }

    /// Clicks `e` (and waits for a navigation it starts).
    pub async fn click(&self, e: &Element) {
        self.cmd("POST", &format!("/element/{}/click", e.0), json!({}))
            .await;
    }

    /// Clicks the first element matching `css`.
    pub async fn click_css(&self, css: &str) {
        let e = self.find(css).await;
        self.click(&e).await;
    }

    /// Types `text` into `e`.
    pub async fn send_keys(&self, e: &Element, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{}/value", e.0),
            json!({ "text": text }),
        )
        .await;
    }

    /// Presses and releases one key (WebDriver key codes: `\u{E004}` Tab, `\u{E007}` Enter).
    pub async fn press(&self, key: &str) {
        self.cmd(
            "POST",
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key},
            ]}]}),
        )
        .await;
    }

    /// Clears `css`'s input and types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.cmd("POST", &format!("/element/{}/clear", e.0), json!({}))
            .await;
        if !text.is_empty() {
            self.send_keys(&e, text).await;
        }
    }

    /// Selects the option with `value` of the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.click_css(&format!("{css} option[value=\"{value}\"]"))
            .await;
    }

    /// The rendered text of `e`.
    pub async fn text(&self, e: &Element) -> String {
        self.cmd("GET", &format!("/element/{}/text", e.0), Value::Null)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The rendered text of the first element matching `css`.
    pub async fn text_of(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.text(&e).await
    }

    /// An attribute of `e` (`None` when absent).
    pub async fn attribute(&self, e: &Element, name: &str) -> Option<String> {
        self.cmd(
            "GET",
            &format!("/element/{}/attribute/{name}", e.0),
            Value::Null,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// A DOM property of `e` (e.g. an input's current `value`).
    pub async fn property(&self, e: &Element, name: &str) -> Value {
        self.cmd(
            "GET",
            &format!("/element/{}/property/{name}", e.0),
            Value::Null,
        )
        .await
    }

    /// The current value of the input matching `css`.
    pub async fn value_of(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.property(&e, "value")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its result.
    pub async fn exec(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// Runs `script`, which calls `arguments[arguments.length - 1]` with its result.
    pub async fn exec_async(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/async",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// A cookie of the current page (`name`, `value`, `path`, `httpOnly`, `secure`, `sameSite`).
    pub async fn cookie(&self, name: &str) -> Value {
        self.cmd("GET", &format!("/cookie/{name}"), Value::Null)
            .await
    }

    /// Saves a PNG of the viewport to `path` (creating its folder).
    pub async fn screenshot(&self, path: &Path) {
        let b64 = self.cmd("GET", "/screenshot", Value::Null).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Makes the page's viewport exactly `width` × `height` CSS pixels. From 500 pixels wide the
    /// window itself is resized (plus the frame the browser draws, even headless); narrower
    /// viewports, which a window cannot have, are emulated as a phone would show them (DevTools
    /// device metrics).
    pub async fn set_viewport(&self, width: u32, height: u32) {
        if width < 500 {
            self.cdp(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": true}),
            )
            .await;
            return;
        }
        self.cdp("Emulation.clearDeviceMetricsOverride", json!({}))
            .await;
        self.set_window_size(width, height).await;
        let frame = self
            .exec(
                "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];",
                json!([]),
            )
            .await;
        let dw = frame[0].as_u64().unwrap_or(0) as u32;
        let dh = frame[1].as_u64().unwrap_or(0) as u32;
        if dw > 0 || dh > 0 {
            self.set_window_size(width + dw, height + dh).await;
        }
    }

    /// A Chrome DevTools Protocol command through chromedriver.
    pub async fn cdp(&self, command: &str, params: Value) -> Value {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": command, "params": params}),
        )
        .await
    }

    /// Resizes the window.
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            json!({"width": width, "height": height}),
        )
        .await;
    }
}

async fn wait_ready(http: &reqwest::Client, driver: &str, child: &mut Child) -> bool {
    for _ in 0..200 {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        if let Ok(r) = http.get(format!("{driver}/status")).send().await
            && let Ok(v) = r.json::<Value>().await
            && v["value"]["ready"] == Value::Bool(true)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Drop cannot await: end the session with a plain blocking request, so chromedriver
        // closes Chromium itself, then stop chromedriver.
        if !self.session.is_empty()
            && let Some(addr) = self.driver.strip_prefix("http://")
            && let Ok(mut s) = std::net::TcpStream::connect(addr)
        {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                s,
                "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
