//! Twilio's Messages API: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`
//! with form fields `To`, `From`, `Body` and basic auth `sid:token`. `201`
//! with `{"sid": "SM…"}` is accepted; errors are
//! `{"code", "message", "more_info", "status"}`.

use crate::config::TwilioConfig;
use crate::notify::DeliveryError;
use base64::Engine as _;
use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde::Deserialize;
use std::time::Duration;

pub struct Twilio {
    client: reqwest::Client,
    /// Parsed once: a base URL or account SID that does not make a URL is
    /// refused at start, not at every send.
    url: reqwest::Url,
    /// `Basic base64(sid:token)`, made once and marked sensitive (never
    /// printed by the HTTP stack's debug output).
    authorization: HeaderValue,
    from: String,
}

#[derive(Deserialize)]
struct Accepted {
    sid: String,
}

#[derive(Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

impl Twilio {
    pub fn new(config: &TwilioConfig) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs.max(1)))
            .build()
            .map_err(|e| format!("sms.twilio: cannot build an HTTP client: {e}"))?;
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            config.base_url.trim_end_matches('/'),
            config.account_sid
        );
        let url = reqwest::Url::parse(&url)
            .map_err(|e| format!("sms.twilio: base_url and account_sid do not make a URL ({e})"))?;
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            config.account_sid,
            config.auth_token.expose()
        ));
        let mut authorization = HeaderValue::from_str(&format!("Basic {credentials}"))
            .map_err(|_| "sms.twilio: account_sid and auth_token do not make an Authorization header".to_owned())?;
        authorization.set_sensitive(true);
        Ok(Self { client, url, authorization, from: config.from.clone() })
    }

    pub async fn send(&self, to: &str, body: &str) -> Result<String, DeliveryError> {
        let response = self
            .client
            .post(self.url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .form(&[("To", to), ("From", self.from.as_str()), ("Body", body)])
            .send()
            .await
            .map_err(|e| DeliveryError::Transient(format!("twilio: {}", e.without_url())))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            return serde_json::from_str::<Accepted>(&text)
                .map(|a| a.sid)
                .map_err(|_| DeliveryError::Transient(format!("twilio: unreadable answer ({status})")));
        }
        let error = serde_json::from_str::<TwilioError>(&text).ok();
        let code = error.as_ref().and_then(|e| e.code);
        let message = error.and_then(|e| e.message).unwrap_or_else(|| "no message".into());
        let described = match code {
            Some(code) => format!("twilio {status} error {code}: {message}"),
            None => format!("twilio {status}: {message}"),
        };
        // 429 / 20429: slow down; 5xx: their trouble; 401 (20003): our
        // credentials — retried, so fixing the config lets the row go out.
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 401 || code == Some(20429) {
            Err(DeliveryError::Transient(described))
        } else {
            Err(DeliveryError::Permanent(described))
        }
    }
}
