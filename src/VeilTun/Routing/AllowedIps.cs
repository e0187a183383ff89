using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace VeilTun.Routing;

/// <summary>
/// WireGuard cryptokey routing table (whitepaper §2; kernel <c>allowedips.c</c>, wireguard-go
/// <c>device/allowedips.go</c>): maps IP prefixes to peers, with longest-prefix-match lookup. There is one
/// path-compressed binary trie per address family (IPv4: 4-byte keys, IPv6: 16-byte keys). An exact prefix belongs to
/// at most one peer; inserting it again for another peer moves it. Host bits are masked on insert.
/// </summary>
/// <remarks>
/// <para><b>Thread-safety.</b> Writers (<c>Insert</c>, <c>Remove</c>, <see cref="RemoveByPeer"/>, <see cref="Clear"/>)
/// must be serialized by the caller (one writer at a time, e.g. the device's configuration lock).
/// <see cref="EntriesFor"/> and <see cref="Count"/> belong to the writer side too: call them under the same lock.</para>
/// <para><c>Lookup</c> takes no lock, does not allocate, and may run on any number of threads at once. It is always
/// safe while no writer runs. It is also designed (like the kernel's RCU trie) to tolerate one concurrent writer: a
/// node is fully built before it is published with a release store, keys of published nodes never change, and removal
/// only unlinks nodes, so a racing lookup sees each individual change either not yet or completely, never a torn entry.
/// A sequence of writes (e.g. replacing a peer's whole set) is not atomic to readers; callers that need that must add
/// their own lock or copy-on-write.</para>
/// <para>Peers are compared by reference. <see cref="RemoveByPeer"/> costs O(entries of that peer), using a per-peer
/// list of nodes, not a scan of the trie.</para>
/// </remarks>
/// <typeparam name="TPeer">The peer type; compared by reference.</typeparam>
internal sealed class AllowedIps<TPeer> where TPeer : class
{
    // The trie code lives in non-generic-over-TPeer types (AllowedIpsTrie, AllowedIpsNode<TKey>): for a reference-type
    // TPeer the JIT shares one canonical instantiation of this class, and code in it that also depends on TKey would
    // need runtime generic lookups and lose inlining on the per-packet path.
    private AllowedIpsNode<AllowedIpsKey4>? _root4;
    private AllowedIpsNode<AllowedIpsKey6>? _root6;

    // Per-peer intrusive lists of nodes (both families), in insertion order (kernel: peer->allowedips_list).
    private readonly Dictionary<TPeer, PeerList> _byPeer = new(ReferenceEqualityComparer.Instance);
    private int _count;

    /// <summary>Number of prefixes (IPv4 plus IPv6) that belong to a peer. Writer-side (see remarks).</summary>
    public int Count => _count;

    /// <summary>
    /// Adds <paramref name="address"/>/<paramref name="prefixLength"/> (host bits masked) for <paramref name="peer"/>.
    /// If that exact prefix already belongs to another peer it is moved (kernel and wireguard-go semantics); if it
    /// already belongs to <paramref name="peer"/> it moves to the end of the peer's <see cref="EntriesFor"/> order.
    /// </summary>
    /// <param name="address">4 bytes (IPv4) or 16 bytes (IPv6), network byte order. Not retained.</param>
    /// <param name="prefixLength">0..32 for IPv4, 0..128 for IPv6.</param>
    /// <param name="peer">The owner; not null.</param>
    /// <exception cref="ArgumentException">Bad address length or prefix length (API misuse).</exception>
    public void Insert(ReadOnlySpan<byte> address, int prefixLength, TPeer peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        AllowedIpsNode node;
        bool created;
        switch (address.Length)
        {
            case 4:
                CheckPrefixLength(prefixLength, 32);
                (node, created) = AllowedIpsTrie.Insert(ref _root4, AllowedIpsKey4.Read(address).Masked(prefixLength), prefixLength, peer);
                break;
            case 16:
                CheckPrefixLength(prefixLength, 128);
                (node, created) = AllowedIpsTrie.Insert(ref _root6, AllowedIpsKey6.Read(address).Masked(prefixLength), prefixLength, peer);
                break;
            default:
                ThrowBadAddressLength(nameof(address));
                return;
        }

        if (created)
        {
            _count++;
        }
        else
        {
            // The exact prefix exists (as an entry or a peerless branch node): re-own it and move it to the list end.
            var old = (TPeer?)node.Peer;
            if (old is null)
            {
                _count++;
            }
            else
            {
                UnlinkFromPeer(node, old);
            }

            Volatile.Write(ref node.Peer, peer);
        }

        LinkToPeer(node, peer);
    }

    /// <summary>Adds <paramref name="prefix"/> for <paramref name="peer"/>; see <see cref="Insert(ReadOnlySpan{byte}, int, TPeer)"/>.</summary>
    public void Insert(IpPrefix prefix, TPeer peer)
    {
        Span<byte> bytes = stackalloc byte[16];
        Insert(AddressBytes(prefix.Address, bytes), prefix.PrefixLength, peer);
    }

    /// <summary>
    /// Removes the exact prefix <paramref name="address"/>/<paramref name="prefixLength"/> (host bits masked) if it
    /// belongs to <paramref name="peer"/>, like wg's <c>allowed_ip=-a/n</c> and the kernel's
    /// <c>wg_allowedips_remove_v4/v6</c>. Shorter or longer prefixes that contain or are contained in it are untouched.
    /// </summary>
    /// <returns>True if an entry was removed; false if the prefix is absent or belongs to another peer.</returns>
    /// <exception cref="ArgumentException">Bad address length or prefix length (API misuse).</exception>
    public bool Remove(ReadOnlySpan<byte> address, int prefixLength, TPeer peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        switch (address.Length)
        {
            case 4:
                {
                    CheckPrefixLength(prefixLength, 32);
                    AllowedIpsNode<AllowedIpsKey4>? node = AllowedIpsTrie.FindExact(_root4, AllowedIpsKey4.Read(address).Masked(prefixLength), prefixLength);
                    if (node is null || !ReferenceEquals(node.Peer, peer))
                    {
                        return false;
                    }

                    UnlinkFromPeer(node, peer);
                    AllowedIpsTrie.Detach(ref _root4, node);
                    break;
                }

            case 16:
                {
                    CheckPrefixLength(prefixLength, 128);
                    AllowedIpsNode<AllowedIpsKey6>? node = AllowedIpsTrie.FindExact(_root6, AllowedIpsKey6.Read(address).Masked(prefixLength), prefixLength);
                    if (node is null || !ReferenceEquals(node.Peer, peer))
                    {
                        return false;
                    }

                    UnlinkFromPeer(node, peer);
                    AllowedIpsTrie.Detach(ref _root6, node);
                    break;
                }

            default:
                ThrowBadAddressLength(nameof(address));
                return false;
        }

        _count--;
        return true;
    }

    /// <summary>Removes <paramref name="prefix"/> if it belongs to <paramref name="peer"/>; see <see cref="Remove(ReadOnlySpan{byte}, int, TPeer)"/>.</summary>
    public bool Remove(IpPrefix prefix, TPeer peer)
    {
        Span<byte> bytes = stackalloc byte[16];
        return Remove(AddressBytes(prefix.Address, bytes), prefix.PrefixLength, peer);
    }

    /// <summary>Removes every prefix of <paramref name="peer"/> (both families). O(number of its prefixes).</summary>
    public void RemoveByPeer(TPeer peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        if (!_byPeer.Remove(peer, out PeerList? list))
        {
            return;
        }

        TrimPeerTable();

        AllowedIpsNode? node = list.Head;
        while (node is not null)
        {
            AllowedIpsNode? next = node.ListNext;
            node.ListPrev = node.ListNext = null;
            if (node is AllowedIpsNode<AllowedIpsKey4> node4)
            {
                AllowedIpsTrie.Detach(ref _root4, node4);
            }
            else
            {
                AllowedIpsTrie.Detach(ref _root6, (AllowedIpsNode<AllowedIpsKey6>)node);
            }

            _count--;
            node = next;
        }
    }

    /// <summary>Removes everything.</summary>
    public void Clear()
    {
        // Readers holding old nodes finish on the old (still consistent) tries; the GC reclaims them afterwards.
        Volatile.Write(ref _root4, null);
        Volatile.Write(ref _root6, null);
        _byPeer.Clear();
        _byPeer.TrimExcess();
        _count = 0;
    }

    /// <summary>
    /// Longest-prefix match: the peer owning the most specific prefix that contains <paramref name="address"/>, or
    /// null. IPv4 and IPv6 are separate (no IPv4-mapped IPv6 translation). Allocation-free and lock-free; see remarks
    /// for concurrency.
    /// </summary>
    /// <param name="address">4 bytes (IPv4) or 16 bytes (IPv6), network byte order.</param>
    /// <exception cref="ArgumentException">Any other length (a caller bug: packet parsers pass fixed 4/16-byte slices).</exception>
    public TPeer? Lookup(ReadOnlySpan<byte> address)
    {
        object? peer;
        if (address.Length == 4)
        {
            peer = AllowedIpsTrie.Find(Volatile.Read(ref _root4), AllowedIpsKey4.Read(address));
        }
        else if (address.Length == 16)
        {
            peer = AllowedIpsTrie.Find(Volatile.Read(ref _root6), AllowedIpsKey6.Read(address));
        }
        else
        {
            ThrowBadAddressLength(nameof(address));
            return null;
        }

        return (TPeer?)peer; // only TPeer instances are ever stored
    }

    /// <summary>Longest-prefix match for an <see cref="IPAddress"/>; allocation-free.</summary>
    public TPeer? Lookup(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        return Lookup(AddressBytes(address, bytes));
    }

    /// <summary>
    /// The masked prefixes owned by <paramref name="peer"/>, as a snapshot taken now (later writes don't affect it).
    /// Order: the order in which each prefix was last inserted for this peer, IPv4 and IPv6 interleaved (the kernel's
    /// per-peer list order, which is what <c>wg show</c> prints); a prefix moved from another peer or re-inserted goes
    /// to the end. Writer-side (see remarks).
    /// </summary>
    public IEnumerable<(IPAddress Address, int PrefixLength)> EntriesFor(TPeer peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        if (!_byPeer.TryGetValue(peer, out PeerList? list))
        {
            return [];
        }

        var result = new (IPAddress, int)[list.Count];
        int i = 0;
        for (AllowedIpsNode? node = list.Head; node is not null; node = node.ListNext)
        {
            result[i++] = (node.ToIPAddress(), node.Cidr);
        }

        return result;
    }

    /// <summary>Test hook: number of trie nodes including path-compression (peerless) nodes.</summary>
    internal int NodeCount => AllowedIpsTrie.CountNodes(_root4) + AllowedIpsTrie.CountNodes(_root6);

    /// <summary>Test hook: checks every structural invariant; returns null if all hold, else a description.</summary>
    internal string? CheckInvariants()
    {
        int owned = 0;
        string? error = AllowedIpsTrie.CheckSubtree(_root4, null, ref owned)
            ?? AllowedIpsTrie.CheckSubtree(_root6, null, ref owned);
        if (error is not null)
        {
            return error;
        }

        if (owned != _count)
        {
            return $"count {_count} but {owned} owned nodes";
        }

        int listed = 0;
        foreach ((TPeer peer, PeerList list) in _byPeer)
        {
            int n = 0;
            AllowedIpsNode? previous = null;
            for (AllowedIpsNode? node = list.Head; node is not null; node = node.ListNext)
            {
                if (!ReferenceEquals(node.Peer, peer) || !ReferenceEquals(node.ListPrev, previous))
                {
                    return "peer list corrupt";
                }

                previous = node;
                n++;
            }

            if (n != list.Count || n == 0 || !ReferenceEquals(previous, list.Tail))
            {
                return "peer list count/tail corrupt";
            }

            listed += n;
        }

        return listed == _count ? null : $"count {_count} but {listed} listed";
    }

    private void LinkToPeer(AllowedIpsNode node, TPeer peer)
    {
        if (!_byPeer.TryGetValue(peer, out PeerList? list))
        {
            list = new PeerList();
            _byPeer.Add(peer, list);
        }

        node.ListPrev = list.Tail;
        node.ListNext = null;
        if (list.Tail is null)
        {
            list.Head = node;
        }
        else
        {
            list.Tail.ListNext = node;
        }

        list.Tail = node;
        list.Count++;
    }

    private void UnlinkFromPeer(AllowedIpsNode node, TPeer peer)
    {
        PeerList list = _byPeer[peer];
        if (node.ListPrev is null)
        {
            list.Head = node.ListNext;
        }
        else
        {
            node.ListPrev.ListNext = node.ListNext;
        }

        if (node.ListNext is null)
        {
            list.Tail = node.ListPrev;
        }
        else
        {
            node.ListNext.ListPrev = node.ListPrev;
        }

        node.ListPrev = node.ListNext = null;
        if (--list.Count == 0)
        {
            _byPeer.Remove(peer);
            TrimPeerTable();
        }
    }

    // A dictionary keeps its largest size: after a mass removal (peer churn: 10,000 peers leave a 420 KB entry array
    // in the large object heap) give the memory back, at most once per quartering, so the cost stays linear.
    private void TrimPeerTable()
    {
        if (_byPeer.Capacity > 64 && _byPeer.Count < _byPeer.Capacity / 4)
        {
            _byPeer.TrimExcess();
        }
    }

    /// <summary>Test hook: the capacity of the peer-to-prefixes table (it shrinks after mass removals).</summary>
    internal int PeerTableCapacity => _byPeer.Capacity;

    private static void CheckPrefixLength(int prefixLength, int max)
    {
        if ((uint)prefixLength > (uint)max)
        {
            ThrowBadPrefixLength(prefixLength, max);
        }
    }

    private static ReadOnlySpan<byte> AddressBytes(IPAddress address, Span<byte> buffer)
    {
        ArgumentNullException.ThrowIfNull(address);
        // IPv4 gives 4 bytes, IPv6 16; the scope id is not part of the bytes.
        address.TryWriteBytes(buffer, out int written);
        return buffer[..written];
    }

    [DoesNotReturn]
    private static void ThrowBadAddressLength(string paramName) =>
        throw new ArgumentException("An address must be 4 (IPv4) or 16 (IPv6) bytes.", paramName);

    [DoesNotReturn]
    private static void ThrowBadPrefixLength(int prefixLength, int max) =>
        throw new ArgumentOutOfRangeException(nameof(prefixLength), prefixLength, $"Prefix length must be 0..{max}.");

    private sealed class PeerList
    {
        public AllowedIpsNode? Head;
        public AllowedIpsNode? Tail;
        public int Count;
    }
}

/// <summary>
/// Path-compressed binary trie algorithms for <see cref="AllowedIps{TPeer}"/>, generic over the key only so that the
/// JIT emits fully specialized IPv4 and IPv6 code. Writers must be serialized by the caller; <see cref="Find"/> may
/// race one writer (see <see cref="AllowedIps{TPeer}"/> remarks).
/// </summary>
internal static class AllowedIpsTrie
{
    /// <summary>Longest-prefix match: the peer of the deepest node on the key's path whose prefix contains it.</summary>
    public static object? Find<TKey>(AllowedIpsNode<TKey>? node, TKey key) where TKey : struct, IAllowedIpsKey<TKey>
    {
        object? best = null;
        while (node is not null && key.IsWithin(node.Key, node.Mask))
        {
            object? peer = node.Peer;
            if (peer is not null)
            {
                best = peer;
            }

            // A full-length node (/32, /128) never has children, so BitAt(bit length), which returns 0 or 1 and does
            // not throw, is harmless.
            node = node.Children[key.BitAt(node.Cidr)];
        }

        return best;
    }

    /// <summary>The node for exactly key/cidr (which may be a peerless branch node), or null.</summary>
    public static AllowedIpsNode<TKey>? FindExact<TKey>(AllowedIpsNode<TKey>? node, TKey key, int cidr)
        where TKey : struct, IAllowedIpsKey<TKey>
    {
        while (node is not null && node.Cidr <= cidr && key.IsWithin(node.Key, node.Mask))
        {
            if (node.Cidr == cidr)
            {
                return node;
            }

            node = node.Children[key.BitAt(node.Cidr)];
        }

        return null;
    }

    /// <summary>
    /// Inserts key/cidr (key already masked) owned by <paramref name="peer"/>. If a node for exactly that prefix exists,
    /// returns it unchanged with <c>Created = false</c> and the caller re-owns it.
    /// </summary>
    public static (AllowedIpsNode<TKey> Node, bool Created) Insert<TKey>(
        ref AllowedIpsNode<TKey>? root, TKey key, int cidr, object peer) where TKey : struct, IAllowedIpsKey<TKey>
    {
        // Walk down while the current node's prefix contains the new one.
        AllowedIpsNode<TKey>? parent = null;
        AllowedIpsNode<TKey>? node = root;
        while (node is not null && node.Cidr <= cidr && key.IsWithin(node.Key, node.Mask))
        {
            if (node.Cidr == cidr)
            {
                return (node, false);
            }

            parent = node;
            node = node.Children[key.BitAt(node.Cidr)];
        }

        var added = new AllowedIpsNode<TKey>(key, cidr) { Peer = peer };
        AllowedIpsNode<TKey> published;
        if (node is null)
        {
            published = added;
        }
        else
        {
            // `node` (parent's child towards `key`) does not contain the new prefix. Either the new prefix contains
            // it, or they diverge at bit `common` and need a peerless branch node there.
            int common = Math.Min(key.CommonPrefixLength(node.Key), Math.Min(cidr, node.Cidr));
            if (common == cidr)
            {
                added.Children[node.Key.BitAt(cidr)] = node;
                node.Parent = added;
                published = added;
            }
            else
            {
                var branch = new AllowedIpsNode<TKey>(key.Masked(common), common);
                branch.Children[key.BitAt(common)] = added;
                branch.Children[node.Key.BitAt(common)] = node;
                added.Parent = branch;
                node.Parent = branch;
                published = branch;
            }
        }

        published.Parent = parent;
        // Release store: readers that see `published` see its fully initialized fields and children.
        if (parent is null)
        {
            Volatile.Write(ref root, published);
        }
        else
        {
            Volatile.Write(ref parent.Children[key.BitAt(parent.Cidr)], published);
        }

        return (added, true);
    }

    /// <summary>Clears the node's peer and unlinks nodes that no longer carry information. Peer lists untouched.</summary>
    public static void Detach<TKey>(ref AllowedIpsNode<TKey>? root, AllowedIpsNode<TKey> node)
        where TKey : struct, IAllowedIpsKey<TKey>
    {
        // From here on lookups treat the prefix as gone; the unlinking below doesn't change any lookup result.
        Volatile.Write(ref node.Peer, null);
        if (node.Child0 is not null && node.Child1 is not null)
        {
            return; // still needed as a branch node
        }

        AllowedIpsNode<TKey>? child = node.Child0 ?? node.Child1;
        AllowedIpsNode<TKey>? parent = node.Parent;
        Replace(ref root, parent, node, child);

        // A peerless parent is a branch node with two children; if it just lost a leaf it is redundant.
        if (child is null && parent is not null && parent.Peer is null)
        {
            Replace(ref root, parent.Parent, parent, parent.Child0 ?? parent.Child1);
        }

        // `node`'s own child pointers stay intact so that in-flight lookups standing on it can continue downwards.
    }

    public static int CountNodes<TKey>(AllowedIpsNode<TKey>? node) where TKey : struct, IAllowedIpsKey<TKey> =>
        node is null ? 0 : 1 + CountNodes(node.Child0) + CountNodes(node.Child1);

    public static string? CheckSubtree<TKey>(AllowedIpsNode<TKey>? node, AllowedIpsNode<TKey>? parent, ref int owned)
        where TKey : struct, IAllowedIpsKey<TKey>
    {
        if (node is null)
        {
            return null;
        }

        string where = $"{node.ToIPAddress()}/{node.Cidr}";
        if (!ReferenceEquals(node.Parent, parent))
        {
            return $"bad parent link at {where}";
        }

        if (!node.Key.Equals(node.Key.Masked(node.Cidr)))
        {
            return $"unmasked key at {where}";
        }

        if (parent is not null
            && (node.Cidr <= parent.Cidr
                || !node.Key.IsWithin(parent.Key, parent.Mask)
                || !ReferenceEquals(parent.Children[node.Key.BitAt(parent.Cidr)], node)))
        {
            return $"misplaced node {where}";
        }

        if (node.Peer is null)
        {
            if (node.Child0 is null || node.Child1 is null)
            {
                return $"redundant branch node {where}";
            }
        }
        else
        {
            owned++;
        }

        return CheckSubtree(node.Child0, node, ref owned) ?? CheckSubtree(node.Child1, node, ref owned);
    }

    private static void Replace<TKey>(
        ref AllowedIpsNode<TKey>? root, AllowedIpsNode<TKey>? parent, AllowedIpsNode<TKey> old, AllowedIpsNode<TKey>? replacement)
        where TKey : struct, IAllowedIpsKey<TKey>
    {
        if (replacement is not null)
        {
            replacement.Parent = parent;
        }

        if (parent is null)
        {
            Volatile.Write(ref root, replacement);
        }
        else
        {
            Volatile.Write(ref parent.Children[ReferenceEquals(parent.Child0, old) ? 0 : 1], replacement);
        }
    }
}

/// <summary>Family-independent part of a trie node, so one per-peer list can hold IPv4 and IPv6 nodes.</summary>
internal abstract class AllowedIpsNode(int cidr)
{
    /// <summary>Owner (a TPeer); null for a branch node that only exists for path compression.</summary>
    public object? Peer;

    /// <summary>Prefix length; immutable once published.</summary>
    public readonly int Cidr = cidr;

    /// <summary>Per-peer list links; writer-side only.</summary>
    public AllowedIpsNode? ListPrev;

    /// <inheritdoc cref="ListPrev"/>
    public AllowedIpsNode? ListNext;

    public abstract IPAddress ToIPAddress();
}

internal sealed class AllowedIpsNode<TKey>(TKey key, int cidr) : AllowedIpsNode(cidr)
    where TKey : struct, IAllowedIpsKey<TKey>
{
    /// <summary>Masked prefix bits; immutable once published.</summary>
    public readonly TKey Key = key;

    /// <summary>Netmask for <see cref="AllowedIpsNode.Cidr"/>, precomputed for the lookup loop.</summary>
    public readonly TKey Mask = TKey.MaskFor(cidr);

    /// <summary>Children indexed by the next bit (at position <see cref="AllowedIpsNode.Cidr"/>), so the lookup
    /// loop selects one without a data-dependent branch.</summary>
    public ChildPair Children;

    /// <summary>Writer-side only; lookups never read it.</summary>
    public AllowedIpsNode<TKey>? Parent;

    public AllowedIpsNode<TKey>? Child0 => Children[0];

    public AllowedIpsNode<TKey>? Child1 => Children[1];

    [InlineArray(2)]
    public struct ChildPair
    {
        private AllowedIpsNode<TKey>? _element0;
    }

    public override IPAddress ToIPAddress() => Key.ToIPAddress();
}

/// <summary>A fixed-width big-endian bit string; bit 0 is the most significant bit of the first address byte.</summary>
internal interface IAllowedIpsKey<TSelf> : IEquatable<TSelf> where TSelf : struct, IAllowedIpsKey<TSelf>
{
    static abstract TSelf MaskFor(int cidr);

    /// <summary>True if this key's first bits equal <paramref name="prefix"/> under <paramref name="mask"/>.</summary>
    bool IsWithin(TSelf prefix, TSelf mask);

    TSelf Masked(int cidr);

    /// <summary>Bit <paramref name="index"/> (0 or 1). Must not throw for index == bit length.</summary>
    int BitAt(int index);

    /// <summary>Number of leading bits equal in both keys (bit length if identical).</summary>
    int CommonPrefixLength(TSelf other);

    IPAddress ToIPAddress();
}

internal readonly struct AllowedIpsKey4(uint value) : IAllowedIpsKey<AllowedIpsKey4>
{
    private readonly uint _value = value;

    public static AllowedIpsKey4 Read(ReadOnlySpan<byte> address) => new(BinaryPrimitives.ReadUInt32BigEndian(address));

    // C# masks shift counts to 5 bits, so /0 needs its own case.
    public static AllowedIpsKey4 MaskFor(int cidr) => new(cidr == 0 ? 0u : uint.MaxValue << (32 - cidr));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsWithin(AllowedIpsKey4 prefix, AllowedIpsKey4 mask) => ((_value ^ prefix._value) & mask._value) == 0;

    public AllowedIpsKey4 Masked(int cidr) => new(_value & MaskFor(cidr)._value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int BitAt(int index) => (int)(_value >> (31 - index)) & 1;

    public int CommonPrefixLength(AllowedIpsKey4 other) => BitOperations.LeadingZeroCount(_value ^ other._value);

    public IPAddress ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, _value);
        return new IPAddress(bytes);
    }

    public bool Equals(AllowedIpsKey4 other) => _value == other._value;

    public override bool Equals(object? obj) => obj is AllowedIpsKey4 other && Equals(other);

    public override int GetHashCode() => (int)_value;
}

internal readonly struct AllowedIpsKey6(ulong high, ulong low) : IAllowedIpsKey<AllowedIpsKey6>
{
    private readonly ulong _high = high;
    private readonly ulong _low = low;

    public static AllowedIpsKey6 Read(ReadOnlySpan<byte> address) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(address), BinaryPrimitives.ReadUInt64BigEndian(address[8..]));

    public static AllowedIpsKey6 MaskFor(int cidr) => cidr switch
    {
        0 => new(0, 0),
        <= 64 => new(ulong.MaxValue << (64 - cidr), 0),
        _ => new(ulong.MaxValue, ulong.MaxValue << (128 - cidr)),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsWithin(AllowedIpsKey6 prefix, AllowedIpsKey6 mask) =>
        (((_high ^ prefix._high) & mask._high) | ((_low ^ prefix._low) & mask._low)) == 0;

    public AllowedIpsKey6 Masked(int cidr)
    {
        AllowedIpsKey6 mask = MaskFor(cidr);
        return new(_high & mask._high, _low & mask._low);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int BitAt(int index) =>
        (int)(index < 64 ? _high >> (63 - index) : _low >> (127 - index)) & 1;

    public int CommonPrefixLength(AllowedIpsKey6 other)
    {
        ulong high = _high ^ other._high;
        return high != 0
            ? BitOperations.LeadingZeroCount(high)
            : 64 + BitOperations.LeadingZeroCount(_low ^ other._low);
    }

    public IPAddress ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, _high);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], _low);
        return new IPAddress(bytes);
    }

    public bool Equals(AllowedIpsKey6 other) => _high == other._high && _low == other._low;

    public override bool Equals(object? obj) => obj is AllowedIpsKey6 other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_high, _low);
}
