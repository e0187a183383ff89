namespace VeilTun.Tests.Vectors;

/// <summary>Known-answer data for BLAKE2s, HMAC-BLAKE2s and WireGuard's KDF. Each block names its source.</summary>
internal static class Blake2sVectors
{
    // RFC 7693 Appendix B: BLAKE2s-256("abc").
    public const string AbcDigest = "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982";

    // BLAKE2 reference repository (github.com/BLAKE2/BLAKE2, commit ed1974ea), testvectors/blake2-kat.json,
    // "hash": "blake2s", "key": "", input = bytes 00..(n-1), 32-byte digest. Entry n = 0 is the empty-input digest.
    public static readonly (int Length, string Digest)[] Unkeyed =
    [
        (0, "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9"),
        (1, "e34d74dbaf4ff4c6abd871cc220451d2ea2648846c7757fbaac82fe51ad64bea"),
        (3, "e8f91c6ef232a041452ab0e149070cdd7dd1769e75b3a5921be37876c45c9900"),
        (63, "e57cb79487dd57902432b250733813bd96a84efce59f650fac26e6696aefafc3"),
        (64, "56f34e8b96557e90c1f24b52d0c89d51086acf1b00f634cf1dde9233b8eaaa3e"),
        (65, "1b53ee94aaf34e4b159d48de352c7f0661d0a40edff95a0b1639b4090e974472"),
        (255, "f03f5789d3336b80d002d59fdf918bdb775b00956ed5528e86aa994acb38fe2d"),
    ];

    // BLAKE2 reference repository (github.com/BLAKE2/BLAKE2, commit ed1974ea), testvectors/blake2s-kat.txt:
    // key = 00..1f (32 bytes), input = bytes 00..(n-1), 32-byte digest.
    public static readonly (int Length, string Digest)[] Keyed =
    [
        (0, "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49"),
        (1, "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1"),
        (2, "6bb71300644cd3991b26ccd4d274acd1adeab8b1d7914546c1198bbe9fc9d803"),
        (31, "b6156f72d380ee9ea6acd190464f2307a5c179ef01fd71f99f2d0f7a57360aea"),
        (32, "c03bc642b20959cbe133a0303e0c1abff3e31ec8e1a328ec8565c36decff5265"),
        (33, "2c3e08176f760c6264c3a2cd66fec6c3d78de43fc192457b2a4a660a1e0eb22b"),
        (63, "c65382513f07460da39833cb666c5ed82e61b9e998f4b0c4287cee56c3cc9bcd"),
        (64, "8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4"),
        (65, "21fe0ceb0052be7fb0f004187cacd7de67fa6eb0938d927677f2398c132317a8"),
        (127, "ddbfea75cc467882eb3483ce5e2e756a4f4701b76b445519e89f22d60fa86e06"),
        (128, "0c311f38c35a4fb90d651c289d486856cd1413df9b0677f53ece2cd9e477c60a"),
        (129, "46a73a8dd3e70f59d3942c01df599def783c9da82fd83222cd662b53dce7dbdf"),
        (192, "5950d39a23e1545f301270aa1a12f2e6c453776e4d6355de425cc153f9818867"),
        (255, "3fb735061abc519dfe979e54c1ee5bfad0a9d858b3315bad34bde999efd724dd"),
    ];

    // Truncated digests (the length is part of the parameter block, so these are not prefixes of the
    // 32-byte digests). Computed with CPython 3.11 hashlib.blake2s, which wraps the BLAKE2 reference C code:
    //   blake2s(b"abc", digest_size=16)                      and
    //   blake2s(b"abc", digest_size=16, key=bytes(range(16))) (WireGuard's MAC shape: 16-byte key and output).
    public const string Abc16Digest = "aa4938119b1dc7b87cbad0ffd200d0ae";
    public const string AbcKey16Mac16 = "75296c2d2c0f51210b383f386bc8b1ff";

    // HMAC-BLAKE2s-256 computed with CPython 3.11: hmac.new(key, msg, hashlib.blake2s).hexdigest().
    public const string FoxMessage = "The quick brown fox jumps over the lazy dog";
    public const string HmacShortKeyFox = "f93215bb90d4af4c3061cd932fb169fb8bb8a91d0b4022baea1271e1323cd9a0";   // key = "key"
    public const string HmacLongKeyFox = "62bc55ee982e83e9f80ff756c037bac835c4201c91817685b52396da1482a6e4";    // key = 00..63 (100 bytes, hashed first)
    public const string HmacEmptyKeyEmpty = "eaf4bb25938f4d20e72656bbbc7a9bf63c0c18537333c35bdb67db1402661acd"; // key = "", msg = ""

    // wireguard-go device/kdf_test.go (TestKDF): hex key, hex input -> t0, t1, t2 of KDF3
    // (KDF2 and KDF1 are checked against the same t0/t1 there).
    public static readonly (string Key, string Input, string T1, string T2, string T3)[] WireGuardKdf =
    [
        ("746573742d6b6579", "746573742d696e707574",
            "6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633",
            "df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a",
            "fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24"),
        ("776972656775617264", "776972656775617264",
            "491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8",
            "1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f",
            "31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160"),
        ("", "",
            "8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0",
            "58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e",
            "0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e"),
    ];

    // WireGuard's Noise constants (whitepaper §5.4.2; the same bytes are boringtun
    // noise/handshake.rs INITIAL_CHAIN_KEY / INITIAL_CHAIN_HASH, written in decimal there).
    public const string Construction = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
    public const string Identifier = "WireGuard v1 zx2c4 Jason@zx2c4.com";
    public const string InitialChainKey = "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36"; // Ci = HASH(Construction)
    public const string InitialHash = "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3";     // Hi = HASH(Ci || Identifier)

    /// <summary>Bytes 00, 01, ..., (n-1) mod 256, the input pattern of the BLAKE2 KAT files.</summary>
    public static byte[] Sequential(int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)i;
        }

        return bytes;
    }
}
