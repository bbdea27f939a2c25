//! The contract for keys, audit events, OAuth clients, API resources and the counts.

use super::fixtures::*;

pub async fn keys_insert_and_list(stores: &Stores) {
    let t = now();
    let key = |kid: &str, generation: u64| SigningKeyRecord {
        kid: kid.into(),
        generation,
        private_key_sealed: format!("sealed-{kid}"),
        created_at: t + Duration::from_secs(generation),
        activate_at: t + Duration::from_secs(generation * 10),
        revoked_at: None,
    };
    assert!(stores.keys.insert_key(&key("k2", 2)).await.unwrap());
    assert!(stores.keys.insert_key(&key("k1", 1)).await.unwrap());
    let mut same_kid = key("k1", 3);
    same_kid.private_key_sealed = "other".into();
    assert!(
        !stores.keys.insert_key(&same_kid).await.unwrap(),
        "kid taken"
    );
    assert!(
        !stores.keys.insert_key(&key("k9", 2)).await.unwrap(),
        "generation taken"
    );
    let listed = stores.keys.list_keys().await.unwrap();
    let kids: Vec<&str> = listed.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, ["k1", "k2"], "in generation order");
    assert_eq!(
        listed[0].private_key_sealed, "sealed-k1",
        "insert never overwrites"
    );
    assert_eq!(listed[0].created_at, t + Duration::from_secs(1));
    assert_eq!(listed[1].activate_at, t + Duration::from_secs(20));

    let revoked_at = t + Duration::from_secs(99);
    assert!(stores.keys.revoke_key("k1", revoked_at).await.unwrap());
    assert!(
        stores
            .keys
            .revoke_key("k1", revoked_at + Duration::from_secs(1))
            .await
            .unwrap()
    );
    assert!(!stores.keys.revoke_key("nope", revoked_at).await.unwrap());
    let listed = stores.keys.list_keys().await.unwrap();
    assert_eq!(
        listed[0].revoked_at,
        Some(revoked_at),
        "the first revocation time stays"
    );
    assert_eq!(listed[1].revoked_at, None);
}

/// Replicas racing to create the same key generation: exactly one wins.
pub async fn keys_generation_race_has_one_winner(stores: &Stores) {
    let t = now();
    let tasks = (0..8).map(|i| {
        let keys = stores.keys.clone();
        tokio::spawn(async move {
            keys.insert_key(&SigningKeyRecord {
                kid: format!("racer-{i}"),
                generation: 1,
                private_key_sealed: "sealed".into(),
                created_at: t,
                activate_at: t,
                revoked_at: None,
            })
            .await
            .unwrap()
        })
    });
    let wins = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(wins, 1);
    assert_eq!(stores.keys.list_keys().await.unwrap().len(), 1);
}

pub async fn audit_events(stores: &Stores) {
    let t = now();
    let alice = Uuid::new_v4();
    let bob = Uuid::new_v4();
    let mut ids = Vec::new();
    for (i, (action, actor, target)) in [
        ("login.succeeded", Some(alice), Some(alice)),
        ("login.failed", None, Some(bob)),
        ("admin.user.suspended", Some(alice), Some(bob)),
        ("logout", Some(bob), Some(bob)),
    ]
    .into_iter()
    .enumerate()
    {
        let at = t + Duration::from_secs(i as u64);
        let event = AuditEvent {
            id: AuditEvent::new_id(at),
            at,
            action: action.into(),
            actor_id: actor,
            target_id: target,
            ip: Some("192.0.2.7".into()),
            user_agent: Some("ua".into()),
            request_id: Some(format!("req-{i}")),
            details: serde_json::json!({ "n": i, "nested": { "ok": true } }),
        };
        stores.audit.record_audit(&event).await.unwrap();
        ids.push(event.id);
    }
    let all = stores
        .audit
        .list_audit(&AuditFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        ids.iter().rev().cloned().collect::<Vec<_>>(),
        "newest first"
    );
    assert_eq!(
        all[3].details,
        serde_json::json!({ "n": 0, "nested": { "ok": true } })
    );
    assert_eq!(all[3].request_id.as_deref(), Some("req-0"));

    let bobs = stores
        .audit
        .list_audit(
            &AuditFilter {
                user_id: Some(bob),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(bobs.len(), 3, "as actor or as target");
    let failed = stores
        .audit
        .list_audit(
            &AuditFilter {
                action: Some("login.failed".into()),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    let window = AuditFilter {
        since: Some(t + Duration::from_secs(1)),
        until: Some(t + Duration::from_secs(3)),
        ..Default::default()
    };
    assert_eq!(stores.audit.list_audit(&window, 10).await.unwrap().len(), 2);
    // Cursor paging: two pages of two.
    let first = stores
        .audit
        .list_audit(&AuditFilter::default(), 2)
        .await
        .unwrap();
    let next = AuditFilter {
        before_id: Some(first[1].id.clone()),
        ..Default::default()
    };
    let second = stores.audit.list_audit(&next, 2).await.unwrap();
    assert_eq!(
        second.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        vec![ids[1].clone(), ids[0].clone()]
    );
}

/// Resources: unique identifiers, found by id and by identifier, listed oldest first,
/// replaced without changing the identifier, deleted with their identifier freed.
pub async fn resources_crud(stores: &Stores) {
    let t = now();
    let orders = resource("https://orders.example.com", t);
    let billing = resource("urn:example:billing", t + Duration::from_secs(1));
    stores.resources.insert_resource(&billing).await.unwrap();
    stores.resources.insert_resource(&orders).await.unwrap();
    let twin = resource("https://orders.example.com", t);
    assert!(matches!(
        stores.resources.insert_resource(&twin).await,
        Err(StoreError::Conflict(Conflict::ResourceIdentifier))
    ));
    assert_eq!(
        stores.resources.get_resource(orders.id).await.unwrap(),
        Some(orders.clone())
    );
    assert_eq!(
        stores
            .resources
            .find_resource("urn:example:billing")
            .await
            .unwrap(),
        Some(billing.clone())
    );
    assert_eq!(
        stores
            .resources
            .find_resource("https://ORDERS.example.com/x")
            .await
            .unwrap(),
        None
    );
    let ids: Vec<Uuid> = stores
        .resources
        .list_resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, vec![orders.id, billing.id]);

    let renamed = crate::domain::ApiResource {
        identifier: "https://elsewhere.example.com".into(),
        name: "Orders v2".into(),
        scopes: vec!["orders:read".into()],
        ..orders.clone()
    };
    assert!(stores.resources.replace_resource(&renamed).await.unwrap());
    let stored = stores
        .resources
        .get_resource(orders.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, "Orders v2");
    assert_eq!(stored.scopes, vec!["orders:read".to_owned()]);
    assert_eq!(stored.identifier, "https://orders.example.com");
    let stranger = resource("https://nobody.example.com", t);
    assert!(!stores.resources.replace_resource(&stranger).await.unwrap());

    assert!(stores.resources.delete_resource(orders.id).await.unwrap());
    assert!(!stores.resources.delete_resource(orders.id).await.unwrap());
    assert_eq!(
        stores
            .resources
            .find_resource("https://orders.example.com")
            .await
            .unwrap(),
        None
    );
    // The identifier is free again.
    stores.resources.insert_resource(&twin).await.unwrap();
}

/// Clients: a taken id conflicts, listed oldest first, replaced only when present, deleted
/// with every consent given to them (and no one else's).
pub async fn clients_and_consents(stores: &Stores) {
    let t = now();
    let web = client("web", t + Duration::from_secs(1));
    let cli = client("cli", t);
    stores.clients.insert_client(&web).await.unwrap();
    stores.clients.insert_client(&cli).await.unwrap();
    assert!(matches!(
        stores.clients.insert_client(&client("web", t)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        stores.clients.get_client("web").await.unwrap(),
        Some(web.clone())
    );
    assert_eq!(stores.clients.get_client("nope").await.unwrap(), None);
    let ids: Vec<String> = stores
        .clients
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, ["cli", "web"]);

    let renamed = crate::domain::ClientRecord {
        name: "Web, renamed".into(),
        ..web.clone()
    };
    assert!(stores.clients.replace_client(&renamed).await.unwrap());
    assert_eq!(
        stores
            .clients
            .get_client("web")
            .await
            .unwrap()
            .unwrap()
            .name,
        "Web, renamed"
    );
    assert!(
        !stores
            .clients
            .replace_client(&client("ghost", t))
            .await
            .unwrap()
    );
    assert_eq!(stores.clients.get_client("ghost").await.unwrap(), None);

    let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(
        stores.clients.get_consent(alice, "web").await.unwrap(),
        None
    );
    let scopes = vec!["openid".to_owned(), "email".to_owned()];
    stores
        .clients
        .put_consent(alice, "web", &scopes, t)
        .await
        .unwrap();
    stores
        .clients
        .put_consent(bob, "web", &scopes[..1], t)
        .await
        .unwrap();
    stores
        .clients
        .put_consent(alice, "cli", &scopes[..1], t)
        .await
        .unwrap();
    assert_eq!(
        stores.clients.get_consent(alice, "web").await.unwrap(),
        Some(scopes.clone())
    );
    // A second consent replaces the first.
    stores
        .clients
        .put_consent(alice, "web", &scopes[1..], t)
        .await
        .unwrap();
    assert_eq!(
        stores.clients.get_consent(alice, "web").await.unwrap(),
        Some(vec!["email".to_owned()])
    );

    assert!(stores.clients.delete_client("web").await.unwrap());
    assert!(!stores.clients.delete_client("web").await.unwrap());
    assert_eq!(stores.clients.get_client("web").await.unwrap(), None);
    assert_eq!(
        stores.clients.get_consent(alice, "web").await.unwrap(),
        None
    );
    assert_eq!(stores.clients.get_consent(bob, "web").await.unwrap(), None);
    assert_eq!(
        stores.clients.get_consent(alice, "cli").await.unwrap(),
        Some(vec!["openid".to_owned()])
    );
}

/// The dashboard counts: users, live sessions (not expired ones), audit events matching a
/// filter; and a sweep never removes anything live.
pub async fn counts_and_sweep(stores: &Stores) {
    let t = now();
    assert_eq!(stores.users.count_users().await.unwrap(), 0);
    let alice = user("alice@example.com", "alice");
    stores.users.insert_user(&alice).await.unwrap();
    stores
        .users
        .insert_user(&user("bob@example.com", "bob"))
        .await
        .unwrap();
    assert_eq!(stores.users.count_users().await.unwrap(), 2);

    let before = stores.sessions.count_sessions(t).await.unwrap();
    let live = session(alice.id, "live-digest", t, DAY);
    let short = session(alice.id, "short-digest", t, Duration::from_secs(60));
    stores.sessions.create_session(&live, 10, t).await.unwrap();
    stores.sessions.create_session(&short, 10, t).await.unwrap();
    assert_eq!(stores.sessions.count_sessions(t).await.unwrap(), before + 2);
    let later = t + Duration::from_secs(120);
    assert_eq!(
        stores.sessions.count_sessions(later).await.unwrap(),
        before + 1
    );
    stores.sessions.sweep_expired(later).await.unwrap();
    assert_eq!(
        stores
            .sessions
            .get_session(alice.id, &live.id, later)
            .await
            .unwrap()
            .map(|s| s.id),
        Some(live.id.clone())
    );
    assert_eq!(
        stores.sessions.count_sessions(later).await.unwrap(),
        before + 1
    );

    for action in ["user.login", "user.login", "user.logout"] {
        let event = AuditEvent {
            id: AuditEvent::new_id(t),
            at: t,
            action: action.into(),
            actor_id: Some(alice.id),
            target_id: None,
            ip: None,
            user_agent: None,
            request_id: None,
            details: serde_json::json!({}),
        };
        stores.audit.record_audit(&event).await.unwrap();
    }
    let logins = AuditFilter {
        user_id: Some(alice.id),
        action: Some("user.login".into()),
        ..AuditFilter::default()
    };
    assert_eq!(stores.audit.count_audit(&logins).await.unwrap(), 2);
}
