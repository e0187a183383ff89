namespace VeilTun.Tun.Offload;

/// <summary>
/// Where <see cref="GsoSplitter"/> writes segments: typically one pooled packet buffer per segment, handed out
/// after its headroom, so each segment is written once, straight into the buffer it will be encrypted in.
/// </summary>
/// <remarks>
/// Protocol, per segment: <see cref="NextSegment"/> then, once the bytes are written, <see cref="Commit"/>. If the
/// splitter stops between the two (it does not, after validation, except when the span is too short), the
/// uncommitted span is simply unused. A <c>ref struct</c> may implement this (the splitter is generic over it),
/// so a sink can hold spans and costs no interface call.
/// </remarks>
internal interface ISegmentSink
{
    /// <summary>
    /// Space for the next segment of exactly <paramref name="length"/> bytes (an IP packet, no virtio header).
    /// Return at least that many bytes, or a shorter (e.g. empty) span to stop the split with
    /// <see cref="OffloadError.SinkFull"/>. The span must not overlap the super-packet being split.
    /// </summary>
    Span<byte> NextSegment(int length);

    /// <summary>The segment handed out by the last <see cref="NextSegment"/> is complete: <paramref name="length"/>
    /// bytes at its start.</summary>
    void Commit(int length);

    /// <summary>
    /// True when the sink takes payloads by reference: the splitter then writes only each segment's headers and
    /// calls <see cref="CommitSpliced"/> instead of <see cref="Commit"/>, and the payload stays in the super-packet.
    /// </summary>
    bool SplicePayload { get; }

    /// <summary>
    /// Splice mode: the segment handed out by the last <see cref="NextSegment"/> is <paramref name="length"/>
    /// bytes long; its headers are written and its last <paramref name="payloadLength"/> bytes are the
    /// super-packet's bytes at <paramref name="payloadOffset"/> (an offset into the span given to the splitter),
    /// not copied.
    /// </summary>
    void CommitSpliced(int length, int payloadOffset, int payloadLength);
}
