namespace VeilTun.Daita;

/// <summary>Counter update operation (counter.rs); value = bincode variant index.</summary>
internal enum CounterOperation
{
    Increment = 0,
    Decrement = 1,
    Set = 2,
}
