using System.Diagnostics;
using System.Globalization;
using System.IO.Pipes;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Miosa.HostAgent.Sandboxes;

/// <summary>
/// Outbound network for one sandbox with <c>allow_internet</c>: user-mode NAT by slirp4netns
/// attached from the host to the sandbox's network namespace, supervised for the sandbox's life.
/// </summary>
/// <remarks>
/// <para>
/// The namespace is made by miosa-launch as root (<see cref="LauncherArguments"/>), owned by the
/// host's user namespace, with <see cref="Ruleset"/> loaded by nft before anything of the sandbox
/// runs; bwrap keeps it (<c>--share-net</c>). Only the host's root can change that filter: the
/// sandbox's processes live in a user namespace of their own, with no capabilities in the host's.
/// The filter rejects, on everything but loopback, IPv6 and the IPv4 ranges of
/// <see cref="BlockedNetworks"/> (the host's loopback, private, link-local and shared ranges,
/// multicast and reserved ones) and this node's own addresses, except slirp's DNS forwarder
/// (<see cref="DnsAddress"/> port 53). slirp4netns runs with <c>--disable-host-loopback</c> (its
/// gateway 10.0.2.2 never reaches the host's 127.0.0.1), <c>--enable-sandbox</c> and
/// <c>--enable-seccomp</c>.
/// </para>
/// <para>
/// slirp4netns runs in the host's network namespace, or in
/// <see cref="JailSandboxOptions.EgressNetworkNamespace"/>, joins the sandbox's cgroups (its CPU and
/// memory count as the sandbox's and its freezer suspends it too), dies with this process
/// (<c>setpriv --pdeathsig KILL</c>) and is started again when it exits while the sandbox runs.
/// It finds the sandbox's namespace through a handle this process holds open, never by a pid
/// that could be reused.
/// </para>
/// </remarks>
internal sealed partial class SandboxEgress : IAsyncDisposable
{
    /// <summary>The interface slirp4netns creates in the sandbox.</summary>
    public const string TapName = "tap0";

    /// <summary>slirp4netns's DNS forwarder (its default network 10.0.2.0/24).</summary>
    public const string DnsAddress = "10.0.2.3";

    /// <summary>The sandbox's own address on <see cref="TapName"/>.</summary>
    public const string GuestAddress = "10.0.2.100";

    private const int Mtu = 65520;
    private static readonly TimeSpan MinBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    /// <summary>IPv4 destinations a sandbox never reaches (besides this node's own addresses).</summary>
    public static readonly IReadOnlyList<IPNetwork> BlockedNetworks =
    [
        IPNetwork.Parse("0.0.0.0/8"),
        IPNetwork.Parse("10.0.0.0/8"),
        IPNetwork.Parse("100.64.0.0/10"),
        IPNetwork.Parse("127.0.0.0/8"),
        IPNetwork.Parse("169.254.0.0/16"),
        IPNetwork.Parse("172.16.0.0/12"),
        IPNetwork.Parse("192.168.0.0/16"),
        IPNetwork.Parse("224.0.0.0/4"),
        IPNetwork.Parse("240.0.0.0/4"),
    ];

    private readonly Programs _programs;
    private readonly string _sandboxId;
    private readonly SafeFileHandle _netns;
    private readonly string _netnsPath;
    private readonly IReadOnlyList<string> _cgroupProcs;
    private readonly string? _egressNetns;
    private readonly TimeSpan _startTimeout;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private Slirp? _slirp;
    private Task _supervision = Task.CompletedTask;
    private int _restarts;

    private SandboxEgress(Programs programs, string sandboxId, SafeFileHandle netns, IReadOnlyList<string> cgroupProcs, JailSandboxOptions options, ILogger logger)
    {
        _programs = programs;
        _sandboxId = sandboxId;
        _netns = netns;
        _netnsPath = $"/proc/{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}/fd/{netns.DangerousGetHandle().ToInt64().ToString(CultureInfo.InvariantCulture)}";
        _cgroupProcs = cgroupProcs;
        _egressNetns = options.EgressNetworkNamespace;
        _startTimeout = options.StartTimeout;
        _logger = logger;
    }

    /// <summary>The running slirp4netns's host pid (for tests and operators), or null between restarts.</summary>
    public int? SlirpPid => _slirp is { } slirp && !slirp.Process.HasExited ? slirp.Process.Id : null;

    /// <summary>How often slirp4netns was started again after it exited on its own.</summary>
    public int Restarts => Volatile.Read(ref _restarts);

    /// <summary>
    /// Before the launch: checks the programs and writes the sandbox's filter into its root-only
    /// <paramref name="runDirectory"/>. Returns the miosa-launch options that load it.
    /// </summary>
    public static IReadOnlyList<string> LauncherArguments(JailSandboxOptions options, string runDirectory)
    {
        var programs = Programs.Find(options);
        var rules = Path.Combine(runDirectory, "egress.nft");
        File.WriteAllText(rules, Ruleset(NodeAddresses()));
        return ["--nft", programs.Nft, "--netns-filter", rules];
    }

    /// <summary>
    /// bwrap options of a sandbox with internet access: keep the launcher's filtered namespace, and
    /// a resolv.conf naming slirp's DNS forwarder (the host's resolver is out of reach).
    /// </summary>
    /// <param name="etcDirectory">The driver's generated /etc files.</param>
    /// <param name="systemRoot">The template's system root ("/": the host's), whose /etc the sandbox sees.</param>
    public static IReadOnlyList<string> BwrapArguments(string etcDirectory, string systemRoot)
    {
        var resolvConf = Path.Combine(etcDirectory, "resolv.conf");
        var content = $"nameserver {DnsAddress}\n";
        if (!File.Exists(resolvConf) || File.ReadAllText(resolvConf) != content)
        {
            // Beside and renamed: running sandboxes may have the old file mounted.
            var temporary = resolvConf + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
            File.WriteAllText(temporary, content);
            File.Move(temporary, resolvConf, overwrite: true);
        }

        List<string> args = ["--share-net"];
        if (ResolvConfTarget(systemRoot) is { } target)
        {
            args.AddRange(["--ro-bind", resolvConf, target]);
        }

        return args;
    }

    /// <summary>
    /// Where the sandbox's resolver reads: /etc/resolv.conf, or where it links to (inside the
    /// sandbox). A target in /run or /tmp (private tmpfs in a sandbox, e.g. systemd-resolved's
    /// stub) is created there; elsewhere only over an existing file, since the sandbox's system
    /// root is read-only. Null: the sandbox keeps what its root has.
    /// </summary>
    private static string? ResolvConfTarget(string systemRoot)
    {
        const string path = "/etc/resolv.conf";
        string Host(string inside) => systemRoot == "/" ? inside : Path.Join(systemRoot, inside);
        var info = new FileInfo(Host(path));
        if (info.LinkTarget is not { } link)
        {
            return info.Exists ? path : null;
        }

        var target = Path.GetFullPath(link, "/etc");
        return target.StartsWith("/run/", StringComparison.Ordinal) || target.StartsWith("/tmp/", StringComparison.Ordinal) || File.Exists(Host(target))
            ? target
            : null;
    }

    /// <summary>
    /// Attaches slirp4netns to the network namespace of the sandbox whose host pid is
    /// <paramref name="sandboxPid"/> (miosa-launch, now bwrap) and returns once the sandbox's
    /// interface is configured.
    /// </summary>
    public static async Task<SandboxEgress> StartAsync(JailSandboxOptions options, string sandboxId, int sandboxPid, IReadOnlyList<string> cgroupProcs, ILogger logger, CancellationToken ct)
    {
        var programs = Programs.Find(options);
        var netns = File.OpenHandle($"/proc/{sandboxPid.ToString(CultureInfo.InvariantCulture)}/ns/net", FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var egress = new SandboxEgress(programs, sandboxId, netns, cgroupProcs, options, logger);
        try
        {
            // Never the host's own namespace (or the egress one): slirp would configure the host.
            var target = new FileInfo(egress._netnsPath).LinkTarget;
            if (target is null || target == new FileInfo("/proc/self/ns/net").LinkTarget
                || (options.EgressNetworkNamespace is { } outside && target == NamespaceOf(outside)))
            {
                throw new InvalidOperationException($"Sandbox {sandboxId} has no network namespace of its own (pid {sandboxPid} is in {target}).");
            }

            egress._slirp = await egress.LaunchAsync(ct).ConfigureAwait(false);
            egress._supervision = egress.SuperviseAsync();
            return egress;
        }
        catch
        {
            await egress.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Stops slirp4netns for good (the sandbox stops or is destroyed): SIGKILL, without waiting.
    /// A frozen one (cgroup v1) dies when the sandbox's cgroup sweep thaws it.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync().ConfigureAwait(false);
        }

        await _supervision.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_slirp is { } slirp)
        {
            _slirp = null;
            slirp.Abandon();
        }

        _netns.Dispose();
        _stop.Dispose();
    }

    /// <summary>The nftables ruleset loaded into a sandbox's network namespace.</summary>
    internal static string Ruleset(IEnumerable<IPAddress> nodeAddresses)
    {
        var own = nodeAddresses
            .Where(a => a.AddressFamily == AddressFamily.InterNetwork && !BlockedNetworks.Any(n => n.Contains(a)))
            .Distinct()
            .Select(a => a.ToString())
            .ToList();
        var reject = "reject with icmpx type admin-prohibited";
        var text = new StringBuilder();
        text.Append("# Miosa egress filter of one sandbox: loaded by miosa-launch as root; the sandbox cannot change it.\n");
        text.Append("table inet miosa_egress {\n");
        text.Append("  chain output {\n");
        text.Append("    type filter hook output priority filter; policy accept;\n");
        text.Append("    oif \"lo\" accept\n");
        text.Append("    # No IPv6 egress (slirp4netns runs without it); fc00::/7, fe80::/10 and ::1 with it.\n");
        text.Append(CultureInfo.InvariantCulture, $"    meta nfproto ipv6 {reject}\n");
        text.Append(CultureInfo.InvariantCulture, $"    ip daddr {DnsAddress} meta l4proto {{ tcp, udp }} th dport 53 accept\n");
        text.Append(CultureInfo.InvariantCulture, $"    ip daddr {{ {string.Join(", ", BlockedNetworks)} }} {reject}\n");
        if (own.Count > 0)
        {
            text.Append("    # This node's own addresses: its services bound to all interfaces.\n");
            text.Append(CultureInfo.InvariantCulture, $"    ip daddr {{ {string.Join(", ", own)} }} {reject}\n");
        }

        text.Append("  }\n");
        text.Append("  chain forward {\n");
        text.Append("    type filter hook forward priority filter; policy drop;\n");
        text.Append("  }\n");
        text.Append("}\n");
        return text.ToString();
    }

    /// <summary>This node's IPv4 addresses now (blocked for sandboxes with those of <see cref="BlockedNetworks"/>).</summary>
    internal static IReadOnlyList<IPAddress> NodeAddresses()
    {
        try
        {
            return NetworkInterface.GetAllNetworkInterfaces()
                .SelectMany(i => i.GetIPProperties().UnicastAddresses)
                .Select(a => a.Address)
                .Where(a => a.AddressFamily == AddressFamily.InterNetwork)
                .ToList();
        }
        catch (NetworkInformationException)
        {
            return [];
        }
    }

    private static string? NamespaceOf(string path)
    {
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return new FileInfo($"/proc/self/fd/{handle.DangerousGetHandle().ToInt64().ToString(CultureInfo.InvariantCulture)}").LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private async Task SuperviseAsync()
    {
        var backoff = MinBackoff;
        while (_slirp is { } slirp)
        {
            var started = Stopwatch.GetTimestamp();
            await slirp.Process.WaitForExitAsync(_stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (_stop.IsCancellationRequested)
            {
                return;
            }

            if (Stopwatch.GetElapsedTime(started) > 4 * MaxBackoff)
            {
                backoff = MinBackoff;
            }

            LogSlirpExited(_logger, _sandboxId, slirp.Process.ExitCode, slirp.Errors.Text.Trim());
            slirp.Process.Dispose();
            _slirp = null;
            while (_slirp is null)
            {
                await Task.Delay(backoff, _stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (_stop.IsCancellationRequested)
                {
                    return;
                }

                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
                try
                {
                    _slirp = await LaunchAsync(_stop.Token).ConfigureAwait(false);
                    Interlocked.Increment(ref _restarts);
                }
                catch (Exception e) when (!_stop.IsCancellationRequested)
                {
                    LogRestartFailed(_logger, e, _sandboxId);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task<Slirp> LaunchAsync(CancellationToken ct)
    {
        var start = new ProcessStartInfo(_programs.Setpriv)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment.Clear();
        using var ready = new AnonymousPipeServerStream(PipeDirection.In, HandleInheritability.Inheritable);
        var readyFd = ready.GetClientHandleAsString();
        // A private mount namespace of its own first: slirp4netns's --enable-sandbox makes only "/"
        // private before it pivots and detaches the old root, so in the host's mount namespace the
        // detach would propagate through shared mounts and unmount e.g. /run/netns/* on the host.
        List<string> args = ["--pdeathsig", "KILL", "--", _programs.Unshare, "--mount", "--propagation", "private", "--"];
        if (_egressNetns is { } outside)
        {
            args.AddRange([_programs.Nsenter, "--net=" + outside, "--"]);
        }

        args.AddRange([
            _programs.Slirp4netns, "--configure", "--mtu=" + Mtu.ToString(CultureInfo.InvariantCulture), "--disable-host-loopback",
            "--enable-sandbox", "--enable-seccomp", "--ready-fd=" + readyFd, "--netns-type=path", _netnsPath, TapName,
        ]);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // From the spawner's thread: --pdeathsig fires when the thread that started it ends.
        var process = await SandboxSpawner.StartAsync(start).ConfigureAwait(false);
        ready.DisposeLocalCopyOfClientHandle();
        var slirp = new Slirp(process, new OutputTail(process.StandardOutput.BaseStream), new OutputTail(process.StandardError.BaseStream));
        try
        {
            foreach (var procs in _cgroupProcs)
            {
                await File.WriteAllTextAsync(procs, process.Id.ToString(CultureInfo.InvariantCulture), ct).ConfigureAwait(false);
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_startTimeout);
            var signal = new byte[1];
            var read = ready.ReadAsync(signal, timeout.Token).AsTask();
            var exited = process.WaitForExitAsync(timeout.Token);
            await Task.WhenAny(read, exited).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            if (!read.IsCompletedSuccessfully || read.Result != 1)
            {
                var why = process.HasExited ? $"exit code {process.ExitCode.ToString(CultureInfo.InvariantCulture)}" : "no answer";
                await slirp.StopAsync().ConfigureAwait(false);
                throw new SandboxStartException(_sandboxId, $"slirp4netns did not configure the network ({why}): {slirp.Errors.Text.Trim()}");
            }

            return slirp;
        }
        catch
        {
            await slirp.KillAsync().ConfigureAwait(false);
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "slirp4netns of sandbox {SandboxId} exited with code {ExitCode}, starting it again: {Stderr}")]
    private static partial void LogSlirpExited(ILogger logger, string sandboxId, int exitCode, string stderr);

    [LoggerMessage(Level = LogLevel.Warning, Message = "slirp4netns of sandbox {SandboxId} could not start again")]
    private static partial void LogRestartFailed(ILogger logger, Exception exception, string sandboxId);

    private sealed record Slirp(Process Process, OutputTail Output, OutputTail Errors)
    {
        /// <summary>Kills it and waits until it and its output have ended.</summary>
        public async Task StopAsync()
        {
            try
            {
                Process.Kill();
            }
            catch (InvalidOperationException)
            {
            }

            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await Process.WaitForExitAsync(wait.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await Task.WhenAll(Output.Completion, Errors.Completion).WaitAsync(wait.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        public async Task KillAsync()
        {
            await StopAsync().ConfigureAwait(false);
            Process.Dispose();
        }

        /// <summary>Kills it and lets it go: its handle is released once it has exited.</summary>
        public void Abandon()
        {
            try
            {
                Process.Kill();
            }
            catch (InvalidOperationException)
            {
            }

            _ = Process.WaitForExitAsync().ContinueWith(_ => Process.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
    }

    /// <summary>The host programs egress needs, found when a sandbox with internet access starts.</summary>
    private sealed record Programs(string Slirp4netns, string Nft, string Setpriv, string Unshare, string Nsenter)
    {
        public static Programs Find(JailSandboxOptions options) => new(
            Find(options.Slirp4netns, "slirp4netns"),
            Find(options.Nft, "nftables"),
            Find("setpriv", "util-linux"),
            Find("unshare", "util-linux"),
            Find("nsenter", "util-linux"));

        private static string Find(string name, string package)
        {
            if (name.Contains('/'))
            {
                return File.Exists(name) ? Path.GetFullPath(name) : throw new FileNotFoundException($"{name} is missing (Debian package {package}).", name);
            }

            // nft lives in /usr/sbin, which a non-login PATH may lack.
            var path = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin:/usr/bin:/bin";
            return path.Split(':', StringSplitOptions.RemoveEmptyEntries)
                .Select(dir => Path.Combine(dir, name))
                .FirstOrDefault(File.Exists)
                ?? throw new FileNotFoundException($"{name} is not installed: sandboxes with internet access need it (Debian package {package}).", name);
        }
    }
}
