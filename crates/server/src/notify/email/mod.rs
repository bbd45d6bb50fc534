//! Email senders: SMTP (lettre; plain, STARTTLS or TLS), or the log.

use super::{DeliveryError, Payload};
use crate::config::{Config, EmailProvider, SmtpTls};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

pub enum EmailSender {
    Log,
    Smtp { transport: Box<AsyncSmtpTransport<Tokio1Executor>>, from: Mailbox },
}

impl EmailSender {
    pub fn from_config(config: &Config) -> Result<Self, String> {
        if config.email.provider == EmailProvider::Log {
            return Ok(Self::Log);
        }
        let from: Mailbox = config.email.from.parse().map_err(|e| format!("email.from: {e}"))?;
        let smtp = &config.email.smtp;
        let builder = match smtp.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                .map_err(|e| format!("email.smtp.host: {e}"))?,
            SmtpTls::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).map_err(|e| format!("email.smtp.host: {e}"))?
            }
        };
        let mut builder = builder.port(smtp.port).timeout(Some(Duration::from_secs(smtp.timeout_secs.max(1))));
        if !smtp.username.is_empty() {
            builder = builder.credentials(Credentials::new(smtp.username.clone(), smtp.password.expose().to_owned()));
        }
        Ok(Self::Smtp { transport: Box::new(builder.build()), from })
    }

    pub async fn send(&self, payload: &Payload) -> Result<Option<String>, DeliveryError> {
        match self {
            Self::Log => {
                tracing::info!(to = %tollgate_core::mask::mask_email(&payload.to), subject = ?payload.subject, "email: log sink accepted a message");
                Ok(None)
            }
            Self::Smtp { transport, from } => {
                let to: Mailbox = payload
                    .to
                    .parse()
                    .map_err(|_| DeliveryError::Permanent("the recipient is not a valid address".into()))?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(payload.subject.clone().unwrap_or_default())
                    .header(ContentType::TEXT_PLAIN)
                    .body(payload.body.clone())
                    .map_err(|e| DeliveryError::Permanent(format!("cannot build the message: {e}")))?;
                match transport.send(message).await {
                    Ok(response) => Ok(response.message().next().map(str::to_owned)),
                    Err(e) if e.is_permanent() => Err(DeliveryError::Permanent(format!("smtp: {e}"))),
                    Err(e) => Err(DeliveryError::Transient(format!("smtp: {e}"))),
                }
            }
        }
    }
}
