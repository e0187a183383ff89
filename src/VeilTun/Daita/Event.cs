namespace VeilTun.Daita;

/// <summary>
/// Maybenot 2.2.2 events (crates/maybenot/src/event.rs). The ordinal is the index into
/// <see cref="State.Transitions"/> and the position on the wire (13 slots, EVENT_NUM).
/// <see cref="LimitReached"/>, <see cref="CounterZero"/> and <see cref="Signal"/> are internal.
/// </summary>
internal enum Event
{
    NormalRecv = 0,
    PaddingRecv = 1,
    TunnelRecv = 2,
    NormalSent = 3,
    PaddingSent = 4,
    TunnelSent = 5,
    BlockingBegin = 6,
    BlockingEnd = 7,
    LimitReached = 8,
    CounterZero = 9,
    TimerBegin = 10,
    TimerEnd = 11,
    Signal = 12,
}
