//! Removing everything a cluster holds in a cloud (`destroy --force`):
//! every removal is tried even after one fails; each failure is logged,
//! and the first is the answer.

use std::future::Future;

use super::pacing::Poll;
use crate::provider::{ProviderError, Result};

/// One sweep of a cluster's resources (in one region, where the cloud
/// has them).
pub(crate) struct Sweep<'a> {
    cloud: &'static str,
    cluster: &'a str,
    region: Option<&'a str>,
    first_error: Option<ProviderError>,
}

impl<'a> Sweep<'a> {
    /// `cloud` names the cloud in messages: `OpenStack`.
    pub fn new(cloud: &'static str, cluster: &'a str) -> Self {
        Sweep {
            cloud,
            cluster,
            region: None,
            first_error: None,
        }
    }

    pub fn in_region(self, region: &'a str) -> Self {
        Sweep {
            region: Some(region),
            ..self
        }
    }

    /// Notes that `what` (`server`, `security group`) could not go.
    pub fn note(&mut self, what: &str, e: impl Into<ProviderError>) {
        let e = e.into();
        tracing::warn!(
            cluster = self.cluster,
            region = self.region,
            error = %e,
            "cannot remove {} {what}",
            self.cloud
        );
        self.first_error.get_or_insert(e);
    }

    /// Notes a failed removal; `true` when it succeeded.
    pub fn check<E: Into<ProviderError>>(
        &mut self,
        what: &str,
        result: std::result::Result<(), E>,
    ) -> bool {
        match result {
            Ok(()) => true,
            Err(e) => {
                self.note(what, e);
                false
            }
        }
    }

    /// Looks until `left` finds nothing of `what` left (it answers what
    /// is still there, `None` once nothing is); past the poll's timeout
    /// that is noted as a transient failure. `true` when all is gone.
    pub async fn wait_gone<E: Into<ProviderError>, F>(
        &mut self,
        what: &str,
        poll: &mut Poll,
        mut left: impl FnMut() -> F,
    ) -> bool
    where
        F: Future<Output = std::result::Result<Option<String>, E>>,
    {
        loop {
            match left().await {
                Ok(None) => return true,
                Ok(Some(still)) if poll.expired() => {
                    let e = ProviderError::Transient(format!("{still} after {:?}", poll.timeout()));
                    self.note(what, e);
                    return false;
                }
                Ok(Some(_)) => poll.pause().await,
                Err(e) => {
                    self.note(what, e);
                    return false;
                }
            }
        }
    }

    /// Removes one `what`, again while `busy` says it is still in use
    /// (a group an instance going away still holds) and the poll has
    /// time. `true` when it went.
    pub async fn remove<E: Into<ProviderError>, F>(
        &mut self,
        what: &str,
        poll: &mut Poll,
        mut remove: impl FnMut() -> F,
        busy: impl Fn(&E) -> bool,
    ) -> bool
    where
        F: Future<Output = std::result::Result<(), E>>,
    {
        loop {
            match remove().await {
                Ok(()) => return true,
                Err(e) if busy(&e) && !poll.expired() => poll.pause().await,
                Err(e) => {
                    self.note(what, e);
                    return false;
                }
            }
        }
    }

    /// The first failure, if any.
    pub fn done(self) -> Result<()> {
        self.first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::provider::cloud::Pacing;

    fn pacing(timeout_ms: u64) -> Pacing {
        Pacing::steady(Duration::from_millis(1), Duration::from_millis(timeout_ms))
    }

    #[tokio::test]
    async fn the_first_failure_is_the_answer_after_everything_is_tried() {
        let mut sweep = Sweep::new("Test", "c");
        assert!(sweep.check::<ProviderError>("a", Ok(())));
        assert!(!sweep.check("b", Err(ProviderError::Final("b failed".into()))));
        assert!(!sweep.check("c", Err(ProviderError::Quota("c failed".into()))));
        assert_eq!(sweep.done(), Err(ProviderError::Final("b failed".into())));
        assert_eq!(Sweep::new("Test", "c").in_region("r").done(), Ok(()));
    }

    #[tokio::test]
    async fn busy_things_are_tried_again_until_the_deadline() {
        let mut sweep = Sweep::new("Test", "c");
        let mut tries = 0;
        let mut poll = pacing(10_000).start();
        let gone = sweep
            .remove(
                "group",
                &mut poll,
                || {
                    tries += 1;
                    let busy = tries < 3;
                    async move {
                        match busy {
                            true => Err(ProviderError::Transient("in use".into())),
                            false => Ok(()),
                        }
                    }
                },
                ProviderError::is_transient,
            )
            .await;
        assert!(gone);
        assert_eq!(tries, 3);
        assert_eq!(sweep.done(), Ok(()));

        let mut sweep = Sweep::new("Test", "c");
        let mut poll = pacing(0).start();
        let gone = sweep
            .remove(
                "group",
                &mut poll,
                || async { Err::<(), _>(ProviderError::Transient("in use".into())) },
                |_| true,
            )
            .await;
        assert!(!gone);
        assert_eq!(sweep.done(), Err(ProviderError::Transient("in use".into())));
    }

    #[tokio::test]
    async fn waiting_for_things_to_go() {
        let mut sweep = Sweep::new("Test", "c");
        let mut left = 2;
        let mut poll = pacing(10_000).start();
        let gone = sweep
            .wait_gone("servers", &mut poll, || {
                left -= 1;
                let still = (left > 0).then(|| format!("{left} left"));
                async move { Ok::<_, ProviderError>(still) }
            })
            .await;
        assert!(gone);
        let mut poll = pacing(0).start();
        let gone = sweep
            .wait_gone("servers", &mut poll, || async {
                Ok::<_, ProviderError>(Some("1 server is still there".to_string()))
            })
            .await;
        assert!(!gone);
        let e = sweep.done().unwrap_err();
        assert!(e.is_transient());
        assert!(
            e.to_string().starts_with("1 server is still there after "),
            "{e}"
        );
    }
}
