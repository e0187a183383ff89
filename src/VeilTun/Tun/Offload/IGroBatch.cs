namespace VeilTun.Tun.Offload;

/// <summary>
/// The packets <see cref="GroCoalescer"/> works on: a batch of IP packets about to be written to the TUN, each in
/// its own buffer with room for the 10-byte virtio header in front. Implemented by the TUN writer over its packet
/// buffers (or by a <c>ref struct</c> over spans); the coalescer is generic over it, so calls are direct.
/// </summary>
/// <remarks>
/// Buffers of different packets must not overlap. The coalescer writes only into packet buffers of this batch:
/// the virtio header slot <c>[offset - 10, offset)</c> of every packet it lists for writing, and a group head's
/// packet and tail <c>[offset, capacity)</c>.
/// </remarks>
internal interface IGroBatch
{
    /// <summary>Number of packets, in the order they are to be written.</summary>
    int Count { get; }

    /// <summary>
    /// Packet <paramref name="index"/>: its whole writable buffer, and where the IP packet sits in it
    /// (<paramref name="offset"/> must be at least <see cref="VirtioNetHeader.Size"/>).
    /// </summary>
    Span<byte> GetBuffer(int index, out int offset, out int length);

    /// <summary>Packet <paramref name="index"/> grew (or shrank) in place to <paramref name="length"/> bytes.</summary>
    void SetLength(int index, int length);

    /// <summary>
    /// Moves packet <paramref name="index"/> (its current bytes) into a buffer with room for at least
    /// <paramref name="capacity"/> packet bytes after an offset of at least <see cref="VirtioNetHeader.Size"/>; later
    /// <see cref="GetBuffer"/> calls return the new buffer and the old one is the batch's to release. Called when a
    /// group head's own buffer is too small for the next segment, at most once per group; return false when no
    /// large buffer is available (the group then stops growing).
    /// </summary>
    bool TryEnlarge(int index, int capacity);
}
