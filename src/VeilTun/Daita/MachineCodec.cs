using System.Buffers.Binary;
using System.IO.Compression;

namespace VeilTun.Daita;

/// <summary>
/// Maybenot 2.2.2 machine strings (machine.rs serialize()/FromStr): <c>"02" + Base64(zlib(bincode(Machine)))</c>,
/// bincode 1.3.3 DefaultOptions (little-endian, varint integers, trailing bytes rejected), 1 MiB inflate cap,
/// then Machine::validate(). Parsing never throws; all methods are stateless and thread-safe.
/// </summary>
internal static class MachineCodec
{
    private const int MinStateBytes = 3 + Constants.EventNum; // three None option tags + 13 None transition tags
    private const int MinTransitionBytes = 1 + 4;             // 1-byte varint target + f32

    /// <summary>
    /// Parses and validates a machine string. Returns false with a reason in <paramref name="error"/> for any
    /// input the Rust crate rejects (bad prefix, non-canonical Base64, bad zlib, malformed or trailing bincode within
    /// the first 1 MiB inflated, failed validation). Never throws.
    /// </summary>
    public static bool TryParse(string? machineString, out Machine machine, out string error)
    {
        machine = null!;
        if (!TryDecompress(machineString, out byte[] bincode, out error)) return false;
        if (!TryDecodeBincode(bincode, out machine, out error)) return false;
        string? invalid = machine.Validate();
        if (invalid is not null)
        {
            machine = null!;
            error = "invalid machine: " + invalid;
            return false;
        }
        error = "";
        return true;
    }

    /// <summary>
    /// Undoes the string envelope: checks the "02" prefix, strictly decodes Base64 (standard alphabet, canonical
    /// padding, zero trailing bits, no whitespace, like base64 0.22 STANDARD) and inflates zlib (RFC 1950) into a
    /// new array of at most <see cref="Constants.MaxDecompressedSize"/> bytes: like the Rust crate, anything the
    /// stream would produce beyond that is not inflated, and a truncated stream yields what it decoded so far
    /// (flate2 and ZLibStream agree on that; a bad Adler-32 is an error in both). Never throws.
    /// </summary>
    public static bool TryDecompress(string? machineString, out byte[] bincode, out string error)
    {
        bincode = [];
        if (machineString is null || machineString.Length < 3) { error = "machine string too short"; return false; }
        foreach (char c in machineString)
        {
            if (c > 0x7F) { error = "machine string is not ASCII"; return false; }
        }
        if (machineString[0] != '0' || machineString[1] != '2')
        {
            error = $"unsupported version prefix \"{machineString[..2]}\", expected \"02\"";
            return false;
        }

        string payload = machineString[2..];
        byte[] compressed = new byte[payload.Length / 4 * 3 + 3];
        if (payload.Length % 4 != 0 || !Convert.TryFromBase64String(payload, compressed, out int n)
            // .NET accepts whitespace and non-zero trailing bits; the Rust engine does not. Canonical iff re-encoding matches.
            || !string.Equals(Convert.ToBase64String(compressed, 0, n), payload, StringComparison.Ordinal))
        {
            error = "invalid base64";
            return false;
        }

        try
        {
            using var input = new MemoryStream(compressed, 0, n, writable: false);
            using var z = new ZLibStream(input, CompressionMode.Decompress);
            // machine.rs from_str does ONE read() into a MAX_DECOMPRESSED_SIZE buffer and hands exactly those bytes
            // to bincode: output beyond 1 MiB is never inflated (bomb guard) and never looked at. A bomb therefore
            // fails later as trailing/garbage bincode, exactly as in Rust.
            byte[] buf = new byte[Constants.MaxDecompressedSize];
            int total = 0;
            while (total < buf.Length)
            {
                int r = z.Read(buf, total, buf.Length - total);
                if (r == 0) break;
                total += r;
            }
            bincode = buf.AsSpan(0, total).ToArray();
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            // InvalidDataException: corrupt deflate/Adler-32; ZLibException (an IOException): e.g. FDICT preset
            // dictionary (Z_NEED_DICT), which flate2 rejects too.
            error = "invalid zlib data: " + e.Message;
            return false;
        }
        error = "";
        return true;
    }

    /// <summary>
    /// Decodes bincode bytes (bincode 1.3.3 varint encoding, all bytes must be consumed) into a machine. Does NOT
    /// validate; <see cref="TryParse"/> does. Never throws.
    /// </summary>
    public static bool TryDecodeBincode(ReadOnlySpan<byte> bincode, out Machine machine, out string error)
    {
        machine = null!;
        var r = new Reader(bincode);
        if (!r.U64(out ulong app) || !r.F64(out double mpf) || !r.U64(out ulong abm) || !r.F64(out double mbf)
            || !r.U64(out ulong nStates))
        {
            error = r.Error; return false;
        }
        if (nStates > (ulong)(r.Remaining / MinStateBytes)) { error = "state count exceeds input size"; return false; }
        var states = new State[(int)nStates];
        for (int i = 0; i < states.Length; i++)
        {
            if (!ReadState(ref r, out states[i]!)) { error = $"state {i}: {r.Error}"; return false; }
        }
        if (r.Remaining != 0) { error = $"{r.Remaining} trailing bytes after machine"; return false; }
        machine = new Machine(app, mpf, abm, mbf, states);
        error = "";
        return true;
    }

    /// <summary>Encodes a machine as a machine string ("02" + Base64(zlib level-optimal(bincode))).</summary>
    public static string Encode(Machine machine)
    {
        byte[] bincode = EncodeBincode(machine);
        using var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.SmallestSize, leaveOpen: true))
            z.Write(bincode);
        return "02" + Convert.ToBase64String(ms.GetBuffer(), 0, (int)ms.Length);
    }

    /// <summary>Encodes a machine to bincode 1.3.3 varint bytes (minimal varints, as Rust's serializer writes).</summary>
    public static byte[] EncodeBincode(Machine machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        var w = new List<byte>(64);
        PutVarint(w, machine.AllowedPaddingPackets);
        PutF64(w, machine.MaxPaddingFrac);
        PutVarint(w, machine.AllowedBlockedMicrosec);
        PutF64(w, machine.MaxBlockingFrac);
        PutVarint(w, (ulong)machine.States.Count);
        Span<byte> f = stackalloc byte[4];
        foreach (State s in machine.States)
        {
            PutOption(w, s.Action, PutAction);
            PutOption(w, s.CounterA, PutCounter);
            PutOption(w, s.CounterB, PutCounter);
            foreach (Transition[]? list in s.Transitions)
            {
                if (list is null) { w.Add(0); continue; }
                w.Add(1);
                PutVarint(w, (ulong)list.Length);
                foreach (Transition t in list)
                {
                    PutVarint(w, t.Target);
                    BinaryPrimitives.WriteSingleLittleEndian(f, t.Probability);
                    foreach (byte b in f) w.Add(b);
                }
            }
        }
        return [.. w];
    }

    private static bool ReadState(ref Reader r, out State state)
    {
        state = null!;
        MachineAction? action = null;
        Counter? a = null, b = null;
        if (!r.Tag(out bool has)) return false;
        if (has && !ReadAction(ref r, out action)) return false;
        if (!r.Tag(out has)) return false;
        if (has && !ReadCounter(ref r, out a)) return false;
        if (!r.Tag(out has)) return false;
        if (has && !ReadCounter(ref r, out b)) return false;
        var transitions = new Transition[]?[Constants.EventNum];
        for (int e = 0; e < Constants.EventNum; e++)
        {
            if (!r.Tag(out has)) return false;
            if (!has) continue;
            if (!r.U64(out ulong n)) return false;
            if (n > (ulong)(r.Remaining / MinTransitionBytes)) return r.Fail("transition count exceeds input size");
            var list = new Transition[(int)n];
            for (int i = 0; i < list.Length; i++)
            {
                if (!r.U64(out ulong target) || !r.F32(out float p)) return false;
                list[i] = new Transition(target, p);
            }
            transitions[e] = list;
        }
        state = new State(action, a, b, transitions);
        return true;
    }

    private static bool ReadAction(ref Reader r, out MachineAction action)
    {
        action = null!;
        if (!r.U64(out ulong tag)) return false;
        switch (tag)
        {
            case 0:
                if (!r.U64(out ulong timer)) return false;
                if (timer > 2) return r.Fail($"invalid timer variant {timer}");
                action = new MachineAction.Cancel((MachineTimer)timer);
                return true;
            case 1:
                {
                    if (!r.Bool(out bool bypass) || !r.Bool(out bool replace) || !ReadDist(ref r, out Dist timeout)
                        || !ReadOptDist(ref r, out Dist? limit))
                    {
                        return false;
                    }

                    action = new MachineAction.SendPadding(bypass, replace, timeout, limit);
                    return true;
                }
            case 2:
                {
                    if (!r.Bool(out bool bypass) || !r.Bool(out bool replace) || !ReadDist(ref r, out Dist timeout)
                        || !ReadDist(ref r, out Dist duration) || !ReadOptDist(ref r, out Dist? limit))
                    {
                        return false;
                    }

                    action = new MachineAction.BlockOutgoing(bypass, replace, timeout, duration, limit);
                    return true;
                }
            case 3:
                {
                    if (!r.Bool(out bool replace) || !ReadDist(ref r, out Dist duration)
                        || !ReadOptDist(ref r, out Dist? limit))
                    {
                        return false;
                    }

                    action = new MachineAction.UpdateTimer(replace, duration, limit);
                    return true;
                }
            default:
                return r.Fail($"invalid Action variant {tag}");
        }
    }

    private static bool ReadCounter(ref Reader r, out Counter counter)
    {
        counter = null!;
        if (!r.U64(out ulong op)) return false;
        if (op > 2) return r.Fail($"invalid Operation variant {op}");
        if (!ReadOptDist(ref r, out Dist? dist) || !r.Bool(out bool copy)) return false;
        counter = new Counter((CounterOperation)op, dist, copy);
        return true;
    }

    private static bool ReadOptDist(ref Reader r, out Dist? dist)
    {
        dist = null;
        if (!r.Tag(out bool has)) return false;
        if (!has) return true;
        if (!ReadDist(ref r, out Dist d)) return false;
        dist = d;
        return true;
    }

    private static bool ReadDist(ref Reader r, out Dist dist)
    {
        dist = null!;
        if (!r.U64(out ulong tag)) return false;
        if (tag > (ulong)DistType.Beta) return r.Fail($"invalid DistType variant {tag}");
        var type = (DistType)tag;
        ulong trials = 0;
        if (type == DistType.Binomial && !r.U64(out trials)) return false;
        Span<double> p = stackalloc double[3];
        int count = Dist.ParamCount(type);
        for (int i = 0; i < count; i++)
        {
            if (!r.F64(out p[i])) return false;
        }
        if (!r.F64(out double start) || !r.F64(out double max)) return false;
        dist = new Dist(type, p[0], p[1], p[2], trials, start, max);
        return true;
    }

    private static void PutOption<T>(List<byte> w, T? value, Action<List<byte>, T> put) where T : class
    {
        if (value is null) { w.Add(0); return; }
        w.Add(1);
        put(w, value);
    }

    private static void PutAction(List<byte> w, MachineAction a)
    {
        switch (a)
        {
            case MachineAction.Cancel c:
                PutVarint(w, 0); PutVarint(w, (ulong)c.Target);
                break;
            case MachineAction.SendPadding p:
                PutVarint(w, 1); PutBool(w, p.Bypass); PutBool(w, p.Replace); PutDist(w, p.Timeout);
                PutOption(w, p.Limit, PutDist);
                break;
            case MachineAction.BlockOutgoing b:
                PutVarint(w, 2); PutBool(w, b.Bypass); PutBool(w, b.Replace); PutDist(w, b.Timeout);
                PutDist(w, b.Duration); PutOption(w, b.Limit, PutDist);
                break;
            case MachineAction.UpdateTimer u:
                PutVarint(w, 3); PutBool(w, u.Replace); PutDist(w, u.Duration); PutOption(w, u.Limit, PutDist);
                break;
        }
    }

    private static void PutCounter(List<byte> w, Counter c)
    {
        PutVarint(w, (ulong)c.Operation);
        PutOption(w, c.Dist, PutDist);
        PutBool(w, c.Copy);
    }

    private static void PutDist(List<byte> w, Dist d)
    {
        PutVarint(w, (ulong)d.Type);
        if (d.Type == DistType.Binomial) PutVarint(w, d.Trials);
        int count = Dist.ParamCount(d.Type);
        if (count > 0) PutF64(w, d.P1);
        if (count > 1) PutF64(w, d.P2);
        if (count > 2) PutF64(w, d.P3);
        PutF64(w, d.Start);
        PutF64(w, d.Max);
    }

    private static void PutBool(List<byte> w, bool v) => w.Add(v ? (byte)1 : (byte)0);

    private static void PutF64(List<byte> w, double v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteDoubleLittleEndian(b, v);
        foreach (byte x in b) w.Add(x);
    }

    // bincode 1.3.3 varint: <= 250 one byte; 0xFB u16; 0xFC u32; 0xFD u64 (little-endian).
    private static void PutVarint(List<byte> w, ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        int len;
        if (v <= 250) { w.Add((byte)v); return; }
        if (v <= ushort.MaxValue) { w.Add(0xFB); BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); len = 2; }
        else if (v <= uint.MaxValue) { w.Add(0xFC); BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)v); len = 4; }
        else { w.Add(0xFD); BinaryPrimitives.WriteUInt64LittleEndian(b, v); len = 8; }
        foreach (byte x in b[..len]) w.Add(x);
    }

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _pos;

        public string Error { get; private set; } = "";
        public readonly int Remaining => _data.Length - _pos;

        public bool Fail(string why) { Error = why + $" at offset {_pos}"; return false; }

        private bool Take(int n, out ReadOnlySpan<byte> span)
        {
            if (Remaining < n) { span = default; return Fail("unexpected end of input"); }
            span = _data.Slice(_pos, n);
            _pos += n;
            return true;
        }

        public bool U64(out ulong v)
        {
            v = 0;
            if (!Take(1, out ReadOnlySpan<byte> t)) return false;
            byte b = t[0];
            ReadOnlySpan<byte> s;
            switch (b)
            {
                case <= 250: v = b; return true;
                case 0xFB: if (!Take(2, out s)) return false; v = BinaryPrimitives.ReadUInt16LittleEndian(s); return true;
                case 0xFC: if (!Take(4, out s)) return false; v = BinaryPrimitives.ReadUInt32LittleEndian(s); return true;
                case 0xFD: if (!Take(8, out s)) return false; v = BinaryPrimitives.ReadUInt64LittleEndian(s); return true;
                case 0xFE: return Fail("u128 varint not supported for u64");
                default: return Fail("invalid varint tag 0xFF");
            }
        }

        public bool F64(out double v)
        {
            v = 0;
            if (!Take(8, out ReadOnlySpan<byte> s)) return false;
            v = BinaryPrimitives.ReadDoubleLittleEndian(s);
            return true;
        }

        public bool F32(out float v)
        {
            v = 0;
            if (!Take(4, out ReadOnlySpan<byte> s)) return false;
            v = BinaryPrimitives.ReadSingleLittleEndian(s);
            return true;
        }

        public bool Bool(out bool v)
        {
            v = false;
            if (!Take(1, out ReadOnlySpan<byte> s)) return false;
            if (s[0] > 1) return Fail($"invalid bool byte {s[0]}");
            v = s[0] == 1;
            return true;
        }

        public bool Tag(out bool some)
        {
            some = false;
            if (!Take(1, out ReadOnlySpan<byte> s)) return false;
            if (s[0] > 1) return Fail($"invalid Option tag {s[0]}");
            some = s[0] == 1;
            return true;
        }
    }
}
