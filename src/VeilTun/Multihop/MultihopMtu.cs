namespace VeilTun.Multihop;

/// <summary>
/// The exit device's MTU in a multihop chain: its packets, once sealed (WireGuard transport header 16 + tag 16) and
/// wrapped (UDP 8 + IPv4 20 or IPv6 40), must fit the entry device's MTU, so the exit MTU is the entry MTU minus 60
/// (IPv4 wrapping) or 80 (IPv6 wrapping), the same overhead wg-quick subtracts for one hop. WireGuard's padding to a
/// multiple of 16 never goes past the MTU, so it adds nothing here. Stateless and thread-safe.
/// </summary>
public static class MultihopMtu
{
    /// <summary>WireGuard overhead with an IPv4 outer header: IPv4 20 + UDP 8 + transport header 16 + tag 16.</summary>
    public const int Ipv4Overhead = 60;

    /// <summary>WireGuard overhead with an IPv6 outer header: IPv6 40 + UDP 8 + transport header 16 + tag 16.</summary>
    public const int Ipv6Overhead = 80;

    /// <summary>
    /// The smallest exit MTU <see cref="TryValidate"/> accepts: 576, the datagram size every IPv4 host must be able
    /// to reassemble (RFC 791 §3.1, RFC 1122 §3.3.2), so the exit tunnel can carry at least the IPv4 minimum.
    /// </summary>
    public const int MinimumExitMtu = 576;

    /// <summary>
    /// The smallest exit MTU that can carry IPv6 inside the exit tunnel: RFC 8200 §5 requires every link to take
    /// 1280-byte packets. Not enforced by <see cref="TryValidate"/>, since an IPv4-only exit tunnel works below it.
    /// </summary>
    public const int MinimumIpv6ExitMtu = 1280;

    /// <summary>Largest MTU (Linux's TUN MAX_MTU, the IPv4 total length limit).</summary>
    public const int MaximumMtu = 65535;

    /// <summary>
    /// The exit device's MTU for an entry device of MTU <paramref name="entryMtu"/>, when the exit device's
    /// datagrams are wrapped in IPv6 (<paramref name="ipv6Outer"/>, i.e. the exit relay's endpoint is IPv6) or IPv4.
    /// No range check; see <see cref="TryValidate"/>.
    /// </summary>
    public static int ExitMtu(int entryMtu, bool ipv6Outer) => entryMtu - (ipv6Outer ? Ipv6Overhead : Ipv4Overhead);

    /// <summary>
    /// Computes <see cref="ExitMtu"/> and checks it. Fails when <paramref name="entryMtu"/> is outside 68..65535
    /// (Linux's TUN limits) or the exit MTU would be below <see cref="MinimumExitMtu"/> (576). An exit MTU of at least
    /// 576 but below <see cref="MinimumIpv6ExitMtu"/> (1280) passes: IPv6 cannot then run inside the exit tunnel, which
    /// the caller may check separately.
    /// </summary>
    /// <param name="entryMtu">The entry device's MTU.</param>
    /// <param name="ipv6Outer">True when the exit device's datagrams get an IPv6 header (IPv6 exit relay endpoint).</param>
    /// <param name="exitMtu">The exit MTU (also set when the check fails, unless the entry MTU is out of range: 0).</param>
    /// <param name="error">Why the check failed, for the user; null on success.</param>
    public static bool TryValidate(int entryMtu, bool ipv6Outer, out int exitMtu, out string? error)
    {
        if (entryMtu < 68 || entryMtu > MaximumMtu)
        {
            exitMtu = 0;
            error = $"entry MTU {entryMtu} is outside 68..{MaximumMtu}";
            return false;
        }
        exitMtu = ExitMtu(entryMtu, ipv6Outer);
        if (exitMtu < MinimumExitMtu)
        {
            int overhead = ipv6Outer ? Ipv6Overhead : Ipv4Overhead;
            error = $"entry MTU {entryMtu} leaves an exit MTU of {exitMtu} after the {overhead}-byte WireGuard overhead " +
                $"({(ipv6Outer ? "IPv6" : "IPv4")} outer header); at least {MinimumExitMtu + overhead} is needed for " +
                $"{MinimumExitMtu}, and {MinimumIpv6ExitMtu + overhead} to carry IPv6 through the exit tunnel";
            return false;
        }
        error = null;
        return true;
    }
}
