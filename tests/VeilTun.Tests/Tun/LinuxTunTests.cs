using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Win32.SafeHandles;
using VeilTun.Tests.Fakes;
using VeilTun.Tun;
using Xunit;
using NativeTun = VeilTun.Interop.Tun;

namespace VeilTun.Tests.Tun;

/// <summary>
/// LinuxTun against the real kernel, inside a network namespace of this class's own (created on first use,
/// deleted afterwards). Devices are created on the namespace's thread; ip(8) and ping(8) act from outside.
/// </summary>
public sealed class LinuxTunTests : IClassFixture<NetnsFixture>
{
    private static readonly TimeSpan HangGuard = BlockingCall.HangGuard;
    private readonly NetnsFixture _fixture;

    public LinuxTunTests(NetnsFixture fixture) => _fixture = fixture;

    private NetnsThread Ns => _fixture.Namespace;

    [Fact]
    public void CreateRejectsNamesLongerThan15Bytes() =>
        Assert.Throws<ArgumentException>(() => LinuxTun.Create("abcdefghijklmnop"));

    [Fact]
    public void CreateRejectsAnMtuOutsideTheTunDriversRange()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LinuxTun.Create("vt0", 67));
        Assert.Throws<ArgumentOutOfRangeException>(() => LinuxTun.Create("vt0", 65536));
    }

    [Fact]
    public void AdoptingADescriptorThatIsNotATunThrowsAndLeavesItOpen()
    {
        using SafeFileHandle devNull = File.OpenHandle("/dev/null", FileMode.Open, FileAccess.Write);
        int fd = (int)devNull.DangerousGetHandle();

        Assert.Throws<ArgumentException>(() => LinuxTun.FromFileDescriptor(fd));

        // Would fail with EBADF had FromFileDescriptor closed the descriptor it does not own on failure.
        RandomAccess.Write(devNull, new byte[] { 1 }, 0);
    }

    [RootFact]
    public void CreateSetsTheMtuAndLeavesTheLinkDown()
    {
        string name = NewName();
        using LinuxTun tun = Ns.Invoke(() => LinuxTun.Create(name, 1380));

        string link = Ns.Ip($"-o link show dev {name}"); // "7: NAME: <POINTOPOINT,MULTICAST,NOARP> mtu 1380 ..."
        Assert.Equal(name, tun.Name);
        Assert.Equal(int.Parse(link[..link.IndexOf(':')]), tun.InterfaceIndex);
        Assert.Contains(" mtu 1380 ", link);
        Assert.Equal(1380, tun.Mtu);
        Assert.DoesNotContain("UP", LinkFlags(link));
        Assert.False(tun.IsUp);
        Assert.True(tun.IsMonitored);
        Assert.False(tun.HasVnetHeader);
    }

    [RootFact]
    public void CreateWithANamePatternLetsTheKernelChooseTheName()
    {
        using LinuxTun tun = Ns.Invoke(() => LinuxTun.Create("vtp%d"));

        Assert.Matches(new Regex("^vtp[0-9]+$"), tun.Name);
        Assert.Contains(" mtu 1420 ", Ns.Ip($"-o link show dev {tun.Name}"));
    }

    [RootFact]
    public void PingIsAnsweredThroughTheTunOverIPv4()
    {
        using LinuxTun tun = Ns.Invoke(() => LinuxTun.Create(NewName()));
        AssertPingIsAnsweredThroughTheTun(tun, "192.0.2.1/24", "192.0.2.2");
    }

    [RootFact]
    public void PingIsAnsweredThroughTheTunOverIPv6()
    {
        using LinuxTun tun = Ns.Invoke(() => LinuxTun.Create(NewName()));
        AssertPingIsAnsweredThroughTheTun(tun, "2001:db8:1::1/64", "2001:db8:1::2");
    }

    [RootFact]
    public void PingIsAnsweredThroughATunWithVnetHeaders()
    {
        using LinuxTun tun = Ns.Invoke(() => LinuxTun.Create(NewName(), LinuxTun.DefaultMtu, new TunOptions { VnetHeader = true }));
        Assert.True(tun.HasVnetHeader);
        AssertPingIsAnsweredThroughTheTun(tun, "192.0.2.1/24", "192.0.2.2");
    }

    [RootFact]
    public void AnAdoptedDescriptorWithPacketInfoHeadersCarriesPing()
    {
        string name = NewName();
        using LinuxTun tun = Ns.Invoke(() =>
        {
            // Without IFF_NO_PI every packet on the descriptor carries a 4-byte struct tun_pi.
            SafeFdHandle raw = NativeTun.OpenTun(name, NativeTun.IFF_TUN, out _);
            int fd = (int)raw.DangerousGetHandle();
            raw.SetHandleAsInvalid(); // ownership moves to LinuxTun
            return LinuxTun.FromFileDescriptor(fd, packetInformation: true);
        });

        Assert.Equal(name, tun.Name);
        Assert.False(tun.HasVnetHeader);
        Assert.Equal(1500, tun.Mtu); // the tun driver's default, left alone when adopting
        Assert.Contains(" mtu 1500 ", Ns.Ip($"-o link show dev {name}"));
        AssertPingIsAnsweredThroughTheTun(tun, "192.0.2.1/24", "192.0.2.2");
    }

    [RootFact]
    public void ADetachedDescriptorKeepsTheInterfaceAndIsAdoptedWithItsOffloads()
    {
        // The daemon's privilege drop: created with offloads as root, detached, adopted by the re-executed image.
        string name = NewName();
        var options = new TunOptions { Offloads = true };
        var created = Ns.Invoke(() => LinuxTun.Create(name, 1380, options));
        bool offloads = created.OffloadsEnabled, udpOffloads = created.UdpOffloadsEnabled;
        int fd = created.DetachFileDescriptor();
        Assert.Throws<ObjectDisposedException>(() => created.DetachFileDescriptor());
        Assert.Contains(" mtu 1380 ", Ns.Ip($"-o link show dev {name}")); // still there: the descriptor is open

        using (LinuxTun adopted = Ns.Invoke(() => LinuxTun.FromFileDescriptor(fd, options)))
        {
            Assert.Equal(name, adopted.Name);
            Assert.True(adopted.HasVnetHeader);
            Assert.Equal(offloads, adopted.OffloadsEnabled);
            Assert.Equal(udpOffloads, adopted.UdpOffloadsEnabled);
            AssertPingIsAnsweredThroughTheTun(adopted, "192.0.2.1/24", "192.0.2.2");
        }
        DateTime deadline = DateTime.UtcNow + HangGuard;
        while (Ns.Ip("-o link show").Contains(name + ":") && DateTime.UtcNow < deadline) Thread.Sleep(10);
        Assert.DoesNotContain(name + ":", Ns.Ip("-o link show")); // gone with its last descriptor
    }

    [RootFact]
    public void AnAdoptedDescriptorWithVnetHeadersIsDetectedAndCarriesPing()
    {
        string name = NewName();
        using LinuxTun tun = Ns.Invoke(() =>
        {
            SafeFdHandle raw = NativeTun.OpenTun(name, NativeTun.IFF_TUN | NativeTun.IFF_NO_PI | NativeTun.IFF_VNET_HDR, out _);
            int fd = (int)raw.DangerousGetHandle();
            raw.SetHandleAsInvalid();
            return LinuxTun.FromFileDescriptor(fd);
        });

        Assert.Equal(name, tun.Name);
        Assert.True(tun.HasVnetHeader);
        Assert.True(tun.IsMonitored);
        AssertPingIsAnsweredThroughTheTun(tun, "192.0.2.1/24", "192.0.2.2");
    }

    [RootFact]
    public void IpLinkCommandsRaiseUpMtuChangedDownAndDeletedEvents()
    {
        string name = NewName();
        using LinuxTun tun = Ns.Invoke(() => LinuxTun.Create(name));
        using var events = new BlockingCollection<TunEvent>();
        tun.Event += events.Add;

        Ns.Ip($"link set dev {name} up");
        Assert.Equal(new TunEvent(TunEventKind.Up, 1420), Next(events));
        Assert.True(tun.IsUp);

        Ns.Ip($"link set dev {name} mtu 1300");
        Assert.Equal(new TunEvent(TunEventKind.MtuChanged, 1300), Next(events));
        Assert.Equal(1300, tun.Mtu);

        Ns.Ip($"link set dev {name} down");
        Assert.Equal(new TunEvent(TunEventKind.Down, 1300), Next(events));
        Assert.False(tun.IsUp);

        Ns.Ip($"link del dev {name}");
        Assert.Equal(new TunEvent(TunEventKind.Deleted, 1300), Next(events));
        Assert.Equal(0, tun.Read(new byte[1500]));
        Assert.False(events.TryTake(out _), "no event may follow Deleted");
    }

    [RootFact]
    public void SetMtuFromAnotherThreadChangesTheKernelMtuAndRaisesMtuChanged()
    {
        string name = NewName();
        using LinuxTun tun = Ns.Invoke(() => LinuxTun.Create(name));
        using var events = new BlockingCollection<TunEvent>();
        tun.Event += events.Add;

        tun.SetMtu(1280); // test thread: outside the namespace, so this relies on the device's own control socket

        Assert.Equal(1280, tun.Mtu);
        Assert.Contains(" mtu 1280 ", Ns.Ip($"-o link show dev {name}"));
        Assert.Equal(new TunEvent(TunEventKind.MtuChanged, 1280), Next(events));
    }

    [RootFact]
    public async Task CloseWakesABlockedReaderAndRemovesTheInterface()
    {
        string name = NewName();
        LinuxTun tun = Ns.Invoke(() => LinuxTun.Create(name));
        Task<int> reader = BlockingCall.StartAndWaitUntilBlocked(() => tun.Read(new byte[1500]));

        tun.Close();

        Assert.Equal(0, await reader.WaitAsync(HangGuard)); // TimeoutException if never woken
        Assert.Equal(0, tun.Read(new byte[1500]));
        tun.Write(new byte[20]); // after Close: dropped, no exception
        tun.Dispose(); // idempotent
        // A non-persistent TUN interface disappears with its last descriptor.
        Assert.DoesNotContain(name + ":", Ns.Ip("-o link show"));
    }

    [RootFact]
    public async Task DeletingTheInterfaceWakesABlockedReaderWhichReturnsZero()
    {
        string name = NewName();
        using LinuxTun tun = Ns.Invoke(() => LinuxTun.Create(name));
        Ns.Ip($"link set dev {name} up");
        Task<int> reader = BlockingCall.StartAndWaitUntilBlocked(() =>
        {
            // Skip whatever the kernel sends on its own (IPv6 router solicitations, MLD) until deletion.
            byte[] buffer = new byte[1500];
            int n;
            while ((n = tun.Read(buffer)) > 0)
            {
            }

            return n;
        });

        Ns.Ip($"link del dev {name}");

        Assert.Equal(0, await reader.WaitAsync(HangGuard)); // TimeoutException if never woken
    }

    [RootFact]
    public void WritingToADownInterfaceOrWritingGarbageDropsSilently()
    {
        string name = NewName();
        using LinuxTun tun = Ns.Invoke(() => LinuxTun.Create(name));
        byte[] request = IcmpEcho.Ipv4Request(IPAddress.Parse("192.0.2.2"), IPAddress.Parse("192.0.2.1"));

        tun.Write(request); // link down: the kernel answers EIO

        Ns.Ip($"link set dev {name} up");
        tun.Write(new byte[] { 0x00, 1, 2, 3 }); // not IPv4/IPv6: EINVAL
        tun.Write(request); // accepted now
        // The driver counts exactly the one packet it accepted (tun_get_user), so Write did reach the kernel.
        Assert.Equal(1, RxPackets(name));
    }

    private static TunEvent Next(BlockingCollection<TunEvent> events)
    {
        Assert.True(events.TryTake(out TunEvent e, HangGuard), "expected event did not arrive");
        return e;
    }

    private long RxPackets(string name)
    {
        using JsonDocument json = JsonDocument.Parse(Ns.Ip($"-j -s link show dev {name}"));
        return json.RootElement[0].GetProperty("stats64").GetProperty("rx").GetProperty("packets").GetInt64();
    }

    private static string NewName() => "vt" + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();

    private static string[] LinkFlags(string link) =>
        link[(link.IndexOf('<') + 1)..link.IndexOf('>')].Split(',');

    private void AssertPingIsAnsweredThroughTheTun(LinuxTun tun, string localCidr, string peer)
    {
        bool ipv6 = peer.Contains(':');
        Ns.Ip($"addr add {localCidr} dev {tun.Name}" + (ipv6 ? " nodad" : string.Empty));
        Ns.Ip($"link set dev {tun.Name} up");
        Ns.WaitForLocalAddress(localCidr[..localCidr.IndexOf('/')]);

        // Hang guard only: if nothing usable arrives, Close() makes Read return 0 and the test fails.
        using var watchdog = new Timer(_ => tun.Close(), null, HangGuard, Timeout.InfiniteTimeSpan);
        using Process ping = Ns.Start("ping", $"{(ipv6 ? "-6 " : string.Empty)}-c 1 -W 20 {peer}");
        Task<string> output = ping.StandardOutput.ReadToEndAsync();
        var peerAddress = IPAddress.Parse(peer);
        byte[] buffer = new byte[65535];
        while (true)
        {
            int n = tun.Read(buffer);
            Assert.True(n > 0, "the TUN returned 0 before ping's echo request arrived");
            if (IcmpEcho.IsEchoRequest(buffer.AsSpan(0, n), peerAddress))
            {
                tun.Write(IcmpEcho.Reply(buffer.AsSpan(0, n)));
                break;
            }
        }

        ping.WaitForExit();
        Assert.True(ping.ExitCode == 0, $"ping {peer} failed: {output.Result} {ping.StandardError.ReadToEnd()}");
    }
}
