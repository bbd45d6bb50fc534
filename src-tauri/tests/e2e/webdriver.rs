//! Just enough of the W3C WebDriver protocol to drive the console through
//! `tauri-driver` (which fronts WebKitWebDriver): sessions, elements, keys,
//! scripts and screenshots, over reqwest. Every wait polls with a deadline,
//! so a missing element fails the test with what was looked for.

use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
pub const ENTER: &str = "\u{E007}";
const WAIT: Duration = Duration::from_secs(30);

pub struct Session {
    http: reqwest::Client,
    base: String,
}

#[derive(Clone, Debug)]
pub struct Element(String);

impl Session {
    /// A new session running `application` with `args` (tauri-driver starts it).
    pub async fn start(driver: &str, application: &str, args: &[String]) -> Self {
        // A call that hangs (WebKit waiting for a paint that never comes)
        // fails the test instead of the whole CI run.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "tauri:options": {"application": application, "args": args}
        }}});
        let answer: Value = http
            .post(format!("{driver}/session"))
            .json(&caps)
            .send()
            .await
            .expect("tauri-driver must be listening (scripts/console-test.sh starts it)")
            .json()
            .await
            .unwrap();
        let id = answer["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {answer}"));
        Self { http, base: format!("{driver}/session/{id}") }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let ok = response.status().is_success();
        let value: Value = response.json().await.unwrap();
        if ok {
            Ok(value["value"].clone())
        } else {
            Err(value["value"].clone())
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await.unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    async fn find_now(&self, css: &str) -> Option<Element> {
        let found = self
            .call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css})))
            .await
            .ok()?;
        found[ELEMENT].as_str().map(|id| Element(id.to_owned()))
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.find_now(css).await {
                return e;
            }
            assert!(Instant::now() < deadline, "no element {css:?} within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self.post("/elements", json!({"using": "css selector", "value": css})).await;
        found.as_array().unwrap().iter().map(|e| Element(e[ELEMENT].as_str().unwrap().to_owned())).collect()
    }

    /// Waits until exactly `n` elements match `css` (e.g. a table after filtering).
    pub async fn wait_count(&self, css: &str, n: usize) -> Vec<Element> {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self.find_all(css).await;
            if found.len() == n {
                return found;
            }
            assert!(Instant::now() < deadline, "{css:?}: {} elements, not {n}, after {WAIT:?}", found.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.post(&format!("/element/{}/click", e.0), json!({})).await;
    }

    /// Clears the field, then types `text` into it.
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.post(&format!("/element/{}/clear", e.0), json!({})).await;
        self.post(&format!("/element/{}/value", e.0), json!({"text": text})).await;
    }

    /// Types `text` without clearing first (keys such as [`ENTER`] included).
    pub async fn keys(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.post(&format!("/element/{}/value", e.0), json!({"text": text})).await;
    }

    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.get(&format!("/element/{}/text", e.0)).await.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until `css` exists and its text satisfies `ok`; answers the text.
    pub async fn wait_text(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(e) = self.find_now(css).await {
                if let Ok(v) = self.call(reqwest::Method::GET, &format!("/element/{}/text", e.0), None).await {
                    let text = v.as_str().unwrap_or_default().to_owned();
                    if ok(&text) {
                        return text;
                    }
                    assert!(Instant::now() < deadline, "{css:?} never showed {what}; last text: {text:?}");
                }
            }
            assert!(Instant::now() < deadline, "{css:?} never showed {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the window as the X display shows it, read from the X
    /// server with ImageMagick's `import` (scripts/console-test.sh setup
    /// installs it). WebDriver's own screenshot asks WebKit for a snapshot
    /// of the page, which never comes back when the page is not composited
    /// (the console's default, src/webview.rs), while the window itself
    /// paints normally: these are the pixels a manager sees.
    pub async fn screenshot(&self) -> Vec<u8> {
        let rect = self.get("/window/rect").await;
        let px = |k: &str| rect[k].as_f64().unwrap_or_else(|| panic!("window rect without {k}: {rect}")).round() as i64;
        let geometry = format!("{}x{}+{}+{}", px("width"), px("height"), px("x").max(0), px("y").max(0));
        let out = std::process::Command::new("import")
            .args(["-window", "root", "-crop", &geometry, "+repage", "png:-"])
            .output()
            .expect("ImageMagick's import runs (scripts/console-test.sh setup installs it)");
        assert!(out.status.success(), "import -crop {geometry}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    pub async fn end(self) {
        let _ = self.http.delete(&self.base).send().await;
    }
}
