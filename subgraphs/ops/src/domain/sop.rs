//! Standard operating procedures: documents with versions (draft -> in review -> published ->
//! superseded) whose bytes are content-addressed (a SHA-256 of the file), and acknowledgements
//! that bind (user, document, version hash) (domains.md O11, O12).

use erp_kit::ApiError;
use serde::{Deserialize, Serialize};

use super::OpsRule;

/// A SHA-256 digest as 64 lower-case hex digits: the address of a version's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentHash(String);

impl ContentHash {
    /// The SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
        Self(hex::encode(digest))
    }

    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        let hash = raw.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::bad_input(
                field,
                "a content hash is a SHA-256 digest in 64 hex digits",
            ));
        }
        Ok(Self(hash))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a version is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VersionStatus {
    Draft,
    InReview,
    Published,
    Superseded,
}

/// One version of an SOP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// 1, 2, 3... in the order they were created.
    pub number: u32,
    pub hash: ContentHash,
    pub status: VersionStatus,
}

/// The versions of one SOP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Versions(pub Vec<Version>);

impl Versions {
    /// Adds a draft version with `hash`; one draft or in-review version at a time.
    pub fn add_draft(&mut self, hash: ContentHash) -> Result<u32, ApiError> {
        if self
            .0
            .iter()
            .any(|v| matches!(v.status, VersionStatus::Draft | VersionStatus::InReview))
        {
            return Err(OpsRule::SopVersionState(
                "the SOP already has a draft or a version in review: finish that one first",
            )
            .into());
        }
        let number = self.0.last().map_or(1, |v| v.number + 1);
        self.0.push(Version {
            number,
            hash,
            status: VersionStatus::Draft,
        });
        Ok(number)
    }

    fn find_mut(&mut self, number: u32) -> Result<&mut Version, ApiError> {
        self.0
            .iter_mut()
            .find(|v| v.number == number)
            .ok_or_else(|| ApiError::NotFound(format!("the SOP has no version {number}")))
    }

    /// Replaces a draft's content; anything past draft never changes.
    pub fn replace_content(&mut self, number: u32, hash: ContentHash) -> Result<(), ApiError> {
        let version = self.find_mut(number)?;
        if version.status != VersionStatus::Draft {
            return Err(OpsRule::SopVersionImmutable.into());
        }
        version.hash = hash;
        Ok(())
    }

    pub fn submit(&mut self, number: u32) -> Result<(), ApiError> {
        let version = self.find_mut(number)?;
        if version.status != VersionStatus::Draft {
            return Err(OpsRule::SopVersionState("only a draft is submitted for review").into());
        }
        version.status = VersionStatus::InReview;
        Ok(())
    }

    /// Sends a version in review back to draft.
    pub fn reject(&mut self, number: u32) -> Result<(), ApiError> {
        let version = self.find_mut(number)?;
        if version.status != VersionStatus::InReview {
            return Err(OpsRule::SopVersionState("only a version in review is rejected").into());
        }
        version.status = VersionStatus::Draft;
        Ok(())
    }

    /// Publishes a version in review; the previously published one is superseded.
    pub fn publish(&mut self, number: u32) -> Result<(), ApiError> {
        let version = self.find_mut(number)?;
        if version.status != VersionStatus::InReview {
            return Err(OpsRule::SopVersionState("only a version in review is published").into());
        }
        version.status = VersionStatus::Published;
        for other in self.0.iter_mut() {
            if other.number != number && other.status == VersionStatus::Published {
                other.status = VersionStatus::Superseded;
            }
        }
        Ok(())
    }

    /// The current published version.
    pub fn current(&self) -> Option<&Version> {
        self.0.iter().find(|v| v.status == VersionStatus::Published)
    }

    /// Checks that an acknowledgement of the version with `hash` binds to the current
    /// published version.
    pub fn acknowledgeable(&self, hash: &ContentHash) -> Result<(), ApiError> {
        match self.current() {
            Some(current) if &current.hash == hash => Ok(()),
            _ => Err(OpsRule::SopNotCurrent.into()),
        }
    }

    /// Whether a person who acknowledged `acknowledged` (version hashes) still has to
    /// acknowledge: a new published version needs a new acknowledgement.
    pub fn needs_acknowledgement<'a>(
        &self,
        mut acknowledged: impl Iterator<Item = &'a ContentHash>,
    ) -> bool {
        match self.current() {
            Some(current) => !acknowledged.any(|hash| hash == &current.hash),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reasons;

    fn hash(c: char) -> ContentHash {
        ContentHash::parse("hash", &c.to_string().repeat(64)).unwrap()
    }

    #[test]
    fn hashes_address_the_bytes() {
        assert_eq!(
            ContentHash::of(b"abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hashes_parse() {
        assert!(ContentHash::parse("h", "xyz").is_err());
        assert!(ContentHash::parse("h", &"g".repeat(64)).is_err());
        assert_eq!(
            ContentHash::parse("h", &"A".repeat(64)).unwrap().as_str(),
            "a".repeat(64)
        );
    }

    #[test]
    fn published_versions_never_change_and_supersede_each_other() {
        let mut versions = Versions::default();
        assert_eq!(versions.add_draft(hash('a')).unwrap(), 1);
        assert!(
            versions.add_draft(hash('b')).is_err(),
            "one draft at a time"
        );
        versions.replace_content(1, hash('b')).unwrap();
        versions.submit(1).unwrap();
        assert_eq!(
            versions.replace_content(1, hash('c')).unwrap_err().reason(),
            Some(reasons::SOP_VERSION_IMMUTABLE)
        );
        versions.reject(1).unwrap();
        versions.submit(1).unwrap();
        versions.publish(1).unwrap();
        assert_eq!(
            versions.replace_content(1, hash('c')).unwrap_err().reason(),
            Some(reasons::SOP_VERSION_IMMUTABLE)
        );
        assert_eq!(versions.add_draft(hash('c')).unwrap(), 2);
        versions.submit(2).unwrap();
        assert!(versions.publish(1).is_err());
        versions.publish(2).unwrap();
        assert_eq!(versions.0[0].status, VersionStatus::Superseded);
        assert_eq!(versions.current().unwrap().number, 2);
        assert!(versions.submit(9).is_err());
    }

    #[test]
    fn acknowledgements_bind_the_current_version() {
        let mut versions = Versions::default();
        versions.add_draft(hash('a')).unwrap();
        assert_eq!(
            versions.acknowledgeable(&hash('a')).unwrap_err().reason(),
            Some(reasons::SOP_NOT_CURRENT)
        );
        versions.submit(1).unwrap();
        versions.publish(1).unwrap();
        versions.acknowledgeable(&hash('a')).unwrap();
        let acks = [hash('a')];
        assert!(!versions.needs_acknowledgement(acks.iter()));
        versions.add_draft(hash('b')).unwrap();
        versions.submit(2).unwrap();
        versions.publish(2).unwrap();
        assert!(
            versions.needs_acknowledgement(acks.iter()),
            "re-acknowledge"
        );
        assert_eq!(
            versions.acknowledgeable(&hash('a')).unwrap_err().reason(),
            Some(reasons::SOP_NOT_CURRENT)
        );
    }
}
