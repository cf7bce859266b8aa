using System.Diagnostics;
using Miosa.HostAgent.Storage;

namespace Miosa.HostAgent.Sandboxes;

/// <summary>
/// Workspaces of jail sandboxes: created empty, from a snapshot or as a fork of another sandbox;
/// capped at <c>disk_mb</c>; snapshotted into the host's <see cref="ContentStore"/> while the
/// sandbox's processes are frozen; restored (processes start afresh).
/// </summary>
public sealed partial class JailSandboxDriver : ISandboxSnapshots
{
    private static readonly TimeSpan FreezeTimeout = TimeSpan.FromSeconds(5);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lock> _copyLocks = new();
    private IWorkspaceStorage? _storage;
    private ContentStore? _store;

    /// <summary>Where workspaces live: <see cref="JailSandboxOptions.Storage"/>, or plain directories under the root.</summary>
    public IWorkspaceStorage Storage =>
        LazyInitializer.EnsureInitialized(ref _storage, () => _options.Storage ?? new PlainDirectories(_root, Path.Combine(_root, ".store")));

    /// <summary>This host's snapshots.</summary>
    public ContentStore Store => LazyInitializer.EnsureInitialized(ref _store, () => new ContentStore(Storage.StoreDirectory));

    public async Task<StoredSnapshot> SnapshotAsync(string sandboxId, string snapshotId, CancellationToken ct)
    {
        var id = ValidId(sandboxId);
        if (Store.Contains(snapshotId))
        {
            return await Store.IngestAsync(snapshotId, "", ct).ConfigureAwait(false);
        }

        var workspace = WorkspacePath(id);
        var staging = Store.StagingPath(snapshotId);
        var gate = Gate(id);
        await gate.WaitAsync(ct).ConfigureAwait(false);
        var stopwatch = Stopwatch.StartNew();
        TimeSpan frozen;
        try
        {
            if (!Directory.Exists(workspace))
            {
                throw new DirectoryNotFoundException($"Sandbox {id} has no workspace on this host.");
            }

            Storage.Delete(staging);
            using (FreezeForCopy(id))
            {
                Storage.Copy(workspace, staging, readOnly: true);
                frozen = stopwatch.Elapsed;
            }
        }
        finally
        {
            gate.Release();
        }

        try
        {
            var stored = await Store.IngestAsync(snapshotId, staging, ct).ConfigureAwait(false);
            LogSnapshot(id, snapshotId, stored.Files, stored.TotalBytes, stored.NewBytes, frozen.TotalMilliseconds, stopwatch.Elapsed.TotalMilliseconds);
            return stored;
        }
        finally
        {
            Storage.Delete(staging);
        }
    }

    public async Task<RunningSandbox> RestoreAsync(SandboxSpec spec, string snapshotId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var id = ValidId(spec.SandboxId);
        Store.Read(snapshotId);
        var gate = Gate(id);
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var uid = ReadUid(SandboxDirectory(id)) ?? throw new DirectoryNotFoundException($"Sandbox {id} has no workspace on this host.");
            var workspace = WorkspacePath(id);
            // Built beside the workspace while the sandbox still runs: a restore that fails changes nothing.
            var restored = BuildWorkspace(workspace, uid, new WorkspaceSeed(snapshotId, null));
            await StopLockedAsync(id).ConfigureAwait(false);
            var previous = workspace + ".old";
            Storage.Delete(previous);
            if (Directory.Exists(workspace))
            {
                Directory.Move(workspace, previous);
            }

            Directory.Move(restored, workspace);
            Storage.Delete(previous);
        }
        finally
        {
            gate.Release();
        }

        return await StartAsync(spec with { Seed = null }, ct).ConfigureAwait(false);
    }

    public long DeleteSnapshot(string snapshotId) => Store.Delete(snapshotId);

    /// <summary>Makes the workspace if it is missing (empty or from <see cref="SandboxSpec.Seed"/>) and caps it at the spec's disk.</summary>
    private void PrepareWorkspace(string workspace, int uid, SandboxSpec spec)
    {
        if (!Directory.Exists(workspace))
        {
            Directory.Move(BuildWorkspace(workspace, uid, spec.Seed), workspace);
        }

        Storage.Limit(workspace, (long)spec.Limits.DiskMb * 1024 * 1024);
    }

    /// <summary>Builds a workspace beside <paramref name="workspace"/> (renamed into place by the caller, so a crash leaves no half-made one) and returns its path.</summary>
    private string BuildWorkspace(string workspace, int uid, WorkspaceSeed? seed)
    {
        var building = workspace + ".new";
        Storage.Delete(building);
        try
        {
            if (seed?.SnapshotId is { } snapshotId)
            {
                Storage.Create(building);
                Store.Materialize(snapshotId, building, uid);
            }
            else if (seed?.ForkOf is { } source)
            {
                var from = WorkspacePath(ValidId(source));
                if (!Directory.Exists(from))
                {
                    throw new DirectoryNotFoundException($"Sandbox {source} (the fork's source) has no workspace on this host.");
                }

                using (FreezeForCopy(source))
                {
                    Storage.Copy(from, building, readOnly: false);
                }

                WorkspaceTree.Chown(building, uid);
            }
            else
            {
                Storage.Create(building);
            }

            HostSyscalls.Chown(building, uid, uid);
            File.SetUnixFileMode(building, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            return building;
        }
        catch
        {
            Storage.Delete(building);
            throw;
        }
    }

    /// <summary>Deletes the workspace (and any half-made one) of a sandbox directory.</summary>
    private void DeleteWorkspaces(string directory)
    {
        foreach (var name in (string[])["workspace", "workspace.new", "workspace.old"])
        {
            Storage.Delete(Path.Combine(directory, name));
        }
    }

    /// <summary>
    /// Stops every process of a running sandbox where it is until disposed, so a copy of its
    /// workspace sees no half-done write. A sandbox that is suspended stays so; one that is not
    /// running (or a host without a freezer) is copied as it is.
    /// </summary>
    private FrozenForCopy FreezeForCopy(string id)
    {
        // One copy of a sandbox at a time (ten forks at once): none thaws it under another's copy.
        var copying = _copyLocks.GetOrAdd(id, _ => new Lock());
        copying.Enter();
        try
        {
            if (!_running.TryGetValue(id, out var instance) || instance.Process.HasExited || IsSuspended(id) || instance.Cgroup.IsFrozen()
                || !instance.Cgroup.Freeze())
            {
                return new FrozenForCopy(this, id, null, copying);
            }

            var waited = Stopwatch.StartNew();
            while (!instance.Cgroup.IsFrozen())
            {
                if (waited.Elapsed > FreezeTimeout)
                {
                    instance.Cgroup.Thaw();
                    throw new IOException($"The processes of sandbox {id} did not freeze within {FreezeTimeout.TotalSeconds} s.");
                }

                Thread.Sleep(1);
            }

            return new FrozenForCopy(this, id, instance.Cgroup, copying);
        }
        catch
        {
            copying.Exit();
            throw;
        }
    }

    private readonly struct FrozenForCopy(JailSandboxDriver driver, string id, ISandboxCgroup? cgroup, Lock copying) : IDisposable
    {
        public void Dispose()
        {
            try
            {
                // Suspended meanwhile (the platform saw it idle): it stays frozen.
                if (cgroup is not null && !driver.IsSuspended(id))
                {
                    cgroup.Thaw();
                }
            }
            finally
            {
                copying.Exit();
            }
        }
    }

    [Microsoft.Extensions.Logging.LoggerMessage(Level = Microsoft.Extensions.Logging.LogLevel.Information,
        Message = "Snapshot {SnapshotId} of sandbox {SandboxId}: {Files} files, {TotalBytes} bytes, {NewBytes} new; frozen {FrozenMilliseconds:F1} ms, done in {Milliseconds:F1} ms")]
    private partial void LogSnapshot(string sandboxId, string snapshotId, int files, long totalBytes, long newBytes, double frozenMilliseconds, double milliseconds);
}
