namespace VeilTun.Uapi;

/// <summary>
/// A failed UAPI request: the negative errno sent back as <c>errno=N</c> and a human-readable message for the log.
/// The errno values are wireguard-go's (<c>ipc/uapi_unix.go</c>): negated Linux errno constants. wg(8) accepts the
/// sign and prints <c>strerror(-N)</c>. The default value (errno 0, empty message) means "no error".
/// Immutable; safe to share between threads.
/// </summary>
public readonly record struct UapiError
{
    /// <summary>-EIO: reading the request or writing the reply failed, or a bound was exceeded.</summary>
    public const int ErrnoIo = -5;

    /// <summary>-EINVAL: a key or value is not acceptable.</summary>
    public const int ErrnoInvalid = -22;

    /// <summary>-EPROTO: a line is not <c>key=value</c>.</summary>
    public const int ErrnoProtocol = -71;

    /// <summary>-EADDRINUSE: the listen port (or fwmark) could not be applied to the socket.</summary>
    public const int ErrnoPortInUse = -98;

    /// <summary>-55 (ENOANO in wireguard-go's table): any other failure.</summary>
    public const int ErrnoUnknown = -55;

    private readonly string? _message;

    /// <summary>Creates an error.</summary>
    /// <param name="errno">A negative errno (use the constants of this type).</param>
    /// <param name="message">What went wrong, naming the key, the value and the reason.</param>
    public UapiError(int errno, string message)
    {
        Errno = errno;
        _message = message;
    }

    /// <summary>The negative errno sent in the reply; 0 for the default (success) value.</summary>
    public int Errno { get; }

    /// <summary>The message (empty for the default value).</summary>
    public string Message => _message ?? string.Empty;

    /// <summary>An <see cref="ErrnoInvalid"/> error.</summary>
    public static UapiError Invalid(string message) => new(ErrnoInvalid, message);

    /// <summary>An <see cref="ErrnoProtocol"/> error.</summary>
    public static UapiError Protocol(string message) => new(ErrnoProtocol, message);

    /// <summary>An <see cref="ErrnoIo"/> error.</summary>
    public static UapiError Io(string message) => new(ErrnoIo, message);

    /// <summary>An <see cref="ErrnoPortInUse"/> error.</summary>
    public static UapiError PortInUse(string message) => new(ErrnoPortInUse, message);

    /// <summary>An <see cref="ErrnoUnknown"/> error.</summary>
    public static UapiError Unknown(string message) => new(ErrnoUnknown, message);

    /// <summary>"UAPI error -22: message", like wireguard-go's log line.</summary>
    public override string ToString() => $"UAPI error {Errno}: {Message}";
}
