//! When to try again: exponential backoff or a fixed schedule, with jitter, honouring
//! `Retry-After` within a bound. The one retry policy of the project.

use std::time::Duration;

use http::header::HeaderValue;

use super::Verdict;

/// How waits between attempts grow.
#[derive(Debug, Clone, PartialEq)]
pub enum Backoff {
    /// `initial`, doubled each retry, never above `max`.
    Exponential { initial: Duration, max: Duration },
    /// One wait per retry; when they run out, so do the retries.
    Schedule(Vec<Duration>),
}

/// What a delivery does after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Delivered,
    /// Try again after this wait.
    RetryIn(Duration),
    /// A final refusal, or retries used up.
    GiveUp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub backoff: Backoff,
    /// Retries after the first attempt (ignored by a schedule, whose length decides).
    pub max_retries: u32,
    /// Each wait is moved at random by up to this fraction either way (0.2 = ±20%).
    pub jitter: f64,
    /// A `Retry-After` longer than this is cut to it.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// `retries` retries with exponential backoff from `initial`.
    pub fn exponential(retries: u32, initial: Duration) -> Self {
        Self {
            backoff: Backoff::Exponential {
                initial,
                max: Duration::from_secs(60),
            },
            max_retries: retries,
            jitter: 0.2,
            max_retry_after: Duration::from_secs(60),
        }
    }

    /// Retries at the waits of `schedule`.
    pub fn schedule(schedule: Vec<Duration>) -> Self {
        Self {
            max_retries: schedule.len() as u32,
            backoff: Backoff::Schedule(schedule),
            jitter: 0.2,
            max_retry_after: Duration::from_secs(3600),
        }
    }

    /// What follows an attempt judged `verdict`, when `retry` retries (0-based) came
    /// before it: the one place that turns a verdict into retry-or-give-up, for
    /// `hookrelay send` and the relay alike.
    pub fn decide(&self, verdict: Verdict, retry: u32, retry_after: Option<Duration>) -> Decision {
        match verdict {
            Verdict::Delivered => Decision::Delivered,
            Verdict::Gone | Verdict::Fail => Decision::GiveUp,
            Verdict::Retry => match self.delay(retry, retry_after) {
                Some(wait) => Decision::RetryIn(wait),
                None => Decision::GiveUp,
            },
        }
    }

    /// The wait before retry number `retry` (0-based), or `None` when retries are used up.
    /// A `Retry-After` from the endpoint wins when it asks for longer.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let base = match &self.backoff {
            Backoff::Exponential { initial, max } => {
                if retry >= self.max_retries {
                    return None;
                }
                initial.saturating_mul(2u32.saturating_pow(retry)).min(*max)
            }
            Backoff::Schedule(waits) => *waits.get(retry as usize)?,
        };
        let jittered = base.mul_f64(1.0 + self.jitter * (2.0 * rand::random::<f64>() - 1.0));
        Some(match retry_after {
            Some(asked) => jittered.max(asked.min(self.max_retry_after)),
            None => jittered,
        })
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let secs = (when.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(secs as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_doubles_within_jitter_and_stops_after_the_retries() {
        let policy = RetryPolicy::exponential(3, Duration::from_millis(100));
        for (retry, base) in [(0, 100.0), (1, 200.0), (2, 400.0)] {
            let ms = policy.delay(retry, None).unwrap().as_secs_f64() * 1000.0;
            assert!(
                ms >= base * 0.8 - 0.001 && ms <= base * 1.2 + 0.001,
                "retry {retry}: {ms}ms"
            );
        }
        assert_eq!(policy.delay(3, None), None);
    }

    #[test]
    fn schedule_runs_out_and_retry_after_asks_for_longer() {
        let policy = RetryPolicy::schedule(vec![Duration::from_secs(1)]);
        let wait = policy.delay(0, Some(Duration::from_secs(30))).unwrap();
        assert_eq!(wait, Duration::from_secs(30));
        assert_eq!(policy.delay(1, None), None);
    }

    #[test]
    fn only_a_retry_verdict_with_retries_left_waits() {
        let policy = RetryPolicy::schedule(vec![Duration::from_secs(2)]);
        assert_eq!(
            policy.decide(Verdict::Delivered, 0, None),
            Decision::Delivered
        );
        assert_eq!(policy.decide(Verdict::Fail, 0, None), Decision::GiveUp);
        assert_eq!(policy.decide(Verdict::Gone, 0, None), Decision::GiveUp);
        assert_eq!(
            policy.decide(Verdict::Retry, 0, Some(Duration::from_secs(9))),
            Decision::RetryIn(Duration::from_secs(9))
        );
        assert_eq!(policy.decide(Verdict::Retry, 1, None), Decision::GiveUp);
    }

    #[test]
    fn retry_after_is_capped() {
        let policy = RetryPolicy::exponential(1, Duration::from_millis(10));
        let wait = policy.delay(0, Some(Duration::from_secs(86_400))).unwrap();
        assert_eq!(wait, Duration::from_secs(60));
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        assert_eq!(
            parse_retry_after(&HeaderValue::from_static("7")),
            Some(Duration::from_secs(7))
        );
        let past = HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
    }
}
