namespace VeilTun.Tun;

/// <summary>Kind of a <see cref="TunEvent"/>.</summary>
public enum TunEventKind
{
    /// <summary>The interface became administratively up and running (IFF_UP and IFF_RUNNING).</summary>
    Up,

    /// <summary>The interface stopped being up and running.</summary>
    Down,

    /// <summary>The interface MTU changed; <see cref="TunEvent.Mtu"/> holds the new value.</summary>
    MtuChanged,

    /// <summary>The interface was deleted; reads return 0 from now on and no further events follow.</summary>
    Deleted,
}
