using Microsoft.Extensions.Logging;

namespace VeilTun.Cli;

// What the daemon logs itself (category "VeilTun.Daemon", event ids 1xxx), in wireguard-go's words where it has them;
// its start-up lines are Information (printed at LOG_LEVEL=verbose, as wireguard-go's), its failures Error.
internal static partial class Log
{
    public const string Category = "VeilTun.Daemon";

    [LoggerMessage(EventId = 1000, EventName = "TunCreateFailed", Level = LogLevel.Error, Message = "Failed to create TUN device")]
    public static partial void TunCreateFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1001, EventName = "UapiListenFailed", Level = LogLevel.Error, Message = "UAPI listen error")]
    public static partial void UapiListenFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1002, EventName = "EntryHopFailed", Level = LogLevel.Error, Message = "Failed to set up the entry hop {Entry}")]
    public static partial void EntryHopFailed(ILogger logger, string entry, Exception exception);

    [LoggerMessage(EventId = 1003, EventName = "StillRoot", Level = LogLevel.Error, Message = "Still root after dropping privileges: refusing to run")]
    public static partial void StillRoot(ILogger logger);

    [LoggerMessage(EventId = 1004, EventName = "CannotDropPrivileges", Level = LogLevel.Error, Message = "Cannot drop privileges: {Reason}")]
    public static partial void CannotDropPrivileges(ILogger logger, string reason);

    [LoggerMessage(EventId = 1005, EventName = "DroppingPrivileges", Level = LogLevel.Information,
        Message = "Dropping privileges: re-executing as {User} (uid {Uid}, gid {Gid}) with net_admin,net_bind_service")]
    public static partial void DroppingPrivileges(ILogger logger, string user, uint uid, uint gid);

    [LoggerMessage(EventId = 1006, EventName = "RunningAs", Level = LogLevel.Information, Message = "Running as {Identity}{Note}")]
    public static partial void RunningAs(ILogger logger, string identity, string note);

    [LoggerMessage(EventId = 1007, EventName = "UapiListenerStarted", Level = LogLevel.Information, Message = "UAPI listener started")]
    public static partial void UapiListenerStarted(ILogger logger);

    [LoggerMessage(EventId = 1008, EventName = "DeviceStarted", Level = LogLevel.Information, Message = "Device started")]
    public static partial void DeviceStarted(ILogger logger);

    [LoggerMessage(EventId = 1009, EventName = "ShuttingDown", Level = LogLevel.Information, Message = "Shutting down")]
    public static partial void ShuttingDown(ILogger logger);

    [LoggerMessage(EventId = 1010, EventName = "ShuttingDownOnFailure", Level = LogLevel.Error, Message = "Shutting down: {Reason}")]
    public static partial void ShuttingDownOnFailure(ILogger logger, string reason);
}
