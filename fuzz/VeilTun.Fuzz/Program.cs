using SharpFuzz;
using VeilTun.Fuzz;

// VeilTun.Fuzz TARGET                      run TARGET under afl-fuzz (SharpFuzz's persistent fork server)
// VeilTun.Fuzz replay TARGET|all PATH...   run every file (or every file in every directory) through the
//                                          target(s) in process; prints PASS/FAIL per target, "N passed, N failed"
// VeilTun.Fuzz list                        the target names
// VeilTun.Fuzz time TARGET FILE N          microseconds per run of one input
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
if (args[0] == "time" && args.Length == 4 && FuzzTargets.Find(args[1]) is { } timed)
{
    var bytes = File.ReadAllBytes(args[2]);
    int n = int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture);
    timed(bytes);
    var watch = System.Diagnostics.Stopwatch.StartNew();
    for (int i = 0; i < n; i++) timed(bytes);
    Console.WriteLine($"{args[1]} {args[2]}: {watch.Elapsed.TotalMicroseconds / n:F0} us per run");
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
