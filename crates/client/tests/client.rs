#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test binary: failing loudly is the point

//! The client against the real server: started in-process on 127.0.0.1:0
//! with a fresh SQLite file, seeded with the demo data (contracts
//! C-10001…C-10032, users u-50001…, two users in three with 2FA,
//! notification history, 90 days of audit), and managers made through the
//! server's own `managers` module. One binary (link once); every test has
//! its own server and database.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;
use tollgate_client::proto::admin::AUDIT_CSV_HEADER;
use tollgate_client::{
    AuditFilter, AuditFormat, AuditRecord, Cancel, Client, ContractFilter, Error, ErrorCode, ErrorKind, PageRequest,
    Progress,
};
use tollgate_server::config::{Config, Secret};
use tollgate_server::Server;

/// base64 of 40 bytes.
const HMAC_KEY: &str = "Y2xpZW50LXRlc3RzLWhtYWMta2V5LWNsaWVudC10ZXN0cy1obWFjLWtleSE=";

struct Env {
    server: Server,
    _dir: TempDir,
}

impl Env {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".into();
        config.database.url = format!("sqlite://{}", dir.path().join("t.db").display());
        config.codes.hmac_key = Secret::new(HMAC_KEY);
        config.validate().unwrap();
        let server = Server::start(config, Arc::new(tollgate_server::clock::SystemClock)).await.unwrap();
        tollgate_server::demo::seed(&server.app).await.unwrap();
        Self { server, _dir: dir }
    }

    /// A manager assigned to `contracts`: `(manager_id, client)`.
    async fn manager(&self, contracts: &[&str]) -> (String, Client) {
        let app = &self.server.app;
        let (id, token) = tollgate_server::managers::create(app, "Dana Whitfield", "dana@tollgate.test").await.unwrap();
        for contract in contracts {
            assert!(tollgate_server::managers::assign(app, &id, contract).await.unwrap());
        }
        (id, self.client(&token))
    }

    fn client(&self, token: &str) -> Client {
        Client::new(&self.server.url(), token).unwrap()
    }
}

fn all_contract_ids() -> Vec<String> {
    (10001..=10032).map(|n| format!("C-{n}")).collect()
}

fn refs(ids: &[String]) -> Vec<&str> {
    ids.iter().map(String::as_str).collect()
}

fn ids(contracts: &[tollgate_client::ContractSummary]) -> Vec<&str> {
    contracts.iter().map(|c| c.contract_id.as_str()).collect()
}

#[tokio::test]
async fn me_names_the_manager_and_counts_its_contracts() {
    let env = Env::start().await;
    let (id, client) = env.manager(&["C-10001", "C-10002", "C-10003"]).await;
    let me = client.me().await.unwrap();
    assert_eq!(me.manager_id, id);
    assert_eq!(me.name, "Dana Whitfield");
    assert_eq!(me.email, "dana@tollgate.test");
    assert_eq!(me.contracts, 3);
}

#[tokio::test]
async fn contracts_are_found_by_part_of_the_name_or_id_whatever_the_case() {
    let env = Env::start().await;
    let every = all_contract_ids();
    let (_, client) = env.manager(&refs(&every)).await;
    for q in ["acme", "ACME LOG", "gistic"] {
        let found = client.all_contracts(&ContractFilter::search(q)).await.unwrap();
        assert_eq!(ids(&found), ["C-10001"], "q={q}");
        assert_eq!(found[0].name, "Acme Logistics");
    }
    let found = client.all_contracts(&ContractFilter::search("c-1003")).await.unwrap();
    assert_eq!(ids(&found), ["C-10030", "C-10031", "C-10032"]);
    let found = client.all_contracts(&ContractFilter::search("C-10026")).await.unwrap();
    assert_eq!(ids(&found), ["C-10026"]);
    assert_eq!(found[0].name, "Zephyr Travel");
    assert!(client.all_contracts(&ContractFilter::search("no such company")).await.unwrap().is_empty());
    // Substrings, not patterns: LIKE's wildcards match only themselves.
    for q in ["%", "_", "C-1000_", "a%s"] {
        assert!(client.all_contracts(&ContractFilter::search(q)).await.unwrap().is_empty(), "q={q}");
        assert!(client.users(Some(q), &PageRequest::default()).await.unwrap().items.is_empty(), "q={q}");
    }

    // Only the manager's own contracts are searched.
    let (_, narrow) = env.manager(&["C-10001"]).await;
    assert!(narrow.all_contracts(&ContractFilter::search("zephyr")).await.unwrap().is_empty());
}

#[tokio::test]
async fn cursor_iteration_visits_every_contract_exactly_once() {
    let env = Env::start().await;
    let every = all_contract_ids();
    let (_, client) = env.manager(&refs(&every)).await;

    let mut pager = client.contract_pages(&ContractFilter::default(), Some(5)).unwrap();
    let mut seen = Vec::new();
    while let Some(items) = pager.next_page().await.unwrap() {
        assert!(items.len() <= 5);
        seen.extend(items.into_iter().map(|c| c.contract_id));
    }
    assert!(pager.is_finished());
    assert_eq!(pager.pages(), 7, "32 contracts, 5 a page");
    assert_eq!(pager.next_page().await.unwrap(), None, "a finished pager stays finished");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 32);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, every);

    // The same by hand: a page, then the page after it.
    let first = PageRequest::first(20);
    let page = client.contracts(&ContractFilter::default(), &first).await.unwrap();
    assert_eq!(page.items.len(), 20);
    let next = first.after(&page).expect("a second page");
    let rest = client.contracts(&ContractFilter::default(), &next).await.unwrap();
    assert_eq!(rest.items.len(), 12);
    assert_eq!(next.after(&rest), None);

    // Without a limit the server's default (50) holds them all.
    let page = client.contracts(&ContractFilter::default(), &PageRequest::default()).await.unwrap();
    assert_eq!((page.items.len(), page.next_cursor), (32, None));

    // Limits out of range are the server's invalid_request.
    for limit in [0, 501] {
        let err = client.contracts(&ContractFilter::default(), &PageRequest::first(limit)).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidRequest { status: 400, code: ErrorCode::InvalidRequest, .. }),
            "limit {limit}: {err:?}"
        );
    }
}

#[tokio::test]
async fn a_contract_its_users_and_the_delta_sync() {
    let env = Env::start().await;
    let (_, client) = env.manager(&["C-10001", "C-10002"]).await;
    let contract = client.contract("C-10001").await.unwrap();
    assert_eq!((contract.contract_id.as_str(), contract.name.as_str()), ("C-10001", "Acme Logistics"));

    let users = client.all_contract_users("C-10001", None).await.unwrap();
    assert_eq!(users.len() as u64, contract.users);
    let with = users.iter().filter(|u| u.two_factor.enabled).count() as u64;
    assert_eq!(with, contract.users_with_two_factor);
    assert!(with > 0 && with < contract.users, "both kinds of users: {with} of {}", contract.users);
    assert!(users.iter().all(|u| u.contract_id == "C-10001"));
    for user in &users {
        assert_eq!(user.two_factor.enabled, user.two_factor.phone_masked.is_some());
    }

    // Paged by hand with a small limit: the same users, in the same order.
    let mut pager = client.contract_user_pages("C-10001", None, Some(3)).unwrap();
    let mut paged = Vec::new();
    while let Some(items) = pager.next_page().await.unwrap() {
        paged.extend(items);
    }
    assert_eq!(paged, users);

    // q narrows to matching users of this contract only.
    let target = &users[4];
    let found = client.all_contract_users("C-10001", Some(&target.email.to_uppercase())).await.unwrap();
    assert_eq!(found, vec![target.clone()]);

    // Delta sync: nothing changed since the newest `updated_at`…
    let all = client.all_contracts(&ContractFilter::default()).await.unwrap();
    let newest = all.iter().map(|c| c.updated_at).max().unwrap();
    let mark = newest + time::Duration::milliseconds(1);
    assert!(client.all_contracts(&ContractFilter::updated_since(mark)).await.unwrap().is_empty());
    assert_eq!(
        client.all_contracts(&ContractFilter::updated_since(newest - time::Duration::days(400))).await.unwrap(),
        all
    );
    // …until a user of C-10001 loses 2FA.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let enabled = users.iter().find(|u| u.two_factor.enabled).unwrap();
    assert!(client.disable_user(&enabled.user_id, "delta sync test").await.unwrap().changed);
    let changed = client.all_contracts(&ContractFilter::updated_since(mark)).await.unwrap();
    assert_eq!(ids(&changed), ["C-10001"]);
    assert_eq!(changed[0].users_with_two_factor, contract.users_with_two_factor - 1);
}

#[tokio::test]
async fn users_are_searched_across_the_managers_contracts_and_read_one_by_one() {
    let env = Env::start().await;
    let (_, client) = env.manager(&["C-10001", "C-10002"]).await;
    let c1 = client.all_contract_users("C-10001", None).await.unwrap();
    let c2 = client.all_contract_users("C-10002", None).await.unwrap();

    // By part of an email, case-insensitive, across both contracts.
    let domain_hits = client.user_pages(Some("@BIRCHWOOD.example"), Some(4)).unwrap().collect_all().await.unwrap();
    assert_eq!(domain_hits.len(), c2.len());
    assert!(domain_hits.iter().all(|u| u.contract_id == "C-10002"));
    // By part of the id.
    let first = &c1[0];
    let page = client.users(Some(&first.user_id), &PageRequest::default()).await.unwrap();
    assert!(page.items.contains(first), "{:?}", page.items);
    assert!(page.items.iter().all(|u| u.user_id.contains(&first.user_id)));
    // Without q: every user of both contracts.
    let everyone = client.user_pages(None, Some(7)).unwrap().collect_all().await.unwrap();
    assert_eq!(everyone.len(), c1.len() + c2.len());

    let with = c1.iter().find(|u| u.two_factor.enabled).unwrap();
    let one = client.user(&with.user_id).await.unwrap();
    assert_eq!(&one, with);
    assert_eq!(one.contract_id, "C-10001");
    let masked = one.two_factor.phone_masked.as_deref().unwrap();
    assert!(masked.starts_with("+44") && masked.contains('•'), "{masked}");
    assert!(one.two_factor.enabled_at.is_some());
    let without = c1.iter().find(|u| !u.two_factor.enabled).unwrap();
    let one = client.user(&without.user_id).await.unwrap();
    assert_eq!((one.two_factor.enabled, one.two_factor.phone_masked), (false, None));
}

#[tokio::test]
async fn notification_history_is_newest_first_and_pages_the_same() {
    let env = Env::start().await;
    let (_, client) = env.manager(&["C-10001"]).await;
    let user =
        client.all_contract_users("C-10001", None).await.unwrap().into_iter().find(|u| u.two_factor.enabled).unwrap();
    let page = client.notifications(&user.user_id, &PageRequest::default()).await.unwrap();
    assert_eq!(page.next_cursor, None);
    let history = page.items;
    assert!(history.len() >= 3, "{history:?}");
    assert!(history.windows(2).all(|w| w[0].created_at >= w[1].created_at), "newest first");
    assert!(history.iter().any(|n| n.channel == "sms" && n.purpose == "enable_code"));
    assert!(history.iter().any(|n| n.channel == "email" && n.purpose == "two_factor_enabled"));
    for n in &history {
        assert!(["queued", "sent", "failed"].contains(&n.status.as_str()), "{n:?}");
        assert!(!n.recipient_masked.is_empty());
    }
    // One at a time through the pager: the same list.
    let paged = client.notification_pages(&user.user_id, Some(1)).unwrap().collect_all().await.unwrap();
    assert_eq!(paged, history);
}

#[tokio::test]
async fn disabling_one_user_changes_it_once() {
    let env = Env::start().await;
    let (_, client) = env.manager(&["C-10001"]).await;
    let before = client.contract("C-10001").await.unwrap();
    let user =
        client.all_contract_users("C-10001", None).await.unwrap().into_iter().find(|u| u.two_factor.enabled).unwrap();

    // The reason is required.
    let err = client.disable_user(&user.user_id, "").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err:?}");
    assert_eq!(err.code(), Some(ErrorCode::InvalidRequest));
    assert!(client.user(&user.user_id).await.unwrap().two_factor.enabled, "a refused call changed nothing");

    let done = client.disable_user(&user.user_id, &"r".repeat(500)).await.unwrap();
    assert_eq!(done.user_id, user.user_id);
    assert!(done.changed);
    assert_eq!((done.two_factor.enabled, done.two_factor.phone_masked.as_deref()), (false, None));
    let err = client.disable_user(&user.user_id, &"x".repeat(501)).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidRequest), "{err:?}");
    let again = client.disable_user(&user.user_id, "lost phone, ticket 4711").await.unwrap();
    assert!(!again.changed);

    assert!(!client.user(&user.user_id).await.unwrap().two_factor.enabled);
    let after = client.contract("C-10001").await.unwrap();
    assert_eq!(after.users_with_two_factor, before.users_with_two_factor - 1);
    // The user is told: the newest notification is the manager-disable email.
    let newest = client.notifications(&user.user_id, &PageRequest::first(1)).await.unwrap();
    assert_eq!(newest.items[0].purpose, "two_factor_disabled_by_manager");
    assert_eq!(newest.items[0].channel, "email");
}

#[tokio::test]
async fn disabling_a_whole_contract_counts_its_users() {
    let env = Env::start().await;
    let (_, client) = env.manager(&["C-10002"]).await;
    let before = client.contract("C-10002").await.unwrap();
    assert!(before.users_with_two_factor > 0);
    let done = client.disable_contract("C-10002", "company migrates to SSO").await.unwrap();
    assert_eq!(done.contract_id, "C-10002");
    assert_eq!(done.disabled, before.users_with_two_factor);
    let after = client.contract("C-10002").await.unwrap();
    assert_eq!((after.users, after.users_with_two_factor), (before.users, 0));
    assert!(client.all_contract_users("C-10002", None).await.unwrap().iter().all(|u| !u.two_factor.enabled));
    assert_eq!(client.disable_contract("C-10002", "again").await.unwrap().disabled, 0);
}

#[tokio::test]
async fn anything_outside_the_managers_contracts_is_not_found() {
    let env = Env::start().await;
    let (_, client) = env.manager(&["C-10001"]).await;
    let (_, other) = env.manager(&["C-10002"]).await;
    let foreign = other.all_contract_users("C-10002", None).await.unwrap();
    let foreign_user = foreign.iter().find(|u| u.two_factor.enabled).unwrap().user_id.clone();

    let mut errors = vec![
        client.contract("C-10002").await.unwrap_err(),
        client.contract("C-99999").await.unwrap_err(),
        client.contract_users("C-10002", None, &PageRequest::default()).await.unwrap_err(),
        client.user(&foreign_user).await.unwrap_err(),
        client.user("u-99999999").await.unwrap_err(),
        client.notifications(&foreign_user, &PageRequest::default()).await.unwrap_err(),
        client.disable_user(&foreign_user, "not mine").await.unwrap_err(),
        client.disable_contract("C-10002", "not mine").await.unwrap_err(),
    ];
    for filter in [
        AuditFilter { contract_id: Some("C-10002".into()), ..AuditFilter::default() },
        AuditFilter { user_id: Some(foreign_user.clone()), ..AuditFilter::default() },
    ] {
        let mut out = Vec::new();
        let result = client.export_audit(&filter, AuditFormat::Csv, &mut out, &Cancel::new(), |_| {}).await;
        errors.push(result.unwrap_err());
        assert!(out.is_empty());
    }
    for err in errors {
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        assert_eq!(err.kind().as_str(), "not_found");
        assert!(!err.to_string().contains("Birchwood"), "{err}");
    }
    // Searches never reach into other contracts, and nothing was disabled.
    assert!(client.users(Some(&foreign_user), &PageRequest::default()).await.unwrap().items.is_empty());
    assert!(other.user(&foreign_user).await.unwrap().two_factor.enabled);
}

#[tokio::test]
async fn a_revoked_or_unknown_token_is_unauthorized() {
    let env = Env::start().await;
    let (id, client) = env.manager(&["C-10001"]).await;
    let service_token = tollgate_server::cli::issue_service_token(&env.server.app, "web tier").await.unwrap();
    client.me().await.unwrap();
    assert!(tollgate_server::managers::revoke(&env.server.app, &id).await.unwrap());
    for err in [
        client.me().await.unwrap_err(),
        client.contract("C-10001").await.unwrap_err(),
        env.client("tgm_not-a-token-anyone-was-given-0123456789").me().await.unwrap_err(),
        // A service token is the other kind: refused on the admin API.
        env.client(&service_token).me().await.unwrap_err(),
    ] {
        assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
    }
    let mut out = Vec::new();
    let err = client
        .export_audit(&AuditFilter::default(), AuditFormat::Ndjson, &mut out, &Cancel::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err:?}");
}

#[tokio::test]
async fn a_stopped_server_is_unreachable() {
    let env = Env::start().await;
    let (_, client) = env.manager(&["C-10001"]).await;
    client.me().await.unwrap();
    env.server.stop().await;
    let err = client.me().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unreachable, "{err:?}");
}

/// Streams an export into a file in `dir`; answers the totals, every
/// progress report, and the file's text.
async fn export_to_file(
    client: &Client,
    dir: &TempDir,
    filter: &AuditFilter,
    format: AuditFormat,
) -> (Progress, Vec<Progress>, String) {
    let path = dir.path().join(format!("audit.{}", format.as_str()));
    let mut file = tokio::fs::File::create(&path).await.unwrap();
    let mut reports = Vec::new();
    let total = client.export_audit(filter, format, &mut file, &Cancel::new(), |p| reports.push(p)).await.unwrap();
    file.shutdown().await.unwrap();
    drop(file);
    let text = tokio::fs::read_to_string(&path).await.unwrap();
    (total, reports, text)
}

#[tokio::test]
async fn the_audit_log_exports_to_csv_and_ndjson_files() {
    let env = Env::start().await;
    let (_, client) = env.manager(&["C-10001", "C-10002"]).await;
    let dir = tempfile::tempdir().unwrap();
    let filter = AuditFilter { contract_id: Some("C-10001".into()), ..AuditFilter::default() };

    let (csv_total, reports, csv) = export_to_file(&client, &dir, &filter, AuditFormat::Csv).await;
    assert_eq!(reports.last(), Some(&csv_total), "the last report is the total");
    assert!(reports.windows(2).all(|w| w[0].rows <= w[1].rows && w[0].bytes < w[1].bytes));
    assert_eq!(csv_total.bytes, csv.len() as u64);
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), AUDIT_CSV_HEADER.join(","));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len() as u64, csv_total.rows);
    assert!(csv_total.rows >= 20, "at least one event per user of C-10001: {}", csv_total.rows);
    assert!(rows.iter().all(|r| r.contains(",C-10001,")), "only C-10001");

    let (nd_total, _, ndjson) = export_to_file(&client, &dir, &filter, AuditFormat::Ndjson).await;
    let records: Vec<AuditRecord> = ndjson.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len() as u64, nd_total.rows);
    assert_eq!(nd_total.rows, csv_total.rows, "both formats hold the same events");
    assert!(records.iter().all(|r| r.contract_id.as_deref() == Some("C-10001")));
    assert!(records.windows(2).all(|w| w[0].seq < w[1].seq));

    // A manager's disable shows up as a new event of this contract.
    let user = records.iter().find(|r| r.action == "two_factor.enabled").unwrap().user_id.clone().unwrap();
    client.disable_user(&user, "audit export test").await.unwrap();
    let since = records.last().unwrap().at;
    let only_user = AuditFilter { user_id: Some(user.clone()), since: Some(since), ..AuditFilter::default() };
    let (_, _, recent) = export_to_file(&client, &dir, &only_user, AuditFormat::Ndjson).await;
    let recent: Vec<AuditRecord> = recent.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let disabled = recent.iter().find(|r| r.action == "two_factor.disabled_by_manager").expect("the disable event");
    assert_eq!((disabled.actor_kind.as_str(), disabled.user_id.as_deref()), ("manager", Some(user.as_str())));
    assert_eq!(disabled.detail["reason"], "audit export test");

    // A window before any event: just the header.
    let before = AuditFilter { until: Some(records[0].at - time::Duration::days(1)), ..filter.clone() };
    let (empty, _, text) = export_to_file(&client, &dir, &before, AuditFormat::Csv).await;
    assert_eq!(empty.rows, 0);
    assert_eq!(text.trim_end(), AUDIT_CSV_HEADER.join(","));
}

#[tokio::test]
async fn an_audit_export_can_be_cancelled_midway() {
    let env = Env::start().await;
    let every = all_contract_ids();
    let (_, client) = env.manager(&refs(&every)).await;
    let dir = tempfile::tempdir().unwrap();
    let (full, reports, _) = export_to_file(&client, &dir, &AuditFilter::default(), AuditFormat::Csv).await;
    assert!(reports.len() > 1, "the export came in several chunks: {}", reports.len());

    let cancel = Cancel::new();
    let path = dir.path().join("cancelled.csv");
    let mut file = tokio::fs::File::create(&path).await.unwrap();
    let mut seen = Vec::new();
    let err = client
        .export_audit(&AuditFilter::default(), AuditFormat::Csv, &mut file, &cancel, |p| {
            seen.push(p);
            cancel.cancel(); // the user presses Cancel after the first chunk
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert_eq!(seen.len(), 1, "nothing more was read after the cancel");
    assert!(seen[0].bytes < full.bytes && seen[0].rows < full.rows);
    file.flush().await.unwrap();
    drop(file);
    let written = tokio::fs::metadata(&path).await.unwrap().len();
    assert_eq!(written, seen[0].bytes);

    // Into a file: it appears only when complete, and nothing else is left.
    let target = dir.path().join("tollgate-audit-all.csv");
    let err = client
        .export_audit_to_file(&AuditFilter::default(), AuditFormat::Csv, &target, &cancel, |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "already cancelled: {err:?}");
    let foreign = AuditFilter { contract_id: Some("C-99999".into()), ..AuditFilter::default() };
    let err =
        client.export_audit_to_file(&foreign, AuditFormat::Csv, &target, &Cancel::new(), |_| {}).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let midway = Cancel::new();
    let err = client
        .export_audit_to_file(&AuditFilter::default(), AuditFormat::Csv, &target, &midway, |_| midway.cancel())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert!(!target.exists());
    let total = client
        .export_audit_to_file(&AuditFilter::default(), AuditFormat::Csv, &target, &Cancel::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(total, full);
    let text = tokio::fs::read_to_string(&target).await.unwrap();
    assert_eq!(text.lines().count() as u64, full.rows + 1);
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["audit.csv", "cancelled.csv", "tollgate-audit-all.csv"], "no part file left");

    // The server is fine afterwards.
    client.me().await.unwrap();
}

#[tokio::test]
async fn ids_travel_as_one_path_segment() {
    let env = Env::start().await;
    let (_, client) = env.manager(&["C-10001"]).await;
    // Reaches the user route with the whole id (a slash or space would
    // otherwise hit another route or none: a bare 404, a protocol error).
    for id in ["u-1/../x y", "u-50001/notifications", "C-10001?x=1#y"] {
        let err = client.user(id).await.unwrap_err();
        match &err {
            Error::InvalidRequest { status: 400, code: ErrorCode::InvalidRequest, detail } => {
                assert!(detail.starts_with("user id"), "{id}: {detail}")
            }
            other => panic!("{id}: {other:?}"),
        }
    }
    let err = client.contract_users("C-10001/users", None, &PageRequest::default()).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidRequest { detail, .. } if detail.starts_with("contract id")), "{err:?}");
    // `.` and `..` never leave the client.
    for id in [".", ".."] {
        assert_eq!(client.user(id).await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    }
}
