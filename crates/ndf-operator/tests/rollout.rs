//! Property tests of the rollout state machine over random event sequences: ready counts going
//! up and down, analysis results, spec revisions, promote annotations, strategy changes, a lost
//! status and time passing. A small model of the cluster applies each plan (a colour's template
//! changes only when the plan gives it a new revision, which empties its updated pods).

use ndf_operator::rollout::{
    AnalysisPolicy, COLORS, Color, ColorObservation, Input, Measurement, Observation, Phase, Plan,
    Pods, Policy, Role, RolloutState, Strategy as Rollout, Want, analysis_due, fully_ready, step,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Event {
    /// The colour's Deployments report these ready pods (of any template / of the current one).
    Ready {
        color: Color,
        api: i32,
        workers: i32,
        updated: bool,
    },
    /// The next measurement's result.
    Analysis(bool),
    /// The spec asks for revision `r{0}`.
    Spec(u8),
    /// Time passes.
    Advance(u16),
    /// The promote annotation names the desired revision (or is removed).
    Promote(bool),
    /// spec.rollout.strategy changes.
    Strategy(bool),
    /// The status subresource was wiped (the machine must rebuild from the Service).
    LoseStatus,
    /// Nothing changes; the reconciler just runs again.
    Tick,
}

fn color() -> impl Strategy<Value = Color> {
    prop_oneof![Just(Color::Blue), Just(Color::Green)]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => (color(), 0..4i32, 0..4i32, any::<bool>()).prop_map(|(color, api, workers, updated)| {
            Event::Ready { color, api, workers, updated }
        }),
        3 => any::<bool>().prop_map(Event::Analysis),
        2 => (0..4u8).prop_map(Event::Spec),
        4 => (0..200u16).prop_map(Event::Advance),
        1 => any::<bool>().prop_map(Event::Promote),
        1 => prop::bool::weighted(0.2).prop_map(Event::Strategy),
        1 => Just(Event::LoseStatus),
        2 => Just(Event::Tick),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    let analysis = prop::option::of((1..5u32, 0..3u32, 0..90u64).prop_map(
        |(count, failure_limit, interval_secs)| AnalysisPolicy {
            count,
            failure_limit,
            interval_secs,
        },
    ));
    let deadline = prop::option::of(30..600u64);
    (any::<bool>(), 0..400u64, analysis, deadline).prop_map(
        |(auto_promote, delay, analysis, deadline)| Policy {
            strategy: Rollout::BlueGreen,
            auto_promote,
            scale_down_delay_secs: delay,
            analysis,
            progress_deadline_secs: deadline,
        },
    )
}

/// The cluster as the reconciler leaves it, plus the inputs the events set.
struct World {
    policy: Policy,
    want: Want,
    observed: Observation,
    desired: String,
    pass: bool,
    promote: bool,
    now: i64,
    state: RolloutState,
    last: Option<Plan>,
    /// When each colour's current run of `Draining` began.
    drain_began: [Option<i64>; 2],
    steps: usize,
}

fn idx(c: Color) -> usize {
    match c {
        Color::Blue => 0,
        Color::Green => 1,
    }
}

fn obs_mut(o: &mut Observation, c: Color) -> &mut ColorObservation {
    match c {
        Color::Blue => &mut o.blue,
        Color::Green => &mut o.green,
    }
}

impl World {
    fn new(policy: Policy, want: Want) -> World {
        World {
            policy,
            want,
            observed: Observation::default(),
            desired: "r0".to_owned(),
            pass: true,
            promote: false,
            now: 1_000_000,
            state: RolloutState::default(),
            last: None,
            drain_began: [None, None],
            steps: 0,
        }
    }

    fn apply(&mut self, e: &Event) {
        match e {
            Event::Ready {
                color,
                api,
                workers,
                updated,
            } => {
                let o = obs_mut(&mut self.observed, *color);
                o.api.ready = *api;
                o.workers.ready = *workers;
                // Updated pods are a subset of the ready ones.
                let (ua, uw) = if *updated { (*api, *workers) } else { (0, 0) };
                o.api.updated_ready = ua;
                o.workers.updated_ready = uw;
                o.pods = api + workers;
            }
            Event::Analysis(pass) => self.pass = *pass,
            Event::Spec(r) => self.desired = format!("r{r}"),
            Event::Advance(s) => self.now += i64::from(*s),
            Event::Promote(p) => self.promote = *p,
            Event::Strategy(rolling) => {
                self.policy.strategy = if *rolling {
                    Rollout::Rolling
                } else {
                    Rollout::BlueGreen
                };
            }
            Event::LoseStatus => self.state = RolloutState::default(),
            Event::Tick => {}
        }
        // A colour scaled to zero has no pods to report.
        for c in COLORS {
            let off = self
                .last
                .as_ref()
                .is_some_and(|p| p.color(c).role == Role::Off);
            if off {
                let o = obs_mut(&mut self.observed, c);
                *o = ColorObservation {
                    revision: o.revision.clone(),
                    ..ColorObservation::default()
                };
            }
        }
    }

    /// One reconcile: measure if due, step, check the invariants, apply the plan.
    fn reconcile(&mut self) -> Plan {
        self.steps += 1;
        let due = analysis_due(&self.state, &self.policy, self.now).is_some();
        let fail = Measurement::Fail("error rate above threshold".to_owned());
        let measurement = due.then_some(if self.pass { &Measurement::Pass } else { &fail });
        let promote = self.promote.then_some(self.desired.as_str());
        let input = Input {
            desired: &self.desired,
            policy: &self.policy,
            want: self.want,
            observed: &self.observed,
            measurement,
            promote,
            now: self.now,
        };
        let plan = step(&self.state, &input);
        self.check(&plan);
        self.state = plan.state.clone();
        // The reconciler applies the templates: a colour given a new revision restarts its pods.
        for c in COLORS {
            let p = plan.color(c);
            let o = obs_mut(&mut self.observed, c);
            if matches!(p.role, Role::Active | Role::Preview) && p.revision != o.revision {
                o.revision.clone_from(&p.revision);
                o.api.updated_ready = 0;
                o.workers.updated_ready = 0;
            }
            if p.role == Role::Off {
                *o = ColorObservation {
                    revision: o.revision.clone(),
                    ..ColorObservation::default()
                };
            }
        }
        self.observed.service_selects = Some(plan.active_service);
        self.last = Some(plan.clone());
        plan
    }

    fn check(&mut self, plan: &Plan) {
        let s = &plan.state;
        let active = s
            .active
            .as_ref()
            .expect("a plan always has an active colour");
        assert_eq!(plan.active_service, active.color);
        // The active colour is never drained nor scaled down.
        assert_eq!(plan.color(active.color).role, Role::Active, "{plan:?}");
        if let Some(p) = &s.preview {
            assert_ne!(p.color, active.color);
            assert!(
                s.draining.is_none(),
                "a preview while the other colour drains"
            );
        }
        if let Some(d) = &s.draining {
            assert_ne!(d.color, active.color);
        }
        let previous = self.last.as_ref();
        let switched = previous.is_some_and(|p| p.active_service != plan.active_service);
        if switched {
            // Traffic moves only to a colour with all wanted replicas ready at the spec's revision.
            assert_eq!(active.revision, self.desired);
            assert!(
                fully_ready(&self.observed, active.color, &active.revision, self.want),
                "switched to a colour that is not ready: {plan:?} {:?}",
                self.observed
            );
        }
        for c in COLORS {
            let now_role = plan.color(c).role;
            let before = previous.map_or(Role::Off, |p| p.color(c).role);
            match (before, now_role) {
                (Role::Draining, Role::Draining) => {}
                (_, Role::Draining) => self.drain_began[idx(c)] = Some(self.now),
                (Role::Draining, Role::Off) => {
                    let began = self.drain_began[idx(c)].expect("drain start recorded");
                    let delay = i64::try_from(self.policy.scale_down_delay_secs).unwrap();
                    assert!(
                        self.now - began >= delay,
                        "colour {c:?} scaled down {}s after its drain began (delay {delay}s)",
                        self.now - began
                    );
                }
                (Role::Draining, other) => panic!("a draining colour became {other:?}"),
                (Role::Off, Role::Preview) => {
                    let pods = self.observed.color(c).pods;
                    assert_eq!(pods, 0, "a preview on colour {c:?} that still has pods");
                }
                (Role::Active | Role::Preview, Role::Off) => {
                    panic!("colour {c:?} went from {before:?} to Off without a drain")
                }
                _ => {}
            }
            if now_role != Role::Draining {
                self.drain_began[idx(c)] = None;
            }
        }
        // In blue-green the active colour's revision changes only by a switch.
        if self.policy.strategy == Rollout::BlueGreen
            && let Some(prev) = previous
            && !switched
            && prev.state.active.is_some()
        {
            assert_eq!(
                prev.state.active, s.active,
                "active revision changed in place"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn rollouts_are_safe_and_settle(
        policy in policy(),
        api in 1..4i32,
        workers in 0..4i32,
        events in prop::collection::vec(event(), 0..80),
        final_pass in any::<bool>(),
        final_promote in any::<bool>(),
    ) {
        let want = Want { api, workers };
        let mut world = World::new(policy, want);
        world.reconcile();
        for e in &events {
            world.apply(e);
            world.reconcile();
        }
        // Inputs stop changing; the cluster does what it is told: it settles in bounded steps.
        world.pass = final_pass;
        world.promote = final_promote;
        let bound = 12 + policy.analysis.map_or(0, |a| (a.count + a.failure_limit) as usize);
        let mut settled = false;
        for _ in 0..bound {
            for c in COLORS {
                let o = obs_mut(&mut world.observed, c);
                let role = world.last.as_ref().unwrap().color(c).role;
                if matches!(role, Role::Active | Role::Preview) {
                    o.api = Pods { ready: want.api, updated_ready: want.api };
                    o.workers = Pods { ready: want.workers, updated_ready: want.workers };
                    o.pods = want.api + want.workers;
                }
            }
            let before = world.state.clone();
            let plan = world.reconcile();
            let still = plan.state == before && plan.events.is_empty();
            if still && plan.requeue_after_secs.is_none() {
                settled = true;
                break;
            }
            world.now += i64::try_from(plan.requeue_after_secs.unwrap_or(1)).unwrap();
        }
        prop_assert!(settled, "not settled after {bound} steps: {:?}", world.last);
        let plan = world.last.clone().unwrap();
        let promotes = world.policy.auto_promote || final_promote;
        let aborted = plan.state.aborted.as_ref().is_some_and(|a| a.revision == world.desired);
        let passes = final_pass || world.policy.analysis.is_none();
        if promotes && !aborted && passes {
            prop_assert_eq!(plan.phase, Phase::Stable);
            prop_assert_eq!(&plan.state.active.as_ref().unwrap().revision, &world.desired);
        }
        let degraded = plan.conditions.iter().any(|c| c.type_ == "Degraded" && c.status);
        match plan.phase {
            Phase::Stable => prop_assert!(!degraded),
            Phase::Aborted => prop_assert!(degraded),
            _ => {}
        }
    }

    #[test]
    fn the_same_input_again_changes_nothing_more(
        policy in policy(),
        events in prop::collection::vec(event(), 0..40),
    ) {
        let mut world = World::new(policy, Want { api: 1, workers: 1 });
        world.reconcile();
        for e in &events {
            world.apply(e);
            world.reconcile();
        }
        // A reconcile triggered by our own writes may see the same world at the same time:
        // without a measurement (none is due again at the same second) nothing more happens,
        // except that a drain begun now with no delay ends, or a scale-down lets a preview start.
        let input = Input {
            desired: &world.desired,
            policy: &world.policy,
            want: world.want,
            observed: &world.observed,
            measurement: None,
            promote: None,
            now: world.now,
        };
        let first = step(&world.state, &input);
        let again = step(&first.state, &input);
        let two_step = first.events.iter().any(|e| {
            matches!(e.reason, "Promoted" | "RolloutAborted" | "PreviewCancelled" | "ScaledDown")
        });
        if !two_step {
            prop_assert_eq!(&again.state, &first.state);
            prop_assert!(again.events.is_empty(), "{:?}", again.events);
        }
        let third = step(&again.state, &input);
        let fourth = step(&third.state, &input);
        prop_assert_eq!(&fourth.state, &third.state);
        prop_assert!(fourth.events.is_empty(), "{:?}", fourth.events);
    }
}
