//! argon2id in PHC strings, computed in memory the caller owns, so that a worker thread
//! reuses one buffer for every hash instead of allocating ~19 MiB per request.

use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore as _;

use super::Verification;

const SALT_LEN: usize = 16;

/// The blocks one hash needs, grown on demand up to what the current parameters need and
/// kept; a stored hash made with more memory (an older, larger setting) borrows a buffer for
/// that one verification, so the kept size never exceeds the configured cost. The contents
/// left behind are the last hash's working state: Blake2b-derived and no easier to attack
/// than the stored hash itself, so the next hash overwrites them instead of a wipe after each.
#[derive(Default)]
pub struct Memory {
    blocks: Vec<Block>,
    /// Where the bytes held are reported, updated before a hash answers.
    held: Option<prometheus::IntGauge>,
}

impl Memory {
    /// Memory whose size is reported to `held`.
    pub fn counted(held: prometheus::IntGauge) -> Self {
        Self {
            blocks: Vec::new(),
            held: Some(held),
        }
    }

    fn with_blocks<T>(
        &mut self,
        params: &Params,
        current: &Params,
        work: impl FnOnce(&mut [Block]) -> T,
    ) -> T {
        let needed = params.block_count();
        if needed > current.block_count() {
            return work(&mut own_mapping(needed));
        }
        if self.blocks.len() < needed {
            self.replace(own_mapping(needed));
        }
        work(&mut self.blocks[..needed])
    }

    /// Gives the blocks back to the system.
    pub fn release(&mut self) {
        self.replace(Vec::new());
    }

    fn replace(&mut self, blocks: Vec<Block>) {
        let before = self.bytes();
        self.blocks = blocks;
        if let Some(held) = &self.held {
            let delta = i64::try_from(self.bytes()).unwrap_or(i64::MAX)
                - i64::try_from(before).unwrap_or(i64::MAX);
            held.add(delta);
        }
    }

    /// Bytes held right now.
    pub fn bytes(&self) -> usize {
        self.blocks.len() * Block::SIZE
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        self.release();
    }
}

/// glibc's malloc serves requests above its mmap threshold from a mapping of their own and
/// unmaps it on free, but the first such free raises the threshold (and the trim threshold,
/// to twice that) up to 32 MiB: a 19 MiB buffer freed once would make every later one, and
/// every arena's free memory up to 38 MiB, stay resident for good. Reserving more than that
/// ceiling keeps the buffer a mapping of its own without moving the thresholds, so freeing it
/// returns it to the system at once. Only the first `blocks` are touched, so only they count
/// towards the resident size; the rest is address space.
const OWN_MAPPING: usize = 33 << 20;

fn own_mapping(blocks: usize) -> Vec<Block> {
    let mut buffer = Vec::with_capacity(blocks.max(OWN_MAPPING / Block::SIZE));
    buffer.resize(blocks, Block::new());
    buffer
}

fn argon2(algorithm: Algorithm, version: Version, params: Params) -> Argon2<'static> {
    Argon2::new(algorithm, version, params)
}

/// Hashes with a fresh random salt into a PHC string (`$argon2id$v=19$m=...`).
pub fn hash(
    memory: &mut Memory,
    params: &Params,
    password: &[u8],
) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; SALT_LEN];
    rand::rng().fill_bytes(&mut salt);
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    memory.with_blocks(params, params, |blocks| {
        argon2(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(password, &salt, &mut out, blocks)
    })?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: params.try_into()?,
        salt: Some(Salt::new(&salt)?),
        hash: Some(Output::new(&out)?),
    }
    .to_string())
}

/// Checks `password` against a PHC string with the parameters stored in it; `outdated` when
/// those differ from `current` (the caller rehashes after a successful sign-in).
pub fn verify(memory: &mut Memory, current: &Params, password: &[u8], phc: &str) -> Verification {
    let refused = Verification {
        matches: false,
        outdated: true,
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return refused;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return refused;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return refused;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return refused,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return refused;
    };
    let mut out = vec![0u8; expected.len()];
    let computed = memory
        .with_blocks(&params, current, |blocks| {
            argon2(algorithm, version, params.clone())
                .hash_password_into_with_memory(password, salt, &mut out, blocks)
        })
        .ok()
        .and_then(|()| Output::new(&out).ok());
    // `Output`'s equality is constant-time.
    let matches = computed.is_some_and(|computed| &computed == expected);
    let outdated = algorithm != Algorithm::Argon2id
        || version != Version::V0x13
        || params.m_cost() != current.m_cost()
        || params.t_cost() != current.t_cost()
        || params.p_cost() != current.p_cost();
    Verification { matches, outdated }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use argon2::PasswordVerifier as _;

    fn params(m: u32) -> Params {
        Params::new(m, 1, 1, None).unwrap()
    }

    /// Our hashes verify with the argon2 crate's own verifier, and its hashes with ours: the
    /// PHC strings are the standard ones, not a private format.
    #[test]
    fn interoperates_with_the_reference_verifier() {
        let mut memory = Memory::default();
        let ours = hash(&mut memory, &params(64), b"Correct-Horse-42").unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"Correct-Horse-42", ours.as_str())
                .is_ok()
        );
        use argon2::PasswordHasher as _;
        let theirs = argon2(Algorithm::Argon2id, Version::V0x13, params(64))
            .hash_password(b"Correct-Horse-42")
            .unwrap()
            .to_string();
        let checked = verify(&mut memory, &params(64), b"Correct-Horse-42", &theirs);
        assert!(checked.matches && !checked.outdated);
        assert!(!verify(&mut memory, &params(64), b"correct-horse-42", &theirs).matches);
    }

    /// One buffer serves every hash and keeps the size the current parameters need; a
    /// larger old hash still verifies without growing it.
    #[test]
    fn memory_is_reused_and_bounded_by_the_current_cost() {
        let mut memory = Memory::default();
        let small = hash(&mut memory, &params(32), b"pw").unwrap();
        let large = hash(&mut memory, &params(128), b"pw").unwrap();
        assert_eq!(memory.bytes(), 128 * 1024);
        let old = verify(&mut memory, &params(128), b"pw", &small);
        assert!(old.matches && old.outdated);
        assert!(verify(&mut memory, &params(128), b"pw", &large).matches);
        assert_eq!(memory.bytes(), 128 * 1024);
        let mut lean = Memory::default();
        let bigger = verify(&mut lean, &params(32), b"pw", &large);
        assert!(bigger.matches && bigger.outdated);
        assert_eq!(lean.bytes(), 0);
    }

    /// Anything that is not a usable PHC string is refused, never a panic.
    #[test]
    fn malformed_hashes_are_refused() {
        let mut memory = Memory::default();
        for bad in [
            "",
            "garbage",
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ",
            "$argon2id$v=99$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$bcrypt$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            let v = verify(&mut memory, &params(64), b"pw", bad);
            assert!(!v.matches, "{bad:?}");
        }
    }
}
