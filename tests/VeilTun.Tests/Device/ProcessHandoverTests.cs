using System.Diagnostics;
using VeilTun.Device;
using Xunit;

namespace VeilTun.Tests.Device;

/// <summary>The process-level steps of the daemon's privilege drop (docs/privileges.md).</summary>
public sealed class ProcessHandoverTests
{
    [Fact]
    public void FileIdIsWhatStatPrints()
    {
        // The socket waiter compares stat(1)'s "%d:%i" with this string before it unlinks.
        string path = Path.GetTempFileName();
        try
        {
            var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%d:%i", "--", path]) { RedirectStandardOutput = true })!;
            string expected = stat.StandardOutput.ReadToEnd().Trim();
            stat.WaitForExit();
            Assert.Equal(expected, ProcessHandover.FileId(path));
        }
        finally
        {
            File.Delete(path);
        }
        Assert.Null(ProcessHandover.FileId(path));
    }

    [Fact]
    public void OnlyInheritableDescriptorsReachAStartedProcess()
    {
        var (read, write) = ProcessHandover.CreatePipe();
        try
        {
            string Listing()
            {
                var ls = Process.Start(new ProcessStartInfo("ls", ["/proc/self/fd"]) { RedirectStandardOutput = true })!;
                string output = ls.StandardOutput.ReadToEnd();
                ls.WaitForExit();
                return " " + output.Replace('\n', ' ');
            }
            Assert.DoesNotContain($" {read} ", Listing()); // created close-on-exec
            ProcessHandover.SetInheritable(read, true);
            Assert.Contains($" {read} ", Listing());
            Assert.DoesNotContain($" {write} ", Listing());
            ProcessHandover.SetInheritable(read, false);
            Assert.DoesNotContain($" {read} ", Listing());
        }
        finally
        {
            ProcessHandover.Close(read);
            ProcessHandover.Close(write);
        }
    }
}
