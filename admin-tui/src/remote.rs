//! Data a pane fetched from the server, and which of its loads is the newest.

/// What a pane shows of its remote data.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Loadable<T> {
    #[default]
    Idle,
    Loading,
    Ready(T),
    Failed(String),
}

impl<T> Loadable<T> {
    pub fn ready(&self) -> Option<&T> {
        match self {
            Self::Ready(t) => Some(t),
            _ => None,
        }
    }
}

/// A pane's data plus the sequence number of its newest load: an answer to an older request
/// arrives after the newer one was asked and must not overwrite what it brings.
#[derive(Debug, Clone, PartialEq)]
pub struct Remote<T> {
    pub data: Loadable<T>,
    newest: u64,
}

// By hand: a derive would ask `T: Default`, and nothing is loaded yet whatever `T` is.
impl<T> Default for Remote<T> {
    fn default() -> Self {
        Self {
            data: Loadable::Idle,
            newest: 0,
        }
    }
}

impl<T> Remote<T> {
    pub fn ready(&self) -> Option<&T> {
        self.data.ready()
    }

    /// A load went out; what we have stays on screen while it refreshes.
    pub fn refresh(&mut self, seq: u64) {
        self.newest = seq;
        if !matches!(self.data, Loadable::Ready(_)) {
            self.data = Loadable::Loading;
        }
    }

    /// A load went out for something else (another user's sessions): the old data is wrong.
    pub fn reload(&mut self, seq: u64) {
        self.newest = seq;
        self.data = Loadable::Loading;
    }

    /// Whether a newer load went out after the request numbered `seq`.
    pub fn is_stale(&self, seq: u64) -> bool {
        seq < self.newest
    }

    /// Keeps `value` unless it answers a superseded request; says whether it was kept.
    pub fn settle(&mut self, seq: u64, value: T) -> bool {
        if self.is_stale(seq) {
            return false;
        }
        self.data = Loadable::Ready(value);
        true
    }

    /// The newest load failed: a pane still loading shows why; data already shown stays.
    pub fn fail(&mut self, seq: u64, message: &str) {
        if !self.is_stale(seq) && matches!(self.data, Loadable::Loading) {
            self.data = Loadable::Failed(message.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_answer_does_not_replace_a_newer_one() {
        let mut remote = Remote::default();
        remote.refresh(1);
        remote.refresh(2);
        assert!(remote.settle(2, "new"));
        assert!(!remote.settle(1, "old"));
        remote.fail(1, "late error");
        assert_eq!(remote.data, Loadable::Ready("new"));
    }

    #[test]
    fn failure_shows_only_while_loading() {
        let mut remote = Remote::default();
        remote.refresh(1);
        remote.fail(1, "down");
        assert_eq!(remote.data, Loadable::Failed("down".into()));
        remote.refresh(2);
        assert_eq!(remote.data, Loadable::Loading);
        assert!(remote.settle(2, 7));
        remote.refresh(3);
        remote.fail(3, "down again");
        assert_eq!(
            remote.data,
            Loadable::Ready(7),
            "a failed refresh keeps the data"
        );
    }
}
