//! The Redis cache and pub/sub against the real server: what one replica publishes, another
//! replica's subscribers receive.

use std::time::Duration;

use erp_kit::cache::{Cache, RedisCache};
use erp_tests::require_env;
use futures::StreamExt;

#[tokio::test]
async fn values_expiry_and_set_if_absent() {
    let cache = RedisCache::connect(&require_env("REDIS_URL"))
        .await
        .unwrap();
    let key = format!("test:{}", uuid::Uuid::new_v4());
    assert_eq!(cache.get(&key).await.unwrap(), None);
    cache.set(&key, b"one", None).await.unwrap();
    assert_eq!(cache.get(&key).await.unwrap().as_deref(), Some(&b"one"[..]));
    assert!(!cache.set_if_absent(&key, b"two", None).await.unwrap());
    assert!(cache.delete(&key).await.unwrap());
    assert!(!cache.delete(&key).await.unwrap());
    assert!(cache
        .set_if_absent(&key, b"three", Some(Duration::from_millis(200)))
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cache.get(&key).await.unwrap(), None, "expired");
    cache.ping().await.unwrap();
}

#[tokio::test]
async fn pub_sub_crosses_replicas() {
    let url = require_env("REDIS_URL");
    let replica_a = RedisCache::connect(&url).await.unwrap();
    let replica_b = RedisCache::connect(&url).await.unwrap();
    let channel = format!("test:{}", uuid::Uuid::new_v4());
    let mut first = replica_b.subscribe(&channel).await.unwrap();
    let mut second = replica_b.subscribe(&channel).await.unwrap();
    replica_a.publish(&channel, b"checked-in").await.unwrap();
    for stream in [&mut first, &mut second] {
        let message = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("delivered")
            .unwrap();
        assert_eq!(message, b"checked-in");
    }
}

#[tokio::test]
async fn oversize_keys_and_values_are_refused_before_they_reach_redis() {
    use erp_kit::cache::{CacheError, MAX_KEY_BYTES, MAX_VALUE_BYTES};
    let cache = RedisCache::connect(&require_env("REDIS_URL"))
        .await
        .unwrap();
    let key = format!(
        "test:{}:{}",
        uuid::Uuid::new_v4(),
        "k".repeat(MAX_KEY_BYTES)
    );
    assert!(matches!(
        cache.set(&key, b"x", Some(Duration::from_secs(60))).await,
        Err(CacheError::TooLarge { what: "key", .. })
    ));
    assert!(matches!(
        cache.get(&key).await,
        Err(CacheError::TooLarge { what: "key", .. })
    ));
    let small = format!("test:{}", uuid::Uuid::new_v4());
    let big = vec![7u8; MAX_VALUE_BYTES + 1];
    assert!(matches!(
        cache.set_if_absent(&small, &big, None).await,
        Err(CacheError::TooLarge { what: "value", .. })
    ));
    assert_eq!(
        cache.get(&small).await.unwrap(),
        None,
        "nothing was written"
    );
}
