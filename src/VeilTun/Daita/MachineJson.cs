using System.Globalization;
using System.Numerics;
using System.Text;

namespace VeilTun.Daita;

/// <summary>
/// Serializes a <see cref="Machine"/> to JSON byte-for-byte as <c>serde_json::to_string</c> /
/// <c>serde_json::to_string_pretty</c> serialize maybenot 2.2.2's <c>Machine</c> (crates/maybenot/src: plain
/// <c>#[derive(Serialize)]</c>, no <c>#[serde(...)]</c> attributes, no hand-written <c>Serialize</c> impls):
/// <list type="bullet">
/// <item>structs → objects with the Rust field names in declaration order;</item>
/// <item>enums are externally tagged: unit variants → <c>"Name"</c> (Timer, Operation), struct variants →
/// <c>{"Name":{...}}</c> (Action, DistType);</item>
/// <item><c>Option::None</c> → <c>null</c>; the counter tuple <c>(Option&lt;Counter&gt;, Option&lt;Counter&gt;)</c>,
/// the <c>[Option&lt;Vec&lt;Trans&gt;&gt;; 13]</c> array and the tuple struct <c>Trans(usize, f32)</c> → arrays;</item>
/// <item>u64/usize → decimal integers; f64/f32 → shortest round-trip digits laid out as serde_json's float printer
/// (<see cref="SerdeJsonFloatFormat"/>) does; NaN and ±infinity → <c>null</c>.</item>
/// </list>
/// Pretty output follows serde_json's <c>PrettyFormatter</c>: two-space indent, <c>": "</c> after keys, empty
/// arrays/objects as <c>[]</c>/<c>{}</c>, no trailing newline.
/// The machine is not validated (an invalid machine serializes as Rust would serialize the same values).
/// Stateless and thread-safe. Allocates (builder, result, big-integer temporaries per float): not for hot paths.
/// </summary>
internal static class MachineJson
{
    /// <summary>
    /// Serializes one machine as serde_json (≥ 1.0.147, zmij floats) would: <c>to_string</c> when
    /// <paramref name="pretty"/> is false, else <c>to_string_pretty</c>.
    /// </summary>
    public static string Serialize(Machine m, bool pretty = false) => Serialize(m, pretty, SerdeJsonFloatFormat.Zmij);

    /// <summary>Serializes one machine, choosing the serde_json float printer to imitate.</summary>
    public static string Serialize(Machine m, bool pretty, SerdeJsonFloatFormat floatFormat)
    {
        ArgumentNullException.ThrowIfNull(m);
        var w = new Writer(pretty, floatFormat);
        WriteMachine(w, m);
        return w.ToString();
    }

    /// <summary>
    /// Serializes a list of machines as a JSON array, as serde_json serializes <c>Vec&lt;Machine&gt;</c>
    /// (an empty list gives <c>[]</c>).
    /// </summary>
    public static string Serialize(IReadOnlyList<Machine> machines, bool pretty = false) =>
        Serialize(machines, pretty, SerdeJsonFloatFormat.Zmij);

    /// <summary>Serializes a list of machines as a JSON array, choosing the float printer to imitate.</summary>
    public static string Serialize(IReadOnlyList<Machine> machines, bool pretty, SerdeJsonFloatFormat floatFormat)
    {
        ArgumentNullException.ThrowIfNull(machines);
        var w = new Writer(pretty, floatFormat);
        w.BeginArray();
        for (int i = 0; i < machines.Count; i++)
        {
            ArgumentNullException.ThrowIfNull(machines[i], nameof(machines));
            w.BeginArrayValue(i == 0);
            WriteMachine(w, machines[i]);
            w.EndArrayValue();
        }
        w.EndArray();
        return w.ToString();
    }

    /// <summary>The JSON token serde_json writes for an f64: shortest round-trip digits, or <c>null</c> if not finite.</summary>
    internal static string FormatF64(double v, SerdeJsonFloatFormat floatFormat = SerdeJsonFloatFormat.Zmij)
    {
        var sb = new StringBuilder(26);
        AppendF64(sb, v, floatFormat);
        return sb.ToString();
    }

    /// <summary>The JSON token serde_json writes for an f32: shortest round-trip digits, or <c>null</c> if not finite.</summary>
    internal static string FormatF32(float v, SerdeJsonFloatFormat floatFormat = SerdeJsonFloatFormat.Zmij)
    {
        var sb = new StringBuilder(18);
        AppendF32(sb, v, floatFormat);
        return sb.ToString();
    }

    // machine.rs: struct Machine { allowed_padding_packets: u64, max_padding_frac: f64,
    // allowed_blocked_microsec: u64, max_blocking_frac: f64, states: Vec<State> }
    private static void WriteMachine(Writer w, Machine m)
    {
        w.BeginObject();
        w.Key("allowed_padding_packets", first: true);
        w.U64(m.AllowedPaddingPackets);
        w.EndObjectValue();
        w.Key("max_padding_frac");
        w.F64(m.MaxPaddingFrac);
        w.EndObjectValue();
        w.Key("allowed_blocked_microsec");
        w.U64(m.AllowedBlockedMicrosec);
        w.EndObjectValue();
        w.Key("max_blocking_frac");
        w.F64(m.MaxBlockingFrac);
        w.EndObjectValue();
        w.Key("states");
        w.BeginArray();
        for (int i = 0; i < m.States.Count; i++)
        {
            w.BeginArrayValue(i == 0);
            WriteState(w, m.States[i]);
            w.EndArrayValue();
        }
        w.EndArray();
        w.EndObjectValue();
        w.EndObject();
    }

    // state.rs: struct State { action: Option<Action>, counter: (Option<Counter>, Option<Counter>),
    // transitions: [Option<Vec<Trans>>; EVENT_NUM] }; struct Trans(usize, f32) (tuple struct → array).
    private static void WriteState(Writer w, State s)
    {
        w.BeginObject();
        w.Key("action", first: true);
        if (s.Action is null) w.Null();
        else WriteAction(w, s.Action);
        w.EndObjectValue();

        w.Key("counter");
        w.BeginArray();
        w.BeginArrayValue(first: true);
        WriteOptionalCounter(w, s.CounterA);
        w.EndArrayValue();
        w.BeginArrayValue(first: false);
        WriteOptionalCounter(w, s.CounterB);
        w.EndArrayValue();
        w.EndArray();
        w.EndObjectValue();

        w.Key("transitions");
        w.BeginArray();
        for (int ev = 0; ev < s.Transitions.Count; ev++)
        {
            w.BeginArrayValue(ev == 0);
            Transition[]? list = s.Transitions[ev];
            if (list is null)
            {
                w.Null();
            }
            else
            {
                w.BeginArray();
                for (int i = 0; i < list.Length; i++)
                {
                    w.BeginArrayValue(i == 0);
                    w.BeginArray();
                    w.BeginArrayValue(first: true);
                    w.U64(list[i].Target);
                    w.EndArrayValue();
                    w.BeginArrayValue(first: false);
                    w.F32(list[i].Probability);
                    w.EndArrayValue();
                    w.EndArray();
                    w.EndArrayValue();
                }
                w.EndArray();
            }
            w.EndArrayValue();
        }
        w.EndArray();
        w.EndObjectValue();
        w.EndObject();
    }

    // action.rs: enum Action { Cancel { timer: Timer }, SendPadding { bypass, replace, timeout, limit },
    // BlockOutgoing { bypass, replace, timeout, duration, limit }, UpdateTimer { replace, duration, limit } };
    // enum Timer { Action, Internal, All } (unit variants → strings).
    private static void WriteAction(Writer w, MachineAction action)
    {
        switch (action)
        {
            case MachineAction.Cancel c:
                w.BeginVariant("Cancel");
                w.Key("timer", first: true);
                w.String(c.Target switch
                {
                    MachineTimer.Action => "Action",
                    MachineTimer.Internal => "Internal",
                    MachineTimer.All => "All",
                    _ => throw new ArgumentOutOfRangeException(nameof(action), c.Target, "unknown timer"),
                });
                w.EndObjectValue();
                w.EndVariant();
                break;
            case MachineAction.SendPadding p:
                w.BeginVariant("SendPadding");
                w.Key("bypass", first: true);
                w.Bool(p.Bypass);
                w.EndObjectValue();
                w.Key("replace");
                w.Bool(p.Replace);
                w.EndObjectValue();
                w.Key("timeout");
                WriteDist(w, p.Timeout);
                w.EndObjectValue();
                w.Key("limit");
                WriteOptionalDist(w, p.Limit);
                w.EndObjectValue();
                w.EndVariant();
                break;
            case MachineAction.BlockOutgoing b:
                w.BeginVariant("BlockOutgoing");
                w.Key("bypass", first: true);
                w.Bool(b.Bypass);
                w.EndObjectValue();
                w.Key("replace");
                w.Bool(b.Replace);
                w.EndObjectValue();
                w.Key("timeout");
                WriteDist(w, b.Timeout);
                w.EndObjectValue();
                w.Key("duration");
                WriteDist(w, b.Duration);
                w.EndObjectValue();
                w.Key("limit");
                WriteOptionalDist(w, b.Limit);
                w.EndObjectValue();
                w.EndVariant();
                break;
            case MachineAction.UpdateTimer u:
                w.BeginVariant("UpdateTimer");
                w.Key("replace", first: true);
                w.Bool(u.Replace);
                w.EndObjectValue();
                w.Key("duration");
                WriteDist(w, u.Duration);
                w.EndObjectValue();
                w.Key("limit");
                WriteOptionalDist(w, u.Limit);
                w.EndObjectValue();
                w.EndVariant();
                break;
            default:
                throw new ArgumentException("unknown action variant", nameof(action));
        }
    }

    // counter.rs: struct Counter { operation: Operation, dist: Option<Dist>, copy: bool };
    // enum Operation { Increment, Decrement, Set }.
    private static void WriteOptionalCounter(Writer w, Counter? c)
    {
        if (c is null)
        {
            w.Null();
            return;
        }
        w.BeginObject();
        w.Key("operation", first: true);
        w.String(c.Operation switch
        {
            CounterOperation.Increment => "Increment",
            CounterOperation.Decrement => "Decrement",
            CounterOperation.Set => "Set",
            _ => throw new ArgumentOutOfRangeException(nameof(c), c.Operation, "unknown counter operation"),
        });
        w.EndObjectValue();
        w.Key("dist");
        WriteOptionalDist(w, c.Dist);
        w.EndObjectValue();
        w.Key("copy");
        w.Bool(c.Copy);
        w.EndObjectValue();
        w.EndObject();
    }

    private static void WriteOptionalDist(Writer w, Dist? d)
    {
        if (d is null) w.Null();
        else WriteDist(w, d);
    }

    // dist.rs: struct Dist { dist: DistType, start: f64, max: f64 }; DistType struct variants in dist.rs order.
    private static void WriteDist(Writer w, Dist d)
    {
        w.BeginObject();
        w.Key("dist", first: true);
        switch (d.Type)
        {
            case DistType.Uniform: Variant2(w, "Uniform", "low", d.P1, "high", d.P2); break;
            case DistType.Normal: Variant2(w, "Normal", "mean", d.P1, "stdev", d.P2); break;
            case DistType.SkewNormal:
                w.BeginVariant("SkewNormal");
                w.Key("location", first: true);
                w.F64(d.P1);
                w.EndObjectValue();
                w.Key("scale");
                w.F64(d.P2);
                w.EndObjectValue();
                w.Key("shape");
                w.F64(d.P3);
                w.EndObjectValue();
                w.EndVariant();
                break;
            case DistType.LogNormal: Variant2(w, "LogNormal", "mu", d.P1, "sigma", d.P2); break;
            case DistType.Binomial:
                // Binomial { trials: u64, probability: f64 }
                w.BeginVariant("Binomial");
                w.Key("trials", first: true);
                w.U64(d.Trials);
                w.EndObjectValue();
                w.Key("probability");
                w.F64(d.P1);
                w.EndObjectValue();
                w.EndVariant();
                break;
            case DistType.Geometric: Variant1(w, "Geometric", "probability", d.P1); break;
            case DistType.Pareto: Variant2(w, "Pareto", "scale", d.P1, "shape", d.P2); break;
            case DistType.Poisson: Variant1(w, "Poisson", "lambda", d.P1); break;
            case DistType.Weibull: Variant2(w, "Weibull", "scale", d.P1, "shape", d.P2); break;
            case DistType.Gamma: Variant2(w, "Gamma", "scale", d.P1, "shape", d.P2); break;
            case DistType.Beta: Variant2(w, "Beta", "alpha", d.P1, "beta", d.P2); break;
            default: throw new ArgumentOutOfRangeException(nameof(d), d.Type, "unknown distribution type");
        }
        w.EndObjectValue();
        w.Key("start");
        w.F64(d.Start);
        w.EndObjectValue();
        w.Key("max");
        w.F64(d.Max);
        w.EndObjectValue();
        w.EndObject();
    }

    private static void Variant1(Writer w, string name, string k1, double v1)
    {
        w.BeginVariant(name);
        w.Key(k1, first: true);
        w.F64(v1);
        w.EndObjectValue();
        w.EndVariant();
    }

    private static void Variant2(Writer w, string name, string k1, double v1, string k2, double v2)
    {
        w.BeginVariant(name);
        w.Key(k1, first: true);
        w.F64(v1);
        w.EndObjectValue();
        w.Key(k2);
        w.F64(v2);
        w.EndObjectValue();
        w.EndVariant();
    }

    private static void AppendF64(StringBuilder sb, double v, SerdeJsonFloatFormat format)
    {
        // serde_json ser.rs serialize_f64: FpCategory::Nan | Infinite → write_null.
        if (!double.IsFinite(v))
        {
            sb.Append("null");
            return;
        }
        ulong bits = BitConverter.DoubleToUInt64Bits(v);
        if ((bits >> 63) != 0) sb.Append('-');
        ulong fraction = bits & ((1UL << 52) - 1);
        int biased = (int)((bits >> 52) & 0x7FF);
        if (biased == 0 && fraction == 0)
        {
            sb.Append("0.0");
            return;
        }
        // IEEE-754 binary64: value = m · 2^e.
        (BigInteger digits, int exp10) = ShortestF64(v);
        // ryu src/pretty/mod.rs format64: fixed notation iff -5 < kk <= 16 (zmij: FIXED_DEC_EXP -5..=15 for f64).
        AppendLayout(sb, digits, exp10, maxKk: 16, minKkExclusive: -5, format);
    }

    /// <summary>
    /// The shortest round-trip decimal of a finite, non-zero f64 as <c>digits · 10^exp10</c> (digits without trailing
    /// zeros), as ryu, zmij and Rust's <c>Display</c> choose it. For other number layouts (UAPI's Rust Display).
    /// </summary>
    internal static (BigInteger Digits, int Exp10) ShortestF64(double v)
    {
        ulong bits = BitConverter.DoubleToUInt64Bits(Math.Abs(v));
        ulong fraction = bits & ((1UL << 52) - 1);
        int biased = (int)(bits >> 52);
        ulong m = biased == 0 ? fraction : fraction | (1UL << 52);
        int e = (biased == 0 ? 1 : biased) - 1075;
        return Shortest(m, e, lowerGapHalved: fraction == 0 && biased > 1);
    }

    private static void AppendF32(StringBuilder sb, float v, SerdeJsonFloatFormat format)
    {
        if (!float.IsFinite(v))
        {
            sb.Append("null");
            return;
        }
        uint bits = BitConverter.SingleToUInt32Bits(v);
        if ((bits >> 31) != 0) sb.Append('-');
        uint fraction = bits & ((1U << 23) - 1);
        int biased = (int)((bits >> 23) & 0xFF);
        if (biased == 0 && fraction == 0)
        {
            sb.Append("0.0");
            return;
        }
        // IEEE-754 binary32: value = m · 2^e. The shortest digits are those that round-trip through f32, not f64.
        ulong m = biased == 0 ? fraction : fraction | (1U << 23);
        int e = (biased == 0 ? 1 : biased) - 150;
        (BigInteger digits, int exp10) = Shortest(m, e, lowerGapHalved: fraction == 0 && biased > 1);
        // ryu format32: fixed notation iff -6 < kk <= 13 (zmij: FIXED_DEC_EXP -6..=12 for f32).
        AppendLayout(sb, digits, exp10, maxKk: 13, minKkExclusive: -6, format);
    }

    /// <summary>
    /// The decimal ryu and zmij print for the positive float m·2^e: among the decimals d·10^k that read back as the
    /// same float (inside the rounding interval, bounds included iff m is even — round-half-even parsing), the one
    /// with the fewest significant digits; among those the closest to m·2^e, an exact tie going to even d.
    /// Computed exactly with big integers. (.NET's own shortest "R" formatting is not usable here: it prints
    /// 2^-25 as 2.980232238769531E-08, which does not even parse back to 2^-25; ryu prints 2.9802322387695312e-8.)
    /// </summary>
    /// <param name="m">Significand (implicit bit included), &gt; 0.</param>
    /// <param name="e">Binary exponent.</param>
    /// <param name="lowerGapHalved">The float below is half as far as the float above (m a power of two, normal,
    /// not the smallest normal exponent).</param>
    /// <returns>d without trailing zeros and k with value = d·10^k.</returns>
    private static (BigInteger Digits, int Exp10) Shortest(ulong m, int e, bool lowerGapHalved)
    {
        if (e <= 0 && e > -64 && (m & ((1UL << -e) - 1)) == 0)
        {
            // An integer below 2^53 (f64) / 2^24 (f32): the float spacing there is at most 1, so no other decimal
            // with as few significant digits reads back as it (ryu d2s.rs d2d_small_int prints the integer too).
            ulong n = m >> -e;
            int zeros = 0;
            while (n % 10 == 0)
            {
                n /= 10;
                zeros++;
            }
            return (n, zeros);
        }

        // Work in units of 2^(e-2) so the interval ends are integers: [4m - 2 (or 4m - 1), 4m + 2].
        bool inclusive = (m & 1) == 0;
        var mv = new BigInteger(m) << 2;
        BigInteger mLow = mv - (lowerGapHalved ? 1 : 2);
        BigInteger mHigh = mv + 2;
        int e2 = e - 2;

        // Largest k such that some multiple of 10^k lies in the interval. Existence is monotone in k (a multiple of
        // 10^k is also one of 10^(k-1)), so binary search; the value is below 10^(hi) and the interval is narrower
        // than the value, so no k >= hi works.
        double approx = (double)m * Math.Pow(2, e); // only for the search range
        int top = (int)Math.Floor(Math.Log10(approx)) + 3; // 10^top > 2·value even if Log10 is off by one
        int lo = top - 26, hi = top; // invariant: lo works (10^lo is far below the interval's width), hi does not
        while (hi - lo > 1)
        {
            int mid = lo + (hi - lo) / 2;
            if (Range(mLow, mHigh, e2, mid, inclusive, out _, out _)) lo = mid;
            else hi = mid;
        }
        bool found = Range(mLow, mHigh, e2, lo, inclusive, out BigInteger dMin, out BigInteger dMax);
        System.Diagnostics.Debug.Assert(found);

        // Closest to the exact value, ties to even, kept inside [dMin, dMax].
        Scale(mv, e2, lo, out BigInteger num, out BigInteger step);
        BigInteger d = BigInteger.DivRem(num, step, out BigInteger rem);
        int cmp = (rem << 1).CompareTo(step);
        if (cmp > 0 || (cmp == 0 && !d.IsEven)) d += 1;
        if (d < dMin) d = dMin;
        if (d > dMax) d = dMax;
        return (d, lo);
    }

    // 10^0 .. 10^349 covers every k the search visits for f64 (|k| <= 324 + 26) and f32.
    private static readonly BigInteger[] s_pow10 = BuildPow10(350);

    private static BigInteger[] BuildPow10(int count)
    {
        var table = new BigInteger[count];
        table[0] = BigInteger.One;
        for (int i = 1; i < count; i++) table[i] = table[i - 1] * 10;
        return table;
    }

    private static BigInteger Pow10(int n) => n < s_pow10.Length ? s_pow10[n] : BigInteger.Pow(10, n);

    /// <summary>num / step = x·2^e2 / 10^k as a fraction of integers.</summary>
    private static void Scale(BigInteger x, int e2, int k, out BigInteger num, out BigInteger step)
    {
        num = x;
        step = BigInteger.One;
        if (e2 >= 0) num <<= e2;
        else step <<= -e2;
        if (k >= 0) step *= Pow10(k);
        else num *= Pow10(-k);
    }

    /// <summary>Integers d with d·10^k inside the interval [low, high]·2^e2 (ends included iff inclusive).</summary>
    private static bool Range(BigInteger low, BigInteger high, int e2, int k, bool inclusive,
        out BigInteger dMin, out BigInteger dMax)
    {
        Scale(low, e2, k, out BigInteger lowNum, out BigInteger step);
        Scale(high, e2, k, out BigInteger highNum, out _);
        dMin = BigInteger.DivRem(lowNum, step, out BigInteger lowRem);
        if (!lowRem.IsZero || !inclusive) dMin += 1; // ceil, or strictly above an excluded end
        dMax = BigInteger.DivRem(highNum, step, out BigInteger highRem);
        if (highRem.IsZero && !inclusive) dMax -= 1;
        return dMin <= dMax;
    }

    /// <summary>
    /// ryu src/pretty/mod.rs <c>format64</c>/<c>format32</c> layout of digits·10^exp10, with kk = len + exp10 so that
    /// 10^(kk-1) &lt;= value &lt; 10^kk.
    /// </summary>
    private static void AppendLayout(StringBuilder sb, BigInteger digits, int exp10, int maxKk, int minKkExclusive,
        SerdeJsonFloatFormat format)
    {
        string d = digits.ToString(CultureInfo.InvariantCulture);
        int len = d.Length;
        int kk = len + exp10;

        if (0 <= exp10 && kk <= maxKk)
        {
            // 1234e7 -> 12340000000.0
            sb.Append(d).Append('0', exp10).Append(".0");
        }
        else if (0 < kk && kk <= maxKk)
        {
            // 1234e-2 -> 12.34
            sb.Append(d, 0, kk).Append('.').Append(d, kk, len - kk);
        }
        else if (minKkExclusive < kk && kk <= 0)
        {
            // 1234e-6 -> 0.001234
            sb.Append("0.").Append('0', -kk).Append(d);
        }
        else
        {
            // 1e30, 1234e30 -> 1.234e33 (zmij: 1e+30, 1.234e+33)
            sb.Append(d[0]);
            if (len > 1) sb.Append('.').Append(d, 1, len - 1);
            sb.Append('e');
            int e = kk - 1;
            if (e >= 0 && format == SerdeJsonFloatFormat.Zmij) sb.Append('+');
            sb.Append(e.ToString(CultureInfo.InvariantCulture));
        }
    }

    /// <summary>
    /// Mirrors serde_json's CompactFormatter / PrettyFormatter (ser.rs) call for call, so whitespace matches exactly.
    /// </summary>
    private sealed class Writer(bool pretty, SerdeJsonFloatFormat floatFormat)
    {
        private readonly StringBuilder _sb = new(1024);
        private int _indent;
        private bool _hasValue;

        public override string ToString() => _sb.ToString();

        public void BeginArray()
        {
            _indent++;
            _hasValue = false;
            _sb.Append('[');
        }

        public void EndArray()
        {
            _indent--;
            if (pretty && _hasValue) NewlineIndent();
            _sb.Append(']');
        }

        public void BeginArrayValue(bool first)
        {
            if (pretty)
            {
                if (!first) _sb.Append(',');
                NewlineIndent();
            }
            else if (!first)
            {
                _sb.Append(',');
            }
        }

        public void EndArrayValue() => _hasValue = true;

        public void BeginObject()
        {
            _indent++;
            _hasValue = false;
            _sb.Append('{');
        }

        public void EndObject()
        {
            _indent--;
            if (pretty && _hasValue) NewlineIndent();
            _sb.Append('}');
        }

        /// <summary>begin_object_key + the key string + begin_object_value.</summary>
        public void Key(string name, bool first = false)
        {
            if (pretty)
            {
                if (!first) _sb.Append(',');
                NewlineIndent();
            }
            else if (!first)
            {
                _sb.Append(',');
            }
            String(name);
            _sb.Append(pretty ? ": " : ":");
        }

        public void EndObjectValue() => _hasValue = true;

        /// <summary>ser.rs serialize_struct_variant: begin_object, key = variant name, begin_object_value, then the
        /// variant's fields as a nested object.</summary>
        public void BeginVariant(string name)
        {
            BeginObject();
            Key(name, first: true);
            BeginObject();
        }

        /// <summary>ser.rs SerializeStructVariant::end: end_object (fields), end_object_value, end_object.</summary>
        public void EndVariant()
        {
            EndObject();
            EndObjectValue();
            EndObject();
        }

        // Keys and variant names are ASCII identifiers: nothing to escape.
        public void String(string s) => _sb.Append('"').Append(s).Append('"');

        public void Null() => _sb.Append("null");

        public void Bool(bool b) => _sb.Append(b ? "true" : "false");

        public void U64(ulong v) => _sb.Append(v.ToString(CultureInfo.InvariantCulture));

        public void F64(double v) => AppendF64(_sb, v, floatFormat);

        public void F32(float v) => AppendF32(_sb, v, floatFormat);

        private void NewlineIndent() => _sb.Append('\n').Append(' ', 2 * _indent);
    }
}
