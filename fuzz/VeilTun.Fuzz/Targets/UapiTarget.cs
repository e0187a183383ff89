using VeilTun.Uapi;

namespace VeilTun.Fuzz;

/// <summary>
/// UAPI <c>set</c>: the body goes through <see cref="UapiParser.TryParseSet"/> with the daemon's extension keys
/// (DAITA); a request that parses is applied to a scratch device (an error value is fine) and read back with
/// <c>get</c>. Bad input may only give false with an errno.
/// </summary>
internal static class UapiTarget
{
    public static void Run(byte[] input)
    {
        if (!UapiParser.TryParseSet(input, out var request, out var error, DaitaKeys.IsSetKey))
        {
            FuzzTargets.Check(request is null && error.Errno != 0, "a failed parse without an errno");
            return;
        }
        FuzzTargets.Check(error.Errno == 0, "a successful parse with an errno");
        ScratchDevice.ApplyAndGet(request, out _);
    }
}
