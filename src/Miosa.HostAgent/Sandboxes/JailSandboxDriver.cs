using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Miosa.HostAgent.Sandboxes;

/// <summary>
/// Sandboxes as bubblewrap jails: new user, pid, mount, net, ipc, uts and cgroup namespaces; a
/// read-only view of the host's system root; a writable <c>/workspace</c>; private <c>/tmp</c>;
/// no network but loopback (or, with <see cref="SandboxSpec.AllowInternet"/>, filtered user-mode NAT:
/// <see cref="SandboxEgress"/>); cgroup limits. miosa-init runs as PID 1 and serves the data plane on a unix
/// socket that only the host can reach.
/// </summary>
/// <remarks>
/// Host layout per sandbox, under the root directory:
/// <c>&lt;id&gt;/</c> (root:gid 0710), <c>workspace/</c> (the sandbox's uid, 0700), <c>run/agent.sock</c>
/// (root only, never mounted into the sandbox), <c>uid</c> (the sandbox's host uid, so files keep
/// their owner across restarts). Shared by all: <c>.agent/miosa-init</c> and <c>.agent/etc/</c>
/// (the generated passwd, group, hosts and hostname).
/// </remarks>
public sealed partial class JailSandboxDriver : ISandboxDriver, IAsyncDisposable
{
    /// <summary>The user's uid and gid inside every sandbox.</summary>
    public const int SandboxUserId = 1000;

    private const string AgentPathInside = "/run/miosa/init";
    private const int SocketPathLimit = 107;

    private readonly string _root;
    private readonly JailSandboxOptions _options;
    private readonly ILogger _logger;
    private readonly string _bwrap;
    private readonly string _launcher;
    private readonly string _agent;
    private readonly string _etc;
    private readonly ConcurrentDictionary<string, Instance> _running = new();
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new();
    private readonly ConcurrentDictionary<string, bool> _suspended = new();
    private readonly HashSet<int> _uids = [];
    private readonly Lock _uidLock = new();

    /// <param name="rootDirectory">Holds one directory per sandbox (e.g. <c>&lt;data dir&gt;/sandboxes</c>);
    /// it and its parents must be traversable (o+x) because bwrap runs as the sandbox's uid.</param>
    public JailSandboxDriver(string rootDirectory, JailSandboxOptions? options = null, ILogger<JailSandboxDriver>? logger = null)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Jail sandboxes need Linux.");
        }

        _options = options ?? new JailSandboxOptions();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        if (_options.UidBase <= 0 || _options.UidCount <= 0)
        {
            throw new ArgumentException("UidBase and UidCount must be positive.", nameof(options));
        }

        _root = Path.GetFullPath(rootDirectory);
        Directory.CreateDirectory(_root, DirectoryMode);
        File.SetUnixFileMode(_root, DirectoryMode);
        CheckTraversable(_root);

        var native = _options.NativeDirectory ?? Path.Combine(AppContext.BaseDirectory, "native");
        _launcher = RequireFile(Path.Combine(native, "miosa-launch"));
        _bwrap = FindProgram(_options.Bwrap);
        _agent = InstallAgent(RequireFile(Path.Combine(native, "miosa-init")));
        _etc = WriteEtc();
        Cgroups = _options.Cgroups ?? SandboxCgroups.Detect(_options.CgroupParent);
        RecoverSandboxes();
    }

    /// <summary>Raised (with the sandbox id) when a sandbox's processes end without a stop or destroy.</summary>
    public event Action<string>? Exited;

    public string Name => "jail";

    public ISandboxCgroups Cgroups { get; }

    public string RootDirectory => _root;

    /// <summary>0711: sandbox uids pass through, nobody lists sandbox ids.</summary>
    private static UnixFileMode DirectoryMode =>
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    /// <summary>The host directory mounted as the sandbox's <c>/workspace</c> (for host-side tools such as publish).</summary>
    public string WorkspacePath(string sandboxId) => Path.Combine(SandboxDirectory(sandboxId), "workspace");

    public async Task<RunningSandbox> StartAsync(SandboxSpec spec, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var id = ValidId(spec.SandboxId);
        var environment = SandboxEnvironment(spec);
        if (spec.Limits.MemoryMb <= 0 || spec.Limits.Pids <= 0 || spec.Limits.Cpu < 0)
        {
            throw new ArgumentException("Sandbox limits must be positive.", nameof(spec));
        }

        var gate = Gate(id);
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_running.TryGetValue(id, out var existing))
            {
                if (!existing.Process.HasExited)
                {
                    return existing.Sandbox;
                }

                _running.TryRemove(new KeyValuePair<string, Instance>(id, existing));
                await TerminateAsync(existing).ConfigureAwait(false);
            }

            var stopwatch = Stopwatch.StartNew();
            var uid = PrepareDirectories(id, spec);
            var startedAt = DateTimeOffset.UtcNow;
            var cgroup = await Cgroups.CreateAsync(id, spec.Limits, ct).ConfigureAwait(false);
            Instance instance;
            try
            {
                instance = await LaunchAsync(id, uid, environment, spec.Limits, cgroup, spec.AllowInternet, spec.Template.SystemRoot, ct).ConfigureAwait(false);
                instance = instance with { Sandbox = instance.Sandbox with { StartedAt = startedAt } };
            }
            catch
            {
                await cgroup.DestroyAsync(CancellationToken.None).ConfigureAwait(false);
                throw;
            }

            _running[id] = instance;
            _ = WatchAsync(instance);
            LogStarted(id, uid, instance.Process.Id, stopwatch.Elapsed.TotalMilliseconds);
            return instance.Sandbox;
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task StopAsync(string sandboxId, CancellationToken ct)
    {
        var id = ValidId(sandboxId);
        var gate = Gate(id);
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await StopLockedAsync(id).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    public async Task DestroyAsync(string sandboxId, CancellationToken ct)
    {
        var id = ValidId(sandboxId);
        var gate = Gate(id);
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await StopLockedAsync(id).ConfigureAwait(false);
            var directory = SandboxDirectory(id);
            var uid = ReadUid(directory);
            if (Directory.Exists(directory))
            {
                // The workspace first: on the volume a subvolume goes at once, whatever it holds.
                DeleteWorkspaces(directory);
                // Recursive delete removes symlinks themselves, never what they point to.
                Directory.Delete(directory, recursive: true);
            }

            if (uid is { } owned)
            {
                lock (_uidLock)
                {
                    _uids.Remove(owned);
                }
            }
        }
        finally
        {
            gate.Release();
        }
    }

    public RunningSandbox? Find(string sandboxId) =>
        _running.TryGetValue(sandboxId, out var instance) && !instance.Process.HasExited ? instance.Sandbox : null;

    public SandboxUsage? ReadUsage(string sandboxId)
    {
        if (!_running.TryGetValue(sandboxId, out var instance))
        {
            return null;
        }

        try
        {
            return instance.Cgroup.ReadUsage();
        }
        catch (IOException)
        {
            return null;
        }
    }

    public IReadOnlyList<RunningSandbox> Running =>
        _running.Values.Where(i => !i.Process.HasExited).Select(i => i.Sandbox).ToList();

    public long? MeasureWorkspace(string sandboxId)
    {
        var workspace = WorkspacePath(ValidId(sandboxId));
        if (!Directory.Exists(workspace))
        {
            return null;
        }

        // Symlinks are skipped, never followed: a link to / must not count the host's disk.
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            IgnoreInaccessible = true,
            AttributesToSkip = FileAttributes.ReparsePoint,
        };
        try
        {
            return new DirectoryInfo(workspace).EnumerateFiles("*", options).Sum(f => f.Length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The sandbox was destroyed or is rewriting its tree: measured again next time.
            return null;
        }
    }

    /// <summary>Freezes every process of a running sandbox (cgroup freezer); false if it is not running here.</summary>
    public bool Suspend(string sandboxId)
    {
        // The gate: a snapshot or fork freezes and thaws the sandbox itself meanwhile.
        var gate = Gate(ValidId(sandboxId));
        gate.Wait();
        try
        {
            if (!_running.TryGetValue(sandboxId, out var instance) || instance.Process.HasExited || !instance.Cgroup.Freeze())
            {
                return false;
            }

            // FREEZING until every task stopped: "suspended" is answered only once nothing runs.
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (!instance.Cgroup.IsFrozen() && waited.Elapsed < FreezeTimeout)
            {
                Thread.Sleep(1);
            }

            _suspended[sandboxId] = true;
            return true;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Thaws a suspended sandbox; false if it is not running here.</summary>
    public bool Resume(string sandboxId)
    {
        var gate = Gate(ValidId(sandboxId));
        gate.Wait();
        try
        {
            if (!_running.TryGetValue(sandboxId, out var instance) || instance.Process.HasExited)
            {
                return false;
            }

            instance.Cgroup.Thaw();
            _suspended.TryRemove(sandboxId, out _);
            return true;
        }
        finally
        {
            gate.Release();
        }
    }

    public bool IsSuspended(string sandboxId) => _suspended.ContainsKey(sandboxId) && _running.ContainsKey(sandboxId);

    /// <summary>Stops every running sandbox (workspaces stay).</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var id in _running.Keys.ToList())
        {
            await StopAsync(id, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task StopLockedAsync(string id)
    {
        _suspended.TryRemove(id, out _);
        if (_running.TryRemove(id, out var instance))
        {
            await TerminateAsync(instance).ConfigureAwait(false);
        }
        else if (Cgroups.Open(id) is { } stale)
        {
            await stale.DestroyAsync(CancellationToken.None).ConfigureAwait(false);
        }

        var socket = Path.Combine(SandboxDirectory(id), "run", "agent.sock");
        if (File.Exists(socket))
        {
            File.Delete(socket);
        }
    }

    private static async Task TerminateAsync(Instance instance)
    {
        if (instance.Egress is { } egress)
        {
            await egress.DisposeAsync().ConfigureAwait(false);
        }

        // Killing bwrap takes PID 1 with it (--die-with-parent), and with PID 1 the whole pid
        // namespace; the cgroup sweep catches anything in between and removes the cgroup.
        try
        {
            instance.Process.Kill();
        }
        catch (InvalidOperationException)
        {
        }

        await instance.Cgroup.DestroyAsync(CancellationToken.None).ConfigureAwait(false);
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await instance.Process.WaitForExitAsync(wait.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        instance.Process.Dispose();
    }

    private async Task WatchAsync(Instance instance)
    {
        await instance.Process.WaitForExitAsync().ConfigureAwait(false);
        var gate = Gate(instance.Sandbox.SandboxId);
        await gate.WaitAsync().ConfigureAwait(false);
        try
        {
            // Only a sandbox that is still registered ended on its own; stops unregister first.
            if (!_running.TryRemove(new KeyValuePair<string, Instance>(instance.Sandbox.SandboxId, instance)))
            {
                return;
            }

            LogExited(instance.Sandbox.SandboxId, instance.Process.ExitCode, instance.Stderr.Text);
            await TerminateAsync(instance).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogCleanupFailed(e, instance.Sandbox.SandboxId);
        }
        finally
        {
            gate.Release();
        }

        try
        {
            Exited?.Invoke(instance.Sandbox.SandboxId);
        }
        catch (Exception e)
        {
            LogCleanupFailed(e, instance.Sandbox.SandboxId);
        }
    }

    private async Task<Instance> LaunchAsync(string id, int uid, IReadOnlyList<KeyValuePair<string, string>> environment, SandboxLimits limits, ISandboxCgroup cgroup, bool allowInternet,
        string systemRoot, CancellationToken ct)
    {
        var directory = SandboxDirectory(id);
        var socket = Path.Combine(directory, "run", "agent.sock");
        if (Encoding.UTF8.GetByteCount(socket) > SocketPathLimit)
        {
            throw new InvalidOperationException($"The agent socket path {socket} is longer than a unix socket allows ({SocketPathLimit} bytes): use a shorter sandbox root.");
        }

        var start = new ProcessStartInfo(_launcher)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment.Clear();
        foreach (var procs in cgroup.ProcsFiles)
        {
            start.ArgumentList.Add("--cgroup");
            start.ArgumentList.Add(procs);
        }

        // The agent must outlive any OOM in its sandbox; -999 (not -1000) keeps the kernel able to
        // pick it as a last resort and keeps user processes from making themselves unkillable.
        var uidText = uid.ToString(CultureInfo.InvariantCulture);
        if (allowInternet)
        {
            // Egress (SandboxEgress): a network namespace of root's with its filter loaded, kept by bwrap.
            foreach (var arg in SandboxEgress.LauncherArguments(_options, Path.Combine(directory, "run")))
            {
                start.ArgumentList.Add(arg);
            }
        }

        foreach (var arg in (string[])["--oom-score-adj", "-999", "--socket", socket, "--uid", uidText, "--gid", uidText, "--", _bwrap])
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var arg in BwrapArguments(id, directory, environment, limits, allowInternet ? SandboxEgress.BwrapArguments(_etc, systemRoot) : [], systemRoot))
        {
            start.ArgumentList.Add(arg);
        }

        var process = await SandboxSpawner.StartAsync(start).ConfigureAwait(false);
        var stderr = new OutputTail(process.StandardError.BaseStream);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(_options.StartTimeout);
            var ready = new byte[1];
            var read = await process.StandardOutput.BaseStream.ReadAsync(ready, timeout.Token).ConfigureAwait(false);
            if (read == 0)
            {
                throw await FailureAsync(id, process, stderr).ConfigureAwait(false);
            }

            try
            {
                // Connections queue on the listening socket until the agent accepts: no polling.
                await new SandboxAgentClient(socket).PingAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (SandboxAgentException)
            {
                throw await FailureAsync(id, process, stderr).ConfigureAwait(false);
            }

            var egress = allowInternet
                ? await SandboxEgress.StartAsync(_options, id, process.Id, cgroup.ProcsFiles, _logger, timeout.Token).ConfigureAwait(false)
                : null;
            return new Instance(new RunningSandbox(id, socket, process.Id), process, cgroup, stderr) { Egress = egress };
        }
        catch
        {
            try
            {
                process.Kill();
            }
            catch (InvalidOperationException)
            {
            }

            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            process.Dispose();
            throw;
        }
    }

    private static async Task<Exception> FailureAsync(string id, Process process, OutputTail stderr)
    {
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await process.WaitForExitAsync(wait.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await stderr.Completion.WaitAsync(wait.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var exit = process.HasExited ? $"exit code {process.ExitCode}" : "no answer";
        return new SandboxStartException(id, $"{exit}: {stderr.Text.Trim()}");
    }

    /// <param name="systemRoot">The template's system root ("/": the host's), mounted read-only as the sandbox's /usr, /bin, /lib... and /etc.</param>
    private List<string> BwrapArguments(string id, string directory, IReadOnlyList<KeyValuePair<string, string>> environment, SandboxLimits limits, IReadOnlyList<string> network,
        string systemRoot)
    {
        string Host(string path) => systemRoot == "/" ? path : Path.Join(systemRoot, path);
        // tmpfs pages count against the memory cgroup; half of it as the size makes a full /tmp
        // answer ENOSPC to the writer before the cgroup's OOM killer picks some process.
        var tmpfsSize = ((long)limits.MemoryMb * 1024 * 1024 / 2).ToString(CultureInfo.InvariantCulture);
        var args = new List<string>
        {
            "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--as-pid-1",
            "--uid", "1000", "--gid", "1000", "--cap-drop", "ALL", "--disable-userns",
            "--ro-bind", Host("/usr"), "/usr",
        };

        // Merged-/usr hosts have these as symlinks into /usr: recreate the links, bind real dirs.
        foreach (var top in (string[])["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"])
        {
            var info = new DirectoryInfo(Host(top));
            if (info.LinkTarget is { } target)
            {
                args.AddRange(["--symlink", target, top]);
            }
            else if (info.Exists)
            {
                args.AddRange(["--ro-bind", Host(top), top]);
            }
        }

        args.AddRange(["--ro-bind", Host("/etc"), "/etc"]);
        foreach (var file in GeneratedEtcFiles)
        {
            // Only over files the root has: a new file cannot be created inside the read-only /etc.
            if (File.Exists(Path.Combine(Host("/etc"), file)))
            {
                args.AddRange(["--ro-bind", Path.Combine(_etc, file), "/etc/" + file]);
            }
        }

        args.AddRange([
            "--proc", "/proc", "--dev", "/dev", "--size", tmpfsSize, "--tmpfs", "/tmp", "--dir", "/var", "--symlink", "../tmp", "/var/tmp",
            "--size", tmpfsSize, "--tmpfs", "/run", "--ro-bind", _agent, AgentPathInside,
            "--bind", Path.Combine(directory, "workspace"), "/workspace",
            "--chdir", "/workspace", "--hostname", HostName, "--clearenv",
        ]);
        foreach (var (key, value) in environment)
        {
            args.AddRange(["--setenv", key, value]);
        }

        args.AddRange(network);
        args.AddRange(["--remount-ro", "/", AgentPathInside]);
        return args;
    }

    private static readonly string[] GeneratedEtcFiles = ["passwd", "group", "hosts", "hostname"];

    /// <summary>Every sandbox's host name: the same for all, so /etc needs no per-sandbox files.</summary>
    public const string HostName = "sandbox";

    /// <summary>passwd, group, hosts and hostname as every sandbox sees them (written once per driver).</summary>
    private string WriteEtc()
    {
        var etc = Path.Combine(_root, ".agent", "etc");
        Directory.CreateDirectory(etc);
        void Write(string name, string content)
        {
            // Beside and renamed: sandboxes of a previous run may still have the old file mounted.
            var temporary = Path.Combine(etc, name + ".new");
            File.WriteAllText(temporary, content);
            File.Move(temporary, Path.Combine(etc, name), overwrite: true);
        }

        Write("passwd", "root:x:0:0:root:/root:/usr/sbin/nologin\nuser:x:1000:1000:user:/workspace:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
        Write("group", "root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n");
        Write("hosts", $"127.0.0.1\tlocalhost {HostName}\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        Write("hostname", HostName + "\n");
        return etc;
    }

    private List<KeyValuePair<string, string>> SandboxEnvironment(SandboxSpec spec)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = _options.Path,
            ["HOME"] = "/workspace",
            ["USER"] = "user",
            ["LOGNAME"] = "user",
            ["SHELL"] = File.Exists("/bin/bash") ? "/bin/bash" : "/bin/sh",
            ["LANG"] = "C.UTF-8",
        };
        foreach (var source in new[] { spec.Template.Env, spec.Env })
        {
            foreach (var (key, value) in source)
            {
                if (!EnvironmentName().IsMatch(key) || value.Contains('\0'))
                {
                    throw new ArgumentException($"Invalid environment variable '{key}'.", nameof(spec));
                }

                env[key] = value;
            }
        }

        return env.ToList();
    }

    /// <summary>Creates (or reuses) the sandbox's directories and returns its host uid.</summary>
    private int PrepareDirectories(string id, SandboxSpec spec)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Jail sandboxes need Linux.");
        }

        var directory = SandboxDirectory(id);
        var uid = ReadUid(directory);
        if (uid is null)
        {
            uid = AllocateUid();
            Directory.CreateDirectory(directory);
            File.WriteAllText(Path.Combine(directory, "uid"), uid.Value.ToString(CultureInfo.InvariantCulture) + "\n");
        }

        // root:<sandbox gid> 0710: only this sandbox's bwrap may pass into its directory.
        HostSyscalls.Chown(directory, 0, uid.Value);
        File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute);

        // Empty, from a snapshot or a fork's source; then capped at disk_mb (JailSandboxDriver.Workspaces.cs).
        PrepareWorkspace(Path.Combine(directory, "workspace"), uid.Value, spec);

        Directory.CreateDirectory(Path.Combine(directory, "run"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return uid.Value;
    }

    private int? ReadUid(string directory)
    {
        var file = Path.Combine(directory, "uid");
        return File.Exists(file) && int.TryParse(File.ReadAllText(file).Trim(), CultureInfo.InvariantCulture, out var uid) && uid > 0 ? uid : null;
    }

    private int AllocateUid()
    {
        lock (_uidLock)
        {
            for (var i = 0; i < _options.UidCount; i++)
            {
                var uid = _options.UidBase + i;
                if (_options.UidCount == 1 || _uids.Add(uid))
                {
                    return uid;
                }
            }
        }

        throw new InvalidOperationException($"All {_options.UidCount} sandbox uids from {_options.UidBase} are in use.");
    }

    /// <summary>
    /// After a restart (even a kill -9): sandboxes died with us (--die-with-parent), but their
    /// cgroups stay; remove them and remember which uids belong to which workspaces. Only this
    /// root's sandboxes are killed: other nodes may share the host and the cgroup parent.
    /// </summary>
    private void RecoverSandboxes()
    {
        foreach (var directory in Directory.EnumerateDirectories(_root))
        {
            var id = Path.GetFileName(directory);
            if (!SandboxId().IsMatch(id))
            {
                continue;
            }

            if (ReadUid(directory) is { } uid)
            {
                lock (_uidLock)
                {
                    _uids.Add(uid);
                }
            }

            try
            {
                Cgroups.Open(id)?.DestroyAsync(CancellationToken.None).GetAwaiter().GetResult();
            }
            catch (IOException e)
            {
                LogCleanupFailed(e, id);
            }
        }

        // Cgroups of sandboxes whose directories are gone (a deleted data dir, another node).
        Cgroups.RemoveAbandoned(TimeSpan.FromMinutes(1));
    }

    private string InstallAgent(string source)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Jail sandboxes need Linux.");
        }

        // A copy under the root: the build output may sit where sandbox uids cannot pass (/root).
        var directory = Path.Combine(_root, ".agent");
        Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, DirectoryMode | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var target = Path.Combine(directory, "miosa-init");
        var temporary = target + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        File.Copy(source, temporary, overwrite: true);
        File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.Move(temporary, target, overwrite: true);
        return target;
    }

    private static void CheckTraversable(string root)
    {
        for (var directory = new DirectoryInfo(root); directory is not null; directory = directory.Parent)
        {
            if ((directory.UnixFileMode & UnixFileMode.OtherExecute) == 0)
            {
                throw new InvalidOperationException(
                    $"Sandboxes cannot reach {root}: {directory.FullName} is not traversable by other users (chmod o+x it, or put the data directory elsewhere).");
            }
        }
    }

    private static string RequireFile(string path) =>
        File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: build Miosa.HostAgent (it compiles the native sandbox programs with gcc).", path);

    private static string FindProgram(string name)
    {
        if (name.Contains('/'))
        {
            return RequireFile(Path.GetFullPath(name));
        }

        var found = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
        return found ?? throw new FileNotFoundException($"{name} is not installed (Debian package bubblewrap).", name);
    }

    private string SandboxDirectory(string id) => Path.Combine(_root, id);

    private SemaphoreSlim Gate(string id) => _gates.GetOrAdd(id, _ => new SemaphoreSlim(1, 1));

    private static string ValidId(string id) =>
        SandboxId().IsMatch(id) ? id : throw new ArgumentException($"Invalid sandbox id '{id}'.", nameof(id));

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,62}$")]
    private static partial Regex SandboxId();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvironmentName();

    [LoggerMessage(Level = LogLevel.Information, Message = "Sandbox {SandboxId} started as uid {Uid}, pid {Pid}, in {Milliseconds:F1} ms")]
    private partial void LogStarted(string sandboxId, int uid, int pid, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sandbox {SandboxId} exited on its own with code {ExitCode}: {Stderr}")]
    private partial void LogExited(string sandboxId, int exitCode, string stderr);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cleaning up sandbox {SandboxId} failed")]
    private partial void LogCleanupFailed(Exception exception, string sandboxId);

    private sealed record Instance(RunningSandbox Sandbox, Process Process, ISandboxCgroup Cgroup, OutputTail Stderr)
    {
        /// <summary>slirp4netns of a sandbox with internet access.</summary>
        public SandboxEgress? Egress { get; init; }
    }
}

/// <summary>A sandbox did not come up; the message carries bwrap's own words.</summary>
public sealed class SandboxStartException(string sandboxId, string message)
    : Exception($"Sandbox {sandboxId} failed to start: {message}")
{
    public string SandboxId { get; } = sandboxId;
}

/// <summary>Keeps the last few KiB a process writes (its error output), however much that is.</summary>
internal sealed class OutputTail
{
    private const int Keep = 4096;
    private readonly Lock _lock = new();
    private readonly byte[] _tail = new byte[Keep];
    private int _length;

    public OutputTail(Stream stream) => Completion = DrainAsync(stream);

    public Task Completion { get; }

    public string Text
    {
        get
        {
            lock (_lock)
            {
                return Encoding.UTF8.GetString(_tail, 0, _length);
            }
        }
    }

    private async Task DrainAsync(Stream stream)
    {
        var buffer = new byte[Keep];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                lock (_lock)
                {
                    var keepOld = Math.Min(_length, Keep - read);
                    if (keepOld < _length)
                    {
                        Buffer.BlockCopy(_tail, _length - keepOld, _tail, 0, keepOld);
                    }

                    Buffer.BlockCopy(buffer, 0, _tail, keepOld, read);
                    _length = keepOld + read;
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
    }
}
