//! The process metrics every Prometheus exporter has, read from `/proc`
//! at each scrape: `process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`, `process_max_fds`,
//! `process_start_time_seconds` (so an operator sees a flood of
//! connections, a queue of large calls or a busy loop coming). A value
//! that cannot be read is left out of that scrape, never invented.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The collector (registered without the `bprwire` prefix).
#[derive(Debug)]
pub struct Process {
    ticks: f64,
    page: f64,
}

impl Process {
    /// Reads the clock tick and the page size once.
    pub fn new() -> Process {
        Process {
            ticks: sysconf(libc::_SC_CLK_TCK).unwrap_or(100.0),
            page: sysconf(libc::_SC_PAGESIZE).unwrap_or(4096.0),
        }
    }
}

impl Default for Process {
    fn default() -> Self {
        Process::new()
    }
}

/// The figures of one scrape.
#[derive(Debug, Default, PartialEq)]
pub struct Figures {
    /// User and system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident memory, bytes.
    pub resident_bytes: Option<f64>,
    /// Open file descriptors.
    pub open_fds: Option<f64>,
    /// The soft limit on them.
    pub max_fds: Option<f64>,
    /// When the process started, seconds since the Unix epoch.
    pub start_time: Option<f64>,
}

impl Process {
    /// The figures now.
    pub fn read(&self) -> Figures {
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        // The fields after the command name, which may hold spaces and
        // parentheses: split after its last ')'.
        let fields: Vec<&str> = stat
            .as_deref()
            .and_then(|s| s.rsplit_once(')'))
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // proc(5): utime is field 14, stime 15, starttime 22, rss 24;
        // `fields[0]` is field 3.
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        let cpu_seconds = field(14).zip(field(15)).map(|(u, s)| (u + s) / self.ticks);
        let resident_bytes = field(24).map(|pages| pages * self.page);
        let start_time = field(22).zip(boot_time()).map(|(t, boot)| boot + t / self.ticks);
        let open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as f64);
        Figures {
            cpu_seconds,
            resident_bytes,
            open_fds,
            max_fds: max_open_files(),
            start_time,
        }
    }
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let f = self.read();
        if let Some(v) = f.cpu_seconds {
            let c = ConstCounter::new(v);
            c.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                c.metric_type(),
            )?)?;
        }
        for (name, help, value) in [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                f.resident_bytes,
            ),
            ("process_open_fds", "Number of open file descriptors.", f.open_fds),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                f.max_fds,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                f.start_time,
            ),
        ] {
            if let Some(v) = value {
                let g = ConstGauge::new(v);
                g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
            }
        }
        Ok(())
    }
}

/// The soft limit on open files (`Max open files` of `/proc/self/limits`).
pub fn max_open_files() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    if soft == "unlimited" {
        return Some(f64::INFINITY);
    }
    soft.parse().ok()
}

/// The boot time, seconds since the Unix epoch (`btime` of `/proc/stat`).
fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

fn sysconf(name: libc::c_int) -> Option<f64> {
    // SAFETY: sysconf reads a system constant; it takes no pointer and
    // has no precondition (an unknown name returns -1).
    let v = unsafe { libc::sysconf(name) };
    (v > 0).then_some(v as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figures_are_this_processs_own() {
        let f = Process::new().read();
        let cpu = f.cpu_seconds.expect("cpu");
        assert!((0.0..1e6).contains(&cpu));
        assert!(f.resident_bytes.expect("rss") > 1e6);
        let open = f.open_fds.expect("fds");
        let _keep = std::fs::File::open("/proc/self/stat").unwrap();
        assert!(Process::new().read().open_fds.unwrap() > open - 1.0);
        assert!(f.max_fds.expect("limit") >= open);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = f.start_time.expect("start");
        assert!(
            start <= now + 1.0 && start > now - 86_400.0 * 365.0,
            "{start} vs {now}"
        );
    }
}
