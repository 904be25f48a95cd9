//! Retry delays: exponential with jitter, capped.

use std::time::Duration;

use rand::Rng;

/// Delay before retry number `failures` (1 = first retry): `initial * 2^(failures-1)`,
/// capped at `max`, then jittered into `[d/2, d]` so that many sources failing together do
/// not retry together. A delay the upstream asked for (`Retry-After`, `ESTIMATED_WAIT`) is
/// honoured up to the cap.
pub(crate) fn retry_delay(
    initial_secs: f64,
    max_secs: f64,
    failures: u32,
    asked: Option<Duration>,
) -> Duration {
    let exp = failures.saturating_sub(1).min(60) as i32;
    let base = (initial_secs * 2f64.powi(exp)).min(max_secs).max(0.0);
    let jittered = if base > 0.0 {
        base * rand::thread_rng().gen_range(0.5..=1.0)
    } else {
        0.0
    };
    let asked = asked.map_or(0.0, |d| d.as_secs_f64().min(max_secs));
    Duration::from_secs_f64(jittered.max(asked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        for _ in 0..50 {
            let d1 = retry_delay(30.0, 900.0, 1, None).as_secs_f64();
            assert!((15.0..=30.0).contains(&d1));
            let d3 = retry_delay(30.0, 900.0, 3, None).as_secs_f64();
            assert!((60.0..=120.0).contains(&d3));
            let d20 = retry_delay(30.0, 900.0, 20, None).as_secs_f64();
            assert!((450.0..=900.0).contains(&d20));
        }
        let asked = retry_delay(0.01, 900.0, 1, Some(Duration::from_secs(5)));
        assert!(asked >= Duration::from_secs(5));
        let capped = retry_delay(0.01, 1.0, 1, Some(Duration::from_secs(5)));
        assert!(capped <= Duration::from_secs(1));
    }
}
