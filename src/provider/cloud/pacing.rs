//! How often a cloud provider looks again at something that is not there
//! yet (a VM booting, a group still in use), and for how long.

use std::time::{Duration, Instant};

/// A polling rhythm: the first pause, doubled after each look up to
/// `interval`, until `timeout` has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pacing {
    pub first: Duration,
    pub interval: Duration,
    pub timeout: Duration,
}

impl Pacing {
    /// A look every `interval`.
    pub fn steady(interval: Duration, timeout: Duration) -> Pacing {
        Pacing {
            first: interval,
            interval,
            timeout,
        }
    }

    /// A first look after half a second, then twice as far apart up to
    /// `interval` (EC2's API is quick and its instances start fast).
    pub fn backoff(interval: Duration, timeout: Duration) -> Pacing {
        Pacing {
            first: Duration::from_millis(500).min(interval),
            interval,
            timeout,
        }
    }

    /// Starts the clock.
    pub fn start(&self) -> Poll {
        Poll {
            deadline: Instant::now() + self.timeout,
            pause: self.first,
            interval: self.interval,
            first: self.first,
            timeout: self.timeout,
        }
    }
}

/// One polling loop under way.
#[derive(Clone, Debug)]
pub struct Poll {
    deadline: Instant,
    pause: Duration,
    interval: Duration,
    first: Duration,
    timeout: Duration,
}

impl Poll {
    /// Whether the timeout has passed.
    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// How long the loop may last, for messages.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sleeps until the next look.
    pub async fn pause(&mut self) {
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(self.interval);
    }

    /// Another loop under the same deadline, from the first pause.
    pub fn again(&self) -> Poll {
        Poll {
            pause: self.first,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pauses_double_up_to_the_interval() {
        let ms = Duration::from_millis;
        let p = Pacing {
            first: ms(1),
            interval: ms(4),
            timeout: Duration::from_secs(60),
        };
        let mut poll = p.start();
        let mut seen = Vec::new();
        for _ in 0..4 {
            seen.push(poll.pause);
            poll.pause().await;
        }
        assert_eq!(seen, [1, 2, 4, 4].map(ms));
        assert_eq!(poll.again().pause, ms(1));
        assert_eq!(Pacing::backoff(ms(5000), ms(0)).first, ms(500));
        assert_eq!(Pacing::backoff(ms(100), ms(0)).first, ms(100));
        let steady = Pacing::steady(ms(5000), Duration::from_secs(60));
        assert_eq!(steady.start().pause, ms(5000));
        assert!(!steady.start().expired());
        assert!(Pacing::steady(ms(1), Duration::ZERO).start().expired());
    }
}
