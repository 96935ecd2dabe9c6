//! The progress sink, driven from several threads at once in every mode.

use std::sync::Arc;

use strata::{Phase, Progress, ProgressEvent};
use strata_cli::progress::{CliProgress, DefaultWording, ProgressMode};

#[test]
fn concurrent_events_in_every_mode() {
    for mode in [ProgressMode::Quiet, ProgressMode::Lines, ProgressMode::Bar] {
        let sink = Arc::new(CliProgress::new(mode, DefaultWording));
        sink.event(&ProgressEvent::Started {
            phase: Phase::Verifying,
            total: Some(4 * 1000),
        });
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let sink = Arc::clone(&sink);
                std::thread::spawn(move || {
                    for i in 0..1000u64 {
                        sink.event(&ProgressEvent::Advanced { done: t * 1000 + i });
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("no panic");
        }
        sink.event(&ProgressEvent::Finished);
    }
}
