using System.Globalization;
using VeilTun.Device;
using VeilTun.Uapi;

namespace VeilTun.Cli;

/// <summary>
/// The daemon's UAPI handler: the tunnel's, plus two things that belong to the process rather than the library.
/// <list type="bullet">
/// <item><c>get</c> adds the process's memory figures as <c>veiltun_gc_*</c> keys (wg(8) ignores them; <c>veiltun
/// stats</c> prints them): the managed heap as of the last collection, what the GC has committed, and the
/// collection count.</item>
/// <item>A <c>set</c> that removed many peers (<see cref="CollectAfterRemoving"/> or more, or replaced them) is
/// followed, shortly after its reply, by a trim of the idle packet buffers and one compacting collection that give the
/// freed memory back to the system
/// (<see cref="GCCollectionMode.Aggressive"/>). Without it the heap a large removal left behind is reused or
/// returned only as later allocations happen to trigger collections, so the daemon's RSS after churn wanders with the
/// GC's timing (bench/churn.sh: 45-69 MiB after 10,000-peer rounds).</item>
/// </list>
/// </summary>
internal sealed class DaemonUapiHandler : IUapiHandler, IDisposable
{
    /// <summary>Peers removed by one set that make the daemon collect afterwards.</summary>
    internal const int CollectAfterRemoving = 1024;

    // Long enough for the reply to go out and the request (and the connection's buffers) to become garbage.
    private static readonly TimeSpan s_collectDelay = TimeSpan.FromMilliseconds(200);

    private readonly Tunnel _tunnel;
    private readonly Timer _collect;

    public DaemonUapiHandler(Tunnel tunnel)
    {
        _tunnel = tunnel;
        // Idle pool buffers first (a burst during the removal's stall made them), then the heap.
        _collect = new Timer(_ =>
        {
            _tunnel.TrimMemory();
            Collect();
        }, null, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>Compacting collections done after large removals (for tests).</summary>
    internal static int Collections => Volatile.Read(ref s_collections);

    private static int s_collections;

    public DeviceSnapshot Get()
    {
        var snapshot = ((IUapiHandler)_tunnel).Get();
        AppendProcessKeys(snapshot.ExtraKeys);
        return snapshot;
    }

    public UapiError? Set(SetRequest request)
    {
        int removed = 0;
        foreach (var p in request.Peers)
            if (p.Remove) removed++;
        if (request.ReplacePeers) removed += _tunnel.GetPeerStats().Count;
        var result = ((IUapiHandler)_tunnel).Set(request);
        if (result is null && removed >= CollectAfterRemoving) _collect.Change(s_collectDelay, Timeout.InfiniteTimeSpan);
        return result;
    }

    public bool IsExtensionDeviceKey(string key) => ((IUapiHandler)_tunnel).IsExtensionDeviceKey(key);

    public bool IsExtensionPeerKey(string key) => ((IUapiHandler)_tunnel).IsExtensionPeerKey(key);

    public void OnError(string message) => ((IUapiHandler)_tunnel).OnError(message);

    public void Dispose() => _collect.Dispose();

    /// <summary>The <c>veiltun_gc_*</c> keys: managed heap, committed memory and collections, in bytes and counts.</summary>
    internal static void AppendProcessKeys(List<KeyValuePair<string, string>> keys)
    {
        var info = GC.GetGCMemoryInfo();
        void Add(string name, long value) => keys.Add(new(name, value.ToString(CultureInfo.InvariantCulture)));
        // The heap as the last collection left it (live objects plus fragmentation), and bytes allocated now
        // (that heap plus what was allocated since). Before the first collection there is no "last" one
        // (GCMemoryInfo is all zeros): the heap is then what has been allocated.
        long allocated = GC.GetTotalMemory(forceFullCollection: false);
        Add("veiltun_gc_heap_bytes", info.Index == 0 ? allocated : info.HeapSizeBytes);
        // Live data: the heap the last full blocking (compacting) collection left, such as the one after a set that
        // removed many peers; 0 before the first one. Later gen0/gen1 collections do not move it.
        Add("veiltun_gc_live_bytes", GC.GetGCMemoryInfo(GCKind.FullBlocking).HeapSizeBytes);
        Add("veiltun_gc_fragmented_bytes", info.FragmentedBytes);
        Add("veiltun_gc_allocated_bytes", allocated);
        Add("veiltun_gc_committed_bytes", info.TotalCommittedBytes);
        Add("veiltun_gc_collections", GC.CollectionCount(0));
        Add("veiltun_thread_pool_threads", ThreadPool.ThreadCount);
    }

    internal static void Collect()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Interlocked.Increment(ref s_collections);
    }
}
