//! Input topics must be co-partitioned by member id: the same partition count, each
//! member's events on the same partition number of every topic (the producers' keyed
//! partitioner does that). A member's state lives with one input partition's task, so a
//! topic with another count would split her history between tasks. Checked at start, as
//! Kafka Streams checks co-partitioned sources (`CopartitionedTopicsEnforcer`).

/// `counts`: each input topic with its partition count (`None`: the broker does not know
/// the topic yet). The common count, or why the inputs cannot be read together.
pub fn common_partition_count(counts: &[(String, Option<usize>)]) -> Result<Option<usize>, String> {
    let known: Vec<(&str, usize)> = counts
        .iter()
        .filter_map(|(topic, n)| n.map(|n| (topic.as_str(), n)))
        .collect();
    let Some(&(first, n)) = known.first() else {
        return Ok(None);
    };
    match known.iter().find(|(_, m)| *m != n) {
        None => Ok(Some(n)),
        Some(&(other, m)) => Err(format!(
            "input topics are not co-partitioned: {first} has {n} partitions, {other} has {m}; \
             every input topic must have the same partition count, keyed by member_id"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(list: &[(&str, Option<usize>)]) -> Vec<(String, Option<usize>)> {
        list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn equal_counts_are_the_common_count() {
        let c = counts(&[("orders", Some(8)), ("profiles", Some(8)), ("logins", None)]);
        assert_eq!(common_partition_count(&c), Ok(Some(8)));
        assert_eq!(common_partition_count(&counts(&[("a", None)])), Ok(None));
    }

    #[test]
    fn unequal_counts_are_refused_naming_both_topics() {
        let c = counts(&[("orders", Some(8)), ("profiles", Some(6))]);
        let e = common_partition_count(&c).expect_err("refused");
        assert!(e.contains("orders has 8 partitions, profiles has 6"), "{e}");
    }
}
