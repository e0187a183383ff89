using VeilTun.Fuzz;
using Xunit;

namespace VeilTun.Tests;

/// <summary>
/// Replays the committed fuzz corpora (fuzz/corpus/TARGET/*: seeds and every input a campaign found worth keeping)
/// through the fuzz targets' own code, so a regression shows up in <c>dotnet test</c> too. Every file goes
/// through every target, as in fuzz/ci.sh (with a looser time bound: xunit runs tests in parallel).
/// </summary>
public class FuzzCorpusTests
{
    private static string CorpusRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "VeilTun.slnx"))) dir = Path.GetDirectoryName(dir);
        return Path.Combine(dir ?? throw new DirectoryNotFoundException("repository root"), "fuzz", "corpus");
    }

    public static TheoryData<string> Targets() => new(FuzzTargets.All.Select(t => t.Name));

    [Theory]
    [MemberData(nameof(Targets))]
    public void EveryCorpusFilePasses(string target)
    {
        var run = FuzzTargets.Find(target)!;
        var files = Replay.Files([CorpusRoot()]).ToList();
        Assert.True(files.Count >= 40, $"only {files.Count} corpus files under {CorpusRoot()}");
        Assert.Contains(files, f => Path.GetFileName(Path.GetDirectoryName(f)) == target);
        var failures = files.Select(f => (File: f, Failure: Replay.RunOne(run, File.ReadAllBytes(f), TimeSpan.FromSeconds(10))))
            .Where(x => x.Failure is not null)
            .Select(x => $"{x.File}: {x.Failure}")
            .ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
