using System.Net;

namespace VeilTun.Uapi;

/// <summary>
/// One <c>allowed_ip=</c> line of a set request: a prefix to add to the peer, or (with a leading '-' on the wire,
/// <see cref="Remove"/> = true) to take away from it. <see cref="Address"/> already has its host bits cleared, as the
/// allowed-IPs trie stores it (kernel <c>allowedips.c</c>, wg-go <c>allowedips.go</c> mask on insert and remove).
/// </summary>
/// <param name="Address">The masked network address (IPv4 or IPv6, no scope).</param>
/// <param name="PrefixLength">0..32 for IPv4, 0..128 for IPv6.</param>
/// <param name="Remove">True to remove the prefix from this peer instead of adding it.</param>
public readonly record struct AllowedIpChange(IPAddress Address, int PrefixLength, bool Remove);
