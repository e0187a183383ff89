using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace VeilTun.Udp;

/// <summary>
/// A UDP endpoint (address and port) as a plain value: no heap allocation, usable as a dictionary key and
/// comparable without touching <see cref="IPAddress"/>. IPv4 addresses are stored as themselves (not v4-mapped);
/// a v4-mapped IPv6 address given to the factories is unmapped, so one host has one representation.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct NetEndpoint : IEquatable<NetEndpoint>
{
    private readonly UInt128 _address; // big-endian bytes of the address, IPv4 in the low 32 bits
    private readonly ushort _port;
    private readonly byte _family; // 0 = none, 4, 6
    private readonly uint _scopeId;

    private NetEndpoint(UInt128 address, ushort port, byte family, uint scopeId)
    {
        _address = address;
        _port = port;
        _family = family;
        _scopeId = scopeId;
    }

    /// <summary>True for the default value: no endpoint.</summary>
    public bool IsNone => _family == 0;

    /// <summary>True for an IPv4 endpoint.</summary>
    public bool IsIPv4 => _family == 4;

    /// <summary>True for an IPv6 endpoint.</summary>
    public bool IsIPv6 => _family == 6;

    /// <summary>UDP port in host order.</summary>
    public ushort Port => _port;

    /// <summary>IPv6 scope id (0 for IPv4 or global addresses).</summary>
    public uint ScopeId => _scopeId;

    /// <summary>Length of <see cref="WriteAddress"/>'s output: 4, 16, or 0 for none.</summary>
    public int AddressLength => _family switch { 4 => 4, 6 => 16, _ => 0 };

    /// <summary>Builds an IPv4 endpoint from the 4 address bytes in network order.</summary>
    public static NetEndpoint FromIPv4(ReadOnlySpan<byte> address4, ushort port)
    {
        if (address4.Length != 4) throw new ArgumentException("IPv4 address must be 4 bytes", nameof(address4));
        return new NetEndpoint(BinaryPrimitives.ReadUInt32BigEndian(address4), port, 4, 0);
    }

    /// <summary>Builds an IPv6 endpoint from 16 address bytes in network order; v4-mapped addresses become IPv4.</summary>
    public static NetEndpoint FromIPv6(ReadOnlySpan<byte> address16, ushort port, uint scopeId = 0)
    {
        if (address16.Length != 16) throw new ArgumentException("IPv6 address must be 16 bytes", nameof(address16));
        var value = BinaryPrimitives.ReadUInt128BigEndian(address16);
        if ((value >> 32) == 0xffff)
            return new NetEndpoint((uint)value, port, 4, 0);
        return new NetEndpoint(value, port, 6, scopeId);
    }

    /// <summary>The same address (and scope) with another port.</summary>
    public NetEndpoint WithPort(ushort port) => new(_address, port, _family, _scopeId);

    /// <summary>Builds an endpoint from 4 or 16 address bytes.</summary>
    public static NetEndpoint FromAddress(ReadOnlySpan<byte> address, ushort port, uint scopeId = 0) =>
        address.Length == 4 ? FromIPv4(address, port) : FromIPv6(address, port, scopeId);

    /// <summary>Converts from <see cref="IPEndPoint"/> (unmapping v4-mapped IPv6).</summary>
    public static NetEndpoint FromIPEndPoint(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        Span<byte> bytes = stackalloc byte[16];
        endPoint.Address.TryWriteBytes(bytes, out int written);
        return written == 4
            ? FromIPv4(bytes[..4], (ushort)endPoint.Port)
            : FromIPv6(bytes, (ushort)endPoint.Port, (uint)endPoint.Address.ScopeId);
    }

    /// <summary>Writes the address bytes (4 or 16, network order) and returns how many were written.</summary>
    public int WriteAddress(Span<byte> destination)
    {
        switch (_family)
        {
            case 4:
                BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)_address);
                return 4;
            case 6:
                BinaryPrimitives.WriteUInt128BigEndian(destination, _address);
                return 16;
            default:
                return 0;
        }
    }

    /// <summary>Writes the address as 16 bytes, IPv4 as v4-mapped IPv6 (for dual-stack sockets).</summary>
    public void WriteMappedAddress(Span<byte> destination16)
    {
        UInt128 value = _family == 4 ? ((UInt128)0xffff << 32) | _address : _address;
        BinaryPrimitives.WriteUInt128BigEndian(destination16, value);
    }

    /// <summary>Allocates an <see cref="IPEndPoint"/>; for setup and display, not the packet path.</summary>
    public IPEndPoint ToIPEndPoint()
    {
        if (IsNone) throw new InvalidOperationException("no endpoint");
        Span<byte> bytes = stackalloc byte[16];
        int n = WriteAddress(bytes);
        var address = new IPAddress(bytes[..n]);
        if (_family == 6) address.ScopeId = _scopeId;
        return new IPEndPoint(address, _port);
    }

    /// <summary>Address family of this endpoint.</summary>
    public AddressFamily AddressFamily => _family == 6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;

    /// <summary>Formats as wg(8) does: <c>a.b.c.d:port</c> or <c>[v6]:port</c>; "(none)" when empty.</summary>
    public override string ToString() => IsNone ? "(none)" : ToIPEndPoint().ToString();

    /// <summary>True for the same address family, address, port and scope id.</summary>
    public bool Equals(NetEndpoint other) =>
        _address == other._address && _port == other._port && _family == other._family && _scopeId == other._scopeId;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is NetEndpoint other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(_address, _port, _family, _scopeId);

    /// <summary>Same as <see cref="Equals(NetEndpoint)"/>.</summary>
    public static bool operator ==(NetEndpoint left, NetEndpoint right) => left.Equals(right);

    /// <summary>The negation of <see cref="Equals(NetEndpoint)"/>.</summary>
    public static bool operator !=(NetEndpoint left, NetEndpoint right) => !left.Equals(right);
}
