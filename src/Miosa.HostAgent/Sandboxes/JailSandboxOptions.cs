namespace Miosa.HostAgent.Sandboxes;

public sealed record JailSandboxOptions
{
    /// <summary>bubblewrap: a path, or a name looked up on PATH.</summary>
    public string Bwrap { get; init; } = "bwrap";

    /// <summary>Where miosa-init and miosa-launch are; default <c>native/</c> beside this assembly.</summary>
    public string? NativeDirectory { get; init; }

    /// <summary>cgroup path (below each hierarchy's root) that holds one cgroup per sandbox.</summary>
    public string CgroupParent { get; init; } = "miosa";

    /// <summary>The cgroups to use; default <see cref="SandboxCgroups.Detect"/> with <see cref="CgroupParent"/>.</summary>
    public ISandboxCgroups? Cgroups { get; init; }

    /// <summary>
    /// Host uids (and gids) of sandboxes: each sandbox gets its own from
    /// [<see cref="UidBase"/>, <see cref="UidBase"/> + <see cref="UidCount"/>). Keep the range out of
    /// /etc/subuid delegations and real users. <see cref="UidCount"/> = 1 shares one uid.
    /// </summary>
    public int UidBase { get; init; } = 100_000;

    public int UidCount { get; init; } = 65_536;

    /// <summary>How long a sandbox may take to answer its first ping.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Where workspaces and snapshots live (the driver's root must be its <see cref="Storage.IWorkspaceStorage.SandboxesDirectory"/>);
    /// default plain directories under the root, with no disk limit.
    /// </summary>
    public Storage.IWorkspaceStorage? Storage { get; init; }

    /// <summary>PATH inside sandboxes (templates may override it).</summary>
    public string Path { get; init; } = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>slirp4netns, the user-mode NAT of sandboxes with internet access: a path, or a name looked up on PATH.</summary>
    public string Slirp4netns { get; init; } = "slirp4netns";

    /// <summary>nft, which loads the egress filter of sandboxes with internet access: a path, or a name on PATH (or /usr/sbin).</summary>
    public string Nft { get; init; } = "nft";

    /// <summary>
    /// The network namespace slirp4netns connects out from (a path such as <c>/run/netns/NAME</c>);
    /// default: the host's. A test and operator hook: tests point it at a namespace of their own, so
    /// no packet of a sandbox ever leaves it; an operator may give sandbox egress a namespace with
    /// its own routes and firewall. The sandbox's own filter applies either way.
    /// </summary>
    public string? EgressNetworkNamespace { get; init; }
}
