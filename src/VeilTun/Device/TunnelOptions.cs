using Microsoft.Extensions.Logging;
using VeilTun.Crypto;
using VeilTun.Noise;
using VeilTun.Tun;
using VeilTun.Udp;

namespace VeilTun.Device;

/// <summary>How a <see cref="Tunnel"/> talks to the world. Only <see cref="Tun"/> is required.</summary>
public sealed class TunnelOptions
{
    /// <summary>
    /// Where inner packets come from and go to: a <see cref="LinuxTun"/> (created, or from a host-provided file
    /// descriptor as Android's VpnService hands one over), or an <see cref="InMemoryTun"/>. The tunnel takes
    /// ownership and closes it on dispose.
    /// </summary>
    public required ITunDevice Tun { get; init; }

    /// <summary>Binds the UDP transport for a port (0 = any free port). Default: a dual-stack <see cref="LinuxUdpSocket"/>.</summary>
    public Func<int, IUdpTransport>? BindUdp { get; init; }

    /// <summary>
    /// Called with every newly bound transport before it carries traffic, so a host can keep the tunnel's own
    /// socket out of the tunnel (Android: <c>VpnService.protect(fd)</c>; Linux: a routing mark).
    /// </summary>
    public Action<IUdpTransport>? ProtectSocket { get; init; }

    /// <summary>
    /// Monotonic time for the protocol's timers. Default: <see cref="BootTimeClock"/> (counts suspend), on which an
    /// idle tunnel sleeps until its next deadline. A clock given here may jump without telling the tunnel, so its
    /// timer thread then looks at it every 100 ms.
    /// </summary>
    public Func<TimeSpan>? MonotonicClock { get; init; }

    /// <summary>Wall clock for TAI64N timestamps and "latest handshake". Default: the system clock.</summary>
    public TimeProvider? WallClock { get; init; }

    /// <summary>Randomness. Default: the OS CSPRNG.</summary>
    internal IRandomSource? Random { get; init; }

    /// <summary>
    /// Where the tunnel logs (category <c>VeilTun.Tunnel</c>; a multihop pair adds <c>VeilTun.Multihop</c>): the
    /// host's factory (generic host, ASP.NET, MAUI), or any <see cref="ILoggerFactory"/>. Each event has a stable
    /// <see cref="EventId"/> and runs in a scope with the property <c>Interface</c> (the interface name); levels are
    /// wireguard-go's (its verbose lines are Debug, its errors Error). Nothing is formatted for a level that is off.
    /// Default: none (<see cref="Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory"/>). See docs/embedding.md.
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>
    /// Where the tunnel's metrics go: the <c>VeilTun</c> meter this factory creates (a host's dependency-injected
    /// <see cref="System.Diagnostics.Metrics.IMeterFactory"/>, as .NET libraries take one). Default: one process-wide
    /// <c>VeilTun</c> meter shared by every tunnel. Either way each measurement is tagged with the interface name
    /// (docs/metrics.md).
    /// </summary>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; init; }

    /// <summary>Start up without waiting for a link-up event. Default: <see cref="ITunDevice.IsUp"/> at start
    /// (in-memory TUNs are always up; a Linux TUN whose link is down comes up with it).</summary>
    public bool? StartUp { get; init; }

    /// <summary>
    /// Crypto worker threads, which seal and open transport messages while keeping each peer's order; default one
    /// per core.
    /// </summary>
    public int? CryptoWorkers { get; init; }

    /// <summary>Upper bound on large packet buffers (each holds one packet or super-packet of up to 64 KiB).</summary>
    public int MaxBuffers { get; init; } = 1024;

    /// <summary>
    /// Upper bound on small packet buffers (2 KiB each: one packet of up to the MTU with its headroom, padding and
    /// tag). They hold the segments split out of TUN and UDP super-packets, which are most packets in flight under
    /// TCP load: many of them cost little memory, and too few made the readers drop segments (TCP retransmits).
    /// </summary>
    public int MaxSmallBuffers { get; init; } = 4096;

    /// <summary>
    /// Forces a ChaCha20-Poly1305 backend for transport data (default <see cref="AeadBackend.Auto"/>: the fastest this
    /// CPU runs). The choice is per process, so every tunnel in a process must ask for the same one; creating a
    /// tunnel that asks for another throws <see cref="InvalidOperationException"/>, and one this CPU cannot run throws
    /// <see cref="PlatformNotSupportedException"/>.
    /// </summary>
    public AeadBackend AeadBackend { get; init; } = AeadBackend.Auto;
}
