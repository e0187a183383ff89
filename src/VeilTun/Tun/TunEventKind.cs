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

    /// <summary>
    /// The way the device follows its interface changed (it moved to another network namespace, or came back):
    /// <see cref="TunEvent.Detail"/> says how. Every other kind is still reported.
    /// </summary>
    Watching,

    /// <summary>
    /// As <see cref="Watching"/>, but degraded: the interface's namespace is out of reach and only its deletion (and
    /// a link that is up) can be seen, not link down or MTU changes. <see cref="TunEvent.Detail"/> says why.
    /// </summary>
    WatchDegraded,
}
