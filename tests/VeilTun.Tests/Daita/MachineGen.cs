using CsCheck;
using VeilTun.Daita;

namespace VeilTun.Tests.Daita;

/// <summary>
/// CsCheck generators for VALID Maybenot machines (every value passes <see cref="Machine.Validate"/>): small state
/// counts, every action/counter/dist kind, END and SIGNAL targets, probabilities summing to at most 1.
/// </summary>
internal static class MachineGen
{
    private static readonly Gen<double> s_start =
        Gen.Frequency<double>((3, Gen.Const(0.0)), (1, Gen.Double[-100, 10_000]));

    private static readonly Gen<double> s_max =
        Gen.Frequency<double>((3, Gen.Const(0.0)), (1, Gen.Double[-1, 100_000]));

    private static readonly Gen<double> s_probability =
        Gen.Frequency<double>((1, Gen.Const(0.0)), (1, Gen.Const(1.0)), (1, Gen.Const(1e-9)), (5, Gen.Double[1e-9, 1.0]));

    private static readonly Gen<double> s_positive =
        Gen.Frequency<double>((1, Gen.Double[0.05, 1]), (2, Gen.Double[1, 50]), (1, Gen.Double[50, 10_000]));

    private static Gen<Dist> Kind(DistType t) => t switch
    {
        DistType.Uniform => Gen.Select(Gen.Double[-100, 10_000], Gen.Frequency<double>((1, Gen.Const(0.0)), (3, Gen.Double[0, 10_000])), s_start, s_max)
            .Select((low, width, start, max) => new Dist(t, low, low + width, 0, 0, start, max)),
        DistType.Normal => Gen.Select(Gen.Double[-100, 10_000], Gen.Double[-100, 1000], s_start, s_max)
            .Select((mean, sd, start, max) => new Dist(t, mean, sd, 0, 0, start, max)),
        DistType.SkewNormal => Gen.Select(Gen.Double[-100, 10_000], s_positive, Gen.Double[-5, 5], s_start, s_max)
            .Select((loc, scale, shape, start, max) => new Dist(t, loc, scale, shape, 0, start, max)),
        DistType.LogNormal => Gen.Select(Gen.Double[-2, 9], Gen.Double[0, 2], s_start, s_max)
            .Select((mu, sigma, start, max) => new Dist(t, mu, sigma, 0, 0, start, max)),
        DistType.Binomial => Gen.Select(Gen.Frequency<ulong>((3, Gen.Int[0, 100].Select(i => (ulong)i)), (1, Gen.Int[0, 1_000_000_000].Select(i => (ulong)i))),
                s_probability, s_start, s_max)
            .Select((n, p, start, max) => new Dist(t, p, 0, 0, n, start, max)),
        DistType.Geometric => Gen.Select(s_probability, s_start, s_max)
            .Select((p, start, max) => new Dist(t, p, 0, 0, 0, start, max)),
        DistType.Poisson => Gen.Select(Gen.Frequency<double>((3, Gen.Double[1e-3, 30]), (1, Gen.Double[30, 1e12])), s_start, s_max)
            .Select((lambda, start, max) => new Dist(t, lambda, 0, 0, 0, start, max)),
        _ => Gen.Select(s_positive, s_positive, s_start, s_max) // Pareto, Weibull, Gamma (scale, shape); Beta (alpha, beta)
            .Select((a, b, start, max) => new Dist(t, a, b, 0, 0, start, max)),
    };

    /// <summary>A valid dist of any kind.</summary>
    public static readonly Gen<Dist> Dist = Gen.Int[0, 10].SelectMany(k => Kind((DistType)k)).Where(d => d.Validate() is null);

    /// <summary>A valid action or none.</summary>
    public static readonly Gen<MachineAction?> Action = Gen.Int[0, 5].SelectMany(k => k switch
    {
        0 => Gen.Int[0, 2].Select(t => (MachineAction?)new MachineAction.Cancel((MachineTimer)t)),
        1 or 2 => Gen.Select(Gen.Bool, Gen.Bool, Dist, Dist.Null())
            .Select((bypass, replace, timeout, limit) => (MachineAction?)new MachineAction.SendPadding(bypass, replace, timeout, limit)),
        3 => Gen.Select(Gen.Bool, Gen.Bool, Dist, Dist, Dist.Null())
            .Select((bypass, replace, timeout, duration, limit) => (MachineAction?)new MachineAction.BlockOutgoing(bypass, replace, timeout, duration, limit)),
        4 => Gen.Select(Gen.Bool, Dist, Dist.Null())
            .Select((replace, duration, limit) => (MachineAction?)new MachineAction.UpdateTimer(replace, duration, limit)),
        _ => Gen.Const((MachineAction?)null),
    });

    /// <summary>A valid counter update or none.</summary>
    public static readonly Gen<Counter?> Counter =
        Gen.Select(Gen.Int[0, 2], Dist.Null(), Gen.Frequency<bool>((3, Gen.Const(false)), (1, Gen.Const(true))))
            .Select((op, dist, copy) => new Counter((CounterOperation)op, dist, copy))
            .Null();

    /// <summary>One event's transition list for a machine with <paramref name="n"/> states, or none (null).</summary>
    private static Gen<Transition[]?> Slot(int n)
    {
        // Target n means STATE_END, n + 1 STATE_SIGNAL (both rarer than real states).
        Gen<ulong> target = Gen.Frequency<ulong>(
            (8, Gen.Int[0, n - 1].Select(i => (ulong)i)), (1, Gen.Const(Constants.StateEnd)), (1, Gen.Const(Constants.StateSignal)));
        Gen<Transition[]?> list = Gen.Select(target.Array[1, 3], Gen.Double[0.05, 1].Array[3],
                Gen.Frequency<double>((1, Gen.Const(1.0)), (1, Gen.Double[0.05, 1])))
            .Select((targets, weights, total) =>
            {
                ulong[] distinct = [.. targets.Distinct()];
                double sum = weights.Take(distinct.Length).Sum();
                return (Transition[]?)[.. distinct.Select((t, i) => new Transition(t, (float)(total * weights[i] / sum)))];
            });
        return Gen.Frequency<Transition[]?>((3, Gen.Const((Transition[]?)null)), (2, list));
    }

    private static Gen<State> State(int n) =>
        Gen.Select(Action, Counter, Counter, Slot(n).Array[Constants.EventNum])
            .Select((action, a, b, transitions) => new State(action, a, b, transitions));

    private static readonly Gen<ulong> s_allowance = Gen.Frequency<ulong>(
        (2, Gen.Const(0UL)), (2, Gen.Int[1, 50].Select(i => (ulong)i)), (1, Gen.Const(ulong.MaxValue)));

    private static readonly Gen<ulong> s_blockAllowance = Gen.Frequency<ulong>(
        (2, Gen.Const(0UL)), (2, Gen.Int[1, 5000].Select(i => (ulong)i)), (1, Gen.Const(ulong.MaxValue)));

    private static readonly Gen<double> s_frac =
        Gen.Frequency<double>((2, Gen.Const(0.0)), (1, Gen.Const(1.0)), (3, Gen.Double[0.01, 1.0]));

    /// <summary>A valid machine with 1..<paramref name="maxStates"/> states.</summary>
    public static Gen<Machine> Machine(int maxStates = 5) =>
        Gen.Int[1, maxStates].SelectMany(n =>
                Gen.Select(s_allowance, s_frac, s_blockAllowance, s_frac, State(n).Array[n])
                    .Select((app, mpf, abm, mbf, states) => new Machine(app, mpf, abm, mbf, states)))
            .Where(m => m.Validate() is null);

    /// <summary>Framework-wide fractions.</summary>
    public static readonly Gen<double> Frac = s_frac;
}
