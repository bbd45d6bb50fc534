//! The TypeScript types of command payloads, generated with ts-rs into
//! `ui/src/bindings/`. Never edit those files by hand: run
//! `CONSOLE_UPDATE_BINDINGS=1 cargo test --workspace bindings` (or
//! scripts/console-test.sh, which fails when they are out of date).

use std::path::PathBuf;
use ts_rs::TS;

/// Every type the UI sees, as (file name, TypeScript source).
pub fn all() -> Result<Vec<(PathBuf, String)>, ts_rs::ExportError> {
    fn one<T: TS + 'static>() -> Result<(PathBuf, String), ts_rs::ExportError> {
        let path = T::output_path().ok_or(ts_rs::ExportError::CannotBeExported(std::any::type_name::<T>()))?;
        Ok((path, T::export_to_string()?))
    }
    Ok(vec![
        one::<crate::error::ErrorCode>()?,
        one::<crate::error::CommandError>()?,
        one::<crate::credentials::Storage>()?,
        one::<crate::credentials::KeyringStatus>()?,
        one::<crate::console::Session>()?,
        one::<crate::console::AppInfo>()?,
        one::<crate::console::ConnectRequest>()?,
        one::<crate::console::SyncReport>()?,
        one::<crate::cache::ContractHit>()?,
        one::<crate::cache::RecentKind>()?,
        one::<crate::cache::RecentItem>()?,
        one::<crate::cache::ExportStatus>()?,
        one::<crate::cache::ExportRecord>()?,
        one::<crate::console::ContractView>()?,
        one::<crate::console::UserView>()?,
        one::<crate::console::ExportScope>()?,
        one::<crate::console::ExportRequest>()?,
        one::<crate::console::ExportProgress>()?,
        one::<crate::console::ExportOutcome>()?,
        one::<tollgate_proto::admin::ContractSummary>()?,
        one::<tollgate_proto::admin::AdminUser>()?,
        one::<tollgate_proto::admin::Notification>()?,
        one::<tollgate_proto::admin::UserDisabled>()?,
        one::<tollgate_proto::admin::ContractDisabled>()?,
        one::<tollgate_proto::service::TwoFactorStatus>()?,
        one::<tollgate_proto::Page<()>>()?,
    ])
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn bindings_are_up_to_date() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings");
        let update = std::env::var_os("CONSOLE_UPDATE_BINDINGS").is_some();
        let generated = super::all().unwrap();
        assert!(generated.len() >= 13);
        let mut stale = Vec::new();
        for (file, text) in &generated {
            let path = dir.join(file);
            if update {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(file.display().to_string());
            }
        }
        // No stray files: every .ts in the folder is one we generate .
        let known: Vec<_> = generated.iter().map(|(f, _)| f.clone()).collect();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = PathBuf::from(entry.unwrap().file_name());
            assert!(known.contains(&name), "ui/src/bindings/{} is not generated; delete it", name.display());
        }
        assert!(
            stale.is_empty(),
            "ui/src/bindings is out of date ({}); run CONSOLE_UPDATE_BINDINGS=1 cargo test --workspace bindings",
            stale.join(", ")
        );
    }

    use std::path::PathBuf;
}
