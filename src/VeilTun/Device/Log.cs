using Microsoft.Extensions.Logging;
using VeilTun.Noise;

namespace VeilTun.Device;

// Every event a Tunnel logs (category "VeilTun.Tunnel"), declared once for the LoggerMessage source generator: a call
// checks IsEnabled first and formats nothing, boxes nothing, when its level is off. Levels follow wireguard-go's:
// its verbose lines are Debug, its errors Error; the interface's state changes are Information. Exceptions go in as
// the exception (a provider prints its message or stack as it likes; the daemon appends ": <message>"). The
// interface name is not in the text: TunnelLogger adds it as the scope property "Interface". Event ids are stable
// (docs/embedding.md lists them): 1xx lifecycle, 2xx handshakes, 3xx data path, 4xx configuration and routes.
internal static partial class Log
{
    public const string Category = "VeilTun.Tunnel";

    [LoggerMessage(EventId = 100, EventName = "InterfaceUp", Level = LogLevel.Information, Message = "interface is up")]
    public static partial void InterfaceUp(ILogger logger);

    [LoggerMessage(EventId = 101, EventName = "InterfaceDown", Level = LogLevel.Information, Message = "interface is down")]
    public static partial void InterfaceDown(ILogger logger);

    [LoggerMessage(EventId = 102, EventName = "BindFailed", Level = LogLevel.Error, Message = "cannot bind UDP port {Port}")]
    public static partial void BindFailed(ILogger logger, int port, Exception exception);

    [LoggerMessage(EventId = 103, EventName = "EventHandlerFailed", Level = LogLevel.Error, Message = "event handler threw")]
    public static partial void EventHandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 104, EventName = "InternalError", Level = LogLevel.Error, Message = "internal error: {Error}")]
    public static partial void InternalError(ILogger logger, object? error); // the exception, as ToString() prints it

    [LoggerMessage(EventId = 105, EventName = "MtuUpdated", Level = LogLevel.Debug, Message = "MTU updated: {Mtu}")]
    public static partial void MtuUpdated(ILogger logger, int mtu); // wireguard-go's words

    [LoggerMessage(EventId = 106, EventName = "InterfaceWatched", Level = LogLevel.Debug, Message = "{How}")]
    public static partial void InterfaceWatched(ILogger logger, string how);

    [LoggerMessage(EventId = 107, EventName = "InterfaceWatchDegraded", Level = LogLevel.Error, Message = "{Why}")]
    public static partial void InterfaceWatchDegraded(ILogger logger, string why);

    [LoggerMessage(EventId = 108, EventName = "NetworkChanged", Level = LogLevel.Information, Message = "network changed: UDP rebound, {Initiations} handshake initiation(s) sent")]
    public static partial void NetworkChanged(ILogger logger, int initiations);

    [LoggerMessage(EventId = 109, EventName = "RebindFailed", Level = LogLevel.Error, Message = "cannot bind UDP port {Port} again after a network change: bound another")]
    public static partial void RebindFailed(ILogger logger, int port, Exception exception);

    [LoggerMessage(EventId = 200, EventName = "HandshakeInitiationSent", Level = LogLevel.Debug, Message = "{Peer} - sending handshake initiation")]
    public static partial void HandshakeInitiationSent(ILogger logger, Peer? peer);

    [LoggerMessage(EventId = 201, EventName = "HandshakeCompleted", Level = LogLevel.Debug, Message = "{Peer} - handshake completed")]
    public static partial void HandshakeCompleted(ILogger logger, Peer? peer);

    [LoggerMessage(EventId = 202, EventName = "HandshakeGaveUp", Level = LogLevel.Debug, Message = "{Peer} - handshake did not complete after {Attempts} attempts, giving up")]
    public static partial void HandshakeGaveUp(ILogger logger, Peer? peer, int attempts);

    // The data path: failures of a whole batch, logged once per failed call (never per packet).
    [LoggerMessage(EventId = 300, EventName = "TunReadFailed", Level = LogLevel.Error, Message = "TUN read failed")]
    public static partial void TunReadFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 301, EventName = "TunWriteFailed", Level = LogLevel.Debug, Message = "TUN write failed")]
    public static partial void TunWriteFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 302, EventName = "UdpReceiveFailed", Level = LogLevel.Error, Message = "UDP receive failed")]
    public static partial void UdpReceiveFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 303, EventName = "UdpSendFailed", Level = LogLevel.Debug, Message = "UDP send failed")]
    public static partial void UdpSendFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 400, EventName = "UapiError", Level = LogLevel.Error, Message = "UAPI: {Error}")]
    public static partial void UapiError(ILogger logger, string error);

    [LoggerMessage(EventId = 401, EventName = "DaitaNotEnabled", Level = LogLevel.Error, Message = "{Peer} - DAITA not enabled: {Reason}")]
    public static partial void DaitaNotEnabled(ILogger logger, Peer peer, string? reason);

    [LoggerMessage(EventId = 402, EventName = "NoRouteWatcher", Level = LogLevel.Debug, Message = "no route watcher: sticky sources follow send failures only")]
    public static partial void NoRouteWatcher(ILogger logger);

    [LoggerMessage(EventId = 403, EventName = "RoutesChanged", Level = LogLevel.Debug, Message = "routes changed: {Count} sticky source(s) dropped")]
    public static partial void RoutesChanged(ILogger logger, int count);

    [LoggerMessage(EventId = 404, EventName = "StickySourceCheckFailed", Level = LogLevel.Error, Message = "sticky source check failed")]
    public static partial void StickySourceCheckFailed(ILogger logger, Exception exception);
}
