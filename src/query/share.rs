//! A tutor's board under two stages, gathered from every instance: each says what it holds
//! of her board (a [`TutorPart`] from the tasks it runs, and which tasks those are), and
//! the board is the merge of the shares once they cover every task exactly once. A share
//! missing (an instance that did not answer) or a task counted twice (a move under way)
//! makes no board: half a tutor's members is a wrong answer, not a partial one.

use serde::{Deserialize, Serialize};

use super::views::{TutorBoard, TutorPart};
use crate::model::TutorId;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TutorShare {
    pub part: TutorPart,
    /// The tasks the part comes from: member-stage and group-stage partitions.
    pub member_tasks: Vec<u32>,
    pub group_tasks: Vec<u32>,
    /// How many tasks of each stage there are.
    pub sources: u32,
    pub group_partitions: u32,
    /// The other instances to ask for their shares.
    pub peers: Vec<String>,
}

/// Her board from `shares`, `None` if nobody knows her; why not, when they do not cover
/// every task exactly once.
pub fn board(
    shares: Vec<TutorShare>,
    id: &TutorId,
    limit: usize,
) -> Result<Option<TutorBoard>, String> {
    let (sources, partitions) = shares
        .first()
        .map_or((0, 0), |s| (s.sources, s.group_partitions));
    let mut members = vec![0u32; sources as usize];
    let mut groups = vec![0u32; partitions as usize];
    let mut part = TutorPart::default();
    for share in shares {
        if (share.sources, share.group_partitions) != (sources, partitions) {
            return Err("the instances disagree on the number of tasks".to_owned());
        }
        for (tasks, counts) in [
            (&share.member_tasks, &mut members),
            (&share.group_tasks, &mut groups),
        ] {
            for &t in tasks {
                match counts.get_mut(t as usize) {
                    Some(n) => *n += 1,
                    None => return Err(format!("a task {t} beyond the layout")),
                }
            }
        }
        part = part.merge(share.part, limit);
    }
    let uncovered = |counts: &[u32], stage: &str| -> Option<String> {
        let bad: Vec<usize> = (0..counts.len()).filter(|&i| counts[i] != 1).collect();
        (!bad.is_empty()).then(|| format!("{stage} tasks {bad:?}"))
    };
    let problems: Vec<String> = [
        uncovered(&members, "member-stage"),
        uncovered(&groups, "group-stage"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !problems.is_empty() {
        return Err(format!(
            "a tutor's board needs every task once, and {} are not (rebuilding, moving or on an \
             instance that did not answer); ask again shortly",
            problems.join(" and ")
        ));
    }
    Ok(part.into_board(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(members: &[u32], groups: &[u32]) -> TutorShare {
        TutorShare {
            member_tasks: members.to_vec(),
            group_tasks: groups.to_vec(),
            sources: 3,
            group_partitions: 2,
            ..TutorShare::default()
        }
    }

    #[test]
    fn a_board_needs_every_task_exactly_once() {
        let id = TutorId::new("t");
        // Nobody knows her (empty parts), but every task answered: no such tutor.
        assert_eq!(
            board(vec![share(&[0, 2], &[1]), share(&[1], &[0])], &id, 5),
            Ok(None)
        );
        let missing = board(vec![share(&[0, 2], &[1])], &id, 5).unwrap_err();
        assert!(
            missing.contains("member-stage tasks [1]") && missing.contains("group-stage tasks [0]"),
            "{missing}"
        );
        let twice = board(vec![share(&[0, 1, 2], &[0, 1]), share(&[1], &[])], &id, 5).unwrap_err();
        assert!(twice.contains("member-stage tasks [1]"), "{twice}");
        let mut other = share(&[1], &[0]);
        other.sources = 4;
        assert!(board(vec![share(&[0, 2], &[1]), other], &id, 5).is_err());
    }
}
