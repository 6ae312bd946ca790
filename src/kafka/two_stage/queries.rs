//! Queries under two stages, answered from the tasks of this instance's workers: a member
//! from the member-stage task of her input partition, a group from the group-stage task
//! of its contributions partition, a tutor's board from every task, merged. A worker's
//! tasks are read under its state's lock, which the worker takes per record: a query
//! waits at most for one record, and the workers never wait on each other.
//!
//! A key whose task runs on another instance is answered [`Answer::Elsewhere`], and a
//! tutor's board only where every task runs here: forwarding to the owner and gathering
//! from every instance are not built yet.

use std::sync::{Arc, Mutex};

use super::layout::Layout;
use super::worker::WorkerCtx;
use crate::config::Config;
use crate::engine::group_partition;
use crate::kafka::emitter::lock;
use crate::model::{GroupId, MemberId, TutorId};
use crate::query::views::{self, TutorPart};
use crate::query::{Answer, Query};

/// Each worker's state, once its consumer exists.
#[derive(Default)]
pub struct Holders {
    workers: Mutex<Vec<Arc<WorkerCtx>>>,
}

impl Holders {
    pub fn register(&self, worker: Arc<WorkerCtx>) {
        lock(&self.workers).push(worker);
    }

    fn workers(&self) -> Vec<Arc<WorkerCtx>> {
        lock(&self.workers).clone()
    }
}

/// What a task looked up for a query says.
enum Found<T> {
    Here(T),
    Rebuilding,
    Elsewhere,
}

impl<T> Found<T> {
    fn answer(self, wrap: impl FnOnce(T) -> Answer) -> Answer {
        match self {
            Found::Here(t) => wrap(t),
            Found::Rebuilding => Answer::Rebuilding,
            Found::Elsewhere => Answer::Elsewhere,
        }
    }
}

pub fn answer(config: &Config, layout: &Layout, holders: &Holders, query: &Query) -> Answer {
    let workers = holders.workers();
    match query {
        Query::Member(id) => member(config, layout, &workers, id).answer(Answer::Member),
        Query::Group(id) => group(layout, &workers, id).answer(Answer::Group),
        Query::Tutor { id, limit } => {
            tutor(layout, &workers, id, *limit).answer(|part| Answer::Tutor(part.into_board(id)))
        }
    }
}

fn member(
    config: &Config,
    layout: &Layout,
    workers: &[Arc<WorkerCtx>],
    id: &MemberId,
) -> Found<Option<views::MemberView>> {
    let Some(p) = config
        .input
        .partitioner
        .partition(id.as_str().as_bytes(), layout.sources)
    else {
        // An empty id: no producer's key, no member.
        return Found::Here(None);
    };
    for worker in workers {
        let state = worker.state();
        if let Some(task) = state.member_task(p) {
            if !task.complete() || task.restoring() {
                return Found::Rebuilding;
            }
            return Found::Here(views::member(task.engine(), id));
        }
    }
    Found::Elsewhere
}

fn group(
    layout: &Layout,
    workers: &[Arc<WorkerCtx>],
    id: &GroupId,
) -> Found<Option<views::GroupView>> {
    let q = group_partition(id, layout.group_partitions);
    for worker in workers {
        let state = worker.state();
        if let Some(task) = state.group_task(q) {
            if task.progress.restoring() {
                return Found::Rebuilding;
            }
            return Found::Here(views::group(task.stage(), id));
        }
    }
    Found::Elsewhere
}

/// Her board from every task, when every task runs here and is rebuilt.
fn tutor(
    layout: &Layout,
    workers: &[Arc<WorkerCtx>],
    id: &TutorId,
    limit: usize,
) -> Found<TutorPart> {
    let (mut members, mut groups, mut rebuilding) = (0, 0, false);
    let mut part = TutorPart::default();
    for worker in workers {
        let state = worker.state();
        for task in state.member_tasks() {
            members += 1;
            rebuilding |= !task.complete() || task.restoring();
            part = part.merge(views::tutor_members(task.engine(), id, limit), limit);
        }
        for task in state.group_tasks() {
            groups += 1;
            rebuilding |= task.progress.restoring();
            part = part.merge(views::tutor_groups(task.stage(), id), limit);
        }
    }
    if members < layout.sources || groups < layout.group_partitions {
        Found::Elsewhere
    } else if rebuilding {
        Found::Rebuilding
    } else {
        Found::Here(part)
    }
}
