using VeilTun.Daita;
using Xunit;

namespace VeilTun.Tests.Daita;

/// <summary>state.rs sample_state and validate (maybenot 2.2.2 crates/maybenot/src/state.rs tests).</summary>
public class StateSamplingTests
{
    private static State With(Event e, params Transition[] list)
    {
        var t = new Transition[]?[Constants.EventNum];
        t[(int)e] = list;
        return new State(null, null, null, t);
    }

    [Fact]
    public void ASingleCertainTransitionIsAlwaysTakenWithOneDraw()
    {
        // state.rs `serialization` test: PaddingSent → 6 with p = 1.
        State s = With(Event.PaddingSent, new Transition(6, 1.0f));
        var rng = new CountingRandom(new SeededDaitaRandom(1));
        for (int i = 0; i < 100; i++)
        {
            Assert.True(s.TrySampleNext(Event.PaddingSent, rng, out ulong next));
            Assert.Equal(6UL, next);
        }
        Assert.Equal(100, rng.Draws);
    }

    [Fact]
    public void EventsWithoutTransitionsDrawNothing()
    {
        State s = With(Event.PaddingSent, new Transition(0, 1.0f));
        var rng = new CountingRandom(new SeededDaitaRandom(1));
        foreach (Event e in Enum.GetValues<Event>())
        {
            if (e == Event.PaddingSent) continue;
            Assert.False(s.TrySampleNext(e, rng, out _));
        }
        Assert.Equal(0, rng.Draws);
    }

    [Fact]
    public void ProbabilitiesSelectTargetsAndTheRemainderMeansNoTransition()
    {
        State s = With(Event.NormalRecv, new Transition(1, 0.3f), new Transition(Constants.StateEnd, 0.5f));
        var rng = new SeededDaitaRandom(99);
        int n = 200_000, one = 0, end = 0, none = 0;
        for (int i = 0; i < n; i++)
        {
            if (!s.TrySampleNext(Event.NormalRecv, rng, out ulong next)) none++;
            else if (next == 1) one++;
            else if (next == Constants.StateEnd) end++;
            else Assert.Fail($"unexpected target {next}");
        }
        // Binomial σ ≤ √(n/4) ≈ 224; allow 6σ.
        Assert.InRange(one, 0.3 * n - 1350, 0.3 * n + 1350);
        Assert.InRange(end, 0.5 * n - 1350, 0.5 * n + 1350);
        Assert.InRange(none, 0.2 * n - 1350, 0.2 * n + 1350);
    }

    [Fact]
    public void TheDrawIsAnF32ComparedAgainstTheF32RunningSum()
    {
        // r = top 23 bits · 2^-23 (rand 0.9 random_range(0.0..1.0) for f32). 0.3f = 5033165 · 2^-24 = 2516582.5 · 2^-23,
        // so the first bucket (r < 0.3f) ends at 2516582 · 2^-23.
        State s = With(Event.NormalRecv, new Transition(1, 0.3f), new Transition(2, 0.7f));
        Assert.True(s.TrySampleNext(Event.NormalRecv, new ConstantRandom(2516582UL << 41), out ulong below));
        Assert.Equal(1UL, below);
        Assert.True(s.TrySampleNext(Event.NormalRecv, new ConstantRandom(2516583UL << 41), out ulong above));
        Assert.Equal(2UL, above);
        // The largest draw, 1 − 2^-23, still falls below the f32 sum 0.3f + 0.7f == 1f.
        Assert.True(s.TrySampleNext(Event.NormalRecv, new ConstantRandom(ulong.MaxValue), out ulong top));
        Assert.Equal(2UL, top);
        // An f32 sum short of 1 leaves a gap: with 0.5f alone, r = 0.5 means no transition.
        State half = With(Event.NormalRecv, new Transition(1, 0.5f));
        Assert.False(half.TrySampleNext(Event.NormalRecv, new ConstantRandom(1UL << 63), out _));
    }

    // ---- state.rs validate_state_transitions / validate_state_action / validate_state_counter ----

    [Fact]
    public void StateTransitionValidationMatchesStateRs()
    {
        const int numStates = 2;
        Assert.NotNull(With(Event.PaddingSent, new Transition(numStates, 1.0f)).Validate(numStates));
        Assert.NotNull(With(Event.PaddingSent, new Transition(0, 1.1f)).Validate(numStates));
        Assert.NotNull(With(Event.PaddingSent, new Transition(0, 0.5f), new Transition(1, 0.6f)).Validate(numStates));
        Assert.NotNull(With(Event.PaddingSent, new Transition(0, 0.4f), new Transition(0, 0.6f)).Validate(numStates));
        Assert.Null(With(Event.PaddingSent, new Transition(0, 0.4f), new Transition(Constants.StateEnd, 0.3f)).Validate(numStates));
    }

    [Fact]
    public void StateActionAndCounterValidationMatchStateRs()
    {
        var t = new Transition[]?[Constants.EventNum];
        t[(int)Event.PaddingSent] = [new Transition(0, 1.0f)];
        var goodPad = new MachineAction.SendPadding(false, false, Dist.Uniform(10, 10), null);
        var badPad = new MachineAction.SendPadding(false, false, Dist.Uniform(2, 1), null);
        Assert.Null(new State(goodPad, null, null, t).Validate(1));
        Assert.NotNull(new State(badPad, null, null, t).Validate(1));
        Assert.Null(new State(null, new Counter(CounterOperation.Increment, null, false), null, t).Validate(1));
        Assert.NotNull(new State(null, null, new Counter(CounterOperation.Increment, Dist.Uniform(2, 1), false), t).Validate(1));
    }

    // ---- machine.rs validate_machine_limits / num_states / states ----

    [Fact]
    public void MachineValidationMatchesMachineRs()
    {
        State s0 = With(Event.PaddingSent, new Transition(0, 1.0f));
        Assert.NotNull(new Machine(1000, -0.1, 0, 0, [s0]).Validate());
        Assert.NotNull(new Machine(1000, 1.1, 0, 0, [s0]).Validate());
        Assert.Null(new Machine(1000, 0.5, 0, 0, [s0]).Validate());
        Assert.NotNull(new Machine(1000, 1.0, 0, -0.1, [s0]).Validate());
        Assert.NotNull(new Machine(1000, 1.0, 0, 1.1, [s0]).Validate());
        Assert.Null(new Machine(1000, 1.0, 0, 0.5, [s0]).Validate());
        Assert.NotNull(new Machine(1000, 1.0, 0, 0.0, []).Validate());
        Assert.NotNull(new Machine(1000, 1.0, 0, 0.0, [With(Event.PaddingSent, new Transition(1, 1.0f))]).Validate());
        Assert.Null(new Machine(1000, 1.0, 0, 0.0, [With(Event.PaddingSent, new Transition(0, 0.8f))]).Validate());
    }
}
