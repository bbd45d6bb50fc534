//! Why a notification is sent, and on which channel.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    LoginCode,
    EnableCode,
    PhoneChangeCurrentCode,
    PhoneChangeNewCode,
    DisableCode,
    TwoFactorEnabled,
    PhoneChanged,
    TwoFactorDisabled,
    TwoFactorDisabledByManager,
    AccountLocked,
}

impl Purpose {
    pub const ALL: [Purpose; 10] = [
        Self::LoginCode,
        Self::EnableCode,
        Self::PhoneChangeCurrentCode,
        Self::PhoneChangeNewCode,
        Self::DisableCode,
        Self::TwoFactorEnabled,
        Self::PhoneChanged,
        Self::TwoFactorDisabled,
        Self::TwoFactorDisabledByManager,
        Self::AccountLocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginCode => "login_code",
            Self::EnableCode => "enable_code",
            Self::PhoneChangeCurrentCode => "phone_change_current_code",
            Self::PhoneChangeNewCode => "phone_change_new_code",
            Self::DisableCode => "disable_code",
            Self::TwoFactorEnabled => "two_factor_enabled",
            Self::PhoneChanged => "phone_changed",
            Self::TwoFactorDisabled => "two_factor_disabled",
            Self::TwoFactorDisabledByManager => "two_factor_disabled_by_manager",
            Self::AccountLocked => "account_locked",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    pub fn channel(self) -> Channel {
        match self {
            Self::LoginCode
            | Self::EnableCode
            | Self::PhoneChangeCurrentCode
            | Self::PhoneChangeNewCode
            | Self::DisableCode => Channel::Sms,
            _ => Channel::Email,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_go_by_sms_and_changes_by_email() {
        let sms = Purpose::ALL.iter().filter(|p| p.channel() == Channel::Sms).count();
        assert_eq!(sms, 5);
        assert_eq!(Purpose::AccountLocked.channel(), Channel::Email);
        for p in Purpose::ALL {
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
        }
    }
}
