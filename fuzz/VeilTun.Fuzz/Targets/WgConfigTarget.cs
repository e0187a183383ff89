using System.Text;
using VeilTun.Uapi;

namespace VeilTun.Fuzz;

/// <summary>
/// <c>wg setconf</c> files (<see cref="WgConfigFile.TryParse"/>): a file that parses is applied to a scratch device,
/// printed back with <see cref="WgConfigFile.Write"/> (<c>wg showconf</c>), and that text must parse again.
/// </summary>
internal static class WgConfigTarget
{
    public static void Run(byte[] input)
    {
        string text = Encoding.UTF8.GetString(input);
        if (!WgConfigFile.TryParse(text, out var request, out var error))
        {
            FuzzTargets.Check(request is null && !string.IsNullOrEmpty(error), "a failed parse without a reason");
            return;
        }
        ScratchDevice.ApplyAndGet(request, out var snapshot);
        string shown = WgConfigFile.Write(snapshot);
        FuzzTargets.Check(WgConfigFile.TryParse(shown, out var again, out var againError),
            $"showconf output does not parse: {againError}");
        again!.ClearSecrets();
    }
}
