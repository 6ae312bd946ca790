//! Queries under two stages, answered from the tasks of this instance's workers: a member
//! from the member-stage task of her input partition, a group from the group-stage task
//! of its contributions partition, a tutor's board from every task, merged. A worker's
//! tasks are read under its state's lock, which the worker takes per record: a query
//! waits at most for one record, and the workers never wait on each other.
//!
//! A key whose task runs on another instance is answered [`Answer::Elsewhere`] with the
//! owner's address from the [`Directory`], for the HTTP edge to forward the request to;
//! a tutor's board, where not every task runs here, likewise, and the edge gathers it
//! from every instance's [`TutorShare`].

use std::sync::Arc;

use super::directory::{Directory, Task};
use super::layout::Layout;
use super::worker::{Shared, WorkerCtx};
use crate::config::Config;
use crate::engine::group_partition;
use crate::model::{GroupId, MemberId, TutorId};
use crate::query::views::{self, TutorPart};
use crate::query::{Answer, Query, TutorShare};

/// What a task looked up for a query says.
enum Found<T> {
    Here(T),
    Rebuilding,
    /// Not here; the task, if there is one to look up.
    Elsewhere(Option<Task>),
}

impl<T> Found<T> {
    fn answer(self, directory: Option<&Directory>, wrap: impl FnOnce(T) -> Answer) -> Answer {
        match self {
            Found::Here(t) => wrap(t),
            Found::Rebuilding => Answer::Rebuilding,
            Found::Elsewhere(task) => Answer::Elsewhere(
                task.zip(directory)
                    .and_then(|(task, d)| d.owner(task))
                    .map(str::to_owned),
            ),
        }
    }
}

pub fn answer(shared: &Shared, directory: Option<&Directory>, query: &Query) -> Answer {
    let workers = shared.holders.workers();
    let layout = &shared.layout;
    match query {
        Query::Member(id) => {
            member(&shared.config, layout, &workers, id).answer(directory, Answer::Member)
        }
        Query::Group(id) => group(layout, &workers, id).answer(directory, Answer::Group),
        Query::Tutor { id, limit } => tutor(layout, &workers, id, *limit)
            .answer(directory, |part| Answer::Tutor(part.into_board(id))),
        Query::TutorShare { id, limit } => {
            let mut share = share(layout, &workers, id, *limit).0;
            share.peers = directory.map(Directory::peers).unwrap_or_default();
            Answer::TutorShare(Box::new(share))
        }
    }
}

/// What the tasks running here and rebuilt hold of her board (without peers), and how
/// many tasks run here in all.
fn share(
    layout: &Layout,
    workers: &[Arc<WorkerCtx>],
    id: &TutorId,
    limit: usize,
) -> (TutorShare, usize) {
    let mut share = TutorShare {
        sources: layout.sources,
        group_partitions: layout.group_partitions,
        ..TutorShare::default()
    };
    let mut held = 0;
    for worker in workers {
        let state = worker.state();
        // A task still rebuilding is left out, and the board then finds it uncovered.
        for task in state.member_tasks() {
            held += 1;
            if task.complete() && !task.restoring() {
                share.member_tasks.push(task.partition());
                let part = views::tutor_members(task.engine(), id, limit);
                share.part = std::mem::take(&mut share.part).merge(part, limit);
            }
        }
        for (q, task) in state.group_tasks() {
            held += 1;
            if !task.progress.restoring() {
                share.group_tasks.push(q);
                let part = views::tutor_groups(task.stage(), id);
                share.part = std::mem::take(&mut share.part).merge(part, limit);
            }
        }
    }
    (share, held)
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
    Found::Elsewhere(Some(Task::Member(p)))
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
    Found::Elsewhere(Some(Task::Group(q)))
}

/// Her board from every task, when every task runs here and is rebuilt.
fn tutor(
    layout: &Layout,
    workers: &[Arc<WorkerCtx>],
    id: &TutorId,
    limit: usize,
) -> Found<TutorPart> {
    let (share, held) = share(layout, workers, id, limit);
    let every = (layout.sources + layout.group_partitions) as usize;
    let rebuilt = share.member_tasks.len() + share.group_tasks.len();
    if held < every {
        Found::Elsewhere(None)
    } else if rebuilt < every {
        Found::Rebuilding
    } else {
        Found::Here(share.part)
    }
}
