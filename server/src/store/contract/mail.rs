//! The contract for the mail queue: at-least-once delivery across crashes and replicas.

use super::fixtures::*;
use crate::store::QueuedMail;

fn mail(id: &str, due: OffsetDateTime) -> QueuedMail {
    QueuedMail {
        id: id.into(),
        kind: "verify_email".into(),
        sealed: format!("sealed-{id}"),
        attempts: 0,
        created_at: due,
        next_attempt_at: due,
        leased_until: None,
    }
}

fn ids(mails: &[QueuedMail]) -> Vec<&str> {
    mails.iter().map(|m| m.id.as_str()).collect()
}

pub async fn mail_queue_claims_retries_and_removes(stores: &Stores) {
    let t = now();
    let lease = t + Duration::from_secs(60);
    let prefix = Uuid::new_v4().simple().to_string();
    let (first, second, later) = (
        format!("{prefix}-1"),
        format!("{prefix}-2"),
        format!("{prefix}-3"),
    );
    stores.mail.enqueue_mail(&mail(&second, t)).await.unwrap();
    stores
        .mail
        .enqueue_mail(&mail(&first, t - Duration::from_secs(5)))
        .await
        .unwrap();
    stores
        .mail
        .enqueue_mail(&mail(&later, t + Duration::from_secs(30)))
        .await
        .unwrap();

    // Oldest due first, within the limit; a mail not yet due stays.
    let claimed = stores.mail.claim_mail(t, lease, 1).await.unwrap();
    assert_eq!(ids(&claimed), [first.as_str()]);
    assert_eq!(claimed[0].leased_until, Some(lease));
    assert_eq!(claimed[0].sealed, format!("sealed-{first}"));
    let claimed = stores.mail.claim_mail(t, lease, 10).await.unwrap();
    assert_eq!(
        ids(&claimed),
        [second.as_str()],
        "a held mail is not claimed again"
    );
    assert!(
        stores
            .mail
            .claim_mail(t, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // A failed attempt releases the mail until its next attempt.
    let retry_at = t + Duration::from_secs(10);
    stores.mail.retry_mail(&first, 1, retry_at).await.unwrap();
    assert!(
        stores
            .mail
            .claim_mail(t, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = stores.mail.claim_mail(retry_at, lease, 10).await.unwrap();
    assert_eq!(ids(&claimed), [first.as_str()]);
    assert_eq!(claimed[0].attempts, 1);

    // A holder that died: its lease runs out and the mail is claimed again (in the order
    // the mails came due).
    let after_lease = lease + Duration::from_secs(1);
    let claimed = stores
        .mail
        .claim_mail(after_lease, after_lease + Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(
        ids(&claimed),
        [second.as_str(), first.as_str(), later.as_str()]
    );

    // Delivered mails are gone for good.
    for id in [&first, &second, &later] {
        stores.mail.remove_mail(id).await.unwrap();
    }
    let much_later = after_lease + Duration::from_secs(3600);
    assert!(
        stores
            .mail
            .claim_mail(much_later, much_later, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn mail_queue_concurrent_claims_take_each_mail_once(stores: &Stores) {
    let t = now();
    let prefix = Uuid::new_v4().simple().to_string();
    for i in 0..20 {
        stores
            .mail
            .enqueue_mail(&mail(&format!("{prefix}-{i:02}"), t))
            .await
            .unwrap();
    }
    let lease = t + Duration::from_secs(60);
    let claims = (0..8).map(|_| {
        let stores = stores.clone();
        tokio::spawn(async move { stores.mail.claim_mail(t, lease, 5).await.unwrap() })
    });
    let mut taken: Vec<String> = Vec::new();
    for claim in claims {
        taken.extend(claim.await.unwrap().into_iter().map(|m| m.id));
    }
    let total = taken.len();
    taken.sort();
    taken.dedup();
    assert_eq!(total, taken.len(), "a mail was claimed twice");
    assert_eq!(total, 20, "every due mail was claimed");
}
