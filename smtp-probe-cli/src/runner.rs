//! Runs every planned probe concurrently on one tokio runtime: the targets, and every `--mx` domain (its MX
//! lookup, then all of its hosts). Results come back in plan order.

use smtp_probe_tokio::{MxHostReport, MxReport, ProbeConfig, Report, probe};
use tokio::task::JoinSet;

use crate::Failure;
use crate::plan::Plan;
use crate::status::Status;

/// Everything one run found: what every renderer renders.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// One report per target, in command-line order.
    pub targets: Vec<Report>,
    /// One report per `--mx` domain, in command-line order.
    pub mx: Vec<MxReport>,
}

impl Results {
    /// Results of targets only.
    pub fn of_targets(targets: Vec<Report>) -> Results {
        Results { targets, mx: Vec::new() }
    }

    /// The worst status: of each target's verdict and each MX domain's aggregate verdict (`Ok` for nothing).
    pub fn status(&self) -> Status {
        let mx = self.mx.iter().map(|m| Status::of(m.verdict, m.cause));
        Status::worst(&self.targets).max(mx.max().unwrap_or(Status::Ok))
    }

    /// How many targets and MX domains there are.
    pub fn len(&self) -> usize {
        self.targets.len() + self.mx.len()
    }

    /// Whether nothing was probed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every report with the MX domain and host it came from (`None` for targets): targets first, then each
    /// domain's hosts in preference order.
    pub fn reports(&self) -> impl Iterator<Item = (Option<(&MxReport, &MxHostReport)>, &Report)> {
        let targets = self.targets.iter().map(|r| (None, r));
        let mx = self
            .mx
            .iter()
            .flat_map(|m| m.hosts.iter().flat_map(move |h| h.reports.iter().map(move |r| (Some((m, h)), r))));
        targets.chain(mx)
    }
}

/// Probes every target and every MX domain at once.
pub fn probe_all(plan: &Plan) -> Result<Results, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let resolver = (!plan.mx.is_empty()).then(|| crate::mx::resolver(plan.dns_server));
        let mut domains = JoinSet::new();
        for (index, check) in plan.mx.iter().cloned().enumerate() {
            let resolver = resolver.clone().expect("built when there are MX domains");
            domains.spawn(async move { (index, crate::mx::probe_domain(resolver, check).await) });
        }
        let targets = probe_targets(&plan.probes);
        let mx = async {
            let mut reports: Vec<Option<MxReport>> = vec![None; plan.mx.len()];
            while let Some(joined) = domains.join_next().await {
                let (index, report) = joined.map_err(|e| Failure::new(format!("an MX probe task failed: {e}")))?;
                reports[index] = Some(report);
            }
            Ok::<_, Failure>(reports.into_iter().map(|r| r.expect("every task reported")).collect())
        };
        let (targets, mx) = tokio::join!(targets, mx);
        Ok(Results { targets: targets?, mx: mx? })
    })
}

/// Probes every target at once.
async fn probe_targets(probes: &[ProbeConfig]) -> Result<Vec<Report>, Failure> {
    let mut tasks = JoinSet::new();
    for (index, config) in probes.iter().cloned().enumerate() {
        tasks.spawn(async move { (index, probe(&config).await) });
    }
    let mut reports: Vec<Option<Report>> = vec![None; probes.len()];
    while let Some(joined) = tasks.join_next().await {
        let (index, report) = joined.map_err(|e| Failure::new(format!("a probe task failed: {e}")))?;
        reports[index] = Some(report);
    }
    Ok(reports.into_iter().map(|r| r.expect("every task reported")).collect())
}
