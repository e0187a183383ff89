using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using VeilTun.Noise;

namespace VeilTun.Packets;

/// <summary>
/// Classifies WireGuard datagrams by their 4-byte header (whitepaper §5.4; kernel messages.h): the type in the first
/// byte and three reserved zero bytes, read as one little-endian u32, so non-zero reserved bytes make an unknown type
/// as in the kernel. The layouts themselves are in <see cref="Messages"/>. Stateless; allocates nothing; never throws.
/// </summary>
internal static class WireGuardMessage
{
    /// <summary>The smallest datagram that has a type: the 4-byte header.</summary>
    public const int HeaderSize = 4;

    /// <summary>
    /// Classifies a datagram by header and exact length (wireguard-go device/receive.go): initiation 148 bytes,
    /// response 92, cookie reply 64, transport data at least 32 (a keepalive). Any byte string gets either a type or
    /// a drop reason: <see cref="DropReason.TooShort"/> under 4 bytes, <see cref="DropReason.InvalidLength"/> for a
    /// known type of the wrong size, <see cref="DropReason.UnknownType"/> otherwise.
    /// </summary>
    public static bool TryClassify(ReadOnlySpan<byte> datagram, out MessageType type, out DropReason reason)
    {
        type = default;
        if (datagram.Length < HeaderSize)
        {
            reason = DropReason.TooShort;
            return false;
        }
        uint header = BinaryPrimitives.ReadUInt32LittleEndian(datagram);
        switch (header)
        {
            case (uint)MessageType.HandshakeInitiation when datagram.Length == Messages.InitiationSize:
            case (uint)MessageType.HandshakeResponse when datagram.Length == Messages.ResponseSize:
            case (uint)MessageType.CookieReply when datagram.Length == Messages.CookieReplySize:
            case (uint)MessageType.TransportData when datagram.Length >= Messages.KeepaliveSize:
                type = (MessageType)header;
                reason = DropReason.None;
                return true;
            case (uint)MessageType.HandshakeInitiation or (uint)MessageType.HandshakeResponse
                or (uint)MessageType.CookieReply or (uint)MessageType.TransportData:
                reason = DropReason.InvalidLength;
                return false;
            default:
                reason = DropReason.UnknownType;
                return false;
        }
    }

    /// <summary>
    /// The type byte when the header is well formed (at least 4 bytes, reserved bytes zero), else 0 (no type). The
    /// size is not checked: for a quick dispatch before <see cref="TryClassify"/>; a value outside
    /// <see cref="MessageType"/>'s four is an unknown type.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static MessageType PeekType(ReadOnlySpan<byte> datagram)
    {
        if (datagram.Length < HeaderSize) return default;
        uint header = BinaryPrimitives.ReadUInt32LittleEndian(datagram);
        return header <= byte.MaxValue ? (MessageType)header : default;
    }

    /// <summary>
    /// A transport data message by header and size (type 4, at least 32 bytes): exactly the datagrams
    /// <see cref="TryClassify"/> reports as <see cref="MessageType.TransportData"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsTransportData(ReadOnlySpan<byte> datagram) =>
        datagram.Length >= Messages.KeepaliveSize
        && BinaryPrimitives.ReadUInt32LittleEndian(datagram) == (uint)MessageType.TransportData;
}
