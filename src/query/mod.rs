//! Read-only queries over the live state, answered by the thread that owns the engine.
//!
//! The engine is a single-writer state machine with no locks on its hot path and a
//! 120-byte member record; a concurrent copy of it (a `DashMap` of member views) would
//! double its memory and add work to every event. Instead the owner thread answers
//! queries between batches: an HTTP handler sends a [`Query`] through a bounded channel
//! and awaits the [`Answer`]. A query waits at most for the batch in flight; the engine
//! spends microseconds per query and never blocks on a reader. A full channel is
//! refused at once (the caller answers 503) rather than queued without limit.

pub mod share;
pub mod views;

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::Duration;

use tokio::sync::oneshot;

pub use self::share::TutorShare;
pub use self::views::{AtRiskMember, GroupView, MemberView, TutorBoard};
use crate::engine::Engine;
use crate::model::{GroupId, MemberId, TutorId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    Member(MemberId),
    Group(GroupId),
    /// A tutor's groups and her first `limit` members at risk.
    Tutor {
        id: TutorId,
        limit: usize,
    },
    /// What this instance holds of a tutor's board (two stages gather the board from
    /// every instance's share).
    TutorShare {
        id: TutorId,
        limit: usize,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Member(Option<MemberView>),
    Group(Option<GroupView>),
    Tutor(Option<TutorBoard>),
    TutorShare(Box<TutorShare>),
    /// This instance stands by: another one of its consumer group holds the state.
    Standby,
    /// Two stages: the task holding the key runs on another instance (or, for a tutor,
    /// some task does); where that instance is reached, when known.
    Elsewhere(Option<String>),
    /// Two stages: the task holding the key is rebuilding its state.
    Rebuilding,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("too many queries waiting for the engine")]
    Busy,
    #[error("the engine is not running")]
    Unavailable,
    #[error("the engine did not answer in time")]
    Timeout,
    #[error("standing by: another instance of the consumer group holds the input and the state")]
    Standby,
    /// With the owner's URL when the directory names one: the HTTP edge forwards there.
    #[error(
        "held by another instance: under kafka.topology = \"two_stage\" an instance answers \
         for the tasks it runs and forwards a member's or group's query to the instance \
         running its task when the directory names one (a tutor's board only where every \
         task runs: gathering it from every instance is not built yet)"
    )]
    Elsewhere(Option<String>),
    #[error("the task holding this state is rebuilding it from Kafka; ask again shortly")]
    Rebuilding,
}

/// Answers `query` from `engine`.
pub fn answer(engine: &Engine, query: &Query) -> Answer {
    match query {
        Query::Member(id) => Answer::Member(views::member(engine, id)),
        Query::Group(id) => Answer::Group(views::group(engine, id)),
        Query::Tutor { id, limit } => Answer::Tutor(views::tutor(engine, id, *limit)),
        // One engine holds the whole board: one share of one task of each stage.
        Query::TutorShare { id, limit } => Answer::TutorShare(Box::new(TutorShare {
            part: views::tutor_groups(engine, id)
                .merge(views::tutor_members(engine, id, *limit), *limit),
            member_tasks: vec![0],
            group_tasks: vec![0],
            sources: 1,
            group_partitions: 1,
            peers: Vec::new(),
        })),
    }
}

struct Request {
    query: Query,
    reply: oneshot::Sender<Answer>,
}

/// A channel for queries: the client side for HTTP handlers, the inbox for the thread
/// that owns the engine. At most `capacity` queries wait.
pub fn channel(capacity: usize) -> (QueryClient, QueryInbox) {
    let (tx, rx) = mpsc::sync_channel(capacity);
    (QueryClient { tx }, QueryInbox { rx })
}

#[derive(Clone, Debug)]
pub struct QueryClient {
    tx: SyncSender<Request>,
}

impl QueryClient {
    pub async fn ask(&self, query: Query, timeout: Duration) -> Result<Answer, QueryError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Request { query, reply })
            .map_err(|e| match e {
                TrySendError::Full(_) => QueryError::Busy,
                TrySendError::Disconnected(_) => QueryError::Unavailable,
            })?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(Answer::Standby)) => Err(QueryError::Standby),
            Ok(Ok(Answer::Elsewhere(owner))) => Err(QueryError::Elsewhere(owner)),
            Ok(Ok(Answer::Rebuilding)) => Err(QueryError::Rebuilding),
            Ok(Ok(answer)) => Ok(answer),
            // The inbox was dropped with the query in it: the engine thread ended.
            Ok(Err(_)) => Err(QueryError::Unavailable),
            Err(_) => Err(QueryError::Timeout),
        }
    }
}

pub struct QueryInbox {
    rx: Receiver<Request>,
}

impl QueryInbox {
    /// Answers up to `max` waiting queries from `engine`, or with [`Answer::Standby`]
    /// when this instance holds no state; never blocks. Returns how many it answered.
    pub fn serve(&self, engine: Option<&Engine>, max: usize) -> usize {
        self.serve_with(max, |query| {
            engine.map_or(Answer::Standby, |e| answer(e, query))
        })
    }

    /// Answers up to `max` waiting queries with `reply_to`; never blocks.
    pub fn serve_with(&self, max: usize, reply_to: impl Fn(&Query) -> Answer) -> usize {
        let mut served = 0;
        while served < max {
            let Ok(request) = self.rx.try_recv() else {
                break;
            };
            // The asker may have timed out and gone: nothing to do then.
            let _ = request.reply.send(reply_to(&request.query));
            served += 1;
        }
        served
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::engine::TimeMode;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime builds")
    }

    #[test]
    fn a_query_is_answered_by_the_inbox_owner() {
        let (client, inbox) = channel(4);
        let engine = Engine::new(&Config::default().engine(), TimeMode::Replay);
        let owner = std::thread::spawn(move || {
            let mut served = 0;
            while served == 0 {
                served = inbox.serve(Some(&engine), 8);
                std::thread::sleep(Duration::from_millis(1));
            }
            served
        });
        let answer = runtime().block_on(client.ask(
            Query::Member(MemberId::new("nobody")),
            Duration::from_secs(10),
        ));
        assert_eq!(answer, Ok(Answer::Member(None)));
        assert_eq!(owner.join().ok(), Some(1));
    }

    #[test]
    fn a_standby_says_so() {
        let (client, inbox) = channel(4);
        let owner = std::thread::spawn(move || {
            while inbox.serve(None, 8) == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let answer = runtime().block_on(client.ask(
            Query::Member(MemberId::new("anyone")),
            Duration::from_secs(10),
        ));
        assert_eq!(answer, Err(QueryError::Standby));
        assert!(owner.join().is_ok());
    }

    #[test]
    fn a_full_inbox_refuses_and_a_gone_engine_is_unavailable() {
        let (client, inbox) = channel(1);
        let rt = runtime();
        let q = || Query::Group(GroupId::new("g"));
        // Nobody serves: the first waits (and times out), the second finds no room.
        let first = rt.block_on(client.ask(q(), Duration::from_millis(10)));
        assert_eq!(first, Err(QueryError::Timeout));
        let second = rt.block_on(client.ask(q(), Duration::from_millis(10)));
        assert_eq!(second, Err(QueryError::Busy));
        drop(inbox);
        let third = rt.block_on(client.ask(q(), Duration::from_millis(10)));
        assert_eq!(third, Err(QueryError::Unavailable));
    }
}
