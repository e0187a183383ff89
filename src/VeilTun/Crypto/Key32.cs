using System.Runtime.CompilerServices;

namespace VeilTun.Crypto;

/// <summary>32 bytes stored inline, so keys live inside their owner with no extra allocation.</summary>
[InlineArray(32)]
internal struct Key32
{
    private byte _element0;
}
