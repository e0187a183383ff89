using System.Net.Sockets;
using System.Text;
using VeilTun.Daita;

namespace VeilTun.Cli;

/// <summary>
/// `veiltun daita …`: DAITA from the command line, usable from a wg-quick <c>PostUp</c> line (wg-quick's config
/// format rejects unknown keys).
/// <list type="bullet">
/// <item><c>inspect STRING…</c> or <c>inspect --file FILE</c>: decode machine strings and print them as JSON shaped as
/// serde_json shapes maybenot's <c>Machine</c>; exit 1 with the reason for an invalid string.</item>
/// <item><c>set IFNAME PEER [--machines FILE] [--machine STRING]… [--max-decoy-frac F] [--max-delay-frac F]
/// [--max-delayed-packets N] [--min-delay-capacity N]</c>: enable DAITA on a peer through the UAPI socket.</item>
/// <item><c>off IFNAME PEER</c>: disable it.</item>
/// </list>
/// A machines file holds one machine string per line; blank lines and lines starting with '#' are skipped.
/// </summary>
internal static class DaitaCommand
{
    public static int Run(string[] args)
    {
        switch (args)
        {
            case ["inspect", "--file", var file]:
                return Inspect(ReadMachineFile(file));
            case ["inspect", _, ..]:
                return Inspect(args[1..]);
            case ["set", var ifname, var peer, ..]:
                return Set(ifname, peer, args[3..]);
            case ["off", var ifname, var peer]:
                return Send(ifname, peer, "daita_enable=0\n");
            default:
                Console.Error.WriteLine("""
                    Usage: veiltun daita inspect MACHINE-STRING...    print machines as JSON
                           veiltun daita inspect --file FILE
                           veiltun daita set IFNAME PEER-PUBLIC-KEY [--machines FILE] [--machine STRING]...
                                 [--max-decoy-frac F] [--max-delay-frac F] [--max-delayed-packets N] [--min-delay-capacity N]
                           veiltun daita off IFNAME PEER-PUBLIC-KEY
                    """);
                return 2;
        }
    }

    private static IReadOnlyList<string> ReadMachineFile(string file) =>
        File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();

    private static int Inspect(IReadOnlyList<string> strings)
    {
        var machines = new List<Machine>();
        for (int i = 0; i < strings.Count; i++)
        {
            if (!MachineCodec.TryParse(strings[i], out var m, out var error))
            {
                Console.Error.WriteLine(strings.Count == 1 ? $"invalid machine: {error}" : $"invalid machine #{i + 1}: {error}");
                return 1;
            }
            machines.Add(m);
        }
        Console.WriteLine(machines.Count == 1 ? MachineJson.Serialize(machines[0], pretty: true) : MachineJson.Serialize(machines, pretty: true));
        return 0;
    }

    private static int Set(string ifname, string peer, string[] options)
    {
        var body = new StringBuilder("daita_enable=1\n");
        var machines = new List<string>();
        for (int i = 0; i < options.Length; i++)
        {
            string? Value() => i + 1 < options.Length ? options[++i] : null;
            string option = options[i];
            string? value = Value();
            if (value is null)
            {
                Console.Error.WriteLine($"veiltun daita set: {option} needs a value");
                return 2;
            }
            switch (option)
            {
                case "--machines":
                    try
                    {
                        machines.AddRange(ReadMachineFile(value));
                    }
                    catch (IOException ex)
                    {
                        Console.Error.WriteLine($"veiltun daita set: {ex.Message}");
                        return 1;
                    }
                    break;
                case "--machine":
                    machines.Add(value);
                    break;
                case "--max-decoy-frac":
                    body.Append("daita_max_decoy_frac=").Append(value).Append('\n');
                    break;
                case "--max-delay-frac":
                    body.Append("daita_max_delay_frac=").Append(value).Append('\n');
                    break;
                case "--max-delayed-packets":
                    body.Append("daita_max_delayed_packets=").Append(value).Append('\n');
                    break;
                case "--min-delay-capacity":
                    body.Append("daita_min_delay_capacity=").Append(value).Append('\n');
                    break;
                default:
                    Console.Error.WriteLine($"veiltun daita set: unknown option {option}");
                    return 2;
            }
        }
        foreach (var m in machines)
        {
            if (!MachineCodec.TryParse(m, out _, out var error))
            {
                Console.Error.WriteLine($"veiltun daita set: invalid machine: {error}");
                return 1;
            }
            body.Append("daita_machine=").Append(m).Append('\n');
        }
        return Send(ifname, peer, body.ToString());
    }

    private static int Send(string ifname, string peer, string daitaLines)
    {
        byte[] key;
        try
        {
            key = Convert.FromBase64String(peer);
        }
        catch (FormatException)
        {
            key = [];
        }
        if (key.Length != 32)
        {
            Console.Error.WriteLine($"veiltun daita: invalid peer public key '{peer}'");
            return 2;
        }
        string reply;
        try
        {
            reply = UapiClient.Transact(ifname, $"set=1\npublic_key={Convert.ToHexStringLower(key)}\nupdate_only=true\n{daitaLines}\n");
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            Console.Error.WriteLine($"veiltun daita: {ifname}: {ex.Message}");
            return 1;
        }
        if (reply.Contains("errno=0\n")) return 0;
        var errno = reply.Split('\n').FirstOrDefault(l => l.StartsWith("errno=")) ?? "no reply";
        Console.Error.WriteLine($"veiltun daita: {ifname} refused the settings ({errno}); see the daemon's log");
        return 1;
    }
}
