using Miosa.Actors.Snapshots;
using Miosa.HostAgent.Sandboxes;
using Miosa.HostAgent.Storage;

namespace Miosa.HostAgent.Fleet;

/// <summary>What the host agent does for snapshot entities: store, delete, restore, through the driver's <see cref="ISandboxSnapshots"/>.</summary>
public static class SnapshotsOnHost
{
    public static async Task<object> StoreAsync(ISandboxDriver driver, string host, SnapshotSandboxOnHost request)
    {
        if (driver is not ISandboxSnapshots snapshots)
            return new SandboxSnapshotFailedOnHost(request.SnapshotId, host, $"The {driver.Name} driver cannot snapshot sandboxes.");
        try
        {
            var stored = await snapshots.SnapshotAsync(request.SandboxId, request.SnapshotId, CancellationToken.None).ConfigureAwait(false);
            return new SandboxSnapshotStoredOnHost(request.SnapshotId, host, stored.NewBytes, stored.TotalBytes, stored.Files);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException)
        {
            return new SandboxSnapshotFailedOnHost(request.SnapshotId, host, e.Message);
        }
    }

    public static Task<object> DeleteAsync(ISandboxDriver driver, DeleteSnapshotOnHost request) => Task.Run(() =>
        (object)new SnapshotDeletedOnHost(request.SnapshotId, driver is ISandboxSnapshots snapshots ? snapshots.DeleteSnapshot(request.SnapshotId) : 0));

    /// <summary>Restores and starts again; throws what the driver throws (the caller answers a failed start).</summary>
    public static Task<RunningSandbox> RestoreAsync(ISandboxDriver driver, Sandboxes.SandboxSpec spec, string snapshotId) =>
        driver is ISandboxSnapshots snapshots
            ? snapshots.RestoreAsync(spec, snapshotId, CancellationToken.None)
            : Task.FromException<RunningSandbox>(new InvalidOperationException($"The {driver.Name} driver cannot restore snapshots."));
}
