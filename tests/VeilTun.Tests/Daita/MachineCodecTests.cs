using System.IO.Compression;
using CsCheck;
using VeilTun.Daita;
using Xunit;

namespace VeilTun.Tests.Daita;

public class MachineCodecTests
{
    // Vectors: machines from the maybenot 2.2.2 crate tests and from mullvadvpn-app (dist-assets/maybenot_machines).
    private const string NoOp = "02eNpjYEAHjOgCAAA0AAI=";
    private const string SimulatorExample = "02eNp1ibEJAEAIA5Nf7B3N0v1cSESwEL0m5A6YvBqSgP7WeXfM5UoBW7ICYg==";
    private const string ExampleMachine = "02eNpti1EJACAQQzcjWEjMYCEjGsUCojiUg+Pex2CPbe0HxCz4JCVJoJvF7SEjt+qUtnY+gDUNIg==";
    private const string MullvadM1 = "02eNptjLsNwCAQQ++yQRZImTJlRIfYBDEJA7ERJQtQ0iC+dxSIJ1mWLcv5TsLH9wMmF4KLqwkRAawk2yPR00CHX3V3j1GziWvE09NBBWg9Fjk=";
    private const string MullvadM2 = "02eNqFjLENwCAMBP8hC2SJlKnTsVr2zBKUaVACNgiBEJxknex/Oezv9fjjRCF8mXLY4pAEbpeFJFlFqJBGA7PqWQ3spCer4l3rnvGDH6+FGlE=";
    private const string MullvadM3 = "02eNqFjDkOgDAMBL056PkEJTVdvsY/+URKmojDmwiBUDyStbJ35DLuy5anWRrlqLTDcA0AkTXVkDt01ZAHwLFwludZeMsLLILlRRax4+lKcnrnl/8HJzqIIG0=";
    private const string MullvadM4 = "02eNpdjr0LQVEYxt9zGES5o4myKVksFM45lEHKx0LJYDAZ5C+QRTHIaGETViYDKYPp3ijFYLj3KkmGK2WwuVwiv3rrrafnA1Jm16ijKBQ+6NRDGPJ2E0Xe6YnAD0hFD9nm/ObIHumlv4imZ3Mm8DwvtaxB0Jy1IUex0pYIIB30lhuCYkYvwW6nQFSV41R1L8vkmwlgEOONVvEaYt1SwLhdhxn8gdBgEfXU7RFmzeR9YtPPxrbqOVkLsd29XJhIJfbqRomGheLcYUWeFgxQodrq9wcP1E88/w==";

    public static TheoryData<string, int> AllVectors => new()
    {
        { NoOp, 35 }, { SimulatorExample, 94 }, { ExampleMachine, 108 },
        { MullvadM1, 140 }, { MullvadM2, 220 }, { MullvadM3, 300 }, { MullvadM4, 239 },
    };

    private static Machine Parse(string s)
    {
        Assert.True(MachineCodec.TryParse(s, out Machine m, out string error), error);
        return m;
    }

    private static string Wrap(byte[] bincode)
    {
        using var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Optimal, leaveOpen: true)) z.Write(bincode);
        return "02" + Convert.ToBase64String(ms.ToArray());
    }

    private static Transition[]?[] NoTransitions() => new Transition[]?[13];

    private static Machine OneState(Transition[]?[] transitions, MachineAction? action = null,
        double mpf = 0, double mbf = 0, int extraStates = 0)
    {
        var states = new List<State> { new(action, null, null, transitions) };
        for (int i = 0; i < extraStates; i++) states.Add(new State(null, null, null, NoTransitions()));
        return new Machine(0, mpf, 0, mbf, states);
    }

    private static void AssertRejected(string s, string reasonFragment)
    {
        Assert.False(MachineCodec.TryParse(s, out _, out string error));
        Assert.Contains(reasonFragment, error, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [MemberData(nameof(AllVectors))]
    public void EveryVectorParsesAndReEncodesToIdenticalBincode(string vector, int expectedLength)
    {
        Assert.True(MachineCodec.TryDecompress(vector, out byte[] original, out string error), error);
        Assert.Equal(expectedLength, original.Length);
        Machine m = Parse(vector);
        Assert.Equal(original, MachineCodec.EncodeBincode(m));
        // The string round trip: our zlib output differs from miniz_oxide's, the bincode must not.
        string again = MachineCodec.Encode(m);
        Assert.True(MachineCodec.TryDecompress(again, out byte[] reinflated, out error), error);
        Assert.Equal(original, reinflated);
        Assert.Equal(original, MachineCodec.EncodeBincode(Parse(again)));
    }

    [Fact]
    public void NoOpMachineDecodesToTheSpecBytes()
    {
        Assert.True(MachineCodec.TryDecompress(NoOp, out byte[] bytes, out _));
        Assert.Equal(Convert.FromHexString("00" + "0000000000000000" + "00" + "0000000000000000" + "01" + "000000"
            + new string('0', 26)), bytes);
        Machine m = Parse(NoOp);
        Assert.Equal(0UL, m.AllowedPaddingPackets);
        Assert.Equal(0.0, m.MaxPaddingFrac);
        Assert.Single(m.States);
        Assert.Null(m.States[0].Action);
        Assert.All(m.States[0].Transitions, Assert.Null);
    }

    [Fact]
    public void SimulatorExampleDecodesToTheSpecBytesAndFields()
    {
        string expected = "00" + "0000000000000000" + "00" + "0000000000000000" + "02"
            + "000000" + "000000" + "0101010000803f" + new string('0', 18)
            + "01010000" + "00" + "0000000000000000" + "0000000000000000" + "000000000088d340" + "0000000000000000" + "00"
            + "0000" + new string('0', 26);
        Assert.True(MachineCodec.TryDecompress(SimulatorExample, out byte[] bytes, out _));
        Assert.Equal(Convert.FromHexString(expected), bytes);

        Machine m = Parse(SimulatorExample);
        Assert.Equal(2, m.States.Count);
        Assert.Equal([new Transition(1, 1.0f)], m.States[0].On(Event.NormalSent)!);
        var pad = Assert.IsType<MachineAction.SendPadding>(m.States[1].Action);
        Assert.False(pad.Bypass);
        Assert.False(pad.Replace);
        Assert.Equal(new Dist(DistType.Uniform, 0, 0, 0, 0, 20000.0, 0), pad.Timeout);
        Assert.Null(pad.Limit);
    }

    [Fact]
    public void ExampleMachineHasUnlimitedPaddingAndAFiveSecondLoop()
    {
        Machine m = Parse(ExampleMachine);
        Assert.Equal(ulong.MaxValue, m.AllowedPaddingPackets);
        Assert.Equal(1.0, m.MaxPaddingFrac);
        Assert.Equal([new Transition(1, 1.0f)], m.States[0].On(Event.TunnelRecv)!);
        var pad = Assert.IsType<MachineAction.SendPadding>(m.States[1].Action);
        Assert.Equal(Dist.Uniform(0, 0, start: 5_000_000), pad.Timeout);
        Assert.Equal([new Transition(0, 1.0f)], m.States[1].On(Event.PaddingSent)!);
    }

    [Fact]
    public void MullvadM1FieldsMatchTheSpec()
    {
        Machine m = Parse(MullvadM1);
        Assert.Equal(12990664840640529UL, m.AllowedPaddingPackets);
        Assert.Equal(ulong.MaxValue, m.AllowedBlockedMicrosec);
        Assert.Equal(0.0, m.MaxBlockingFrac);
        Assert.Equal(2, m.States.Count);
        foreach (Event e in new[] { Event.NormalRecv, Event.PaddingRecv, Event.NormalSent, Event.PaddingSent })
            Assert.Equal([new Transition(1, 1.0f)], m.States[0].On(e)!);
        var pad = Assert.IsType<MachineAction.SendPadding>(m.States[1].Action);
        Assert.Equal(DistType.Uniform, pad.Timeout.Type);
        Assert.Equal(1.5e6, pad.Timeout.P1);
        Assert.Equal(9.5e6, pad.Timeout.P2);
        Assert.Equal(1.0, pad.Timeout.Start);
    }

    [Fact]
    public void MullvadM2AndM3HaveFourAndSixStates()
    {
        Assert.Equal(4, Parse(MullvadM2).States.Count);
        Machine m3 = Parse(MullvadM3);
        Assert.Equal(6, m3.States.Count);
        Assert.IsType<MachineAction.SendPadding>(m3.States[^1].Action);
        Assert.All(new[] { Parse(MullvadM2), m3 }, m => Assert.Equal(ulong.MaxValue, m.AllowedBlockedMicrosec));
    }

    [Fact]
    public void MullvadM4UsesBinomialWeibullAndNormalLimit()
    {
        Machine m = Parse(MullvadM4);
        Assert.Equal(0.998, m.MaxPaddingFrac);
        Assert.Equal(3, m.States.Count);
        Transition[] nr = m.States[0].On(Event.NormalRecv)!;
        Assert.Equal(2, nr.Length);
        Assert.Equal(0.5435f, nr[0].Probability, 0.0001f);
        Assert.Equal(0.4565f, nr[1].Probability, 0.0001f);
        var s1 = Assert.IsType<MachineAction.SendPadding>(m.States[1].Action);
        Assert.True(s1.Bypass && s1.Replace);
        Assert.Equal(DistType.Binomial, s1.Timeout.Type);
        Assert.Equal(0UL, s1.Timeout.Trials);
        Assert.Equal(0.73, s1.Timeout.P1, 0.01);
        Assert.Equal(9598.682, s1.Timeout.Start, 0.001);
        Assert.Equal(484856.2, s1.Timeout.Max, 0.1);
        var s2 = Assert.IsType<MachineAction.SendPadding>(m.States[2].Action);
        Assert.Equal(DistType.Weibull, s2.Timeout.Type);
        Assert.Equal(37.894, s2.Timeout.P1, 0.001);
        Assert.Equal(43.655, s2.Timeout.P2, 0.001);
        Assert.Equal(DistType.Normal, s2.Limit!.Type);
        Assert.Equal(50.262, s2.Limit.P1, 0.001);
        Assert.Equal(28.562, s2.Limit.P2, 0.001);
        Assert.Equal([new Transition(1, 1.0f)], m.States[2].On(Event.LimitReached)!);
    }

    [Theory]
    [InlineData(null, "short")]
    [InlineData("", "short")]
    [InlineData("02", "short")]
    [InlineData("01eNpjYEAHjOgCAAA0AAI=", "prefix")]
    [InlineData("03eNpjYEAHjOgCAAA0AAI=", "prefix")]
    [InlineData("789c6360400380e80c0000340002", "prefix")] // v1 hex machines are gone since 2.2.0
    [InlineData("02eNpjYEAHjOgCAAA0AAI", "base64")] // missing padding
    [InlineData("02eNpjYEAHjOgCAAA0AAJ=", "base64")] // non-zero trailing bits
    [InlineData("02eNpjYEAH jOgCAAA0AAI=", "base64")] // whitespace
    [InlineData("02eNpjYEAHjOgCAAA0AAI=é", "ascii")]
    [InlineData("02AAAA", "zlib")]
    public void MalformedEnvelopesAreRejected(string? s, string reason)
    {
        Assert.False(MachineCodec.TryParse(s, out _, out string error));
        Assert.Contains(reason, error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void TrailingBincodeBytesAreRejected()
    {
        Assert.True(MachineCodec.TryDecompress(NoOp, out byte[] bytes, out _));
        AssertRejected(Wrap([.. bytes, 0]), "trailing");
    }

    [Fact]
    public void EveryTruncationOfEveryVectorIsRejected()
    {
        foreach (string v in new[] { NoOp, SimulatorExample, ExampleMachine, MullvadM1, MullvadM2, MullvadM3, MullvadM4 })
        {
            Assert.True(MachineCodec.TryDecompress(v, out byte[] bytes, out _));
            for (int n = 0; n < bytes.Length; n++)
                Assert.False(MachineCodec.TryParse(Wrap(bytes[..n]), out _, out _), $"prefix {n} of {v}");
        }
    }

    [Fact]
    public void InvalidTagsAreRejected()
    {
        Assert.True(MachineCodec.TryDecompress(NoOp, out byte[] bytes, out _));
        byte[] badOption = (byte[])bytes.Clone();
        badOption[19] = 2; // action Option tag
        AssertRejected(Wrap(badOption), "option");
        byte[] badVarint = (byte[])bytes.Clone();
        badVarint[0] = 0xFF;
        AssertRejected(Wrap(badVarint), "varint");
        byte[] u128 = (byte[])bytes.Clone();
        u128[0] = 0xFE;
        AssertRejected(Wrap(u128), "u128");
    }

    [Fact]
    public void ZlibBombIsCutAtOneMebibyteAndRejected()
    {
        // 64 MiB of zeros deflates to ~64 KiB; only MAX_DECOMPRESSED_SIZE bytes may be inflated (machine.rs from_str).
        string bomb = Wrap(new byte[64 << 20]);
        Assert.True(MachineCodec.TryDecompress(bomb, out byte[] inflated, out string error), error);
        Assert.Equal(1 << 20, inflated.Length);
        AssertRejected(bomb, "trailing");
    }

    [Fact]
    public void CorruptAdlerChecksumIsRejected()
    {
        byte[] z = Convert.FromBase64String(NoOp[2..]);
        z[^1] ^= 1;
        AssertRejected("02" + Convert.ToBase64String(z), "zlib");
    }

    [Fact]
    public void ExactlyOneMebibyteIsInflatedButFailsAsTrailingBytes()
    {
        Assert.True(MachineCodec.TryDecompress(NoOp, out byte[] noop, out _));
        byte[] big = new byte[1 << 20];
        noop.CopyTo(big, 0);
        Assert.True(MachineCodec.TryDecompress(Wrap(big), out byte[] inflated, out string error), error);
        Assert.Equal(1 << 20, inflated.Length);
        AssertRejected(Wrap(big), "trailing");
    }

    [Fact]
    public void SpecialTargetsEndAndSignalAreAcceptedAndEncodedAsU32()
    {
        var t = NoTransitions();
        t[(int)Event.NormalSent] = [new Transition(Constants.StateEnd, 0.5f), new Transition(Constants.StateSignal, 0.5f)];
        Machine m = OneState(t);
        byte[] bytes = MachineCodec.EncodeBincode(m);
        Assert.Contains("FCFFFFFFFF", Convert.ToHexString(bytes));
        Assert.Contains("FCFEFFFFFF", Convert.ToHexString(bytes));
        Assert.True(MachineCodec.TryParse(MachineCodec.Encode(m), out _, out string error), error);
    }

    public static TheoryData<string, object> InvalidMachines()
    {
        Transition[]?[] With(params Transition[] list) { var t = NoTransitions(); t[(int)Event.PaddingSent] = list; return t; }
        var badUniform = new MachineAction.SendPadding(false, false, Dist.Uniform(15, 5), null);
        var badLimit = new MachineAction.UpdateTimer(false, Dist.Uniform(1, 1), Dist.Uniform(double.NaN, 1));
        return new()
        {
            { "max_padding_frac", OneState(NoTransitions(), mpf: 1.5) },
            { "max_blocking_frac", OneState(NoTransitions(), mbf: -0.1) },
            { "at least one state", new Machine(0, 0, 0, 0, []) },
            { "out-of-bounds", OneState(With(new Transition(1, 1f))) },
            { "out-of-bounds", OneState(With(new Transition(Constants.StateSignal - 1, 1f))) },
            { "duplicate", OneState(With(new Transition(0, 0.4f), new Transition(0, 0.6f)), extraStates: 1) },
            { "probability", OneState(With(new Transition(0, 0f))) },
            { "probability", OneState(With(new Transition(0, 1.1f))) },
            { "total probability", OneState(With(new Transition(0, 0.5f), new Transition(1, 0.6f)), extraStates: 1) },
            { "total probability", OneState(With()) }, // Some(empty vector)
            { "Uniform", OneState(NoTransitions(), badUniform) },
            { "Uniform", OneState(NoTransitions(), badLimit) },
            { "Binomial", OneState(NoTransitions(), new MachineAction.SendPadding(false, false,
                new Dist(DistType.Binomial, 1e-10, 0, 0, 10, 0, 0), null)) },
            { "Binomial", OneState(NoTransitions(), new MachineAction.SendPadding(false, false,
                new Dist(DistType.Binomial, 0.5, 0, 0, 1_000_000_001, 0, 0), null)) },
            { "Poisson", OneState(NoTransitions(), new MachineAction.SendPadding(false, false,
                new Dist(DistType.Poisson, 0, 0, 0, 0, 0, 0), null)) },
            { "SkewNormal", OneState(NoTransitions(), new MachineAction.BlockOutgoing(false, false, Dist.Uniform(1, 1),
                new Dist(DistType.SkewNormal, 0, -1, 0, 0, 0, 0), null)) },
            { "Gamma", new Machine(0, 0, 0, 0, [new State(null,
                new Counter(CounterOperation.Set, new Dist(DistType.Gamma, 1, double.NaN, 0, 0, 0, 0), false), null,
                NoTransitions())]) },
        };
    }

    [Theory]
    [MemberData(nameof(InvalidMachines))]
    public void MachinesFailingValidationAreRejected(string reason, object machine)
    {
        AssertRejected(MachineCodec.Encode((Machine)machine), reason);
    }

    [Fact]
    public void NaNMachineFracPassesValidationAsInRust()
    {
        // machine.rs: `frac < 0.0 || frac > 1.0` is false for NaN, so the crate accepts it.
        Assert.True(MachineCodec.TryParse(MachineCodec.Encode(OneState(NoTransitions(), mpf: double.NaN)), out _, out string e), e);
    }

    [Fact]
    public void TooManyStatesAreRejected()
    {
        var states = Enumerable.Range(0, Constants.StateMax + 1).Select(_ => new State(null, null, null, NoTransitions())).ToArray();
        // STATE_MAX is only reachable through Validate(): 16 bytes per empty state exceed the 1 MiB inflate cap first.
        Assert.Contains("too many states", new Machine(0, 0, 0, 0, states).Validate());
        Assert.Null(new Machine(0, 0, 0, 0, states[..Constants.StateMax]).Validate());
        AssertRejected(MachineCodec.Encode(new Machine(0, 0, 0, 0, states)), "state count exceeds input size");
        int fits = ((1 << 20) - 21) / 16; // 21-byte header (18 + a 3-byte state-count varint)
        Assert.True(MachineCodec.TryParse(MachineCodec.Encode(new Machine(0, 0, 0, 0, states[..fits])), out _, out string e), e);
    }

    [Fact]
    public void RandomStringsAreRejectedWithoutExceptions()
    {
        Gen.String.Sample(s => Assert.False(MachineCodec.TryParse(s, out _, out _)), iter: 2000);
        Gen.String[Gen.Char["A-Za-z0-9+/="], 0, 80].Sample(s =>
            Assert.False(MachineCodec.TryParse("02" + s, out _, out _)), iter: 2000);
    }

    [Fact]
    public void RandomCompressedPayloadsAreRejectedWithoutExceptions()
    {
        // Valid Base64, zlib header 78 DA as Rust writes it, random deflate body: exercises ZLibStream error paths.
        Gen.Byte.Array[0, 120].Sample(body =>
        {
            Assert.False(MachineCodec.TryParse("02" + Convert.ToBase64String(body), out _, out _));
            Assert.False(MachineCodec.TryParse("02" + Convert.ToBase64String([0x78, 0xDA, .. body]), out _, out _));
        }, iter: 3000);
    }

    [Fact]
    public void RandomBincodeNeverThrowsAndAcceptedInputIsValid()
    {
        Gen.Byte.Array[0, 200].Sample(bytes =>
        {
            if (MachineCodec.TryParse(Wrap(bytes), out Machine m, out _)) Assert.Null(m.Validate());
        }, iter: 2000);
    }

    [Fact]
    public void MutatedVectorsNeverThrow()
    {
        Assert.True(MachineCodec.TryDecompress(MullvadM4, out byte[] original, out _));
        Gen.Select(Gen.Int[0, original.Length - 1], Gen.Byte).Array[1, 4].Sample(edits =>
        {
            byte[] b = (byte[])original.Clone();
            foreach ((int i, byte v) in edits) b[i] = v;
            if (MachineCodec.TryParse(Wrap(b), out Machine m, out _)) Assert.Null(m.Validate());
        }, iter: 3000);
    }

    private static readonly Gen<Dist> s_dist =
        Gen.Select(Gen.Int[0, 10], Gen.Double, Gen.Double, Gen.Double, Gen.ULong, Gen.Double, Gen.Double)
            .Select((k, a, b, c, trials, start, max) =>
            {
                var t = (DistType)k;
                int n = Dist.ParamCount(t);
                return new Dist(t, a, n > 1 ? b : 0, n > 2 ? c : 0, t == DistType.Binomial ? trials : 0, start, max);
            });

    private static readonly Gen<MachineAction?> s_action = Gen.Int[0, 4].SelectMany(k => k switch
    {
        0 => Gen.Int[0, 2].Select(t => (MachineAction?)new MachineAction.Cancel((MachineTimer)t)),
        1 => Gen.Select(Gen.Bool, Gen.Bool, s_dist, s_dist.Null()).Select((x, y, d, l) => (MachineAction?)new MachineAction.SendPadding(x, y, d, l)),
        2 => Gen.Select(Gen.Bool, Gen.Bool, s_dist, s_dist, s_dist.Null()).Select((x, y, d, e, l) => (MachineAction?)new MachineAction.BlockOutgoing(x, y, d, e, l)),
        3 => Gen.Select(Gen.Bool, s_dist, s_dist.Null()).Select((y, d, l) => (MachineAction?)new MachineAction.UpdateTimer(y, d, l)),
        _ => Gen.Const((MachineAction?)null),
    });

    private static readonly Gen<Counter?> s_counter =
        Gen.Select(Gen.Int[0, 2], s_dist.Null(), Gen.Bool).Select((o, d, c) => new Counter((CounterOperation)o, d, c)).Null();

    private static readonly Gen<Transition[]?> s_transitions =
        Gen.Select(Gen.ULong, Gen.Float).Select((t, p) => new Transition(t, p)).Array[0, 3].Null();

    private static readonly Gen<State> s_state =
        Gen.Select(s_action, s_counter, s_counter, s_transitions.Array[13]).Select((a, ca, cb, t) => new State(a, ca, cb, t));

    private static readonly Gen<Machine> s_machine =
        Gen.Select(Gen.ULong, Gen.Double, Gen.ULong, Gen.Double, s_state.Array[0, 4])
            .Select((app, mpf, abm, mbf, s) => new Machine(app, mpf, abm, mbf, s));

    [Fact]
    public void ArbitraryMachinesRoundTripThroughBincodeAndString()
    {
        s_machine.Sample(m =>
        {
            byte[] bytes = MachineCodec.EncodeBincode(m);
            Assert.True(MachineCodec.TryDecodeBincode(bytes, out Machine back, out string error), error);
            Assert.Equal(bytes, MachineCodec.EncodeBincode(back));
            Assert.True(MachineCodec.TryDecompress(MachineCodec.Encode(m), out byte[] inflated, out error), error);
            Assert.Equal(bytes, inflated);
            // Parse agrees with Validate.
            Assert.Equal(m.Validate() is null, MachineCodec.TryParse(MachineCodec.Encode(m), out _, out _));
        }, iter: 500);
    }
}
