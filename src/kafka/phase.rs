//! Where the Kafka edge is in its life, and what each stage allows.
//!
//! State lives in memory and is rebuilt by re-reading input (see `assignment`), so being
//! assigned partitions is not the same as being live: between the two, output would come
//! from a partial state. Health, wall-clock ticks, snapshots and queries each depend on
//! that difference; deciding it in one place keeps them from drifting apart. The
//! transitions are [`Phase::after`], a pure function, so that the rules are tested
//! without a broker.

use std::time::Instant;

/// The pipeline's stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the first assignment, and after a revocation.
    Unassigned,
    /// Assigned nothing: another instance of the group holds the input (the lease) and
    /// the state.
    StandingBy,
    /// Re-reading input whose output was acknowledged before, to rebuild the state:
    /// since when, and when progress was last logged.
    Restoring { since: Instant, logged: Instant },
    /// Every owned partition has caught up: output is live.
    Consuming,
    /// Stopping: draining the producer and committing. `live`: the state had caught up
    /// when the stop came, so a final snapshot is worth writing.
    Draining { live: bool },
}

/// What moves the pipeline from one [`Phase`] to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// An assignment is in place (a rebalance, or a rebuild after an aborted
    /// transaction): `partitions` owned, `restored` if none has anything left to re-read.
    Assigned {
        partitions: usize,
        restored: bool,
    },
    Revoked,
    /// A poll round was handled: `restored` if every owned partition has caught up.
    Round {
        restored: bool,
    },
    /// Shutdown was requested.
    Stop,
}

impl Phase {
    /// The phase after `step`; `now` starts a restore.
    pub fn after(self, step: Step, now: Instant) -> Phase {
        match (self, step) {
            (Phase::Draining { .. }, _) => self,
            (_, Step::Stop) => Phase::Draining {
                live: self == Phase::Consuming,
            },
            (_, Step::Revoked) => Phase::Unassigned,
            (_, Step::Assigned { partitions: 0, .. }) => Phase::StandingBy,
            (_, Step::Assigned { restored: true, .. }) => Phase::Consuming,
            // A rebuild in the middle of a restore continues it: its duration counts from
            // the first re-read message.
            (Phase::Restoring { .. }, Step::Assigned { .. }) => self,
            (_, Step::Assigned { .. }) => Phase::Restoring {
                since: now,
                logged: now,
            },
            (Phase::Restoring { .. }, Step::Round { restored: true }) => Phase::Consuming,
            (_, Step::Round { .. }) => self,
        }
    }

    /// `/readyz`. A standby is ready: it is doing its job (being there to take over), and
    /// an orchestrator that restarted it for not being ready would gain nothing.
    pub fn ready(self) -> bool {
        matches!(self, Phase::StandingBy | Phase::Consuming)
    }

    /// Wall-clock ticks wait while the state is being rebuilt: a tick then would judge
    /// members on part of their history and fire warnings that the full history denies.
    /// Unassigned or standing by, the engine holds no member (it is replaced on the next
    /// assignment), so a tick fires nothing.
    pub fn ticks(self) -> bool {
        matches!(
            self,
            Phase::Unassigned | Phase::StandingBy | Phase::Consuming
        )
    }

    /// Only a state that has caught up with the input is worth a snapshot: a standby has
    /// none, and one of a restoring state would be overtaken before the restore ends.
    pub fn writes_snapshots(self) -> bool {
        self == Phase::Consuming
    }

    /// A standby's engine is empty: queries get "standing by", which sends the asker to
    /// the instance that holds the state, rather than "unknown member".
    pub fn serves_queries(self) -> bool {
        self != Phase::StandingBy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn assigned(partitions: usize, restored: bool) -> Step {
        Step::Assigned {
            partitions,
            restored,
        }
    }

    #[test]
    fn an_assignment_restores_stands_by_or_is_live_at_once() {
        let now = Instant::now();
        let restoring = Phase::Restoring {
            since: now,
            logged: now,
        };
        assert_eq!(Phase::Unassigned.after(assigned(3, false), now), restoring);
        assert_eq!(
            Phase::Unassigned.after(assigned(0, true), now),
            Phase::StandingBy
        );
        assert_eq!(
            Phase::Unassigned.after(assigned(3, true), now),
            Phase::Consuming
        );
        assert_eq!(Phase::Consuming.after(assigned(3, false), now), restoring);
    }

    #[test]
    fn a_restore_ends_when_every_partition_has_caught_up() {
        let began = Instant::now();
        let later = began + Duration::from_secs(1);
        let restoring = Phase::Unassigned.after(assigned(2, false), began);
        assert_eq!(
            restoring.after(Step::Round { restored: false }, later),
            restoring
        );
        assert_eq!(
            restoring.after(Step::Round { restored: true }, later),
            Phase::Consuming
        );
        assert_eq!(
            restoring.after(assigned(2, false), later),
            restoring,
            "a rebuild mid-restore keeps its start"
        );
        assert_eq!(restoring.after(Step::Revoked, later), Phase::Unassigned);
    }

    #[test]
    fn only_a_live_state_is_snapshotted_at_the_stop() {
        let now = Instant::now();
        let restoring = Phase::Unassigned.after(assigned(1, false), now);
        assert_eq!(
            Phase::Consuming.after(Step::Stop, now),
            Phase::Draining { live: true }
        );
        for phase in [Phase::Unassigned, Phase::StandingBy, restoring] {
            assert_eq!(
                phase.after(Step::Stop, now),
                Phase::Draining { live: false }
            );
        }
        let draining = Phase::Draining { live: true };
        assert_eq!(draining.after(Step::Revoked, now), draining);
    }

    #[test]
    fn what_each_phase_allows() {
        let now = Instant::now();
        let restoring = Phase::Restoring {
            since: now,
            logged: now,
        };
        let draining = Phase::Draining { live: true };
        // (phase, ready, ticks, snapshots, queries)
        for (phase, allows) in [
            (Phase::Unassigned, (false, true, false, true)),
            (Phase::StandingBy, (true, true, false, false)),
            (restoring, (false, false, false, true)),
            (Phase::Consuming, (true, true, true, true)),
            (draining, (false, false, false, true)),
        ] {
            let got = (
                phase.ready(),
                phase.ticks(),
                phase.writes_snapshots(),
                phase.serves_queries(),
            );
            assert_eq!(got, allows, "{phase:?}");
        }
    }
}
