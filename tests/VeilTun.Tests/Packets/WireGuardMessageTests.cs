using System.Buffers.Binary;
using CsCheck;
using VeilTun.Noise;
using VeilTun.Packets;
using Xunit;

namespace VeilTun.Tests.Packets;

public sealed class WireGuardMessageTests
{
    private static byte[] Message(uint header, int length)
    {
        byte[] m = new byte[length];
        if (length >= 4) BinaryPrimitives.WriteUInt32LittleEndian(m, header);
        else if (length > 0) m[0] = (byte)header;
        return m;
    }

    [Theory]
    [InlineData(1u, 148, MessageType.HandshakeInitiation)]
    [InlineData(2u, 92, MessageType.HandshakeResponse)]
    [InlineData(3u, 64, MessageType.CookieReply)]
    [InlineData(4u, 32, MessageType.TransportData)] // a keepalive
    [InlineData(4u, 1452, MessageType.TransportData)]
    [InlineData(4u, 65535, MessageType.TransportData)]
    public void KnownTypesOfTheirSizeAreClassified(uint header, int length, object expectedArg)
    {
        var expected = (MessageType)expectedArg;
        Assert.True(WireGuardMessage.TryClassify(Message(header, length), out MessageType type, out DropReason reason));
        Assert.Equal(expected, type);
        Assert.Equal(DropReason.None, reason);
    }

    [Theory]
    [InlineData(1u, 147, DropReason.InvalidLength)]
    [InlineData(1u, 149, DropReason.InvalidLength)]
    [InlineData(2u, 148, DropReason.InvalidLength)]
    [InlineData(3u, 92, DropReason.InvalidLength)]
    [InlineData(4u, 31, DropReason.InvalidLength)]
    [InlineData(4u, 4, DropReason.InvalidLength)]
    [InlineData(0u, 148, DropReason.UnknownType)]
    [InlineData(5u, 148, DropReason.UnknownType)]
    [InlineData(0x0101u, 148, DropReason.UnknownType)] // reserved byte set: not an initiation
    [InlineData(0x01000004u, 32, DropReason.UnknownType)]
    [InlineData(0xFFu, 64, DropReason.UnknownType)]
    [InlineData(4u, 3, DropReason.TooShort)]
    [InlineData(1u, 1, DropReason.TooShort)]
    [InlineData(0u, 0, DropReason.TooShort)]
    public void OtherDatagramsGetADropReason(uint header, int length, DropReason expected)
    {
        Assert.False(WireGuardMessage.TryClassify(Message(header, length), out MessageType type, out DropReason reason));
        Assert.Equal(default, type);
        Assert.Equal(expected, reason);
    }

    // The tunnel's dispatch and GRO checks before the module existed: the fast helpers must answer exactly as they did.
    private static byte TunnelTypeByte(ReadOnlySpan<byte> data) =>
        data.Length >= 4 && data[1] == 0 && data[2] == 0 && data[3] == 0 ? data[0] : (byte)0;

    private static bool GroTransport(ReadOnlySpan<byte> datagram) =>
        datagram.Length >= Messages.KeepaliveSize
        && BinaryPrimitives.ReadUInt32LittleEndian(datagram) == (uint)MessageType.TransportData;

    private static readonly Gen<byte[]> s_datagrams = Gen.OneOf(
        Gen.Byte.Array[0, 160],
        Gen.Select(Gen.OneOf(0u, 1u, 2u, 3u, 4u, 5u, 0x104u, 0x01000001u, 0xFFu),
                Gen.OneOf(0, 1, 3, 4, 31, 32, 33, 63, 64, 65, 91, 92, 93, 147, 148, 149, 1500))
            .Select((header, length) => Message(header, length)));

    [Fact]
    public void TheFastChecksAgreeWithTheClassification()
    {
        s_datagrams.Sample(d =>
        {
            bool known = WireGuardMessage.TryClassify(d, out MessageType type, out _);
            Assert.Equal(TunnelTypeByte(d), (byte)WireGuardMessage.PeekType(d));
            Assert.Equal(GroTransport(d), WireGuardMessage.IsTransportData(d));
            Assert.Equal(known && type == MessageType.TransportData, WireGuardMessage.IsTransportData(d));
            if (known) Assert.Equal(type, WireGuardMessage.PeekType(d));
        });
    }

    [Fact]
    public void PeekTypeIgnoresTheSize()
    {
        Assert.Equal(MessageType.HandshakeInitiation, WireGuardMessage.PeekType(Message(1, 4)));
        Assert.Equal(MessageType.TransportData, WireGuardMessage.PeekType(Message(4, 20)));
        Assert.Equal(default, WireGuardMessage.PeekType(Message(4, 3)));
        Assert.Equal(default, WireGuardMessage.PeekType(Message(0x104, 32))); // not type 4 with a reserved bit
        Assert.Equal((MessageType)0x77, WireGuardMessage.PeekType(Message(0x77, 32)));
    }
}
