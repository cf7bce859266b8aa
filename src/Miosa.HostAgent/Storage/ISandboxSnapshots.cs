using Miosa.HostAgent.Sandboxes;

namespace Miosa.HostAgent.Storage;

/// <summary>
/// Snapshots of sandbox workspaces on a host. Forks and sandboxes made from a snapshot are started
/// with <see cref="SandboxSpec.Seed"/>.
/// </summary>
public interface ISandboxSnapshots
{
    /// <summary>
    /// Stores the sandbox's workspace as it is at one instant (its processes frozen for the copy,
    /// then thawed) under <paramref name="snapshotId"/>. Idempotent.
    /// </summary>
    Task<StoredSnapshot> SnapshotAsync(string sandboxId, string snapshotId, CancellationToken ct);

    /// <summary>Stops the sandbox, replaces its workspace with the snapshot's and starts it again (processes start afresh).</summary>
    Task<RunningSandbox> RestoreAsync(SandboxSpec spec, string snapshotId, CancellationToken ct);

    /// <summary>Deletes the snapshot and the contents no other snapshot holds; returns the bytes freed.</summary>
    long DeleteSnapshot(string snapshotId);
}
