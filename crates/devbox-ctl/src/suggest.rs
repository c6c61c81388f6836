//! "did you mean `web`?" after a mistyped container name.

use devbox_api::Client;

/// Edit distance (insertions, deletions, substitutions) between two short names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The caller's container whose name is closest to a mistyped one (at most 2 edits away).
fn closest<'a>(wanted: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    names
        .into_iter()
        .filter(|n| *n != wanted)
        .map(|n| (edit_distance(wanted, n), n))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// After "no such container": suggest the closest of the caller's names (best effort).
pub async fn suggest_name(client: &Client, wanted: &str) {
    let fetch = client.list(false);
    if let Ok(Ok(list)) = tokio::time::timeout(std::time::Duration::from_secs(5), fetch).await {
        if let Some(n) = closest(wanted, list.iter().map(|c| c.name.as_str())) {
            say!("devbox-ctl: did you mean `{n}`?");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_name_suggests_the_closest_one() {
        let mine = ["demo-box", "alice-dev", "web"];
        assert_eq!(closest("demo-bx", mine), Some("demo-box"));
        assert_eq!(closest("alcie-dev", mine), Some("alice-dev"));
        assert_eq!(closest("demo-box2", mine), Some("demo-box"));
        assert_eq!(closest("something-else", mine), None);
        assert_eq!(
            closest("web", mine),
            None,
            "an exact name is not a suggestion"
        );
        assert_eq!(closest("x", []), None);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
