//! The recorder's counts, histograms and their lossless round trip.

use super::*;

fn sample(request: usize, ms: u64, error: Option<ErrorKind>) -> Sample {
    Sample {
        request,
        latency: Duration::from_millis(ms),
        service: Duration::from_millis(ms / 2),
        ttfb: Some(Duration::from_millis(ms / 4)),
        status: Some(200),
        error,
        stale_retry: false,
    }
}

#[test]
fn histograms_exist_only_for_requests_that_were_sent_and_travel_unchanged() {
    let mut total = Recorder::new(1000, 0, 1);
    let mut window = Recorder::new(1000, 0, 1);
    window.record(&sample(7, 12, None));
    total.merge(&window);
    let made = |r: &Recorder| {
        r.requests
            .iter()
            .filter(|s| !matches!(s.times, Times::None))
            .count()
    };
    assert_eq!(
        (made(&total), made(&window)),
        (1, 1),
        "merging an empty request makes nothing"
    );
    window.reset();
    assert_eq!(
        made(&window),
        1,
        "a reset keeps the sent request's histograms"
    );
    assert_eq!(window.requests[7].count(), 0);

    let json = serde_json::to_string(&total.requests[..8]).unwrap();
    let back: Vec<RequestStats> = serde_json::from_str(&json).unwrap();
    assert!(
        matches!(back[0].times, Times::None),
        "an unsent request stays without histograms"
    );
    assert_eq!(back[7].count(), 1);
    assert_eq!(back[7].latency().max(), total.requests[7].latency().max());
    assert_eq!(back[0].latency().len(), 0);
}

#[test]
fn merge_adds_counts_and_keeps_percentiles_exact_to_three_digits() {
    let mut a = Recorder::new(2, 1, 1);
    let mut b = Recorder::new(2, 1, 1);
    for ms in 1..=100 {
        a.record(&sample(0, ms, None));
        b.record(&sample(0, ms + 100, Some(ErrorKind::Status)));
    }
    b.record_check(0, false);
    b.dropped = 3;
    a.merge(&b);
    let r = &a.requests[0];
    assert_eq!(r.count(), 200);
    assert_eq!(r.errors_of(ErrorKind::Status), 100);
    assert_eq!(r.statuses, vec![(200, 200)]);
    let stats = LatencyStats::of(&r.latency());
    assert!((stats.p50_ms - 100.0).abs() < 0.2, "{stats:?}");
    assert!((stats.max_ms - 200.0).abs() < 0.2, "{stats:?}");
    assert_eq!(a.checks[0], (0, 1));
    assert_eq!(a.dropped, 3);
    a.reset();
    assert!(a.is_empty());
}

#[test]
fn empty_histogram_yields_zero_stats_not_nan() {
    let r = Recorder::new(1, 0, 1);
    let s = LatencyStats::of(&r.requests[0].latency());
    assert_eq!(s, LatencyStats::default());
}

#[test]
fn a_few_samples_stay_a_list_and_give_the_same_figures_as_histograms() {
    // Request 0 sees FEW - 1 samples (a list), request 1 the same values and more (the
    // FEW-th sample makes histograms); their figures over the shared values agree, and
    // merging lists into histograms and back is the same as recording once.
    let values: Vec<u64> = (1..FEW as u64).map(|i| i * 7 % 997 + 1).collect();
    let mut few = Recorder::new(1, 0, 1);
    let mut many = Recorder::new(1, 0, 1);
    for &ms in &values {
        few.record(&sample(0, ms, None));
        many.record(&sample(0, ms, None));
    }
    assert!(matches!(few.requests[0].times, Times::Few(_)));
    for (a, b) in [
        (few.requests[0].latency(), many.requests[0].latency()),
        (few.requests[0].service(), many.requests[0].service()),
        (few.requests[0].ttfb(), many.requests[0].ttfb()),
    ] {
        assert_eq!(LatencyStats::of(&a), LatencyStats::of(&b));
    }
    many.record(&sample(0, 5000, None));
    assert!(matches!(many.requests[0].times, Times::Many(_)));
    assert_eq!(many.requests[0].count(), FEW as u64);

    // Lists merged into histograms and histograms into lists.
    let mut a = many.clone();
    a.merge(&few);
    let mut b = few.clone();
    b.merge(&many);
    let mut once = Recorder::new(1, 0, 1);
    for &ms in values.iter().chain(&values).chain(&[5000]) {
        once.record(&sample(0, ms, None));
    }
    for r in [&a, &b] {
        assert_eq!(r.requests[0].count(), once.requests[0].count());
        assert_eq!(
            LatencyStats::of(&r.requests[0].latency()),
            LatencyStats::of(&once.requests[0].latency())
        );
        assert_eq!(r.merged_latency(), once.merged_latency());
    }

    // The /metrics buckets see the same values either way.
    let mut from_list = Vec::new();
    few.requests[0].each_latency(|us, n| from_list.push((us, n)));
    let mut from_histo = Vec::new();
    let h = few.requests[0].latency();
    for v in h.iter_recorded() {
        from_histo.push((v.value_iterated_to(), v.count_at_value()));
    }
    from_list.sort();
    let mut joined: Vec<(u64, u64)> = Vec::new();
    for (us, n) in from_list {
        match joined.last_mut() {
            Some((u, m)) if *u == us => *m += n,
            _ => joined.push((us, n)),
        }
    }
    assert_eq!(joined, from_histo);

    // A segment's summary carries the list as histograms, losslessly.
    let json = serde_json::to_string(&few.requests[0]).unwrap();
    let back: RequestStats = serde_json::from_str(&json).unwrap();
    assert_eq!(*back.latency(), *few.requests[0].latency());
    assert_eq!(*back.ttfb(), *few.requests[0].ttfb());
}
