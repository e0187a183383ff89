using System.Diagnostics;

namespace VeilTun.Fuzz;

/// <summary>Runs corpus files through targets in process, each within a time bound.</summary>
public static class Replay
{
    /// <summary>Longest one input may take in a replay (the slowest seed takes tens of milliseconds; this allows for
    /// a cold JIT and a busy box; the scripts give afl-fuzz 2-3 s before it calls an input a hang).</summary>
    public static readonly TimeSpan InputBound = TimeSpan.FromSeconds(2);

    public static IEnumerable<string> Files(IEnumerable<string> paths) =>
        paths.SelectMany(p => Directory.Exists(p)
            ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories).Where(f => !Path.GetFileName(f).StartsWith('.'))
            : [p]).Order(StringComparer.Ordinal);

    /// <summary>Replays; returns 0 when every target passed.</summary>
    public static int Run(string targetName, IReadOnlyList<string> paths, TextWriter output)
    {
        var targets = targetName == "all"
            ? FuzzTargets.All
            : FuzzTargets.All.Where(t => t.Name == targetName).ToList();
        if (targets.Count == 0)
        {
            output.WriteLine($"FAIL replay: unknown target '{targetName}'");
            output.WriteLine("0 passed, 1 failed");
            return 1;
        }
        var files = Files(paths).ToList();
        int passed = 0, failed = 0;
        foreach (var (name, run) in targets)
        {
            string? failure = null;
            var total = Stopwatch.StartNew();
            foreach (var file in files)
            {
                failure = RunOne(run, File.ReadAllBytes(file));
                if (failure is not null)
                {
                    failure = $"{file}: {failure}";
                    break;
                }
            }
            if (failure is null)
            {
                passed++;
                output.WriteLine($"PASS replay {name}: {files.Count} inputs in {total.ElapsedMilliseconds} ms");
            }
            else
            {
                failed++;
                output.WriteLine($"FAIL replay {name}: {failure}");
            }
        }
        output.WriteLine($"{passed} passed, {failed} failed");
        return failed == 0 ? 0 : 1;
    }

    /// <summary>Runs one input; null when it passed, else what went wrong.</summary>
    public static string? RunOne(Action<byte[]> target, byte[] input, TimeSpan? bound = null)
    {
        var limit = bound ?? InputBound;
        var watch = Stopwatch.StartNew();
        try
        {
            target(input);
        }
        catch (Exception ex)
        {
            return ex.ToString();
        }
        return watch.Elapsed > limit ? $"took {watch.ElapsedMilliseconds} ms (bound {limit.TotalMilliseconds} ms)" : null;
    }
}
