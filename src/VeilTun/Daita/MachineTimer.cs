namespace VeilTun.Daita;

/// <summary>Timer selected by a Cancel action (action.rs); value = bincode variant index.</summary>
internal enum MachineTimer
{
    Action = 0,
    Internal = 1,
    All = 2,
}
