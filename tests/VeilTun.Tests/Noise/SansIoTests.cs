using System.Text.RegularExpressions;
using Xunit;

namespace VeilTun.Tests.Noise;

/// <summary>
/// Sans-IO: the protocol folders never touch sockets, the TUN, threads, tasks or the clock. This test
/// reads their sources and fails on any such API, so the rule cannot erode silently.
/// </summary>
public class SansIoTests
{
    private static readonly string[] ProtocolFolders = ["Noise", "Crypto", "Timers", "Routing", "Daita", "Packets"];

    private static readonly Regex Forbidden = new(
        @"\b(Socket\b|UdpClient|new Thread\b|Thread\.Sleep|Task\.(Run|Delay)|ThreadPool\.|Timer\b|" +
        @"DateTime(Offset)?\.(Utc)?Now|Stopwatch|Environment\.TickCount|File\.|Console\.|" +
        @"GetTimestamp\(\)|GetUtcNow\(\)\s*;\s*//\s*clock)", RegexOptions.Compiled);

    private static string SourceRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "VeilTun.slnx"))) dir = Path.GetDirectoryName(dir);
        return Path.Combine(dir ?? throw new DirectoryNotFoundException("repository root"), "src", "VeilTun");
    }

    [Fact]
    public void ProtocolFoldersUseNoIoThreadOrClockApis()
    {
        var offences = new List<string>();
        int files = 0;
        foreach (var folder in ProtocolFolders)
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(SourceRoot(), folder), "*.cs"))
            {
                files++;
                var lines = File.ReadAllLines(file);
                for (int i = 0; i < lines.Length; i++)
                {
                    var code = lines[i].Split("//")[0];
                    if (code.TrimStart().StartsWith("///") || code.TrimStart().StartsWith('*')) continue;
                    if (Forbidden.IsMatch(code)) offences.Add($"{folder}/{Path.GetFileName(file)}:{i + 1}: {lines[i].Trim()}");
                }
            }
        }
        Assert.True(files > 20, "protocol sources not found");
        Assert.True(offences.Count == 0, "I/O, thread or clock APIs in protocol code:\n" + string.Join("\n", offences));
    }

    [Fact]
    public void TheCheckCatchesAClockRead()
    {
        Assert.Matches(Forbidden, "var t = DateTime.UtcNow;");
        Assert.Matches(Forbidden, "Thread.Sleep(5);");
        Assert.DoesNotMatch(Forbidden, "var t = _wallClock.GetUtcNow();");
    }
}
