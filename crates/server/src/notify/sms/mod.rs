//! SMS senders: Twilio's Messages API, or the log.

pub mod twilio;

use super::{DeliveryError, Payload};
use crate::config::{Config, SmsProvider};

pub enum SmsSender {
    Log,
    Twilio(twilio::Twilio),
}

impl SmsSender {
    pub fn from_config(config: &Config) -> Result<Self, String> {
        match config.sms.provider {
            SmsProvider::Log => Ok(Self::Log),
            SmsProvider::Twilio => twilio::Twilio::new(&config.sms.twilio).map(Self::Twilio),
        }
    }

    pub async fn send(&self, payload: &Payload) -> Result<Option<String>, DeliveryError> {
        match self {
            Self::Log => {
                // Neither the number nor the text (it holds the code) is logged.
                tracing::info!(to = %crate::notify::scrub(&payload.to), "sms: log sink accepted a message");
                Ok(None)
            }
            Self::Twilio(t) => t.send(&payload.to, &payload.body).await.map(Some),
        }
    }
}
