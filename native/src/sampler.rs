//! System and process metrics from sysinfo.
//!
//! CPU percentages need two refreshes at least `sysinfo::MINIMUM_CPU_UPDATE_INTERVAL`
//! (200 ms) apart, so [`Sampler::new`] takes a first reading and the first [`Sampler::sample`]
//! should come one interval later. Rates (network, disk) are deltas of cumulative counters
//! over the real time between two samples.

use std::fmt;

use perfopt_core::report::metrics;
use sysinfo::{
    Disks, MemoryRefreshKind, Networks, Pid, ProcessRefreshKind, ProcessesToUpdate, System,
    UpdateKind,
};

/// Why sampling could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum SamplerError {
    /// sysinfo cannot read this system.
    Unsupported(String),
    /// No process has this pid.
    NoSuchProcess(u32),
}

impl fmt::Display for SamplerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SamplerError::Unsupported(e) => write!(f, "cannot read system metrics here: {e}"),
            SamplerError::NoSuchProcess(pid) => write!(
                f,
                "no process with pid {pid} (check the pid with `ps -p {pid}`, or start the \
                 command under perfopt with `-- CMD`)"
            ),
        }
    }
}

impl std::error::Error for SamplerError {}

/// One reading: metric name and value.
pub type Sample = Vec<(&'static str, f64)>;

/// Reads system metrics and, optionally, those of one process.
pub struct Sampler {
    system: System,
    networks: Networks,
    disks: Disks,
    pid: Option<Pid>,
    last: perfopt_core::Instant,
    last_net: (u64, u64),
    last_disk: (u64, u64),
    target_gone: bool,
}

impl fmt::Debug for Sampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sampler")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

fn process_kind() -> ProcessRefreshKind {
    ProcessRefreshKind::nothing()
        .with_cpu()
        .with_memory()
        .with_tasks()
        .with_cmd(UpdateKind::OnlyIfNotSet)
}

impl Sampler {
    /// A sampler of the system, and of process `pid` when given.
    ///
    /// # Errors
    /// [`SamplerError::NoSuchProcess`] if `pid` does not exist; [`SamplerError::Unsupported`]
    /// if sysinfo cannot read this system.
    pub fn new(pid: Option<u32>) -> Result<Sampler, SamplerError> {
        let unsupported = |e: sysinfo::Error| SamplerError::Unsupported(e.to_string());
        let mut system = System::new().map_err(unsupported)?;
        let networks = Networks::new_with_refreshed_list().map_err(unsupported)?;
        let disks = Disks::new_with_refreshed_list().map_err(unsupported)?;
        system.refresh_cpu_usage();
        system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let pid = pid.map(Pid::from_u32);
        if let Some(pid) = pid {
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                process_kind(),
            );
            if system.process(pid).is_none() {
                return Err(SamplerError::NoSuchProcess(pid.as_u32()));
            }
        }
        let mut s = Sampler {
            system,
            networks,
            disks,
            pid,
            last: crate::clock::now(),
            last_net: (0, 0),
            last_disk: (0, 0),
            target_gone: false,
        };
        s.last_net = s.net_totals();
        s.last_disk = s.disk_totals();
        Ok(s)
    }

    /// The command line of the target process, if readable.
    pub fn target_command(&self) -> Option<String> {
        let p = self.system.process(self.pid?)?;
        let parts: Vec<String> = p
            .cmd()
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// The memory limit that applies to the target: the cgroup limit where there is one,
    /// else total system memory (bytes; `None` if unknown).
    pub fn memory_limit(&self) -> Option<f64> {
        let cgroup = self.system.cgroup_limits().map(|c| c.total_memory);
        let total = self.system.total_memory();
        match (cgroup, total) {
            (Some(c), t) if c > 0 && (t == 0 || c < t) => Some(c as f64),
            (_, t) if t > 0 => Some(t as f64),
            _ => None,
        }
    }

    /// True once the target process has exited (or was never given).
    pub fn target_gone(&self) -> bool {
        self.pid.is_none() || self.target_gone
    }

    /// Reads every metric. Call about once per interval, not more often than every 200 ms.
    pub fn sample(&mut self) -> Sample {
        let now = crate::clock::now();
        let dt = now
            .saturating_duration_since(self.last)
            .as_secs_f64()
            .max(1e-3);
        self.last = now;
        self.system.refresh_cpu_usage();
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        self.networks.refresh(true);
        self.disks.refresh(true);

        let mut out: Sample = Vec::with_capacity(12);
        out.push((metrics::SYS_CPU, f64::from(self.system.global_cpu_usage())));
        let total = self.system.total_memory();
        if total > 0 {
            let used = total.saturating_sub(self.system.available_memory());
            out.push((metrics::SYS_MEM, used as f64 * 100.0 / total as f64));
            out.push((
                metrics::SYS_MEM_AVAILABLE,
                self.system.available_memory() as f64,
            ));
        }
        if let Ok(load) = System::load_average() {
            out.push((metrics::SYS_LOAD1, load.one));
        }
        let net = self.net_totals();
        out.push((
            metrics::NET_RX,
            net.0.saturating_sub(self.last_net.0) as f64 / dt,
        ));
        out.push((
            metrics::NET_TX,
            net.1.saturating_sub(self.last_net.1) as f64 / dt,
        ));
        self.last_net = net;
        let disk = self.disk_totals();
        out.push((
            metrics::DISK_READ,
            disk.0.saturating_sub(self.last_disk.0) as f64 / dt,
        ));
        out.push((
            metrics::DISK_WRITE,
            disk.1.saturating_sub(self.last_disk.1) as f64 / dt,
        ));
        self.last_disk = disk;

        if let Some(pid) = self.pid.filter(|_| !self.target_gone) {
            self.system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                process_kind(),
            );
            match self.system.process(pid) {
                Some(p) if is_alive(p) => {
                    out.push((metrics::PROC_CPU, f64::from(p.cpu_usage())));
                    out.push((metrics::PROC_RSS, p.memory() as f64));
                    out.push((metrics::PROC_VIRT, p.virtual_memory() as f64));
                    if let Some(tasks) = p.tasks() {
                        // The task list holds the threads other than the main one.
                        out.push((metrics::PROC_THREADS, tasks.len().max(1) as f64));
                    }
                }
                _ => self.target_gone = true,
            }
        }
        out
    }

    fn net_totals(&self) -> (u64, u64) {
        self.networks.iter().fold((0, 0), |(rx, tx), (_, d)| {
            (rx + d.total_received(), tx + d.total_transmitted())
        })
    }

    fn disk_totals(&self) -> (u64, u64) {
        self.disks.iter().fold((0, 0), |(r, w), d| {
            let u = d.usage();
            (r + u.total_read_bytes, w + u.total_written_bytes)
        })
    }
}

fn is_alive(p: &sysinfo::Process) -> bool {
    !matches!(
        p.status(),
        sysinfo::ProcessStatus::Zombie | sysinfo::ProcessStatus::Dead
    )
}

/// The host name, or `"unknown"`.
pub fn host_name() -> String {
    System::host_name().unwrap_or_else(|_| String::from("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process_for_real() {
        let me = std::process::id();
        let mut s = Sampler::new(Some(me)).unwrap();
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let sample = s.sample();
        let get = |name| sample.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let rss = get(metrics::PROC_RSS).expect("rss of a live process");
        assert!(rss > 1e6, "rss {rss}");
        let mem = get(metrics::SYS_MEM).unwrap();
        assert!(mem > 0.0 && mem <= 100.0, "mem {mem}");
        assert!(get(metrics::PROC_THREADS).unwrap() >= 1.0);
        assert!(!s.target_gone());
        assert!(s.target_command().is_some());
    }

    #[test]
    fn a_missing_pid_is_a_clear_error() {
        // Pids are capped well below this on Linux (pid_max <= 2^22).
        let err = Sampler::new(Some(0x7fff_fff0)).unwrap_err();
        assert!(matches!(err, SamplerError::NoSuchProcess(_)));
        assert!(err.to_string().contains("no process with pid"));
    }
}
