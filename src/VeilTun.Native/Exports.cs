using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace VeilTun.Native;

// The C entry points of libveiltun.so (include/veiltun.h) and the callbacks they take: this project's one file of
// unsafe code and pointers, as src/VeilTun/Interop/ is the library's. Each export converts its arguments (C strings to
// spans, function pointers to delegates) and calls NativeApi, which is safe code. An exception escaping an
// [UnmanagedCallersOnly] method would end the process, so each body also catches everything NativeApi might not.
internal static unsafe class Exports
{
    private static nint s_version; // the version string, made once and never freed

    [UnmanagedCallersOnly(EntryPoint = "veiltun_version")]
    public static byte* Version()
    {
        try
        {
            if (Volatile.Read(ref s_version) == 0)
            {
                nint copy = (nint)ToNative(Encoding.UTF8.GetBytes(NativeApi.Version));
                // The first copy published stays for the life of the process; a losing racer frees its own.
                if (Interlocked.CompareExchange(ref s_version, copy, 0) != 0) NativeMemory.Free((void*)copy);
            }
            return (byte*)s_version;
        }
        catch (Exception)
        {
            // Sound: a u8 literal is static data in the image, NUL included here.
            return (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetReference("unknown\0"u8));
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "veiltun_set_logger")]
    public static int SetLogger(delegate* unmanaged<void*, int, byte*, void> callback, void* context, int minLevel)
    {
        try
        {
            return NativeApi.SetLogger(callback == null ? null : new NativeLogSink(callback, context), minLevel);
        }
        catch (Exception e)
        {
            return NativeApi.Fail("veiltun_set_logger", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "veiltun_turn_on")]
    public static int TurnOn(byte* config, int tunFd, delegate* unmanaged<void*, int, int> protect, void* protectContext)
    {
        try
        {
            Func<int, int>? onProtect = null;
            if (protect != null)
            {
                // Sound: the caller promises the function and its context outlive the tunnel.
                nint fn = (nint)protect, ctx = (nint)protectContext;
                onProtect = fd => ((delegate* unmanaged<void*, int, int>)fn)((void*)ctx, fd);
            }
            return NativeApi.TurnOn(FromCString(config), tunFd, onProtect);
        }
        catch (Exception e)
        {
            return NativeApi.Fail("veiltun_turn_on", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "veiltun_turn_off")]
    public static int TurnOff(int handle)
    {
        try
        {
            return NativeApi.TurnOff(handle);
        }
        catch (Exception e)
        {
            return NativeApi.Fail("veiltun_turn_off", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "veiltun_set_config")]
    public static int SetConfig(int handle, byte* uapi)
    {
        try
        {
            if (uapi == null) return NativeApi.Fail("veiltun_set_config", new ArgumentNullException(nameof(uapi)));
            return NativeApi.SetConfig(handle, FromCString(uapi));
        }
        catch (Exception e)
        {
            return NativeApi.Fail("veiltun_set_config", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "veiltun_get_config")]
    public static int GetConfig(int handle, byte** config)
    {
        try
        {
            if (config == null) return NativeApi.Fail("veiltun_get_config", new ArgumentNullException(nameof(config)));
            *config = null;
            nint result = 0;
            int rc = NativeApi.GetConfig(handle, text => result = (nint)ToNative(text));
            if (rc == 0) *config = (byte*)result;
            else if (result != 0) FreeZeroed((byte*)result);
            return rc;
        }
        catch (Exception e)
        {
            return NativeApi.Fail("veiltun_get_config", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "veiltun_get_socket_v4")]
    public static int GetSocketV4(int handle) => GetSocket(handle, ipv6: false);

    [UnmanagedCallersOnly(EntryPoint = "veiltun_get_socket_v6")]
    public static int GetSocketV6(int handle) => GetSocket(handle, ipv6: true);

    private static int GetSocket(int handle, bool ipv6)
    {
        try
        {
            return NativeApi.GetSocket(handle, ipv6);
        }
        catch (Exception e)
        {
            return NativeApi.Fail(ipv6 ? "veiltun_get_socket_v6" : "veiltun_get_socket_v4", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "veiltun_bump_sockets")]
    public static int BumpSockets(int handle)
    {
        try
        {
            return NativeApi.BumpSockets(handle);
        }
        catch (Exception e)
        {
            return NativeApi.Fail("veiltun_bump_sockets", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "veiltun_trim_memory")]
    public static int TrimMemory(int handle)
    {
        try
        {
            return NativeApi.TrimMemory(handle);
        }
        catch (Exception e)
        {
            return NativeApi.Fail("veiltun_trim_memory", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "veiltun_free")]
    public static void Free(byte* buffer)
    {
        try
        {
            if (buffer != null) FreeZeroed(buffer);
        }
        catch (Exception e)
        {
            NativeApi.Fail("veiltun_free", e);
        }
    }

    // ---- Helpers ------------------------------------------------------------------------------------------

    /// <summary>A NUL-terminated C string as a span (empty for NULL). Sound for any pointer the caller owns until it returns.</summary>
    private static ReadOnlySpan<byte> FromCString(byte* s) =>
        s == null ? default : MemoryMarshal.CreateReadOnlySpanFromNullTerminated(s);

    /// <summary>A malloc'd NUL-terminated copy of <paramref name="text"/>: the caller's, freed by <see cref="FreeZeroed"/>.</summary>
    private static byte* ToNative(ReadOnlySpan<byte> text)
    {
        byte* copy = (byte*)NativeMemory.Alloc((nuint)text.Length + 1);
        text.CopyTo(new Span<byte>(copy, text.Length));
        copy[text.Length] = 0;
        return copy;
    }

    /// <summary>Zeroes a buffer from <see cref="ToNative"/> up to its NUL, then frees it (get_config's text holds keys).</summary>
    private static void FreeZeroed(byte* buffer)
    {
        CryptographicOperations.ZeroMemory(new Span<byte>(buffer, MemoryMarshal.CreateReadOnlySpanFromNullTerminated(buffer).Length));
        NativeMemory.Free(buffer);
    }

    /// <summary>The log callback: each line as a NUL-terminated UTF-8 string on the stack (or heap, if long).</summary>
    private sealed class NativeLogSink(delegate* unmanaged<void*, int, byte*, void> callback, void* context) : ILogSink
    {
        private readonly nint _callback = (nint)callback;
        private readonly nint _context = (nint)context;

        public void Write(int level, string message)
        {
            int max = Encoding.UTF8.GetMaxByteCount(message.Length) + 1;
            Span<byte> bytes = max <= 1024 ? stackalloc byte[max] : new byte[max];
            int n = Encoding.UTF8.GetBytes(message, bytes);
            bytes[n] = 0;
            fixed (byte* p = bytes)
            {
                // Sound: the callback and context must stay valid until veiltun_set_logger replaces them, and
                // NativeLog.Set returns only once no line is being written to the sink it replaced.
                ((delegate* unmanaged<void*, int, byte*, void>)_callback)((void*)_context, level, p);
            }
        }
    }
}
