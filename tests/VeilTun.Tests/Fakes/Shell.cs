using System.Diagnostics;

namespace VeilTun.Tests.Fakes;

/// <summary>Runs commands for namespace tests, bounded in time.</summary>
public static class Shell
{
    public static string Run(string command, int timeoutMs = 15000, bool check = true)
    {
        var psi = new ProcessStartInfo("/bin/sh", ["-c", command])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(true);
            throw new TimeoutException($"timed out: {command}");
        }
        if (check && p.ExitCode != 0)
            throw new InvalidOperationException($"'{command}' exited {p.ExitCode}: {stderr.Result}{stdout.Result}");
        return stdout.Result;
    }

    public static Process Start(string command, string logFile)
    {
        var psi = new ProcessStartInfo("/bin/sh", ["-c", $"exec {command} >{logFile} 2>&1"]);
        return Process.Start(psi)!;
    }
}
