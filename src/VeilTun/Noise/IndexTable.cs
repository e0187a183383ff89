using System.Buffers.Binary;
using System.Collections.Concurrent;

namespace VeilTun.Noise;

/// <summary>
/// Maps our random 32-bit indices to the handshake or keypair they name (kernel index hashtable;
/// wireguard-go IndexTable). A received response, cookie reply or data message is routed by the index it
/// carries. Writes happen under the engine's serialization; lookups are safe from any thread (receive workers
/// route data messages without taking the engine lock).
/// </summary>
internal sealed class IndexTable
{
    private readonly ConcurrentDictionary<uint, Entry> _entries = new();
    private readonly IRandomSource _random;

    public IndexTable(IRandomSource random) => _random = random;

    /// <summary>What an index names.</summary>
    public readonly record struct Entry(Peer Peer, Keypair? Keypair);

    public int Count => _entries.Count;

    /// <summary>Registers a fresh random index for <paramref name="peer"/>'s handshake.</summary>
    public uint NewIndexForHandshake(Peer peer)
    {
        Span<byte> b = stackalloc byte[4];
        while (true)
        {
            _random.Fill(b);
            uint index = BinaryPrimitives.ReadUInt32LittleEndian(b);
            if (_entries.TryAdd(index, new Entry(peer, null))) return index;
        }
    }

    /// <summary>Points an existing handshake index at the keypair derived from it (wireguard-go SwapIndexForKeypair).</summary>
    public void SwapIndexForKeypair(uint index, Keypair keypair)
    {
        if (_entries.TryGetValue(index, out var entry)) _entries[index] = entry with { Keypair = keypair };
    }

    public bool TryLookup(uint index, out Entry entry) => _entries.TryGetValue(index, out entry);

    public void Delete(uint index) => _entries.TryRemove(index, out _);
}
