//! The live sensor's control plane: one thread running a small tokio
//! runtime, never on the packet path. It turns SIGINT and SIGTERM into a
//! stop and SIGHUP into a reload (the new rules, indicator lists and
//! thresholds are loaded here, then handed to the run), serves the
//! Prometheus metrics endpoint, and applies retention to the output tree.

pub mod metrics;
pub mod privileges;
pub mod retention;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::Sender;
use tokio::signal::unix::{signal, SignalKind};

use crate::pipeline::live::Control;
use crate::pipeline::{Detection, Live};

/// Loads the detection settings again (SIGHUP); the error says why not.
pub type Reloader = Box<dyn Fn() -> Result<Option<Arc<Detection>>, String> + Send>;

/// What the control plane runs.
pub struct ControlConfig {
    /// Metrics endpoint address, when wanted.
    pub metrics: Option<SocketAddr>,
    /// Retention of the output tree, when set.
    pub retention: Option<retention::Retention>,
    /// How the detection settings are loaded again.
    pub reload: Reloader,
    /// Print what happens on stderr.
    pub verbose: bool,
}

/// Starts the control plane: binds the metrics address and installs the
/// signal handlers before returning (so a bad address is an error at
/// start, and no signal is missed), then runs in its own thread.
pub fn start(
    c: ControlConfig,
    live: Arc<Live>,
    tx: Sender<Control>,
) -> Result<thread::JoinHandle<()>, String> {
    let listener = match c.metrics {
        Some(a) => {
            let l =
                std::net::TcpListener::bind(a).map_err(|e| format!("metrics endpoint {a}: {e}"))?;
            l.set_nonblocking(true)
                .map_err(|e| format!("metrics endpoint {a}: {e}"))?;
            Some(l)
        }
        None => None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("control plane: {e}"))?;
    let (mut term, mut int, mut hup) = rt
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
                signal(SignalKind::hangup())?,
            ))
        })
        .map_err(|e| format!("signal handlers: {e}"))?;
    thread::Builder::new()
        .name("mekong-control".into())
        .spawn(move || {
            rt.block_on(async move {
                if let Some(l) = listener {
                    match tokio::net::TcpListener::from_std(l) {
                        Ok(l) => {
                            tokio::spawn(metrics::serve(l, Arc::clone(&live)));
                        }
                        Err(e) => eprintln!("mekong-sensor: metrics endpoint: {e}"),
                    }
                }
                if let Some(r) = c.retention.clone() {
                    let live = Arc::clone(&live);
                    tokio::spawn(async move {
                        let mut every = tokio::time::interval(Duration::from_secs(60));
                        loop {
                            every.tick().await;
                            let r = r.clone();
                            let n = tokio::task::spawn_blocking(move || r.apply())
                                .await
                                .unwrap_or(0);
                            live.retention_deleted.fetch_add(n as u64, Ordering::Relaxed);
                        }
                    });
                }
                let mut stopping = false;
                loop {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                        _ = hup.recv() => {
                            if stopping {
                                continue;
                            }
                            match (c.reload)() {
                                Ok(Some(d)) => {
                                    if c.verbose {
                                        eprintln!("mekong-sensor: SIGHUP: rules, indicators and thresholds reloaded");
                                    }
                                    let _ = tx.send(Control::Reload(d));
                                }
                                Ok(None) => {
                                    if c.verbose {
                                        eprintln!("mekong-sensor: SIGHUP: detection is off; nothing to reload");
                                    }
                                }
                                Err(e) => {
                                    live.reload_failures.fetch_add(1, Ordering::Relaxed);
                                    eprintln!("mekong-sensor: SIGHUP: reload refused, the running rules stay: {e}");
                                }
                            }
                            continue;
                        }
                    }
                    if !stopping {
                        stopping = true;
                        if c.verbose {
                            eprintln!("mekong-sensor: stopping: ending every flow and closing every file");
                        }
                        let _ = tx.send(Control::Stop);
                    }
                }
            })
        })
        .map_err(|e| format!("control plane: {e}"))
}
