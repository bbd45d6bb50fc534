//! The client: one method per admin endpoint (api.md, "Admin API").
//!
//! All plumbing is in three functions — `get`, `post` and `exchange` — so no
//! endpoint repeats headers, timeouts or error mapping.

use crate::address::{BaseUrl, Query};
use crate::error::{self, Error};
use crate::pager::Pager;
use crate::{Page, Result, Time};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::{RequestBuilder, Response, Url};
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;
use tollgate_proto::admin::{
    AdminUser, ContractDisabled, ContractSummary, DisableRequest, Me, Notification, UserDisabled,
};

/// The largest page the server gives (api.md: `limit` max 500).
pub const MAX_LIMIT: u32 = 500;

/// The most of a JSON answer we read (500 items of a page are well below).
const MAX_JSON_BYTES: usize = 16 * 1024 * 1024;
/// The most of an error answer we read.
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// Timeouts and identification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// How long to wait for a connection (TCP and TLS). Default 10 s.
    pub connect_timeout: Duration,
    /// How long one call may take, answer included. For the audit stream it
    /// bounds the wait for the answer's head and for each following chunk
    /// (the whole download may take longer). Default 30 s.
    pub request_timeout: Duration,
    /// The `User-Agent` header. Default `tollgate-client/<version>`.
    pub user_agent: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            user_agent: concat!("tollgate-client/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// A typed client of the admin API, signed in with one manager token.
/// Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: BaseUrl,
    /// `Bearer <token>`, marked sensitive (kept out of hyper's debug output).
    auth: HeaderValue,
    options: Options,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base.as_str())
            .field("token", &"<redacted>")
            .field("options", &self.options)
            .finish()
    }
}

/// Filters of `GET /v1/admin/contracts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContractFilter {
    /// Substring of the id or name, case-insensitive.
    pub q: Option<String>,
    /// Only contracts changed since then (the console's delta sync).
    pub updated_since: Option<Time>,
}

impl ContractFilter {
    pub fn search(q: impl Into<String>) -> Self {
        Self { q: Some(q.into()), updated_since: None }
    }

    pub fn updated_since(at: Time) -> Self {
        Self { q: None, updated_since: Some(at) }
    }
}

/// Which page of a list: `limit` (server default 50, max 500) and the
/// `cursor` from the previous page's `next_cursor`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub fn first(limit: u32) -> Self {
        Self { limit: Some(limit), cursor: None }
    }

    /// The page after `page`, or `None` when `page` was the last.
    pub fn after<T>(&self, page: &Page<T>) -> Option<Self> {
        page.next_cursor.as_ref().map(|cursor| Self { limit: self.limit, cursor: Some(cursor.clone()) })
    }
}

impl Client {
    /// A client of the server at `base_url` (e.g. `https://tollgate.example.com`,
    /// or `http://127.0.0.1:8080` for a server on this machine) with default
    /// [`Options`].
    pub fn new(base_url: &str, token: impl Into<String>) -> Result<Self> {
        Self::with_options(base_url, token, Options::default())
    }

    pub fn with_options(base_url: &str, token: impl Into<String>, options: Options) -> Result<Self> {
        let base = BaseUrl::parse(base_url)?;
        let auth = bearer(token.into())?;
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .user_agent(options.user_agent.clone())
            // The API never redirects; following one could carry the token
            // elsewhere or downgrade to http.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::InvalidUrl(format!("cannot set up HTTPS: {e}")))?;
        Ok(Self { http, base, auth, options })
    }

    /// The server's base URL as given (normalised).
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// `GET /v1/admin/me`: who the token belongs to. The console's check of
    /// a URL and token before saving them.
    pub async fn me(&self) -> Result<Me> {
        self.get(self.url(&["me"])?).await
    }

    /// One page of `GET /v1/admin/contracts`.
    pub async fn contracts(&self, filter: &ContractFilter, page: &PageRequest) -> Result<Page<ContractSummary>> {
        self.get(with_page(self.contracts_url(filter)?, page)).await
    }

    /// All pages of `GET /v1/admin/contracts`, `limit` at a time.
    pub fn contract_pages(&self, filter: &ContractFilter, limit: Option<u32>) -> Result<Pager<ContractSummary>> {
        Ok(Pager::new(self.clone(), self.contracts_url(filter)?, limit))
    }

    /// Every contract matching `filter`, following `next_cursor` to the end.
    pub async fn all_contracts(&self, filter: &ContractFilter) -> Result<Vec<ContractSummary>> {
        self.contract_pages(filter, Some(MAX_LIMIT))?.collect_all().await
    }

    /// `GET /v1/admin/contracts/{id}`.
    pub async fn contract(&self, contract_id: &str) -> Result<ContractSummary> {
        self.get(self.url(&["contracts", contract_id])?).await
    }

    /// One page of `GET /v1/admin/contracts/{id}/users?q=`.
    pub async fn contract_users(
        &self,
        contract_id: &str,
        q: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<AdminUser>> {
        self.get(with_page(self.contract_users_url(contract_id, q)?, page)).await
    }

    pub fn contract_user_pages(
        &self,
        contract_id: &str,
        q: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Pager<AdminUser>> {
        Ok(Pager::new(self.clone(), self.contract_users_url(contract_id, q)?, limit))
    }

    /// Every user of a contract (matching `q`), following `next_cursor`.
    pub async fn all_contract_users(&self, contract_id: &str, q: Option<&str>) -> Result<Vec<AdminUser>> {
        self.contract_user_pages(contract_id, q, Some(MAX_LIMIT))?.collect_all().await
    }

    /// One page of `GET /v1/admin/users?q=`: users of all the manager's
    /// contracts whose id or email contains `q`.
    pub async fn users(&self, q: Option<&str>, page: &PageRequest) -> Result<Page<AdminUser>> {
        self.get(with_page(self.users_url(q)?, page)).await
    }

    pub fn user_pages(&self, q: Option<&str>, limit: Option<u32>) -> Result<Pager<AdminUser>> {
        Ok(Pager::new(self.clone(), self.users_url(q)?, limit))
    }

    /// `GET /v1/admin/users/{id}`.
    pub async fn user(&self, user_id: &str) -> Result<AdminUser> {
        self.get(self.url(&["users", user_id])?).await
    }

    /// One page of `GET /v1/admin/users/{id}/notifications`, newest first.
    pub async fn notifications(&self, user_id: &str, page: &PageRequest) -> Result<Page<Notification>> {
        self.get(with_page(self.url(&["users", user_id, "notifications"])?, page)).await
    }

    pub fn notification_pages(&self, user_id: &str, limit: Option<u32>) -> Result<Pager<Notification>> {
        Ok(Pager::new(self.clone(), self.url(&["users", user_id, "notifications"])?, limit))
    }

    /// `POST /v1/admin/users/{id}/two-factor/disable`. `changed` is false
    /// when 2FA was already off.
    pub async fn disable_user(&self, user_id: &str, reason: &str) -> Result<UserDisabled> {
        let body = DisableRequest { reason: reason.to_owned() };
        self.post(self.url(&["users", user_id, "two-factor", "disable"])?, &body).await
    }

    /// `POST /v1/admin/contracts/{id}/two-factor/disable`: every user of the
    /// contract, in one transaction.
    pub async fn disable_contract(&self, contract_id: &str, reason: &str) -> Result<ContractDisabled> {
        let body = DisableRequest { reason: reason.to_owned() };
        self.post(self.url(&["contracts", contract_id, "two-factor", "disable"])?, &body).await
    }

    // ------------------------------------------------------------ plumbing

    /// `/v1/admin/<segments>`.
    pub(crate) fn url(&self, segments: &[&str]) -> Result<Url> {
        let mut path = Vec::with_capacity(segments.len() + 2);
        path.extend_from_slice(&["v1", "admin"]);
        path.extend_from_slice(segments);
        self.base.join(&path)
    }

    fn contracts_url(&self, filter: &ContractFilter) -> Result<Url> {
        let mut url = self.url(&["contracts"])?;
        Query(&mut url).text("q", filter.q.as_deref()).time("updated_since", filter.updated_since)?;
        Ok(url)
    }

    fn contract_users_url(&self, contract_id: &str, q: Option<&str>) -> Result<Url> {
        let mut url = self.url(&["contracts", contract_id, "users"])?;
        Query(&mut url).text("q", q);
        Ok(url)
    }

    fn users_url(&self, q: Option<&str>) -> Result<Url> {
        let mut url = self.url(&["users"])?;
        Query(&mut url).text("q", q);
        Ok(url)
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<T> {
        self.exchange(self.http.get(url)).await
    }

    async fn post<B: serde::Serialize, T: DeserializeOwned>(&self, url: Url, body: &B) -> Result<T> {
        self.exchange(self.http.post(url).json(body)).await
    }

    /// A request with the token, the JSON `Accept` and the call timeout; a
    /// 2xx answer is decoded as `T`, anything else mapped to an [`Error`].
    async fn exchange<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T> {
        let request = request
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "application/json")
            .timeout(self.options.request_timeout);
        let response = request.send().await.map_err(Error::transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.error_from(response).await);
        }
        let body = read_capped(response, MAX_JSON_BYTES, self.options.request_timeout).await?;
        if body.is_empty() {
            return Err(Error::protocol(Some(status.as_u16()), "an empty answer"));
        }
        serde_json::from_slice(&body)
            .map_err(|e| Error::protocol(Some(status.as_u16()), format!("not the expected JSON: {e}")))
    }

    /// A request for a streamed answer (the audit export): only the token and
    /// `Accept`; timeouts are the caller's, chunk by chunk.
    pub(crate) fn stream_request(&self, url: Url, accept: &'static str) -> RequestBuilder {
        self.http.get(url).header(AUTHORIZATION, self.auth.clone()).header(ACCEPT, accept)
    }

    /// The [`Error`] for a non-2xx answer (reading at most 64 KiB of it).
    pub(crate) async fn error_from(&self, response: Response) -> Error {
        let status = response.status();
        let headers = response.headers().clone();
        match read_capped(response, MAX_ERROR_BYTES, self.options.request_timeout).await {
            Ok(body) => error::from_answer(status, &headers, &body),
            // A cut-off error body still tells us the status.
            Err(Error::Protocol { .. }) => error::from_answer(status, &headers, b""),
            Err(other) => other,
        }
    }
}

fn bearer(token: String) -> Result<HeaderValue> {
    if token.is_empty() {
        return Err(Error::InvalidToken("it is empty"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidToken("it holds spaces, control or non-ASCII characters"));
    }
    let mut value =
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| Error::InvalidToken("not a header value"))?;
    value.set_sensitive(true);
    Ok(value)
}

fn with_page(mut url: Url, page: &PageRequest) -> Url {
    Query(&mut url).number("limit", page.limit).text("cursor", page.cursor.as_deref());
    url
}

/// Reads a body up to `cap` bytes (more is a protocol error), each chunk
/// within `idle`.
async fn read_capped(mut response: Response, cap: usize, idle: Duration) -> Result<Vec<u8>> {
    let status = response.status().as_u16();
    let mut body = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(idle, response.chunk()).await {
            Err(_) => return Err(Error::Timeout),
            Ok(chunk) => chunk.map_err(Error::transport)?,
        };
        let Some(chunk) = chunk else { return Ok(body) };
        if body.len() + chunk.len() > cap {
            return Err(Error::protocol(Some(status), format!("an answer larger than {cap} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
}

pub(crate) fn page_url(url: &Url, limit: Option<u32>, cursor: Option<&str>) -> Url {
    with_page(url.clone(), &PageRequest { limit, cursor: cursor.map(str::to_owned) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use time::macros::datetime;

    const TOKEN: &str = "tgm_secret-token-0123456789abcdefghijklmnop";

    fn client() -> Client {
        Client::new("http://127.0.0.1:9/prefix", TOKEN).unwrap()
    }

    #[test]
    fn the_token_is_never_in_debug_output() {
        let c = client();
        let text = format!("{c:?} {:#?}", c);
        assert!(!text.contains(TOKEN) && !text.contains("secret"), "{text}");
        assert!(text.contains("<redacted>") && text.contains("127.0.0.1:9"), "{text}");
        assert!(c.auth.is_sensitive());
    }

    #[test]
    fn unusable_tokens_are_refused_without_echoing_them() {
        for token in ["", "tgm_with space", "tgm_new\nline", "tgm_ünïcode"] {
            let err = Client::new("https://h.example", token).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidToken, "{token:?}");
            if !token.is_empty() {
                assert!(!err.to_string().contains(token) && !format!("{err:?}").contains(token));
            }
        }
    }

    #[test]
    fn insecure_urls_are_refused_by_the_constructor() {
        let err = Client::new("http://tollgate.example.com", TOKEN).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InsecureUrl);
        assert!(!err.to_string().contains(TOKEN));
        assert!(Client::new("https://tollgate.example.com", TOKEN).is_ok());
        assert!(Client::new("http://localhost:8080", TOKEN).is_ok());
    }

    #[test]
    fn every_endpoint_url() {
        let c = client();
        let id = "C-1/../x y";
        let enc = "C-1%2F..%2Fx%20y";
        assert_eq!(c.url(&["me"]).unwrap().as_str(), "http://127.0.0.1:9/prefix/v1/admin/me");
        assert_eq!(c.url(&["contracts", id]).unwrap().path(), format!("/prefix/v1/admin/contracts/{enc}"));
        assert_eq!(
            c.contract_users_url(id, Some("ann")).unwrap().as_str(),
            format!("http://127.0.0.1:9/prefix/v1/admin/contracts/{enc}/users?q=ann")
        );
        assert_eq!(c.users_url(Some("@ex")).unwrap().query(), Some("q=%40ex"));
        assert_eq!(c.users_url(None).unwrap().query(), None);
        assert_eq!(
            c.url(&["users", "u-1", "two-factor", "disable"]).unwrap().path(),
            "/prefix/v1/admin/users/u-1/two-factor/disable"
        );
        let filter = ContractFilter { q: Some("Acme".into()), updated_since: Some(datetime!(2026-11-27 19:40:00 UTC)) };
        let url =
            with_page(c.contracts_url(&filter).unwrap(), &PageRequest { limit: Some(2), cursor: Some("abc=".into()) });
        assert_eq!(url.query(), Some("q=Acme&updated_since=2026-11-27T19%3A40%3A00Z&limit=2&cursor=abc%3D"));
    }

    #[test]
    fn next_page_request_follows_the_cursor() {
        let first = PageRequest::first(10);
        let page = Page::<u8> { items: vec![1], next_cursor: Some("c2".into()) };
        assert_eq!(first.after(&page), Some(PageRequest { limit: Some(10), cursor: Some("c2".into()) }));
        let last = Page::<u8> { items: vec![], next_cursor: None };
        assert_eq!(first.after(&last), None);
    }
}
