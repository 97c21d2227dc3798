//! A batch span processor whose hot path is a mutex-guarded push.
//!
//! The SDK's async-runtime `BatchSpanProcessor` sends every ended span over a
//! channel to its task, which wakes that task once per span: with ~4 spans a
//! request, the wakes (futex, scheduler) cost the request threads more than
//! building the spans did (bench/README.md, "Exporting telemetry"). Here an
//! ended span is pushed onto a queue and the export task is woken only when
//! a full batch is waiting; otherwise it drains the queue every
//! `OTEL_BSP_SCHEDULE_DELAY`. Encoding and HTTP stay on that task.
//!
//! The `OTEL_BSP_*` variables keep their meaning and defaults (the SDK's):
//! `SCHEDULE_DELAY` (ms, 5000), `MAX_QUEUE_SIZE` (2048; spans beyond it are
//! dropped and counted), `MAX_EXPORT_BATCH_SIZE` (512), `EXPORT_TIMEOUT`
//! (ms, 30000).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use std::sync::mpsc as reply;

use tokio::sync::{Notify, mpsc};

/// The `OTEL_BSP_*` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchSettings {
    pub schedule_delay: Duration,
    pub max_queue_size: usize,
    pub max_export_batch_size: usize,
    pub export_timeout: Duration,
}

impl BatchSettings {
    /// The SDK's defaults, overridden by the `OTEL_BSP_*` environment
    /// (ignoring values that do not parse, as the SDK does).
    pub fn from_env() -> Self {
        fn var<T: std::str::FromStr>(name: &str) -> Option<T> {
            std::env::var(name).ok()?.trim().parse().ok()
        }
        let max_queue_size = var("OTEL_BSP_MAX_QUEUE_SIZE")
            .filter(|&n| n > 0)
            .unwrap_or(2048);
        BatchSettings {
            schedule_delay: Duration::from_millis(var("OTEL_BSP_SCHEDULE_DELAY").unwrap_or(5_000)),
            max_queue_size,
            max_export_batch_size: var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE")
                .filter(|&n| n > 0)
                .unwrap_or(512)
                .min(max_queue_size),
            export_timeout: Duration::from_millis(var("OTEL_BSP_EXPORT_TIMEOUT").unwrap_or(30_000)),
        }
    }
}

/// What the processor asks its export task besides "export what is queued".
enum Control {
    Flush(reply::Sender<OTelSdkResult>),
    Shutdown(reply::Sender<OTelSdkResult>),
}

struct Shared {
    queue: Mutex<Vec<SpanData>>,
    /// Set when a full batch is waiting and the task has been woken for it,
    /// so a burst wakes it once.
    woken: AtomicBool,
    wake: Notify,
    dropped: AtomicUsize,
    settings: BatchSettings,
}

/// Batches ended, sampled spans and exports them from a Tokio task.
pub struct BatchSpans {
    shared: Arc<Shared>,
    control: mpsc::UnboundedSender<Control>,
    shut_down: AtomicBool,
}

impl std::fmt::Debug for BatchSpans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchSpans")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

impl BatchSpans {
    /// Spawns the export task on the current Tokio runtime. `exporter`
    /// already carries its resource.
    pub fn start<E: SpanExporter + 'static>(exporter: E, settings: BatchSettings) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Vec::with_capacity(settings.max_export_batch_size)),
            woken: AtomicBool::new(false),
            wake: Notify::new(),
            dropped: AtomicUsize::new(0),
            settings,
        });
        let (control, control_rx) = mpsc::unbounded_channel();
        tokio::spawn(export_task(exporter, shared.clone(), control_rx));
        BatchSpans {
            shared,
            control,
            shut_down: AtomicBool::new(false),
        }
    }

    /// Asks the task for `what` and waits (blocking this thread) for its answer.
    fn ask(
        &self,
        what: impl FnOnce(reply::Sender<OTelSdkResult>) -> Control,
        timeout: Duration,
    ) -> OTelSdkResult {
        let (tx, rx) = reply::channel();
        self.control
            .send(what(tx))
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        // The runtime's other threads answer while this one waits (the SDK's
        // processor blocks the same way).
        match rx.recv_timeout(timeout) {
            Ok(result) => result,
            Err(reply::RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(timeout)),
            Err(reply::RecvTimeoutError::Disconnected) => Err(OTelSdkError::InternalFailure(
                "the span export task stopped".into(),
            )),
        }
    }
}

impl SpanProcessor for BatchSpans {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() || self.shut_down.load(Ordering::Relaxed) {
            return;
        }
        let settings = &self.shared.settings;
        let queued = {
            let mut queue = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.len() >= settings.max_queue_size {
                drop(queue);
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            queue.push(span);
            queue.len()
        };
        if queued >= settings.max_export_batch_size
            && !self.shared.woken.swap(true, Ordering::AcqRel)
        {
            self.shared.wake.notify_one();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        let timeout = self.shared.settings.export_timeout;
        self.ask(Control::Flush, timeout)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        self.ask(Control::Shutdown, timeout)
    }
}

/// Exports every `schedule_delay`, when woken for a full batch, and on
/// flush/shutdown, in batches of at most `max_export_batch_size`.
async fn export_task<E: SpanExporter>(
    mut exporter: E,
    shared: Arc<Shared>,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    let mut tick =
        tokio::time::interval(shared.settings.schedule_delay.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        let asked = tokio::select! {
            _ = tick.tick() => None,
            _ = shared.wake.notified() => None,
            message = control.recv() => Some(message),
        };
        shared.woken.store(false, Ordering::Release);
        let result = export_queued(&exporter, &shared).await;
        match asked {
            None => {}
            Some(Some(Control::Flush(reply))) => {
                let _ = reply.send(result);
            }
            Some(Some(Control::Shutdown(reply))) => {
                let dropped = shared.dropped.load(Ordering::Relaxed);
                if dropped > 0 {
                    eprintln!(
                        "telemetry: {dropped} spans dropped (more than OTEL_BSP_MAX_QUEUE_SIZE={} waiting)",
                        shared.settings.max_queue_size
                    );
                }
                let _ = reply.send(result.and(exporter.shutdown()));
                return;
            }
            // Every processor handle is gone: nothing more will be queued.
            Some(None) => {
                let _ = exporter.shutdown();
                return;
            }
        }
    }
}

/// Exports everything queued now, a batch at a time; the first error is
/// returned after trying every batch.
async fn export_queued<E: SpanExporter>(exporter: &E, shared: &Shared) -> OTelSdkResult {
    let mut result = Ok(());
    loop {
        let batch: Vec<SpanData> = {
            let mut queue = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            if queue.is_empty() {
                return result;
            }
            let take = queue.len().min(shared.settings.max_export_batch_size);
            queue.drain(..take).collect()
        };
        let exported = match tokio::time::timeout(
            shared.settings.export_timeout,
            exporter.export(batch),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(OTelSdkError::Timeout(shared.settings.export_timeout)),
        };
        if result.is_ok() {
            result = exported;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_size_never_exceeds_queue_size() {
        // SAFETY: this test alone in the crate touches these variables.
        unsafe {
            std::env::set_var("OTEL_BSP_MAX_QUEUE_SIZE", "100");
            std::env::set_var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512");
            std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "not a number");
        }
        let s = BatchSettings::from_env();
        assert_eq!(s.max_queue_size, 100);
        assert_eq!(s.max_export_batch_size, 100);
        assert_eq!(s.schedule_delay, Duration::from_millis(5_000));
    }
}
