namespace VeilTun.Daita;

/// <summary>
/// An event fed to <see cref="Framework.TriggerEvents"/>. <paramref name="Machine"/> (a machine index) is used only by
/// <see cref="TriggerEventKind.PaddingSent"/>, <see cref="TriggerEventKind.BlockingBegin"/>,
/// <see cref="TriggerEventKind.TimerBegin"/> and <see cref="TriggerEventKind.TimerEnd"/>; out-of-range ids are
/// tolerated as in Rust (see <see cref="Framework.TriggerEvents"/>). Immutable value.
/// </summary>
internal readonly record struct TriggerEvent(TriggerEventKind Kind, int Machine = 0);
