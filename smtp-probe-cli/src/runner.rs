//! Runs every planned probe on one tokio runtime: the targets, and every `--mx` domain (its MX lookup, then all
//! of its hosts), at most [`Plan::parallel`] of them at once. Results come back in plan order.

use std::sync::Arc;

use smtp_probe_render::Item;
use smtp_probe_tokio::domain::DomainReport;
use smtp_probe_tokio::{MxReport, Report, probe};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::Failure;
use crate::plan::Plan;
use crate::status::Status;

/// Everything one run found: what every format renders.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// One report per target, in command-line order.
    pub targets: Vec<Report>,
    /// One report per `--mx` domain, in command-line order.
    pub mx: Vec<MxReport>,
    /// One report per `--domain`, in command-line order.
    pub domains: Vec<DomainReport>,
}

impl Results {
    /// Results of targets only.
    pub fn of_targets(targets: Vec<Report>) -> Results {
        Results { targets, mx: Vec::new(), domains: Vec::new() }
    }

    /// The worst status: of each target's verdict and each MX domain's aggregate verdict, a probe that could not
    /// run (`local_error`) counting as unknown (`Ok` for nothing).
    pub fn status(&self) -> Status {
        self.items().iter().map(|item| Status::of(item.verdict(), item.cause())).max().unwrap_or(Status::Ok)
    }

    /// What the renderers take: the targets, then the MX domains.
    pub fn items(&self) -> Vec<Item<'_>> {
        let targets = self.targets.iter().map(Item::from);
        targets.chain(self.mx.iter().map(Item::from)).chain(self.domains.iter().map(Item::from)).collect()
    }

    /// How many targets and MX domains there are.
    pub fn len(&self) -> usize {
        self.targets.len() + self.mx.len() + self.domains.len()
    }

    /// Whether nothing was probed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One unit of work: a target or an MX domain, by its index in the plan.
enum Job {
    Target(usize),
    Mx(usize),
    Domain(usize),
}

/// What a job found.
enum Found {
    Target(usize, Box<Report>),
    Mx(usize, MxReport),
    Domain(usize, Box<DomainReport>),
}

/// Probes every target and every MX domain, at most `plan.parallel` at once (an MX domain counts as one: its
/// hosts are probed together, as the adapter's MX mode does).
pub fn probe_all(plan: &Plan) -> Result<Results, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let resolver = (!plan.mx.is_empty()).then(|| crate::mx::resolver(plan.dns_server));
        let validating = if plan.domains.is_empty() {
            None
        } else {
            Some(plan.domain_settings.resolver().map_err(|e| Failure::new(format!("--domain: {e}")))?)
        };
        let mut checks: Vec<Option<DomainReport>> = vec![None; plan.domains.len()];
        let permits = Arc::new(Semaphore::new(plan.parallel.max(1)));
        let mut targets: Vec<Option<Report>> = vec![None; plan.probes.len()];
        let mut domains: Vec<Option<MxReport>> = vec![None; plan.mx.len()];
        let mut tasks = JoinSet::new();
        let jobs = (0..plan.probes.len())
            .map(Job::Target)
            .chain((0..plan.mx.len()).map(Job::Mx))
            .chain((0..plan.domains.len()).map(Job::Domain));
        for job in jobs {
            // Waiting for a permit here, not inside the task, bounds the tasks as well as the sockets.
            let permit =
                Arc::clone(&permits).acquire_owned().await.map_err(|_| Failure::new("the probe limiter was closed"))?;
            match job {
                Job::Target(index) => {
                    let config = plan.probes[index].clone();
                    tasks.spawn(async move {
                        let report = probe(&config).await;
                        drop(permit);
                        Found::Target(index, Box::new(report))
                    });
                }
                Job::Mx(index) => {
                    let check = plan.mx[index].clone();
                    let resolver = resolver.clone().expect("built when there are MX domains");
                    tasks.spawn(async move {
                        let report = crate::mx::probe_domain(resolver, check).await;
                        drop(permit);
                        Found::Mx(index, report)
                    });
                }
                Job::Domain(index) => {
                    let check = plan.domains[index].clone();
                    let resolver = validating.clone().expect("built when there are domains");
                    let settings = plan.domain_settings.clone();
                    tasks.spawn(async move {
                        let report = crate::domain::check(resolver, &settings, check).await;
                        drop(permit);
                        Found::Domain(index, Box::new(report))
                    });
                }
            }
            while let Some(joined) = tasks.try_join_next() {
                store(joined, &mut targets, &mut domains, &mut checks)?;
            }
        }
        while let Some(joined) = tasks.join_next().await {
            store(joined, &mut targets, &mut domains, &mut checks)?;
        }
        Ok(Results {
            targets: targets.into_iter().map(|r| r.expect("every target was probed")).collect(),
            mx: domains.into_iter().map(|r| r.expect("every MX domain was probed")).collect(),
            domains: checks.into_iter().map(|r| r.expect("every domain was checked")).collect(),
        })
    })
}

/// Puts a finished job's report in its place.
fn store(
    joined: Result<Found, tokio::task::JoinError>,
    targets: &mut [Option<Report>],
    domains: &mut [Option<MxReport>],
    checks: &mut [Option<DomainReport>],
) -> Result<(), Failure> {
    match joined.map_err(|e| Failure::new(format!("a probe task failed: {e}")))? {
        Found::Target(index, report) => targets[index] = Some(*report),
        Found::Mx(index, report) => domains[index] = Some(report),
        Found::Domain(index, report) => checks[index] = Some(*report),
    }
    Ok(())
}
