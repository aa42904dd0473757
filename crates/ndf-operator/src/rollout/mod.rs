//! The rollout state machine: pure (no I/O, no clock), so that its safety rules are
//! property-tested over random event sequences (`tests/rollout.rs`) and the reconciler only
//! observes, calls [`step`] and applies the [`Plan`].
//!
//! Blue-green: a new revision is brought up on the inactive colour (the preview), analysed once
//! all its replicas are ready, then the active Service switches to it; the old colour is
//! drained (its workers stop claiming jobs) and scaled to zero `scaleDownDelaySeconds` later.
//! Two colours only, so a preview never starts while the other colour is still draining.
//! Rolling: one colour updated in place by its Deployments.

mod machine;

pub use crate::crd::Color;
pub use machine::step;

/// Both colours, blue first.
pub const COLORS: [Color; 2] = [Color::Blue, Color::Green];

/// `spec.rollout.strategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Preview colour, analysis, switch, drain.
    BlueGreen,
    /// One colour updated in place.
    Rolling,
}

/// The analysis schedule (what is measured is the reconciler's business).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalysisPolicy {
    /// Measurements taken.
    pub count: u32,
    /// Failed measurements tolerated; one more aborts the rollout.
    pub failure_limit: u32,
    /// Seconds between measurements (at least one); the first comes one interval after the
    /// preview is ready.
    pub interval_secs: u64,
}

/// `spec.rollout`, reduced to what the machine needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Blue-green or rolling.
    pub strategy: Strategy,
    /// Switch as soon as the analysis passed, or wait for the promote annotation.
    pub auto_promote: bool,
    /// How long a drained colour keeps running before it is scaled to zero.
    pub scale_down_delay_secs: u64,
    /// `None`: promote as soon as the preview is ready.
    pub analysis: Option<AnalysisPolicy>,
    /// How long a preview may take to become fully ready before the rollout is aborted.
    pub progress_deadline_secs: Option<u64>,
}

/// Ready pods of one Deployment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pods {
    /// Ready pods of any template (availability).
    pub ready: i32,
    /// Ready pods of the Deployment's current template, counted only once the Deployment
    /// controller has seen that template and no pod of an older one is left.
    pub updated_ready: i32,
}

/// What the cluster shows of one colour.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColorObservation {
    /// The revision of the colour's pod template (`None`: the colour's Deployments don't exist).
    pub revision: Option<String>,
    /// The API Deployment.
    pub api: Pods,
    /// The worker Deployment (zero pods when the storage has no separate workers).
    pub workers: Pods,
    /// Pods of both Deployments that are not terminating, ready or not.
    pub pods: i32,
}

/// What the cluster shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    /// The blue Deployments.
    pub blue: ColorObservation,
    /// The green Deployments.
    pub green: ColorObservation,
    /// The colour the active Service selects today (used only when the status was lost).
    pub service_selects: Option<Color>,
}

impl Observation {
    /// One colour's observation.
    #[must_use]
    pub fn color(&self, color: Color) -> &ColorObservation {
        match color {
            Color::Blue => &self.blue,
            Color::Green => &self.green,
        }
    }
}

/// Replicas a colour must have ready, at its revision, before it takes traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Want {
    /// API pods (at least one is always required).
    pub api: i32,
    /// Worker pods.
    pub workers: i32,
}

/// One analysis measurement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Measurement {
    /// Within the threshold.
    Pass,
    /// Outside it, or could not be measured (the reason goes into events and the status).
    Fail(String),
}

/// Everything one step depends on.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The revision the spec asks for (hash of the pod-affecting spec).
    pub desired: &'a str,
    /// `spec.rollout`.
    pub policy: &'a Policy,
    /// Replicas the colour at `desired` needs ready.
    pub want: Want,
    /// The cluster.
    pub observed: &'a Observation,
    /// A measurement taken because [`analysis_due`] said so; ignored otherwise.
    pub measurement: Option<&'a Measurement>,
    /// The value of the promote annotation (`ndf.dev/promote: <revision>`), if any.
    pub promote: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
}

/// A colour at a revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColorRevision {
    /// The colour.
    pub color: Color,
    /// Its pod template's revision.
    pub revision: String,
}

/// Where a preview stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreviewStage {
    /// Waiting until every replica is ready.
    Starting,
    /// Measuring.
    Analyzing,
    /// The analysis passed: waiting for the promote annotation.
    AwaitingPromotion,
}

/// The colour being brought up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewState {
    /// The colour (never the active one).
    pub color: Color,
    /// The revision it is brought up at.
    pub revision: String,
    /// Its stage.
    pub stage: PreviewStage,
    /// When it (re)entered [`PreviewStage::Starting`] (Unix seconds; the progress deadline's
    /// start).
    pub started_at: i64,
    /// Passing measurements so far.
    pub passes: u32,
    /// Failing measurements so far.
    pub failures: u32,
    /// When the last measurement was taken, or the preview became ready (Unix seconds).
    pub last_measured_at: i64,
}

/// A colour whose workers stop claiming jobs, scaled to zero at `since + delay`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainState {
    /// The colour (never the active one).
    pub color: Color,
    /// Its revision.
    pub revision: String,
    /// When the drain began (Unix seconds).
    pub since: i64,
}

/// A revision whose analysis failed: not tried again until the spec changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbortState {
    /// The revision.
    pub revision: String,
    /// The last failing measurement's reason.
    pub reason: String,
}

/// The machine's memory, kept in the resource's status (the reconciler maps it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolloutState {
    /// The colour the active Service selects.
    pub active: Option<ColorRevision>,
    /// The colour being brought up (never the active one).
    pub preview: Option<PreviewState>,
    /// The colour being drained (never the active one, never with a preview).
    pub draining: Option<DrainState>,
    /// The last aborted revision.
    pub aborted: Option<AbortState>,
}

/// What a colour's Deployments are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Takes the traffic: full size (or the autoscaler's).
    Active,
    /// Brought up at the new revision: full size, no traffic from the active Service.
    Preview,
    /// Keeps its replicas, its pods are annotated `ndf.dev/drain: "true"`.
    Draining,
    /// Scaled to zero (or never created).
    Off,
}

/// The desired state of one colour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColorPlan {
    /// Its role.
    pub role: Role,
    /// The revision its template must have; `None` for [`Role::Off`] (the template stays).
    pub revision: Option<String>,
}

/// `Normal` or `Warning`, as Kubernetes events have it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Progress.
    Normal,
    /// Something went wrong.
    Warning,
}

/// An event to record on the resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventOut {
    /// Normal or Warning.
    pub kind: EventKind,
    /// CamelCase reason.
    pub reason: &'static str,
    /// Human text.
    pub note: String,
}

/// A status condition (the reconciler adds times and the generation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionOut {
    /// `Available`, `Progressing`, `Degraded` or `Promoted`.
    pub type_: &'static str,
    /// `"True"` or `"False"`.
    pub status: bool,
    /// CamelCase reason.
    pub reason: &'static str,
    /// Human text.
    pub message: String,
}

/// The rollout's phase, for the status and printer columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The active colour is not yet fully ready at its revision (first creation, rolling update).
    Starting,
    /// The preview colour is coming up.
    PreviewStarting,
    /// Measuring the preview.
    Analyzing,
    /// The analysis passed; waiting for `ndf.dev/promote: <revision>`.
    AwaitingPromotion,
    /// A new revision waits until the other colour has been scaled down.
    WaitingForDrain,
    /// Switched; the old colour drains until its scale-down.
    Draining,
    /// The desired revision's analysis failed; traffic stays on the active colour.
    Aborted,
    /// Nothing to do.
    Stable,
}

impl Phase {
    /// The status string.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "Starting",
            Phase::PreviewStarting => "PreviewStarting",
            Phase::Analyzing => "Analyzing",
            Phase::AwaitingPromotion => "AwaitingPromotion",
            Phase::WaitingForDrain => "WaitingForDrain",
            Phase::Draining => "Draining",
            Phase::Aborted => "Aborted",
            Phase::Stable => "Stable",
        }
    }
}

/// The desired world after one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The state to store.
    pub state: RolloutState,
    /// Blue's Deployments.
    pub blue: ColorPlan,
    /// Green's Deployments.
    pub green: ColorPlan,
    /// The colour the active Service selects.
    pub active_service: Color,
    /// The colour the preview Service selects (`None`: no preview; it may follow the active one).
    pub preview_service: Option<Color>,
    /// The phase.
    pub phase: Phase,
    /// Conditions Available, Progressing, Degraded, Promoted.
    pub conditions: Vec<ConditionOut>,
    /// Events for the transitions this step made (none when nothing changed).
    pub events: Vec<EventOut>,
    /// When to look again even if nothing in the cluster changes (next measurement, scale-down).
    pub requeue_after_secs: Option<u64>,
}

impl Plan {
    /// One colour's plan.
    #[must_use]
    pub fn color(&self, color: Color) -> &ColorPlan {
        match color {
            Color::Blue => &self.blue,
            Color::Green => &self.green,
        }
    }
}

/// Whether `color` has all wanted replicas ready at `revision` (the only colour traffic may
/// switch to).
#[must_use]
pub fn fully_ready(observed: &Observation, color: Color, revision: &str, want: Want) -> bool {
    let o = observed.color(color);
    o.revision.as_deref() == Some(revision)
        && o.api.updated_ready >= want.api.max(1)
        && o.workers.updated_ready >= want.workers.max(0)
}

/// The preview colour and revision to measure now, if a measurement is due at `now`.
#[must_use]
pub fn analysis_due(state: &RolloutState, policy: &Policy, now: i64) -> Option<ColorRevision> {
    let analysis = policy.analysis?;
    let p = state.preview.as_ref()?;
    let due = p.stage == PreviewStage::Analyzing
        && now
            >= p.last_measured_at
                .saturating_add(secs(analysis.interval_secs).max(1));
    due.then(|| ColorRevision {
        color: p.color,
        revision: p.revision.clone(),
    })
}

fn secs(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX)
}
