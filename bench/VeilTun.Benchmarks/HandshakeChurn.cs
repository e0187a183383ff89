using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using VeilTun.Crypto;
using VeilTun.Device;
using VeilTun.Tun;
using VeilTun.Uapi;
using VeilTun.Udp;

namespace VeilTun.Benchmarks;

/// <summary>
/// Issue #14 churn part (b), run by <c>bench/churn.sh b</c> (never by CI: it is a benchmark):
/// <c>dotnet VeilTun.Benchmarks.dll churn [--clients 1000] [--minutes 10] [--interval 5] [--sample 10]</c>.
/// One hub <see cref="Tunnel"/> and N client Tunnels on an <see cref="InMemoryNetwork"/> and in-memory TUNs, all
/// real code (threads, crypto, timers, tables). Each client handshakes with the hub again every <c>--interval</c>
/// seconds (5 = REKEY_TIMEOUT, the fastest WireGuard lets one peer initiate): it replaces its hub peer (a fresh
/// session state, so its own rate limit starts over) and sends a packet, which makes it initiate; the hub answers,
/// rotates the client's keypairs and index entries, and delivers the packet. Every <c>--sample</c> seconds: RSS,
/// the live managed heap (after a full collection), threads, descriptors, and the hub's table sizes. "Start" is
/// the minute after the first one; each figure's median over it is compared with its median over the last minute
/// (PASS within 10 %): one sample swings too much with what is in flight at that instant.
/// </summary>
internal static class HandshakeChurn
{
    public static int Run(string[] args)
    {
        int clients = 1000, sampleSeconds = 10;
        double minutes = 10, interval = 5;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            string v = args[i + 1];
            switch (args[i])
            {
                case "--clients": clients = int.Parse(v, CultureInfo.InvariantCulture); break;
                case "--minutes": minutes = double.Parse(v, CultureInfo.InvariantCulture); break;
                case "--interval": interval = double.Parse(v, CultureInfo.InvariantCulture); break;
                case "--sample": sampleSeconds = int.Parse(v, CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
        if (clients is < 1 or > 60000 || minutes <= 0 || interval <= 0 || sampleSeconds < 1)
        {
            Console.Error.WriteLine("usage: churn [--clients 1..60000] [--minutes M] [--interval S] [--sample S]");
            return 2;
        }
        using var bench = new Bench(clients);
        return bench.Run(TimeSpan.FromMinutes(minutes), TimeSpan.FromSeconds(interval), TimeSpan.FromSeconds(sampleSeconds));
    }

    private sealed class Bench : IDisposable
    {
        private static readonly byte[][] s_outerNets = [[192, 0, 2, 0], [198, 51, 100, 0], [203, 0, 113, 0]];
        private readonly InMemoryNetwork _network = new();
        private readonly InMemoryTun _hubTun = new("hub", capacity: 4096);
        private readonly Tunnel _hub;
        private readonly NetEndpoint _hubEndpoint = NetEndpoint.FromIPEndPoint(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 51820));
        private readonly SecretKey _hubKey = SecretKey.Generate();
        private readonly Client[] _clients;
        private readonly CancellationTokenSource _stop = new();
        private long _hubHandshakes, _clientHandshakes, _delivered;

        private sealed record Client(Tunnel Tunnel, InMemoryTun Tun, SecretKey Key, IPAddress Inner)
        {
            public int Completed = 1;  // 1 once the handshake last asked for completed
            public long TriggeredAt;   // Stopwatch ticks
        }

        public Bench(int count)
        {
            _hub = new Tunnel(new TunnelOptions { Tun = _hubTun, BindUdp = port => _network.Bind(_hubEndpoint.WithPort((ushort)port)) });
            _hub.EventRaised += e =>
            {
                if (e.Kind == TunnelEventKind.HandshakeCompleted) Interlocked.Increment(ref _hubHandshakes);
            };
            var hubConfig = new SetRequest { PrivateKey = _hubKey.Bytes.ToArray(), ListenPort = _hubEndpoint.Port };
            _clients = new Client[count];
            for (int i = 0; i < count; i++)
            {
                // Outer addresses spread over the three documentation /24s (the hub's per-source rate limiter keys
                // by address); inner addresses 2001:db8:1::/64, the hub being ::1.
                var net = s_outerNets[i % 3];
                var outer = NetEndpoint.FromIPv4([net[0], net[1], net[2], (byte)(2 + i / 3 % 250)], (ushort)(20000 + i));
                var inner = new IPAddress([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, (byte)(i + 2 >> 8), (byte)(i + 2)]);
                var tun = new InMemoryTun($"c{i}", capacity: 16);
                var tunnel = new Tunnel(new TunnelOptions
                {
                    Tun = tun,
                    BindUdp = _ => _network.Bind(outer),
                    CryptoWorkers = 1,
                    MaxBuffers = 64,
                    MaxSmallBuffers = 64,
                });
                var key = SecretKey.Generate();
                var client = new Client(tunnel, tun, key, inner);
                tunnel.EventRaised += e =>
                {
                    if (e.Kind != TunnelEventKind.HandshakeCompleted) return;
                    Interlocked.Increment(ref _clientHandshakes);
                    Volatile.Write(ref client.Completed, 1);
                };
                if (tunnel.Configure(new SetRequest { PrivateKey = key.Bytes.ToArray() }) is { } error) throw new InvalidOperationException(error.Message);
                var peer = new PeerChange { PublicKey = key.DerivePublicKey().Bytes.ToArray() };
                peer.AllowedIps.Add(new AllowedIpChange(inner, 128, false));
                hubConfig.Peers.Add(peer);
                _clients[i] = client;
            }
            if (_hub.Configure(hubConfig) is { } hubError) throw new InvalidOperationException(hubError.Message);
        }

        public int Run(TimeSpan duration, TimeSpan interval, TimeSpan samplePeriod)
        {
            Console.WriteLine($"### bench/churn.sh b, {DateTime.UtcNow:yyyy-MM-ddTHH:mmZ}: {_clients.Length} in-process clients " +
                              $"handshaking with one tunnel every {interval.TotalSeconds:0.#} s each, for {duration.TotalMinutes:0.#} min");
            Console.WriteLine();
            _hub.Start();
            foreach (var c in _clients) c.Tunnel.Start();
            var drain = new Thread(DrainHub) { IsBackground = true, Name = "hub-drain" };
            drain.Start();
            var driver = new Thread(() => Drive(interval)) { IsBackground = true, Name = "driver" };
            driver.Start();

            Console.WriteLine("| seconds | RSS MiB | live heap MiB | threads | fds | hub peers | hub indices | hub rate-limit entries | handshakes (hub) | packets delivered |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|");
            var clock = Stopwatch.StartNew();
            var samples = new List<Sample>();
            var startAfter = duration > TimeSpan.FromMinutes(2) ? TimeSpan.FromMinutes(1) : duration / 4;
            while (clock.Elapsed < duration)
            {
                Thread.Sleep(Min(samplePeriod, duration - clock.Elapsed));
                var s = Take(clock.Elapsed);
                Console.WriteLine(s.Row());
                samples.Add(s);
            }
            _stop.Cancel();
            driver.Join();
            // One sample's live heap swings by +-20 % with what is in flight at that instant (rented buffers, queued
            // handshakes): compare medians of a window instead, the first after "start" with the last.
            var window = startAfter < TimeSpan.FromMinutes(1) ? startAfter : TimeSpan.FromMinutes(1);
            var first = samples.Where(x => x.Elapsed >= startAfter && x.Elapsed < startAfter + window).ToList();
            var lastWindow = samples.Where(x => x.Elapsed >= duration - window).ToList();
            if (first.Count == 0) first = [samples[0]];
            if (lastWindow.Count == 0) lastWindow = [samples[^1]];
            var start = Median(first);
            var last = Median(lastWindow);
            Console.WriteLine();
            Console.WriteLine($"Handshakes completed: {Interlocked.Read(ref _hubHandshakes)} at the hub, {Interlocked.Read(ref _clientHandshakes)} at " +
                              $"the clients ({Interlocked.Read(ref _hubHandshakes) / duration.TotalSeconds:0} per second); packets delivered to the hub: {Interlocked.Read(ref _delivered)}.");
            double rss = (double)last!.RssKib / start.RssKib, heap = (double)last.LiveHeap / start.LiveHeap;
            double threads = (double)last.Threads / start.Threads, fds = (double)last.Fds / start.Fds;
            Console.WriteLine($"End / start (medians of the samples in [{startAfter.TotalMinutes:0.#}, {(startAfter + window).TotalMinutes:0.#}) min and of the last {window.TotalMinutes:0.#} min): RSS {rss:0.000}, heap {heap:0.000}, threads {threads:0.000}, fds {fds:0.000}");
            bool pass = new[] { rss, heap, threads, fds }.All(r => Math.Abs(r - 1) <= 0.10);
            Console.WriteLine(pass ? "PASS: every figure within 10 % of the start" : "FAIL: a figure is more than 10 % from the start");
            return pass ? 0 : 1;
        }

        private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

        // Each figure's median over the samples (the tables are the last sample's).
        private static Sample Median(List<Sample> s)
        {
            static T Mid<T>(IEnumerable<T> v) => v.Order().ElementAt(v.Count() / 2);
            return s[^1] with
            {
                RssKib = Mid(s.Select(x => x.RssKib)),
                LiveHeap = Mid(s.Select(x => x.LiveHeap)),
                Threads = Mid(s.Select(x => x.Threads)),
                Fds = Mid(s.Select(x => x.Fds)),
            };
        }

        // Round robin: each client is due every `interval`, spread evenly, so the hub sees a steady rate.
        private void Drive(TimeSpan interval)
        {
            var hubPublic = _hubKey.DerivePublicKey().Bytes.ToArray();
            var hubInner = IPAddress.Parse("2001:db8:1::1");
            var gap = interval / _clients.Length;
            var clock = Stopwatch.StartNew();
            long n = 0;
            while (!_stop.IsCancellationRequested)
            {
                var c = _clients[n % _clients.Length];
                var due = gap * n;
                if (due > clock.Elapsed && _stop.Token.WaitHandle.WaitOne(due - clock.Elapsed)) break;
                n++;
                // A handshake still in progress (e.g. waiting out REKEY_TIMEOUT with a cookie from a hub under load)
                // is left to finish: starting over would throw its cookie away. After 30 s it is started anyway.
                if (Volatile.Read(ref c.Completed) == 0 && clock.ElapsedTicks - c.TriggeredAt < Stopwatch.Frequency * 30) continue;
                Volatile.Write(ref c.Completed, 0);
                c.TriggeredAt = clock.ElapsedTicks;
                // A fresh hub peer: its session, handshake state and rate limit start over (the remove and the add
                // are one atomic set), then a packet that needs a session makes it initiate.
                var request = new SetRequest();
                request.Peers.Add(new PeerChange { PublicKey = hubPublic, Remove = true });
                var add = new PeerChange { PublicKey = hubPublic, Endpoint = _hubEndpoint };
                add.AllowedIps.Add(new AllowedIpChange(hubInner, 128, false));
                request.Peers.Add(add);
                c.Tunnel.Configure(request);
                c.Tun.Inject(Udp6(c.Inner, hubInner, n));
            }
        }

        private void DrainHub()
        {
            while (!_stop.IsCancellationRequested)
                if (_hubTun.TryTake(out _, TimeSpan.FromMilliseconds(200))) Interlocked.Increment(ref _delivered);
        }

        private static byte[] Udp6(IPAddress source, IPAddress destination, long sequence)
        {
            var p = new byte[40 + 8 + 32];
            p[0] = 0x60;
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), (ushort)(p.Length - 40));
            p[6] = 17;
            p[7] = 64;
            source.TryWriteBytes(p.AsSpan(8, 16), out _);
            destination.TryWriteBytes(p.AsSpan(24, 16), out _);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(40), 40000);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(42), 9); // discard
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(44), (ushort)(p.Length - 40));
            BinaryPrimitives.WriteInt64BigEndian(p.AsSpan(48), sequence);
            return p;
        }

        private sealed record Sample(TimeSpan Elapsed, long RssKib, long LiveHeap, int Threads, int Fds, Tunnel.Tables Hub, long Handshakes, long Delivered)
        {
            public string Row() =>
                $"| {Elapsed.TotalSeconds:0} | {RssKib / 1024.0:0.0} | {LiveHeap / 1048576.0:0.0} | {Threads} | {Fds} | {Hub.Peers} | {Hub.Indices} | " +
                $"{Hub.RateLimiterEntries} | {Handshakes} | {Delivered} |";
        }

        private Sample Take(TimeSpan elapsed)
        {
            long rss = 0;
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    rss = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
            }
            // The live heap: what a full, compacting collection leaves (what leaks would grow).
            long live = GC.GetTotalMemory(forceFullCollection: true);
            return new Sample(elapsed, rss, live, Directory.GetDirectories("/proc/self/task").Length,
                Directory.GetFileSystemEntries("/proc/self/fd").Length, _hub.TableCounts,
                Interlocked.Read(ref _hubHandshakes), Interlocked.Read(ref _delivered));
        }

        public void Dispose()
        {
            _stop.Cancel();
            _hub.Dispose();
            foreach (var c in _clients)
            {
                c.Tunnel.Dispose();
                c.Key.Dispose();
            }
            _hubKey.Dispose();
        }
    }
}
