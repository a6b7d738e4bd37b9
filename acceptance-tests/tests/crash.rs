//! The provider SIGKILLed after its k-th mutating AWS call, for every k of the example module's apply
//! and of its destroy: right after moto carried the call out and before the provider saw the answer.
//! After each kill during apply a plain `terraform apply` completes with exactly one of everything (no
//! second file system, role, profile, policy version, rule or tag), the plan after it is empty, and
//! `terraform destroy` leaves moto as it began; after a kill during destroy, the same recovery.
//!
//! Each test walks every other k on one moto (reset between runs) until a run ends before its k-th
//! call, so two tests share the k of a phase and run side by side. Each run is a
//! [`Scenario`](acceptance_tests::Scenario) (`Bench::fresh` makes it), whose end checks once more
//! that nothing is left.

use std::collections::BTreeMap;

use acceptance_tests::cluster::Cluster;
use acceptance_tests::example_module::{expected_new_counts, new_counts, Bench, APPLY, DESTROY};
use acceptance_tests::{skip_unless_acceptance, Scenario, Workdir};

const NAME: &str = "crashy-prometheus";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Apply,
    Destroy,
}

/// How a run with the crash trigger armed went.
enum Outcome {
    /// The provider was killed right after this action.
    Killed(String),
    /// The phase completed with fewer than k mutating calls: these, per action.
    Completed(BTreeMap<String, u32>),
}

/// Kills the provider after the `k`-th mutating call of `phase`, then recovers with apply and
/// destroy. When the phase makes fewer than `k` mutating calls it completes instead, and the run
/// checks an undisturbed apply and destroy.
fn crash_and_recover(bench: &Bench, phase: Phase, k: u32) -> Outcome {
    let (cluster, wd) = bench.fresh(NAME);
    if phase == Phase::Destroy {
        ok(&wd, APPLY, "apply before the destroy");
    }
    bench.proxy.reset_counts();
    bench.proxy.crash_after_mutating_calls(k);
    let interrupted = wd.run(if phase == Phase::Apply { APPLY } else { DESTROY });
    let crashed = bench.proxy.crashed();
    let mutating_calls = bench.proxy.mutating_calls();
    let mutating: u32 = mutating_calls.values().sum();
    bench.proxy.clear_faults();
    let label = format!("{phase:?} killed after mutating call {k} ({crashed:?})");
    let outcome = match crashed {
        Some((action, pid)) => {
            assert!(pid.is_some(), "{label}: the provider process was not found");
            assert!(!interrupted.success(), "{label}: Terraform did not notice the crash: {interrupted}");
            Outcome::Killed(action)
        }
        None => {
            assert!(interrupted.success(), "{label}: {interrupted}");
            assert!(mutating < k, "{label}: {mutating} mutating calls and no crash");
            Outcome::Completed(mutating_calls)
        }
    };
    match (&outcome, phase) {
        (Outcome::Completed(_), Phase::Destroy) => {}
        _ => recover(&cluster, &wd, &label),
    }
    wd.assert_back_to_start();
    outcome
}

/// A plain apply makes exactly one of everything and leaves nothing to plan; destroy removes it.
fn recover(cluster: &Cluster, wd: &Scenario, label: &str) {
    ok(wd, APPLY, &format!("{label}: apply after the crash"));
    assert_eq!(new_counts(wd), expected_new_counts(cluster), "{label}: after the apply:{}", wd.new_since_start());
    let plan = wd.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(plan.code, Some(0), "{label}: the plan after the recovering apply is not empty: {plan}");
    ok(wd, DESTROY, &format!("{label}: destroy after the crash"));
}

fn ok(wd: &Workdir, args: &[&str], what: &str) {
    let out = wd.run(args);
    assert!(out.success(), "{what}: {out}");
}

/// Runs k = first, first + 2, ... until the phase completes before its k-th mutating call; returns
/// the actions killed after.
fn every_other_k(phase: Phase, first: u32) -> Vec<String> {
    let bench = Bench::start();
    let mut killed = Vec::new();
    let mut k = first;
    loop {
        match crash_and_recover(&bench, phase, k) {
            Outcome::Killed(action) => {
                eprintln!("{phase:?}: killed after call {k}, {action}; recovered");
                killed.push(action);
            }
            Outcome::Completed(calls) => {
                let total: u32 = calls.values().sum();
                eprintln!("{phase:?}: {total} mutating calls in all ({calls:?}); every k up to {k} covered");
                return killed;
            }
        }
        k += 2;
        assert!(k < 100, "the {phase:?} flow never ends");
    }
}

/// The first mutating call of the apply: the two resources are created side by side.
const FIRST_CALLS: &[&str] = &["iam:CreateRole", "efs:CreateFileSystem"];

#[test]
fn killed_during_apply_after_odd_numbered_calls_recovers() {
    skip_unless_acceptance!();
    let killed = every_other_k(Phase::Apply, 1);
    assert!(killed.len() >= 8, "the apply makes about 20 mutating calls: {killed:?}");
    assert!(FIRST_CALLS.contains(&killed[0].as_str()), "{killed:?}");
}

#[test]
fn killed_during_apply_after_even_numbered_calls_recovers() {
    skip_unless_acceptance!();
    let killed = every_other_k(Phase::Apply, 2);
    assert!(killed.len() >= 8, "the apply makes about 20 mutating calls: {killed:?}");
}

#[test]
fn killed_during_destroy_after_odd_numbered_calls_recovers() {
    skip_unless_acceptance!();
    let killed = every_other_k(Phase::Destroy, 1);
    assert!(killed.len() >= 6, "the destroy makes about 15 mutating calls: {killed:?}");
}

#[test]
fn killed_during_destroy_after_even_numbered_calls_recovers() {
    skip_unless_acceptance!();
    let killed = every_other_k(Phase::Destroy, 2);
    assert!(killed.len() >= 6, "the destroy makes about 15 mutating calls: {killed:?}");
}
