namespace VeilTun.Noise;

/// <summary>
/// WireGuard's protocol constants (whitepaper §6.1; kernel messages.h; wireguard-go device/constants.go).
/// Values follow wireguard-go, which VeilTun replaces.
/// </summary>
internal static class Protocol
{
    /// <summary>Noise construction name: Ci = HASH(Construction).</summary>
    public const string Construction = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";

    /// <summary>Noise prologue: Hi = HASH(Ci || Identifier).</summary>
    public const string Identifier = "WireGuard v1 zx2c4 Jason@zx2c4.com";

    public const string LabelMac1 = "mac1----";
    public const string LabelCookie = "cookie--";

    public const ulong RekeyAfterMessages = 1UL << 60;

    /// <summary>2^64 - 2^13 - 1 (whitepaper; wireguard-go <c>RejectAfterMessages</c>).</summary>
    public const ulong RejectAfterMessages = ulong.MaxValue - (1UL << 13);

    public static readonly TimeSpan RekeyAfterTime = TimeSpan.FromSeconds(120);
    public static readonly TimeSpan RejectAfterTime = TimeSpan.FromSeconds(180);
    public static readonly TimeSpan RekeyAttemptTime = TimeSpan.FromSeconds(90);
    public static readonly TimeSpan RekeyTimeout = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan KeepaliveTimeout = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan CookieRefreshTime = TimeSpan.FromSeconds(120);

    /// <summary>wireguard-go HandshakeInitationRate: at most 50 initiations per second per peer.</summary>
    public static readonly TimeSpan HandshakeInitiationRate = TimeSpan.FromMilliseconds(20);

    /// <summary>wireguard-go RekeyTimeoutJitterMaxMs: jitter is 0..333 ms.</summary>
    public const int RekeyTimeoutJitterMaxMs = 334;

    /// <summary>REKEY_ATTEMPT_TIME / REKEY_TIMEOUT = 18: the retransmit timer fires while attempts &lt;= 18.</summary>
    public const int MaxTimerHandshakes = 18;

    /// <summary>REJECT_AFTER_TIME * 3 = 540 s: all key material is wiped after this without a new session.</summary>
    public static readonly TimeSpan ZeroKeyMaterialAfter = TimeSpan.FromSeconds(540);

    /// <summary>Initiator's last-minute rekey on receive: REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT = 165 s.</summary>
    public static readonly TimeSpan RekeyOnReceiveAfter = TimeSpan.FromSeconds(165);

    /// <summary>Packets staged per peer while waiting for a session; the oldest is dropped when full.</summary>
    public const int MaxStagedPackets = 128;

    public const int PaddingMultiple = 16;
    public const int DefaultMtu = 1420;

    /// <summary>wireguard-go UnderLoadAfterTime: load stays latched for 1 s.</summary>
    public static readonly TimeSpan UnderLoadAfterTime = TimeSpan.FromSeconds(1);
}
