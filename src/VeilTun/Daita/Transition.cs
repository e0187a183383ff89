namespace VeilTun.Daita;

/// <summary>
/// A transition target and its f32 probability (state.rs <c>Trans(usize, f32)</c>). <paramref name="Target"/>
/// is a state index, <see cref="Constants.StateEnd"/> or <see cref="Constants.StateSignal"/>.
/// </summary>
internal readonly record struct Transition(ulong Target, float Probability);
