//! [`step`]: one transition of the machine, and the status, conditions and events it implies.

use super::{
    AbortState, ColorPlan, ColorRevision, ConditionOut, DrainState, EventKind, EventOut, Input,
    Measurement, Phase, Plan, PreviewStage, PreviewState, Role, RolloutState, Strategy,
    analysis_due, fully_ready, secs,
};
use crate::crd::Color;

/// One step: the previous state and what is observed now in, the desired world out.
/// Idempotent: the same input again at the same `now` changes nothing and emits no event.
#[must_use]
pub fn step(prev: &RolloutState, input: &Input<'_>) -> Plan {
    let mut m = Machine {
        s: prev.clone(),
        input,
        events: Vec::new(),
        scaled_down: false,
    };
    // Before adopting: a drain begun by the adoption lasts at least until the next step.
    m.finish_drain();
    let active = m.adopt_or_create();
    match input.policy.strategy {
        Strategy::Rolling => m.rolling(&active),
        Strategy::BlueGreen => m.blue_green(&active),
    }
    m.into_plan()
}

struct Machine<'a> {
    s: RolloutState,
    input: &'a Input<'a>,
    events: Vec<EventOut>,
    /// A colour went from draining to off in this step (it needs a step of its own).
    scaled_down: bool,
}

impl Machine<'_> {
    fn event(&mut self, kind: EventKind, reason: &'static str, note: String) {
        self.events.push(EventOut { kind, reason, note });
    }

    /// First creation is blue; a lost status is rebuilt from the colour the Service selects.
    fn adopt_or_create(&mut self) -> ColorRevision {
        if let Some(active) = &self.s.active {
            return active.clone();
        }
        let observed = self.input.observed;
        let adopted = observed.service_selects.and_then(|color| {
            let revision = observed.color(color).revision.clone()?;
            Some(ColorRevision { color, revision })
        });
        let active = adopted.unwrap_or_else(|| {
            self.event(
                EventKind::Normal,
                "Creating",
                format!("creating colour blue at revision {}", self.input.desired),
            );
            ColorRevision {
                color: Color::Blue,
                revision: self.input.desired.to_owned(),
            }
        });
        // The other colour may hold claimed jobs: whatever it was doing, it drains first.
        let other = active.color.other();
        if let Some(revision) = observed.color(other).revision.clone() {
            self.s.draining = Some(DrainState {
                color: other,
                revision,
                since: self.input.now,
            });
        }
        self.s.active = Some(active.clone());
        active
    }

    fn finish_drain(&mut self) {
        let delay = secs(self.input.policy.scale_down_delay_secs);
        if let Some(d) = &self.s.draining
            && self.input.now >= d.since.saturating_add(delay)
        {
            let note = format!("scaled colour {} down to zero", d.color.as_str());
            self.s.draining = None;
            self.scaled_down = true;
            self.event(EventKind::Normal, "ScaledDown", note);
        }
    }

    /// The preview stops: it drains like an old colour, since its workers claimed jobs.
    fn cancel_preview(&mut self, reason: &'static str, kind: EventKind, note: String) {
        if let Some(p) = self.s.preview.take() {
            self.s.draining = Some(DrainState {
                color: p.color,
                revision: p.revision,
                since: self.input.now,
            });
            self.event(kind, reason, note);
        }
    }

    fn rolling(&mut self, active: &ColorRevision) {
        self.cancel_preview(
            "PreviewCancelled",
            EventKind::Normal,
            "the strategy is Rolling: the preview colour drains".to_owned(),
        );
        let desired = self.input.desired;
        if active.revision != desired {
            self.s.active = Some(ColorRevision {
                color: active.color,
                revision: desired.to_owned(),
            });
            let note = format!(
                "updating colour {} in place to revision {desired}",
                active.color.as_str()
            );
            self.event(EventKind::Normal, "Updating", note);
        }
    }

    fn blue_green(&mut self, active: &ColorRevision) {
        let desired = self.input.desired;
        if active.revision == desired {
            let note = format!("the spec is back at the active revision {desired}");
            self.cancel_preview("PreviewCancelled", EventKind::Normal, note);
            return;
        }
        if self
            .s
            .aborted
            .as_ref()
            .is_some_and(|a| a.revision == desired)
        {
            return;
        }
        match &mut self.s.preview {
            Some(p) if p.revision != desired => {
                p.revision = desired.to_owned();
                p.stage = PreviewStage::Starting;
                p.started_at = self.input.now;
                let note = format!(
                    "the spec changed during the rollout: colour {} restarts at revision {desired}",
                    p.color.as_str()
                );
                self.event(EventKind::Normal, "PreviewRestarted", note);
            }
            Some(_) => {}
            // Two colours: the new revision waits until the other one is scaled down, so that
            // no drained pod (annotated, holding claimed jobs) ever becomes part of a preview.
            None if self.s.draining.is_some()
                || self.scaled_down
                || self.input.observed.color(active.color.other()).pods > 0 =>
            {
                return;
            }
            None => {
                let color = active.color.other();
                self.s.preview = Some(PreviewState {
                    color,
                    revision: desired.to_owned(),
                    stage: PreviewStage::Starting,
                    started_at: self.input.now,
                    passes: 0,
                    failures: 0,
                    last_measured_at: 0,
                });
                let note = format!(
                    "bringing up colour {} at revision {desired}",
                    color.as_str()
                );
                self.event(EventKind::Normal, "PreviewStarted", note);
            }
        }
        self.advance_preview();
    }

    fn advance_preview(&mut self) {
        let input = self.input;
        let due = analysis_due(&self.s, input.policy, input.now).is_some();
        let Some(mut p) = self.s.preview.take() else {
            return;
        };
        let color = p.color.as_str();
        if !fully_ready(input.observed, p.color, &p.revision, input.want) {
            // Measurements of a colour that is not all there prove nothing: start again.
            if p.stage != PreviewStage::Starting {
                p.stage = PreviewStage::Starting;
                p.started_at = input.now;
                let note = format!("colour {color} is no longer fully ready");
                self.event(EventKind::Warning, "PreviewNotReady", note);
            }
            let deadline = input.policy.progress_deadline_secs.map(secs);
            let late = deadline.is_some_and(|d| input.now >= p.started_at.saturating_add(d));
            self.s.preview = Some(p);
            if late {
                let reason =
                    format!("colour {color} was not fully ready within the progress deadline");
                self.event(
                    EventKind::Warning,
                    "ProgressDeadlineExceeded",
                    reason.clone(),
                );
                self.abort(reason);
            }
            return;
        }
        if p.stage == PreviewStage::Starting {
            let note = format!("colour {color} is ready at revision {}", p.revision);
            self.event(EventKind::Normal, "PreviewReady", note);
            (p.stage, p.passes, p.failures, p.last_measured_at) =
                (PreviewStage::Analyzing, 0, 0, input.now);
        } else if let (true, Some(analysis), Some(m)) =
            (due, input.policy.analysis, input.measurement)
        {
            p.last_measured_at = input.now;
            match m {
                Measurement::Pass => p.passes += 1,
                Measurement::Fail(reason) => {
                    p.failures += 1;
                    let note = format!(
                        "analysis of revision {} failed ({} failed, {} tolerated): {reason}",
                        p.revision, p.failures, analysis.failure_limit
                    );
                    self.event(EventKind::Warning, "AnalysisFailed", note);
                    if p.failures > analysis.failure_limit {
                        self.s.preview = Some(p);
                        self.abort(reason.clone());
                        return;
                    }
                }
            }
        }
        // Every measurement taken (a failure within the limit still counts as one).
        let needed = input.policy.analysis.map_or(0, |a| a.count);
        if p.stage == PreviewStage::Analyzing && p.passes + p.failures >= needed {
            p.stage = PreviewStage::AwaitingPromotion;
            let note = format!("analysis of revision {} passed", p.revision);
            self.event(EventKind::Normal, "AnalysisPassed", note);
        }
        let by_hand = input.promote == Some(p.revision.as_str());
        let promote =
            p.stage == PreviewStage::AwaitingPromotion && (input.policy.auto_promote || by_hand);
        self.s.preview = Some(p);
        if promote {
            self.switch();
        }
    }

    fn abort(&mut self, reason: String) {
        let Some(p) = &self.s.preview else { return };
        let revision = p.revision.clone();
        let note = format!("rollout of revision {revision} aborted: traffic stays where it is");
        self.s.aborted = Some(AbortState { revision, reason });
        self.cancel_preview("RolloutAborted", EventKind::Warning, note);
    }

    /// Called only with a fully ready preview whose analysis passed.
    fn switch(&mut self) {
        let (Some(p), Some(old)) = (self.s.preview.take(), self.s.active.take()) else {
            return;
        };
        let note = format!(
            "traffic switched from colour {} to colour {} (revision {}); colour {} drains",
            old.color.as_str(),
            p.color.as_str(),
            p.revision,
            old.color.as_str()
        );
        self.s.active = Some(ColorRevision {
            color: p.color,
            revision: p.revision,
        });
        self.s.draining = Some(DrainState {
            color: old.color,
            revision: old.revision,
            since: self.input.now,
        });
        self.event(EventKind::Normal, "Promoted", note);
    }
}

impl Machine<'_> {
    fn active(&self) -> &ColorRevision {
        self.s.active.as_ref().expect("set by adopt_or_create")
    }

    fn phase(&self) -> Phase {
        let input = self.input;
        let active = self.active();
        if let Some(p) = &self.s.preview {
            return match p.stage {
                PreviewStage::Starting => Phase::PreviewStarting,
                PreviewStage::Analyzing => Phase::Analyzing,
                PreviewStage::AwaitingPromotion => Phase::AwaitingPromotion,
            };
        }
        if active.revision != input.desired {
            if self
                .s
                .aborted
                .as_ref()
                .is_some_and(|a| a.revision == input.desired)
            {
                return Phase::Aborted;
            }
            return Phase::WaitingForDrain;
        }
        if !fully_ready(input.observed, active.color, &active.revision, input.want) {
            return Phase::Starting;
        }
        if self.s.draining.is_some() {
            return Phase::Draining;
        }
        Phase::Stable
    }

    fn conditions(&self, phase: Phase) -> Vec<ConditionOut> {
        let input = self.input;
        let active = self.active();
        let ready_api = input.observed.color(active.color).api.ready;
        let available = ConditionOut {
            type_: "Available",
            status: ready_api >= 1,
            reason: if ready_api >= 1 {
                "MinimumReplicasAvailable"
            } else {
                "NoReadyApiReplicas"
            },
            message: format!(
                "colour {} has {ready_api} ready API pods",
                active.color.as_str()
            ),
        };
        let (progressing, reason) = match phase {
            Phase::Stable => (false, "RolloutComplete"),
            Phase::Aborted => (false, "RolloutAborted"),
            other => (true, other.as_str()),
        };
        let progressing = ConditionOut {
            type_: "Progressing",
            status: progressing,
            reason,
            message: format!("phase {}", phase.as_str()),
        };
        let degraded = match &self.s.aborted {
            Some(a) if phase == Phase::Aborted => ConditionOut {
                type_: "Degraded",
                status: true,
                reason: "RolloutAborted",
                message: format!(
                    "the rollout of revision {} was aborted: {}",
                    a.revision, a.reason
                ),
            },
            _ => ConditionOut {
                type_: "Degraded",
                status: false,
                reason: "AsExpected",
                message: String::new(),
            },
        };
        let promoted = active.revision == input.desired;
        let promoted = ConditionOut {
            type_: "Promoted",
            status: promoted,
            reason: if promoted { "Promoted" } else { phase.as_str() },
            message: format!(
                "colour {} serves revision {}",
                active.color.as_str(),
                active.revision
            ),
        };
        vec![available, progressing, degraded, promoted]
    }

    /// The next time something is due without any change in the cluster.
    fn requeue(&self) -> Option<u64> {
        let policy = self.input.policy;
        let drain = self
            .s
            .draining
            .as_ref()
            .map(|d| d.since.saturating_add(secs(policy.scale_down_delay_secs)));
        let measure = match (&self.s.preview, policy.analysis) {
            (Some(p), Some(a)) if p.stage == PreviewStage::Analyzing => Some(
                p.last_measured_at
                    .saturating_add(secs(a.interval_secs).max(1)),
            ),
            _ => None,
        };
        let at = drain.into_iter().chain(measure).min()?;
        Some(
            u64::try_from(at.saturating_sub(self.input.now))
                .unwrap_or(0)
                .max(1),
        )
    }

    fn plan_for(&self, color: Color) -> ColorPlan {
        let active = self.active();
        let (role, revision) = if active.color == color {
            (Role::Active, Some(&active.revision))
        } else if let Some(p) = self.s.preview.as_ref().filter(|p| p.color == color) {
            (Role::Preview, Some(&p.revision))
        } else if let Some(d) = self.s.draining.as_ref().filter(|d| d.color == color) {
            (Role::Draining, Some(&d.revision))
        } else {
            (Role::Off, None)
        };
        ColorPlan {
            role,
            revision: revision.cloned(),
        }
    }

    fn into_plan(self) -> Plan {
        let phase = self.phase();
        Plan {
            blue: self.plan_for(Color::Blue),
            green: self.plan_for(Color::Green),
            active_service: self.active().color,
            preview_service: self.s.preview.as_ref().map(|p| p.color),
            phase,
            conditions: self.conditions(phase),
            requeue_after_secs: self.requeue(),
            events: self.events,
            state: self.s,
        }
    }
}
