using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using VeilTun.Tests.Fakes;
using VeilTun.Tun;
using Xunit;
using NativeTun = VeilTun.Interop.Tun;

namespace VeilTun.Tests.Tun;

/// <summary>
/// LinuxTun whose interface lives in another network namespace than its sockets were made in: moved there after
/// creation (ip link set IF netns NS, WireGuard's documented container set-up), or adopted as a descriptor of
/// another namespace's interface. Two namespaces of this class's own: "outer" (where the device is made) and
/// "inner" (where the interface goes).
/// </summary>
public sealed class LinuxTunNamespaceTests : IDisposable
{
    private static readonly TimeSpan HangGuard = BlockingCall.HangGuard;
    private readonly Lazy<NetnsThread> _outer = new(() => NetnsThread.Create("vt-to-"));
    private readonly Lazy<NetnsThread> _inner = new(() => NetnsThread.Create("vt-ti-"));

    private NetnsThread Outer => _outer.Value;

    private NetnsThread Inner => _inner.Value;

    public void Dispose()
    {
        if (_outer.IsValueCreated) _outer.Value.Dispose();
        if (_inner.IsValueCreated) _inner.Value.Dispose();
    }

    [RootFact]
    public void AMovedInterfaceKeepsReportingUpMtuDownAndDeletedFromItsNewNamespace()
    {
        string name = NewName();
        using LinuxTun tun = Outer.Invoke(() => LinuxTun.Create(name));
        using var events = new BlockingCollection<TunEvent>();
        tun.Event += events.Add;
        Assert.False(tun.IsInOtherNamespace);

        Outer.Ip($"link set dev {name} netns {Inner.Name}");
        WaitUntil(() => tun.IsInOtherNamespace, "the monitor never noticed the move");
        Assert.Equal(LinuxTun.WatchMode.Entered, tun.Mode); // root: setns allowed
        Assert.False(tun.IsUp);

        Inner.Ip($"link set dev {name} up");
        Assert.Equal(new TunEvent(TunEventKind.Up, 1420), Next(events));
        Assert.True(tun.IsUp); // read by ioctl in the inner namespace

        Inner.Ip($"link set dev {name} mtu 1300");
        Assert.Equal(new TunEvent(TunEventKind.MtuChanged, 1300), Next(events));

        tun.SetMtu(1280); // from the test thread (root namespace): the control socket lives in the inner one
        Assert.Contains(" mtu 1280 ", Inner.Ip($"-o link show dev {name}"));
        Assert.Equal(new TunEvent(TunEventKind.MtuChanged, 1280), Next(events));

        Inner.Ip($"link set dev {name} down");
        Assert.Equal(new TunEvent(TunEventKind.Down, 1280), Next(events));

        Inner.Ip($"link del dev {name}");
        Assert.Equal(new TunEvent(TunEventKind.Deleted, 1280), Next(events));
        Assert.Equal(0, tun.Read(new byte[1500]));
        Assert.False(events.TryTake(out _), "no event may follow Deleted");
    }

    [RootFact]
    public void AnUpInterfaceMovedAwayAndBackReportsDownThenUpAgain()
    {
        string name = NewName();
        using LinuxTun tun = Outer.Invoke(() => LinuxTun.Create(name));
        using var events = new BlockingCollection<TunEvent>();
        tun.Event += events.Add;
        Outer.Ip($"link set dev {name} up");
        Assert.Equal(TunEventKind.Up, Next(events).Kind); // consumed here, so it cannot be mistaken for a later one

        // The kernel closes a link before it moves it.
        Outer.Ip($"link set dev {name} netns {Inner.Name}");
        Assert.Equal(TunEventKind.Down, Next(events).Kind);
        Inner.Ip($"link set dev {name} up");
        Assert.Equal(TunEventKind.Up, Next(events).Kind);

        Inner.Ip($"link set dev {name} netns {Outer.Name}");
        Assert.Equal(TunEventKind.Down, Next(events).Kind);
        WaitUntil(() => !tun.IsInOtherNamespace, "the monitor never noticed the move home");
        Outer.Ip($"link set dev {name} up");
        Assert.Equal(TunEventKind.Up, Next(events).Kind);
        Assert.True(tun.IsUp);
    }

    [RootFact]
    public void AnAdoptedDescriptorOfAnotherNamespacesInterfaceIsWatchedThere()
    {
        string name = NewName();
        // Made in the inner namespace, adopted on the outer namespace's thread (a host handing over a descriptor).
        int fd = Inner.Invoke(() =>
        {
            SafeFdHandle raw = NativeTun.OpenTun(name, NativeTun.IFF_TUN | NativeTun.IFF_NO_PI, out _);
            int n = (int)raw.DangerousGetHandle();
            raw.SetHandleAsInvalid();
            return n;
        });
        // An unrelated interface of the same name where the adopting thread is must not be mistaken for it.
        Outer.Ip($"link add {name} type veth peer name {name}p");
        using LinuxTun tun = Outer.Invoke(() => LinuxTun.FromFileDescriptor(fd));
        using var events = new BlockingCollection<TunEvent>();
        tun.Event += events.Add;

        Assert.True(tun.IsInOtherNamespace);
        Assert.True(tun.IsMonitored);
        Assert.False(tun.IsUp);
        Inner.Ip($"link set dev {name} up");
        Assert.Equal(TunEventKind.Up, Next(events).Kind);
        Outer.Ip($"link set dev {name} mtu 1300"); // the other one: no event
        Inner.Ip($"link set dev {name} mtu 1350");
        Assert.Equal(new TunEvent(TunEventKind.MtuChanged, 1350), Next(events));
        Inner.Ip($"link del dev {name}");
        Assert.Equal(TunEventKind.Down, Next(events).Kind); // an up link is closed before it goes
        Assert.Equal(TunEventKind.Deleted, Next(events).Kind);
    }

    [RootFact]
    public void AHandlerThatSubscribesAfterAMoveIsToldOnceHowTheInterfaceIsFollowed()
    {
        // The daemon's UAPI socket exists before its tunnel subscribes: a move in between must not go unlogged
        // (netns-move.sh saw "followed by polling" logged 0 times under load).
        string name = NewName();
        using LinuxTun tun = Outer.Invoke(() => LinuxTun.Create(name));
        var early = new ConcurrentQueue<TunEvent>();
        tun.Event += early.Enqueue;
        Outer.Ip($"link set dev {name} netns {Inner.Name}");
        WaitUntil(() => tun.IsInOtherNamespace && !early.IsEmpty, "the monitor never noticed the move");

        var late = new ConcurrentQueue<TunEvent>();
        tun.Event += late.Enqueue;
        var told = Assert.Single(late);
        Assert.Equal(TunEventKind.Watching, told.Kind);
        Assert.Equal(Assert.Single(early, e => e.Kind == TunEventKind.Watching).Detail, told.Detail);
        Inner.Ip($"link set dev {name} up"); // later events reach both, once
        WaitUntil(() => late.Count == 2 && early.Count(e => e.Kind == TunEventKind.Up) == 1, "the link-up event did not arrive");
        Assert.Equal(TunEventKind.Up, late.Last().Kind);
        Inner.Ip($"link del dev {name}");
    }

    [RootFact]
    public void WithoutTheRightToEnterTheNamespaceTheLinkIsPolledByNetnsIdFromHome()
    {
        // What a daemon that dropped privileges (CAP_NET_ADMIN, no CAP_SYS_ADMIN) gets after a move.
        LinuxTun.RefuseNamespaceEntryForTests = true;
        try
        {
            string name = NewName();
            using LinuxTun tun = Outer.Invoke(() => LinuxTun.Create(name));
            using var events = new BlockingCollection<TunEvent>();
            var all = new ConcurrentQueue<TunEvent>();
            tun.Event += e => all.Enqueue(e);
            tun.Event += events.Add;

            Outer.Ip($"link set dev {name} netns {Inner.Name}");
            WaitUntil(() => tun.IsInOtherNamespace, "the monitor never noticed the move");
            TunEvent watching = NextAny(events);
            Assert.Equal(TunEventKind.Watching, watching.Kind);
            Assert.Contains("netns id", watching.Detail);
            Assert.Equal(LinuxTun.WatchMode.Polled, tun.Mode);
            int innerIndex = int.Parse(Inner.Ip($"-o link show dev {name}").Split(':')[0]);
            Assert.Equal(innerIndex, tun.InterfaceIndex);

            Inner.Ip($"link set dev {name} up");
            Assert.Equal(new TunEvent(TunEventKind.Up, 1420), Next(events));
            Inner.Ip($"link set dev {name} mtu 1300");
            Assert.Equal(new TunEvent(TunEventKind.MtuChanged, 1300), Next(events));
            Assert.Equal(1300, tun.Mtu);
            Inner.Ip($"link set dev {name} down");
            Assert.Equal(new TunEvent(TunEventKind.Down, 1300), Next(events));
            Inner.Ip($"link set dev {name} name {name}x"); // renamed there: still the same index
            WaitUntil(() => tun.Name == name + "x", "the rename was not seen");

            var refused = Assert.Throws<UnauthorizedAccessException>(() => tun.SetMtu(1280));
            Assert.Contains("set it there", refused.Message);
            Assert.Contains(" mtu 1300 ", Inner.Ip($"-o link show dev {name}x"));

            Inner.Ip($"link del dev {name}x");
            Assert.Equal(TunEventKind.Deleted, Next(events).Kind);
            Assert.Equal(0, tun.Read(new byte[1500]));
            Assert.DoesNotContain(all, e => e.Kind == TunEventKind.WatchDegraded);
        }
        finally
        {
            LinuxTun.RefuseNamespaceEntryForTests = false;
        }
    }

    [RootFact]
    public void WithoutTheRightToEnterTheNamespaceOrANetnsIdTheProbeStillSeesDeletionAndAMoveHome()
    {
        // Only this class moves interfaces, and its tests run one at a time: the static hooks are safe here.
        LinuxTun.RefuseNamespaceEntryForTests = true;
        LinuxTun.RefuseNamespaceIdsForTests = true;
        try
        {
            string name = NewName();
            using LinuxTun tun = Outer.Invoke(() => LinuxTun.Create(name));
            using var events = new BlockingCollection<TunEvent>();
            tun.Event += events.Add;

            Outer.Ip($"link set dev {name} netns {Inner.Name}");
            WaitUntil(() => tun.IsInOtherNamespace, "the monitor never noticed the move");
            TunEvent degraded = NextAny(events);
            Assert.Equal(TunEventKind.WatchDegraded, degraded.Kind);
            Assert.Contains("only its deletion", degraded.Detail);
            Assert.Equal(0, tun.InterfaceIndex); // out of reach
            Assert.Throws<UnauthorizedAccessException>(() => tun.SetMtu(1300));

            // Home needs no setns: the probe notices the interface is back and watches it properly again.
            Inner.Ip($"link set dev {name} netns {Outer.Name}");
            WaitUntil(() => !tun.IsInOtherNamespace, "the probe never noticed the move home");
            Outer.Ip($"link set dev {name} mtu 1300");
            WaitUntil(() => tun.Mtu == 1300, "no MTU change seen after the move home");

            Outer.Ip($"link set dev {name} netns {Inner.Name}");
            WaitUntil(() => tun.IsInOtherNamespace, "the monitor never noticed the second move");
            Inner.Ip($"link del dev {name}");
            WaitUntil(() => events.Any(e => e.Kind == TunEventKind.Deleted), "the probe never reported the deletion");
            Assert.Equal(0, tun.Read(new byte[1500]));
        }
        finally
        {
            LinuxTun.RefuseNamespaceEntryForTests = false;
            LinuxTun.RefuseNamespaceIdsForTests = false;
        }
    }

    private static void WaitUntil(Func<bool> condition, string why)
    {
        DateTime deadline = DateTime.UtcNow + HangGuard;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, why);
            Thread.Sleep(5);
        }
    }

    /// <summary>The next link event, skipping reports of how the interface is followed.</summary>
    private static TunEvent Next(BlockingCollection<TunEvent> events)
    {
        while (true)
        {
            TunEvent e = NextAny(events);
            if (e.Kind is not (TunEventKind.Watching or TunEventKind.WatchDegraded))
            {
                return e;
            }
        }
    }

    private static TunEvent NextAny(BlockingCollection<TunEvent> events)
    {
        Assert.True(events.TryTake(out TunEvent e, HangGuard), "expected event did not arrive");
        return e;
    }

    private static string NewName() => "vt" + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
}
