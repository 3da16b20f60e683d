use std::collections::HashMap;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_stream::wrappers::BroadcastStream;

use super::{check_entry, check_key, Cache, CacheError};

fn unavailable(err: redis::RedisError) -> CacheError {
    CacheError::Unavailable(err.to_string())
}

type SubscribeRequest = (
    String,
    oneshot::Sender<Result<broadcast::Receiver<Vec<u8>>, CacheError>>,
);

/// Redis: commands over a self-reconnecting connection manager, and ONE pub/sub connection per
/// process multiplexed across every subscriber (thousands of websocket subscribers must not mean
/// thousands of Redis connections).
#[derive(Clone)]
pub struct RedisCache {
    commands: ConnectionManager,
    subscribe: mpsc::Sender<SubscribeRequest>,
}

impl RedisCache {
    pub async fn connect(url: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let commands = ConnectionManager::new(client.clone())
            .await
            .map_err(unavailable)?;
        let (subscribe, requests) = mpsc::channel(256);
        tokio::spawn(pubsub_loop(client, requests));
        Ok(Self {
            commands,
            subscribe,
        })
    }
}

/// Owns the pub/sub connection: subscribes channels on request and fans messages out to local
/// broadcast channels. Reconnects (and resubscribes) when the connection drops.
async fn pubsub_loop(client: redis::Client, mut requests: mpsc::Receiver<SubscribeRequest>) {
    let mut channels: HashMap<String, broadcast::Sender<Vec<u8>>> = HashMap::new();
    loop {
        let pubsub = match client.get_async_pubsub().await {
            Ok(pubsub) => pubsub,
            Err(err) => {
                tracing::warn!(error = %err, "redis pub/sub connect failed, retrying");
                // Answer waiting subscribers instead of leaving them hanging.
                while let Ok((_, reply)) = requests.try_recv() {
                    let _ = reply.send(Err(CacheError::Unavailable(err.to_string())));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        let mut healthy = true;
        for name in channels.keys() {
            if let Err(err) = sink.subscribe(name).await {
                tracing::warn!(error = %err, channel = %name, "redis resubscribe failed");
                healthy = false;
                break;
            }
        }
        while healthy {
            tokio::select! {
                request = requests.recv() => {
                    let Some((name, reply)) = request else { return };
                    channels.retain(|_, sender| sender.receiver_count() > 0);
                    let receiver = match channels.get(&name) {
                        Some(sender) => Ok(sender.subscribe()),
                        None => match sink.subscribe(&name).await {
                            Ok(()) => {
                                let (sender, receiver) = broadcast::channel(1024);
                                channels.insert(name, sender);
                                Ok(receiver)
                            }
                            Err(err) => {
                                healthy = false;
                                Err(unavailable(err))
                            }
                        },
                    };
                    let _ = reply.send(receiver);
                }
                message = stream.next() => {
                    let Some(message) = message else {
                        tracing::warn!("redis pub/sub connection closed, reconnecting");
                        healthy = false;
                        continue;
                    };
                    let name = message.get_channel_name().to_owned();
                    if let Some(sender) = channels.get(&name) {
                        if sender.send(message.get_payload_bytes().to_vec()).is_err() {
                            channels.remove(&name);
                            let _ = sink.unsubscribe(&name).await;
                        }
                    }
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        check_key(key)?;
        let mut conn = self.commands.clone();
        conn.get(key).await.map_err(unavailable)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), CacheError> {
        check_entry(key, value)?;
        let mut conn = self.commands.clone();
        match ttl {
            Some(ttl) => conn
                .pset_ex::<_, _, ()>(key, value, ttl.as_millis().max(1) as u64)
                .await
                .map_err(unavailable),
            None => conn.set::<_, _, ()>(key, value).await.map_err(unavailable),
        }
    }

    async fn set_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, CacheError> {
        check_entry(key, value)?;
        let mut conn = self.commands.clone();
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value).arg("NX");
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
        }
        let reply: Option<String> = cmd.query_async(&mut conn).await.map_err(unavailable)?;
        Ok(reply.is_some())
    }

    async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        check_key(key)?;
        let mut conn = self.commands.clone();
        let removed: i64 = conn.del(key).await.map_err(unavailable)?;
        Ok(removed > 0)
    }

    async fn publish(&self, channel: &str, message: &[u8]) -> Result<(), CacheError> {
        check_entry(channel, message)?;
        let mut conn = self.commands.clone();
        conn.publish::<_, _, ()>(channel, message)
            .await
            .map_err(unavailable)
    }

    async fn subscribe(&self, channel: &str) -> Result<BoxStream<'static, Vec<u8>>, CacheError> {
        check_key(channel)?;
        let (reply, answer) = oneshot::channel();
        self.subscribe
            .send((channel.to_owned(), reply))
            .await
            .map_err(|_| CacheError::Unavailable("pub/sub task stopped".into()))?;
        let receiver = answer
            .await
            .map_err(|_| CacheError::Unavailable("pub/sub task stopped".into()))??;
        Ok(BroadcastStream::new(receiver)
            .filter_map(|item| async move { item.ok() })
            .boxed())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.commands.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
