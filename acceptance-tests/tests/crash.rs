//! The provider SIGKILLed after its k-th mutating AWS call, for every k of the example module's apply
//! and of its destroy: right after moto carried the call out and before the provider saw the answer.
//! After each kill during apply a plain `terraform apply` completes with exactly one of everything (no
//! second file system, role, profile, policy version, rule or tag), the plan after it is empty, and
//! `terraform destroy` leaves moto as it began. After a kill during destroy after an even-numbered
//! call, the same recovery; after an odd-numbered one, `terraform destroy` at once (no apply first)
//! must leave moto as it began: a refresh of a half-destroyed resource may not drop it from the
//! state while parts of it remain.
//!
//! The CLI itself is SIGKILLed too (with its provider), after every fourth call of the apply: the
//! objects made since the CLI last wrote the state are in no state, and the next apply must adopt
//! them rather than make a second of each.
//!
//! Each test walks every other k (the CLI's, every fourth) on one moto (reset between runs) until a
//! run ends before its k-th call, so two tests share the k of a phase and run side by side. Each
//! run is a [`Scenario`](acceptance_tests::Scenario) (`Bench::fresh` makes it), whose end checks
//! once more that nothing is left.

use acceptance_tests::cluster::Cluster;
use acceptance_tests::example_module::{expected_new_counts, kill_after_every_kth, new_counts, Bench, APPLY, DESTROY};
use acceptance_tests::{skip_unless_acceptance, Scenario, Workdir};

const NAME: &str = "crashy-prometheus";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Apply,
    Destroy,
}

/// Which process the crash trigger kills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kill {
    /// The provider: the CLI sees the plugin crash and writes the state it has.
    Provider,
    /// The CLI (then its provider), as when the machine running it goes down: no state is written
    /// for whatever was made since the last write.
    Cli,
}

/// Kills the provider (or the CLI) after the `k`-th mutating call of `phase`, then recovers with
/// apply and destroy (after an odd-numbered call of destroy, with destroy alone); the answer is the
/// action killed after. When the phase makes fewer than `k` mutating calls it completes instead,
/// the run checks an undisturbed apply and destroy, and the answer is `None`.
fn crash_and_recover(bench: &Bench, phase: Phase, kill: Kill, k: u32) -> Option<String> {
    let (cluster, mut wd) = bench.fresh(NAME);
    if phase == Phase::Destroy {
        ok(&wd, APPLY, "apply before the destroy");
        // The killed destroy and the one after it overwrite every state file that names the nodes.
        wd.remember_state();
    }
    bench.proxy.reset_counts();
    match kill {
        Kill::Provider => bench.proxy.crash_after_mutating_calls(k),
        Kill::Cli => bench.proxy.crash_cli_after_mutating_calls(k),
    }
    let interrupted = wd.run(if phase == Phase::Apply { APPLY } else { DESTROY });
    let crashed = bench.proxy.crashed();
    let mutating_calls = bench.proxy.mutating_calls();
    let mutating: u32 = mutating_calls.values().sum();
    bench.proxy.clear_faults();
    let label = format!("{phase:?}: {kill:?} killed after mutating call {k} ({crashed:?})");
    let killed_after = match crashed {
        Some((action, pid)) => {
            assert!(pid.is_some(), "{label}: the process to kill was not found");
            assert!(!interrupted.success(), "{label}: Terraform did not notice the crash: {interrupted}");
            Some(action)
        }
        None => {
            assert!(interrupted.success(), "{label}: {interrupted}");
            assert!(mutating < k, "{label}: {mutating} mutating calls and no crash");
            eprintln!("{phase:?}: {mutating} mutating calls in all ({mutating_calls:?})");
            None
        }
    };
    match (&killed_after, phase) {
        (None, Phase::Destroy) => {}
        (Some(_), Phase::Destroy) if k % 2 == 1 => {
            ok(&wd, DESTROY, &format!("{label}: destroy right after the killed destroy"));
        }
        _ => recover(&cluster, &wd, &label),
    }
    wd.assert_back_to_start();
    killed_after
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

/// Walks k = first, first + step, ... on one bench until the phase completes before its k-th
/// mutating call; returns the actions killed after.
fn every_kth(phase: Phase, kill: Kill, first: u32, step: u32) -> Vec<String> {
    let bench = Bench::start();
    kill_after_every_kth(&format!("{phase:?} ({kill:?} killed)"), first, step, |k| {
        crash_and_recover(&bench, phase, kill, k)
    })
}

/// The first mutating call of the apply: the two resources are created side by side.
const FIRST_CALLS: &[&str] = &["iam:CreateRole", "efs:CreateFileSystem"];

#[test]
fn killed_during_apply_after_odd_numbered_calls_recovers() {
    skip_unless_acceptance!();
    let killed = every_kth(Phase::Apply, Kill::Provider, 1, 2);
    assert!(killed.len() >= 8, "the apply makes about 20 mutating calls: {killed:?}");
    assert!(FIRST_CALLS.contains(&killed[0].as_str()), "{killed:?}");
}

#[test]
fn killed_during_apply_after_even_numbered_calls_recovers() {
    skip_unless_acceptance!();
    let killed = every_kth(Phase::Apply, Kill::Provider, 2, 2);
    assert!(killed.len() >= 8, "the apply makes about 20 mutating calls: {killed:?}");
}

#[test]
fn killed_during_destroy_after_odd_numbered_calls_is_finished_by_destroy() {
    skip_unless_acceptance!();
    let killed = every_kth(Phase::Destroy, Kill::Provider, 1, 2);
    assert!(killed.len() >= 6, "the destroy makes about 15 mutating calls: {killed:?}");
}

#[test]
fn killed_during_destroy_after_even_numbered_calls_recovers() {
    skip_unless_acceptance!();
    let killed = every_kth(Phase::Destroy, Kill::Provider, 2, 2);
    assert!(killed.len() >= 6, "the destroy makes about 15 mutating calls: {killed:?}");
}

/// The CLI itself SIGKILLed (then its provider) after every fourth mutating call of the apply, from
/// the second: what was made since the last state write is in AWS and in no state. The next apply
/// plans those creates again with the same owner id (same working directory and workspace, see the
/// provider's `resources::ownership`), finds the objects by name and adopts them: one of
/// everything, an empty plan after it, and destroy leaves moto as it began.
#[test]
fn cli_killed_during_apply_recovers() {
    skip_unless_acceptance!();
    let killed = every_kth(Phase::Apply, Kill::Cli, 2, 4);
    assert!(killed.len() >= 4, "the apply makes about 20 mutating calls: {killed:?}");
}
