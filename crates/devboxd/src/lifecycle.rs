//! The lifecycle rules, as pure functions of the recorded state and the time: when a container is
//! stopped for inactivity, when a stopped one is destroyed, and which warnings are due. The
//! reconciler (service) applies them; keeping them pure makes every threshold unit-testable.

use devbox_api::DesiredState;
use jiff::{SignedDuration, Timestamp};

use crate::state::ContainerState;

/// The rules: days from users.nix, warning lead times from the daemon config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// 0 disables idle auto-stop.
    pub idle_stop_days: u32,
    /// 0 disables auto-destroy.
    pub stopped_destroy_days: u32,
    pub stop_notice_hours: Vec<u32>,
    pub destroy_notice_hours: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Stop,
    Destroy,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Stop => "stop",
            ActionKind::Destroy => "destroy",
        }
    }
}

/// The next automatic action on a container and when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    pub kind: ActionKind,
    pub at: Timestamp,
}

fn plus_hours(t: Timestamp, hours: i64) -> Option<Timestamp> {
    t.checked_add(SignedDuration::from_hours(hours)).ok()
}

/// When the clock of a running container started: its last user activity, its last start (by
/// anyone: owner, admin or the reconciler), its creation, whichever is latest.
pub fn active_since(entry: &ContainerState) -> Timestamp {
    [
        Some(entry.created_at),
        entry.last_activity,
        entry.last_started,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(entry.created_at)
}

/// The next automatic action, or None when the rule is disabled (0 days).
pub fn next_action(entry: &ContainerState, rules: &Rules) -> Option<Next> {
    match entry.desired {
        DesiredState::Running => {
            if rules.idle_stop_days == 0 {
                return None;
            }
            let idle = plus_hours(active_since(entry), i64::from(rules.idle_stop_days) * 24)?;
            // Never sooner after a start than the longest warning lead time: every warning of
            // the deadline falls after the start, so nobody is stopped without notice.
            let lead = rules.stop_notice_hours.iter().copied().max().unwrap_or(0);
            let floor = entry
                .last_started
                .and_then(|t| plus_hours(t, i64::from(lead)));
            Some(Next {
                kind: ActionKind::Stop,
                at: floor.map_or(idle, |f| f.max(idle)),
            })
        }
        DesiredState::Stopped => {
            if rules.stopped_destroy_days == 0 {
                return None;
            }
            let since = entry.stopped_since.unwrap_or(entry.created_at);
            plus_hours(since, i64::from(rules.stopped_destroy_days) * 24).map(|at| Next {
                kind: ActionKind::Destroy,
                at,
            })
        }
    }
}

/// The identity of one warning: a notice is sent once per (action, deadline, lead time).
pub fn notice_key(next: &Next, hours: u32) -> String {
    format!("{}@{}-{}h", next.kind.as_str(), next.at, hours)
}

fn leads<'a>(next: &Next, rules: &'a Rules) -> &'a [u32] {
    match next.kind {
        ActionKind::Stop => &rules.stop_notice_hours,
        ActionKind::Destroy => &rules.destroy_notice_hours,
    }
}

/// Every warning of this deadline: (lead hours, when it is due, already sent).
pub fn planned_notices(next: &Next, rules: &Rules, sent: &[String]) -> Vec<(u32, Timestamp, bool)> {
    let mut v: Vec<(u32, Timestamp, bool)> = leads(next, rules)
        .iter()
        .filter_map(|h| {
            let at = plus_hours(next.at, -i64::from(*h))?;
            Some((*h, at, sent.contains(&notice_key(next, *h))))
        })
        .collect();
    v.sort_by_key(|(_, at, _)| *at);
    v.dedup_by_key(|(h, _, _)| *h);
    v
}

/// The warning due now, if any: the most urgent lead time crossed and not yet sent, with every
/// crossed key to mark as sent (after a daemon outage the earlier warnings are not sent late).
pub fn due_notice(
    next: &Next,
    rules: &Rules,
    sent: &[String],
    now: Timestamp,
) -> Option<(u32, Vec<String>)> {
    if now >= next.at {
        return None;
    }
    let crossed: Vec<u32> = planned_notices(next, rules, sent)
        .into_iter()
        .filter(|(_, at, _)| now >= *at)
        .map(|(h, _, _)| h)
        .collect();
    let most_urgent = *crossed.iter().min()?;
    let key = notice_key(next, most_urgent);
    if sent.contains(&key) {
        return None;
    }
    Some((
        most_urgent,
        crossed.iter().map(|h| notice_key(next, *h)).collect(),
    ))
}

/// "in 2d 3h", "in 45m".
pub fn human_until(now: Timestamp, at: Timestamp) -> String {
    let secs = at.as_second().saturating_sub(now.as_second()).max(0);
    let (d, h, m) = (secs / 86_400, (secs % 86_400) / 3600, (secs % 3600) / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn entry(desired: DesiredState) -> ContainerState {
        ContainerState {
            owner: "alice".into(),
            desired,
            created_at: t("2030-01-01T00:00:00Z"),
            stopped_since: None,
            last_activity: None,
            key_delivered_at: None,
            last_started: None,
            key_source: Default::default(),
            notices_sent: vec![],
            pending_create: None,
            destroying: None,
        }
    }

    fn rules() -> Rules {
        Rules {
            idle_stop_days: 7,
            stopped_destroy_days: 14,
            stop_notice_hours: vec![24],
            destroy_notice_hours: vec![72, 24],
        }
    }

    #[test]
    fn idle_stop_is_due_seven_days_after_the_last_activity() {
        let mut e = entry(DesiredState::Running);
        let n = next_action(&e, &rules()).unwrap();
        assert_eq!(n.kind, ActionKind::Stop);
        assert_eq!(n.at, t("2030-01-08T00:00:00Z"));
        e.last_activity = Some(t("2030-01-05T12:00:00Z"));
        assert_eq!(
            next_action(&e, &rules()).unwrap().at,
            t("2030-01-12T12:00:00Z")
        );
        // An activity older than the creation does not move the deadline back.
        e.last_activity = Some(t("2029-01-01T00:00:00Z"));
        assert_eq!(
            next_action(&e, &rules()).unwrap().at,
            t("2030-01-08T00:00:00Z")
        );
    }

    #[test]
    fn every_start_restarts_the_idle_clock_and_a_start_is_never_followed_by_a_stop_without_notice()
    {
        // Idle since creation, then started (by an admin or the reconciler) after 8 days.
        let mut e = entry(DesiredState::Running);
        e.last_started = Some(t("2030-01-09T00:00:00Z"));
        assert_eq!(
            next_action(&e, &rules()).unwrap().at,
            t("2030-01-16T00:00:00Z")
        );
        // Warning lead times longer than the idle period: the stop still waits for the
        // longest lead after the start, so the warning comes after the start.
        let mut r = rules();
        r.idle_stop_days = 1;
        r.stop_notice_hours = vec![48, 2];
        let n = next_action(&e, &r).unwrap();
        assert_eq!(n.at, t("2030-01-11T00:00:00Z"));
        let warnings = planned_notices(&n, &r, &[]);
        assert!(warnings
            .iter()
            .all(|(_, at, _)| *at >= t("2030-01-09T00:00:00Z")));
    }

    #[test]
    fn destroy_is_due_fourteen_days_after_the_stop_and_zero_disables() {
        let mut e = entry(DesiredState::Stopped);
        e.stopped_since = Some(t("2030-02-01T00:00:00Z"));
        let n = next_action(&e, &rules()).unwrap();
        assert_eq!(n.kind, ActionKind::Destroy);
        assert_eq!(n.at, t("2030-02-15T00:00:00Z"));
        let mut r = rules();
        r.stopped_destroy_days = 0;
        assert_eq!(next_action(&e, &r), None);
        r.idle_stop_days = 0;
        assert_eq!(next_action(&entry(DesiredState::Running), &r), None);
    }

    #[test]
    fn warnings_are_due_exactly_at_their_thresholds_once_each() {
        let mut e = entry(DesiredState::Stopped);
        e.stopped_since = Some(t("2030-02-01T00:00:00Z"));
        let r = rules();
        let n = next_action(&e, &r).unwrap();
        // One second before 72 h ahead: nothing.
        assert_eq!(
            due_notice(&n, &r, &e.notices_sent, t("2030-02-11T23:59:59Z")),
            None
        );
        let (h, keys) = due_notice(&n, &r, &e.notices_sent, t("2030-02-12T00:00:00Z")).unwrap();
        assert_eq!(h, 72);
        e.notices_sent.extend(keys);
        // Sent: not again on the next pass.
        assert_eq!(
            due_notice(&n, &r, &e.notices_sent, t("2030-02-13T00:00:00Z")),
            None
        );
        let (h, keys) = due_notice(&n, &r, &e.notices_sent, t("2030-02-14T00:00:00Z")).unwrap();
        assert_eq!(h, 24);
        e.notices_sent.extend(keys);
        assert_eq!(
            due_notice(&n, &r, &e.notices_sent, t("2030-02-14T23:00:00Z")),
            None
        );
        // At the deadline the action itself is due, not a warning.
        assert_eq!(due_notice(&n, &r, &[], t("2030-02-15T00:00:00Z")), None);
        let planned = planned_notices(&n, &r, &e.notices_sent);
        assert_eq!(planned.len(), 2);
        assert!(planned.iter().all(|(_, _, sent)| *sent));
    }

    #[test]
    fn after_an_outage_only_the_most_urgent_warning_is_sent() {
        let e = entry(DesiredState::Stopped);
        let r = rules();
        let n = next_action(&e, &r).unwrap();
        let (h, keys) = due_notice(&n, &r, &[], t("2030-01-14T12:00:00Z")).unwrap();
        assert_eq!(h, 24);
        assert_eq!(keys.len(), 2);
        assert_eq!(due_notice(&n, &r, &keys, t("2030-01-14T13:00:00Z")), None);
    }

    #[test]
    fn a_new_deadline_gets_its_own_warnings() {
        let mut e = entry(DesiredState::Running);
        let r = rules();
        let n1 = next_action(&e, &r).unwrap();
        let (_, keys) = due_notice(&n1, &r, &[], t("2030-01-07T00:00:00Z")).unwrap();
        e.notices_sent.extend(keys);
        e.last_activity = Some(t("2030-01-07T06:00:00Z"));
        let n2 = next_action(&e, &r).unwrap();
        assert_ne!(n1, n2);
        assert_eq!(
            due_notice(&n2, &r, &e.notices_sent, t("2030-01-13T00:00:00Z")),
            None
        );
        assert!(due_notice(&n2, &r, &e.notices_sent, t("2030-01-13T06:00:00Z")).is_some());
    }

    #[test]
    fn human_durations() {
        let now = t("2030-01-01T00:00:00Z");
        assert_eq!(human_until(now, t("2030-01-03T03:00:00Z")), "2d 3h");
        assert_eq!(human_until(now, t("2030-01-01T01:30:00Z")), "1h 30m");
        assert_eq!(human_until(now, t("2029-01-01T00:00:00Z")), "0m");
    }
}
