using System.Runtime.InteropServices;

namespace VeilTun;

internal static partial class Interop
{
    /// <summary>Interface names and indices in the calling thread's network namespace (man 3 if_nametoindex).</summary>
    internal static unsafe partial class Interfaces
    {
        private const int IFNAMSIZ = 16;

        [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
        private static partial uint if_nametoindex(string name);

        [LibraryImport("libc")]
        private static partial byte* if_indextoname(uint index, byte* name);

        /// <summary>The index of the interface called <paramref name="name"/>, or 0 when there is none.</summary>
        internal static uint IndexOf(string name) => name.Length is 0 or >= IFNAMSIZ ? 0 : if_nametoindex(name);

        /// <summary>True when an interface with this index exists.</summary>
        internal static bool Exists(uint index)
        {
            byte* buffer = stackalloc byte[IFNAMSIZ];
            // Sound: buffer holds IFNAMSIZ bytes, the most if_indextoname writes.
            return index != 0 && if_indextoname(index, buffer) != null;
        }
    }
}
