using System.Buffers.Binary;
using VeilTun.Packets;

namespace VeilTun.Noise;

/// <summary>
/// Wire layout of the four messages (whitepaper §5.4; kernel messages.h). All integers little-endian.
/// Classification by header and size is <see cref="WireGuardMessage"/>'s.
/// </summary>
internal static class Messages
{
    public const int InitiationSize = 148;
    public const int ResponseSize = 92;
    public const int CookieReplySize = 64;
    public const int TransportHeaderSize = 16;
    public const int TagSize = 16;

    /// <summary>Header + tag: a keepalive is exactly this long.</summary>
    public const int TransportOverhead = TransportHeaderSize + TagSize;
    public const int KeepaliveSize = TransportOverhead;

    // Initiation offsets.
    public const int InitSenderOffset = 4;
    public const int InitEphemeralOffset = 8;
    public const int InitStaticOffset = 40;
    public const int InitStaticLength = 32 + TagSize;
    public const int InitTimestampOffset = 88;
    public const int InitTimestampLength = 12 + TagSize;
    public const int InitMac1Offset = 116;
    public const int InitMac2Offset = 132;

    // Response offsets.
    public const int RespSenderOffset = 4;
    public const int RespReceiverOffset = 8;
    public const int RespEphemeralOffset = 12;
    public const int RespEmptyOffset = 44;
    public const int RespMac1Offset = 60;
    public const int RespMac2Offset = 76;

    // Cookie reply offsets.
    public const int CookieReceiverOffset = 4;
    public const int CookieNonceOffset = 8;
    public const int CookieNonceLength = 24;
    public const int CookieEncryptedOffset = 32;
    public const int CookieEncryptedLength = 16 + TagSize;

    // Transport offsets.
    public const int TransportReceiverOffset = 4;
    public const int TransportCounterOffset = 8;

    public static void WriteHeader(Span<byte> message, MessageType type) =>
        BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)type);

    public static uint ReadUInt32(ReadOnlySpan<byte> message, int offset) =>
        BinaryPrimitives.ReadUInt32LittleEndian(message[offset..]);

    public static void WriteUInt32(Span<byte> message, int offset, uint value) =>
        BinaryPrimitives.WriteUInt32LittleEndian(message[offset..], value);

    /// <summary>
    /// Padded plaintext length for a packet of <paramref name="length"/> bytes: a multiple of 16 but never past
    /// the MTU (kernel send.c calculate_skb_padding; wireguard-go calculatePaddingSize). Keepalives stay 0.
    /// </summary>
    public static int PaddedLength(int length, int mtu)
    {
        if (length == 0) return 0;
        int lastUnit = length;
        if (mtu == 0) return Align16(lastUnit);
        if (lastUnit > mtu) lastUnit %= mtu;
        int padded = Math.Min(Align16(lastUnit), mtu);
        return length + (padded - lastUnit);
    }

    private static int Align16(int n) => (n + Protocol.PaddingMultiple - 1) & ~(Protocol.PaddingMultiple - 1);
}
