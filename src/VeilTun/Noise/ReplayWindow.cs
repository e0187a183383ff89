using System.Runtime.CompilerServices;

namespace VeilTun.Noise;

/// <summary>
/// Sliding-window anti-replay filter for transport-data counters (whitepaper §5.4.6), using the RFC 6479 bitmap ring
/// exactly as wireguard-go's <c>replay/replay.go</c>: 128 blocks of 64 bits, of which one block is "redundant", so
/// counters up to <see cref="WindowSize"/> (8128) behind the highest accepted one are still tracked individually.
/// </summary>
/// <remarks>
/// Call <see cref="TryAccept"/> only after the packet authenticated, or an attacker could burn counters.
/// Not thread-safe: one instance per receiving keypair, used by one thread at a time (the caller serializes, e.g. in
/// the per-peer sequential receive path). Fixed size (about 1 KiB), no allocation after construction.
/// </remarks>
internal sealed class ReplayWindow
{
    /// <summary>How far behind the highest accepted counter a counter may be and still be accepted (kernel
    /// COUNTER_WINDOW_SIZE on 64-bit, wireguard-go <c>windowSize</c>).</summary>
    public const int WindowSize = (RingBlocks - 1) * BlockBits;

    private const int BlockBitLog = 6;
    private const int BlockBits = 1 << BlockBitLog;
    private const int RingBlocks = 1 << 7;
    private const int BlockMask = RingBlocks - 1;
    private const int BitMask = BlockBits - 1;

    // Highest counter accepted so far (0 when fresh, which also lets counter 0 be accepted once).
    private ulong _last;
    private Ring _ring;

    /// <summary>
    /// Accepts <paramref name="counter"/> and marks it as seen, unless it is <c>&gt;= </c><paramref name="limit"/>,
    /// more than <see cref="WindowSize"/> behind the highest accepted counter, or already seen.
    /// </summary>
    /// <param name="counter">The 64-bit counter from the transport header.</param>
    /// <param name="limit">Exclusive upper bound, normally REJECT_AFTER_MESSAGES (2^64 - 2^13 - 1 in wireguard-go).</param>
    /// <returns>True if the packet is fresh and may be delivered.</returns>
    public bool TryAccept(ulong counter, ulong limit)
    {
        if (counter >= limit)
        {
            return false;
        }

        ulong block = counter >> BlockBitLog;
        if (counter > _last)
        {
            // RFC 6479 §2: moving forward, clear the blocks the window slides over (all of them at most).
            ulong current = _last >> BlockBitLog;
            ulong diff = Math.Min(block - current, RingBlocks);
            for (ulong i = current + 1; i <= current + diff; i++)
            {
                _ring[(int)(i & BlockMask)] = 0;
            }

            _last = counter;
        }
        else if (_last - counter > WindowSize)
        {
            return false; // too old
        }

        int index = (int)(block & BlockMask);
        ulong bit = 1UL << (int)(counter & BitMask);
        ulong old = _ring[index];
        if ((old & bit) != 0)
        {
            return false; // replay
        }

        _ring[index] = old | bit;
        return true;
    }

    /// <summary>Forgets everything, as if newly constructed.</summary>
    public void Reset()
    {
        _last = 0;
        ((Span<ulong>)_ring).Clear();
    }

    [InlineArray(RingBlocks)]
    private struct Ring
    {
        private ulong _element0;
    }
}
