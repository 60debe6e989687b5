//! The restore runbook's steps that run locally (docs/operations.md, "Restore"), in two
//! phases that `make test` runs around a restart of the functions:
//!
//! 1. `before_the_restore`: polls with ballots, an open poll closing in an hour and one
//!    closing in seconds (both with their schedules lost, as after a region move), then a
//!    copy of the table with DynamoDB's RestoreTableToPointInTime, as the runbook makes it.
//!    moto ignores the point in time and copies no stream: the copy is of now. The tally of
//!    one poll is made short in the copy, as a copy taken while ballots were still on
//!    their way to the tally would have it. Writes what phase 2 needs to
//!    `$BALLOT_STATE_DIR/restore.json`.
//! 2. (`make test`: `ballot-local restored-table` gives the copy its stream, TTL, PITR and
//!    deletion protection; the functions start again with `RestoredTableArn` and
//!    `RestoredTableStreamArn`.)
//! 3. `after_the_restore`, through the gateway and the operator commands: the polls are
//!    there; `make reschedule` schedules the hour's closing again and closes the poll whose
//!    time passed; `make recount REPAIR=1` makes the short tally right; a new vote is
//!    counted from the copy's own stream.

use std::time::Duration;

use ballot_core::{access::Role, polls::Status};
use ballot_tests::{call, eventually, local_store, make, required_env, token_for_account, vote_as_new_viewer};
use serde_json::{Value, json};

fn state_file() -> std::path::PathBuf {
    std::path::Path::new(&required_env("BALLOT_STATE_DIR")).join("restore.json")
}

fn rfc3339(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(epoch)).to_string()
}

/// A new editor's poll, closing at `closes_at` if given: (owner token, id, first option).
async fn poll(question: &str, closes_at: Option<u64>) -> (String, String, String) {
    let (owner, _) = token_for_account(&[Role::Editor]).await;
    let mut body = json!({"question": question, "options": [{"text": "a"}, {"text": "b"}]});
    if let Some(at) = closes_at {
        body["closes_at"] = json!(rfc3339(at));
    }
    let poll: Value = call("POST", "/v1/polls", &owner).json(&body).send().await.unwrap().json().await.unwrap();
    let (id, option) = (poll["id"].as_str().unwrap().to_owned(), poll["options"][0]["id"].as_str().unwrap().to_owned());
    (owner, id, option)
}

/// The names of poll `id`'s closing schedules.
async fn schedules_of(id: &str) -> Vec<String> {
    let scheduler = ballot_local::bootstrap::Clients::from_env().await.scheduler;
    let group = format!("{}-ClosingSchedules", required_env("BALLOT_STACK"));
    let listed = scheduler
        .list_schedules()
        .group_name(&group)
        .name_prefix(ballot_core::closing::schedule_prefix(id))
        .send()
        .await
        .unwrap();
    listed.schedules().iter().filter_map(|s| s.name().map(str::to_owned)).collect()
}

/// Loses poll `id`'s closing schedules.
async fn lose_schedules(id: &str) {
    let scheduler = ballot_local::bootstrap::Clients::from_env().await.scheduler;
    let group = format!("{}-ClosingSchedules", required_env("BALLOT_STACK"));
    for name in schedules_of(id).await {
        scheduler.delete_schedule().group_name(&group).name(name).send().await.unwrap();
    }
    assert!(schedules_of(id).await.is_empty());
}

#[tokio::test]
async fn before_the_restore() {
    let (_, counted, option) = poll("Restored?", None).await;
    for _ in 0..5 {
        vote_as_new_viewer(&counted, &option).await;
    }
    ballot_tests::assert_recounted(&counted).await;
    let hour = ballot_core::clock::epoch_secs() + 3600;
    let (_, later, _) = poll("Closing in an hour?", Some(hour)).await;
    let soon_at = ballot_core::clock::epoch_secs() + 10;
    let (_, soon, _) = poll("Closing in seconds?", Some(soon_at)).await;
    lose_schedules(&later).await;
    lose_schedules(&soon).await;

    // Accounts are in the table too: phase 2's reader and voter are made before the copy.
    let (reader, _) = token_for_account(&[Role::Viewer]).await;
    let (voter, _) = token_for_account(&[Role::Viewer]).await;
    let store = local_store().await;
    let copy =
        format!("{}-restored-{}", store.table, ballot_core::ids::random_id().to_lowercase().replace(['-', '_'], ""));
    store
        .db
        .restore_table_to_point_in_time()
        .source_table_name(&store.table)
        .target_table_name(&copy)
        .use_latest_restorable_time(true)
        .send()
        .await
        .expect("a point-in-time restore into a new table");
    let copied = shared::store::Store::new(store.db.clone(), copy.clone());
    let described = store.db.describe_table().table_name(&copy).send().await.unwrap().table.unwrap();
    assert!(described.latest_stream_arn().is_none(), "a restore copies no stream");
    // Ballots whose stream records the tally had not folded when the copy was taken.
    let mut short = copied.tallied(&counted).await.unwrap();
    assert_eq!(short.total, 5, "the copy has the tally of the table");
    short.total -= 2;
    *short.votes.get_mut(&option).unwrap() -= 2;
    copied.repair_tally(&counted, &short).await.unwrap();

    let state = json!({"copy": copy, "counted": counted, "option": option, "later": later, "later_at": hour,
                       "soon": soon, "soon_at": soon_at, "reader": reader, "voter": voter});
    std::fs::write(state_file(), state.to_string()).unwrap();
}

#[tokio::test]
async fn after_the_restore() {
    let state: Value = serde_json::from_slice(&std::fs::read(state_file()).expect("phase 1 ran")).unwrap();
    let field = |name: &str| state[name].as_str().unwrap().to_owned();
    let (copy, counted, option, later, soon) =
        (field("copy"), field("counted"), field("option"), field("later"), field("soon"));
    let store = shared::store::Store::new(local_store().await.db, copy);
    let viewer = field("reader");

    // The stack serves the copy: its polls are there, with the tally the copy had.
    let results = || async {
        let response = call("GET", &format!("/v1/polls/{counted}/results"), &viewer).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()
    };
    assert_eq!(results().await["total_ballots"], 3, "the short tally of the copy");

    // The closings: the hour's is scheduled again, the one whose time passed closes now.
    // (The copy holds every poll of the test run; other tests' open polls are rescheduled too.)
    let said = make(&["reschedule"]);
    assert!(said.contains("closings scheduled again") && said.contains("closing now"), "{said}");
    let hour = state["later_at"].as_u64().unwrap();
    let scheduled = [ballot_core::closing::schedule_name(&later, hour, 1)];
    assert_eq!(schedules_of(&later).await, scheduled);
    let closed = || async { store.poll(&soon, true).await.unwrap().is_some_and(|p| p.poll.status == Status::Closed) };
    assert!(eventually(Duration::from_secs(60), closed).await, "the poll past its closing time closed");
    make(&["reschedule"]);
    assert_eq!(schedules_of(&later).await, scheduled, "running it twice changes nothing");

    // The recount makes the tally the ballots' again (one poll here: every poll of a test
    // run would take minutes on moto; without POLL it recounts them all).
    let said = make(&["recount", &format!("POLL={counted}"), "REPAIR=1"]);
    assert!(said.contains(&format!("{counted}: repaired")), "{said}");
    let recounted = store.recount(&counted).await.unwrap().unwrap();
    assert_eq!(store.tallied(&counted).await.unwrap(), recounted);
    assert_eq!(results().await["total_ballots"], 5);

    // A new vote is counted from the copy's own stream.
    let vote = call("POST", &format!("/v1/polls/{counted}/votes"), &field("voter"))
        .json(&json!({"option_ids": [option]}))
        .send()
        .await
        .unwrap();
    assert_eq!(vote.status(), 201);
    let six = || async { store.tallied(&counted).await.unwrap().total == 6 };
    assert!(eventually(Duration::from_secs(60), six).await, "the tally reads the copy's stream");
    assert_eq!(store.tallied(&counted).await.unwrap(), store.recount(&counted).await.unwrap().unwrap());
    let said = make(&["recount", &format!("POLL={counted}")]);
    assert!(said.contains("they agree"), "{said}");
}
