using System.Diagnostics;
using SharpFuzz;
using VeilTun.Fuzz;

// VeilTun.Fuzz TARGET                      run TARGET under afl-fuzz (SharpFuzz's persistent fork server)
// VeilTun.Fuzz replay TARGET|all PATH...   run every file (or every file in every directory) through the
//                                          target(s) in process; prints PASS/FAIL per target, "N passed, N failed"
// VeilTun.Fuzz list                        the target names
// VeilTun.Fuzz trace-engine PATH...        what each engine script reached
// VeilTun.Fuzz seeds DIR                   (re)writes the generated seed corpora under DIR/<target>/
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: VeilTun.Fuzz TARGET | replay TARGET|all PATH... | list");
    Console.Error.WriteLine("targets: " + string.Join(" ", FuzzTargets.All.Select(t => t.Name)));
    return 2;
}
if (args[0] == "list")
{
    foreach (var (name, _) in FuzzTargets.All) Console.WriteLine(name);
    return 0;
}
if (args[0] == "seeds" && args.Length == 2)
{
    Seeds.Write(args[1]);
    return 0;
}
if (args[0] == "trace-engine")
{
    EngineTarget.Trace = Console.Out;
    foreach (var file in Replay.Files(args[1..]))
    {
        Console.WriteLine(file);
        EngineTarget.Run(File.ReadAllBytes(file));
    }
    return 0;
}
if (args[0] == "replay")
{
    if (args.Length < 3)
    {
        Console.Error.WriteLine("usage: VeilTun.Fuzz replay TARGET|all PATH...");
        return 2;
    }
    return Replay.Run(args[1], args[2..], Console.Out);
}

var target = FuzzTargets.Find(args[0]);
if (target is null)
{
    Console.Error.WriteLine($"unknown target '{args[0]}'; targets: " + string.Join(" ", FuzzTargets.All.Select(t => t.Name)));
    return 2;
}
var input = new MemoryStream();
Fuzzer.Run(stream =>
{
    input.SetLength(0);
    stream.CopyTo(input);
    target(input.ToArray());
});
return 0;

namespace VeilTun.Fuzz
{
    /// <summary>Runs corpus files through targets in process, each within a time bound.</summary>
    public static class Replay
    {
        /// <summary>Longest one input may take (afl's hang bound is 1 s; this allows for a cold JIT and a busy box).</summary>
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
        public static string? RunOne(Action<byte[]> target, byte[] input)
        {
            var watch = Stopwatch.StartNew();
            try
            {
                target(input);
            }
            catch (Exception ex)
            {
                return ex.ToString();
            }
            return watch.Elapsed > InputBound ? $"took {watch.ElapsedMilliseconds} ms (bound {InputBound.TotalMilliseconds} ms)" : null;
        }
    }
}
