namespace VeilTun.Tests.Fakes;

/// <summary>
/// Measures what a steady-state loop allocates on the current thread. Tiered compilation may allocate on this
/// thread while it re-JITs a hot loop (on-stack replacement; seen in CI as 3-7 KB once in a run on a busy machine),
/// so the loop is measured up to three times and the first round that allocates nothing wins. A real per-call
/// allocation shows in every round, so the tests can still fail.
/// </summary>
internal static class Allocations
{
    public static long InSteadyState(Action loop)
    {
        long allocated = -1;
        for (int round = 0; round < 3 && allocated != 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            loop();
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }
        return allocated;
    }
}
