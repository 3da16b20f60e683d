//! The channel adapter: what the publisher (app/social.rs) hands a due social post to. A real
//! network's adapter (an HTTP API client) implements [`ChannelAdapter`]; this build ships only
//! [`RecordingAdapter`], which publishes nothing (no network here): it records what it would
//! publish and answers a made-up id. The embedded mode and the tests use it; a test can make it
//! refuse an account's posts, or hang on them (to kill the publisher mid-hand-off).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A post as handed to its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRequest {
    pub tenant_id: String,
    pub post_id: String,
    /// `domain::social::ChannelKind` as text (`x`, `linkedin`, ...).
    pub channel: String,
    pub handle: String,
    pub body: String,
    /// The link that goes out with the post (the tracked link, which redirects to the target
    /// with its UTM parameters), if the post has one.
    pub link: Option<String>,
    /// Unique per hand-off (`<post id>:<attempt>`): a network API that takes an idempotency
    /// key is given this one, so a repeat of the same hand-off publishes once.
    pub idempotency_key: String,
}

/// Why a channel refused a post (kept on the post as its failure reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishError(pub String);

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where social posts go.
#[async_trait::async_trait]
pub trait ChannelAdapter: Send + Sync + 'static {
    /// Publishes the post; answers the network's id of it.
    async fn publish(&self, request: &PublishRequest) -> Result<String, PublishError>;
}

pub type SharedChannelAdapter = Arc<dyn ChannelAdapter>;

/// What the recording adapter does with an account's posts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Behaviour {
    Refuse(String),
    Hang,
}

/// Publishes nothing: records each request and answers `recorded:<idempotency key>`, unless
/// told to refuse an account's posts or to hang on them.
#[derive(Default)]
pub struct RecordingAdapter {
    recorded: Mutex<Vec<PublishRequest>>,
    behaviours: Mutex<HashMap<String, Behaviour>>,
}

impl RecordingAdapter {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Every request handed to it so far (refused and hanging ones too), in order.
    pub fn recorded(&self) -> Vec<PublishRequest> {
        self.recorded
            .lock()
            .map(|recorded| recorded.clone())
            .unwrap_or_default()
    }

    /// The requests of one post.
    pub fn recorded_for(&self, post_id: &str) -> Vec<PublishRequest> {
        self.recorded()
            .into_iter()
            .filter(|request| request.post_id == post_id)
            .collect()
    }

    /// Refuses the posts of the account with this handle, with `reason`.
    pub fn refuse(&self, handle: &str, reason: &str) {
        self.set(handle, Some(Behaviour::Refuse(reason.to_owned())));
    }

    /// Never answers for the posts of the account with this handle (as a network that hangs
    /// would; the publisher is then killed by the test).
    pub fn hang(&self, handle: &str) {
        self.set(handle, Some(Behaviour::Hang));
    }

    /// Publishes the account's posts again.
    pub fn accept(&self, handle: &str) {
        self.set(handle, None);
    }

    fn set(&self, handle: &str, behaviour: Option<Behaviour>) {
        if let Ok(mut behaviours) = self.behaviours.lock() {
            match behaviour {
                Some(behaviour) => behaviours.insert(handle.to_owned(), behaviour),
                None => behaviours.remove(handle),
            };
        }
    }
}

#[async_trait::async_trait]
impl ChannelAdapter for RecordingAdapter {
    async fn publish(&self, request: &PublishRequest) -> Result<String, PublishError> {
        if let Ok(mut recorded) = self.recorded.lock() {
            recorded.push(request.clone());
        }
        let behaviour = self
            .behaviours
            .lock()
            .ok()
            .and_then(|behaviours| behaviours.get(&request.handle).cloned());
        match behaviour {
            Some(Behaviour::Refuse(reason)) => Err(PublishError(reason)),
            Some(Behaviour::Hang) => std::future::pending().await,
            None => Ok(format!("recorded:{}", request.idempotency_key)),
        }
    }
}
