namespace VeilTun.Diagnostics;

/// <summary>One packet buffer pool: buffers rented now and the pool's bound.</summary>
/// <param name="Name">large (64 KiB), small (2 KiB) or handshake: the <c>pool</c> tag and label.</param>
/// <param name="Used">Buffers rented now (in queues and in flight; free buffers cached per thread are not counted).</param>
/// <param name="Limit">The most the pool creates; a rent beyond it is a <c>pool_exhausted</c> drop.</param>
public sealed record PoolMetrics(string Name, long Used, long Limit);
