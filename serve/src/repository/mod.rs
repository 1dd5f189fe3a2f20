//! The models a server serves, and their versions, changed while it
//! serves: a [`Repository`] maps each model's name to the versions taking
//! calls. A front end picks a version per call ([`Repository::pick`]);
//! loading a new version (its files, the checks of start-up, its warmup)
//! happens beside the serving ones, and the swap is one write of the map:
//! calls that picked the old version finish on it, and it is closed when
//! the last lets it go ([`version::Version`]).
//!
//! Where versions come from: one model in the configuration file itself
//! (version 1, never reloaded), or a folder ([`disk`]) looked at every
//! `poll_s`, on SIGHUP, and when the repository API asks
//! ([`Repository::load`], [`Repository::unload`]). A version that fails
//! to load leaves the serving ones untouched and is reported
//! ([`Repository::index`], `bprwire_model_loads_total`, a log line).

pub mod disk;
pub mod policy;
pub mod version;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::config::{ConfigError, Limits, ModelSpec};
use crate::metrics::{Families, LoadLabels, ModelLabels, NameLabel};
use crate::models::Model;
use policy::RepositoryConfig;
use version::{Shared, Version};

/// Why a call found no version to run on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    /// No such model.
    Model(String),
    /// The model has no such version serving.
    Version(String),
    /// The model has no version serving (none loaded yet, all failed, or
    /// unloaded).
    Unavailable(String),
}

impl Missing {
    /// What the client is told.
    pub fn text(&self) -> &str {
        match self {
            Missing::Model(t) | Missing::Version(t) | Missing::Unavailable(t) => t,
        }
    }
}

/// A model's state as the repository API tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The model.
    pub model: String,
    /// The version ("" for the model as a whole).
    pub version: String,
    /// `READY` or `UNAVAILABLE` (Triton's words).
    pub state: &'static str,
    /// Why it is not ready ("" when it is).
    pub reason: String,
}

/// One model's versions.
#[derive(Debug, Default)]
struct Entry {
    serving: BTreeMap<u64, Arc<Version>>,
    /// Versions that failed to load, with their files' fingerprint then
    /// and why.
    failed: BTreeMap<u64, (u64, String)>,
    /// Unloaded through the API: polling leaves it alone until loaded
    /// again through the API.
    unloaded: bool,
    /// Why the model as a whole cannot be used now ("" when it can).
    reason: String,
    /// Whether a version of it ever served (a model new to the folder,
    /// none of whose versions has loaded yet, does not hold the server's
    /// readiness back).
    served: bool,
}

/// Where the versions come from.
#[derive(Debug)]
enum Source {
    /// The configuration file's one model, and its bound on a call.
    Single(std::time::Duration),
    /// A folder.
    Folder(RepositoryConfig),
}

/// The models and their serving versions.
#[derive(Debug)]
pub struct Repository {
    source: Source,
    shared: Shared,
    models: RwLock<BTreeMap<String, Entry>>,
    /// One load or unload at a time (calls never wait for it).
    changing: Mutex<()>,
    /// Every worker thread started, joined at shutdown.
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Every engine made and perhaps still running, closed at shutdown.
    engines: Mutex<Vec<std::sync::Weak<crate::engine::Engine>>>,
    closing: AtomicBool,
    thrift_model: String,
}

impl Repository {
    /// The repository of the configuration file's one model, `spec`,
    /// running `model` as version 1.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when the response cannot be made of the model's
    /// outputs.
    pub fn single(
        spec: ModelSpec,
        model: Box<dyn Model>,
        limits: Limits,
        families: Families,
    ) -> Result<Repository, ConfigError> {
        let name = spec.name.clone();
        let bound = crate::config::call_bound(&limits, &spec.batching);
        let repo = Repository::new(Source::Single(bound), limits, families, name.clone());
        let version = repo.start(spec, 1, model)?;
        repo.swap(&name, |e| {
            e.serving.insert(1, Arc::new(version));
            e.served = true;
        });
        Ok(repo)
    }

    /// The repository of a folder, every model's versions loaded as its
    /// policy says; start-up is refused if any fails.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`]: the folder cannot be read, a model's
    /// `model.toml` or a version is refused (naming the file and key, or
    /// the version), or no model can be the Thrift port's.
    pub fn open(
        config: RepositoryConfig,
        limits: Limits,
        families: Families,
        file: &std::path::Path,
    ) -> Result<Repository, ConfigError> {
        let error = |key: &str, reason: String| ConfigError {
            file: file.to_path_buf(),
            key: key.into(),
            reason,
        };
        let found = disk::models(&config.path).map_err(|e| error("repository.path", e))?;
        let thrift_model = match (&config.thrift_model, found.len()) {
            (Some(name), _) if found.contains_key(name) => name.clone(),
            (Some(name), _) => {
                return Err(error(
                    "repository.thrift_model",
                    format!(
                        "{name:?} is not a model of {} (a folder with a {})",
                        config.path.display(),
                        disk::MODEL_FILE
                    ),
                ))
            }
            (None, 1) => found.keys().next().expect("one").clone(),
            (None, 0) => {
                return Err(error(
                    "repository.path",
                    format!(
                        "{} holds no model (a folder with a {})",
                        config.path.display(),
                        disk::MODEL_FILE
                    ),
                ))
            }
            (None, n) => {
                return Err(error(
                    "repository.thrift_model",
                    format!(
                        "{} holds {n} models: name the one the Thrift port serves",
                        config.path.display()
                    ),
                ))
            }
        };
        let repo = Repository::new(Source::Folder(config), limits, families, thrift_model);
        for name in found.keys() {
            repo.sync(name, Trigger::Start)?;
        }
        Ok(repo)
    }

    fn new(source: Source, limits: Limits, families: Families, thrift_model: String) -> Repository {
        Repository {
            source,
            shared: Shared {
                limits,
                ledger: Arc::default(),
                families,
            },
            models: RwLock::default(),
            changing: Mutex::new(()),
            workers: Mutex::default(),
            engines: Mutex::default(),
            closing: AtomicBool::new(false),
            thrift_model,
        }
    }

    /// The server's limits.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// The metric families.
    pub fn families(&self) -> &Families {
        &self.shared.families
    }

    /// The model the Thrift port serves.
    pub fn thrift_model(&self) -> &str {
        &self.thrift_model
    }

    /// The longest a call may take on any model: its message's reading
    /// and its wait for a batch (`read_timeout_s + drop_after_ms`). With
    /// a folder, whose models may come later, the shutdown deadline
    /// (every model's own bound is checked to be under it).
    pub fn call_bound(&self) -> std::time::Duration {
        match &self.source {
            Source::Single(bound) => *bound,
            Source::Folder(_) => crate::config::seconds(self.shared.limits.shutdown_deadline_s),
        }
    }

    /// Whether the repository API may load and unload
    /// (`repository.control_api`).
    pub fn control_api(&self) -> bool {
        matches!(&self.source, Source::Folder(c) if c.control_api)
    }

    /// How often to look at the folder, if at all.
    pub fn poll(&self) -> Option<std::time::Duration> {
        match &self.source {
            Source::Folder(c) if c.poll_s > 0.0 => Some(std::time::Duration::from_secs_f64(c.poll_s)),
            _ => None,
        }
    }

    /// The version of `model` a call runs on: `version` if given, else
    /// the highest serving.
    ///
    /// # Errors
    ///
    /// [`Missing`]: no such model, no such version serving, or none.
    pub fn pick(&self, model: &str, version: Option<u64>) -> Result<Arc<Version>, Missing> {
        let models = self.models.read().unwrap_or_else(|p| p.into_inner());
        let Some(entry) = models.get(model) else {
            let names: Vec<&String> = models.keys().collect();
            return Err(Missing::Model(format!(
                "no model {model:?} (the models are {names:?})"
            )));
        };
        let found = match version {
            Some(v) => entry.serving.get(&v),
            None => entry.serving.values().next_back(),
        };
        if let Some(v) = found {
            return Ok(v.clone());
        }
        self.shared
            .families
            .unavailable
            .get_or_create(&NameLabel {
                model: model.to_string(),
            })
            .inc();
        Err(match version {
            Some(v) if !entry.serving.is_empty() => {
                let serving: Vec<&u64> = entry.serving.keys().collect();
                Missing::Version(format!(
                    "model {model:?} has no version {v} serving (serving: {serving:?})"
                ))
            }
            _ => Missing::Unavailable(format!(
                "model {model:?} has no version loaded{}",
                if entry.reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", entry.reason)
                }
            )),
        })
    }

    /// The models known, in name order.
    pub fn names(&self) -> Vec<String> {
        self.models
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// The server's readiness: the Thrift port's model has a version
    /// serving, and so has every model that ever served, but those
    /// unloaded through the API on purpose.
    pub fn ready(&self) -> bool {
        let models = self.models.read().unwrap_or_else(|p| p.into_inner());
        let up = |e: &Entry| e.unloaded || !e.serving.is_empty();
        models.get(&self.thrift_model).is_some_and(up) && models.values().all(|e| up(e) || !e.served)
    }

    /// Every model and version known: those serving `READY`, those that
    /// failed or are unloaded `UNAVAILABLE` with the reason.
    pub fn index(&self) -> Vec<Status> {
        let models = self.models.read().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (name, e) in models.iter() {
            let status = |version: String, reason: String| Status {
                model: name.clone(),
                version,
                state: if reason.is_empty() { "READY" } else { "UNAVAILABLE" },
                reason,
            };
            if e.serving.is_empty() {
                let reason = if e.reason.is_empty() {
                    "no version loaded".to_string()
                } else {
                    e.reason.clone()
                };
                out.push(status(String::new(), reason));
            }
            for v in e.serving.keys() {
                out.push(status(v.to_string(), String::new()));
            }
            for (v, (_, why)) in &e.failed {
                if !e.serving.contains_key(v) {
                    out.push(status(v.to_string(), format!("failed to load: {why}")));
                }
            }
        }
        out
    }

    /// Looks at the folder again, every model (polling, SIGHUP): new
    /// versions and models loaded, versions gone or past the policy
    /// retired. Failures are reported, not returned; the configuration
    /// file's one model is never reloaded.
    pub fn rescan(&self) {
        let Source::Folder(config) = &self.source else {
            tracing::info!("nothing to rescan: the model is the configuration file's own (serve a [repository] to roll in versions)");
            return;
        };
        let found = match disk::models(&config.path) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, "repository not read; serving on");
                return;
            }
        };
        let mut names: BTreeSet<String> = found.into_keys().collect();
        names.extend(self.names());
        for name in names {
            if let Err(e) = self.sync(&name, Trigger::Poll) {
                tracing::warn!(model = %name, error = %e, "model not brought up to date; its serving versions go on");
            }
        }
    }

    /// Loads `model` now (the repository API): clears an unload, retries
    /// versions that failed, and answers once its policy's versions are
    /// loaded or have failed.
    ///
    /// # Errors
    ///
    /// Why nothing serves: the model is not in the folder, its
    /// configuration or every version failed; or the server has no folder.
    pub fn load(&self, model: &str) -> Result<(), String> {
        if !policy::is_model_name(model) {
            return Err(format!("{model:?} is not a model name"));
        }
        if matches!(self.source, Source::Single(_)) {
            return Err(format!(
                "model {model:?} is the configuration file's own: loading and unloading need a [repository]"
            ));
        }
        self.sync(model, Trigger::Api).map_err(|e| e.to_string())?;
        let models = self.models.read().unwrap_or_else(|p| p.into_inner());
        match models.get(model) {
            Some(e) if !e.serving.is_empty() => Ok(()),
            Some(e) => Err(if e.reason.is_empty() {
                "no version loaded".into()
            } else {
                e.reason.clone()
            }),
            None => Err(format!("no model {model:?} in the repository")),
        }
    }

    /// Unloads every version of `model` (the repository API); polling
    /// leaves it unloaded until [`load`](Self::load).
    ///
    /// # Errors
    ///
    /// No such model, or the server has no folder.
    pub fn unload(&self, model: &str) -> Result<(), String> {
        if matches!(self.source, Source::Single(_)) {
            return Err(format!(
                "model {model:?} is the configuration file's own: loading and unloading need a [repository]"
            ));
        }
        let _one = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        let old = {
            let mut models = self.models.write().unwrap_or_else(|p| p.into_inner());
            let Some(e) = models.get_mut(model) else {
                return Err(format!("no model {model:?} in the repository"));
            };
            e.unloaded = true;
            e.reason = "unloaded".into();
            std::mem::take(&mut e.serving)
        };
        // Each version closes once the calls holding it are done.
        drop(old);
        tracing::info!(model, "unloaded");
        Ok(())
    }

    /// Shutdown: no more loads (one in progress stops at its next step);
    /// every engine refuses new requests and its workers stop once its
    /// queue is empty. Does not wait for a load in progress.
    pub fn close(&self) {
        // Under the engines' lock: an engine started after this sees
        // `closing` first (`start`) and is refused; a load or warmup in
        // progress sees it and stops.
        let engines = self.engines.lock().unwrap_or_else(|p| p.into_inner());
        self.closing.store(true, Ordering::Release);
        for engine in engines.iter() {
            if let Some(engine) = engine.upgrade() {
                engine.close();
            }
        }
    }

    /// Waits for every worker thread to stop (after [`close`](Self::close)).
    pub fn join(&self) {
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        for w in workers {
            let _ = w.join();
        }
    }

    /// Calls admitted whose replies are not yet written, all models.
    pub fn owed(&self) -> usize {
        self.shared.ledger.owed()
    }

    /// Brings `name` up to date with the folder: its policy's versions
    /// loaded (those not yet, and not failed with the same files unless
    /// the API asks), the rest retired, in one swap.
    fn sync(&self, name: &str, trigger: Trigger) -> Result<(), ConfigError> {
        let Source::Folder(config) = &self.source else {
            return Ok(());
        };
        let _one = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        if self.closing.load(Ordering::Acquire) {
            return Ok(());
        }
        let dir = config.path.join(name);
        let (serving, failed, unloaded) = {
            let models = self.models.read().unwrap_or_else(|p| p.into_inner());
            match models.get(name) {
                Some(e) => (e.serving.clone(), e.failed.clone(), e.unloaded),
                None => Default::default(),
            }
        };
        let gone = |reason: String| ConfigError {
            file: dir.clone(),
            key: String::new(),
            reason,
        };
        // Gone only when the file is not there: any other error (a
        // failed stat, a file that is not regular) leaves the serving
        // versions serving, and is reported when the file is read.
        let missing = std::fs::metadata(dir.join(disk::MODEL_FILE))
            .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
        if missing {
            // The model left the folder: so do its versions.
            let old = self
                .models
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(name);
            if old.is_some_and(|o| !o.serving.is_empty()) {
                tracing::info!(model = name, "model gone from the repository: unloaded");
            }
            return match trigger {
                Trigger::Poll => Ok(()),
                _ => Err(gone(format!("not a model: no {}", disk::MODEL_FILE))),
            };
        }
        if unloaded && trigger != Trigger::Api {
            return Ok(());
        }
        let on_disk = disk::versions(&dir).map_err(gone)?;
        let policy = match disk::policy(&dir) {
            Ok(p) => p,
            Err(e) => {
                self.swap(name, |entry| entry.reason = e.to_string());
                return Err(e);
            }
        };
        let retry = trigger == Trigger::Api;
        let mut candidates: BTreeSet<u64> = on_disk
            .iter()
            .copied()
            .filter(|v| {
                retry
                    || failed
                        .get(v)
                        .is_none_or(|(print, _)| *print != disk::fingerprint(&dir, *v))
            })
            .collect();
        // Load what the policy wants; a version that fails leaves the
        // candidates, and the policy picks again (the next lower one).
        let mut loaded = BTreeMap::new();
        let mut failures = BTreeMap::new();
        loop {
            let missing: Vec<u64> = policy
                .select(&candidates)
                .into_iter()
                .filter(|v| !serving.contains_key(v) && !loaded.contains_key(v))
                .collect();
            if missing.is_empty() {
                break;
            }
            for v in missing {
                if self.closing.load(Ordering::Acquire) {
                    return Ok(());
                }
                let print = disk::fingerprint(&dir, v);
                match self.load_version(&dir, name, v) {
                    Ok(version) => {
                        self.count_load(name, "loaded");
                        tracing::info!(model = name, version = v, "version loaded");
                        loaded.insert(v, Arc::new(version));
                    }
                    Err(e) => {
                        self.count_load(name, "failed");
                        tracing::warn!(model = name, version = v, error = %e, "version failed to load; the serving versions go on");
                        if trigger == Trigger::Start {
                            return Err(e);
                        }
                        candidates.remove(&v);
                        failures.insert(v, (print, e.to_string()));
                    }
                }
            }
        }
        // The policy over what serves now; if that is nothing while
        // versions serve (every candidate failed), they go on serving.
        let mut keep = policy.select(&candidates);
        if keep.is_empty() && !failures.is_empty() {
            keep = serving.keys().copied().collect();
        }
        let can: BTreeMap<u64, Arc<Version>> = serving
            .iter()
            .map(|(v, s)| (*v, s.clone()))
            .chain(loaded)
            .filter(|(v, _)| keep.contains(v))
            .collect();
        let retired: Vec<u64> = serving.keys().filter(|v| !keep.contains(v)).copied().collect();
        let labels = |v: &u64| ModelLabels {
            model: name.to_string(),
            version: v.to_string(),
        };
        for v in can.keys() {
            self.shared.families.serving.get_or_create(&labels(v)).set(1);
        }
        let mut old = BTreeMap::new();
        self.swap(name, |e| {
            old = std::mem::replace(&mut e.serving, can);
            if retry {
                e.failed.clear();
            }
            e.failed
                .retain(|v, _| on_disk.contains(v) && !e.serving.contains_key(v));
            e.failed.extend(failures);
            e.unloaded = false;
            e.served |= !e.serving.is_empty();
            e.reason = match (e.serving.is_empty(), e.failed.iter().next_back()) {
                (false, _) => String::new(),
                (true, Some((v, (_, why)))) => format!("version {v} failed to load: {why}"),
                (true, None) if on_disk.is_empty() => "no version folder".into(),
                (true, None) => "no version the policy serves".into(),
            };
        });
        for v in &retired {
            tracing::info!(
                model = name,
                version = v,
                "version retired: it finishes what it holds"
            );
        }
        // The retired versions close once the calls holding them are done.
        drop(old);
        Ok(())
    }

    /// Loads, checks and warms up version `v` of model `name` in `dir`.
    fn load_version(&self, dir: &std::path::Path, name: &str, v: u64) -> Result<Version, ConfigError> {
        let (_, spec) = disk::model_file(dir, name, v, &self.shared.limits)?;
        let folder = dir.join(v.to_string());
        if !folder.is_dir() {
            return Err(spec.error("", format!("version folder {} is gone", folder.display())));
        }
        let model = spec
            .model
            .load(&spec.layout, spec.batching.workers)
            .map_err(|e| spec.error("model", format!("version {v}: {e}")))?;
        let file = spec.file.clone();
        let version = self.start(spec, v, model)?;
        version
            .warm_up(&folder, &self.closing)
            .map_err(|reason| ConfigError {
                file,
                key: String::new(),
                reason: format!("version {v}: warmup: {reason}"),
            })?;
        Ok(version)
    }

    /// Starts version `number` of `spec`'s model, its engine listed for
    /// shutdown.
    fn start(&self, spec: ModelSpec, number: u64, model: Box<dyn Model>) -> Result<Version, ConfigError> {
        let mut engines = self.engines.lock().unwrap_or_else(|p| p.into_inner());
        if self.closing.load(Ordering::Acquire) {
            return Err(spec.error("", format!("version {number}: not started: shutting down")));
        }
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        workers.retain(|w| !w.is_finished());
        let version = Version::start(spec, number, model, &self.shared, &mut workers)?;
        engines.retain(|e| e.strong_count() > 0);
        engines.push(Arc::downgrade(version.engine()));
        Ok(version)
    }

    fn count_load(&self, model: &str, outcome: &'static str) {
        self.shared
            .families
            .loads
            .get_or_create(&LoadLabels {
                model: model.to_string(),
                outcome,
            })
            .inc();
    }

    /// Changes `name`'s entry under the write lock (made if new).
    fn swap(&self, name: &str, change: impl FnOnce(&mut Entry)) {
        let mut models = self.models.write().unwrap_or_else(|p| p.into_inner());
        change(models.entry(name.to_string()).or_default());
    }
}

/// What asked for a model to be brought up to date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    /// Start-up: any failure refuses the start.
    Start,
    /// Polling or SIGHUP: failures reported, failed versions not retried
    /// until their files change, unloaded models left alone.
    Poll,
    /// The repository API's load: everything retried.
    Api,
}
