using Microsoft.Extensions.Logging;

namespace VeilTun.Multihop;

// What a multihop pair logs itself (category "VeilTun.Multihop"); each hop's Tunnel logs as any tunnel. Event ids 5xx.
internal static partial class Log
{
    public const string Category = "VeilTun.Multihop";

    [LoggerMessage(EventId = 500, EventName = "ExitMtuTooLarge", Level = LogLevel.Warning,
        Message = "MTU {Mtu} of {Interface} exceeds {ExitMtu} (entry MTU {EntryMtu} minus the WireGuard overhead): the entry hop's datagrams will be larger than its MTU")]
    public static partial void ExitMtuTooLarge(ILogger logger, int mtu, string @interface, int exitMtu, int entryMtu);
}
