//! Properties of the shared rules, over generated sessions, clocks and sequences: what every
//! backend relies on, checked beyond the hand-picked cases.

use proptest::prelude::*;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::*;
use crate::domain::{Role, UserStatus};

const T0: i64 = 1_700_000_000;

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(T0 + secs).unwrap()
}

fn session(id: String, created: i64, expires: i64, ttl: u64, ends: Option<i64>) -> SessionRecord {
    SessionRecord {
        id,
        user_id: Uuid::nil(),
        client_id: "sigil".into(),
        refresh_digest: "d0".into(),
        created_at: at(created),
        last_activity: at(created),
        expires_at: at(expires),
        ttl_secs: ttl,
        ends_at: ends.map(at),
        auth_time: at(created),
        amr: vec!["pwd".into()],
        remember_me: false,
        ip: None,
        user_agent: None,
        scope: None,
        resources: vec![],
        dpop_jkt: None,
    }
}

fn user() -> UserRecord {
    UserRecord {
        id: Uuid::nil(),
        email: "a@example.com".into(),
        email_normalized: "a@example.com".into(),
        username: "a".into(),
        username_normalized: "a".into(),
        password_hash: String::new(),
        first_name: None,
        last_name: None,
        phone: None,
        status: UserStatus::Active,
        email_verified: true,
        roles: vec![Role::User],
        failed_logins: 0,
        last_failed_login: None,
        locked_until: None,
        created_at: at(0),
        updated_at: at(0),
        last_login: None,
        password_changed_at: at(0),
        known_devices: vec![],
        mfa: Default::default(),
    }
}

proptest! {
    /// A live session presented with its current digest rotates to the replacement, slides
    /// to `now + ttl` but never past its absolute end, and stays live unless the end is due.
    #[test]
    fn rotation_slides_within_the_absolute_end(
        expires in 1i64..100_000,
        now in 0i64..100_000,
        ttl in 1u64..100_000,
        ends in proptest::option::of(0i64..200_000),
    ) {
        prop_assume!(expires > now);
        let s = session("s".into(), 0, expires, ttl, ends);
        let Rotation::Rotate(next) = rotation(Some(s), "d0", "d1", at(now)) else {
            panic!("a live session with its current digest must rotate");
        };
        prop_assert_eq!(next.refresh_digest.as_str(), "d1");
        prop_assert_eq!(next.last_activity, at(now));
        let slid = at(now) + Duration::seconds(ttl as i64);
        prop_assert_eq!(next.expires_at, ends.map_or(slid, |end| slid.min(at(end))));
        if let Some(end) = ends {
            prop_assert!(next.expires_at <= at(end));
        }
    }

    /// Along any chain of rotations, every digest rotated out is reuse and revokes the
    /// session; only the current one rotates; an expired or missing session never rotates.
    #[test]
    fn every_rotated_out_digest_is_reuse(steps in 1usize..12, replay in any::<prop::sample::Index>()) {
        let mut current = session("s".into(), 0, 1_000, 1_000, None);
        let mut digests = vec!["d0".to_owned()];
        for step in 1..=steps {
            let next = format!("d{step}");
            let now = at(step as i64);
            match rotation(Some(current.clone()), digests.last().unwrap(), &next, now) {
                Rotation::Rotate(s) => current = s,
                other => panic!("current digest refused: {other:?}"),
            }
            digests.push(next);
        }
        let old = &digests[replay.index(digests.len() - 1)];
        let now = at(steps as i64);
        prop_assert_eq!(
            rotation(Some(current.clone()), old, "x", now),
            Rotation::RevokeForReuse(RefreshOutcome::Reused {
                session_id: "s".into(),
                user_id: Uuid::nil(),
            })
        );
        let expired_at = current.expires_at;
        prop_assert_eq!(
            rotation(Some(current), digests.last().unwrap(), "x", expired_at),
            Rotation::Refuse(RefreshOutcome::Unknown)
        );
        prop_assert_eq!(
            rotation(None, "d0", "x", now),
            Rotation::Refuse(RefreshOutcome::Revoked)
        );
    }

    /// Failed logins lock the account exactly at the threshold; failures while locked count
    /// for nothing; the counter never reaches the threshold unlocked.
    #[test]
    fn lockout_at_exactly_the_threshold(
        threshold in 1u32..8,
        gaps in proptest::collection::vec(0i64..400, 1..40),
    ) {
        let policy = LockoutPolicy { threshold, duration: std::time::Duration::from_secs(300) };
        let mut user = user();
        let mut clock = 0i64;
        let mut streak = 0u32;
        for gap in gaps {
            clock += gap;
            let now = at(clock);
            let was_locked = user.is_locked(now);
            let before = user.clone();
            login_failed(&mut user, now, policy);
            if was_locked {
                prop_assert_eq!(&user, &before);
                continue;
            }
            streak += 1;
            if streak == threshold {
                prop_assert_eq!(user.locked_until, Some(now + policy.duration));
                prop_assert_eq!(user.failed_logins, 0);
                streak = 0;
            } else {
                prop_assert_eq!(user.failed_logins, streak);
            }
            prop_assert!(user.failed_logins < threshold);
        }
        login_succeeded(&mut user, at(clock), None);
        prop_assert!(!user.is_locked(at(clock)));
        prop_assert_eq!(user.failed_logins, 0);
    }

    /// Cleanup drops exactly the expired sessions and then the oldest live ones beyond the
    /// cap; what is kept is live, within the cap (at least one), and newer than what went.
    #[test]
    fn eviction_keeps_the_newest_live_sessions(
        sessions in proptest::collection::vec((0i64..50, 0i64..100), 0..16),
        max in 0usize..6,
        now in 0i64..100,
    ) {
        let all: Vec<SessionRecord> = sessions
            .iter()
            .enumerate()
            .map(|(i, (created, expires))| session(format!("s{i:02}"), *created, *expires, 60, None))
            .collect();
        let (expired, evicted) = session_cleanup(all.clone(), max, at(now));
        let gone = |id: &String| expired.contains(id) || evicted.contains(id);
        let kept: Vec<&SessionRecord> = all.iter().filter(|s| !gone(&s.id)).collect();
        for s in &all {
            prop_assert_eq!(expired.contains(&s.id), !s.is_live(at(now)));
        }
        prop_assert!(evicted.iter().all(|id| !expired.contains(id)));
        let live = all.iter().filter(|s| s.is_live(at(now))).count();
        prop_assert_eq!(kept.len(), live.min(max.max(1)));
        for id in &evicted {
            let old = all.iter().find(|s| &s.id == id).unwrap();
            for k in &kept {
                prop_assert!((old.created_at, &old.id) < (k.created_at, &k.id));
            }
        }
    }

    /// The fixed window contains `now`, is as long as asked, and its counter key changes
    /// exactly when a new window starts.
    #[test]
    fn rate_windows_tile_time(now in 0i64..10_000_000, window in 1u64..100_000) {
        let (start, end) = rate_window(at(now), std::time::Duration::from_secs(window));
        prop_assert!(at(now).unix_timestamp() >= start);
        prop_assert!(at(now) < end);
        prop_assert_eq!(end.unix_timestamp() - start, window as i64);
        let (next_start, _) = rate_window(end, std::time::Duration::from_secs(window));
        prop_assert_eq!(next_start, end.unix_timestamp());
    }
}
