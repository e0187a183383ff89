using System.Globalization;
using System.Text.Json;
using CsCheck;
using VeilTun.Daita;
using Xunit;

namespace VeilTun.Tests.Daita;

public class MachineJsonTests
{
    // Machine strings: from the maybenot 2.2.2 crate tests and mullvadvpn-app (dist-assets/maybenot_machines). Expected JSON below was written out by hand from the decoded
    // values and the serde derives in maybenot-io/maybenot@51ce20e crates/maybenot/src/{machine,state,action,
    // counter,dist}.rs (plain #[derive(Serialize)], no #[serde] attributes): externally tagged enums, Option → null,
    // tuples / [T; 13] / tuple struct Trans(usize, f32) → arrays; floats as serde_json prints them.
    private const string NoOp = "02eNpjYEAHjOgCAAA0AAI=";
    private const string SimulatorExample = "02eNp1ibEJAEAIA5Nf7B3N0v1cSESwEL0m5A6YvBqSgP7WeXfM5UoBW7ICYg==";
    private const string ExampleMachine = "02eNpti1EJACAQQzcjWEjMYCEjGsUCojiUg+Pex2CPbe0HxCz4JCVJoJvF7SEjt+qUtnY+gDUNIg==";
    private const string MullvadM1 = "02eNptjLsNwCAQQ++yQRZImTJlRIfYBDEJA7ERJQtQ0iC+dxSIJ1mWLcv5TsLH9wMmF4KLqwkRAawk2yPR00CHX3V3j1GziWvE09NBBWg9Fjk=";
    private const string MullvadM2 = "02eNqFjLENwCAMBP8hC2SJlKnTsVr2zBKUaVACNgiBEJxknex/Oezv9fjjRCF8mXLY4pAEbpeFJFlFqJBGA7PqWQ3spCer4l3rnvGDH6+FGlE=";
    private const string MullvadM3 = "02eNqFjDkOgDAMBL056PkEJTVdvsY/+URKmojDmwiBUDyStbJ35DLuy5anWRrlqLTDcA0AkTXVkDt01ZAHwLFwludZeMsLLILlRRax4+lKcnrnl/8HJzqIIG0=";
    private const string MullvadM4 = "02eNpdjr0LQVEYxt9zGES5o4myKVksFM45lEHKx0LJYDAZ5C+QRTHIaGETViYDKYPp3ijFYLj3KkmGK2WwuVwiv3rrrafnA1Jm16ijKBQ+6NRDGPJ2E0Xe6YnAD0hFD9nm/ObIHumlv4imZ3Mm8DwvtaxB0Jy1IUex0pYIIB30lhuCYkYvwW6nQFSV41R1L8vkmwlgEOONVvEaYt1SwLhdhxn8gdBgEfXU7RFmzeR9YtPPxrbqOVkLsd29XJhIJfbqRomGheLcYUWeFgxQodrq9wcP1E88/w==";

    private const string NoOpJson =
        """{"allowed_padding_packets":0,"max_padding_frac":0.0,"allowed_blocked_microsec":0,"max_blocking_frac":0.0,"states":[{"action":null,"counter":[null,null],"transitions":[null,null,null,null,null,null,null,null,null,null,null,null,null]}]}""";

    // s0: NormalSent → [(1, 1.0)]; s1: SendPadding { Uniform(0, 0), start 20000 }.
    private const string SimulatorExampleJson =
        """{"allowed_padding_packets":0,"max_padding_frac":0.0,"allowed_blocked_microsec":0,"max_blocking_frac":0.0,"states":[{"action":null,"counter":[null,null],"transitions":[null,null,null,[[1,1.0]],null,null,null,null,null,null,null,null,null]},{"action":{"SendPadding":{"bypass":false,"replace":false,"timeout":{"dist":{"Uniform":{"low":0.0,"high":0.0}},"start":20000.0,"max":0.0},"limit":null}},"counter":[null,null],"transitions":[null,null,null,null,null,null,null,null,null,null,null,null,null]}]}""";

    // allowed_padding_packets = u64::MAX, max_padding_frac 1.0; s0: TunnelRecv → 1; s1: pad after 5 s, PaddingSent → 0.
    private const string ExampleMachineJson =
        """{"allowed_padding_packets":18446744073709551615,"max_padding_frac":1.0,"allowed_blocked_microsec":0,"max_blocking_frac":0.0,"states":[{"action":null,"counter":[null,null],"transitions":[null,null,[[1,1.0]],null,null,null,null,null,null,null,null,null,null]},{"action":{"SendPadding":{"bypass":false,"replace":false,"timeout":{"dist":{"Uniform":{"low":0.0,"high":0.0}},"start":5000000.0,"max":0.0},"limit":null}},"counter":[null,null],"transitions":[null,null,null,null,[[0,1.0]],null,null,null,null,null,null,null,null]}]}""";

    // (12990664840640529, 0.0, u64::MAX, 0.0); s0 {NR, PR, NS, PS} → 1; s1 pad Uniform[1.5e6, 9.5e6) start 1.0, {NS, PS} → 1.
    private const string MullvadM1Json =
        """{"allowed_padding_packets":12990664840640529,"max_padding_frac":0.0,"allowed_blocked_microsec":18446744073709551615,"max_blocking_frac":0.0,"states":[{"action":null,"counter":[null,null],"transitions":[[[1,1.0]],[[1,1.0]],null,[[1,1.0]],[[1,1.0]],null,null,null,null,null,null,null,null]},{"action":{"SendPadding":{"bypass":false,"replace":false,"timeout":{"dist":{"Uniform":{"low":1500000.0,"high":9500000.0}},"start":1.0,"max":0.0},"limit":null}},"counter":[null,null],"transitions":[null,null,null,[[1,1.0]],[[1,1.0]],null,null,null,null,null,null,null,null]}]}""";

    // (0, 0.998, 0, 0.0). f32 probabilities in ryu's shortest form (0.54347825f, ...).
    private const string MullvadM4Json =
        """{"allowed_padding_packets":0,"max_padding_frac":0.998,"allowed_blocked_microsec":0,"max_blocking_frac":0.0,"states":[""" +
        """{"action":null,"counter":[null,null],"transitions":[[[0,0.54347825],[1,0.45652175]],null,null,null,null,null,null,null,null,null,null,null,null]},""" +
        """{"action":{"SendPadding":{"bypass":true,"replace":true,"timeout":{"dist":{"Binomial":{"trials":0,"probability":0.73}},"start":9598.682,"max":484856.2},"limit":null}},"counter":[null,null],"transitions":[null,[[0,0.56130266],[2,0.4386973]],null,[[0,0.41955298],[1,0.17972681],[2,0.40072018]],[[0,0.5588235],[2,0.44117647]],null,null,null,null,null,null,null,null]},""" +
        """{"action":{"SendPadding":{"bypass":false,"replace":false,"timeout":{"dist":{"Weibull":{"scale":37.894,"shape":43.655}},"start":0.0,"max":0.0},"limit":{"dist":{"Normal":{"mean":50.262,"stdev":28.562}},"start":37.065,"max":270.046}}},"counter":[null,null],"transitions":[null,[[1,0.592],[2,0.408]],null,null,[[2,1.0]],null,null,null,[[1,1.0]],null,null,null,null]}""" +
        """]}""";

    // M2/M3 (same limits as M1): states 0..n-2 have {NR, PR} → next, {NS, PS} → 0; the last pads after U(1, 1) and
    // has {NS, PS} → 0. Built from literal fragments.
    private static string MullvadChainJson(int states)
    {
        string json = """{"allowed_padding_packets":12990664840640529,"max_padding_frac":0.0,"allowed_blocked_microsec":18446744073709551615,"max_blocking_frac":0.0,"states":[""";
        for (int i = 0; i < states - 1; i++)
        {
            json += """{"action":null,"counter":[null,null],"transitions":[[[""" + (i + 1) + """,1.0]],[[""" + (i + 1) +
                """,1.0]],null,[[0,1.0]],[[0,1.0]],null,null,null,null,null,null,null,null]},""";
        }
        return json +
            """{"action":{"SendPadding":{"bypass":false,"replace":false,"timeout":{"dist":{"Uniform":{"low":1.0,"high":1.0}},"start":0.0,"max":0.0},"limit":null}},"counter":[null,null],"transitions":[null,null,null,[[0,1.0]],[[0,1.0]],null,null,null,null,null,null,null,null]}]}""";
    }

    // serde_json PrettyFormatter (ser.rs): two-space indent, "key": value, one element per line, no trailing newline.
    private const string SimulatorExamplePrettyJson = """
        {
          "allowed_padding_packets": 0,
          "max_padding_frac": 0.0,
          "allowed_blocked_microsec": 0,
          "max_blocking_frac": 0.0,
          "states": [
            {
              "action": null,
              "counter": [
                null,
                null
              ],
              "transitions": [
                null,
                null,
                null,
                [
                  [
                    1,
                    1.0
                  ]
                ],
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null
              ]
            },
            {
              "action": {
                "SendPadding": {
                  "bypass": false,
                  "replace": false,
                  "timeout": {
                    "dist": {
                      "Uniform": {
                        "low": 0.0,
                        "high": 0.0
                      }
                    },
                    "start": 20000.0,
                    "max": 0.0
                  },
                  "limit": null
                }
              },
              "counter": [
                null,
                null
              ],
              "transitions": [
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null
              ]
            }
          ]
        }
        """;

    private const string NoOpListPrettyJson = """
        [
          {
            "allowed_padding_packets": 0,
            "max_padding_frac": 0.0,
            "allowed_blocked_microsec": 0,
            "max_blocking_frac": 0.0,
            "states": [
              {
                "action": null,
                "counter": [
                  null,
                  null
                ],
                "transitions": [
                  null,
                  null,
                  null,
                  null,
                  null,
                  null,
                  null,
                  null,
                  null,
                  null,
                  null,
                  null,
                  null
                ]
              }
            ]
          }
        ]
        """;

    public static TheoryData<string, string> CompactVectors => new()
    {
        { NoOp, NoOpJson },
        { SimulatorExample, SimulatorExampleJson },
        { ExampleMachine, ExampleMachineJson },
        { MullvadM1, MullvadM1Json },
        { MullvadM2, MullvadChainJson(4) },
        { MullvadM3, MullvadChainJson(6) },
        { MullvadM4, MullvadM4Json },
    };

    private static Machine Parse(string s)
    {
        Assert.True(MachineCodec.TryParse(s, out Machine m, out string error), error);
        return m;
    }

    private static string Minify(JsonElement e)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms)) e.WriteTo(w);
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }

    private static Transition[]?[] Slots(params (Event Event, Transition[] List)[] entries)
    {
        var slots = new Transition[]?[Constants.EventNum];
        foreach ((Event e, Transition[] list) in entries) slots[(int)e] = list;
        return slots;
    }

    [Theory]
    [MemberData(nameof(CompactVectors))]
    public void SpecVectorSerializesLikeSerdeJsonToString(string machineString, string expectedJson)
    {
        Machine m = Parse(machineString);
        Assert.Equal(expectedJson, MachineJson.Serialize(m));
        // No float in these vectors reaches exponent notation, so both serde_json float printers agree.
        Assert.Equal(expectedJson, MachineJson.Serialize(m, pretty: false, SerdeJsonFloatFormat.Ryu));
    }

    [Theory]
    [MemberData(nameof(CompactVectors))]
    public void SpecVectorJsonIsValidAndPrettyFormIsTheSameDocument(string machineString, string expectedJson)
    {
        Machine m = Parse(machineString);
        string pretty = MachineJson.Serialize(m, pretty: true);
        using JsonDocument compactDoc = JsonDocument.Parse(MachineJson.Serialize(m));
        using JsonDocument prettyDoc = JsonDocument.Parse(pretty);
        Assert.True(JsonElement.DeepEquals(compactDoc.RootElement, prettyDoc.RootElement));
        Assert.Equal(expectedJson, Minify(prettyDoc.RootElement)); // numbers are re-written verbatim
        Assert.DoesNotContain('\r', pretty);
        Assert.False(pretty.EndsWith('\n'));
    }

    [Fact]
    public void SimulatorExamplePrettyMatchesSerdeJsonToStringPretty()
    {
        Assert.Equal(SimulatorExamplePrettyJson, MachineJson.Serialize(Parse(SimulatorExample), pretty: true));
    }

    [Fact]
    public void MachineListSerializesAsJsonArray()
    {
        Machine noop = Parse(NoOp);
        Assert.Equal("[]", MachineJson.Serialize(Array.Empty<Machine>()));
        Assert.Equal("[]", MachineJson.Serialize(Array.Empty<Machine>(), pretty: true));
        Assert.Equal("[" + NoOpJson + "," + SimulatorExampleJson + "]",
            MachineJson.Serialize(new[] { noop, Parse(SimulatorExample) }));
        Assert.Equal(NoOpListPrettyJson, MachineJson.Serialize(new[] { noop }, pretty: true));
    }

    // Every Action / Timer / Operation / DistType variant, STATE_END / STATE_SIGNAL targets, Some(empty) transitions,
    // and the float edge cases: NaN/inf → null, -0.0, exponent notation (zmij "e+", ryu bare), subnormals, f32 limits.
    private static Machine KitchenSink()
    {
        Dist D(DistType t, double p1, double p2, double p3 = 0, ulong trials = 0, double start = 0, double max = 0) =>
            new(t, p1, p2, p3, trials, start, max);
        var states = new List<State>
        {
            new(new MachineAction.Cancel(MachineTimer.Action),
                new Counter(CounterOperation.Increment, null, false),
                new Counter(CounterOperation.Decrement, D(DistType.Geometric, 0.5, 0), true),
                Slots((Event.NormalRecv, [new(Constants.StateEnd, 0.5f), new(Constants.StateSignal, 0.25f)]),
                      (Event.Signal, [new(0, 1e-7f)]))),
            new(new MachineAction.BlockOutgoing(true, false,
                    D(DistType.SkewNormal, 1.0, 2.5, -3.0, start: 1e16, max: double.PositiveInfinity),
                    D(DistType.LogNormal, 0.1, 0.2, start: 1.2345678901234568e17, max: 1e-5),
                    D(DistType.Poisson, 12.0, 0)),
                new Counter(CounterOperation.Set, D(DistType.Binomial, 1e-9, 0, trials: 1_000_000_000), false),
                null,
                Slots()),
            new(new MachineAction.UpdateTimer(true,
                    D(DistType.Pareto, 1e-6, 1e300, start: 0.3, max: double.MaxValue), null),
                null, null,
                Slots((Event.CounterZero, [new(1, 1.0f)]), (Event.TimerEnd, []))),
            new(new MachineAction.Cancel(MachineTimer.Internal),
                new Counter(CounterOperation.Increment, D(DistType.Gamma, 2.0, 0.5, start: double.Epsilon, max: 123.456), false),
                new Counter(CounterOperation.Set, D(DistType.Beta, 0.1, 0.9), false),
                Slots()),
            new(new MachineAction.Cancel(MachineTimer.All),
                new Counter(CounterOperation.Decrement, D(DistType.Uniform, -1.5, 2.5, start: -0.0, max: 1e15), false),
                new Counter(CounterOperation.Increment, D(DistType.Weibull, 1e21, 3.0), false),
                Slots()),
            new(new MachineAction.SendPadding(false, true,
                    D(DistType.Normal, -2.0, double.NaN, start: 1e-5, max: 1e-6), D(DistType.Uniform, 3.0, 3.0)),
                null, null,
                Slots((Event.TunnelSent, [new(2, 0.1f), new(3, float.NaN)]),
                      (Event.BlockingBegin, [new(5, float.MaxValue)]),
                      (Event.BlockingEnd, [new(0, float.Epsilon)]),
                      (Event.TimerBegin, [new(1, 16777216f), new(2, 1e13f), new(4, 1e12f), new(0, -1e-6f)]))),
        };
        return new Machine(1, double.NaN, 4294967295, -0.0, states);
    }

    private const string N13 = "null,null,null,null,null,null,null,null,null,null,null,null,null";

    private const string KitchenSinkJson =
        """{"allowed_padding_packets":1,"max_padding_frac":null,"allowed_blocked_microsec":4294967295,"max_blocking_frac":-0.0,"states":[""" +
        """{"action":{"Cancel":{"timer":"Action"}},"counter":[{"operation":"Increment","dist":null,"copy":false},{"operation":"Decrement","dist":{"dist":{"Geometric":{"probability":0.5}},"start":0.0,"max":0.0},"copy":true}],"transitions":[[[4294967295,0.5],[4294967294,0.25]],null,null,null,null,null,null,null,null,null,null,null,[[0,1e-7]]]},""" +
        """{"action":{"BlockOutgoing":{"bypass":true,"replace":false,"timeout":{"dist":{"SkewNormal":{"location":1.0,"scale":2.5,"shape":-3.0}},"start":1e+16,"max":null},"duration":{"dist":{"LogNormal":{"mu":0.1,"sigma":0.2}},"start":1.2345678901234568e+17,"max":0.00001},"limit":{"dist":{"Poisson":{"lambda":12.0}},"start":0.0,"max":0.0}}},"counter":[{"operation":"Set","dist":{"dist":{"Binomial":{"trials":1000000000,"probability":1e-9}},"start":0.0,"max":0.0},"copy":false},null],"transitions":[""" + N13 + """]},""" +
        """{"action":{"UpdateTimer":{"replace":true,"duration":{"dist":{"Pareto":{"scale":1e-6,"shape":1e+300}},"start":0.3,"max":1.7976931348623157e+308},"limit":null}},"counter":[null,null],"transitions":[null,null,null,null,null,null,null,null,null,[[1,1.0]],null,[],null]},""" +
        """{"action":{"Cancel":{"timer":"Internal"}},"counter":[{"operation":"Increment","dist":{"dist":{"Gamma":{"scale":2.0,"shape":0.5}},"start":5e-324,"max":123.456},"copy":false},{"operation":"Set","dist":{"dist":{"Beta":{"alpha":0.1,"beta":0.9}},"start":0.0,"max":0.0},"copy":false}],"transitions":[""" + N13 + """]},""" +
        """{"action":{"Cancel":{"timer":"All"}},"counter":[{"operation":"Decrement","dist":{"dist":{"Uniform":{"low":-1.5,"high":2.5}},"start":-0.0,"max":1000000000000000.0},"copy":false},{"operation":"Increment","dist":{"dist":{"Weibull":{"scale":1e+21,"shape":3.0}},"start":0.0,"max":0.0},"copy":false}],"transitions":[""" + N13 + """]},""" +
        """{"action":{"SendPadding":{"bypass":false,"replace":true,"timeout":{"dist":{"Normal":{"mean":-2.0,"stdev":null}},"start":0.00001,"max":1e-6},"limit":{"dist":{"Uniform":{"low":3.0,"high":3.0}},"start":0.0,"max":0.0}}},"counter":[null,null],"transitions":[null,null,null,null,null,[[2,0.1],[3,null]],[[5,3.4028235e+38]],[[0,1e-45]],null,null,[[1,16777216.0],[2,1e+13],[4,1000000000000.0],[0,-0.000001]],null,null]}""" +
        """]}""";

    [Fact]
    public void EveryVariantAndFloatEdgeSerializesLikeCurrentSerdeJson()
    {
        string json = MachineJson.Serialize(KitchenSink());
        Assert.Equal(KitchenSinkJson, json);
        using JsonDocument _ = JsonDocument.Parse(json);
    }

    [Fact]
    public void RyuFloatFormatDropsThePlusSignOfExponents()
    {
        // serde_json ≤ 1.0.146 printed floats with ryu: "1e16" where zmij prints "1e+16"; nothing else differs.
        // KitchenSinkJson has no "e+" outside float tokens, so the textual replace is exact.
        Assert.Equal(KitchenSinkJson.Replace("e+", "e", StringComparison.Ordinal),
            MachineJson.Serialize(KitchenSink(), pretty: false, SerdeJsonFloatFormat.Ryu));
    }

    [Fact]
    public void PrettyPrintsEmptyTransitionListAsBracketsAndNestedVariantsIndented()
    {
        var m = new Machine(0, 0.5, 0, 0, new List<State>
        {
            new(new MachineAction.Cancel(MachineTimer.All), null,
                new Counter(CounterOperation.Set, null, true), Slots((Event.NormalRecv, []))),
        });
        const string expected = """
            {
              "allowed_padding_packets": 0,
              "max_padding_frac": 0.5,
              "allowed_blocked_microsec": 0,
              "max_blocking_frac": 0.0,
              "states": [
                {
                  "action": {
                    "Cancel": {
                      "timer": "All"
                    }
                  },
                  "counter": [
                    null,
                    {
                      "operation": "Set",
                      "dist": null,
                      "copy": true
                    }
                  ],
                  "transitions": [
                    [],
                    null,
                    null,
                    null,
                    null,
                    null,
                    null,
                    null,
                    null,
                    null,
                    null,
                    null,
                    null
                  ]
                }
              ]
            }
            """;
        Assert.Equal(expected, MachineJson.Serialize(m, pretty: true));
    }

    // dtolnay/ryu tests/d2s_test.rs (check!(x) asserts ryu's output equals the literal's own spelling):
    // test_ryu, test_basic, test_switch_to_subnormal, test_min_and_max, test_lots_of_trailing_zeros, test_regression,
    // test_looks_like_pow5, test_output_length, test_min_max_shift, test_small_integers (sample).
    public static TheoryData<string> RyuD2sCases => new()
    {
        "0.3", "1234000000000000.0", "1.234e16", "2.71828", "1.1e128", "1.1e-64", "2.718281828459045", "5e-324",
        "1.7976931348623157e308", "0.0", "-0.0", "1.0", "-1.0", "2.2250738585072014e-308", "2.9802322387695312e-8",
        "-2.109808898695963e16", "4.940656e-318", "1.18575755e-316", "2.989102097996e-312", "9060801153433600.0",
        "4.708356024711512e18", "9.409340012568248e18", "1.2345678", "5.764607523034235e39", "1.152921504606847e40",
        "2.305843009213694e40", "1.2", "1.23", "1.234", "1.2345", "1.23456", "1.234567", "1.23456789", "1.234567895",
        "1.2345678901", "1.23456789012", "1.234567890123", "1.2345678901234", "1.23456789012345",
        "1.234567890123456", "1.2345678901234567", "4.294967294", "4.294967295", "4.294967296", "4.294967297",
        "4.294967298", "1.7800590868057611e-307", "2.8480945388892175e-306", "2.446494580089078e-296",
        "4.8929891601781557e-296", "1.8014398509481984e16", "3.6028797018963964e16", "2.900835519859558e-216",
        "5.801671039719115e-216", "3.196104012172126e-27", "9007199254740991.0", "9007199254740992.0", "12.0",
        "1234567895.0", "1234567890123456.0", "1000000000000000.0", "1000000000000001.0", "1100000000000000.0",
        "562949953421312.0", "8796093022208000.0",
    };

    // dtolnay/ryu tests/f2s_test.rs: test_ryu, test_basic, test_switch_to_subnormal, test_min_and_max,
    // test_boundary_round_even, test_exact_value_round_even, test_lots_of_trailing_zeros, test_regression,
    // test_looks_like_pow5, test_output_length.
    public static TheoryData<string> RyuF2sCases => new()
    {
        "0.3", "1234000000000.0", "1.234e13", "2.71828", "1.1e32", "1.1e-32", "2.7182817", "1e-45", "3.4028235e38",
        "-0.001234", "0.0", "-0.0", "1.0", "-1.0", "1.1754944e-38", "33554450.0", "9000000000.0", "34366720000.0",
        "305404.12", "8099.0312", "0.00024414062", "0.0024414062", "0.0043945312", "0.0063476562", "4.7223665e21",
        "8388608.0", "16777216.0", "33554436.0", "67131496.0", "1.9310392e-38", "-2.47e-43", "1.993244e-38",
        "4103.9004", "5339999700.0", "6.0898e-39", "0.0010310042", "2.882326e17", "7.038531e-26", "9.223404e17",
        "67108870.0", "1e-44", "2.816025e14", "9.223372e18", "1.5846086e29", "1.1811161e19", "5.368709e18",
        "4.6143166e18", "0.007812537", "1.18697725e20", "1.00014165e-36", "200.0", "33554432.0", "6.7108864e17",
        "1.3421773e18", "2.6843546e18", "1.2", "1.23", "1.234", "1.2345", "1.23456", "1.234567", "1.2345678",
        "1.23456735e-36",
    };

    // zmij (serde_json ≥ 1.0.147) prints the same digits and layout but signs a non-negative exponent:
    // dtolnay/zmij tests/ryu_comparison.rs compares `ryu.split_once('e') == zmij.split_once("e+")`.
    private static string ZmijSpelling(string ryu) =>
        ryu.Contains('e', StringComparison.Ordinal) && !ryu.Contains("e-", StringComparison.Ordinal)
            ? ryu.Replace("e", "e+", StringComparison.Ordinal) : ryu;

    [Theory]
    [MemberData(nameof(RyuD2sCases))]
    public void F64TokenMatchesRyuD2sTest(string ryuText)
    {
        double v = double.Parse(ryuText, CultureInfo.InvariantCulture);
        Assert.Equal(ryuText, MachineJson.FormatF64(v, SerdeJsonFloatFormat.Ryu));
        Assert.Equal(ZmijSpelling(ryuText), MachineJson.FormatF64(v, SerdeJsonFloatFormat.Zmij));
    }

    [Theory]
    [MemberData(nameof(RyuF2sCases))]
    public void F32TokenMatchesRyuF2sTest(string ryuText)
    {
        float v = float.Parse(ryuText, CultureInfo.InvariantCulture);
        Assert.Equal(ryuText, MachineJson.FormatF32(v, SerdeJsonFloatFormat.Ryu));
        Assert.Equal(ZmijSpelling(ryuText), MachineJson.FormatF32(v, SerdeJsonFloatFormat.Zmij));
    }

    [Fact]
    public void FloatTokensMatchZmijAndSerdeJsonTests()
    {
        // dtolnay/zmij tests/test.rs (dtoa_test / ftoa_test).
        Assert.Equal("6.62607015e-34", MachineJson.FormatF64(6.62607015e-34));
        Assert.Equal("544431068535091.6", MachineJson.FormatF64(5.444310685350916e+14));
        Assert.Equal("1.234e-320", MachineJson.FormatF64(1.234e-320));
        Assert.Equal("2.2250738585072004e-308", MachineJson.FormatF64(2.2250738585072004e-308));
        Assert.Equal("-4.932096661796888e-226", MachineJson.FormatF64(-4.932096661796888e-226));
        Assert.Equal("3.439070283483335e+35", MachineJson.FormatF64(3.439070283483335e+35));
        Assert.Equal("6.606854224493745e-17", MachineJson.FormatF64(6.606854224493745e-17));
        Assert.Equal("6.079537928711555e+61", MachineJson.FormatF64(6.079537928711555e+61));
        Assert.Equal("43210.1", MachineJson.FormatF64(43210.1));
        Assert.Equal("-5942736479622170.0", MachineJson.FormatF64(-5942736479622170.0));
        Assert.Equal("134217800.0", MachineJson.FormatF32(1.342178e+08f));
        Assert.Equal("134217810.0", MachineJson.FormatF32(1.3421781e+08f));
        Assert.Equal("6.62607e-34", MachineJson.FormatF32(6.62607e-34f));
        Assert.Equal("43210.1", MachineJson.FormatF32(43210.1f));
        // serde-rs/json tests/test.rs test_write_f64 and tests/debug.rs (1.0.150).
        Assert.Equal("-1.7976931348623157e+308", MachineJson.FormatF64(double.MinValue));
        Assert.Equal("2.220446049250313e-16", MachineJson.FormatF64(Math.BitIncrement(1.0) - 1.0));
        Assert.Equal("1.2e+41", MachineJson.FormatF64(12e40));
        Assert.Equal("1.2e41", MachineJson.FormatF64(12e40, SerdeJsonFloatFormat.Ryu));
        // serde_json ser.rs serialize_f64/serialize_f32: NaN and infinities are written as null.
        Assert.Equal("null", MachineJson.FormatF64(double.NaN));
        Assert.Equal("null", MachineJson.FormatF64(double.NegativeInfinity));
        Assert.Equal("null", MachineJson.FormatF32(float.PositiveInfinity));
        Assert.Equal("null", MachineJson.FormatF32(-float.NaN));
    }

    [Fact]
    public void FixedNotationSwitchesToExponentAtRyuThresholds()
    {
        // ryu src/pretty/mod.rs: f64 fixed iff -5 < kk <= 16, f32 iff -6 < kk <= 13 (10^(kk-1) <= |v| < 10^kk).
        Assert.Equal("1000000000000000.0", MachineJson.FormatF64(1e15));
        Assert.Equal("1e+16", MachineJson.FormatF64(1e16));
        Assert.Equal("0.00001", MachineJson.FormatF64(1e-5));
        Assert.Equal("1e-6", MachineJson.FormatF64(1e-6));
        Assert.Equal("-0.000012", MachineJson.FormatF64(-1.2e-5));
        Assert.Equal("1.2e-6", MachineJson.FormatF64(1.2e-6));
        Assert.Equal("1000000000000.0", MachineJson.FormatF32(1e12f));
        Assert.Equal("1e+13", MachineJson.FormatF32(1e13f));
        Assert.Equal("0.000001", MachineJson.FormatF32(1e-6f));
        Assert.Equal("1e-7", MachineJson.FormatF32(1e-7f));
    }

    [Fact]
    public void EveryFiniteF64TokenParsesBackToTheSameBits()
    {
        Gen.Double.Where(double.IsFinite).Sample(v =>
        {
            foreach (SerdeJsonFloatFormat f in new[] { SerdeJsonFloatFormat.Zmij, SerdeJsonFloatFormat.Ryu })
            {
                string token = MachineJson.FormatF64(v, f);
                Assert.Equal(BitConverter.DoubleToInt64Bits(v),
                    BitConverter.DoubleToInt64Bits(double.Parse(token, CultureInfo.InvariantCulture)));
                using JsonDocument doc = JsonDocument.Parse(token);
                Assert.Equal(JsonValueKind.Number, doc.RootElement.ValueKind);
            }
        }, iter: 20_000);
    }

    [Fact]
    public void EveryFiniteF32TokenParsesBackToTheSameBits()
    {
        Gen.Float.Where(float.IsFinite).Sample(v =>
        {
            string token = MachineJson.FormatF32(v);
            Assert.Equal(BitConverter.SingleToInt32Bits(v),
                BitConverter.SingleToInt32Bits(float.Parse(token, CultureInfo.InvariantCulture)));
            using JsonDocument doc = JsonDocument.Parse(token);
            Assert.Equal(JsonValueKind.Number, doc.RootElement.ValueKind);
        }, iter: 20_000);
    }
}
