//! Runs every planned probe concurrently on one tokio runtime and returns the reports in plan order.

use smtp_probe_tokio::{ProbeConfig, Report, Target, probe};
use tokio::task::JoinSet;

use crate::Failure;

/// Probes every target at once. Each report's `target` is set to `host:port`, so reports of the same host on
/// different ports stay apart.
pub fn probe_all(probes: &[(Target, ProbeConfig)]) -> Result<Vec<Report>, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let mut tasks = JoinSet::new();
        for (index, (target, config)) in probes.iter().cloned().enumerate() {
            tasks.spawn(async move {
                let result = probe(&target, &config).await.map(|mut report| {
                    report.target = target.to_string();
                    report
                });
                (index, result)
            });
        }
        let mut reports: Vec<Option<Report>> = vec![None; probes.len()];
        while let Some(joined) = tasks.join_next().await {
            let (index, result) = joined.map_err(|e| Failure::new(format!("a probe task failed: {e}")))?;
            reports[index] = Some(result.map_err(|e| Failure::new(e.to_string()))?);
        }
        Ok(reports.into_iter().map(|r| r.expect("every task reported")).collect())
    })
}
