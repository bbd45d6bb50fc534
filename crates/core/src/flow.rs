//! The help page's three flows as state machines.
//!
//! ```text
//! enable:        confirm_new_phone ──code──▶ done
//! phone change:  confirm_current_phone ──code──▶ new_phone_required
//!                  ──new phone──▶ confirm_new_phone ──code──▶ done
//! disable:       confirm_current_phone ──code──▶ done
//! ```
//!
//! A phone change binds a new authenticator, so it is proven twice: by a
//! code to the current phone, then by a code to the new one (NIST SP
//! 800-63B rev 4 §4.1.2.1). Any other transition is a `flow_state` error.

use crate::purpose::Purpose;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    Enable,
    PhoneChange,
    Disable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowStep {
    ConfirmNewPhone,
    ConfirmCurrentPhone,
    NewPhoneRequired,
    Done,
    Cancelled,
}

/// What a finished flow changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowOutcome {
    Enabled,
    PhoneChanged,
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this step is not expected now (the flow is at {0:?})")]
pub struct FlowStateError(pub FlowStep);

impl FlowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enable => "enable",
            Self::PhoneChange => "phone_change",
            Self::Disable => "disable",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Enable, Self::PhoneChange, Self::Disable].into_iter().find(|k| k.as_str() == raw)
    }

    pub fn first_step(self) -> FlowStep {
        match self {
            Self::Enable => FlowStep::ConfirmNewPhone,
            Self::PhoneChange | Self::Disable => FlowStep::ConfirmCurrentPhone,
        }
    }

    /// The purpose of the code sent at `step`, or `None` if no code is due.
    pub fn code_purpose(self, step: FlowStep) -> Option<Purpose> {
        match (self, step) {
            (Self::Enable, FlowStep::ConfirmNewPhone) => Some(Purpose::EnableCode),
            (Self::PhoneChange, FlowStep::ConfirmCurrentPhone) => Some(Purpose::PhoneChangeCurrentCode),
            (Self::PhoneChange, FlowStep::ConfirmNewPhone) => Some(Purpose::PhoneChangeNewCode),
            (Self::Disable, FlowStep::ConfirmCurrentPhone) => Some(Purpose::DisableCode),
            _ => None,
        }
    }

    /// A right code was entered at `step`.
    pub fn confirm(self, step: FlowStep) -> Result<(FlowStep, Option<FlowOutcome>), FlowStateError> {
        match (self, step) {
            (Self::Enable, FlowStep::ConfirmNewPhone) => Ok((FlowStep::Done, Some(FlowOutcome::Enabled))),
            (Self::PhoneChange, FlowStep::ConfirmCurrentPhone) => Ok((FlowStep::NewPhoneRequired, None)),
            (Self::PhoneChange, FlowStep::ConfirmNewPhone) => Ok((FlowStep::Done, Some(FlowOutcome::PhoneChanged))),
            (Self::Disable, FlowStep::ConfirmCurrentPhone) => Ok((FlowStep::Done, Some(FlowOutcome::Disabled))),
            _ => Err(FlowStateError(step)),
        }
    }

    /// The new phone number was given at `step`.
    pub fn new_phone(self, step: FlowStep) -> Result<FlowStep, FlowStateError> {
        match (self, step) {
            (Self::PhoneChange, FlowStep::NewPhoneRequired) => Ok(FlowStep::ConfirmNewPhone),
            _ => Err(FlowStateError(step)),
        }
    }
}

impl FlowStep {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConfirmNewPhone => "confirm_new_phone",
            Self::ConfirmCurrentPhone => "confirm_current_phone",
            Self::NewPhoneRequired => "new_phone_required",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::ConfirmNewPhone, Self::ConfirmCurrentPhone, Self::NewPhoneRequired, Self::Done, Self::Cancelled]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Cancelled)
    }

    /// Whether a code is outstanding (so `resend` and `confirm` make sense).
    pub fn awaits_code(self) -> bool {
        matches!(self, Self::ConfirmNewPhone | Self::ConfirmCurrentPhone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FlowStep::*;

    #[test]
    fn enable_is_one_code_to_the_new_phone() {
        let kind = FlowKind::Enable;
        assert_eq!(kind.first_step(), ConfirmNewPhone);
        assert_eq!(kind.code_purpose(ConfirmNewPhone), Some(Purpose::EnableCode));
        assert_eq!(kind.confirm(ConfirmNewPhone), Ok((Done, Some(FlowOutcome::Enabled))));
    }

    #[test]
    fn phone_change_is_old_phone_then_new_phone() {
        let kind = FlowKind::PhoneChange;
        assert_eq!(kind.first_step(), ConfirmCurrentPhone);
        assert_eq!(kind.code_purpose(ConfirmCurrentPhone), Some(Purpose::PhoneChangeCurrentCode));
        assert_eq!(kind.confirm(ConfirmCurrentPhone), Ok((NewPhoneRequired, None)));
        assert_eq!(kind.code_purpose(NewPhoneRequired), None);
        assert_eq!(kind.new_phone(NewPhoneRequired), Ok(ConfirmNewPhone));
        assert_eq!(kind.code_purpose(ConfirmNewPhone), Some(Purpose::PhoneChangeNewCode));
        assert_eq!(kind.confirm(ConfirmNewPhone), Ok((Done, Some(FlowOutcome::PhoneChanged))));
    }

    #[test]
    fn disable_is_one_code_to_the_current_phone() {
        let kind = FlowKind::Disable;
        assert_eq!(kind.code_purpose(ConfirmCurrentPhone), Some(Purpose::DisableCode));
        assert_eq!(kind.confirm(ConfirmCurrentPhone), Ok((Done, Some(FlowOutcome::Disabled))));
    }

    #[test]
    fn steps_out_of_order_are_refused() {
        assert_eq!(FlowKind::PhoneChange.new_phone(ConfirmCurrentPhone), Err(FlowStateError(ConfirmCurrentPhone)));
        assert_eq!(FlowKind::PhoneChange.confirm(NewPhoneRequired), Err(FlowStateError(NewPhoneRequired)));
        assert_eq!(FlowKind::Enable.new_phone(ConfirmNewPhone), Err(FlowStateError(ConfirmNewPhone)));
        for kind in [FlowKind::Enable, FlowKind::PhoneChange, FlowKind::Disable] {
            assert_eq!(kind.confirm(Done), Err(FlowStateError(Done)));
            assert_eq!(kind.confirm(Cancelled), Err(FlowStateError(Cancelled)));
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in [FlowKind::Enable, FlowKind::PhoneChange, FlowKind::Disable] {
            assert_eq!(FlowKind::parse(kind.as_str()), Some(kind));
        }
        for step in [ConfirmNewPhone, ConfirmCurrentPhone, NewPhoneRequired, Done, Cancelled] {
            assert_eq!(FlowStep::parse(step.as_str()), Some(step));
        }
        assert!(Done.is_finished() && Cancelled.is_finished() && !NewPhoneRequired.is_finished());
    }
}
